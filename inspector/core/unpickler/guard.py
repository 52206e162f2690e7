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

_LONG_BINPUT, _PUT, _STOP, _GLOBAL, _INST = 0x72, 0x70, 0x2E, 0x63, 0x69
_SHORT_STRING_SKIP = 64  # counted strings up to this long are skipped by the regex


def _skip_pattern(limit_bits: int) -> re.Pattern[bytes]:
    """A regex that consumes a run of whole opcodes the memo-index walk has nothing to check
    in: every opcode with its exact argument, except PUT, STOP, unknown opcodes, strings
    longer than ``_SHORT_STRING_SKIP`` bytes and LONG_BINPUT indices of ``limit_bits`` bits
    or more (all of which the walk's own step handles). Each alternative starts with the
    opcode byte and fixes the argument's length, so the regex follows the opcode
    boundaries exactly as the walk does; it only does the skipping in C."""
    def cls(codes) -> bytes:
        return b"[" + b"".join(re.escape(bytes([c])) for c in sorted(codes)) + b"]"

    fixed: dict[int, list[int]] = {}
    text: list[int] = []
    counted: dict[int, list[int]] = {}
    for code, k in enumerate(ARG_LENGTHS):
        if k is None or code in (_LONG_BINPUT, _STOP, _PUT):
            continue
        if k >= 0:
            fixed.setdefault(k, []).append(code)
        elif k == -1:
            if code not in (_GLOBAL, _INST):
                text.append(code)
        else:
            counted.setdefault(k, []).append(code)
    # the opcodes torch.save writes most come first: the regex tries alternatives in order
    parts = [cls(fixed[1]) + b".", cls(fixed[0])]
    q, r = divmod(limit_bits, 8)
    if q >= 4:
        parts.append(rb"r....")
    else:
        top_byte = re.escape(bytes([(1 << r) - 1]))
        parts.append(b"r" + b"." * q + b"[\x00-" + top_byte + b"]" + b"\x00" * (3 - q))
    for k, codes in counted.items():  # small lengths only: one alternative per length
        width = {-2: 1, -3: 4, -4: 4, -5: 8}[k]
        lengths = b"|".join(re.escape(n.to_bytes(width, "little")) + b"." * n
                            for n in range(_SHORT_STRING_SKIP + 1))
        parts.append(cls(codes) + b"(?:" + lengths + b")")
    parts += [cls(codes) + b"." * k for k, codes in sorted(fixed.items()) if k > 1]
    parts.append(cls(text) + rb"[^\n]*\n")
    parts.append(cls((_GLOBAL, _INST)) + rb"[^\n]*\n[^\n]*\n")
    return re.compile(b"(?:" + b"|".join(parts) + b")*+", re.DOTALL)


_SKIPS: dict[int, re.Pattern[bytes]] = {}


def _memo_index_over(data: Any, i: int, n: int, limit: int) -> int | None:
    """The first memo index above ``limit`` that a PUT / LONG_BINPUT of the pickle at
    ``data[i:n]`` names, or None. An exact opcode walk that only skips arguments: runs of
    opcodes with nothing to check are skipped by a regex (:func:`_skip_pattern`), the rest
    step by step here; it stops quietly at a malformed opcode, which the unpickler will
    report."""
    lengths = ARG_LENGTHS
    find = data.find
    bits = max(0, min(32, (limit + 1).bit_length() - 1))  # LONG_BINPUT below 2**bits is fine
    skip = _SKIPS.get(bits)
    if skip is None:
        skip = _SKIPS[bits] = _skip_pattern(bits)
    skip = skip.match
    try:
        while i < n:
            i = skip(data, i, n).end()
            if i >= n:
                return None
            op = data[i]
            k = lengths[op]
            i += 1
            if k is None:
                return None
            if k >= 0:
                if op == _LONG_BINPUT:
                    index = _U32(data, i)[0]
                    if index > limit:
                        return index
                elif op == _STOP:
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
                if op == _PUT:
                    text = data[i:j]
                    if text.isdigit() and (len(text) > 18 or int(text) > limit):
                        return int(text) if len(text) < 40 else limit + 1
                elif op in (_GLOBAL, _INST):
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
    above that is hostile. An exact opcode walk decides (text inside strings looks like
    opcodes, so no byte search can); it skips most opcodes in C, so 100,000 tensors of
    ``torch.save`` metadata cost a few tens of milliseconds, and it needs no numpy (the app
    reads its first file before numpy is imported).
    """
    n = end - start
    if n < 6:
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
