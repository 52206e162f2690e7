"""Which globals a file's pickles reference, and a verdict (a label, never a permission).

Two views are combined: the globals our inert unpickler was asked for while reading the
file, and a static pass over every pickle's opcodes (which also sees globals after the
point where a malformed pickle stops loading). Being "clean" never unlocks unsafe loading.
"""

from __future__ import annotations

import mmap
import os
import pickletools
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

from inspector.core.checkpoint import CheckpointError
from inspector.core.formats import PROTOCOL_0_STARTS, open_checkpoint
from inspector.core.formats.torch_legacy import looks_legacy
from inspector.core.unpickler import is_allowed, memory_stream

MAX_STATIC_OPS = 20_000_000
MAX_SCAN_ENTRIES = 100_000
MAX_SCAN_BYTES = 256 << 20

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
    except (ValueError, EOFError, KeyError, UnicodeDecodeError, MemoryError, OverflowError) as e:
        problem = f"opcode scan stopped: {type(e).__name__}: {e}"
    finally:
        stream.close()
    return list(found), end, problem


def _zip_pickles(path: str, fh, mm: mmap.mmap, skip_data_pkl: bool) -> list[tuple[str, bytes]]:
    """Every pickle entry of a zip, read even from archives the reader refuses (duplicate
    names are exactly where a payload hides); compressed entries are read up to a cap."""
    out = []
    try:
        zf = zipfile.ZipFile(fh)
    except Exception:  # noqa: BLE001 - a damaged archive just has nothing to scan statically
        return out
    for info in zf.infolist()[:MAX_SCAN_ENTRIES]:
        name = info.filename
        if not (name.endswith(".pkl") or name.endswith("/.metadata")):
            continue
        if skip_data_pkl and name.endswith("/data.pkl") and name.count("/") == 1:
            continue
        try:
            with zf.open(info) as entry:
                out.append((name, entry.read(MAX_SCAN_BYTES)))
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
            continue
    return out


def _expected_for(fmt: str | None) -> Callable[[str], bool]:
    """Globals a format always writes and its reader interprets without running them."""
    if fmt == "torchscript":
        from inspector.core.formats.torchscript import JIT_PICKLE_PREFIX, SCRIPT_PREFIX

        return lambda g: g.startswith((SCRIPT_PREFIX, JIT_PICKLE_PREFIX))
    if fmt == "dcp":
        from inspector.core.formats.dcp import DCP_EXPECTED_GLOBALS

        return DCP_EXPECTED_GLOBALS.__contains__
    return lambda g: False


def _static_scan(path: str, loaded: bool) -> tuple[list[str], list[str]]:
    """Globals named by the file's pickles, by opcodes alone (best effort).

    When the reader loaded the file, every global of the pickles it read went through our
    unpickler already; only the other pickles need a static pass. When it failed, all do.
    """
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, ".metadata")):
        path = os.path.join(path, ".metadata")  # a DCP folder: its metadata is a plain pickle
        loaded = False
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
                blobs = [(n, d, 1) for n, d in _zip_pickles(path, fh, mm, skip_data_pkl=loaded)]
            elif not loaded and (looks_legacy(head) or head[:1] == b"\x80"
                                 or head[:1] in PROTOCOL_0_STARTS):
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
        found, notes = _static_scan(path, loaded=error is None)
    except Exception as e:  # noqa: BLE001 - the static pass is best effort on damaged files
        found, notes = [], [f"static scan stopped: {type(e).__name__}: {str(e)[:200]}"]
    expected = _expected_for(fmt)
    for g in found:
        globals_seen.setdefault(g, None)
        if not is_allowed(g) and not expected(g):
            unsafe.setdefault(g, None)
    if fmt == "torchscript":
        notes.append("TorchScript: torch.jit.load would run the archive's code/ files; browsing "
                     "here does not")
    if unsafe:
        verdict = UNSAFE
    elif error:
        verdict = UNREADABLE
    else:
        verdict = CLEAN
    return ScanResult(path=path, format=fmt, verdict=verdict, globals=list(globals_seen),
                      unsafe_globals=list(unsafe), error=error, notes=notes)
