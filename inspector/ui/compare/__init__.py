"""The compare view: two checkpoints side by side.

- ``view``: :class:`CompareView`, which runs the diff and the selected pair's histograms
  on the window's runners and wires the panes together;
- ``model``: the table model, its filter/sort proxy, statuses, columns and colours;
- ``columns``: the table's column widths (fitted to content, resizable, remembered) and
  the key-path eliding that keeps a key's first and last parts;
- ``summary``: the header (files, alignment, counts, largest changes, non-tensor values);
- ``controls``: strip prefixes, tolerances, filters, export button;
- ``detail``: the selected pair's histograms and metrics;
- ``export``: saving the report as JSON or CSV.
"""

from inspector.ui.compare.model import (
    COL_PATH,
    COL_STATUS,
    COLUMNS,
    STATUS_COLORS,
    STATUS_LABELS,
    DiffFilterProxy,
    DiffTableModel,
    EntryRole,
    SortRole,
)
from inspector.ui.compare.view import CompareView

__all__ = [
    "COLUMNS", "COL_PATH", "COL_STATUS", "STATUS_COLORS", "STATUS_LABELS", "CompareView",
    "DiffFilterProxy", "DiffTableModel", "EntryRole", "SortRole",
]
