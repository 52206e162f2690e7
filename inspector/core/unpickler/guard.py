"""Checks that run over a pickle's bytes before the unpickler sees them, and the zero-copy
stream the unpickler reads from.

``LONG_BINPUT 4000000000`` makes CPython's unpickler allocate (and zero) a memo table of tens
of GB; the memo-index guard refuses such indices with a vectorized pass and, only when it
finds candidates, an exact opcode walk.
"""

from __future__ import annotations

import io
import mmap
import re
import struct
from typing import Any

from inspector.core.unpickler.opcodes import ARG_LENGTHS
from inspector.core.unpickler.standins import InertPickleError


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


_U32 = struct.Struct("<I").unpack_from
_I32 = struct.Struct("<i").unpack_from
_U64 = struct.Struct("<Q").unpack_from


def _memo_index_over(data: Any, i: int, n: int, limit: int) -> int | None:
    """The first memo index above ``limit`` that a PUT / LONG_BINPUT of the pickle at
    ``data[i:n]`` names, or None. An exact opcode walk that only skips arguments (several
    times faster than pickletools.genops); it stops quietly at a malformed opcode, which the
    unpickler will report."""
    lengths = ARG_LENGTHS
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


def check_memo_indices(data: Any, start: int, end: int) -> None:
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
        raise InertPickleError(f"memo index {index} is out of range for a {n}-byte pickle")


def memory_stream(data: bytes | memoryview | Any, start: int = 0) -> io.BufferedReader:
    """A buffered, seekable stream over ``data`` positioned at ``start``, without copying."""
    stream = io.BufferedReader(_MemoryStream(data), buffer_size=1 << 16)
    stream.seek(start)
    return stream
