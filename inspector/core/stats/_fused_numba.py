"""The compiled pass-2 loop (numba). Imported only through :mod:`inspector.core.stats.fused`,
which checks it against the numpy path before using it.

One loop over a block produces what ``_Pass2.add`` computes with ~12 numpy passes: the
count of zeros, the sums of ``|x|``, of ``d = x - shift`` and of ``d * d``, and the bin
counts. The arithmetic is the numpy path's, operation for operation (numba does not
contract or reorder floating-point operations unless told to), and each sum is added in
the order ``np.einsum("i->", ...)`` adds a contiguous float64 array on this machine: two
lanes, each taking ``(e0 + e2) + (e4 + e6)`` of eight elements, lanes added at the end,
in chunks of 8192 elements (einsum's iterator buffer) added one after another.
:mod:`fused` verifies that order against ``np.einsum`` itself before trusting the kernel.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(inline="always")
def _one(v, i, shift, offset, norm, top, counts, row):
    x = np.float64(v[i])
    a = abs(x)
    d = x - shift
    # the bin: numpy's (d + offset) * norm truncated; the clamp never changes a value
    # (Binner keeps every index in range) but keeps a wrong one inside the array
    j = np.int64((d + offset) * norm)
    counts[row, min(max(j, 0), top)] += 1
    return a, d, d * d, a == 0.0


@njit(cache=True, nogil=True)
def pass2_block(v, shift, offset, norm, top, counts, chunk):
    """Zeros, sum |x|, sum d, sum d*d of the 1-D array ``v``; bins added to ``counts``
    (4 rows, summed by the caller: four histograms avoid store-to-load stalls).

    einsum sums a long array ``chunk`` elements at a time (its iterator's buffer), adding
    each chunk's two-lane sum to the total; so does this loop."""
    n = v.size
    ta = td = tq = 0.0
    zeros = 0
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        a0 = a1 = d0 = d1 = q0 = q1 = 0.0
        m = e - (e - s) % 8
        for i in range(s, m, 8):
            aa0, dd0, qq0, z0 = _one(v, i, shift, offset, norm, top, counts, 0)
            aa1, dd1, qq1, z1 = _one(v, i + 1, shift, offset, norm, top, counts, 1)
            aa2, dd2, qq2, z2 = _one(v, i + 2, shift, offset, norm, top, counts, 2)
            aa3, dd3, qq3, z3 = _one(v, i + 3, shift, offset, norm, top, counts, 3)
            aa4, dd4, qq4, z4 = _one(v, i + 4, shift, offset, norm, top, counts, 0)
            aa5, dd5, qq5, z5 = _one(v, i + 5, shift, offset, norm, top, counts, 1)
            aa6, dd6, qq6, z6 = _one(v, i + 6, shift, offset, norm, top, counts, 2)
            aa7, dd7, qq7, z7 = _one(v, i + 7, shift, offset, norm, top, counts, 3)
            a0 = ((aa0 + aa2) + (aa4 + aa6)) + a0
            a1 = ((aa1 + aa3) + (aa5 + aa7)) + a1
            d0 = ((dd0 + dd2) + (dd4 + dd6)) + d0
            d1 = ((dd1 + dd3) + (dd5 + dd7)) + d1
            q0 = ((qq0 + qq2) + (qq4 + qq6)) + q0
            q1 = ((qq1 + qq3) + (qq5 + qq7)) + q1
            zeros += z0 + z1 + z2 + z3 + z4 + z5 + z6 + z7
        # the tail two by two, the second lane padded with +0.0 (as einsum loads it)
        for i in range(m, e, 2):
            aa0, dd0, qq0, z0 = _one(v, i, shift, offset, norm, top, counts, 0)
            a0 = aa0 + a0
            d0 = dd0 + d0
            q0 = qq0 + q0
            zeros += z0
            if i + 1 < e:
                aa1, dd1, qq1, z1 = _one(v, i + 1, shift, offset, norm, top, counts, 1)
                zeros += z1
            else:
                aa1 = dd1 = qq1 = 0.0
            a1 = aa1 + a1
            d1 = dd1 + d1
            q1 = qq1 + q1
        ta = ta + (a0 + a1)
        td = td + (d0 + d1)
        tq = tq + (q0 + q1)
    return zeros, ta, td, tq


@njit(cache=True, nogil=True)
def count_patterns(x, counts):
    """Add the bit patterns of the 1-D uint8/uint16 array ``x`` to ``counts`` (256 or 65536
    entries, so every value is a valid index): integer counts, ~4x ``np.bincount``, which
    first copies its input to intp and scans it for the maximum."""
    for i in range(x.size):
        counts[x[i]] += 1


# ---- diff of two chunks (inspector.core.diff.pieces): the finite path of ``_chunk``
@njit(inline="always")
def _pair(x, y, i, atol, rtol):
    a = np.float64(x[i])
    b = np.float64(y[i])
    d = abs(a - b)
    return d, d * d, a * a, b * b, a * b, d != 0.0, d <= atol + rtol * abs(b)


@njit(cache=True, nogil=True)
def diff_chunk(x, y, atol, rtol, chunk):
    """Of the 1-D arrays ``x`` and ``y`` (same size): the count of elements whose difference
    is not zero, Σ|Δ| (one-operand einsum order), Σ|Δ|², Σx², Σy², Σxy (two-operand einsum
    order: per lane ``p0 + (p2 + (p4 + (p6 + acc)))`` of eight elements), max |Δ| and whether
    every |Δ| <= atol + rtol·|y|. Meaningful only when Σx² and Σy² are finite (the caller
    checks, as the numpy path does)."""
    n = x.size
    nz = 0
    top = 0.0
    close = True
    t_abs = t_dd = t_aa = t_bb = t_ab = 0.0
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        u0 = u1 = 0.0
        dd0 = dd1 = aa0 = aa1 = bb0 = bb1 = ab0 = ab1 = 0.0
        m = e - (e - s) % 8
        for i in range(s, m, 8):
            d0, q0, xa0, yb0, xy0, z0, c0 = _pair(x, y, i, atol, rtol)
            d1, q1, xa1, yb1, xy1, z1, c1 = _pair(x, y, i + 1, atol, rtol)
            d2, q2, xa2, yb2, xy2, z2, c2 = _pair(x, y, i + 2, atol, rtol)
            d3, q3, xa3, yb3, xy3, z3, c3 = _pair(x, y, i + 3, atol, rtol)
            d4, q4, xa4, yb4, xy4, z4, c4 = _pair(x, y, i + 4, atol, rtol)
            d5, q5, xa5, yb5, xy5, z5, c5 = _pair(x, y, i + 5, atol, rtol)
            d6, q6, xa6, yb6, xy6, z6, c6 = _pair(x, y, i + 6, atol, rtol)
            d7, q7, xa7, yb7, xy7, z7, c7 = _pair(x, y, i + 7, atol, rtol)
            u0 = ((d0 + d2) + (d4 + d6)) + u0
            u1 = ((d1 + d3) + (d5 + d7)) + u1
            dd0 = q0 + (q2 + (q4 + (q6 + dd0)))
            dd1 = q1 + (q3 + (q5 + (q7 + dd1)))
            aa0 = xa0 + (xa2 + (xa4 + (xa6 + aa0)))
            aa1 = xa1 + (xa3 + (xa5 + (xa7 + aa1)))
            bb0 = yb0 + (yb2 + (yb4 + (yb6 + bb0)))
            bb1 = yb1 + (yb3 + (yb5 + (yb7 + bb1)))
            ab0 = xy0 + (xy2 + (xy4 + (xy6 + ab0)))
            ab1 = xy1 + (xy3 + (xy5 + (xy7 + ab1)))
            nz += z0 + z1 + z2 + z3 + z4 + z5 + z6 + z7
            top = max(top, max(max(max(d0, d1), max(d2, d3)), max(max(d4, d5), max(d6, d7))))
            close = close and c0 and c1 and c2 and c3 and c4 and c5 and c6 and c7
        for i in range(m, e, 2):  # the second lane padded with +0.0, as einsum loads it
            d0, q0, xa0, yb0, xy0, z0, c0 = _pair(x, y, i, atol, rtol)
            if i + 1 < e:
                d1, q1, xa1, yb1, xy1, z1, c1 = _pair(x, y, i + 1, atol, rtol)
            else:
                d1 = q1 = xa1 = yb1 = xy1 = 0.0
                z1 = False
                c1 = True
            u0 = d0 + u0
            u1 = d1 + u1
            dd0 = q0 + dd0
            dd1 = q1 + dd1
            aa0 = xa0 + aa0
            aa1 = xa1 + aa1
            bb0 = yb0 + bb0
            bb1 = yb1 + bb1
            ab0 = xy0 + ab0
            ab1 = xy1 + ab1
            nz += z0 + z1
            top = max(top, max(d0, d1))
            close = close and c0 and c1
        t_abs = t_abs + (u0 + u1)
        t_dd = t_dd + (dd0 + dd1)
        t_aa = t_aa + (aa0 + aa1)
        t_bb = t_bb + (bb0 + bb1)
        t_ab = t_ab + (ab0 + ab1)
    return nz, t_abs, t_dd, t_aa, t_bb, t_ab, top, close
