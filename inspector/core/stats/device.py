"""Statistics pieces on a torch device (``iter_stats(..., device="cuda")``).

The same pieces and the same exact merges as the CPU path (module ``pieces``): a piece's
blocks are copied from the mapped file into one of two pinned host buffers while the device
works on the other (double buffering: the copy of buffer k waits only for the event recorded
after buffer k's last host-to-device transfer), then every block's float64 sums, counts and
bin indices are computed there with one kernel per quantity for a whole group of blocks.

What is identical to the CPU path: every count (NaN, Inf, zeros, finite, the histogram's
bins), min, max and the histogram edges (the shift of the variance and of the bin formula is
computed on the host from the first block, exactly as on the CPU, and the bin index is the
same sequence of correctly rounded float64 operations). What is not: the float64 sums of
each block are added in the device's order, so mean, std, abs_mean and l2 may differ from
the CPU's in the last bits: abs_mean and l2 within a relative 1e-12, mean and std within
1e-12 × (|mean| + std) (tested, see tests/core/test_stats_device.py and tests/gpu_check.py). Complex tensors (whose |z| the device could round
differently) and one-block tensors run on the CPU pool.

``device="torch:cpu"`` runs this very code with torch on the CPU (no pinned memory, no streams):
the tests use it to check the device path where no GPU is present.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

import inspector.core.stats.pieces as P
from inspector.core.checkpoint import Checkpoint, TensorInfo
from inspector.core.stats.parallel import Engine
from inspector.core.stats.passes import _Pass1
from inspector.core.stats.plan import native

STAGE_BYTES = 32 << 20  # one pinned staging buffer (there are two)
MIN_DEVICE_ELEMS = 1 << 20  # smaller tensors: the CPU pool is as fast


class DeviceUnavailable(RuntimeError):
    """The requested device cannot be used (no torch, no CUDA, bad name)."""


def open_device(name: str):
    """``torch.device(name)``, checked; raises :class:`DeviceUnavailable`. ``torch:cpu`` is
    torch's CPU (the device code without a GPU, for tests)."""
    if name == "torch:cpu":
        name = "cpu"
    elif not name.startswith("cuda"):
        raise DeviceUnavailable(f"device {name!r} is not supported (cuda, cuda:N)")
    try:
        import torch
    except ImportError:
        raise DeviceUnavailable("the GPU option needs PyTorch with CUDA") from None
    try:
        dev = torch.device(name)
    except RuntimeError as e:
        raise DeviceUnavailable(f"unknown device {name!r}: {e}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DeviceUnavailable("no CUDA device is available (torch.cuda.is_available() is "
                                "False)")
    return dev


class Stager:
    """Two host buffers (pinned on CUDA) and their device twins, used alternately."""

    def __init__(self, dev, nbytes: int):
        import torch

        self.torch, self.dev = torch, dev
        cuda = dev.type == "cuda"
        self.host = [torch.empty(nbytes, dtype=torch.uint8, pin_memory=cuda) for _ in range(2)]
        self.gpu = [torch.empty(nbytes, dtype=torch.uint8, device=dev) for _ in range(2)]
        self.events = [torch.cuda.Event() if cuda else None for _ in range(2)]
        self.turn = 0
        self.nbytes = nbytes

    def put(self, arrays: list[np.ndarray], dtype: np.dtype):
        """Copy ``arrays`` (flattened, one after the other) to the device; returns the
        device tensor of their values in ``dtype`` (a view of the staging buffer)."""
        k = self.turn
        self.turn ^= 1
        if self.events[k] is not None:
            self.events[k].synchronize()  # buffer k's previous transfer is done
        host = self.host[k].numpy().view(dtype)
        at = 0
        for a in arrays:
            np.copyto(host[at:at + a.size].reshape(a.shape), a)
            at += a.size
        nbytes = at * dtype.itemsize
        dst = self.gpu[k][:nbytes]
        dst.copy_(self.host[k][:nbytes], non_blocking=self.dev.type == "cuda")
        if self.events[k] is not None:
            self.events[k].record()
        return dst, at


_TORCH_VIEW = {1: "uint8", 2: "int16", 4: "int32", 8: "int64"}


def _groups(grid, piece: P.Piece, cap: int, halt: Callable[[], bool]):
    """The piece's blocks in runs of equal size, at most ``cap`` elements per run."""
    run: list[np.ndarray] = []
    size = 0
    for x in grid.range(piece.start, piece.stop, halt):
        if run and (x.size != run[0].size or size + x.size > cap):
            yield run
            run, size = [], 0
        run.append(x)
        size += x.size
    if run:
        yield run


class DeviceWork:
    """Phase 1 and phase 2 of a piece on the device; results are pieces' Scan/Bins."""

    def __init__(self, dev):
        self.dev = dev
        self.stager = Stager(dev, STAGE_BYTES)

    def _values(self, lay: P.Layout, blocks: list[np.ndarray]):
        """The run's values on the device as float64, shape (blocks, block size)."""
        torch = self.stager.torch
        dt = lay.plan.np_dtype
        host_dtype = dt.newbyteorder("=") if not dt.isnative else dt
        raw, n = self.stager.put(blocks, host_dtype)
        t = raw[:n * dt.itemsize]
        name = {"f": {4: "float32", 8: "float64", 2: "float16"},
                "i": {1: "int8", 2: "int16", 4: "int32", 8: "int64"},
                "u": {1: "uint8", 2: "uint16", 4: "uint32", 8: "uint64"}}[dt.kind][dt.itemsize]
        t = t.view(getattr(torch, name)) if hasattr(torch, name) else None
        if t is None:
            raise DeviceUnavailable(f"no torch dtype for {dt}")
        return t.to(torch.float64).view(len(blocks), -1)

    def scan(self, ckpt: Checkpoint, info: TensorInfo, piece: P.Piece, *, lay: P.Layout,
             cancel: Callable[[], bool] = P._never, **_kw) -> P.Scan:
        torch = self.stager.torch
        plan = lay.plan
        cap = STAGE_BYTES // plan.np_dtype.itemsize
        if plan.kind == "patterns":
            size = 256 if plan.np_dtype.itemsize == 1 else 65536
            counts = torch.zeros(size, dtype=torch.int64, device=self.dev)
            for run in _groups(lay.grid, piece, cap, cancel):
                raw, n = self.stager.put(run, plan.np_dtype.newbyteorder("="))
                bits = raw[:n * plan.np_dtype.itemsize].view(getattr(torch, _TORCH_VIEW[
                    plan.np_dtype.itemsize])).to(torch.int64) & (size - 1)
                counts += torch.bincount(bits, minlength=size)
            return P.Scan(piece.index, patterns=counts.cpu().numpy())
        host = _Pass1()  # the shift: the first finite block's mean, computed as on the CPU
        floats = plan.value_kind == "float"
        tally = torch.zeros(2, dtype=torch.int64, device=self.dev)  # finite, NaN
        lo, hi = [], []
        total = 0
        for run in _groups(lay.grid, piece, cap, cancel):
            if host.shift is None:
                for x in run:
                    host.add(native(x), plan.value_kind)
                    if host.shift is not None:
                        break
            v = self._values(lay, run)
            total += v.numel()
            if floats:  # accumulated on the device: no synchronisation per run
                fin = torch.isfinite(v)
                tally += torch.stack([fin.sum(), torch.isnan(v).sum()])
                lo.append(torch.where(fin, v, math.inf).min())
                hi.append(torch.where(fin, v, -math.inf).max())
            else:
                lo.append(v.min())
                hi.append(v.max())
        if not lo:
            return P.Scan(piece.index)
        lo_v, hi_v = torch.stack([torch.stack(lo).min(), torch.stack(hi).max()]).tolist()
        n_fin, n_nan = tally.tolist() if floats else (total, 0)
        return P.Scan(piece.index, n_nan, total - n_fin - n_nan, n_fin,
                      lo_v if n_fin else math.inf, hi_v if n_fin else -math.inf, host.shift,
                      piece.index if host.shift is not None else -1)

    def bins(self, ckpt: Checkpoint, info: TensorInfo, piece: P.Piece, scan: P.Scan, *,
             bins: int, lay: P.Layout, binner=None, cancel: Callable[[], bool] = P._never,
             **_kw) -> P.Bins:
        torch = self.stager.torch
        plan = lay.plan
        shift = P._shift(P._p1_of(scan))
        cap = STAGE_BYTES // plan.np_dtype.itemsize
        drop = scan.n_nan + scan.n_inf > 0
        want_abs = scan.lo < 0
        nb = binner.bins if binner is not None else 0
        counts = torch.zeros(nb + 1, dtype=torch.int64, device=self.dev)
        zeros = torch.zeros((), dtype=torch.int64, device=self.dev)
        sums = []
        for run in _groups(lay.grid, piece, cap, cancel):
            v = self._values(lay, run)
            fin = torch.isfinite(v) if drop else None
            d = v - shift
            if fin is not None:
                d = torch.where(fin, d, 0.0)
            a = v.abs() if want_abs else None
            if a is not None and fin is not None:
                a = torch.where(fin, a, 0.0)
            zeros += (v == 0).sum()
            parts = [d.sum(1), (d * d).sum(1)]
            parts.append(a.sum(1) if a is not None else torch.zeros_like(parts[0]))
            sums.append(torch.stack(parts))
            if binner is not None:
                if binner.scale == 1.0:
                    f = d if fin is None else v - shift
                else:
                    f = v * binner.scale - binner.shift
                f = (f + binner.offset) * binner.norm
                idx = f.to(torch.int64)
                if fin is not None:
                    idx = torch.where(fin, idx, nb)
                counts += torch.bincount(idx.reshape(-1), minlength=nb + 1)
        table = torch.cat(sums, dim=1).cpu().numpy() if sums else np.zeros((3, 0))
        return P.Bins(piece.index, int(zeros), np.arange(piece.start, piece.stop, dtype=np.int64),
                      table[2].copy(), table[0].copy(), table[1].copy(),
                      counts[:nb].cpu().numpy() if binner is not None else None)


def on_device(lay: P.Layout) -> bool:
    """Whether a tensor's pieces go to the device (big, real or bit-pattern values)."""
    return (lay.grid is not None and not lay.single and lay.plan.kind in ("real", "patterns")
            and lay.plan.numel >= MIN_DEVICE_ELEMS)


class DeviceEngine(Engine):
    """The CPU engine, with big tensors' pieces sent to one device thread."""

    def __init__(self, ckpt: Checkpoint, bins: int, chunk_bytes: int, workers: int | None,
                 stop: Callable[[], bool], device: str):
        self.work = DeviceWork(open_device(device))
        super().__init__(ckpt, bins, chunk_bytes, workers, stop, processes=False)
        self.feeder = ThreadPoolExecutor(1, thread_name_prefix="stats-device")

    def submit(self, fn: Callable, *args, **kw) -> Future:
        lay = kw.get("lay")
        if fn in (P.scan_piece, P.bin_piece) and lay is not None and on_device(lay):
            target = self.work.scan if fn is P.scan_piece else self.work.bins
            kw["cancel"] = self.halted
            if fn is P.bin_piece:
                kw.setdefault("bins", self.bins)
            with self._lock:
                self.queued += 1
            return self.feeder.submit(self._run, target, args, kw)
        return super().submit(fn, *args, **kw)

    def close(self) -> None:
        super().close()
        self.feeder.shutdown(wait=True, cancel_futures=True)
