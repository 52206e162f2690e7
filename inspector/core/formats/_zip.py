"""The zip layer every zip-based format shares (torch.save, TorchScript, .pt2, DCP items).

A :class:`ZipArchive` is a validated view of a zip held in a buffer (a memory map or a slice
of one): entry names -> byte ranges. Stored records are reached as (offset, size) of the
buffer without copying; compressed entries (TorchScript code) are inflated up to a limit.
"""

from __future__ import annotations

import mmap
import os
import struct
import zipfile
import zlib
from typing import Any

from inspector.core.model import CheckpointError
from inspector.core.unpickler import memory_stream

MAX_ENTRIES = 1_000_000

LOCAL_HEADER = struct.Struct("<4s5H3I2H")  # signature … name length, extra length


class ZipArchive:
    """A validated view of a zip's entries: names -> (data offset, size).

    ``data`` is the whole archive (an mmap of the file, or a slice of one for an archive
    stored inside another file); offsets are relative to it. Error messages name ``path``.
    """

    def __init__(self, path: str, data: Any):
        self.path = path
        self.mm = data
        self.size = len(data)
        stream = memory_stream(data)
        try:
            self._parse(stream)
        finally:
            stream.close()

    def _parse(self, fh) -> None:
        path = self.path
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

    def read(self, name: str, limit: int) -> bytes:
        """A stored entry's bytes (at most ``limit`` of them, else CheckpointError)."""
        offset, size = self.data_range(name)
        if size > limit:
            raise CheckpointError(self.path, f"zip entry {name!r} is {size} bytes, over the "
                                             f"{limit}-byte limit")
        return bytes(self.mm[offset:offset + size])

    def text(self, name: str, limit: int) -> str:
        """A small stored entry (``version``, ``byteorder``) as stripped ASCII text."""
        return self.read(name, limit).decode("ascii", "replace").strip()

    def entry_text(self, name: str, limit: int) -> tuple[str, int]:
        """(first ``limit`` bytes of an entry as text, its full size); stored or deflated.

        torch stores code files compressed, unlike tensor records, so ``data_range`` refuses
        them.
        """
        info = self.infos[name]
        start = self.data_start(name)
        end = start + info.compress_size
        if end > self.size:
            raise CheckpointError(self.path, f"zip entry {name!r} extends past the end of the file")
        stored = info.compress_type == zipfile.ZIP_STORED
        raw = self.mm[start:min(end, start + limit) if stored else end]
        if stored:
            data = bytes(raw)
        elif info.compress_type == zipfile.ZIP_DEFLATED:
            try:
                data = zlib.decompressobj(-15).decompress(bytes(raw), limit)
            except zlib.error as e:
                raise CheckpointError(self.path, f"zip entry {name!r} is damaged ({e})") from e
        else:
            raise CheckpointError(self.path, f"zip entry {name!r} uses an unsupported compression")
        return data[:limit].decode("utf-8", "replace"), info.file_size


def verify_zip_records(path: str) -> list[str]:
    """CRC-check every entry of a zip checkpoint; one message per corrupt entry."""
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        archive = ZipArchive(path, mm)
        return [f"{os.path.basename(path)}: record {name!r} fails its CRC-32 check: its "
                "bytes are corrupt" for name in archive.infos
                if not name.endswith("/") and not archive.crc_ok(name)]
