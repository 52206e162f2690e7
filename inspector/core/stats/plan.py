"""What to read for a tensor's statistics and how: its plan, and blocks of its strided view."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from inspector.core.checkpoint import Checkpoint, CheckpointError, StorageInfo, TensorInfo
from inspector.core.dtypes import canonical, dtype_info
from inspector.core.stats.results import StatsCancelled
from inspector.core.view_size import distinct_view, over_work_cap, work_cap_problem


@dataclass
class Plan:
    dtype: str                 # the tensor's dtype, as reported
    shape: tuple[int, ...]     # the tensor's shape, as reported
    storage: StorageInfo
    np_dtype: np.dtype         # how one element's bytes are viewed
    view_shape: tuple[int, ...]
    view_stride: tuple[int, ...]  # in elements
    view_offset: int              # in elements
    numel: int                    # values summarized (packed types: unpacked count)
    kind: str                     # "patterns", "real", "complex"
    value_kind: str               # "float", "int", "uint" (for the real path)
    table: Callable[[], np.ndarray] | None = None  # patterns -> values, shape (n, per_element)
    note: str = ""
    chunk_elems: int = 1          # the caller's chunk_bytes in elements
    buffer: Any = None            # the bytes to read instead of the storage's (assembled)
    repeat: int = 1               # the view's broadcast: each value read stands for this many


_PACKED = {"float4_e2m1fn_x2": 2, "quint4x2": 2, "quint2x4": 4}
_QUANTIZED_INT = {"qint8": "int8", "quint8": "uint8", "qint32": "int32",
                  "quint4x2": "quint4x2", "quint2x4": "quint2x4"}


def plan_for(ckpt: Checkpoint, info: TensorInfo) -> Plan:
    if info.layout == "sharded":
        return _assembled_plan(ckpt, info)
    dtype = canonical(info.dtype)
    if info.layout == "meta" or info.storage is None:
        raise CheckpointError(ckpt.path, f"this tensor has no data ({info.note or info.layout}); "
                                         f"no statistics")
    if info.note.startswith("unknown dtype"):
        raise CheckpointError(ckpt.path, f"{info.note}: cannot compute statistics")
    if info.note in ("view exceeds its storage", "negative stride"):
        raise CheckpointError(ckpt.path, f"tensor data cannot be read: {info.note}")
    storage = info.storage
    note = ""
    value_dtype = dtype
    if info.layout == "quantized" or dtype in _QUANTIZED_INT:
        value_dtype = _QUANTIZED_INT.get(dtype, "uint8")
        note = "quantized: statistics of the stored integers (scale and zero point not applied)"
    try:
        facts = dtype_info(value_dtype)
    except KeyError:
        raise CheckpointError(ckpt.path, f"unknown dtype {dtype!r}: cannot compute statistics") from None
    if info.layout.startswith("sparse"):
        count = storage.nbytes // facts.itemsize
        shape, stride, offset = (count,), (1,), 0
        note = f"{info.layout}: statistics of the {count} stored values"
    else:
        shape, stride, offset = tuple(info.shape), tuple(info.stride), info.storage_offset
        if info.layout == "nested":
            note = "nested tensor: statistics of its buffer"
    if any(s < 0 for s in stride) and math.prod(shape) > 1:
        raise CheckpointError(ckpt.path, "tensor data cannot be read: negative stride")
    order = ">" if storage.byteorder == "big" else "<"
    numel = math.prod(shape)
    itemsize = facts.itemsize
    if numel:
        last = offset + sum((n - 1) * s for n, s in zip(shape, stride))
        if offset < 0 or (last + 1) * itemsize > storage.nbytes:
            raise CheckpointError(ckpt.path, "tensor data cannot be read: the view lies outside "
                                             "its storage")
    # read each stored value of a broadcast once; refuse views that read far more than stored
    view = distinct_view(shape, stride)
    shape, stride, numel, repeat = view.shape, view.stride, view.numel, view.repeat
    stored = storage.nbytes // itemsize
    if over_work_cap(numel, stored):
        raise CheckpointError(ckpt.path, work_cap_problem(numel, stored))

    if value_dtype in _PACKED:
        per = _PACKED[value_dtype]
        return Plan(dtype, tuple(info.shape), storage, np.dtype("u1"), shape, stride, offset,
                     numel * per, "patterns", "float",
                     lambda: packed_table(value_dtype), note or f"{per} packed values per byte",
                     repeat=repeat)
    if facts.kind == "complex":
        comp = {16: "f8", 8: "f4", 4: "f2"}[itemsize]
        np_dtype = np.dtype([("re", order + comp), ("im", order + comp)])
        return Plan(dtype, tuple(info.shape), storage, np_dtype, shape, stride, offset, numel,
                     "complex", "float", note=note or "complex: statistics of the magnitudes |z|",
                     repeat=repeat)
    if itemsize <= 2:
        np_dtype = np.dtype("u1" if itemsize == 1 else order + "u2")
        return Plan(dtype, tuple(info.shape), storage, np_dtype, shape, stride, offset, numel,
                     "patterns", facts.kind, lambda: pattern_table(value_dtype), note,
                     repeat=repeat)
    if facts.numpy is None:
        raise CheckpointError(ckpt.path, f"dtype {dtype} is not supported for statistics")
    np_dtype = np.dtype(order + facts.numpy[1:])
    value_kind = {"float": "float", "int": "int", "quantized": "int"}.get(facts.kind, "uint")
    return Plan(dtype, tuple(info.shape), storage, np_dtype, shape, stride, offset, numel,
                "real", value_kind, note=note, repeat=repeat)


def _assembled_plan(ckpt: Checkpoint, info: TensorInfo) -> Plan:
    """The plan of a sharded tensor: its chunks are assembled into one contiguous tensor in
    memory (``info.nbytes`` of it, for as long as the statistics run), then read exactly
    as the same tensor stored whole would be, so the results are identical to its."""
    import torch

    from inspector.core.materialize import tensor_from_info

    whole = tensor_from_info(ckpt, info).contiguous()
    raw = whole.reshape(-1).view(torch.uint8).numpy()
    storage = StorageInfo(key="(assembled from chunks)", dtype=info.dtype, numel=info.numel,
                          location="cpu", file=ckpt.path, file_offset=0, nbytes=raw.nbytes,
                          byteorder=sys.byteorder)
    stride = tuple(whole.stride()) if whole.dim() else ()
    plan = plan_for(ckpt, TensorInfo(dtype=info.dtype, shape=tuple(info.shape), stride=stride,
                                  storage_offset=0, storage=storage))
    plan.buffer = memoryview(raw)
    return plan


@cache
def pattern_table(dtype: str) -> np.ndarray:
    """Every bit pattern of a 1- or 2-byte dtype decoded to float64, shape (2**bits, 1)."""
    facts = dtype_info(dtype)
    if facts.itemsize == 1:
        pats = np.arange(256, dtype=np.uint8)
    else:
        pats = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    if dtype == "bfloat16":
        values = (pats.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    elif facts.numpy is not None:
        values = pats.view(np.dtype(facts.numpy).newbyteorder("=")).astype(np.float64)
    elif dtype in _FLOAT8:
        values = _float8_values(dtype)
    elif facts.kind == "float":
        import torch

        t = torch.from_numpy(pats.copy()).view(getattr(torch, dtype))
        values = t.to(torch.float64).numpy()
    elif facts.kind == "int":  # int1..int7: one element per byte, read as int8
        values = pats.view(np.int8).astype(np.float64)
    else:  # uint1..uint7 and raw bits: the byte's value
        values = pats.astype(np.float64)
    values = values.reshape(-1, 1)
    values.flags.writeable = False
    return values


# float8 layouts: (exponent bits, mantissa bits, bias, NaN rule); "fn": all-ones exponent and
# mantissa is NaN, no inf; "fnuz": only 0x80 is NaN (no -0, no inf); "ieee": as IEEE (inf).
_FLOAT8 = {"float8_e4m3fn": (4, 3, 7, "fn"), "float8_e4m3fnuz": (4, 3, 8, "fnuz"),
           "float8_e5m2": (5, 2, 15, "ieee"), "float8_e5m2fnuz": (5, 2, 16, "fnuz")}


def _float8_values(dtype: str) -> np.ndarray:
    """Every byte of a float8 dtype decoded exactly in numpy (no torch import)."""
    b = np.arange(256, dtype=np.int64)
    if dtype == "float8_e8m0fnu":  # a bare exponent: 2**(e - 127), 0xFF is NaN
        values = np.ldexp(1.0, b - 127)
        values[255] = np.nan
        return values
    ebits, mbits, bias, rule = _FLOAT8[dtype]
    sign = np.where(b >> 7, -1.0, 1.0)
    e = (b >> mbits) & ((1 << ebits) - 1)
    m = (b & ((1 << mbits) - 1)).astype(np.float64)
    normal = np.ldexp(1.0 + m / (1 << mbits), e - bias)
    sub = np.ldexp(m / (1 << mbits), 1 - bias)
    values = sign * np.where(e == 0, sub, normal)
    top = e == (1 << ebits) - 1
    if rule == "fn":
        values[top & (m == (1 << mbits) - 1)] = np.nan
    elif rule == "fnuz":
        values[0x80] = np.nan
    else:  # ieee
        values[top & (m == 0)] = sign[top & (m == 0)] * np.inf
        values[top & (m != 0)] = np.nan
    return values


_FP4 = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, -0.0, -0.5, -1.0, -1.5, -2.0, -3.0, -4.0, -6.0)


@cache
def packed_table(dtype: str) -> np.ndarray:
    """Every byte of a packed sub-byte dtype unpacked to its values, shape (256, per_byte)."""
    b = np.arange(256, dtype=np.int64)
    if dtype == "float4_e2m1fn_x2":
        fp4 = np.array(_FP4)
        table = np.stack([fp4[b & 15], fp4[b >> 4]], axis=1)
    elif dtype == "quint4x2":
        table = np.stack([b & 15, b >> 4], axis=1).astype(np.float64)
    else:
        table = np.stack([(b >> s) & 3 for s in (0, 2, 4, 6)], axis=1).astype(np.float64)
    table.flags.writeable = False
    return table


def progress_bytes(info: TensorInfo | None) -> int:
    if info is not None and info.layout == "sharded":
        return info.nbytes
    if info is None or info.storage is None:
        return 0
    if info.layout.startswith("sparse"):
        return info.storage.nbytes
    try:
        return info.nbytes
    except KeyError:
        return 0


# ---- Reading blocks of a strided view
class BlockGrid:
    """The view's elements cut into numbered blocks of at most ``block`` elements each:
    ``grid[i]`` is block ``i`` as a zero-copy numpy view over the mapped bytes, for
    ``0 <= i < len(grid)``. The order of elements is not the tensor's (statistics do not
    depend on it): dimensions are reordered so memory is read as sequentially as possible.
    The cut points depend only on the view and ``block``, so a range of blocks is a piece of
    work that any thread or process computes the same way."""

    def __init__(self, ckpt: Checkpoint, plan: Plan, block: int):
        self.mv = plan.buffer if plan.buffer is not None else ckpt.storage_view(plan.storage)
        self.dtype = plan.np_dtype
        itemsize = self.itemsize = plan.np_dtype.itemsize
        dims = [(n, s) for n, s in zip(plan.view_shape, plan.view_stride) if n != 1]
        dims.sort(key=lambda d: -d[1])  # largest stride outermost; stable for equal strides
        merged: list[list[int]] = []
        for n, s in dims:
            if merged and merged[-1][1] == s * n:
                merged[-1] = [merged[-1][0] * n, s]
            else:
                merged.append([n, s])
        if not merged:
            merged = [[1, 1]]
        sizes = [n for n, _ in merged]
        strides = [s for _, s in merged]
        # split: dims[k+1:] are whole in every block; dim k is cut into slabs of `rows`
        inner = 1
        k = len(sizes) - 1
        while k > 0 and inner * sizes[k] <= block:
            inner *= sizes[k]
            k -= 1
        if inner * sizes[k] <= block:
            rows = sizes[k]
        else:
            rows = max(1, block // inner)
        self.rows, self.cut, self.cut_stride = rows, sizes[k], strides[k]
        self.tail_shape = tuple(sizes[k + 1:])
        self.tail_strides = tuple(s * itemsize for s in strides[k + 1:])
        self.outer_sizes = sizes[:k]
        self.outer_strides = strides[:k]
        self.per_outer = -(-sizes[k] // rows)
        self.offset = plan.view_offset
        self.count = math.prod(self.outer_sizes) * self.per_outer

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> np.ndarray:
        o, j = divmod(i, self.per_outer)
        base = self.offset
        for n, s in zip(reversed(self.outer_sizes), reversed(self.outer_strides)):
            o, idx = divmod(o, n)
            base += idx * s
        r0 = j * self.rows
        r = min(self.rows, self.cut - r0)
        start = base + r0 * self.cut_stride
        return np.ndarray((r, *self.tail_shape), dtype=self.dtype, buffer=self.mv,
                          offset=start * self.itemsize,
                          strides=(self.cut_stride * self.itemsize, *self.tail_strides))

    def range(self, start: int, stop: int, halt: Callable[[], bool]) -> Iterator[np.ndarray]:
        """Blocks ``start`` to ``stop - 1``; StatsCancelled when ``halt()`` says stop."""
        for i in range(start, stop):
            if halt():
                raise StatsCancelled()
            yield self[i]


def blocks(ckpt: Checkpoint, plan: Plan, block: int, stop: Callable[[], bool]
            ) -> Iterator[np.ndarray]:
    """Every block of the view's :class:`BlockGrid`, in order."""
    grid = BlockGrid(ckpt, plan, block)
    return grid.range(0, len(grid), stop)


def native(x: np.ndarray) -> np.ndarray:
    return x if x.dtype.isnative else x.astype(x.dtype.newbyteorder("="))


def magnitudes(x: np.ndarray) -> np.ndarray:
    return np.hypot(x["re"].astype(np.float64), x["im"].astype(np.float64))
