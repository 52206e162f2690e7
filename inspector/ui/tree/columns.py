"""The tree's columns, roles and cell text.

Cell text is plain text (Qt draws DisplayRole as text, never as markup). Tooltips are
different: Qt renders a tooltip as rich text when it looks like HTML, so every tooltip that
carries text from a file goes through :func:`plain_tooltip`.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from inspector.core.checkpoint import (
    BYTES,
    DICT,
    LIST,
    NONE,
    OBJECT,
    REF,
    SET,
    STRING,
    TRUNCATED,
    TUPLE,
    Node,
)
from inspector.core.text import html_text, number_text, percent_text, safe_str, shorten

(COL_NAME, COL_DTYPE, COL_SHAPE, COL_NUMEL, COL_SIZE, COL_MEAN, COL_STD, COL_MIN, COL_MAX,
 COL_ZEROS, COL_NANINF) = range(11)
HEADERS = ("Name", "dtype / type", "Shape / value", "Elements", "Size", "Mean", "Std", "Min",
           "Max", "Zeros", "NaN/Inf")
STATS_COLUMNS = range(COL_MEAN, COL_NANINF + 1)
NUMERIC_COLUMNS = frozenset(range(COL_NUMEL, COL_NANINF + 1))
PENDING = "…"
MAX_VALUE_TEXT = 200
MAX_TOOLTIP_TEXT = 2000

SortRole = Qt.ItemDataRole.UserRole
NodeRole = Qt.ItemDataRole.UserRole + 1
ItemRole = Qt.ItemDataRole.UserRole + 2
PathRole = Qt.ItemDataRole.UserRole + 3

HEADER_TIPS = {
    COL_NAME: "Key in the checkpoint; inside a state_dict, dotted keys are grouped by module",
    COL_DTYPE: "Tensor dtype, or the type of a non-tensor value",
    COL_SHAPE: "Tensor shape, or the value of a scalar or string",
    COL_NUMEL: "Number of elements (for a module: its parameters and buffers together)",
    COL_SIZE: "Bytes the tensor's elements take",
    COL_MEAN: "Mean of the finite values",
    COL_STD: "Standard deviation of the finite values",
    COL_MIN: "Smallest finite value",
    COL_MAX: "Largest finite value",
    COL_ZEROS: "Share of elements that are exactly zero",
    COL_NANINF: "Number of NaN and infinite elements",
}


def plain_tooltip(text: str) -> str:
    """``text`` (which may come from a file) as a tooltip that shows it, never renders it:
    escaped rich text, one line per line of ``text``, cut to ``MAX_TOOLTIP_TEXT``."""
    lines = shorten(text, MAX_TOOLTIP_TEXT).split("\n")
    return "<qt>" + "<br>".join(html_text(line) for line in lines) + "</qt>"


def value_text(node: Node) -> str | None:
    """The "Shape / value" cell of a non-tensor Node."""
    kind = node.kind
    if kind in (DICT, LIST, TUPLE, SET) or (kind == OBJECT and node.children):
        n = len(node.children)
        text = f"{n} item{'' if n == 1 else 's'}"
        if kind == OBJECT and node.value:
            return f"{_short(safe_str(node.value))} · {text}"
        return text
    if kind == STRING:
        return _short(repr(node.value))
    if kind == BYTES:
        return _short(f"{node.value!r}…")
    if kind == NONE:
        return "None"
    if kind == REF:
        return f"→ same object as {safe_str(node.value)}"
    if kind == TRUNCATED:
        return "… (too deep to show)"
    if node.value is None:
        return None
    if isinstance(node.value, float):
        return f"{node.value:.6g}"
    return _short(safe_str(node.value))


def _short(text: str) -> str:
    return shorten(text.replace("\n", " "), MAX_VALUE_TEXT + 1)


def stats_value(stats: Any, col: int) -> float | int | None:
    """The number a statistics column shows (and sorts by)."""
    if col == COL_MEAN:
        return stats.mean
    if col == COL_STD:
        return stats.std
    if col == COL_MIN:
        return stats.min
    if col == COL_MAX:
        return stats.max
    if col == COL_ZEROS:
        return 100.0 * stats.zeros / stats.numel if stats.numel else None
    if col == COL_NANINF:
        return (stats.nan or 0) + (stats.inf or 0)
    return None


def stats_text(stats: Any, col: int) -> str:
    """The text of a statistics column."""
    if col == COL_ZEROS:
        return percent_text(stats.zeros, stats.numel)
    if col == COL_NANINF:
        nan, inf = stats.nan or 0, stats.inf or 0
        if not nan and not inf:
            return "0"
        parts = []
        if nan:
            parts.append(f"{nan:,} NaN")
        if inf:
            parts.append(f"{inf:,} Inf")
        return ", ".join(parts)
    return number_text(stats_value(stats, col))
