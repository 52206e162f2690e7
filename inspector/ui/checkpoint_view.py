"""One open checkpoint: the summary on top, then a tab widget of views.

"Tensors" comes first: the tree with its filter bar beside the TensorPanel. A Details view
(format-specific text) and an Inference view follow when the file has them; other features
add views with :meth:`CheckpointView.add_view`. Statistics of every tensor run as a job of
the window's statistics runner (:mod:`inspector.core.stats_job`); the tree fills in as they
arrive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QModelIndex, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from inspector.core.opening import PreparedCheckpoint, summarize_checkpoint
from inspector.core.text import dotted_path, file_label, format_bytes, format_count
from inspector.ui import resources
from inspector.ui.collector import allow_collections
from inspector.ui.first_paint import after_first_paint
from inspector.ui.lazy_view import LazyView
from inspector.ui.loading import LoadedCheckpoint, warm_up_plotting
from inspector.ui.settings import Settings
from inspector.ui.summary_panel import SummaryPanel
from inspector.ui.table.mode import InferenceShortcut, TableMode
from inspector.ui.tree import CheckpointTreeModel, TensorFilterProxy, TreeData
from inspector.ui.tree.copy_menu import install_copy_menu, tree_row_texts
from inspector.ui.tree.items import full_tree
from inspector.ui.tree.proxy import parse_pattern
from inspector.ui.tree_pane import FilterBar, attach_model, build_tree_view, expand_matches
from inspector.ui.workers import Runners, run_in_pool

if TYPE_CHECKING:  # the statistics' modules load when statistics first run
    from inspector.core.jobs import JobFailure
    from inspector.core.stats_job import TensorStatsResult

FILTER_DEBOUNCE_MS = 200
RESTAT_MS = 1000  # arriving statistics re-apply a stats filter or sort at most this often
STATS_FLUSH_MS = 50  # arriving statistics reach the tree in batches this often
EXPAND_BUDGET = 600  # a filter opens its tree top-down as far as this many rows go
MAX_SUMMARY_HEIGHT = 260  # taller summaries scroll: the tree keeps most of the window


class CheckpointView(TableMode, InferenceShortcut, QWidget):
    """One open checkpoint: summary, tree with filter, tensor panel and further views.

    Emits
    -----
    sig_loaded()
        The file's metadata has been read and the tree is shown.
    sig_current_changed(object)
        The selected row changed; argument: the Node's key path, or None.
    sig_stats_changed()
        Statistics progressed (the status bar follows).
    sig_stats_ended(str, str)
        Statistics ended: "done", "cancelled" or "failed", and a message for the user ("").
    """

    sig_loaded = Signal()
    """The checkpoint is open and shown."""
    sig_current_changed = Signal(object)
    """The current row changed: the key path of its Node (None for a module group)."""
    sig_stats_changed = Signal()
    """Statistics arrived or their total became known."""
    sig_stats_ended = Signal(str, str)
    """Statistics ended: state, and a message to show ("" when there is none)."""

    def __init__(self, path: str, settings: Settings, runners: Runners,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.path = path
        self.ckpt = None
        self.model: CheckpointTreeModel | None = None
        self.proxy: TensorFilterProxy | None = None
        self.tree: QTreeView | None = None
        self.table = None  # the flat table (inspector.ui.table.FlatTable), built on first use
        self._left_stack: QStackedWidget | None = None
        self._full_tree: TreeData | None = None  # every row, built in a pool thread
        self.tensor_panel = None
        self.summary_panel: SummaryPanel | None = None
        self.filter_bar: FilterBar | None = None
        self.stats_job_id = 0
        self.stats_total = 0
        self.stats_done = 0
        self.stats_running = False
        self.stats_state = ""  # "", "running", "done", "cancelled", "failed"
        self.summary_pending = False  # a big file's summary is computed after the tree shows
        self._settings = settings
        self._runners = runners
        self._closed = False
        self._current_path: tuple | None = None
        self._views: QTabWidget | None = None
        self._splitter: QSplitter | None = None
        self._vsplit: QSplitter | None = None
        self._inference_view: LazyView | None = None
        self._stats_buffer: list[TensorStatsResult] = []

        self._stack = QStackedWidget(self)
        loading = QLabel(f"Opening {file_label(path)}…", alignment=Qt.AlignmentFlag.AlignCenter)
        loading.setObjectName("loadingLabel")
        loading.setTextFormat(Qt.TextFormat.PlainText)
        self._stack.addWidget(loading)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._stack)

        self._filter_timer = _single_shot(self, FILTER_DEBOUNCE_MS, self.apply_filter)
        self._restat_timer = _single_shot(self, RESTAT_MS, self._refresh_for_stats)
        self._stats_timer = _single_shot(self, STATS_FLUSH_MS, self._flush_stats)
        jobs = runners.stats
        jobs.sig_item.connect(self._on_stats_item)
        jobs.sig_finished.connect(self._on_stats_finished)
        jobs.sig_crashed.connect(self._on_stats_crashed)

    # ---- Public API: the document
    @property
    def is_loaded(self) -> bool:
        return self.ckpt is not None

    @property
    def inference_panel(self):
        """The Inference view's panel (built on first use), or None for a file without one."""
        return self._inference_view.widget() if self._inference_view is not None else None

    @property
    def inference_view(self) -> LazyView | None:
        """The Inference tab's page (its panel is built when first shown), or None."""
        return self._inference_view

    def set_checkpoint(self, loaded: LoadedCheckpoint) -> None:
        """Show an opened checkpoint (called on the GUI thread once reading finished)."""
        prepared = loaded.prepared
        if self._closed:
            prepared.ckpt.close()
            return
        self.ckpt = prepared.ckpt
        self.model = CheckpointTreeModel(self.ckpt, prepared.labels, self, prepared=loaded.tree)
        self.proxy = TensorFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self._build_content(prepared)
        self._stack.setCurrentIndex(1)
        self._add_feature_views()
        self.sig_loaded.emit()

    def add_view(self, name: str, widget: QWidget, icon_name: str | None = None) -> int:
        """Add a view next to "Tensors" (inference, diff, …); returns its tab index."""
        if self._views is None:
            raise RuntimeError("the checkpoint is not loaded yet")
        if icon_name:
            return self._views.addTab(widget, resources.icon(icon_name), name)
        return self._views.addTab(widget, name)

    def view_names(self) -> list[str]:
        if self._views is None:
            return []
        return [self._views.tabText(i) for i in range(self._views.count())]

    def current_view_index(self) -> int:
        return self._views.currentIndex() if self._views is not None else -1

    def select_view(self, name: str) -> bool:
        """Show the view whose title is ``name`` (case-insensitive); False if there is none."""
        for i, title in enumerate(self.view_names()):
            if title.replace("&", "").lower() == name.lower():
                self._views.setCurrentIndex(i)
                return True
        return False

    def close_document(self) -> None:
        """Stop statistics, stop listening to the runners and release the file."""
        if self._closed:
            return
        self._closed = True
        self._full_tree = None
        if self.stats_running:
            self._runners.stats.cancel(self.stats_job_id)
        self.stats_job_id = 0
        jobs = self._runners.stats
        for sig, slot in ((jobs.sig_item, self._on_stats_item),
                          (jobs.sig_finished, self._on_stats_finished),
                          (jobs.sig_crashed, self._on_stats_crashed)):
            sig.disconnect(slot)
        for timer in (self._filter_timer, self._restat_timer, self._stats_timer):
            timer.stop()
        if self.ckpt is not None:
            self.ckpt.close()
            allow_collections()  # its metadata was kept out of collections while open

    def save_layout(self) -> None:
        if self._splitter is not None:
            self._settings.set_splitter_state("tree_panel", self._splitter.saveState())

    # ---- Public API: the tree
    @property
    def filter_edit(self):
        """The filter's line edit (None until the file is loaded)."""
        return self.filter_bar.edit if self.filter_bar is not None else None

    def focus_filter(self) -> None:
        if self.filter_bar is not None:
            self.filter_bar.edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
            self.filter_bar.edit.selectAll()

    def set_filter(self, text: str, regex: bool | None = None) -> None:
        """Set the filter text (and optionally the regex toggle) and apply it now."""
        if self.filter_bar is None:
            return
        if regex is not None:
            self.filter_bar.regex_button.setChecked(regex)
        self.filter_bar.edit.setText(text)
        self.apply_filter()

    def apply_filter(self) -> None:
        """Apply the filter box and "NaN/Inf only" to the tree.

        A filter exposes every row first; clearing it exposes big modules batch-wise again
        (unless the tree is sorted), so that the view never lays out 10,000 rows of one
        module at once. Either happens inside the one model reset the filter costs.
        """
        self._filter_timer.stop()
        if self.proxy is None:
            return
        text = self.filter_bar.text()
        nan_only = self.filter_bar.nan_inf_only()
        filtering = bool(text.strip()) or nan_only
        model = self.model
        change = None
        group = (model.item(self.proxy.mapToSource(self.tree.currentIndex()))
                 if self._current_path is None else None)  # a module row stays current too
        if filtering and not model.is_fully_fetched():
            change = self._exposing_change()
        elif not filtering and self.proxy.is_filtering() and self.proxy.sortColumn() < 0:
            keep = self._current_path

            def change() -> None:
                model.limit_exposure(keep, group)
        self.proxy.set_filter(text, self.filter_bar.is_regex(), nan_only, source_change=change)
        if filtering:
            self._expand_matches()
            self.filter_bar.show_matches(self.proxy.matches)
        else:
            self.filter_bar.show_matches(None)
            self._expand_default(fresh=True)  # the reset collapsed every row
        if self.table is not None:
            needle, compiled, _error = parse_pattern(text, self.filter_bar.is_regex())
            n = self.table.apply_filter(needle, compiled, nan_only)
            if self.is_table_shown():
                self.filter_bar.show_matches(n if filtering else None)
        if self.is_table_shown():  # the tree follows when it is shown again
            return self.keep_current(self.table.select_path)
        if self._current_path is not None:
            self.keep_current(lambda p: self.select_path(p, scroll=True))
        elif group is not None and model.index_of(group).isValid():
            self._select_index(self.proxy.mapFromSource(model.index_of(group)), True)

    def show_nan_inf_only(self) -> None:
        """Filter to the tensors with NaN or Inf values (the summary's link)."""
        if self.filter_bar is not None:
            self.filter_bar.edit.clear()
            self.filter_bar.nan_check.setChecked(True)  # applies the filter
            self.apply_filter()

    def expand_all(self) -> None:
        """Expand every row (exposing every row of a lazily fetched tree first)."""
        if self.tree is None:
            return
        if not self.model.is_fully_fetched():
            current = self.model.item(self.proxy.mapToSource(self.tree.currentIndex()))
            path = current.path if current is not None and current.node is not None else None
            self.model.reset_with(self._exposing_change())  # the current row is restored below
            if path is not None:
                self.select_path(path, scroll=False)
            elif current is not None and self.model.index_of(current).isValid():
                self.tree.setCurrentIndex(self.proxy.mapFromSource(self.model.index_of(current)))
        self.tree.expandAll()

    def collapse_all(self) -> None:
        if self.tree is not None:
            self.tree.collapseAll()

    def select_path(self, path: tuple, scroll: bool = True) -> bool:
        """Make the Node at ``path`` the current row (expanding its ancestors)."""
        if self.model is None:
            return False
        if self._full_tree is not None and not self.model.has_row(path):
            self.model.reset_with(self._exposing_change())  # rows built in the pool thread
        src = self.model.index_for_path(tuple(path))
        if not src.isValid():
            return False
        return self._select_index(self.proxy.mapFromSource(src), scroll)

    def _select_index(self, index: QModelIndex, scroll: bool) -> bool:
        if not index.isValid():
            return False
        parent = index.parent()
        while parent.isValid():
            self.tree.expand(parent)
            parent = parent.parent()
        self.tree.setCurrentIndex(index)
        if scroll:
            self.tree.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
        return True

    def select_largest_tensor(self) -> tuple | None:
        """Select the tensor with the most bytes; returns its path (None without tensors)."""
        if self.ckpt is None:
            return None
        nodes = self.ckpt.tensor_nodes()
        if not nodes:
            return None
        best = max(nodes, key=lambda n: n.tensor.nbytes)
        path = best.path()
        self.select_path(path)
        return path

    def current_path(self) -> tuple | None:
        return self._current_path

    # ---- Public API: statistics
    def start_stats(self) -> None:
        """(Re)compute the statistics of every tensor on the window's statistics runner."""
        if self.ckpt is None or self._closed:
            return
        old, self.stats_job_id = self.stats_job_id, 0
        if self.stats_running:
            self._runners.stats.cancel(old)  # its answers no longer match stats_job_id
        self._stats_buffer.clear()
        from inspector.core import stats_job  # not before the tree's first paint

        self.stats_job_id = self._runners.stats.submit(
            stats_job.TARGET, {"path": self.ckpt.path, "device": self._settings.stats_device()})
        self.stats_total = self.ckpt.totals()["num_tensors"]
        self.stats_done = 0
        self.stats_running = True
        self.stats_state = "running"
        self.model.clear_stats()
        self.model.set_stats_pending(True)
        if self.table is not None:
            self.table.table_model.set_stats_pending(True)
        self.tree.viewport().update()
        self._show_current()

    def cancel_stats(self) -> None:
        """Stop the statistics job; the results so far stay."""
        if self.stats_running:
            self._runners.stats.cancel(self.stats_job_id)

    def add_stats(self, results: list[TensorStatsResult]) -> None:
        """Show statistics (or the errors that prevented them) in the tree and the panel."""
        for result in results:
            path = tuple(result.path)
            self.model.set_stats(path, result.stats, result.error)
            if path == self._current_path and self.tensor_panel is not None:
                if result.stats is not None:
                    self.tensor_panel.set_stats(result.stats)
                else:
                    self.tensor_panel.set_stats_error(result.error or "statistics unavailable")
        self.stats_done += len(results)
        if self.table is not None:
            self.table.table_model.stats_changed()
        if (self.proxy.depends_on_stats() or self.table is not None) \
                and not self._restat_timer.isActive():
            self._restat_timer.start()

    # ---- Private API: statistics
    def _on_stats_item(self, job_id: int, item) -> None:
        if job_id != self.stats_job_id or not self.stats_running:
            return
        from inspector.core import stats_job
        from inspector.core.jobs import JobProgress
        from inspector.core.stats_job import TensorStatsResult

        if isinstance(item, JobProgress):
            self.stats_total = item.total
            self.sig_stats_changed.emit()
        elif isinstance(item, TensorStatsResult):
            self._stats_buffer.append(item)
            if not self._stats_timer.isActive():
                self._stats_timer.start()
        elif isinstance(item, stats_job.DeviceNote):  # the chosen GPU is not available
            show = getattr(self.window(), "show_message", None)
            if show is not None:
                show(item.message, "warning")

    def _flush_stats(self) -> None:
        self._stats_timer.stop()
        if self._stats_buffer:
            batch, self._stats_buffer = self._stats_buffer, []
            self.add_stats(batch)
            self.sig_stats_changed.emit()

    def _on_stats_finished(self, job_id: int, cancelled: bool, failure: JobFailure | None) -> None:
        if job_id != self.stats_job_id:
            return
        self._flush_stats()
        if failure is not None:
            self._end_stats("failed", f"Statistics for {self.path} failed: {failure}")
        else:
            self._end_stats("cancelled" if cancelled else "done", "")

    def _on_stats_crashed(self, job_id: int, message: str) -> None:
        if job_id != self.stats_job_id:
            return
        self._flush_stats()
        self._end_stats("failed", f"Statistics for {self.path} stopped: {message}. "
                                  "The window is fine; press F5 to try again.")

    def _end_stats(self, state: str, message: str) -> None:
        self.stats_running = False
        self.stats_state = state
        self.model.set_stats_pending(False)
        self.tree.fit_columns(self.model.widest_texts())  # NaN/Inf counts never elide
        self._show_finiteness()
        self._fit_summary()
        if self.table is not None:
            self.table.table_model.set_stats_pending(False)
            self.table.table_model.stats_changed(resort=True)
        self.tree.viewport().update()
        if self.proxy.depends_on_stats():
            self._refresh_for_stats()
        self.sig_stats_ended.emit(state, message)

    def _show_finiteness(self) -> None:
        self.summary_panel.show_finiteness(
            len(self.model.nan_inf_paths()) if self.model.stats_count() else None,
            self.model.stats_count(), self.stats_total, self.stats_state == "done")

    def _refresh_for_stats(self) -> None:
        self._restat_timer.stop()
        if self.proxy is None:
            return
        if self.table is not None:
            self.table.table_model.stats_changed(resort=True)
            if self.filter_bar.nan_inf_only():
                self.apply_filter()
                return
        self.proxy.refresh()
        if self.proxy.is_filtering():
            self.filter_bar.show_matches(self.proxy.matches)
            self._expand_matches()

    # ---- Private API: building
    def _build_content(self, prepared: PreparedCheckpoint) -> None:
        content = QWidget(self)
        outer = QVBoxLayout(content)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        vsplit = QSplitter(Qt.Orientation.Vertical, content)
        vsplit.setChildrenCollapsible(False)
        self.summary_panel = SummaryPanel(vsplit)
        self.summary_panel.sig_show_nan_inf.connect(self.show_nan_inf_only)
        if prepared.summary is not None:
            self.summary_panel.show_checkpoint(self.ckpt, prepared.summary)
        elif prepared.summary_later:
            self.summary_pending = True  # computed once the tree is painted
            self.summary_panel.show_pending(self.ckpt)
        vsplit.addWidget(self.summary_panel)

        self._views = QTabWidget(vsplit)
        self._views.setDocumentMode(True)
        self._views.setTabBarAutoHide(True)
        vsplit.addWidget(self._views)
        vsplit.setStretchFactor(0, 0)
        vsplit.setStretchFactor(1, 1)
        vsplit.setSizes([min(self.summary_panel.sizeHint().height(), MAX_SUMMARY_HEIGHT), 10_000])
        outer.addWidget(vsplit)
        self._vsplit = vsplit

        self._splitter = QSplitter(Qt.Orientation.Horizontal)
        self._splitter.setChildrenCollapsible(False)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(6, 6, 0, 0)
        left_layout.setSpacing(4)
        self.filter_bar = FilterBar(self._settings)
        self.filter_bar.sig_edited.connect(self._filter_timer.start)
        self.filter_bar.sig_apply.connect(self.apply_filter)
        self.proxy.sig_pattern_error.connect(self.filter_bar.show_pattern_error)
        left_layout.addWidget(self.filter_bar)
        self.filter_bar.sig_mode.connect(self.show_mode)
        self.tree = build_tree_view()
        self._left_stack = QStackedWidget()
        self._left_stack.addWidget(self.tree)
        left_layout.addWidget(self._left_stack)
        self._splitter.addWidget(left)
        # The TensorPanel (pyqtgraph: ~0.5 s to import, ~0.15 s to build) is made on the
        # first selection; pyqtgraph is imported in a pool thread once the tree is painted.
        self._splitter.addWidget(self._build_placeholder())
        self._splitter.setStretchFactor(0, 3)
        self._splitter.setStretchFactor(1, 2)
        state = self._settings.splitter_state("tree_panel")
        if state is None or not self._splitter.restoreState(state):
            self._splitter.setSizes([900, 500])
        self._views.addTab(self._splitter, resources.icon("tensor"), "Tensors")
        # Ctrl+R runs the model (Inference tab); on the Tensors tab it goes there and runs
        run = QShortcut(QKeySequence("Ctrl+R"), self._splitter)
        run.setContext(Qt.ShortcutContext.WindowShortcut)  # only while the tab is shown
        run.activated.connect(self.run_inference)
        self._stack.addWidget(content)
        self._attach_model()
        self._expand_default(fresh=True)
        after_first_paint(self.tree.viewport(), self._after_first_paint)

    def _add_feature_views(self) -> None:
        """A Details view when the format has more to show (code, graph, shards, config),
        and an Inference view (train vs. eval mode) for files with tensors."""
        from inspector.core.details import detail_sections
        from inspector.ui.details_view import DetailsView

        sections = detail_sections(self.ckpt)
        if sections:
            self.add_view("Details", DetailsView(self.ckpt, sections), "info")
        if self.ckpt.tensor_nodes():
            self._inference_view = LazyView(self._build_inference_panel)
            self.add_view("Inference", self._inference_view)

    def _build_inference_panel(self) -> QWidget:
        from inspector.ui.inference import InferencePanel

        return InferencePanel(self.path, self._settings, self._runners.inference)

    def _after_first_paint(self) -> None:
        if self._closed or not self.isVisible():
            return
        # the summary's height above was a guess for a typical width: fit the real one
        self._fit_summary()
        if self.summary_pending:  # first the summary, then the rest (one thread at a time)
            run_in_pool(summarize_checkpoint, self.ckpt, on_result=self._on_summary,
                        on_finished=self._warm_up)
        else:
            self._warm_up()

    def _warm_up(self) -> None:
        """Background work that makes later steps quick: the plotting import, every row."""
        if self._closed:
            return
        warm_up_plotting()
        self._build_full_tree()

    def _on_summary(self, summary) -> None:
        """The summary of a big file, computed after its tree was painted."""
        self.summary_pending = False
        if self._closed or summary is None:
            return
        self.summary_panel.show_checkpoint(self.ckpt, summary)
        if self.stats_state in ("done", "cancelled", "failed"):
            self._show_finiteness()
        # its new rows are shown in the next event-loop turn: fit the height after that
        QTimer.singleShot(0, self, self._fit_summary)

    def _build_placeholder(self) -> QLabel:
        label = QLabel("Select a tensor or an item in the tree to see its details, "
                       "statistics, histogram and values.")
        label.setObjectName("tensorPlaceholder")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setWordWrap(True)
        label.setMargin(24)
        label.setEnabled(False)  # the muted text colour of the palette
        return label

    def _ensure_tensor_panel(self):
        """The TensorPanel, built in place of the placeholder on first need (this imports
        pyqtgraph, ~0.5-0.8 s, unless :func:`warm_up_plotting` already has)."""
        if self.tensor_panel is None and self._splitter is not None:
            from inspector.ui.tensor import TensorPanel
            from inspector.ui.theme import configure_plotting

            configure_plotting()  # before the first plot widget exists
            panel = TensorPanel(self._runners.tensor)
            placeholder = self._splitter.widget(1)
            sizes = self._splitter.sizes()
            self._splitter.replaceWidget(1, panel)
            self._splitter.setSizes(sizes)
            if placeholder is not None:
                placeholder.deleteLater()
            self.tensor_panel = panel
        return self.tensor_panel

    def _fit_summary(self) -> None:
        """Give the summary the height its content needs at its real width (no blank band)."""
        if self._vsplit is None or self.summary_panel is None:
            return
        sizes = self._vsplit.sizes()
        total = sum(sizes)
        want = min(self.summary_panel.sizeHint().height(), MAX_SUMMARY_HEIGHT)
        if total > 0 and want > 0 and want != sizes[0]:
            self._vsplit.setSizes([want, total - want])

    def _attach_model(self) -> None:
        attach_model(self.tree, self.proxy, self._settings.column_widths("tree"),
                     self.model.widest_texts())
        install_copy_menu(self.tree, lambda i: tree_row_texts(self.model, self.proxy, i))
        self.tree.sig_columns_resized.connect(
            lambda: self._settings.set_column_widths("tree", self.tree.user_widths()))
        self.tree.header().sortIndicatorChanged.connect(self._on_sort_changed)
        self.tree.selectionModel().currentChanged.connect(self._on_current_changed)

    # ---- Private API: the tree
    def _expand_default(self, fresh: bool = False) -> None:
        """Open the top level when it is small, so the interesting part shows at once."""
        if not fresh:  # a new view has nothing expanded (and collapsing lays out every row)
            self.tree.collapseAll()
        rows = self.proxy.rowCount()
        if rows > 20:
            return
        for row in range(rows):
            index = self.proxy.index(row, 0)
            if self.proxy.hasChildren(index):
                self.tree.expand(index)

    def _expand_matches(self) -> None:
        expand_matches(self.tree, self.model, self.proxy, EXPAND_BUDGET)

    def _on_sort_changed(self, column: int, _order: Qt.SortOrder) -> None:
        if column >= 0 and not self.model.is_fully_fetched():
            self.model.reset_with(self._exposing_change())

    def _exposing_change(self):
        """Exposes every row in a reset: adopts the rows a pool thread built, or builds them."""
        full, self._full_tree = self._full_tree, None
        model = self.model
        if full is None:
            return model.expose_all_rows

        def change() -> None:
            model.adopt(full)
            model.expose_all_rows()
        return change

    def _build_full_tree(self) -> None:
        """Build and index every row in a pool thread, for the first filter or sort."""
        if self.model is None or self.model.is_fully_fetched():
            return
        run_in_pool(full_tree, self.ckpt, self.model.labels, on_result=self._on_full_tree)

    def _on_full_tree(self, data) -> None:
        if not self._closed and self.model is not None and not self.model.is_fully_fetched():
            self._full_tree = data

    def _on_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid():
            return
        item = self.model.item(self.proxy.mapToSource(current))
        if item is None:
            return
        self._current_path = item.path if item.node is not None else None
        self._show_item(item)
        self.sig_current_changed.emit(self._current_path)

    def _show_current(self) -> None:
        index = self.tree.currentIndex() if self.tree is not None else QModelIndex()
        if index.isValid():
            item = self.model.item(self.proxy.mapToSource(index))
            if item is not None:
                self._show_item(item)

    def _show_item(self, item) -> None:
        panel = self._ensure_tensor_panel()
        if item.is_tensor:
            stats = self.model.stats(item.path)
            panel.show_tensor(self.ckpt, item.node, stats)
            error = self.model.stats_error(item.path)
            if stats is None and error:
                panel.set_stats_error(error)
        elif item.node is not None:
            panel.show_node(self.ckpt, item.node)
        else:
            panel.clear()
            if item.group is not None:  # a module of a state_dict: say what it holds
                g = item.group
                path = dotted_path(item.path) if item.path else ""
                panel.title.setText(f"{path}.{g.prefix}" if path else g.prefix)
                panel.subtitle.setText(
                    f"module · {g.num_tensors:,} tensor{'' if g.num_tensors == 1 else 's'} · "
                    f"{format_count(g.numel)} elements · {format_bytes(g.nbytes)} — select a "
                    "tensor below it for its statistics and values")


def _single_shot(parent: QWidget, ms: int, slot) -> QTimer:
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(ms)
    timer.timeout.connect(slot)
    return timer
