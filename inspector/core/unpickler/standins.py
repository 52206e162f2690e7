"""The inert stand-ins a pickle builds instead of real objects.

Placeholders for globals outside the allow-list (their calls recorded as text), markers for
the torch constants a checkpoint names (dtypes, storage types, layouts, devices), and records
of storages and tensors (no bytes read, torch not imported).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from inspector.core.model import MAX_DIM
from inspector.core.text import safe_str

MAX_NUMEL = 1 << 62


class InertPickleError(Exception):
    """The pickle is malformed or breaks a structural limit.

    ``globals``/``unsafe_globals`` hold what the pickle had named before it failed.
    """

    globals: list[str] = []
    unsafe_globals: list[str] = []


class Opaque:
    """Base of the placeholder types made for globals outside the allow-list.

    Each placeholder type (one per global and per load) carries ``global_name``; an instance
    records the arguments it was created with, the state BUILD gave it and the items
    APPEND/SETITEM added, and nothing else (no ``__dict__``)."""

    __slots__ = ("args", "items", "setitems", "state")
    global_name = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> Opaque:
        self = object.__new__(cls)
        self.args = args
        self.state = None
        self.items = []
        self.setitems = []
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __call__(self, *args: Any) -> OpaqueCall:
        return OpaqueCall(describe_value(self), args)

    def append(self, item: Any) -> None:
        self.items.append(item)

    def extend(self, items: Any) -> None:
        self.items.extend(list(items) if isinstance(items, (list, tuple)) else [items])

    def __setitem__(self, key: Any, value: Any) -> None:
        self.setitems.append((key, value))

    def __repr__(self) -> str:
        return f"<{self.global_name}>"


def placeholder_type(global_name: str, name: str) -> type[Opaque]:
    """A fresh placeholder type for ``global_name`` (made per load: nothing is shared)."""
    return type(name, (Opaque,), {"global_name": global_name, "__module__": "inert",
                                  "__slots__": ()})


class OpaqueCall:
    """The record of a call a pickle asked for (REDUCE on a placeholder)."""

    __slots__ = ("args", "func", "items", "setitems", "state")

    def __init__(self, func: str, args: tuple):
        self.func = func
        self.args = args
        self.state: Any = None
        self.items: list[Any] = []
        self.setitems: list[tuple[Any, Any]] = []

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __call__(self, *args: Any) -> OpaqueCall:
        return OpaqueCall(self.text(), args)

    def append(self, item: Any) -> None:
        self.items.append(item)

    def extend(self, items: Any) -> None:
        self.items.extend(list(items) if isinstance(items, (list, tuple)) else [items])

    def __setitem__(self, key: Any, value: Any) -> None:
        self.setitems.append((key, value))

    def text(self, limit: int = 200) -> str:
        parts = ", ".join(describe_value(a) for a in self.args[:8])
        if len(self.args) > 8:
            parts += ", …"
        out = f"{self.func}({parts})"
        return out if len(out) <= limit else out[: limit - 1] + "…"


def describe_value(v: Any, limit: int = 80) -> str:
    """Short, safe text for a value built by the inert unpickler."""
    if isinstance(v, OpaqueCall):
        return v.text(limit)
    if isinstance(v, type) and issubclass(v, Opaque):
        return v.global_name
    if isinstance(v, Opaque):
        if v.args:
            return OpaqueCall(v.global_name, v.args).text(limit)
        return f"<{v.global_name} object>"
    if isinstance(v, (str, bytes)):
        r = repr(v[:limit])
        return r if len(v) <= limit else r + "…"
    if isinstance(v, int) and not isinstance(v, bool):
        return safe_str(v)  # ints too long to print are described
    if isinstance(v, (float, bool, complex, type(None))):
        return repr(v)
    if isinstance(v, Constant):
        return str(v)
    if isinstance(v, TensorRef):
        return f"tensor({v.dtype}, {list(v.shape)})"
    return f"<{type(v).__name__}>"


class PickledOrderedDict(dict):
    """collections.OrderedDict as built from a pickle (its attributes kept aside)."""

    type_name = "OrderedDict"

    def __setstate__(self, state: Any) -> None:
        self.state = state


class PickledCounter(PickledOrderedDict):
    type_name = "Counter"


class TorchSize(tuple):
    """torch.Size as built from a pickle."""


class Constant:
    """An allow-listed torch constant (a dtype, storage type, layout, device, ``torch.Tensor``):
    immutable, so a pickle that tries to BUILD into it is refused instead of changing how
    anything is read after it."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        object.__setattr__(self, "name", name)

    def __setattr__(self, key: str, value: Any) -> None:
        raise InertPickleError(f"the pickle tries to change {self}, a constant")

    def __setstate__(self, state: Any) -> None:
        raise InertPickleError(f"the pickle tries to change {self}, a constant")

    def __str__(self) -> str:
        return self.name


class DtypeMarker(Constant):
    __slots__ = ()

    def __str__(self) -> str:
        return f"torch.{self.name}"


class StorageTypeMarker(Constant):
    __slots__ = ("dtype",)

    def __init__(self, name: str, dtype: str):  # name e.g. "FloatStorage", "UntypedStorage"
        super().__init__(name)
        object.__setattr__(self, "dtype", dtype)

    def __str__(self) -> str:
        return f"torch.{self.name}"


class LayoutMarker(Constant):
    __slots__ = ()


class DeviceMarker(Constant):
    __slots__ = ()

    def __str__(self) -> str:
        return f"device({self.name!r})"


class PlainMarker(Constant):
    """An allow-listed global that is only ever passed around (torch.Tensor, qschemes)."""

    __slots__ = ()

    def __call__(self, *args: Any) -> OpaqueCall:
        return OpaqueCall(self.name, args)


class Handler:
    """An allow-listed function as a pickle sees it: callable, and nothing else (BUILD on it
    is refused, so no file can change how the next one is read)."""

    __slots__ = ("func", "name")

    def __init__(self, name: str, func: Any):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "func", func)

    def __call__(self, *args: Any) -> Any:
        return self.func(*args)

    def __setattr__(self, key: str, value: Any) -> None:
        raise InertPickleError(f"the pickle tries to change {self.name}, which it may only call")

    def __setstate__(self, state: Any) -> None:
        raise InertPickleError(f"the pickle tries to change {self.name}, which it may only call")

    def __repr__(self) -> str:
        return self.name


@dataclass(eq=False)
class StorageRef:
    """A storage named by a persistent id: bytes that live elsewhere in the file."""

    def __setstate__(self, state: Any) -> None:
        raise InertPickleError("the pickle tries to change a storage record")

    key: str
    dtype: str  # the storage's element type; "uint8" for untyped storages
    location: str
    numel: int  # elements of ``dtype``
    view_offset: int = 0  # legacy storage views: element offset into the root storage
    view_numel: int | None = None


@dataclass(eq=False)
class TensorRef:
    """A tensor described by its rebuild call."""

    dtype: str
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    storage_offset: int
    storage: StorageRef | None
    requires_grad: bool = False
    is_parameter: bool = False
    layout: str = "strided"
    extra_storages: tuple[StorageRef, ...] = ()
    note: str = ""
    attributes: dict = field(default_factory=dict)

    def __setstate__(self, state: Any) -> None:
        """BUILD on a tensor sets Python attributes in torch; here they are recorded aside,
        never over the validated dtype, shape, stride or storage."""
        if isinstance(state, tuple) and len(state) == 2 and state[0] is None:
            state = state[1]
        if not isinstance(state, dict):
            raise InertPickleError(f"the pickle gives a tensor the state {describe_value(state)}")
        self.attributes = {**self.attributes, **{k: v for k, v in state.items()
                                                 if isinstance(k, str)}}


class NumpyDType:
    """numpy.dtype(spec, align, copy) as pickled: only plain numeric kinds are understood."""

    def __init__(self, spec=None, align=False, copy=False):
        self.spec = spec if isinstance(spec, str) else None
        self.byteorder = "<"

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">", "|", "="):
            self.byteorder = state[1]

    def numpy_str(self) -> str | None:
        if self.spec and re.fullmatch(r"[biufc]\d{1,2}|\?", self.spec):
            return (self.byteorder if self.byteorder in "<>" else "") + self.spec
        return None


def checked_int(v: Any, what: str, lo: int = 0, hi: int = MAX_NUMEL) -> int:
    if type(v) is bool or not isinstance(v, int) or not lo <= v <= hi:
        raise InertPickleError(f"invalid {what}: {describe_value(v)}")
    return v


def checked_dims(v: Any, what: str, lo: int) -> tuple[int, ...]:
    if type(v) is tuple and len(v) <= MAX_DIM:  # the usual case, without a call per element
        for x in v:
            if type(x) is not int or not lo <= x <= MAX_NUMEL:
                break
        else:
            return v
    if not isinstance(v, (tuple, list)) or len(v) > MAX_DIM:
        raise InertPickleError(f"invalid {what}: {describe_value(v)}")
    return tuple(checked_int(x, what, lo) for x in v)
