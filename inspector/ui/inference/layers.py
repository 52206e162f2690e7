"""The table of layers that behave differently in train and eval mode, identical layers grouped.

A ResNet has twenty BatchNorm layers that all do the same thing; twenty rows repeating the
same sentence hide the one Dropout that matters. Layers with the same class and the same
explanation share one row that names them (the first few, then a count; all of them in the
tooltip). Layer names come from the file: the cells are plain text, the tooltip escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from inspector.core.inference import ModeSensitiveLayer, layer_text
from inspector.core.text import html_text

NAMES_IN_CELL = 3  # layer names written in a grouped row; the rest are counted
NAMES_IN_TOOLTIP = 60  # names listed in its tooltip
NONE_TEXT = ("None: no Dropout, BatchNorm or other mode-dependent layer, so train and eval "
             "mode compute the same thing.")


@dataclass(frozen=True)
class LayerGroup:
    """Layers of one class that differ between the modes in the same way."""

    type: str
    text: str  # the sentence, as layer_text writes it
    names: tuple[str, ...]

    def names_text(self, limit: int = NAMES_IN_CELL) -> str:
        """"bn1" / "bn1, layer1.0.bn1, layer1.0.bn2 and 17 more (20 layers)"."""
        shown = ", ".join(self.names[:limit])
        if len(self.names) <= limit:
            return shown
        return f"{shown} and {len(self.names) - limit} more ({len(self.names)} layers)"

    def tooltip(self) -> str:
        """Every name (escaped rich text: the names come from the file)."""
        listed = "<br>".join(html_text(n) for n in self.names[:NAMES_IN_TOOLTIP])
        if len(self.names) > NAMES_IN_TOOLTIP:
            listed += f"<br>… and {len(self.names) - NAMES_IN_TOOLTIP} more"
        return f"<p>{html_text(self.type)} — {len(self.names)} layers:<br>{listed}</p>"


def group_layers(layers: Sequence[ModeSensitiveLayer]) -> list[LayerGroup]:
    """Layers grouped by (class, sentence), in the order each group first appears."""
    groups: dict[tuple[str, str], list[str]] = {}
    for layer in layers:
        groups.setdefault((layer.type, layer_text(layer)), []).append(layer.name)
    return [LayerGroup(t, text, tuple(names)) for (t, text), names in groups.items()]


class LayersTable(QTableWidget):
    """Layer(s) | Type | how train and eval mode differ — one row per group."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(0, 3, parent)
        self.setObjectName("modeLayers")
        self.setHorizontalHeaderLabels(["Layers", "Type", "Train vs. eval mode"])
        self.verticalHeader().hide()
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setWordWrap(True)
        self.setAlternatingRowColors(True)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.resizeSection(0, 220)
        self.groups: list[LayerGroup] = []

    def set_layers(self, layers: Sequence[ModeSensitiveLayer]) -> None:
        self.groups = group_layers(layers)
        self.clearSpans()
        self.setRowCount(0)  # drops the previous run's items
        self.setRowCount(max(len(self.groups), 1))
        if not self.groups:
            self.setSpan(0, 0, 1, 3)
            self.setItem(0, 0, QTableWidgetItem(NONE_TEXT))
        for i, group in enumerate(self.groups):
            names = QTableWidgetItem(group.names_text())
            names.setToolTip(group.tooltip())
            self.setItem(i, 0, names)
            self.setItem(i, 1, QTableWidgetItem(group.type if len(group.names) == 1
                                                else f"{group.type} ×{len(group.names)}"))
            cell = QTableWidgetItem(group.text)
            cell.setToolTip(f"<p>{html_text(group.text)}</p>")
            self.setItem(i, 2, cell)
        self.resizeRowsToContents()

    def row_texts(self) -> list[tuple[str, str, str]]:
        """What each row says (for tests and copying)."""
        out = []
        for row in range(self.rowCount()):
            cells = [self.item(row, c) for c in range(3)]
            out.append(tuple(c.text() if c is not None else "" for c in cells))
        return out
