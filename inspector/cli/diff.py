"""``diff``: compare two checkpoints tensor by tensor, plus their non-tensor values."""

from __future__ import annotations

import math

from inspector.cli.output import add_json_flag, print_error, print_json, print_line
from inspector.core.text import (
    cosine_text,
    format_count,
    metric_text,
    path_text,
    percent_text,
    safe_str,
    shorten,
)

STATUS_LABELS = {
    "identical": "identical",
    "changed": "changed",
    "added": "added",
    "removed": "removed",
    "shape_changed": "shape changed",
    "dtype_changed": "dtype changed",
}


def register(sub) -> None:
    p = sub.add_parser(
        "diff", help="compare two checkpoints tensor by tensor",
        description="Compare two checkpoints of any supported formats: tensors are matched by "
                    "path (wrapper prefixes such as 'module.', '_orig_mod.', 'model.' and a "
                    "training checkpoint's model_state_dict are aligned automatically), "
                    "compared bit for bit, and measured in float64. Nothing from the files "
                    "is executed. Exit code 0 whether or not they differ (see --exit-code), "
                    "2 on error.")
    p.add_argument("a", help="first checkpoint (A)")
    p.add_argument("b", help="second checkpoint (B)")
    p.add_argument("--strip-prefix", action="append", default=[], metavar="P",
                   help="remove prefix P from the keys of both checkpoints before matching "
                        "(repeatable)")
    p.add_argument("--atol", type=float, metavar="X",
                   help="absolute tolerance: mark changed tensors that are allclose as close")
    p.add_argument("--rtol", type=float, metavar="Y",
                   help="relative tolerance (torch.allclose semantics, computed in float64)")
    p.add_argument("--exit-code", action="store_true",
                   help="exit with 1 when the checkpoints differ (with --atol/--rtol, "
                        "tensors within tolerance do not count as differences)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="compare on a Dask cluster (e.g. tcp://host:8786); the workers read "
                        "the files themselves (shared filesystem or URL)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="threads comparing tensors (default: every core this process may run "
                        "on; results are the same for any count)")
    p.add_argument("--device", default="cpu", metavar="DEV",
                   help="where values are compared: cpu (default) or cuda / cuda:N (needs "
                        "PyTorch with CUDA; counts exact, float64 sums within 1e-12)")
    p.add_argument("--limit", type=int, default=50, metavar="N",
                   help="rows of the text table (default 50; 0 shows all)")
    add_json_flag(p)
    p.set_defaults(func=run)


def _tolerance_problem(name: str, value: float | None) -> str | None:
    if value is None:
        return None
    if not math.isfinite(value) or value < 0:
        return f"{name} must be a finite number >= 0 (got {value})"
    return None


def _device_problem(name: str) -> str | None:
    if name == "cpu":
        return None
    from inspector.core.stats.device import DeviceUnavailable, open_device

    try:
        open_device(name)
    except DeviceUnavailable as e:
        return f"--device {name}: {e}"
    return None


def run(args) -> int:
    from inspector.core.diff import diff_checkpoints, report_to_json

    for name, value in (("--atol", args.atol), ("--rtol", args.rtol)):
        problem = _tolerance_problem(name, value)
        if problem:
            print_error(problem)
            return 2
    if args.limit < 0:
        print_error("--limit must be >= 0")
        return 2
    if args.threads is not None and args.threads < 1:
        print_error("--threads must be >= 1")
        return 2
    problem = _device_problem(args.device)
    if problem:
        print_error(problem)
        return 2
    # torch is imported only when a tensor needs it (see core/diff/pieces)
    if getattr(args, "scheduler", None):
        from inspector.core.cluster.work import cluster_diff

        report = cluster_diff(args.scheduler, args.a, args.b,
                              strip_prefixes=args.strip_prefix, atol=args.atol, rtol=args.rtol)
    else:
        report = diff_checkpoints(args.a, args.b, strip_prefixes=args.strip_prefix,
                                  atol=args.atol, rtol=args.rtol, workers=args.threads,
                                  device=args.device)
    if args.json:
        print_json(report_to_json(report))
    else:
        for line in report_lines(report, limit=args.limit):
            print_line(line)
    return 1 if args.exit_code and report.differ else 0


# ---- text output


def _num(v: float | None) -> str:
    return metric_text(v, missing="-")


def _cosine(v: float | None) -> str:
    return cosine_text(v, missing="-", minus="-")


def _int(v: int | None) -> str:
    return "-" if v is None else format_count(v)


def _dtype(e) -> str:
    if e.dtype_a == e.dtype_b or e.dtype_a is None or e.dtype_b is None:
        return e.dtype_b or e.dtype_a or ""
    return f"{e.dtype_a}→{e.dtype_b}"


def _shape(e) -> str:
    if e.shape_a is None or e.shape_b is None or e.shape_a == e.shape_b:
        shape = e.shape_b if e.shape_b is not None else e.shape_a
        return str(list(shape)) if shape is not None else ""
    return f"{list(e.shape_a)}→{list(e.shape_b)}"


def _nan(e) -> str:
    if e.nan_a is None and e.nan_b is None:
        return "-"
    if not e.nan_a and not e.nan_b:
        return "0"
    return f"{e.nan_a or 0}→{e.nan_b or 0}"


def _value(v) -> str:
    text = safe_str(v) if isinstance(v, int) else repr(v)  # repr of a huge int raises
    return shorten(text, 60)


def report_lines(report, limit: int = 50) -> list[str]:
    """The text report: summary, table of non-identical tensors, scalar differences."""
    s = report.summary
    lines = [f"A: {report.path_a}" + (f"  ({report.format_a})" if report.format_a else ""),
             f"B: {report.path_b}" + (f"  ({report.format_b})" if report.format_b else "")]
    lines.append(f"aligned by: {report.aligned_by}" if report.aligned_by
                 else "aligned by: paths as stored")
    if s.added and s.removed and not (s.tensors - s.added - s.removed):
        lines.append("hint: no tensor path matches; --strip-prefix P removes a prefix from the "
                     "keys of both files")
    counts = s.counts()
    parts = [f"{counts[k]} {STATUS_LABELS[k]}" for k in counts if counts[k] or k == "identical"]
    lines.append(f"tensors: {s.tensors}  ({', '.join(parts)})")
    if s.elements_compared:
        lines.append(f"elements changed: {format_count(s.elements_changed)} of "
                     f"{format_count(s.elements_compared)} compared "
                     f"({percent_text(s.elements_changed, s.elements_compared)})")
    if report.tolerant:
        n_valued = s.changed + s.dtype_changed
        atol = "default" if report.atol is None else f"{report.atol:g}"
        rtol = "default" if report.rtol is None else f"{report.rtol:g}"
        lines.append(f"within tolerance (atol={atol}, rtol={rtol}): {s.tensors_close} of "
                     f"{n_valued} changed tensor{'' if n_valued == 1 else 's'}")
    lines.append(f"scalar differences: {len(report.scalars)}")
    lines.append("result: " + ("DIFFERENT" if report.differ else
                               "same within tolerance" if report.tolerant and s.identical != s.tensors
                               else "identical"))

    rows = [e for e in report.entries if e.status != "identical"]
    rows.sort(key=lambda e: (-e.change, -(e.max_abs_diff or 0.0), path_text(e.path)))
    if rows:
        header = ["status", "path", "dtype", "shape", "max|Δ|", "mean|Δ|", "rel L2", "cosine",
                  "#diff", "NaN a→b"]
        if report.tolerant:
            header.append("close")
        table = [header]
        shown = rows if not limit else rows[:limit]
        for e in shown:
            row = [STATUS_LABELS[e.status], path_text(e.path), _dtype(e), _shape(e),
                   _num(e.max_abs_diff), _num(e.mean_abs_diff), _num(e.rel_l2),
                   _cosine(e.cosine), _int(e.num_diff), _nan(e)]
            if report.tolerant:
                row.append("-" if e.close is None else "yes" if e.close else "no")
            table.append(row)
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        lines.append("")
        for r in table:
            lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if len(shown) < len(rows):
            lines.append(f"… {len(rows) - len(shown)} more (use --limit 0 or --json)")
        notes = [(e.path, e.note) for e in shown if e.note]
        for path, note in notes:
            lines.append(f"note: {path_text(path)}: {note}")
    if report.scalars:
        lines.append("")
        lines.append("scalar differences:")
        for d in report.scalars:
            if d.status == "changed":
                lines.append(f"  {path_text(d.path)}: {_value(d.value_a)} → {_value(d.value_b)}")
            elif d.status == "added":
                lines.append(f"  {path_text(d.path)}: added ({_value(d.value_b)})")
            else:
                lines.append(f"  {path_text(d.path)}: removed (was {_value(d.value_a)})")
    return lines
