"""Exact histogram binning of wide dtypes: one monotonic float64 formula and its thresholds."""

from __future__ import annotations

import math

import numpy as np


class Binner:
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
        """The exact thresholds: edge i is the smallest double with index >= i.

        Bisection over the doubles in order, each threshold first bracketed around its
        evenly spaced estimate (a bracket is used only where the index confirms it holds
        the threshold), so ~25 steps instead of ~64: this runs once per tensor."""
        targets = np.arange(1, self.bins, dtype=np.intp)
        if not targets.size:
            return (self.lo, self.hi)
        lo = np.full(targets.size, _ordered(self.lo), dtype=np.int64)
        hi = np.full(targets.size, _ordered(self.hi), dtype=np.int64)
        fbuf = np.empty(targets.size)
        idx = np.empty(targets.size, dtype=np.intp)
        with np.errstate(all="ignore"):
            width = self.hi - self.lo
            est = self.lo + width * (targets / self.bins)
            below = np.maximum(est - width * 2.0 ** -30, self.lo)
            above = np.minimum(est + width * 2.0 ** -30, self.hi)
        ok = np.isfinite(below) & np.isfinite(above)
        below = np.where(ok, below, self.lo)
        above = np.where(ok, above, self.hi)
        self.index(below, fbuf, idx)
        narrow = ok & (idx < targets)
        lo = np.where(narrow, _ordered_array(below) + 1, lo)
        self.index(above, fbuf, idx)
        narrow = ok & (idx >= targets)
        hi = np.where(narrow, _ordered_array(above), hi)
        while np.any(lo < hi):
            mid = (lo >> 1) + (hi >> 1) + (lo & hi & 1)
            self.index(_from_ordered(mid), fbuf, idx)
            ge = idx >= targets
            hi = np.where(ge, mid, hi)
            lo = np.where(ge, lo, mid + 1)
        return (self.lo, *_from_ordered(lo).tolist(), self.hi)


def _ordered(x: float) -> int:
    """Map a double to an int64 whose order is the doubles' order (-0.0 == +0.0)."""
    bits = int(np.array(x, dtype=np.float64).view(np.int64))
    return bits if bits >= 0 else -(bits & 0x7FFF_FFFF_FFFF_FFFF)


def _ordered_array(x: np.ndarray) -> np.ndarray:
    """:func:`_ordered` of every double in ``x``."""
    bits = np.asarray(x, dtype=np.float64).view(np.int64)
    return np.where(bits >= 0, bits, -(bits & np.int64(0x7FFF_FFFF_FFFF_FFFF)))


def _from_ordered(o: np.ndarray) -> np.ndarray:
    o = np.asarray(o, dtype=np.int64)
    bits = np.where(o >= 0, o, (-o) | np.int64(-0x8000_0000_0000_0000))
    return bits.view(np.float64)
