"""The main window: open checkpoints as tabs, browse their tree, statistics in the background.

Each open file is a :class:`CheckpointView`: the summary on top, then a tab widget of views
("Tensors" first: the tree and the TensorPanel side by side). Other features add views with
:meth:`CheckpointView.add_view`. Statistics for every tensor run in the shared worker
process of :class:`~inspector.ui.workers.StatsService`; the tree fills in as they arrive.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QSize,
    Qt,
    QTimer,
    QUrl,
    Signal,
    qVersion,
)
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from inspector import __version__
from inspector.core.text import format_bytes
from inspector.ui import resources
from inspector.ui.settings import Settings
from inspector.ui.tree import (
    COL_DTYPE,
    COL_MAX,
    COL_MEAN,
    COL_MIN,
    COL_NAME,
    COL_NANINF,
    COL_NUMEL,
    COL_SHAPE,
    COL_SIZE,
    COL_STD,
    COL_ZEROS,
    HEADERS,
    CheckpointTreeModel,
    TensorFilterProxy,
    TreeData,
    prepare_tree,
)
from inspector.ui.workers import StatsService, run_in_pool

APP_NAME = "Checkpoint Inspector"
CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors", ".tar", ".pkl", ".pt2")
FILE_FILTER = ("Checkpoints (*.pth *.pt *.bin *.ckpt *.safetensors *.json *.tar *.pkl *.pt2);;"
               "All files (*)")
FILTER_DEBOUNCE_MS = 200
EXPAND_ALL_LIMIT = 2_000  # expand every match when a filter leaves at most this many
MAX_FOLDER_FILES = 20
MIN_NAME_WIDTH = 160
MAX_SUMMARY_HEIGHT = 260  # taller summaries scroll: the tree keeps most of the window
# The widest text each column usually shows; numeric columns are sized to it (and to their
# header) from the font, so that all of them fit beside the name column, which stretches.
COLUMN_SAMPLES = {COL_DTYPE: "bfloat16", COL_SHAPE: "(1024, 1024)", COL_NUMEL: "123.4M",
                  COL_SIZE: "123.4 MiB", COL_MEAN: "-1.234e-05", COL_STD: "0.01234",
                  COL_MIN: "-0.1234", COL_MAX: "-0.1234", COL_ZEROS: "12.3 %", COL_NANINF: "0"}


def _tensor_panel_class():
    """The TensorPanel class, imported on first use: it pulls in pyqtgraph (~0.5-0.8 s)."""
    from inspector.ui.app import configure_plotting

    try:
        from inspector.ui.tensor_panel import TensorPanel
    except ImportError:  # written in parallel; keep the window usable without it
        return _FallbackTensorPanel
    configure_plotting()  # before the first plot widget exists
    return TensorPanel


def _summary_panel_class():
    """The SummaryPanel class (plain Qt widgets: no pyqtgraph)."""
    try:
        from inspector.ui.summary_panel import SummaryPanel
    except ImportError:
        return _FallbackSummaryPanel
    return SummaryPanel


class PreparedCheckpoint:
    """An opened checkpoint with everything the view shows that needs no Qt.

    Built by :func:`prepare_checkpoint` in the thread that opened the file, so that the
    GUI thread only creates widgets: for 20 000 tensors the summary, the optimizer labels
    and the tree rows take ~0.3 s together.
    """

    __slots__ = ("ckpt", "labels", "summary", "tree")

    def __init__(self, ckpt, labels: dict, summary, tree: TreeData):
        self.ckpt = ckpt
        self.labels = labels
        self.summary = summary
        self.tree = tree


def prepare_checkpoint(ckpt) -> PreparedCheckpoint:
    """Summary, optimizer labels and tree rows of ``ckpt``; Qt-free, safe in any thread."""
    labels: dict = {}
    summary = None
    try:
        from inspector.core.summary import optimizer_param_labels, summarize

        labels = optimizer_param_labels(ckpt)
        summary = summarize(ckpt)
    except Exception as e:  # noqa: BLE001 - the tree is still worth showing
        ckpt.warnings.append(f"the summary could not be computed ({type(e).__name__}: {e})")
    ckpt.totals()  # cached in the checkpoint: the status bar reads it on the GUI thread
    return PreparedCheckpoint(ckpt, labels, summary, prepare_tree(ckpt, labels))


def read_checkpoint(path: str) -> PreparedCheckpoint:
    """Open ``path`` and prepare it for a view (run in a pool thread)."""
    from inspector.core.formats import open_checkpoint

    ckpt = open_checkpoint(path)
    try:
        return prepare_checkpoint(ckpt)
    except BaseException:
        ckpt.close()
        raise


def after_first_paint(widget: QWidget, callback, fallback_ms: int | None = None) -> None:
    """Call ``callback()`` once, in the event-loop turn after ``widget`` first paints.

    With ``fallback_ms``, call it after that long even if no paint came (a hidden or
    minimized window must still get its work done).
    """
    _FirstPaint(widget, callback, fallback_ms)


def warm_up_plotting() -> None:
    """Import the tensor panel (and pyqtgraph) in a pool thread, once, so that the first
    selection only builds the panel. The import holds the GIL in short slices only: the
    GUI thread keeps ticking (longest gap measured: ~25 ms)."""
    global _plotting_warm
    if _plotting_warm:
        return
    _plotting_warm = True
    run_in_pool(_import_tensor_panel)


_plotting_warm = False


def _import_tensor_panel() -> None:
    import inspector.ui.tensor_panel  # noqa: F401


class _FirstPaint(QObject):
    """Event filter behind :func:`after_first_paint`."""

    def __init__(self, widget: QWidget, callback, fallback_ms: int | None):
        super().__init__(widget)
        self._widget = widget
        self._callback = callback
        self._done = False
        widget.installEventFilter(self)
        if fallback_ms is not None:
            QTimer.singleShot(fallback_ms, self, self._fire)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint and not self._done:
            QTimer.singleShot(0, self, self._fire)
        return False

    def _fire(self) -> None:
        if self._done:
            return
        self._done = True
        self._widget.removeEventFilter(self)
        self.deleteLater()
        self._callback()


class LazyView(QWidget):
    """Holds a view's tab and builds the real widget when it is first shown or asked for, so
    heavy panels (and pyqtgraph) stay off the GUI thread's path while a file opens."""

    def __init__(self, factory, parent: QWidget | None = None):
        super().__init__(parent)
        self._factory = factory
        self._widget: QWidget | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)

    def widget(self) -> QWidget:
        if self._widget is None:
            self._widget = self._factory()
            self.layout().addWidget(self._widget)
        return self._widget

    def is_built(self) -> bool:
        return self._widget is not None

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.widget()
        super().showEvent(event)


class CheckpointView(QWidget):
    """One open checkpoint: summary, tree with filter, and the tensor panel.

    Emits
    -----
    sig_loaded()
        The file's metadata has been read and the tree is shown.
    sig_current_changed(object)
        The selected row changed; argument: the Node's key path, or None.
    """

    sig_loaded = Signal()
    """The checkpoint is open and shown."""

    @property
    def inference_panel(self):
        """The Inference view's panel (built on first use), or None for a file without one."""
        lazy = getattr(self, "_inference_view", None)
        return lazy.widget() if lazy is not None else None
    sig_current_changed = Signal(object)
    """The current row changed: the key path of its Node (None for a module group)."""

    def __init__(self, path: str, settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        self.path = path
        self.ckpt = None
        self.model: CheckpointTreeModel | None = None
        self.proxy: TensorFilterProxy | None = None
        self.tree: QTreeView | None = None
        self.tensor_panel = None
        self.summary_panel = None
        self.filter_edit: QLineEdit | None = None
        self.stats_job_id = 0
        self.stats_total = 0
        self.stats_done = 0
        self.stats_running = False
        self.stats_state = ""  # "", "running", "done", "cancelled", "failed"
        self._settings = settings
        self._closed = False
        self._current_path: tuple | None = None
        self._views: QTabWidget | None = None
        self._splitter: QSplitter | None = None
        self._vsplit: QSplitter | None = None
        self._prepared: PreparedCheckpoint | None = None  # read in a thread, shown next

        self._stack = QStackedWidget(self)
        loading = QLabel(f"Opening {os.path.basename(path)}…", alignment=Qt.AlignmentFlag.AlignCenter)
        loading.setObjectName("loadingLabel")
        self._stack.addWidget(loading)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._stack)

        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(FILTER_DEBOUNCE_MS)
        self._filter_timer.timeout.connect(self.apply_filter)
        # statistics that change the NaN/Inf filter or a stats sort re-apply it at most this often
        self._restat_timer = QTimer(self)
        self._restat_timer.setSingleShot(True)
        self._restat_timer.setInterval(1000)
        self._restat_timer.timeout.connect(self._refresh_for_stats)

    # ---- Public API
    @property
    def is_loaded(self) -> bool:
        return self.ckpt is not None

    def set_checkpoint(self, ckpt, prepared: PreparedCheckpoint | None = None) -> None:
        """Show an opened checkpoint (called on the GUI thread once reading finished).

        ``prepared`` (from :func:`prepare_checkpoint`, made where the file was read) saves
        the GUI thread the summary and the tree walk; without it they are computed here.
        """
        if prepared is None:
            prepared, self._prepared = self._prepared, None
        if self._closed:
            ckpt.close()
            return
        if prepared is None or prepared.ckpt is not ckpt:
            prepared = prepare_checkpoint(ckpt)
        self.ckpt = ckpt
        self.model = CheckpointTreeModel(ckpt, prepared.labels, self, prepared=prepared.tree)
        self.proxy = TensorFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self._build_content(prepared.summary)
        self._stack.setCurrentIndex(1)
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

    def select_view(self, name: str) -> bool:
        """Show the view whose title is ``name`` (case-insensitive); False if there is none."""
        for i, title in enumerate(self.view_names()):
            if title.replace("&", "").lower() == name.lower():
                self._views.setCurrentIndex(i)
                return True
        return False

    def focus_filter(self) -> None:
        if self.filter_edit is not None:
            self.filter_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
            self.filter_edit.selectAll()

    def set_filter(self, text: str, regex: bool | None = None) -> None:
        """Set the filter text (and optionally the regex toggle) and apply it now."""
        if self.filter_edit is None:
            return
        if regex is not None:
            self._regex_button.setChecked(regex)
        self.filter_edit.setText(text)
        self.apply_filter()

    def apply_filter(self) -> None:
        """Apply the filter box and "NaN/Inf only" to the tree (fetching every row first)."""
        self._filter_timer.stop()
        if self.proxy is None:
            return
        text = self.filter_edit.text()
        nan_only = self._nan_check.isChecked()
        filtering = bool(text.strip()) or nan_only
        if filtering and not self.model.is_fully_fetched():
            self.model.fetch_all()  # resets the model: the current row is restored below
        self.proxy.set_nan_inf_only(nan_only)
        self.proxy.set_pattern(text, regex=self._regex_button.isChecked())
        if filtering:
            if self.proxy.matches <= EXPAND_ALL_LIMIT:
                self.tree.expandAll()
            else:
                self.tree.expandToDepth(0)
            self._match_label.setText(f"{self.proxy.matches:,} match"
                                      f"{'' if self.proxy.matches == 1 else 'es'}")
        else:
            self._match_label.setText("")
            self._expand_default()
        if self._current_path is not None:
            self.select_path(self._current_path, scroll=True)

    def select_path(self, path: tuple, scroll: bool = True) -> bool:
        """Make the Node at ``path`` the current row (expanding its ancestors)."""
        if self.model is None:
            return False
        src = self.model.index_for_path(tuple(path))
        if not src.isValid():
            return False
        index = self.proxy.mapFromSource(src)
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

    def begin_stats(self, job_id: int) -> None:
        self.stats_job_id = job_id
        self.stats_total = self.ckpt.totals()["num_tensors"] if self.ckpt else 0
        self.stats_done = 0
        self.stats_running = True
        self.stats_state = "running"
        self.model.clear_stats()
        self.model.set_stats_pending(True)
        self.tree.viewport().update()
        self._show_current()

    def add_stats(self, results: list) -> None:
        for path, stats, error in results:
            path = tuple(path)
            self.model.set_stats(path, stats, error)
            if path == self._current_path and self.tensor_panel is not None:
                if stats is not None:
                    self.tensor_panel.set_stats(stats)
                elif hasattr(self.tensor_panel, "set_stats_error"):
                    self.tensor_panel.set_stats_error(error or "statistics unavailable")
        self.stats_done += len(results)
        if self.proxy.depends_on_stats() and not self._restat_timer.isActive():
            self._restat_timer.start()

    def end_stats(self, state: str) -> None:
        self.stats_running = False
        self.stats_state = state
        self.model.set_stats_pending(False)
        self.tree.viewport().update()
        if self.proxy.depends_on_stats():
            self._refresh_for_stats()

    def close_document(self) -> None:
        self._closed = True
        self._filter_timer.stop()
        self._restat_timer.stop()
        if self.ckpt is not None:
            self.ckpt.close()

    def save_layout(self) -> None:
        if self._splitter is not None:
            self._settings.set_splitter_state("tree_panel", self._splitter.saveState())

    # ---- Private API
    def _build_content(self, summary) -> None:
        SummaryPanel = _summary_panel_class()
        content = QWidget(self)
        outer = QVBoxLayout(content)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(0)
        vsplit = QSplitter(Qt.Orientation.Vertical, content)
        vsplit.setChildrenCollapsible(False)
        self.summary_panel = SummaryPanel(vsplit)
        if summary is not None:
            self.summary_panel.show_checkpoint(self.ckpt, summary)
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
        left_layout.addLayout(self._build_filter_bar())
        self.tree = self._build_tree()
        left_layout.addWidget(self.tree)
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
        self._stack.addWidget(content)
        self._attach_model()
        self._expand_default(fresh=True)
        after_first_paint(self.tree.viewport(), self._after_first_paint)

    def _after_first_paint(self) -> None:
        if self._closed or not self.isVisible():
            return
        # the summary's height above was a guess for a typical width: fit the real one
        self._fit_summary()
        warm_up_plotting()

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
        """The TensorPanel, built in place of the placeholder on first need."""
        if self.tensor_panel is None and self._splitter is not None:
            panel = _tensor_panel_class()()
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

    def _build_filter_bar(self) -> QHBoxLayout:
        bar = QHBoxLayout()
        bar.setSpacing(6)
        edit = QLineEdit()
        edit.setObjectName("filterEdit")
        edit.setPlaceholderText("Filter by name or path — text, or /regex   (Ctrl+F)")
        edit.setClearButtonEnabled(True)
        edit.addAction(resources.icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        edit.textChanged.connect(lambda _t: self._filter_timer.start())
        edit.returnPressed.connect(self.apply_filter)
        self.filter_edit = edit
        clear = QAction(edit)
        clear.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        clear.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        clear.triggered.connect(edit.clear)
        edit.addAction(clear)
        regex = QToolButton()
        regex.setText(".*")
        regex.setCheckable(True)
        regex.setChecked(self._settings.regex_filter())
        regex.setToolTip("Treat the filter as a regular expression (a leading / does the same)")
        regex.toggled.connect(self._on_regex_toggled)
        self._regex_button = regex
        nan = QCheckBox("NaN/Inf only")
        nan.setToolTip("Show only tensors whose statistics found NaN or infinite values")
        nan.toggled.connect(lambda _on: self.apply_filter())
        self._nan_check = nan
        self._match_label = QLabel("")
        self._match_label.setObjectName("matchLabel")
        self._match_label.setMinimumWidth(80)
        self.proxy.sig_pattern_error.connect(self._on_pattern_error)
        bar.addWidget(edit, 1)
        bar.addWidget(regex)
        bar.addWidget(nan)
        bar.addWidget(self._match_label)
        return bar

    def _build_tree(self) -> QTreeView:
        """The tree view, without its model yet: see _attach_model."""
        tree = QTreeView()
        tree.setObjectName("checkpointTree")
        tree.setUniformRowHeights(True)
        tree.setAlternatingRowColors(True)
        tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        tree.setAllColumnsShowFocus(True)
        tree.setIconSize(QSize(16, 16))
        tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        tree.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        tree.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        return tree

    def _attach_model(self) -> None:
        """Give the tree its model, last: every re-parenting and tab insertion above would
        otherwise lay out all exposed rows again (20 000 tensors: ~0.3 s of GUI thread)."""
        tree = self.tree
        tree.setModel(self.proxy)
        header = tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        # numbers compact (their usual text or their title, whichever is wider), the name
        # takes the rest: every column fits the default window without scrolling sideways
        cell, title = tree.fontMetrics(), header.fontMetrics()
        for col, sample in COLUMN_SAMPLES.items():
            header.resizeSection(col, max(cell.horizontalAdvance(sample) + 14,
                                          title.horizontalAdvance(HEADERS[col]) + 16))
        header.setSectionResizeMode(COL_NAME, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(min(header.minimumSectionSize(), 40))
        header.resizeSection(COL_NAME, MIN_NAME_WIDTH)
        header.setSortIndicatorShown(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        tree.setSortingEnabled(True)
        tree.sortByColumn(-1, Qt.SortOrder.AscendingOrder)  # file order until a header is clicked
        header.sortIndicatorChanged.connect(self._on_sort_changed)
        tree.selectionModel().currentChanged.connect(self._on_current_changed)

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

    def _refresh_for_stats(self) -> None:
        self._restat_timer.stop()
        if self.proxy is None:
            return
        self.proxy.refresh()
        if self.proxy.is_filtering():
            self._match_label.setText(f"{self.proxy.matches:,} match"
                                      f"{'' if self.proxy.matches == 1 else 'es'}")
            if self.proxy.matches <= EXPAND_ALL_LIMIT:
                self.tree.expandAll()

    def _on_sort_changed(self, column: int, _order: Qt.SortOrder) -> None:
        if column >= 0 and not self.model.is_fully_fetched():
            self.model.fetch_all()

    def _on_regex_toggled(self, on: bool) -> None:
        self._settings.set_regex_filter(on)
        self.apply_filter()

    def _on_pattern_error(self, message: str) -> None:
        self.filter_edit.setProperty("invalid", bool(message))
        self.filter_edit.setToolTip(message)
        self.filter_edit.style().unpolish(self.filter_edit)
        self.filter_edit.style().polish(self.filter_edit)
        if message:
            self._match_label.setText("invalid regex")

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
        if item.node is None and self.tensor_panel is None:
            return  # a module group: the placeholder says enough
        panel = self._ensure_tensor_panel()
        if item.is_tensor:
            stats = self.model.stats(item.path)
            panel.show_tensor(self.ckpt, item.node, stats)
            error = self.model.stats_error(item.path)
            if stats is None and error and hasattr(panel, "set_stats_error"):
                panel.set_stats_error(error)
        elif item.node is not None and hasattr(panel, "show_node"):
            panel.show_node(self.ckpt, item.node)
        else:
            panel.clear()


class MessageBanner(QFrame):
    """A dismissable line above the documents for errors that need no dialog."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("messageBanner")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        self._icon = QLabel()
        self._text = QLabel()
        self._text.setWordWrap(True)
        self._text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        close = QToolButton()
        close.setIcon(resources.icon("close"))
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout.addWidget(self._icon)
        layout.addWidget(self._text, 1)
        layout.addWidget(close)
        self.hide()

    def show_message(self, text: str, level: str = "error") -> None:
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        self._icon.setPixmap(resources.icon("error" if level == "error" else
                                            "warning" if level == "warning" else "info")
                             .pixmap(18, 18))
        self._text.setText(text)
        self.show()

    def text(self) -> str:
        return "" if self.isHidden() else self._text.text()


class WelcomePage(QWidget):
    """Shown when no file is open: what to do, and the recent files."""

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self._window = window
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        logo = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        logo.setPixmap(resources.icon("app").pixmap(96, 96))
        title = QLabel(APP_NAME, alignment=Qt.AlignmentFlag.AlignCenter)
        title.setObjectName("welcomeTitle")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        title.setFont(font)
        hint = QLabel("Open a checkpoint (Ctrl+O) or drop one here",
                      alignment=Qt.AlignmentFlag.AlignCenter)
        hint.setObjectName("welcomeHint")
        button = QPushButton(resources.icon("open"), "Open Checkpoint…")
        button.clicked.connect(window.open_dialog)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(button)
        row.addStretch(1)
        self._recent = QVBoxLayout()
        for w in (logo, title, hint):
            layout.addWidget(w)
        layout.addSpacing(12)
        layout.addLayout(row)
        layout.addSpacing(16)
        layout.addLayout(self._recent)
        layout.addStretch(3)

    def refresh(self) -> None:
        while self._recent.count():
            w = self._recent.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        files = self._window.settings.existing_recent_files()[:6]
        if not files:
            return
        caption = QLabel("Recent files", alignment=Qt.AlignmentFlag.AlignCenter)
        caption.setObjectName("welcomeHint")
        self._recent.addWidget(caption)
        for path in files:
            link = QPushButton(os.path.basename(path))
            link.setFlat(True)
            link.setToolTip(path)
            link.setCursor(Qt.CursorShape.PointingHandCursor)
            link.clicked.connect(lambda _c=False, p=path: self._window.open_path(p))
            self._recent.addWidget(link, 0, Qt.AlignmentFlag.AlignHCenter)


class MainWindow(QMainWindow):
    """Tabs of open checkpoints, menus, status bar with statistics progress.

    Emits
    -----
    sig_opened(str)
        A file was opened and is shown (its absolute path).
    sig_open_failed(str, str)
        A file could not be opened: path, problem.
    sig_stats_finished(str, str)
        A file's statistics ended: path, state ("done", "cancelled", "failed").
    """

    sig_opened = Signal(str)
    """A checkpoint was opened and is shown: its absolute path."""
    sig_open_failed = Signal(str, str)
    """A checkpoint could not be opened: its path and the problem."""
    sig_stats_finished = Signal(str, str)
    """Statistics of a file ended: path and "done", "cancelled" or "failed"."""

    def __init__(self, settings: Settings | None = None, compute_stats: bool = True,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.settings = settings if settings is not None else Settings()
        self.compute_stats = compute_stats
        self.stats_service = StatsService(self)
        self.stats_service.sig_started.connect(self._on_stats_started)
        self.stats_service.sig_results.connect(self._on_stats_results)
        self.stats_service.sig_finished.connect(self._on_stats_finished)
        self.stats_service.sig_crashed.connect(self._on_stats_crashed)
        self._loading: dict[str, Any] = {}  # path -> thread worker opening it
        # worker processes of the compare tabs (the diff, the selected pair), made on first use
        self._compare_jobs = None
        self._compare_detail_jobs = None
        self._shut_down = False
        self._inference_jobs = None  # worker process of the Inference views, made on first use

        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(resources.icon("app"))
        self.setAcceptDrops(True)
        self._build_central()
        self._build_actions()
        self._build_menus()
        self._build_status_bar()
        geometry = self.settings.window_geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1400, 900)
        self._update_actions()

    # ---- Public API
    def documents(self) -> list[CheckpointView]:
        """The checkpoint tabs (compare tabs are :meth:`compare_views`)."""
        return [w for w in (self.tabs.widget(i) for i in range(self.tabs.count()))
                if isinstance(w, CheckpointView)]

    def current_document(self) -> CheckpointView | None:
        w = self.tabs.currentWidget()
        return w if isinstance(w, CheckpointView) else None

    def open_paths(self, paths: list[str]) -> None:
        for p in paths:
            self.open_path(p)

    def open_path(self, path: str | os.PathLike) -> CheckpointView | None:
        """Open a file (or a sharded checkpoint folder) as a new tab; reads in a thread.

        A folder without a shard index opens each checkpoint file in it.
        """
        path = os.path.abspath(os.fspath(path))
        for view in self.documents():
            if view.path == path:
                self.tabs.setCurrentWidget(view)
                return view
        if os.path.isdir(path) and not _has_index(path):
            files = _checkpoint_files(path)
            if files:
                for f in files[:MAX_FOLDER_FILES]:
                    self.open_path(f)
                return None
        view = CheckpointView(path, self.settings)
        index = self.tabs.addTab(view, os.path.basename(path.rstrip(os.sep)) or path)
        self.tabs.setTabToolTip(index, path)
        self.tabs.setCurrentIndex(index)
        self._central.setCurrentIndex(1)
        self.statusBar().showMessage(f"Opening {path}…")

        self._loading[path] = view
        # the core (its import included), the summary and the tree rows: all in the thread
        run_in_pool(read_checkpoint, path,
                    on_result=lambda prepared, v=view: self._on_read(v, prepared),
                    on_error=lambda e, v=view: self._on_open_error(v, e),
                    on_finished=lambda p=path: self._loading.pop(p, None))
        self._update_actions()
        return view

    def open_dialog(self) -> None:
        start = self.settings.last_directory() or str(Path.home())
        files, _ = QFileDialog.getOpenFileNames(self, "Open Checkpoint", start, FILE_FILTER)
        if files:
            self.settings.set_last_directory(os.path.dirname(files[0]))
            self.open_paths(files)

    def close_document(self, index: int | None = None) -> None:
        if index is None:
            index = self.tabs.currentIndex()
        view = self.tabs.widget(index)
        if _is_compare(view):
            self._close_compare(index, view)
            return
        if not isinstance(view, CheckpointView):
            return
        if view.stats_running:
            self.stats_service.cancel(view.stats_job_id)
        if view.is_loaded:
            view.save_layout()
        view.close_document()
        self.tabs.removeTab(index)
        view.deleteLater()
        if self.tabs.count() == 0:
            self._show_welcome()
        self._update_actions()
        self._update_status()

    def recompute_stats(self, *, _crash_after: int | None = None) -> None:
        """(Re)compute statistics of the current file in the worker process."""
        view = self.current_document()
        if view is not None and view.is_loaded:
            self._start_stats(view, _crash_after=_crash_after)

    def cancel_stats(self) -> None:
        for view in self.documents():
            if view.stats_running:
                self.stats_service.cancel(view.stats_job_id)

    def is_busy(self) -> bool:
        """True while a file is being opened, statistics are being computed or a compare
        tab is working."""
        return (bool(self._loading) or any(v.stats_running for v in self.documents())
                or any(v.is_busy() for v in self.compare_views()))

    def show_message(self, text: str, level: str = "error") -> None:
        self.banner.show_message(text, level)

    def message_text(self) -> str:
        return self.banner.text()

    def shutdown(self) -> None:
        """Stop background work and release files (idempotent)."""
        if self._shut_down:
            return
        self._shut_down = True
        self.stats_service.shutdown()
        for compare in self.compare_views():
            compare.shutdown()
        for jobs in (self._compare_jobs, self._compare_detail_jobs):
            if jobs is not None:
                jobs.shutdown()
        if self._inference_jobs is not None:
            self._inference_jobs.shutdown()
        for view in self.documents():
            view.close_document()
        from inspector.ui.workers import wait_for_threads

        wait_for_threads(3000)

    # ---- Public API: compare tabs
    def compare_views(self) -> list:
        """The open compare tabs (:class:`~inspector.ui.compare.CompareView`)."""
        return [w for w in (self.tabs.widget(i) for i in range(self.tabs.count()))
                if _is_compare(w)]

    def current_compare(self):
        w = self.tabs.currentWidget()
        return w if _is_compare(w) else None

    def open_compare(self, path_a: str | os.PathLike, path_b: str | os.PathLike, **options):
        """Open a tab comparing A with B (any two supported formats); the diff runs in a
        worker process and the tab fills in as it streams. ``options``: strip_prefixes,
        atol, rtol. Returns the CompareView."""
        from inspector.ui.app import configure_plotting
        from inspector.ui.compare import CompareView
        from inspector.ui.workers import ProcessJobs

        configure_plotting()
        if self._compare_jobs is None:
            self._compare_jobs = ProcessJobs(self, name="inspector-compare")
            self._compare_detail_jobs = ProcessJobs(self, name="inspector-compare-detail")
        view = CompareView(path_a, path_b, self._compare_jobs, self._compare_detail_jobs,
                           **options)
        view.sig_state_changed.connect(lambda v=view: self._on_compare_changed(v))
        view.sig_error.connect(lambda text: self.show_message(text, "error"))
        index = self.tabs.addTab(view, resources.icon("compare"), view.title())
        self.tabs.setTabToolTip(index, f"A: {view.path_a}\nB: {view.path_b}")
        self.tabs.setCurrentIndex(index)
        self._central.setCurrentIndex(1)
        self._update_status()
        self._update_actions()
        return view

    def compare_dialog(self) -> None:
        """Pick two files (A, then B) and compare them."""
        start = self.settings.last_directory() or str(Path.home())
        a, _ = QFileDialog.getOpenFileName(self, "Compare: choose file A", start, FILE_FILTER)
        if not a:
            return
        b, _ = QFileDialog.getOpenFileName(self, f"Compare {os.path.basename(a)} with: "
                                           "choose file B", os.path.dirname(a), FILE_FILTER)
        if b:
            self.settings.set_last_directory(os.path.dirname(b))
            self.open_compare(a, b)

    def compare_with_dialog(self) -> None:
        """Compare the current checkpoint (A) with a file chosen in a dialog (B)."""
        view = self.current_document()
        if view is None:
            return
        b, _ = QFileDialog.getOpenFileName(
            self, f"Compare {os.path.basename(view.path)} with…",
            os.path.dirname(view.path), FILE_FILTER)
        if b:
            self.open_compare(view.path, b)

    # ---- Qt overrides
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if _local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if _local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        paths = _local_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        current = self.current_document()
        if len(paths) == 1 and current is not None and current.is_loaded \
                and os.path.abspath(paths[0]) != current.path:
            choice = self._ask_drop_action(paths[0], current.path)
            if choice == "compare":
                self.open_compare(current.path, paths[0])
                return
            if choice != "open":
                return
        self.open_paths(paths)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.settings.save_window(self.saveGeometry(), self.saveState())
        view = self.current_document()
        if view is not None and view.is_loaded:
            view.save_layout()
        self.shutdown()
        super().closeEvent(event)

    # ---- Private API: building
    def _build_central(self) -> None:
        container = QWidget(self)
        layout = QVBoxLayout(container)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.banner = MessageBanner(container)
        layout.addWidget(self.banner)
        self._central = QStackedWidget(container)
        self.welcome = WelcomePage(self)
        self._central.addWidget(self.welcome)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("documentTabs")
        self.tabs.setTabsClosable(True)
        self.tabs.setMovable(True)
        self.tabs.setDocumentMode(True)
        self.tabs.tabCloseRequested.connect(self.close_document)
        self.tabs.currentChanged.connect(self._on_tab_changed)
        self._central.addWidget(self.tabs)
        layout.addWidget(self._central, 1)
        self.setCentralWidget(container)
        self.welcome.refresh()

    def _action(self, text: str, slot, shortcut=None, icon_name: str | None = None,
                tip: str | None = None) -> QAction:
        action = QAction(text, self)
        if icon_name:
            action.setIcon(resources.icon(icon_name))
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        self.addAction(action)  # shortcuts work even where the menu bar is hidden
        return action

    def _build_actions(self) -> None:
        self.act_open = self._action("&Open…", self.open_dialog, QKeySequence.StandardKey.Open,
                                     "open", "Open a checkpoint file")
        self.act_close = self._action("&Close Tab", self.close_document,
                                      QKeySequence.StandardKey.Close, "close")
        self.act_quit = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_find = self._action("&Filter Tensors…", self._focus_filter,
                                     QKeySequence.StandardKey.Find, "search")
        self.act_recompute = self._action("&Recompute Statistics", self.recompute_stats,
                                          QKeySequence(Qt.Key.Key_F5), "refresh")
        self.act_cancel = self._action("C&ancel Statistics", self.cancel_stats, None, "cancel")
        self.act_expand = self._action("&Expand All", self._expand_all, "Ctrl+E")
        self.act_collapse = self._action("Co&llapse All", self._collapse_all, "Ctrl+Shift+E")
        self.act_about = self._action(f"&About {APP_NAME}", self.show_about)
        self.act_compare = self._action("Co&mpare Files…", self.compare_dialog, "Ctrl+Shift+O",
                                        "compare", "Compare two checkpoint files")
        self.act_compare_with = self._action("Compare &With…", self.compare_with_dialog,
                                             "Ctrl+Shift+D", "compare",
                                             "Compare the current checkpoint with another file")

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        file_menu.addAction(self.act_open)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._rebuild_recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.act_compare)
        file_menu.addAction(self.act_compare_with)
        file_menu.addSeparator()
        file_menu.addAction(self.act_close)
        file_menu.addSeparator()
        file_menu.addAction(self.act_quit)
        view_menu = bar.addMenu("&View")
        view_menu.addAction(self.act_find)
        view_menu.addSeparator()
        view_menu.addAction(self.act_expand)
        view_menu.addAction(self.act_collapse)
        stats_menu = bar.addMenu("&Statistics")
        stats_menu.addAction(self.act_recompute)
        stats_menu.addAction(self.act_cancel)
        help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.act_about)
        self._rebuild_recent_menu()

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self._file_label = QLabel("")
        self._file_label.setObjectName("fileLabel")
        self._stats_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setFixedWidth(180)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(14)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.cancel_button.setIcon(resources.icon("cancel"))
        self.cancel_button.setAutoRaise(True)
        self.cancel_button.clicked.connect(self._cancel_current_stats)
        status.addPermanentWidget(self._stats_label)
        status.addPermanentWidget(self.progress)
        status.addPermanentWidget(self.cancel_button)
        status.addPermanentWidget(self._file_label)
        self.progress.hide()
        self.cancel_button.hide()

    def _rebuild_recent_menu(self) -> None:
        menu = self.recent_menu
        menu.clear()
        files = self.settings.existing_recent_files()
        for i, path in enumerate(files):
            label = f"&{i + 1}  {os.path.basename(path)}" if i < 9 else os.path.basename(path)
            action = menu.addAction(label)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.setData(path)
            action.triggered.connect(lambda _c=False, p=path: self.open_path(p))
        if not files:
            empty = menu.addAction("No recent files")
            empty.setEnabled(False)
        menu.addSeparator()
        clear = menu.addAction("Clear Recent Files")
        clear.setEnabled(bool(files))
        clear.triggered.connect(self.settings.clear_recent)

    # ---- Private API: documents
    def _on_read(self, view: CheckpointView, prepared: PreparedCheckpoint) -> None:
        view._prepared = prepared  # picked up by view.set_checkpoint in _on_opened
        self._on_opened(view, prepared.ckpt)

    def _on_opened(self, view: CheckpointView, ckpt) -> None:
        self._loading.pop(view.path, None)
        if self.tabs.indexOf(view) < 0 or self._shut_down:
            ckpt.close()
            return
        view.set_checkpoint(ckpt)
        self._add_details_view(view, ckpt)
        self._add_inference_view(view, ckpt)
        self.settings.add_recent(view.path)
        i = self.tabs.indexOf(view)
        if ckpt.unsafe_globals:
            self.tabs.setTabIcon(i, resources.icon("warning"))
            self.tabs.setTabToolTip(i, f"{view.path}\nreferences globals outside the allow-list "
                                       f"(not executed): {', '.join(ckpt.unsafe_globals[:5])}")
        self.statusBar().showMessage(f"Opened {view.path}", 5000)
        if self.compute_stats and ckpt.tensor_nodes():
            self._start_stats(view)
        self._update_status()
        self._update_actions()
        self.sig_opened.emit(view.path)

    def _add_details_view(self, view: CheckpointView, ckpt) -> None:
        """A Details tab when the format has more to show (code, graph, shards, config)."""
        from inspector.core.details import detail_sections
        from inspector.ui.details_view import DetailsView

        sections = detail_sections(ckpt)
        if sections:
            view.add_view("Details", DetailsView(ckpt, sections), "info")

    def _add_inference_view(self, view: CheckpointView, ckpt) -> None:
        """An Inference tab (train vs. eval mode) for files with tensors; all Inference tabs
        share one worker process, started when the first one is shown."""
        if not ckpt.tensor_nodes():
            return
        def build():
            from inspector.ui.inference import InferencePanel
            from inspector.ui.workers import ProcessJobs

            if self._inference_jobs is None:
                self._inference_jobs = ProcessJobs(self, name="inspector-inference")
            return InferencePanel(view.path, self.settings, self._inference_jobs)

        view._inference_view = LazyView(build)
        view.add_view("Inference", view._inference_view)

    def _on_open_error(self, view: CheckpointView, error: BaseException) -> None:
        self._loading.pop(view.path, None)
        problem = getattr(error, "problem", None) or f"{type(error).__name__}: {error}"
        path = view.path
        index = self.tabs.indexOf(view)
        if index >= 0:
            self.tabs.removeTab(index)
            view.close_document()
            view.deleteLater()
        if self.tabs.count() == 0:
            self._show_welcome()
        self.settings.remove_recent(path)
        self.show_message(f"Could not open {path}: {problem}", "error")
        self.statusBar().showMessage(f"Could not open {os.path.basename(path)}", 5000)
        self._update_actions()
        self.sig_open_failed.emit(path, problem)

    def _show_welcome(self) -> None:
        self.welcome.refresh()
        self._central.setCurrentIndex(0)
        self.setWindowTitle(APP_NAME)

    def _on_tab_changed(self, _index: int) -> None:
        view = self.current_document()
        if view is not None:
            self.setWindowTitle(f"{os.path.basename(view.path)} — {APP_NAME}")
        compare = self.current_compare()
        if compare is not None:
            self.setWindowTitle(f"{compare.title()} — {APP_NAME}")
        self._update_status()
        self._update_actions()

    def _update_actions(self) -> None:
        view = self.current_document()
        has = view is not None
        self.act_close.setEnabled(has or self.current_compare() is not None)
        self.act_compare_with.setEnabled(has and view.is_loaded)
        self.act_recompute.setEnabled(has and view.is_loaded)
        self.act_find.setEnabled(has and view.is_loaded)
        self.act_expand.setEnabled(has and view.is_loaded)
        self.act_collapse.setEnabled(has and view.is_loaded)
        self.act_cancel.setEnabled(any(v.stats_running for v in self.documents()))

    def _focus_filter(self) -> None:
        view = self.current_document()
        if view is not None:
            view.focus_filter()

    def _expand_all(self) -> None:
        view = self.current_document()
        if view is not None and view.tree is not None:
            if view.proxy.rowCount() and view.model.is_fully_fetched():
                view.tree.expandAll()
            else:
                view.tree.expandToDepth(1)

    def _collapse_all(self) -> None:
        view = self.current_document()
        if view is not None and view.tree is not None:
            view.tree.collapseAll()

    def show_about(self) -> None:
        QMessageBox.about(self, f"About {APP_NAME}", about_html())

    # ---- Private API: compare tabs
    def _ask_drop_action(self, dropped: str, current: str) -> str:
        """"open", "compare" or "" (cancel): what to do with one file dropped on a checkpoint."""
        from PySide6.QtGui import QGuiApplication

        if QGuiApplication.platformName() in ("offscreen", "minimal"):
            return "open"  # nobody could answer a modal question (scripted and test runs)
        box = QMessageBox(self)
        box.setIcon(QMessageBox.Icon.Question)
        box.setWindowTitle("Open or Compare")
        box.setText(f"What should happen with {os.path.basename(dropped)}?")
        open_button = box.addButton("Open in a New Tab", QMessageBox.ButtonRole.AcceptRole)
        compare_button = box.addButton(f"Compare with {os.path.basename(current)}",
                                       QMessageBox.ButtonRole.ActionRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(open_button)
        box.exec()
        clicked = box.clickedButton()
        return "open" if clicked is open_button else "compare" if clicked is compare_button else ""

    def _close_compare(self, index: int, view) -> None:
        view.shutdown()
        self.tabs.removeTab(index)
        view.deleteLater()
        if self.tabs.count() == 0:
            self._show_welcome()
        self._update_actions()
        self._update_status()

    def _on_compare_changed(self, view) -> None:
        if view is self.current_compare():
            self._update_status()

    def _update_compare_status(self, view) -> None:

        header = view.header
        self._file_label.setText(
            f"  {format_bytes(header.total_bytes)} of tensor data to compare  "
            if header is not None else "")
        self._stats_label.setText(view.status_text())
        if view.running:
            done, total = view.progress()
            self.progress.setRange(0, total)  # (0, 0): busy indicator until the header arrives
            self.progress.setValue(done)
            self.progress.show()
            self.cancel_button.show()
        else:
            self.progress.hide()
            self.cancel_button.hide()

    # ---- Private API: statistics
    def _start_stats(self, view: CheckpointView, *, _crash_after: int | None = None) -> None:
        if view.stats_running:
            self.stats_service.cancel(view.stats_job_id)
        job = self.stats_service.submit(view.ckpt.path, _crash_after=_crash_after)
        view.begin_stats(job)
        self._update_status()
        self._update_actions()

    def _view_for_job(self, job_id: int) -> CheckpointView | None:
        for view in self.documents():
            if view.stats_job_id == job_id:
                return view
        return None  # a stale job: its tab was closed or it was restarted

    def _on_stats_started(self, job_id: int, total: int) -> None:
        view = self._view_for_job(job_id)
        if view is not None:
            view.stats_total = total
            self._update_status()

    def _on_stats_results(self, job_id: int, results: list) -> None:
        view = self._view_for_job(job_id)
        if view is None or not view.stats_running:
            return
        view.add_stats(results)
        if view is self.current_document():
            self._update_status()

    def _on_stats_finished(self, job_id: int, cancelled: bool, error: str) -> None:
        view = self._view_for_job(job_id)
        if view is None:
            return
        state = "cancelled" if cancelled else ("failed" if error else "done")
        view.end_stats(state)
        if error:
            self.show_message(f"Statistics for {view.path} failed: {error}", "error")
        elif cancelled:
            self.statusBar().showMessage(
                f"Statistics cancelled ({view.stats_done:,} of {view.stats_total:,} tensors)", 5000)
        self._update_status()
        self._update_actions()
        self.sig_stats_finished.emit(view.path, state)

    def _on_stats_crashed(self, job_id: int, message: str) -> None:
        view = self._view_for_job(job_id)
        self.show_message(message[:1].upper() + message[1:] +
                          ". The window is fine; press F5 to try again.", "error")
        if view is not None:
            view.end_stats("failed")
            self._update_status()
            self._update_actions()
            self.sig_stats_finished.emit(view.path, "failed")

    def _cancel_current_stats(self) -> None:
        compare = self.current_compare()
        if compare is not None:
            compare.cancel()
            return
        view = self.current_document()
        if view is not None and view.stats_running:
            self.stats_service.cancel(view.stats_job_id)
        else:
            self.cancel_stats()

    def _update_status(self) -> None:
        compare = self.current_compare()
        if compare is not None:
            self._update_compare_status(compare)
            return
        view = self.current_document()
        if view is None or not view.is_loaded:
            self._file_label.setText("")
            self._stats_label.setText("")
            self.progress.hide()
            self.cancel_button.hide()
            return

        totals = view.ckpt.totals()
        self._file_label.setText(f"  {view.ckpt.format} · {format_bytes(view.ckpt.size_bytes)} · "
                                 f"{totals['num_tensors']:,} tensors  ")
        if view.stats_running:
            total = max(view.stats_total, 1)
            self.progress.setRange(0, total)
            self.progress.setValue(min(view.stats_done, total))
            self._stats_label.setText(f"Statistics {view.stats_done:,} / {view.stats_total:,}")
            self.progress.show()
            self.cancel_button.show()
        else:
            self.progress.hide()
            self.cancel_button.hide()
            labels = {"done": "Statistics complete", "cancelled": "Statistics cancelled",
                      "failed": "Statistics failed", "": ""}
            self._stats_label.setText(labels.get(view.stats_state, ""))


def _is_compare(widget) -> bool:
    return type(widget).__name__ == "CompareView"  # no import: pyqtgraph loads on first use


def about_html() -> str:
    """Versions for the About box; torch's is read from its metadata, without importing it."""
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    import PySide6

    rows = [("Checkpoint Inspector", __version__),
            ("Python", platform.python_version()),
            ("Qt", qVersion()),
            ("PySide6", PySide6.__version__),
            ("PyTorch", version("torch")),
            ("pyqtgraph", version("pyqtgraph")),
            ("NumPy", version("numpy")),
            ("Platform", f"{platform.system()} {platform.machine()}")]
    table = "".join(f"<tr><td><b>{k}</b></td><td>&nbsp;&nbsp;{v}</td></tr>" for k, v in rows)
    return (f"<h3>{APP_NAME}</h3><p>Open, compare and run PyTorch checkpoints safely: "
            "nothing in a file is executed unless you explicitly trust it.</p>"
            f"<table>{table}</table>")


def _local_paths(mime) -> list[str]:
    if mime is None or not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if isinstance(u, QUrl) and u.isLocalFile()]


def _has_index(folder: str) -> bool:
    try:
        return any(n.endswith(".index.json") for n in os.listdir(folder))
    except OSError:
        return False


def _checkpoint_files(folder: str) -> list[str]:
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [os.path.join(folder, n) for n in names
            if n.lower().endswith(CHECKPOINT_SUFFIXES) and os.path.isfile(os.path.join(folder, n))]


# ---- Stand-ins while the real panels are not installed
class _FallbackTensorPanel(QLabel):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.setMargin(12)
        self.setWordWrap(True)
        self._node = None

    def show_tensor(self, ckpt, node, stats) -> None:
        self._node = node
        t = node.tensor
        self._text = f"<b>{'.'.join(str(k) for k in node.path())}</b><br>{t.dtype} {list(t.shape)}"
        self.set_stats(stats)

    def set_stats(self, stats) -> None:
        extra = ""
        if stats is not None:
            extra = f"<br>mean {stats.mean:.4g} · std {stats.std:.4g}"
        self.setText(getattr(self, "_text", "") + extra)

    def clear(self) -> None:
        self._node = None
        self._text = ""
        self.setText("")


class _FallbackSummaryPanel(QLabel):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMargin(8)

    def show_checkpoint(self, ckpt, summary) -> None:
        self.setText(f"<b>{os.path.basename(ckpt.path)}</b> · {ckpt.format}")


