"""A conversion report as lines of text, written once for the CLI and the app."""

from __future__ import annotations

from inspector.core.convert.plan import PTH, SHARDED
from inspector.core.convert.run import ConvertReport
from inspector.core.text import format_bytes, format_count

MAX_LISTED = 10  # aliases, skipped tensors or mismatches listed one per line


def report_lines(report: ConvertReport) -> list[str]:
    """What was converted, from where, what was left out or merged, and the verdict."""
    kind = {SHARDED: "sharded safetensors", PTH: "weights-only .pth"}.get(report.kind,
                                                                         "safetensors")
    lines = [f"{report.source} ({report.source_format}) -> {report.destination} ({kind})",
             f"  weights:  {report.weights}",
             f"  tensors:  {format_count(report.tensors)} written, "
             f"{format_bytes(report.tensor_bytes)} of data"]
    if report.unsafe_globals:
        lines.append(f"  unsafe globals in the source (not executed): "
                     f"{', '.join(report.unsafe_globals[:MAX_LISTED])}")
    if report.dtype:
        lines.append(f"  dtype:    {report.cast} floating-point tensor(s) cast to {report.dtype}")
    if report.stripped:
        lines.append(f"  prefix:   stripped from {report.stripped} name(s)")
    for entry, count in report.left_out:
        lines.append(f"  left out: {entry} ({count} tensor{'s' if count != 1 else ''})")
    if report.aliases:
        how = ("stored once, the names share it" if report.kind == PTH else
               "written once; the alias is recorded in __metadata__")
        lines.append(f"  tied:     {len(report.aliases)} tensor(s) share storage ({how}):")
        lines += [f"            {a} = {k}" for a, k in report.aliases[:MAX_LISTED]]
        if len(report.aliases) > MAX_LISTED:
            lines.append(f"            … and {len(report.aliases) - MAX_LISTED} more")
    for name, why in report.skipped[:MAX_LISTED]:
        lines.append(f"  skipped:  {name}: {why}")
    if len(report.skipped) > MAX_LISTED:
        lines.append(f"  skipped:  … and {len(report.skipped) - MAX_LISTED} more")
    lines += [f"  note:     {n}" for n in report.notes]
    v = report.verify
    if v is None:
        lines.append("  verify:   not run")
    elif v.ok:
        how = "bit for bit" if not v.cast else f"bit for bit ({v.cast} cast tensor(s) value " \
                                               f"for value after the cast)"
        lines.append(f"  verify:   OK - all {v.checked} tensor(s) re-read and equal to the "
                     f"source, {how}")
    else:
        lines.append(f"  verify:   FAILED - {len(v.mismatches)} of {v.checked} tensor(s) differ; "
                     "nothing was written")
        lines += [f"            {n}: {p}" for n, p in v.mismatches[:MAX_LISTED]]
        if v.unexpected:
            lines.append(f"            unexpected in the output: {', '.join(v.unexpected)}")
    if report.files:
        lines.append("  wrote:    " + report.files[0])
        lines += [f"            {f}" for f in report.files[1:]]
    return lines
