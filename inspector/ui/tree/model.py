"""The checkpoint tree as a lazy Qt model.

:class:`CheckpointTreeModel` adapts the core Node tree (never a QTreeWidget: 100 000 rows must
stay cheap). Rows are exposed in batches through ``canFetchMore``/``fetchMore``; inside a
state_dict, dotted keys are shown as the module hierarchy (:mod:`inspector.ui.tree.items`).
Statistics arrive later, one tensor at a time, through :meth:`CheckpointTreeModel.set_stats`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QFont

from inspector.core.checkpoint import (
    BYTES,
    DICT,
    LIST,
    NONE,
    OBJECT,
    REF,
    SCALAR,
    SET,
    STRING,
    TENSOR,
    TRUNCATED,
    TUPLE,
    Checkpoint,
    Node,
)
from inspector.core.text import format_bytes, format_count, safe_str
from inspector.ui.tree.cells import CellDecorations, nan_below_text
from inspector.ui.tree.columns import (
    COL_DTYPE,
    COL_MEAN,
    COL_NAME,
    COL_NANINF,
    COL_NUMEL,
    COL_SHAPE,
    COL_SIZE,
    HEADER_TIPS,
    HEADERS,
    NUMERIC_COLUMNS,
    PENDING,
    ItemRole,
    NodeRole,
    PathRole,
    SortRole,
    stats_text,
    stats_value,
    value_text,
)
from inspector.ui.tree.items import (
    FETCH_BATCH,
    SearchIndex,
    TreeData,
    TreeItem,
    dtype_text,
    shape_text,
)

_NO_PARENT = QModelIndex()
_ICON_BY_KIND = {DICT: "dict", LIST: "list", TUPLE: "list", SET: "list", SCALAR: "scalar",
                 STRING: "text", BYTES: "text", NONE: "scalar", OBJECT: "object", REF: "ref",
                 TRUNCATED: "warning"}
_DIGITS = re.compile(r"\d+")
_ROW_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable  # asked per row and layout
# the roles as plain ints: data() is asked ~20 times per row a view lays out or paints, and
# each Qt.ItemDataRole.X is an enum attribute lookup in Python
_DISPLAY, _DECORATION, _ALIGNMENT, _TOOLTIP, _FOREGROUND, _FONT = (int(r.value) for r in (
    Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.DecorationRole,
    Qt.ItemDataRole.TextAlignmentRole, Qt.ItemDataRole.ToolTipRole,
    Qt.ItemDataRole.ForegroundRole, Qt.ItemDataRole.FontRole))
_SORT, _NODE, _ITEM, _PATH = (int(getattr(r, "value", r)) for r in (SortRole, NodeRole, ItemRole,
                                                                   PathRole))
_RIGHT_ALIGNED = int((Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter).value)


class CheckpointTreeModel(CellDecorations, QAbstractItemModel):
    """A lazy tree model over a Checkpoint's Nodes with per-tensor statistics columns.

    Pass ``prepared`` (from :func:`prepare_tree`, built in a worker thread) to keep the
    GUI thread's part of opening a big file short; without it the rows are prepared here.

    Emits
    -----
    sig_stats_changed(tuple)
        A tensor's statistics (or its error) were stored; the argument is its key path.
    """

    sig_stats_changed = Signal(object)
    """A tensor's statistics arrived; argument: its key path (a tuple)."""

    BATCH = FETCH_BATCH

    def __init__(self, ckpt: Checkpoint, labels: dict[tuple, str] | None = None,
                 parent: QObject | None = None, *, prepared: TreeData | None = None):
        super().__init__(parent)
        if prepared is None or prepared.ckpt is not ckpt:
            prepared = TreeData(ckpt, labels, self.BATCH)
        self._data = prepared
        self._ckpt = ckpt
        self._labels = prepared.labels
        self._stats: dict[tuple, Any] = {}
        self._errors: dict[tuple, str] = {}
        self._items_by_path = prepared.items_by_path
        self._stats_pending = False
        self._shown: dict[int, list[TreeItem]] | None = None  # under a filter: shown rows
        self._shown_row: dict[int, int] | None = None  # under a filter: pos -> row
        self._shown_count: dict[int, int] = {}  # under a filter: rows exposed per parent
        self._shown_flags: tuple[bytearray, bytearray] | None = None
        self._shown_batch = True
        self._nan_paths: set[tuple] = set()
        self._nan_below: dict[Any, int] = {}  # container path or (path, module prefix): count
        self._unsafe = prepared.unsafe
        self._root = prepared.root
        bold = QFont()
        bold.setBold(True)
        self._group_font = bold

    # ---- Qt overrides
    def index(self, row: int, column: int, parent: QModelIndex = _NO_PARENT) -> QModelIndex:
        item = self._item(parent)
        if item is None or column < 0 or column >= len(HEADERS) or row < 0:
            return QModelIndex()
        shown = self._shown
        if shown is not None:
            rows = self._shown_list(item)
            if row >= self._shown_count[item.pos]:
                return QModelIndex()
            return self.createIndex(row, column, rows[row])
        if row >= item.fetched:
            return QModelIndex()
        return self.createIndex(row, column, item.children[row])

    def parent(self, index: QModelIndex | None = None) -> QModelIndex:  # type: ignore[override]
        if index is None:  # QObject.parent(), hidden by this override
            return QObject.parent(self)
        if not index.isValid():
            return QModelIndex()
        item: TreeItem = index.internalPointer()
        up = item.parent
        if up is None or up is self._root:
            return QModelIndex()
        return self.createIndex(self._row(up), 0, up)

    def rowCount(self, parent: QModelIndex = _NO_PARENT) -> int:
        if parent.column() > 0:
            return 0
        item = self._item(parent)
        if item is None:
            return 0
        if self._shown is not None:
            self._shown_list(item)
            return self._shown_count[item.pos]
        return item.fetched

    def columnCount(self, parent: QModelIndex = _NO_PARENT) -> int:
        return len(HEADERS)

    def hasChildren(self, parent: QModelIndex = _NO_PARENT) -> bool:
        if parent.column() > 0:
            return False
        item = self._item(parent)
        if item is None:
            return False
        if self._shown is not None:
            return item is self._root or bool(self._shown_flags[1][item.pos])
        if item is self._root:
            return bool(self._children(item))
        return item.has_children()

    def canFetchMore(self, parent: QModelIndex) -> bool:
        if parent.column() > 0:
            return False
        if self._shown is not None:
            item = self._item(parent)
            total = len(self._shown_list(item))
            return self._shown_count[item.pos] < total
        item = self._item(parent)
        if item is None or not (item is self._root or item.has_children()):
            return False
        if item.children is None:
            return True  # has children, none built yet: don't build them just to answer
        return item.fetched < len(item.children)

    def fetchMore(self, parent: QModelIndex) -> None:
        item = self._item(parent)
        if item is None:
            return
        if self._shown is not None:
            key = item.pos
            total = len(self._shown_list(item))
            have = self._shown_count[key]
            if have < total:
                n = min(self.BATCH, total - have)
                self.beginInsertRows(parent, have, have + n - 1)
                self._shown_count[key] = have + n
                self.endInsertRows()
            return
        children = self._children(item)
        remaining = len(children) - item.fetched
        if remaining <= 0:
            return
        n = min(self.BATCH, remaining)
        self.beginInsertRows(parent, item.fetched, item.fetched + n - 1)
        item.fetched += n
        self.endInsertRows()

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(HEADERS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return HEADERS[section]
        if role == Qt.ItemDataRole.TextAlignmentRole and section in NUMERIC_COLUMNS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS.get(section)
        return None

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return _ROW_FLAGS

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item: TreeItem = index.internalPointer()
        col = index.column()
        if role == _DISPLAY:
            return self._display(item, col)
        if role == _SORT:
            return self._sort_value(item, col)
        if role == _DECORATION:
            return self._icon(item) if col == COL_NAME else None
        if role == _ALIGNMENT:
            if col in NUMERIC_COLUMNS:
                return _RIGHT_ALIGNED
            return None
        if role == _TOOLTIP:
            return self._tooltip(item, col)
        if role == _FOREGROUND:
            return self._foreground(item, col)
        if role == _FONT:
            return self._group_font if item.group is not None and col == COL_NAME else None
        if role == _NODE:
            return item.node
        if role == _ITEM:
            return item
        if role == _PATH:
            return item.path
        return None

    # ---- Public API
    @property
    def checkpoint(self) -> Checkpoint:
        return self._ckpt

    def fetch_all(self) -> None:
        """Expose every row (filters and sorting only see exposed rows). Resets the model once."""
        if self._shown is not None:
            if self._shown_batch:
                self.beginResetModel()
                self._shown_batch = False
                self._shown_count = {k: len(rows) for k, rows in self._shown.items()}
                self.endResetModel()
            return
        if self._data.all_fetched:
            return
        self.beginResetModel()
        self._expose_all()
        self.endResetModel()

    def is_fully_fetched(self) -> bool:
        return self._data.all_fetched

    def reset_with(self, change: Callable[[], None]) -> None:
        """Run ``change()`` (which may change the exposed rows) inside one model reset."""
        self.beginResetModel()
        try:
            change()
        finally:
            self.endResetModel()

    def adopt(self, data: TreeData) -> None:
        """Take ``data`` (the same file's rows, built elsewhere: ``full_tree``) instead of the
        rows built so far; for use inside :meth:`reset_with`."""
        if data.ckpt is not self._ckpt:
            raise ValueError("rows of another checkpoint")
        self._data = data
        self._root = data.root
        self._items_by_path = data.items_by_path
        self._labels = data.labels
        self._unsafe = data.unsafe
        self._shown = self._shown_row = self._shown_flags = None
        self._shown_count = {}

    @property
    def labels(self) -> dict[tuple, str]:
        return self._labels

    def expose_all_rows(self) -> None:
        """Expose every row, for use inside :meth:`reset_with` (fetch_all resets itself)."""
        self._data.expose_all()

    def limit_exposure(self, keep_path: tuple | None = None,
                       keep_item: TreeItem | None = None) -> None:
        """Back to batch-wise exposure, keeping the row at ``keep_path`` exposed; for use
        inside :meth:`reset_with`. A view then lays out a batch of a big module's rows when
        it expands it, instead of all of them (10,000 rows: ~0.5 s)."""
        keep = self._items_by_path.get(tuple(keep_path)) if keep_path is not None else keep_item
        self._data.limit_exposure(keep)

    def show_only(self, visible: tuple[bytearray, bytearray] | None, batch: bool = True) -> None:
        """Show only the rows a filter keeps: ``visible`` flags them by search-index position
        (shown; has shown children), see ``SearchIndex.with_ancestors``; None shows every
        exposed row. Call it inside :meth:`reset_with`.

        A parent's shown rows are listed when a view first asks for them, so a filter costs
        the rows a view looks at, not every match. With ``batch``, a parent exposes its shown
        rows a batch at a time, as without a filter (a view lays out 500 rows, not 10,000,
        when it expands it); a sorted view needs them all (``batch=False``)."""
        self._shown_count = {}
        if visible is None:
            self._shown = self._shown_row = self._shown_flags = None
            return
        self._shown_flags = visible
        self._shown_batch = batch
        self._shown, self._shown_row = {}, {}

    def shown_children(self, item: TreeItem) -> list[TreeItem]:
        """Under a filter, the exposed rows shown below ``item``; otherwise its exposed rows."""
        if self._shown is not None:
            return self._shown_list(item)[:self._shown_count[item.pos]]
        return (item.children or [])[:item.fetched]

    def is_filtered(self) -> bool:
        return self._shown is not None

    def search_index(self) -> SearchIndex:
        """Every row with its lower-cased dotted path (what filters search)."""
        return self._data.search_index()

    def nan_inf_paths(self) -> set[tuple]:
        """Key paths of the tensors whose statistics found NaN or Inf values."""
        return self._nan_paths

    def widest_texts(self) -> dict[int, str]:
        """The widest texts of the dtype, shape and NaN/Inf columns (these never elide)."""
        widest = {COL_SHAPE: self._data.widest["shape"], COL_DTYPE: self._data.widest["dtype"]}
        if self._nan_paths:
            most_nan = max((getattr(self._stats[p], "nan", 0) or 0) for p in self._nan_paths)
            most_inf = max((getattr(self._stats[p], "inf", 0) or 0) for p in self._nan_paths)
            parts = [f"{n:,} {what}" for n, what in ((most_nan, "NaN"), (most_inf, "Inf")) if n]
            below = nan_below_text(len(self._nan_paths)) or ""
            widest[COL_NANINF] = max(", ".join(parts), below, key=len)
        return widest

    def nan_inf_items(self) -> list[TreeItem]:
        """The rows of those tensors (every row must be exposed)."""
        by_path = self._items_by_path
        return [by_path[p] for p in self._nan_paths if p in by_path]

    def nan_inf_below(self, item: TreeItem) -> int:
        """How many tensors at or below ``item`` have NaN or Inf values."""
        if item.group is not None:
            return self._nan_below.get((item.path, item.group.prefix), 0)
        if item.node is not None and item.node.kind != TENSOR:
            return self._nan_below.get(item.path, 0)
        return 1 if item.path in self._nan_paths else 0

    def set_stats(self, path: tuple, stats: Any, error: str | None = None) -> None:
        """Store a tensor's statistics (or why they failed) and refresh only that row."""
        if stats is not None:
            self._stats[path] = stats
            self._errors.pop(path, None)
        else:
            self._errors[path] = error or "statistics unavailable"
        bad = stats is not None and bool(getattr(stats, "nan", 0) or getattr(stats, "inf", 0))
        if bad != (path in self._nan_paths):
            self._count_nan_inf(path, 1 if bad else -1)
        item = self._items_by_path.get(path)
        if item is not None and item.parent is not None and self._is_exposed(item):
            row = self._row(item)
            left = self.createIndex(row, COL_MEAN, item)
            right = self.createIndex(row, COL_NANINF, item)
            self.dataChanged.emit(left, right, [Qt.ItemDataRole.DisplayRole, SortRole,
                                                Qt.ItemDataRole.ForegroundRole])
        self.sig_stats_changed.emit(path)

    def clear_stats(self) -> None:
        """Forget every statistic (before recomputing); the views must repaint."""
        self._stats.clear()
        self._errors.clear()
        self._nan_paths.clear()
        self._nan_below.clear()

    def stats(self, path: tuple) -> Any:
        return self._stats.get(path)

    def stats_error(self, path: tuple) -> str | None:
        return self._errors.get(path)

    def stats_count(self) -> int:
        return len(self._stats) + len(self._errors)

    def set_stats_pending(self, pending: bool) -> None:
        """Whether unknown statistics are being computed ("…") or will not come ("–")."""
        self._stats_pending = pending

    def shared_with(self, path: tuple) -> list[tuple]:
        return self._ckpt.shared_with(path)[0]

    def is_unsafe(self, node: Node | None) -> bool:
        return (node is not None and node.kind == OBJECT
                and (node.type_name in self._unsafe or safe_str(node.value) in self._unsafe))

    def item(self, index: QModelIndex) -> TreeItem | None:
        """The TreeItem behind a (source) index; None for the invisible root."""
        return index.internalPointer() if index.isValid() else None

    def index_for_path(self, path: tuple) -> QModelIndex:
        """The name-column index of a Node's row, exposing every row first if needed."""
        item = self._items_by_path.get(tuple(path))
        if item is None:
            self.fetch_all()
            item = self._items_by_path.get(tuple(path))
        if item is not None and not self._is_exposed(item):
            self._expose(item)
        if item is None:
            node = self._ckpt.find(path)
            if node is None:
                return QModelIndex()
            item = self._find_item(node)
            if item is None:
                return QModelIndex()
        if not self._is_exposed(item):
            return QModelIndex()  # hidden by a filter
        return self.createIndex(self._row(item), 0, item)

    def has_row(self, path: tuple) -> bool:
        """Whether the row of ``path`` is built (it may still need fetching)."""
        return tuple(path) in self._items_by_path

    def index_of(self, item: TreeItem) -> QModelIndex:
        """The name-column index of a shown row (invalid for the root or a hidden row)."""
        if item.parent is None or not self._is_exposed(item):
            return QModelIndex()
        return self.createIndex(self._row(item), 0, item)

    def root_item(self) -> TreeItem:
        return self._root

    def exposed_items(self):
        """Every row the model currently exposes, parents before children."""
        stack = [self._root]
        while stack:
            item = stack.pop()
            if item.children:
                exposed = item.children[:item.fetched]
                stack.extend(reversed(exposed))
                yield from exposed

    # ---- Private API
    def _count_nan_inf(self, path: tuple, delta: int) -> None:
        """Count a tensor with NaN/Inf in every ancestor row: containers by key path, module
        groups of a state_dict by (state_dict path, dotted prefix) - rows not built yet
        (lazy) find their count when they are."""
        if delta > 0:
            self._nan_paths.add(path)
        else:
            self._nan_paths.discard(path)
        below = self._nan_below
        for k in range(len(path)):
            up = path[:k]
            below[up] = below.get(up, 0) + delta
            key = path[k]
            if isinstance(key, str) and "." in key:
                parts = key.split(".")
                for j in range(1, len(parts)):
                    group = (up, ".".join(parts[:j]))
                    below[group] = below.get(group, 0) + delta

    def _item(self, index: QModelIndex) -> TreeItem | None:
        return index.internalPointer() if index.isValid() else self._root

    def _children(self, item: TreeItem) -> list[TreeItem]:
        return self._data.children(item)

    def _expose_all(self) -> None:
        self._data.expose_all()

    def _expose(self, item: TreeItem) -> None:
        """Fetch the batches that hold ``item`` and its ancestors (rows inserted, no reset);
        under a filter only if the filter shows it."""
        chain = []
        while item.parent is not None:
            chain.append(item)
            item = item.parent
        for item in reversed(chain):
            parent = item.parent
            parent_index = (QModelIndex() if parent is self._root or parent.parent is None
                            else self.createIndex(self._row(parent), 0, parent))
            if self._shown is not None:
                total = len(self._shown_list(parent))
                row = self._shown_row.get(item.pos)
                if row is None:
                    return
                key = parent.pos
                have = self._shown_count[key]
                if row >= have:
                    new = min(total, (row // self.BATCH + 1) * self.BATCH)
                    self.beginInsertRows(parent_index, have, new - 1)
                    self._shown_count[key] = new
                    self.endInsertRows()
            elif item.row >= parent.fetched:
                new = min(len(parent.children), (item.row // self.BATCH + 1) * self.BATCH)
                self.beginInsertRows(parent_index, parent.fetched, new - 1)
                parent.fetched = new
                self.endInsertRows()

    def _shown_list(self, item: TreeItem) -> list[TreeItem]:
        """Under a filter: the rows shown below ``item``, listed on first need."""
        key = item.pos
        rows = self._shown.get(key)
        if rows is None:
            flags = self._shown_flags[0]
            if item is self._root or self._shown_flags[1][key]:
                rows = [c for c in (item.children or ()) if flags[c.pos]]
            else:
                rows = []
            row_of = self._shown_row
            for r, c in enumerate(rows):
                row_of[c.pos] = r
            self._shown[key] = rows
            self._shown_count[key] = min(len(rows), self.BATCH) if self._shown_batch \
                else len(rows)
        return rows

    def _row(self, item: TreeItem) -> int:
        """The row ``item`` is shown at (under a filter: among its parent's shown rows)."""
        if self._shown_row is not None:
            if item.parent is not None:
                self._shown_list(item.parent)
            return self._shown_row.get(item.pos, -1)
        return item.row

    def _is_exposed(self, item: TreeItem) -> bool:
        if self._shown_row is not None:
            while item.parent is not None:
                if item.pos < 0 or not self._shown_flags[0][item.pos]:
                    return False
                self._shown_list(item.parent)
                if self._shown_row[item.pos] >= self._shown_count[item.parent.pos]:
                    return False
                item = item.parent
            return True
        while item.parent is not None:
            if item.row >= item.parent.fetched:
                return False
            item = item.parent
        return True

    def _find_item(self, node: Node) -> TreeItem | None:
        self.fetch_all()
        return self._items_by_path.get(node.path())

    def _display(self, item: TreeItem, col: int) -> str | None:
        if col == COL_NAME:
            return item.name
        group, node = item.group, item.node
        if group is not None:
            if col == COL_DTYPE:
                return "module"
            if col == COL_SHAPE:
                n = group.num_tensors
                return f"{n} tensor{'' if n == 1 else 's'}"
            if col == COL_NUMEL:
                return format_count(group.numel)
            if col == COL_SIZE:
                return format_bytes(group.nbytes)
            if col == COL_NANINF:
                return nan_below_text(self.nan_inf_below(item))
            return None
        if node is None:
            return None
        if node.kind == TENSOR:
            return self._tensor_display(item, node, col)
        if col == COL_DTYPE:
            return node.type_name or node.kind
        if col == COL_SHAPE:
            return value_text(node)
        if col in (COL_NUMEL, COL_SIZE) and node.children:
            numel, nbytes = item.totals()
            if numel or nbytes:
                return format_count(numel) if col == COL_NUMEL else format_bytes(nbytes)
        if col == COL_NANINF and node.children:
            return nan_below_text(self.nan_inf_below(item))
        return None

    def _tensor_display(self, item: TreeItem, node: Node, col: int) -> str | None:
        t = node.tensor
        if col == COL_DTYPE:
            return dtype_text(t)
        if col == COL_SHAPE:
            return shape_text(t.shape)
        if col == COL_NUMEL:
            return format_count(t.numel)
        if col == COL_SIZE:
            return format_bytes(t.nbytes)
        stats = self._stats.get(item.path)
        if stats is None:
            if item.path in self._errors:
                return "–"
            return PENDING if self._stats_pending else ""
        return stats_text(stats, col)

    def _sort_value(self, item: TreeItem, col: int) -> Any:
        if col == COL_NAME:
            return _DIGITS.sub(lambda m: m.group().zfill(12), item.name.lower())
        if col == COL_DTYPE:
            text = self._display(item, col)
            return text or ""
        if col == COL_SHAPE:
            if item.is_tensor:
                return float(len(item.node.tensor.shape))
            return None
        if col in (COL_NUMEL, COL_SIZE):
            if item.node is None and item.group is None:
                return None
            numel, nbytes = item.totals()
            return float(numel if col == COL_NUMEL else nbytes)
        if not item.is_tensor:
            return None
        stats = self._stats.get(item.path)
        if stats is None:
            return None
        value = stats_value(stats, col)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return float(value)
