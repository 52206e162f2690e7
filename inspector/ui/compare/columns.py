"""Column widths of the compare table: fitted to their content, resizable, remembered.

Every column but Path is as wide as its widest text (header included), so a dtype, a shape or
a number is never elided; Path takes the rest of the table's width (at least
:data:`MIN_PATH_WIDTH`) and elides in the middle, so the end of a key (``…running_mean``)
always shows. Widths are measured as rows stream in, from the longest texts of each batch
(a few font measurements per column, not one per cell).

A column the user resizes (drag, or double-click on a divider) keeps that width; those widths
are stored in the window's settings and come back in every compare tab. "Fit Columns to
Content" in the header's menu forgets them.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Sequence

from PySide6.QtCore import QByteArray, QEvent, QObject, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QHeaderView, QMenu, QStyledItemDelegate, QTableView

from inspector.core.diff import DiffEntry
from inspector.ui.compare.model import COL_PATH, COLUMNS, DiffTableModel

SETTINGS_KEY = "compare_table_columns"
MIN_PATH_WIDTH = 240
PATH_SHARE = 0.4  # of the table's width that Path gets before its keys are elided
MIN_WIDTH = 36
CELL_PADDING = 16  # the cell's margins on both sides, and a little air
HEADER_PADDING = 26  # the header's margins and its sort arrow
LONGEST_MEASURED = 4  # texts measured per column and batch: the longest by characters


class ColumnFitter(QObject):
    """Keeps ``table``'s column widths fitted to the texts of ``model``."""

    def __init__(self, table: QTableView, model: DiffTableModel, parent: QObject | None = None):
        super().__init__(parent)
        self.table = table
        self.model = model
        self._settings = None
        self._content = [0] * len(COLUMNS)
        self._user: dict[str, int] = {}
        self._fitting = False
        header = table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(MIN_WIDTH)
        header.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header.customContextMenuRequested.connect(self._header_menu)
        header.sectionResized.connect(self._on_section_resized)
        table.viewport().installEventFilter(self)
        table.installEventFilter(self)  # its font may change when the style sheet applies
        self.delegate = PathDelegate(table)
        table.setItemDelegateForColumn(COL_PATH, self.delegate)
        self.reset_content()

    # ---- Public API
    def set_settings(self, settings) -> None:
        """Remember user-set widths in ``settings`` (the window's Settings); read them now."""
        self._settings = settings
        self._user = _read_widths(settings)
        self.fit()

    def reset_content(self) -> None:
        """No rows: every column as wide as its header."""
        fm = self.table.fontMetrics()
        self._content = [fm.horizontalAdvance(name) + HEADER_PADDING for name in COLUMNS]

    def measure(self, entries: Sequence[DiffEntry]) -> None:
        """Widen the columns for these new rows' texts, then fit."""
        if not entries:
            return
        fm = self.table.fontMetrics()
        changed = False
        for col in range(len(COLUMNS)):
            texts = [DiffTableModel.text(e, col) for e in entries]
            for text in heapq.nlargest(LONGEST_MEASURED, texts, key=len):
                w = fm.horizontalAdvance(text) + CELL_PADDING
                if w > self._content[col]:
                    self._content[col] = w
                    changed = True
        if changed:
            self.fit()

    def remeasure(self) -> None:
        """Measure every row again (the table's font changed)."""
        self.reset_content()
        entries = self.model.entries()
        if entries:
            self.measure(entries)
        else:
            self.fit()

    def content_width(self, col: int) -> int:
        """The width column ``col`` needs to show all its texts whole."""
        return self._content[col]

    def user_widths(self) -> dict[str, int]:
        """Widths the user set, by column name."""
        return dict(self._user)

    def fit(self) -> None:
        """Apply the widths: the user's, else the content's; Path takes what is left."""
        header = self.table.horizontalHeader()
        widths = [self._user.get(name, self._content[col]) for col, name in enumerate(COLUMNS)]
        viewport = self.table.viewport().width()
        others = sum(w for col, w in enumerate(widths)
                     if col != COL_PATH and not header.isSectionHidden(col))
        # whole keys first (the other columns scroll), elided only past a share of the
        # table; the user's width when set; and all the room that is left over (no blank band)
        least = self._user.get(COLUMNS[COL_PATH]) or min(
            self._content[COL_PATH], max(MIN_PATH_WIDTH, int(viewport * PATH_SHARE)))
        widths[COL_PATH] = max(least, viewport - others)
        self._fitting = True
        try:
            for col, w in enumerate(widths):
                if header.sectionSize(col) != w:
                    header.resizeSection(col, w)
        finally:
            self._fitting = False

    def set_hidden(self, col: int, hidden: bool) -> None:
        """Hide or show column ``col`` (not a width the user chose) and fit again."""
        self._fitting = True
        try:
            self.table.setColumnHidden(col, hidden)
        finally:
            self._fitting = False
        self.fit()

    def fit_to_content(self) -> None:
        """Forget the widths the user set and fit every column to its content again."""
        self._user = {}
        self._save()
        self.fit()

    # ---- Qt overrides
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        if watched is self.table.viewport() and event.type() == QEvent.Type.Resize:
            self.fit()  # Path follows the table's width
        elif watched is self.table and event.type() in (QEvent.Type.FontChange,
                                                        QEvent.Type.StyleChange):
            self.remeasure()
        return False

    # ---- Private API
    def _on_section_resized(self, col: int, _old: int, new: int) -> None:
        if self._fitting or not 0 <= col < len(COLUMNS) or new <= 0:
            return
        self._user[COLUMNS[col]] = int(new)
        self._save()

    def _header_menu(self, pos) -> None:
        menu = QMenu(self.table)
        menu.addAction("Fit Columns to Content", self.fit_to_content)
        menu.exec(self.table.horizontalHeader().mapToGlobal(pos))

    def _save(self) -> None:
        if self._settings is not None:
            data = json.dumps(self._user, sort_keys=True).encode()
            self._settings.set_splitter_state(SETTINGS_KEY, QByteArray(data))


class PathDelegate(QStyledItemDelegate):
    """Draws a key path too long for its cell with its first key, "…" and as many of its
    last keys as fit (``optimizer_state_dict … state.0.momentum_buffer``): the end of a
    key always shows, and so does the part that tells rows apart."""

    def initStyleOption(self, option, index) -> None:  # noqa: N802 - Qt override
        super().initStyleOption(option, index)
        text = option.text
        if text:
            option.text = elide_path(text, option.fontMetrics,
                                     option.rect.width() - text_margin(option.widget))


def text_margin(widget) -> int:
    """The pixels of a cell that are not text: the style's margin on both sides."""
    from PySide6.QtWidgets import QApplication, QStyle

    style = widget.style() if widget is not None else QApplication.style()
    return 2 * (style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, widget) + 1)


def elide_path(text: str, fm: QFontMetrics, width: int) -> str:
    """``text`` (a dotted key path) within ``width`` pixels: whole when it fits, else its
    first key, "…" and as many of its last keys as fit; Qt's middle elision when even
    the last key alone is too long."""
    if width <= 0 or fm.horizontalAdvance(text) <= width:
        return text
    parts = text.split(".")
    if len(parts) > 1:
        for head in (parts[0] + " … ", "… "):
            best = ""
            for i in range(len(parts) - 1, 0, -1):
                candidate = head + ".".join(parts[i:])
                if fm.horizontalAdvance(candidate) > width:
                    break
                best = candidate
            if best:
                return best
    return fm.elidedText(text, Qt.TextElideMode.ElideMiddle, width)


def _read_widths(settings) -> dict[str, int]:
    return read_sizes(settings, SETTINGS_KEY, COLUMNS, MIN_WIDTH)


def read_sizes(settings, key: str, names, smallest: int) -> dict[str, int]:
    """Pixel sizes by name saved under ``key`` (JSON in a splitter-state setting), keeping
    only known ``names`` with sizes from ``smallest`` to 5000; {} when absent or damaged."""
    state = settings.splitter_state(key) if settings is not None else None
    if state is None:
        return {}
    try:
        value = json.loads(bytes(state.data()).decode())
    except (ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(value, dict):
        return {}
    return {k: int(v) for k, v in value.items()
            if k in names and isinstance(v, int) and smallest <= v <= 5000}
