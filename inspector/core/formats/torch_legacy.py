"""Pre-1.6 ``torch.save`` files: a sequence of pickles followed by raw storages.

Layout: magic-number pickle, protocol pickle (1001), system-info pickle, the object pickle
(storages as persistent ids), a pickled list of storage keys, then for each key in that
order an 8-byte little-endian element count and the storage's bytes. Every pickle is read
with the inert unpickler.
"""

from __future__ import annotations

import mmap
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

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001
MAGIC_PREFIX = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."


def looks_legacy(head: bytes) -> bool:
    return head.startswith(MAGIC_PREFIX)


REMOTE_PREFIX = 1 << 20  # first bytes read of a remote legacy file (grown as needed)


def read_torch_legacy(path: str, fh, mm: mmap.mmap, size: int) -> Checkpoint:
    if isinstance(mm, mmap.mmap | bytes | memoryview):
        return _read_legacy(path, mm, mm, size)
    # remote: the pickles come first; read a prefix, grown until they all fit in it
    prefix = REMOTE_PREFIX
    while True:
        data = mm[:min(prefix, size)]
        try:
            return _read_legacy(path, data, mm, size)
        except CheckpointError as e:
            # only a pickle cut off by the prefix is worth a longer read (a hostile file's
            # broken pickle is not: the local reader would refuse it the same way)
            if len(data) >= min(size, MAX_PICKLE_BYTES * 4) or "truncated" not in e.problem:
                raise
        prefix *= 8


def _read_legacy(path: str, data, mm, size: int) -> Checkpoint:
    """``data``: the buffer the pickles are read from (all of ``mm``, or its first bytes)."""
    globals_seen: dict[str, None] = {}
    unsafe: dict[str, None] = {}

    def load(start: int, what: str, persistent_load=None):
        try:
            res = load_inert(data, persistent_load, start=start)
        except InertPickleError as e:
            raise CheckpointError(path, f"legacy torch file, {what}: {e}") from e
        globals_seen.update(dict.fromkeys(res.globals))
        unsafe.update(dict.fromkeys(res.unsafe_globals))
        return res

    magic = load(0, "magic number")
    if magic.obj != MAGIC_NUMBER:
        raise CheckpointError(path, "not a legacy torch file (bad magic number)")
    proto = load(magic.end, "protocol version")
    if proto.obj != PROTOCOL_VERSION:
        raise CheckpointError(path, f"legacy torch file with unsupported protocol {proto.obj!r}")
    sysinfo = load(proto.end, "system info")
    little = True
    if isinstance(sysinfo.obj, dict):
        little = sysinfo.obj.get("little_endian", True) is not False
    else:
        raise CheckpointError(path, "legacy torch file: the system-info record is not a dict")

    storages: dict[str, StorageRef] = {}

    def persistent_load(pid: Any) -> StorageRef:
        ref = storage_ref_from_pid(pid)
        root = storages.get(ref.key)
        if root is None:
            root = storages[ref.key] = StorageRef(ref.key, ref.dtype, ref.location, ref.numel)
        if ref.view_numel is not None:
            return ref  # a view: same key, element offset applied by the tensor rebuild
        return root

    body = load(sysinfo.end, "object", persistent_load)
    keys_res = load(body.end, "storage keys")
    keys = keys_res.obj
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise CheckpointError(path, "legacy torch file: the storage key list is malformed")

    pos = keys_res.end
    infos: dict[str, StorageInfo] = {}
    for key in keys:
        if pos + 8 > size:
            raise CheckpointError(path, f"legacy torch file is truncated (storage {key!r} missing)")
        numel = int.from_bytes(mm[pos:pos + 8], "little" if little else "big", signed=True)
        ref = storages.get(key)
        if ref is None:
            raise CheckpointError(path, f"legacy torch file lists storage {key!r} that nothing uses")
        if numel != ref.numel:
            raise CheckpointError(path, f"legacy storage {key!r} holds {numel} elements, "
                                        f"the object says {ref.numel}")
        nbytes = numel * dtype_info(ref.dtype).itemsize
        if numel < 0 or pos + 8 + nbytes > size:
            raise CheckpointError(path, f"legacy torch file is truncated (storage {key!r} needs "
                                        f"{nbytes} bytes at offset {pos + 8}, file has {size})")
        infos[key] = StorageInfo(key=key, dtype=ref.dtype, numel=numel, location=ref.location,
                                 file=path, file_offset=pos + 8, nbytes=nbytes,
                                 byteorder="little" if little else "big")
        pos += 8 + nbytes
    missing = [k for k in storages if k not in infos]
    if missing:
        raise CheckpointError(path, f"legacy torch file has no bytes for storage {missing[0]!r}")

    def storage_info(ref: StorageRef) -> StorageInfo:
        return infos[ref.key]

    warnings: list[str] = []
    if pos != size:
        warnings.append(f"{size - pos} unexpected bytes after the last storage")
    tree = TreeBuilder(storage_info, warnings).build(body.obj)
    return Checkpoint(path=path, format="torch-legacy", size_bytes=size, root=tree,
                      globals=list(globals_seen), unsafe_globals=list(unsafe), warnings=warnings,
                      details={"pickle_bytes": body.end - sysinfo.end,
                               "byteorder": "little" if little else "big"})
