"""The diff's result types: plain frozen dataclasses, picklable and torch-free."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

Path = tuple[Any, ...]

# statuses
IDENTICAL = "identical"
CHANGED = "changed"
ADDED = "added"
REMOVED = "removed"
SHAPE_CHANGED = "shape_changed"
DTYPE_CHANGED = "dtype_changed"
STATUSES = (IDENTICAL, CHANGED, ADDED, REMOVED, SHAPE_CHANGED, DTYPE_CHANGED)


class DiffCancelled(Exception):
    """Raised by :func:`~inspector.core.diff.iter_diff` when its ``cancel`` callable returns
    True."""


@dataclass(frozen=True, kw_only=True)
class PairMetrics:
    """Metrics of one pair of equally shaped tensors (None where not defined).

    All are computed in float64. ``max_abs_diff``/``mean_abs_diff`` cover the positions
    where neither value is NaN (inf vs a number is an infinite change, inf vs the same inf
    none); ``rel_l2`` (‖a−b‖/‖a‖) and ``cosine`` cover the positions where both values
    are finite. ``rel_l2`` is 0 when a and b are all zeros and None when only ‖a‖ is 0;
    ``cosine`` is 1 for two all-zero tensors and None when just one is. ``num_diff`` counts
    differing elements (bit patterns when the dtypes are equal, values otherwise,
    NaN == NaN); ``close`` is ``torch.allclose`` computed in float64 (None when no tolerance
    was asked for).
    """

    max_abs_diff: float | None = None
    mean_abs_diff: float | None = None
    rel_l2: float | None = None
    cosine: float | None = None
    num_diff: int | None = None
    nan_a: int | None = None
    nan_b: int | None = None
    close: bool | None = None
    note: str = ""

    def metrics(self) -> dict[str, Any]:
        """The metric fields as keyword arguments for another :class:`PairMetrics`."""
        return {name: getattr(self, name) for name in METRIC_FIELDS}


METRIC_FIELDS = tuple(f.name for f in dataclasses.fields(PairMetrics))


@dataclass(frozen=True)
class TensorComparison(PairMetrics):
    """The comparison of two tensors: bit for bit ``identical`` or not, and the metrics."""

    identical: bool


@dataclass(frozen=True)
class DiffEntry(PairMetrics):
    """The comparison of one tensor path.

    ``path`` is B's path (A's for a removed tensor); ``path_a`` and ``path_b`` are the
    paths as stored in each file (None on the side that lacks the tensor). The metrics
    (:class:`PairMetrics`) are set for pairs whose values were compared.
    """

    path: Path
    path_a: Path | None
    path_b: Path | None
    status: str
    dtype_a: str | None
    dtype_b: str | None
    shape_a: tuple[int, ...] | None
    shape_b: tuple[int, ...] | None

    @property
    def numel(self) -> int:
        shape = self.shape_b if self.shape_b is not None else self.shape_a
        return math.prod(shape) if shape is not None else 0

    @property
    def change(self) -> float:
        """How much this entry changed, for sorting: structural changes and NaNs that
        appear or disappear rank first (inf), then relative L2, then max |Δ|."""
        if self.status == IDENTICAL:
            return 0.0
        if self.status in (ADDED, REMOVED, SHAPE_CHANGED):
            return math.inf
        if (self.nan_a or 0) != (self.nan_b or 0):
            return math.inf
        if self.rel_l2 is not None and not math.isnan(self.rel_l2):
            return self.rel_l2
        if self.max_abs_diff:
            return math.inf
        return 0.0


@dataclass(frozen=True)
class ScalarDiff:
    """A non-tensor value (epoch, loss, lr, a string, None) that differs between A and B.

    ``status`` is ``changed``, ``added`` (only in B) or ``removed`` (only in A).
    """

    path: Path
    path_a: Path | None
    path_b: Path | None
    status: str
    value_a: Any = None
    value_b: Any = None
    type_a: str | None = None
    type_b: str | None = None


@dataclass(frozen=True)
class DiffSummary:
    """Counts per status and the size of the change."""

    identical: int = 0
    changed: int = 0
    added: int = 0
    removed: int = 0
    shape_changed: int = 0
    dtype_changed: int = 0
    elements_compared: int = 0  # elements of the pairs whose values were compared
    elements_changed: int = 0  # differing elements in changed and dtype_changed tensors
    tensors_close: int | None = None  # changed/dtype_changed entries within tolerance
    scalars_changed: int = 0
    largest: tuple[DiffEntry, ...] = ()  # the biggest value changes, largest first

    def counts(self) -> dict[str, int]:
        return {s: getattr(self, s) for s in STATUSES}

    @property
    def tensors(self) -> int:
        return sum(self.counts().values())


@dataclass(frozen=True)
class DiffReport:
    """The comparison of two checkpoints."""

    path_a: str
    path_b: str
    aligned_by: str | None
    entries: tuple[DiffEntry, ...]
    scalars: tuple[ScalarDiff, ...]
    summary: DiffSummary
    atol: float | None = None
    rtol: float | None = None
    format_a: str = ""
    format_b: str = ""
    notes: tuple[str, ...] = ()
    strip_prefixes: tuple[str, ...] = ()  # removed from both sides' keys, as asked

    @property
    def tolerant(self) -> bool:
        return self.atol is not None or self.rtol is not None

    @property
    def differ(self) -> bool:
        """Whether A and B differ; with a tolerance, changed tensors that are close do not
        count as differences (identical is still bit for bit)."""
        for e in self.entries:
            if e.status == IDENTICAL:
                continue
            if self.tolerant and e.status in (CHANGED, DTYPE_CHANGED) and e.close:
                continue
            return True
        return bool(self.scalars)
