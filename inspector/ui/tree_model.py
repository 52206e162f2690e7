"""The checkpoint tree as a lazy Qt model, and the proxy that filters and sorts it.

:class:`CheckpointTreeModel` adapts the core Node tree (never a QTreeWidget: 100 000 rows must
stay cheap). Rows are exposed in batches through ``canFetchMore``/``fetchMore``; inside a
state_dict, dotted keys are shown as the module hierarchy from
:mod:`inspector.core.hierarchy`. Statistics arrive later, one tensor at a time, through
:meth:`CheckpointTreeModel.set_stats`.
"""

from __future__ import annotations

import math
import re
from typing import Any

from PySide6.QtCore import (
    QAbstractItemModel,
    QModelIndex,
    QObject,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont, QGuiApplication, QPalette

from inspector.core.checkpoint import (
    BYTES,
    CONTAINER_KINDS,
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
from inspector.core.hierarchy import ModuleGroup, leaf_name, module_hierarchy
from inspector.core.text import format_bytes, format_count, number_text, percent_text
from inspector.ui.resources import icon

_NO_PARENT = QModelIndex()

(COL_NAME, COL_DTYPE, COL_SHAPE, COL_NUMEL, COL_SIZE, COL_MEAN, COL_STD, COL_MIN, COL_MAX,
 COL_ZEROS, COL_NANINF) = range(11)
HEADERS = ("Name", "dtype / type", "Shape / value", "Elements", "Size", "Mean", "Std", "Min",
           "Max", "Zeros", "NaN/Inf")
STATS_COLUMNS = range(COL_MEAN, COL_NANINF + 1)
NUMERIC_COLUMNS = frozenset(range(COL_NUMEL, COL_NANINF + 1))
PENDING = "…"
EAGER_LIMIT = 5_000  # trees with at most this many nodes are exposed in full at once
MAX_VALUE_TEXT = 200

SortRole = Qt.ItemDataRole.UserRole
NodeRole = Qt.ItemDataRole.UserRole + 1
ItemRole = Qt.ItemDataRole.UserRole + 2
PathRole = Qt.ItemDataRole.UserRole + 3

_ICON_BY_KIND = {DICT: "dict", LIST: "list", TUPLE: "list", SET: "list", SCALAR: "scalar",
                 STRING: "text", BYTES: "text", NONE: "scalar", OBJECT: "object", REF: "ref",
                 TRUNCATED: "warning"}
_DIGITS = re.compile(r"\d+")
_ROW_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable  # asked per row and layout


class TreeItem:
    """One row of the view: a core Node, or a virtual module group of a state_dict.

    Items are created per parent on first need and kept alive by their parent's ``children``
    list for the model's lifetime, because Qt holds raw pointers to them (``createIndex``).
    """

    __slots__ = ("node", "group", "parent", "row", "name", "children", "fetched", "_search",
                 "_totals", "_path")

    def __init__(self, node: Node | None, group: ModuleGroup | None, parent: TreeItem | None,
                 row: int, name: str):
        self.node = node
        self.group = group
        self.parent = parent
        self.row = row
        self.name = name
        self.children: list[TreeItem] | None = None  # built on first need
        self.fetched = 0  # how many children the model has exposed so far
        self._search: str | None = None
        self._totals: tuple[int, int] | None = None
        self._path: tuple | None = None

    @property
    def is_tensor(self) -> bool:
        return self.node is not None and self.node.kind == TENSOR

    @property
    def path(self) -> tuple:
        """The key path of the core Node (a group's is its state_dict's path)."""
        if self._path is None:
            if self.node is not None:
                self._path = self.node.path()
            else:
                item = self.parent
                while item is not None and item.node is None:
                    item = item.parent
                self._path = item.path if item is not None else ()
        return self._path

    def has_children(self) -> bool:
        if self.group is not None:
            return bool(self.group.children)
        return self.node is not None and bool(self.node.children)

    def search_text(self) -> str:
        """The dotted path of display names, lower-cased: what the filter matches against."""
        if self._search is None:
            own = self.name.lower()
            parent = self.parent
            up = parent.search_text() if parent is not None and parent.parent is not None else ""
            self._search = f"{up}.{own}" if up else own
        return self._search

    def totals(self) -> tuple[int, int]:
        """(elements, bytes) of all tensors at or below this item."""
        if self._totals is None:
            if self.group is not None:
                self._totals = (self.group.numel, self.group.nbytes)
            elif self.node is not None and self.node.kind == TENSOR:
                self._totals = (self.node.tensor.numel, self.node.tensor.nbytes)
            elif self.node is not None:
                numel = nbytes = 0
                for n in self.node.walk():
                    if n.kind == TENSOR and n.tensor is not None:
                        numel += n.tensor.numel
                        nbytes += n.tensor.nbytes
                self._totals = (numel, nbytes)
            else:
                self._totals = (0, 0)
        return self._totals


class TreeData:
    """The model's rows without Qt: TreeItems, their names and the path lookups.

    Plain Python, safe to build in any thread: :func:`prepare_tree` runs it where the file is
    opened, so the GUI thread only wraps the result in a :class:`CheckpointTreeModel`
    instead of walking (and grouping) every tensor itself. After that, only the GUI thread
    touches it (rows are built lazily as the view fetches them).
    """

    def __init__(self, ckpt: Checkpoint, labels: dict[tuple, str] | None = None,
                 batch: int = 500):
        self.ckpt = ckpt
        self.labels = dict(labels or {})
        self.items_by_path: dict[tuple, TreeItem] = {}
        self.all_fetched = False
        self.shared = _shared_paths(ckpt)
        self.unsafe = set(ckpt.unsafe_globals)
        self.root = TreeItem(None, None, None, 0, "")
        self.root._path = ()
        root = ckpt.root
        if root.children or root.kind in CONTAINER_KINDS:
            self.root.node = root
        else:  # the file holds a single tensor or value: show it as one row
            self.root.children = [TreeItem(root, None, self.root, 0, "(root)")]
            self.root.children[0]._path = ()
            self.register(self.root.children[0])
        if _count_nodes(root, EAGER_LIMIT + 1) <= EAGER_LIMIT:
            self.expose_all()
        else:
            self.root.fetched = min(batch, len(self.children(self.root)))

    def children(self, item: TreeItem) -> list[TreeItem]:
        """The child rows of ``item``, built on first need."""
        if item.children is None:
            if item.group is not None:
                entries: list[Node | ModuleGroup] = item.group.children
                in_module = True
            elif item.node is not None:
                grouped = module_hierarchy(item.node)
                in_module = grouped is not None
                entries = grouped if grouped is not None else item.node.children
            else:
                entries, in_module = [], False
            children = []
            base = item.path  # the nearest Node's path: groups add nothing to key paths
            labels = self.labels
            by_path = self.items_by_path
            for row, entry in enumerate(entries):
                if isinstance(entry, ModuleGroup):
                    child = TreeItem(None, entry, item, row, entry.name)
                    child._path = base
                else:
                    path = (*base, entry.key)
                    name = leaf_name(entry) if in_module else str(entry.key)
                    label = labels.get(path) if labels else None
                    child = TreeItem(entry, None, item, row, f"{name} · {label}" if label else name)
                    child._path = path
                    by_path[path] = child
                children.append(child)
            item.children = children
        return item.children

    def register(self, item: TreeItem) -> None:
        if item.node is not None:
            self.items_by_path[item.path] = item

    def expose_all(self) -> None:
        """Build and expose every row."""
        stack = [self.root]
        while stack:
            item = stack.pop()
            children = self.children(item) if (item is self.root or item.has_children()) else []
            item.fetched = len(children)
            stack.extend(children)
        self.all_fetched = True


def prepare_tree(ckpt: Checkpoint, labels: dict[tuple, str] | None = None) -> TreeData:
    """The rows of ``ckpt``'s tree, ready for ``CheckpointTreeModel(..., prepared=)``.

    Qt-free: call it in the thread that opened the file (20 000 tensors: ~0.1 s).
    """
    return TreeData(ckpt, labels, CheckpointTreeModel.BATCH)


class CheckpointTreeModel(QAbstractItemModel):
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

    BATCH = 500

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
        self._shared = prepared.shared
        self._unsafe = prepared.unsafe
        self._root = prepared.root
        bold = QFont()
        bold.setBold(True)
        self._group_font = bold

    # ---- Qt overrides
    def index(self, row: int, column: int, parent: QModelIndex = _NO_PARENT) -> QModelIndex:
        item = self._item(parent)
        if item is None or column < 0 or column >= len(HEADERS) or row < 0 or row >= item.fetched:
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
        return self.createIndex(up.row, 0, up)

    def rowCount(self, parent: QModelIndex = _NO_PARENT) -> int:
        if parent.column() > 0:
            return 0
        item = self._item(parent)
        return item.fetched if item is not None else 0

    def columnCount(self, parent: QModelIndex = _NO_PARENT) -> int:
        return len(HEADERS)

    def hasChildren(self, parent: QModelIndex = _NO_PARENT) -> bool:
        if parent.column() > 0:
            return False
        item = self._item(parent)
        if item is None:
            return False
        if item is self._root:
            return bool(self._children(item))
        return item.has_children()

    def canFetchMore(self, parent: QModelIndex) -> bool:
        if parent.column() > 0:
            return False
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
            return _HEADER_TIPS.get(section)
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
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(item, col)
        if role == SortRole:
            return self._sort_value(item, col)
        if role == Qt.ItemDataRole.DecorationRole:
            return self._icon(item) if col == COL_NAME else None
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if col in NUMERIC_COLUMNS:
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return None
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(item, col)
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._foreground(item, col)
        if role == Qt.ItemDataRole.FontRole:
            return self._group_font if item.group is not None and col == COL_NAME else None
        if role == NodeRole:
            return item.node
        if role == ItemRole:
            return item
        if role == PathRole:
            return item.path
        return None

    # ---- Public API
    @property
    def checkpoint(self) -> Checkpoint:
        return self._ckpt

    def fetch_all(self) -> None:
        """Expose every row (filters and sorting only see exposed rows). Resets the model once."""
        if self._data.all_fetched:
            return
        self.beginResetModel()
        self._expose_all()
        self.endResetModel()

    def is_fully_fetched(self) -> bool:
        return self._data.all_fetched

    def set_stats(self, path: tuple, stats: Any, error: str | None = None) -> None:
        """Store a tensor's statistics (or why they failed) and refresh only that row."""
        if stats is not None:
            self._stats[path] = stats
            self._errors.pop(path, None)
        else:
            self._errors[path] = error or "statistics unavailable"
        item = self._items_by_path.get(path)
        if item is not None and item.parent is not None and item.row < item.parent.fetched:
            left = self.createIndex(item.row, COL_MEAN, item)
            right = self.createIndex(item.row, COL_NANINF, item)
            self.dataChanged.emit(left, right, [Qt.ItemDataRole.DisplayRole, SortRole,
                                                Qt.ItemDataRole.ForegroundRole])
        self.sig_stats_changed.emit(path)

    def clear_stats(self) -> None:
        """Forget every statistic (before recomputing); the views must repaint."""
        self._stats.clear()
        self._errors.clear()

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
        return self._shared.get(path, [])

    def is_unsafe(self, node: Node | None) -> bool:
        return (node is not None and node.kind == OBJECT
                and (node.type_name in self._unsafe or str(node.value) in self._unsafe))

    def item(self, index: QModelIndex) -> TreeItem | None:
        """The TreeItem behind a (source) index; None for the invisible root."""
        return index.internalPointer() if index.isValid() else None

    def index_for_path(self, path: tuple) -> QModelIndex:
        """The name-column index of a Node's row, exposing every row first if needed."""
        item = self._items_by_path.get(tuple(path))
        if item is None or not self._is_exposed(item):
            self.fetch_all()
            item = self._items_by_path.get(tuple(path))
        if item is None:
            node = self._ckpt.find(path)
            if node is None:
                return QModelIndex()
            item = self._find_item(node)
            if item is None:
                return QModelIndex()
        return self.createIndex(item.row, 0, item)

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
    def _item(self, index: QModelIndex) -> TreeItem | None:
        return index.internalPointer() if index.isValid() else self._root

    def _children(self, item: TreeItem) -> list[TreeItem]:
        return self._data.children(item)

    def _expose_all(self) -> None:
        self._data.expose_all()

    def _is_exposed(self, item: TreeItem) -> bool:
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
            return None
        if node is None:
            return None
        if node.kind == TENSOR:
            return self._tensor_display(item, node, col)
        if col == COL_DTYPE:
            return node.type_name or node.kind
        if col == COL_SHAPE:
            return _value_text(node)
        if col in (COL_NUMEL, COL_SIZE) and node.children:
            numel, nbytes = item.totals()
            if numel or nbytes:
                return format_count(numel) if col == COL_NUMEL else format_bytes(nbytes)
        return None

    def _tensor_display(self, item: TreeItem, node: Node, col: int) -> str | None:
        t = node.tensor
        if col == COL_DTYPE:
            return t.dtype if t.layout == "strided" else f"{t.dtype} ({t.layout})"
        if col == COL_SHAPE:
            return "(" + ", ".join(str(s) for s in t.shape) + ")" if t.shape else "scalar"
        if col == COL_NUMEL:
            return format_count(t.numel)
        if col == COL_SIZE:
            return format_bytes(t.nbytes)
        stats = self._stats.get(item.path)
        if stats is None:
            if item.path in self._errors:
                return "–"
            return PENDING if self._stats_pending else ""
        return _stats_text(stats, col)

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
        value = _stats_value(stats, col)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        return float(value)

    def _icon(self, item: TreeItem):
        if item.group is not None:
            return icon("module")
        node = item.node
        if node is None:
            return None
        if node.kind == TENSOR:
            if item.path in self._shared:
                return icon("link")
            if node.tensor.note:
                return icon("warning")
            return icon("parameter" if node.tensor.is_parameter else "tensor")
        if self.is_unsafe(node):
            return icon("warning")
        return icon(_ICON_BY_KIND.get(node.kind, "object"))

    def _tooltip(self, item: TreeItem, col: int) -> str | None:
        if item.group is not None:
            g = item.group
            return (f"module {g.prefix}: {g.num_tensors} tensors, {g.numel:,} elements, "
                    f"{format_bytes(g.nbytes)}")
        node = item.node
        if node is None:
            return None
        if node.kind == TENSOR:
            lines = [".".join(str(k) for k in item.path) or "(root)"]
            t = node.tensor
            if t.note:
                lines.append(f"⚠ {t.note}")
            shared = self._shared.get(item.path)
            if shared:
                names = ", ".join(".".join(str(k) for k in p) for p in shared[:5])
                more = f" and {len(shared) - 5} more" if len(shared) > 5 else ""
                lines.append(f"shares its storage with {names}{more} (tied weights)")
            error = self._errors.get(item.path)
            if error and col in STATS_COLUMNS:
                lines.append(f"statistics: {error}")
            return "\n".join(lines)
        if self.is_unsafe(node):
            return (f"{node.value or node.type_name}\nThe file names the global "
                    f"{node.type_name!r}, which is not on the allow-list. It was NOT executed; "
                    "this is an inert placeholder.")
        if col == COL_SHAPE and node.kind == STRING:
            return str(node.value)[:2000]
        return None

    def _foreground(self, item: TreeItem, col: int) -> QBrush | None:
        node = item.node
        if col == COL_NAME:
            if self.is_unsafe(node):
                return QBrush(QColor("#d97706"))
            return None
        if item.is_tensor and col in STATS_COLUMNS:
            stats = self._stats.get(item.path)
            if stats is None:
                return _muted()
            if col == COL_NANINF and (getattr(stats, "nan", 0) or getattr(stats, "inf", 0)):
                return QBrush(QColor("#dc2626"))
            return None
        if item.group is not None and col in (COL_DTYPE, COL_SHAPE):
            return _muted()
        if node is not None and node.kind != TENSOR and col == COL_DTYPE:
            return _muted()
        return None


class TensorFilterProxy(QSortFilterProxyModel):
    """Filters the tree by a substring or regex of the dotted path, optionally NaN/Inf only.

    Ancestors of matches stay visible. The matching rows and their ancestors are computed in
    one Python pass over the source model when the filter changes, so Qt only asks about
    rows whose parent is shown (instead of Qt's recursive filtering, which re-tests whole
    subtrees). The source model must be fully fetched first: call ``model.fetch_all()``.

    Emits
    -----
    sig_pattern_error(str)
        The regular expression does not compile ("" once it does again).
    """

    sig_pattern_error = Signal(str)
    """The regex is invalid: the message; "" when the pattern is valid again."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._needle = ""
        self._regex: re.Pattern[str] | None = None
        self._nan_inf_only = False
        self._visible: set[int] | None = None  # ids of shown rows; None: no filter
        self._matches = 0
        self.setSortRole(SortRole)
        # Not dynamic: re-testing rows on every dataChanged costs a Python call per row and
        # statistic. Callers re-apply with refresh() when statistics change what is shown.
        self.setDynamicSortFilter(False)

    # ---- Public API
    @property
    def matches(self) -> int:
        """How many rows the current filter accepts on their own (ancestors not counted)."""
        return self._matches

    def set_pattern(self, text: str, regex: bool = False) -> None:
        """Substring (case-insensitive), or a regex when ``regex`` or the text starts with ``/``."""
        text = text.strip()
        needle, compiled, error = "", None, ""
        if text.startswith("/") and len(text) > 1:
            regex, text = True, text[1:].removesuffix("/")
        elif text == "/":
            text = ""
        if text and regex:
            try:
                compiled = re.compile(text, re.IGNORECASE)
            except re.error as e:
                error = f"invalid regular expression: {e}"
        elif text:
            needle = text.lower()
        self._apply(needle, compiled, self._nan_inf_only)
        self.sig_pattern_error.emit(error)

    def set_nan_inf_only(self, on: bool) -> None:
        self._apply(self._needle, self._regex, bool(on))

    def is_filtering(self) -> bool:
        return self._visible is not None

    def depends_on_stats(self) -> bool:
        """True when newly arrived statistics can change which rows show or their order."""
        return self._nan_inf_only or self.sortColumn() >= COL_MEAN

    def refresh(self) -> None:
        """Re-filter and re-sort after the statistics changed."""
        self._apply(self._needle, self._regex, self._nan_inf_only)
        if self.sortColumn() >= 0:
            self.sort(self.sortColumn(), self.sortOrder())

    # ---- Qt overrides
    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:
        visible = self._visible
        if visible is None:
            return True
        parent_item = (source_parent.internalPointer() if source_parent.isValid()
                       else self.sourceModel().root_item())
        children = parent_item.children
        if children is None or source_row >= len(children):
            return False
        return id(children[source_row]) in visible

    # ---- Private API
    def _apply(self, needle: str, compiled: re.Pattern[str] | None, nan_inf: bool) -> None:
        self.beginFilterChange()
        self._needle, self._regex, self._nan_inf_only = needle, compiled, nan_inf
        self._visible, self._matches = self._compute_visible()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def _compute_visible(self) -> tuple[set[int] | None, int]:
        model = self.sourceModel()
        needle, regex, nan_inf = self._needle, self._regex, self._nan_inf_only
        if model is None or not (needle or regex or nan_inf):
            return None, 0
        visible: set[int] = set()
        matches = 0
        for item in model.exposed_items():
            if nan_inf:
                if not item.is_tensor:
                    continue
                stats = model.stats(item.path)
                if stats is None or not (getattr(stats, "nan", 0) or getattr(stats, "inf", 0)):
                    continue
            if needle and needle not in item.search_text():
                continue
            if regex is not None and regex.search(item.search_text()) is None:
                continue
            matches += 1
            up = item
            while up is not None and id(up) not in visible:
                visible.add(id(up))
                up = up.parent
        return visible, matches


def _shared_paths(ckpt: Checkpoint) -> dict[tuple, list[tuple]]:
    """Tensor path -> the other paths viewing the same storage (from the core's cached groups)."""
    shared: dict[tuple, list[tuple]] = {}
    for paths in ckpt.shared_groups().values():
        for p in paths:
            shared[p] = [q for q in paths if q != p]
    return shared


def _count_nodes(root: Node, limit: int) -> int:
    n = 0
    for _ in root.walk():
        n += 1
        if n >= limit:
            break
    return n


def _value_text(node: Node) -> str | None:
    kind = node.kind
    if kind in (DICT, LIST, TUPLE, SET) or (kind == OBJECT and node.children):
        n = len(node.children)
        text = f"{n} item{'' if n == 1 else 's'}"
        if kind == OBJECT and node.value:
            return f"{_short(str(node.value))} · {text}"
        return text
    if kind == STRING:
        return _short(repr(node.value))
    if kind == BYTES:
        return _short(f"{node.value!r}…")
    if kind == NONE:
        return "None"
    if kind == REF:
        return f"→ same object as {node.value}"
    if kind == TRUNCATED:
        return "… (too deep to show)"
    if node.value is None:
        return None
    if isinstance(node.value, float):
        return f"{node.value:.6g}"
    return _short(str(node.value))


def _short(text: str) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= MAX_VALUE_TEXT else text[:MAX_VALUE_TEXT] + "…"


def _stats_value(stats: Any, col: int) -> float | int | None:
    if col == COL_MEAN:
        return stats.mean
    if col == COL_STD:
        return stats.std
    if col == COL_MIN:
        return stats.min
    if col == COL_MAX:
        return stats.max
    if col == COL_ZEROS:
        return 100.0 * stats.zeros / stats.numel if stats.numel else None
    if col == COL_NANINF:
        return (stats.nan or 0) + (stats.inf or 0)
    return None


def _stats_text(stats: Any, col: int) -> str:
    if col == COL_ZEROS:
        return percent_text(stats.zeros, stats.numel)
    if col == COL_NANINF:
        nan, inf = stats.nan or 0, stats.inf or 0
        if not nan and not inf:
            return "0"
        parts = []
        if nan:
            parts.append(f"{nan:,} NaN")
        if inf:
            parts.append(f"{inf:,} Inf")
        return ", ".join(parts)
    return number_text(_stats_value(stats, col))


def _muted() -> QBrush:
    palette = QGuiApplication.palette()
    return palette.brush(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)


_HEADER_TIPS = {
    COL_NAME: "Key in the checkpoint; inside a state_dict, dotted keys are grouped by module",
    COL_DTYPE: "Tensor dtype, or the type of a non-tensor value",
    COL_SHAPE: "Tensor shape, or the value of a scalar or string",
    COL_NUMEL: "Number of elements (for a module: its parameters and buffers together)",
    COL_SIZE: "Bytes the tensor's elements take",
    COL_MEAN: "Mean of the finite values",
    COL_STD: "Standard deviation of the finite values",
    COL_MIN: "Smallest finite value",
    COL_MAX: "Largest finite value",
    COL_ZEROS: "Share of elements that are exactly zero",
    COL_NANINF: "Number of NaN and infinite elements",
}

__all__ = ["CheckpointTreeModel", "TensorFilterProxy", "TreeItem", "HEADERS", "SortRole",
           "NodeRole", "ItemRole", "PathRole"]
