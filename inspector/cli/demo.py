"""``demo``: write small demo checkpoints to try the other commands on."""

from __future__ import annotations

import os
import shlex

from inspector.cli.output import add_json_flag, print_error, print_json, print_line
from inspector.core.text import format_bytes, number_text


def register(sub) -> None:
    p = sub.add_parser("demo", help="train a tiny CNN and save a checkpoint per epoch",
                       description="Train the tutorial's small CNN for a few epochs on synthetic "
                                   "data (seconds on a CPU) and save OUTDIR/demo_epoch_N.pth the "
                                   "recommended way: epoch, model_state_dict, "
                                   "optimizer_state_dict, loss.")
    p.add_argument("outdir", help="folder to write the checkpoints to (created if needed)")
    p.add_argument("--epochs", type=int, default=3, help="epochs to train (default 3)")
    p.add_argument("--seed", type=int, default=0)
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from inspector.core.demo import make_demo

    if args.epochs < 1:
        print_error(f"--epochs must be at least 1, got {args.epochs}")
        return 2
    if os.path.exists(args.outdir) and not os.path.isdir(args.outdir):
        print_error(f"{args.outdir}: exists and is not a folder")
        return 2
    try:
        epochs = make_demo(args.outdir, epochs=args.epochs, seed=args.seed)
    except OSError as e:
        print_error(f"{args.outdir}: cannot write there ({e.strerror or e})")
        return 2
    if args.json:
        print_json([{"epoch": e.epoch, "path": e.path, "loss": e.loss} for e in epochs])
        return 0
    for e in epochs:
        print_line(f"saved {e.path}  (epoch {e.epoch}, loss {number_text(e.loss)}, "
                   f"{format_bytes(os.path.getsize(e.path))})")
    first, last = shlex.quote(epochs[0].path), shlex.quote(epochs[-1].path)
    print_line()
    print_line("Try:")
    commands = [(f"checkpoint-inspector info {last}", "what is inside")]
    if len(epochs) > 1:
        commands.append((f"checkpoint-inspector diff {first} {last}", "what training changed"))
    commands += [(f"checkpoint-inspector run {last}", "train vs. eval mode"),
                 (f"checkpoint-inspector {last}", "open it in the app")]
    width = max(len(c) for c, _ in commands)
    for command, what in commands:
        print_line(f"  {command:<{width}}  # {what}")
    return 0
