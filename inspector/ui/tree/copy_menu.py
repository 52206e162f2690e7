"""Right-click Copy Path / Copy Name / Copy Value on the rows of the tree and the table.

Ctrl+C copies the current row's dotted path. The text goes to the clipboard as plain text.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QModelIndex, QObject, QPoint, Qt
from PySide6.QtGui import QGuiApplication, QKeySequence
from PySide6.QtWidgets import QAbstractItemView, QMenu

from inspector.core.checkpoint import BYTES, NONE, SCALAR, STRING, Node
from inspector.core.text import dotted_path, safe_str

RowInfo = Callable[[QModelIndex], "tuple[str, str, str] | None"]


def node_value_text(node: Node | None) -> str | None:
    """The full value of a scalar, string or bytes Node (None for anything else)."""
    if node is None or node.kind not in (SCALAR, STRING, BYTES, NONE):
        return None
    if node.kind == NONE:
        return "None"
    if node.kind == BYTES:
        return repr(node.value)
    return safe_str(node.value)


def row_texts(node: Node | None, path: tuple, name: str, cell: object,
              group_prefix: str | None = None) -> tuple[str, str, str]:
    """(name, dotted path, value) of a row: the value of a scalar or string, else the text of
    the clicked cell."""
    full = dotted_path(path) if path else ""
    if group_prefix:
        full = f"{full}.{group_prefix}" if full else group_prefix
    value = node_value_text(node)
    if value is None:
        value = "" if cell is None else str(cell)
    return name, full, value


def tree_row_texts(model, proxy, index: QModelIndex) -> tuple[str, str, str] | None:
    """(name, dotted path, value) of a row of the tree view (``index`` of ``proxy``)."""
    item = model.item(proxy.mapToSource(index))
    if item is None:
        return None
    if item.group is not None:
        return row_texts(None, item.path, item.group.name, index.data(), item.group.prefix)
    name = item.name  # as shown: a module's leaf name ("weight"), without a label suffix
    label = model.labels.get(item.path) if model.labels else None
    if label and name.endswith(f" · {label}"):
        name = name[:-len(f" · {label}")]
    return row_texts(item.node, item.path, name, index.data())


def install_copy_menu(view: QAbstractItemView, row_info: RowInfo) -> None:
    """Give ``view`` a context menu with Copy Path / Copy Name / Copy Value (and Ctrl+C for
    the path); ``row_info(index)`` returns (name, dotted path, value) of a row, or None."""
    view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)

    def copy(text: str) -> None:
        QGuiApplication.clipboard().setText(text)

    def show_menu(pos: QPoint) -> None:
        index = view.indexAt(pos)
        info = row_info(index) if index.isValid() else None
        if info is None:
            return
        name, path, value = info
        menu = QMenu(view)
        menu.addAction("Copy &Path", lambda: copy(path)).setStatusTip(path)
        menu.addAction("Copy &Name", lambda: copy(name))
        act = menu.addAction("Copy &Value", lambda: copy(value))
        act.setEnabled(bool(value))
        menu.exec(view.viewport().mapToGlobal(pos))
        menu.deleteLater()

    view.customContextMenuRequested.connect(show_menu)
    view.installEventFilter(_CopyKey(view, row_info))


class _CopyKey(QObject):
    """Ctrl+C on the view copies the current row's dotted path (an item view would copy
    the current cell's text)."""

    def __init__(self, view: QAbstractItemView, row_info: RowInfo):
        super().__init__(view)
        self._view = view
        self._row_info = row_info

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.KeyPress and event.matches(QKeySequence.StandardKey.Copy):
            index = self._view.currentIndex()
            info = self._row_info(index) if index.isValid() else None
            if info is not None:
                QGuiApplication.clipboard().setText(info[1])
                return True
        return False
