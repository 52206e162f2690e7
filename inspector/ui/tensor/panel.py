"""The panel for the selected item: a tensor's layout, statistics, histogram and values.

Metadata shows at once; statistics arrive later (:meth:`TensorPanel.set_stats`, computed by
the statistics job). Tensor bytes are never read on the GUI thread: the Values, Heatmap and
Kernels tabs read a bounded slice, and "Export .npy" streams the whole tensor, as jobs of
the window's tensor runner (:mod:`inspector.core.tensor_view` in a worker process), with
progress and Cancel in the panel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QTabWidget, QVBoxLayout, QWidget

from inspector.core.checkpoint import TENSOR, Checkpoint, Node
from inspector.core.jobs import JobFailure, JobProgress
from inspector.core.tensor_view import (
    HEATMAP,
    KERNELS,
    MAX_KERNEL_SIDE,
    VALUES,
    ExportDone,
    HeatmapSlice,
    KernelsSlice,
    ValuesSlice,
    export_refusal,
)
from inspector.core.text import path_text, safe_str
from inspector.ui.tensor.details import (
    ItemDetails,
    export_caption,
    tensor_subtitle,
    unreadable_reason,
)
from inspector.ui.tensor.overview import OverviewPage
from inspector.ui.tensor.pages import (
    HeatmapPage,
    HistogramPage,
    JobBar,
    KernelsPage,
    ValuesPage,
    bold,
    plain_label,
)

if TYPE_CHECKING:
    from inspector.core.stats import TensorStats
    from inspector.ui.workers import ProcessJobs

READ_TARGET = "inspector.core.tensor_view:read_slice"
EXPORT_TARGET = "inspector.core.tensor_view:export_npy"
PANEL_STRETCH = 2  # the tree's share is 3 (ui/checkpoint_view.py)
MESSAGE_STYLE = ("QLabel { background: rgba(230, 160, 40, 50); "
                 "border: 1px solid rgba(200, 130, 20, 160); border-radius: 4px; padding: 4px; }")


@dataclass(frozen=True)
class _Read:
    job_id: int
    kind: str


@dataclass
class _Export:
    job_id: int
    dest: str
    layout: str
    written: bool = False


class TensorPanel(QWidget):
    """Details of the selected tree item: tensor layout, statistics, histogram, values,
    heatmap (2-D) and kernels (4-D conv weights); value text for other items.

    ``jobs`` is the window's tensor runner (``Runners.tensor``); the panel submits its
    slices and exports there and never starts threads or processes itself.
    """

    def __init__(self, jobs: ProcessJobs, parent: QWidget | None = None):
        super().__init__(parent)
        self._jobs = jobs
        self._ckpt: Checkpoint | None = None
        self._node: Node | None = None
        self._details: ItemDetails | None = None
        self._loaded: set[str] = set()  # slices read (or being read) for the item shown
        self._read: _Read | None = None
        self._export: _Export | None = None
        self._copy_pending = False

        self.title = bold(plain_label("Nothing selected", selectable=True))
        f = self.title.font()
        f.setPointSizeF(f.pointSizeF() * 1.15)
        self.title.setFont(f)
        self.subtitle = plain_label()
        self.message = plain_label()
        self.message.setVisible(False)
        self.message.setStyleSheet(MESSAGE_STYLE)
        self.read_bar = JobBar()
        self.read_bar.sig_cancel.connect(self._on_read_cancel_clicked)
        self.export_bar = JobBar()
        self.export_bar.sig_cancel.connect(self.cancel_export)
        self.export_status = plain_label()
        self.export_status.setVisible(False)

        self.overview_tab = OverviewPage()
        self.histogram_tab = HistogramPage()
        self.values_tab = ValuesPage()
        self.heatmap_tab = HeatmapPage()
        self.kernels_tab = KernelsPage()
        self.values_tab.copy_button.clicked.connect(self.copy_values)
        self.values_tab.export_button.clicked.connect(self.export_npy)
        self.kernels_tab.sig_options_changed.connect(self._reload_kernels)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        for page, name in ((self.overview_tab, "Overview"), (self.histogram_tab, "Histogram"),
                           (self.values_tab, "Values"), (self.heatmap_tab, "Heatmap"),
                           (self.kernels_tab, "Kernels")):
            self.tabs.addTab(page, name)
        self.tabs.currentChanged.connect(self._load_current_tab)

        # The window's splitter gives the panel this share of any extra width (its stretch
        # factor lives in the size policy, and the panel replaces a placeholder there): a
        # grown window grows the panel too, tree 3 : panel 2.
        policy = self.sizePolicy()
        policy.setHorizontalStretch(PANEL_STRETCH)
        self.setSizePolicy(policy)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        for widget in (self.title, self.subtitle, self.message, self.read_bar,
                       self.export_bar, self.export_status):
            layout.addWidget(widget)
        layout.addWidget(self.tabs, 1)
        jobs.sig_item.connect(self._on_job_item)
        jobs.sig_finished.connect(self._on_job_finished)
        jobs.sig_crashed.connect(self._on_job_crashed)
        self.clear()

    # ---- Public API
    @property
    def stats_status(self):
        """The line under the statistics (what is known, or why nothing is)."""
        return self.overview_tab.stats_status

    def show_tensor(self, ckpt: Checkpoint, node: Node, stats: TensorStats | None = None) -> None:
        """Show ``node`` (a tensor) of ``ckpt``; ``stats`` may come later via set_stats."""
        if node.kind != TENSOR or node.tensor is None:
            self.show_node(ckpt, node)
            return
        self._set_item(ckpt, node)
        info = node.tensor
        self.title.setText(path_text(node.path()))
        self.subtitle.setText(tensor_subtitle(node, info))
        self.overview_tab.show_tensor(self._details.tensor_fields(node, info))
        problem = unreadable_reason(info)
        self._show_message(problem)
        readable = problem is None
        dense = info.layout in ("strided", "sharded")
        is_2d = readable and dense and len(info.shape) == 2 and info.numel > 0
        is_conv = (readable and dense and len(info.shape) == 4
                   and info.numel > 0 and info.shape[2] <= MAX_KERNEL_SIDE
                   and info.shape[3] <= MAX_KERNEL_SIDE)
        self._set_tabs_visible(histogram=True, values=readable and info.numel > 0,
                               heatmap=is_2d, kernels=is_conv)
        if is_conv:
            self.kernels_tab.set_input_channels(info.shape[1])
        self.values_tab.copy_button.setEnabled(readable)
        self._update_export_button()
        if readable:
            self._clear_stats("No statistics yet: they appear once computed.",
                              "The histogram appears once statistics are computed.")
        else:
            self._clear_stats("No statistics: the values cannot be read.",
                              "No histogram: the values cannot be read.")
        if stats is not None:
            self.set_stats(stats)
        self._load_current_tab()

    def set_stats(self, stats: TensorStats) -> None:
        """Fill the statistics and the histogram for the tensor shown."""
        if self._node is None or self._node.kind != TENSOR:
            return
        self.overview_tab.set_stats(stats)
        self.histogram_tab.set_stats(stats)

    def set_stats_error(self, message: str) -> None:
        """Say why the statistics of the tensor shown could not be computed."""
        if self._node is None or self._node.kind != TENSOR:
            return
        self.overview_tab.set_stats_error(message)
        self.histogram_tab.clear(f"No histogram: {message}")

    def show_node(self, ckpt: Checkpoint, node: Node) -> None:
        """Show a non-tensor item: its value, object text or container summary."""
        if node.kind == TENSOR and node.tensor is not None:
            self.show_tensor(ckpt, node)
            return
        self._set_item(ckpt, node)
        self.title.setText(path_text(node.path()))
        self._set_tabs_visible()
        self.tabs.setCurrentWidget(self.overview_tab)
        subtitle, rows, text = self._details.describe_node(node)
        self.subtitle.setText(subtitle)
        self._show_message(None)
        self.overview_tab.show_node(rows, text)
        self._update_export_button()

    def clear(self) -> None:
        """Show nothing (no file, or nothing selected). A running export goes on."""
        self._cancel_read()
        self._ckpt = None
        self._node = None
        self._loaded.clear()
        self._copy_pending = False
        self.title.setText("Nothing selected")
        self.subtitle.setText("Select a tensor or an item in the tree.")
        self._show_message(None)
        self.overview_tab.show_nothing()
        self._set_tabs_visible()
        for page in (self.values_tab, self.heatmap_tab, self.kernels_tab, self.histogram_tab):
            page.clear()
        self.values_tab.copy_button.setEnabled(False)
        self._update_export_button()
        if self._export is None:
            self._set_export_status("")

    def is_busy(self) -> bool:
        """True while a slice is being read or an export runs."""
        return self._read is not None or self._export is not None

    def copy_values(self) -> None:
        """Put the values preview (tab-separated) on the clipboard, once it has been read."""
        if VALUES in self._loaded and (self._read is None or self._read.kind != VALUES):
            self._copy_now()
            return
        self._copy_pending = True
        self._ensure_loaded(VALUES)

    def export_npy(self) -> str | None:
        """Ask for a NEW file name and start writing the whole tensor there as .npy.

        The checkpoint itself is never written: choosing it (or one of its shard files)
        is refused. Returns the path being written (the export goes on in the tensor
        runner, with progress and Cancel in the panel), or None.
        """
        if (self._ckpt is None or self._node is None or self._node.kind != TENSOR
                or self._export is not None):
            return None
        info = self._node.tensor
        default = "_".join(safe_str(k) for k in self._node.path())[:120] or "tensor"
        default = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in default) + ".npy"
        start = os.path.join(os.path.dirname(os.path.abspath(self._ckpt.path)), default)
        target, _ = QFileDialog.getSaveFileName(self, "Export tensor as .npy", start,
                                                "NumPy array (*.npy)")
        if not target:
            return None
        if not target.endswith(".npy"):
            target += ".npy"
        refusal = export_refusal(self._ckpt, info, target)
        if refusal:
            self._set_export_status(refusal)
            return None
        job_id = self._submit(EXPORT_TARGET, {"path": self._ckpt.path,
                                              "tensor_path": self._node.path(), "dest": target})
        if job_id is None:
            return None
        self._export = _Export(job_id, target, info.layout)
        self._set_export_status("")
        self.export_bar.start(f"Exporting {os.path.basename(target)}…")
        self._update_export_button()
        return target

    def cancel_export(self) -> None:
        """Stop the running export; the destination file is not written."""
        if self._export is not None:
            self._jobs.cancel(self._export.job_id)

    # ---- Private API: the item shown
    def _set_item(self, ckpt: Checkpoint, node: Node) -> None:
        self._cancel_read()
        self._ckpt = ckpt
        self._node = node
        self._loaded.clear()
        self._copy_pending = False
        if self._export is None:
            self._set_export_status("")
        for page in (self.values_tab, self.heatmap_tab, self.kernels_tab):
            page.clear()
        if self._details is None or self._details.ckpt is not ckpt:
            self._details = ItemDetails(ckpt)

    def _set_tabs_visible(self, histogram: bool = False, values: bool = False,
                          heatmap: bool = False, kernels: bool = False) -> None:
        for page, visible in ((self.histogram_tab, histogram), (self.values_tab, values),
                              (self.heatmap_tab, heatmap), (self.kernels_tab, kernels)):
            self.tabs.setTabVisible(self.tabs.indexOf(page), visible)

    def _clear_stats(self, status: str, histogram: str) -> None:
        self.overview_tab.clear_stats(status)
        self.histogram_tab.clear(histogram)

    def _update_export_button(self) -> None:
        info = self._node.tensor if self._node is not None and self._node.kind == TENSOR else None
        self.values_tab.export_button.setEnabled(
            info is not None and self._export is None and info.numel > 0
            and unreadable_reason(info) is None)

    def _set_export_status(self, text: str) -> None:
        self.export_status.setText(text)
        self.export_status.setVisible(bool(text))

    def _show_message(self, text: str | None) -> None:
        self.message.setText(text or "")
        self.message.setVisible(bool(text))

    def _copy_now(self) -> None:
        self._copy_pending = False
        model = self.values_tab.model
        QGuiApplication.clipboard().setText(model.as_text())
        self._set_export_status(f"Copied {model.rowCount()} × {model.columnCount()} values.")

    # ---- Private API: slices, read by the tensor runner
    def _load_current_tab(self, *_args) -> None:
        name = {self.values_tab: VALUES, self.heatmap_tab: HEATMAP,
                self.kernels_tab: KERNELS}.get(self.tabs.currentWidget())
        if name is not None and self.tabs.isTabVisible(self.tabs.currentIndex()):
            self._ensure_loaded(name)

    def _ensure_loaded(self, kind: str) -> None:
        if kind in self._loaded or self._ckpt is None or self._node is None:
            return
        if self._node.kind != TENSOR or unreadable_reason(self._node.tensor):
            return
        self._cancel_read()
        kwargs = {"path": self._ckpt.path, "tensor_path": self._node.path(), "kind": kind}
        if kind == KERNELS:
            kwargs.update(self.kernels_tab.options())
        job_id = self._submit(READ_TARGET, kwargs)
        if job_id is None:
            return
        self._loaded.add(kind)
        self._read = _Read(job_id, kind)
        self.read_bar.start(f"Reading {kind}…")

    def _reload_kernels(self) -> None:
        if self._read is not None and self._read.kind == KERNELS:
            self._cancel_read()
        self._loaded.discard(KERNELS)
        self._load_current_tab()

    def _cancel_read(self) -> None:
        read, self._read = self._read, None
        if read is not None:
            self._loaded.discard(read.kind)
            self._jobs.cancel(read.job_id)
            self.read_bar.stop()

    def _on_read_cancel_clicked(self) -> None:
        read = self._read
        if read is None:
            return
        self._cancel_read()
        self._copy_pending = False
        self._page(read.kind).clear("Reading cancelled: switch tabs or select the tensor "
                                    "again to read the values.")

    def _page(self, kind: str) -> ValuesPage | HeatmapPage | KernelsPage:
        return {VALUES: self.values_tab, HEATMAP: self.heatmap_tab, KERNELS: self.kernels_tab}[kind]

    def _submit(self, target: str, kwargs: dict) -> int | None:
        try:
            return self._jobs.submit(target, kwargs)
        except Exception as e:  # noqa: BLE001 - e.g. a key that cannot be pickled: a message
            self._show_message(f"The values cannot be read: {e}")
            return None

    # ---- Private API: job signals (the runner is shared: only this panel's jobs count)
    def _on_job_item(self, job_id: int, item: object) -> None:
        if self._read is not None and job_id == self._read.job_id:
            if isinstance(item, JobProgress):
                self.read_bar.progress(item)
            elif isinstance(item, ValuesSlice):
                self.values_tab.show_slice(item, self._node.tensor.layout)
                if self._copy_pending:
                    self._copy_now()
            elif isinstance(item, HeatmapSlice):
                self.heatmap_tab.show_slice(item)
            elif isinstance(item, KernelsSlice):
                self.kernels_tab.show_slice(item)
        elif self._export is not None and job_id == self._export.job_id:
            if isinstance(item, JobProgress):
                self.export_bar.progress(item)
            elif isinstance(item, ExportDone):
                self._export.written = True
                self._set_export_status(export_caption(item, self._export.layout))

    def _on_job_finished(self, job_id: int, cancelled: bool, failure: JobFailure | None) -> None:
        self._end_job(job_id, cancelled, str(failure) if failure is not None else None)

    def _on_job_crashed(self, job_id: int, message: str) -> None:
        self._end_job(job_id, False, message)

    def _end_job(self, job_id: int, cancelled: bool, problem: str | None) -> None:
        if self._read is not None and job_id == self._read.job_id:
            read, self._read = self._read, None
            self.read_bar.stop()
            if problem is not None or cancelled:
                self._loaded.discard(read.kind)
                self._copy_pending = False
            if problem is not None:
                self._show_message(f"The values cannot be read: {problem}")
        elif self._export is not None and job_id == self._export.job_id:
            export, self._export = self._export, None
            self.export_bar.stop()
            self._update_export_button()
            if problem is not None:
                self._set_export_status(f"Export failed: {problem}")
            elif cancelled and not export.written:
                self._set_export_status(f"Export cancelled: {os.path.basename(export.dest)} "
                                        "was not written.")
