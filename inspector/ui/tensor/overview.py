"""The tensor panel's Overview tab: a tensor's layout and statistics, or a non-tensor item's
fields and text. Labels are plain text (keys and values come from files)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from inspector.core.text import format_value
from inspector.ui.tensor.details import STAT_FIELDS, TENSOR_FIELDS
from inspector.ui.tensor.pages import bold, monospace, plain_label

if TYPE_CHECKING:
    from inspector.core.stats import TensorStats

NAN_STYLE = "QLabel { color: #d03030; font-weight: bold; }"
MAX_STAT_COLUMNS = 3
STAT_SAMPLE = "-0.000123456 (100.00 %)"  # about the widest value text a statistic takes


class OverviewPage(QWidget):
    """Three boxes, one shown at a time: Tensor + Statistics, or Item."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.field_labels: dict[str, QLabel] = {}
        self._field_names: dict[str, QLabel] = {}
        self.tensor_box = QGroupBox("Tensor")
        form = QFormLayout(self.tensor_box)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        for key, title in TENSOR_FIELDS:
            lab = plain_label(selectable=True)
            name = plain_label(title, wrap=False)
            self.field_labels[key] = lab
            self._field_names[key] = name
            form.addRow(name, lab)
        for key in ("shape", "stride"):
            self.field_labels[key].setFont(monospace())

        self.stats_box = QGroupBox("Statistics")
        self._stats_grid = QGridLayout(self.stats_box)
        self.stat_labels: dict[str, QLabel] = {}
        self._stat_names: list[QLabel] = []
        for key, title in STAT_FIELDS:
            # one line each: a number is never wrapped or clipped (the grid reflows instead)
            self.stat_labels[key] = plain_label(wrap=False, selectable=True)
            self._stat_names.append(plain_label(title, wrap=False))
        self.stats_status = plain_label()
        self.stat_columns = 0
        """How many (name, value) pairs the Statistics box shows side by side (1 to 3)."""
        self._place_stats(MAX_STAT_COLUMNS)

        self.node_box = QGroupBox("Item")
        node_layout = QVBoxLayout(self.node_box)
        self.node_form = QFormLayout()
        self.node_form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        node_layout.addLayout(self.node_form)
        self.node_text = QPlainTextEdit()
        self.node_text.setReadOnly(True)
        self.node_text.setFont(monospace())
        self.node_text.setMinimumHeight(120)
        node_layout.addWidget(self.node_text, 1)
        self.node_rows: list[tuple[str, str]] = []
        """The (name, value) rows the Item box shows."""

        inner = QWidget()
        v = QVBoxLayout(inner)
        v.setContentsMargins(0, 4, 0, 0)
        v.addWidget(self.tensor_box)
        v.addWidget(self.stats_box)
        v.addWidget(self.node_box, 1)
        v.addStretch(0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    # ---- Public API
    def show_tensor(self, fields: dict[str, str]) -> None:
        """The Tensor and Statistics boxes, with ``fields`` (a TENSOR_FIELDS key -> text)."""
        for key, lab in self.field_labels.items():
            text = fields.get(key, "")
            lab.setText(text)
            lab.setVisible(bool(text))
            self._field_names[key].setVisible(bool(text))
        self._show_boxes(tensor=True)

    def show_node(self, rows: list[tuple[str, str]], text: str) -> None:
        """The Item box: form ``rows`` of (name, value) and ``text`` below them."""
        while self.node_form.rowCount():
            self.node_form.removeRow(0)
        for name, value in rows:
            self.node_form.addRow(bold(plain_label(name, wrap=False)),
                                  plain_label(value, selectable=True))
        self.node_rows = list(rows)
        self.node_text.setPlainText(text)
        self.node_text.setVisible(bool(text))
        self._show_boxes(node=True)

    def show_nothing(self) -> None:
        self._show_boxes()

    def set_stats(self, stats: TensorStats) -> None:
        numel = stats.numel
        for key, _ in STAT_FIELDS:
            label = self.stat_labels[key]
            label.setStyleSheet("")
            if key == "zeros":
                z = stats.zeros
                label.setText(f"{z:,} ({100.0 * z / numel:.2f} %)" if numel else f"{z:,}")
            elif key in ("nan", "inf"):
                v = getattr(stats, key)
                label.setText(f"{v:,}")
                if v:
                    label.setStyleSheet(NAN_STYLE)
            else:
                v = getattr(stats, key)
                label.setText("—" if v is None else format_value(float(v)))
        status = f"{numel:,} values" + (
            f", {stats.finite:,} finite" if stats.finite != numel else "")
        self.stats_status.setText(status + (f" · {stats.note}" if stats.note else ""))
        self._fit_stat_columns(self.width())

    def clear_stats(self, status: str) -> None:
        """Statistics not known (yet): "…" in every field and ``status`` below."""
        for lab in self.stat_labels.values():
            lab.setText("…")
            lab.setStyleSheet("")
        self.stats_status.setText(status)

    def set_stats_error(self, message: str) -> None:
        for lab in self.stat_labels.values():
            lab.setText("—")
            lab.setStyleSheet("")
        self.stats_status.setText(f"Statistics failed: {message}")

    # ---- Qt overrides
    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit_stat_columns(event.size().width())

    # ---- Private API
    def _fit_stat_columns(self, width: int) -> None:
        """As many (name, value) pairs per row as fit ``width`` without clipping a number."""
        fm = self.fontMetrics()
        names = max(fm.horizontalAdvance(lab.text()) for lab in self._stat_names)
        values = max([fm.horizontalAdvance(STAT_SAMPLE)]
                     + [fm.horizontalAdvance(lab.text()) for lab in self.stat_labels.values()])
        spacing = max(self._stats_grid.horizontalSpacing(), 6)
        pair = names + values + 2 * spacing
        margins = 40  # the group box's and the scroll area's frames and margins
        columns = max(1, min(MAX_STAT_COLUMNS, (width - margins) // max(1, pair)))
        self._place_stats(columns)

    def _place_stats(self, columns: int) -> None:
        if columns == self.stat_columns:
            return
        grid = self._stats_grid
        for w in (*self._stat_names, *self.stat_labels.values(), self.stats_status):
            grid.removeWidget(w)
        for c in range(2 * MAX_STAT_COLUMNS):
            grid.setColumnStretch(c, 0)
        for i, lab in enumerate(self.stat_labels.values()):
            r, c = divmod(i, columns)
            grid.addWidget(self._stat_names[i], r, 2 * c)
            grid.addWidget(lab, r, 2 * c + 1)
            grid.setColumnStretch(2 * c + 1, 1)
        rows = -(-len(self.stat_labels) // columns)
        grid.addWidget(self.stats_status, rows, 0, 1, 2 * columns)
        self.stat_columns = columns

    def _show_boxes(self, tensor: bool = False, node: bool = False) -> None:
        self.tensor_box.setVisible(tensor)
        self.stats_box.setVisible(tensor)
        self.node_box.setVisible(node)
