"""Bounded views of one tensor's values, and a streaming ``.npy`` export (no Qt).

The tensor panel never reads tensor bytes itself: it runs :func:`read_slice` and
:func:`export_npy` as process jobs (:mod:`inspector.core.jobs`). Both reopen the checkpoint
by path in the worker, find the tensor by its key path, and yield
:class:`~inspector.core.jobs.JobProgress` items and then one result dataclass of numpy
arrays. A slice reads only what is shown: at most ``MAX_ROWS`` x ``MAX_COLS`` values, a
matrix strided down to ``MAX_SIDE`` a side, ``MAX_KERNELS`` conv filters. The export streams
the tensor in chunks into a temporary file next to the destination and renames it at the
end; the checkpoint itself is never written.

torch is imported lazily, where a tensor is touched.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from inspector.core.checkpoint import TENSOR, Checkpoint, CheckpointError, Key, TensorInfo
from inspector.core.jobs import JobProgress, cancel_requested

if TYPE_CHECKING:
    import torch

MAX_ROWS = 1000
MAX_COLS = 100
MAX_SIDE = 1024
MAX_KERNELS = 256
MAX_KERNEL_SIDE = 16
MAX_KERNEL_CHANNELS = 1024
EXPORT_CHUNK_BYTES = 32 << 20  # bytes per write of an export (a cancel is noticed between)
NUMPY_NATIVE = {"float64", "float32", "float16", "complex64", "complex128", "int64", "int32",
                "int16", "int8", "uint8", "uint16", "uint32", "uint64", "bool"}

VALUES, HEATMAP, KERNELS = "values", "heatmap", "kernels"
MEAN_CHANNELS, FIRST_CHANNEL, RGB = "mean", "first", "rgb"


# ---- Results (what crosses the process boundary)
@dataclass(frozen=True)
class ValuesSlice:
    """The first values of a tensor as a 2-D block (see :func:`preview_block`)."""

    block: np.ndarray
    row_labels: tuple[str, ...]
    total_rows: int
    total_cols: int
    dims: int
    note: str  # how a dtype numpy lacks is shown ("" when it is not)


@dataclass(frozen=True)
class HeatmapSlice:
    """A 2-D tensor strided down for a heatmap (float32; magnitudes of complex values)."""

    data: np.ndarray
    rows: int
    cols: int
    row_step: int
    col_step: int
    is_complex: bool


@dataclass(frozen=True)
class KernelsSlice:
    """The first filters of a conv weight as small images (see :func:`kernel_images`)."""

    images: np.ndarray
    filters: int
    kernel_height: int
    kernel_width: int
    mode: str
    note: str


@dataclass(frozen=True)
class ExportDone:
    """An export finished: the file written, the array's shape and dtype, and how a dtype
    numpy lacks was converted ("" when it was not)."""

    dest: str
    shape: tuple[int, ...]
    dtype: str
    note: str


# ---- Job targets (run in a worker process)
def read_slice(path: str, tensor_path: tuple[Key, ...], kind: str, count: int = 64,
               mode: str = MEAN_CHANNELS) -> Iterator[JobProgress | ValuesSlice | HeatmapSlice
                                                      | KernelsSlice]:
    """Job: one bounded view of the tensor at ``tensor_path`` in the checkpoint at ``path``.

    ``kind`` is VALUES, HEATMAP (a 2-D tensor) or KERNELS (a conv weight; ``count`` filters
    shown as ``mode``). Yields a JobProgress, then the slice.
    """
    if kind not in (VALUES, HEATMAP, KERNELS):
        raise ValueError(f"unknown kind of slice {kind!r}")
    yield JobProgress(0, 0, f"Reading {kind}…")
    ckpt = _checkpoint(path)
    t = ckpt.tensor(_tensor_info(ckpt, tensor_path))
    if kind == VALUES:
        block, labels, total_rows, total_cols = preview_block(t)
        yield ValuesSlice(block, tuple(labels), total_rows, total_cols, t.dim(), _numpy_cast(t)[1])
    elif kind == HEATMAP:
        if t.dim() != 2:
            raise ValueError(f"a heatmap needs a 2-D tensor, not {t.dim()}-D")
        data, rs, cs = downsampled_matrix(t)
        yield HeatmapSlice(data, t.shape[0], t.shape[1], rs, cs, t.is_complex())
    else:
        if t.dim() != 4:
            raise ValueError(f"kernels need a 4-D conv weight, not {t.dim()}-D")
        shown = mode if mode != RGB or t.shape[1] == 3 else MEAN_CHANNELS
        images, note = kernel_images(t, count, shown)
        yield KernelsSlice(images, t.shape[0], t.shape[2], t.shape[3], shown, note)


def export_npy(path: str, tensor_path: tuple[Key, ...], dest: str) -> Iterator[JobProgress
                                                                              | ExportDone]:
    """Job: write the whole tensor at ``tensor_path`` to the new ``.npy`` file ``dest``.

    Streams the values in chunks of ``EXPORT_CHUNK_BYTES`` into a temporary file in
    ``dest``'s folder, yielding JobProgress (bytes written of the total), and renames it to
    ``dest`` at the end; on cancel or error the temporary file is removed and ``dest`` is
    untouched. Dtypes numpy lacks are widened (bfloat16 -> float32). Refuses a ``dest``
    that is one of the checkpoint's own files.
    """
    ckpt = _checkpoint(path)
    info = _tensor_info(ckpt, tensor_path)
    refusal = export_refusal(ckpt, info, dest)
    if refusal:
        raise ValueError(refusal)
    t = ckpt.tensor(info)
    cast, note = _numpy_cast(t)
    dtype = _numpy_dtype(cast or t.dtype)
    shape = tuple(int(s) for s in t.shape)
    total = math.prod(shape) * dtype.itemsize
    name = os.path.basename(dest)
    yield JobProgress(0, total, f"Exporting {name}")
    fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".npy",
                               dir=os.path.dirname(os.path.abspath(dest)))
    done = False
    try:
        with os.fdopen(fd, "wb") as fh:
            _write_npy_header(fh, dtype, shape)
            written = 0
            chunk = max(1, EXPORT_CHUNK_BYTES // dtype.itemsize)
            for block in _c_order_blocks(t, chunk):
                if cancel_requested():
                    return
                array = _chunk_array(block, cast)
                fh.write(memoryview(array.reshape(-1).view(np.uint8)))
                written += array.nbytes
                yield JobProgress(written, total, f"Exporting {name}")
        os.replace(tmp, dest)
        done = True
    finally:
        if not done and os.path.exists(tmp):
            os.unlink(tmp)
    yield ExportDone(os.path.abspath(dest), shape, dtype.name, note)


def export_refusal(ckpt: Checkpoint, info: TensorInfo, dest: str) -> str | None:
    """Why ``dest`` must not be written by an export of ``info`` (None when it may): it is
    the checkpoint itself, one of the tensor's storage files, or an existing file inside a
    checkpoint folder."""
    protected = {os.path.realpath(ckpt.path)}
    for st in (info.storage, *info.extra_storages):
        if st is not None:
            protected.add(os.path.realpath(st.file))
    real = os.path.realpath(dest)
    inside = (os.path.isdir(ckpt.path)
              and real.startswith(os.path.realpath(ckpt.path) + os.sep) and os.path.exists(dest))
    if real in protected or inside:
        return "Refused: that is the checkpoint itself; choose a new file."
    return None


# ---- Bounded slices of a tensor
def preview_block(t: torch.Tensor, max_rows: int = MAX_ROWS,
                  max_cols: int = MAX_COLS) -> tuple[np.ndarray, list[str], int, int]:
    """The first values of ``t`` as a 2-D array, reading only what is shown.

    0-D: one cell; 1-D: a column; N-D: flattened to 2-D by the last dimension (rows are the
    leading indices). Returns (block, row labels, total rows, total columns).
    """
    import torch

    if t.dim() == 0:
        return _as_numpy(t.reshape(1, 1)), ["()"], 1, 1
    if t.dim() == 1:
        n = t.shape[0]
        block = _as_numpy(t[:max_rows].reshape(-1, 1))
        return block, [str(i) for i in range(block.shape[0])], n, 1
    lead = tuple(t.shape[:-1])
    total_rows = math.prod(lead)
    rows = min(total_rows, max_rows)
    cols = min(t.shape[-1], max_cols)
    narrowed = t[..., :cols]
    if rows == 0 or cols == 0:
        return np.zeros((rows, cols)), [], total_rows, t.shape[-1]
    if t.dim() == 2:
        block = narrowed[:rows]
        labels = [str(i) for i in range(rows)]
    else:
        idx = np.unravel_index(np.arange(rows), lead)
        block = narrowed[tuple(torch.as_tensor(i) for i in idx)]
        labels = [",".join(str(int(i[r])) for i in idx) for r in range(rows)]
    return _as_numpy(block), labels, total_rows, t.shape[-1]


def downsampled_matrix(t: torch.Tensor, max_side: int = MAX_SIDE) -> tuple[np.ndarray, int, int]:
    """A 2-D tensor strided down to at most ``max_side`` a side: (array, row step, col step)."""
    rows, cols = t.shape
    rs = max(1, math.ceil(rows / max_side))
    cs = max(1, math.ceil(cols / max_side))
    return _as_float(t[::rs, ::cs]), rs, cs


def kernel_images(t: torch.Tensor, count: int, mode: str) -> tuple[np.ndarray, str]:
    """The first ``count`` filters of a conv weight (out, in, kh, kw) as small images.

    ``mode``: MEAN_CHANNELS averages the input channels (the first MAX_KERNEL_CHANNELS),
    FIRST_CHANNEL takes channel 0, RGB shows 3-channel kernels as colours (each filter
    scaled to 0..1). Returns (array (N, kh, kw[, 3]), note).
    """
    n = min(count, t.shape[0])
    if mode == RGB and t.shape[1] == 3:
        k = _as_float(t[:n]).transpose(0, 2, 3, 1)  # N, kh, kw, 3
        lo = k.reshape(n, -1).min(axis=1)[:, None, None, None]
        hi = k.reshape(n, -1).max(axis=1)[:, None, None, None]
        span = np.where(hi > lo, hi - lo, 1.0)
        return (k - lo) / span, "each filter scaled to its own range"
    if mode == FIRST_CHANNEL:
        return _as_float(t[:n, 0]), "input channel 0"
    channels = min(t.shape[1], MAX_KERNEL_CHANNELS)
    if channels < t.shape[1]:
        note = f"mean of the first {channels} of {t.shape[1]} input channels"
    else:
        note = f"mean over {channels} input channel{'s' if channels != 1 else ''}"
    return _as_float(t[:n, :channels]).mean(axis=1), note


# ---- Private: the worker's open checkpoint
_open: tuple[tuple, Checkpoint] | None = None


def _checkpoint(path: str) -> Checkpoint:
    """The checkpoint at ``path``, opened once per worker process while the file stays the
    same (clicking through tensors must not re-read a big file's metadata each time)."""
    global _open
    from inspector.core.formats import open_checkpoint

    st = os.stat(path)
    key = (os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    if _open is not None and _open[0] == key:
        return _open[1]
    if _open is not None:
        old, _open = _open[1], None
        old.close()
    ckpt = open_checkpoint(path)
    if _open is None and not _close_registered:
        _register_close()
    _open = (key, ckpt)
    return ckpt


_close_registered = False


def _register_close() -> None:
    """Close the kept checkpoint when the process ends (no file left open at shutdown)."""
    global _close_registered
    import atexit

    def close() -> None:
        global _open
        if _open is not None:
            kept, _open = _open[1], None
            kept.close()

    atexit.register(close)
    _close_registered = True


def _tensor_info(ckpt: Checkpoint, tensor_path: tuple[Key, ...]) -> TensorInfo:
    node = ckpt.find(tuple(tensor_path))
    if node is None or node.kind != TENSOR or node.tensor is None:
        raise CheckpointError(ckpt.path, f"no tensor at {list(tensor_path)!r}")
    return node.tensor


# ---- Private: numpy conversion
def _numpy_cast(t: torch.Tensor) -> tuple[torch.dtype | None, str]:
    """The dtype to convert ``t`` to for numpy (None: numpy has ``t``'s dtype) and a note."""
    import torch

    name = str(t.dtype).removeprefix("torch.")
    if name in NUMPY_NATIVE:
        return None, ""
    if t.is_complex():
        return torch.complex64, f"{name} shown as complex64"
    if t.is_floating_point():
        return torch.float32, f"{name} shown as float32"
    return torch.int64, f"{name} shown as int64"


def _numpy_dtype(dtype: torch.dtype) -> np.dtype:
    import torch

    return torch.empty(0, dtype=dtype).numpy().dtype


def _as_numpy(t: torch.Tensor) -> np.ndarray:
    """``t`` as a numpy copy (never a view of the file's mapping); dtypes numpy lacks are
    widened (see :func:`_numpy_cast`)."""
    cast, _ = _numpy_cast(t)
    source = t.detach().cpu() if cast is None else t.to(cast)
    return np.array(source.numpy(), copy=True)


def _as_float(t: torch.Tensor) -> np.ndarray:
    import torch

    if t.is_complex():
        t = t.abs()
    # always a copy: an array viewing the file's mapping would keep it from closing
    return np.array(t.to(torch.float32).numpy(), copy=True)


def _chunk_array(block: torch.Tensor, cast: torch.dtype | None) -> np.ndarray:
    """A C-contiguous numpy array of ``block`` (a view of the mapping when it can be)."""
    source = block if cast is None else block.to(cast)
    return np.ascontiguousarray(source.contiguous().numpy())


def _c_order_blocks(t: torch.Tensor, max_elements: int) -> Iterator[torch.Tensor]:
    """Views of ``t`` of at most ``max_elements`` (but at least one row of the last
    dimension's chunk) whose concatenation, each flattened in C order, is ``t`` in C order."""
    if t.numel() == 0:
        return
    if t.dim() == 0 or t.numel() <= max_elements:
        yield t
        return
    if t.dim() == 1:
        for start in range(0, t.shape[0], max_elements):
            yield t[start:start + max_elements]
        return
    inner = t.numel() // t.shape[0]
    if inner <= max_elements:
        step = max_elements // inner
        for start in range(0, t.shape[0], step):
            yield t[start:start + step]
        return
    for i in range(t.shape[0]):
        yield from _c_order_blocks(t[i], max_elements)


def _write_npy_header(fh, dtype: np.dtype, shape: tuple[int, ...]) -> None:
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False,
              "shape": shape}
    try:
        np.lib.format.write_array_header_1_0(fh, header)
    except ValueError:  # more than 64 KiB of header: format 2.0
        np.lib.format.write_array_header_2_0(fh, header)
