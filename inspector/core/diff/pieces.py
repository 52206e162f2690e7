"""One tensor pair's comparison as pieces of work with exact merges, in numpy (no torch).

A pair of equally shaped views is cut into numbered chunks at the same logical places on
both sides (:class:`ChunkGrid`, torch-free and independent of the strides); a
:class:`~inspector.core.stats.pieces.Piece` is a range of chunks. Two phases:

- :func:`equal_piece`: are the piece's bit patterns equal (stops at the first differing
  chunk)? All pieces equal: the pair is identical, no metrics to compute.
- :func:`diff_piece`: the piece's counts (integers), max |Δ| and **one float64 sum per
  chunk** of |Δ|, Δ², a², b², a·b; :func:`merge_diff` concatenates them in chunk order and
  :func:`finish_diff` adds them left to right - so the result is the same whatever the
  pieces, their order and the number of workers.

Values: floats, ints, bool and complex as numpy reads them; bfloat16 and the float8s are
widened through a table of their bit patterns. :func:`pair_plan` returns None for what numpy
cannot read (sub-byte, quantized, assembled DCP chunks): the caller uses torch then.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from inspector.core.checkpoint import Checkpoint, TensorInfo
from inspector.core.diff.metrics import CHUNK_ELEMENTS, DEFAULT_ATOL, DEFAULT_RTOL
from inspector.core.diff.results import DiffCancelled, TensorComparison
from inspector.core.dtypes import canonical, dtype_info
from inspector.core.stats import fused
from inspector.core.stats.pieces import Piece

# chunks per piece: 8 chunks of 128 Ki elements, 4 MiB of float32 per side
PIECE_CHUNKS = 8

_WIDENED = ("bfloat16", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
            "float8_e8m0fnu")


class ChunkGrid:
    """Chunks of at most ``n`` elements of a row-major shape, numbered; ``expr(i)`` indexes
    chunk ``i`` (``x[expr].reshape(-1)``), the same places for any strides.

    Whole rows go together when a row fits; longer rows are cut recursively."""

    def __init__(self, shape: tuple[int, ...], n: int):
        self.shape = tuple(shape)
        self.n = n = max(1, int(n))
        numel = math.prod(self.shape)
        self.sub: ChunkGrid | None = None
        if numel == 0:
            self.mode, self.count = "empty", 0
        elif numel <= n:
            self.mode, self.count = "whole", 1
        elif len(self.shape) == 1:
            self.mode, self.count = "flat", -(-numel // n)
        else:
            rows = self.shape[0]
            row = numel // rows
            if row <= n:
                self.step = n // row
                self.mode, self.count = "rows", -(-rows // self.step)
            else:
                self.sub = ChunkGrid(self.shape[1:], n)
                self.mode, self.count = "each", rows * self.sub.count

    def __len__(self) -> int:
        return self.count

    def expr(self, i: int) -> tuple:
        if self.mode == "whole":
            return (Ellipsis,)
        if self.mode == "flat":
            return (slice(i * self.n, (i + 1) * self.n),)
        if self.mode == "rows":
            return (slice(i * self.step, (i + 1) * self.step),)
        r, j = divmod(i, self.sub.count)
        return (r, *self.sub.expr(j))


@dataclass(frozen=True)
class PairPlan:
    """How numpy reads both sides (picklable; views are made from the checkpoints)."""

    shape: tuple[int, ...]
    side_a: tuple  # (storage, dtype name, np dtype str, offset, stride)
    side_b: tuple
    same_dtype: bool
    work: str  # "float64" or "complex128"
    chunk_elements: int
    count: int  # chunks


def _side(info: TensorInfo) -> tuple | None:
    dtype = canonical(info.dtype)
    try:
        facts = dtype_info(dtype)
    except KeyError:
        return None
    if facts.kind in ("quantized", "bits") or info.note:
        return None
    if dtype in _WIDENED:
        npd = "u1" if facts.itemsize == 1 else "u2"
    elif facts.numpy is None:
        return None
    else:
        npd = facts.numpy[1:] if facts.numpy[0] in "<>" else facts.numpy
    order = ">" if info.storage.byteorder == "big" else "<"
    if facts.itemsize > 1:
        npd = order + npd
    return (info.storage, dtype, npd, info.storage_offset, tuple(info.stride))


def pair_plan(info_a: TensorInfo, info_b: TensorInfo,
              chunk_elements: int = CHUNK_ELEMENTS) -> PairPlan | None:
    """The numpy plan of a pair of equally shaped strided views; None when numpy cannot
    read one of them (the caller compares through torch)."""
    if tuple(info_a.shape) != tuple(info_b.shape):
        raise ValueError(f"shapes differ: {tuple(info_a.shape)} vs {tuple(info_b.shape)}")
    for info in (info_a, info_b):
        if info.layout != "strided" or info.storage is None:
            return None
        if any(s < 0 for s in info.stride):
            return None
    sa, sb = _side(info_a), _side(info_b)
    if sa is None or sb is None:
        return None
    cplx = dtype_info(sa[1]).kind == "complex" or dtype_info(sb[1]).kind == "complex"
    shape = tuple(info_a.shape)
    return PairPlan(shape, sa, sb, sa[1] == sb[1], "complex128" if cplx else "float64",
                    chunk_elements, len(ChunkGrid(shape, chunk_elements)))


def diff_pieces(plan: PairPlan, piece_chunks: int | None = None) -> list[Piece]:
    per = PIECE_CHUNKS if piece_chunks is None else max(1, piece_chunks)
    if plan.count == 0:
        return [Piece(0, 0, 0)]
    return [Piece(i, s, min(plan.count, s + per)) for i, s in
            enumerate(range(0, plan.count, per))]


# ---- Reading
class _Views:
    """Both sides as numpy arrays over the mapped bytes, and the chunk grid."""

    def __init__(self, ck_a: Checkpoint, ck_b: Checkpoint, plan: PairPlan):
        self.plan = plan
        self.grid = ChunkGrid(plan.shape, plan.chunk_elements)
        self.a = _array(ck_a, plan.shape, plan.side_a)
        self.b = _array(ck_b, plan.shape, plan.side_b)

    def chunks(self, piece: Piece, cancel: Callable[[], bool]):
        for i in range(piece.start, piece.stop):
            if cancel():
                raise DiffCancelled("comparison cancelled")
            e = self.grid.expr(i)
            yield self.a[e].reshape(-1), self.b[e].reshape(-1)


def _array(ck: Checkpoint, shape: tuple, side: tuple) -> np.ndarray:
    storage, _dtype, npd, offset, stride = side
    dt = np.dtype(npd)
    mv = ck.storage_view(storage)
    if not math.prod(shape):
        return np.zeros(shape, dtype=dt)
    last = offset + sum((n - 1) * s for n, s in zip(shape, stride))
    if offset < 0 or (last + 1) * dt.itemsize > len(mv):
        from inspector.core.checkpoint import CheckpointError

        raise CheckpointError(ck.path, "a tensor's view exceeds its storage")
    return np.ndarray(shape, dtype=dt, buffer=mv, offset=offset * dt.itemsize,
                      strides=tuple(s * dt.itemsize for s in stride))


def _bits(x: np.ndarray) -> np.ndarray:
    """The bit patterns, as unsigned integers of the same width (complex: pairs)."""
    size = x.dtype.itemsize
    if size == 16:
        return x.view(np.uint64)
    return x.view(np.dtype(f"u{size}").newbyteorder(x.dtype.byteorder if size > 1 else "|"))


def _never() -> bool:
    return False


def equal_piece(ck_a: Checkpoint, ck_b: Checkpoint, plan: PairPlan, piece: Piece, *,
                cancel: Callable[[], bool] = _never, views: _Views | None = None) -> bool:
    """Whether the piece's bit patterns are equal on both sides (same dtype only)."""
    if not plan.same_dtype:
        return False
    views = views or _Views(ck_a, ck_b, plan)
    for ca, cb in views.chunks(piece, cancel):
        if not np.array_equal(_bits(ca), _bits(cb)):
            return False
    return True


# ---- Metrics
@dataclass(frozen=True)
class DiffPart:
    """Metrics of one piece (or merged pieces): counts, max |Δ|, per-chunk float64 sums
    (columns: |Δ|, Δ² , a², b², a·b; one row per chunk, ``chunk_ids`` in the same order)."""

    index: int
    chunk_ids: np.ndarray
    sums: np.ndarray
    max_abs: float
    n_valid: int
    nan_a: int
    nan_b: int
    num_diff: int
    close: bool


class _Buffers(threading.local):
    size = 0
    a = b = d = None


_BUF = _Buffers()


def _widen(x: np.ndarray, dtype: str, out: np.ndarray) -> np.ndarray:
    """``x`` as float64 (or complex128) values into ``out`` (a prefix of it is returned)."""
    o = out[:x.size]
    if dtype in _WIDENED:
        from inspector.core.stats.plan import pattern_table

        np.take(pattern_table(dtype).ravel(), x.astype(np.intp, copy=False), out=o)
    elif x.dtype.kind == "c" and o.dtype.kind == "c":
        np.copyto(o, x)
    elif x.dtype.kind == "c":
        raise ValueError("complex into a real buffer")
    else:
        np.copyto(o, x, casting="unsafe")
    return o


def diff_piece(ck_a: Checkpoint, ck_b: Checkpoint, plan: PairPlan, piece: Piece, *,
               tol: tuple[float, float] | None = None, cancel: Callable[[], bool] = _never,
               views: _Views | None = None) -> DiffPart:
    """The metrics of the piece's chunks."""
    views = views or _Views(ck_a, ck_b, plan)
    cplx = plan.work == "complex128"
    n = plan.chunk_elements
    buf = _BUF
    if buf.size < n or (buf.a.dtype.kind == "c") != cplx:
        work = np.complex128 if cplx else np.float64
        buf.a, buf.b = np.empty(n, dtype=work), np.empty(n, dtype=work)
        buf.d = np.empty(n, dtype=np.float64)
        buf.size = n
    count = piece.stop - piece.start
    sums = np.zeros((count, 5))
    acc = {"max_abs": 0.0, "n_valid": 0, "nan_a": 0, "nan_b": 0, "num_diff": 0, "close": True}
    dta, dtb = plan.side_a[1], plan.side_b[1]
    fast = _fast_path(plan)
    atol, rtol = tol if tol is not None else (0.0, 0.0)
    with np.errstate(all="ignore"):
        for j, (ca, cb) in enumerate(views.chunks(piece, cancel)):
            m = ca.size
            fn = fused.diff_for(ca.dtype, cb.dtype) if fast else None
            if fn is not None:
                out = fn(ca.reshape(-1), cb.reshape(-1), atol, rtol, fused.EINSUM_CHUNK)
                if math.isfinite(out[3]) and math.isfinite(out[4]):
                    if not _fold(out, m, plan.same_dtype, tol, sums[j], acc):
                        acc["num_diff"] += _bits_differ(ca, cb)
                    continue
                # a NaN, an Inf or an overflowing square: the numpy path sorts it out
            a = _widen(ca, dta, buf.a)
            b = _widen(cb, dtb, buf.b)
            if not _chunk(a, b, buf.d[:m], cplx, plan.same_dtype, tol, sums[j], acc):
                acc["num_diff"] += _bits_differ(ca, cb)
    return DiffPart(piece.index, np.arange(piece.start, piece.stop, dtype=np.int64), sums,
                    acc["max_abs"], acc["n_valid"], acc["nan_a"], acc["nan_b"], acc["num_diff"],
                    acc["close"])


def _fast_path(plan: PairPlan) -> bool:
    """Whether chunks of this pair may go through the compiled loop (real values of at
    least ``fused.FUSED_MIN_ELEMS`` elements: small diffs never import numba)."""
    return plan.work == "float64" and math.prod(plan.shape) >= fused.FUSED_MIN_ELEMS


def _fold(out: tuple, m: int, same_dtype: bool, tol, row, acc) -> bool:
    """``_chunk``'s bookkeeping from the compiled loop's results (same values, bit for bit);
    False when the caller must still count the elements that differ bit for bit."""
    nz, s_abs, s_dd, a2, b2, ab, top, close = out
    counted = not same_dtype
    if not same_dtype:
        acc["num_diff"] += nz
    elif nz == m:
        acc["num_diff"] += m
        counted = True
    row[:] = (s_abs, s_dd, a2, b2, ab)
    acc["max_abs"] = max(acc["max_abs"], top)
    acc["n_valid"] += m
    if tol is not None and acc["close"]:
        acc["close"] = bool(close)
    return counted


def _dot(x: np.ndarray, y: np.ndarray, cplx: bool) -> float:
    """Re(Σ conj(x)·y) in float64, without BLAS (its threads spin on a busy machine)."""
    if cplx:
        return float(np.einsum("i,i->", x.view(np.float64), y.view(np.float64)))
    return float(np.einsum("i,i->", x, y))


def _bits_differ(ca: np.ndarray, cb: np.ndarray) -> int:
    """How many elements differ bit for bit (same dtype)."""
    ne = _bits(ca) != _bits(cb)
    if ca.dtype.itemsize == 16:  # complex128: two 64-bit halves per element
        ne = ne.reshape(-1, 2).any(-1)
    return int(np.count_nonzero(ne))


def _chunk(a, b, d, cplx, same_dtype, tol, row, acc) -> bool:
    """Fold one chunk's metrics into ``row`` and ``acc``; False when the caller must still
    count the elements that differ bit for bit (same dtype)."""
    counted = not same_dtype
    if cplx:
        np.abs(a - b, out=d)
    else:
        np.subtract(a, b, out=d)
    a2, b2 = _dot(a, a, cplx), _dot(b, b, cplx)
    if not (math.isfinite(a2) and math.isfinite(b2)):
        _nonfinite(a, b, cplx, same_dtype, tol, row, acc)
        return counted
    if not same_dtype:
        acc["num_diff"] += int(np.count_nonzero(a != b)) if cplx else int(np.count_nonzero(d))
    elif not cplx and int(np.count_nonzero(d)) == d.size:
        # every value differs, so every bit pattern does (finite values: equal bits <=>
        # equal values, but for +0/-0): the usual epoch-to-epoch case, no bit pass needed
        acc["num_diff"] += d.size
        counted = True
    if not cplx:
        np.abs(d, out=d)
    row[:] = (float(np.einsum("i->", d)), float(np.einsum("i,i->", d, d)), a2, b2,
              _dot(a, b, cplx))
    acc["max_abs"] = max(acc["max_abs"], float(d.max()))
    acc["n_valid"] += a.size
    if tol is not None and acc["close"]:
        atol, rtol = tol
        acc["close"] = bool(np.all(d <= atol + rtol * np.abs(b)))
    return counted


def _nonfinite(a, b, cplx, same_dtype, tol, row, acc) -> None:
    na, nb = np.isnan(a), np.isnan(b)
    acc["nan_a"] += int(np.count_nonzero(na))
    acc["nan_b"] += int(np.count_nonzero(nb))
    either = na | nb
    if not same_dtype:
        acc["num_diff"] += int(np.count_nonzero((a != b) & ~(na & nb)))
    if tol is not None and either.any():
        acc["close"] = False  # torch.allclose: equal_nan=False
    keep = ~either
    a, b = a[keep], b[keep]
    if a.size == 0:
        return
    eq = a == b  # inf == inf counts as no change (inf - inf would be NaN)
    ad = np.abs(np.where(eq, 0, a - b))
    acc["max_abs"] = max(acc["max_abs"], float(ad.max()))
    acc["n_valid"] += a.size
    finite = np.isfinite(a) & np.isfinite(b)
    if tol is not None and acc["close"]:
        atol, rtol = tol
        acc["close"] = bool(np.all(eq | (finite & (ad <= atol + rtol * np.abs(b)))))
    s_abs = float(np.einsum("i->", ad))
    a, b, ad = a[finite], b[finite], ad[finite]
    row[:] = (s_abs, float(np.einsum("i,i->", ad, ad)), _dot(a, a, cplx), _dot(b, b, cplx),
              _dot(a, b, cplx))


def merge_diff(parts: Sequence[DiffPart]) -> DiffPart:
    """Several pieces' metrics as one (exact; any grouping and order)."""
    if not parts:
        raise ValueError("no results to merge")
    parts = sorted(parts, key=lambda p: p.index)
    ids = np.concatenate([p.chunk_ids for p in parts])
    order = np.argsort(ids, kind="stable")
    return DiffPart(parts[0].index, ids[order], np.concatenate([p.sums for p in parts])[order],
                    max(p.max_abs for p in parts), sum(p.n_valid for p in parts),
                    sum(p.nan_a for p in parts), sum(p.nan_b for p in parts),
                    sum(p.num_diff for p in parts), all(p.close for p in parts))


def tolerance(atol: float | None, rtol: float | None) -> tuple[float, float] | None:
    if atol is None and rtol is None:
        return None
    return (DEFAULT_ATOL if atol is None else float(atol),
            DEFAULT_RTOL if rtol is None else float(rtol))


def identical_comparison(plan: PairPlan, tol) -> TensorComparison:
    numel = math.prod(plan.shape)
    return TensorComparison(identical=True, max_abs_diff=0.0, mean_abs_diff=0.0, rel_l2=0.0,
                            cosine=1.0 if numel else None, num_diff=0,
                            close=True if tol else None)


def finish_diff(plan: PairPlan, part: DiffPart | None, tol=None) -> TensorComparison:
    """The pair's comparison; ``part`` None means every piece was bit-for-bit equal."""
    if part is None:
        return identical_comparison(plan, tol)
    close = part.close if tol else None
    if part.n_valid == 0:
        return TensorComparison(identical=False, num_diff=part.num_diff, nan_a=part.nan_a,
                                nan_b=part.nan_b, close=close)
    totals = [0.0] * 5
    for row in part.sums.tolist():  # left to right, chunk after chunk
        for k in range(5):
            totals[k] += row[k]
    s_abs, d2, a2, b2, ab = totals
    norm_a, norm_b, norm_d = (math.sqrt(x) if x >= 0 else math.nan for x in (a2, b2, d2))
    if norm_a > 0:
        rel = norm_d / norm_a
    else:  # ‖a‖ = 0: 0 when b is zero too, undefined otherwise
        rel = 0.0 if norm_d == 0 else None
    if norm_a > 0 and norm_b > 0:
        cos = ab / (norm_a * norm_b)
        cos = max(-1.0, min(1.0, cos)) if not math.isnan(cos) else None
    elif norm_a == 0 and norm_b == 0:
        cos = 1.0
    else:
        cos = None
    return TensorComparison(
        identical=False, max_abs_diff=part.max_abs, mean_abs_diff=s_abs / part.n_valid,
        rel_l2=None if rel is None or math.isnan(rel) else rel, cosine=cos,
        num_diff=part.num_diff, nan_a=part.nan_a, nan_b=part.nan_b, close=close)
