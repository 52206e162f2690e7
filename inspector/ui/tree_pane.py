"""The left side of a checkpoint's "Tensors" view: the filter bar and the tree view.

The widgets only; :class:`~inspector.ui.checkpoint_view.CheckpointView` wires them to the
tree model (:mod:`inspector.ui.tree`) and decides what a filter does.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
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

MIN_NAME_WIDTH = 160
# The widest text each column usually shows; numeric columns are sized to it (and to their
# header) from the font, so that all of them fit beside the name column, which stretches.
COLUMN_SAMPLES = {COL_DTYPE: "bfloat16", COL_SHAPE: "(1024, 1024)", COL_NUMEL: "123.4M",
                  COL_SIZE: "123.4 MiB", COL_MEAN: "-1.234e-05", COL_STD: "0.01234",
                  COL_MIN: "-0.1234", COL_MAX: "-0.1234", COL_ZEROS: "12.3 %", COL_NANINF: "0"}


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
        self.match_label = QLabel("")
        self.match_label.setObjectName("matchLabel")
        self.match_label.setTextFormat(Qt.TextFormat.PlainText)
        self.match_label.setMinimumWidth(80)
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


def build_tree_view() -> QTreeView:
    """The tree view, without its model yet: see :func:`attach_model`."""
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


def attach_model(tree: QTreeView, model) -> None:
    """Give ``tree`` its model and fit the columns; file order until a header is clicked.

    Call it last, once the widgets are assembled: every re-parenting and tab insertion would
    otherwise lay out all exposed rows again (20 000 tensors: ~0.3 s of GUI thread).
    """
    tree.setModel(model)
    header = tree.header()
    header.setStretchLastSection(False)
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    # numbers compact (their usual text or their title, whichever is wider), the name takes
    # the rest: every column fits the default window without scrolling sideways
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
    tree.sortByColumn(-1, Qt.SortOrder.AscendingOrder)
