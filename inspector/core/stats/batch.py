"""Many small tensors at once (for :func:`~inspector.core.stats.iter_stats`): segmented numpy
operations over their concatenated values, with the results of ``compute_stats``."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from inspector.core.checkpoint import Checkpoint, CheckpointError, TensorInfo
from inspector.core.stats.passes import MAX_BLOCK_ELEMS, make_stats
from inspector.core.stats.plan import Plan, plan_for
from inspector.core.stats.results import Histogram, TensorStats
from inspector.core.view_size import view_key

# iter_stats computes small tensors in batches (segmented numpy operations; the cost of a
# small tensor is Python calls, not bytes): tensors of at most BATCH_MAX_ELEMS elements,
# together at most MAX_BLOCK_ELEMS elements (and the caller's chunk), at least
# BATCH_MIN_TENSORS of them (below that the per-tensor path is as fast), at most
# BATCH_MAX_TENSORS, looking at most BATCH_WINDOW tensors ahead.
BATCH_MAX_ELEMS = 1 << 14
BATCH_MIN_TENSORS = 8
BATCH_MAX_TENSORS = 4096
BATCH_WINDOW = 8192


class Batcher:
    """Computes the small tensors ahead in ``todo`` together, into ``cache`` (by identity),
    with the results of :func:`compute_stats`: counts, min/max and histograms identical,
    sums equal up to rounding. A small tensor costs Python calls, not bytes, so one set
    of segmented numpy operations over thousands of them is ~20x cheaper."""

    def __init__(self, ckpt: Checkpoint, todo: list, bins: int, chunk_bytes: int,
                 cache: dict) -> None:
        self.ckpt, self.todo, self.bins, self.cache = ckpt, todo, bins, cache
        self.chunk_bytes = chunk_bytes
        # elements per batch; float64 temporaries of this many, like a block of one tensor
        self.budget = min(MAX_BLOCK_ELEMS, max(1, chunk_bytes // 4))
        self.next_scan = 0

    def run(self, start: int) -> None:
        """Compute a batch starting at ``todo[start]``, if enough small tensors follow."""
        if start < self.next_scan or self.bins < 0:
            return
        members: list[tuple[tuple, Plan]] = []
        seen: set[tuple] = set()
        elems = 0
        j = start
        end = min(len(self.todo), start + BATCH_WINDOW)
        while j < end and len(members) < BATCH_MAX_TENSORS:
            info = self.todo[j][1]
            key = view_key(info) if info is not None else None
            plan = None
            if key is not None and key not in self.cache and key not in seen:
                plan = self._eligible(info)
            if plan is not None:
                if members and elems + plan.numel > self.budget:
                    break
                seen.add(key)
                members.append((key, plan))
                elems += plan.numel
            j += 1
        self.next_scan = j
        if len(members) < BATCH_MIN_TENSORS:
            return  # the per-tensor path is as fast; it computes todo[start:j]
        with np.errstate(all="ignore"):
            results = self._compute([p for _, p in members])
        for (key, _), result in zip(members, results):
            if result is not None:
                self.cache[key] = result

    def _eligible(self, info: TensorInfo) -> Plan | None:
        """The plan of a tensor the batch computes exactly as compute_stats would: one
        block (compute_stats's single-block path), real values or unpacked patterns."""
        try:
            plan = plan_for(self.ckpt, info)
        except CheckpointError:
            return None  # compute_stats reports it
        plan.chunk_elems = max(1, self.chunk_bytes // plan.np_dtype.itemsize)
        if plan.repeat != 1:
            return None  # a broadcast: compute_stats scales its counts
        if not 0 < plan.numel <= min(BATCH_MAX_ELEMS, MAX_BLOCK_ELEMS, plan.chunk_elems):
            return None
        if plan.kind == "real":
            return plan
        if plan.kind == "patterns" and plan.numel == math.prod(plan.view_shape):
            return plan  # not packed: one value per element
        return None

    def _compute(self, plans: list[Plan]) -> list[TensorStats | None]:
        groups: dict[Any, list[int]] = {}
        for i, plan in enumerate(plans):
            groups.setdefault("real" if plan.kind == "real" else plan.dtype, []).append(i)
        views: dict[Any, memoryview] = {}
        results: list[TensorStats | None] = [None] * len(plans)
        for group, idxs in groups.items():
            members = [plans[i] for i in idxs]
            arrays = [self._flat(plan, views) for plan in members]
            if group == "real":
                y = np.concatenate(arrays, dtype=np.float64)
            else:
                table = members[0].table().ravel()
                bits = np.concatenate(arrays, dtype=np.uint16 if table.size > 256 else np.uint8)
                y = table[bits]
            del arrays
            for i, result in zip(idxs, segment_stats(members, y, group != "real", self.bins)):
                results[i] = result
        return results

    def _flat(self, plan: Plan, views: dict) -> np.ndarray:
        mv = views.get(plan.storage.ident)
        if mv is None:
            mv = views[plan.storage.ident] = self.ckpt.storage_view(plan.storage)
        size = plan.np_dtype.itemsize
        return np.ndarray(plan.view_shape, dtype=plan.np_dtype, buffer=mv,
                          offset=plan.view_offset * size,
                          strides=tuple(s * size for s in plan.view_stride)).reshape(-1)


def segment_stats(plans: list[Plan], y: np.ndarray, patterns: bool, bins: int
                   ) -> list[TensorStats | None]:
    """Statistics of consecutive segments of ``y`` (float64; segment i holds the values of
    ``plans[i]``), each as compute_stats computes it for a one-block tensor: the
    two-pass path (``patterns`` False) or the pattern path. None where a segment needs
    the per-tensor path (a histogram range that overflows float64)."""
    k = len(plans)
    sizes = np.fromiter((p.numel for p in plans), dtype=np.intp, count=k)
    starts = np.zeros(k, dtype=np.intp)
    np.cumsum(sizes[:-1], out=starts[1:])
    fin = np.isfinite(y)
    if fin.all():
        n_fin = sizes
        n_nan = n_inf = np.zeros(k, dtype=np.intp)
    else:
        n_fin = np.add.reduceat(fin, starts, dtype=np.intp)
        n_nan = np.add.reduceat(np.isnan(y), starts, dtype=np.intp)
        n_inf = sizes - n_fin - n_nan
        y = y[fin]
    out: list[TensorStats | None] = [None] * k
    n_nan_l, n_inf_l = n_nan.tolist(), n_inf.tolist()
    has = n_fin > 0
    for i in np.flatnonzero(~has).tolist():
        out[i] = make_stats(plans[i], None, None, None, None, None, None, 0, n_nan_l[i],
                        n_inf_l[i], 0, None)
    which = np.flatnonzero(has)
    m = which.size
    if m == 0:
        return out
    nf = n_fin[which]
    st = np.zeros(m, dtype=np.intp)
    np.cumsum(nf[:-1], out=st[1:])
    seg = np.repeat(np.arange(m, dtype=np.intp), nf)
    n = nf.astype(np.float64)
    lo = np.minimum.reduceat(y, st)
    hi = np.maximum.reduceat(y, st)
    zeros = np.add.reduceat(y == 0, st, dtype=np.intp)
    # the shifted sums of the two-pass path, the shift being each segment's mean
    shift = np.add.reduceat(y, st) / n
    bad = ~(np.isfinite(shift) & np.isfinite(shift - lo))
    shift[bad] = lo[bad]
    d = y - shift[seg]
    dev = np.add.reduceat(d, st)
    np.multiply(d, d, out=d)
    dev2 = np.add.reduceat(d, st)
    np.abs(y, out=d)
    abs_total = np.add.reduceat(d, st)
    del d
    mean = shift + dev / n
    m2 = dev2 - dev * dev / n
    if not patterns:
        abs_total = np.where(lo >= 0, mean * n, abs_total)
    const = lo == hi
    mean = np.where(const, lo, mean)
    m2 = np.where(const, 0.0, m2)
    abs_total = np.where(const, np.abs(lo) * n, abs_total)
    std = np.sqrt(np.maximum(m2, 0.0) / n)
    sq = m2 + n * mean * mean
    l2 = np.where(sq >= 0, np.sqrt(sq), np.nan)
    abs_mean = abs_total / n

    hist_edges: list | None = None
    overflow = np.zeros(m, dtype=bool)
    if bins:
        delta = hi - lo
        overflow = ~np.isfinite(delta)
        # every segment's np.linspace(lo, hi, bins + 1), computed as np.linspace does
        step = delta / bins
        j = np.arange(bins + 1, dtype=np.float64)
        edges = j * step[:, None]
        tiny = (step == 0) & ~const
        if tiny.any():  # np.linspace's way for subnormal steps
            edges[tiny] = (j / bins) * delta[tiny, None]
        edges += lo[:, None]
        edges[:, -1] = hi
        # small_histogram's index formula and one-bin correction, for all segments at once
        idx = ((y - lo[seg]) * (bins / delta)[seg]).astype(np.intp)
        np.clip(idx, 0, bins - 1, out=idx)
        flat = edges.ravel()
        base = seg * (bins + 1)
        idx -= y < flat[base + idx]
        idx += (y >= flat[base + idx + 1]) & (idx != bins - 1)
        idx += seg * bins
        counts = np.bincount(idx, minlength=m * bins).reshape(m, bins).tolist()
        hist_edges = edges.tolist()
        del idx, base, flat

    lo_l, hi_l, mean_l, std_l = lo.tolist(), hi.tolist(), mean.tolist(), std.tolist()
    abs_l, l2_l, zeros_l, nf_l = abs_mean.tolist(), l2.tolist(), zeros.tolist(), nf.tolist()
    const_l, overflow_l = const.tolist(), overflow.tolist()
    const_hists: dict[float, tuple] = {}
    new_stats, fields = object.__new__, _STATS_FIELDS
    for s, i in enumerate(which.tolist()):
        if overflow_l[s]:
            continue  # compute_stats bins it with a Binner
        hist = None
        if hist_edges is not None:
            if const_l[s]:
                v = lo_l[s]
                if v not in const_hists:
                    c, e = np.histogram(np.array([v]), bins=bins, range=(v, v))
                    const_hists[v] = (tuple(e.tolist()), c.tolist())
                e_t, c_l = const_hists[v]
                hist = Histogram(e_t, tuple(x * nf_l[s] for x in c_l))
            else:
                hist = Histogram(tuple(hist_edges[s]), tuple(counts[s]))
        plan = plans[i]
        # a frozen dataclass's __init__ costs ~6 us (one object.__setattr__ per field),
        # more than everything else per tensor here: fill the instance dict directly
        result = new_stats(TensorStats)
        result.__dict__.update(zip(fields, (
            plan.dtype, plan.shape, plan.numel, lo_l[s], hi_l[s], mean_l[s], std_l[s],
            abs_l[s], l2_l[s], zeros_l[s], n_nan_l[i], n_inf_l[i], nf_l[s], hist, plan.note)))
        out[i] = result
    return out


_STATS_FIELDS = tuple(f.name for f in dataclasses.fields(TensorStats))
