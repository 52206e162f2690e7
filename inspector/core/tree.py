"""Turn what the inert unpickler built into a Node tree, safely.

The walk is iterative (a 300 000-deep pickle cannot exhaust the stack), caps depth and the
number of nodes, and never expands a container twice: a second reference to the same
container becomes a ``ref`` node naming the first path, so cycles and "billion laughs"
stay small. Tensors referenced twice are listed at both paths (torch does the same).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

from inspector.core.dtypes import DTYPES
from inspector.core.model import (
    BYTES,
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
    Node,
    StorageInfo,
    TensorInfo,
    printable_scalar,
)
from inspector.core.text import dotted_path, safe_str
from inspector.core.unpickler import (
    DeviceMarker,
    DtypeMarker,
    LayoutMarker,
    NumpyDType,
    Opaque,
    OpaqueCall,
    PickledOrderedDict,
    PlainMarker,
    StorageRef,
    StorageTypeMarker,
    TensorRef,
    TorchSize,
    describe_value,
)

MAX_DEPTH = 1000
MAX_NODES = 2_000_000  # ~100 000 tensors with Adam state need under 1 M
MAX_TEXT = 10_000  # characters of a string kept for display


def _key_of(k: Any) -> Any:
    if isinstance(k, (str, int, float, bool, type(None), bytes)):
        return k
    if isinstance(k, tuple) and all(isinstance(x, (str, int, float, bool, type(None))) for x in k):
        return k
    return describe_value(k)


class SharedReference:
    """A value a reader already listed elsewhere: shown as a reference node, never expanded
    again (``text`` says where it is)."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


def graft(parent: Node, key: Any, built: Node) -> Node:
    """Attach a tree built by :class:`TreeBuilder` under ``parent`` at ``key``."""
    node = parent.add(key, built.kind, type_name=built.type_name, value=built.value,
                      tensor=built.tensor)
    node.children = built.children
    for child in node.children:
        child.parent = node
    return node


_PLAIN_KEYS = frozenset({str, int, float, bool, type(None), bytes})
_LEAVES = {int: (SCALAR, "int"), float: (SCALAR, "float"), bool: (SCALAR, "bool"),
           complex: (SCALAR, "complex"), str: (STRING, "str"), type(None): (NONE, "None"),
           bytes: (BYTES, "bytes")}

class _Children:
    """A container's (key, value) pairs, iterated lazily: a list of millions is never copied."""

    __slots__ = ("count", "items")

    def __init__(self, count: int, items: Any):
        self.count = count
        self.items = items


_EMPTY_KINDS = {list: (LIST, "list"), dict: (DICT, "dict"), tuple: (TUPLE, "tuple")}


_SPANNED_LAYOUTS = frozenset({"strided", "quantized", "nested"})  # views whose span is checked


class TreeBuilder:
    """Builds a Node tree; ``storage_info`` turns a StorageRef into file coordinates."""

    def __init__(self, storage_info: Callable[[StorageRef], StorageInfo | None],
                 warnings: list[str]):
        self.storage_info = storage_info
        self.warnings = warnings
        self.nodes = 0
        self._warned_depth = False
        self._warned_size = False
        self._itemsizes: dict[str, int] = {}

    def build(self, obj: Any, root_name: str = "") -> Node:
        root = Node(None, OBJECT, type_name=root_name)
        # Every child Node is created in order as soon as its container is expanded; plain
        # leaves are finished on the spot, other values wait on the stack. A container is
        # marked seen when its node is created, so a second reference becomes a ref node.
        seen: dict[int, Node] = {id(obj): root}
        keepalive: list[Any] = [obj]  # ids stay unique while the objects live
        stack: list[tuple[Node, Any, int]] = [(root, obj, 0)]
        while stack:
            node, value, depth = stack.pop()
            children = self._describe(node, value)
            if children is None:
                continue
            if not isinstance(children, _Children):
                children = _Children(len(children), children)
            if not children.count:
                continue
            budget = max(MAX_NODES - self.nodes, 0)
            omitted = children.count - budget
            if omitted > 0 and not self._warned_size:
                self.warnings.append(f"the file has more than {MAX_NODES} items; the rest are "
                                     "not shown")
                self._warned_size = True
            self.nodes += min(children.count, budget)
            kids = node.children = []
            for k, v in itertools.islice(children.items, budget):
                tk = type(k)
                if tk is str:
                    key = k if k.isascii() else printable_scalar(k)
                else:
                    key = printable_scalar(k) if tk in _PLAIN_KEYS else _key_of(k)
                t = type(v)
                leaf = _LEAVES.get(t)
                if leaf is not None:
                    if t is str:
                        if len(v) > MAX_TEXT:
                            v = v[:MAX_TEXT] + "…"
                    elif t is bytes:
                        v = v[:64]
                    kids.append(Node(key, leaf[0], leaf[1], v, None, node, len(kids)))
                    continue
                if t in _EMPTY_KINDS and not v:
                    kind, name = _EMPTY_KINDS[t]
                    kids.append(Node(key, kind, name, None, None, node, len(kids)))
                    continue
                child = Node(key, SCALAR, "", None, None, node, len(kids))
                kids.append(child)
                if self._is_container(v):
                    prior = seen.get(id(v))
                    if prior is not None:
                        child.kind, child.type_name = REF, "shared reference"
                        child.value = dotted_path(prior.path())
                        continue
                    if depth + 1 > MAX_DEPTH:
                        child.kind, child.type_name = TRUNCATED, "too deep"
                        if not self._warned_depth:
                            self.warnings.append(f"nesting deeper than {MAX_DEPTH} levels is not shown")
                            self._warned_depth = True
                        continue
                    seen[id(v)] = child
                    keepalive.append(v)
                stack.append((child, v, depth + 1))
            if omitted > 0:
                kids.append(Node("…", TRUNCATED, f"{omitted} more items not shown",
                                 f"{omitted} more items not shown", None, node, len(kids)))
        return root

    # ---- Private API
    @staticmethod
    def _is_container(v: Any) -> bool:
        if isinstance(v, TorchSize):
            return False
        return isinstance(v, (dict, list, tuple, set, frozenset, Opaque, OpaqueCall))

    def _describe(self, node: Node, v: Any) -> _Children | list[tuple[Any, Any]] | None:
        """Fill in ``node`` for ``v``; return its children (key, value) or None for a leaf."""
        if isinstance(v, SharedReference):
            node.kind, node.type_name, node.value = REF, "shared reference", v.text
            return None
        if isinstance(v, TensorRef):
            node.kind = TENSOR
            node.type_name = "Parameter" if v.is_parameter else "Tensor"
            node.tensor = self._tensor_info(v, node)
            return None
        if isinstance(v, PickledOrderedDict):
            node.kind, node.type_name = DICT, v.type_name
            return _Children(len(v), v.items())
        if isinstance(v, dict):
            node.kind, node.type_name = DICT, "dict"
            return _Children(len(v), v.items())
        if isinstance(v, TorchSize):
            node.kind, node.type_name = SCALAR, "torch.Size"
            node.value = f"torch.Size([{', '.join(safe_str(d) for d in v)}])"
            return None
        if isinstance(v, list):
            node.kind, node.type_name = LIST, "list"
            return _Children(len(v), enumerate(v))
        if isinstance(v, tuple):
            node.kind, node.type_name = TUPLE, "tuple"
            return _Children(len(v), enumerate(v))
        if isinstance(v, (set, frozenset)):
            node.kind, node.type_name = SET, type(v).__name__
            try:
                items = sorted(v, key=repr)
            except Exception:  # noqa: BLE001 - ordering is cosmetic
                items = list(v)
            return _Children(len(items), enumerate(items))
        if isinstance(v, bool) or isinstance(v, (int, float, complex)):
            node.kind, node.type_name, node.value = SCALAR, type(v).__name__, v
            return None
        if v is None:
            node.kind, node.type_name = NONE, "None"
            return None
        if isinstance(v, str):
            node.kind, node.type_name = STRING, "str"
            node.value = printable_scalar(v if len(v) <= MAX_TEXT else v[:MAX_TEXT] + "…")
            return None
        if isinstance(v, (bytes, bytearray)):
            node.kind, node.type_name, node.value = BYTES, type(v).__name__, bytes(v[:64])
            return None
        if isinstance(v, (DtypeMarker, StorageTypeMarker, LayoutMarker, DeviceMarker, PlainMarker)):
            node.kind, node.type_name, node.value = SCALAR, type(v).__name__.replace("Marker", ""), str(v)
            return None
        if isinstance(v, StorageRef):
            node.kind, node.type_name = SCALAR, "storage"
            node.value = printable_scalar(f"storage {v.key} ({v.dtype}, {v.numel} elements, "
                                          f"{v.location})")
            return None
        if isinstance(v, NumpyDType):
            node.kind, node.type_name = SCALAR, "numpy.dtype"
            node.value = printable_scalar(str(v.spec))
            return None
        if isinstance(v, OpaqueCall):
            node.kind, node.type_name, node.value = OBJECT, v.func.split("(")[0], v.text()
            return self._object_children(v.args, v.state, v.items, ())
        if isinstance(v, Opaque):
            node.kind, node.type_name = OBJECT, v.global_name
            # Whether a global is a class or a function is unknowable without importing it:
            # with arguments it reads as the call the file asked for.
            if v.args:
                node.value = OpaqueCall(v.global_name, v.args).text()
            else:
                node.value = f"{v.global_name} object"
            return self._object_children(v.args, v.state, v.items, v.setitems)
        if isinstance(v, type) and issubclass(v, Opaque):
            node.kind, node.type_name, node.value = OBJECT, "class", v.global_name
            return None
        node.kind, node.type_name, node.value = SCALAR, type(v).__name__, describe_value(v)
        return None

    @staticmethod
    def _object_children(args: tuple, state: Any, items: list, setitems: list) -> _Children:
        """A recorded object's children, counted first and iterated lazily: many objects may
        share one big state dict, and only the node budget's worth is ever walked."""
        parts: list[tuple[int, Any]] = []
        if args:
            parts.append((1, [("args", args)]))
        if state is not None:
            if isinstance(state, dict) and not isinstance(state, PickledOrderedDict):
                parts.append((len(state), state.items()))
            elif (isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict)
                  and (state[0] is None or isinstance(state[0], dict))):  # (dict, slot state)
                for part in state:
                    if part:
                        parts.append((len(part), part.items()))
            else:
                parts.append((1, [("state", state)]))
        if items:
            parts.append((1, [("items", items)]))
        if setitems:
            parts.append((len(setitems), setitems))
        return _Children(sum(n for n, _ in parts), itertools.chain.from_iterable(
            it for _, it in parts))

    def _tensor_info(self, t: TensorRef, node: Node) -> TensorInfo:
        storage = self.storage_info(t.storage) if t.storage is not None else None
        extra = tuple(s for s in (self.storage_info(e) for e in t.extra_storages)
                      if s is not None) if t.extra_storages else ()
        dtype = t.dtype
        note = t.note
        if dtype not in DTYPES:
            dtype, note = "uint8", f"unknown dtype {t.dtype!r}"
        # positional: one call per tensor, 100,000 of them in a big file
        info = TensorInfo(dtype, t.shape, t.stride, t.storage_offset, storage, t.requires_grad,
                          t.is_parameter, t.layout, extra, note)
        if storage is not None and t.layout in _SPANNED_LAYOUTS:
            shape, stride = t.shape, t.stride
            numel = math.prod(shape)
            lo = hi = t.storage_offset  # TensorInfo.storage_span(), inlined
            if numel:
                hi += (shape[0] - 1) * stride[0] + 1 if len(shape) == 1 else \
                    sum((n - 1) * st for n, st in zip(shape, stride)) + 1
            itemsize = self._itemsizes.get(dtype)
            if itemsize is None:
                itemsize = self._itemsizes[dtype] = info.itemsize
            if stride and min(stride) < 0 and numel > 1:
                info.note = "negative stride"
                self.warnings.append(f"tensor {dotted_path(node.path())} has a negative stride")
            elif hi * itemsize > storage.nbytes:
                info.note = "view exceeds its storage"
                self.warnings.append(
                    f"tensor {dotted_path(node.path())} needs elements {lo}..{hi} of "
                    f"{storage.nbytes // max(itemsize, 1)} in storage {storage.key!r}: the file is "
                    f"corrupt; its values cannot be read")
        return info
