"""Every piece of text both front ends print: bytes, counts, numbers, key paths, shapes, metrics.

Qt-free and torch-free. The CLI and the UI format through this module only, so a number reads
the same in a terminal table, a tree cell and a tooltip. Strings that come from a file pass
through :func:`printable` (terminals) or :func:`html_text` (rich-text widgets) before they are
shown, so a key can never draw on the screen or the terminal.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

MAX_VALUE_TEXT = 80  # characters of a scalar shown in a summary or table cell
MISSING = "–"  # "not applicable" in tables


# ---- Sizes and counts
def format_bytes(n: int | float) -> str:
    """1536 -> ``1.5 KiB``."""
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{int(n)} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def format_count(n: int) -> str:
    """12345678 -> ``12.35M``; small numbers stay exact."""
    if n < 10_000:
        return str(n)
    for unit, div in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


# ---- Numbers
def format_value(v: object, limit: int = MAX_VALUE_TEXT) -> str:
    """A scalar as short text: floats with 6 significant digits, long strings cut."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return str(v)
        if v != 0 and (abs(v) < 1e-4 or abs(v) >= 1e6):
            return f"{v:.4g}"
        return f"{v:.6g}"
    if isinstance(v, (list, tuple)):
        inner = ", ".join(format_value(x, limit) for x in v[:8])
        more = ", …" if len(v) > 8 else ""
        return f"[{inner}{more}]" if isinstance(v, list) else f"({inner}{more})"
    return shorten(safe_str(v), limit)


def _float_text(v: float, digits: int) -> str:
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == 0:
        return "0"
    return f"{v:.{digits}g}"


def number_text(v: Any, digits: int = 4, missing: str = MISSING) -> str:
    """A statistic for a table cell: ``digits`` significant digits, ints with separators."""
    if v is None:
        return missing
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int):
        return f"{v:,}" if abs(v) < 10**12 else f"{v:.{digits}g}"
    if isinstance(v, float):
        return _float_text(v, digits)
    return str(v)


def metric_text(v: float | int | None, missing: str = MISSING) -> str:
    """A diff metric or a number in prose: 3 significant digits; ints with separators."""
    if v is None:
        return missing
    if isinstance(v, float):
        return _float_text(v, 3)
    return f"{v:,}"


def cosine_text(v: float | None, missing: str = MISSING, minus: str = "−") -> str:
    """Cosine similarity as text; values just under 1 as ``1−2.1e-05`` (0.99999 would hide
    how close they are)."""
    if v is None:
        return missing
    if v == 1.0:
        return "1"
    if 0.999 < v < 1.0:
        return f"1{minus}{1.0 - v:.2g}"
    return f"{v:.4f}"


def percent_text(part: int, whole: int, missing: str = MISSING) -> str:
    """``part`` of ``whole`` as a percentage with 3 significant digits (``0 %`` exactly)."""
    if not whole:
        return missing
    return "0 %" if part == 0 else f"{100.0 * part / whole:.3g} %"


# ---- Key paths and shapes
def path_text(path: Iterable) -> str:
    """A key path for people: ``model_state_dict / fc.weight``; ``(root)`` when empty."""
    parts = [safe_str(k) for k in path]
    return " / ".join(parts) if parts else "(root)"


def dotted_path(path: Sequence | None) -> str:
    """A key path as one dotted name (``model_state_dict.features.0.weight``)."""
    if path is None:
        return ""
    return ".".join(safe_str(k) for k in path) if path else "(root)"


def shape_text(shape: Sequence[int] | None, missing: str = MISSING) -> str:
    """``(64, 3, 7, 7)`` as ``64×3×7×7``; ``scalar`` for a 0-d tensor."""
    if shape is None:
        return missing
    return "×".join(str(d) for d in shape) if shape else "scalar"


def key_to_json(k: Any) -> Any:
    """A container key as JSON: str/int/bool/None as they are (int keys stay ints), finite
    floats as numbers, bytes as latin-1 text, tuples as lists, anything else as its repr."""
    if isinstance(k, bool) or k is None or isinstance(k, str):
        return k
    if isinstance(k, int):
        return k if _printable_int(k) else f"<int of {k.bit_length()} bits>"
    if isinstance(k, float):
        return k if math.isfinite(k) else repr(k)
    if isinstance(k, bytes):
        return k.decode("latin1")
    if isinstance(k, tuple):
        return [key_to_json(x) for x in k]
    return safe_str(k)


def path_to_json(path: Sequence) -> list:
    """A key path as the JSON list the ``--json`` outputs use."""
    return [key_to_json(k) for k in path]


def json_value(v: Any) -> Any:
    """A scalar from a file as a JSON value (non-finite floats become null)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, complex):
        return [json_value(v.real), json_value(v.imag)]
    if isinstance(v, bytes):
        return v.decode("latin1")
    if isinstance(v, int) and not isinstance(v, bool):
        return v if _printable_int(v) else f"<int of {v.bit_length()} bits>"
    if isinstance(v, (str, float, bool)) or v is None:
        return v
    if isinstance(v, (list, tuple)):
        return [json_value(x) for x in v]
    return safe_str(v)


# ---- Text that came from a file
_INT_DIGITS_LIMIT = 4000  # CPython refuses int -> str past 4300 digits by default


def _printable_int(v: int) -> bool:
    return v.bit_length() < _INT_DIGITS_LIMIT * 3.3


def safe_str(v: Any) -> str:
    """``str(v)`` that never raises: huge ints, lone surrogates and failing reprs become a
    short description instead of an internal error."""
    if isinstance(v, int) and not isinstance(v, bool) and not _printable_int(v):
        return f"<int of {v.bit_length()} bits>"
    try:
        text = v if isinstance(v, str) else str(v)
    except Exception as exc:  # noqa: BLE001 - a value from a file may fail to print in any way
        return f"<{type(v).__name__}: unprintable ({type(exc).__name__})>"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[:max(limit - 1, 0)] + "…"


# C0/C1 controls, DEL, and the bidirectional overrides that reorder what a terminal shows
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: Any) -> str:
    """Text from a file made safe for a terminal: control characters (ANSI escapes, carriage
    returns, bidi overrides) are shown as ``\\x1b``-style escapes, never interpreted."""
    s = safe_str(text)
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), s)


def html_text(text: Any) -> str:
    """Text from a file for a rich-text widget: escaped, so it is shown, never rendered."""
    return html.escape(printable(text), quote=True)


def file_label(path: str) -> str:
    """A short name for a file or a sharded folder: its base name (the path when it has none)."""
    import os

    return os.path.basename(path.rstrip(os.sep)) or path


def printable_line(text: Any) -> str:
    """:func:`printable` for one line of terminal output: newlines and tabs are escaped too,
    so a string from a file can never start a line of its own (and forge a verdict)."""
    return printable(text).replace("\n", "\\n").replace("\t", "\\t")
