"""Streaming tensor statistics and exact histograms over the memory-mapped file.

Statistics are computed from the file's bytes in bounded blocks, so a 4 GB tensor never
needs 4 GB of memory; sums are accumulated in float64.

How values are read (the *meaning* of the numbers):

- float tensors: their values; NaN and ±Inf are counted (``nan``, ``inf``) and left out of
  min/max/mean/std/abs_mean/l2 and the histogram.
- bool and integer tensors: their values (bool as 0/1).
- complex tensors: the magnitudes ``|z|`` (computed in float64).
- quantized tensors: the stored integer representation (scale and zero point not applied).
- packed sub-byte types (``float4_e2m1fn_x2``, ``quint4x2``, ``quint2x4``): every packed
  value is unpacked, so ``numel`` counts values, not bytes.
- sparse tensors: the stored (non-zero pattern) values only; ``numel`` counts them.
- sharded tensors (torch.distributed.checkpoint chunks): assembled into one tensor in
  memory (its full size, while its statistics run), then read exactly as the same tensor
  stored whole, so every statistic and the histogram are identical to that tensor's.
- meta tensors, tensor subclasses without data, unknown dtypes and views that lie outside
  their storage raise :class:`CheckpointError` (``iter_stats`` turns it into an error item).

Two designs, both exact:

- 1- and 2-byte dtypes (bool, int8/uint8, float16, bfloat16, the float8s, int16/uint16, …)
  take **one pass**: the raw bit patterns are counted (at most 65 536 of them), every
  pattern is decoded once, and all statistics and the histogram follow exactly from the
  pattern counts.
- wider dtypes take **two passes**: pass 1 finds min/max, counts, sums; pass 2 computes the
  squared deviations from the exact mean (two-pass variance) and bins every value with one
  fixed, monotonic float64 formula. The reported edges are the exact thresholds of that
  formula (found by bisection over doubles), so ``np.histogram(values, bins=edges)``
  reproduces the counts exactly. Tensors that fit in one block use ``np.histogram``'s
  algorithm. Pass 2 converts each block to float64 once and counts *pairs* of bin indices
  (one ``np.bincount`` key per two values).

:func:`iter_stats` computes runs of small one-block tensors (real values or 1-/2-byte
patterns) together: their values are concatenated and every statistic and histogram
comes from segmented numpy operations (``reduceat``, one ``bincount`` over
``segment * bins + bin``). Counts, min/max and histograms are those of
:func:`compute_stats` exactly; sums agree up to rounding.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from inspector.core.checkpoint import (
    Checkpoint,
    CheckpointError,
    StorageInfo,
    TensorInfo,
)
from inspector.core.dtypes import canonical, dtype_info
from inspector.core.text import path_to_json

DEFAULT_BINS = 64
DEFAULT_CHUNK_BYTES = 4 << 20
# Elements per computation block: small enough for the float64 temporaries to stay in
# cache, large enough that numpy's per-call overhead does not matter.
_MAX_BLOCK_ELEMS = 1 << 17
# Pass 2 of big tensors works on smaller blocks: its two float64 buffers stay in L2.
_PASS2_BLOCK_ELEMS = 1 << 17
# Histograms with at most this many bins count pairs of bin indices (see _Pass2).
_PAIR_BINS = 64
# iter_stats computes small tensors in batches (segmented numpy operations; the cost of a
# small tensor is Python calls, not bytes): tensors of at most _BATCH_MAX_ELEMS elements,
# together at most _MAX_BLOCK_ELEMS elements (and the caller's chunk), at least
# _BATCH_MIN_TENSORS of them (below that the per-tensor path is as fast), at most
# _BATCH_MAX_TENSORS, looking at most _BATCH_WINDOW tensors ahead.
_BATCH_MAX_ELEMS = 1 << 14
_BATCH_MIN_TENSORS = 8
_BATCH_MAX_TENSORS = 4096
_BATCH_WINDOW = 8192

_F64 = np.dtype(np.float64)


# ---------------------------------------------------------------------------------------
# Public data
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Histogram:
    """Counts of finite values in bins: bin ``i`` holds ``edges[i] <= v < edges[i+1]``,
    the last bin also holds ``v == edges[-1]`` (numpy's convention)."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True)
class TensorStats:
    """Summary of one tensor's values (see the module docstring for what "values" means).

    ``min``, ``max``, ``mean``, ``std`` (population), ``abs_mean``, ``l2`` and the
    histogram cover the finite values only; they are None when there are none.
    ``zeros + nonzero finite + nan + inf == numel``.
    """

    dtype: str
    shape: tuple[int, ...]
    numel: int
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    abs_mean: float | None
    l2: float | None
    zeros: int
    nan: int
    inf: int
    finite: int
    histogram: Histogram | None
    note: str = ""


@dataclass(frozen=True)
class StatsProgress:
    """Where a run of :func:`iter_stats` stands after an item: ``index`` of ``total``
    tensors are done (1-based), covering ``bytes_done`` of ``bytes_total`` tensor bytes."""

    index: int
    total: int
    bytes_done: int
    bytes_total: int


class StatsItem(tuple):
    """One result of :func:`iter_stats`: unpacks as ``(path, stats, error)``.

    ``stats`` is None exactly when ``error`` (a message) is set. ``progress`` is a
    :class:`StatsProgress`.
    """

    def __new__(cls, path: tuple, stats: TensorStats | None, error: str | None,
                progress: StatsProgress) -> StatsItem:
        self = super().__new__(cls, (path, stats, error))
        self.progress = progress
        return self

    @property
    def path(self) -> tuple:
        return self[0]

    @property
    def stats(self) -> TensorStats | None:
        return self[1]

    @property
    def error(self) -> str | None:
        return self[2]


class StatsCancelled(Exception):
    """Raised by :func:`compute_stats` when its ``cancel`` says stop."""


Cancel = Any  # None, a callable returning True to stop, or an object with is_set() (an Event)


# ---------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------
def compute_stats(ckpt: Checkpoint, info: TensorInfo, bins: int = DEFAULT_BINS,
                  chunk_bytes: int = DEFAULT_CHUNK_BYTES, cancel: Cancel = None) -> TensorStats:
    """Statistics and an exact ``bins``-bin histogram of one tensor, streaming its bytes.

    Memory stays bounded by ``chunk_bytes`` (times a small factor for float64
    temporaries) whatever the tensor's size. ``bins=0`` skips the histogram.
    Raises CheckpointError for tensors without readable data and StatsCancelled when
    ``cancel`` becomes true.
    """
    if bins < 0:
        raise ValueError("bins must be >= 0")
    plan = _plan(ckpt, info)
    stop = _cancel_fn(cancel)
    plan.chunk_elems = max(1, chunk_bytes // plan.np_dtype.itemsize)
    block = min(_MAX_BLOCK_ELEMS, plan.chunk_elems)
    if plan.numel == 0:
        return _empty_stats(plan)
    # NaN payloads, overflowing sums of huge float64s: handled explicitly, never warnings
    with np.errstate(all="ignore"):
        if plan.kind == "patterns":
            return _pattern_stats(ckpt, plan, bins, block, stop)
        return _two_pass_stats(ckpt, plan, bins, block, stop)


def iter_stats(ckpt: Checkpoint, paths: Iterable[tuple] | None = None, bins: int = DEFAULT_BINS,
               cancel: Cancel = None, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[StatsItem]:
    """Yield a :class:`StatsItem` ``(path, stats, error)`` per tensor, one at a time.

    Tensors come in file order (``paths`` only selects which; paths that name no tensor
    come last, with an error). Views that are identical (same storage, dtype, shape,
    stride and offset) are computed once. Cancel by setting ``cancel`` or by no longer
    pulling; each item carries ``progress`` for an "i of n, bytes done" display.
    """
    stop = _cancel_fn(cancel)
    all_tensors = ckpt.tensors()
    if paths is None:
        todo: list[tuple[tuple, TensorInfo | None]] = list(all_tensors)
    else:
        wanted = {tuple(p) for p in paths}
        todo = [(p, t) for p, t in all_tensors if p in wanted]
        found = {p for p, _ in todo}
        todo += [(p, None) for p in wanted - found]
    total = len(todo)
    bytes_total = sum(_progress_bytes(t) for _, t in todo)
    done_bytes = 0
    cache: dict[tuple, TensorStats | str] = {}
    batcher = _Batcher(ckpt, todo, bins, chunk_bytes, cache)
    for i, (path, info) in enumerate(todo, 1):
        if stop():
            return
        stats: TensorStats | None = None
        error: str | None = None
        if info is None:
            error = "no tensor at this path"
        else:
            key = _identity(info)
            result = cache.get(key) if key is not None else None
            if result is None and key is not None:
                # many small tensors: computed together, ahead, into the cache
                batcher.run(i - 1)
                result = cache.get(key)
            if result is None:
                try:
                    result = compute_stats(ckpt, info, bins=bins, chunk_bytes=chunk_bytes,
                                           cancel=stop)
                except StatsCancelled:
                    return
                except CheckpointError as e:
                    result = e.problem
                if key is not None:
                    cache[key] = result
            if isinstance(result, str):
                error = result
            else:
                stats = result
            done_bytes += _progress_bytes(info)
        yield StatsItem(path, stats, error, StatsProgress(i, total, done_bytes, bytes_total))


def stats_to_json(path: tuple | list, stats: TensorStats) -> dict:
    """The stable JSON document for one tensor's stats (NaN and missing values are null)."""
    hist = None
    if stats.histogram is not None:
        hist = {"edges": [_json_float(e) for e in stats.histogram.edges],
                "counts": list(stats.histogram.counts)}
    return {
        "path": path_to_json(path),
        "dtype": stats.dtype,
        "shape": list(stats.shape),
        "numel": stats.numel,
        "min": _json_float(stats.min),
        "max": _json_float(stats.max),
        "mean": _json_float(stats.mean),
        "std": _json_float(stats.std),
        "abs_mean": _json_float(stats.abs_mean),
        "l2": _json_float(stats.l2),
        "zeros": stats.zeros,
        "nan": stats.nan,
        "inf": stats.inf,
        "histogram": hist,
    }


# ---------------------------------------------------------------------------------------
# Private API: what to read and how
# ---------------------------------------------------------------------------------------
@dataclass
class _Plan:
    dtype: str                 # the tensor's dtype, as reported
    shape: tuple[int, ...]     # the tensor's shape, as reported
    storage: StorageInfo
    np_dtype: np.dtype         # how one element's bytes are viewed
    view_shape: tuple[int, ...]
    view_stride: tuple[int, ...]  # in elements
    view_offset: int              # in elements
    numel: int                    # values summarized (packed types: unpacked count)
    kind: str                     # "patterns", "real", "complex"
    value_kind: str               # "float", "int", "uint" (for the real path)
    table: Callable[[], np.ndarray] | None = None  # patterns -> values, shape (n, per_element)
    note: str = ""
    chunk_elems: int = 1          # the caller's chunk_bytes in elements
    buffer: Any = None            # the bytes to read instead of the storage's (assembled)


_PACKED = {"float4_e2m1fn_x2": 2, "quint4x2": 2, "quint2x4": 4}
_QUANTIZED_INT = {"qint8": "int8", "quint8": "uint8", "qint32": "int32",
                  "quint4x2": "quint4x2", "quint2x4": "quint2x4"}


def _plan(ckpt: Checkpoint, info: TensorInfo) -> _Plan:
    if info.layout == "sharded":
        return _assembled_plan(ckpt, info)
    dtype = canonical(info.dtype)
    if info.layout == "meta" or info.storage is None:
        raise CheckpointError(ckpt.path, f"this tensor has no data ({info.note or info.layout}); "
                                         f"no statistics")
    if info.note.startswith("unknown dtype"):
        raise CheckpointError(ckpt.path, f"{info.note}: cannot compute statistics")
    if info.note in ("view exceeds its storage", "negative stride"):
        raise CheckpointError(ckpt.path, f"tensor data cannot be read: {info.note}")
    storage = info.storage
    note = ""
    value_dtype = dtype
    if info.layout == "quantized" or dtype in _QUANTIZED_INT:
        value_dtype = _QUANTIZED_INT.get(dtype, "uint8")
        note = "quantized: statistics of the stored integers (scale and zero point not applied)"
    try:
        facts = dtype_info(value_dtype)
    except KeyError:
        raise CheckpointError(ckpt.path, f"unknown dtype {dtype!r}: cannot compute statistics") from None
    if info.layout.startswith("sparse"):
        count = storage.nbytes // facts.itemsize
        shape, stride, offset = (count,), (1,), 0
        note = f"{info.layout}: statistics of the {count} stored values"
    else:
        shape, stride, offset = tuple(info.shape), tuple(info.stride), info.storage_offset
        if info.layout == "nested":
            note = "nested tensor: statistics of its buffer"
    if any(s < 0 for s in stride) and math.prod(shape) > 1:
        raise CheckpointError(ckpt.path, "tensor data cannot be read: negative stride")
    order = ">" if storage.byteorder == "big" else "<"
    numel = math.prod(shape)
    itemsize = facts.itemsize
    if numel:
        last = offset + sum((n - 1) * s for n, s in zip(shape, stride))
        if offset < 0 or (last + 1) * itemsize > storage.nbytes:
            raise CheckpointError(ckpt.path, "tensor data cannot be read: the view lies outside "
                                             "its storage")

    if value_dtype in _PACKED:
        per = _PACKED[value_dtype]
        return _Plan(dtype, tuple(info.shape), storage, np.dtype("u1"), shape, stride, offset,
                     numel * per, "patterns", "float",
                     lambda: _packed_table(value_dtype), note or f"{per} packed values per byte")
    if facts.kind == "complex":
        comp = {16: "f8", 8: "f4", 4: "f2"}[itemsize]
        np_dtype = np.dtype([("re", order + comp), ("im", order + comp)])
        return _Plan(dtype, tuple(info.shape), storage, np_dtype, shape, stride, offset, numel,
                     "complex", "float", note=note or "complex: statistics of the magnitudes |z|")
    if itemsize <= 2:
        np_dtype = np.dtype("u1" if itemsize == 1 else order + "u2")
        return _Plan(dtype, tuple(info.shape), storage, np_dtype, shape, stride, offset, numel,
                     "patterns", facts.kind, lambda: _pattern_table(value_dtype), note)
    if facts.numpy is None:
        raise CheckpointError(ckpt.path, f"dtype {dtype} is not supported for statistics")
    np_dtype = np.dtype(order + facts.numpy[1:])
    value_kind = {"float": "float", "int": "int", "quantized": "int"}.get(facts.kind, "uint")
    return _Plan(dtype, tuple(info.shape), storage, np_dtype, shape, stride, offset, numel,
                 "real", value_kind, note=note)


def _assembled_plan(ckpt: Checkpoint, info: TensorInfo) -> _Plan:
    """The plan of a sharded tensor: its chunks are assembled into one contiguous tensor in
    memory (``info.nbytes`` of it, for as long as the statistics run), then read exactly
    as the same tensor stored whole would be, so the results are identical to its."""
    import torch

    from inspector.core.materialize import tensor_from_info

    whole = tensor_from_info(ckpt, info).contiguous()
    raw = whole.reshape(-1).view(torch.uint8).numpy()
    storage = StorageInfo(key="(assembled from chunks)", dtype=info.dtype, numel=info.numel,
                          location="cpu", file=ckpt.path, file_offset=0, nbytes=raw.nbytes,
                          byteorder=sys.byteorder)
    stride = tuple(whole.stride()) if whole.dim() else ()
    plan = _plan(ckpt, TensorInfo(dtype=info.dtype, shape=tuple(info.shape), stride=stride,
                                  storage_offset=0, storage=storage))
    plan.buffer = memoryview(raw)
    return plan


@cache
def _pattern_table(dtype: str) -> np.ndarray:
    """Every bit pattern of a 1- or 2-byte dtype decoded to float64, shape (2**bits, 1)."""
    facts = dtype_info(dtype)
    if facts.itemsize == 1:
        pats = np.arange(256, dtype=np.uint8)
    else:
        pats = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    if dtype == "bfloat16":
        values = (pats.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    elif facts.numpy is not None:
        values = pats.view(np.dtype(facts.numpy).newbyteorder("=")).astype(np.float64)
    elif facts.kind == "float":
        import torch

        t = torch.from_numpy(pats.copy()).view(getattr(torch, dtype))
        values = t.to(torch.float64).numpy()
    elif facts.kind == "int":  # int1..int7: one element per byte, read as int8
        values = pats.view(np.int8).astype(np.float64)
    else:  # uint1..uint7 and raw bits: the byte's value
        values = pats.astype(np.float64)
    values = values.reshape(-1, 1)
    values.flags.writeable = False
    return values


_FP4 = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0)


@cache
def _packed_table(dtype: str) -> np.ndarray:
    """Every byte of a packed sub-byte dtype unpacked to its values, shape (256, per_byte)."""
    b = np.arange(256, dtype=np.int64)
    if dtype == "float4_e2m1fn_x2":
        fp4 = np.array(_FP4)
        table = np.stack([fp4[b & 15], fp4[b >> 4]], axis=1)
    elif dtype == "quint4x2":
        table = np.stack([b & 15, b >> 4], axis=1).astype(np.float64)
    else:
        table = np.stack([(b >> s) & 3 for s in (0, 2, 4, 6)], axis=1).astype(np.float64)
    table.flags.writeable = False
    return table


def _cancel_fn(cancel: Cancel) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if hasattr(cancel, "is_set"):
        return cancel.is_set
    return cancel


def _identity(info: TensorInfo) -> tuple | None:
    if info.storage is None:
        return None
    return (info.storage.ident, info.dtype, info.layout, tuple(info.shape), tuple(info.stride),
            info.storage_offset)


def _progress_bytes(info: TensorInfo | None) -> int:
    if info is not None and info.layout == "sharded":
        return info.nbytes
    if info is None or info.storage is None:
        return 0
    if info.layout.startswith("sparse"):
        return info.storage.nbytes
    try:
        return info.nbytes
    except KeyError:
        return 0


def _json_float(v: float | None) -> float | None:
    if v is None or not math.isfinite(v):
        return None
    return float(v)


# ---------------------------------------------------------------------------------------
# Private API: reading blocks of a strided view
# ---------------------------------------------------------------------------------------
def _blocks(ckpt: Checkpoint, plan: _Plan, block: int, stop: Callable[[], bool]
            ) -> Iterator[np.ndarray]:
    """The view's elements as numpy arrays of at most ``block`` elements each, zero-copy
    views over the mapped bytes. The order of elements is not the tensor's (statistics do
    not depend on it): dimensions are reordered so memory is read as sequentially as
    possible."""
    mv = plan.buffer if plan.buffer is not None else ckpt.storage_view(plan.storage)
    itemsize = plan.np_dtype.itemsize
    dims = [(n, s) for n, s in zip(plan.view_shape, plan.view_stride) if n != 1]
    dims.sort(key=lambda d: -d[1])  # largest stride outermost; stable for equal strides
    merged: list[list[int]] = []
    for n, s in dims:
        if merged and merged[-1][1] == s * n:
            merged[-1] = [merged[-1][0] * n, s]
        else:
            merged.append([n, s])
    if not merged:
        merged = [[1, 1]]
    sizes = [n for n, _ in merged]
    strides = [s for _, s in merged]
    # split: dims[k+1:] are whole in every block; dim k is cut into slabs of `rows`
    inner = 1
    k = len(sizes) - 1
    while k > 0 and inner * sizes[k] <= block:
        inner *= sizes[k]
        k -= 1
    if inner * sizes[k] <= block:
        rows = sizes[k]
    else:
        rows = max(1, block // inner)
    tail_shape = tuple(sizes[k + 1:])
    tail_strides = tuple(s * itemsize for s in strides[k + 1:])
    outer = [range(n) for n in sizes[:k]]
    for idx in itertools.product(*outer):
        base = plan.view_offset + sum(i * s for i, s in zip(idx, strides[:k]))
        for r0 in range(0, sizes[k], rows):
            if stop():
                raise StatsCancelled()
            r = min(rows, sizes[k] - r0)
            start = base + r0 * strides[k]
            yield np.ndarray((r, *tail_shape), dtype=plan.np_dtype, buffer=mv,
                             offset=start * itemsize,
                             strides=(strides[k] * itemsize, *tail_strides))


def _native(x: np.ndarray) -> np.ndarray:
    return x if x.dtype.isnative else x.astype(x.dtype.newbyteorder("="))


def _magnitudes(x: np.ndarray) -> np.ndarray:
    return np.hypot(x["re"].astype(np.float64), x["im"].astype(np.float64))


# ---------------------------------------------------------------------------------------
# Private API: one pass over bit patterns (1- and 2-byte dtypes)
# ---------------------------------------------------------------------------------------
def _pattern_stats(ckpt: Checkpoint, plan: _Plan, bins: int, block: int,
                   stop: Callable[[], bool]) -> TensorStats:
    n_patterns = 256 if plan.np_dtype.itemsize == 1 else 65536
    counts = np.zeros(n_patterns, dtype=np.int64)
    block = _chunk_elems_hint(block, plan)
    for x in _blocks(ckpt, plan, block, stop):
        counts += np.bincount(x.ravel(), minlength=n_patterns)
    table = plan.table()
    used = np.flatnonzero(counts)
    values = table[used].ravel()
    weights = np.repeat(counts[used], table.shape[1])
    return _weighted_stats(plan, values, weights, bins)


def _weighted_stats(plan: _Plan, values: np.ndarray, weights: np.ndarray, bins: int
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
        return _stats(plan, None, None, None, None, None, None, zeros, n_nan, n_inf, 0, None)
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
    return _finish(plan, lo, hi, mean, m2, abs_sum, zeros, n_nan, n_inf, n_fin, hist)


# ---------------------------------------------------------------------------------------
# Private API: two passes (4-, 8- and 16-byte dtypes)
# ---------------------------------------------------------------------------------------
def _chunk_elems_hint(block: int, plan: _Plan) -> int:
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


def _small_histogram(y: np.ndarray, lo: float, hi: float, bins: int) -> Histogram:
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
    in-place, in-cache operations.
    """

    def __init__(self, p1: _Pass1, value_kind: str, block: int, binner: _Binner | None):
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
        self._paired = 0 < bins <= _PAIR_BINS
        self.pairs = np.zeros(bins * bins if self._paired else 0, dtype=np.int64)
        self._k = np.empty(block, dtype=np.uint16) if 0 < bins <= 65536 else None
        self._ip = np.empty(block, dtype=np.intp) if bins > 65536 else None

    def add(self, v: np.ndarray, drop_nonfinite: bool) -> None:
        if drop_nonfinite:
            v = v[np.isfinite(v)]
        m = v.size
        if m == 0:
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
        if self._paired:
            table = self.pairs.reshape(self.bins, self.bins)
            counts += table.sum(axis=0)
            counts += table.sum(axis=1)
        return tuple(counts.tolist())


def _two_pass_stats(ckpt: Checkpoint, plan: _Plan, bins: int, block: int,
                    stop: Callable[[], bool]) -> TensorStats:
    values = _magnitudes if plan.kind == "complex" else _native
    kind = plan.value_kind
    p1 = _Pass1()
    single = plan.numel <= block
    only_block = None
    for x in _blocks(ckpt, plan, block, stop):
        only_block = values(x)
        p1.add(only_block, kind)
    n_nan, n_inf, n = p1.n_nan, p1.n_inf, p1.n_fin
    if n == 0:
        return _stats(plan, None, None, None, None, None, None, 0, n_nan, n_inf, 0, None)
    lo, hi = p1.lo, p1.hi
    if lo == hi:  # constant: no second pass needed
        hist = None
        if bins:
            c, e = np.histogram(np.array([lo]), bins=bins, range=(lo, hi))
            hist = Histogram(tuple(float(x) for x in e), tuple(int(x) * n for x in c))
        return _finish(plan, lo, hi, lo, 0.0, abs(lo) * n, n if lo == 0 else 0, n_nan, n_inf,
                       n, hist)
    use_numpy_hist = single and math.isfinite(hi - lo)
    binner = _Binner(lo, hi, _shift(p1), bins) if bins and not use_numpy_hist else None
    p2_block = min(block, plan.numel) if single else min(block, _PASS2_BLOCK_ELEMS)
    p2 = _Pass2(p1, kind, p2_block, binner)
    drop = n_nan + n_inf > 0
    blocks = [only_block] if single else (values(x) for x in _blocks(ckpt, plan, p2_block, stop))
    for v in blocks:
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
        hist = _small_histogram(y, lo, hi, bins)
    return _finish(plan, lo, hi, mean, m2, abs_total, p2.zeros, n_nan, n_inf, n, hist)


class _Binner:
    """Bins values of [lo, hi] with one monotonic float64 formula,

        index(v) = trunc(((v * scale - shift) + offset) * norm)

    whose thresholds are found exactly by bisection, so the reported edges and the
    counts agree value for value. ``index(lo) == 0`` exactly (``shift - lo*scale`` and
    ``lo*scale - shift`` round to negatives of each other) and ``norm`` is nudged down
    until ``index(hi) == bins - 1``; monotonicity keeps every index in range.
    """

    def __init__(self, lo: float, hi: float, shift: float, bins: int):
        self.lo, self.hi, self.bins = lo, hi, bins
        # (v - shift) + offset can reach 2 * (hi - lo): scale down when that would overflow,
        # and scale up a subnormal-sized range, whose bins / width would overflow. A range that
        # small means every value is tiny (the range is at least one ulp of lo), so scaling
        # up cannot overflow.
        width = hi - lo
        if not math.isfinite(width * 2.0):
            self.scale = 2.0 ** -8
        elif 0.0 < width < 2.0 ** -900:
            self.scale = 2.0 ** 600
        else:
            self.scale = 1.0
        s = self.scale
        if not math.isfinite(shift * s - lo * s):
            shift = lo
        self.shift = shift * s
        self.offset = self.shift - lo * s
        self.norm = bins / (hi * s - lo * s)
        while self._scalar_index(hi) > bins - 1:
            self.norm = float(np.nextafter(self.norm, 0.0))

    def _scalar_index(self, v: float) -> int:
        out = np.empty(1, dtype=np.intp)
        self.index(np.array([v]), np.empty(1), out)
        return int(out[0])

    def index(self, v: np.ndarray, fbuf: np.ndarray, out: np.ndarray) -> None:
        """Bin indices of ``v`` (any shape, ``fbuf``/``out`` flat with as many elements)."""
        self.float_index(v, fbuf)
        np.copyto(out, fbuf, casting="unsafe")

    def float_index(self, v: np.ndarray, fbuf: np.ndarray) -> None:
        """``fbuf`` (flat, as many elements as ``v``) := the bin indices, still as floats."""
        f = fbuf.reshape(v.shape)
        if self.scale != 1.0:
            np.multiply(v, self.scale, out=f, dtype=np.float64)
            np.subtract(f, self.shift, out=f)
        else:
            np.subtract(v, self.shift, out=f, dtype=np.float64)
        self.index_from_deviation(fbuf)

    def index_from_deviation(self, d: np.ndarray) -> None:
        """``d`` holds ``v*scale - shift``; it is overwritten with the (float) bin index,
        which truncates to the integer one."""
        np.add(d, self.offset, out=d)
        np.multiply(d, self.norm, out=d)

    def edges(self) -> tuple[float, ...]:
        """The exact thresholds: edge i is the smallest double with index >= i."""
        targets = np.arange(1, self.bins, dtype=np.intp)
        lo = np.full(targets.size, _ordered(self.lo), dtype=np.int64)
        hi = np.full(targets.size, _ordered(self.hi), dtype=np.int64)
        fbuf = np.empty(targets.size)
        idx = np.empty(targets.size, dtype=np.intp)
        while targets.size and np.any(lo < hi):
            mid = (lo >> 1) + (hi >> 1) + (lo & hi & 1)
            self.index(_from_ordered(mid), fbuf, idx)
            ge = idx >= targets
            hi = np.where(ge, mid, hi)
            lo = np.where(ge, lo, mid + 1)
        inner = _from_ordered(lo).tolist() if targets.size else []
        return (self.lo, *inner, self.hi)


def _ordered(x: float) -> int:
    """Map a double to an int64 whose order is the doubles' order (-0.0 == +0.0)."""
    bits = int(np.array(x, dtype=np.float64).view(np.int64))
    return bits if bits >= 0 else -(bits & 0x7FFF_FFFF_FFFF_FFFF)


def _from_ordered(o: np.ndarray) -> np.ndarray:
    o = np.asarray(o, dtype=np.int64)
    bits = np.where(o >= 0, o, (-o) | np.int64(-0x8000_0000_0000_0000))
    return bits.view(np.float64)


# ---------------------------------------------------------------------------------------
# Private API: many small tensors at once (iter_stats)
# ---------------------------------------------------------------------------------------
class _Batcher:
    """Computes the small tensors ahead in ``todo`` together, into ``cache`` (by identity),
    with the results of :func:`compute_stats`: counts, min/max and histograms identical,
    sums equal up to rounding. A small tensor costs Python calls, not bytes, so one set
    of segmented numpy operations over thousands of them is ~20x cheaper."""

    def __init__(self, ckpt: Checkpoint, todo: list, bins: int, chunk_bytes: int,
                 cache: dict) -> None:
        self.ckpt, self.todo, self.bins, self.cache = ckpt, todo, bins, cache
        self.chunk_bytes = chunk_bytes
        # elements per batch; float64 temporaries of this many, like a block of one tensor
        self.budget = min(_MAX_BLOCK_ELEMS, max(1, chunk_bytes // 4))
        self.next_scan = 0

    def run(self, start: int) -> None:
        """Compute a batch starting at ``todo[start]``, if enough small tensors follow."""
        if start < self.next_scan or self.bins < 0:
            return
        members: list[tuple[tuple, _Plan]] = []
        seen: set[tuple] = set()
        elems = 0
        j = start
        end = min(len(self.todo), start + _BATCH_WINDOW)
        while j < end and len(members) < _BATCH_MAX_TENSORS:
            info = self.todo[j][1]
            key = _identity(info) if info is not None else None
            plan = None
            if key is not None and key not in self.cache and key not in seen:
                plan = self._eligible(info)
            if plan is not None:
                if members and elems + plan.numel > self.budget:
                    break
                seen.add(key)
                members.append((key, plan))
                elems += plan.numel
            j += 1
        self.next_scan = j
        if len(members) < _BATCH_MIN_TENSORS:
            return  # the per-tensor path is as fast; it computes todo[start:j]
        with np.errstate(all="ignore"):
            results = self._compute([p for _, p in members])
        for (key, _), result in zip(members, results):
            if result is not None:
                self.cache[key] = result

    def _eligible(self, info: TensorInfo) -> _Plan | None:
        """The plan of a tensor the batch computes exactly as compute_stats would: one
        block (compute_stats's single-block path), real values or unpacked patterns."""
        try:
            plan = _plan(self.ckpt, info)
        except CheckpointError:
            return None  # compute_stats reports it
        plan.chunk_elems = max(1, self.chunk_bytes // plan.np_dtype.itemsize)
        if not 0 < plan.numel <= min(_BATCH_MAX_ELEMS, _MAX_BLOCK_ELEMS, plan.chunk_elems):
            return None
        if plan.kind == "real":
            return plan
        if plan.kind == "patterns" and plan.numel == math.prod(plan.view_shape):
            return plan  # not packed: one value per element
        return None

    def _compute(self, plans: list[_Plan]) -> list[TensorStats | None]:
        groups: dict[Any, list[int]] = {}
        for i, plan in enumerate(plans):
            groups.setdefault("real" if plan.kind == "real" else plan.dtype, []).append(i)
        views: dict[Any, memoryview] = {}
        results: list[TensorStats | None] = [None] * len(plans)
        for group, idxs in groups.items():
            members = [plans[i] for i in idxs]
            arrays = [self._flat(plan, views) for plan in members]
            if group == "real":
                y = np.concatenate(arrays, dtype=np.float64)
            else:
                table = members[0].table().ravel()
                bits = np.concatenate(arrays, dtype=np.uint16 if table.size > 256 else np.uint8)
                y = table[bits]
            del arrays
            for i, result in zip(idxs, _segment_stats(members, y, group != "real", self.bins)):
                results[i] = result
        return results

    def _flat(self, plan: _Plan, views: dict) -> np.ndarray:
        mv = views.get(plan.storage.ident)
        if mv is None:
            mv = views[plan.storage.ident] = self.ckpt.storage_view(plan.storage)
        size = plan.np_dtype.itemsize
        return np.ndarray(plan.view_shape, dtype=plan.np_dtype, buffer=mv,
                          offset=plan.view_offset * size,
                          strides=tuple(s * size for s in plan.view_stride)).reshape(-1)


def _segment_stats(plans: list[_Plan], y: np.ndarray, patterns: bool, bins: int
                   ) -> list[TensorStats | None]:
    """Statistics of consecutive segments of ``y`` (float64; segment i holds the values of
    ``plans[i]``), each as compute_stats computes it for a one-block tensor: the
    two-pass path (``patterns`` False) or the pattern path. None where a segment needs
    the per-tensor path (a histogram range that overflows float64)."""
    k = len(plans)
    sizes = np.fromiter((p.numel for p in plans), dtype=np.intp, count=k)
    starts = np.zeros(k, dtype=np.intp)
    np.cumsum(sizes[:-1], out=starts[1:])
    fin = np.isfinite(y)
    if fin.all():
        n_fin = sizes
        n_nan = n_inf = np.zeros(k, dtype=np.intp)
    else:
        n_fin = np.add.reduceat(fin, starts, dtype=np.intp)
        n_nan = np.add.reduceat(np.isnan(y), starts, dtype=np.intp)
        n_inf = sizes - n_fin - n_nan
        y = y[fin]
    out: list[TensorStats | None] = [None] * k
    n_nan_l, n_inf_l = n_nan.tolist(), n_inf.tolist()
    has = n_fin > 0
    for i in np.flatnonzero(~has).tolist():
        out[i] = _stats(plans[i], None, None, None, None, None, None, 0, n_nan_l[i],
                        n_inf_l[i], 0, None)
    which = np.flatnonzero(has)
    m = which.size
    if m == 0:
        return out
    nf = n_fin[which]
    st = np.zeros(m, dtype=np.intp)
    np.cumsum(nf[:-1], out=st[1:])
    seg = np.repeat(np.arange(m, dtype=np.intp), nf)
    n = nf.astype(np.float64)
    lo = np.minimum.reduceat(y, st)
    hi = np.maximum.reduceat(y, st)
    zeros = np.add.reduceat(y == 0, st, dtype=np.intp)
    # the shifted sums of the two-pass path, the shift being each segment's mean
    shift = np.add.reduceat(y, st) / n
    bad = ~(np.isfinite(shift) & np.isfinite(shift - lo))
    shift[bad] = lo[bad]
    d = y - shift[seg]
    dev = np.add.reduceat(d, st)
    np.multiply(d, d, out=d)
    dev2 = np.add.reduceat(d, st)
    np.abs(y, out=d)
    abs_total = np.add.reduceat(d, st)
    del d
    mean = shift + dev / n
    m2 = dev2 - dev * dev / n
    if not patterns:
        abs_total = np.where(lo >= 0, mean * n, abs_total)
    const = lo == hi
    mean = np.where(const, lo, mean)
    m2 = np.where(const, 0.0, m2)
    abs_total = np.where(const, np.abs(lo) * n, abs_total)
    std = np.sqrt(np.maximum(m2, 0.0) / n)
    sq = m2 + n * mean * mean
    l2 = np.where(sq >= 0, np.sqrt(sq), np.nan)
    abs_mean = abs_total / n

    hist_edges: list | None = None
    overflow = np.zeros(m, dtype=bool)
    if bins:
        delta = hi - lo
        overflow = ~np.isfinite(delta)
        # every segment's np.linspace(lo, hi, bins + 1), computed as np.linspace does
        step = delta / bins
        j = np.arange(bins + 1, dtype=np.float64)
        edges = j * step[:, None]
        tiny = (step == 0) & ~const
        if tiny.any():  # np.linspace's way for subnormal steps
            edges[tiny] = (j / bins) * delta[tiny, None]
        edges += lo[:, None]
        edges[:, -1] = hi
        # _small_histogram's index formula and one-bin correction, for all segments at once
        idx = ((y - lo[seg]) * (bins / delta)[seg]).astype(np.intp)
        np.clip(idx, 0, bins - 1, out=idx)
        flat = edges.ravel()
        base = seg * (bins + 1)
        idx -= y < flat[base + idx]
        idx += (y >= flat[base + idx + 1]) & (idx != bins - 1)
        idx += seg * bins
        counts = np.bincount(idx, minlength=m * bins).reshape(m, bins).tolist()
        hist_edges = edges.tolist()
        del idx, base, flat

    lo_l, hi_l, mean_l, std_l = lo.tolist(), hi.tolist(), mean.tolist(), std.tolist()
    abs_l, l2_l, zeros_l, nf_l = abs_mean.tolist(), l2.tolist(), zeros.tolist(), nf.tolist()
    const_l, overflow_l = const.tolist(), overflow.tolist()
    const_hists: dict[float, tuple] = {}
    new_stats, fields = object.__new__, _STATS_FIELDS
    for s, i in enumerate(which.tolist()):
        if overflow_l[s]:
            continue  # compute_stats bins it with a _Binner
        hist = None
        if hist_edges is not None:
            if const_l[s]:
                v = lo_l[s]
                if v not in const_hists:
                    c, e = np.histogram(np.array([v]), bins=bins, range=(v, v))
                    const_hists[v] = (tuple(e.tolist()), c.tolist())
                e_t, c_l = const_hists[v]
                hist = Histogram(e_t, tuple(x * nf_l[s] for x in c_l))
            else:
                hist = Histogram(tuple(hist_edges[s]), tuple(counts[s]))
        plan = plans[i]
        # a frozen dataclass's __init__ costs ~6 us (one object.__setattr__ per field),
        # more than everything else per tensor here: fill the instance dict directly
        result = new_stats(TensorStats)
        result.__dict__.update(zip(fields, (
            plan.dtype, plan.shape, plan.numel, lo_l[s], hi_l[s], mean_l[s], std_l[s],
            abs_l[s], l2_l[s], zeros_l[s], n_nan_l[i], n_inf_l[i], nf_l[s], hist, plan.note)))
        out[i] = result
    return out


_STATS_FIELDS = tuple(f.name for f in dataclasses.fields(TensorStats))
assert _STATS_FIELDS == ("dtype", "shape", "numel", "min", "max", "mean", "std", "abs_mean",
                         "l2", "zeros", "nan", "inf", "finite", "histogram", "note")


# ---------------------------------------------------------------------------------------
# Private API: building the result
# ---------------------------------------------------------------------------------------
def _finish(plan: _Plan, lo: float, hi: float, mean: float, m2: float, abs_sum: float,
            zeros: int, n_nan: int, n_inf: int, n_fin: int, hist: Histogram | None
            ) -> TensorStats:
    var = max(m2, 0.0) / n_fin
    std = math.sqrt(var)
    sq = m2 + n_fin * mean * mean
    l2 = math.sqrt(sq) if sq >= 0 else math.nan
    return _stats(plan, lo, hi, mean, std, abs_sum / n_fin, l2, zeros, n_nan, n_inf, n_fin, hist)


def _stats(plan: _Plan, lo, hi, mean, std, abs_mean, l2, zeros, n_nan, n_inf, n_fin, hist
           ) -> TensorStats:
    return TensorStats(dtype=plan.dtype, shape=plan.shape, numel=plan.numel, min=lo, max=hi,
                       mean=mean, std=std, abs_mean=abs_mean, l2=l2, zeros=zeros, nan=n_nan,
                       inf=n_inf, finite=n_fin, histogram=hist, note=plan.note)


def _empty_stats(plan: _Plan) -> TensorStats:
    return _stats(plan, None, None, None, None, None, None, 0, 0, 0, 0, None)
