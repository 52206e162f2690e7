"""The bounded on-disk cache of remote tensor bytes.

A storage's bytes are fetched chunk by chunk (concurrent range requests) into a file of the
cache folder, which is then memory-mapped like a local checkpoint; the least recently used
files are deleted once the folder holds more than the limit. Entries are keyed by URL,
size, version (ETag or modification time), offset and length, so a changed remote file is
never answered from stale bytes. Only tensor bytes are stored: never credentials.

``INSPECTOR_REMOTE_CACHE_DIR`` (default ``$XDG_CACHE_HOME/checkpoint-inspector/remote``) and
``INSPECTOR_REMOTE_CACHE_BYTES`` (default 2 GiB) set where and how much.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from inspector.core.remote.source import RemoteFile

CHUNK = 8 << 20  # one range request
PARALLEL = 4
DEFAULT_LIMIT = 2 << 30
STALE_PART_S = 3600


def cache_dir() -> str:
    folder = os.environ.get("INSPECTOR_REMOTE_CACHE_DIR")
    if not folder:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(base, "checkpoint-inspector", "remote")
    return folder


def cache_limit() -> int:
    try:
        return max(0, int(os.environ.get("INSPECTOR_REMOTE_CACHE_BYTES", DEFAULT_LIMIT)))
    except ValueError:
        return DEFAULT_LIMIT


def cached_range(remote: RemoteFile, offset: int, nbytes: int) -> str:
    """Path of a cache file holding exactly bytes ``[offset, offset + nbytes)`` of
    ``remote`` (fetched now unless already cached). Raises RemoteError."""
    folder = cache_dir()
    os.makedirs(folder, mode=0o700, exist_ok=True)
    key = hashlib.sha256("\0".join(map(str, (remote.url, remote.size, remote.version, offset,
                                                 nbytes))).encode()).hexdigest()[:40]
    path = os.path.join(folder, key + ".bin")
    try:
        if os.path.getsize(path) == nbytes:
            os.utime(path)  # most recently used
            return path
    except OSError:
        pass
    part = f"{path}.{os.getpid()}.{threading.get_ident()}.part"
    fd = os.open(part, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.ftruncate(fd, nbytes)

        def fill(start: int) -> None:
            data = remote.fetch(offset + start, offset + min(start + CHUNK, nbytes))
            os.pwrite(fd, data, start)

        starts = range(0, nbytes, CHUNK)
        if len(starts) <= 1:
            for s in starts:
                fill(s)
        else:
            with ThreadPoolExecutor(min(PARALLEL, len(starts))) as pool:
                list(pool.map(fill, starts))
    except BaseException:
        os.close(fd)
        _remove(part)
        raise
    os.close(fd)
    os.replace(part, path)
    evict(keep=path)
    return path


def evict(keep: str | None = None, limit: int | None = None) -> int:
    """Delete the least recently used cache files until the folder is within ``limit``
    (never ``keep``, the file about to be read); returns the bytes left."""
    limit = cache_limit() if limit is None else limit
    folder = cache_dir()
    entries = []
    now = time.time()
    try:
        names = os.listdir(folder)
    except OSError:
        return 0
    for name in names:
        full = os.path.join(folder, name)
        try:
            st = os.stat(full)
        except OSError:
            continue
        if name.endswith(".part"):
            if now - st.st_mtime > STALE_PART_S:  # left by a killed process
                _remove(full)
            continue
        if name.endswith(".bin"):
            entries.append((st.st_mtime, full, st.st_size))
    total = sum(e[2] for e in entries)
    for _, full, size in sorted(entries):
        if total <= limit:
            break
        if full == keep:
            continue
        if _remove(full):
            total -= size
    return total


def _remove(path: str) -> bool:
    try:
        os.remove(path)
        return True
    except OSError:
        return False
