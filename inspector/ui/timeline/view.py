"""The Timeline tab: a training run's checkpoints as curves, a heatmap of relative change, the
scalars, and the health findings (across the run or for one checkpoint, with alpha on demand).

The run is read in a worker process (``inspector.core.timeline.build:iter_timeline``) with
progress and Cancel; the view only draws what comes back. It asks the window (by signal) to
open a compare tab when a heatmap cell is clicked, and to open a checkpoint at a tensor when
a finding is double-clicked.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from inspector.core.jobs import JobFailure
from inspector.core.text import file_label, number_text, printable, shape_text
from inspector.core.timeline.model import METRIC_TITLES, Timeline
from inspector.ui.timeline.curves import CurvesPanel
from inspector.ui.timeline.models import FindingRole, FindingsModel, HeatmapModel
from inspector.ui.tree.columns import plain_tooltip

TIMELINE_TARGET = "inspector.core.timeline.build:iter_timeline"
ALPHA_TARGET = "inspector.core.health.alpha:iter_alpha"
MODULES, TENSORS = "modules", "tensors"
ALPHA_COLUMNS = ("Layer", "Shape", "alpha", "Reading")
STRETCH_COLUMNS = 16  # heatmaps of up to this many checkpoints fill the width


def run_title(paths: list[str]) -> str:
    if len(paths) == 1:
        return f"Run: {file_label(paths[0])}"
    return f"Run: {len(paths)} files"


class TimelineView(QWidget):
    """One run in a tab. ``jobs`` runs the timeline, ``alpha_jobs`` the alpha fits."""

    sig_state_changed = Signal()
    """Progress or state changed."""
    sig_error = Signal(str)
    """A message to show: the run cannot be opened or read."""
    sig_compare_requested = Signal(str, str, object, str)
    """Checkpoint A, checkpoint B, the tensor's key path (in B), its name."""
    sig_open_tensor_requested = Signal(str, object)
    """A checkpoint to open and the key path of the tensor to select in it."""
    sig_loaded = Signal()
    """The timeline is shown."""
    sig_alpha_done = Signal()
    """The alpha table is complete."""

    def __init__(self, paths: list[str], jobs, alpha_jobs, cache_dir: str | None = None,
                 device: str = "cpu", scheduler: str | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.scheduler = scheduler  # a Dask scheduler the checkpoints are read on (settings)
        self.device = device  # where alpha's SVDs run (Statistics ▸ Device)
        self._alpha_device = ""
        self.paths = [os.path.abspath(os.fspath(p)) for p in paths]
        self.jobs, self.alpha_jobs = jobs, alpha_jobs
        self.cache_dir = cache_dir
        self.timeline: Timeline | None = None
        self.state = ""  # "running", "done", "cancelled", "failed"
        self.error = ""
        self.alphas: list = []
        self._alpha_path = ""
        self._job = 0
        self._alpha_job = 0
        self._closed = False
        self._build()
        for runner in {id(jobs): jobs, id(alpha_jobs): alpha_jobs}.values():
            runner.sig_item.connect(self._on_item)
            runner.sig_finished.connect(self._on_finished)
            runner.sig_crashed.connect(self._on_crashed)
        self.start()

    # ---- Public API
    def title(self) -> str:
        return run_title(self.paths)

    @property
    def running(self) -> bool:
        return self.state == "running"

    def is_busy(self) -> bool:
        return self.running or bool(self._alpha_job)

    def start(self) -> None:
        """(Re)read the run (cached files come back at once)."""
        if self._closed:
            return
        self.cancel()
        self.state = "running"
        self.error = ""
        self.problem_label.hide()
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        self.status_label.setText("Reading the run…" if not self.scheduler else
                                  f"Reading the run on {self.scheduler}…")
        self._job = self.jobs.submit(TIMELINE_TARGET, {"paths": self.paths,
                                                       "cache_dir": self.cache_dir,
                                                       "scheduler": self.scheduler})
        self.sig_state_changed.emit()

    def cancel(self) -> None:
        if self._job:
            self.jobs.cancel(self._job)
        if self._alpha_job:
            self.alpha_jobs.cancel(self._alpha_job)

    def shutdown(self) -> None:
        """Stop this tab's work and ignore what is still on its way (idempotent)."""
        self.cancel()
        self._closed = True
        self._job = self._alpha_job = 0
        for runner in {id(self.jobs): self.jobs, id(self.alpha_jobs): self.alpha_jobs}.values():
            for sig, slot in ((runner.sig_item, self._on_item),
                              (runner.sig_finished, self._on_finished),
                              (runner.sig_crashed, self._on_crashed)):
                try:
                    sig.disconnect(slot)
                except (RuntimeError, TypeError):
                    pass

    def rows_mode(self) -> str:
        return self.rows_combo.currentData()

    def set_rows_mode(self, mode: str) -> None:
        self.rows_combo.setCurrentIndex(self.rows_combo.findData(mode))

    def show_tensor(self, name: str) -> None:
        """Show the curves of one tensor (switches to tensors and the Curves page)."""
        self.set_rows_mode(TENSORS)
        self.curves.select_names([name])
        self.pages.setCurrentWidget(self.curves_page)

    def click_heatmap(self, row: int, column: int) -> bool:
        """What a click on a heatmap cell does: ask to compare checkpoint ``column - 1`` with
        ``column`` at the row's tensor (a module's first tensor). False for column 0."""
        if self.timeline is None or column < 1 or row < 0:
            return False
        s = self.heatmap_model.series_at(row)
        name = s.members[0] if s.members else s.name
        tensor = self.timeline.series(name)
        path = tensor.path if tensor is not None else s.path
        self.sig_compare_requested.emit(self.timeline.checkpoints[column - 1].path,
                                        self.timeline.checkpoints[column].path, path, name)
        return True

    def set_health_scope(self, index: int) -> None:
        """0: across the run; i > 0: checkpoint i - 1."""
        self.scope_combo.setCurrentIndex(index)

    def current_findings(self) -> list:
        return self.findings_model.findings()

    def open_finding(self, row: int) -> None:
        """Ask to open the finding's checkpoint at its tensor."""
        f = self.findings_model.findings()[row]
        self.sig_open_tensor_requested.emit(self._finding_checkpoint(f), f.tensor)

    def compute_alpha(self) -> None:
        """Fit WeightWatcher's alpha for every 2-D layer of the chosen checkpoint (the last
        one when the scope is the whole run), in the worker process."""
        if self.timeline is None or self._closed:
            return
        if self._alpha_job:
            self.alpha_jobs.cancel(self._alpha_job)
        path = self._scope_checkpoint()
        self._alpha_path = path
        self.alphas = []
        self.alpha_table.setRowCount(0)
        self.alpha_label.setText(f"alpha of {file_label(path)}: computing…")
        self._alpha_job = self.alpha_jobs.submit(ALPHA_TARGET, {"path": path,
                                                                "device": self.device})
        self.sig_state_changed.emit()

    def status_text(self) -> str:
        return self.status_label.text()

    # ---- Private API: building
    def _build(self) -> None:
        self.title_label = QLabel(self.title())
        self.title_label.setTextFormat(Qt.TextFormat.PlainText)
        self.title_label.setToolTip(plain_tooltip("\n".join(self.paths[:20])))
        self.status_label = QLabel()
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.rows_combo = QComboBox()
        self.rows_combo.addItem("Modules", MODULES)
        self.rows_combo.addItem("Tensors", TENSORS)
        self.rows_combo.setToolTip("Curves and heatmap per module (parameters aggregated) or "
                                   "per tensor")
        self.rows_combo.currentIndexChanged.connect(self._fill_rows)
        self.problem_label = QLabel()
        self.problem_label.setTextFormat(Qt.TextFormat.PlainText)
        self.problem_label.setWordWrap(True)
        self.problem_label.setObjectName("problemLabel")
        self.problem_label.hide()

        top = QHBoxLayout()
        top.addWidget(self.title_label)
        top.addWidget(self.status_label, 1)
        top.addWidget(self.progress)
        top.addWidget(self.cancel_button)
        top.addWidget(QLabel("Rows:"))
        top.addWidget(self.rows_combo)

        self.curves = CurvesPanel(METRIC_TITLES)
        self.curves_page = self.curves

        self.heatmap_model = HeatmapModel(self)
        self.heatmap = QTableView()
        self.heatmap.setModel(self.heatmap_model)
        self.heatmap.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.heatmap.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.heatmap.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.heatmap.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        self.heatmap.horizontalHeader().setDefaultSectionSize(56)
        self.heatmap.verticalHeader().setDefaultSectionSize(22)
        self.heatmap.clicked.connect(self._on_heatmap_clicked)
        self.heatmap_legend = legend = QLabel()
        legend.setTextFormat(Qt.TextFormat.PlainText)
        legend.setWordWrap(True)
        heat_page = QWidget()
        hv = QVBoxLayout(heat_page)
        hv.setContentsMargins(0, 4, 0, 0)
        hv.addWidget(legend)
        hv.addWidget(self.heatmap, 1)

        self.scalars = CurvesPanel()

        self.scope_combo = QComboBox()
        self.scope_combo.currentIndexChanged.connect(self._show_scope)
        self.findings_model = FindingsModel(self)
        self.findings_view = QTableView()
        self.findings_view.setModel(self.findings_model)
        self.findings_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.findings_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.findings_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.findings_view.setWordWrap(False)
        self.findings_view.verticalHeader().hide()
        self.findings_view.horizontalHeader().setStretchLastSection(True)
        self.findings_view.doubleClicked.connect(lambda i: self.open_finding(i.row()))
        self.findings_view.clicked.connect(self._on_finding_clicked)
        self.findings_label = QLabel()
        self.findings_label.setTextFormat(Qt.TextFormat.PlainText)
        curves_button = QPushButton("Show curves")
        curves_button.setToolTip("The selected finding's tensor on the Curves page")
        curves_button.clicked.connect(self._show_finding_curves)
        open_button = QPushButton("Open at tensor")
        open_button.setToolTip("Open the finding's checkpoint with its tensor selected")
        open_button.clicked.connect(self._open_selected_finding)
        self.alpha_button = QPushButton("Compute alpha (SVD)")
        self.alpha_button.setToolTip("WeightWatcher's heavy-tail exponent of every 2-D layer "
                                     "of this checkpoint (the last one for the whole run)")
        self.alpha_button.clicked.connect(self.compute_alpha)
        self.alpha_label = QLabel("alpha: 2–6 well trained, < 2 over-trained, > 6 under-trained")
        self.alpha_label.setTextFormat(Qt.TextFormat.PlainText)
        self.alpha_table = QTableWidget(0, len(ALPHA_COLUMNS))
        self.alpha_table.setHorizontalHeaderLabels(list(ALPHA_COLUMNS))
        self.alpha_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.alpha_table.verticalHeader().hide()
        self.alpha_table.horizontalHeader().setStretchLastSection(True)
        self.alpha_table.setMaximumHeight(180)
        health_page = QWidget()
        fv = QVBoxLayout(health_page)
        fv.setContentsMargins(0, 4, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Findings of:"))
        row.addWidget(self.scope_combo, 1)
        row.addWidget(curves_button)
        row.addWidget(open_button)
        fv.addLayout(row)
        fv.addWidget(self.findings_label)
        fv.addWidget(self.findings_view, 2)
        arow = QHBoxLayout()
        arow.addWidget(self.alpha_button)
        arow.addWidget(self.alpha_label, 1)
        fv.addLayout(arow)
        fv.addWidget(self.alpha_table, 1)

        self.pages = QTabWidget()
        self.pages.setDocumentMode(True)
        self.pages.addTab(self.curves_page, "Curves")
        self.pages.addTab(heat_page, "Heatmap")
        self.pages.addTab(self.scalars, "Scalars")
        self.health_page = health_page
        self.pages.addTab(health_page, "Health")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.problem_label)
        layout.addWidget(self.pages, 1)

    # ---- Private API: results
    def _on_item(self, job_id: int, item) -> None:
        from inspector.core.health.alpha import AlphaProgress, LayerAlpha
        from inspector.core.timeline.build import RunProblem, TimelineProgress, TimelineResult

        if job_id == self._job and self._job:
            if isinstance(item, TimelineProgress):
                if item.bytes_total:
                    self.progress.setRange(0, 1000)
                    self.progress.setValue(int(1000 * item.bytes_done / item.bytes_total))
                self.status_label.setText(f"Reading run {min(item.index + 1, item.count)}/"
                                          f"{item.count}…")
                self.sig_state_changed.emit()
            elif isinstance(item, TimelineResult):
                self._show_timeline(item.timeline)
            elif isinstance(item, RunProblem):
                self._fail(item.message)
        elif job_id == self._alpha_job and self._alpha_job:
            if isinstance(item, LayerAlpha):
                self._add_alpha(item)
            elif isinstance(item, AlphaProgress):
                self._alpha_device = item.device
                if item.total:
                    self.alpha_label.setText(f"alpha: layer {min(item.done + 1, item.total)} "
                                             f"of {item.total} on {item.device}…")

    def _on_finished(self, job_id: int, cancelled: bool, failure: JobFailure | None) -> None:
        if job_id == self._job and self._job:
            self._job = 0
            self.progress.hide()
            self.cancel_button.hide()
            if failure is not None:
                self._fail(f"reading the run failed ({failure})")
            elif cancelled and self.state == "running":
                self.state = "cancelled"
                self.status_label.setText("Cancelled")
            self.sig_state_changed.emit()
        elif job_id == self._alpha_job and self._alpha_job:
            self._alpha_job = 0
            if failure is not None:
                self.alpha_label.setText(f"alpha failed: {failure}")
            elif cancelled:
                self.alpha_label.setText("alpha cancelled")
            else:
                self.alpha_label.setText(
                    f"alpha of {printable(file_label(self._alpha_path))} ({len(self.alphas)} 2-D "
                    f"layers, SVD on {self._alpha_device or 'cpu'}): 2–6 well trained, "
                    "< 2 over-trained, > 6 under-trained")
                self.sig_alpha_done.emit()
            self.sig_state_changed.emit()

    def _on_crashed(self, job_id: int, message: str) -> None:
        if job_id == self._job and self._job:
            self._job = 0
            self.progress.hide()
            self.cancel_button.hide()
            self._fail(message)
        elif job_id == self._alpha_job and self._alpha_job:
            self._alpha_job = 0
            self.alpha_label.setText(f"alpha failed: {message}")
            self.sig_state_changed.emit()

    def _fail(self, message: str) -> None:
        self.state = "failed"
        self.error = message
        self.problem_label.setText(message)
        self.problem_label.show()
        self.status_label.setText("Could not open the run")
        self.sig_error.emit(message)
        self.sig_state_changed.emit()

    def _show_timeline(self, tl: Timeline) -> None:
        self.timeline = tl
        self.state = "done"
        first = tl.checkpoints[0]
        self.status_label.setText(
            f"{len(tl.checkpoints)} checkpoints, steps {first.step}–{tl.checkpoints[-1].step} "
            f"(by {first.step_source.replace('_', ' ')}) · {len(tl.tensors)} tensors · "
            f"{len(tl.findings)} finding{'s' if len(tl.findings) != 1 else ''}")
        self._fill_rows()
        names = list(tl.scalars)
        self.scalars.set_data(names, tl.steps, lambda name, _m: tl.scalars.get(name, []),
                              select=[n for n in names if n.split(".")[-1] in ("loss", "lr")]
                              or names[:1])
        self.scope_combo.blockSignals(True)
        self.scope_combo.clear()
        self.scope_combo.addItem(f"the whole run ({len(tl.findings)})")
        for c, found in zip(tl.checkpoints, tl.checkpoint_findings):
            self.scope_combo.addItem(f"step {c.step} · {printable(file_label(c.path))} "
                                     f"({len(found)})")
        self.scope_combo.blockSignals(False)
        self._show_scope(0)
        if tl.findings:
            self.pages.setTabText(self.pages.indexOf(self.health_page),
                                  f"Health ({len(tl.findings)})")
        self.sig_loaded.emit()
        self.sig_state_changed.emit()

    def _fill_rows(self) -> None:
        tl = self.timeline
        if tl is None:
            return
        series = tl.modules if self.rows_mode() == MODULES else tl.tensors
        by_name = {s.name: s for s in series}
        self.curves.set_data([s.name for s in series], tl.steps,
                             lambda name, metric: by_name[name].metric(metric))
        self.heatmap_model.set_data(series, tl.steps, [c.path for c in tl.checkpoints])
        # a few checkpoints share the width; many keep readable fixed-width columns
        self.heatmap.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.Stretch if len(tl.steps) <= STRETCH_COLUMNS
            else QHeaderView.ResizeMode.Fixed)
        lo, hi = self.heatmap_model.levels
        self.heatmap_legend.setText(
            f"Colour: relative change ‖Δw‖/‖w_prev‖ from the previous checkpoint, log scale "
            f"from {10 ** lo:.2g} or less (dark) to {10 ** hi:.2g} or more (yellow); grey: "
            "unchanged. Click a cell to compare the two checkpoints at that tensor.")

    # ---- Private API: heatmap and findings
    def _on_heatmap_clicked(self, index: QModelIndex) -> None:
        self.click_heatmap(index.row(), index.column())

    def _scope_checkpoint(self) -> str:
        tl = self.timeline
        i = self.scope_combo.currentIndex()
        return tl.checkpoints[i - 1].path if i > 0 else tl.checkpoints[-1].path

    def _finding_checkpoint(self, f) -> str:
        if f.checkpoint:
            return f.checkpoint
        return self._scope_checkpoint()

    def _show_scope(self, index: int) -> None:
        tl = self.timeline
        if tl is None or index < 0:
            return
        findings = tl.findings if index == 0 else tl.checkpoint_findings[index - 1]
        self.findings_model.set_findings(findings)
        self.findings_view.resizeColumnsToContents()
        header = self.findings_view.horizontalHeader()
        for col in range(3):
            header.resizeSection(col, min(header.sectionSize(col), 260))
        where = "across the run" if index == 0 else f"in step {tl.checkpoints[index - 1].step}"
        self.findings_label.setText(
            f"No problems found {where}." if not findings else
            f"{len(findings)} finding{'s' if len(findings) != 1 else ''} {where}. "
            "Double-click one to open its checkpoint at the tensor.")

    def _selected_finding(self):
        index = self.findings_view.currentIndex()
        return index.data(FindingRole) if index.isValid() else None

    def _on_finding_clicked(self, index: QModelIndex) -> None:
        f = index.data(FindingRole)
        if f is not None and self.rows_mode() == TENSORS:
            self.curves.select_names([f.name])

    def _show_finding_curves(self) -> None:
        f = self._selected_finding()
        if f is not None and self.timeline is not None and self.timeline.series(f.name):
            self.show_tensor(f.name)

    def _open_selected_finding(self) -> None:
        index = self.findings_view.currentIndex()
        if index.isValid():
            self.open_finding(index.row())

    def _add_alpha(self, a) -> None:
        self.alphas.append(a)
        r = self.alpha_table.rowCount()
        self.alpha_table.insertRow(r)
        for c, text in enumerate((printable(a.name), shape_text(a.shape),
                                  number_text(a.alpha), a.reading)):
            item = QTableWidgetItem(text)
            item.setToolTip(plain_tooltip(text))
            self.alpha_table.setItem(r, c, item)
