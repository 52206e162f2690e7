"""Per-checkpoint results kept on disk, so reopening a run reads nothing it has read before.

One JSON file per checkpoint in the user's cache folder, keyed by the checkpoint's path, size
and modification time (a folder checkpoint: the sum of its files' sizes and the latest
mtime). It holds the file's :class:`~inspector.core.timeline.scan.FileSummary` and its
changes from each previous checkpoint it was compared with. A stale or unreadable entry is
simply recomputed; nothing from the cache is ever executed (it is JSON).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile

from inspector.core.timeline.scan import Delta, FileSummary, TensorSummary

CACHE_ENV = "CHECKPOINT_INSPECTOR_CACHE"
VERSION = 2  # 2: Hugging Face folders' Adam moments from optimizer.pt
MAX_DELTAS = 8  # previous checkpoints remembered per file


def default_cache_dir() -> str:
    """``$CHECKPOINT_INSPECTOR_CACHE``, else ``$XDG_CACHE_HOME/checkpoint-inspector``, else
    ``~/.cache/checkpoint-inspector``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "checkpoint-inspector")


def file_key(path: str) -> list:
    """[absolute path, size, mtime_ns] of a file, or of a folder's files together."""
    path = os.path.abspath(path)
    st = os.stat(path)
    if not os.path.isdir(path):
        return [path, st.st_size, st.st_mtime_ns]
    size, mtime = 0, st.st_mtime_ns
    for entry in os.scandir(path):
        if entry.is_file():
            est = entry.stat()
            size += est.st_size
            mtime = max(mtime, est.st_mtime_ns)
    return [path, size, mtime]


class RunCache:
    """Read and write cached results under ``folder``; None: kept in memory for this run
    only."""

    def __init__(self, folder: str | None):
        self.folder = os.path.join(folder, "timeline") if folder else None
        self._memory: dict[str, dict] = {}

    def _file(self, key: list) -> str:
        digest = hashlib.sha256(key[0].encode("utf-8", "surrogatepass")).hexdigest()[:32]
        return os.path.join(self.folder, f"{digest}.json")

    def load(self, key: list) -> dict:
        if self.folder is None:
            return self._memory.get(json.dumps(key), {})
        try:
            with open(self._file(key), encoding="utf-8") as fh:
                doc = json.load(fh)
        except (OSError, ValueError):
            return {}
        if not isinstance(doc, dict) or doc.get("version") != VERSION or doc.get("key") != key:
            return {}
        return doc

    def summary(self, key: list) -> FileSummary | None:
        doc = self.load(key).get("summary")
        try:
            return summary_from_json(doc) if doc else None
        except (KeyError, TypeError, ValueError):
            return None

    def delta(self, key: list, prev_key: list) -> Delta | None:
        doc = self.load(key).get("deltas", {}).get(json.dumps(prev_key))
        if not isinstance(doc, dict):
            return None
        try:
            return Delta({k: (float(v[0]), bool(v[1])) for k, v in doc.items()})
        except (TypeError, ValueError, IndexError):
            return None

    def store(self, key: list, summary: FileSummary | None, prev_key: list | None,
              delta: Delta | None) -> None:
        doc = self.load(key) or {"version": VERSION, "key": key, "deltas": {}}
        if summary is not None:
            doc["summary"] = summary_to_json(summary)
        if delta is not None and prev_key is not None:
            deltas = doc.setdefault("deltas", {})
            deltas[json.dumps(prev_key)] = {k: [v[0], v[1]] for k, v in delta.changes.items()}
            while len(deltas) > MAX_DELTAS:
                deltas.pop(next(iter(deltas)))
        if self.folder is None:
            self._memory[json.dumps(key)] = doc
            return
        try:
            os.makedirs(self.folder, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh)
            os.replace(tmp, self._file(key))
        except (OSError, TypeError, ValueError):
            pass  # a cache that cannot be written only costs time


def summary_to_json(s: FileSummary) -> dict:
    doc = dataclasses.asdict(s)
    doc["tensors"] = [dataclasses.asdict(t) for t in s.tensors]
    return json.loads(json.dumps(doc, default=str))


def summary_from_json(doc: dict) -> FileSummary:
    tensors = []
    for t in doc["tensors"]:
        t = dict(t)
        t["path"] = tuple(t["path"])
        t["shape"] = tuple(t["shape"])
        tensors.append(TensorSummary(**t))
    return FileSummary(path=doc["path"], tensors=tensors, scalars=dict(doc["scalars"]),
                       optimizer={k: dict(v) for k, v in doc["optimizer"].items()},
                       duplicates=[(a, b) for a, b in doc["duplicates"]],
                       held_steps=dict(doc.get("held_steps", {})))
