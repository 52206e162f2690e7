"""Writing a weights-only ``.pth``: a torch.save zip whose ``data.pkl`` is our own minimal
pickle (an OrderedDict of tensors rebuilt by ``torch._utils._rebuild_tensor_v2``/``_v3`` from
persistent storage ids), so ``torch.load(weights_only=True)`` accepts it and nothing else is
in it. Storages are streamed into stored (uncompressed) zip records aligned to 64 bytes, as
torch writes them; tied tensors share one storage, as they did in the source."""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from inspector.core.convert.plan import PlannedTensor
from inspector.core.convert.reading import BlockReader
from inspector.core.convert.safetensors_out import write_tensor
from inspector.core.dtypes import STORAGE_TYPES
from inspector.core.model import contiguous_stride

ROOT = "archive"
ALIGN = 64
_STORAGE_CLASS = {v: k for k, v in STORAGE_TYPES.items() if not v.startswith("q")}
_PAD_ID = 0x4246  # "FB", the extra-field id torch pads records with


def pickle_bytes(tensors: Sequence[PlannedTensor], aliases: dict[str, str]) -> bytes:
    """``data.pkl``: ``OrderedDict(name -> tensor)`` in order, aliases after the tensor they
    share storage with. Storage ``i`` is tensor ``i``'s bytes."""
    key_of = {t.name: (str(i), t) for i, t in enumerate(tensors)}
    by_owner: dict[str, list[str]] = {}
    for alias, owner in aliases.items():
        by_owner.setdefault(owner, []).append(alias)
    order: list[tuple[str, str]] = []  # (name, storage owner's name)
    for t in tensors:
        order.append((t.name, t.name))
        order += [(a, t.name) for a in by_owner.get(t.name, ())]
    out = bytearray(b"\x80\x02")
    out += _global("collections", "OrderedDict") + b")R"
    for start in range(0, len(order), 1000):
        out += b"("
        for name, owner in order[start:start + 1000]:
            key, t = key_of[owner]
            out += _str(name) + _tensor(t, key)
        out += b"u"
    out += b"."
    return bytes(out)


def write_pth(fh: BinaryIO, reader: BlockReader, tensors: Sequence[PlannedTensor],
              aliases: dict[str, str]) -> Iterator[int]:
    """Write the zip to ``fh`` (seekable); yields bytes of tensor data written."""
    with zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        _small(zf, "data.pkl", pickle_bytes(tensors, aliases))
        _small(zf, ".format_version", b"1")
        _small(zf, ".storage_alignment", str(ALIGN).encode())
        _small(zf, "byteorder", b"little")
        for i, t in enumerate(tensors):
            info = _info(zf, f"data/{i}", t.nbytes)
            with zf.open(info, "w", force_zip64=t.nbytes >= zipfile.ZIP64_LIMIT) as w:
                yield from write_tensor(w, reader, t)
        _small(zf, "version", b"3")
        _small(zf, ".data/serialization_id", b"0" * 20)


# ---- Private API
def _info(zf: zipfile.ZipFile, name: str, size: int) -> zipfile.ZipInfo:
    """A stored record whose data starts on a multiple of :data:`ALIGN` bytes."""
    info = zipfile.ZipInfo(f"{ROOT}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = size
    zip64 = size >= zipfile.ZIP64_LIMIT
    header = 30 + len(info.filename.encode("utf-8")) + (20 if zip64 else 0) + 4
    pad = -(zf.fp.tell() + header) % ALIGN
    info.extra = struct.pack("<HH", _PAD_ID, pad) + b"Z" * pad
    return info


def _small(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = _info(zf, name, len(data))
    with zf.open(info, "w") as w:
        w.write(data)


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _str(s: str) -> bytes:
    data = s.encode("utf-8", "surrogatepass")
    return b"X" + struct.pack("<I", len(data)) + data


def _int(n: int) -> bytes:
    if 0 <= n < 256:
        return b"K" + bytes([n])
    if -(1 << 31) <= n < (1 << 31):
        return b"J" + struct.pack("<i", n)
    data = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(data)]) + data


def _ints(values: Sequence[int]) -> bytes:
    return b"(" + b"".join(_int(v) for v in values) + b"t" if values else b")"


def _tensor(t: PlannedTensor, key: str) -> bytes:
    shape = tuple(t.info.shape)
    legacy = _STORAGE_CLASS.get(t.dtype)
    storage_class = _global("torch", legacy) if legacy else _global("torch.storage",
                                                                     "UntypedStorage")
    count = t.info.numel if legacy else t.nbytes
    persistent = b"(" + _str("storage") + storage_class + _str(key) + _str("cpu") + _int(count) \
        + b"tQ"
    args = persistent + _int(0) + _ints(shape) + _ints(contiguous_stride(shape)) + b"\x89" \
        + _global("collections", "OrderedDict") + b")R"
    if legacy:
        return _global("torch._utils", "_rebuild_tensor_v2") + b"(" + args + b"tR"
    return _global("torch._utils", "_rebuild_tensor_v3") + b"(" + args \
        + _global("torch", t.dtype) + b"tR"
