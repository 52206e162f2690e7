"""Compare two checkpoints: align their tensors by path, then compare each pair.

The work is split so that a GUI can show progress and cancel:

- :func:`align` (``align``) matches tensor paths from metadata, undoing wrapper prefixes
  (``module.``, ``_orig_mod.``, ``model.``) and a training checkpoint's
  ``model_state_dict``/``state_dict`` compared with a bare state_dict.
- :func:`iter_diff` (``pairs``) yields one :class:`DiffEntry` per tensor pair, streaming each
  pair in chunks: a bit-for-bit check first, then one pass that accumulates the metrics in
  float64 (:func:`compare_tensors`, ``metrics``).
- :func:`diff_scalars` (``scalars``) compares the non-tensor values (epoch, loss, lr, ...).
- :func:`make_report` / :func:`diff_checkpoints` (``report``) put it together into a
  :class:`DiffReport`; :func:`report_to_json` and :func:`report_to_csv` (``export``) export it.
- Worker-process jobs for the compare view: :func:`stream_diff` (``stream``) and
  :func:`pair_histograms` (``histograms``).

The result types live in ``results``. torch is imported only when tensor bytes are compared.
"""

from inspector.core.diff.align import Alignment, AlignRule, TensorPair, align
from inspector.core.diff.export import (
    report_to_csv,
    report_to_json,
)
from inspector.core.diff.histograms import PairHistograms, SideHistogram, pair_histograms
from inspector.core.diff.metrics import (
    CHUNK_ELEMENTS,
    DEFAULT_ATOL,
    DEFAULT_RTOL,
    compare_tensors,
)
from inspector.core.diff.pairs import iter_diff
from inspector.core.diff.report import diff_checkpoints, make_report, summarize
from inspector.core.diff.results import (
    ADDED,
    CHANGED,
    DTYPE_CHANGED,
    IDENTICAL,
    REMOVED,
    SHAPE_CHANGED,
    STATUSES,
    DiffCancelled,
    DiffEntry,
    DiffReport,
    DiffSummary,
    PairMetrics,
    ScalarDiff,
    TensorComparison,
)
from inspector.core.diff.scalars import diff_scalars
from inspector.core.diff.stream import (
    DiffHeader,
    DiffProblem,
    DiffProgress,
    report_from_stream,
    stream_diff,
)

__all__ = [
    "ADDED", "CHANGED", "CHUNK_ELEMENTS", "DEFAULT_ATOL", "DEFAULT_RTOL", "DTYPE_CHANGED",
    "IDENTICAL", "REMOVED", "SHAPE_CHANGED", "STATUSES", "AlignRule", "Alignment",
    "DiffCancelled", "DiffEntry", "DiffHeader", "DiffProblem", "DiffProgress", "DiffReport",
    "DiffSummary", "PairHistograms", "PairMetrics", "ScalarDiff", "SideHistogram",
    "TensorComparison", "TensorPair", "align", "compare_tensors", "diff_checkpoints",
    "diff_scalars", "iter_diff", "make_report", "pair_histograms", "report_from_stream",
    "report_to_csv", "report_to_json", "stream_diff", "summarize",
]
