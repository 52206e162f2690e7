"""The compare view: two checkpoints side by side, as a summary, a table and histograms.

The diff itself runs in a worker process (:func:`inspector.core.diff.stream_diff` through
the window's compare runner); rows fill in as entries stream back. Selecting a row asks the
second runner for that pair's histograms (A and B overlaid, and Δ = B − A). Every request
carries its job id; answers from older jobs, and other views' jobs, are dropped.

The summary, the table and the selected pair's plots share a vertical splitter; the plots
appear once a row is selected, so until then the table has all the room. Column widths
(:mod:`inspector.ui.compare.columns`) and the splitter's sizes are remembered in the window's
settings.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QItemSelectionModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from inspector.core.diff import (
    IDENTICAL,
    DiffEntry,
    DiffHeader,
    DiffProblem,
    DiffProgress,
    DiffReport,
    PairHistograms,
    report_from_stream,
)
from inspector.core.remote.urls import local_or_url
from inspector.core.text import dotted_path, file_label
from inspector.ui.compare.columns import ColumnFitter, read_sizes
from inspector.ui.compare.controls import CompareControls
from inspector.ui.compare.detail import PairDetail
from inspector.ui.compare.export import ask_export_path, write_report
from inspector.ui.compare.model import COLUMNS, DiffFilterProxy, DiffTableModel, EntryRole
from inspector.ui.compare.summary import (
    LARGEST_SHOWN,
    VALUED,
    CompareSummary,
    largest_entries,
)
from inspector.ui.workers import ProcessJobs

if TYPE_CHECKING:
    from inspector.core.jobs import JobFailure

STREAM_TARGET = "inspector.core.diff:stream_diff"
HISTOGRAM_TARGET = "inspector.core.diff:pair_histograms"
FLUSH_MS = 120  # streamed entries are added to the table at most this often
HISTOGRAM_BINS = 64
NO_SELECTION = "Select a row to see its values"
SPLITTER_KEY = "compare_splitter"
MIN_DETAIL_HEIGHT = 200
MIN_TABLE_HEIGHT = 260  # the controls and about 9 rows: what the table keeps for the plots
SUMMARY_SHARE = 0.3  # of the splitter's height, at most, for the summary's first height
DETAIL_SHARE = 0.4  # of the splitter's height, the first time the plots appear
NOTICE_STYLE = "QLabel#compareExported { color: #2e9e4f; font-weight: 600; }"


class CompareView(QWidget):
    """Compares checkpoint A with checkpoint B.

    ``jobs`` runs the diff and ``detail_jobs`` the selected pair's histograms; both belong
    to the window (shared by its compare tabs) and outlive the view.

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

    def __init__(self, path_a: str | os.PathLike, path_b: str | os.PathLike, jobs: ProcessJobs,
                 detail_jobs: ProcessJobs, *, strip_prefixes=(), atol: float | None = None,
                 rtol: float | None = None, settings=None, parent: QWidget | None = None):
        super().__init__(parent)
        self.path_a = local_or_url(path_a)
        self.path_b = local_or_url(path_b)
        self.jobs, self.detail_jobs = jobs, detail_jobs
        self.strip_prefixes: tuple[str, ...] = tuple(strip_prefixes)
        self.atol, self.rtol = atol, rtol
        self.state = ""  # "", "running", "done", "cancelled", "failed"
        self.error = ""
        self.header: DiffHeader | None = None
        self.report: DiffReport | None = None
        self.bytes_done = 0
        self._diff_job = 0
        self._detail_job = 0
        self._detail_entry: DiffEntry | None = None
        self._buffer: list[DiffEntry] = []
        self._entries: list[DiffEntry] = []
        self._closed = False
        self._settings = settings
        self._sizes: dict[str, int] = {}  # the summary's and the plots' heights the user set
        self._pending_key: tuple | None = None
        self.same_file = _same_file(self.path_a, self.path_b)

        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(FLUSH_MS)
        self._flush_timer.timeout.connect(self._flush)
        self.model = DiffTableModel(self)
        self.proxy = DiffFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self._build()
        if settings is not None:
            self._use_settings(settings)
        for runner in (self.jobs, self.detail_jobs):
            runner.sig_item.connect(self._on_item)
            runner.sig_finished.connect(self._on_finished)
            runner.sig_crashed.connect(self._on_crashed)
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
        self._clear_detail(NO_SELECTION)
        self.detail.hide()  # until a row is selected
        # "Close" says something only when a tolerance is set
        self.columns.set_hidden(COLUMNS.index("Close"), self.atol is None and self.rtol is None)
        self.columns.reset_content()
        self.columns.fit()
        self.problem_label.hide()
        self.export_label.hide()
        self.state = "running"
        self._diff_job = self.jobs.submit(STREAM_TARGET, {
            "path_a": self.path_a, "path_b": self.path_b,
            "strip_prefixes": self.strip_prefixes, "atol": self.atol, "rtol": self.rtol})
        self._flush_timer.start()
        self._refresh_summary()
        self.sig_state_changed.emit()

    def cancel(self) -> None:
        """Stop the running diff (rows compared so far stay)."""
        if self.running and self._diff_job:
            self.jobs.cancel(self._diff_job)

    def set_strip_prefixes(self, prefixes) -> None:
        """Force these prefixes off both sides' keys and re-run."""
        self.strip_prefixes = tuple(p.strip() for p in prefixes if p and p.strip())
        self.start()

    def set_tolerance(self, atol: float | None, rtol: float | None) -> None:
        """Set atol/rtol (None: not asked for) and re-run; adds the "Close" flag."""
        self.atol, self.rtol = atol, rtol
        self.controls.set_tolerance(atol, rtol)
        self.start()

    def set_changed_only(self, on: bool) -> None:
        self.controls.set_changed_only(on)

    def set_filter(self, text: str) -> None:
        """Filter rows by path text now (the box itself is debounced)."""
        self.controls.set_filter(text)

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

    def select_key(self, path: Sequence | str) -> bool:
        """Select the row of the tensor at key ``path`` (a sequence of keys, or the dotted
        text the table shows), in B's or in A's naming, and show its plots.

        True when the row was selected. While the diff runs, a key not compared yet is
        selected when its row arrives (False now); False too when no such tensor exists.
        """
        entry = self._find_entry(path)
        if entry is not None:
            self._pending_key = None
            return self.select_entry(entry)
        self._pending_key = (path,) if isinstance(path, str) else tuple(path)
        if not self.running:
            self._pending_key = None
        return False

    def largest_change(self) -> DiffEntry | None:
        """The biggest value change, preferring tensors of more than one element (a
        histogram of one value says little); else the first structural change."""
        largest = sorted((e for e in self._all_entries() if e.status in VALUED),
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
        """The selected row's pair (None when no row is selected)."""
        rows = self.table.selectionModel().selectedRows()
        return rows[0].data(EntryRole) if rows else None

    def export_report(self, path: str) -> None:
        """Write the report as JSON (``.json``) or CSV (anything else).

        Raises ValueError before the diff is complete or when ``path`` is one of the
        compared files, OSError when the file cannot be written.
        """
        if self.report is None:
            raise ValueError("the comparison is not complete yet")
        write_report(self.report, path, (self.path_a, self.path_b))
        kind = "JSON report" if path.lower().endswith(".json") else "CSV table"
        self.export_label.setText(f"Saved the comparison ({kind}, "
                                  f"{len(self.report.entries):,} tensors) to "
                                  f"{os.path.abspath(path)}")
        self.export_label.show()

    def export_dialog(self) -> None:
        if self.report is None:
            return
        path = ask_export_path(self, self.path_a, self.path_b)
        if not path:
            return
        try:
            self.export_report(path)
        except (OSError, ValueError) as e:
            self.export_label.hide()
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
        """Stop this view's jobs and stop listening to the runners (which stay alive)."""
        if self._closed:
            return
        self.cancel()
        if self._detail_job:
            self.detail_jobs.cancel(self._detail_job)
        self._diff_job = self._detail_job = 0  # their answers are no longer listened to
        self._closed = True
        self._flush_timer.stop()
        self.controls.stop()
        for runner in (self.jobs, self.detail_jobs):
            for sig, slot in ((runner.sig_item, self._on_item),
                              (runner.sig_finished, self._on_finished),
                              (runner.sig_crashed, self._on_crashed)):
                try:
                    sig.disconnect(slot)
                except (RuntimeError, TypeError):
                    pass  # the runner is already gone
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

        self.problem_label = QLabel()
        self.problem_label.setTextFormat(Qt.TextFormat.PlainText)  # names files and keys
        self.problem_label.setObjectName("compareProblem")
        self.problem_label.setWordWrap(True)
        self.problem_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.problem_label.setStyleSheet(
            "QLabel#compareProblem { color: #d64545; font-weight: 600; }")
        self.problem_label.hide()
        layout.addWidget(self.problem_label)
        self.export_label = QLabel()
        self.export_label.setTextFormat(Qt.TextFormat.PlainText)  # names a file
        self.export_label.setObjectName("compareExported")
        self.export_label.setWordWrap(True)
        self.export_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.export_label.setStyleSheet(NOTICE_STYLE)
        self.export_label.hide()
        layout.addWidget(self.export_label)
        self.summary = CompareSummary()
        if self.same_file:
            self.summary.set_notice(same_file_text(self.path_a))
        self.controls = CompareControls()
        self.controls.sig_strip_prefix.connect(self.strip_prefix_dialog)
        self.controls.sig_compare_again.connect(self.set_tolerance)
        self.controls.sig_changed_only.connect(self._on_changed_only)
        self.controls.sig_filter.connect(self._on_filter)
        self.controls.sig_export.connect(self.export_dialog)

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
        self.columns = ColumnFitter(self.table, self.model, self)
        # a selected row, not merely the current one: focus alone makes row 0 current
        self.table.selectionModel().selectionChanged.connect(self._on_selection_changed)
        middle = QWidget()
        middle_layout = QVBoxLayout(middle)
        middle_layout.setContentsMargins(0, 0, 0, 0)
        middle_layout.setSpacing(6)
        middle_layout.addWidget(self.controls)
        middle_layout.addWidget(self.table, 1)

        self.detail = PairDetail()
        self.detail.hide()  # the plots appear once a row is selected
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("compareSplitter")
        self.splitter.addWidget(self.summary)
        self.splitter.addWidget(middle)
        self.splitter.addWidget(self.detail)
        for i, stretch in enumerate((0, 1, 0)):
            self.splitter.setStretchFactor(i, stretch)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.splitterMoved.connect(self._on_splitter_moved)
        layout.addWidget(self.splitter, 1)

    # ---- Private API: diff stream
    def _on_item(self, job_id: int, item) -> None:
        if job_id == self._diff_job and self._diff_job:
            if isinstance(item, DiffProgress):
                self._buffer.append(item.entry)
                self.bytes_done = item.bytes_done
            elif isinstance(item, DiffHeader):
                self.header = item
                self._refresh_summary()
                self._fit_summary()  # the non-tensor values are known now
                self.sig_state_changed.emit()
            elif isinstance(item, DiffProblem):
                self.error = item.message
        elif job_id == self._detail_job and self._detail_job:
            if isinstance(item, PairHistograms):
                self._show_histograms(item)
            elif isinstance(item, DiffProblem):
                self._clear_detail(f"Could not read this pair: {item.message}")

    def _on_finished(self, job_id: int, cancelled: bool, failure: JobFailure | None) -> None:
        if job_id == self._diff_job and self._diff_job:
            self._flush()
            self._flush_timer.stop()
            self._diff_job = 0
            error = self.error or (str(failure) if failure else "")
            if error:
                self._fail(error)
            else:
                self.state = "cancelled" if cancelled else "done"
                if self.header is not None and not cancelled:
                    self.report = report_from_stream(self.header, self._entries)
                self._refresh_summary()
            self._pending_key = None  # a key asked for that never came
            self._fit_summary()
            self.controls.export_button.setEnabled(self.report is not None)
            self.sig_state_changed.emit()
            self.sig_diff_finished.emit(self.state)
        elif job_id == self._detail_job and self._detail_job:
            self._detail_job = 0
            if failure:
                self._clear_detail(f"Could not compute histograms: {_first_line(str(failure))}")
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
        first = _first_line(error)
        self.error = first
        self._show_problem(f"Comparison failed: {first}")
        self._refresh_summary()
        self.sig_error.emit(f"Could not compare {file_label(self.path_a)} with "
                            f"{file_label(self.path_b)}: {first}")

    def _show_problem(self, text: str) -> None:
        self.problem_label.setText(text)
        self.problem_label.show()

    def _flush(self) -> None:
        if self._buffer:
            batch, self._buffer = self._buffer, []
            self._entries.extend(batch)
            self.model.add_entries(batch)
            self.columns.measure(batch)
            self._refresh_summary()
            self._update_rows_label()
            if self._pending_key is not None:
                self.select_key(self._pending_key)
        self.sig_state_changed.emit()

    # ---- Private API: sizes and settings
    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        if self._settings is None:
            # a window that did not pass its settings: use them if it has them
            settings = getattr(self.window(), "settings", None)
            if settings is not None and hasattr(settings, "splitter_state"):
                self._use_settings(settings)
        self._fit_summary()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit_summary()  # its lines wrap differently at another width

    def _use_settings(self, settings) -> None:
        self._settings = settings
        self._sizes = _read_sizes(settings)
        self.columns.set_settings(settings)
        self._fit_summary()

    def _fit_summary(self) -> None:
        """The summary as tall as its content (or as the user made it); the table the rest."""
        sizes = self.splitter.sizes()
        total = sum(sizes)
        if total <= 0:
            return
        want = self._sizes.get("summary") or self.summary.wanted_height(self.splitter.width())
        want = min(want, max(120, int(total * SUMMARY_SHARE)))
        if want != sizes[0]:
            self.splitter.setSizes([want, total - want - sizes[2], sizes[2]])

    def _on_splitter_moved(self, _pos: int, index: int) -> None:
        sizes = self.splitter.sizes()
        if index == 1:
            self._sizes["summary"] = sizes[0]
        elif index == 2 and sizes[2] > 0:
            self._sizes["detail"] = sizes[2]
        if self._settings is not None:
            self._settings.set_splitter_state(
                SPLITTER_KEY, QByteArray(json.dumps(self._sizes, sort_keys=True).encode()))

    def _find_entry(self, path: Sequence | str) -> DiffEntry | None:
        if isinstance(path, str):
            return next((e for e in self._entries
                         if dotted_path(e.path) == path
                         or e.path_a is not None and dotted_path(e.path_a) == path), None)
        key = tuple(path)
        return next((e for e in self._entries
                     if tuple(e.path) == key or e.path_a is not None and tuple(e.path_a) == key),
                    None)

    # ---- Private API: summary and filters
    def _all_entries(self) -> list[DiffEntry]:
        return self._entries + self._buffer

    def _refresh_summary(self) -> None:
        largest = (list(self.report.summary.largest[:LARGEST_SHOWN]) if self.report is not None
                   else largest_entries(self._entries))
        self.summary.show_state(self.path_a, self.path_b, self.header, self._entries, largest,
                                self.state, self.atol is not None or self.rtol is not None)
        if self.same_file:
            self.summary.set_notice(same_file_text(self.path_a))
        elif (self.state == "done" and self.header is not None and not self.header.scalars
              and self._entries and all(e.status == IDENTICAL for e in self._entries)):
            self.summary.set_notice(f"No differences: all {len(self._entries):,} tensors are "
                                    "identical and the non-tensor values are equal.")
        else:
            self.summary.set_notice("")

    def _update_rows_label(self) -> None:
        self.controls.set_rows(self.proxy.rowCount(), self.model.rowCount())

    def _on_changed_only(self, on: bool) -> None:
        self.proxy.set_changed_only(on)
        self._update_rows_label()

    def _on_filter(self, text: str) -> None:
        self.proxy.set_text(text)
        self._update_rows_label()

    # ---- Private API: detail
    def _on_selection_changed(self, *_args) -> None:
        entry = self.current_entry()
        if entry is None or entry is self._detail_entry:
            return
        if self._detail_job:
            self.detail_jobs.cancel(self._detail_job)
            self._detail_job = 0
        self._detail_entry = entry
        self._show_detail_pane()
        computing = entry.path_a is not None or entry.path_b is not None
        self.detail.show_entry(entry, computing)
        if not computing:
            return
        self._detail_job = self.detail_jobs.submit(HISTOGRAM_TARGET, {
            "path_a": self.path_a, "path_b": self.path_b, "key_a": entry.path_a,
            "key_b": entry.path_b, "bins": HISTOGRAM_BINS})
        self.sig_state_changed.emit()

    def _show_detail_pane(self) -> None:
        """The plots appear under the table, at the height the user gave them last."""
        if not self.detail.isHidden():
            return
        sizes = self.splitter.sizes()
        total = sum(sizes)
        self.detail.show()
        if total <= 0:
            return
        want = self._sizes.get("detail") or max(MIN_DETAIL_HEIGHT, int(total * DETAIL_SHARE))
        want = min(want, max(0, total - sizes[0] - MIN_TABLE_HEIGHT))
        self.splitter.setSizes([sizes[0], total - sizes[0] - want, want])

    def _clear_detail(self, message: str) -> None:
        self._detail_entry = None
        self.detail.show_message(message)

    def _show_histograms(self, h: PairHistograms) -> None:
        if self._detail_entry is not None:
            self.detail.show_histograms(self._detail_entry, h)
        self.sig_histograms_shown.emit(h)


def same_file_text(path: str) -> str:
    return (f"A and B are the same file ({file_label(path)}): it is compared with itself, so "
            "every tensor and value is identical.")


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _read_sizes(settings) -> dict[str, int]:
    return read_sizes(settings, SPLITTER_KEY, ("summary", "detail"), 40)


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text.strip() else "unknown error"
