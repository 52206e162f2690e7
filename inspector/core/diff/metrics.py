"""Comparing two tensors of the same shape: bit for bit, then float64 metrics in one pass.

Tensors are streamed in 1-D chunks cut at the same places on both sides, so memory stays
bounded whatever the size. torch is imported only here, when tensor values are compared.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from inspector.core.diff.results import DiffCancelled, TensorComparison

if TYPE_CHECKING:
    import torch

# 128 Ki elements: 1 MiB of float64 per side, inside the 512 KiB - 4 MiB sweet spot
# measured in PERFORMANCE.md.
CHUNK_ELEMENTS = 1 << 17

# torch.allclose defaults, used for whichever of atol/rtol is not given.
DEFAULT_ATOL = 1e-8
DEFAULT_RTOL = 1e-5


def compare_tensors(a: torch.Tensor, b: torch.Tensor, *, atol: float | None = None,
                    rtol: float | None = None, cancel: Callable[[], bool] | None = None,
                    chunk_elements: int = CHUNK_ELEMENTS) -> TensorComparison:
    """Compare two tensors of the same shape, streaming in chunks of ``chunk_elements``.

    Equal dtypes: bit-for-bit equality decides ``identical`` (so NaN payloads count, and
    0.0 vs -0.0 is a change); the metrics pass runs only when they differ. Different
    dtypes: both sides are cast to float64 (complex128 when either is complex) chunk by
    chunk, and ``identical`` is False.
    """
    import torch

    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    same_dtype = a.dtype == b.dtype
    tol = None
    if atol is not None or rtol is not None:
        tol = (DEFAULT_ATOL if atol is None else float(atol),
               DEFAULT_RTOL if rtol is None else float(rtol))
    if same_dtype:
        bits_a, bits_b = _bits(a), _bits(b)
        if bits_a is None or bits_b is None:
            raise ValueError(f"cannot compare tensors of dtype {a.dtype}")
        if torch.equal(bits_a, bits_b):
            zero = castable(a.dtype)
            return TensorComparison(
                identical=True, max_abs_diff=0.0 if zero else None,
                mean_abs_diff=0.0 if zero else None, rel_l2=0.0 if zero else None,
                cosine=1.0 if zero and a.numel() else None, num_diff=0,
                close=True if tol else None)
    if not (castable(a.dtype) and castable(b.dtype)):
        # no numeric view of these values: count differing bit patterns only
        num = None
        if same_dtype:
            num = 0
            for ca, cb in zip(_chunks(a, chunk_elements), _chunks(b, chunk_elements)):
                check_cancel(cancel)
                num += _count_bits_diff(ca, cb)
        names = sorted({str(a.dtype).removeprefix("torch."), str(b.dtype).removeprefix("torch.")})
        return TensorComparison(identical=False, num_diff=num,
                                note=f"no numeric metrics for {' / '.join(names)}")
    work = torch.complex128 if a.is_complex() or b.is_complex() else torch.float64
    acc = _Accumulator(tol, same_dtype, work, min(max(1, int(chunk_elements)), a.numel()))
    for ca, cb in zip(_chunks(a, chunk_elements), _chunks(b, chunk_elements)):
        check_cancel(cancel)
        acc.add(ca, cb)
    return acc.result()


def check_cancel(cancel: Callable[[], bool] | None) -> None:
    if cancel is not None and cancel():
        raise DiffCancelled("comparison cancelled")


_BITS_DTYPES: dict[int, str] = {1: "uint8", 2: "int16", 4: "int32", 8: "int64"}


def _bits(t: torch.Tensor) -> torch.Tensor | None:
    """An integer view of ``t``'s bit patterns (a trailing pair for 16-byte complex)."""
    import torch

    size = t.element_size()
    if size == 16 and t.is_complex():
        return torch.view_as_real(t).view(torch.int64)
    name = _BITS_DTYPES.get(size)
    if name is None:
        return None
    target = getattr(torch, name)
    return t if t.dtype == target else t.view(target)


def _count_bits_diff(a: torch.Tensor, b: torch.Tensor) -> int:
    ne = _bits(a) != _bits(b)
    if ne.dim() > a.dim():
        ne = ne.any(-1)
    return int(ne.sum())


_CASTABLE: dict[Any, bool] = {}


def castable(dtype: torch.dtype) -> bool:
    """Whether torch can turn this dtype into float64/complex128 values."""
    import torch

    ok = _CASTABLE.get(dtype)
    if ok is None:
        try:
            x = torch.zeros(1, dtype=dtype)
            x.to(torch.complex128 if x.is_complex() else torch.float64)
            ok = True
        except (RuntimeError, NotImplementedError, TypeError):
            ok = False
        _CASTABLE[dtype] = ok
    return ok


def _chunks(t: torch.Tensor, n: int) -> Iterator[torch.Tensor]:
    """1-D pieces of ``t`` in logical (row-major) order, each at most ``n`` elements.

    The boundaries depend only on the shape, so two tensors of the same shape are cut at
    the same places whatever their strides. Contiguous pieces are views; pieces of a
    strided tensor are copies of at most ``n`` elements.
    """
    n = max(1, int(n))
    numel = t.numel()
    if numel == 0:
        return
    if numel <= n:
        yield t.reshape(-1)
        return
    if t.dim() == 1:
        for i in range(0, numel, n):
            yield t[i:i + n]
        return
    rows = t.shape[0]
    row = numel // rows
    if row <= n:
        step = n // row
        for r in range(0, rows, step):
            yield t[r:r + step].reshape(-1)
    else:
        for r in range(rows):
            yield from _chunks(t[r], n)


class _Accumulator:
    """Float64 sums over chunks; Python floats carry the totals between chunks.

    Work buffers are allocated once per tensor and reused: fresh multi-MB temporaries per
    chunk cost page faults that halve the throughput.
    """

    def __init__(self, tol: tuple[float, float] | None, same_dtype: bool, work: torch.dtype,
                 size: int):
        import torch

        self.tol = tol
        self.same_dtype = same_dtype
        self.work = work
        self.cplx = work.is_complex
        size = max(1, size)
        self.buf_a = torch.empty(size, dtype=work)
        self.buf_b = torch.empty(size, dtype=work)
        self.buf_d = torch.empty(size, dtype=torch.float64)
        self.buf_bits: torch.Tensor | None = None
        self.max_abs = 0.0
        self.sum_abs = 0.0
        self.sum_d2 = 0.0
        self.sum_a2 = 0.0
        self.sum_b2 = 0.0
        self.dot = 0.0
        self.n_valid = 0
        self.nan_a = 0
        self.nan_b = 0
        self.num_diff = 0
        self.close = True

    def add(self, ca: torch.Tensor, cb: torch.Tensor) -> None:
        """Fold in one pair of 1-D chunks (original dtypes, same length)."""
        import torch

        m = ca.numel()
        a, b, d = self.buf_a[:m], self.buf_b[:m], self.buf_d[:m]
        a.copy_(ca)
        b.copy_(cb)
        if self.same_dtype:
            self.num_diff += self._count_bits_diff(ca, cb)
        value_diff = 0  # differing values, for different dtypes (fast path only)
        if self.cplx:
            torch.abs(a - b, out=d)
            sums = [_dot(a, a, True), _dot(b, b, True), _dot(a, b, True),
                    float(d.max()), float(d.sum()), float(torch.dot(d, d))]
        else:
            torch.sub(a, b, out=d)
            if not self.same_dtype:
                value_diff = int(torch.count_nonzero(d))
            d.abs_()
            sums = torch.stack([torch.dot(a, a), torch.dot(b, b), torch.dot(a, b), d.max(),
                                d.sum(), torch.dot(d, d)]).tolist()
        a2, b2, ab, dmax, dsum, d2 = sums
        if not (math.isfinite(a2) and math.isfinite(b2)):
            self._add_nonfinite(a, b)
            return
        # fast path: every value in both chunks is finite
        self.max_abs = max(self.max_abs, dmax)
        self.sum_abs += dsum
        self.sum_d2 += d2
        self.sum_a2 += a2
        self.sum_b2 += b2
        self.dot += ab
        self.n_valid += m
        if not self.same_dtype:
            self.num_diff += int(torch.count_nonzero(a != b)) if self.cplx else value_diff
        if self.tol is not None and self.close:
            atol, rtol = self.tol
            self.close = bool((d <= atol + rtol * b.abs()).all())

    def _count_bits_diff(self, ca: torch.Tensor, cb: torch.Tensor) -> int:
        import torch

        ba, bb = _bits(ca), _bits(cb)
        if ba.dim() > 1:  # 16-byte complex: two int64 halves per element
            return int((ba != bb).any(-1).sum())
        m = ba.numel()
        if self.buf_bits is None or self.buf_bits.dtype != ba.dtype:
            self.buf_bits = torch.empty(self.buf_a.numel(), dtype=ba.dtype)
        x = self.buf_bits[:m]
        torch.bitwise_xor(ba, bb, out=x)
        return int(torch.count_nonzero(x))

    def _add_nonfinite(self, a: torch.Tensor, b: torch.Tensor) -> None:
        import torch

        cplx = self.cplx
        na, nb = torch.isnan(a), torch.isnan(b)
        self.nan_a += int(na.sum())
        self.nan_b += int(nb.sum())
        either = na | nb
        if not self.same_dtype:
            self.num_diff += int(((a != b) & ~(na & nb)).sum())
        if self.tol is not None and bool(either.any()):
            self.close = False  # torch.allclose: equal_nan=False
        keep = ~either
        a, b = a[keep], b[keep]
        if a.numel() == 0:
            return
        eq = a == b  # inf == inf counts as no change (inf - inf would be NaN)
        d = torch.where(eq, torch.zeros((), dtype=a.dtype), a - b)
        ad = d.abs()
        self.max_abs = max(self.max_abs, float(ad.max()))
        self.sum_abs += float(ad.sum())
        self.n_valid += a.numel()
        finite = torch.isfinite(a) & torch.isfinite(b)
        if self.tol is not None and self.close:
            atol, rtol = self.tol
            ok = eq | (finite & (ad <= atol + rtol * b.abs()))
            self.close = bool(ok.all())
        # norms and the dot product only over positions where both values are finite
        a, b, ad = a[finite], b[finite], ad[finite]
        self.sum_d2 += float(torch.dot(ad, ad))
        self.sum_a2 += _dot(a, a, cplx)
        self.sum_b2 += _dot(b, b, cplx)
        self.dot += _dot(a, b, cplx)

    def result(self) -> TensorComparison:
        if self.n_valid == 0:
            return TensorComparison(identical=False, num_diff=self.num_diff, nan_a=self.nan_a,
                                    nan_b=self.nan_b, close=self.close if self.tol else None)
        norm_a, norm_b, norm_d = (math.sqrt(x) if x >= 0 else math.nan
                                  for x in (self.sum_a2, self.sum_b2, self.sum_d2))
        if norm_a > 0:
            rel = norm_d / norm_a
        else:  # ‖a‖ = 0: 0 when b is zero too, undefined otherwise
            rel = 0.0 if norm_d == 0 else None
        if norm_a > 0 and norm_b > 0:
            cos = self.dot / (norm_a * norm_b)
            cos = max(-1.0, min(1.0, cos)) if not math.isnan(cos) else None
        elif norm_a == 0 and norm_b == 0:
            cos = 1.0  # both all zeros: the same vector
        else:
            cos = None
        return TensorComparison(
            identical=False, max_abs_diff=self.max_abs, mean_abs_diff=self.sum_abs / self.n_valid,
            rel_l2=None if rel is None or math.isnan(rel) else rel, cosine=cos,
            num_diff=self.num_diff, nan_a=self.nan_a, nan_b=self.nan_b,
            close=self.close if self.tol else None)


def _dot(a: torch.Tensor, b: torch.Tensor, cplx: bool) -> float:
    import torch

    if cplx:
        return float(torch.vdot(a, b).real)
    return float(torch.dot(a, b))
