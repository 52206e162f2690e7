"""A static pass over a pickle's opcodes: which globals it names, without building anything.

``scan`` uses it on the pickles the inert unpickler did not read (or stopped reading). The
walk skips arguments by their declared lengths (several times faster than
``pickletools.genops``) and keeps only what naming a global needs: the last two strings
pushed and the memoized strings (capped), so a pickle bomb costs time proportional to its
bytes and bounded memory.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from typing import Any

MAX_STATIC_OPS = 10_000_000
MAX_STATIC_GLOBALS = 10_000  # distinct globals reported; more is itself a finding
MAX_MEMO_STRINGS = 100_000  # memoized strings remembered for STACK_GLOBAL
MAX_NAME = 4096  # bytes of a string kept as a possible module or attribute name
TOO_MANY_GLOBALS = f"<more than {MAX_STATIC_GLOBALS} globals>"
UNRESOLVED = "<unresolved STACK_GLOBAL>"

_U32 = struct.Struct("<I").unpack_from
_I32 = struct.Struct("<i").unpack_from
_U64 = struct.Struct("<Q").unpack_from


def _opcode_arg_lengths() -> list[int | None]:
    """Opcode byte -> its argument's size (>= 0), or pickletools' negative length codes."""
    import pickletools

    lengths: list[int | None] = [None] * 256
    for op in pickletools.opcodes:
        lengths[op.code.encode("latin1")[0]] = 0 if op.arg is None else op.arg.n
    return lengths


ARG_LENGTHS: list[int | None] = _opcode_arg_lengths()

# opcodes that push nothing a STACK_GLOBAL could take as its module or name
_NO_PUSH = frozenset({0x80, 0x95, 0x71, 0x72, 0x70, 0x94, 0x2E})  # PROTO FRAME PUTs MEMOIZE STOP
_STRINGS = {0x8C: "short", 0x58: "u4", 0x8D: "u8", 0x54: "i4", 0x55: "short"}  # str/bytes ops
_GLOBAL, _INST, _STACK_GLOBAL = 0x63, 0x69, 0x93
_BINPUT, _LONG_BINPUT, _PUT, _MEMOIZE = 0x71, 0x72, 0x70, 0x94
_BINGET, _LONG_BINGET, _GET, _STOP = 0x68, 0x6A, 0x67, 0x2E


@dataclass
class StaticScan:
    globals: list[str]
    end: int  # offset just past STOP (0 when the walk did not reach one)
    problem: str | None = None
    ops: int = 0  # opcodes walked
    complete: bool = True  # False when a cap stopped the walk


def _text(raw: Any) -> str:
    return bytes(raw).decode("utf-8", "backslashreplace")


def static_globals(data: Any, start: int = 0, max_ops: int = MAX_STATIC_OPS) -> StaticScan:
    """Globals named by the pickle at ``data[start:]`` (bytes, mmap or memoryview), from its
    opcodes alone, walking at most ``max_ops`` opcodes. STACK_GLOBAL is resolved from the
    strings pushed (or fetched from the memo) just before it."""
    if not isinstance(data, (bytes, bytearray, mmap.mmap)):
        data = bytes(data)  # a memoryview: no find()
    lengths = ARG_LENGTHS
    find = data.find
    n = len(data)
    found: dict[str, None] = {}
    memo: dict[int, str] = {}
    memo_len = 0
    prev2: str | None = None
    prev1: str | None = None
    i = start
    ops = 0
    try:
        while i < n:
            op = data[i]
            k = lengths[op]
            i += 1
            ops += 1
            if k is None:
                return StaticScan(list(found), 0, f"opcode scan stopped: unknown opcode "
                                                  f"{op:#04x} at byte {i - 1}", ops)
            if ops > max_ops:
                return StaticScan(list(found), 0, f"opcode scan stopped after {max_ops} "
                                                  "opcodes, the limit", ops, complete=False)
            pushed: str | None = None
            if op in _STRINGS:
                if k == -2:
                    size, i = data[i], i + 1
                elif k == -4:
                    size, i = _U32(data, i)[0], i + 4
                elif k == -3:
                    size, i = max(_I32(data, i)[0], 0), i + 4
                else:
                    size, i = _U64(data, i)[0], i + 8
                if i + size > n:
                    return StaticScan(list(found), 0, "opcode scan stopped: truncated string", ops)
                if size <= MAX_NAME:
                    pushed = _text(data[i:i + size])
                i += size
            elif k == -1:  # text arguments up to a newline
                j = find(b"\n", i, n)
                if j < 0:
                    return StaticScan(list(found), 0, "opcode scan stopped: truncated line", ops)
                if op in (_GLOBAL, _INST):
                    j2 = find(b"\n", j + 1, n)
                    if j2 < 0:
                        return StaticScan(list(found), 0, "opcode scan stopped: truncated line",
                                          ops)
                    found[f"{_text(data[i:j])}.{_text(data[j + 1:j2])}"] = None
                    j = j2
                elif op == _PUT:
                    memo_len += 1
                    if prev1 is not None and len(memo) < MAX_MEMO_STRINGS:
                        memo[int(data[i:j])] = prev1
                elif op == _GET:
                    pushed = memo.get(int(data[i:j]))
                elif op in (0x53, 0x56) and j - i <= MAX_NAME:  # STRING 'x', UNICODE x
                    text = _text(data[i:j])
                    pushed = text[1:-1] if op == 0x53 and len(text) >= 2 else text
                i = j + 1
            else:
                if k == -4:
                    k = 4 + _U32(data, i)[0]
                elif k == -2:
                    k = 1 + data[i]
                elif k == -3:
                    k = 4 + max(_I32(data, i)[0], 0)
                elif k == -5:
                    k = 8 + _U64(data, i)[0]
                if op == _STACK_GLOBAL:
                    found[f"{prev2}.{prev1}" if prev2 is not None and prev1 is not None
                          else UNRESOLVED] = None
                elif op in (_BINPUT, _LONG_BINPUT, _MEMOIZE):
                    index = (data[i] if op == _BINPUT else _U32(data, i)[0] if op == _LONG_BINPUT
                             else memo_len)
                    memo_len += 1
                    if prev1 is not None and len(memo) < MAX_MEMO_STRINGS:
                        memo[index] = prev1
                elif op in (_BINGET, _LONG_BINGET):
                    pushed = memo.get(data[i] if op == _BINGET else _U32(data, i)[0])
                elif op == _STOP:
                    return StaticScan(list(found), i, None, ops)
                i += k
            if len(found) > MAX_STATIC_GLOBALS:
                del found[next(reversed(found))]
                found[TOO_MANY_GLOBALS] = None
                return StaticScan(list(found), 0, f"the pickle names more than "
                                                  f"{MAX_STATIC_GLOBALS} globals", ops, False)
            if op not in _NO_PUSH:
                prev2, prev1 = prev1, pushed
    except (struct.error, IndexError, ValueError) as e:
        return StaticScan(list(found), 0, f"opcode scan stopped: {type(e).__name__}", ops)
    return StaticScan(list(found), 0, "opcode scan stopped: no STOP opcode", ops)
