"""Counting the model weights: each view once, bytes per dtype, the parameter order."""

from __future__ import annotations

import math
from collections.abc import Iterable

from inspector.core.checkpoint import TensorInfo
from inspector.core.state_dict import WeightEntry
from inspector.core.summary.results import DTypeShare
from inspector.core.view_size import view_key


def view_ident(info: TensorInfo) -> tuple:
    """What makes two tensors the same view of the same bytes (tied weights count once); a
    tensor without a storage is only ever itself."""
    return view_key(info) or ("nostorage", id(info))


_ITEMSIZES: dict[str, int] = {}


def tensor_nbytes(info: TensorInfo) -> int:
    """``info.nbytes`` without its dtype-table lookup per call (one call per tensor)."""
    size = _ITEMSIZES.get(info.dtype)
    if size is None:
        size = _ITEMSIZES[info.dtype] = info.itemsize
    return math.prod(info.shape) * size


def _itemsizes(dtypes: Iterable[str], infos: dict[str, TensorInfo]) -> dict[str, int]:
    return {d: infos[d].itemsize for d in dtypes}


def parameter_list(entries: Iterable[WeightEntry]) -> list[WeightEntry]:
    """The model's parameters in order: buffers and tied duplicates left out
    (``model.parameters()`` yields a tied parameter once)."""
    out, seen = [], set()
    for e in entries:
        if e.is_buffer:
            continue
        ident = view_ident(e.info)
        if ident in seen:
            continue
        seen.add(ident)
        out.append(e)
    return out


def dtype_mix(tensors: list[tuple[tuple, TensorInfo]]) -> tuple[DTypeShare, ...]:
    """Tensors and bytes per dtype (each view once), largest share first."""
    counts: dict[str, int] = {}
    numels: dict[str, int] = {}  # elements per dtype (each view once); bytes at the end
    first: dict[str, TensorInfo] = {}
    seen: set = set()
    prod = math.prod
    for _, info in tensors:
        dtype = info.dtype
        counts[dtype] = counts.get(dtype, 0) + 1
        ident = view_ident(info)
        if ident not in seen:
            seen.add(ident)
            numels[dtype] = numels.get(dtype, 0) + prod(info.shape)
            if dtype not in first:
                first[dtype] = info
    sizes = _itemsizes(numels, first)
    nbytes = {d: n * sizes[d] for d, n in numels.items()}
    shares = [DTypeShare(d, counts[d], nbytes.get(d, 0)) for d in counts]
    return tuple(sorted(shares, key=lambda s: (-s.nbytes, -s.count, s.dtype)))
