"""Writing safetensors: the header first (every size is known from metadata), then each
tensor's bytes streamed block by block; and splitting into Hugging Face shards."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO

import numpy as np

from inspector.core.convert.plan import SAFETENSORS_CODES, PlannedTensor
from inspector.core.convert.reading import BlockReader, cast_block

SHARD_NAME = "model-{i:05d}-of-{n:05d}.safetensors"
SINGLE_NAME = "model.safetensors"
INDEX_NAME = "model.safetensors.index.json"

_UNITS = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
          "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}


def parse_size(text: str | int) -> int:
    """``"5GB"`` -> 5 000 000 000 (as Hugging Face counts), ``"500MiB"``, or plain bytes.
    Raises ValueError."""
    if isinstance(text, int):
        size = text
    else:
        t = text.strip().upper().replace(" ", "")
        digits = t.rstrip("KMGTIB")
        unit = t[len(digits):]
        if unit not in _UNITS or not digits:
            raise ValueError(f"not a size: {text!r} (e.g. 5GB, 500MB, 2GiB)")
        try:
            size = int(float(digits) * _UNITS[unit])
        except ValueError:
            raise ValueError(f"not a size: {text!r} (e.g. 5GB, 500MB, 2GiB)") from None
    if size <= 0:
        raise ValueError("the size must be positive")
    return size


def header_bytes(tensors: Sequence[PlannedTensor], metadata: dict[str, str]) -> bytes:
    """The 8-byte length and the JSON header (padded with spaces to a multiple of 8, as
    the safetensors library writes it) for ``tensors`` laid out in order."""
    header: dict[str, object] = {"__metadata__": dict(metadata)} if metadata else {}
    offset = 0
    for t in tensors:
        header[t.name] = {"dtype": SAFETENSORS_CODES[t.dtype], "shape": list(t.info.shape),
                          "data_offsets": [offset, offset + t.nbytes]}
        offset += t.nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text


def write_safetensors(fh: BinaryIO, reader: BlockReader, tensors: Sequence[PlannedTensor],
                      metadata: dict[str, str]) -> Iterator[int]:
    """Write one safetensors file to ``fh``; yields bytes of tensor data written."""
    fh.write(header_bytes(tensors, metadata))
    for t in tensors:
        yield from write_tensor(fh, reader, t)


def write_tensor(fh: BinaryIO, reader: BlockReader, t: PlannedTensor) -> Iterator[int]:
    """Stream one tensor's values (cast when planned) to ``fh``, block by block."""
    written = 0
    for block in reader.blocks(t.info):
        if t.dtype != t.info.dtype:
            block = cast_block(block, t.info.dtype, t.dtype)
        data = np.ascontiguousarray(block).reshape(-1).view(np.uint8)
        fh.write(data.data)
        written += data.nbytes
        yield data.nbytes
    if written != t.nbytes:
        raise OSError(f"{t.name}: {written} bytes were read instead of {t.nbytes}")


def shard(tensors: Sequence[PlannedTensor], max_bytes: int) -> list[list[PlannedTensor]]:
    """Tensors in order, split as Hugging Face does: a new shard starts when the next tensor
    would take the current one past ``max_bytes``; a larger tensor gets a shard of its own."""
    shards: list[list[PlannedTensor]] = [[]]
    size = 0
    for t in tensors:
        if shards[-1] and size + t.nbytes > max_bytes:
            shards.append([])
            size = 0
        shards[-1].append(t)
        size += t.nbytes
    return shards


def shard_names(count: int) -> list[str]:
    return [SINGLE_NAME] if count == 1 else [SHARD_NAME.format(i=i, n=count)
                                             for i in range(1, count + 1)]


def index_bytes(shards: Sequence[Sequence[PlannedTensor]], names: Sequence[str],
                metadata: dict[str, str], aliases: dict[str, str]) -> bytes:
    """``model.safetensors.index.json``: the total size and which shard holds each tensor
    (aliases are not in the weight map, as Hugging Face writes tied weights)."""
    weight_map = {t.name: name for group, name in zip(shards, names) for t in group}
    meta: dict[str, object] = {"total_size": sum(t.nbytes for g in shards for t in g)}
    meta.update(metadata)
    if aliases:
        meta["aliases"] = dict(aliases)
    doc = {"metadata": meta, "weight_map": dict(sorted(weight_map.items()))}
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def shard_metadata(group: Sequence[PlannedTensor], metadata: dict[str, str],
                   aliases: dict[str, str], reserved: Callable[[str], bool]) -> dict[str, str]:
    """A shard's ``__metadata__``: the common entries and the aliases of its tensors (as
    ``safetensors.torch.save_model`` records them: alias name -> name kept)."""
    names = {t.name for t in group}
    out = dict(metadata)
    for alias, kept in aliases.items():
        if kept in names and not reserved(alias):
            out[alias] = kept
    return out
