"""The compare view's table: one row per tensor pair (a :class:`DiffEntry`), and its proxy.

Rows are appended in batches while the background diff streams entries. Cells are plain
text; tooltips, which Qt would render as rich text, are escaped. Display text is
short (3 significant digits); :data:`SortRole` gives the raw numbers so sorting is numeric,
with "not applicable" sorting below every number. Colours come from the entry's status;
the colours of side A, side B and their difference are defined here too, for every pane.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QBrush, QColor

from inspector.core.diff import (
    ADDED,
    CHANGED,
    DTYPE_CHANGED,
    IDENTICAL,
    REMOVED,
    SHAPE_CHANGED,
    DiffEntry,
)
from inspector.core.text import cosine_text, dotted_path, metric_text, shape_text
from inspector.ui.tree.columns import plain_tooltip

SortRole = Qt.ItemDataRole.UserRole
EntryRole = Qt.ItemDataRole.UserRole + 1

STATUS_LABELS = {IDENTICAL: "identical", CHANGED: "changed", ADDED: "added", REMOVED: "removed",
                 SHAPE_CHANGED: "shape changed", DTYPE_CHANGED: "dtype changed"}
# Readable on light and dark backgrounds; the tints are the same hues, mostly transparent.
STATUS_COLORS = {IDENTICAL: "#8a8f98", CHANGED: "#e08a1e", ADDED: "#2e9e4f", REMOVED: "#d64545",
                 SHAPE_CHANGED: "#9b59b6", DTYPE_CHANGED: "#3b82c4"}
COLOR_A = (59, 130, 196)
COLOR_B = (224, 138, 30)
COLOR_DELTA = (46, 158, 79)
STATUS_ORDER = {s: i for i, s in enumerate((REMOVED, ADDED, SHAPE_CHANGED, DTYPE_CHANGED,
                                            CHANGED, IDENTICAL))}

COLUMNS = ("Path", "Status", "dtype A", "dtype B", "Shape A", "Shape B", "max |Δ|", "mean |Δ|",
           "rel L2", "cosine", "# diff", "NaN A", "NaN B", "Close")
COL_PATH, COL_STATUS = 0, 1
_NUMERIC = frozenset(range(6, 14))
_NO_PARENT = QModelIndex()
_MISSING = -math.inf  # sort value of "not applicable": below every number


class DiffTableModel(QAbstractTableModel):
    """Tensor pairs of one comparison, in arrival order."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._entries: list[DiffEntry] = []
        self._fg = {s: QBrush(QColor(c)) for s, c in STATUS_COLORS.items()}
        self._bg = {}
        for s, c in STATUS_COLORS.items():
            tint = QColor(c)
            tint.setAlpha(40)
            self._bg[s] = QBrush(tint)

    # ---- Qt overrides
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = _NO_PARENT) -> int:
        return 0 if parent.isValid() else len(self._entries)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = _NO_PARENT) -> int:
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(COLUMNS):
            if role == Qt.ItemDataRole.DisplayRole:
                return COLUMNS[section]
            if role == Qt.ItemDataRole.ToolTipRole:
                return _HEADER_TIPS.get(COLUMNS[section])
        return None

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or index.row() >= len(self._entries):
            return None
        e = self._entries[index.row()]
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(e, col)
        if role == SortRole:
            return self._sort_value(e, col)
        if role == EntryRole:
            return e
        if role == Qt.ItemDataRole.ForegroundRole and col in (COL_PATH, COL_STATUS):
            if e.status in (IDENTICAL, CHANGED) and col == COL_PATH:
                return None  # plain text for the common case; the status column says it
            return self._fg.get(e.status)
        if role == Qt.ItemDataRole.BackgroundRole and col == COL_STATUS:
            return self._bg.get(e.status)
        if role == Qt.ItemDataRole.TextAlignmentRole and col in _NUMERIC:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole and col == COL_PATH:
            tip = f"B: {dotted_path(e.path_b)}" if e.path_b is not None else "only in A"
            tip = (f"A: {dotted_path(e.path_a)}\n" if e.path_a is not None else "only in B\n") + tip
            return plain_tooltip(tip + (f"\n{e.note}" if e.note else ""))
        return None

    # ---- Public API
    def add_entries(self, entries: Sequence[DiffEntry]) -> None:
        if not entries:
            return
        n = len(self._entries)
        self.beginInsertRows(QModelIndex(), n, n + len(entries) - 1)
        self._entries.extend(entries)
        self.endInsertRows()

    def clear(self) -> None:
        self.beginResetModel()
        self._entries = []
        self.endResetModel()

    def entries(self) -> list[DiffEntry]:
        return list(self._entries)

    def entry(self, row: int) -> DiffEntry:
        return self._entries[row]

    def row_of(self, entry: DiffEntry) -> int:
        for i, e in enumerate(self._entries):
            if e is entry or e.path == entry.path and e.path_a == entry.path_a:
                return i
        return -1

    @staticmethod
    def text(e: DiffEntry, col: int) -> str:
        """The text of column ``col`` for ``e``, as the table shows it."""
        if col == COL_PATH:
            text = dotted_path(e.path)
            if e.path_a is not None and e.path_b is not None and e.path_a != e.path_b:
                text += f"   (A: {dotted_path(e.path_a)})"
            return text
        if col == COL_STATUS:
            return STATUS_LABELS.get(e.status, e.status)
        if col == 2:
            return e.dtype_a or "–"
        if col == 3:
            return e.dtype_b or "–"
        if col == 4:
            return shape_text(e.shape_a)
        if col == 5:
            return shape_text(e.shape_b)
        if col == 6:
            return metric_text(e.max_abs_diff)
        if col == 7:
            return metric_text(e.mean_abs_diff)
        if col == 8:
            return metric_text(e.rel_l2)
        if col == 9:
            return cosine_text(e.cosine)
        if col == 10:
            return metric_text(e.num_diff)
        if col == 11:
            return metric_text(e.nan_a)
        if col == 12:
            return metric_text(e.nan_b)
        if col == 13:
            return "–" if e.close is None else ("yes" if e.close else "no")
        return ""

    # ---- Private API
    @staticmethod
    def _sort_value(e: DiffEntry, col: int):
        if col == COL_PATH:
            return dotted_path(e.path)
        if col == COL_STATUS:
            return STATUS_ORDER.get(e.status, 99)
        if col in (2, 3):
            return (e.dtype_a if col == 2 else e.dtype_b) or ""
        if col in (4, 5):
            shape = e.shape_a if col == 4 else e.shape_b
            return float(math.prod(shape)) if shape is not None else _MISSING
        value = (e.max_abs_diff, e.mean_abs_diff, e.rel_l2, e.cosine, e.num_diff, e.nan_a,
                 e.nan_b, e.close)[col - 6]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return _MISSING
        return float(value)


_HEADER_TIPS = {
    "Path": "Key path in B (A's path in brackets when the alignment renamed it)",
    "max |Δ|": "Largest absolute difference |B − A|",
    "mean |Δ|": "Mean absolute difference",
    "rel L2": "Relative change ‖B − A‖ / ‖A‖",
    "cosine": "Cosine similarity of A and B (1 = same direction)",
    "# diff": "Number of differing elements",
    "NaN A": "NaN values in A",
    "NaN B": "NaN values in B",
    "Close": "Within the tolerance (atol/rtol), when one is set",
}


class DiffFilterProxy(QSortFilterProxyModel):
    """Sorts numerically (:data:`SortRole`) and filters by "changed only" and path text."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._changed_only = False
        self._text = ""
        self.setSortRole(SortRole)
        self.setDynamicSortFilter(True)

    # ---- Public API
    def set_changed_only(self, on: bool) -> None:
        if on != self._changed_only:
            self.beginFilterChange()
            self._changed_only = on
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def changed_only(self) -> bool:
        return self._changed_only

    def set_text(self, text: str) -> None:
        text = text.strip().lower()
        if text != self._text:
            self.beginFilterChange()
            self._text = text
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    # ---- Qt overrides
    def filterAcceptsRow(self, source_row: int,
                         source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        model = self.sourceModel()
        if model is None or source_parent.isValid():
            return False
        e = model.entry(source_row)
        if self._changed_only and e.status == IDENTICAL:
            return False
        if self._text:
            hay = dotted_path(e.path).lower()
            if self._text not in hay and (e.path_a is None or
                                          self._text not in dotted_path(e.path_a).lower()):
                return False
        return True
