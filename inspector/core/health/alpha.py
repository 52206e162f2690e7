"""WeightWatcher's heavy-tailed spectral exponent alpha, per 2-D layer (on demand: an SVD).

For a weight matrix W the empirical spectral density is the set of eigenvalues of WᵀW (the
squared singular values of W). Its tail is fitted with a power law p(λ) ∝ λ^(−alpha) for
λ ≥ λ_min, by maximum likelihood (alpha = 1 + n / Σ ln(λ_i/λ_min)), choosing λ_min among the
eigenvalues as the one whose fit has the smallest Kolmogorov–Smirnov distance (Clauset,
Shalizi & Newman 2009, as the ``powerlaw`` package and WeightWatcher do).

The usual reading (Martin & Mahoney): alpha < 2 very heavy-tailed, possibly over-trained;
2–6 well trained; above 6 weakly correlated, close to random (under-trained).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

MIN_TAIL = 5       # eigenvalues a fitted tail must hold at least
MIN_SIDE = 4       # matrices with a side shorter than this are not fitted


@dataclass(frozen=True)
class PowerLawFit:
    alpha: float
    xmin: float
    n_tail: int
    ks_distance: float


@dataclass(frozen=True)
class LayerAlpha:
    """One 2-D layer's alpha, the fit behind it and its reading."""

    name: str
    path: tuple
    shape: tuple[int, ...]
    alpha: float | None
    xmin: float | None
    n_tail: int
    ks_distance: float | None
    reading: str


@dataclass(frozen=True)
class AlphaProgress:
    done: int
    total: int
    name: str
    device: str = "cpu"  # where the SVDs run (cpu when the chosen GPU is not available)


def eigenvalues(w, device: str = "cpu") -> np.ndarray:
    """Eigenvalues of WᵀW (squared singular values of W), ascending, as float64 numpy."""
    import torch

    t = torch.as_tensor(w)
    dtype = torch.float64 if device == "cpu" else torch.float32
    threads = torch.get_num_threads()
    if device == "cpu":
        torch.set_num_threads(1)  # 20× faster than the thread pool on a busy machine
    try:
        sv = torch.linalg.svdvals(t.to(device=device, dtype=dtype))
    finally:
        torch.set_num_threads(threads)
    ev = (sv.double() ** 2).cpu().numpy()
    return np.sort(ev)


def fit_power_law(evals: np.ndarray, min_tail: int = MIN_TAIL) -> PowerLawFit | None:
    """The power-law tail fit with the KS-optimal xmin; None when too few positive values."""
    x = np.sort(np.asarray(evals, dtype=np.float64))
    x = x[x > 0]
    n_all = x.size
    if n_all < min_tail:
        return None
    logs = np.log(x)
    # suffix sums of log(x): Σ_{j>=i} ln x_j
    suffix = np.cumsum(logs[::-1])[::-1]
    best: PowerLawFit | None = None
    for i in range(0, n_all - min_tail + 1):
        if i and x[i] == x[i - 1]:
            continue  # each distinct value once, as the first of its run
        xmin = x[i]
        n = n_all - i
        denom = suffix[i] - n * math.log(xmin)
        if denom <= 0:
            continue
        alpha = 1.0 + n / denom
        tail = x[i:]
        theo = 1.0 - (tail / xmin) ** (1.0 - alpha)
        emp_hi = np.arange(1, n + 1) / n
        emp_lo = np.arange(0, n) / n
        d = float(max(np.max(np.abs(emp_hi - theo)), np.max(np.abs(emp_lo - theo))))
        if best is None or d < best.ks_distance:
            best = PowerLawFit(alpha, float(xmin), n, d)
    return best


def reading(alpha: float | None) -> str:
    if alpha is None:
        return "no fit (too few eigenvalues)"
    if alpha < 2:
        return "very heavy-tailed: possibly over-trained"
    if alpha <= 6:
        return "well trained (2–6)"
    return "weakly correlated, close to random: under-trained"


def layer_alpha(name: str, path: tuple, w, device: str = "cpu") -> LayerAlpha:
    import torch

    shape = tuple(int(d) for d in w.shape)
    if not bool(torch.isfinite(torch.as_tensor(w)).all()):
        return LayerAlpha(name, path, shape, None, None, 0, None,
                          "holds NaN or infinite values: no spectrum")
    fit = fit_power_law(eigenvalues(w, device))
    if fit is None:
        return LayerAlpha(name, path, shape, None, None, 0, None, reading(None))
    return LayerAlpha(name, path, shape, fit.alpha, fit.xmin, fit.n_tail, fit.ks_distance,
                      reading(fit.alpha))


def iter_alpha(path: str, device: str = "cpu", names: list[str] | None = None
               ) -> Iterator[AlphaProgress | LayerAlpha]:
    """Worker-process job: alpha of every 2-D parameter of the checkpoint (or of ``names``)."""
    from inspector.core.formats import open_checkpoint
    from inspector.core.jobs import cancel_requested
    from inspector.core.materialize import tensor_from_info
    from inspector.core.timeline.scan import model_tensors

    device = usable_device(device)
    ck = open_checkpoint(path)
    try:
        layers = [(n, p, info) for n, (p, info, role) in model_tensors(ck).items()
                  if role == "param" and len(info.shape) == 2 and min(info.shape) >= MIN_SIDE
                  and (names is None or n in names)]
        for i, (name, p, info) in enumerate(layers):
            if cancel_requested():
                return
            yield AlphaProgress(i, len(layers), name, device)
            yield layer_alpha(name, p, tensor_from_info(ck, info), device)
        yield AlphaProgress(len(layers), len(layers), "", device)
    finally:
        ck.close()


def usable_device(device: str) -> str:
    """``device`` when torch can use it, else ``cpu``."""
    if device == "cpu":
        return device
    import torch

    try:
        torch.empty(1, device=device)
    except (RuntimeError, AssertionError, ValueError):
        return "cpu"
    return device


def alpha_to_json(a: LayerAlpha) -> dict:
    from inspector.core.text import json_value, path_to_json

    return {"name": a.name, "tensor": path_to_json(a.path), "shape": list(a.shape),
            "alpha": json_value(a.alpha), "xmin": json_value(a.xmin), "n_tail": a.n_tail,
            "ks_distance": json_value(a.ks_distance), "reading": a.reading}
