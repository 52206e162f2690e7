"""A tensor's values as a stream of C-ordered numpy blocks of bounded size, and dtype casts.

Conversion reads with ``os.pread`` into fresh buffers rather than through the memory map:
pages read through a mapping count in the process's resident memory until it goes away,
while pages read with ``pread`` stay in the page cache, so converting a 10 GB file costs a
few blocks of memory, not 10 GB. Only numpy is needed (torch is never imported here).

Values keep their bits: dtypes numpy lacks (bfloat16, the float8s) travel as unsigned
integers of the same width. :func:`cast_block` converts float blocks exactly as torch's
``Tensor.to`` does (checked against torch in the tests).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator

import numpy as np

from inspector.core.dtypes import DTYPES, canonical
from inspector.core.materialize import ByteSource
from inspector.core.model import CheckpointError, TensorInfo

BLOCK_BYTES = 16 << 20  # bytes per block read or written
CASTABLE = frozenset({"float64", "float32", "float16", "bfloat16"})
CAST_TARGETS = ("bfloat16", "float16", "float32")
MAX_EXPANSION = 256 << 20  # bytes a view may hold beyond its storage's size (broadcasts)
_BAD_NOTES = ("view exceeds its storage", "negative stride")


class NotConvertible(Exception):
    """A tensor whose values cannot be written as a dense tensor (the message says why)."""


def raw_dtype(itemsize: int) -> np.dtype:
    """A numpy dtype that holds ``itemsize`` bytes per element unchanged."""
    return np.dtype({1: "u1", 2: "<u2", 4: "<u4", 8: "<u8"}.get(itemsize, f"V{itemsize}"))


def value_dtype(dtype: str) -> np.dtype:
    """The numpy dtype a block of ``dtype`` values arrives in: the real one where numpy has
    it (little-endian), otherwise raw bits of the same width."""
    info = DTYPES[canonical(dtype)]
    if info.numpy is not None and info.kind in ("float", "complex", "int", "uint", "bool"):
        return np.dtype(info.numpy)
    return raw_dtype(info.itemsize)


def convertible_reason(info: TensorInfo) -> str | None:
    """Why ``info`` cannot be written as a dense tensor, or None when it can."""
    if info.layout == "sharded":
        return None if info.chunks else (info.note or "a sharded tensor without chunks")
    if info.layout != "strided":
        return f"a {info.layout} tensor (only dense tensors are converted)"
    if info.storage is None:
        return f"no data ({info.note or 'meta tensor'})"
    if info.note in _BAD_NOTES:
        return f"its data cannot be read ({info.note})"
    if canonical(info.dtype) not in DTYPES:
        return f"unknown dtype {info.dtype}"
    if any(s < 0 for s in info.stride) or info.storage_offset < 0:
        return "its data cannot be read (negative stride or offset)"
    if info.numel and info.storage_span()[1] * info.itemsize > info.storage.nbytes:
        return "its data cannot be read (its view lies outside its storage)"
    if info.nbytes > max(info.storage.nbytes, 1) and info.nbytes > MAX_EXPANSION:
        # a zero-stride view repeats its storage: written out it could fill the disk
        return (f"an expanded view ({info.nbytes} bytes of values from a storage of "
                f"{info.storage.nbytes} bytes)")
    return None


class BlockReader:
    """Reads tensors of one checkpoint as blocks; holds one open file per data file."""

    def __init__(self, ckpt: ByteSource | None = None, block_bytes: int = BLOCK_BYTES):
        self.ckpt = ckpt  # maps the rare large non-contiguous views
        self.block_bytes = max(int(block_bytes), 1 << 12)
        self._files: dict[str, int] = {}

    def close(self) -> None:
        files, self._files = self._files, {}
        for fd in files.values():
            os.close(fd)

    def __enter__(self) -> BlockReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- Public API
    def blocks(self, info: TensorInfo) -> Iterator[np.ndarray]:
        """The values of ``info`` in C order, as 1-d arrays of at most ~``block_bytes``
        (one row of a sharded tensor may be more). Raises :class:`NotConvertible`."""
        reason = convertible_reason(info)
        if reason is not None:
            raise NotConvertible(reason)
        if info.numel == 0:
            return
        if info.layout == "sharded":
            yield from self._sharded_blocks(info)
        elif info.is_contiguous():
            yield from self._contiguous_blocks(info)
        else:
            yield from self._strided_blocks(info)

    # ---- Private API
    def _fd(self, file: str) -> int:
        fd = self._files.get(file)
        if fd is None:
            try:
                fd = self._files[file] = os.open(file, os.O_RDONLY)
            except OSError as e:
                raise CheckpointError(file, f"cannot read it ({e.strerror or e})") from None
        return fd

    def _read(self, file: str, offset: int, n: int) -> bytearray:
        buf = bytearray(n)
        fd = self._fd(file)
        view = memoryview(buf)
        got = 0
        while got < n:
            k = os.preadv(fd, [view[got:]], offset + got)
            if k <= 0:
                raise CheckpointError(file, f"the file ends before its tensor data (byte "
                                            f"{offset + got}); was it truncated?")
            got += k
        return buf

    def _contiguous_blocks(self, info: TensorInfo) -> Iterator[np.ndarray]:
        st = info.storage
        itemsize = info.itemsize
        first, end = info.storage_span()
        if end * itemsize > st.nbytes:
            raise NotConvertible("its view lies outside its storage")
        dtype = value_dtype(info.dtype)
        per = max(self.block_bytes // itemsize, 1)
        for i in range(first, end, per):
            n = min(per, end - i)
            arr = np.frombuffer(self._read(st.file, st.file_offset + i * itemsize, n * itemsize),
                                dtype=dtype)
            yield _native(arr, st.byteorder)

    def _strided_blocks(self, info: TensorInfo) -> Iterator[np.ndarray]:
        """A view that is not contiguous (a transpose, a slice): the span of storage it
        touches is read once when small, otherwise viewed through the checkpoint's memory
        map; blocks of its rows are copied out in C order."""
        st = info.storage
        itemsize = info.itemsize
        shape, stride = tuple(info.shape), tuple(info.stride)
        if any(s < 0 for s in stride):
            raise NotConvertible("a view with a negative stride")
        first, end = info.storage_span()
        if end * itemsize > st.nbytes:
            raise NotConvertible("its view lies outside its storage")
        dtype = value_dtype(info.dtype)
        if (end - first) * itemsize <= 4 * self.block_bytes or self.ckpt is None:
            raw = self._read(st.file, st.file_offset + first * itemsize, (end - first) * itemsize)
            flat, base = np.frombuffer(raw, dtype=dtype), 0
        else:
            flat, base = np.frombuffer(self.ckpt.storage_view(st), dtype=dtype), first
        view = np.lib.stride_tricks.as_strided(
            flat[base:], shape, [s * flat.itemsize for s in stride], writeable=False)
        # split along the outermost dimensions until one band of rows fits in a block
        d = 0
        while d < len(shape) - 1 and math.prod(shape[d:]) * itemsize > self.block_bytes:
            d += 1
        inner = math.prod(shape[d + 1:])
        rows = max(self.block_bytes // max(inner * itemsize, 1), 1)
        for outer in np.ndindex(*shape[:d]):
            part = view[outer]
            for r0 in range(0, shape[d], rows):
                block = np.ascontiguousarray(part[r0:r0 + rows]).reshape(-1)
                yield _native(block, st.byteorder)

    def _sharded_blocks(self, info: TensorInfo) -> Iterator[np.ndarray]:
        """A tensor stored as chunks (torch.distributed.checkpoint): assembled a band of
        rows (dimension 0) at a time, so memory stays bounded whatever the tensor's size."""
        shape = tuple(info.shape)
        dtype = value_dtype(info.dtype)
        if not shape:
            yield np.concatenate(list(self.blocks(info.chunks[0].view)))
            return
        row_bytes = math.prod(shape[1:]) * info.itemsize
        rows = max(self.block_bytes // max(row_bytes, 1), 1)
        for r0 in range(0, shape[0], rows):
            r1 = min(r0 + rows, shape[0])
            out = np.empty((r1 - r0, *shape[1:]), dtype=dtype)
            for chunk in info.chunks:
                c0, n0 = chunk.offsets[0], chunk.sizes[0]
                lo, hi = max(r0, c0), min(r1, c0 + n0)
                if lo >= hi:
                    continue
                part = self._chunk_rows(chunk.view, lo - c0, hi - c0, dtype)
                region = (slice(lo - r0, hi - r0), *(slice(o, o + s) for o, s in
                                                     zip(chunk.offsets[1:], chunk.sizes[1:])))
                out[region] = part
            yield out.reshape(-1)

    def _chunk_rows(self, view: TensorInfo, a: int, b: int, dtype: np.dtype) -> np.ndarray:
        """Rows ``[a, b)`` of one chunk's view, as an array of the view's shape."""
        sub = TensorInfo(dtype=view.dtype, shape=(b - a, *view.shape[1:]), stride=view.stride,
                         storage_offset=view.storage_offset + a * view.stride[0],
                         storage=view.storage, layout=view.layout, note=view.note)
        flat = np.concatenate(list(self.blocks(sub))) if sub.numel else np.empty(0, dtype)
        return flat.reshape(sub.shape)


def _native(arr: np.ndarray, byteorder: str) -> np.ndarray:
    if byteorder == "big" and arr.itemsize > 1:
        return arr.byteswap()
    return arr


# ---- dtype casts, as torch's Tensor.to does them
def cast_block(block: np.ndarray, src: str, dst: str) -> np.ndarray:
    """``block`` (values of dtype ``src``) converted to ``dst``, bit for bit what torch's
    ``Tensor.to(dst)`` gives (torch goes through float32 for float64 -> float16/bfloat16,
    and rounds to nearest even). NaN becomes bfloat16's canonical quiet NaN."""
    src, dst = canonical(src), canonical(dst)
    if src == dst:
        return block
    with np.errstate(over="ignore", invalid="ignore"):  # overflow to inf is the cast's answer
        return _cast(block, src, dst)


def _cast(block: np.ndarray, src: str, dst: str) -> np.ndarray:
    if src == "bfloat16":
        f32 = (block.astype(np.uint32) << 16).view(np.float32)
    elif block.dtype == np.float32:
        f32 = block
    else:
        f32 = block.astype(np.float32)
    if dst == "float32":
        return f32
    if dst == "float16":
        return f32.astype(np.float16)
    if dst == "bfloat16":
        # round to nearest even; in uint32 only NaNs can wrap, and they are replaced below
        bits = f32.view(np.uint32)
        rounded = bits >> 16
        rounded &= 1
        rounded += 0x7FFF
        rounded += bits
        rounded >>= 16
        out = rounded.astype(np.uint16)
        del rounded
        out[np.isnan(f32)] = 0x7FC0
        return out
    raise ValueError(f"cannot cast to {dst}")
