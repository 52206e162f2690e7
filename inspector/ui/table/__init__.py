"""The flat table of a checkpoint's tensors, beside the tree (Tree | Table in the filter bar).

:class:`FlatTable` is the view; its model (:mod:`.model`) sorts and filters itself. The
checkpoint view builds it the first time the user switches to it, so opening a file costs
nothing for it.
"""

from __future__ import annotations

__all__ = ["TABLE_HEADERS", "FlatTable", "TensorTableModel"]


def __getattr__(name: str):
    # loaded on first use: the checkpoint view imports .mode before its first paint
    if name == "FlatTable":
        from inspector.ui.table.view import FlatTable

        return FlatTable
    if name in ("TABLE_HEADERS", "TensorTableModel"):
        from inspector.ui.table import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
