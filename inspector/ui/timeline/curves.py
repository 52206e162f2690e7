"""Curves over steps: pick several names from a list and see them overlaid (pyqtgraph), with a
metric choice and a logarithmic-axis toggle."""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from inspector.core.text import printable
from inspector.ui.plots import real_value_axes
from inspector.ui.tree.columns import plain_tooltip

MAX_CURVES = 12
_PALETTE = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
            (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207))


def plottable(values, log: bool) -> np.ndarray:
    """``values`` as float64 with missing, non-finite (and, on a log axis, non-positive)
    values as NaN, so the curve shows a gap there instead of a warning."""
    out = np.array([v if v is not None and math.isfinite(v) else np.nan for v in values],
                   dtype=np.float64)
    if log:
        out[~(out > 0)] = np.nan
    return out


class CurvesPanel(QWidget):
    """A list of series names on the left; their curves of the chosen metric on the right.

    ``source(name, metric) -> list`` gives a series' values per checkpoint."""

    sig_selection_changed = Signal()

    def __init__(self, metrics: dict[str, str] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self._steps: list[float] = []
        self._source = None
        self._log = False
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter names…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._apply_filter)
        self.names = QListWidget()
        self.names.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.names.setUniformItemSizes(True)
        # dotted names differ at their ends (….output.dense, ….output.LayerNorm): keep both
        self.names.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.names.itemSelectionChanged.connect(self._on_selection)
        self.metric_combo = QComboBox()
        for key, title in (metrics or {}).items():
            self.metric_combo.addItem(title, key)
        self.metric_combo.setVisible(bool(metrics))
        self.metric_combo.currentIndexChanged.connect(self.redraw)
        self.log_check = QCheckBox("Log scale")
        self.log_check.setToolTip("Logarithmic y axis (zero and negative values leave gaps)")
        self.log_check.toggled.connect(self.set_log)
        self.hint = QLabel()
        self.hint.setTextFormat(Qt.TextFormat.PlainText)
        self.plot_widget = pg.PlotWidget()
        self.plot_item = real_value_axes(self.plot_widget.getPlotItem())
        self.plot_item.showGrid(x=True, y=True, alpha=0.2)
        self.plot_item.setLabel("bottom", "step")
        self.plot_item.setMenuEnabled(False)
        background = pg.mkColor(pg.getConfigOption("background"))
        background.setAlpha(210)  # the legend stays readable over a curve
        self.legend = self.plot_item.addLegend(offset=(10, 10), brush=background)
        self.curves: list = []

        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(self.filter_edit)
        lv.addWidget(self.names, 1)
        right = QWidget()
        rv = QVBoxLayout(right)
        rv.setContentsMargins(0, 0, 0, 0)
        bar = QHBoxLayout()
        bar.addWidget(self.metric_combo)
        bar.addWidget(self.hint, 1)
        bar.addWidget(self.log_check)
        rv.addLayout(bar)
        rv.addWidget(self.plot_widget, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(right)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([240, 700])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.splitter)

    # ---- Public API
    def set_data(self, names: list[str], steps: list, source, select: list[str] | None = None
                 ) -> None:
        self._steps = [float(s) for s in steps]
        self._source = source
        self.names.blockSignals(True)
        self.names.clear()
        for name in names:
            item = QListWidgetItem(printable(name))
            item.setData(Qt.ItemDataRole.UserRole, name)
            item.setToolTip(plain_tooltip(name))
            self.names.addItem(item)
        self.names.blockSignals(False)
        self._fit_names()
        self.select_names(select if select is not None else names[:3])

    def _fit_names(self) -> None:
        """Widen the names pane to its longest name, up to 45 % of the view (never narrower
        than it is: a width the user dragged to stays)."""
        sizes = self.splitter.sizes()
        total = sum(sizes)
        if total <= 0 or not self.names.count():
            return
        scroll = self.names.verticalScrollBar().sizeHint().width()
        want = self.names.sizeHintForColumn(0) + 2 * self.names.frameWidth() + scroll + 8
        left = max(sizes[0], min(want, int(total * 0.45)))
        self.splitter.setSizes([left, total - left])

    def metric(self) -> str | None:
        return self.metric_combo.currentData()

    def set_metric(self, key: str) -> None:
        i = self.metric_combo.findData(key)
        if i >= 0:
            self.metric_combo.setCurrentIndex(i)

    def selected_names(self) -> list[str]:
        return [self.names.item(i).data(Qt.ItemDataRole.UserRole)
                for i in range(self.names.count()) if self.names.item(i).isSelected()]

    def select_names(self, names: list[str]) -> None:
        wanted = set(names)
        self.names.blockSignals(True)
        first = None
        for i in range(self.names.count()):
            item = self.names.item(i)
            on = item.data(Qt.ItemDataRole.UserRole) in wanted
            if on and item.isHidden():
                item.setHidden(False)
            item.setSelected(on)
            if on and first is None:
                first = item
        self.names.blockSignals(False)
        if first is not None:
            self.names.scrollToItem(first)
        self._on_selection()

    def set_log(self, on: bool) -> None:
        self._log = bool(on)
        if self.log_check.isChecked() != self._log:
            self.log_check.setChecked(self._log)
        self.plot_item.setLogMode(False, self._log)
        self.redraw()

    def redraw(self) -> None:
        for c in self.curves:
            self.plot_item.removeItem(c)
        self.curves = []
        self.legend.clear()
        names = self.selected_names()
        if self._source is None:
            return
        shown = names[:MAX_CURVES]
        self.hint.setText(f"showing the first {MAX_CURVES} of {len(names)} selected"
                          if len(names) > MAX_CURVES else
                          "" if names else "Select one or more names (Ctrl/Shift-click)")
        x = np.array(self._steps, dtype=np.float64)
        metric = self.metric()
        for k, name in enumerate(shown):
            y = plottable(self._source(name, metric), self._log)
            color = _PALETTE[k % len(_PALETTE)]
            curve = self.plot_item.plot(x, y, pen=pg.mkPen(color, width=2), symbol="o",
                                        symbolSize=5, symbolBrush=color, symbolPen=None,
                                        name=printable(name), connect="finite")
            self.curves.append(curve)
        self.plot_item.setLabel("left", self.metric_combo.currentText() if metric else "value")
        self.plot_item.enableAutoRange()

    # ---- Private API
    def _on_selection(self) -> None:
        self.redraw()
        self.sig_selection_changed.emit()

    def _apply_filter(self, text: str) -> None:
        text = text.strip().lower()
        for i in range(self.names.count()):
            item = self.names.item(i)
            item.setHidden(bool(text) and text not in item.text().lower())
