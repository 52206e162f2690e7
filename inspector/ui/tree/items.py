"""The tree's rows without Qt: :class:`TreeItem` and :class:`TreeData`.

Plain Python, safe to build in any thread (see :func:`prepare_tree`). Inside a state_dict,
dotted keys become the module hierarchy from :mod:`inspector.core.hierarchy`.
"""

from __future__ import annotations

from inspector.core.checkpoint import CONTAINER_KINDS, TENSOR, Checkpoint, Node
from inspector.core.hierarchy import ModuleGroup, leaf_name, module_hierarchy
from inspector.core.text import safe_str
from inspector.core.text_index import TextIndex

EAGER_LIMIT = 5_000  # trees with at most this many nodes are exposed in full at once
FETCH_BATCH = 500  # rows a view fetches at a time


class TreeItem:
    """One row of the view: a core Node, or a virtual module group of a state_dict.

    Items are created per parent on first need and kept alive by their parent's ``children``
    list for the model's lifetime, because Qt holds raw pointers to them (``createIndex``).
    ``path`` is the key path of the row's Node (a group's is its state_dict's path); when it
    is not given it is found from the parents on first use.
    """

    __slots__ = ("node", "group", "parent", "row", "name", "children", "fetched", "_search",
                 "_totals", "_path", "pos")

    def __init__(self, node: Node | None, group: ModuleGroup | None, parent: TreeItem | None,
                 row: int, name: str, path: tuple | None = None):
        self.node = node
        self.group = group
        self.parent = parent
        self.row = row
        self.name = name
        self.children: list[TreeItem] | None = None  # built on first need
        self.fetched = 0  # how many children the model has exposed so far
        self._search: str | None = None
        self._totals: tuple[int, int] | None = None
        self._path = path
        self.pos = -1  # place in the SearchIndex (preorder); the root's stays -1

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
    opened, so the GUI thread only wraps the result in a ``CheckpointTreeModel`` instead of
    walking (and grouping) every tensor itself. After that, only the GUI thread touches it
    (rows are built lazily as the view fetches them).
    """

    def __init__(self, ckpt: Checkpoint, labels: dict[tuple, str] | None = None,
                 batch: int = FETCH_BATCH):
        self.ckpt = ckpt
        self.labels = dict(labels or {})
        self.items_by_path: dict[tuple, TreeItem] = {}
        self.all_fetched = False
        self.unsafe = set(ckpt.unsafe_globals)
        self.batch = batch
        self._complete = False  # every row built (expose_all ran)
        self._big: list[TreeItem] = []  # parents with more children than a batch
        self._search_index: SearchIndex | None = None
        self.root = TreeItem(None, None, None, 0, "", ())
        root = ckpt.root
        if root.children or root.kind in CONTAINER_KINDS:
            self.root.node = root
        else:  # the file holds a single tensor or value: show it as one row
            only = TreeItem(root, None, self.root, 0, "(root)", ())
            self.root.children = [only]
            self.register(only)
        self.widest = widest_texts(ckpt)
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
                    child = TreeItem(None, entry, item, row, entry.name, base)
                else:
                    path = (*base, entry.key)
                    name = leaf_name(entry) if in_module else safe_str(entry.key)
                    label = labels.get(path) if labels else None
                    child = TreeItem(entry, None, item, row,
                                     f"{name} · {label}" if label else name, path)
                    by_path[path] = child
                children.append(child)
            item.children = children
        return item.children

    def register(self, item: TreeItem) -> None:
        if item.node is not None:
            self.items_by_path[item.path] = item

    def expose_all(self) -> None:
        """Build and expose every row (cheap after the first time: only re-exposes the rows
        :meth:`limit_exposure` hid)."""
        if self._complete:
            for item in self._big:
                item.fetched = len(item.children)
            self.all_fetched = True
            return
        stack = [self.root]
        big = []
        while stack:
            item = stack.pop()
            children = self.children(item) if (item is self.root or item.has_children()) else []
            item.fetched = len(children)
            if len(children) > self.batch:
                big.append(item)
            stack.extend(children)
        self._big = big
        self._complete = True
        self.all_fetched = True

    def limit_exposure(self, keep: TreeItem | None = None) -> None:
        """Back to lazy exposure after :meth:`expose_all`: parents with more than a batch of
        children expose one batch again (a view that expands such a parent lays out a batch,
        not 10,000 rows), except as far as needed to show ``keep``."""
        if not self._complete:
            return
        batch = self.batch
        for item in self._big:
            item.fetched = batch
        item = keep
        while item is not None and item.parent is not None:
            parent = item.parent
            if item.row >= parent.fetched:
                parent.fetched = min(len(parent.children), (item.row // batch + 1) * batch)
            item = parent
        self.all_fetched = all(item.fetched >= len(item.children) for item in self._big)

    def search_index(self) -> SearchIndex:
        """Every row (parents first) with its lower-cased dotted path; built once (it
        exposes every row first)."""
        if self._search_index is None:
            self.expose_all()
            items: list[TreeItem] = []
            stack = list(reversed(self.root.children or []))
            while stack:
                item = stack.pop()
                items.append(item)
                if item.children:
                    stack.extend(reversed(item.children))
            self._search_index = SearchIndex(items)
        return self._search_index


class SearchIndex(TextIndex):
    """The rows a filter searches, by position in preorder (parents before children):
    ``items``, their lower-cased dotted paths ``texts`` (a :class:`TextIndex`: ``find`` and
    ``search``), and each one's parent position ``parents`` (-1: the root). Sets each item's
    ``pos``."""

    def __init__(self, items: list[TreeItem]):
        self.items = items
        for i, item in enumerate(items):
            item.pos = i
        self.parents = [item.parent.pos for item in items]
        super().__init__([item.search_text() for item in items])

    def with_ancestors(self, positions: list[int]) -> tuple[bytearray, bytearray]:
        """Flags by position: shown (``positions`` and all their ancestors), and shown with
        shown children (the ancestors)."""
        parents = self.parents
        shown = bytearray(len(parents))
        above = bytearray(len(parents))
        for p in positions:
            while p >= 0 and not shown[p]:
                shown[p] = 1
                p = parents[p]
                if p >= 0:
                    above[p] = 1
        return shown, above


def prepare_tree(ckpt: Checkpoint, labels: dict[tuple, str] | None = None) -> TreeData:
    """The rows of ``ckpt``'s tree, ready for ``CheckpointTreeModel(..., prepared=)``.

    Qt-free: call it in the thread that opened the file (20 000 tensors: ~0.1 s).
    """
    return TreeData(ckpt, labels, FETCH_BATCH)


def full_tree(ckpt: Checkpoint, labels: dict[tuple, str] | None = None) -> TreeData:
    """Every row of ``ckpt``'s tree built and indexed for filters, exposed batch-wise: a
    model adopts it (:meth:`CheckpointTreeModel.adopt`) when a filter first needs every row.
    Qt-free, for a pool thread (100,000 tensors: ~0.7 s that the GUI thread no longer pays)."""
    data = TreeData(ckpt, labels, FETCH_BATCH)
    data.search_index()
    data.limit_exposure()
    return data


def shape_text(shape) -> str:
    """A tensor shape as the tree shows it."""
    return "(" + ", ".join(str(s) for s in shape) + ")" if shape else "scalar"


def dtype_text(t) -> str:
    return t.dtype if t.layout == "strided" else f"{t.dtype} ({t.layout})"


def widest_texts(ckpt: Checkpoint) -> dict[str, str]:
    """The longest dtype and shape texts of the file's tensors: their columns fit them."""
    longest_shape = ()
    longest_len = len(str(longest_shape))  # kept, not recomputed per tensor
    longest_dtype = ""
    for node in ckpt.tensor_nodes():
        t = node.tensor
        shape = t.shape
        if len(shape) >= len(longest_shape):
            if len(str(shape)) > longest_len:
                longest_shape = tuple(shape)
                longest_len = len(str(longest_shape))
        if len(t.dtype) + len(t.layout) > len(longest_dtype):
            longest_dtype = dtype_text(t)
    return {"shape": shape_text(longest_shape), "dtype": longest_dtype}


def _count_nodes(root: Node, limit: int) -> int:
    n = 0
    for _ in root.walk():
        n += 1
        if n >= limit:
            break
    return n
