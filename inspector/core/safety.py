"""Which globals a file's pickles reference, and a verdict (a label, never a permission).

Two views are combined: the globals our inert unpickler was asked for while reading the
file, and a static pass over every pickle's opcodes (which also sees globals after the
point where a malformed pickle stops loading). Being "clean" never unlocks unsafe loading.
"""

from __future__ import annotations

import mmap
import os
import pickletools
from dataclasses import dataclass, field

from inspector.core.checkpoint import CheckpointError
from inspector.core.formats import open_checkpoint
from inspector.core.formats.torch_legacy import looks_legacy
from inspector.core.formats.torch_zip import ZipArchive
from inspector.core.unpickler import is_allowed, memory_stream

MAX_STATIC_OPS = 20_000_000

CLEAN, UNSAFE, UNREADABLE = "clean", "unsafe", "unreadable"


@dataclass(frozen=True)
class ScanResult:
    path: str
    format: str | None
    verdict: str
    globals: list[str] = field(default_factory=list)
    unsafe_globals: list[str] = field(default_factory=list)
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return {CLEAN: 0, UNSAFE: 1}.get(self.verdict, 2)

    def to_json(self) -> dict:
        out = {"path": self.path, "format": self.format, "verdict": self.verdict,
               "globals": self.globals, "unsafe_globals": self.unsafe_globals}
        if self.error:
            out["error"] = self.error
        if self.notes:
            out["notes"] = self.notes
        return out


def static_globals(data: bytes | memoryview, start: int = 0) -> tuple[list[str], int, str | None]:
    """Globals named by the pickle at ``data[start:]`` from its opcodes alone.

    Returns (globals, end offset, problem or None). STACK_GLOBAL is resolved from the
    strings pushed (or fetched from the memo) just before it.
    """
    found: dict[str, None] = {}
    memo: dict[int, object] = {}
    recent: list[object] = []
    stream = memory_stream(data, start)
    problem = None
    end = 0
    count = 0
    try:
        for op, arg, pos in pickletools.genops(stream):
            count += 1
            if count > MAX_STATIC_OPS:
                problem = "too many opcodes to scan"
                break
            name = op.name
            if name in ("GLOBAL", "INST"):
                module, _, attr = str(arg).partition(" ")
                found[f"{module}.{attr}"] = None
                recent.append(None)
            elif name == "STACK_GLOBAL":
                if len(recent) >= 2 and isinstance(recent[-2], str) and isinstance(recent[-1], str):
                    found[f"{recent[-2]}.{recent[-1]}"] = None
                else:
                    found["<unresolved STACK_GLOBAL>"] = None
                recent.append(None)
            elif name in ("SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE",
                          "STRING", "BINSTRING", "SHORT_BINSTRING"):
                recent.append(arg)
            elif name in ("BINPUT", "LONG_BINPUT", "PUT"):
                memo[int(arg)] = recent[-1] if recent else None
            elif name == "MEMOIZE":
                memo[len(memo)] = recent[-1] if recent else None
            elif name in ("BINGET", "LONG_BINGET", "GET"):
                recent.append(memo.get(int(arg)))
            elif name == "STOP":
                end = pos + 1
            else:
                recent.append(None)
            if len(recent) > 8:
                del recent[:-4]
    except (ValueError, EOFError, KeyError, UnicodeDecodeError) as e:
        problem = f"opcode scan stopped: {e}"
    finally:
        stream.close()
    return list(found), end, problem


def _static_scan(path: str) -> tuple[list[str], list[str]]:
    """Globals named by every pickle in the file, by opcodes alone (best effort)."""
    if not os.path.isfile(path):
        return [], []
    found: dict[str, None] = {}
    notes: list[str] = []
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return [], []
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            head = mm[:64]
            blobs: list[tuple[str, bytes | mmap.mmap, int]] = []
            if head.startswith(b"PK\x03\x04"):
                try:
                    archive = ZipArchive(path, fh, mm, len(mm))
                    blobs = [(n, archive.read(n, 1 << 30), 1) for n in archive.infos
                             if n.endswith(".pkl") or n.endswith("/.metadata")]
                except CheckpointError:
                    blobs = []
            elif looks_legacy(head) or head[:1] == b"\x80":
                blobs = [("file", mm, 5)]  # a legacy file is five pickles, then raw bytes
            for name, data, count in blobs:
                pos = 0
                for _ in range(count):
                    names, end, problem = static_globals(data, pos)
                    found.update(dict.fromkeys(names))
                    if problem and not names:
                        notes.append(f"{name}: {problem}")
                    if not end or end >= len(data):
                        break
                    pos = end
    return list(found), notes


def scan(path: str | os.PathLike) -> ScanResult:
    """Scan a checkpoint's pickles and give a verdict: clean, unsafe or unreadable."""
    path = os.fspath(path)
    globals_seen: dict[str, None] = {}
    unsafe: dict[str, None] = {}
    notes: list[str] = []
    fmt = None
    error = None
    try:
        ck = open_checkpoint(path)
        fmt = ck.format
        globals_seen.update(dict.fromkeys(ck.globals))
        unsafe.update(dict.fromkeys(ck.unsafe_globals))
        ck.close()
    except CheckpointError as e:
        error = str(e)
    try:
        found, notes = _static_scan(path)
    except (OSError, ValueError):
        found = []
    for g in found:
        globals_seen.setdefault(g, None)
        if not is_allowed(g):
            unsafe.setdefault(g, None)
    if unsafe:
        verdict = UNSAFE
    elif error:
        verdict = UNREADABLE
    else:
        verdict = CLEAN
    return ScanResult(path=path, format=fmt, verdict=verdict, globals=list(globals_seen),
                      unsafe_globals=list(unsafe), error=error, notes=notes)
