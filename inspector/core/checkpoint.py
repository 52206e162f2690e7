"""The opened checkpoint: a tree of Nodes over tensors whose bytes stay in the file.

Readers in ``inspector.core.formats`` build a :class:`Checkpoint` from metadata alone. Tensor
bytes are reached later, on demand, through a read-only memory map of the file
(:meth:`Checkpoint.storage_view`, :meth:`Checkpoint.tensor`).
"""

from __future__ import annotations

import mmap
import os
import threading
from dataclasses import dataclass, field
from typing import Any

from inspector.core.model import (
    BYTES,
    CONTAINER_KINDS,
    DICT,
    LIST,
    NONE,
    OBJECT,
    REF,
    SCALAR,
    SET,
    STRING,
    TENSOR,
    TRUNCATED,
    TUPLE,
    CheckpointError,
    Key,
    Node,
    StorageInfo,
    TensorChunk,
    TensorInfo,
)

MAX_SHARED_LISTED = 64  # other views of one storage listed per tensor (display, JSON)


@dataclass
class Checkpoint:
    """An opened checkpoint. Holds metadata; maps files read-only when bytes are needed."""

    path: str
    format: str
    size_bytes: int
    root: Node
    globals: list[str] = field(default_factory=list)
    unsafe_globals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # format-specific facts for the summary

    def __post_init__(self) -> None:
        self._maps: dict[str, tuple[Any, mmap.mmap | None]] = {}
        self._lock = threading.Lock()
        self._tensors: list[tuple[tuple[Key, ...], TensorInfo]] | None = None
        self._tensor_nodes: list[Node] | None = None
        self._shared: dict[tuple[str, str], list[tuple[Key, ...]]] | None = None
        self._shared_by_path: dict[tuple[Key, ...], list[tuple[Key, ...]]] | None = None
        self._totals: dict[str, int] | None = None

    # ---- Public API: metadata
    def tensors(self) -> list[tuple[tuple[Key, ...], TensorInfo]]:
        """Every tensor with its key path, in file order (computed once: the tree is fixed
        once a reader returns it)."""
        if self._tensors is None:
            self._tensors = [(n.path(), n.tensor) for n in self.tensor_nodes()]
        return list(self._tensors)

    def tensor_nodes(self) -> list[Node]:
        if self._tensor_nodes is None:
            self._tensor_nodes = [n for n in self.root.walk() if n.kind == TENSOR]
        return list(self._tensor_nodes)

    def find(self, path: tuple[Key, ...] | list[Key]) -> Node | None:
        node: Node | None = self.root
        for key in path:
            node = node.child(key) if node else None
        return node

    def shared_groups(self) -> dict[tuple[str, str], list[tuple[Key, ...]]]:
        """Storage identity -> paths of the tensors viewing it (only groups of two or more)."""
        if self._shared is not None:
            return {k: list(v) for k, v in self._shared.items()}
        groups: dict[tuple[str, str], list[tuple[Key, ...]]] = {}
        for path, info in self.tensors():
            if info.storage is not None:
                groups.setdefault(info.storage.ident, []).append(path)
        self._shared = {k: v for k, v in groups.items() if len(v) > 1}
        return {k: list(v) for k, v in self._shared.items()}

    def shared_with(self, path: tuple[Key, ...], limit: int = MAX_SHARED_LISTED
                    ) -> tuple[list[tuple[Key, ...]], int]:
        """The other tensors viewing the storage of the tensor at ``path``: at most ``limit``
        of their paths, and how many there are in all.

        Bounded on purpose: a file can hold tens of thousands of views of one storage, and
        listing every other view for every view would take memory quadratic in their number.
        """
        if self._shared_by_path is None:
            self.shared_groups()
            self._shared_by_path = {p: group for group in self._shared.values() for p in group}
        group = self._shared_by_path.get(tuple(path))
        if group is None:
            return [], 0
        others = [q for q in group[:limit + 1] if q != path][:limit]
        return others, len(group) - 1

    def totals(self) -> dict[str, int]:
        if self._totals is not None:
            return dict(self._totals)
        # the tensors' infos without their key paths (100,000 paths: ~0.1 s the first view
        # of a big file would wait for before its tree is painted)
        infos = [n.tensor for n in self.tensor_nodes()]
        storages: dict[tuple[str, str], int] = {}
        for info in infos:
            for st in (info.storage, *info.extra_storages):
                if st is not None:
                    storages[st.ident] = st.nbytes
        self._totals = {
            "num_tensors": len(infos),
            "total_numel": sum(info.numel for info in infos),
            "unique_storage_bytes": sum(storages.values()),
        }
        return dict(self._totals)

    # ---- Public API: bytes
    def storage_view(self, storage: StorageInfo) -> memoryview:
        """The storage's bytes, straight from the memory-mapped file (no copy); a remote
        file's storage is fetched into the bounded on-disk cache and mapped from there."""
        if "://" in storage.file:
            from inspector.core.remote import is_url, storage_view

            if is_url(storage.file):
                return storage_view(self, storage)
        mm = self._map(storage.file)
        end = storage.file_offset + storage.nbytes
        fh = self._maps[storage.file][0]
        if os.fstat(fh.fileno()).st_size < len(mm):
            # touching pages past the new end would kill the process with SIGBUS
            raise CheckpointError(storage.file, "the file was truncated or replaced since it "
                                                "was opened; reopen it")
        if storage.file_offset < 0 or end > len(mm):
            raise CheckpointError(storage.file, f"storage {storage.key!r} lies outside the file "
                                  f"(bytes {storage.file_offset}..{end}, file has {len(mm)})")
        return memoryview(mm)[storage.file_offset:end]

    def tensor(self, info: TensorInfo):
        """A torch tensor over the mapped bytes (CPU, no copy for little-endian strided data)."""
        from inspector.core.materialize import tensor_from_info

        return tensor_from_info(self, info)

    def close(self) -> None:
        with self._lock:
            maps, self._maps = self._maps, {}
        for fh, mm in maps.values():
            if mm is not None:
                try:
                    mm.close()
                except BufferError:  # a tensor still views it; the GC closes it later
                    pass
            fh.close()

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- Private API
    def _map(self, file: str) -> mmap.mmap:
        with self._lock:
            entry = self._maps.get(file)
            if entry is None:
                fh = open(file, "rb")  # noqa: SIM115 - closed in close()
                size = os.fstat(fh.fileno()).st_size
                # ACCESS_COPY is a private mapping: torch can wrap it without a read-only
                # warning, and nothing written through it could ever reach the file.
                mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY) if size else None
                entry = self._maps[file] = (fh, mm)
            mm = entry[1]
        if mm is None:
            raise CheckpointError(file, "file is empty")
        return mm


# the data types are defined in inspector.core.model; importing them from here keeps working
__all__ = [
    "BYTES", "CONTAINER_KINDS", "DICT", "LIST", "NONE", "OBJECT", "REF", "SCALAR", "SET",
    "STRING", "TENSOR", "TRUNCATED", "TUPLE", "Checkpoint", "CheckpointError", "Key", "Node",
    "StorageInfo", "TensorChunk", "TensorInfo",
]
