"""A pickle reader that never runs code from the file.

Python's unpickler only ever calls what ``find_class`` hands it. Ours hands out nothing but
our own inert stand-ins: an allow-list of the globals a torch checkpoint needs is mapped to
small functions here that *describe* tensors and storages (no bytes read, torch not
imported), and every other global becomes a named placeholder type whose "calls" are
recorded as text (``posix.system('…')``). So ``__reduce__`` payloads, ``getattr`` chains,
``importlib``/``runpy``/numpy gadgets all end as inert records, and the caller learns which
globals the file referenced.
"""

from __future__ import annotations

import io
import math
import mmap
import pickle
import re
import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from inspector.core.dtypes import DTYPE_ALIASES, DTYPES, STORAGE_TYPES

MAX_GLOBALS = 10_000  # distinct globals one pickle may name
MAX_PICKLE_BYTES = 256 << 20  # read at most this much of one pickle (~2 M tensors of metadata)
MAX_DIM = 64
MAX_NUMEL = 1 << 62


class InertPickleError(Exception):
    """The pickle is malformed or breaks a structural limit.

    ``globals``/``unsafe_globals`` hold what the pickle had named before it failed.
    """

    globals: list[str] = []
    unsafe_globals: list[str] = []


# ---------------------------------------------------------------------------------------
# Stand-ins for what a pickle builds
# ---------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------
# The allow-list: exact "module.name" -> our own inert implementation
# ---------------------------------------------------------------------------------------
def _bad(msg: str) -> InertPickleError:
    return InertPickleError(msg)


def _int(v: Any, what: str, lo: int = 0, hi: int = MAX_NUMEL) -> int:
    if type(v) is bool or not isinstance(v, int) or not lo <= v <= hi:
        raise _bad(f"invalid {what}: {describe_value(v)}")
    return v


def _dims(v: Any, what: str, lo: int) -> tuple[int, ...]:
    if not isinstance(v, (tuple, list)) or len(v) > MAX_DIM:
        raise _bad(f"invalid {what}: {describe_value(v)}")
    return tuple(_int(x, what, lo) for x in v)


def _tensor(storage: Any, offset: Any, size: Any, stride: Any, dtype: str | None = None,
            requires_grad: Any = False) -> TensorRef:
    if not isinstance(storage, StorageRef):
        raise _bad(f"tensor storage is {describe_value(storage)}, not a storage record")
    shape = _dims(size, "tensor shape", 0)
    strides = _dims(stride, "tensor stride", -MAX_NUMEL)
    if len(strides) != len(shape):
        raise _bad(f"tensor shape {list(shape)} and stride {list(strides)} differ in length")
    if math.prod(shape) > MAX_NUMEL:
        raise _bad(f"tensor shape {list(shape)} is too large")
    off = _int(offset, "storage offset")
    dt = dtype or storage.dtype
    return TensorRef(dtype=dt, shape=shape, stride=strides, storage_offset=off + storage.view_offset,
                     storage=storage, requires_grad=bool(requires_grad) if isinstance(requires_grad, bool) else False)


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _tensor(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    return _tensor(storage, storage_offset, size, stride, requires_grad=requires_grad)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                       dtype, metadata=None):
    if not isinstance(dtype, DtypeMarker):
        raise _bad(f"tensor dtype is {describe_value(dtype)}")
    return _tensor(storage, storage_offset, size, stride, dtype=dtype.name,
                   requires_grad=requires_grad)


def _rebuild_parameter(data, requires_grad=True, backward_hooks=None):
    if isinstance(data, TensorRef):
        data.is_parameter = True
        data.requires_grad = bool(requires_grad) if isinstance(requires_grad, bool) else True
    return data


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    return _rebuild_parameter(data, requires_grad)


def _rebuild_qtensor(storage, storage_offset, size, stride, quantizer_params, requires_grad=False,
                     backward_hooks=None):
    t = _tensor(storage, storage_offset, size, stride, requires_grad=requires_grad)
    t.layout = "quantized"
    if isinstance(quantizer_params, tuple) and quantizer_params:
        scheme = quantizer_params[0]
        t.note = f"quantized ({describe_value(scheme)})"
        if len(quantizer_params) >= 3 and isinstance(quantizer_params[1], (int, float)):
            t.attributes = {"scale": quantizer_params[1], "zero_point": quantizer_params[2]}
    return t


def _rebuild_sparse_tensor(layout, data):
    if not isinstance(data, tuple) or len(data) < 3:
        raise _bad("malformed sparse tensor record")
    name = layout.name if isinstance(layout, LayoutMarker) else "torch.sparse_coo"
    parts = [d for d in data if isinstance(d, TensorRef)]
    size = next((d for d in data if isinstance(d, (tuple, list)) and not isinstance(d, TensorRef)), None)
    if not parts or size is None:
        raise _bad("malformed sparse tensor record")
    values = parts[-1] if name == "torch.sparse_coo" else parts[-1]
    shape = _dims(size, "sparse tensor size", 0)
    return TensorRef(dtype=values.dtype, shape=shape, stride=(0,) * len(shape), storage_offset=0,
                     storage=values.storage, layout=name.replace("torch.", ""),
                     extra_storages=tuple(p.storage for p in parts[:-1] if p.storage),
                     note=f"{name.replace('torch.', '')} with {math.prod(values.shape)} stored values")


def _rebuild_meta_tensor_no_storage(dtype, size, stride, requires_grad=False):
    if not isinstance(dtype, DtypeMarker):
        raise _bad(f"meta tensor dtype is {describe_value(dtype)}")
    shape = _dims(size, "tensor shape", 0)
    return TensorRef(dtype=dtype.name, shape=shape, stride=_dims(stride, "tensor stride", -MAX_NUMEL),
                     storage_offset=0, storage=None, layout="meta", note="meta tensor: no data")


def _rebuild_device_tensor_from_cpu_tensor(data, dtype, device, requires_grad):
    if isinstance(data, TensorRef) and isinstance(dtype, DtypeMarker):
        data.dtype = dtype.name
    return data


def _rebuild_wrapper_subclass(cls, dtype, size, stride, storage_offset, layout, device,
                              requires_grad):
    if not isinstance(dtype, DtypeMarker):
        raise _bad("malformed tensor subclass record")
    shape = _dims(size, "tensor shape", 0)
    return TensorRef(dtype=dtype.name, shape=shape, stride=_dims(stride, "tensor stride", -MAX_NUMEL),
                     storage_offset=0, storage=None, layout="meta",
                     note=f"tensor subclass {describe_value(cls)}: no data in this record")


def _rebuild_nested_tensor(buffer, sizes, strides, storage_offsets):
    if not isinstance(buffer, TensorRef):
        raise _bad("malformed nested tensor record")
    buffer.layout = "nested"
    buffer.note = "nested tensor (buffer shown)"
    return buffer


def _rebuild_from_type_v2(func, new_type, args, state):
    if not isinstance(args, tuple):
        raise _bad("malformed tensor subclass record")
    result = func(*args)
    if isinstance(result, TensorRef) and isinstance(state, dict) and state:
        result.attributes = dict(state)
    return result


def _codecs_encode(obj, encoding="utf-8", errors="strict"):
    # Protocol 2 stores bytes as _codecs.encode(str, 'latin1').
    if not isinstance(obj, str) or encoding not in ("latin1", "latin-1", "utf-8", "utf8", "ascii"):
        return OpaqueCall("_codecs.encode", (obj, encoding))
    return obj.encode(encoding, errors="replace" if errors != "strict" else "strict")


def _bytes(*args):
    # protocol 0/1 pickle bytes as builtins.bytes() or bytes(list of ints); bytes(N) would
    # allocate N bytes, so integers are never passed through
    if not args:
        return b""
    if len(args) == 1 and isinstance(args[0], (list, tuple)) and len(args[0]) <= 1 << 24 and all(
            type(x) is int and 0 <= x < 256 for x in args[0]):
        return bytes(args[0])
    return OpaqueCall("builtins.bytes", args)


def _bytearray(*args):
    if len(args) == 1 and isinstance(args[0], (bytes, bytearray)):
        return bytearray(args[0])
    made = _bytes(*args)
    return bytearray(made) if isinstance(made, bytes) else OpaqueCall("builtins.bytearray", args)


def _get_layout(name):
    return LayoutMarker(name if isinstance(name, str) else "?")


def _device(*args):
    if args and isinstance(args[0], str):
        return DeviceMarker(args[0] if len(args) == 1 else f"{args[0]}:{args[1]}")
    return DeviceMarker("?")


def _torch_size(seq=()):
    return TorchSize(seq if isinstance(seq, (tuple, list)) else ())


def _safe_type(kind: Callable) -> Callable:
    def build(*args):
        if len(args) > 1 or (args and not isinstance(args[0], (list, tuple, str, bytes, int, float,
                                                                 set, frozenset))):
            return OpaqueCall(kind.__name__, args)
        try:
            return kind(*args)
        except (TypeError, ValueError, OverflowError):
            return OpaqueCall(kind.__name__, args)
    return build


def _ordered_dict(*args):
    d = PickledOrderedDict()
    if args and isinstance(args[0], (list, tuple)):
        for item in args[0]:
            if isinstance(item, (list, tuple)) and len(item) == 2:
                try:
                    d[item[0]] = item[1]
                except TypeError:
                    pass
    return d


def _counter(*args):
    d = PickledCounter()
    if args and isinstance(args[0], dict):
        d.update(args[0])
    return d


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


def _numpy_scalar(dtype, data=None):
    import numpy as np

    spec = dtype.numpy_str() if isinstance(dtype, NumpyDType) else None
    if spec is None or not isinstance(data, bytes):
        return OpaqueCall("numpy.scalar", (dtype, data))
    try:
        arr = np.frombuffer(data, dtype=np.dtype(spec), count=1)
    except (ValueError, TypeError):
        return OpaqueCall("numpy.scalar", (dtype, data))
    return arr[0].item()


def _build_allow_list() -> dict[str, Any]:
    allow: dict[str, Any] = {
        "collections.OrderedDict": _ordered_dict,
        "collections.Counter": _counter,
        "torch._utils._rebuild_tensor": _rebuild_tensor,
        "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
        "torch._utils._rebuild_tensor_v3": _rebuild_tensor_v3,
        "torch._utils._rebuild_parameter": _rebuild_parameter,
        "torch._utils._rebuild_parameter_with_state": _rebuild_parameter_with_state,
        "torch._utils._rebuild_qtensor": _rebuild_qtensor,
        "torch._utils._rebuild_sparse_tensor": _rebuild_sparse_tensor,
        "torch._utils._rebuild_meta_tensor_no_storage": _rebuild_meta_tensor_no_storage,
        "torch._utils._rebuild_device_tensor_from_cpu_tensor": _rebuild_device_tensor_from_cpu_tensor,
        "torch._utils._rebuild_wrapper_subclass": _rebuild_wrapper_subclass,
        "torch._utils._rebuild_nested_tensor": _rebuild_nested_tensor,
        "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
        "torch.serialization._get_layout": _get_layout,
        "torch.Size": _torch_size,
        "torch.device": _device,
        "torch.Tensor": PlainMarker("torch.Tensor"),
        "torch.nn.parameter.Parameter": PlainMarker("torch.nn.parameter.Parameter"),
        "_codecs.encode": _codecs_encode,
        "numpy.core.multiarray.scalar": _numpy_scalar,
        "numpy._core.multiarray.scalar": _numpy_scalar,
        "numpy.dtype": NumpyDType,
    }
    for builtins_name in ("builtins", "__builtin__"):
        for kind in (set, frozenset, complex):
            allow[f"{builtins_name}.{kind.__name__}"] = _safe_type(kind)
        allow[f"{builtins_name}.bytes"] = _bytes
        allow[f"{builtins_name}.bytearray"] = _bytearray
    for name in DTYPES:
        allow[f"torch.{name}"] = DtypeMarker(name)
    for alias, name in DTYPE_ALIASES.items():
        allow[f"torch.{alias}"] = DtypeMarker(name)
    for storage_name, dtype in STORAGE_TYPES.items():
        allow[f"torch.{storage_name}"] = StorageTypeMarker(storage_name, dtype)
        allow[f"torch.cuda.{storage_name}"] = StorageTypeMarker(storage_name, dtype)
    allow["torch.storage.UntypedStorage"] = StorageTypeMarker("UntypedStorage", "uint8")
    allow["torch.UntypedStorage"] = StorageTypeMarker("UntypedStorage", "uint8")
    allow["torch.storage.TypedStorage"] = StorageTypeMarker("TypedStorage", "uint8")
    for layout in ("strided", "sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc"):
        allow[f"torch.{layout}"] = LayoutMarker(f"torch.{layout}")
    for qscheme in ("per_tensor_affine", "per_tensor_symmetric", "per_channel_affine",
                    "per_channel_symmetric", "per_channel_affine_float_qparams"):
        allow[f"torch.{qscheme}"] = PlainMarker(f"torch.{qscheme}")
    return allow


ALLOW_LIST: dict[str, Any] = _build_allow_list()


def is_allowed(global_name: str) -> bool:
    return global_name in ALLOW_LIST


# ---------------------------------------------------------------------------------------
# The unpickler
# ---------------------------------------------------------------------------------------
@dataclass
class InertResult:
    obj: Any
    globals: list[str]  # every global named, in first-use order
    unsafe_globals: list[str]  # those outside the allow-list
    end: int = 0  # offset just past the pickle's STOP opcode


class _MemoryStream(io.RawIOBase):
    """A seekable read-only stream over a buffer (an mmap stays uncopied)."""

    def __init__(self, data: bytes | memoryview | Any):
        self._view = memoryview(data).cast("B")
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        n = min(len(buf), len(self._view) - self._pos)
        if n <= 0:
            return 0
        buf[:n] = self._view[self._pos:self._pos + n]
        self._pos += n
        return n

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self._view.release()
        super().close()


def _opcode_arg_lengths() -> list[int | None]:
    """Opcode byte -> its argument's size (>= 0), or pickletools' negative length codes."""
    import pickletools

    lengths: list[int | None] = [None] * 256
    for op in pickletools.opcodes:
        lengths[op.code.encode("latin1")[0]] = 0 if op.arg is None else op.arg.n
    return lengths


_ARG_LENGTHS: list[int | None] | None = None


_U32 = struct.Struct("<I").unpack_from
_I32 = struct.Struct("<i").unpack_from
_U64 = struct.Struct("<Q").unpack_from


def _memo_index_over(data: Any, i: int, n: int, limit: int) -> int | None:
    """The first memo index above ``limit`` that a PUT / LONG_BINPUT of the pickle at
    ``data[i:n]`` names, or None. An exact opcode walk that only skips arguments (several
    times faster than pickletools.genops); it stops quietly at a malformed opcode, which the
    unpickler will report."""
    global _ARG_LENGTHS
    if _ARG_LENGTHS is None:
        _ARG_LENGTHS = _opcode_arg_lengths()
    lengths = _ARG_LENGTHS
    find = data.find
    try:
        while i < n:
            op = data[i]
            k = lengths[op]
            i += 1
            if k is None:
                return None
            if k >= 0:
                if op == 0x72:  # LONG_BINPUT
                    index = _U32(data, i)[0]
                    if index > limit:
                        return index
                elif op == 0x2E:  # STOP
                    return None
                i += k
            elif k == -4:  # uint4-counted strings and bytes (the common case)
                i += 4 + _U32(data, i)[0]
            elif k == -2:  # uint1-counted
                i += 1 + data[i]
            elif k == -1:  # text opcodes up to a newline; GLOBAL and INST take two lines
                j = find(b"\n", i, n)
                if j < 0:
                    return None
                if op == 0x70:  # PUT
                    text = data[i:j]
                    if text.isdigit() and (len(text) > 18 or int(text) > limit):
                        return int(text) if len(text) < 40 else limit + 1
                elif op in (0x63, 0x69):
                    j = find(b"\n", j + 1, n)
                    if j < 0:
                        return None
                i = j + 1
            elif k == -3:  # int4-counted
                i += 4 + max(_I32(data, i)[0], 0)
            elif k == -5:  # uint8-counted
                i += 8 + _U64(data, i)[0]
            else:
                return None
    except (struct.error, IndexError):
        return None
    return None


def _check_memo_indices(data: Any, start: int, end: int) -> None:
    """Refuse memo indices beyond the pickle's size before the C unpickler sees them.

    ``LONG_BINPUT 4000000000`` makes CPython's unpickler allocate (and zero) a memo table of
    tens of GB. A real pickle never memoizes more objects than it has bytes, so any index
    above that is hostile. A vectorized pass looks for candidates (an 'r' byte followed by a
    large 4-byte value, a 'p' followed by a long decimal); when there are any — text inside
    strings makes false candidates — an exact opcode walk decides.
    """
    import numpy as np

    n = end - start
    if n < 6:
        return
    view = memoryview(data).cast("B")[start:end]
    raw = np.frombuffer(view, dtype=np.uint8)
    suspicious = False
    pos = np.flatnonzero(raw[:-4] == 0x72)  # 'r' LONG_BINPUT
    if pos.size:
        value = (raw[pos + 1].astype(np.uint64) | raw[pos + 2].astype(np.uint64) << 8
                 | raw[pos + 3].astype(np.uint64) << 16 | raw[pos + 4].astype(np.uint64) << 24)
        suspicious = bool((value > n).any())
    if not suspicious:
        digits = len(str(n))
        suspicious = re.search(rb"p\d{%d,}\n" % digits, view) is not None  # text PUT
    del raw
    view.release()
    if not suspicious:
        return
    # bytes and mmap objects can be walked in place; other buffers are copied once
    source, offset = (data, start) if isinstance(data, (bytes, mmap.mmap)) else (
        bytes(memoryview(data).cast("B")[start:end]), 0)
    index = _memo_index_over(source, offset, offset + n, n)
    if index is not None:
        raise _bad(f"memo index {index} is out of range for a {n}-byte pickle")


def memory_stream(data: bytes | memoryview | Any, start: int = 0) -> io.BufferedReader:
    """A buffered, seekable stream over ``data`` positioned at ``start``, without copying."""
    stream = io.BufferedReader(_MemoryStream(data), buffer_size=1 << 16)
    stream.seek(start)
    return stream


class _InertUnpickler(pickle.Unpickler):
    def __init__(self, stream: io.BufferedReader, persistent_load: Callable[[Any], Any] | None):
        super().__init__(stream, encoding="latin1")
        self._ci_persistent_load = persistent_load
        self.seen: dict[str, None] = {}
        self.unsafe: dict[str, None] = {}
        self.placeholders: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:  # noqa: D401 - pickle hook
        full = f"{module}.{name}"
        if full not in self.seen:
            if len(self.seen) >= MAX_GLOBALS:
                raise _bad(f"the pickle names more than {MAX_GLOBALS} globals")
            self.seen[full] = None
        handler = ALLOW_LIST.get(full)
        if handler is not None:
            return handler
        self.unsafe[full] = None
        placeholder = self.placeholders.get(full)
        if placeholder is None:
            safe_name = re.sub(r"\W", "_", name)[:100] or "global"
            placeholder = type(safe_name, (Opaque,), {"_ci_global": full, "__module__": "inert"})
            self.placeholders[full] = placeholder
        return placeholder

    def persistent_load(self, pid: Any) -> Any:
        if self._ci_persistent_load is None:
            raise _bad("the pickle refers to external storage records but has none")
        return self._ci_persistent_load(pid)


def load_inert(data: bytes | memoryview,
               persistent_load: Callable[[Any], Any] | None = None,
               start: int = 0) -> InertResult:
    """Unpickle the pickle at ``data[start:]`` without running anything from it.

    Raises InertPickleError for malformed or over-limit pickles; the message says why.
    At most MAX_PICKLE_BYTES are read from ``start``.
    """
    whole = memoryview(data).cast("B")
    window = whole[:min(len(whole), start + MAX_PICKLE_BYTES)]
    try:
        _check_memo_indices(data, start, len(window))
    except InertPickleError as e:
        e.globals, e.unsafe_globals = [], []
        window.release()
        whole.release()
        raise
    stream = memory_stream(window, start)
    window.release()
    whole.release()
    up = _InertUnpickler(stream, persistent_load)
    try:
        try:
            obj = up.load()
        finally:
            end = stream.tell()
            stream.close()
    except InertPickleError as e:
        err = e
    except RecursionError:
        err = _bad("the pickle nests too deeply")
    except MemoryError:
        err = _bad("the pickle declares an object too large for memory")
    except EOFError:
        err = _bad("the pickle data is truncated")
    except (pickle.UnpicklingError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            OverflowError, UnicodeDecodeError, struct.error) as e:
        err = _bad(f"malformed pickle ({type(e).__name__}: {str(e)[:200]})")
    else:
        return InertResult(obj, list(up.seen), list(up.unsafe), end)
    # keep what was learned before the failure: scan reports it
    err.globals = list(up.seen)
    err.unsafe_globals = list(up.unsafe)
    raise err


def storage_ref_from_pid(pid: Any) -> StorageRef:
    """Validate a torch persistent id ``('storage', type, key, location, numel[, view])``."""
    if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
        raise _bad(f"unsupported persistent id {describe_value(pid)}")
    storage_type, key, location, numel = pid[1], pid[2], pid[3], pid[4]
    if not isinstance(storage_type, StorageTypeMarker):
        raise _bad(f"storage type {describe_value(storage_type)} is not a torch storage type")
    if not isinstance(key, (str, int)) or not isinstance(location, str):
        raise _bad(f"malformed storage record {describe_value(pid)}")
    ref = StorageRef(key=str(key), dtype=storage_type.dtype, location=location,
                     numel=_int(numel, "storage size"))
    if len(pid) > 5 and pid[5] is not None:
        view = pid[5]
        if not (isinstance(view, tuple) and len(view) == 3):
            raise _bad(f"malformed storage view {describe_value(view)}")
        ref.view_offset = _int(view[1], "storage view offset")
        ref.view_numel = _int(view[2], "storage view size")
    return ref


__all__ = [
    "ALLOW_LIST", "InertPickleError", "InertResult", "Opaque", "OpaqueCall", "OrderedDict",
    "StorageRef", "TensorRef", "describe_value", "is_allowed", "load_inert",
    "storage_ref_from_pid",
]
