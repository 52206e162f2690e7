"""The health report of one checkpoint (NaN, Inf, dead units and filters, BatchNorm variance,
float16 overflow, duplicates but not tied or constant tensors) and WeightWatcher's alpha
checked against a direct numpy computation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from inspector.core.health import check_health, report_to_json
from inspector.core.health.alpha import eigenvalues, fit_power_law, layer_alpha, reading


def _kinds(report):
    return sorted((f.kind, f.name) for f in report.findings)


def test_clean_checkpoint_has_no_findings(training_ckpt):
    report = check_health(str(training_ckpt))
    assert report.ok and report.findings == ()
    assert report_to_json(report) == {"path": str(training_ckpt), "format": "torch-zip",
                                      "tensors": report.tensors, "findings": []}


def test_every_single_checkpoint_kind(tmp_path):
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 6),
                          nn.Linear(6, 6), nn.Linear(6, 6))
    sd = model.state_dict()
    with torch.no_grad():
        sd["0.weight"][2] = 0                      # a dead conv filter
        sd["1.running_var"][:] = 0                 # every channel's variance at zero
        sd["3.weight"][0, 0] = float("inf")
        sd["3.bias"][1] = 1e6                      # beyond float16
        sd["4.weight"][1, 1] = float("nan")
        sd["5.weight"].copy_(sd["4.weight"])       # copied values (NaN makes it not a duplicate)
    sd["5.bias"] = sd["4.bias"].clone()            # a real duplicate
    sd["tied"] = sd["0.weight"]                    # tied: one storage, not a finding
    path = tmp_path / "sick.pth"
    torch.save(sd, path)
    report = check_health(str(path))
    assert _kinds(report) == [("bn_var_zero", "1.running_var"), ("dead_units", "0.weight"),
                              ("dead_units", "tied"), ("duplicate", "5.bias"),
                              ("fp16_overflow", "3.bias"), ("inf", "3.weight"),
                              ("nan", "4.weight"), ("nan", "5.weight")]
    by = {(f.kind, f.name): f for f in report.findings}
    assert by[("dead_units", "0.weight")].detail == "1 of 4 filters are all zero: 2"
    assert by[("bn_var_zero", "1.running_var")].count == 4
    assert by[("duplicate", "5.bias")].other == ("4.bias",)
    assert by[("inf", "3.weight")].tensor == ("3.weight",)
    doc = report_to_json(report)
    assert list(doc) == ["path", "format", "tensors", "findings"]
    assert {"kind", "tensor", "detail"} <= set(doc["findings"][0])


def test_constant_tensors_are_not_duplicates(tmp_path):
    import torch

    torch.save({"a.weight": torch.ones(8), "b.weight": torch.ones(8), "c.bias": torch.zeros(8),
                "d.bias": torch.zeros(8)}, tmp_path / "init.pth")
    assert check_health(str(tmp_path / "init.pth")).findings == ()


def _direct_alpha(w: np.ndarray) -> tuple[float, float]:
    """The textbook computation, written plainly: eigenvalues of WᵀW, then for every
    candidate xmin the MLE alpha and the KS distance; the smallest distance wins."""
    ev = np.sort(np.linalg.eigvalsh(w.T @ w))
    ev = ev[ev > 0]
    best = (math.inf, None, None)
    for i in range(len(ev) - 5 + 1):
        xmin = ev[i]
        tail = ev[i:]
        n = len(tail)
        alpha = 1 + n / np.sum(np.log(tail / xmin))
        cdf = 1 - (tail / xmin) ** (1 - alpha)
        d = max(np.max(np.abs(np.arange(1, n + 1) / n - cdf)),
                np.max(np.abs(np.arange(n) / n - cdf)))
        if d < best[0]:
            best = (d, alpha, xmin)
    return best[1], best[2]


def test_alpha_matches_a_direct_numpy_computation():
    rng = np.random.default_rng(3)
    w = rng.standard_t(df=3, size=(120, 60))  # heavy-tailed entries
    alpha, xmin = _direct_alpha(w)
    got = layer_alpha("w", ("w",), w)
    assert got.alpha == pytest.approx(alpha, rel=1e-6)
    assert got.xmin == pytest.approx(xmin, rel=1e-6)
    assert np.allclose(eigenvalues(w), np.sort(np.linalg.eigvalsh(w.T @ w)), rtol=1e-8)
    assert got.reading == reading(got.alpha)


def test_alpha_recovers_a_planted_power_law():
    import torch

    rng = np.random.default_rng(0)
    # a matrix whose eigenvalues of WᵀW are exactly Pareto samples with exponent 3.5
    n = 400
    ev = (1 - rng.random(n)) ** (-1 / 2.5)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a busy machine makes threaded QR 50× slower
    try:
        u, _ = torch.linalg.qr(torch.from_numpy(rng.normal(size=(2 * n, n))))
        v, _ = torch.linalg.qr(torch.from_numpy(rng.normal(size=(n, n))))
        w = (u @ torch.diag(torch.from_numpy(np.sqrt(ev))) @ v.T).numpy()
    finally:
        torch.set_num_threads(threads)
    fit = fit_power_law(eigenvalues(w))
    assert fit.alpha == pytest.approx(3.5, abs=0.35)
    assert reading(fit.alpha) == "well trained (2–6)"
    assert reading(1.5).startswith("very heavy-tailed") and reading(9).startswith("weakly")


def test_bfloat16_float16_float64_and_complex_tensors(tmp_path):
    import torch

    sd = {"a.weight": torch.randn(4, 4).to(torch.bfloat16),
          "b.weight": torch.randn(3, 3).to(torch.float16),
          "c.weight": torch.randn(5, 5, dtype=torch.float64),
          "z": torch.randn(3, dtype=torch.complex64)}
    sd["a.weight"][0] = 1e6
    sd["a.weight"][1] = 0
    sd["b.weight"][1, 1] = float("inf")
    torch.save(sd, tmp_path / "mixed.pth")
    report = check_health(str(tmp_path / "mixed.pth"))
    assert _kinds(report) == [("dead_units", "a.weight"), ("fp16_overflow", "a.weight"),
                              ("inf", "b.weight")]
    over = next(f for f in report.findings if f.kind == "fp16_overflow")
    assert over.count == 4  # bfloat16 holds 1e6 (as 999424); float16 cannot


def test_dead_rows_longer_than_a_chunk(tmp_path, monkeypatch):
    import torch

    from inspector.core.timeline import scan

    monkeypatch.setattr(scan, "CHUNK_ELEMENTS", 64)  # rows of 100 values span chunks
    w = torch.randn(5, 100)
    w[1] = 0
    w[3, :99] = 0  # one value left: alive
    torch.save({"fc.weight": w}, tmp_path / "long.pth")
    report = check_health(str(tmp_path / "long.pth"))
    assert [(f.kind, f.count, f.detail) for f in report.findings] == [
        ("dead_units", 1, "1 of 5 rows (output units) are all zero: 1")]
