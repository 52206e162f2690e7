"""The inert stand-ins a pickle builds instead of real objects.

Placeholders for globals outside the allow-list (their calls recorded as text), markers for
the torch constants a checkpoint names (dtypes, storage types, layouts, devices), and records
of storages and tensors (no bytes read, torch not imported).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

MAX_DIM = 64
MAX_NUMEL = 1 << 62


class InertPickleError(Exception):
    """The pickle is malformed or breaks a structural limit.

    ``globals``/``unsafe_globals`` hold what the pickle had named before it failed.
    """

    globals: list[str] = []
    unsafe_globals: list[str] = []


class Opaque:
    """Base of the placeholder types made for globals outside the allow-list."""

    _ci_global = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> Opaque:
        self = object.__new__(cls)
        object.__setattr__(self, "_ci_args", args)
        object.__setattr__(self, "_ci_state", None)
        object.__setattr__(self, "_ci_items", [])
        object.__setattr__(self, "_ci_setitems", [])
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        object.__setattr__(self, "_ci_state", state)

    def __call__(self, *args: Any) -> OpaqueCall:
        return OpaqueCall(describe_value(self), args)

    def append(self, item: Any) -> None:
        self._ci_items.append(item)

    def extend(self, items: Any) -> None:
        self._ci_items.extend(list(items) if isinstance(items, (list, tuple)) else [items])

    def __setitem__(self, key: Any, value: Any) -> None:
        self._ci_setitems.append((key, value))

    def __repr__(self) -> str:
        return f"<{self._ci_global}>"


class OpaqueCall:
    """The record of a call a pickle asked for (REDUCE on a placeholder)."""

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
        return v._ci_global
    if isinstance(v, Opaque):
        if v._ci_args:
            return OpaqueCall(type(v)._ci_global, v._ci_args).text(limit)
        return f"<{type(v)._ci_global} object>"
    if isinstance(v, (str, bytes)):
        r = repr(v[:limit])
        return r if len(v) <= limit else r + "…"
    if isinstance(v, (int, float, bool, complex, type(None))):
        return repr(v)
    if isinstance(v, (DtypeMarker, StorageTypeMarker, LayoutMarker, DeviceMarker)):
        return str(v)
    if isinstance(v, TensorRef):
        return f"tensor({v.dtype}, {list(v.shape)})"
    return f"<{type(v).__name__}>"


class PickledOrderedDict(dict):
    """collections.OrderedDict as built from a pickle (its attributes kept aside)."""

    type_name = "OrderedDict"

    def __setstate__(self, state: Any) -> None:
        self._ci_state = state


class PickledCounter(PickledOrderedDict):
    type_name = "Counter"


class TorchSize(tuple):
    """torch.Size as built from a pickle."""


@dataclass(frozen=True)
class DtypeMarker:
    name: str

    def __str__(self) -> str:
        return f"torch.{self.name}"


@dataclass(frozen=True)
class StorageTypeMarker:
    name: str  # e.g. "FloatStorage", "UntypedStorage"
    dtype: str

    def __str__(self) -> str:
        return f"torch.{self.name}"


@dataclass(frozen=True)
class LayoutMarker:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class DeviceMarker:
    name: str

    def __str__(self) -> str:
        return f"device({self.name!r})"


class PlainMarker:
    """An allow-listed global that is only ever passed around (torch.Tensor, qschemes)."""

    def __init__(self, name: str):
        self.name = name

    def __str__(self) -> str:
        return self.name

    def __call__(self, *args: Any) -> OpaqueCall:
        return OpaqueCall(self.name, args)


@dataclass(eq=False)
class StorageRef:
    """A storage named by a persistent id: bytes that live elsewhere in the file."""

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
    if not isinstance(v, (tuple, list)) or len(v) > MAX_DIM:
        raise InertPickleError(f"invalid {what}: {describe_value(v)}")
    return tuple(checked_int(x, what, lo) for x in v)
