"""Which globals a file's pickles reference, and a verdict (a label, never a permission).

Two views are combined: the globals our inert unpickler was asked for while reading the
file, and a static pass over every pickle's opcodes (which also sees globals after the
point where a malformed pickle stops loading). Being "clean" never unlocks unsafe loading.
"""

from __future__ import annotations

import mmap
import os
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from inspector.core.checkpoint import CheckpointError
from inspector.core.formats import PROTOCOL_0_STARTS, AmbiguousArchiveError, open_checkpoint
from inspector.core.formats.dcp import DCP_EXPECTED_GLOBALS, looks_dcp_folder
from inspector.core.formats.torch_legacy import looks_legacy
from inspector.core.formats.torchscript import JIT_PICKLE_PREFIX, SCRIPT_PREFIX
from inspector.core.unpickler import is_allowed
from inspector.core.unpickler.opcodes import MAX_STATIC_OPS, static_globals

MAX_SCAN_ENTRIES = 100_000
MAX_SCAN_BYTES = 64 << 20  # of one pickle
MAX_SCAN_TOTAL = 256 << 20  # of all the pickles of one zip together
MAX_SNIFF = 1 << 20  # an entry not named like a pickle is scanned if it is at most this long

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


def _named_pickle(name: str) -> bool:
    """A zip entry named like a pickle torch reads, in any case (torch finds ``DATA.PKL``
    when asked for ``data.pkl``)."""
    return name.lower().endswith((".pkl", "_pkl", "/.metadata"))


def _zip_pickles(fh, skip_data_pkl: bool) -> Iterator[tuple[str, bytes, bool]]:
    """Every pickle-like entry of a zip as (name, bytes, named like a pickle), read even from
    archives the reader refuses (duplicate names are exactly where a payload hides). Entries
    named like pickles are read up to a cap each and another for all; any other entry that
    starts like a pickle (protocol 2-5) is sniffed too, up to ``MAX_SNIFF`` bytes."""
    try:
        zf = zipfile.ZipFile(fh)
    except Exception:  # noqa: BLE001 - a damaged archive just has nothing to scan statically
        return
    budget = MAX_SCAN_TOTAL
    for info in zf.infolist()[:MAX_SCAN_ENTRIES]:
        name = info.filename
        if skip_data_pkl and name.endswith("/data.pkl") and name.count("/") == 1:
            continue
        named = _named_pickle(name)
        try:
            with zf.open(info) as entry:
                if named:
                    if budget <= 0:
                        yield name, b"", True  # reported as not scanned
                        continue
                    data = entry.read(min(MAX_SCAN_BYTES, budget))
                    budget -= len(data)
                else:
                    head = entry.read(2)
                    if info.file_size > MAX_SNIFF or len(head) < 2 or head[0] != 0x80 \
                            or not 2 <= head[1] <= 5:
                        continue
                    data = head + entry.read(MAX_SNIFF)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError,
                zlib.error):
            continue
        yield name, data, named


def _expected_for(fmt: str | None) -> Callable[[str], bool]:
    """Globals a format always writes and its reader interprets without running them."""
    if fmt == "torchscript":
        return lambda g: g.startswith((SCRIPT_PREFIX, JIT_PICKLE_PREFIX))
    if fmt == "dcp":
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
    with open(path, "rb") as fh:
        if os.fstat(fh.fileno()).st_size == 0:
            return [], []
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            head = mm[:64]
            blobs: Iterable[tuple[str, bytes | mmap.mmap, bool]] = ()
            count = 1
            if head.startswith(b"PK\x03\x04"):
                blobs = _zip_pickles(fh, skip_data_pkl=loaded)
            elif not loaded and (looks_legacy(head) or head[:1] == b"\x80"
                                 or head[:1] in PROTOCOL_0_STARTS):
                blobs, count = [("file", mm, True)], 5  # a legacy file: five pickles, then bytes
            return scan_pickles(blobs, count)


def scan_pickles(blobs: Iterable[tuple[str, bytes | mmap.mmap, bool]],
                 count: int = 1) -> tuple[list[str], list[str]]:
    """Globals named by the pickles in ``blobs`` ((name, bytes, named-as-a-pickle) each), by
    opcodes alone, and notes on what could not be scanned: the one static pass of a local and
    a remote scan (up to ``count`` pickles one after another in each blob; opcode budget
    ``MAX_STATIC_OPS`` for all of them together). Anything not fully scanned is listed as a
    ``<… not scanned>`` global, so it is never labelled clean."""
    found: dict[str, None] = {}
    notes: list[str] = []
    ops_left = MAX_STATIC_OPS  # for all the pickles of the file together
    for name, data, named in blobs:
        if not named:  # sniffed: a pickle only if it is one, whole, to its last byte
            result = static_globals(data, 0, ops_left)
            ops_left -= result.ops
            if result.complete and result.end == len(data):
                found.update(dict.fromkeys(result.globals))
            continue
        if not data or ops_left <= 0:
            notes.append(f"{name}: not scanned (over the limits of one scan: "
                         f"{MAX_SCAN_TOTAL} bytes, {MAX_STATIC_OPS} opcodes)")
            found[f"<{name} not scanned>"] = None  # never labelled clean
            continue
        pos = 0
        for _ in range(count):
            result = static_globals(data, pos, ops_left)
            ops_left -= result.ops
            found.update(dict.fromkeys(result.globals))
            if not result.complete:
                found[f"<{name} not fully scanned>"] = None
            if result.problem and (not result.globals or not result.complete):
                notes.append(f"{name}: {result.problem}")
            if not result.end or result.end >= len(data):
                break
            pos = result.end
    return list(found), notes


def scan(path: str | os.PathLike) -> ScanResult:
    """Scan a checkpoint's pickles and give a verdict: clean, unsafe or unreadable."""
    path = os.fspath(path)
    globals_seen: dict[str, None] = {}
    unsafe: dict[str, None] = {}
    notes: list[str] = []
    fmt = None
    error = None
    ambiguous = None
    try:
        ck = open_checkpoint(path)
        fmt = ck.format
        globals_seen.update(dict.fromkeys(ck.globals))
        unsafe.update(dict.fromkeys(ck.unsafe_globals))
        ck.close()
    except AmbiguousArchiveError as e:
        error = str(e)
        ambiguous = e.what
    except CheckpointError as e:
        error = str(e)
    try:
        found, notes = _static_scan(path, loaded=error is None)
    except Exception as e:  # noqa: BLE001 - the static pass is best effort on damaged files
        found, notes = [], [f"static scan stopped: {type(e).__name__}: {str(e)[:200]}"]
    expected = _expected_for(fmt or ("dcp" if looks_dcp_folder(path) else None))
    for g in found:
        globals_seen.setdefault(g, None)
        if not is_allowed(g) and not expected(g):
            unsafe.setdefault(g, None)
    if fmt == "torchscript":
        notes.append("TorchScript: torch.jit.load would run the archive's code/ files; browsing "
                     "here does not")
    if ambiguous:
        notes.insert(0, f"ambiguous archive: {ambiguous}; torch may load something other than "
                        "what is shown, so the file counts as unsafe")
    if unsafe or ambiguous:
        verdict = UNSAFE
    elif error:
        verdict = UNREADABLE
    else:
        verdict = CLEAN
    return ScanResult(path=path, format=fmt, verdict=verdict, globals=list(globals_seen),
                      unsafe_globals=list(unsafe), error=error, notes=notes)
