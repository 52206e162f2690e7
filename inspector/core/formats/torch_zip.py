"""torch.save zip archives (.pth/.pt/.bin/.ckpt/.tar), read without running pickle code.

Only the central directory and ``data.pkl`` are read; each storage becomes a byte range of
the file (records are stored uncompressed), so opening costs what the pickle costs.
"""

from __future__ import annotations

import mmap
import os
import struct
import zipfile
import zlib
from typing import Any

from inspector.core.checkpoint import Checkpoint, CheckpointError, StorageInfo
from inspector.core.dtypes import dtype_info
from inspector.core.tree import TreeBuilder
from inspector.core.unpickler import (
    MAX_PICKLE_BYTES,
    InertPickleError,
    StorageRef,
    load_inert,
    storage_ref_from_pid,
)

MAX_ENTRIES = 1_000_000

LOCAL_HEADER = struct.Struct("<4s5H3I2H")  # signature … name length, extra length


class ZipArchive:
    """A validated view of a zip file's entries: names -> (data offset, size)."""

    def __init__(self, path: str, fh, mm: mmap.mmap, size: int):
        self.path = path
        self.mm = mm
        self.size = size
        try:
            end = zipfile._EndRecData(fh)  # noqa: SLF001 - read the entry count before parsing
        except (OSError, struct.error) as e:
            raise CheckpointError(path, f"damaged zip archive ({e})") from e
        if end is None:
            raise CheckpointError(path, "damaged zip archive: no central directory (truncated?)")
        if end[zipfile._ECD_ENTRIES_TOTAL] > MAX_ENTRIES:  # noqa: SLF001
            raise CheckpointError(path, f"zip archive declares {end[zipfile._ECD_ENTRIES_TOTAL]} "  # noqa: SLF001
                                        f"entries, over the limit of {MAX_ENTRIES}")
        try:
            zf = zipfile.ZipFile(fh)
        except (zipfile.BadZipFile, OSError, ValueError, struct.error, EOFError,
                NotImplementedError) as e:
            raise CheckpointError(path, f"damaged zip archive ({e})") from e
        infos = zf.infolist()
        names: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if info.filename in names:
                raise CheckpointError(path, f"zip archive has two entries named {info.filename!r}; "
                                            "readers disagree on which one counts, so it is refused")
            names[info.filename] = info
        self.infos = names
        roots = {n.split("/", 1)[0] for n in names}
        if any(n.startswith("/") or "\\" in n or ".." in n.split("/") for n in names):
            bad = next(n for n in names if n.startswith("/") or "\\" in n or ".." in n.split("/"))
            raise CheckpointError(path, f"zip entry name {bad!r} escapes the archive")
        self.root = roots.pop() if len(roots) == 1 else None
        self.multiple_roots = len(roots) > 0

    def data_start(self, name: str) -> int:
        """Where an entry's (possibly compressed) bytes start: after its local header."""
        ho = self.infos[name].header_offset
        if ho < 0 or ho + LOCAL_HEADER.size > self.size:
            raise CheckpointError(self.path, f"zip entry {name!r} points outside the file")
        fields = LOCAL_HEADER.unpack_from(self.mm, ho)
        if fields[0] != b"PK\x03\x04":
            raise CheckpointError(self.path, f"zip entry {name!r} has a damaged local header")
        return ho + LOCAL_HEADER.size + fields[-2] + fields[-1]

    def data_range(self, name: str) -> tuple[int, int]:
        """(offset, size) of a stored entry's bytes in the file."""
        info = self.infos[name]
        if info.compress_type != zipfile.ZIP_STORED:
            raise CheckpointError(self.path, f"zip entry {name!r} is compressed; torch checkpoints "
                                             "store records uncompressed, so it is refused")
        offset = self.data_start(name)
        if info.file_size != info.compress_size or offset + info.file_size > self.size:
            raise CheckpointError(self.path, f"zip entry {name!r} ({info.file_size} bytes) extends "
                                             f"past the end of the file: the file is truncated")
        return offset, info.file_size

    def crc_ok(self, name: str, chunk: int = 4 << 20) -> bool:
        """Whether the entry's bytes match the CRC-32 the archive stores (reads them all)."""
        offset, size = self.data_range(name)
        crc = 0
        for start in range(offset, offset + size, chunk):
            crc = zlib.crc32(self.mm[start:min(start + chunk, offset + size)], crc)
        return crc == self.infos[name].CRC

    def storage_record(self, name: str, ref: StorageRef, byteorder: str) -> StorageInfo:
        """The StorageInfo of record ``name`` holding ``ref``, checked to exist and to have
        exactly the bytes its element count needs."""
        if name not in self.infos:
            raise CheckpointError(self.path, f"storage record {name!r} is missing from the archive")
        offset, nbytes = self.data_range(name)
        need = ref.numel * dtype_info(ref.dtype).itemsize
        if nbytes != need:
            raise CheckpointError(self.path, f"storage record {name!r} has {nbytes} bytes but its "
                                             f"{ref.numel} {ref.dtype} elements need {need}")
        return StorageInfo(key=ref.key, dtype=ref.dtype, numel=ref.numel, location=ref.location,
                           file=self.path, file_offset=offset, nbytes=nbytes, byteorder=byteorder)

    def read(self, name: str, limit: int) -> bytes:
        offset, size = self.data_range(name)
        if size > limit:
            raise CheckpointError(self.path, f"zip entry {name!r} is {size} bytes, over the "
                                             f"{limit}-byte limit")
        return self.mm[offset:offset + size]


def read_torch_zip(path: str, fh, mm: mmap.mmap, size: int) -> Checkpoint:
    archive = ZipArchive(path, fh, mm, size)
    if archive.root is None:
        if not archive.infos:
            raise CheckpointError(path, "empty zip archive: not a PyTorch checkpoint")
        raise CheckpointError(path, "zip archive has more than one top-level folder; a torch "
                                    "checkpoint has exactly one")
    root = archive.root
    pkl_name = f"{root}/data.pkl"
    if f"{root}/archive_format" in archive.infos or (pkl_name not in archive.infos and any(
            n.startswith(f"{root}/models/") for n in archive.infos)):
        from inspector.core.formats.torch_export import read_torch_export  # imports this module

        return read_torch_export(path, archive, size)
    if pkl_name not in archive.infos:
        raise CheckpointError(path, "a zip archive, but not a PyTorch checkpoint (no data.pkl)")
    fmt = "torch-zip"
    if f"{root}/constants.pkl" in archive.infos or any(
            n.startswith(f"{root}/code/") for n in archive.infos):
        from inspector.core.formats.torchscript import read_torchscript  # imports this module

        return read_torchscript(path, archive, size)
    warnings: list[str] = []
    byteorder = "little"
    if f"{root}/byteorder" in archive.infos:
        raw = archive.read(f"{root}/byteorder", 16).decode("ascii", "replace").strip()
        if raw not in ("little", "big"):
            raise CheckpointError(path, f"unknown byte order {raw!r} in the archive")
        byteorder = raw
    data = archive.read(pkl_name, MAX_PICKLE_BYTES)
    if zlib.crc32(data) != archive.infos[pkl_name].CRC:
        warnings.append("data.pkl fails its CRC-32 check: the file is corrupt (torch does not "
                        "check CRCs and would read it anyway)")

    storages: dict[str, StorageRef] = {}

    def persistent_load(pid: Any) -> StorageRef:
        ref = storage_ref_from_pid(pid)
        known = storages.get(ref.key)
        if known is not None:
            return known
        storages[ref.key] = ref
        return ref

    try:
        result = load_inert(data, persistent_load)
    except InertPickleError as e:
        raise CheckpointError(path, f"data.pkl: {e}") from e

    infos: dict[str, StorageInfo] = {}

    def storage_info(ref: StorageRef) -> StorageInfo:
        info = infos.get(ref.key)
        if info is None:
            info = infos[ref.key] = archive.storage_record(f"{root}/data/{ref.key}", ref, byteorder)
        return info

    builder = TreeBuilder(storage_info, warnings)
    tree = builder.build(result.obj)
    details: dict[str, Any] = {"zip_root": root, "byteorder": byteorder,
                               "pickle_bytes": len(data), "entries": len(archive.infos)}
    version = f"{root}/version"
    if version in archive.infos:
        details["archive_version"] = archive.read(version, 64).decode("ascii", "replace").strip()
    if fmt == "torchscript":
        details["code_files"] = sorted(n[len(root) + 1:] for n in archive.infos
                                       if n.startswith(f"{root}/code/") and not n.endswith("/"))
    return Checkpoint(path=path, format=fmt, size_bytes=size, root=tree,
                      globals=result.globals, unsafe_globals=result.unsafe_globals,
                      warnings=warnings, details=details)


def verify_zip_records(path: str) -> list[str]:
    """CRC-check every entry of a zip checkpoint; one message per corrupt entry."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            archive = ZipArchive(path, fh, mm, size)
            return [f"{os.path.basename(path)}: record {name!r} fails its CRC-32 check: its "
                    "bytes are corrupt" for name in archive.infos
                    if not name.endswith("/") and not archive.crc_ok(name)]
