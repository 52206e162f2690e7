"""Diff pieces on a torch device (``iter_diff(..., device="cuda")``).

The pieces, results and merges of module ``pieces``; a piece's chunks of both sides are
staged through the statistics' pinned double buffers (:class:`~inspector.core.stats.device.
Stager`) and compared with one kernel per quantity for a run of equal-sized chunks.
Identical to the CPU path: identical/not, every count (differing elements, NaN), max |Δ|
and ``close``; the per-chunk float64 sums are added in the device's order (mean |Δ|,
rel L2 and cosine within a relative 1e-12 of the CPU's). Small pairs, complex values and
big-endian files are compared on the CPU pool.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

import inspector.core.diff.pieces as D
from inspector.core.stats.device import STAGE_BYTES, Stager, open_device

MIN_DEVICE_ELEMS = 1 << 20


def on_device(plan: D.PairPlan) -> bool:
    return (plan.work == "float64" and math.prod(plan.shape) >= MIN_DEVICE_ELEMS
            and all(not s[2].startswith(">") for s in (plan.side_a, plan.side_b)))


class DeviceDiff:
    """Runs equal_piece/diff_piece of big pairs on one device thread."""

    def __init__(self, device: str):
        self.dev = open_device(device)
        import torch

        self.torch = torch
        self.stagers = (Stager(self.dev, STAGE_BYTES), Stager(self.dev, STAGE_BYTES))
        self.feeder = ThreadPoolExecutor(1, thread_name_prefix="diff-device")

    def submit(self, engine, fn: Callable, ck_a, ck_b, plan: D.PairPlan, piece, **kw) -> Future:
        """Queue ``fn``'s device twin for the piece on the device thread."""
        kw["cancel"] = engine.halted
        target = self.equal if fn is D.equal_piece else self.diff
        with engine._lock:
            engine.queued += 1
        return self.feeder.submit(engine._run, target, (ck_a, ck_b, plan, piece), kw)

    def _runs(self, views, piece: D.Piece, cancel):
        """Runs of equal-sized chunk pairs, at most a staging buffer per side."""
        cap = STAGE_BYTES // 8
        run_a, run_b, size = [], [], 0
        for ca, cb in views.chunks(piece, cancel):
            if run_a and (ca.size != run_a[0].size or size + ca.size > cap):
                yield run_a, run_b
                run_a, run_b, size = [], [], 0
            run_a.append(ca)
            run_b.append(cb)
            size += ca.size
        if run_a:
            yield run_a, run_b

    def _put(self, k: int, arrays: list[np.ndarray], name: str):
        torch = self.torch
        dt = arrays[0].dtype
        raw, n = self.stagers[k].put(arrays, dt)
        t = raw[:n * dt.itemsize].view(getattr(torch, name))
        return t.view(len(arrays), -1)

    def equal(self, ck_a, ck_b, plan: D.PairPlan, piece: D.Piece, *, cancel, **_kw) -> bool:
        views = D._Views(ck_a, ck_b, plan)
        for run_a, run_b in self._runs(views, piece, cancel):
            if not self.torch.equal(self._put(0, run_a, "uint8"), self._put(1, run_b, "uint8")):
                return False
        return True

    def diff(self, ck_a, ck_b, plan: D.PairPlan, piece: D.Piece, *, tol=None, cancel,
             **_kw) -> D.DiffPart:
        torch = self.torch
        views = D._Views(ck_a, ck_b, plan)
        f64 = torch.float64
        sums, maxes = [], []
        tally = torch.zeros(4, dtype=torch.int64, device=self.dev)  # valid, nan a, nan b, diff
        close = torch.ones((), dtype=torch.bool, device=self.dev)
        name_a, name_b = plan.side_a[1], plan.side_b[1]
        for run_a, run_b in self._runs(views, piece, cancel):
            ra, rb = self._put(0, run_a, name_a), self._put(1, run_b, name_b)
            a, b = ra.to(f64), rb.to(f64)
            na, nb = torch.isnan(a), torch.isnan(b)
            keep = ~(na | nb)
            eq = a == b
            ad = torch.where(keep & ~eq, (a - b).abs(), 0.0)
            fin = torch.isfinite(a) & torch.isfinite(b)
            af, bf, df = (torch.where(fin, x, 0.0) for x in (a, b, ad))
            sums.append(torch.stack([ad.sum(1), (df * df).sum(1), (af * af).sum(1),
                                     (bf * bf).sum(1), (af * bf).sum(1)], dim=1))
            maxes.append(ad.max())
            if plan.same_dtype:
                differ = (_bits(torch, ra) != _bits(torch, rb)).sum()
            else:
                differ = ((a != b) & ~(na & nb)).sum()
            tally += torch.stack([keep.sum(), na.sum(), nb.sum(), differ])
            if tol is not None:
                atol, rtol = tol
                ok = eq | (fin & (ad <= atol + rtol * b.abs()))
                close &= (ok & keep).all()
        count = piece.stop - piece.start
        table = torch.cat(sums).cpu().numpy() if sums else np.zeros((count, 5))
        n_valid, nan_a, nan_b, differ = tally.tolist()
        max_abs = float(torch.stack(maxes).max()) if maxes and n_valid else 0.0
        return D.DiffPart(piece.index, np.arange(piece.start, piece.stop, dtype=np.int64),
                          table, max_abs, n_valid, nan_a, nan_b, differ, bool(close))

    def close(self) -> None:
        self.feeder.shutdown(wait=True, cancel_futures=True)


def _bits(torch, t):
    size = t.element_size()
    return t if size == 1 else t.view({2: torch.int16, 4: torch.int32, 8: torch.int64}[size])
