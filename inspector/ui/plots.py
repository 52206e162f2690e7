"""pyqtgraph views used by the tensor panel: a histogram with a log toggle and a heatmap.

The views only draw arrays they are given; reading tensor bytes happens elsewhere and is
bounded there. Numpy helpers here shape small arrays for display (colour levels, a mosaic
of conv kernels).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

HIST_PEN = (70, 130, 210)
HIST_BRUSH = (70, 130, 210, 110)
MEAN_PEN = pg.mkPen((230, 140, 40), width=1.5, style=pg.QtCore.Qt.PenStyle.DashLine)
DIVERGING = "CET-D1"  # blue - white - red, for values of both signs
SEQUENTIAL = "viridis"


# ---- Numpy helpers
def color_levels(data: np.ndarray) -> tuple[float, float, bool]:
    """Colour levels for ``data``: (low, high, diverging).

    The 0.5 and 99.5 percentiles of the finite values keep one outlier from washing out
    the picture; data of both signs gets levels symmetric around zero and a diverging map.
    """
    finite = data[np.isfinite(data)] if data.size else data
    if finite.size == 0:
        return (-1.0, 1.0, True)
    lo, hi = (float(x) for x in np.percentile(finite, [0.5, 99.5]))
    if lo < 0 < hi:
        m = max(-lo, hi)
        return (-m, m, True)
    if lo == hi:
        pad = abs(lo) * 0.5 or 1.0
        return (lo - pad, hi + pad, lo < 0 < hi)
    return (lo, hi, False)


def kernel_mosaic(kernels: np.ndarray, columns: int | None = None, gap: int = 1) -> np.ndarray:
    """Tile ``kernels`` (N, kh, kw) or (N, kh, kw, 3) into one image with NaN gaps.

    Returns an array of shape (rows*(kh+gap)-gap, cols*(kw+gap)-gap[, 3]); the gaps are
    NaN so they draw transparent.
    """
    n, kh, kw = kernels.shape[:3]
    cols = columns or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    shape = (rows * (kh + gap) - gap, cols * (kw + gap) - gap, *kernels.shape[3:])
    out = np.full(shape, np.nan, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, cols)
        out[r * (kh + gap):r * (kh + gap) + kh, c * (kw + gap):c * (kw + gap) + kw] = kernels[i]
    return out


def real_value_axes(plot_item: pg.PlotItem) -> pg.PlotItem:
    """Ticks in real values on every axis of ``plot_item``.

    pyqtgraph rescales an axis by an SI prefix on its own: values 0.80-0.97 read
    "value (x0.001)" with ticks 800-950. Every plot of the app calls this on each PlotItem
    it makes; tiny or huge values still read right (pyqtgraph writes them as 1e-05).
    """
    for name in ("left", "bottom", "right", "top"):
        axis = plot_item.getAxis(name)
        if axis is not None:
            axis.enableAutoSIPrefix(False)
    return plot_item


# ---- Views
class HistogramView(QWidget):
    """A step histogram (``stepMode="center"``) with labelled axes and a log-count toggle."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot_widget = pg.PlotWidget()
        self.plot_item = real_value_axes(self.plot_widget.getPlotItem())
        self.plot_item.setLabel("bottom", "value")
        self.plot_item.setLabel("left", "count")
        self.plot_item.showGrid(x=True, y=True, alpha=0.2)
        self.plot_item.setMenuEnabled(False)
        self.curve = self.plot_item.plot([0.0, 1.0], [0.0], stepMode="center", fillLevel=0,
                                         pen=pg.mkPen(HIST_PEN, width=1.5), brush=HIST_BRUSH)
        self.curve.setData([], [])
        self.mean_line = pg.InfiniteLine(angle=90, pen=MEAN_PEN)
        self.mean_line.setVisible(False)
        self.plot_item.addItem(self.mean_line)
        self.log_check = QCheckBox("Log counts")
        self.log_check.setToolTip("Show counts on a logarithmic axis (empty bins disappear)")
        self.log_check.toggled.connect(self.set_log)
        self.caption = QLabel()
        self.caption.setTextFormat(Qt.TextFormat.PlainText)  # messages may quote a file
        self.caption.setWordWrap(True)

        bar = QHBoxLayout()
        bar.addWidget(self.caption, 1)
        bar.addWidget(self.log_check)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.plot_widget, 1)

    # ---- Public API
    def set_histogram(self, edges, counts, mean: float | None = None, caption: str = "") -> None:
        """Draw ``counts`` between ``edges`` (len(edges) == len(counts) + 1)."""
        edges = np.asarray(edges, dtype=np.float64)
        counts = np.asarray(counts, dtype=np.float64)
        self.curve.setData(edges, counts, stepMode="center", fillLevel=0)
        if mean is not None and math.isfinite(mean):
            self.mean_line.setValue(mean)
            self.mean_line.setVisible(True)
        else:
            self.mean_line.setVisible(False)
        self.caption.setText(caption)
        self.plot_item.enableAutoRange()

    def clear(self, caption: str = "") -> None:
        self.curve.setData([], [])
        self.mean_line.setVisible(False)
        self.caption.setText(caption)

    def set_log(self, on: bool) -> None:
        """Counts on a log axis; pyqtgraph drops empty bins (log 0) from the drawing."""
        if self.log_check.isChecked() != on:
            self.log_check.setChecked(on)  # re-enters through toggled
            return
        self.plot_item.setLogMode(x=False, y=on)
        self.plot_item.setLabel("left", "count (log scale)" if on else "count")
        self.plot_item.enableAutoRange()


class HeatmapView(pg.GraphicsLayoutWidget):
    """A matrix as an image with a colour bar; row 0 at the top, like a printed matrix."""

    def __init__(self, x_label: str = "column", y_label: str = "row",
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.plot_item = real_value_axes(self.addPlot())
        self.plot_item.setMenuEnabled(False)
        self.plot_item.invertY(True)
        self.plot_item.setLabel("bottom", x_label)
        self.plot_item.setLabel("left", y_label)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot_item.addItem(self.image)
        self.colorbar = pg.ColorBarItem(values=(-1, 1), colorMap=pg.colormap.get(DIVERGING),
                                        interactive=False, width=14)
        real_value_axes(self.colorbar)  # a PlotItem too: its tick labels are values
        self.colorbar.setImageItem(self.image, insert_in=self.plot_item)

    # ---- Public API
    def set_matrix(self, data: np.ndarray, rect: tuple[float, float, float, float] | None = None,
                   lock_aspect: bool = False) -> None:
        """Show a 2-D float array; ``rect`` (x, y, w, h) maps it to data coordinates so a
        downsampled matrix keeps the original row and column numbers on the axes."""
        lo, hi, diverging = color_levels(data)
        cmap = pg.colormap.get(DIVERGING if diverging else SEQUENTIAL)
        self.colorbar.setColorMap(cmap)
        self.colorbar.setLevels(values=(lo, hi))
        self.colorbar.setVisible(True)
        self.image.setImage(data, levels=(lo, hi), autoLevels=False)
        self.image.setLookupTable(cmap.getLookupTable(nPts=256))
        self._place(data, rect, lock_aspect)

    def set_rgb(self, data: np.ndarray, rect: tuple[float, float, float, float] | None = None,
                lock_aspect: bool = True) -> None:
        """Show an (h, w, 3) array with values in 0..1 as colours (no colour bar)."""
        self.colorbar.setVisible(False)
        self.image.setLookupTable(None)
        self.image.setImage(np.nan_to_num(data, nan=0.5), levels=(0.0, 1.0), autoLevels=False)
        self._place(data, rect, lock_aspect)

    def clear_image(self) -> None:
        self.image.clear()

    # ---- Private API
    def _place(self, data: np.ndarray, rect, lock_aspect: bool) -> None:
        h, w = data.shape[:2]
        x, y, rw, rh = rect if rect is not None else (0, 0, w, h)
        self.image.setRect(QRectF(x, y, rw, rh))
        self.plot_item.setAspectLocked(lock_aspect)
        self.plot_item.autoRange(padding=0.02)
