"""One tensor's statistics: one pass over bit patterns (1- and 2-byte dtypes) or two passes
(wider dtypes), streaming blocks of the mapped bytes; sums in float64."""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Callable

import numpy as np

from inspector.core.checkpoint import Checkpoint, TensorInfo
from inspector.core.stats import fused
from inspector.core.stats.binning import Binner
from inspector.core.stats.plan import Plan, blocks, magnitudes, native, plan_for
from inspector.core.stats.results import Histogram, TensorStats

DEFAULT_BINS = 64
DEFAULT_CHUNK_BYTES = 4 << 20
# Elements per computation block: small enough for the float64 temporaries to stay in
# cache, large enough that numpy's per-call overhead does not matter.
MAX_BLOCK_ELEMS = 1 << 17
# Pass 2 of big tensors works on smaller blocks: its two float64 buffers stay in L2.
PASS2_BLOCK_ELEMS = 1 << 17
# Histograms with at most this many bins count pairs of bin indices (see _Pass2).
PAIR_BINS = 64

Cancel = Callable[[], bool] | threading.Event | None  # a callable returning True, or an Event


def cancel_fn(cancel: Cancel) -> Callable[[], bool]:
    """``cancel`` as a callable that returns True to stop."""
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel


def compute_stats(ckpt: Checkpoint, info: TensorInfo, bins: int = DEFAULT_BINS,
                  chunk_bytes: int = DEFAULT_CHUNK_BYTES, cancel: Cancel = None) -> TensorStats:
    """Statistics and an exact ``bins``-bin histogram of one tensor, streaming its bytes,
    in this thread, block after block: the serial reference path (the package's
    ``compute_stats`` adds ``workers``).

    Memory stays bounded by ``chunk_bytes`` (times a small factor for float64
    temporaries) whatever the tensor's size. ``bins=0`` skips the histogram.
    Raises CheckpointError for tensors without readable data and StatsCancelled when
    ``cancel`` becomes true.
    """
    if bins < 0:
        raise ValueError("bins must be >= 0")
    stop = cancel_fn(cancel)
    plan = plan_for(ckpt, info)
    plan.chunk_elems = max(1, chunk_bytes // plan.np_dtype.itemsize)
    block = min(MAX_BLOCK_ELEMS, plan.chunk_elems)
    if plan.numel == 0:
        return empty_stats(plan)
    # NaN payloads, overflowing sums of huge float64s: handled explicitly, never warnings
    with np.errstate(all="ignore"):
        if plan.kind == "patterns":
            stats = _pattern_stats(ckpt, plan, bins, block, stop)
        else:
            stats = _two_pass_stats(ckpt, plan, bins, block, stop)
    return _repeated(stats, plan.repeat) if plan.repeat > 1 else stats


def _repeated(stats: TensorStats, k: int) -> TensorStats:
    """The statistics of a view in which every value of ``stats`` occurs ``k`` times (a
    broadcast): the counts scale, min/max/mean/std/abs_mean stay, the L2 norm grows by √k."""
    hist = stats.histogram
    if hist is not None:
        hist = Histogram(hist.edges, tuple(c * k for c in hist.counts))
    return dataclasses.replace(
        stats, numel=stats.numel * k, zeros=stats.zeros * k, nan=stats.nan * k,
        inf=stats.inf * k, finite=stats.finite * k, histogram=hist,
        l2=None if stats.l2 is None else stats.l2 * math.sqrt(k))


# ---- One pass over bit patterns (1- and 2-byte dtypes)
def _pattern_stats(ckpt: Checkpoint, plan: Plan, bins: int, block: int,
                   stop: Callable[[], bool]) -> TensorStats:
    n_patterns = 256 if plan.np_dtype.itemsize == 1 else 65536
    counts = np.zeros(n_patterns, dtype=np.int64)
    block = _chunk_elems_hint(block, plan)
    count = pattern_counter(plan)
    for x in blocks(ckpt, plan, block, stop):
        count(x, counts)
    table = plan.table()
    used = np.flatnonzero(counts)
    values = table[used].ravel()
    weights = np.repeat(counts[used], table.shape[1])
    return _weighted_stats(plan, values, weights, bins)


def pattern_counter(plan: Plan) -> Callable[[np.ndarray, np.ndarray], None]:
    """``count(x, counts)`` adding the bit patterns of the block ``x`` to ``counts``: the
    compiled counter for tensors of at least ``fused.FUSED_MIN_ELEMS`` elements in native
    byte order (integer counts: the same whichever counts), else ``np.bincount``."""
    fast = fused.counter() if plan.numel >= fused.FUSED_MIN_ELEMS else None
    if fast is not None and plan.np_dtype.isnative:
        def count(x: np.ndarray, counts: np.ndarray) -> None:
            fast(x.reshape(-1), counts)
        return count

    def count(x: np.ndarray, counts: np.ndarray) -> None:
        counts += np.bincount(x.ravel(), minlength=counts.size)
    return count


def _weighted_stats(plan: Plan, values: np.ndarray, weights: np.ndarray, bins: int
                    ) -> TensorStats:
    """Exact statistics of a multiset given as distinct values with their counts."""
    nan_mask = np.isnan(values)
    inf_mask = np.isinf(values)
    n_nan = int(weights[nan_mask].sum())
    n_inf = int(weights[inf_mask].sum())
    fin = ~(nan_mask | inf_mask)
    v, w = values[fin], weights[fin]
    n_fin = int(w.sum())
    zeros = int(w[v == 0].sum())
    if n_fin == 0:
        return make_stats(plan, None, None, None, None, None, None, zeros, n_nan, n_inf, 0, None)
    wf = w.astype(np.float64)
    lo, hi = float(v.min()), float(v.max())
    mean = float(np.einsum("i,i->", wf, v)) / n_fin
    dev = v - mean
    m2 = float(np.einsum("i,i,i->", wf, dev, dev))
    abs_sum = float(np.einsum("i,i->", wf, np.abs(v)))
    hist = None
    if bins:
        c, e = np.histogram(v, bins=bins, range=(lo, hi), weights=wf)
        hist = Histogram(tuple(e.tolist()), tuple(int(x) for x in c))
    return finish(plan, lo, hi, mean, m2, abs_sum, zeros, n_nan, n_inf, n_fin, hist)


# ---- Two passes (4-, 8- and 16-byte dtypes)
def _chunk_elems_hint(block: int, plan: Plan) -> int:
    """Pattern counting pays ~65 536 operations per block for its counts array, so it
    reads bigger blocks (still bounded: at most 1 Mi elements, or the caller's chunk)."""
    return max(block, min(plan.chunk_elems, 1 << 20))


class _Pass1:
    """min, max, NaN/Inf counts and a shift near the mean. Cheap: the pass runs at
    memory speed."""

    __slots__ = ("n_nan", "n_inf", "n_fin", "lo", "hi", "shift")

    def __init__(self) -> None:
        self.n_nan = self.n_inf = self.n_fin = 0
        self.lo = math.inf
        self.hi = -math.inf
        self.shift: float | None = None

    def add(self, v: np.ndarray, value_kind: str) -> None:
        if v.size == 0:
            return
        lo, hi = v.min(), v.max()
        if value_kind == "float" and not (math.isfinite(lo) and math.isfinite(hi)):
            n_nan = int(np.count_nonzero(np.isnan(v)))
            fin = np.isfinite(v)
            n_fin = int(np.count_nonzero(fin))
            self.n_nan += n_nan
            self.n_inf += v.size - n_fin - n_nan
            if n_fin == 0:
                return
            v = v[fin]
            lo, hi = v.min(), v.max()
        self.n_fin += v.size
        if self.shift is None:  # the first block's mean: pass 2 sums deviations from it
            self.shift = float(np.add.reduce(v, axis=None, dtype=np.float64)) / v.size
        self.lo = min(self.lo, float(lo))
        self.hi = max(self.hi, float(hi))


def small_histogram(y: np.ndarray, lo: float, hi: float, bins: int) -> Histogram:
    """np.histogram's uniform-bin algorithm (index formula, then a one-bin correction
    against the edges, so counts and edges agree exactly) without its per-call overhead,
    which dominates for thousands of small tensors. Needs lo < hi, hi - lo finite."""
    edges = np.linspace(lo, hi, bins + 1)
    f = np.subtract(y, lo)
    f *= bins / (hi - lo)
    idx = f.astype(np.intp)
    np.clip(idx, 0, bins - 1, out=idx)
    idx -= y < edges[idx]
    idx += (y >= edges[idx + 1]) & (idx != bins - 1)
    counts = np.bincount(idx, minlength=bins)
    return Histogram(tuple(edges.tolist()), tuple(counts.tolist()))


def _shift(p1: _Pass1) -> float:
    """The shift for pass 2: near the mean, and finite when subtracted from the minimum."""
    shift = p1.shift
    if shift is None or not math.isfinite(shift) or not math.isfinite(shift - p1.lo):
        return p1.lo
    return shift


class _Pass2:
    """Zeros, sums of |v|, of ``d = v - shift`` and of ``d**2`` (the shifted-data
    algorithm: exact enough because the shift is close to the mean), and bin counts.

    Every block is converted to float64 once (``copyto``, much faster than a ufunc with
    a casting ``dtype=``); all sums and the bin indices are computed from that copy with
    in-place, in-cache operations. For tensors of ``numel >= fused.FUSED_MIN_ELEMS``
    elements, one compiled loop does the same arithmetic (see :mod:`fused`), with the
    same results bit for bit.
    """

    def __init__(self, p1: _Pass1, value_kind: str, block: int, binner: Binner | None,
                 numel: int = 0):
        self.kind = value_kind
        self.nonneg = p1.lo >= 0
        self.shift = _shift(p1)
        self.zeros = 0
        self.abs_total = self.dev = self.dev2 = 0.0
        self.binner = binner
        bins = binner.bins if binner else 0
        self.bins = bins
        self.counts = np.zeros(bins, dtype=np.int64)
        self._f = np.empty(block, dtype=np.float64)
        self._g = np.empty(block, dtype=np.float64)
        # bins <= 64: two bin indices make one key < 4096 (a table that stays in L1), so
        # np.bincount does half the work; wider histograms count single indices
        self._paired = 0 < bins <= PAIR_BINS
        self.pairs = np.zeros(bins * bins if self._paired else 0, dtype=np.int64)
        self._k = np.empty(block, dtype=np.uint16) if 0 < bins <= 65536 else None
        self._ip = np.empty(block, dtype=np.intp) if bins > 65536 else None
        self._fused = None
        if numel >= fused.FUSED_MIN_ELEMS and bins <= 65536 and (
                binner is None or binner.scale == 1.0):
            self._fused = fused.kernel()
        if self._fused is not None:
            self._rows = np.zeros((fused.ROWS, max(bins, 1)), dtype=np.int64)
            # no histogram: every value counts into a dummy bin 0
            self._bin_args = ((binner.offset, binner.norm, bins - 1) if binner is not None
                              else (0.0, 0.0, 0))

    def add(self, v: np.ndarray, drop_nonfinite: bool) -> None:
        if drop_nonfinite:
            v = v[np.isfinite(v)]
        m = v.size
        if m == 0:
            return
        fn = fused.pass2_for(v.dtype) if self._fused is not None else None
        if fn is not None:
            zeros, abs_sum, dev, dev2 = fn(v.reshape(-1), self.shift, *self._bin_args,
                                           self._rows, fused.EINSUM_CHUNK)
            self.zeros += zeros
            if not self.nonneg:
                self.abs_total += abs_sum
            self.dev += dev
            self.dev2 += dev2
            return
        f = self._f[:m]
        g = self._g[:m]
        np.copyto(f.reshape(v.shape), v)  # exact: every value we read is a double
        np.abs(f, out=g)
        # counting non-zero bit patterns of |v| is ~5x faster than comparing floats
        self.zeros += m - int(np.count_nonzero(g.view(np.uint64)))
        if not self.nonneg:
            self.abs_total += float(np.einsum("i->", g))
        np.subtract(f, self.shift, out=f)
        self.dev += float(np.einsum("i->", f))
        np.multiply(f, f, out=g)
        self.dev2 += float(np.einsum("i->", g))  # not np.dot: BLAS threads spin
        if self.binner is not None:
            if self.binner.scale == 1.0:  # f is exactly the binner's v - shift
                self.binner.index_from_deviation(f)
            else:
                self.binner.float_index(v, f)
            self._count(f, m)

    def _count(self, f: np.ndarray, m: int) -> None:
        """Add the bins of the float bin indices in ``f`` (all in [0, bins))."""
        if self._ip is not None:
            idx = self._ip[:m]
            np.copyto(idx, f, casting="unsafe")
            self.counts += np.bincount(idx, minlength=self.bins)
            return
        k = self._k[:m]
        np.copyto(k, f, casting="unsafe")
        if not self._paired:
            self.counts += np.bincount(k, minlength=self.bins)
            return
        h = m >> 1
        a, b = k[:h], k[h:2 * h]
        b *= self.bins
        a += b  # key = index of one value + bins * index of another
        self.pairs += np.bincount(a, minlength=self.pairs.size)
        if m & 1:
            self.counts[k[m - 1]] += 1

    def bin_counts(self) -> tuple[int, ...]:
        counts = self.counts.copy()
        if self._fused is not None and self.bins:
            counts += self._rows.sum(axis=0)
        if self._paired:
            table = self.pairs.reshape(self.bins, self.bins)
            counts += table.sum(axis=0)
            counts += table.sum(axis=1)
        return tuple(counts.tolist())


def _two_pass_stats(ckpt: Checkpoint, plan: Plan, bins: int, block: int,
                    stop: Callable[[], bool]) -> TensorStats:
    values = magnitudes if plan.kind == "complex" else native
    kind = plan.value_kind
    p1 = _Pass1()
    single = plan.numel <= block
    only_block = None
    for x in blocks(ckpt, plan, block, stop):
        only_block = values(x)
        p1.add(only_block, kind)
    n_nan, n_inf, n = p1.n_nan, p1.n_inf, p1.n_fin
    if n == 0:
        return make_stats(plan, None, None, None, None, None, None, 0, n_nan, n_inf, 0, None)
    lo, hi = p1.lo, p1.hi
    if lo == hi:  # constant: no second pass needed
        return constant_stats(plan, lo, n, n_nan, n_inf, bins)
    use_numpy_hist = single and math.isfinite(hi - lo)
    binner = Binner(lo, hi, _shift(p1), bins) if bins and not use_numpy_hist else None
    p2_block = min(block, plan.numel) if single else min(block, PASS2_BLOCK_ELEMS)
    p2 = _Pass2(p1, kind, p2_block, binner, plan.numel)
    drop = n_nan + n_inf > 0
    pass2 = [only_block] if single else (values(x) for x in blocks(ckpt, plan, p2_block, stop))
    for v in pass2:
        p2.add(v, drop)
    mean = p2.shift + p2.dev / n
    m2 = p2.dev2 - p2.dev * p2.dev / n
    abs_total = p2.abs_total if not p2.nonneg else mean * n
    hist = None
    if binner is not None:
        hist = Histogram(binner.edges(), p2.bin_counts())
    elif bins:
        y = np.asarray(only_block, dtype=np.float64).ravel()
        if drop:
            y = y[np.isfinite(y)]
        hist = small_histogram(y, lo, hi, bins)
    return finish(plan, lo, hi, mean, m2, abs_total, p2.zeros, n_nan, n_inf, n, hist)


# ---- Building the result
def constant_stats(plan: Plan, value: float, n: int, n_nan: int, n_inf: int,
                   bins: int) -> TensorStats:
    """The statistics of ``n`` finite values that all equal ``value`` (no second pass)."""
    hist = None
    if bins:
        c, e = np.histogram(np.array([value]), bins=bins, range=(value, value))
        hist = Histogram(tuple(float(x) for x in e), tuple(int(x) * n for x in c))
    return finish(plan, value, value, value, 0.0, abs(value) * n, n if value == 0 else 0, n_nan,
                  n_inf, n, hist)


def finish(plan: Plan, lo: float, hi: float, mean: float, m2: float, abs_sum: float,
            zeros: int, n_nan: int, n_inf: int, n_fin: int, hist: Histogram | None
            ) -> TensorStats:
    var = max(m2, 0.0) / n_fin
    std = math.sqrt(var)
    sq = m2 + n_fin * mean * mean
    l2 = math.sqrt(sq) if sq >= 0 else math.nan
    return make_stats(plan, lo, hi, mean, std, abs_sum / n_fin, l2, zeros, n_nan, n_inf, n_fin, hist)


def make_stats(plan: Plan, lo, hi, mean, std, abs_mean, l2, zeros, n_nan, n_inf, n_fin, hist
           ) -> TensorStats:
    return TensorStats(dtype=plan.dtype, shape=plan.shape, numel=plan.numel, min=lo, max=hi,
                       mean=mean, std=std, abs_mean=abs_mean, l2=l2, zeros=zeros, nan=n_nan,
                       inf=n_inf, finite=n_fin, histogram=hist, note=plan.note)


def empty_stats(plan: Plan) -> TensorStats:
    return make_stats(plan, None, None, None, None, None, None, 0, 0, 0, 0, None)
