"""The compare view's header: the two files, how keys were aligned, counts per status,
how many values changed, the largest changes, and the non-tensor values that differ.

Text from the files (names, formats, keys, values) is plain text, or escaped where our own
markup is mixed in (the files line, the largest changes)."""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
)

from inspector.core.diff import CHANGED, DTYPE_CHANGED, IDENTICAL, STATUSES, DiffEntry, DiffHeader
from inspector.core.text import (
    dotted_path,
    file_label,
    format_bytes,
    format_count,
    format_value,
    html_text,
    metric_text,
    percent_text,
    shorten,
)
from inspector.ui.compare.columns import PathDelegate
from inspector.ui.compare.model import COLOR_A, COLOR_B, STATUS_COLORS, STATUS_LABELS
from inspector.ui.tree.columns import plain_tooltip

MAX_SCALAR_ROWS = 200
MIN_VALUE_WIDTH = 110  # pixels each of A's and B's values keep next to long keys
MIN_KEY_WIDTH = 160
CELL_AIR = 6  # pixels beyond Qt's size hint, so a text that fits is never elided
SCALAR_ROWS_SHOWN = 6  # rows of non-tensor values the summary's first height shows
MAX_LABEL_PATH = 120  # characters of a key path in the summary (the table has all of it)
LARGEST_SHOWN = 3
NOTICE_STYLE = ("QLabel#compareNotice { background: rgba(59, 130, 196, 40); border: 1px solid "
                "rgba(59, 130, 196, 150); border-radius: 4px; padding: 4px 8px; "
                "font-weight: 600; }")
VALUED = (CHANGED, DTYPE_CHANGED)  # statuses whose values were compared and differ


class CompareSummary(QFrame):
    """The summary box above the compare table; :meth:`show_state` fills it in."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("compareSummary")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        row = QHBoxLayout(self)
        row.setContentsMargins(10, 6, 10, 6)
        left = QVBoxLayout()
        left.setSpacing(3)
        self.files_label = QLabel()
        self.files_label.setTextFormat(Qt.TextFormat.RichText)
        self.files_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.align_label = QLabel()
        self.align_label.setTextFormat(Qt.TextFormat.PlainText)
        self.align_label.setWordWrap(True)
        chips = QHBoxLayout()
        chips.setSpacing(6)
        self.chips: dict[str, QLabel] = {}
        for status in STATUSES:
            chip = QLabel()
            chip.setTextFormat(Qt.TextFormat.PlainText)
            chip.setObjectName(f"chip_{status}")
            c = STATUS_COLORS[status]
            chip.setStyleSheet(f"QLabel {{ color: {c}; border: 1px solid {c}; border-radius: 9px;"
                               f" padding: 1px 8px; font-weight: 600; }}")
            chip.setToolTip(f"Tensors whose status is '{STATUS_LABELS[status]}'")
            chips.addWidget(chip)
            self.chips[status] = chip
        chips.addStretch(1)
        self.totals_label = QLabel()
        self.totals_label.setTextFormat(Qt.TextFormat.PlainText)
        self.totals_label.setWordWrap(True)
        self.largest_label = QLabel()
        self.largest_label.setWordWrap(True)
        self.largest_label.setTextFormat(Qt.TextFormat.RichText)
        self.notice_label = QLabel()
        self.notice_label.setObjectName("compareNotice")
        self.notice_label.setTextFormat(Qt.TextFormat.PlainText)  # names a file
        self.notice_label.setWordWrap(True)
        self.notice_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.notice_label.setStyleSheet(NOTICE_STYLE)
        self.notice_label.hide()
        for w in (self.notice_label, self.files_label, self.align_label):
            left.addWidget(w)
        left.addLayout(chips)
        left.addWidget(self.totals_label)
        left.addWidget(self.largest_label)
        row.addLayout(left, 3)

        right = QVBoxLayout()
        right.setSpacing(2)
        self.scalars_title = QLabel("Non-tensor values")
        self.scalars_title.setTextFormat(Qt.TextFormat.PlainText)
        self.scalars_title.setStyleSheet("font-weight: 600;")
        self.scalars_table = QTableWidget(0, 3)
        self.scalars_table.setObjectName("scalarDiffTable")
        self.scalars_table.setHorizontalHeaderLabels(["Key", "A", "B"])
        self.scalars_table.verticalHeader().hide()
        self.scalars_table.verticalHeader().setDefaultSectionSize(20)
        self.scalars_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.scalars_table.setWordWrap(False)
        # the whole key (optimizer_state_dict.param_groups.0.lr, not "optimizer_state_di…");
        # a key too long for the box keeps its first and last keys (PathDelegate)
        self.scalars_table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        scalar_header = self.scalars_table.horizontalHeader()
        scalar_header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        scalar_header.setStretchLastSection(True)
        self.scalars_table.viewport().installEventFilter(self)
        # the columns are fitted to the box's width: never a scroll bar across
        self.scalars_table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._key_delegate = PathDelegate(self.scalars_table)
        self.scalars_table.setItemDelegateForColumn(0, self._key_delegate)
        self.scalars_table.setMinimumWidth(320)
        self.scalars_table.setMinimumHeight(0)
        right.addWidget(self.scalars_title)
        right.addWidget(self.scalars_table, 1)
        right.addStretch(0)  # the title stays at the top when there is no table
        row.addLayout(right, 2)
        # the compare view's splitter sets the height; its first guess is wanted_height()
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)

    # ---- Public API
    def show_state(self, path_a: str, path_b: str, header: DiffHeader | None,
                   entries: list[DiffEntry], largest: list[DiffEntry], state: str,
                   tolerance_set: bool) -> None:
        """Show the comparison as it stands: ``entries`` compared so far (of
        ``header.pairs``), ``largest`` the biggest changes, ``state`` the diff's state."""
        if header is None:
            self.files_label.setText(opening_html(path_a, path_b))
            self.align_label.setText("")
        else:
            self.files_label.setText(files_html(header))
            self.files_label.setToolTip(plain_tooltip(f"A: {header.path_a}\nB: {header.path_b}"))
            self.align_label.setText("Aligned by: " + (header.aligned_by or "paths as stored"))
        counts = dict.fromkeys(STATUSES, 0)
        for e in entries:
            counts[e.status] += 1
        for status, chip in self.chips.items():
            chip.setText(f"{counts[status]:,} {STATUS_LABELS[status]}")
            chip.setVisible(bool(counts[status]) or status == IDENTICAL)
        self.totals_label.setText(totals_text(header, entries, counts, state, tolerance_set))
        self.largest_label.setText(largest_html(largest))
        self._fill_scalars(header)

    def set_notice(self, text: str) -> None:
        """A sentence above the files (e.g. "A and B are the same file"); "" hides it."""
        self.notice_label.setText(text)
        self.notice_label.setVisible(bool(text))

    def wanted_height(self, width: int | None = None) -> int:
        """The height that shows every line on the left at ``width`` (default: the current
        width) and up to :data:`SCALAR_ROWS_SHOWN` rows of non-tensor values."""
        row = self.layout()
        width = width if width is not None else self.width()
        m = row.contentsMargins()
        inner = max(200, width - m.left() - m.right() - row.spacing())
        left_width = inner * 3 // 5  # the stretch of the two columns: 3 to 2
        left = row.itemAt(0).layout()
        height = 0
        shown = 0
        for i in range(left.count()):
            item = left.itemAt(i)
            w = item.widget()
            if w is not None and w.isHidden():
                continue
            if w is not None and w.hasHeightForWidth():
                height += w.heightForWidth(left_width)
            else:
                height += item.sizeHint().height()
            shown += 1
        height += left.spacing() * max(0, shown - 1)
        rows = min(self.scalars_table.rowCount(), SCALAR_ROWS_SHOWN)
        table = (self.scalars_table.horizontalHeader().sizeHint().height() + 4
                 + rows * self.scalars_table.verticalHeader().defaultSectionSize()) if rows else 0
        right = self.scalars_title.sizeHint().height() + 2 + table
        frame = 2 * self.frameWidth()
        return max(height, right) + m.top() + m.bottom() + frame

    # ---- Qt overrides
    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt override
        if watched is self.scalars_table.viewport() and event.type() == QEvent.Type.Resize:
            self._fit_scalar_columns()
        return False

    # ---- Private API
    def _fit_scalar_columns(self) -> None:
        """Whole keys when they fit next to A's and B's values; the values keep at least
        :data:`MIN_VALUE_WIDTH` each (or what they need, when less)."""
        table = self.scalars_table
        width = table.viewport().width()
        if width <= 0 or table.rowCount() == 0:
            return
        hints = [max(table.sizeHintForColumn(c), table.horizontalHeader().sectionSizeHint(c))
                 + CELL_AIR for c in range(3)]
        values = [min(h, MIN_VALUE_WIDTH) for h in hints[1:]]
        key = max(min(hints[0], width - sum(values)), min(hints[0], MIN_KEY_WIDTH))
        rest = max(0, width - key)
        a = max(values[0], min(hints[1], rest - values[1]))
        table.setColumnWidth(0, key)
        table.setColumnWidth(1, a)  # B stretches over the rest

    def _fill_scalars(self, header: DiffHeader | None) -> None:
        scalars = header.scalars if header is not None else ()
        shown = scalars[:MAX_SCALAR_ROWS]
        if self.scalars_table.rowCount() == len(shown) and shown:
            return  # the header does not change during a run
        self.scalars_table.setRowCount(len(shown))
        for row, s in enumerate(shown):
            a = "(absent)" if s.status == "added" else format_value(s.value_a)
            b = "(absent)" if s.status == "removed" else format_value(s.value_b)
            for col, text in enumerate((dotted_path(s.path), a, b)):
                item = QTableWidgetItem(text)
                item.setToolTip(plain_tooltip(text))
                self.scalars_table.setItem(row, col, item)
        self.scalars_table.setVisible(bool(shown))  # no empty table when all are equal
        self._fit_scalar_columns()
        more = len(scalars) - len(shown)
        self.scalars_title.setText(
            "Non-tensor values: " + (f"{len(scalars)} differ" if scalars else "all equal")
            + (f" ({more} not shown)" if more > 0 else ""))


# ---- Text of the summary
def opening_html(path_a: str, path_b: str) -> str:
    """The files line before the worker has read the headers."""
    return (f"<b>A</b> {html_text(file_label(path_a))} &nbsp; <b>B</b> "
            f"{html_text(file_label(path_b))} &nbsp; <i>opening…</i>")


def files_html(h: DiffHeader) -> str:
    """Both files with their format, size and tensor count, one line each."""
    return (f"<span style='color:rgb{COLOR_A}'><b>A</b></span> {html_text(file_label(h.path_a))}"
            f" · {html_text(h.format_a)} · {format_bytes(h.size_a)} · {h.tensors_a:,} tensors"
            f"<br><span style='color:rgb{COLOR_B}'><b>B</b></span> "
            f"{html_text(file_label(h.path_b))} · {html_text(h.format_b)} · "
            f"{format_bytes(h.size_b)} · {h.tensors_b:,} tensors")


def totals_text(header: DiffHeader | None, entries: list[DiffEntry], counts: dict[str, int],
                state: str, tolerance_set: bool) -> str:
    """How many compared values changed, how many changes are within tolerance, progress."""
    compared = changed = 0
    for e in entries:
        if e.status in (IDENTICAL, *VALUED):
            compared += e.numel
        if e.status in VALUED:
            changed += e.num_diff or 0
    parts = []
    if compared:
        parts.append(f"{format_count(changed)} of {format_count(compared)} compared values "
                     f"changed ({percent_text(changed, compared)})")
    if header is not None and tolerance_set:
        close = sum(1 for e in entries if e.close)
        valued = sum(counts[s] for s in VALUED)
        parts.append(f"{close} of {valued} changed tensors within tolerance")
    if state == "running":
        parts.append(f"comparing… {len(entries):,} of "
                     f"{header.pairs if header else 0:,} tensors")
    elif state == "cancelled":
        parts.append("cancelled: the table shows the tensors compared so far")
    return " · ".join(parts)


def largest_entries(entries: list[DiffEntry], n: int = LARGEST_SHOWN) -> list[DiffEntry]:
    """The ``n`` biggest value changes among ``entries`` (while the report is not ready)."""
    valued = [e for e in entries if e.status in VALUED]
    valued.sort(key=lambda e: (-e.change, -(e.max_abs_diff or 0.0)))
    return valued[:n]


def largest_html(largest: list[DiffEntry]) -> str:
    if not largest:
        return ""
    items = ", ".join(f"<b>{html_text(shorten(dotted_path(e.path), MAX_LABEL_PATH))}</b> "
                      f"({change_text(e)})"
                      for e in largest)
    return f"Largest changes: {items}"


def change_text(e: DiffEntry) -> str:
    """How much one tensor changed, in a few characters."""
    if e.rel_l2 is not None and math.isfinite(e.rel_l2):
        return f"rel L2 {metric_text(e.rel_l2)}"
    if e.max_abs_diff is not None:
        return f"max |Δ| {metric_text(e.max_abs_diff)}"
    return STATUS_LABELS.get(e.status, e.status)
