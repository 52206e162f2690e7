"""The Inference view's plots: raw outputs and their spread, and the labelled predictions.

- :class:`OutputPlots` — every output of sample 0 in each train run against eval, and the
  spread across runs with the eval–train gap; two plots side by side.
- :class:`PredictionsView` — what the outputs mean: the top-5 classes (or next tokens) of
  eval with their probability in eval and in every train run as bars side by side, and a
  table; or, for an encoder, the cosine similarity of each train run's embedding with eval's.

Both fit a 1024×700 window: titles are short, and each legend wraps into as many columns as
its plot's width holds (:class:`LegendPlot`). Labels and tokens come from the file (a
config's ``id2label``, a tokenizer's vocabulary): pyqtgraph draws tick strings as plain text,
and the table's cells are plain text.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inspector.core.inference import RunResult
from inspector.core.inference.report import probability_text
from inspector.core.text import cosine_text, printable_line, shorten
from inspector.ui.plots import real_value_axes

MAX_PLOT_OUTPUTS = 512  # outputs drawn per plot; more would be an unreadable smear
TRAIN_COLOR = (52, 120, 200)
EVAL_COLOR = (225, 110, 20)
GAP_COLOR = (160, 60, 170)
LEGEND_COLUMN_PX = 190  # width a legend entry needs; the legend wraps below this per column
SIDE_BY_SIDE_PX = 1000  # narrower: the predictions table goes below the bars
TICK_LABEL_CHARS = 14  # class labels under the bars are cut to this; the table has them whole


TOKEN_KINDS = ("next-token", "masked-token")  # predictions whose labels are tokens


def label_text(label: str, kind: str) -> str:
    """A class label or a token on one line; a token is quoted so its spaces show."""
    text = printable_line(label)
    return f"“{text}”" if kind in TOKEN_KINDS else text


class LegendPlot(pg.GraphicsLayoutWidget):
    """A plot with labelled axes and its legend in a row below it, where it hides no data;
    the legend has as many columns as the width holds, so no entry is ever cut off."""

    def __init__(self, title: str, x_label: str, y_label: str, max_columns: int = 3):
        super().__init__()
        self.ci.setContentsMargins(2, 2, 2, 2)
        self.item = self.addPlot(row=0, col=0)
        self.item.setTitle(title)
        self.item.setLabel("bottom", x_label)
        self.item.setLabel("left", y_label)
        self.item.showGrid(x=True, y=True, alpha=0.2)
        self.item.setMenuEnabled(False)
        real_value_axes(self.item)
        self.max_columns = max_columns
        self.legend = pg.LegendItem(colCount=max_columns, labelTextSize="8pt", verSpacing=-4)
        self.addItem(self.legend, row=1, col=0)
        self.ci.layout.setRowStretchFactor(0, 1)
        self.setMinimumSize(220, 200)

    def legend_columns(self) -> int:
        return self.legend.columnCount

    def resizeEvent(self, event) -> None:
        legend = getattr(self, "legend", None)  # pyqtgraph resizes (event None) while building
        if legend is not None:
            width = event.size().width() if event is not None else self.width()
            columns = max(1, min(self.max_columns, width // LEGEND_COLUMN_PX))
            if columns != legend.columnCount:
                legend.setColumnCount(columns)
        super().resizeEvent(event)


def _first_sample(outputs: np.ndarray) -> np.ndarray:
    """(runs, batch, …) → (runs, N): every output value of sample 0, flattened."""
    a = np.asarray(outputs, dtype=np.float64)
    if a.ndim == 1:
        return a.reshape(-1, 1)
    if a.ndim == 2:
        return a[:, :1] if a.shape[1] else a  # one value per sample
    return a[:, 0].reshape(a.shape[0], -1)


class OutputPlots(QSplitter):
    """Outputs of sample 0 (train band, train mean, eval) | spread across runs and the gap."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.setChildrenCollapsible(False)
        self.outputs_plot = LegendPlot("Outputs of sample 0", "output index", "output value")
        item = self.outputs_item = self.outputs_plot.item
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
        legend = self.outputs_plot.legend
        legend.addItem(self.band_sample, "train runs: min…max")
        legend.addItem(self.train_mean_curve, "train: mean of runs")
        legend.addItem(self.eval_curve, "eval")
        self.addWidget(self.outputs_plot)

        self.spread_plot = LegendPlot("Spread and eval–train gap", "output index",
                                      "std across runs / |gap|")
        item = self.spread_item = self.spread_plot.item
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
        legend = self.spread_plot.legend
        legend.addItem(self.train_spread_bars, "train: std across runs")
        legend.addItem(self.eval_spread_curve, "eval: std across runs")
        legend.addItem(self.gap_curve, "|eval − train mean|")
        self.addWidget(self.spread_plot)

    def show_result(self, r: RunResult) -> None:
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
        self.outputs_item.setLabel("bottom", f"output index{cut}")
        self.train_spread_bars.setOpts(x=x, height=train.std(axis=0), width=0.6)
        self.eval_spread_curve.setData(x, evaluation.std(axis=0))
        self.gap_curve.setData(x, np.abs(eval_line - train_mean),
                               symbol="o" if shown <= 64 else None)
        self.spread_item.setLabel("bottom", f"output index{cut}")
        for item in (self.outputs_item, self.spread_item):
            item.enableAutoRange()


class PredictionsView(QWidget):
    """Top classes / next tokens with their probabilities in eval and in each train run,
    or the embedding's cosine similarity per train run."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        self.caption = QLabel("")
        self.caption.setObjectName("predictionsCaption")
        self.caption.setTextFormat(Qt.TextFormat.PlainText)
        self.caption.setWordWrap(True)
        layout.addWidget(self.caption)
        split = self.split = QSplitter(Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        self.bars_plot = LegendPlot("", "", "probability", max_columns=2)
        self.bars_item = self.bars_plot.item
        self.eval_bars = pg.BarGraphItem(x=[], height=[], width=0.25,
                                         brush=pg.mkBrush(*EVAL_COLOR), pen=pg.mkPen(None))
        self.train_bars = pg.BarGraphItem(x=[], height=[], width=0.02,
                                          brush=pg.mkBrush(*TRAIN_COLOR, 200), pen=pg.mkPen(None))
        self.bars_item.addItem(self.eval_bars)
        self.bars_item.addItem(self.train_bars)
        self.bars_plot.legend.addItem(self.eval_bars, "eval")
        self.bars_plot.legend.addItem(self.train_bars, "each train run")
        split.addWidget(self.bars_plot)

        self.table = QTableWidget(0, 4)
        self.table.setObjectName("predictionsTable")
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setDefaultSectionSize(self.table.fontMetrics().height() + 8)
        header = self.table.horizontalHeader()
        for c in range(4):  # whole labels and numbers; a narrow table scrolls sideways
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        split.addWidget(self.table)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        layout.addWidget(split, 1)
        self.kind = ""

    # ---- Qt overrides
    def resizeEvent(self, event) -> None:
        """Plot and table side by side when there is room, else the table below the plot."""
        wide = event.size().width() >= SIDE_BY_SIDE_PX
        orientation = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if self.split.orientation() != orientation:
            self.split.setOrientation(orientation)
            total = event.size().width() if wide else event.size().height()
            first = 0.55  # the bars; the table gets the rest
            self.split.setSizes([int(total * first), int(total * (1 - first))])
        super().resizeEvent(event)

    # ---- Public API
    def show_result(self, r: RunResult) -> bool:
        """Fill in from ``r``; False when it has neither predictions nor embeddings."""
        if r.predictions is not None and r.predictions.eval:
            self._show_predictions(r)
            return True
        if r.embedding_cosine is not None and r.embedding_cosine.train:
            self._show_cosine(r)
            return True
        self.kind = ""
        return False

    def caption_text(self) -> str:
        return self.caption.text()

    def row_texts(self) -> list[tuple[str, ...]]:
        return [tuple(self.table.item(r, c).text() if self.table.item(r, c) else ""
                      for c in range(self.table.columnCount()))
                for r in range(self.table.rowCount())]

    # ---- Private API
    def _show_predictions(self, r: RunResult) -> None:
        p = r.predictions
        self.kind = p.kind
        what, one = {"next-token": ("next tokens", "token"),
                     "masked-token": ("guesses for the masked word", "guess")}.get(
            p.kind, ("classes", "class"))
        runs = len(p.train)
        self.caption.setText(
            f"Top {len(p.eval)} {what} of sample 0 in eval mode, with the probability each gets "
            f"in eval (orange) and in every one of the {runs} train runs (blue, side by side). "
            f"The top-1 {one} changes in "
            f"{p.top1_changes} of {runs} train runs.")
        probs = _train_probabilities(p)  # (runs, k), NaN where unknown
        k = len(p.eval)
        x = np.arange(k, dtype=np.float64)
        self.eval_bars.setOpts(x=x - 0.22, height=[lab.probability for lab in p.eval],
                               width=0.25)
        if runs:
            step = 0.5 / runs
            tx = (x[None, :] + (np.arange(runs)[:, None] + 0.5) * step - 0.07).ravel()
            heights = np.nan_to_num(probs, nan=0.0).ravel()
            self.train_bars.setOpts(x=tx, height=heights, width=step * 0.85)
        else:
            self.train_bars.setOpts(x=[], height=[], width=0.02)
        ticks = [(float(i), shorten(label_text(lab.label, p.kind), TICK_LABEL_CHARS))
                 for i, lab in enumerate(p.eval)]
        self.bars_item.getAxis("bottom").setTicks([ticks, []])
        self.bars_item.setLabel("bottom", "token" if p.kind in TOKEN_KINDS else "class")
        self.bars_item.setLabel("left", "probability")
        self.bars_item.setXRange(-0.5, k - 0.5, padding=0.02)
        top = max([lab.probability for lab in p.eval] + list(np.nan_to_num(probs).ravel()))
        self.bars_item.setYRange(0, min(1.0, top * 1.15 + 0.02), padding=0.02)
        self.bars_plot.legend.getLabel(self.train_bars).setText(f"each of {runs} train runs")

        self.table.setColumnCount(4)
        self.table.setHorizontalHeaderLabels(
            ["Token" if p.kind in TOKEN_KINDS else "Class", "eval", "train: mean  (min – max)",
             "top-1 in train"])
        self.table.setRowCount(k)
        top1 = [run[0].index if run else None for run in p.train]
        for i, lab in enumerate(p.eval):
            col = probs[:, i] if runs else np.array([])
            known = col[np.isfinite(col)]
            if known.size:
                train_text = (f"{probability_text(known.mean())}  ({probability_text(known.min())}"
                              f" – {probability_text(known.max())})")
                if known.size < runs:
                    below = runs - known.size
                    train_text += f", below the top {k} in {below} run{'s' if below != 1 else ''}"
            else:
                train_text = f"below the top {k} in every run" if runs else "—"
            name = QTableWidgetItem(f"{i + 1}. {label_text(lab.label, p.kind)}")
            name.setToolTip(f"index {lab.index}")
            self.table.setItem(i, 0, name)
            self.table.setItem(i, 1, _right(probability_text(lab.probability)))
            self.table.setItem(i, 2, _right(train_text))
            self.table.setItem(i, 3, _right(f"{sum(1 for t in top1 if t == lab.index)} of {runs}"))

    def _show_cosine(self, r: RunResult) -> None:
        c = r.embedding_cosine
        self.kind = "embedding"
        runs = len(c.train)
        self.caption.setText(
            f"Cosine similarity of sample 0's embedding in each of the {runs} train runs with "
            f"its embedding in eval mode (1 = same direction): lowest {cosine_text(c.min)}, "
            f"mean {cosine_text(c.mean)}.")
        values = np.asarray(c.train, dtype=np.float64)
        x = np.arange(1, runs + 1, dtype=np.float64)
        self.eval_bars.setOpts(x=[], height=[], width=0.25)
        low = float(np.nanmin(values)) if values.size else 0.0
        base = min(0.0, low) if low < 0.5 else max(0.0, low - (1.0 - low) * 0.5 - 1e-3)
        self.train_bars.setOpts(x=x, y0=base, height=values - base, width=0.7)
        self.bars_item.getAxis("bottom").setTicks(None)
        self.bars_item.setLabel("bottom", "train run")
        self.bars_item.setLabel("left", "cosine with eval")
        self.bars_item.setXRange(0.5, runs + 0.5, padding=0.02)
        self.bars_item.setYRange(base, 1.0, padding=0.05)
        self.bars_plot.legend.getLabel(self.train_bars).setText("train run vs. eval")
        self.table.setColumnCount(2)
        self.table.setHorizontalHeaderLabels(["Train run", "cosine with eval"])
        self.table.setRowCount(runs)
        for i, v in enumerate(c.train):
            self.table.setItem(i, 0, QTableWidgetItem(f"{i + 1}"))
            self.table.setItem(i, 1, _right(cosine_text(v)))


def _right(text: str) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    return item


def _train_probabilities(p) -> np.ndarray:
    """(train runs, k): each train run's probability of eval's top-k classes; NaN where the
    run's own top-k does not include that class (when the core gave no ``train_probs``)."""
    runs, k = len(p.train), len(p.eval)
    given = getattr(p, "train_probs", ())
    if given and len(given) == runs:
        out = np.full((runs, k), np.nan)
        for r, row in enumerate(given):
            out[r, :min(k, len(row))] = np.asarray(row[:k], dtype=np.float64)
        return out
    out = np.full((runs, k), np.nan)
    for r, run in enumerate(p.train):
        by_index = {lab.index: lab.probability for lab in run}
        for i, lab in enumerate(p.eval):
            if lab.index in by_index:
                out[r, i] = by_index[lab.index]
    return out
