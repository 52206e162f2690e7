"""The compare view's streamed diff, a job for the worker process (no Qt).

:func:`stream_diff` yields a :class:`DiffHeader` (files, alignment, non-tensor value
differences), then one :class:`DiffProgress` per tensor pair carrying its
:class:`~inspector.core.diff.DiffEntry`; or a single :class:`DiffProblem` when a file cannot
be opened. :func:`report_from_stream` turns the header and the entries into the same
:class:`~inspector.core.diff.DiffReport` that :func:`~inspector.core.diff.diff_checkpoints`
returns.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from inspector.core.checkpoint import Checkpoint, CheckpointError
from inspector.core.diff.align import align
from inspector.core.diff.pairs import iter_diff
from inspector.core.diff.report import summarize
from inspector.core.diff.results import DiffCancelled, DiffEntry, DiffReport, ScalarDiff
from inspector.core.diff.scalars import diff_scalars
from inspector.core.jobs import cancel_requested


@dataclass(frozen=True)
class DiffHeader:
    """What is known before any tensor bytes are read."""

    path_a: str
    path_b: str
    format_a: str
    format_b: str
    size_a: int
    size_b: int
    tensors_a: int
    tensors_b: int
    aligned_by: str | None
    pairs: int
    total_bytes: int
    scalars: tuple[ScalarDiff, ...]
    strip_prefixes: tuple[str, ...]
    atol: float | None
    rtol: float | None


@dataclass(frozen=True)
class DiffProgress:
    """One compared pair: its entry and the bytes read so far (both sides, cumulative)."""

    entry: DiffEntry
    bytes_done: int


@dataclass(frozen=True)
class DiffProblem:
    """A file could not be opened or read: a message naming it."""

    message: str


# ---- Streamed diff
def stream_diff(path_a: str, path_b: str, strip_prefixes: Sequence[str] = (),
                atol: float | None = None, rtol: float | None = None
                ) -> Iterator[DiffHeader | DiffProgress | DiffProblem]:
    """Open both files, align them, and yield the header then one item per tensor pair."""
    from inspector.core.formats import open_checkpoint

    opened: list[Checkpoint] = []
    try:
        for path in (path_a, path_b):
            try:
                opened.append(open_checkpoint(path))
            except CheckpointError as e:
                yield DiffProblem(str(e))
                return
            except OSError as e:
                yield DiffProblem(f"{path}: {e.strerror or e}")
                return
        ck_a, ck_b = opened
        alignment = align(ck_a, ck_b, strip_prefixes)
        yield DiffHeader(
            path_a=ck_a.path, path_b=ck_b.path, format_a=ck_a.format, format_b=ck_b.format,
            size_a=ck_a.size_bytes, size_b=ck_b.size_bytes,
            tensors_a=len(ck_a.tensors()), tensors_b=len(ck_b.tensors()),
            aligned_by=alignment.aligned_by, pairs=len(alignment.pairs),
            total_bytes=alignment.total_bytes,
            scalars=tuple(diff_scalars(ck_a, ck_b, alignment)),
            strip_prefixes=tuple(alignment.strip_prefixes), atol=atol, rtol=rtol)
        done = 0
        entries = iter_diff(ck_a, ck_b, alignment, atol=atol, rtol=rtol, cancel=cancel_requested)
        try:
            for pair, entry in zip(alignment.pairs, entries, strict=False):
                if pair.info_a is not None and pair.info_b is not None:
                    done += pair.info_a.nbytes + pair.info_b.nbytes
                yield DiffProgress(entry, done)
        except DiffCancelled:
            return
        except CheckpointError as e:
            yield DiffProblem(str(e))
    finally:
        for ck in opened:
            ck.close()


def report_from_stream(header: DiffHeader, entries: Sequence[DiffEntry]) -> DiffReport:
    """The report :func:`~inspector.core.diff.diff_checkpoints` would return for this run."""
    tolerant = header.atol is not None or header.rtol is not None
    return DiffReport(path_a=header.path_a, path_b=header.path_b, aligned_by=header.aligned_by,
                      entries=tuple(entries), scalars=header.scalars,
                      summary=summarize(entries, header.scalars, tolerant),
                      atol=header.atol, rtol=header.rtol,
                      format_a=header.format_a, format_b=header.format_b,
                      strip_prefixes=header.strip_prefixes)
