"""A pickle reader that never runs code from the file.

Python's unpickler only ever calls what ``find_class`` hands it. Ours hands out nothing but
our own inert stand-ins: an allow-list of the globals a torch checkpoint needs is mapped to
small functions here that *describe* tensors and storages (no bytes read, torch not
imported), and every other global becomes a named placeholder type whose "calls" are
recorded as text (``posix.system('…')``). So ``__reduce__`` payloads, ``getattr`` chains,
``importlib``/``runpy``/numpy gadgets all end as inert records, and the caller learns which
globals the file referenced.
"""

from inspector.core.unpickler.allow_list import ALLOW_LIST, is_allowed
from inspector.core.unpickler.guard import check_memo_indices, memory_stream
from inspector.core.unpickler.inert import (
    MAX_GLOBALS,
    MAX_PICKLE_BYTES,
    InertResult,
    load_inert,
    storage_ref_from_pid,
)
from inspector.core.unpickler.standins import (
    MAX_DIM,
    MAX_NUMEL,
    DeviceMarker,
    DtypeMarker,
    InertPickleError,
    LayoutMarker,
    NumpyDType,
    Opaque,
    OpaqueCall,
    PickledCounter,
    PickledOrderedDict,
    PlainMarker,
    StorageRef,
    StorageTypeMarker,
    TensorRef,
    TorchSize,
    describe_value,
)

__all__ = [
    "ALLOW_LIST", "MAX_DIM", "MAX_GLOBALS", "MAX_NUMEL", "MAX_PICKLE_BYTES", "DeviceMarker",
    "DtypeMarker", "InertPickleError", "InertResult", "LayoutMarker", "NumpyDType", "Opaque",
    "OpaqueCall", "PickledCounter", "PickledOrderedDict", "PlainMarker", "StorageRef",
    "StorageTypeMarker", "TensorRef", "TorchSize", "check_memo_indices", "describe_value",
    "is_allowed", "load_inert", "memory_stream", "storage_ref_from_pid",
]
