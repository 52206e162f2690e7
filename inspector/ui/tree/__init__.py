"""The checkpoint tree: rows (:mod:`.items`), columns and cell text (:mod:`.columns`), the lazy
Qt model (:mod:`.model`) and the filter/sort proxy (:mod:`.proxy`)."""

from inspector.ui.tree.columns import (
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
    ItemRole,
    NodeRole,
    PathRole,
    SortRole,
)
from inspector.ui.tree.items import TreeData, TreeItem, prepare_tree
from inspector.ui.tree.model import CheckpointTreeModel
from inspector.ui.tree.proxy import TensorFilterProxy

__all__ = ["COL_DTYPE", "COL_MAX", "COL_MEAN", "COL_MIN", "COL_NAME", "COL_NANINF", "COL_NUMEL",
           "COL_SHAPE", "COL_SIZE", "COL_STD", "COL_ZEROS", "HEADERS", "CheckpointTreeModel",
           "ItemRole", "NodeRole", "PathRole", "SortRole", "TensorFilterProxy", "TreeData",
           "TreeItem", "prepare_tree"]
