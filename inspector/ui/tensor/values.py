"""The Values tab's table model: a bounded 2-D numpy block, cells formatted on demand."""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt


def cell_text(v: object) -> str:
    """One value of the table (and of the clipboard text)."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (np.floating, float)):
        f = float(v)
        if math.isnan(f) or math.isinf(f):
            return str(f)
        return f"{f:.6g}"
    if isinstance(v, (np.complexfloating, complex)):
        c = complex(v)
        return f"{c.real:.4g}{c.imag:+.4g}j"
    return str(v)


class ValuesTableModel(QAbstractTableModel):
    """A read-only table over a bounded 2-D numpy block; cells are formatted on demand."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._block = np.zeros((0, 0))
        self._row_labels: tuple[str, ...] = ()

    # ---- Qt overrides
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._block.shape[0]

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self._block.shape[1]

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
            v = self._block[index.row(), index.column()]
            return cell_text(v) if role == Qt.ItemDataRole.DisplayRole else repr(v.item())
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Vertical:
            return self._row_labels[section] if section < len(self._row_labels) else str(section)
        return str(section)

    # ---- Public API
    def set_block(self, block: np.ndarray, row_labels: tuple[str, ...] | list[str]) -> None:
        self.beginResetModel()
        self._block = block
        self._row_labels = tuple(row_labels)
        self.endResetModel()

    def clear(self) -> None:
        self.set_block(np.zeros((0, 0)), ())

    def block(self) -> np.ndarray:
        return self._block

    def as_text(self) -> str:
        """Tab-separated values, one line per row (for the clipboard)."""
        return "\n".join("\t".join(cell_text(v) for v in row) for row in self._block)
