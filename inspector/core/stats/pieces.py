"""One tensor's statistics as pieces of work with exact merges (for threads, processes, Dask).

A tensor's values are cut into numbered blocks (:class:`~inspector.core.stats.plan.BlockGrid`)
exactly where :func:`~inspector.core.stats.compute_stats` cuts them; a :class:`Piece` is a
range of those blocks. The cut points depend only on the tensor and ``chunk_bytes``, never
on how many workers run them, and every partial result keeps what the merge needs to
reproduce the serial computation bit for bit:

- phase 1, :func:`scan_piece`: min/max, NaN/Inf/finite counts and the first block's mean
  (the shift of the two-pass variance) - or, for 1- and 2-byte dtypes, the counts of every
  bit pattern; :func:`merge_scans` adds counts (integers) and takes min/max (exact);
- phase 2, :func:`bin_piece` (only when :func:`needs_binning`): zeros and bin counts
  (integers) and **one float64 sum per block** of |v|, v - shift and (v - shift)²;
  :func:`merge_bins` concatenates them in block order and :func:`finish_stats` adds them
  up left to right, exactly as the serial loop does;
- :func:`finish_stats` builds the :class:`~inspector.core.stats.TensorStats`.

So ``finish_stats(merge_scans(scans), merge_bins(bins))`` equals ``compute_stats`` whatever
the pieces' order, worker count, thread or process. Every result is a picklable frozen
dataclass of numpy arrays and numbers.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from inspector.core.checkpoint import Checkpoint, TensorInfo
from inspector.core.stats.binning import Binner
from inspector.core.stats.passes import (
    DEFAULT_BINS,
    DEFAULT_CHUNK_BYTES,
    MAX_BLOCK_ELEMS,
    PASS2_BLOCK_ELEMS,
    _chunk_elems_hint,
    _Pass1,
    _Pass2,
    _repeated,
    _shift,
    _weighted_stats,
    compute_stats,
    constant_stats,
    empty_stats,
    finish,
    make_stats,
    pattern_counter,
    small_histogram,
)
from inspector.core.stats.plan import BlockGrid, Plan, magnitudes, native, plan_for
from inspector.core.stats.results import Histogram, TensorStats

# Work per piece: big enough that a piece's Python overhead is nothing (a few ms of
# numpy work), small enough that a 64 MiB tensor still splits over 8 workers.
PIECE_BYTES = 8 << 20


@dataclass(frozen=True)
class Piece:
    """Blocks ``start`` .. ``stop - 1`` of a tensor's block grid; ``index`` orders pieces."""

    index: int
    start: int
    stop: int


@dataclass(frozen=True)
class Scan:
    """Phase 1 of a piece (or of several merged pieces).

    ``patterns`` holds the bit-pattern counts of 1- and 2-byte dtypes (then the other
    fields are unused). ``shift`` is the mean of the first block with finite values, and
    ``first`` the index of the piece it came from (the merge keeps the lowest).
    """

    index: int
    n_nan: int = 0
    n_inf: int = 0
    n_fin: int = 0
    lo: float = math.inf
    hi: float = -math.inf
    shift: float | None = None
    first: int = -1
    patterns: np.ndarray | None = None


@dataclass(frozen=True)
class Bins:
    """Phase 2 of a piece: integer counts and one float64 sum per block, in block order.

    ``hist`` is set instead of ``counts`` for a one-block tensor (np.histogram's algorithm).
    """

    index: int
    zeros: int
    block_ids: np.ndarray  # the block of each sum below (merges sort by it)
    abs_sums: np.ndarray
    dev_sums: np.ndarray
    dev2_sums: np.ndarray
    counts: np.ndarray | None = None
    hist: Histogram | None = None


# ---- What a tensor's work is
@dataclass
class Layout:
    """How a tensor is read: its plan, block size and block grid (cached per call site)."""

    plan: Plan
    block: int
    grid: BlockGrid | None
    single: bool


def layout(ckpt: Checkpoint, info: TensorInfo, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Layout:
    """The plan and the block grid compute_stats uses (CheckpointError as it raises)."""
    plan = plan_for(ckpt, info)
    plan.chunk_elems = max(1, chunk_bytes // plan.np_dtype.itemsize)
    block = min(MAX_BLOCK_ELEMS, plan.chunk_elems)
    if plan.numel == 0:
        return Layout(plan, block, None, True)
    if plan.kind == "patterns":
        block = _chunk_elems_hint(block, plan)
        single = False
    else:
        single = plan.numel <= block
        # pass 2 reads blocks of min(block, PASS2_BLOCK_ELEMS): the same grid as pass 1
        assert single or min(block, PASS2_BLOCK_ELEMS) == block
    return Layout(plan, block, BlockGrid(ckpt, plan, block), single)


def tensor_pieces(ckpt: Checkpoint, info: TensorInfo, *, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                  piece_bytes: int | None = None, lay: Layout | None = None) -> list[Piece]:
    """The pieces of one tensor's work: consecutive block ranges of about ``piece_bytes``
    (default :data:`PIECE_BYTES`)."""
    lay = lay or layout(ckpt, info, chunk_bytes)
    piece_bytes = PIECE_BYTES if piece_bytes is None else piece_bytes
    if lay.grid is None:
        return [Piece(0, 0, 0)]
    n = len(lay.grid)
    if lay.single:
        return [Piece(0, 0, n)]
    per = max(1, piece_bytes // max(1, lay.block * lay.plan.np_dtype.itemsize))
    return [Piece(i, s, min(n, s + per)) for i, s in enumerate(range(0, n, per))]


def _never() -> bool:
    return False


# ---- Phase 1
def scan_piece(ckpt: Checkpoint, info: TensorInfo, piece: Piece, *,
               chunk_bytes: int = DEFAULT_CHUNK_BYTES, cancel: Callable[[], bool] = _never,
               lay: Layout | None = None) -> Scan:
    """Phase 1 of ``piece``: pattern counts, or min/max/counts and the first block's mean."""
    lay = lay or layout(ckpt, info, chunk_bytes)
    plan = lay.plan
    if lay.grid is None:
        return Scan(piece.index)
    with np.errstate(all="ignore"):
        if plan.kind == "patterns":
            size = 256 if plan.np_dtype.itemsize == 1 else 65536
            counts = np.zeros(size, dtype=np.int64)
            count = pattern_counter(plan)
            for x in lay.grid.range(piece.start, piece.stop, cancel):
                count(x, counts)
            return Scan(piece.index, patterns=counts)
        values = magnitudes if plan.kind == "complex" else native
        p1 = _Pass1()
        for x in lay.grid.range(piece.start, piece.stop, cancel):
            p1.add(values(x), plan.value_kind)
    return Scan(piece.index, p1.n_nan, p1.n_inf, p1.n_fin, p1.lo, p1.hi, p1.shift,
                piece.index if p1.shift is not None else -1)


def merge_scans(scans: Sequence[Scan]) -> Scan:
    """Phase-1 results of several pieces as one (exact; the order of ``scans`` is free)."""
    scans = sorted(scans, key=lambda s: s.index)
    if not scans:
        raise ValueError("no scans to merge")
    if scans[0].patterns is not None:
        total = scans[0].patterns.copy()
        for s in scans[1:]:
            total += s.patterns
        return Scan(scans[0].index, patterns=total)
    # the shift is the mean of the tensor's first block with finite values: the lowest
    # piece that found one (merged groups need not be contiguous)
    first = min((s for s in scans if s.shift is not None), key=lambda s: s.first, default=None)
    return Scan(scans[0].index, sum(s.n_nan for s in scans), sum(s.n_inf for s in scans),
                sum(s.n_fin for s in scans), min(s.lo for s in scans),
                max(s.hi for s in scans), first.shift if first else None,
                first.first if first else -1)


def needs_binning(scan: Scan, bins: int = DEFAULT_BINS) -> bool:
    """Whether phase 2 must run (real values, some finite and not all equal)."""
    del bins  # phase 2 also computes the sums, needed with or without a histogram
    return scan.patterns is None and scan.n_fin > 0 and scan.lo != scan.hi


# ---- Phase 2
class _Buffers(threading.local):
    """Per-thread work buffers: fresh multi-MB temporaries per piece cost page faults."""

    f: np.ndarray | None = None
    g: np.ndarray | None = None


_BUFFERS = _Buffers()


def _p1_of(scan: Scan) -> _Pass1:
    p1 = _Pass1()
    p1.n_nan, p1.n_inf, p1.n_fin = scan.n_nan, scan.n_inf, scan.n_fin
    p1.lo, p1.hi, p1.shift = scan.lo, scan.hi, scan.shift
    return p1


def make_binner(scan: Scan, bins: int, lay: Layout) -> Binner | None:
    """The Binner compute_stats builds for this tensor (None: no histogram or one block)."""
    lo, hi = scan.lo, scan.hi
    if not bins or (lay.single and math.isfinite(hi - lo)):
        return None
    return Binner(lo, hi, _shift(_p1_of(scan)), bins)


def bin_piece(ckpt: Checkpoint, info: TensorInfo, piece: Piece, scan: Scan, *,
              bins: int = DEFAULT_BINS, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
              cancel: Callable[[], bool] = _never, lay: Layout | None = None,
              binner: Binner | None = None) -> Bins:
    """Phase 2 of ``piece`` given the merged phase 1 ``scan`` of the whole tensor."""
    lay = lay or layout(ckpt, info, chunk_bytes)
    if binner is None:
        binner = make_binner(scan, bins, lay)
    plan = lay.plan
    values = magnitudes if plan.kind == "complex" else native
    p2 = _Pass2(_p1_of(scan), plan.value_kind, 1, binner, plan.numel)
    size = min(lay.block, plan.numel) if lay.single else lay.block
    buf = _BUFFERS
    if buf.f is None or buf.f.size < size:
        buf.f = np.empty(max(size, MAX_BLOCK_ELEMS), dtype=np.float64)
        buf.g = np.empty(max(size, MAX_BLOCK_ELEMS), dtype=np.float64)
    p2._f, p2._g = buf.f, buf.g
    if p2._k is not None:
        p2._k = np.empty(size, dtype=np.uint16)
    if p2._ip is not None:
        p2._ip = np.empty(size, dtype=np.intp)
    drop = scan.n_nan + scan.n_inf > 0
    count = piece.stop - piece.start
    abs_sums = np.zeros(count)
    dev_sums = np.zeros(count)
    dev2_sums = np.zeros(count)
    hist = None
    with np.errstate(all="ignore"):
        for j, x in enumerate(lay.grid.range(piece.start, piece.stop, cancel)):
            v = values(x)
            p2.abs_total = p2.dev = p2.dev2 = 0.0
            p2.add(v, drop)
            abs_sums[j], dev_sums[j], dev2_sums[j] = p2.abs_total, p2.dev, p2.dev2
            if lay.single and binner is None and bins:
                y = np.asarray(v, dtype=np.float64).ravel()
                if drop:
                    y = y[np.isfinite(y)]
                hist = small_histogram(y, scan.lo, scan.hi, bins)
    counts = np.array(p2.bin_counts(), dtype=np.int64) if binner is not None else None
    return Bins(piece.index, p2.zeros, np.arange(piece.start, piece.stop, dtype=np.int64),
                abs_sums, dev_sums, dev2_sums, counts, hist)


# ---- Both phases in one read (no histogram: min/max are not needed first)
def fusable(lay: Layout, bins: int) -> bool:
    """Whether one pass suffices: no histogram, real or complex values, several blocks."""
    return bins == 0 and lay.grid is not None and not lay.single and lay.plan.kind != "patterns"


def first_shift(ckpt: Checkpoint, info: TensorInfo, *, lay: Layout,
                cancel: Callable[[], bool] = _never) -> float | None:
    """The shift phase 1 would find: the mean of the first block with finite values
    (reads blocks from the start until one has any)."""
    values = magnitudes if lay.plan.kind == "complex" else native
    p1 = _Pass1()
    with np.errstate(all="ignore"):
        for x in lay.grid.range(0, len(lay.grid), cancel):
            p1.add(values(x), lay.plan.value_kind)
            if p1.shift is not None:
                return p1.shift
    return None


def fused_piece(ckpt: Checkpoint, info: TensorInfo, piece: Piece, shift: float | None, *,
                lay: Layout, cancel: Callable[[], bool] = _never) -> tuple[Scan, Bins]:
    """Phase 1 and phase 2 of ``piece`` in one read, without a histogram, given the
    tensor's shift (:func:`first_shift`). The sums of |v| are always kept (phase 2 keeps
    them only for tensors with negative values; :func:`finish_stats` uses them only then),
    and a block's non-finite values are left out when that block has any - the same values
    phase 2 keeps, in the same order, so the merged results are those of the two passes."""
    plan = lay.plan
    values = magnitudes if plan.kind == "complex" else native
    scan = _Pass1()
    fake = _Pass1()
    fake.lo, fake.shift = -math.inf, shift
    p2 = _Pass2(fake, plan.value_kind, 1, None, plan.numel)
    p2.shift = 0.0 if shift is None else shift
    buf = _BUFFERS
    if buf.f is None or buf.f.size < lay.block:
        buf.f = np.empty(max(lay.block, MAX_BLOCK_ELEMS), dtype=np.float64)
        buf.g = np.empty(max(lay.block, MAX_BLOCK_ELEMS), dtype=np.float64)
    p2._f, p2._g = buf.f, buf.g
    count = piece.stop - piece.start
    sums = np.zeros((3, count))
    with np.errstate(all="ignore"):
        for j, x in enumerate(lay.grid.range(piece.start, piece.stop, cancel)):
            v = values(x)
            before = scan.n_nan + scan.n_inf
            scan.add(v, plan.value_kind)
            p2.abs_total = p2.dev = p2.dev2 = 0.0
            p2.add(v, scan.n_nan + scan.n_inf > before)
            sums[:, j] = (p2.abs_total, p2.dev, p2.dev2)
    first = piece.index if scan.shift is not None else -1
    return (Scan(piece.index, scan.n_nan, scan.n_inf, scan.n_fin, scan.lo, scan.hi, scan.shift,
                 first),
            Bins(piece.index, p2.zeros, np.arange(piece.start, piece.stop, dtype=np.int64),
                 sums[0], sums[1], sums[2]))


def merge_bins(parts: Sequence[Bins]) -> Bins:
    """Phase-2 results of several pieces as one (exact; the order of ``parts`` is free)."""
    parts = sorted(parts, key=lambda p: p.index)
    if not parts:
        raise ValueError("no results to merge")
    counts = None
    if parts[0].counts is not None:
        counts = parts[0].counts.copy()
        for p in parts[1:]:
            counts += p.counts
    ids = np.concatenate([p.block_ids for p in parts])
    order = np.argsort(ids, kind="stable")  # block order, whatever groups were merged

    def joined(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])[order]

    return Bins(parts[0].index, sum(p.zeros for p in parts), ids[order], joined("abs_sums"),
                joined("dev_sums"), joined("dev2_sums"), counts,
                next((p.hist for p in parts if p.hist is not None), None))


def _in_order(sums: np.ndarray) -> float:
    total = 0.0
    for s in sums.tolist():  # left to right, as the serial loop adds them
        total += s
    return total


# ---- A tensor of a few pieces in one task
def whole_stats(ckpt: Checkpoint, info: TensorInfo, *, bins: int = DEFAULT_BINS,
                chunk_bytes: int = DEFAULT_CHUNK_BYTES, cancel: Callable[[], bool] = _never,
                lay: Layout | None = None) -> TensorStats:
    """Both passes and the finish of one tensor: the serial path, whose results the pieces
    reproduce bit for bit (one task instead of one per piece and phase)."""
    return compute_stats(ckpt, info, bins=bins, chunk_bytes=chunk_bytes, cancel=cancel)


# ---- The result
def finish_stats(ckpt: Checkpoint, info: TensorInfo, scan: Scan, part: Bins | None, *,
                 bins: int = DEFAULT_BINS, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
                 lay: Layout | None = None, binner: Binner | None = None) -> TensorStats:
    """The tensor's statistics from its merged phase 1 and (if it ran) phase 2 results."""
    lay = lay or layout(ckpt, info, chunk_bytes)
    plan = lay.plan
    if plan.numel == 0:
        return empty_stats(plan)
    with np.errstate(all="ignore"):
        stats = _finish(plan, lay, scan, part, bins, binner)
    return _repeated(stats, plan.repeat) if plan.repeat > 1 else stats


def _finish(plan: Plan, lay: Layout, scan: Scan, part: Bins | None, bins: int,
            binner: Binner | None) -> TensorStats:
    if scan.patterns is not None:
        counts = scan.patterns
        table = plan.table()
        used = np.flatnonzero(counts)
        values = table[used].ravel()
        weights = np.repeat(counts[used], table.shape[1])
        return _weighted_stats(plan, values, weights, bins)
    n_nan, n_inf, n = scan.n_nan, scan.n_inf, scan.n_fin
    if n == 0:
        return make_stats(plan, None, None, None, None, None, None, 0, n_nan, n_inf, 0, None)
    lo, hi = scan.lo, scan.hi
    if lo == hi:
        return constant_stats(plan, lo, n, n_nan, n_inf, bins)
    if part is None:
        raise ValueError("this tensor needs phase 2 (bin_piece) results")
    shift = _shift(_p1_of(scan))
    dev, dev2 = _in_order(part.dev_sums), _in_order(part.dev2_sums)
    mean = shift + dev / n
    m2 = dev2 - dev * dev / n
    abs_total = _in_order(part.abs_sums) if lo < 0 else mean * n
    hist = part.hist
    if part.counts is not None:
        binner = binner or make_binner(scan, bins, lay)
        hist = Histogram(binner.edges(), tuple(part.counts.tolist()))
    return finish(plan, lo, hi, mean, m2, abs_total, part.zeros, n_nan, n_inf, n, hist)
