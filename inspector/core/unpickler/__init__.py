"""A pickle reader that never runs code from the file.

Python's unpickler only ever calls what ``find_class`` hands it. Ours hands out nothing but
our own inert stand-ins: an allow-list of the globals a torch checkpoint needs is mapped to
small functions here that *describe* tensors and storages (no bytes read, torch not
imported), and every other global becomes a named placeholder type whose "calls" are
recorded as text (``posix.system('…')``). So ``__reduce__`` payloads, ``getattr`` chains,
``importlib``/``runpy``/numpy gadgets all end as inert records, and the caller learns which
globals the file referenced.
"""

from inspector.core.unpickler.allow_list import is_allowed
from inspector.core.unpickler.inert import (
    MAX_PICKLE_BYTES,
    InertResult,
    load_inert,
    storage_ref_from_pid,
)
from inspector.core.unpickler.standins import (
    DeviceMarker,
    DtypeMarker,
    InertPickleError,
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

__all__ = [
    "MAX_PICKLE_BYTES", "DeviceMarker", "DtypeMarker", "InertPickleError",
    "InertResult", "LayoutMarker", "NumpyDType", "Opaque", "OpaqueCall", "PickledOrderedDict",
    "PlainMarker", "StorageRef", "StorageTypeMarker", "TensorRef", "TorchSize", "describe_value",
    "is_allowed", "load_inert", "storage_ref_from_pid",
]
