"""The Inference view's results: verdict, plots, load report, mode-sensitive layers, errors.

The sentences come from :mod:`inspector.core.inference.report`; this module lays them out.
Every string that comes from the file or the user's code (layer and key names, fixes,
architecture names, tracebacks) is shown as plain text or escaped inside our own markup.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from inspector.core.inference import (
    ReportSection,
    RunResult,
    drift_text,
    layer_text,
    load_sections,
    timing_rows,
    verdict_text,
)
from inspector.core.text import html_text

MAX_PLOT_OUTPUTS = 512  # outputs drawn per plot; more would be an unreadable smear
TRAIN_COLOR = (52, 120, 200)
EVAL_COLOR = (225, 110, 20)
GAP_COLOR = (160, 60, 170)
LEVEL_COLORS = {"warning": "#c2410c", "error": "#b91c1c", "ok": "#15803d"}
IDLE_TEXT = ("Press Run (Ctrl+R) to run the model 20 times in train mode and 20 times in eval "
             "mode on the same input, and see what model.eval() changes.")


def section_html(section: ReportSection) -> str:
    """One report section as rich text; its strings are escaped (they may come from the
    file)."""
    title = html_text(section.title)
    if not section.items:
        if section.level == "ok":
            title = f"✓ {title}"
        elif section.text:
            title = f"<b>{title}</b> {html_text(section.text)}"
        return f"<p style='margin:0 0 4px 0'>{title}</p>"
    color = LEVEL_COLORS.get(section.level)
    title = f"<b style='color:{color}'>{title}</b>" if color else f"<b>{title}</b>"
    text = f" — {html_text(section.text)}" if section.text else ""
    items = "".join(f"<li><code>{html_text(item)}</code></li>" for item in section.items)
    if section.more:
        items += f"<li>… and {section.more} more</li>"
    return (f"<p style='margin-bottom:0'>{title}{text}:</p>"
            f"<ul style='margin-top:0'>{items}</ul>")


def load_report_html(result: RunResult) -> str:
    """The load report (see :func:`inspector.core.inference.load_sections`) as rich text."""
    return "".join(section_html(s) for s in load_sections(result))


def _first_sample(outputs: np.ndarray) -> np.ndarray:
    """(runs, batch, …) → (runs, N): every output value of sample 0, flattened."""
    a = np.asarray(outputs, dtype=np.float64)
    if a.ndim == 1:
        return a.reshape(-1, 1)
    if a.ndim == 2:
        return a[:, :1] if a.shape[1] else a  # one value per sample
    return a[:, 0].reshape(a.shape[0], -1)


def _plot_with_legend(title: str, x_label: str, y_label: str):
    """A plot with labelled axes and its legend in a row below it, where it hides no data.

    Returns (widget, PlotItem, LegendItem)."""
    widget = pg.GraphicsLayoutWidget()
    widget.ci.setContentsMargins(2, 2, 2, 2)
    item = widget.addPlot(row=0, col=0)
    item.setTitle(title)
    item.setLabel("bottom", x_label)
    item.setLabel("left", y_label)
    item.showGrid(x=True, y=True, alpha=0.2)
    item.setMenuEnabled(False)
    legend = pg.LegendItem(colCount=3, labelTextSize="8pt", verSpacing=-4)
    widget.addItem(legend, row=1, col=0)
    widget.ci.layout.setRowStretchFactor(0, 1)
    return widget, item, legend


def _titled(title: str, widget: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.setSpacing(2)
    label = QLabel(title)
    bold = label.font()
    bold.setBold(True)
    label.setFont(bold)
    layout.addWidget(label)
    layout.addWidget(widget, 1)
    return box


class TimingBox(QGroupBox):
    """Timings per mode, the BatchNorm drift and whether the weights stayed unchanged."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Timings and state", parent)
        layout = QVBoxLayout(self)
        self.timing_label = QLabel("")
        self.timing_label.setObjectName("timings")
        self.timing_label.setTextFormat(Qt.TextFormat.RichText)
        self.timing_label.setWordWrap(True)
        self.timing_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.timing_label)
        self.hide()

    def show_result(self, r: RunResult) -> None:
        rows = "".join(
            f"<tr><td>{name}</td><td align='right'>{ms}</td><td align='right'>{spread}</td>"
            f"<td align='right'>{diff}</td></tr>" for name, ms, spread, diff in timing_rows(r))
        table = (f"<p style='margin:0'>{html_text(r.device)}, {html_text(r.dtype)}, "
                 f"{r.train.runs} runs per mode</p>"
                 "<table cellspacing='0' cellpadding='2' width='100%'>"
                 "<tr><th align='left'>mode</th><th align='right'>ms / run</th>"
                 "<th align='right'>spread</th><th align='right'>max diff</th></tr>"
                 f"{rows}</table>")
        lines = [html_text(drift_text(r))]
        if r.weights_unchanged:
            lines.append(f"<b style='color:{LEVEL_COLORS['ok']}'>Weights unchanged ✓</b>")
        else:
            lines.append(f"<b style='color:{LEVEL_COLORS['error']}'>⚠ The loaded weights "
                         f"changed during the run</b> (the model's forward modifies its own "
                         f"state).")
        self.timing_label.setText(table + "".join(f"<p style='margin:4px 0 0 0'>{line}</p>"
                                                  for line in lines))
        self.show()


class InferenceResults(QWidget):
    """The right-hand side: the verdict above a page with the plots and details, or with
    an error message and its traceback."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.verdict_label = QLabel(IDLE_TEXT)
        self.verdict_label.setObjectName("inferenceVerdict")
        self.verdict_label.setTextFormat(Qt.TextFormat.PlainText)
        self.verdict_label.setWordWrap(True)
        self.verdict_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.verdict_label.setSizePolicy(QSizePolicy.Policy.Expanding,
                                         QSizePolicy.Policy.Minimum)
        layout.addWidget(self.verdict_label)

        self.pages = QStackedWidget()
        self.empty_page = QLabel("No run yet.", alignment=Qt.AlignmentFlag.AlignCenter)
        self.empty_page.setObjectName("welcomeHint")
        self.pages.addWidget(self.empty_page)
        self.results_page = self._build_result_page()
        self.pages.addWidget(self.results_page)
        self.error_page = self._build_error_page()
        self.pages.addWidget(self.error_page)
        layout.addWidget(self.pages, 1)

    # ---- Public API
    def show_result(self, r: RunResult) -> None:
        self.verdict_label.setText(verdict_text(r))
        self._plot(r)
        self.load_view.setHtml(load_report_html(r))
        self._fill_layers(r)
        self.pages.setCurrentWidget(self.results_page)

    def show_message(self, text: str, level: str) -> None:
        """A message instead of results (``level``: ``"info"`` or ``"error"``)."""
        self.error_label.setProperty("level", level)
        self.error_label.setText(text)
        self.traceback_edit.setPlainText("")
        self.traceback_edit.setVisible(False)
        self.pages.setCurrentWidget(self.error_page)

    def show_error(self, message: str, traceback_text: str) -> None:
        """Why the model did not run, with the user code's traceback (if any) as text."""
        self.error_label.setProperty("level", "error")
        self.error_label.setText(message)
        self.traceback_edit.setPlainText(traceback_text.rstrip())
        self.traceback_edit.setVisible(bool(traceback_text.strip()))
        self.pages.setCurrentWidget(self.error_page)
        self.verdict_label.setText("The model did not run; the reason is below.")

    def verdict(self) -> str:
        return self.verdict_label.text()

    def message_text(self) -> str:
        """The error or refusal shown (message and traceback), or ""."""
        if self.pages.currentWidget() is not self.error_page:
            return ""
        return self.error_label.text() + "\n" + self.traceback_edit.toPlainText()

    # ---- Private API: building
    def _build_result_page(self) -> QWidget:
        split = QSplitter(Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        plots = QWidget()
        row = QHBoxLayout(plots)
        row.setContentsMargins(0, 0, 0, 0)

        self.outputs_plot, self.outputs_item, legend = _plot_with_legend(
            "Outputs of sample 0, every run", "output index", "output value")
        item = self.outputs_item
        self.train_min_curve = pg.PlotDataItem(pen=pg.mkPen((*TRAIN_COLOR, 120), width=1))
        self.train_max_curve = pg.PlotDataItem(pen=pg.mkPen((*TRAIN_COLOR, 120), width=1))
        self.train_band = pg.FillBetweenItem(self.train_min_curve, self.train_max_curve,
                                             brush=pg.mkBrush(*TRAIN_COLOR, 60))
        item.addItem(self.train_min_curve)
        item.addItem(self.train_max_curve)
        item.addItem(self.train_band)
        self.train_lines = pg.PlotDataItem(pen=pg.mkPen((*TRAIN_COLOR, 70), width=1),
                                           connect="finite")
        item.addItem(self.train_lines)
        self.train_mean_curve = item.plot(pen=pg.mkPen(TRAIN_COLOR, width=2,
                                                       style=Qt.PenStyle.DashLine))
        self.eval_curve = item.plot(pen=pg.mkPen(EVAL_COLOR, width=2.5))
        # the legend cannot draw a FillBetweenItem (it has no opts): a filled stand-in
        self.band_sample = pg.PlotDataItem(pen=pg.mkPen((*TRAIN_COLOR, 120)), fillLevel=0,
                                           fillBrush=pg.mkBrush(*TRAIN_COLOR, 60))
        legend.addItem(self.band_sample, "train runs: min…max")
        legend.addItem(self.train_mean_curve, "train: mean of the runs")
        legend.addItem(self.eval_curve, "eval")
        row.addWidget(self.outputs_plot, 1)

        self.spread_plot, self.spread_item, legend = _plot_with_legend(
            "Spread across runs, and the eval–train gap", "output index",
            "std across runs / |gap|")
        item = self.spread_item
        self.train_spread_bars = pg.BarGraphItem(x=[], height=[], width=0.6,
                                                 brush=pg.mkBrush(*TRAIN_COLOR, 170),
                                                 pen=pg.mkPen(None))
        item.addItem(self.train_spread_bars)
        self.eval_spread_curve = item.plot(pen=None, symbol="s", symbolSize=6,
                                           symbolBrush=pg.mkBrush(EVAL_COLOR),
                                           symbolPen=pg.mkPen(None))
        self.gap_curve = item.plot(pen=pg.mkPen(GAP_COLOR, width=1.5), symbol="o",
                                   symbolSize=5, symbolBrush=pg.mkBrush(GAP_COLOR),
                                   symbolPen=pg.mkPen(None))
        legend.addItem(self.train_spread_bars, "train: std across runs")
        legend.addItem(self.eval_spread_curve, "eval: std across runs")
        legend.addItem(self.gap_curve, "|eval − train mean|")
        row.addWidget(self.spread_plot, 1)
        split.addWidget(plots)

        details = QWidget()
        row = QHBoxLayout(details)
        row.setContentsMargins(0, 0, 0, 0)
        self.load_view = QTextBrowser()
        self.load_view.setObjectName("loadReport")
        self.load_view.setOpenLinks(False)
        row.addWidget(_titled("Weights", self.load_view), 2)

        self.layers_table = QTableWidget(0, 3)
        self.layers_table.setObjectName("modeLayers")
        self.layers_table.setHorizontalHeaderLabels(["Layer", "Type", "Train vs. eval mode"])
        self.layers_table.verticalHeader().hide()
        self.layers_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.layers_table.setWordWrap(True)
        self.layers_table.setAlternatingRowColors(True)
        header = self.layers_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        row.addWidget(_titled("Layers that behave differently in train mode",
                              self.layers_table), 3)
        split.addWidget(details)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([330, 170])
        return split

    def _build_error_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        self.error_label = QLabel("")
        self.error_label.setObjectName("runError")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        bold = self.error_label.font()
        bold.setBold(True)
        self.error_label.setFont(bold)
        layout.addWidget(self.error_label)
        self.traceback_edit = QPlainTextEdit()
        self.traceback_edit.setObjectName("runTraceback")
        self.traceback_edit.setReadOnly(True)
        self.traceback_edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.traceback_edit.setFont(mono)
        layout.addWidget(self.traceback_edit, 1)
        return page

    # ---- Private API: filling in
    def _plot(self, r: RunResult) -> None:
        train = _first_sample(r.train.outputs)
        evaluation = _first_sample(r.eval.outputs)
        n = train.shape[1]
        shown = min(n, MAX_PLOT_OUTPUTS)
        train, evaluation = train[:, :shown], evaluation[:, :shown]
        x = np.arange(shown, dtype=np.float64)
        self.train_min_curve.setData(x, train.min(axis=0))
        self.train_max_curve.setData(x, train.max(axis=0))
        runs = train.shape[0]
        xs = np.concatenate([np.append(x, np.nan)] * runs)
        ys = np.concatenate([np.append(row, np.nan) for row in train])
        self.train_lines.setData(xs, ys, connect="finite")
        train_mean = train.mean(axis=0)
        self.train_mean_curve.setData(x, train_mean)
        eval_line = evaluation[0]
        symbols = {"symbol": "o", "symbolSize": 6, "symbolBrush": pg.mkBrush(EVAL_COLOR),
                   "symbolPen": pg.mkPen(None)} if shown <= 64 else {"symbol": None}
        self.eval_curve.setData(x, eval_line, **symbols)
        cut = f" (first {shown} of {n})" if shown < n else ""
        self.outputs_item.setTitle(f"Outputs of sample 0: {runs} train runs vs. eval{cut}")
        self.outputs_item.setLabel("bottom", f"output index{cut}")

        self.train_spread_bars.setOpts(x=x, height=train.std(axis=0), width=0.6)
        self.eval_spread_curve.setData(x, evaluation.std(axis=0))
        self.gap_curve.setData(x, np.abs(eval_line - train_mean),
                               symbol="o" if shown <= 64 else None)
        self.spread_item.setLabel("bottom", f"output index{cut}")
        for item in (self.outputs_item, self.spread_item):
            item.enableAutoRange()

    def _fill_layers(self, r: RunResult) -> None:
        table = self.layers_table
        layers = r.mode_sensitive_layers
        table.setRowCount(max(len(layers), 1))
        if not layers:
            table.setSpan(0, 0, 1, 3)
            table.setItem(0, 0, QTableWidgetItem(
                "None: no Dropout, BatchNorm or other mode-dependent layer, so train and eval "
                "mode compute the same thing."))
        else:
            table.clearSpans()
            for i, layer in enumerate(layers):
                table.setItem(i, 0, QTableWidgetItem(layer.name))
                table.setItem(i, 1, QTableWidgetItem(layer.type))
                text = layer_text(layer)
                cell = QTableWidgetItem(text)
                cell.setToolTip(text)
                table.setItem(i, 2, cell)
        table.resizeRowsToContents()

