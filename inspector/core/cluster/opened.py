"""Checkpoints opened on a worker: once per process, refused when the file differs from
the client's (size and modification time of a local path)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from inspector.core.checkpoint import Checkpoint
from inspector.core.cluster import ClusterError

_OPEN: OrderedDict[str, Checkpoint] = OrderedDict()
_OPEN_LOCK = threading.Lock()


def fingerprint(path: str) -> tuple:
    """(size, modification time) of a local file or folder; () for a URL (its version is
    checked by the remote cache)."""
    import os

    from inspector.core.remote.urls import is_url

    if is_url(path):
        return ()
    try:
        st = os.stat(path)
    except OSError:
        return ("missing",)
    return (st.st_size, st.st_mtime_ns)


def worker_checkpoint(path: str, expected: tuple | None = None) -> Checkpoint:
    """The checkpoint at ``path`` opened once per worker process (metadata cached: a remote
    file's header is not fetched again for every piece). ``expected``: the client's
    :func:`fingerprint`; a worker that sees another file refuses the piece."""
    from inspector.core.formats import open_checkpoint

    here = fingerprint(path)
    if expected is not None and here != tuple(expected):
        raise ClusterError("not the same file on the worker as on this machine (changed, or "
                           "another file at the same path); use a shared filesystem or a URL",
                           path)
    key = f"{path}\0{here}"
    with _OPEN_LOCK:
        ck = _OPEN.get(key)
        if ck is not None:
            _OPEN.move_to_end(key)
            return ck
    ck = open_checkpoint(path)
    with _OPEN_LOCK:
        _OPEN[key] = ck
        while len(_OPEN) > 8:
            _OPEN.popitem(last=False)[1].close()
    return ck
