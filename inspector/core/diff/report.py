"""A whole comparison: counts, the largest changes, and :func:`diff_checkpoints`."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

from inspector.core.checkpoint import Checkpoint
from inspector.core.diff.align import Alignment, align
from inspector.core.diff.metrics import CHUNK_ELEMENTS
from inspector.core.diff.pairs import iter_diff
from inspector.core.diff.results import (
    CHANGED,
    DTYPE_CHANGED,
    IDENTICAL,
    STATUSES,
    DiffEntry,
    DiffReport,
    DiffSummary,
    ScalarDiff,
)
from inspector.core.diff.scalars import diff_scalars

LARGEST = 10  # entries kept in DiffSummary.largest


def summarize(entries: Sequence[DiffEntry], scalars: Sequence[ScalarDiff] = (),
              tolerant: bool = False) -> DiffSummary:
    counts = dict.fromkeys(STATUSES, 0)
    compared = changed_el = close = 0
    for e in entries:
        counts[e.status] += 1
        if e.status in (IDENTICAL, CHANGED, DTYPE_CHANGED):
            compared += e.numel
        if e.status in (CHANGED, DTYPE_CHANGED):
            changed_el += e.num_diff or 0
            close += bool(e.close)
    valued = [e for e in entries if e.status in (CHANGED, DTYPE_CHANGED)]
    # single-value tensors (step counters, num_batches_tracked) change by whole units every
    # step; listing them first would hide the weights that moved, so they rank after
    valued.sort(key=lambda e: (e.numel <= 1, -e.change, -(e.max_abs_diff or 0.0)))
    return DiffSummary(**counts, elements_compared=compared, elements_changed=changed_el,
                       tensors_close=close if tolerant else None,
                       scalars_changed=len(scalars), largest=tuple(valued[:LARGEST]))


def make_report(ck_a: Checkpoint, ck_b: Checkpoint, alignment: Alignment,
                entries: Sequence[DiffEntry], *, atol: float | None = None,
                rtol: float | None = None) -> DiffReport:
    """Build the report from entries produced by :func:`iter_diff` (scalars computed here)."""
    scalars = tuple(diff_scalars(ck_a, ck_b, alignment))
    tolerant = atol is not None or rtol is not None
    return DiffReport(path_a=ck_a.path, path_b=ck_b.path, aligned_by=alignment.aligned_by,
                      entries=tuple(entries), scalars=scalars,
                      summary=summarize(entries, scalars, tolerant), atol=atol, rtol=rtol,
                      format_a=ck_a.format, format_b=ck_b.format,
                      strip_prefixes=alignment.strip_prefixes)


def diff_checkpoints(path_a: str | os.PathLike, path_b: str | os.PathLike, *,
                     strip_prefixes: Sequence[str] = (), atol: float | None = None,
                     rtol: float | None = None, cancel: Callable[[], bool] | None = None,
                     chunk_elements: int = CHUNK_ELEMENTS, workers: int | None = None,
                     device: str = "cpu") -> DiffReport:
    """Open two checkpoints (any supported formats) and compare them completely, on
    ``workers`` threads (None: every usable core) or on ``device`` ("cuda").

    Raises CheckpointError for a file that cannot be read, DiffCancelled when cancelled.
    """
    from inspector.core.formats import open_checkpoint

    with open_checkpoint(path_a) as ck_a, open_checkpoint(path_b) as ck_b:
        alignment = align(ck_a, ck_b, strip_prefixes)
        entries = list(iter_diff(ck_a, ck_b, alignment, atol=atol, rtol=rtol, cancel=cancel,
                                 chunk_elements=chunk_elements, workers=workers,
                                 device=device))
        return make_report(ck_a, ck_b, alignment, entries, atol=atol, rtol=rtol)
