"""Pass 2 of big tensors in one compiled loop, when numba is installed and its results are
bit for bit those of the numpy path.

The numpy path (``_Pass2.add``) spends ~12 passes over every block; the compiled loop does
the same arithmetic in one (about 2x faster per core, see README "Performance"). It is used
only for tensors of at least :data:`FUSED_MIN_ELEMS` elements, so small files never pay for
importing numba, and only after :func:`kernel` has compared it with the numpy path on
awkward inputs (every tail length, zeros, negative values, float32/float64/int64): if one
count or one bit of a sum differs (another numpy build could sum in another order), the
numpy path is used and results stay what they always were.

``INSPECTOR_FUSED=0`` in the environment turns the kernel off.
"""

from __future__ import annotations

import importlib
import os
import threading

import numpy as np

FUSED_MIN_ELEMS = 1 << 20
ROWS = 4  # the kernel counts into four histograms (see _fused_numba)
EINSUM_CHUNK = 8192  # elements einsum sums at a time (its iterator's buffer)

BASE_DTYPES = ("float32", "float64", "int64")  # checked when the kernel loads; others lazily

_lock = threading.Lock()
_checked: dict[str, bool] = {}
_state: dict = {"tried": False, "kernel": None, "count": None, "why": "not loaded yet"}


def kernel():
    """The verified compiled loop, or None (numba missing, turned off, or not exact)."""
    if not _state["tried"]:
        with _lock:
            if not _state["tried"]:
                _state["kernel"], _state["count"], _state["why"] = _load()
                _state["tried"] = True
    return _state["kernel"]


def pass2_for(dtype: np.dtype):
    """The compiled loop for blocks of ``dtype`` once it was checked for that dtype (the
    common ones when it loads, any other on its first use), else None."""
    fn = kernel()
    if fn is None:
        return None
    ok = _checked_once(np.dtype(dtype).str, lambda: _self_check(fn, (np.dtype(dtype),)))
    return fn if ok else None


def _checked_once(key: str, check) -> bool:
    """Whether ``check()`` (returning '' when the loop equals numpy) passed for ``key``; run
    once per process. A check that raises (a type numba does not take) fails: numpy runs."""
    ok = _checked.get(key)
    if ok is None:
        with _lock:
            ok = _checked.get(key)
            if ok is None:
                try:
                    ok = check() == ""
                except Exception:  # noqa: BLE001
                    ok = False
                _checked[key] = ok
    return ok


DIFF_DTYPES = ("float32", "float64")  # chunk dtypes the diff loop takes (others: numpy)


def diff_for(dtype_a: np.dtype, dtype_b: np.dtype):
    """The compiled diff loop for chunks of these dtypes, once checked against the numpy
    path's finite branch for that pair (on first use), else None."""
    if kernel() is None or _state.get("diff") is None:
        return None
    a, b = np.dtype(dtype_a), np.dtype(dtype_b)
    if a.name not in DIFF_DTYPES or b.name not in DIFF_DTYPES or not (a.isnative and
                                                                     b.isnative):
        return None
    ok = _checked_once(f"diff:{a.str}:{b.str}", lambda: _diff_check(_state["diff"], a, b))
    return _state["diff"] if ok else None


def diff_reference(x: np.ndarray, y: np.ndarray, atol: float, rtol: float) -> tuple:
    """What the numpy diff path computes for a chunk whose Σx² and Σy² are finite."""
    a, b = x.astype(np.float64), y.astype(np.float64)
    d = a - b
    nz = int(np.count_nonzero(d))
    np.abs(d, out=d)
    return (nz, float(np.einsum("i->", d)), float(np.einsum("i,i->", d, d)),
            float(np.einsum("i,i->", a, a)), float(np.einsum("i,i->", b, b)),
            float(np.einsum("i,i->", a, b)), float(d.max()),
            bool(np.all(d <= atol + rtol * np.abs(b))))


def _diff_check(fn, dtype_a: np.dtype, dtype_b: np.dtype) -> str:
    """'' when the diff loop equals :func:`diff_reference` on every probe."""
    rng = np.random.default_rng(20261205)
    for n in (*range(1, 40), 127, 1000, 8191, 8192, 8193, 20_011):
        x = (rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 3)).astype(dtype_a)
        y = (x.astype(np.float64) * (1 + 1e-3 * rng.standard_normal(n))).astype(dtype_b)
        same = rng.integers(0, n, n // 3)
        y[same] = x[same]
        for arr in (x, y):
            arr.setflags(write=False)
        for atol, rtol in ((1e-8, 1e-5), (0.0, 2e-3)):
            got = fn(x, y, atol, rtol, EINSUM_CHUNK)
            if tuple(got) != diff_reference(x, y, atol, rtol):
                return f"{dtype_a.name}/{dtype_b.name}, {n} elements"
    return ""


def counter():
    """The compiled bit-pattern counter (1- and 2-byte dtypes), or None."""
    kernel()
    return _state.get("count")


def status() -> str:
    """Why the kernel is or is not used (for ``stats --json`` and the benchmark)."""
    kernel()
    return _state["why"]


def _load():
    if os.environ.get("INSPECTOR_FUSED", "1") == "0":
        return None, None, "off (INSPECTOR_FUSED=0)"
    try:
        _fused_numba = importlib.import_module("inspector.core.stats._fused_numba")
    except Exception as exc:  # numba missing or broken: the numpy path
        return None, None, f"numba unavailable ({type(exc).__name__})"
    fn, count = _fused_numba.pass2_block, _fused_numba.count_patterns
    _state["diff"] = _fused_numba.diff_chunk
    try:
        bad = _self_check(fn)
        count_ok = _count_check(count)
        _checked.update({np.dtype(d).str: not bad for d in BASE_DTYPES})
    except Exception as exc:
        return None, None, f"numba kernel failed ({type(exc).__name__}: {exc})"
    count = count if count_ok else None
    if bad:
        return None, count, f"numba kernel differs from numpy ({bad}); numpy path used"
    return fn, count, "numba (fused pass 2, verified bit for bit)"


def _count_check(count) -> bool:
    """Whether the pattern counter gives np.bincount's counts."""
    rng = np.random.default_rng(5)
    for dtype, size in ((np.uint8, 256), (np.uint16, 65536)):
        x = rng.integers(0, size, 10_007).astype(dtype)
        x.setflags(write=False)
        counts = np.zeros(size, dtype=np.int64)
        count(x, counts)
        if not np.array_equal(counts, np.bincount(x, minlength=size)):
            return False
    return True


def reference(v: np.ndarray, shift: float, offset: float, norm: float, bins: int):
    """The numpy path's arithmetic for one block (what the kernel must reproduce)."""
    f = v.astype(np.float64).ravel()
    g = np.abs(f)
    zeros = f.size - int(np.count_nonzero(g.view(np.uint64)))
    abs_sum = float(np.einsum("i->", g))
    np.subtract(f, shift, out=f)
    dev = float(np.einsum("i->", f))
    dev2 = float(np.einsum("i->", f * f))
    k = ((f + offset) * norm).astype(np.intp)
    counts = np.bincount(np.clip(k, 0, max(bins - 1, 0)), minlength=max(bins, 1))
    return zeros, abs_sum, dev, dev2, counts


def _probe(rng, dtype: np.dtype, n: int) -> np.ndarray:
    """``n`` awkward values of ``dtype``: spread over decades; integers up to near their
    type's limit (beyond 2**53 for 64-bit ones: conversions must round alike)."""
    v = rng.standard_normal(n) * 10.0 ** rng.uniform(-3, 3)
    if dtype.kind in "iu":
        top = float(np.iinfo(dtype).max) * (0.9 if dtype.kind == "u" else 0.45)
        v = v / max(float(np.abs(v).max()), 1e-300) * top
        if dtype.kind == "u":
            v = np.abs(v)
    v = v.astype(dtype)
    v[rng.integers(0, n, n // 4)] = 0
    return v


def _self_check(fn, dtypes=BASE_DTYPES) -> str:
    """'' when the kernel equals the numpy path on every probe, else what differed."""
    rng = np.random.default_rng(20261204)
    for dtype in map(np.dtype, dtypes):
        for n in (*range(1, 40), 127, 1000, 8191, 8192, 8193, 20_011):
            v = _probe(rng, dtype, n)
            v.setflags(write=False)  # blocks of a mapped file are read-only
            lo, hi = float(v.min()), float(v.max())
            shift = float(v[: max(1, n // 3)].astype(np.float64).mean())
            bins = 64
            offset = shift - lo
            norm = bins / (hi - lo) if hi > lo else 0.0
            counts = np.zeros((ROWS, bins), dtype=np.int64)
            got = fn(v, shift, offset, norm, bins - 1, counts, EINSUM_CHUNK)
            want = reference(v, shift, offset, norm, bins)
            if tuple(got) != want[:4] or not np.array_equal(counts.sum(axis=0), want[4]):
                return f"{dtype.name}, {n} elements"
    return ""
