"""The "torch pickle + storages" reader every zip-based torch format shares.

A torch archive (``torch.save``, TorchScript, the weights of a ``.pt2``, each item of a DCP
file) holds pickles whose storages are persistent ids naming records of the same archive.
:class:`TorchPickles` reads those pickles with the inert unpickler and turns each storage
into a checked byte range of the file (:class:`StorageInfo`), without reading tensor bytes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from inspector.core.dtypes import dtype_info
from inspector.core.formats._zip import ZipArchive, sub_buffer
from inspector.core.model import AmbiguousArchiveError, CheckpointError, StorageInfo
from inspector.core.unpickler import (
    InertPickleError,
    InertResult,
    StorageRef,
    load_inert,
    storage_ref_from_pid,
)

MAX_ITEM_PICKLE = 1 << 28  # data.pkl of one archive stored inside another file


def read_byteorder(archive: ZipArchive, root: str, what: str = "") -> str:
    """The archive's ``byteorder`` record (``little`` when absent, as torch assumes)."""
    name = f"{root}/byteorder"
    if name not in archive.infos:
        return "little"
    raw = archive.text(name, 16)
    if raw not in ("little", "big"):
        raise CheckpointError(archive.path, f"{what}unknown byte order {raw!r} in the archive")
    return raw


class TorchPickles:
    """The pickles of one torch archive, with their storages resolved to byte ranges.

    ``file`` is the file the archive lies in and ``base`` the archive's offset in it (0 for
    a file of its own); ``what`` prefixes messages and storage keys of archives stored
    inside another file (``"__0_0.distcp@128"``).
    """

    def __init__(self, archive: ZipArchive, *, file: str | None = None, base: int = 0,
                 what: str = ""):
        if archive.root is None:
            raise CheckpointError(file or archive.path,
                                  f"{what + ': ' if what else ''}not a torch archive (no single "
                                  "root folder)")
        self.archive = archive
        self.root = archive.root
        self.file = file or archive.path
        self.base = base
        self.what = what
        self._prefix = f"{what}: " if what else ""
        self.byteorder = read_byteorder(archive, self.root, self._prefix)
        self.globals: dict[str, None] = {}
        self.unsafe_globals: dict[str, None] = {}
        self._infos: dict[tuple[str, str], StorageInfo] = {}
        self._shown: dict[str, str] = {}  # record -> the storage key shown for it
        self._itemsizes: dict[str, int] = {}

    def load(self, name: str, records: str = "data", limit: int = MAX_ITEM_PICKLE,
             data: bytes | None = None, key_prefix: str = "") -> InertResult:
        """Read pickle ``<root>/<name>`` (or ``data``, its bytes already read); its storages
        name records under ``<root>/<records>/`` and are shown as ``key_prefix + key``
        (``what/key`` for an archive inside another file). Raises CheckpointError naming the
        pickle."""
        if data is None:
            data = self.read(name, limit)
        refs: dict[str, StorageRef] = {}
        shown = f"{self.what}/" if self.what else key_prefix

        def persistent_load(pid: Any) -> StorageRef:
            ref = storage_ref_from_pid(pid)
            record = f"{records}/{ref.key}"
            self._shown.setdefault(record, shown + ref.key)
            ref.key = record
            return refs.setdefault(record, ref)  # the first description of a storage counts

        try:
            res = load_inert(data, persistent_load)
        except InertPickleError as e:
            self.globals.update(dict.fromkeys(e.globals))
            self.unsafe_globals.update(dict.fromkeys(e.unsafe_globals))
            raise CheckpointError(self.file, f"{self._prefix}{name}: {e}") from e
        self.globals.update(dict.fromkeys(res.globals))
        self.unsafe_globals.update(dict.fromkeys(res.unsafe_globals))
        return res

    def read(self, name: str, limit: int) -> bytes:
        """The bytes of stored entry ``<root>/<name>``."""
        try:
            return self.archive.read(f"{self.root}/{name}", limit)
        except CheckpointError as e:
            raise CheckpointError(self.file, f"{self._prefix}{e.problem}") from e

    def storage_info(self, ref: StorageRef) -> StorageInfo:
        """The checked byte range of the record ``ref`` names (``<records>/<key>``): it must
        exist, be stored, and hold exactly the bytes its element count needs."""
        info = self._infos.get((ref.key, ref.dtype))
        if info is not None:
            return info
        name = f"{self.root}/{ref.key}"
        if name not in self.archive.infos:
            raise CheckpointError(self.file, f"{self._prefix}storage record {name!r} is missing "
                                             "from the archive")
        try:
            offset, nbytes = self.archive.data_range(name)
        except CheckpointError as e:
            raise CheckpointError(self.file, f"{self._prefix}{e.problem}") from e
        itemsize = self._itemsizes.get(ref.dtype)
        if itemsize is None:
            itemsize = self._itemsizes[ref.dtype] = dtype_info(ref.dtype).itemsize
        need = ref.numel * itemsize
        if nbytes != need:
            raise CheckpointError(self.file, f"{self._prefix}storage record {name!r} has {nbytes} "
                                             f"bytes but its {ref.numel} {ref.dtype} elements "
                                             f"need {need}")
        # key, dtype, numel, location, file, file_offset, nbytes, byteorder (positional: one
        # call per storage, 100,000 of them in a big file)
        info = self._infos[(ref.key, ref.dtype)] = StorageInfo(
            self._shown.get(ref.key, ref.key), ref.dtype, ref.numel, ref.location, self.file,
            self.base + offset, nbytes, self.byteorder)
        return info


@dataclass
class EmbeddedPickle:
    """What one embedded ``torch.save`` archive holds, with its storages resolvable."""

    obj: Any
    globals: list[str]
    unsafe_globals: list[str]
    storage_info: Callable[[StorageRef], StorageInfo | None]


def read_embedded_torch_save(file: str, mm: Any, offset: int, length: int,
                             what: str) -> EmbeddedPickle:
    """Read the ``torch.save`` archive at ``file[offset:offset+length]`` without running it.

    ``mm`` maps ``file``. Storages resolve to absolute byte ranges of ``file``. A bare
    pickle (no zip) is read too; its storages cannot be resolved. Raises CheckpointError
    naming ``file`` and ``what``.
    """
    view = sub_buffer(mm, offset, length)
    if bytes(view[:4]) not in (b"PK\x03\x04", b"PK\x05\x06"):
        try:
            res = load_inert(view if isinstance(view, memoryview) else view[:])
        except InertPickleError as e:
            raise CheckpointError(file, f"{what}: {e}") from e
        return EmbeddedPickle(res.obj, res.globals, res.unsafe_globals, lambda ref: None)
    try:
        archive = ZipArchive(file, view)
    except AmbiguousArchiveError as e:
        raise AmbiguousArchiveError(file, f"{what}: {e.what}") from e
    except CheckpointError as e:
        raise CheckpointError(file, f"{what}: {e.problem}") from e
    if archive.root is None:
        raise CheckpointError(file, f"{what}: not a torch.save archive (no single root)")
    if f"{archive.root}/data.pkl" not in archive.infos:
        raise CheckpointError(file, f"{what}: no data.pkl in the stored archive")
    pickles = TorchPickles(archive, file=file, base=offset, what=what)
    res = pickles.load("data.pkl")
    return EmbeddedPickle(res.obj, res.globals, res.unsafe_globals, pickles.storage_info)
