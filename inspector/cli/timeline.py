"""``timeline``: a training run's checkpoints as series over steps, with the run's findings."""

from __future__ import annotations

import re
import sys

from inspector.cli.output import add_json_flag, print_error, print_json, print_line
from inspector.core.text import number_text, safe_str


def register(sub) -> None:
    p = sub.add_parser(
        "timeline", help="how every layer evolved across a run's checkpoints",
        description="Open a folder of checkpoints (epoch_N.pth files, Lightning checkpoints/, "
                    "Hugging Face checkpoint-N folders, DCP step folders) or several files as "
                    "a run, ordered by the step/epoch they hold or the number in their names, "
                    "and show per tensor and per module: L2 norm, mean, std, max |w|, relative "
                    "change, update ratio, Adam moment norms; the scalars (loss, epoch, lr); "
                    "and the run's findings (NaN/Inf, dead units, BatchNorm variance, float16 "
                    "overflow, duplicates, frozen and exploding layers). Each file is read "
                    "once and cached. Nothing from the files is executed.")
    p.add_argument("paths", nargs="+", metavar="DIR|FILE", help="a run folder, or checkpoints")
    p.add_argument("--csv", action="store_true",
                   help="print one CSV row per tensor/module and checkpoint")
    p.add_argument("--filter", metavar="REGEX", help="only tensors/modules whose name matches")
    p.add_argument("--no-cache", action="store_true",
                   help="neither read nor write the per-file cache")
    p.add_argument("--exploding-factor", type=float, default=None, metavar="X",
                   help="a norm over X times its first value is 'exploding' (default 10)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="read the checkpoints on a Dask cluster (tcp://host:8786); the paths "
                        "must be readable by its workers")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from inspector.core.timeline import RunError, timeline_to_csv, timeline_to_json

    if args.exploding_factor is not None and not args.exploding_factor > 1:
        print_error(f"--exploding-factor must be greater than 1, got {args.exploding_factor}")
        return 2
    if args.filter:
        try:
            re.compile(args.filter)
        except re.error as e:
            print_error(f"--filter: not a valid regular expression ({e})")
            return 2
    try:
        tl = _build(args)
    except RunError as e:
        print_error(safe_str(e))
        return 2
    tl = tl.filtered(args.filter)
    if args.json:
        print_json(timeline_to_json(tl))
        return 0
    if args.csv:
        sys.stdout.write(timeline_to_csv(tl))
        return 0
    print_text(tl)
    return 0


def _build(args):
    """The timeline, with a progress line on stderr when it is a terminal (a run of large
    checkpoints takes a while the first time)."""
    from inspector.core.timeline import RunError, RunProblem, TimelineProgress, TimelineResult
    from inspector.core.timeline.build import iter_timeline

    kwargs = {"cache_dir": None} if args.no_cache else {}
    if args.exploding_factor is not None:
        kwargs["exploding_factor"] = args.exploding_factor
    tty = sys.stderr.isatty()
    for item in iter_timeline(args.paths, cancel=lambda: False, scheduler=args.scheduler,
                              **kwargs):
        if isinstance(item, RunProblem):
            if tty:
                sys.stderr.write("\r\033[K")
            raise RunError(item.message)
        if isinstance(item, TimelineProgress) and tty:
            sys.stderr.write(f"\rreading checkpoint {min(item.index + 1, item.count)} of "
                             f"{item.count}…")
            sys.stderr.flush()
        if isinstance(item, TimelineResult):
            if tty:
                sys.stderr.write("\r\033[K")
            return item.timeline
    raise RunError("the timeline was cancelled")


def print_text(tl) -> None:
    steps = tl.steps
    source = tl.checkpoints[0].step_source
    print_line(f"{len(steps)} checkpoints, ordered by {source.replace('_', ' ')}: "
               + ", ".join(str(s) for s in steps))
    for c in tl.checkpoints:
        print_line(f"  {c.step}: {c.path}")
    if tl.scalars:
        print_line()
        print_line("Scalars")
        for name, values in tl.scalars.items():
            print_line(f"  {name}: " + ", ".join(number_text(v) for v in values))
    print_line()
    print_line(f"{'module':<32} {'‖w‖ first':>11} {'‖w‖ last':>11} {'max rel. change':>16}")
    for s in tl.modules:
        l2 = [v for v in s.metric("l2") if v is not None]
        rc = [v for v in s.metric("rel_change") if v is not None]
        print_line(f"{s.name:<32} {number_text(l2[0] if l2 else None):>11} "
                   f"{number_text(l2[-1] if l2 else None):>11} "
                   f"{number_text(max(rc) if rc else None):>16}")
    print_line()
    if not tl.findings:
        print_line("No problems found.")
        return
    print_line(f"Findings ({len(tl.findings)})")
    for f in tl.findings:
        print_line(f"  step {f.step}  {f.kind:<14} {f.name}: {f.detail}")
