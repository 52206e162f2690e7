"""The diff on several threads, from pieces merged in any order, and through the device
code equals the single-thread path (value for value; device sums within 1e-12), and it
agrees with the torch comparison it replaced up to float64 rounding."""

from __future__ import annotations

import math
import random
import subprocess
import sys

import pytest
import torch

from inspector.core.diff import align, compare_tensors
from inspector.core.diff import device as device_mod
from inspector.core.diff import pieces as D
from inspector.core.diff.pairs import iter_diff
from inspector.core.formats import open_checkpoint

CHUNK = 1024  # elements: many chunks and pieces per tensor


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    g = torch.Generator().manual_seed(5)
    a = {
        "w": torch.randn(300, 211, generator=g),
        "w_T": torch.randn(200, 150, generator=g).T,
        "same": torch.randn(20_000, generator=g),
        "f64": torch.randn(30_000, generator=g, dtype=torch.float64),
        "nan": torch.randn(9000, generator=g),
        "bf16": torch.randn(40_000, generator=g).to(torch.bfloat16),
        "i32": torch.randint(-9, 9, (30_000,), generator=g, dtype=torch.int32),
        "c64": torch.randn(5000, generator=g, dtype=torch.complex64),
        "dt": torch.randn(7000, generator=g),
        "zeros": torch.zeros(3000),
        "bool": torch.rand(5000, generator=g) > 0.5,
    }
    b = {k: v.clone() for k, v in a.items()}
    b["w"] = a["w"] + torch.randn(300, 211, generator=g) * 1e-3
    b["w_T"] = (a["w_T"] + 1e-2).contiguous()  # different strides, same shape
    b["f64"][::3] += 1e-9
    b["nan"][::50] = float("nan")
    b["nan"][7::77] = float("inf")
    b["bf16"][::2] = (b["bf16"][::2].float() * 1.01).to(torch.bfloat16)
    b["i32"][::5] += 1
    b["c64"][::4] += 1j
    b["dt"] = a["dt"].double() + 1e-12  # dtype changed
    b["zeros"][::2] = -0.0  # bits differ, values equal
    b["bool"][::7] = ~b["bool"][::7]
    folder = tmp_path_factory.mktemp("diffpar")
    torch.save(a, folder / "a.pth")
    torch.save(b, folder / "b.pth")
    return folder / "a.pth", folder / "b.pth"


def _entries(pair, **kw):
    with open_checkpoint(pair[0]) as ca, open_checkpoint(pair[1]) as cb:
        return list(iter_diff(ca, cb, align(ca, cb), chunk_elements=CHUNK, **kw))


@pytest.fixture(scope="module")
def serial(pair):
    return _entries(pair, workers=1)


@pytest.mark.parametrize("processes", [True, False])
@pytest.mark.parametrize("workers", [2, 3])
def test_threads_equal_one_thread(pair, serial, workers, processes, monkeypatch):
    """Worker processes (forked) and threads alike."""
    from inspector.core.stats import parallel as parallel_mod

    monkeypatch.setattr(D, "PIECE_CHUNKS", 3)
    monkeypatch.setattr(parallel_mod, "PROCESSES", processes)
    got = _entries(pair, workers=workers)
    assert [repr(e) for e in got] == [repr(e) for e in serial]


def test_pieces_merged_in_any_order(pair, serial):
    rng = random.Random(1)
    want = {e.path: e for e in serial}
    with open_checkpoint(pair[0]) as ca, open_checkpoint(pair[1]) as cb:
        for p in align(ca, cb).pairs:
            plan = D.pair_plan(p.info_a, p.info_b, CHUNK)
            assert plan is not None, p.path_a
            pieces = D.diff_pieces(plan, 2)
            rng.shuffle(pieces)
            if all(D.equal_piece(ca, cb, plan, x) for x in pieces):
                cmp = D.finish_diff(plan, None)
            else:
                parts = [D.diff_piece(ca, cb, plan, x) for x in pieces]
                half = len(parts) // 2
                merged = D.merge_diff([D.merge_diff(parts[:half]), D.merge_diff(parts[half:])]
                                      if half else parts)
                cmp = D.finish_diff(plan, merged)
            e = want[p.path_b]
            assert cmp.identical == (e.status == "identical")
            for name in ("max_abs_diff", "mean_abs_diff", "rel_l2", "cosine", "num_diff",
                         "nan_a", "nan_b"):
                assert repr(getattr(cmp, name)) == repr(getattr(e, name)), (p.path_b, name)


def _close(x, y, rel=1e-12):
    if x is None or y is None:
        return x is y
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return x == y
    return abs(x - y) <= rel * max(abs(x), abs(y), 1e-300) + 1e-300


def test_numpy_metrics_agree_with_the_torch_comparison(pair, serial):
    """The torch comparison (still used for dtypes numpy cannot read) and the numpy one
    differ only in the order of float64 additions."""
    with open_checkpoint(pair[0]) as ca, open_checkpoint(pair[1]) as cb:
        by_path = {e.path: e for e in serial}
        for p in align(ca, cb).pairs:
            ref = compare_tensors(ca.tensor(p.info_a), cb.tensor(p.info_b), chunk_elements=CHUNK)
            e = by_path[p.path_b]
            assert ref.identical == (e.status == "identical"), p.path_b
            for name in ("num_diff", "nan_a", "nan_b", "max_abs_diff"):
                assert getattr(ref, name) == getattr(e, name), (p.path_b, name)
            for name in ("mean_abs_diff", "rel_l2", "cosine"):
                assert _close(getattr(ref, name), getattr(e, name), 1e-9), (p.path_b, name)


def test_device_code_on_cpu(pair, serial, monkeypatch):
    monkeypatch.setattr(device_mod, "MIN_DEVICE_ELEMS", 1)
    monkeypatch.setattr(D, "PIECE_CHUNKS", 4)
    calls = []
    real = device_mod.DeviceDiff.diff

    def diff(self, *a, **kw):
        calls.append(1)
        return real(self, *a, **kw)

    monkeypatch.setattr(device_mod.DeviceDiff, "diff", diff)
    got = _entries(pair, workers=2, device="torch:cpu")
    assert calls
    for e, s in zip(got, serial):
        assert (e.path, e.status, e.num_diff, e.nan_a, e.nan_b, e.max_abs_diff) == \
            (s.path, s.status, s.num_diff, s.nan_a, s.nan_b, s.max_abs_diff)
        for name in ("mean_abs_diff", "rel_l2", "cosine"):
            assert _close(getattr(e, name), getattr(s, name)), (e.path, name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_the_cpu_path(pair, serial, monkeypatch):
    monkeypatch.setattr(device_mod, "MIN_DEVICE_ELEMS", 1)
    got = _entries(pair, device="cuda")
    for e, s in zip(got, serial):
        assert (e.status, e.num_diff, e.nan_a, e.nan_b, e.max_abs_diff) == \
            (s.status, s.num_diff, s.nan_a, s.nan_b, s.max_abs_diff), e.path
        for name in ("mean_abs_diff", "rel_l2", "cosine"):
            assert _close(getattr(e, name), getattr(s, name)), (e.path, name)


def test_cli_diff_and_stats_do_not_import_torch(pair):
    code = ("import sys; from inspector.cli import main; "
            "rc = main(['diff', '--json', sys.argv[1], sys.argv[2]]); "
            "rc2 = main(['stats', '--json', sys.argv[1]]); "
            "rc3 = main(['info', sys.argv[1]]); "
            "assert 'torch' not in sys.modules, 'torch imported'; print('ok', rc, rc2, rc3)")
    out = subprocess.run([sys.executable, "-c", code, str(pair[0]), str(pair[1])],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "ok 0 0 0"
