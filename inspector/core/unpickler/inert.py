"""The unpickler that never runs code from the file: ``find_class`` hands out only the
allow-list's inert implementations and named placeholders."""

from __future__ import annotations

import io
import pickle
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from inspector.core.text import safe_str
from inspector.core.unpickler.allow_list import ALLOW_LIST
from inspector.core.unpickler.guard import check_memo_indices, memory_stream
from inspector.core.unpickler.standins import (
    InertPickleError,
    StorageRef,
    StorageTypeMarker,
    checked_int,
    describe_value,
    placeholder_type,
)

MAX_GLOBALS = 10_000  # distinct globals one pickle may name
MAX_PICKLE_BYTES = 256 << 20  # read at most this much of one pickle (~2 M tensors of metadata)


@dataclass
class InertResult:
    obj: Any
    globals: list[str]  # every global named, in first-use order
    unsafe_globals: list[str]  # those outside the allow-list
    end: int = 0  # offset just past the pickle's STOP opcode


class _InertUnpickler(pickle.Unpickler):
    def __init__(self, stream: io.BufferedReader, persistent_load: Callable[[Any], Any] | None):
        super().__init__(stream, encoding="latin1")
        self._storage_loader = persistent_load
        self.seen: dict[str, None] = {}
        self.unsafe: dict[str, None] = {}
        # what this load handed out, by global: stand-ins are never shared between loads
        self.resolved: dict[str, Any] = {}

    def find_class(self, module: str, name: str) -> Any:  # noqa: D401 - pickle hook
        full = f"{module}.{name}"
        known = self.resolved.get(full)
        if known is not None:
            return known
        if len(self.seen) >= MAX_GLOBALS:
            raise InertPickleError(f"the pickle names more than {MAX_GLOBALS} globals")
        shown = full if full.isascii() else safe_str(full)  # lone surrogates become escapes
        self.seen[shown] = None
        factory = ALLOW_LIST.get(full)
        if factory is not None:
            made = factory()
        else:
            self.unsafe[shown] = None
            made = placeholder_type(shown, re.sub(r"\W", "_", name)[:100] or "global")
        self.resolved[full] = made
        return made

    def persistent_load(self, pid: Any) -> Any:
        if self._storage_loader is None:
            raise InertPickleError("the pickle refers to external storage records but has none")
        return self._storage_loader(pid)


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
        check_memo_indices(data, start, len(window))
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
        err = InertPickleError("the pickle nests too deeply")
    except MemoryError:
        err = InertPickleError("the pickle declares an object too large for memory")
    except EOFError:
        err = InertPickleError("the pickle data is truncated")
    except (pickle.UnpicklingError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            OverflowError, UnicodeDecodeError, struct.error) as e:
        err = InertPickleError(f"malformed pickle ({type(e).__name__}: {str(e)[:200]})")
    else:
        return InertResult(obj, list(up.seen), list(up.unsafe), end)
    # keep what was learned before the failure: scan reports it
    err.globals = list(up.seen)
    err.unsafe_globals = list(up.unsafe)
    raise err


def storage_ref_from_pid(pid: Any) -> StorageRef:
    """Validate a torch persistent id ``('storage', type, key, location, numel[, view])``."""
    if not isinstance(pid, tuple) or len(pid) < 5 or pid[0] != "storage":
        raise InertPickleError(f"unsupported persistent id {describe_value(pid)}")
    storage_type, key, location, numel = pid[1], pid[2], pid[3], pid[4]
    if not isinstance(storage_type, StorageTypeMarker):
        raise InertPickleError(f"storage type {describe_value(storage_type)} is not a torch storage type")
    if not isinstance(key, (str, int)) or not isinstance(location, str):
        raise InertPickleError(f"malformed storage record {describe_value(pid)}")
    ref = StorageRef(key=str(key), dtype=storage_type.dtype, location=location,
                     numel=checked_int(numel, "storage size"))
    if len(pid) > 5 and pid[5] is not None:
        view = pid[5]
        if not (isinstance(view, tuple) and len(view) == 3):
            raise InertPickleError(f"malformed storage view {describe_value(view)}")
        ref.view_offset = checked_int(view[1], "storage view offset")
        ref.view_numel = checked_int(view[2], "storage view size")
    return ref

