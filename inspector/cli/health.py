"""``health``: what is wrong in a checkpoint (or across a run); exit 1 when anything is."""

from __future__ import annotations

import os

from inspector.cli.output import add_json_flag, print_error, print_json, print_line
from inspector.core.text import number_text, safe_str, shape_text


def register(sub) -> None:
    p = sub.add_parser(
        "health", help="find NaN/Inf, dead units, dead BatchNorm variance, … (exit 1 if any)",
        description="Read every tensor once and report NaN/Inf values, dead units (all-zero "
                    "rows or conv filters), BatchNorm running_var <= eps, values that overflow "
                    "float16 and identical tensors stored twice. Given a run folder, also "
                    "layers that froze or whose norm exploded, each with the step where it "
                    "started. Exit code 1 when a problem is found, 0 when none, 2 when the "
                    "input cannot be read: call it after each save in a training script or CI.")
    p.add_argument("path", help="a checkpoint file or folder, or a folder of checkpoints (a run)")
    p.add_argument("--alpha", action="store_true",
                   help="also fit WeightWatcher's alpha for each 2-D layer (an SVD per layer)")
    p.add_argument("--device", default="cpu", help="device for the --alpha SVDs (default cpu)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="for a run: read its checkpoints on a Dask cluster (tcp://host:8786)")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from inspector.core.timeline.discover import RunError, is_run_folder

    try:
        as_run = is_run_folder(args.path)
    except RunError as e:
        print_error(safe_str(e))
        return 2
    if as_run:
        return _run_health(args)
    return _file_health(args)


def _alpha(args, path: str) -> list | None:
    if not args.alpha:
        return None
    from inspector.core.health.alpha import AlphaProgress, LayerAlpha, iter_alpha

    out = []
    for a in iter_alpha(path, device=args.device):
        if isinstance(a, LayerAlpha):
            out.append(a)
        elif isinstance(a, AlphaProgress) and a.device != args.device:
            args.alpha_note = f"{args.device} is not available: the SVDs ran on {a.device}"
    return out


def _file_health(args) -> int:
    from inspector.core.health import check_health, report_to_json
    from inspector.core.health.alpha import alpha_to_json

    report = check_health(args.path)
    alphas = _alpha(args, args.path)
    if args.json:
        doc = report_to_json(report)
        if alphas is not None:
            doc["alpha"] = [alpha_to_json(a) for a in alphas]
            if getattr(args, "alpha_note", ""):
                doc["alpha_note"] = args.alpha_note
        print_json(doc)
    else:
        print_line(f"{report.path} ({report.tensors} float tensors read)")
        _print_findings(report.findings, with_step=False)
        _print_alpha(alphas, getattr(args, "alpha_note", ""))
    return 1 if report.findings else 0


def _run_health(args) -> int:
    from inspector.core.health.alpha import alpha_to_json
    from inspector.core.timeline import RunError, build_timeline

    try:
        tl = build_timeline(args.path, scheduler=args.scheduler)
    except RunError as e:
        print_error(safe_str(e))
        return 2
    alphas = _alpha(args, tl.checkpoints[-1].path)
    if args.json:
        doc = {"path": os.path.abspath(args.path),
               "checkpoints": [{"path": c.path, "step": c.step} for c in tl.checkpoints],
               "findings": [f.to_json(with_step=True) for f in tl.findings]}
        if alphas is not None:
            doc["alpha"] = [alpha_to_json(a) for a in alphas]
            if getattr(args, "alpha_note", ""):
                doc["alpha_note"] = args.alpha_note
        print_json(doc)
    else:
        print_line(f"{os.path.abspath(args.path)}: a run of {len(tl.checkpoints)} checkpoints "
                   f"(steps {tl.steps[0]} … {tl.steps[-1]})")
        _print_findings(tl.findings, with_step=True)
        _print_alpha(alphas, getattr(args, "alpha_note", ""))
    return 1 if tl.findings else 0


def _print_findings(findings, with_step: bool) -> None:
    if not findings:
        print_line("No problems found.")
        return
    print_line(f"{len(findings)} problem{'s' if len(findings) != 1 else ''} found:")
    for f in findings:
        where = f"step {f.step}  " if with_step else ""
        print_line(f"  {where}{f.kind:<14} {f.name}: {f.detail}")


def _print_alpha(alphas, note: str = "") -> None:
    if alphas is None:
        return
    print_line()
    print_line("WeightWatcher alpha per 2-D layer" + (f" ({note})" if note else "") + ":")
    for a in alphas:
        print_line(f"  {a.name:<32} {shape_text(a.shape):>12}  alpha {number_text(a.alpha):>7}"
                   f"  {a.reading}")
