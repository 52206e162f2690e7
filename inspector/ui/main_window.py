"""The main window: documents as tabs, menus, drag and drop, and the status bar.

A tab is a :class:`~inspector.ui.checkpoint_view.CheckpointView` (one open file) or a
compare tab (:class:`~inspector.ui.compare.CompareView`, two files). The window owns the
background work: one :class:`~inspector.ui.workers.Runners` whose worker processes it hands
to the views, and the pool threads that read files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QSize, Qt, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QProgressBar,
    QStackedWidget,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from inspector.core.folders import checkpoint_files, is_checkpoint_folder
from inspector.core.remote.urls import is_url
from inspector.core.text import file_label, format_bytes
from inspector.ui import dialogs, resources
from inspector.ui.about import APP_NAME, show_about
from inspector.ui.banner import MessageBanner
from inspector.ui.checkpoint_view import CheckpointView
from inspector.ui.collector import keep_out_of_collections, pause_collection
from inspector.ui.features import install_features
from inspector.ui.loading import LoadedCheckpoint, load_checkpoint
from inspector.ui.settings import Settings
from inspector.ui.tree.columns import plain_tooltip
from inspector.ui.welcome import WelcomePage
from inspector.ui.workers import Runners, run_in_pool, wait_for_threads

MAX_FOLDER_FILES = 20
BIG_EXPAND = 20_000  # Expand All shows a busy cursor from this many tensors
STATS_LABELS = {"done": "Statistics complete", "cancelled": "Statistics cancelled",
                "failed": "Statistics failed"}


class MainWindow(QMainWindow):
    """Tabs of open checkpoints and comparisons, menus, status bar with progress; its
    signals follow."""

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
        self.runners = Runners(self)
        self._loading: set[str] = set()  # paths being read in a pool thread
        self._compares: list = []  # the compare tabs, in no particular order
        self._shut_down = False
        self._open_error = ""  # the banner's text while it shows an open error
        # features' handlers of a folder without checkpoint files (True: handled), e.g. a run
        self.folder_openers: list[Callable[[str], bool]] = []

        self.setWindowTitle(APP_NAME)
        self.setWindowIcon(resources.icon("app"))
        self.setAcceptDrops(True)
        self._build_central()
        self._build_actions()
        self._build_menus()
        install_features(self)
        self._build_status_bar()
        geometry = self.settings.window_geometry()
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(_first_size())
        self._update_actions()

    # ---- Public API: documents
    def documents(self) -> list[CheckpointView]:
        """The checkpoint tabs in tab order (compare tabs are :meth:`compare_views`)."""
        return [w for w in self._tab_widgets() if isinstance(w, CheckpointView)]

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
        path = os.fspath(path)
        url = is_url(path)  # a remote checkpoint (inspector.ui.remote): opened as it is
        path = path if url else os.path.abspath(path)
        if not url and os.path.basename(path) == "config.json" and is_checkpoint_folder(
                os.path.dirname(path)):
            path = os.path.dirname(path)  # a model folder's config: open the folder
        for view in self.documents():
            if view.path == path:
                self.tabs.setCurrentWidget(view)
                return view
        if not url and os.path.isdir(path) and not is_checkpoint_folder(path):
            files = checkpoint_files(path)
            if files:
                for f in files[:MAX_FOLDER_FILES]:
                    self.open_path(f)
                return None
            if any(opener(path) for opener in self.folder_openers):
                return None
        view = CheckpointView(path, self.settings, self.runners)
        view.sig_stats_changed.connect(lambda v=view: self._on_stats_changed(v))
        view.sig_stats_ended.connect(lambda state, message, v=view:
                                     self._on_stats_ended(v, state, message))
        index = self.tabs.addTab(view, file_label(path))
        self.tabs.setTabToolTip(index, plain_tooltip(path))
        self.tabs.setCurrentIndex(index)
        self._central.setCurrentIndex(1)
        self.statusBar().showMessage(f"Opening {path}…")

        self._loading.add(path)
        # the reading thread makes a million objects: no collection scans them meanwhile
        # (a URL is not paused for: its reading waits on the network, maybe for long)
        resume = (lambda: None) if url else pause_collection()
        # the core (its import included), the summary and the tree rows: all in the thread
        run_in_pool(load_checkpoint, path,
                    on_result=lambda loaded, v=view: self._on_loaded(v, loaded),
                    on_error=lambda e, v=view: self._on_open_error(v, e),
                    on_finished=lambda p=path: (self._loading.discard(p), resume()))
        self._update_actions()
        return view

    def open_dialog(self) -> None:
        files = dialogs.choose_files(self, self.settings.last_directory() or str(Path.home()))
        if files:
            self.settings.set_last_directory(os.path.dirname(files[0]))
            self.open_paths(files)

    def open_folder_dialog(self) -> None:
        """Choose a folder: a Hugging Face model folder, a torch.distributed.checkpoint
        folder or a sharded checkpoint opens as one checkpoint; any other folder opens each
        checkpoint file in it."""
        from PySide6.QtWidgets import QFileDialog

        folder = QFileDialog.getExistingDirectory(
            self, "Open Checkpoint Folder", self.settings.last_directory() or str(Path.home()))
        if folder:
            self.settings.set_last_directory(os.path.dirname(folder.rstrip("/\\")) or folder)
            self.open_path(folder)

    def switch_tab(self, step: int) -> None:
        """Ctrl+PageDown / Ctrl+PageUp: the next or previous file tab; with one file open,
        its next or previous view (Tensors, Details, Inference, …)."""
        if self.tabs.count() > 1:
            self.tabs.setCurrentIndex((self.tabs.currentIndex() + step) % self.tabs.count())
            return
        view = self.current_document()
        names = view.view_names() if view is not None else []
        if len(names) > 1:
            current = view.current_view_index()
            view.select_view(names[(current + step) % len(names)].replace("&", ""))

    def close_document(self, index: int | None = None) -> None:
        if index is None:
            index = self.tabs.currentIndex()
        view = self.tabs.widget(index)
        if view in self._compares:
            self._close_compare(index, view)
            return
        if not isinstance(view, CheckpointView):
            if view is None:
                return
            # a feature's tab (e.g. a training-run timeline): stop its work, then close it
            stop = getattr(view, "shutdown", None)
            if callable(stop):
                stop()
            self.tabs.removeTab(index)
            view.deleteLater()
            self._after_tab_closed()
            return
        if view.is_loaded:
            view.save_layout()
        view.close_document()
        self.tabs.removeTab(index)
        view.deleteLater()
        self._after_tab_closed()

    def recompute_stats(self) -> None:
        """(Re)compute statistics of the current file in the worker process."""
        view = self.current_document()
        if view is not None and view.is_loaded:
            view.start_stats()
            self._update_status()
            self._update_actions()

    def cancel_stats(self) -> None:
        for view in self.documents():
            view.cancel_stats()

    def is_busy(self) -> bool:
        """True while a file is being opened, statistics are being computed, a compare tab
        or a feature's tab (a timeline reading its run) is working or a shown tab's summary is
        still to come (a big file's comes after its tree; a tab not shown makes it when shown)."""
        return (bool(self._loading) or any(v.stats_running or v.summary_pending and v.isVisible()
                                               for v in self.documents())
                or any(getattr(w, "is_busy", bool)() for w in self._tab_widgets()
                       if not isinstance(w, CheckpointView)))

    def show_message(self, text: str, level: str = "error") -> None:
        self.banner.show_message(text, level)

    def message_text(self) -> str:
        return self.banner.text()

    def shutdown(self) -> None:
        """Stop background work and release files (idempotent)."""
        if self._shut_down:
            return
        self._shut_down = True
        for compare in self._compares:
            compare.shutdown()
        for view in self.documents():
            view.close_document()
        for widget in self._tab_widgets():  # features' tabs (timelines)
            stop = getattr(widget, "shutdown", None)
            if widget not in self._compares and not isinstance(widget, CheckpointView) \
                    and callable(stop):
                stop()
        self.runners.shutdown()
        wait_for_threads(3000)

    def add_tab(self, widget: QWidget, title: str, tooltip: str = "") -> int:
        """Show a feature's view (e.g. a training-run timeline) as a new current tab; closing
        the tab (its ×, Ctrl+W) calls the widget's ``shutdown()`` when it has one."""
        index = self.tabs.addTab(widget, title)
        if tooltip:
            self.tabs.setTabToolTip(index, tooltip)
        changed = getattr(widget, "sig_state_changed", None)  # its status_text() is shown
        if changed is not None:
            changed.connect(lambda w=widget: self._on_tab_state_changed(w))
        self._central.setCurrentWidget(self.tabs)
        self.tabs.setCurrentIndex(index)
        self._update_actions()
        return index

    # ---- Public API: compare tabs
    def compare_views(self) -> list:
        """The compare tabs (:class:`~inspector.ui.compare.CompareView`) in tab order."""
        return [w for w in self._tab_widgets() if w in self._compares]

    def current_compare(self):
        w = self.tabs.currentWidget()
        return w if w in self._compares else None

    def open_compare(self, path_a: str | os.PathLike, path_b: str | os.PathLike, **options):
        """Open a tab comparing A with B (any two supported formats); the diff runs in a
        worker process and the tab fills in as it streams. ``options``: strip_prefixes,
        atol, rtol. Returns the CompareView."""
        from inspector.ui.compare import CompareView
        from inspector.ui.theme import configure_plotting

        configure_plotting()
        view = CompareView(path_a, path_b, self.runners.compare, self.runners.compare_detail,
                           **options)
        self._compares.append(view)
        view.sig_state_changed.connect(lambda v=view: self._on_tab_state_changed(v))
        view.sig_error.connect(lambda text: self.show_message(text, "error"))
        index = self.tabs.addTab(view, resources.icon("compare"), view.title())
        self.tabs.setTabToolTip(index, plain_tooltip(f"A: {view.path_a}\nB: {view.path_b}"))
        self.tabs.setCurrentIndex(index)
        self._central.setCurrentIndex(1)
        self._update_status()
        self._update_actions()
        return view

    def compare_dialog(self) -> None:
        """Pick two files (A, then B) and compare them."""
        pair = dialogs.choose_compare_files(self, self.settings.last_directory() or
                                            str(Path.home()))
        if pair is not None:
            self.settings.set_last_directory(os.path.dirname(pair[1]))
            self.open_compare(*pair)

    def compare_with_dialog(self) -> None:
        """Compare the current checkpoint (A) with a file chosen in a dialog (B)."""
        view = self.current_document()
        if view is None:
            return
        b = dialogs.choose_compare_with(self, view.path)
        if b:
            self.open_compare(view.path, b)

    def show_about(self) -> None:
        show_about(self)

    # ---- Qt overrides
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if _local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802 - Qt override
        if _local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = _local_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        current = self.current_document()
        if len(paths) == 1 and current is not None and current.is_loaded \
                and os.path.abspath(paths[0]) != current.path:
            choice = self._ask_drop_action(paths[0], current.path)
            if choice == dialogs.COMPARE:
                self.open_compare(current.path, paths[0])
                return
            if choice != dialogs.OPEN:
                return
        self.open_paths(paths)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override
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
        self.welcome = WelcomePage(self.settings, self)
        self.welcome.sig_open_requested.connect(self.open_dialog)
        self.welcome.sig_open_folder_requested.connect(self.open_folder_dialog)
        self.welcome.sig_open_path.connect(self.open_path)
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
        self.act_open_folder = self._action(
            "Open &Folder…", self.open_folder_dialog, "Ctrl+Alt+O", "open",
            "Open a Hugging Face model folder, a torch.distributed.checkpoint folder or a "
            "folder of checkpoint files")
        self.act_next_tab = self._action("&Next Tab", lambda: self.switch_tab(1),
                                         QKeySequence(Qt.Modifier.CTRL | Qt.Key.Key_PageDown))
        self.act_prev_tab = self._action("&Previous Tab", lambda: self.switch_tab(-1),
                                         QKeySequence(Qt.Modifier.CTRL | Qt.Key.Key_PageUp))
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
        self.file_menu = file_menu = bar.addMenu("&File")
        file_menu.addAction(self.act_open)
        file_menu.addAction(self.act_open_folder)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._rebuild_recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.act_compare)
        file_menu.addAction(self.act_compare_with)
        file_menu.addSeparator()
        file_menu.addAction(self.act_close)
        file_menu.addSeparator()
        file_menu.addAction(self.act_quit)
        self.view_menu = view_menu = bar.addMenu("&View")
        view_menu.addAction(self.act_find)
        view_menu.addSeparator()
        view_menu.addAction(self.act_expand)
        view_menu.addAction(self.act_collapse)
        view_menu.addSeparator()
        view_menu.addAction(self.act_next_tab)
        view_menu.addAction(self.act_prev_tab)
        self.stats_menu = stats_menu = bar.addMenu("&Statistics")
        stats_menu.addAction(self.act_recompute)
        stats_menu.addAction(self.act_cancel)
        self.help_menu = help_menu = bar.addMenu("&Help")
        help_menu.addAction(self.act_about)
        self._rebuild_recent_menu()

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self._file_label = QLabel("")
        self._file_label.setObjectName("fileLabel")
        self._file_label.setTextFormat(Qt.TextFormat.PlainText)
        self._stats_label = QLabel("")
        self._stats_label.setTextFormat(Qt.TextFormat.PlainText)
        self.progress = QProgressBar()
        self.progress.setFixedWidth(180)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(14)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("Cancel")
        self.cancel_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.cancel_button.setIcon(resources.icon("cancel"))
        self.cancel_button.setAutoRaise(True)
        self.cancel_button.clicked.connect(self._cancel_current_work)
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
            name = os.path.basename(path).replace("&", "&&")
            action = menu.addAction(f"&{i + 1}  {name}" if i < 9 else name)
            action.setToolTip(plain_tooltip(path))
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
    def _tab_widgets(self) -> list[QWidget]:
        return [self.tabs.widget(i) for i in range(self.tabs.count())]

    def _on_loaded(self, view: CheckpointView, loaded: LoadedCheckpoint) -> None:
        self._loading.discard(view.path)
        keep_out_of_collections()  # the file's metadata lives until its tab closes
        ckpt = loaded.prepared.ckpt
        if self.tabs.indexOf(view) < 0 or self._shut_down:
            ckpt.close()
            return
        view.set_checkpoint(loaded)
        if self._open_error and self.banner.text() == self._open_error:
            self.banner.hide()  # an earlier file's open error is stale now
        self._open_error = ""
        self.settings.add_recent(view.path)
        i = self.tabs.indexOf(view)
        if ckpt.unsafe_globals:
            self.tabs.setTabIcon(i, resources.icon("warning"))
            self.tabs.setTabToolTip(i, plain_tooltip(
                f"{view.path}\nreferences globals outside the allow-list (not executed): "
                f"{', '.join(ckpt.unsafe_globals[:5])}"))
        self.statusBar().showMessage(f"Opened {view.path}", 5000)
        if self.compute_stats and ckpt.tensor_nodes():
            view.start_stats()
        self._update_status()
        self._update_actions()
        self.sig_opened.emit(view.path)

    def _on_open_error(self, view: CheckpointView, error: BaseException) -> None:
        from inspector.core.checkpoint import CheckpointError  # loaded: it read the file

        self._loading.discard(view.path)
        problem = error.problem if isinstance(error, CheckpointError) else \
            f"{type(error).__name__}: {error}"
        path = view.path
        index = self.tabs.indexOf(view)
        if index >= 0:
            self.tabs.removeTab(index)
            view.close_document()
            view.deleteLater()
        if self.tabs.count() == 0:
            self._show_welcome()
        self.settings.remove_recent(path)
        self._open_error = f"Could not open {path}: {problem}"
        self.show_message(self._open_error, "error")
        self.statusBar().showMessage(f"Could not open {os.path.basename(path)}", 5000)
        self._update_actions()
        self.sig_open_failed.emit(path, problem)

    def _after_tab_closed(self) -> None:
        if self.tabs.count() == 0:
            self._show_welcome()
        self._update_actions()
        self._update_status()

    def _show_welcome(self) -> None:
        self.welcome.refresh()
        self._central.setCurrentIndex(0)
        self.setWindowTitle(APP_NAME)

    def _on_tab_changed(self, _index: int) -> None:
        view = self.current_document()
        if view is not None:
            self.setWindowTitle(f"{file_label(view.path)} — {APP_NAME}")
        compare = self.current_compare()
        if compare is not None:
            self.setWindowTitle(f"{compare.title()} — {APP_NAME}")
        self._update_status()
        self._update_actions()

    def _update_actions(self) -> None:
        view = self.current_document()
        loaded = view is not None and view.is_loaded
        self.act_close.setEnabled(self.tabs.currentWidget() is not None)
        for action in (self.act_compare_with, self.act_recompute, self.act_find,
                       self.act_expand, self.act_collapse):
            action.setEnabled(loaded)
        self.act_cancel.setEnabled(any(v.stats_running for v in self.documents()))

    def _focus_filter(self) -> None:
        view = self.current_document()
        if view is not None:
            view.focus_filter()

    def _expand_all(self) -> None:
        view = self.current_document()
        if view is None or not view.is_loaded:
            return
        n = view.ckpt.totals()["num_tensors"]
        if n < BIG_EXPAND:
            view.expand_all()
            return
        # every row laid out at once: ~3 s of GUI thread for 100,000 tensors; say so first
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        self.statusBar().showMessage(f"Expanding every row of {n:,} tensors…")
        self.statusBar().repaint()
        try:
            view.expand_all()
        finally:
            QApplication.restoreOverrideCursor()
            self.statusBar().showMessage("Expanded every row", 3000)

    def _collapse_all(self) -> None:
        view = self.current_document()
        if view is not None:
            view.collapse_all()

    # ---- Private API: compare tabs
    def _ask_drop_action(self, dropped: str, current: str) -> str:
        """"open", "compare" or "" (cancel): what to do with one file dropped on a checkpoint."""
        return dialogs.ask_drop_action(self, dropped, current)

    def _close_compare(self, index: int, view) -> None:
        view.shutdown()
        self._compares.remove(view)
        self.tabs.removeTab(index)
        view.deleteLater()
        self._after_tab_closed()

    def _on_tab_state_changed(self, view) -> None:  # a compare tab or a feature tab (a run)
        if view is self.tabs.currentWidget():
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
        self._show_progress(view.running)

    # ---- Private API: statistics and the status bar
    def _on_stats_changed(self, view: CheckpointView) -> None:
        if view is self.current_document():
            self._update_status()

    def _on_stats_ended(self, view: CheckpointView, state: str, message: str) -> None:
        if message:
            self.show_message(message, "error")
        elif state == "cancelled":
            self.statusBar().showMessage(
                f"Statistics cancelled ({view.stats_done:,} of {view.stats_total:,} tensors)", 5000)
        self._update_status()
        self._update_actions()
        self.sig_stats_finished.emit(view.path, state)

    def _cancel_current_work(self) -> None:
        compare = self.current_compare()
        if compare is not None:
            compare.cancel()
            return
        view = self.current_document()
        if view is not None and view.stats_running:
            view.cancel_stats()
        else:
            self.cancel_stats()

    def _show_progress(self, on: bool) -> None:
        self.progress.setVisible(on)
        self.cancel_button.setVisible(on)

    def _update_status(self) -> None:
        compare = self.current_compare()
        if compare is not None:
            self._update_compare_status(compare)
            return
        view = self.current_document()
        if view is None or not view.is_loaded:
            tab = self.tabs.currentWidget() if view is None else None  # a feature's tab
            self._file_label.setText("")
            self._stats_label.setText(getattr(tab, "status_text", str)() if tab is not None else "")
            self._show_progress(False)
            return
        totals = view.ckpt.totals()
        self._file_label.setText(f"  {view.ckpt.format} · {format_bytes(view.ckpt.size_bytes)} · "
                                 f"{totals['num_tensors']:,} tensors  ")
        if view.stats_running:
            total = max(view.stats_total, 1)
            self.progress.setRange(0, total)
            self.progress.setValue(min(view.stats_done, total))
            self._stats_label.setText(f"Statistics {view.stats_done:,} / {view.stats_total:,}")
        else:
            self._stats_label.setText(STATS_LABELS.get(view.stats_state, ""))
        self._show_progress(view.stats_running)


def _local_paths(mime) -> list[str]:
    if mime is None or not mime.hasUrls():
        return []
    return [u.toLocalFile() for u in mime.urls() if isinstance(u, QUrl) and u.isLocalFile()]


def _first_size() -> QSize:
    """1400×900, or what fits the screen (a 1024×700 display must not lose the status bar)."""
    size = QSize(1400, 900)
    screen = QGuiApplication.primaryScreen()
    if screen is not None:
        size = size.boundedTo(screen.availableGeometry().size() * 0.95)
    return size
