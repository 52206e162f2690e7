"""The compiled diff loop gives the numpy path's comparison bit for bit (every count and
sum), hands chunks with NaN/Inf or overflowing squares back to numpy, and is refused when
its sums would be added in another order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inspector.core.diff import diff_checkpoints
from inspector.core.stats import fused

CHUNK = 20_000  # elements per chunk: several per tensor, each past einsum's 8192


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    g = torch.Generator().manual_seed(21)
    a = {
        "f32": torch.randn(300, 257, generator=g),
        "f64": torch.randn(50_003, generator=g, dtype=torch.float64),
        "mixed": torch.randn(40_000, generator=g),  # float32 in A, float64 in B
        "same": torch.randn(30_000, generator=g),
        "half_same": torch.randn(45_001, generator=g),
        "nan": torch.randn(60_000, generator=g),
        "huge": torch.randn(30_000, generator=g, dtype=torch.float64) * 1e160,
        "tiny": torch.randn(7, generator=g),
    }
    b = {k: v.clone() for k, v in a.items()}
    b["f32"] += 1e-3 * torch.randn(300, 257, generator=g)
    b["f64"] *= 1.0001
    b["mixed"] = (a["mixed"].double() + 1e-4)
    b["half_same"][::2] += 0.5
    b["nan"] += 0.01
    b["nan"][::1000] = float("nan")
    b["huge"] *= 1.5  # squares overflow: the numpy path's non-finite branch
    b["tiny"] -= 1
    root = tmp_path_factory.mktemp("dfused")
    torch.save(a, root / "a.pth")
    torch.save(b, root / "b.pth")
    return root / "a.pth", root / "b.pth"


def _numpy_only(monkeypatch):
    monkeypatch.setattr(fused, "_state", {"tried": True, "kernel": None, "count": None,
                                          "diff": None, "why": "test"})


@pytest.mark.parametrize("tol", [None, (1e-3, 1e-3)])
@pytest.mark.parametrize("workers", [1, 2])
def test_compiled_diff_equals_the_numpy_path(pair, monkeypatch, tol, workers):
    assert fused.kernel() is not None, fused.status()
    loop = fused._state["diff"]
    calls = []

    def counting(*args):
        calls.append(1)
        return loop(*args)

    kw = {} if tol is None else {"atol": tol[0], "rtol": tol[1]}
    with monkeypatch.context() as m:
        _numpy_only(m)
        want = diff_checkpoints(*pair, chunk_elements=CHUNK, workers=1, **kw)
    monkeypatch.setattr(fused, "FUSED_MIN_ELEMS", 0)
    monkeypatch.setitem(fused._state, "diff", counting)
    got = diff_checkpoints(*pair, chunk_elements=CHUNK, workers=workers, **kw)
    assert [repr(e) for e in got.entries] == [repr(e) for e in want.entries]
    assert repr(got.summary) == repr(want.summary)
    if workers == 1:
        assert len(calls) > 10  # the loop did the work here (workers: in their processes)
    by_name = {e.path[-1]: e for e in got.entries}
    assert len(by_name) == 8 and by_name["same"].status == "identical"
    assert by_name["nan"].nan_b == 60 and by_name["half_same"].num_diff == 22_501
    assert by_name["huge"].max_abs_diff > 1e159  # the non-finite squares' branch


def test_the_check_refuses_a_loop_that_adds_in_another_order():
    def reordered(x, y, atol, rtol, chunk):
        ref = list(fused.diff_reference(x, y, atol, rtol))
        a, b = x.astype(np.float64), y.astype(np.float64)
        ref[5] = float(np.sum(a * b))  # pairwise summation, not einsum's order
        return tuple(ref)

    f32 = np.dtype("float32")
    assert fused._diff_check(reordered, f32, f32) != ""
    assert fused._diff_check(lambda x, y, atol, rtol, chunk:
                             fused.diff_reference(x, y, atol, rtol), f32, f32) == ""


def test_only_real_native_float_chunks_take_the_loop():
    if fused.kernel() is None:
        pytest.skip(fused.status())
    assert fused.diff_for(np.dtype("float32"), np.dtype("float64")) is not None
    assert fused.diff_for(np.dtype("float16"), np.dtype("float16")) is None
    assert fused.diff_for(np.dtype("int64"), np.dtype("int64")) is None
    assert fused.diff_for(np.dtype(">f4"), np.dtype(">f4")) is None
