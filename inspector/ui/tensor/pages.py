"""The tensor panel's tabs that draw values (histogram, values table, heatmap, kernels) and
the progress row of a running slice or export.

The pages only show what they are given: slices arrive from the panel's jobs
(:mod:`inspector.core.tensor_view`). Every label is plain text: strings from a file are
never rendered as markup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from inspector.core.jobs import JobProgress
from inspector.core.tensor_view import (
    FIRST_CHANNEL,
    MAX_KERNELS,
    MEAN_CHANNELS,
    RGB,
    HeatmapSlice,
    KernelsSlice,
    ValuesSlice,
)
from inspector.core.text import format_value
from inspector.ui.plots import HeatmapView, HistogramView, kernel_mosaic
from inspector.ui.tensor.details import heatmap_caption, kernels_caption, values_caption
from inspector.ui.tensor.values import ValuesTableModel

if TYPE_CHECKING:
    from inspector.core.stats import TensorStats


def plain_label(text: str = "", *, wrap: bool = True, selectable: bool = False) -> QLabel:
    """A QLabel that shows its text as text, never as rich text (keys come from files)."""
    label = QLabel()
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setText(text)
    label.setWordWrap(wrap)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def bold(label: QLabel) -> QLabel:
    f = label.font()
    f.setBold(True)
    label.setFont(f)
    return label


def monospace() -> QFont:
    mono = QFont("monospace")
    mono.setStyleHint(QFont.StyleHint.Monospace)
    return mono


class JobBar(QWidget):
    """A running job's line: what it does, a progress bar and Cancel. Hidden when idle.

    Emits
    -----
    sig_cancel()
        The user asked to cancel the job.
    """

    sig_cancel = Signal()
    """Cancel was clicked."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.label = plain_label(wrap=False)
        self.label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.bar = QProgressBar()
        self.bar.setMaximumHeight(16)
        self.bar.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.sig_cancel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label, 2)
        layout.addWidget(self.bar, 1)
        layout.addWidget(self.cancel_button)
        self.setVisible(False)

    def start(self, text: str) -> None:
        self.label.setText(text)
        self.bar.setRange(0, 0)  # busy until the first progress
        self.setVisible(True)

    def progress(self, p: JobProgress) -> None:
        if p.text:
            self.label.setText(p.text)
        if p.total > 0:
            # QProgressBar takes ints: scale byte counts into 0..1000
            self.bar.setRange(0, 1000)
            self.bar.setValue(int(1000 * min(p.done, p.total) / p.total))
        else:
            self.bar.setRange(0, 0)

    def stop(self) -> None:
        self.setVisible(False)


class HistogramPage(QWidget):
    """The histogram of the finite values (from the statistics job)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.histogram = HistogramView()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.histogram)

    def set_stats(self, stats: TensorStats) -> None:
        hist = stats.histogram
        if hist is not None and len(hist.counts) > 0:
            caption = (f"{len(hist.counts)} bins from {format_value(float(hist.edges[0]))} to "
                       f"{format_value(float(hist.edges[-1]))}; dashed line: mean"
                       + ("" if not (stats.nan or stats.inf) else
                          f" · NaN/Inf ({stats.nan + stats.inf:,}) not counted"))
            self.histogram.set_histogram(hist.edges, hist.counts, mean=stats.mean, caption=caption)
        else:
            self.histogram.clear("No histogram: the tensor has no finite values."
                                 if stats.numel else "No histogram: the tensor is empty.")

    def clear(self, text: str = "") -> None:
        self.histogram.clear(text)


class ValuesPage(QWidget):
    """The first values of a tensor as a table, with Copy and Export buttons."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.info = plain_label()
        self.copy_button = QPushButton("Copy values")
        self.copy_button.setToolTip("Copy the values shown (tab-separated) to the clipboard")
        self.export_button = QPushButton("Export .npy…")
        self.export_button.setToolTip("Save the whole tensor to a new .npy file "
                                      "(the checkpoint is never written)")
        self.model = ValuesTableModel(self)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setAlternatingRowColors(True)
        self.view.horizontalHeader().setDefaultSectionSize(96)
        self.view.horizontalHeader().setResizeContentsPrecision(64)
        self.view.verticalHeader().setDefaultSectionSize(22)
        self.view.setFont(monospace())
        bar = QHBoxLayout()
        bar.addWidget(self.info, 1)
        bar.addWidget(self.copy_button)
        bar.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)

    def show_slice(self, s: ValuesSlice, layout: str) -> None:
        self.model.set_block(s.block, s.row_labels)
        self.view.resizeColumnsToContents()
        self.info.setText(values_caption(s, layout))

    def clear(self, text: str = "") -> None:
        self.model.clear()
        self.info.setText(text)


class HeatmapPage(QWidget):
    """A 2-D tensor as an image (strided down when big)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.info = plain_label()
        self.heatmap = HeatmapView("column (dim 1)", "row (dim 0)")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.info)
        layout.addWidget(self.heatmap, 1)

    def show_slice(self, s: HeatmapSlice) -> None:
        self.heatmap.set_matrix(s.data, rect=(0, 0, s.cols, s.rows))
        self.info.setText(heatmap_caption(s))

    def clear(self, text: str = "") -> None:
        self.heatmap.clear_image()
        self.info.setText(text)


class KernelsPage(QWidget):
    """The first filters of a conv weight as a mosaic of small images.

    Emits
    -----
    sig_options_changed()
        The mode or the number of filters changed: the kernels must be read again.
    """

    sig_options_changed = Signal()
    """The user chose another mode or count."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.mode = QComboBox()
        self.mode.addItem("Mean over input channels", MEAN_CHANNELS)
        self.mode.addItem("First input channel", FIRST_CHANNEL)
        self.count = QSpinBox()
        self.count.setRange(1, MAX_KERNELS)
        self.count.setValue(64)
        self.count.setPrefix("first ")
        self.count.setSuffix(" filters")
        self.info = plain_label()
        self.info.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.kernels = HeatmapView("", "")
        self.kernels.plot_item.hideAxis("bottom")
        self.kernels.plot_item.hideAxis("left")
        self.mode.currentIndexChanged.connect(self.sig_options_changed)
        self.count.valueChanged.connect(self.sig_options_changed)
        bar = QHBoxLayout()
        bar.addWidget(self.mode)
        bar.addWidget(self.count)
        bar.addWidget(self.info, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.kernels, 1)

    def set_input_channels(self, channels: int) -> None:
        """Offer the RGB mode only for 3 input channels."""
        rgb_index = self.mode.findData(RGB)
        if channels == 3 and rgb_index < 0:
            self.mode.addItem("Input channels as RGB", RGB)
        elif channels != 3 and rgb_index >= 0:
            self.mode.removeItem(rgb_index)

    def options(self) -> dict:
        """The job arguments for the current choice."""
        return {"count": self.count.value(), "mode": self.mode.currentData() or MEAN_CHANNELS}

    def show_slice(self, s: KernelsSlice) -> None:
        mosaic = kernel_mosaic(s.images)
        if s.mode == RGB:
            self.kernels.set_rgb(mosaic)
        else:
            self.kernels.set_matrix(mosaic, lock_aspect=True)
        self.info.setText(kernels_caption(s))

    def clear(self, text: str = "") -> None:
        self.kernels.clear_image()
        self.info.setText(text)
