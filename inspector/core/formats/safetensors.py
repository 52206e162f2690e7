"""``.safetensors`` files and Hugging Face sharded indexes (``*.index.json``).

safetensors: 8-byte little-endian header length N, N bytes of JSON, then the data. We parse
and validate the header ourselves (limits, dtypes, offsets in range, no overlap, full
coverage) and also let the ``safetensors`` package validate it; no data is read.
"""

from __future__ import annotations

import json
import math
import mmap
import os
from typing import Any

from inspector.core.checkpoint import Checkpoint
from inspector.core.dtypes import SAFETENSORS_DTYPES, SAFETENSORS_SUBBYTE, dtype_info
from inspector.core.model import (
    DICT,
    MAX_DIM,
    TENSOR,
    CheckpointError,
    Node,
    StorageInfo,
    TensorInfo,
    contiguous_stride,
)

MAX_HEADER = 100_000_000


def looks_safetensors(head: bytes, size: int) -> bool:
    if len(head) < 9:
        return False
    n = int.from_bytes(head[:8], "little")
    return 2 <= n <= min(MAX_HEADER, size - 8) and head[8:9] == b"{"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate key {k!r}")
        out[k] = v
    return out


def read_safetensors(path: str, fh, mm: mmap.mmap, size: int) -> Checkpoint:
    n = int.from_bytes(mm[:8], "little")
    if n > MAX_HEADER:
        raise CheckpointError(path, f"safetensors header is {n} bytes, over the 100 MB limit")
    if 8 + n > size:
        raise CheckpointError(path, "safetensors file is truncated (header runs past the end)")
    try:
        header = json.loads(bytes(mm[8:8 + n]).decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise CheckpointError(path, f"safetensors header is not valid JSON ({str(e)[:200]})") from e
    if not isinstance(header, dict):
        raise CheckpointError(path, "safetensors header is not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CheckpointError(path, "safetensors __metadata__ must map strings to strings")
    data_start = 8 + n
    data_len = size - data_start
    entries = []
    for name, spec in header.items():
        try:
            code = spec["dtype"]
            shape = tuple(spec["shape"])
            begin, end = spec["data_offsets"]
            if not isinstance(code, str) or (code not in SAFETENSORS_DTYPES
                                             and code not in SAFETENSORS_SUBBYTE):
                raise ValueError(f"unknown dtype {code!r}")
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(path, f"safetensors entry {name!r} is malformed ({e})") from e
        if len(shape) > MAX_DIM or not all(type(d) is int and d >= 0 for d in shape) or not all(
                type(x) is int for x in (begin, end)):
            raise CheckpointError(path, f"safetensors entry {name!r} has a bad shape or offsets")
        if not 0 <= begin <= end <= data_len:
            raise CheckpointError(path, f"safetensors entry {name!r} points outside the file "
                                        f"(bytes {begin}..{end}, data has {data_len}): truncated?")
        dtype, stored_shape, need, note = _layout(path, name, code, shape)
        if end - begin != need:
            raise CheckpointError(path, f"safetensors entry {name!r} has {end - begin} bytes but "
                                        f"{list(shape)} {code} needs {need}")
        entries.append((begin, end, name, dtype, stored_shape, note))
    entries.sort()
    covered = 0
    for begin, end, name, *_ in entries:
        if begin != covered:
            problem = "overlaps another" if begin < covered else "leaves a gap before it"
            raise CheckpointError(path, f"safetensors entry {name!r} {problem}")
        covered = end
    if covered != data_len:
        raise CheckpointError(path, f"safetensors data has {data_len - covered} bytes that no "
                                    "tensor covers")
    if isinstance(mm, mmap.mmap | bytes | memoryview):
        _validate_with_package(path)
    else:  # remote: the package checks a sparse local stand-in (the header, zeros after it)
        _validate_remote_header(path, bytes(mm[:8 + n]), size)

    root = Node(None, DICT, type_name="safetensors")
    # keep the header's order for display (it is the writer's order)
    order = {name: i for i, name in enumerate(header)}
    for begin, end, name, dtype, shape, note in sorted(entries, key=lambda e: order[e[2]]):
        storage = StorageInfo(key=name, dtype=dtype, numel=math.prod(shape), location="cpu",
                              file=path, file_offset=data_start + begin, nbytes=end - begin)
        stride = contiguous_stride(shape)
        root.add(name, TENSOR, type_name="Tensor",
                 tensor=TensorInfo(dtype=dtype, shape=shape, stride=stride, storage_offset=0,
                                   storage=storage, note=note))
    return Checkpoint(path=path, format="safetensors", size_bytes=size, root=root,
                      details={"metadata": dict(metadata), "header_bytes": n})


def _layout(path: str, name: str, code: str, shape: tuple[int, ...]
            ) -> tuple[str, tuple[int, ...], int, str]:
    """(torch dtype, shape as stored in that dtype, bytes, note) of a safetensors entry."""
    if code not in SAFETENSORS_SUBBYTE:
        dtype = SAFETENSORS_DTYPES[code]
        return dtype, shape, math.prod(shape) * dtype_info(dtype).itemsize, ""
    torch_dtype, bits = SAFETENSORS_SUBBYTE[code]
    total = math.prod(shape) * bits
    if total % 8:
        raise CheckpointError(path, f"safetensors entry {name!r}: {list(shape)} {code} is not a "
                                    "whole number of bytes")
    if torch_dtype is None:
        return "uint8", (total // 8,), total // 8, (f"{code} values ({bits}-bit, shape "
                                                    f"{list(shape)}) shown as raw bytes: torch "
                                                    "has no such dtype")
    per_byte = 8 // bits
    if not shape or shape[-1] % per_byte:
        raise CheckpointError(path, f"safetensors entry {name!r}: {code} needs a last dimension "
                                    f"divisible by {per_byte}, not {list(shape)}")
    return torch_dtype, (*shape[:-1], shape[-1] // per_byte), total // 8, ""


def _validate_with_package(path: str) -> None:
    try:
        from safetensors import safe_open
    except ImportError:  # our own checks above already ran
        return
    try:
        with safe_open(path, framework="numpy") as f:
            f.keys()
    except Exception as e:  # noqa: BLE001 - the package raises its own error types
        raise CheckpointError(path, f"safetensors validation failed: {e}") from e


def _validate_remote_header(path: str, head: bytes, size: int) -> None:
    """What :func:`_validate_with_package` checks, for a remote file: the package reads only
    the header and the file size, so a sparse temporary file with the same header and size
    (no disk used for the data) gets the very same verdict."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="inspector-st-") as folder:
        stand_in = os.path.join(folder, "remote.safetensors")
        with open(stand_in, "wb") as fh:
            fh.write(head)
            fh.truncate(size)
        try:
            _validate_with_package(stand_in)
        except CheckpointError as e:
            raise CheckpointError(path, e.problem) from None
