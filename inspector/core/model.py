"""What a reader finds in a file, as plain data: storages, tensor views, and the tree of Nodes.

These types carry no file handles and read no bytes; :mod:`inspector.core.checkpoint` wraps
them in an opened :class:`~inspector.core.checkpoint.Checkpoint`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from inspector.core.dtypes import dtype_info
from inspector.core.text import safe_str

Key = Any  # a container key exactly as stored: str, int, or another hashable scalar


class CheckpointError(Exception):
    """A file that cannot be opened or read; the message names the file and the problem."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class AmbiguousArchiveError(CheckpointError):
    """A container that two readers could read differently (torch's and ours): refused, and
    a scan labels it unsafe, since what we would show need not be what torch loads."""

    def __init__(self, path: str | os.PathLike, what: str):
        self.what = what
        super().__init__(path, f"ambiguous archive: {what}")


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
MAX_DIM = 64  # dimensions of one tensor
MAX_INT_BITS = 13_000  # past ~4300 decimal digits Python refuses to print an int


def printable_scalar(v: Any) -> Any:
    """A container key as the tree keeps it: ints too long to print become a description
    (a key is part of every path every front end prints). Values and strings stay exact, lone
    surrogates and huge ints included, so a diff still sees two different values; the front
    ends escape them where they print (:func:`~inspector.core.text.safe_str`, ``json_value``)."""
    if type(v) is int and v.bit_length() > MAX_INT_BITS:
        return safe_str(v)
    return v



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
        child = Node(printable_scalar(key), kind, parent=self, row=len(self.children), **kwargs)
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


def contiguous_stride(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The row-major (C-contiguous) stride of ``shape``, as torch computes it."""
    stride, acc = [], 1
    for d in reversed(shape):
        stride.append(acc)
        acc *= max(d, 1)
    return tuple(reversed(stride))
