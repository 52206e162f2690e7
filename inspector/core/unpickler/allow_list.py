"""The allow-list: the exact globals a torch checkpoint needs, each mapped to our own inert
implementation that describes tensors and storages instead of building them."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial
from typing import Any

from inspector.core.dtypes import DTYPE_ALIASES, DTYPES, STORAGE_TYPES
from inspector.core.unpickler.standins import (
    MAX_NUMEL,
    DeviceMarker,
    DtypeMarker,
    Handler,
    InertPickleError,
    LayoutMarker,
    NumpyDType,
    OpaqueCall,
    PickledCounter,
    PickledOrderedDict,
    PlainMarker,
    StorageRef,
    StorageTypeMarker,
    TensorRef,
    TorchSize,
    checked_dims,
    checked_int,
    describe_value,
)


def _tensor(storage: Any, offset: Any, size: Any, stride: Any, dtype: str | None = None,
            requires_grad: Any = False) -> TensorRef:
    if not isinstance(storage, StorageRef):
        raise InertPickleError(f"tensor storage is {describe_value(storage)}, not a storage record")
    shape = checked_dims(size, "tensor shape", 0)
    strides = checked_dims(stride, "tensor stride", -MAX_NUMEL)
    if len(strides) != len(shape):
        raise InertPickleError(f"tensor shape {list(shape)} and stride {list(strides)} differ in length")
    if math.prod(shape) > MAX_NUMEL:
        raise InertPickleError(f"tensor shape {list(shape)} is too large")
    off = checked_int(offset, "storage offset")
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
        raise InertPickleError(f"tensor dtype is {describe_value(dtype)}")
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
        raise InertPickleError("malformed sparse tensor record")
    name = layout.name if isinstance(layout, LayoutMarker) else "torch.sparse_coo"
    parts = [d for d in data if isinstance(d, TensorRef)]
    size = next((d for d in data if isinstance(d, (tuple, list)) and not isinstance(d, TensorRef)), None)
    if not parts or size is None:
        raise InertPickleError("malformed sparse tensor record")
    values = parts[-1] if name == "torch.sparse_coo" else parts[-1]
    shape = checked_dims(size, "sparse tensor size", 0)
    return TensorRef(dtype=values.dtype, shape=shape, stride=(0,) * len(shape), storage_offset=0,
                     storage=values.storage, layout=name.replace("torch.", ""),
                     extra_storages=tuple(p.storage for p in parts[:-1] if p.storage),
                     note=f"{name.replace('torch.', '')} with {math.prod(values.shape)} stored values")


def _rebuild_meta_tensor_no_storage(dtype, size, stride, requires_grad=False):
    if not isinstance(dtype, DtypeMarker):
        raise InertPickleError(f"meta tensor dtype is {describe_value(dtype)}")
    shape = checked_dims(size, "tensor shape", 0)
    return TensorRef(dtype=dtype.name, shape=shape, stride=checked_dims(stride, "tensor stride", -MAX_NUMEL),
                     storage_offset=0, storage=None, layout="meta", note="meta tensor: no data")


def _rebuild_device_tensor_from_cpu_tensor(data, dtype, device, requires_grad):
    # torch converts the stored values (data.to(dtype)); the bytes stay what they are
    if isinstance(data, TensorRef) and isinstance(dtype, DtypeMarker) and dtype.name != data.dtype:
        data.note = f"stored as {data.dtype}; torch converts it to {dtype.name} when loading"
    return data


def _rebuild_wrapper_subclass(cls, dtype, size, stride, storage_offset, layout, device,
                              requires_grad):
    if not isinstance(dtype, DtypeMarker):
        raise InertPickleError("malformed tensor subclass record")
    shape = checked_dims(size, "tensor shape", 0)
    return TensorRef(dtype=dtype.name, shape=shape, stride=checked_dims(stride, "tensor stride", -MAX_NUMEL),
                     storage_offset=0, storage=None, layout="meta",
                     note=f"tensor subclass {describe_value(cls)}: no data in this record")


def _rebuild_nested_tensor(buffer, sizes, strides, storage_offsets):
    if not isinstance(buffer, TensorRef):
        raise InertPickleError("malformed nested tensor record")
    buffer.layout = "nested"
    buffer.note = "nested tensor (buffer shown)"
    return buffer


def _rebuild_from_type_v2(func, new_type, args, state):
    if not isinstance(args, tuple):
        raise InertPickleError("malformed tensor subclass record")
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


def _build_allow_list() -> dict[str, Callable[[], Any]]:
    """``module.name`` -> a factory of the stand-in a pickle gets for it. Each load makes its
    own stand-ins (and they are immutable): nothing one file does can reach the next."""
    functions: dict[str, Callable] = {
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
        "_codecs.encode": _codecs_encode,
        "numpy.core.multiarray.scalar": _numpy_scalar,
        "numpy._core.multiarray.scalar": _numpy_scalar,
        "numpy.dtype": NumpyDType,
    }
    for builtins_name in ("builtins", "__builtin__"):
        for kind in (set, frozenset, complex):
            functions[f"{builtins_name}.{kind.__name__}"] = _safe_type(kind)
        functions[f"{builtins_name}.bytes"] = _bytes
        functions[f"{builtins_name}.bytearray"] = _bytearray
    allow: dict[str, Callable[[], Any]] = {
        name: partial(Handler, name, func) for name, func in functions.items()}
    for name in ("torch.Tensor", "torch.nn.parameter.Parameter"):
        allow[name] = partial(PlainMarker, name)
    for name in DTYPES:
        allow[f"torch.{name}"] = partial(DtypeMarker, name)
    for alias, name in DTYPE_ALIASES.items():
        allow[f"torch.{alias}"] = partial(DtypeMarker, name)
    for storage_name, dtype in STORAGE_TYPES.items():
        allow[f"torch.{storage_name}"] = partial(StorageTypeMarker, storage_name, dtype)
        allow[f"torch.cuda.{storage_name}"] = partial(StorageTypeMarker, storage_name, dtype)
    for name in ("torch.storage.UntypedStorage", "torch.UntypedStorage"):
        allow[name] = partial(StorageTypeMarker, "UntypedStorage", "uint8")
    allow["torch.storage.TypedStorage"] = partial(StorageTypeMarker, "TypedStorage", "uint8")
    for layout in ("strided", "sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc"):
        allow[f"torch.{layout}"] = partial(LayoutMarker, f"torch.{layout}")
    for qscheme in ("per_tensor_affine", "per_tensor_symmetric", "per_channel_affine",
                    "per_channel_symmetric", "per_channel_affine_float_qparams"):
        allow[f"torch.{qscheme}"] = partial(PlainMarker, f"torch.{qscheme}")
    return allow


ALLOW_LIST: dict[str, Callable[[], Any]] = _build_allow_list()


def is_allowed(global_name: str) -> bool:
    return global_name in ALLOW_LIST
