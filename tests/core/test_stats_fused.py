"""The compiled pass-2 loop (inspector.core.stats.fused) gives the numpy path's results bit
for bit, is refused when it would not, and whole-tensor tasks in worker processes equal
the serial path."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch

from inspector.core.formats import open_checkpoint
from inspector.core.stats import compute_stats, fused, iter_stats
from inspector.core.stats import parallel as parallel_mod
from inspector.core.stats import pieces as P
from inspector.core.stats.passes import _Pass2

CHUNK = 1 << 16  # 64 KiB blocks: several per tensor, each longer than einsum's 8192 chunk


@pytest.fixture(scope="module")
def tensors(tmp_path_factory):
    g = torch.Generator().manual_seed(11)
    with_nan = torch.randn(50_001, generator=g, dtype=torch.float64) * 1e3
    with_nan[::89] = float("nan")
    with_nan[3::997] = float("inf")
    signed = torch.randn(70_003, generator=g) * 0.02 - 0.001
    signed[::13] = 0.0
    signed[5::17] = -0.0
    sd = {
        "signed": signed,
        "transposed": (torch.randn(301, 257, generator=g)).T,  # strided: copied per block
        "nonneg": torch.rand(40_000, generator=g),
        "f64_nan": with_nan,
        "int32": torch.randint(-7, 9, (33_333,), generator=g, dtype=torch.int32),
        "int64_big": torch.randint(-2**62, 2**62, (20_000,), generator=g),
        "uint32": torch.randint(0, 2**32, (20_000,), generator=g, dtype=torch.int64).to(
            torch.uint32),
        "c64": torch.randn(12_345, generator=g, dtype=torch.complex64),
        "huge_range": torch.tensor([-1.7e308, 1.7e308, 1.0, -2.0] * 5000, dtype=torch.float64),
        "tiny": torch.randn(9, generator=g),
        # 1- and 2-byte dtypes: statistics from bit-pattern counts
        "bf16": (torch.randn(90_001, generator=g) * 0.02).to(torch.bfloat16),
        "f16": torch.randn(50_000, generator=g).half(),
        "int16": torch.randint(-30_000, 30_000, (40_000,), generator=g, dtype=torch.int16),
        "uint8": torch.randint(0, 256, (70_000,), generator=g, dtype=torch.uint8),
        "f8": torch.randn(30_000, generator=g).to(torch.float8_e4m3fn),
        "bool": torch.rand(20_000, generator=g) > 0.3,
    }
    path = tmp_path_factory.mktemp("fused") / "fused.pth"
    torch.save(sd, path)
    return path


def _same(a, b) -> bool:
    return repr(a) == repr(b)  # repr of a float round-trips: equal text, equal bits


@pytest.fixture
def kernel():
    k = fused.kernel()
    if k is None:
        pytest.fail(f"the compiled loop is not available here: {fused.status()}")
    return k


def _numpy_only(monkeypatch):
    monkeypatch.setattr(fused, "_state", {"tried": True, "kernel": None, "count": None,
                                          "why": "test"})


class Calls:
    """Counts calls of the real kernel."""

    def __init__(self, real):
        self.real, self.n = real, 0

    def __call__(self, *args):
        self.n += 1
        return self.real(*args)


def test_the_kernel_loads_and_says_it_was_verified(kernel):
    assert "verified" in fused.status()
    assert fused._self_check(kernel) == ""
    assert fused.counter() is not None and fused._count_check(fused.counter())

    def miscount(x, counts):
        fused.counter()(x, counts)
        counts[0] += 1

    assert not fused._count_check(miscount)


@pytest.mark.parametrize("bins", [64, 7, 0])
def test_kernel_results_equal_the_numpy_path_bit_for_bit(tensors, kernel, bins, monkeypatch):
    with open_checkpoint(tensors) as ck:
        items = list(ck.tensors())
        with monkeypatch.context() as m:
            _numpy_only(m)
            want = {p: compute_stats(ck, info, bins=bins, chunk_bytes=CHUNK, workers=1)
                    for p, info in items}
        calls, counts = Calls(kernel), Calls(fused.counter())
        monkeypatch.setattr(fused, "FUSED_MIN_ELEMS", 0)
        monkeypatch.setattr(fused, "_state", {"tried": True, "kernel": calls, "count": counts,
                                              "why": "test"})
        for p, info in items:
            got = compute_stats(ck, info, bins=bins, chunk_bytes=CHUNK, workers=1)
            assert _same(got, want[p]), p
    assert calls.n > 20  # the kernel did the work (not for the huge range)
    assert counts.n >= 6  # the bit patterns of every 1- and 2-byte tensor
    signed = want[("signed",)]
    x = torch.load(tensors, weights_only=True)["signed"]
    assert signed.zeros == int((x == 0).sum()) > 5000  # +0.0 and -0.0
    assert signed.min == x.min().item() < 0 < signed.max
    if bins:
        assert sum(signed.histogram.counts) == 70_003


@pytest.mark.skipif(not parallel_mod.fork_is_safe(), reason="worker processes need fork")
@pytest.mark.parametrize("piece_bytes", [3 * CHUNK, 64 << 20])
def test_worker_processes_with_the_kernel_equal_the_serial_numpy_path(
        tensors, kernel, piece_bytes, monkeypatch):
    """Pieces and whole-tensor tasks in forked workers, the loop loaded before forking."""
    with open_checkpoint(tensors) as ck:
        with monkeypatch.context() as m:
            _numpy_only(m)
            want = {p: compute_stats(ck, info, chunk_bytes=CHUNK, workers=1)
                    for p, info in ck.tensors()}
        monkeypatch.setattr(fused, "FUSED_MIN_ELEMS", 0)
        monkeypatch.setattr(P, "PIECE_BYTES", piece_bytes)
        monkeypatch.setattr(parallel_mod, "PROCESSES", True)
        monkeypatch.setattr(parallel_mod, "INLINE_BYTES", 0)
        items = list(iter_stats(ck, chunk_bytes=CHUNK, workers=2))
    assert [i.path for i in items] == list(want)
    for item in items:
        assert item.error is None, item
        assert _same(item.stats, want[item.path]), item.path


def test_small_tensors_never_load_numba(tensors, monkeypatch):
    """Below FUSED_MIN_ELEMS the numpy path runs and the loop is not even looked up."""
    looked = []
    monkeypatch.setattr(fused, "kernel", lambda: looked.append(1))
    with open_checkpoint(tensors) as ck:
        for _p, info in ck.tensors():
            compute_stats(ck, info, workers=1)
    assert looked == []


def test_a_big_tensor_uses_the_kernel_by_default(tmp_path, kernel, monkeypatch):
    x = torch.randn(fused.FUSED_MIN_ELEMS + 4099, generator=torch.Generator().manual_seed(2))
    path = tmp_path / "big.pth"
    torch.save({"w": x}, path)
    calls = Calls(kernel)
    monkeypatch.setattr(fused, "_state", {"tried": True, "kernel": calls, "count": None,
                                          "why": "test"})
    with open_checkpoint(path) as ck:
        (_, info), = ck.tensors()
        got = compute_stats(ck, info, workers=1)
    assert calls.n >= 2
    ref = x.double()
    assert got.numel == x.numel() and got.min == x.min().item() and got.max == x.max().item()
    assert math.isclose(got.mean, ref.mean().item(), rel_tol=1e-12, abs_tol=1e-15)
    assert math.isclose(got.std, ref.std(unbiased=False).item(), rel_tol=1e-12)
    assert sum(got.histogram.counts) == x.numel()
    edges = torch.tensor(got.histogram.edges, dtype=torch.float64)
    inner = torch.bucketize(ref, edges[1:-1], right=True)  # edge i: smallest with index >= i
    assert tuple(torch.bincount(inner, minlength=64).tolist()) == got.histogram.counts


def _python_kernel(order):
    """The kernel's contract in plain Python, summing in another ``order``."""

    def run(v, shift, offset, norm, top, counts, chunk):
        x = v.astype(np.float64)
        a = np.abs(x)
        d = x - shift
        j = np.clip(((d + offset) * norm).astype(np.int64), 0, top)
        np.add.at(counts[0], j, 1)
        zeros = int(np.count_nonzero(a == 0))
        return zeros, order(a), order(d), order(d * d)

    return run


def test_the_self_check_refuses_a_loop_that_sums_in_another_order():
    assert fused._self_check(_python_kernel(lambda y: math.fsum(y))) != ""
    assert fused._self_check(_python_kernel(lambda y: float(np.sum(y)))) != ""
    # einsum itself passes: the check compares with einsum's order, nothing else
    assert fused._self_check(_python_kernel(lambda y: float(np.einsum("i->", y)))) == ""


def test_the_self_check_refuses_a_loop_that_miscounts():
    good = _python_kernel(lambda y: float(np.einsum("i->", y)))

    def off_by_one(*args):
        z, a, d, q = good(*args)
        return z + (args[0].size == 1000), a, d, q

    assert "1000 elements" in fused._self_check(off_by_one)


def test_without_numba_or_when_turned_off_the_numpy_path_runs(tensors, monkeypatch):
    monkeypatch.setattr(fused, "_state", {"tried": False, "kernel": None, "why": ""})
    monkeypatch.setitem(sys.modules, "inspector.core.stats._fused_numba", None)
    assert fused.kernel() is None and fused.counter() is None
    assert "numba unavailable" in fused.status()
    monkeypatch.setattr(fused, "_state", {"tried": False, "kernel": None, "why": ""})
    monkeypatch.setenv("INSPECTOR_FUSED", "0")
    assert fused.kernel() is None and fused.counter() is None and "off" in fused.status()
    p1 = type("P1", (), {"lo": -1.0, "hi": 1.0, "shift": 0.0})()
    assert _Pass2(p1, "float", 16, None, numel=1 << 30)._fused is None
    with open_checkpoint(tensors) as ck:
        _p, info = ck.tensors()[0]
        assert compute_stats(ck, info, workers=1).finite == 70_003


@pytest.mark.skipif(not parallel_mod.fork_is_safe(), reason="worker processes need fork")
def test_few_piece_tensors_are_one_task_in_a_worker(tensors, monkeypatch):
    """With worker processes, a tensor of at most WHOLE_PIECES pieces is computed whole in
    one task (no per-piece, per-phase round trips); bigger ones still go in pieces."""
    submitted = []
    real = parallel_mod.Engine._submit_child

    def spy(self, fn, args, kw):
        submitted.append(fn.__name__)
        return real(self, fn, args, kw)

    monkeypatch.setattr(parallel_mod.Engine, "_submit_child", spy)
    monkeypatch.setattr(parallel_mod, "PROCESSES", True)
    monkeypatch.setattr(parallel_mod, "INLINE_BYTES", 0)
    monkeypatch.setattr(P, "PIECE_BYTES", 100_000)  # "signed" (280 KB): 3 pieces
    with open_checkpoint(tensors) as ck:
        want = {p: compute_stats(ck, info, chunk_bytes=CHUNK, workers=1)
                for p, info in ck.tensors()}
        monkeypatch.setattr(parallel_mod, "WHOLE_PIECES", 3)
        items = list(iter_stats(ck, chunk_bytes=CHUNK, workers=2))
    names = submitted
    assert "whole_stats" in names and "bin_piece" in names  # f64_nan: 400 KB, 4 pieces
    for item in items:
        assert _same(item.stats, want[item.path]), item.path


def test_each_dtype_is_checked_before_the_kernel_takes_it(kernel, monkeypatch):
    monkeypatch.setattr(fused, "_checked", {})
    for name in ("uint64", "int32", "uint32", "float32"):
        assert fused.pass2_for(np.dtype(name)) is kernel
        assert fused._checked[np.dtype(name).str] is True
    # a dtype whose check failed stays on the numpy path
    monkeypatch.setitem(fused._checked, np.dtype("int32").str, False)
    assert fused.pass2_for(np.dtype("int32")) is None
    # a dtype numba cannot take at all: the check fails quietly
    assert fused.pass2_for(np.dtype("datetime64[s]")) is None
