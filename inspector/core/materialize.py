"""Tensor bytes on demand: torch tensors over the memory-mapped file.

Only this module (and the modules doing tensor work) import torch, and only when a tensor
is actually needed, so listing a checkpoint never pays torch's import cost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from inspector.core.checkpoint import Checkpoint, CheckpointError, StorageInfo, TensorInfo

if TYPE_CHECKING:
    import torch


def torch_dtype(name: str) -> torch.dtype:
    import torch

    return getattr(torch, name)


def storage_tensor(ckpt: Checkpoint, storage: StorageInfo, dtype: str) -> torch.Tensor:
    """The storage's bytes as a flat tensor of ``dtype`` (no copy unless big-endian)."""
    import torch

    view = ckpt.storage_view(storage)
    if storage.nbytes == 0:
        return torch.empty(0, dtype=torch_dtype(dtype))
    flat = torch.frombuffer(view, dtype=torch.uint8)
    itemsize = torch.empty(0, dtype=torch_dtype(dtype)).element_size()
    usable = storage.nbytes - storage.nbytes % itemsize
    typed = flat[:usable].view(torch_dtype(dtype))
    if storage.byteorder == "big" and itemsize > 1:
        typed = flat[:usable].view(-1, itemsize).flip(1).contiguous().view(torch_dtype(dtype)).view(-1)
    return typed


def tensor_from_info(ckpt: Checkpoint, info: TensorInfo) -> torch.Tensor:
    """The tensor ``info`` describes, viewing the file's bytes (read-only in spirit: the
    mapping is private, so nothing written to it could reach the file)."""
    import torch

    if info.layout == "meta" or info.storage is None:
        raise CheckpointError(ckpt.path, f"this tensor has no data ({info.note or info.layout})")
    if info.note in ("view exceeds its storage", "negative stride"):
        raise CheckpointError(ckpt.path, f"tensor data cannot be read: {info.note}")
    if info.layout.startswith("sparse"):
        # the values only: indices live in other storages
        values = storage_tensor(ckpt, info.storage, info.dtype)
        return values
    dtype = info.dtype
    if info.layout == "quantized":
        dtype = {"qint8": "int8", "quint8": "uint8", "qint32": "int32"}.get(dtype, "uint8")
    flat = storage_tensor(ckpt, info.storage, dtype)
    if info.numel == 0:
        return torch.empty(info.shape, dtype=torch_dtype(dtype))
    return torch.as_strided(flat, info.shape, info.stride, info.storage_offset)
