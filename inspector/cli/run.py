"""``run``: run a checkpoint's model in train and in eval mode, and explain the difference."""

from __future__ import annotations

import argparse
import re
import sys

from inspector.cli.output import add_json_flag, print_json

DTYPE_CHOICES = ("float32", "bfloat16", "float16")


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
                   help="architecture: a built-in (demo-cnn, mlp, plain-mlp), "
                        "path/to/model.py:ClassName or package.module:ClassName "
                        "(default: propose a built-in whose names and shapes match)")
    p.add_argument("--arch-kwargs", metavar="JSON", help="constructor kwargs as a JSON object")
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


def parse_shape(parts: list[str]) -> tuple[int, ...]:
    """``["3", "32", "32"]``, ``["3x32x32"]`` or ``["3,32,32"]`` → (3, 32, 32)."""
    dims = [d for part in parts for d in re.split(r"[x×,\s]+", part.strip()) if d]
    try:
        shape = tuple(int(d) for d in dims)
    except ValueError:
        raise ValueError(f"--input-shape takes whole numbers, got {' '.join(parts)!r}") from None
    if not shape or any(d < 1 for d in shape):
        raise ValueError(f"--input-shape needs positive sizes, got {' '.join(parts)!r}")
    return shape


def _error(path: str, message: str, traceback_text: str = "") -> int:
    print(f"error: {path}: {message}", file=sys.stderr)
    if traceback_text:
        print("traceback from the model code:", file=sys.stderr)
        print(traceback_text.rstrip(), file=sys.stderr)
    return 2


def run(args) -> int:
    from inspector.core.architectures import ModelError, parse_kwargs
    from inspector.core.inference import RunConfig, run_demo

    try:
        shape = parse_shape(args.input_shape) if args.input_shape else None
    except ValueError as e:
        return _error(args.path, str(e))
    container = tuple(args.state_dict.split("/")) if args.state_dict else None
    try:
        config = RunConfig(
            path=args.path, architecture=args.arch, arch_kwargs=parse_kwargs(args.arch_kwargs),
            device=args.device, dtype=args.dtype, runs=args.runs, batch_size=args.batch,
            seed=args.seed, input_shape=shape, trust=args.trust, container=container)
        result = run_demo(config)
    except ModelError as e:
        return _error(args.path, e.message, e.traceback_text)
    if args.json:
        print_json(result.to_json())
    else:
        print("\n".join(report_lines(args.path, result)))
    if not result.weights_unchanged:
        print("error: the loaded weights changed during the run (a bug; please report it)",
              file=sys.stderr)
        return 1
    return 0


def _num(x: float) -> str:
    if x != x:
        return "nan"
    if x == 0:
        return "0"
    return f"{x:.4g}"


def _keys(keys: list[str], limit: int = 8) -> str:
    if not keys:
        return "none"
    more = f", … {len(keys) - limit} more" if len(keys) > limit else ""
    return ", ".join(keys[:limit]) + more


def report_lines(path: str, r) -> list[str]:
    """The text report: what was loaded, what ran, and what model.eval() changed."""
    lines = [f"{path}",
             f"  architecture: {r.architecture}",
             f"  device:       {r.device} ({r.dtype})",
             f"  {r.input_description}; output {list(r.output_shape)}"]
    for note in r.notes:
        lines.append(f"  note: {note}")
    load = r.load
    lines.append("")
    lines.append(f"Weights: {load.loaded_keys} tensors loaded")
    for fix in load.fixes_applied:
        lines.append(f"  fix applied (in memory only): {fix}")
    lines.append(f"  missing keys (left at their initial values): {_keys(load.missing_keys)}")
    lines.append(f"  unexpected keys (ignored): {_keys(load.unexpected_keys)}")
    if load.shape_mismatches:
        lines.append("  shape mismatches (not loaded):")
        for m in load.shape_mismatches[:8]:
            lines.append(f"    {m.checkpoint_key}: file {list(m.checkpoint_shape)}, "
                         f"model {list(m.model_shape)}")
        if len(load.shape_mismatches) > 8:
            lines.append(f"    … {len(load.shape_mismatches) - 8} more")
    else:
        lines.append("  shape mismatches: none")
    lines.append("")
    if r.mode_sensitive_layers:
        lines.append("Layers that behave differently in train and eval mode:")
        for layer in r.mode_sensitive_layers:
            lines.append(f"  {layer.name} ({layer.type}): {layer.explanation}")
    else:
        lines.append("No layer of this model behaves differently in train and eval mode.")
    lines.append("")
    lines.append(f"Same input, {r.train.runs} runs per mode:")
    lines.append(f"  {'mode':<8}{'spread':>12}{'max run diff':>15}{'ms/run':>10}")
    for name, m in (("train", r.train), ("eval", r.eval)):
        lines.append(f"  {name:<8}{_num(m.spread):>12}{_num(m.max_run_diff):>15}"
                     f"{m.ms_per_run:>10.3f}")
    lines.append(f"  mean |eval output - mean train output|: {_num(r.eval_vs_train_mean)}")
    lines.append("  (spread: the mean over outputs of the standard deviation across runs)")
    lines.append("")
    lines.extend(explanation(r))
    return lines


def explanation(r) -> list[str]:
    """Plain sentences on what model.eval() changed in this run."""
    out = ["What model.eval() changed:"]
    has_dropout = any("Dropout" in m.type or m.type == "RReLU" for m in r.mode_sensitive_layers)
    has_norm = any("Norm" in m.type for m in r.mode_sensitive_layers)
    if r.train.spread > 0 and r.eval.spread == 0:
        out.append("  In train mode the same input gave a different output on every run"
                   + (" because Dropout drew new random masks" if has_dropout else "") + ". "
                   "In eval mode the outputs are identical from run to run.")
    elif r.train.spread == 0 and r.eval.spread == 0:
        out.append("  Outputs were identical from run to run in both modes.")
    elif r.eval.spread > 0:
        out.append(f"  Eval-mode outputs still vary between runs (spread {_num(r.eval.spread)}): "
                   "the model has randomness that eval mode does not switch off, or the "
                   "device's kernels are not deterministic.")
    if has_norm:
        out.append("  BatchNorm normalized with each batch's own statistics in train mode and "
                   "with its stored running statistics in eval mode, so eval outputs do not "
                   "depend on what else is in the batch.")
    if r.eval_vs_train_mean > 0:
        out.append(f"  On average the eval output differs from the train-mode output by "
                   f"{_num(r.eval_vs_train_mean)}: validating or predicting without "
                   f"model.eval() gives different, noisier answers.")
    elif not r.mode_sensitive_layers:
        out.append("  Nothing: this model has no Dropout or BatchNorm, so train and eval mode "
                   "agree (calling model.eval() is still the right habit).")
    if r.bn_running_stats_drift > 0:
        out.append(f"  The train-mode passes would have moved BatchNorm's running statistics by "
                   f"up to {_num(r.bn_running_stats_drift)} — forgetting model.eval() during "
                   f"evaluation silently changes a model. They ran on a copy here.")
    if r.weights_unchanged:
        out.append("  The loaded weights are unchanged (verified bit for bit), and the file was "
                   "only read.")
    return out
