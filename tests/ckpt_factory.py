"""Build real and deliberately broken checkpoints for tests (never committed as binaries).

Everything here starts from a file written by ``torch.save`` and, where a test needs an
odd or hostile variant, rewrites the archive: rename its root folder or records, move
tensors to "cuda", add duplicate entries, compress, truncate, or splice in a payload.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path


@contextlib.contextmanager
def saved_on(location: str):
    """Make torch.save record every storage as living on ``location`` (e.g. 'cuda:0')."""
    import torch.serialization as ser

    original = ser.location_tag
    ser.location_tag = lambda storage: location
    try:
        yield
    finally:
        ser.location_tag = original


def zip_entries(path: str | os.PathLike) -> list[tuple[str, bytes]]:
    with zipfile.ZipFile(path) as zf:
        return [(i.filename, zf.read(i.filename)) for i in zf.infolist()]


def write_zip(path: str | os.PathLike, entries: list[tuple[str, bytes]],
              compression: int = zipfile.ZIP_STORED) -> Path:
    """Write entries as a zip (duplicate names allowed: zipfile warns, we silence it)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with zipfile.ZipFile(path, "w", compression=compression) as zf:
            for name, data in entries:
                zf.writestr(name, data)
    return Path(path)


def rewrite_zip(src: str | os.PathLike, dst: str | os.PathLike, *,
                root: str | None = None,
                rename_records: dict[str, str] | None = None,
                edit_pickle: Callable[[bytes], bytes] | None = None,
                drop: Callable[[str], bool] | None = None,
                extra: list[tuple[str, bytes]] | None = None,
                compression: int = zipfile.ZIP_STORED) -> Path:
    """Copy a torch zip with changes; record renames also rewrite the keys in data.pkl."""
    out = []
    for name, data in zip_entries(src):
        old_root, rest = name.split("/", 1)
        if drop and drop(rest):
            continue
        if rest.startswith("data/") and rename_records and rest[5:] in rename_records:
            rest = "data/" + rename_records[rest[5:]]
        if rest == "data.pkl":
            if rename_records:
                for old, new in rename_records.items():
                    data = data.replace(_binunicode(old), _binunicode(new))
            if edit_pickle:
                data = edit_pickle(data)
        out.append((f"{root or old_root}/{rest}", data))
    out.extend(extra or [])
    return write_zip(dst, out, compression)


def _binunicode(s: str) -> bytes:
    raw = s.encode()
    return b"X" + len(raw).to_bytes(4, "little") + raw


class Payload:
    """An object whose unpickling would run ``func(*args)`` (the classic __reduce__ attack)."""

    def __init__(self, func: Callable, *args):
        self.func = func
        self.args = args

    def __reduce__(self):
        return (self.func, self.args)

    def __call__(self, *args):  # lets a Payload be the callable of another (gadget chains)
        raise RuntimeError("a test payload must never be called")


def touch_command(marker: Path) -> str:
    return f"touch {marker}"


def payload_bytes(func: Callable, *args, protocol: int = 2) -> bytes:
    return pickle.dumps(Payload(func, *args), protocol=protocol)


def pickle_stream(obj, protocol: int = 2) -> bytes:
    buf = io.BytesIO()
    pickle.Pickler(buf, protocol=protocol).dump(obj)
    return buf.getvalue()
