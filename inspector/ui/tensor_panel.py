"""The panel for the selected item: a tensor's layout, statistics, histogram and values.

Metadata shows at once; statistics arrive later (:meth:`TensorPanel.set_stats`, computed
by a background job). Tensor bytes are read only when the Values, Heatmap or Kernels tab
is opened, and then only a bounded slice: at most ``MAX_ROWS`` x ``MAX_COLS`` values, a
matrix strided down to ``MAX_SIDE`` pixels a side, ``MAX_KERNELS`` conv filters.
"""

from __future__ import annotations

import math
import os
import tempfile
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QFont, QGuiApplication
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from inspector.core.checkpoint import (
    BYTES,
    CONTAINER_KINDS,
    NONE,
    OBJECT,
    REF,
    STRING,
    TENSOR,
    TRUNCATED,
    Checkpoint,
    Node,
    TensorInfo,
)
from inspector.core.dtypes import DTYPES
from inspector.core.summary import optimizer_param_labels
from inspector.core.text import format_bytes, format_count, format_value, path_text
from inspector.ui.plots import HeatmapView, HistogramView, kernel_mosaic

if TYPE_CHECKING:
    import torch

    from inspector.core.stats import TensorStats

MAX_ROWS = 1000
MAX_COLS = 100
MAX_SIDE = 1024
MAX_KERNELS = 256
MAX_KERNEL_SIDE = 16
MAX_KERNEL_CHANNELS = 1024
MAX_CHILDREN_LISTED = 200
NUMPY_NATIVE = {"float64", "float32", "float16", "complex64", "complex128", "int64", "int32",
                "int16", "int8", "uint8", "uint16", "uint32", "uint64", "bool"}

MEAN_CHANNELS, FIRST_CHANNEL, RGB = "mean", "first", "rgb"


# ---- Reading bounded slices (torch imported lazily, through ckpt.tensor)
def _as_numpy(t: torch.Tensor, copy: bool = True) -> tuple[np.ndarray, str]:
    """``t`` as numpy (a copy unless ``copy`` is False); dtypes numpy lacks are widened.
    Returns (array, note)."""
    import torch

    name = str(t.dtype).removeprefix("torch.")
    if name in NUMPY_NATIVE:
        array = t.detach().cpu().numpy()
        return (array.copy() if copy else array), ""
    if t.is_complex():
        return t.to(torch.complex64).numpy(), f"{name} shown as complex64"
    if t.is_floating_point():
        return t.to(torch.float32).numpy(), f"{name} shown as float32"
    return t.to(torch.int64).numpy(), f"{name} shown as int64"


def _as_float(t: torch.Tensor) -> np.ndarray:
    import torch

    if t.is_complex():
        t = t.abs()
    # always a copy: an array viewing the file's mapping would keep it from closing
    return np.array(t.to(torch.float32).numpy(), copy=True)


def preview_block(t: torch.Tensor, max_rows: int = MAX_ROWS,
                  max_cols: int = MAX_COLS) -> tuple[np.ndarray, list[str], int, int]:
    """The first values of ``t`` as a 2-D array, reading only what is shown.

    0-D: one cell; 1-D: a column; N-D: flattened to 2-D by the last dimension (rows are the
    leading indices). Returns (block, row labels, total rows, total columns).
    """
    import torch

    if t.dim() == 0:
        return _as_numpy(t.reshape(1, 1))[0], ["()"], 1, 1
    if t.dim() == 1:
        n = t.shape[0]
        block = _as_numpy(t[:max_rows].reshape(-1, 1))[0]
        return block, [str(i) for i in range(block.shape[0])], n, 1
    lead = tuple(t.shape[:-1])
    total_rows = math.prod(lead)
    rows = min(total_rows, max_rows)
    cols = min(t.shape[-1], max_cols)
    narrowed = t[..., :cols]
    if rows == 0 or cols == 0:
        return np.zeros((rows, cols)), [], total_rows, t.shape[-1]
    if t.dim() == 2:
        block = narrowed[:rows]
        labels = [str(i) for i in range(rows)]
    else:
        idx = np.unravel_index(np.arange(rows), lead)
        block = narrowed[tuple(torch.as_tensor(i) for i in idx)]
        labels = [",".join(str(int(i[r])) for i in idx) for r in range(rows)]
    return _as_numpy(block)[0], labels, total_rows, t.shape[-1]


def downsampled_matrix(t: torch.Tensor, max_side: int = MAX_SIDE) -> tuple[np.ndarray, int, int]:
    """A 2-D tensor strided down to at most ``max_side`` a side: (array, row step, col step)."""
    rows, cols = t.shape
    rs = max(1, math.ceil(rows / max_side))
    cs = max(1, math.ceil(cols / max_side))
    return _as_float(t[::rs, ::cs]), rs, cs


def kernel_images(t: torch.Tensor, count: int, mode: str) -> tuple[np.ndarray, str]:
    """The first ``count`` filters of a conv weight (out, in, kh, kw) as small images.

    ``mode``: MEAN_CHANNELS averages the input channels (the first MAX_KERNEL_CHANNELS),
    FIRST_CHANNEL takes channel 0, RGB shows 3-channel kernels as colours (each filter
    scaled to 0..1). Returns (array (N, kh, kw[, 3]), note).
    """
    n = min(count, t.shape[0])
    note = ""
    if mode == RGB and t.shape[1] == 3:
        k = _as_float(t[:n]).transpose(0, 2, 3, 1)  # N, kh, kw, 3
        lo = k.reshape(n, -1).min(axis=1)[:, None, None, None]
        hi = k.reshape(n, -1).max(axis=1)[:, None, None, None]
        span = np.where(hi > lo, hi - lo, 1.0)
        return (k - lo) / span, "each filter scaled to its own range"
    if mode == FIRST_CHANNEL:
        return _as_float(t[:n, 0]), "input channel 0"
    channels = min(t.shape[1], MAX_KERNEL_CHANNELS)
    if channels < t.shape[1]:
        note = f"mean of the first {channels} of {t.shape[1]} input channels"
    else:
        note = f"mean over {channels} input channel{'s' if channels != 1 else ''}"
    return _as_float(t[:n, :channels]).mean(axis=1), note


def _cell_text(v: object) -> str:
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
        self._row_labels: list[str] = []

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
            return _cell_text(v) if role == Qt.ItemDataRole.DisplayRole else repr(v.item())
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
    def set_block(self, block: np.ndarray, row_labels: list[str]) -> None:
        self.beginResetModel()
        self._block = block
        self._row_labels = row_labels
        self.endResetModel()

    def block(self) -> np.ndarray:
        return self._block

    def as_text(self) -> str:
        """Tab-separated values, one line per row (for the clipboard)."""
        return "\n".join("\t".join(_cell_text(v) for v in row) for row in self._block)


def _bold(label: QLabel) -> QLabel:
    f = label.font()
    f.setBold(True)
    label.setFont(f)
    return label


def _value_label() -> QLabel:
    lab = QLabel("—")
    lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    lab.setWordWrap(True)
    return lab


STAT_FIELDS = (("mean", "Mean"), ("std", "Std"), ("min", "Min"), ("max", "Max"),
               ("abs_mean", "Abs mean"), ("l2", "L2 norm"), ("zeros", "Zeros"),
               ("nan", "NaN"), ("inf", "Inf"))
TENSOR_FIELDS = (("dtype", "Dtype"), ("shape", "Shape"), ("numel", "Elements"),
                 ("bytes", "Bytes"), ("stride", "Strides"), ("offset", "Storage offset"),
                 ("storage", "Storage"), ("shared", "Sharing"), ("device", "Saved on"),
                 ("layout", "Layout"), ("kind", "Kind"), ("optimizer", "Optimizer state of"),
                 ("note", "Note"))


class TensorPanel(QWidget):
    """Details of the selected tree item: tensor layout, statistics, histogram, values,
    heatmap (2-D) and kernels (4-D conv weights); value text for other items."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._ckpt: Checkpoint | None = None
        self._node: Node | None = None
        self._stats: TensorStats | None = None
        self._loaded: set[str] = set()
        self._cache_ckpt: Checkpoint | None = None
        self._labels: dict[tuple, str] = {}
        self._shared: dict[tuple, list[tuple]] = {}

        self.title = _bold(QLabel("Nothing selected"))
        self.title.setWordWrap(True)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        f = self.title.font()
        f.setPointSizeF(f.pointSizeF() * 1.15)
        self.title.setFont(f)
        self.subtitle = QLabel()
        self.subtitle.setWordWrap(True)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.message.setVisible(False)
        self.message.setStyleSheet("QLabel { background: rgba(230, 160, 40, 50); "
                                   "border: 1px solid rgba(200, 130, 20, 160); "
                                   "border-radius: 4px; padding: 4px; }")

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self._build_overview()
        self._build_histogram()
        self._build_values()
        self._build_heatmap()
        self._build_kernels()
        self.tabs.currentChanged.connect(self._on_tab_changed)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.title)
        layout.addWidget(self.subtitle)
        layout.addWidget(self.message)
        layout.addWidget(self.tabs, 1)
        self.clear()

    # ---- Public API
    def show_tensor(self, ckpt: Checkpoint, node: Node, stats: TensorStats | None = None) -> None:
        """Show ``node`` (a tensor) of ``ckpt``; ``stats`` may come later via set_stats."""
        if node.kind != TENSOR or node.tensor is None:
            self.show_node(ckpt, node)
            return
        self._set_item(ckpt, node)
        info = node.tensor
        self.title.setText(path_text(node.path()))
        self.subtitle.setText(f"{node.type_name or 'Tensor'} · {info.dtype} "
                              f"{list(info.shape)} · {format_count(info.numel)} elements · "
                              f"{format_bytes(info.nbytes)}")
        self._fill_tensor_fields(ckpt, node, info)
        self._tensor_box.setVisible(True)
        self._stats_box.setVisible(True)
        self._node_box.setVisible(False)
        problem = self._unreadable_reason(info)
        self._show_message(problem)
        readable = problem is None
        dense = info.layout in ("strided", "sharded")
        is_2d = readable and dense and len(info.shape) == 2 and info.numel > 0
        is_conv = (readable and dense and len(info.shape) == 4
                   and info.numel > 0 and info.shape[2] <= MAX_KERNEL_SIDE
                   and info.shape[3] <= MAX_KERNEL_SIDE)
        self.tabs.setTabVisible(self.tabs.indexOf(self.histogram_tab), True)
        self.tabs.setTabVisible(self.tabs.indexOf(self.values_tab), readable and info.numel > 0)
        self.tabs.setTabVisible(self.tabs.indexOf(self.heatmap_tab), is_2d)
        self.tabs.setTabVisible(self.tabs.indexOf(self.kernels_tab), is_conv)
        if is_conv:
            rgb_index = self.kernel_mode.findData(RGB)
            if info.shape[1] == 3 and rgb_index < 0:
                self.kernel_mode.addItem("Input channels as RGB", RGB)
            elif info.shape[1] != 3 and rgb_index >= 0:
                self.kernel_mode.removeItem(rgb_index)
        self.copy_button.setEnabled(readable)
        self.export_button.setEnabled(readable and info.numel > 0)
        self._stats = None
        self._clear_stats()
        if stats is not None:
            self.set_stats(stats)
        self._load_current_tab()

    def set_stats(self, stats: TensorStats) -> None:
        """Fill the statistics and the histogram for the tensor shown."""
        if self._node is None or self._node.kind != TENSOR:
            return
        self._stats = stats
        numel = getattr(stats, "numel", 0) or 0

        def num(name: str) -> str:
            v = getattr(stats, name, None)
            return "—" if v is None else format_value(float(v))

        for key, _ in STAT_FIELDS:
            label = self.stat_labels[key]
            label.setStyleSheet("")
            if key == "zeros":
                z = getattr(stats, "zeros", None)
                label.setText("—" if z is None else
                              f"{z:,} ({100.0 * z / numel:.2f} %)" if numel else f"{z:,}")
            elif key in ("nan", "inf"):
                v = getattr(stats, key, None)
                label.setText("—" if v is None else f"{v:,}")
                if v:
                    label.setStyleSheet("QLabel { color: #d03030; font-weight: bold; }")
            else:
                label.setText(num(key))
        status = f"{numel:,} values" + (
            f", {stats.finite:,} finite" if getattr(stats, "finite", None) is not None
            and stats.finite != numel else "")
        note = getattr(stats, "note", "")
        self.stats_status.setText(status + (f" · {note}" if note else ""))
        hist = getattr(stats, "histogram", None)
        if hist is not None and len(hist.counts) > 0:
            caption = (f"{len(hist.counts)} bins from {format_value(float(hist.edges[0]))} to "
                       f"{format_value(float(hist.edges[-1]))}; dashed line: mean"
                       + ("" if not (stats.nan or stats.inf) else
                          f" · NaN/Inf ({stats.nan + stats.inf:,}) not counted"))
            self.histogram.set_histogram(hist.edges, hist.counts, mean=stats.mean, caption=caption)
        else:
            self.histogram.clear("No histogram: the tensor has no finite values."
                                 if numel else "No histogram: the tensor is empty.")

    def set_stats_error(self, message: str) -> None:
        """Say why the statistics of the tensor shown could not be computed."""
        if self._node is None or self._node.kind != TENSOR:
            return
        for lab in self.stat_labels.values():
            lab.setText("—")
        self.stats_status.setText(f"Statistics failed: {message}")
        self.histogram.clear(f"No histogram: {message}")

    def show_node(self, ckpt: Checkpoint, node: Node) -> None:
        """Show a non-tensor item: its value, object text or container summary."""
        if node.kind == TENSOR and node.tensor is not None:
            self.show_tensor(ckpt, node)
            return
        self._set_item(ckpt, node)
        self._stats = None
        self.title.setText(path_text(node.path()))
        self._tensor_box.setVisible(False)
        self._stats_box.setVisible(False)
        self._node_box.setVisible(True)
        for tab in (self.histogram_tab, self.values_tab, self.heatmap_tab, self.kernels_tab):
            self.tabs.setTabVisible(self.tabs.indexOf(tab), False)
        self.tabs.setCurrentWidget(self.overview_tab)
        subtitle, rows, text = self._describe_node(ckpt, node)
        self.subtitle.setText(subtitle)
        self._show_message(None)
        while self._node_form.rowCount():
            self._node_form.removeRow(0)
        for name, value in rows:
            lab = _value_label()
            lab.setText(value)
            self._node_form.addRow(_bold(QLabel(name)), lab)
        self.node_text.setPlainText(text)
        self.node_text.setVisible(bool(text))

    def clear(self) -> None:
        """Show nothing (no file, or nothing selected)."""
        self._ckpt = None
        self._node = None
        self._stats = None
        self._loaded.clear()
        self.title.setText("Nothing selected")
        self.subtitle.setText("Select a tensor or an item in the tree.")
        self._show_message(None)
        self._tensor_box.setVisible(False)
        self._stats_box.setVisible(False)
        self._node_box.setVisible(False)
        for tab in (self.histogram_tab, self.values_tab, self.heatmap_tab, self.kernels_tab):
            self.tabs.setTabVisible(self.tabs.indexOf(tab), False)
        self.values_model.set_block(np.zeros((0, 0)), [])
        self.histogram.clear()
        self.heatmap.clear_image()
        self.kernels.clear_image()
        self.copy_button.setEnabled(False)
        self.export_button.setEnabled(False)
        self._set_export_status("")

    def copy_values(self) -> None:
        """Put the values preview (tab-separated) on the clipboard."""
        self._ensure_loaded("values")
        text = self.values_model.as_text()
        QGuiApplication.clipboard().setText(text)
        self._set_export_status(f"Copied {self.values_model.rowCount()} × "
                                   f"{self.values_model.columnCount()} values.")

    def export_npy(self) -> str | None:
        """Ask for a NEW file name and write the whole tensor there as .npy.

        The checkpoint itself is never written: choosing it (or one of its shard files)
        is refused. Returns the path written, or None.
        """
        if self._ckpt is None or self._node is None or self._node.kind != TENSOR:
            return None
        info = self._node.tensor
        default = "_".join(str(k) for k in self._node.path()) or "tensor"
        default = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in default) + ".npy"
        start = os.path.join(os.path.dirname(os.path.abspath(self._ckpt.path)), default)
        target, _ = QFileDialog.getSaveFileName(self, "Export tensor as .npy", start,
                                                "NumPy array (*.npy)")
        if not target:
            return None
        if not target.endswith(".npy"):
            target += ".npy"
        protected = {os.path.realpath(self._ckpt.path)}
        for st in (info.storage, *info.extra_storages):
            if st is not None:
                protected.add(os.path.realpath(st.file))
        if os.path.realpath(target) in protected or (
                os.path.isdir(self._ckpt.path)
                and os.path.realpath(target).startswith(os.path.realpath(self._ckpt.path) + os.sep)
                and os.path.exists(target)):
            self._set_export_status("Refused: that is the checkpoint itself; choose a new file.")
            return None
        try:
            t = self._ckpt.tensor(info)
            array, note = _as_numpy(t, copy=False)
            directory = os.path.dirname(os.path.abspath(target))
            fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".npy", dir=directory)
            try:
                with os.fdopen(fd, "wb") as fh:
                    np.save(fh, array, allow_pickle=False)
                os.replace(tmp, target)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
        except Exception as e:  # noqa: BLE001 - shown to the user, the app keeps running
            self._set_export_status(f"Export failed: {e}")
            return None
        if info.layout.startswith("sparse"):
            note = (note + "; " if note else "") + "stored values of a sparse tensor only"
        elif info.layout == "quantized":
            note = (note + "; " if note else "") + "integer representation (no scale/zero point)"
        self._set_export_status(f"Exported {os.path.basename(target)}"
                                   + (f" ({note})" if note else "") + ".")
        return target

    # ---- Private API: building
    def _build_overview(self) -> None:
        self.overview_tab = QWidget()
        self.field_labels: dict[str, QLabel] = {}
        self._field_rows: dict[str, QLabel] = {}
        self._tensor_box = QGroupBox("Tensor")
        self._tensor_form = QFormLayout(self._tensor_box)
        self._tensor_form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        for key, title in TENSOR_FIELDS:
            lab = _value_label()
            name = QLabel(title)
            self.field_labels[key] = lab
            self._field_rows[key] = name
            self._tensor_form.addRow(name, lab)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        for key in ("shape", "stride"):
            self.field_labels[key].setFont(mono)

        self._stats_box = QGroupBox("Statistics")
        grid = QGridLayout(self._stats_box)
        self.stat_labels: dict[str, QLabel] = {}
        for i, (key, title) in enumerate(STAT_FIELDS):
            r, c = divmod(i, 3)
            name = QLabel(title)
            lab = _value_label()
            self.stat_labels[key] = lab
            grid.addWidget(name, r, 2 * c)
            grid.addWidget(lab, r, 2 * c + 1)
            grid.setColumnStretch(2 * c + 1, 1)
        self.stats_status = QLabel()
        self.stats_status.setWordWrap(True)
        grid.addWidget(self.stats_status, 3, 0, 1, 6)

        self._node_box = QGroupBox("Item")
        node_layout = QVBoxLayout(self._node_box)
        self._node_form = QFormLayout()
        self._node_form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        node_layout.addLayout(self._node_form)
        self.node_text = QPlainTextEdit()
        self.node_text.setReadOnly(True)
        self.node_text.setFont(mono)
        self.node_text.setMinimumHeight(120)
        node_layout.addWidget(self.node_text, 1)

        inner = QWidget()
        v = QVBoxLayout(inner)
        v.setContentsMargins(0, 4, 0, 0)
        v.addWidget(self._tensor_box)
        v.addWidget(self._stats_box)
        v.addWidget(self._node_box, 1)
        v.addStretch(0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(inner)
        outer = QVBoxLayout(self.overview_tab)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.tabs.addTab(self.overview_tab, "Overview")

    def _build_histogram(self) -> None:
        self.histogram_tab = QWidget()
        self.histogram = HistogramView()
        self.log_check = self.histogram.log_check
        layout = QVBoxLayout(self.histogram_tab)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.histogram)
        self.tabs.addTab(self.histogram_tab, "Histogram")

    def _build_values(self) -> None:
        self.values_tab = QWidget()
        self.values_info = QLabel()
        self.values_info.setWordWrap(True)
        self.copy_button = QPushButton("Copy values")
        self.copy_button.setToolTip("Copy the values shown (tab-separated) to the clipboard")
        self.copy_button.clicked.connect(self.copy_values)
        self.export_button = QPushButton("Export .npy…")
        self.export_button.setToolTip("Save the whole tensor to a new .npy file "
                                      "(the checkpoint is never written)")
        self.export_button.clicked.connect(self.export_npy)
        self.export_status = QLabel()
        self.export_status.setWordWrap(True)
        self.export_status.setVisible(False)
        self.values_model = ValuesTableModel(self)
        self.values_view = QTableView()
        self.values_view.setModel(self.values_model)
        self.values_view.setAlternatingRowColors(True)
        self.values_view.horizontalHeader().setDefaultSectionSize(96)
        self.values_view.horizontalHeader().setResizeContentsPrecision(64)
        self.values_view.verticalHeader().setDefaultSectionSize(22)
        mono = QFont("monospace")
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.values_view.setFont(mono)
        bar = QHBoxLayout()
        bar.addWidget(self.values_info, 1)
        bar.addWidget(self.copy_button)
        bar.addWidget(self.export_button)
        layout = QVBoxLayout(self.values_tab)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.export_status)
        layout.addWidget(self.values_view, 1)
        self.tabs.addTab(self.values_tab, "Values")

    def _build_heatmap(self) -> None:
        self.heatmap_tab = QWidget()
        self.heatmap_info = QLabel()
        self.heatmap_info.setWordWrap(True)
        self.heatmap = HeatmapView("column (dim 1)", "row (dim 0)")
        layout = QVBoxLayout(self.heatmap_tab)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addWidget(self.heatmap_info)
        layout.addWidget(self.heatmap, 1)
        self.tabs.addTab(self.heatmap_tab, "Heatmap")

    def _build_kernels(self) -> None:
        self.kernels_tab = QWidget()
        self.kernel_mode = QComboBox()
        self.kernel_mode.addItem("Mean over input channels", MEAN_CHANNELS)
        self.kernel_mode.addItem("First input channel", FIRST_CHANNEL)
        self.kernel_count = QSpinBox()
        self.kernel_count.setRange(1, MAX_KERNELS)
        self.kernel_count.setValue(64)
        self.kernel_count.setPrefix("first ")
        self.kernel_count.setSuffix(" filters")
        self.kernels_info = QLabel()
        self.kernels_info.setWordWrap(True)
        self.kernels_info.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.kernels = HeatmapView("", "")
        self.kernels.plot_item.hideAxis("bottom")
        self.kernels.plot_item.hideAxis("left")
        self.kernel_mode.currentIndexChanged.connect(self._reload_kernels)
        self.kernel_count.valueChanged.connect(self._reload_kernels)
        bar = QHBoxLayout()
        bar.addWidget(self.kernel_mode)
        bar.addWidget(self.kernel_count)
        bar.addWidget(self.kernels_info, 1)
        layout = QVBoxLayout(self.kernels_tab)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.kernels, 1)
        self.tabs.addTab(self.kernels_tab, "Kernels")

    # ---- Private API: filling
    def _set_item(self, ckpt: Checkpoint, node: Node) -> None:
        self._ckpt = ckpt
        self._node = node
        self._loaded.clear()
        self._set_export_status("")
        self.values_model.set_block(np.zeros((0, 0)), [])
        self.values_info.setText("")
        self.heatmap.clear_image()
        self.heatmap_info.setText("")
        self.kernels.clear_image()
        self.kernels_info.setText("")
        if self._cache_ckpt is not ckpt:
            self._cache_ckpt = ckpt
            self._labels = optimizer_param_labels(ckpt)
            self._shared = {}
            for paths in ckpt.shared_groups().values():
                for p in paths:
                    self._shared[p] = [q for q in paths if q != p]

    def _fill_tensor_fields(self, ckpt: Checkpoint, node: Node, info: TensorInfo) -> None:
        st = info.storage
        values = {
            "dtype": info.dtype + (f" ({DTYPES[info.dtype].kind})" if info.dtype in DTYPES else ""),
            "shape": f"{list(info.shape)}  ({len(info.shape)}-D)",
            "numel": f"{info.numel:,}",
            "bytes": f"{format_bytes(info.nbytes)} ({info.nbytes:,} B, {info.itemsize} B each)",
            "stride": f"{list(info.stride)}  "
                      f"({'contiguous' if info.is_contiguous() else 'not contiguous'})",
            "offset": f"{info.storage_offset:,} elements",
            "storage": (f"record {st.key!r}: {st.numel:,} × {st.dtype}, {format_bytes(st.nbytes)}"
                        + (f" in {os.path.basename(st.file)}"
                           if os.path.realpath(st.file) != os.path.realpath(ckpt.path) else "")
                        if st is not None else "none (no data in the file)"),
            "shared": self._sharing_text(ckpt, node, info),
            "device": info.device + ("  (loads on CPU here; use map_location elsewhere)"
                                     if info.device not in ("cpu", "") else ""),
            "layout": info.layout,
            "kind": ("Parameter" if info.is_parameter else "Tensor")
                    + (", requires_grad" if info.requires_grad else ""),
            "optimizer": self._optimizer_text(node),
            "note": info.note,
        }
        for key, lab in self.field_labels.items():
            text = values.get(key, "")
            lab.setText(text)
            visible = bool(text)
            lab.setVisible(visible)
            self._field_rows[key].setVisible(visible)

    def _sharing_text(self, ckpt: Checkpoint, node: Node, info: TensorInfo) -> str:
        others = self._shared.get(node.path(), [])
        if not others:
            return "own storage" if info.storage is not None else ""
        parts = []
        for p in others[:6]:
            other = ckpt.find(p)
            same = (other is not None and other.tensor is not None
                    and other.tensor.storage_offset == info.storage_offset
                    and tuple(other.tensor.shape) == tuple(info.shape)
                    and tuple(other.tensor.stride) == tuple(info.stride))
            parts.append(path_text(p) + ("" if same else " (a different view)"))
        more = f" and {len(others) - 6} more" if len(others) > 6 else ""
        return "shares storage with " + ", ".join(parts) + more + " (stored once)"

    def _optimizer_text(self, node: Node) -> str:
        path = node.path()
        for cut in (len(path), len(path) - 1):
            name = self._labels.get(path[:cut])
            if name is not None:
                return f"{name}" + (f" ({path[-1]})" if cut < len(path) else "")
        return ""

    @staticmethod
    def _unreadable_reason(info: TensorInfo) -> str | None:
        if info.layout == "meta":
            return "This tensor has no data: it was saved on the meta device (shape only)."
        if info.storage is None and not (info.layout == "sharded" and info.chunks):
            return "This tensor has no data in the file" + (f" ({info.note})." if info.note else ".")
        if info.note in ("view exceeds its storage", "negative stride"):
            return f"The values cannot be read: {info.note} (the file looks corrupt)."
        return None

    def _clear_stats(self) -> None:
        for lab in self.stat_labels.values():
            lab.setText("…")
            lab.setStyleSheet("")
        info = self._node.tensor if self._node is not None else None
        if info is not None and self._unreadable_reason(info) is not None:
            self.stats_status.setText("No statistics: the values cannot be read.")
            self.histogram.clear("No histogram: the values cannot be read.")
        else:
            self.stats_status.setText("No statistics yet: they appear once computed.")
            self.histogram.clear("The histogram appears once statistics are computed.")

    def _set_export_status(self, text: str) -> None:
        self.export_status.setText(text)
        self.export_status.setVisible(bool(text))

    def _show_message(self, text: str | None) -> None:
        self.message.setText(text or "")
        self.message.setVisible(bool(text))

    def _describe_node(self, ckpt: Checkpoint, node: Node) -> tuple[str, list[tuple[str, str]], str]:
        kind = node.kind
        rows: list[tuple[str, str]] = [("Type", node.type_name or kind)]
        if kind == STRING:
            return f"str · {len(node.value):,} characters", rows, node.value
        if kind == BYTES:
            data = node.value or b""
            hexed = " ".join(f"{b:02x}" for b in data)
            return f"{node.type_name} (first {len(data)} bytes shown)", rows, hexed
        if kind == NONE:
            return "None", rows, ""
        if kind == REF:
            rows.append(("Same object as", str(node.value)))
            return "a second reference to an object shown elsewhere", rows, ""
        if kind == TRUNCATED:
            return "nested too deeply to show", rows, ""
        if kind not in CONTAINER_KINDS:
            rows.append(("Value", format_value(node.value)))
            return f"{node.type_name} · {format_value(node.value)}", rows, repr(node.value)
        # containers and objects
        n = len(node.children)
        tensors = numel = 0
        nbytes = 0
        seen: set = set()
        for d in node.walk():
            if d.kind == TENSOR and d.tensor is not None:
                tensors += 1
                numel += d.tensor.numel
                st = d.tensor.storage
                ident = st.ident if st is not None else id(d)
                if ident not in seen:
                    seen.add(ident)
                    nbytes += st.nbytes if st is not None else 0
        rows.append(("Items", f"{n:,}"))
        if tensors:
            rows.append(("Tensors inside", f"{tensors:,} · {format_count(numel)} elements · "
                                           f"{format_bytes(nbytes)} of storage"))
        label = self._labels.get(node.path())
        if label:
            rows.append(("Optimizer state of", label))
        lines = []
        for c in node.children[:MAX_CHILDREN_LISTED]:
            lines.append(f"{c.key}: {self._child_summary(c)}")
        if n > MAX_CHILDREN_LISTED:
            lines.append(f"… {n - MAX_CHILDREN_LISTED:,} more")
        text = "\n".join(lines)
        if kind == OBJECT:
            rows.insert(1, ("Object", str(node.value or node.type_name)))
            text = (f"{node.value}\n\n" if node.value else "") + text
            sub = f"object of class {node.type_name} (not executed) · {n:,} attributes"
        else:
            sub = f"{node.type_name or kind} · {n:,} item{'s' if n != 1 else ''}"
        return sub, rows, text

    @staticmethod
    def _child_summary(c: Node) -> str:
        if c.kind == TENSOR and c.tensor is not None:
            return f"{c.tensor.dtype} {list(c.tensor.shape)}"
        if c.kind in ("list", "tuple") and 0 < len(c.children) <= 8 and all(
                g.kind in ("scalar", "none") for g in c.children):
            return format_value(tuple(g.value for g in c.children) if c.kind == "tuple"
                                else [g.value for g in c.children])
        if c.kind in CONTAINER_KINDS:
            return f"{c.type_name or c.kind} ({len(c.children)} items)"
        if c.kind == STRING:
            return repr(format_value(c.value))
        if c.kind == NONE:
            return "None"
        if c.kind == REF:
            return f"→ {c.value}"
        return format_value(c.value)

    # ---- Private API: lazy tabs (the only places that read tensor bytes)
    def _on_tab_changed(self, _index: int) -> None:
        self._load_current_tab()

    def _load_current_tab(self) -> None:
        current = self.tabs.currentWidget()
        name = {self.values_tab: "values", self.heatmap_tab: "heatmap",
                self.kernels_tab: "kernels"}.get(current)
        if name is not None and self.tabs.isTabVisible(self.tabs.currentIndex()):
            self._ensure_loaded(name)

    def _ensure_loaded(self, name: str) -> None:
        if name in self._loaded or self._ckpt is None or self._node is None:
            return
        if self._node.kind != TENSOR or self._unreadable_reason(self._node.tensor):
            return
        self._loaded.add(name)
        try:
            t = self._ckpt.tensor(self._node.tensor)
            if name == "values":
                self._load_values(t)
            elif name == "heatmap":
                self._load_heatmap(t)
            elif name == "kernels":
                self._load_kernels(t)
        except Exception as e:  # noqa: BLE001 - an unreadable tensor is a message, not a crash
            self._show_message(f"The values cannot be read: {e}")

    def _load_values(self, t: torch.Tensor) -> None:
        info = self._node.tensor
        block, labels, total_rows, total_cols = preview_block(t)
        note = _as_numpy_note(t)
        self.values_model.set_block(block, labels)
        self.values_view.resizeColumnsToContents()
        shown_r, shown_c = block.shape
        if t.dim() <= 1:
            text = f"Values 0–{shown_r - 1:,} of {total_rows:,}" if shown_r else "No values"
        else:
            text = (f"Rows 0–{shown_r - 1:,} of {total_rows:,} × columns 0–{shown_c - 1:,} "
                    f"of {total_cols:,}")
            if t.dim() > 2:
                text += " (flattened to 2-D by the last dimension; rows show the leading index)"
        if info.layout.startswith("sparse"):
            text += " · stored values of a sparse tensor (indices not shown)"
        elif info.layout == "quantized":
            text += " · integer representation (scale and zero point not applied)"
        if note:
            text += f" · {note}"
        self.values_info.setText(text)

    def _load_heatmap(self, t: torch.Tensor) -> None:
        data, rs, cs = downsampled_matrix(t)
        rows, cols = t.shape
        self.heatmap.set_matrix(data, rect=(0, 0, cols, rows))
        text = f"{rows:,} × {cols:,}"
        if rs > 1 or cs > 1:
            text += (f" · downsampled: 1 in {rs} rows, 1 in {cs} columns "
                     f"({data.shape[0]:,}×{data.shape[1]:,} shown)")
        if t.is_complex():
            text += " · magnitude of complex values"
        self.heatmap_info.setText(text + " · colour range: 0.5–99.5th percentile")

    def _load_kernels(self, t: torch.Tensor) -> None:
        mode = self.kernel_mode.currentData() or MEAN_CHANNELS
        images, note = kernel_images(t, self.kernel_count.value(), mode)
        n = images.shape[0]
        mosaic = kernel_mosaic(images)
        if mode == RGB:
            self.kernels.set_rgb(mosaic)
        else:
            self.kernels.set_matrix(mosaic, lock_aspect=True)
        cols = max(1, math.ceil(math.sqrt(n)))
        self.kernels_info.setText(f"{n} of {t.shape[0]} filters, {t.shape[2]}×{t.shape[3]} each, "
                                  f"{cols} per row, filter 0 at top left · {note}")

    def _reload_kernels(self, *_args) -> None:
        self._loaded.discard("kernels")
        self._load_current_tab()


def _as_numpy_note(t: torch.Tensor) -> str:
    name = str(t.dtype).removeprefix("torch.")
    if name in NUMPY_NATIVE:
        return ""
    return f"{name} shown as {'complex64' if t.is_complex() else 'float32' if t.is_floating_point() else 'int64'}"
