"""The device path of the statistics (``iter_stats(device=...)``): counts, min/max and
histograms identical to the CPU path, sums within the documented bound (relative 1e-12).

``device="torch:cpu"`` runs the device code with torch on the CPU, so the shared merge code and
the device kernels are checked on every machine; the CUDA test runs where a GPU is.
"""

from __future__ import annotations

import math

import pytest
import torch

from inspector.core.formats import open_checkpoint
from inspector.core.stats import device as device_mod
from inspector.core.stats import iter_stats
from inspector.core.stats import pieces as P

CHUNK = 1 << 14  # 4096 float32 per block: many blocks and runs
REL = 1e-12


@pytest.fixture(scope="module")
def ckpt_path(tmp_path_factory):
    g = torch.Generator().manual_seed(11)
    nan = torch.randn(70_000, generator=g, dtype=torch.float64) * 5 - 1
    nan[::101] = float("nan")
    nan[3::707] = float("inf")
    sd = {
        "f32": torch.randn(512, 301, generator=g) * 0.02,
        "f32_T": (torch.randn(300, 256, generator=g) + 2).T,
        "f64_nan": nan,
        "i32": torch.randint(-5, 50, (90_000,), generator=g, dtype=torch.int32),
        "i64": torch.randint(0, 2**40, (40_000,), generator=g),
        "bf16": torch.randn(80_000, generator=g).to(torch.bfloat16),
        "u8": torch.randint(0, 255, (70_000,), generator=g, dtype=torch.uint8),
        "const": torch.full((50_000,), -3.0),
        "late_nan": torch.cat([torch.full((9000,), float("nan")), torch.randn(30_000, generator=g)]),
        "small": torch.randn(30, generator=g),
        "c64": torch.randn(30_000, generator=g, dtype=torch.complex64),
    }
    path = tmp_path_factory.mktemp("dev") / "dev.pth"
    torch.save(sd, path)
    return path


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= REL * max(abs(a), abs(b), 1e-300)


def _check(got, want, path):
    exact = ("dtype", "shape", "numel", "min", "max", "zeros", "nan", "inf", "finite",
             "histogram", "note")
    for name in exact:
        assert repr(getattr(got, name)) == repr(getattr(want, name)), (path, name)
    for name in ("mean", "std", "abs_mean", "l2"):
        g, w = getattr(got, name), getattr(want, name)
        if name in ("mean", "std") and w is not None and want.std is not None:
            # mean and std: within 1e-12 of the spread |mean| + std (a mean near 0 has
            # few exact digits of its own)
            assert abs(g - w) <= REL * (abs(want.mean) + want.std) + 1e-300, (path, name, g, w)
        else:
            assert _close(g, w), (path, name, g, w)


def _run(path, device, monkeypatch, stage_bytes):
    monkeypatch.setattr(device_mod, "MIN_DEVICE_ELEMS", 1)  # every multi-block tensor
    monkeypatch.setattr(device_mod, "STAGE_BYTES", stage_bytes)
    monkeypatch.setattr(P, "PIECE_BYTES", 5 * CHUNK)
    with open_checkpoint(path) as ck:
        want = {i.path: i.stats for i in iter_stats(ck, chunk_bytes=CHUNK, workers=1)}
        got = list(iter_stats(ck, chunk_bytes=CHUNK, workers=2, device=device))
    assert [i.path for i in got] == list(want)
    for item in got:
        assert item.error is None, item
        _check(item.stats, want[item.path], item.path)


@pytest.mark.parametrize("stage_bytes", [3 * CHUNK, 64 * CHUNK])
def test_device_code_on_cpu_matches_the_cpu_path(ckpt_path, monkeypatch, stage_bytes):
    _run(ckpt_path, "torch:cpu", monkeypatch, stage_bytes)


def test_device_routing(ckpt_path):
    with open_checkpoint(ckpt_path) as ck:
        tensors = dict(ck.tensors())
        assert device_mod.on_device(P.layout(ck, tensors[("f32",)], CHUNK)) or \
            device_mod.MIN_DEVICE_ELEMS > 512 * 301
        assert not device_mod.on_device(P.layout(ck, tensors[("small",)], CHUNK))
        assert not device_mod.on_device(P.layout(ck, tensors[("c64",)], CHUNK))


def test_unknown_or_missing_device_is_reported():
    with pytest.raises(device_mod.DeviceUnavailable):
        device_mod.open_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(device_mod.DeviceUnavailable, match="CUDA"):
            device_mod.open_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_the_cpu_path(ckpt_path, monkeypatch):
    _run(ckpt_path, "cuda", monkeypatch, 64 * CHUNK)


def test_device_path_really_runs(ckpt_path, monkeypatch):
    calls = []
    real_scan, real_bins = device_mod.DeviceWork.scan, device_mod.DeviceWork.bins

    def scan(self, *a, **kw):
        calls.append("scan")
        return real_scan(self, *a, **kw)

    def bins(self, *a, **kw):
        calls.append("bins")
        return real_bins(self, *a, **kw)

    monkeypatch.setattr(device_mod.DeviceWork, "scan", scan)
    monkeypatch.setattr(device_mod.DeviceWork, "bins", bins)
    _run(ckpt_path, "torch:cpu", monkeypatch, 8 * CHUNK)
    assert calls.count("scan") > 20 and calls.count("bins") > 10
