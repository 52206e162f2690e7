"""Health findings: what is wrong with a checkpoint's tensors, written once for both front ends.

Per checkpoint (from a :class:`~inspector.core.timeline.scan.FileSummary`): ``nan``, ``inf``,
``dead_units`` (all-zero rows of a weight: output units, conv filters), ``bn_var_zero``
(BatchNorm ``running_var`` at or below eps), ``fp16_overflow`` (values beyond float16's range)
and ``duplicate`` (identical tensors under different names that are not one storage).
Across a run (module ``run``): the same kinds at the first checkpoint where they appear, plus
``frozen`` and ``exploding``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from inspector.core.text import format_count, number_text, path_to_json

if TYPE_CHECKING:
    from inspector.core.timeline.scan import FileSummary, TensorSummary

FILE_KINDS = ("nan", "inf", "dead_units", "bn_var_zero", "fp16_overflow", "duplicate")
RUN_KINDS = (*FILE_KINDS, "frozen", "exploding")
KIND_TITLES = {
    "nan": "NaN values", "inf": "infinite values", "dead_units": "dead units",
    "bn_var_zero": "BatchNorm variance at zero", "fp16_overflow": "beyond float16",
    "duplicate": "duplicated tensor", "frozen": "frozen", "exploding": "exploding norm",
}


@dataclass(frozen=True)
class Finding:
    """One problem: its ``kind``, the tensor's key path in the file and state_dict ``name``,
    a sentence of ``detail``; across a run, the ``step`` where it starts and that
    checkpoint's ``checkpoint`` path; ``other`` is the second tensor of a duplicate."""

    kind: str
    tensor: tuple
    name: str
    detail: str
    step: int | float | None = None
    checkpoint: str | None = None
    count: int | None = None
    other: tuple | None = None

    def to_json(self, with_step: bool = False) -> dict:
        out = {"kind": self.kind, "tensor": path_to_json(self.tensor), "name": self.name,
               "detail": self.detail}
        if with_step:
            out["step"] = self.step
            out["checkpoint"] = self.checkpoint
        if self.count is not None:
            out["count"] = self.count
        if self.other is not None:
            out["other"] = path_to_json(self.other)
        return out


def file_findings(summary: FileSummary) -> list[Finding]:
    """Every finding of one checkpoint, tensor by tensor in file order."""
    out: list[Finding] = []
    by_name = summary.by_name()
    for t in summary.tensors:
        out.extend(tensor_findings(t))
    for a, b in summary.duplicates:
        ta, tb = by_name[a], by_name[b]
        out.append(Finding("duplicate", tb.path, tb.name,
                           f"identical to {ta.name} ({format_count(tb.numel)} values) but "
                           "stored separately: not tied weights", other=ta.path))
    return out


def tensor_findings(t: TensorSummary) -> list[Finding]:
    out: list[Finding] = []
    if t.nan:
        out.append(Finding("nan", t.path, t.name, f"{format_count(t.nan)} of "
                           f"{format_count(t.numel)} values are NaN", count=t.nan))
    if t.inf:
        out.append(Finding("inf", t.path, t.name, f"{format_count(t.inf)} of "
                           f"{format_count(t.numel)} values are infinite", count=t.inf))
    if t.dead_rows and t.role == "param" and len(t.shape) >= 2 and "embed" not in t.name.lower():
        what = "filters" if len(t.shape) >= 3 else "rows (output units)"
        listed = ", ".join(str(i) for i in t.dead_examples)
        more = " …" if t.dead_rows > len(t.dead_examples) else ""
        out.append(Finding("dead_units", t.path, t.name,
                           f"{format_count(t.dead_rows)} of {format_count(t.shape[0])} {what} "
                           f"are all zero: {listed}{more}", count=t.dead_rows))
    if t.small and t.name.split(".")[-1] == "running_var":
        out.append(Finding("bn_var_zero", t.path, t.name,
                           f"{format_count(t.small)} of {format_count(t.numel)} channels have "
                           "running_var ≤ 1e-05: normalization divides by ~sqrt(eps)",
                           count=t.small))
    if t.fp16_over:
        out.append(Finding("fp16_overflow", t.path, t.name,
                           f"{format_count(t.fp16_over)} values exceed 65504 (max |w| "
                           f"{number_text(t.max_abs)}): they become inf in float16",
                           count=t.fp16_over))
    return out


def has_problem(findings: list[Finding]) -> bool:
    return bool(findings)
