"""The opened checkpoint: a tree of Nodes over tensors whose bytes stay in the file.

Readers in ``inspector.core.formats`` build a :class:`Checkpoint` from metadata alone. Tensor
bytes are reached later, on demand, through a read-only memory map of the file
(:meth:`Checkpoint.storage_view`, :meth:`Checkpoint.tensor`).
"""

from __future__ import annotations

import math
import mmap
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from inspector.core.dtypes import dtype_info

Key = Any  # a container key exactly as stored: str, int, or another hashable scalar


class CheckpointError(Exception):
    """A file that cannot be opened or read; the message names the file and the problem."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


@dataclass(eq=False)
class StorageInfo:
    """One block of tensor bytes in a file.

    ``file_offset`` is where the bytes start in ``file``; ``nbytes`` how many there are.
    ``key`` identifies the storage inside its file (zip record name, legacy key, tensor name).
    """

    key: str
    dtype: str
    numel: int
    location: str
    file: str
    file_offset: int
    nbytes: int
    byteorder: str = "little"

    @property
    def ident(self) -> tuple[str, str]:
        return (self.file, self.key)


@dataclass(eq=False)
class TensorInfo:
    """A tensor described by metadata: a view (shape, stride, offset) into a storage."""

    dtype: str
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    storage_offset: int
    storage: StorageInfo | None
    requires_grad: bool = False
    is_parameter: bool = False
    layout: str = "strided"  # "strided", "sparse_coo", "sparse_csr", ..., "quantized", "meta", "nested"
    extra_storages: tuple[StorageInfo, ...] = ()  # e.g. sparse indices
    note: str = ""
    # layout "sharded": the stored pieces that together cover the tensor exactly once
    # (storage is None; the values are assembled from the chunks when asked for)
    chunks: tuple[TensorChunk, ...] = ()

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        return dtype_info(self.dtype).itemsize

    @property
    def nbytes(self) -> int:
        return self.numel * self.itemsize

    @property
    def device(self) -> str:
        return self.storage.location if self.storage else "cpu"

    def is_contiguous(self) -> bool:
        expected = 1
        for size, stride in zip(reversed(self.shape), reversed(self.stride)):
            if size != 1 and stride != expected:
                return False
            expected *= size
        return True

    def storage_span(self) -> tuple[int, int]:
        """Element range [first, last+1) of the storage this view touches (0, 0 when empty)."""
        if self.numel == 0:
            return (self.storage_offset, self.storage_offset)
        last = self.storage_offset + sum((s - 1) * st for s, st in zip(self.shape, self.stride))
        return (self.storage_offset, last + 1)


@dataclass(frozen=True, eq=False)
class TensorChunk:
    """One stored piece of a sharded tensor (torch.distributed.checkpoint).

    It holds the block ``[offsets[d], offsets[d] + sizes[d])`` of every dimension ``d`` of
    the whole tensor; ``view`` (shape ``sizes``) describes where its values lie in its own
    storage.
    """

    offsets: tuple[int, ...]
    sizes: tuple[int, ...]
    view: TensorInfo


# Node kinds
DICT, LIST, TUPLE, SET, TENSOR, SCALAR, STRING, BYTES, NONE, OBJECT, REF, TRUNCATED = (
    "dict", "list", "tuple", "set", "tensor", "scalar", "string", "bytes", "none", "object",
    "ref", "truncated",
)
CONTAINER_KINDS = frozenset({DICT, LIST, TUPLE, SET, OBJECT})


_NO_CHILDREN: tuple = ()


class Node:
    """One item of the checkpoint tree.

    ``key`` is the key under which the parent container stores it (None at the root);
    ``type_name`` says what the item is (``OrderedDict``, ``__main__.Net``, ``float``).
    Scalars keep their ``value``; tensors their :class:`TensorInfo`.
    """

    __slots__ = ("key", "kind", "type_name", "value", "tensor", "children", "parent", "row",
                 "_index")

    def __init__(self, key: Key, kind: str, type_name: str = "", value: Any = None,
                 tensor: TensorInfo | None = None, parent: Node | None = None, row: int = 0):
        self.key = key
        self.kind = kind
        self.type_name = type_name
        self.value = value
        self.tensor = tensor
        # leaves share one empty tuple (millions of items stay small); add() makes a list
        self.children: list[Node] = _NO_CHILDREN  # type: ignore[assignment]
        self.parent = parent
        self.row = row
        self._index: dict[Key, Node] | None = None

    def add(self, key: Key, kind: str, **kwargs: Any) -> Node:
        if self.children is _NO_CHILDREN:
            self.children = []
        child = Node(key, kind, parent=self, row=len(self.children), **kwargs)
        self.children.append(child)
        self._index = None
        return child

    def path(self) -> tuple[Key, ...]:
        keys = []
        node: Node | None = self
        while node is not None and node.parent is not None:
            keys.append(node.key)
            node = node.parent
        return tuple(reversed(keys))

    def child(self, key: Key) -> Node | None:
        if self._index is None:
            self._index = {}
            for c in self.children:
                try:
                    self._index.setdefault(c.key, c)
                except TypeError:  # unhashable key stored by a hostile file
                    pass
        try:
            return self._index.get(key)
        except TypeError:
            return None

    def walk(self) -> Iterator[Node]:
        """Depth-first, parents before children, without recursion."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))

    def __repr__(self) -> str:
        return f"Node({self.key!r}, {self.kind}, {self.type_name})"


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

    def totals(self) -> dict[str, int]:
        if self._totals is not None:
            return dict(self._totals)
        tensors = self.tensors()
        storages: dict[tuple[str, str], int] = {}
        for _, info in tensors:
            for st in (info.storage, *info.extra_storages):
                if st is not None:
                    storages[st.ident] = st.nbytes
        self._totals = {
            "num_tensors": len(tensors),
            "total_numel": sum(info.numel for _, info in tensors),
            "unique_storage_bytes": sum(storages.values()),
        }
        return dict(self._totals)

    # ---- Public API: bytes
    def storage_view(self, storage: StorageInfo) -> memoryview:
        """The storage's bytes, straight from the memory-mapped file (no copy)."""
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
