"""The zip layer every zip-based format shares (torch.save, TorchScript, .pt2, DCP items).

A :class:`ZipArchive` is a validated view of a zip held in a buffer (a memory map or a slice
of one): entry names -> byte ranges. Stored records are reached as (offset, size) of the
buffer without copying; compressed entries (TorchScript code) are inflated up to a limit.

We must read the same file torch reads. torch (miniz) and Python's ``zipfile`` resolve odd
archives differently: ``zipfile`` treats a gap before the central directory as prepended
data and shifts every offset, torch does not; torch looks names up case-insensitively;
readers disagree on duplicate names, on which of two end records counts, and on local
headers that contradict the central directory. So the archive must have exactly one
reading: entries laid end to end from byte 0, the central directory right after the last
one, one end record (plus torch's zip64 end records) right after it, the file ending with
its comment, every local header agreeing with its central-directory entry, and names unique
even ignoring case. Anything else is refused as an ambiguous archive.
"""

from __future__ import annotations

import io
import mmap
import os
import struct
import zipfile
import zlib
from typing import Any

from inspector.core.model import AmbiguousArchiveError, CheckpointError

MAX_ENTRIES = 1_000_000
MAX_INFLATED = 1 << 30  # bytes one compressed entry may inflate to when it is copied

EOCD = struct.Struct("<4s4H2IH")  # signature, disk, cd disk, entries here, entries, cd size, cd offset, comment
ZIP64_LOCATOR = struct.Struct("<4sIQI")  # signature, disk, zip64 end record offset, disks
ZIP64_EOCD = struct.Struct("<4sQ2H2I4Q")  # signature, record size, made by, needed, disks, entries.., cd size, cd offset
CENTRAL = struct.Struct("<4s6H3I5H2I")  # … crc, sizes, name/extra/comment lengths, …, local header offset
LOCAL = struct.Struct("<4s5H3I2H")  # signature … crc, sizes, name length, extra length
EOCD_SIG, ZIP64_EOCD_SIG, ZIP64_LOCATOR_SIG = b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07"
CENTRAL_SIG, LOCAL_SIG, DESCRIPTOR_SIG = b"PK\x01\x02", b"PK\x03\x04", b"PK\x07\x08"
SATURATED16, SATURATED32 = 0xFFFF, 0xFFFFFFFF
FLAG_ENCRYPTED, FLAG_DESCRIPTOR, FLAG_UTF8 = 0x1, 0x8, 0x800
ZIP64_EXTRA = 0x0001


_DESCRIPTOR, _DESCRIPTOR_WIDE = struct.Struct("<III"), struct.Struct("<IQQ")  # crc, sizes
LOCAL_BUFFERS = (bytes, bytearray, mmap.mmap, memoryview)
LOCAL_EXTRA_GUESS = 128  # torch pads each local header's extra field to 64-byte alignment
DESCRIPTOR_MAX = 24  # a data descriptor with signature and 8-byte sizes


def _unpack_at(s: struct.Struct, data: Any, pos: int) -> tuple:
    """``s.unpack_from(data, pos)`` for any buffer, remote ones included (same errors)."""
    if isinstance(data, LOCAL_BUFFERS):
        return s.unpack_from(data, pos)
    if pos < 0:
        raise struct.error("offset out of range")
    return s.unpack(data[pos:pos + s.size])


def _prefetch(data: Any, ranges: list[tuple[int, int]]) -> None:
    """Ask a remote buffer for ``ranges`` at once (local buffers need nothing)."""
    prefetch = getattr(data, "prefetch", None)
    if prefetch is not None and ranges:
        prefetch(ranges)


def sub_buffer(data: Any, offset: int, length: int) -> Any:
    """``data[offset:offset + length]`` without copying: a memoryview, or a remote window."""
    window = getattr(data, "window", None)
    if window is not None:
        return window(offset, length)
    return memoryview(data)[offset:offset + length]


class ZipEntry:
    """One entry as the central directory describes it, checked against its local header."""

    __slots__ = ("compress_size", "compress_type", "crc", "data_offset", "file_size", "filename",
                 "flags", "header_offset", "raw_name", "zip64")

    def __init__(self, filename: str, raw_name: bytes, flags: int, compress_type: int, crc: int,
                 compress_size: int, file_size: int, header_offset: int, zip64: bool):
        self.filename = filename
        self.raw_name = raw_name
        self.flags = flags
        self.compress_type = compress_type
        self.crc = crc
        self.compress_size = compress_size
        self.file_size = file_size
        self.header_offset = header_offset
        self.zip64 = zip64
        self.data_offset = -1  # set once the local header is checked


class ZipArchive:
    """A validated view of a zip's entries: names -> (data offset, size).

    ``data`` is the whole archive (an mmap of the file, or a slice of one for an archive
    stored inside another file); offsets are relative to it. Error messages name ``path``.
    Raises :class:`AmbiguousArchiveError` for archives with more than one reading and
    CheckpointError for damaged ones.
    """

    def __init__(self, path: str, data: Any):
        self.path = path
        self.mm = data
        self.size = len(data)
        self.infos: dict[str, ZipEntry] = {}
        cd_offset, cd_size, count = self._end_records()
        _prefetch(data, [(cd_offset, cd_offset + cd_size)])
        self._central_directory(cd_offset, cd_size, count)
        # a remote file: every local header in one concurrent batch, not a block each
        # (from just before each header: the previous entry's data descriptor ends there)
        if getattr(data, "prefetch", None) is not None:  # a local buffer needs no list
            _prefetch(data, [(i.header_offset - DESCRIPTOR_MAX, i.header_offset + LOCAL.size
                              + len(i.raw_name) + LOCAL_EXTRA_GUESS)
                             for i in self.infos.values()]
                      + [(cd_offset - DESCRIPTOR_MAX, cd_offset)])
        self._local_headers(cd_offset)
        roots = {n.split("/", 1)[0] for n in self.infos}
        bad = next((n for n in self.infos
                    if n.startswith("/") or "\\" in n or ".." in n.split("/")), None)
        if bad is not None:
            raise CheckpointError(path, f"zip entry name {bad!r} escapes the archive")
        self.root = roots.pop() if len(roots) == 1 else None

    # ---- Public API
    def data_range(self, name: str) -> tuple[int, int]:
        """(offset, size) of a stored entry's bytes in the file."""
        info = self.infos[name]
        if info.compress_type != zipfile.ZIP_STORED:
            raise CheckpointError(self.path, f"zip entry {name!r} is compressed; torch checkpoints "
                                             "store records uncompressed, so it is refused")
        if info.file_size != info.compress_size:
            raise CheckpointError(self.path, f"zip entry {name!r} is stored but declares "
                                             f"{info.file_size} bytes of content in "
                                             f"{info.compress_size}")
        return info.data_offset, info.file_size

    def crc_ok(self, name: str, chunk: int = 4 << 20) -> bool:
        """Whether the entry's bytes match the CRC-32 the archive stores (reads them all)."""
        offset, size = self.data_range(name)
        crc = 0
        for start in range(offset, offset + size, chunk):
            crc = zlib.crc32(self.mm[start:min(start + chunk, offset + size)], crc)
        return crc == self.infos[name].crc

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

    def content(self, name: str, limit: int) -> bytes:
        """The first ``limit`` bytes of an entry's content, stored or deflated."""
        info = self.infos[name]
        start = info.data_offset
        if info.compress_type == zipfile.ZIP_STORED:
            return bytes(self.mm[start:start + min(info.compress_size, limit)])
        if info.compress_type != zipfile.ZIP_DEFLATED:
            raise CheckpointError(self.path, f"zip entry {name!r} uses an unsupported compression")
        try:
            inflater = zlib.decompressobj(-15)
            return inflater.decompress(bytes(self.mm[start:start + info.compress_size]), limit)
        except zlib.error as e:
            raise CheckpointError(self.path, f"zip entry {name!r} is damaged ({e})") from e

    def entry_text(self, name: str, limit: int) -> tuple[str, int]:
        """(first ``limit`` bytes of an entry as text, its full size); stored or deflated.

        torch stores code files compressed, unlike tensor records, so ``data_range`` refuses
        them.
        """
        data = self.content(name, limit)
        return data[:limit].decode("utf-8", "replace"), self.infos[name].file_size

    def rebuilt(self) -> io.BytesIO:
        """A fresh zip holding exactly the validated entries, in the same order, every one
        stored: what a trusted ``torch.load`` is given instead of the file itself."""
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, info in self.infos.items():
                if info.compress_type == zipfile.ZIP_STORED:
                    data = bytes(self.mm[info.data_offset:info.data_offset + info.file_size])
                else:
                    if info.file_size > MAX_INFLATED:
                        raise CheckpointError(self.path, f"zip entry {name!r} inflates to "
                                                         f"{info.file_size} bytes, over the "
                                                         f"{MAX_INFLATED}-byte limit")
                    data = self.content(name, info.file_size)
                    if len(data) != info.file_size:
                        raise CheckpointError(self.path, f"zip entry {name!r} inflates to "
                                                         f"{len(data)} bytes, not the "
                                                         f"{info.file_size} it declares")
                zinfo = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                zf.writestr(zinfo, data)
        out.seek(0)
        return out

    # ---- Private API
    def _ambiguous(self, what: str) -> AmbiguousArchiveError:
        return AmbiguousArchiveError(self.path, what)

    def _damaged(self, what: str) -> CheckpointError:
        return CheckpointError(self.path, f"damaged zip archive: {what}")

    def _find(self, sig: bytes, start: int, end: int) -> int:
        mm = self.mm
        if isinstance(mm, (bytes, bytearray, mmap.mmap)):
            return mm.find(sig, start, end)
        at = bytes(mm[start:end]).find(sig)
        return at if at < 0 else start + at

    def _end_records(self) -> tuple[int, int, int]:
        """(central directory offset, size, entry count) from the one end record, after
        checking that nothing but the end records and the comment follow the directory."""
        size, mm = self.size, self.mm
        if size < EOCD.size:
            raise self._damaged("no central directory (truncated?)")
        window = max(0, size - EOCD.size - 0xFFFF)
        at = mm.rfind(EOCD_SIG, window) if isinstance(mm, mmap.mmap | bytes) else (
            bytes(mm[window:]).rfind(EOCD_SIG))
        if at >= 0 and not isinstance(mm, mmap.mmap | bytes):
            at += window
        if at < 0 or at + EOCD.size > size:
            raise self._damaged("no central directory (truncated?)")
        (_, disk, cd_disk, here, count, cd_size, cd_offset,
         comment) = _unpack_at(EOCD, mm, at)
        end = at + EOCD.size + comment
        if end > size:
            raise self._damaged("the end record's comment runs past the end of the file "
                                "(truncated?)")
        if end < size:
            raise self._ambiguous(f"{size - end} bytes follow the end of the zip archive")
        if disk or cd_disk or here != count:
            raise self._damaged("a multi-part archive")
        tail = at
        if at >= ZIP64_LOCATOR.size and bytes(mm[at - 20:at - 16]) == ZIP64_LOCATOR_SIG:
            _, disk64, record_at, disks = _unpack_at(ZIP64_LOCATOR, mm, at - ZIP64_LOCATOR.size)
            if disk64 or disks > 1 or record_at + ZIP64_EOCD.size > at - ZIP64_LOCATOR.size:
                raise self._damaged("a bad zip64 end record locator")
            (sig, record_size, _, _, disk, cd_disk, here64, count64, cd_size64,
             cd_offset64) = _unpack_at(ZIP64_EOCD, mm, record_at)
            if sig != ZIP64_EOCD_SIG:
                raise self._damaged("the zip64 end record is missing")
            if record_at + 12 + record_size != at - ZIP64_LOCATOR.size:
                raise self._ambiguous("bytes between the zip64 end record and its locator")
            for classic, wide, what in ((count, count64, "entry count"),
                                        (cd_size, cd_size64, "directory size"),
                                        (cd_offset, cd_offset64, "directory offset")):
                if classic not in (wide, SATURATED16 if what == "entry count" else SATURATED32):
                    raise self._ambiguous(f"the zip64 and classic end records disagree on the "
                                          f"{what}")
            if disk or cd_disk or here64 != count64:
                raise self._damaged("a multi-part archive")
            count, cd_size, cd_offset, tail = count64, cd_size64, cd_offset64, record_at
        if count > MAX_ENTRIES:
            raise CheckpointError(self.path, f"zip archive declares {count} entries, over the "
                                             f"limit of {MAX_ENTRIES}")
        if cd_offset + cd_size > tail:
            raise self._damaged("the central directory overlaps its end record (truncated?)")
        if cd_offset + cd_size < tail:
            raise self._ambiguous(f"{tail - cd_offset - cd_size} bytes lie between the central "
                                  "directory and its end record (a second directory?)")
        for sig, allowed in ((EOCD_SIG, {at}), (ZIP64_EOCD_SIG, {tail} - {at}),
                             (ZIP64_LOCATOR_SIG, {at - ZIP64_LOCATOR.size} if tail != at else set())):
            pos = self._find(sig, tail, size)
            while pos >= 0:
                if pos not in allowed:
                    raise self._ambiguous("more than one end-of-central-directory record")
                pos = self._find(sig, pos + 1, size)
        return cd_offset, cd_size, count

    def _central_directory(self, cd_offset: int, cd_size: int, count: int) -> None:
        mm, infos = self.mm, self.infos
        folded: dict[bytes, str] = {}
        pos, end = cd_offset, cd_offset + cd_size
        unpack = CENTRAL.unpack_from if isinstance(mm, LOCAL_BUFFERS) else (
            lambda m, p: _unpack_at(CENTRAL, m, p))
        for _ in range(count):
            if pos + CENTRAL.size > end:
                raise self._damaged("the central directory is shorter than its entry count")
            (sig, _, _, flags, method, _, _, crc, csize, usize, name_len, extra_len,
             comment_len, disk, _, _, header_offset) = unpack(mm, pos)
            if sig != CENTRAL_SIG:
                raise self._damaged("a bad central directory entry")
            name_at = pos + CENTRAL.size
            pos = name_at + name_len + extra_len + comment_len
            if pos > end:
                raise self._damaged("a central directory entry runs past the directory")
            raw = bytes(mm[name_at:name_at + name_len])
            zip64 = SATURATED32 in (csize, usize, header_offset) or disk == SATURATED16
            if zip64:
                usize, csize, header_offset = self._zip64_fields(
                    mm[name_at + name_len:name_at + name_len + extra_len], raw,
                    (usize, csize, header_offset, disk))
            if flags & FLAG_UTF8 and raw.isascii() and b"\x00" not in raw:
                name = raw.decode("ascii")  # torch's names: what _decode_name gives, sooner
            else:
                name = self._decode_name(raw, flags)
            if flags & FLAG_ENCRYPTED:
                raise CheckpointError(self.path, f"zip entry {name!r} is encrypted")
            if name in infos:
                raise self._ambiguous(f"zip archive has two entries named {name!r}; readers "
                                      "disagree on which one counts")
            twin = folded.setdefault(raw.lower(), name)
            if twin != name:
                raise self._ambiguous(f"entries {twin!r} and {name!r} differ only in case "
                                      "(torch finds names case-insensitively)")
            infos[name] = ZipEntry(name, raw, flags, method, crc, csize, usize, header_offset, zip64)
        if pos != end:
            raise self._ambiguous(f"{end - pos} bytes of the central directory belong to no entry")

    def _decode_name(self, raw: bytes, flags: int) -> str:
        if b"\x00" in raw:
            raise self._ambiguous(f"entry name {raw!r} holds a NUL byte (readers cut it there "
                                  "or not)")
        if flags & FLAG_UTF8:
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                raise self._damaged(f"entry name {raw!r} is not valid UTF-8") from None
        return raw.decode("cp437")

    def _zip64_fields(self, extra: Any, raw: bytes, fields: tuple[int, int, int, int]
                      ) -> tuple[int, int, int]:
        """(file size, compressed size, header offset) with the zip64 extra field applied to
        those whose 32-bit values are saturated."""
        usize, csize, offset, disk = fields
        found = None
        pos = 0
        while pos + 4 <= len(extra):
            kind, length = struct.unpack_from("<2H", extra, pos)
            if pos + 4 + length > len(extra):
                raise self._damaged(f"entry {raw!r} has a corrupt extra field")
            if kind == ZIP64_EXTRA:
                if found is not None:
                    raise self._ambiguous(f"entry {raw!r} has two zip64 extra fields")
                found = bytes(extra[pos + 4:pos + 4 + length])
            pos += 4 + length
        if found is None:
            raise self._damaged(f"entry {raw!r} lacks the zip64 field its sizes call for")
        values = []
        at = 0
        for value, wanted, width in ((usize, usize == SATURATED32, 8),
                                     (csize, csize == SATURATED32, 8),
                                     (offset, offset == SATURATED32, 8),
                                     (disk, disk == SATURATED16, 4)):
            if wanted:
                if at + width > len(found):
                    raise self._damaged(f"entry {raw!r} has a short zip64 extra field")
                value = int.from_bytes(found[at:at + width], "little")
                at += width
            values.append(value)
        if values[3]:
            raise self._damaged("a multi-part archive")
        return values[0], values[1], values[2]

    def _local_headers(self, cd_offset: int) -> None:
        """Check every local header against its directory entry, and that the entries lie
        end to end from byte 0 up to the central directory (no gaps, no overlaps)."""
        mm = self.mm
        pos = 0
        previous = None
        for info in sorted(self.infos.values(), key=lambda i: i.header_offset):
            name = info.filename
            if info.header_offset != pos:
                if info.header_offset < pos:
                    raise self._ambiguous(f"entries {previous!r} and {name!r} overlap")
                where = f"after entry {previous!r}" if previous else "before the first entry"
                raise self._ambiguous(f"{info.header_offset - pos} unlisted bytes {where}")
            if pos + LOCAL.size > cd_offset:
                raise self._damaged(f"entry {name!r} points past its data (truncated?)")
            (sig, _, flags, method, _, _, crc, csize, usize, name_len,
             extra_len) = _unpack_at(LOCAL, mm, pos)
            if sig != LOCAL_SIG:
                raise self._damaged(f"zip entry {name!r} has a damaged local header")
            name_at = pos + LOCAL.size
            data = name_at + name_len + extra_len
            if bytes(mm[name_at:name_at + name_len]) != info.raw_name:
                raise self._ambiguous(f"the local header of entry {name!r} names another file")
            if method != info.compress_type or (flags ^ info.flags) & (
                    FLAG_ENCRYPTED | FLAG_DESCRIPTOR | FLAG_UTF8):
                raise self._ambiguous(f"the local header of entry {name!r} disagrees with the "
                                      "central directory on how it is stored")
            if info.flags & FLAG_DESCRIPTOR:  # sizes follow the data; the header may say 0
                agrees = (crc in (0, info.crc) and csize in (0, SATURATED32, info.compress_size)
                          and usize in (0, SATURATED32, info.file_size))
            else:
                if SATURATED32 in (csize, usize):
                    usize, csize, _ = self._zip64_fields(mm[name_at + name_len:data],
                                                         info.raw_name, (usize, csize, 0, 0))
                agrees = (crc, csize, usize) == (info.crc, info.compress_size, info.file_size)
            if not agrees:
                raise self._ambiguous(f"the local header of entry {name!r} disagrees with the "
                                      "central directory on its size or checksum")
            end = data + info.compress_size
            if end > cd_offset:
                raise self._damaged(f"zip entry {name!r} ({info.compress_size} bytes) extends "
                                    "past its data: the file is truncated")
            info.data_offset = data
            if info.flags & FLAG_DESCRIPTOR:
                end += self._descriptor_length(info, end, cd_offset)
            pos = end
            previous = name
        if pos != cd_offset:
            where = f"after entry {previous!r}" if previous else "before the central directory"
            raise self._ambiguous(f"{cd_offset - pos} unlisted bytes {where}")

    def _descriptor_length(self, info: ZipEntry, at: int, limit: int) -> int:
        """Length of the data descriptor at ``at``, which must repeat the entry's checksum
        and sizes (with or without its signature, with 4- or 8-byte sizes)."""
        expected = (info.crc, info.compress_size, info.file_size)
        has_sig = bytes(self.mm[at:at + 4]) == DESCRIPTOR_SIG
        start = at + 4 if has_sig else at
        for wide in ((True, False) if info.zip64 else (False, True)):
            layout = _DESCRIPTOR_WIDE if wide else _DESCRIPTOR
            length = layout.size
            if start + length <= limit and _unpack_at(layout, self.mm, start) == expected:
                return start + length - at
        raise self._ambiguous(f"the data descriptor of entry {info.filename!r} disagrees with "
                              "the central directory")


def verify_zip_records(path: str) -> list[str]:
    """CRC-check every entry of a zip checkpoint; one message per corrupt entry."""
    from inspector.core.remote.urls import is_url

    if is_url(path):
        from inspector.core.remote.source import RemoteBuffer, remote_file

        return _corrupt_records(path, ZipArchive(path, RemoteBuffer(remote_file(path))))
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        return _corrupt_records(path, ZipArchive(path, mm))


def _corrupt_records(path: str, archive: ZipArchive) -> list[str]:
    name_of_file = path.rstrip("/").rsplit("/", 1)[-1] if "://" in path else os.path.basename(path)
    return [f"{name_of_file}: record {name!r} fails its CRC-32 check: its bytes are corrupt"
            for name in archive.infos
            if not name.endswith("/") and not archive.crc_ok(name)]
