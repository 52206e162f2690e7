"""The flat table's view: :class:`FlatTable`."""

from __future__ import annotations

import re

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from inspector.core.checkpoint import Checkpoint
from inspector.ui.settings import Settings
from inspector.ui.table.model import COL_ABS_MEAN, COL_L2, TABLE_HEADERS, TensorTableModel
from inspector.ui.tree.columns import COL_MEAN, COL_NAME

MIN_PATH_WIDTH = 280


class FlatTable(QTableView):
    """Every tensor in one sortable table: click a header to sort the whole model.

    Emits
    -----
    sig_current_changed(tuple)
        The current row changed: the tensor's key path.
    """

    sig_current_changed = Signal(object)
    """A tensor row became current: its key path."""

    def __init__(self, ckpt: Checkpoint, stats_of, settings: Settings,
                 widest: dict[int, str] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        from inspector.ui.tree_pane import CELL_PADDING, COLUMN_SAMPLES, HEADER_PADDING

        self.setObjectName("tensorTable")
        self._settings = settings
        self.table_model = TensorTableModel(ckpt, stats_of, self)
        self.setModel(self.table_model)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a path's end tells tensors apart
        self.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(False)
        cell, title = self.fontMetrics(), header.fontMetrics()
        texts = dict(COLUMN_SAMPLES)
        texts.update({COL_ABS_MEAN: COLUMN_SAMPLES[COL_MEAN], COL_L2: COLUMN_SAMPLES[COL_MEAN]})
        for col, text in (widest or {}).items():
            if cell.horizontalAdvance(text) > cell.horizontalAdvance(texts.get(col, "")):
                texts[col] = text
        saved = settings.column_widths("table")
        for col, sample in texts.items():
            need = max(cell.horizontalAdvance(sample) + CELL_PADDING,
                       title.horizontalAdvance(TABLE_HEADERS[col]) + HEADER_PADDING)
            header.resizeSection(col, max(need, saved.get(col, 0)))
        longest = max((self.table_model.name(r) for r in range(min(2000, self.table_model.rowCount()))),
                      key=len, default="")
        header.resizeSection(COL_NAME, saved.get(COL_NAME) or max(
            MIN_PATH_WIDTH, min(cell.horizontalAdvance(longest) + CELL_PADDING, 520)))
        header.sectionResized.connect(self._on_section_resized)
        self.setSortingEnabled(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.selectionModel().currentRowChanged.connect(self._on_current)

    # ---- Public API
    def apply_filter(self, needle: str, regex: re.Pattern[str] | None, nan_inf_only: bool) -> int:
        """Filter the rows (keeping the current tensor current if it stays); returns the count."""
        current = self.current_path()
        n = self.table_model.set_filter(needle, regex, nan_inf_only)
        if current is not None:
            self.select_path(current)
        return n

    def current_path(self) -> tuple | None:
        index = self.currentIndex()
        return self.table_model.path(index.row()) if index.isValid() else None

    def select_path(self, path: tuple) -> bool:
        row = self.table_model.row_of(path)
        if row < 0:
            return False
        index = self.table_model.index(row, COL_NAME)
        self.setCurrentIndex(index)
        self.scrollTo(index, QAbstractItemView.ScrollHint.PositionAtCenter)
        return True

    def row_texts(self, index: QModelIndex) -> tuple[str, str, str] | None:
        """(name, dotted path, value) of a row, for the copy menu."""
        from inspector.core.text import safe_str
        from inspector.ui.tree.copy_menu import row_texts

        model = self.table_model
        path = model.path(index.row())
        if path is None:
            return None
        return row_texts(model.node(index.row()), path, safe_str(path[-1]) if path else "",
                         index.data())

    # ---- Private API
    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        path = self.table_model.path(current.row()) if current.isValid() else None
        if path is not None:
            self.sig_current_changed.emit(path)

    def _on_section_resized(self, col: int, _old: int, new: int) -> None:
        if self.horizontalHeader().underMouse():
            widths = self._settings.column_widths("table")
            widths[col] = new
            self._settings.set_column_widths("table", widths)
