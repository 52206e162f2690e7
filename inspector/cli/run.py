"""``run``: run a checkpoint's model in train and in eval mode, and explain the difference."""

from __future__ import annotations

import argparse
import sys

from inspector.cli.output import add_json_flag, print_error, print_json, print_line
from inspector.core.text import metric_text

DTYPE_CHOICES = ("float32", "bfloat16", "float16")

# what the command line says after a core message with a hint (see inspector.core.inference)
HINTS = {
    "give-input-shape": "give one with --input-shape",
    "change-input-shape": "give another shape with --input-shape",
    "architecture": "give one: --arch path/to/model.py:ClassName (and --arch-kwargs JSON)",
    "trust": "if you trust it, rerun with --trust; or load only its weights with --arch",
    "random-init": "rerun with --allow-random-init to run anyway (the verdict will say so)",
    "extra-args": "give it with --extra-args JSON, e.g. --extra-args '{\"sr\": 16000}'",
}


def register(sub) -> None:
    p = sub.add_parser(
        "run", help="run the model in train vs. eval mode on a device",
        description="Load the checkpoint's weights into an architecture, feed the same random "
                    "input N times in train mode (on a copy of the model) and in eval mode, "
                    "and report what model.eval() changed. The file is never modified. "
                    "Files that carry their own architecture (torch.save(model), TorchScript) "
                    "run code when loaded: that needs --trust, or --arch to load only their "
                    "weights.")
    p.add_argument("path", help="checkpoint file (state_dict, training or Lightning checkpoint, "
                                "safetensors, …)")
    p.add_argument("--arch", metavar="SPEC",
                   help="architecture: a built-in (demo-cnn, mlp, plain-mlp), a library model "
                        "(torchvision:resnet50, timm:convnext_tiny, hf:BertModel), "
                        "path/to/model.py:ClassName or package.module:ClassName (default: the "
                        "class a Hugging Face config.json names, else the built-in or library "
                        "model whose parameter names and shapes match)")
    p.add_argument("--arch-kwargs", metavar="JSON",
                   help="constructor kwargs as a JSON object (for hf: config values)")
    p.add_argument("--image", metavar="FILE",
                   help="image for an image model (default: the project's sample images)")
    p.add_argument("--text", metavar="TEXT",
                   help="sentence for a text model (tokenized with the folder's tokenizer.json)")
    p.add_argument("--input-npy", metavar="FILE", dest="input_npy",
                   help="the input as a .npy array, batch dimension included (used as stored)")
    p.add_argument("--extra-args", metavar="JSON", dest="extra_args",
                   help='extra keyword arguments of forward() as a JSON object, e.g. '
                        '\'{"sr": 16000}\'')
    p.add_argument("--allow-random-init", action="store_true", dest="allow_random_init",
                   help="run even when weights are missing or have another shape (they keep "
                        "random initial values; the verdict says so)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or mps (see `devices`)")
    p.add_argument("--dtype", default="float32", choices=DTYPE_CHOICES)
    p.add_argument("--runs", type=_positive, default=20, metavar="N",
                   help="forward passes per mode (default 20)")
    p.add_argument("--batch", type=_positive, default=4, metavar="B", help="batch size (default 4)")
    p.add_argument("--seed", type=int, default=0, help="seed for the input and dropout masks")
    p.add_argument("--input-shape", nargs="+", metavar="DIM",
                   help="one sample's shape without the batch dimension, e.g. 3 32 32 or 3x32x32")
    p.add_argument("--state-dict", metavar="KEY", dest="state_dict",
                   help="the entry holding the weights, e.g. model_state_dict (nested: a/b)")
    p.add_argument("--trust", action="store_true",
                   help="I trust this file: allow running the code it carries (whole-model "
                        "pickle, TorchScript, .pt2). Never implied.")
    add_json_flag(p)
    p.set_defaults(func=run)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _error(path: str, message: str, hint: str = "", traceback_text: str = "") -> int:
    advice = HINTS.get(hint, "")
    print_error(f"{path}: {message}{'; ' + advice if advice else ''}")
    if traceback_text:
        print_line("traceback from the model code:", file=sys.stderr)
        for line in traceback_text.rstrip().splitlines():
            print_line(line, file=sys.stderr)
    return 2


def run(args) -> int:
    from inspector.core.inference import (
        ModelError,
        RunConfig,
        parse_extra_args,
        parse_kwargs,
        parse_shape,
        run_demo,
    )

    container = tuple(args.state_dict.split("/")) if args.state_dict else None
    try:
        shape = parse_shape(" ".join(args.input_shape)) if args.input_shape else None
        config = RunConfig(
            path=args.path, architecture=args.arch, arch_kwargs=parse_kwargs(args.arch_kwargs),
            device=args.device, dtype=args.dtype, runs=args.runs, batch_size=args.batch,
            seed=args.seed, input_shape=shape, trust=args.trust, container=container,
            image=args.image, text=args.text, input_npy=args.input_npy,
            extra_args=parse_extra_args(args.extra_args),
            allow_random_init=args.allow_random_init)
        result = _with_index_progress(run_demo, config)
    except ModelError as e:
        return _error(args.path, e.message, e.hint, e.traceback_text)
    if args.json:
        print_json(result.to_json())
    else:
        for line in report_lines(args.path, result):
            print_line(line)
    if not result.weights_unchanged:
        print_error("the loaded weights changed during the run (a bug; please report it)")
        return 1
    return 0


def _with_index_progress(fn, config):
    """Run ``fn(config)``; when it has to build the model index first (once per library
    version), say so on stderr with a line per tenth of the work."""
    from inspector.core.inference.zoo import index

    shown: list[int] = []

    def hook(p) -> None:
        if not shown:
            print_line(f"building the model index once (cached in {index.cache_dir()})…",
                       file=sys.stderr)
        tenth = 10 * p.done // max(p.total, 1)
        if not shown or tenth > shown[-1]:
            shown.append(tenth)
            print_line(f"  {p.done}/{p.total} {p.text}", file=sys.stderr)

    index.set_progress_hook(hook)
    try:
        return fn(config)
    finally:
        index.set_progress_hook(None)


def prediction_lines(r) -> list[str]:
    """Top labels (eval, then the train runs where top-1 differs) or embedding cosines."""
    from inspector.core.inference.report import probability_text
    from inspector.core.text import cosine_text, printable

    lines = []
    p = r.predictions
    if p is not None and p.eval:
        what = "classes" if p.kind == "classes" else "next tokens"
        lines.append(f"Top {what} (first input, eval mode):")
        for label in p.eval:
            lines.append(f"  {probability_text(label.probability):>8}  {printable(label.label)}")
        changed = [(i, run) for i, run in enumerate(p.train, 1)
                   if run and run[0].index != p.eval[0].index]
        lines.append(f"Train mode: the top-1 differs in {len(changed)} of {len(p.train)} runs"
                     + (":" if changed else "."))
        for i, run in changed[:10]:
            lines.append(f"  run {i}: {printable(run[0].label)} "
                         f"({probability_text(run[0].probability)})")
        if len(changed) > 10:
            lines.append(f"  … {len(changed) - 10} more")
        lines.append("")
    c = r.embedding_cosine
    if c is not None:
        lines.append(f"Embedding cosine similarity, train runs vs eval: mean "
                     f"{cosine_text(c.mean)}, lowest {cosine_text(c.min)}")
        lines.append("")
    return lines


def report_lines(path: str, r) -> list[str]:
    """The text report: what was loaded, what ran, and what model.eval() changed (the
    sentences come from :mod:`inspector.core.inference.report`)."""
    from inspector.core.inference import (
        SPREAD_MEANING,
        drift_text,
        load_sections,
        timing_rows,
        verdict_text,
        weights_text,
    )

    lines = [path,
             f"  architecture: {r.architecture}",
             f"  device:       {r.device} ({r.dtype})",
             ""]
    for i, section in enumerate(load_sections(r)):
        heading = "Weights: " + section.title if i == 0 else section.title
        text = f" — {section.text}" if section.text and section.items else (
            f" {section.text}" if section.text else "")
        lines.append(("" if i == 0 else "  ") + heading + text + (":" if section.items else ""))
        for item in section.items:
            lines.append(f"    {item}")
        if section.more:
            lines.append(f"    … {section.more} more")
    lines.append("")
    lines += prediction_lines(r)
    if r.mode_sensitive_layers:
        lines.append("Layers that behave differently in train and eval mode:")
        for layer in r.mode_sensitive_layers:
            lines.append(f"  {layer.name} ({layer.type}): {layer.explanation}")
    else:
        lines.append("No layer of this model behaves differently in train and eval mode.")
    lines.append("")
    lines.append(f"Same input, {r.train.runs} runs per mode:")
    lines.append(f"  {'mode':<8}{'ms/run':>10}{'spread':>12}{'max run diff':>15}")
    for name, ms, spread, diff in timing_rows(r):
        lines.append(f"  {name:<8}{ms:>10}{spread:>12}{diff:>15}")
    lines.append(f"  mean |eval output - mean train output|: {metric_text(r.eval_vs_train_mean)}")
    lines.append(f"  ({SPREAD_MEANING})")
    lines.append("")
    lines.append("What model.eval() changed:")
    for sentence in (verdict_text(r), drift_text(r), weights_text(r)):
        lines.append(f"  {sentence}")
    return lines
