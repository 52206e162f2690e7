"""One tensor pair's histograms for the compare view, a job for the worker process (no Qt).

:func:`pair_histograms` yields one :class:`PairHistograms`: A and B binned on common edges,
and the histogram of Δ = B − A when the shapes agree. Reads are chunked; tensors above
:data:`MAX_SAMPLES` elements are sampled with a fixed stride.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from inspector.core.checkpoint import Checkpoint, CheckpointError, TensorInfo
from inspector.core.diff.stream import DiffProblem
from inspector.core.jobs import cancel_requested
from inspector.core.text import dotted_path, shape_text
from inspector.core.view_size import (
    broadcast_dims,
    distinct_view,
    over_work_cap,
    work_cap_problem,
)

CHUNK = 1 << 18  # elements per read: 2 MiB of float64 per side
MAX_SAMPLES = 1 << 24  # above this many elements, histograms use every k-th element
DEFAULT_BINS = 64


@dataclass(frozen=True)
class SideHistogram:
    """Counts of one side's finite values in the shared bins, and what was left out."""

    counts: tuple[int, ...]
    finite: int
    nan: int
    inf: int
    mean: float | None


@dataclass(frozen=True)
class PairHistograms:
    """Histograms for one tensor pair. ``a``/``b`` are None for the side that lacks it;
    ``delta_edges``/``delta_counts`` are empty when Δ is not defined (shape change, one
    side only). ``step`` > 1 means every ``step``-th element was used."""

    path_a: tuple | None
    path_b: tuple | None
    edges: tuple[float, ...]
    a: SideHistogram | None
    b: SideHistogram | None
    delta_edges: tuple[float, ...] = ()
    delta_counts: tuple[int, ...] = ()
    delta_mean: float | None = None
    step: int = 1
    note: str = ""


# ---- One pair's histograms
def pair_histograms(path_a: str, path_b: str, key_a: tuple | None, key_b: tuple | None,
                    bins: int = DEFAULT_BINS) -> Iterator[PairHistograms | DiffProblem]:
    """Yield one :class:`PairHistograms` for the tensors at ``key_a`` in A and ``key_b`` in B.

    Stops without a result when the job is cancelled.
    """
    from inspector.core.formats import open_checkpoint

    opened: list[Checkpoint] = []
    try:
        infos: list[TensorInfo | None] = []
        for path, key in ((path_a, key_a), (path_b, key_b)):
            if key is None:
                infos.append(None)
                opened.append(None)  # type: ignore[arg-type]
                continue
            try:
                ck = open_checkpoint(path)
            except CheckpointError as e:
                yield DiffProblem(str(e))
                return
            opened.append(ck)
            node = ck.find(tuple(key))
            if node is None or node.tensor is None:
                yield DiffProblem(f"{path}: no tensor at {dotted_path(key)}")
                return
            infos.append(node.tensor)
        try:
            result = _pair_histograms(opened[0], opened[1], infos[0], infos[1], key_a, key_b,
                                      bins)
        except CheckpointError as e:
            yield DiffProblem(str(e))
            return
        if result is not None:
            yield result
    finally:
        for ck in opened:
            if ck is not None:
                ck.close()


def _pair_histograms(ck_a, ck_b, ia: TensorInfo | None, ib: TensorInfo | None,
                     key_a, key_b, bins: int) -> PairHistograms | None:
    notes = []
    same_shape = ia is not None and ib is not None and ia.shape == ib.shape
    aligned = same_shape and broadcast_dims(ia.shape, ia.stride) == broadcast_dims(
        ib.shape, ib.stride)
    if same_shape and not aligned:
        notes.append("A and B repeat their values differently (broadcast views): no "
                     "element-wise Δ")
    ia, rep_a = _distinct(ck_a, ia)
    ib, rep_b = _distinct(ck_b, ib)
    numel = max(ia.numel if ia else 0, ib.numel if ib else 0)
    step = max(1, math.ceil(numel / MAX_SAMPLES))
    ta = _flat(ck_a, ia, notes) if ia is not None else None
    tb = _flat(ck_b, ib, notes) if ib is not None else None
    # pass 1: the shared value range
    lo, hi = math.inf, -math.inf
    for t in (ta, tb):
        if t is None:
            continue
        for chunk in _chunks(t, step):
            if cancel_requested():
                return None
            finite = chunk[np.isfinite(chunk)]
            if finite.size:
                lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
    edges = _edges(lo, hi, bins)
    # pass 2: counts on the shared edges
    sides = []
    for t, repeat in ((ta, rep_a), (tb, rep_b)):
        if t is None:
            sides.append(None)
            continue
        side = _histogram(t, step, edges, repeat)
        if side is None:
            return None
        sides.append(side)
    delta_edges: tuple[float, ...] = ()
    delta_counts: tuple[int, ...] = ()
    delta_mean = None
    if ta is not None and tb is not None:
        if aligned and ta.numel() == tb.numel():
            d = _delta(ta, tb, step, bins)
            if d is None:
                return None
            delta_edges, delta_counts, delta_mean = d
            delta_counts = tuple(c * rep_a for c in delta_counts)
        elif ia.shape != ib.shape:
            notes.append(f"shapes differ ({shape_text(ia.shape)} vs {shape_text(ib.shape)}): "
                         "no element-wise Δ")
    return PairHistograms(path_a=tuple(key_a) if key_a is not None else None,
                          path_b=tuple(key_b) if key_b is not None else None,
                          edges=tuple(edges.tolist()), a=sides[0], b=sides[1],
                          delta_edges=delta_edges, delta_counts=delta_counts,
                          delta_mean=delta_mean, step=step, note="; ".join(notes))


def _distinct(ck: Checkpoint, info: TensorInfo | None) -> tuple[TensorInfo | None, int]:
    """The view without its broadcast dimensions and how often each value repeats; a view
    that would still read far more values than its storage holds is refused."""
    if info is None or info.storage is None:  # absent, or assembled from chunks
        return info, 1
    view = distinct_view(info.shape, info.stride)
    stored = info.storage.nbytes // max(1, info.itemsize)
    if over_work_cap(view.numel, stored):
        raise CheckpointError(ck.path, work_cap_problem(view.numel, stored))
    if view.repeat == 1:
        return info, 1
    return dataclasses.replace(info, shape=view.shape, stride=view.stride), view.repeat


def _flat(ck: Checkpoint, info: TensorInfo, notes: list[str]):
    """The tensor as a flat torch tensor (a view when contiguous)."""
    t = ck.tensor(info)
    if t.is_complex() and "complex values: magnitudes |z| shown" not in notes:
        notes.append("complex values: magnitudes |z| shown")
    return t.reshape(-1)


def _torch():
    import torch

    return torch


def _chunks(flat, step: int) -> Iterator[np.ndarray]:
    """float64 numpy chunks of a flat tensor, every ``step``-th element."""
    torch = _torch()
    n = flat.numel()
    span = CHUNK * step
    for start in range(0, n, span):
        part = flat[start:min(n, start + span):step]
        if part.is_complex():
            part = part.abs()
        yield part.to(torch.float64).numpy()


def _edges(lo: float, hi: float, bins: int) -> np.ndarray:
    if not math.isfinite(lo) or not math.isfinite(hi):
        lo, hi = 0.0, 1.0
    if lo == hi:
        pad = abs(lo) * 0.5 or 0.5
        lo, hi = lo - pad, hi + pad
    return np.linspace(lo, hi, max(1, bins) + 1)


def _histogram(flat, step: int, edges: np.ndarray, repeat: int) -> SideHistogram | None:
    """One side's counts on ``edges``; every value read stands for ``repeat`` values."""
    counts = np.zeros(len(edges) - 1, dtype=np.int64)
    finite = nan = inf = 0
    total = 0.0
    for chunk in _chunks(flat, step):
        if cancel_requested():
            return None
        isnan = np.isnan(chunk)
        isinf = np.isinf(chunk)
        good = chunk[~(isnan | isinf)]
        nan += int(isnan.sum())
        inf += int(isinf.sum())
        finite += good.size
        total += float(good.sum())
        counts += np.histogram(good, bins=edges)[0]
    return SideHistogram(counts=tuple(int(c) * repeat for c in counts), finite=finite * repeat,
                         nan=nan * repeat, inf=inf * repeat,
                         mean=total / finite if finite else None)


def _delta(ta, tb, step: int, bins: int):
    lo, hi = math.inf, -math.inf
    for ca, cb in zip(_chunks(ta, step), _chunks(tb, step), strict=True):
        if cancel_requested():
            return None
        d = cb - ca
        d = d[np.isfinite(d)]
        if d.size:
            lo, hi = min(lo, float(d.min())), max(hi, float(d.max()))
    edges = _edges(lo, hi, bins) if math.isfinite(lo) else _edges(0.0, 0.0, bins)
    counts = np.zeros(len(edges) - 1, dtype=np.int64)
    total, n = 0.0, 0
    for ca, cb in zip(_chunks(ta, step), _chunks(tb, step), strict=True):
        if cancel_requested():
            return None
        d = cb - ca
        d = d[np.isfinite(d)]
        n += d.size
        total += float(d.sum())
        counts += np.histogram(d, bins=edges)[0]
    return tuple(edges.tolist()), tuple(int(c) for c in counts), (total / n if n else None)
