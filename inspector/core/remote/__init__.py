"""Checkpoints behind URLs (``https://``, ``s3://``, ``gs://``, ``hf://``) through fsspec.

Listing reads only the metadata with range requests (:mod:`.source`); tensor bytes are
fetched on demand into a bounded on-disk cache (:mod:`.cache`) and memory-mapped from there
(:func:`storage_view`). ``fsspec`` and the backends are imported on first use only.
"""

from __future__ import annotations

import mmap
from typing import TYPE_CHECKING

from inspector.core.model import CheckpointError, StorageInfo
from inspector.core.remote.urls import display_url, is_url, url_name

if TYPE_CHECKING:
    from inspector.core.checkpoint import Checkpoint

MAX_MAPS = 32  # cached storages kept mapped per checkpoint

__all__ = ["display_url", "is_url", "storage_view", "url_name"]


def storage_view(ckpt: Checkpoint, storage: StorageInfo) -> memoryview:
    """A remote storage's bytes: fetched into the on-disk cache (once), mapped from there."""
    from inspector.core.remote.cache import cached_range
    from inspector.core.remote.source import remote_file

    if storage.nbytes == 0:
        return memoryview(b"")
    key = f"{storage.file}\0{storage.file_offset}:{storage.nbytes}"
    with ckpt._lock:
        entry = ckpt._maps.get(key)
    if entry is None:
        remote = remote_file(storage.file)
        end = storage.file_offset + storage.nbytes
        if storage.file_offset < 0 or end > (remote.size or 0):
            raise CheckpointError(display_url(storage.file),
                                  f"storage {storage.key!r} lies outside the file (bytes "
                                  f"{storage.file_offset}..{end}, file has {remote.size})")
        path = cached_range(remote, storage.file_offset, storage.nbytes)
        fh = open(path, "rb")  # noqa: SIM115 - closed by Checkpoint.close
        try:
            # a private mapping, like local files: nothing written through it reaches a file
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY)
        except BaseException:
            fh.close()
            raise
        with ckpt._lock:
            entry = ckpt._maps.setdefault(key, (fh, mm))
            remote_keys = [k for k in ckpt._maps if "\0" in k]
            old = [ckpt._maps.pop(k) for k in remote_keys[:max(0, len(remote_keys) - MAX_MAPS)]
                   if k != key]
        if entry[1] is not mm:
            mm.close()
            fh.close()
        for ofh, omm in old:
            try:
                omm.close()
            except BufferError:  # still viewed: the garbage collector closes it later
                continue
            ofh.close()
    return memoryview(entry[1])
