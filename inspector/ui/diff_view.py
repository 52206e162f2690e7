"""The compare view: two checkpoints side by side, as a summary, a table and histograms.

The diff itself runs in a worker process (:func:`inspector.core.diff_jobs.stream_diff`
through :class:`~inspector.ui.workers.ProcessJobs`); rows fill in as entries stream back.
Selecting a row asks a second worker for that pair's histograms (A and B overlaid, and
Δ = B − A). Every request carries its job id; answers from older jobs are dropped.
"""

from __future__ import annotations

import json
import math
import os

import pyqtgraph as pg
from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QDoubleValidator
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from inspector.core.diff import (
    IDENTICAL,
    STATUSES,
    DiffEntry,
    DiffHeader,
    DiffProblem,
    DiffProgress,
    PairHistograms,
    report_from_stream,
    report_to_csv,
    report_to_json,
)
from inspector.core.text import (
    cosine_text,
    dotted_path,
    file_label,
    format_bytes,
    format_count,
    format_value,
    metric_text,
    shape_text,
)
from inspector.ui import resources
from inspector.ui.diff_model import (
    STATUS_COLORS,
    STATUS_LABELS,
    DiffFilterProxy,
    DiffTableModel,
    EntryRole,
)
from inspector.ui.workers import ProcessJobs

STREAM_TARGET = "inspector.core.diff.stream:stream_diff"
HISTOGRAM_TARGET = "inspector.core.diff.histograms:pair_histograms"
FLUSH_MS = 120  # streamed entries are added to the table at most this often
FILTER_DEBOUNCE_MS = 200
HISTOGRAM_BINS = 64
MAX_SCALAR_ROWS = 200
COLOR_A = (59, 130, 196)
COLOR_B = (224, 138, 30)
COLOR_DELTA = (46, 158, 79)
EXPORT_FILTER = "JSON report (*.json);;CSV table (*.csv)"


class CompareView(QWidget):
    """Compares checkpoint A with checkpoint B.

    Emits
    -----
    sig_state_changed()
        Progress or state changed (the window updates its status bar).
    sig_diff_finished(str)
        The diff ended: "done", "cancelled" or "failed".
    sig_error(str)
        A message for the window's banner (a file could not be read, the worker died).
    sig_histograms_shown(object)
        The selected pair's histograms are drawn: its :class:`PairHistograms`.
    """

    sig_state_changed = Signal()
    """Progress or state changed."""
    sig_diff_finished = Signal(str)
    """The diff ended: "done", "cancelled" or "failed"."""
    sig_error = Signal(str)
    """A problem to show: a file could not be read, or the worker process died."""
    sig_histograms_shown = Signal(object)
    """The selected pair's histograms are drawn (a PairHistograms)."""

    def __init__(self, path_a: str, path_b: str, diff_jobs: ProcessJobs | None = None,
                 detail_jobs: ProcessJobs | None = None, *, strip_prefixes=(),
                 atol: float | None = None, rtol: float | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        from inspector.ui.app import configure_plotting

        configure_plotting()
        self.path_a = os.path.abspath(os.fspath(path_a))
        self.path_b = os.path.abspath(os.fspath(path_b))
        self._own_jobs = []
        if diff_jobs is None:
            diff_jobs = ProcessJobs(self, name="inspector-compare")
            self._own_jobs.append(diff_jobs)
        if detail_jobs is None:
            detail_jobs = ProcessJobs(self, name="inspector-compare-detail")
            self._own_jobs.append(detail_jobs)
        self.diff_jobs, self.detail_jobs = diff_jobs, detail_jobs
        self.strip_prefixes: tuple[str, ...] = tuple(strip_prefixes)
        self.atol, self.rtol = atol, rtol
        self.state = ""  # "", "running", "done", "cancelled", "failed"
        self.error = ""
        self.header: DiffHeader | None = None
        self.report = None
        self.bytes_done = 0
        self._diff_job = 0
        self._detail_job = 0
        self._detail_entry: DiffEntry | None = None
        self._buffer: list[DiffEntry] = []
        self._entries: list[DiffEntry] = []
        self._closed = False
        self.histograms: PairHistograms | None = None

        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self._flush)
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(FILTER_DEBOUNCE_MS)
        self._filter_timer.timeout.connect(self._apply_filter)

        self.model = DiffTableModel(self)
        self.proxy = DiffFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self._build()
        for jobs in (self.diff_jobs, self.detail_jobs):
            jobs.sig_item.connect(self._on_item)
            jobs.sig_finished.connect(self._on_finished)
            jobs.sig_crashed.connect(self._on_crashed)
        self.start()

    # ---- Public API
    @property
    def running(self) -> bool:
        return self.state == "running"

    def title(self) -> str:
        return f"{file_label(self.path_a)} ↔ {file_label(self.path_b)}"

    def is_busy(self) -> bool:
        """True while the diff or the selected pair's histograms are being computed."""
        return self.running or self._detail_job != 0

    def start(self) -> None:
        """(Re)run the diff with the current prefixes and tolerances; old results are dropped."""
        if self._closed:
            return
        self.cancel()
        self._flush_timer.stop()
        self._buffer = []
        self._entries = []
        self.model.clear()
        self.header = None
        self.report = None
        self.error = ""
        self.bytes_done = 0
        if self._detail_job:
            self.detail_jobs.cancel(self._detail_job)
            self._detail_job = 0
        self._clear_detail("Select a row to see its values")
        self._problem.hide()
        self.state = "running"
        self._diff_job = self.diff_jobs.submit(STREAM_TARGET, {
            "path_a": self.path_a, "path_b": self.path_b,
            "strip_prefixes": self.strip_prefixes, "atol": self.atol, "rtol": self.rtol})
        self._flush_timer.start()
        self._refresh_summary()
        self.sig_state_changed.emit()

    def cancel(self) -> None:
        """Stop the running diff (rows compared so far stay)."""
        if self.running and self._diff_job:
            self.diff_jobs.cancel(self._diff_job)

    def set_strip_prefixes(self, prefixes) -> None:
        """Force these prefixes off both sides' keys and re-run."""
        self.strip_prefixes = tuple(p.strip() for p in prefixes if p and p.strip())
        self.start()

    def set_tolerance(self, atol: float | None, rtol: float | None) -> None:
        """Set atol/rtol (None: not asked for) and re-run; adds the "Close" flag."""
        self.atol, self.rtol = atol, rtol
        self._atol_edit.setText("" if atol is None else f"{atol:g}")
        self._rtol_edit.setText("" if rtol is None else f"{rtol:g}")
        self.start()

    def set_changed_only(self, on: bool) -> None:
        self._changed_check.setChecked(on)

    def set_filter(self, text: str) -> None:
        """Filter rows by path text now (the box itself is debounced)."""
        self._filter_edit.setText(text)
        self._filter_timer.stop()
        self._apply_filter()

    def entries(self) -> list[DiffEntry]:
        return self.model.entries()

    def select_entry(self, entry: DiffEntry) -> bool:
        row = self.model.row_of(entry)
        if row < 0:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            self.set_changed_only(False)
            self.set_filter("")
            index = self.proxy.mapFromSource(self.model.index(row, 0))
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows)
        self.table.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
        return True

    def largest_change(self) -> DiffEntry | None:
        """The biggest value change, preferring tensors of more than one element (a
        histogram of one value says little); else the first structural change."""
        largest = sorted((e for e in self._all_entries()
                          if e.status in ("changed", "dtype_changed")),
                         key=lambda e: (-e.change, -(e.max_abs_diff or 0.0)))
        for e in largest:
            if e.numel > 1:
                return e
        if largest:
            return largest[0]
        return next((e for e in self._all_entries() if e.status != IDENTICAL), None)

    def select_largest_change(self) -> DiffEntry | None:
        e = self.largest_change()
        if e is not None:
            self.select_entry(e)
        return e

    def current_entry(self) -> DiffEntry | None:
        index = self.table.currentIndex()
        return index.data(EntryRole) if index.isValid() else None

    def export_report(self, path: str) -> None:
        """Write the report as JSON (``.json``) or CSV (anything else).

        Raises ValueError before the diff is complete or when ``path`` is one of the
        compared files, OSError when the file cannot be written.
        """
        if self.report is None:
            raise ValueError("the comparison is not complete yet")
        target = os.path.abspath(path)
        if target in (self.path_a, self.path_b) or os.path.isdir(target):
            raise ValueError(f"will not write over {target}")
        if target.lower().endswith(".json"):
            with open(target, "w", encoding="utf-8") as fh:
                json.dump(report_to_json(self.report), fh, indent=2)
                fh.write("\n")
        else:
            report_to_csv(self.report, target)

    def export_dialog(self) -> None:
        if self.report is None:
            return
        base = f"diff_{_stem(self.path_a)}_vs_{_stem(self.path_b)}.json"
        start = os.path.join(os.path.dirname(self.path_b), base)
        path, chosen = QFileDialog.getSaveFileName(self, "Export Comparison", start,
                                                   EXPORT_FILTER)
        if not path:
            return
        if "CSV" in chosen and not path.lower().endswith(".csv"):
            path += ".csv"
        elif "JSON" in chosen and not path.lower().endswith((".json", ".csv")):
            path += ".json"
        try:
            self.export_report(path)
        except (OSError, ValueError) as e:
            self._show_problem(f"Could not export to {path}: {e}")
            self.sig_error.emit(f"Could not export to {path}: {e}")

    def strip_prefix_dialog(self) -> None:
        text, ok = QInputDialog.getText(
            self, "Strip Prefixes",
            "Prefixes to remove from both files' keys before matching (comma separated),\n"
            "e.g. 'module., backbone.'. Leave empty for automatic alignment only:",
            QLineEdit.EchoMode.Normal, ", ".join(self.strip_prefixes))
        if ok:
            self.set_strip_prefixes(text.split(","))

    def shutdown(self) -> None:
        """Stop this view's jobs (and its own worker processes, if it made them)."""
        if self._closed:
            return
        self.cancel()
        if self._detail_job:
            self.detail_jobs.cancel(self._detail_job)
        self._closed = True
        self._flush_timer.stop()
        self._filter_timer.stop()
        for jobs in (self.diff_jobs, self.detail_jobs):
            for sig, slot in ((jobs.sig_item, self._on_item), (jobs.sig_finished, self._on_finished),
                              (jobs.sig_crashed, self._on_crashed)):
                try:
                    sig.disconnect(slot)
                except (RuntimeError, TypeError):
                    pass
        for jobs in self._own_jobs:
            jobs.shutdown()
        if self.running:
            self.state = "cancelled"

    def status_text(self) -> str:
        """One line for the status bar."""
        n = len(self._entries) + len(self._buffer)
        total = self.header.pairs if self.header else 0
        if self.running:
            if self.header is None:
                return "Comparing: opening files…"
            return f"Comparing {n:,} / {total:,} tensors"
        return {"done": f"Comparison complete: {total:,} tensors",
                "cancelled": f"Comparison cancelled ({n:,} of {total:,} tensors)",
                "failed": "Comparison failed"}.get(self.state, "")

    def progress(self) -> tuple[int, int]:
        """(done, total) in units the progress bar can hold (KiB of tensor data)."""
        if self.header is None:
            return (0, 0)
        total = max(1, self.header.total_bytes // 1024)
        return (min(total, self.bytes_done // 1024), total)

    # ---- Private API: building
    def _build(self) -> None:
        self.setObjectName("compareView")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 4)
        layout.setSpacing(6)

        self._problem = QLabel()
        self._problem.setObjectName("compareProblem")
        self._problem.setWordWrap(True)
        self._problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._problem.setStyleSheet("QLabel#compareProblem { color: #d64545; font-weight: 600; }")
        self._problem.hide()
        layout.addWidget(self._problem)
        layout.addWidget(self._build_summary())
        layout.addLayout(self._build_controls())

        self.table = QTableView()
        self.table.setObjectName("compareTable")
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # arrival order until asked
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(22)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        widths = (300, 96, 70, 70, 78, 78, 72, 72, 66, 84, 60, 50, 50, 46)
        for col, w in enumerate(widths):
            self.table.setColumnWidth(col, w)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.selectionModel().currentRowChanged.connect(self._on_current_changed)

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self._build_detail())
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)
        layout.addWidget(splitter, 1)

    def _build_summary(self) -> QWidget:
        box = QFrame()
        box.setObjectName("compareSummary")
        box.setFrameShape(QFrame.Shape.StyledPanel)
        grid = QHBoxLayout(box)
        grid.setContentsMargins(10, 6, 10, 6)
        left = QVBoxLayout()
        left.setSpacing(3)
        self._files_label = QLabel()
        self._files_label.setTextFormat(Qt.TextFormat.RichText)
        self._files_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._align_label = QLabel()
        self._align_label.setWordWrap(True)
        chips = QHBoxLayout()
        chips.setSpacing(6)
        self._chips: dict[str, QLabel] = {}
        for status in STATUSES:
            chip = QLabel()
            chip.setObjectName(f"chip_{status}")
            c = STATUS_COLORS[status]
            chip.setStyleSheet(f"QLabel {{ color: {c}; border: 1px solid {c}; border-radius: 9px;"
                               f" padding: 1px 8px; font-weight: 600; }}")
            chip.setToolTip(f"Tensors whose status is '{STATUS_LABELS[status]}'")
            chips.addWidget(chip)
            self._chips[status] = chip
        chips.addStretch(1)
        self._totals_label = QLabel()
        self._totals_label.setWordWrap(True)
        self._largest_label = QLabel()
        self._largest_label.setWordWrap(True)
        self._largest_label.setTextFormat(Qt.TextFormat.RichText)
        for w in (self._files_label, self._align_label):
            left.addWidget(w)
        left.addLayout(chips)
        left.addWidget(self._totals_label)
        left.addWidget(self._largest_label)
        grid.addLayout(left, 3)

        right = QVBoxLayout()
        right.setSpacing(2)
        self._scalars_title = QLabel("Non-tensor values")
        self._scalars_title.setStyleSheet("font-weight: 600;")
        self.scalars_table = QTableWidget(0, 3)
        self.scalars_table.setObjectName("scalarDiffTable")
        self.scalars_table.setHorizontalHeaderLabels(["Key", "A", "B"])
        self.scalars_table.verticalHeader().hide()
        self.scalars_table.verticalHeader().setDefaultSectionSize(20)
        self.scalars_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.scalars_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.scalars_table.setMaximumHeight(120)
        self.scalars_table.setMinimumWidth(320)
        right.addWidget(self._scalars_title)
        right.addWidget(self.scalars_table, 1)
        grid.addLayout(right, 2)
        box.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        return box

    def _build_controls(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        bar.setSpacing(6)
        self._strip_button = QPushButton("Strip Prefix…")
        self._strip_button.setToolTip("Remove key prefixes (e.g. 'module.') from both files "
                                      "before matching tensors, and compare again")
        self._strip_button.clicked.connect(self.strip_prefix_dialog)
        bar.addWidget(self._strip_button)
        validator = QDoubleValidator(0.0, 1e30, 12, self)
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        self._atol_edit = QLineEdit()
        self._rtol_edit = QLineEdit()
        for label, edit, tip in (("atol", self._atol_edit, "absolute tolerance"),
                                 ("rtol", self._rtol_edit, "relative tolerance")):
            edit.setPlaceholderText("off")
            edit.setValidator(validator)
            edit.setFixedWidth(70)
            edit.setToolTip(f"{tip} for the 'Close' column (torch.allclose); empty: not checked")
            edit.returnPressed.connect(self._apply_tolerance)
            bar.addWidget(QLabel(label))
            bar.addWidget(edit)
        apply = QPushButton("Compare Again")
        apply.setIcon(resources.icon("refresh"))
        apply.setToolTip("Run the comparison again with these tolerances")
        apply.clicked.connect(self._apply_tolerance)
        bar.addWidget(apply)
        bar.addSpacing(16)
        self._changed_check = QCheckBox("Changed only")
        self._changed_check.setToolTip("Hide tensors that are identical in A and B")
        self._changed_check.toggled.connect(self._on_changed_only)
        bar.addWidget(self._changed_check)
        self._filter_edit = QLineEdit()
        self._filter_edit.setObjectName("filterEdit")
        self._filter_edit.setPlaceholderText("Filter by path…")
        self._filter_edit.setClearButtonEnabled(True)
        self._filter_edit.addAction(resources.icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        self._filter_edit.textChanged.connect(lambda _t: self._filter_timer.start())
        bar.addWidget(self._filter_edit, 1)
        self._rows_label = QLabel()
        self._rows_label.setObjectName("matchLabel")
        bar.addWidget(self._rows_label)
        self._export_button = QToolButton()
        self._export_button.setText("Export…")
        self._export_button.setToolTip("Save the comparison as JSON or CSV")
        self._export_button.clicked.connect(self.export_dialog)
        self._export_button.setEnabled(False)
        bar.addWidget(self._export_button)
        return bar

    def _build_detail(self) -> QWidget:
        box = QWidget()
        grid = QGridLayout(box)
        grid.setContentsMargins(0, 4, 0, 0)
        grid.setHorizontalSpacing(8)
        self._detail_title = QLabel()
        self._detail_title.setObjectName("compareDetailTitle")
        self._detail_title.setStyleSheet("font-weight: 600;")
        self._detail_title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        grid.addWidget(self._detail_title, 0, 0, 1, 3)

        self.overlay_plot = pg.PlotWidget()
        self.overlay_plot.setMinimumHeight(160)
        p = self.overlay_plot.getPlotItem()
        p.setMenuEnabled(False)
        p.setTitle("Values: A and B")
        p.setLabel("bottom", "value")
        p.setLabel("left", "count")
        p.showGrid(x=True, y=True, alpha=0.2)
        self._legend = p.addLegend(offset=(-10, 10))
        self.curve_a = p.plot([0.0, 1.0], [0.0], stepMode="center", fillLevel=0, name="A",
                              pen=pg.mkPen(COLOR_A, width=1.6), brush=(*COLOR_A, 60))
        self.curve_b = p.plot([0.0, 1.0], [0.0], stepMode="center", fillLevel=0, name="B",
                              pen=pg.mkPen(COLOR_B, width=1.6), brush=(*COLOR_B, 60))
        self.curve_a.setData([], [])
        self.curve_b.setData([], [])

        self.delta_plot = pg.PlotWidget()
        self.delta_plot.setMinimumHeight(160)
        d = self.delta_plot.getPlotItem()
        d.setMenuEnabled(False)
        d.setTitle("Δ = B − A")
        d.setLabel("bottom", "difference")
        d.setLabel("left", "count")
        d.showGrid(x=True, y=True, alpha=0.2)
        self.curve_delta = d.plot([0.0, 1.0], [0.0], stepMode="center", fillLevel=0,
                                  pen=pg.mkPen(COLOR_DELTA, width=1.6), brush=(*COLOR_DELTA, 70))
        self.curve_delta.setData([], [])
        self._zero_line = pg.InfiniteLine(0.0, angle=90,
                                          pen=pg.mkPen((140, 140, 140), style=Qt.PenStyle.DashLine))
        d.addItem(self._zero_line)

        self.metrics_label = QLabel()
        self.metrics_label.setObjectName("compareMetrics")
        self.metrics_label.setTextFormat(Qt.TextFormat.RichText)
        self.metrics_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.metrics_label.setWordWrap(True)
        self.metrics_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.metrics_label.setMinimumWidth(230)
        self.metrics_label.setMaximumWidth(300)

        grid.addWidget(self.overlay_plot, 1, 0)
        grid.addWidget(self.delta_plot, 1, 1)
        grid.addWidget(self.metrics_label, 1, 2)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(1, 1)
        self._clear_detail("Select a row to see its values")
        return box

    # ---- Private API: diff stream
    def _on_item(self, job_id: int, item) -> None:
        if job_id == self._diff_job and self._diff_job:
            if isinstance(item, DiffProgress):
                self._buffer.append(item.entry)
                self.bytes_done = item.bytes_done
            elif isinstance(item, DiffHeader):
                self.header = item
                self._refresh_summary()
                self.sig_state_changed.emit()
            elif isinstance(item, DiffProblem):
                self.error = item.message
        elif job_id == self._detail_job and self._detail_job:
            if isinstance(item, PairHistograms):
                self._show_histograms(item)
            elif isinstance(item, DiffProblem):
                self._clear_detail(f"Could not read this pair: {item.message}")

    def _on_finished(self, job_id: int, cancelled: bool, error: str) -> None:
        if job_id == self._diff_job and self._diff_job:
            self._flush()
            self._flush_timer.stop()
            self._diff_job = 0
            error = self.error or error
            if error:
                self._fail(error)
            else:
                self.state = "cancelled" if cancelled else "done"
                if self.header is not None and not cancelled:
                    self.report = report_from_stream(self.header, self._entries)
                self._refresh_summary()
                if self.state == "done" and self.current_entry() is None:
                    self.select_largest_change()
            self._export_button.setEnabled(self.report is not None)
            self.sig_state_changed.emit()
            self.sig_diff_finished.emit(self.state)
        elif job_id == self._detail_job and self._detail_job:
            self._detail_job = 0
            if error:
                self._clear_detail(f"Could not compute histograms: {error.splitlines()[0]}")
            self.sig_state_changed.emit()

    def _on_crashed(self, job_id: int, message: str) -> None:
        if job_id == self._diff_job and self._diff_job:
            self._flush()
            self._flush_timer.stop()
            self._diff_job = 0
            self._fail(f"The comparison worker stopped: {message}")
            self.sig_state_changed.emit()
            self.sig_diff_finished.emit(self.state)
        elif job_id == self._detail_job and self._detail_job:
            self._detail_job = 0
            self._clear_detail(f"The histogram worker stopped: {message}")
            self.sig_state_changed.emit()

    def _fail(self, error: str) -> None:
        self.state = "failed"
        first = error.splitlines()[0] if error else "unknown error"
        self.error = first
        self._show_problem(f"Comparison failed: {first}")
        self._refresh_summary()
        self.sig_error.emit(f"Could not compare {file_label(self.path_a)} with "
                            f"{file_label(self.path_b)}: {first}")

    def _show_problem(self, text: str) -> None:
        self._problem.setText(text)
        self._problem.show()

    def _flush(self) -> None:
        if self._buffer:
            batch, self._buffer = self._buffer, []
            self._entries.extend(batch)
            self.model.add_entries(batch)
            self._refresh_summary()
            self._update_rows_label()
        self.sig_state_changed.emit()

    # ---- Private API: summary
    def _all_entries(self) -> list[DiffEntry]:
        return self._entries + self._buffer

    def _refresh_summary(self) -> None:
        h = self.header
        if h is None:
            self._files_label.setText(
                f"<b>A</b> {_esc(file_label(self.path_a))} &nbsp; <b>B</b> "
                f"{_esc(file_label(self.path_b))} &nbsp; <i>opening…</i>")
            self._align_label.setText("")
        else:
            self._files_label.setText(
                f"<span style='color:rgb{COLOR_A}'><b>A</b></span> {_esc(file_label(h.path_a))}"
                f" · {_esc(h.format_a)} · {format_bytes(h.size_a)} · {h.tensors_a:,} tensors"
                f"<br><span style='color:rgb{COLOR_B}'><b>B</b></span> "
                f"{_esc(file_label(h.path_b))} · {_esc(h.format_b)} · {format_bytes(h.size_b)}"
                f" · {h.tensors_b:,} tensors")
            self._files_label.setToolTip(f"A: {h.path_a}\nB: {h.path_b}")
            self._align_label.setText("Aligned by: " + (h.aligned_by or "paths as stored"))
        counts = dict.fromkeys(STATUSES, 0)
        compared = changed = 0
        for e in self._entries:
            counts[e.status] += 1
            if e.status in ("identical", "changed", "dtype_changed"):
                compared += e.numel
            if e.status in ("changed", "dtype_changed"):
                changed += e.num_diff or 0
        for status, chip in self._chips.items():
            chip.setText(f"{counts[status]:,} {STATUS_LABELS[status]}")
            chip.setVisible(bool(counts[status]) or status == IDENTICAL)
        parts = []
        if compared:
            parts.append(f"{format_count(changed)} of {format_count(compared)} compared values "
                         f"changed ({100.0 * changed / compared:.3g}%)")
        if self.header is not None and (self.atol is not None or self.rtol is not None):
            close = sum(1 for e in self._entries if e.close)
            valued = counts["changed"] + counts["dtype_changed"]
            parts.append(f"{close} of {valued} changed tensors within tolerance")
        if self.state == "running":
            parts.append(f"comparing… {len(self._entries):,} of "
                         f"{self.header.pairs if self.header else 0:,} tensors")
        elif self.state == "cancelled":
            parts.append("cancelled: the table shows the tensors compared so far")
        self._totals_label.setText(" · ".join(parts))
        largest = self._largest_entries(3)
        if largest:
            items = ", ".join(f"<b>{_esc(dotted_path(e.path))}</b> ({_change_text(e)})"
                              for e in largest)
            self._largest_label.setText(f"Largest changes: {items}")
        else:
            self._largest_label.setText("")
        self._fill_scalars()

    def _largest_entries(self, n: int) -> list[DiffEntry]:
        if self.report is not None:
            return list(self.report.summary.largest[:n])
        valued = [e for e in self._entries if e.status in ("changed", "dtype_changed")]
        valued.sort(key=lambda e: (-e.change, -(e.max_abs_diff or 0.0)))
        return valued[:n]

    def _fill_scalars(self) -> None:
        scalars = self.header.scalars if self.header is not None else ()
        shown = scalars[:MAX_SCALAR_ROWS]
        if self.scalars_table.rowCount() == len(shown) and shown:
            return  # the header does not change during a run
        self.scalars_table.setRowCount(len(shown))
        for row, s in enumerate(shown):
            a = "(absent)" if s.status == "added" else format_value(s.value_a)
            b = "(absent)" if s.status == "removed" else format_value(s.value_b)
            for col, text in enumerate((dotted_path(s.path), a, b)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.scalars_table.setItem(row, col, item)
        more = len(scalars) - len(shown)
        self._scalars_title.setText(
            "Non-tensor values: " + (f"{len(scalars)} differ" if scalars else "all equal")
            + (f" ({more} not shown)" if more > 0 else ""))

    def _update_rows_label(self) -> None:
        shown, total = self.proxy.rowCount(), self.model.rowCount()
        self._rows_label.setText(f"{shown:,} of {total:,}" if shown != total else f"{total:,} rows")

    # ---- Private API: filter
    def _on_changed_only(self, on: bool) -> None:
        self.proxy.set_changed_only(on)
        self._update_rows_label()

    def _apply_filter(self) -> None:
        self.proxy.set_text(self._filter_edit.text())
        self._update_rows_label()

    def _apply_tolerance(self) -> None:
        atol = _parse_float(self._atol_edit.text())
        rtol = _parse_float(self._rtol_edit.text())
        self.set_tolerance(atol, rtol)

    # ---- Private API: detail
    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        entry = current.data(EntryRole) if current.isValid() else None
        if entry is None or entry is self._detail_entry:
            return
        if self._detail_job:
            self.detail_jobs.cancel(self._detail_job)
        self._clear_detail("")
        self._detail_entry = entry
        self._detail_title.setText(self._entry_title(entry))
        self.metrics_label.setText(self._metrics_html(entry, None))
        if entry.path_a is None and entry.path_b is None:
            return
        self._detail_job = self.detail_jobs.submit(HISTOGRAM_TARGET, {
            "path_a": self.path_a, "path_b": self.path_b, "key_a": entry.path_a,
            "key_b": entry.path_b, "bins": HISTOGRAM_BINS})
        self.overlay_plot.getPlotItem().setTitle("Values: A and B (computing…)")
        self.sig_state_changed.emit()

    def _entry_title(self, e: DiffEntry) -> str:
        title = f"{dotted_path(e.path)} — {STATUS_LABELS.get(e.status, e.status)}"
        if e.path_a is not None and e.path_b is not None and e.path_a != e.path_b:
            title += f"   (A: {dotted_path(e.path_a)})"
        return title

    def _clear_detail(self, message: str) -> None:
        self.histograms = None
        for c in (self.curve_a, self.curve_b, self.curve_delta):
            c.setData([], [])
        self.overlay_plot.getPlotItem().setTitle("Values: A and B")
        self.delta_plot.getPlotItem().setTitle("Δ = B − A")
        if message:
            self._detail_title.setText(message)
            self.metrics_label.setText("")
            self._detail_entry = None

    def _show_histograms(self, h: PairHistograms) -> None:
        entry = self._detail_entry
        self.histograms = h
        edges = list(h.edges)
        self.curve_a.setData(edges, list(h.a.counts) if h.a else [0] * (len(edges) - 1),
                             stepMode="center", fillLevel=0)
        self.curve_b.setData(edges, list(h.b.counts) if h.b else [0] * (len(edges) - 1),
                             stepMode="center", fillLevel=0)
        self.curve_a.setVisible(h.a is not None)
        self.curve_b.setVisible(h.b is not None)
        sampled = f" (every {h.step:,}th value)" if h.step > 1 else ""
        self.overlay_plot.getPlotItem().setTitle("Values: A and B" + sampled)
        self.overlay_plot.getPlotItem().enableAutoRange()
        dp = self.delta_plot.getPlotItem()
        if h.delta_counts:
            self.curve_delta.setData(list(h.delta_edges), list(h.delta_counts),
                                     stepMode="center", fillLevel=0)
            dp.setTitle("Δ = B − A" + sampled)
        else:
            self.curve_delta.setData([], [])
            why = ("one side only" if h.a is None or h.b is None else "shapes differ")
            dp.setTitle(f"Δ = B − A: not defined ({why})")
        dp.enableAutoRange()
        if entry is not None:
            self.metrics_label.setText(self._metrics_html(entry, h))
        self.sig_histograms_shown.emit(h)

    def _metrics_html(self, e: DiffEntry, h: PairHistograms | None) -> str:
        rows = []

        def add(name: str, value: str) -> None:
            rows.append(f"<tr><td style='padding-right:10px'>{name}</td><td>{value}</td></tr>")

        color = STATUS_COLORS.get(e.status, "#888")
        add("status", f"<b style='color:{color}'>{STATUS_LABELS.get(e.status, e.status)}</b>")
        dtype = e.dtype_a if e.dtype_a == e.dtype_b else f"{e.dtype_a or '–'} → {e.dtype_b or '–'}"
        shape = (shape_text(e.shape_a) if e.shape_a == e.shape_b
                 else f"{shape_text(e.shape_a)} → {shape_text(e.shape_b)}")
        add("dtype", _esc(dtype))
        add("shape", _esc(shape))
        if e.max_abs_diff is not None:
            add("max |Δ|", metric_text(e.max_abs_diff))
            add("mean |Δ|", metric_text(e.mean_abs_diff))
            add("rel L2", metric_text(e.rel_l2))
            add("cosine", cosine_text(e.cosine))
        if e.num_diff is not None:
            pct = f" ({100.0 * e.num_diff / e.numel:.3g}%)" if e.numel else ""
            add("# differ", f"{e.num_diff:,} of {e.numel:,}{pct}")
        if e.nan_a or e.nan_b:
            add("NaN", f"{e.nan_a or 0:,} → {e.nan_b or 0:,}")
        if e.close is not None:
            add("close", "yes" if e.close else "no")
        if h is not None:
            if h.a is not None and h.a.mean is not None:
                add(f"<span style='color:rgb{COLOR_A}'>mean A</span>", f"{h.a.mean:.4g}")
            if h.b is not None and h.b.mean is not None:
                add(f"<span style='color:rgb{COLOR_B}'>mean B</span>", f"{h.b.mean:.4g}")
            if h.delta_mean is not None:
                add("mean Δ", f"{h.delta_mean:.4g}")
        notes = [n for n in (e.note, h.note if h else "") if n]
        html = "<table>" + "".join(rows) + "</table>"
        if notes:
            html += "<p><i>" + _esc("; ".join(notes)) + "</i></p>"
        return html


# ---- Helpers
def _esc(text: str) -> str:
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def _stem(path: str) -> str:
    name = file_label(path)
    return name.split(".")[0] or name


def _parse_float(text: str) -> float | None:
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        v = float(text)
    except ValueError:
        return None
    return v if math.isfinite(v) and v >= 0 else None


def _change_text(e: DiffEntry) -> str:
    if e.rel_l2 is not None and math.isfinite(e.rel_l2):
        return f"rel L2 {e.rel_l2:.3g}"
    if e.max_abs_diff is not None:
        return f"max |Δ| {metric_text(e.max_abs_diff)}"
    return STATUS_LABELS.get(e.status, e.status)
