"""Tensor bytes on demand: torch tensors over the memory-mapped file.

Only this module (and the modules doing tensor work) import torch, and only when a tensor
is actually needed, so listing a checkpoint never pays torch's import cost.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from inspector.core.model import CheckpointError, StorageInfo, TensorInfo

if TYPE_CHECKING:
    import torch


class ByteSource(Protocol):
    """What tensors are read from: an opened checkpoint (:class:`~inspector.core.checkpoint.
    Checkpoint`) that maps its files and hands out storage bytes."""

    path: str

    def storage_view(self, storage: StorageInfo) -> memoryview: ...


def torch_dtype(name: str) -> torch.dtype:
    import torch

    return getattr(torch, name)


def storage_tensor(ckpt: ByteSource, storage: StorageInfo, dtype: str) -> torch.Tensor:
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


def tensor_from_info(ckpt: ByteSource, info: TensorInfo) -> torch.Tensor:
    """The tensor ``info`` describes, viewing the file's bytes (read-only in spirit: the
    mapping is private, so nothing written to it could reach the file).

    A sharded tensor (layout ``"sharded"``) is the exception: see :func:`assemble_chunks`."""
    import torch

    if info.layout == "sharded":
        return assemble_chunks(ckpt, info)
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


def assemble_chunks(ckpt: ByteSource, info: TensorInfo) -> torch.Tensor:
    """A sharded tensor's values, copied from its chunks into one new contiguous tensor.

    Memory: one tensor of the full size (``info.nbytes``), allocated here; the chunks are
    read through the memory maps, one at a time, straight into their slices. The reader
    only marks a tensor sharded when its chunks cover it exactly, so every element is
    written once.
    """
    import torch

    if not info.chunks:
        raise CheckpointError(ckpt.path, f"this tensor has no data ({info.note or 'no chunks'})")
    out = torch.empty(info.shape, dtype=torch_dtype(info.dtype))
    for chunk in info.chunks:
        if tuple(chunk.view.shape) != tuple(chunk.sizes) or len(chunk.offsets) != out.dim():
            raise CheckpointError(ckpt.path, f"chunk at {list(chunk.offsets)} does not match "
                                             f"its view {list(chunk.view.shape)}")
        part = tensor_from_info(ckpt, chunk.view)
        try:
            out[tuple(slice(o, o + s) for o, s in zip(chunk.offsets, chunk.sizes))].copy_(part)
        finally:
            del part  # the view of the mapping goes before the next chunk is read
    return out
