"""The tree's cell decorations: icons, tooltips and colours (a mixin of
:class:`~inspector.ui.tree.model.CheckpointTreeModel`, which owns ``_ckpt``, ``_stats``,
``_errors`` and the NaN/Inf counts)."""

from __future__ import annotations

from PySide6.QtGui import QBrush, QColor, QGuiApplication, QPalette

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
)
from inspector.core.text import dotted_path, format_bytes, safe_str
from inspector.ui.resources import icon
from inspector.ui.tree.columns import (
    COL_DTYPE,
    COL_NAME,
    COL_NANINF,
    COL_SHAPE,
    STATS_COLUMNS,
    plain_tooltip,
)
from inspector.ui.tree.items import TreeItem

_ICON_BY_KIND = {DICT: "dict", LIST: "list", TUPLE: "list", SET: "list", SCALAR: "scalar",
                 STRING: "text", BYTES: "text", NONE: "scalar", OBJECT: "object", REF: "ref",
                 TRUNCATED: "warning"}


class CellDecorations:
    """Icons, tooltips and foreground colours of the tree's cells."""

    def _icon(self, item: TreeItem):
        if item.group is not None:
            return icon("module")
        node = item.node
        if node is None:
            return None
        if node.kind == TENSOR:
            if self._ckpt.shared_with(item.path, limit=0)[1]:
                return icon("link")
            if node.tensor.note:
                return icon("warning")
            return icon("parameter" if node.tensor.is_parameter else "tensor")
        if self.is_unsafe(node):
            return icon("warning")
        return icon(_ICON_BY_KIND.get(node.kind, "object"))

    def _tooltip(self, item: TreeItem, col: int) -> str | None:
        text = self._tooltip_text(item, col)
        return plain_tooltip(text) if text is not None else None

    def _tooltip_text(self, item: TreeItem, col: int) -> str | None:
        if col == COL_NANINF and not item.is_tensor:
            bad = self.nan_inf_below(item)
            if bad:
                return (f"{bad:,} tensor{' has' if bad == 1 else 's have'} NaN or Inf values "
                        "below this row (filter: NaN/Inf only)")
        if item.group is not None:
            g = item.group
            return (f"module {g.prefix}: {g.num_tensors} tensors, {g.numel:,} elements, "
                    f"{format_bytes(g.nbytes)}")
        node = item.node
        if node is None:
            return None
        if node.kind == TENSOR:
            lines = [dotted_path(item.path)]
            t = node.tensor
            if t.note:
                lines.append(f"⚠ {t.note}")
            shared, count = self._ckpt.shared_with(item.path, limit=5)
            if shared:
                names = ", ".join(dotted_path(p) for p in shared)
                more = f" and {count - 5} more" if count > 5 else ""
                lines.append(f"shares its storage with {names}{more} (tied weights)")
            error = self._errors.get(item.path)
            if error and col in STATS_COLUMNS:
                lines.append(f"statistics: {error}")
            return "\n".join(lines)
        if self.is_unsafe(node):
            return (f"{safe_str(node.value or node.type_name)}\nThe file names the global "
                    f"{node.type_name!r}, which is not on the allow-list. It was NOT executed; "
                    "this is an inert placeholder.")
        if col == COL_SHAPE and node.kind == STRING:
            return safe_str(node.value)
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
        if col == COL_NANINF and not item.is_tensor and self.nan_inf_below(item):
            return QBrush(QColor("#dc2626"))
        if item.group is not None and col in (COL_DTYPE, COL_SHAPE):
            return _muted()
        if node is not None and node.kind != TENSOR and col == COL_DTYPE:
            return _muted()
        return None


def nan_below_text(count: int) -> str | None:
    """A parent row's NaN/Inf cell: how many tensors below it have NaN or Inf."""
    if not count:
        return None
    return f"⚠ {count:,} tensor{'' if count == 1 else 's'}"


def _muted() -> QBrush:
    palette = QGuiApplication.palette()
    return palette.brush(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
