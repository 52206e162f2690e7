"""Qt models of the Timeline tab: the heatmap of modules × checkpoints coloured by relative
change, and the table of health findings. Both only show data the view hands them."""

from __future__ import annotations

import math

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QBrush, QColor

from inspector.core.health import KIND_TITLES
from inspector.core.text import number_text, path_text, printable, shorten
from inspector.ui.tree.columns import plain_tooltip

SeriesRole = Qt.ItemDataRole.UserRole + 1
ValueRole = Qt.ItemDataRole.UserRole + 2
FindingRole = Qt.ItemDataRole.UserRole + 3

LOG_LOW, LOG_HIGH = -6.0, 1.0  # log10 of the relative changes the colours span
# viridis at 8 stops, dark (small change) to yellow (large change)
_VIRIDIS = ((68, 1, 84), (70, 50, 127), (54, 92, 141), (39, 127, 142), (31, 161, 135),
            (74, 194, 109), (159, 218, 58), (253, 231, 37))
FROZEN_COLOR = QColor(110, 110, 110)
NAN_COLOR = QColor(220, 40, 40)

Index = QModelIndex | QPersistentModelIndex


def change_levels(series: list) -> tuple[float, float]:
    """log10 of the smallest and largest positive relative change shown (at least one decade
    apart; :data:`LOG_LOW`-:data:`LOG_HIGH` when there is none), so the colours spread over
    what the run actually holds."""
    logs = [math.log10(v) for s in series for v in s.metric("rel_change")
            if v is not None and math.isfinite(v) and v > 0]
    if not logs:
        return LOG_LOW, LOG_HIGH
    lo, hi = math.floor(min(logs) * 2) / 2, math.ceil(max(logs) * 2) / 2
    if hi - lo < 1:
        lo, hi = (lo + hi) / 2 - 0.5, (lo + hi) / 2 + 0.5
    return lo, hi


def change_color(value: float | None, low: float = LOG_LOW, high: float = LOG_HIGH
                 ) -> QColor | None:
    """The heatmap colour of a relative change, from dark (10**low) to yellow (10**high)
    (None: no colour, nothing to compare)."""
    if value is None:
        return None
    if not math.isfinite(value):
        return NAN_COLOR
    if value == 0:
        return FROZEN_COLOR
    x = (min(max(math.log10(value), low), high) - low) / (high - low)
    pos = x * (len(_VIRIDIS) - 1)
    i = min(int(pos), len(_VIRIDIS) - 2)
    f = pos - i
    a, b = _VIRIDIS[i], _VIRIDIS[i + 1]
    return QColor(*(round(a[k] + (b[k] - a[k]) * f) for k in range(3)))


class HeatmapModel(QAbstractTableModel):
    """Rows: series (modules or tensors); columns: checkpoints; cell colour: the relative
    change from the previous checkpoint (column 0 has none)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._series: list = []
        self._steps: list = []
        self._paths: list[str] = []
        self.levels = (LOG_LOW, LOG_HIGH)

    def set_data(self, series: list, steps: list, paths: list[str]) -> None:
        self.beginResetModel()
        self._series, self._steps, self._paths = list(series), list(steps), list(paths)
        self.levels = change_levels(self._series)
        self.endResetModel()

    def series_at(self, row: int):
        return self._series[row]

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt override
        return 0 if parent.isValid() else len(self._series)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt override
        return 0 if parent.isValid() else len(self._steps)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        s = self._series[index.row()]
        col = index.column()
        values = s.metric("rel_change")
        v = values[col] if col < len(values) else None
        if role == Qt.ItemDataRole.BackgroundRole:
            color = change_color(v, *self.levels)
            return QBrush(color) if color is not None else None
        if role == Qt.ItemDataRole.ToolTipRole:
            if col == 0:
                return plain_tooltip(f"{s.name} at step {self._steps[0]}: the first checkpoint")
            if v is None:
                return plain_tooltip(f"{s.name}: not in both step {self._steps[col - 1]} and "
                                     f"step {self._steps[col]}")
            return plain_tooltip(f"{s.name}: relative change {number_text(v)} from step "
                                 f"{self._steps[col - 1]} to step {self._steps[col]}\nClick to "
                                 "compare the two checkpoints at this tensor")
        if role == ValueRole:
            return v
        if role == SeriesRole:
            return s
        return None

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802 - Qt override
                   role: int = Qt.ItemDataRole.DisplayRole):
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            return None
        if orientation == Qt.Orientation.Horizontal:
            if 0 <= section < len(self._steps):
                if role == Qt.ItemDataRole.ToolTipRole:
                    return plain_tooltip(self._paths[section])
                return str(self._steps[section])
            return None
        if 0 <= section < len(self._series):
            name = self._series[section].name
            if role == Qt.ItemDataRole.ToolTipRole:
                return plain_tooltip(name)
            return shorten(printable(name), 40)
        return None


FINDING_COLUMNS = ("Step", "Kind", "Tensor", "Detail")


class FindingsModel(QAbstractTableModel):
    """Health findings: step (across a run), kind, tensor, detail."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._findings: list = []

    def set_findings(self, findings: list) -> None:
        self.beginResetModel()
        self._findings = list(findings)
        self.endResetModel()

    def findings(self) -> list:
        return list(self._findings)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt override
        return 0 if parent.isValid() else len(self._findings)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008 - Qt override
        return 0 if parent.isValid() else len(FINDING_COLUMNS)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        f = self._findings[index.row()]
        if role == FindingRole:
            return f
        if role == Qt.ItemDataRole.ToolTipRole:
            return plain_tooltip(f"{path_text(f.tensor)}\n{f.detail}\nDouble-click to open "
                                 "the checkpoint at this tensor")
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        col = index.column()
        if col == 0:
            return "" if f.step is None else str(f.step)
        if col == 1:
            return KIND_TITLES.get(f.kind, f.kind)
        if col == 2:
            return printable(f.name)
        return printable(f.detail)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802 - Qt override
                   role: int = Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole \
                and 0 <= section < len(FINDING_COLUMNS):
            return FINDING_COLUMNS[section]
        return None
