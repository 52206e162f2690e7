"""The left side of a checkpoint's "Tensors" view: the filter bar and the tree view.

The widgets only; :class:`~inspector.ui.checkpoint_view.CheckpointView` wires them to the
tree model (:mod:`inspector.ui.tree`) and decides what a filter does.
"""

from __future__ import annotations

from collections import deque

from PySide6.QtCore import QModelIndex, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QToolButton,
    QTreeView,
    QWidget,
)

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
)

MIN_NAME_WIDTH = 220
MAX_AUTO_NAME_WIDTH = 340
MAX_SHAPE_WIDTH = 420  # a longer shape (rare: 8+ dimensions) may scroll, never the others
CELL_PADDING = 18
HEADER_PADDING = 14  # the title; the sort indicator may cover its end while sorted
# The widest text each column can show (numbers: 4 significant digits, sizes, counts); the
# columns are sized to it, or to wider text found in the file (a shape), and never elide it.
COLUMN_SAMPLES = {COL_DTYPE: "bfloat16", COL_SHAPE: "(1024, 1024)", COL_NUMEL: "888.88M",
                  COL_SIZE: "1023.9 MiB", COL_MEAN: "-8.888e-88", COL_STD: "8.888e-88",
                  COL_MIN: "-8.888e-88", COL_MAX: "-8.888e-88", COL_ZEROS: "100.0 %",
                  COL_NANINF: "0"}


class FilterBar(QWidget):
    """Filter text (plain or /regex), a regex toggle, "NaN/Inf only" and the match count.

    Emits
    -----
    sig_edited()
        The text was typed into (a caller debounces).
    sig_apply()
        Apply now: Return was pressed, or the regex or NaN/Inf toggle changed.
    """

    sig_edited = Signal()
    """The filter text changed."""
    sig_apply = Signal()
    """The filter should be applied now."""
    sig_mode = Signal(str)
    """"tree" or "table" was chosen."""

    def __init__(self, settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = settings
        bar = QHBoxLayout(self)
        bar.setContentsMargins(0, 0, 0, 0)
        bar.setSpacing(6)
        edit = QLineEdit()
        edit.setObjectName("filterEdit")
        edit.setPlaceholderText("Filter by name or path — text, or /regex   (Ctrl+F)")
        edit.setClearButtonEnabled(True)
        edit.addAction(resources.icon("search"), QLineEdit.ActionPosition.LeadingPosition)
        edit.textChanged.connect(lambda _t: self.sig_edited.emit())
        edit.returnPressed.connect(self.sig_apply)
        clear = QAction(edit)
        clear.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        clear.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        clear.triggered.connect(edit.clear)
        edit.addAction(clear)
        self.edit = edit
        self.regex_button = QToolButton()
        self.regex_button.setText(".*")
        self.regex_button.setCheckable(True)
        self.regex_button.setChecked(settings.regex_filter())
        self.regex_button.setToolTip("Treat the filter as a regular expression "
                                     "(a leading / does the same)")
        self.regex_button.toggled.connect(self._on_regex_toggled)
        self.nan_check = QCheckBox("NaN/Inf only")
        self.nan_check.setToolTip("Show only tensors whose statistics found NaN or infinite values")
        self.nan_check.toggled.connect(lambda _on: self.sig_apply.emit())
        self.tree_button = QToolButton()
        self.tree_button.setText("Tree")
        self.tree_button.setToolTip("The checkpoint as a tree of modules and keys")
        self.table_button = QToolButton()
        self.table_button.setText("Table")
        self.table_button.setObjectName("tableButton")
        self.table_button.setToolTip("Every tensor in one flat table: full path, dtype, shape, "
                                     "size and statistics; click a header to sort the whole "
                                     "model")
        modes = QButtonGroup(self)
        modes.setExclusive(True)
        for button, mode in ((self.tree_button, "tree"), (self.table_button, "table")):
            button.setCheckable(True)
            button.setAutoRaise(True)
            modes.addButton(button)
            button.toggled.connect(lambda on, m=mode: on and self.sig_mode.emit(m))
        self.tree_button.setChecked(True)
        self.match_label = QLabel("")
        self.match_label.setObjectName("matchLabel")
        self.match_label.setTextFormat(Qt.TextFormat.PlainText)
        self.match_label.setMinimumWidth(80)
        bar.addWidget(self.tree_button)
        bar.addWidget(self.table_button)
        bar.addWidget(edit, 1)
        bar.addWidget(self.regex_button)
        bar.addWidget(self.nan_check)
        bar.addWidget(self.match_label)

    def text(self) -> str:
        return self.edit.text()

    def is_regex(self) -> bool:
        return self.regex_button.isChecked()

    def nan_inf_only(self) -> bool:
        return self.nan_check.isChecked()

    def show_matches(self, n: int | None) -> None:
        """Show the number of matching rows (None: no filter, nothing shown)."""
        self.match_label.setText("" if n is None else f"{n:,} match{'' if n == 1 else 'es'}")

    def show_pattern_error(self, message: str) -> None:
        """Mark the text as an invalid regex ("" clears the mark)."""
        self.edit.setProperty("invalid", bool(message))
        self.edit.setToolTip(message)  # our own message about the user's pattern
        self.edit.style().unpolish(self.edit)
        self.edit.style().polish(self.edit)
        if message:
            self.match_label.setText("invalid regex")

    def _on_regex_toggled(self, on: bool) -> None:
        self._settings.set_regex_filter(on)
        self.sig_apply.emit()


class CheckpointTree(QTreeView):
    """The tree view: keyboard navigation reaches every row of the lazily fetched model
    (End fetches to the last row, Down and Page Down fetch the next batch before they run
    out), names are elided in the middle, and the columns fit their content.

    Emits
    -----
    sig_columns_resized()
        The user resized a column (the widths are worth saving).
    """

    sig_columns_resized = Signal()
    """The user dragged or double-clicked a column border."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._fitting = False
        self._user_widths: dict[int, int] = {}
        self._name_need: int | None = None  # the names shown first need this much
        self._fit_timer = QTimer(self)
        self._fit_timer.setSingleShot(True)
        self._fit_timer.setInterval(0)
        self._fit_timer.timeout.connect(self.fit_name_column)

    # ---- Public API
    def user_widths(self) -> dict[int, int]:
        """The columns the user sized, and their widths."""
        return dict(self._user_widths)

    def set_user_widths(self, widths: dict[int, int]) -> None:
        self._user_widths = dict(widths)

    def fit_columns(self, widest: dict[int, str] | None = None) -> None:
        """Size every column but the name to its widest text (never elided), honour the
        widths the user set, and give the name column the rest (at least ``MIN_NAME_WIDTH``)."""
        header = self.header()
        cell, title = self.fontMetrics(), header.fontMetrics()
        texts = dict(COLUMN_SAMPLES)
        for col, text in (widest or {}).items():
            if cell.horizontalAdvance(text) > cell.horizontalAdvance(texts.get(col, "")):
                texts[col] = text
        self._fitting = True
        try:
            for col, sample in texts.items():
                need = max(cell.horizontalAdvance(sample) + CELL_PADDING,
                           title.horizontalAdvance(HEADERS[col]) + HEADER_PADDING)
                if col == COL_SHAPE:
                    need = min(need, MAX_SHAPE_WIDTH)
                width = max(need, self._user_widths.get(col, 0))
                if header.sectionSize(col) != width:
                    header.resizeSection(col, width)
        finally:
            self._fitting = False
        self.fit_name_column()

    def fit_name_column(self) -> None:
        """The name column fills the view's free width, unless the user sized it."""
        header = self.header()
        if COL_NAME in self._user_widths:
            width = self._user_widths[COL_NAME]
        else:
            others = sum(header.sectionSize(c) for c in range(1, header.count())
                         if not header.isSectionHidden(c))
            # the free width, but at least what the shown names need (up to a cap): the
            # other columns scroll sideways before names are cut
            if self._name_need is None:  # asks the model about every shown row: once
                self._name_need = min(self.sizeHintForColumn(COL_NAME), MAX_AUTO_NAME_WIDTH)
            need = self._name_need
            width = max(MIN_NAME_WIDTH, need, self.viewport().width() - others)
        if header.sectionSize(COL_NAME) != width:
            self._fitting = True
            try:
                header.resizeSection(COL_NAME, width)
            finally:
                self._fitting = False

    # ---- Qt overrides
    def moveCursor(self, action, modifiers):  # noqa: N802 - Qt override
        model = self.model()
        if model is not None:
            if action == QAbstractItemView.CursorAction.MoveEnd:
                self._fetch_to_end()
            elif action in (QAbstractItemView.CursorAction.MoveDown,
                            QAbstractItemView.CursorAction.MovePageDown,
                            QAbstractItemView.CursorAction.MoveNext):
                self._fetch_after(self.currentIndex())
        return super().moveCursor(action, modifiers)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit_timer.start()


    # ---- Private API
    def _fetch_to_end(self) -> None:
        """Fetch every row of the top level and of each last, expanded row below it, so
        End lands on the real last row."""
        model = self.model()
        parent = QModelIndex()
        while True:
            while model.canFetchMore(parent):
                model.fetchMore(parent)
            n = model.rowCount(parent)
            if n == 0:
                return
            last = model.index(n - 1, 0, parent)
            if not self.isExpanded(last):
                return
            parent = last

    def _fetch_after(self, current: QModelIndex) -> None:
        """Fetch the next batch of ``current``'s siblings (and of its ancestors') when the
        cursor is a page or less from the end of what is fetched."""
        model = self.model()
        page = max(1, self.viewport().height() // max(1, self.sizeHintForRow(0) or 20)) + 1
        index = current
        while index.isValid():
            parent = index.parent()
            if index.row() >= model.rowCount(parent) - page and model.canFetchMore(parent):
                model.fetchMore(parent)
            index = parent

    def _on_section_resized(self, col: int, _old: int, new: int) -> None:
        if self._fitting or not self.header().underMouse():
            return
        self._user_widths[col] = new
        self.sig_columns_resized.emit()


def build_tree_view() -> CheckpointTree:
    """The tree view, without its model yet: see :func:`attach_model`."""
    tree = CheckpointTree()
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
    # a key's end tells running_mean from running_var: elide the middle, never the end
    tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
    return tree


def attach_model(tree: CheckpointTree, model, widths: dict[int, int] | None = None,
                 widest: dict[int, str] | None = None) -> None:
    """Give ``tree`` its model and fit the columns; file order until a header is clicked.

    ``widths``: the column widths the user set before (settings); ``widest``: the widest
    text of some columns (e.g. the longest shape), which are never elided.

    Call it last, once the widgets are assembled: every re-parenting and tab insertion would
    otherwise lay out all exposed rows again (20 000 tensors: ~0.3 s of GUI thread).
    """
    tree.setModel(model)
    header = tree.header()
    header.setStretchLastSection(False)
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    header.setMinimumSectionSize(min(header.minimumSectionSize(), 40))
    tree.set_user_widths(widths or {})
    tree.fit_columns(widest)
    header.sectionResized.connect(tree._on_section_resized)
    header.setSortIndicatorShown(True)
    header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
    tree.setSortingEnabled(True)
    tree.sortByColumn(-1, Qt.SortOrder.AscendingOrder)


def expand_matches(tree: QTreeView, model, proxy, budget: int) -> None:
    """Open a filtered tree top-down as far as ``budget`` rows go: a few hundred matches show
    at once, and no filter lays out thousands of rows."""
    root = model.root_item()
    top_level_small = len(model.shown_children(root)) <= 20
    queue = deque([root])
    while queue:
        item = queue.popleft()
        children = model.shown_children(item)
        if item is not root:
            # a big module at the top still opens (it is what the user filtered into)
            if len(children) > budget and not (item.parent is root and top_level_small):
                continue
            tree.expand(proxy.mapFromSource(model.index_of(item)))
        budget -= len(children)
        queue.extend(c for c in children if c.children)
