"""The proxy that filters and sorts the checkpoint tree."""

from __future__ import annotations

import re
from collections.abc import Callable

from PySide6.QtCore import QObject, QSortFilterProxyModel, Signal

from inspector.ui.tree.columns import COL_MEAN, SortRole


def parse_pattern(text: str, regex: bool = False) -> tuple[str, re.Pattern[str] | None, str]:
    """(lower-cased substring, compiled regex, error) of a filter text: a substring, or a
    regex when ``regex`` or the text starts with ``/`` (case-insensitive either way)."""
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
    return needle, compiled, error


class TensorFilterProxy(QSortFilterProxyModel):
    """Filters the tree by a substring or regex of the dotted path, optionally NaN/Inf only,
    and sorts it.

    Ancestors of matches stay visible. The matching rows are found in the source model's
    search index (one ``str.find`` pass) and the source model then shows only them and their
    ancestors (:meth:`CheckpointTreeModel.show_only`), inside one reset: Qt never calls
    Python per hidden row (``filterAcceptsRow`` is not overridden), so a view lays out only
    the rows it shows. A filter exposes every source row first (in the same reset).

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
        self._visible: tuple | None = None  # flags of shown rows; None: no filter
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
        self.set_filter(text, regex, self._nan_inf_only)

    def set_filter(self, text: str, regex: bool = False, nan_inf_only: bool = False,
                   source_change: Callable[[], None] | None = None) -> None:
        """Pattern and "NaN/Inf only" at once: one pass over the rows, one reset.

        ``source_change`` runs inside the source model's reset (the proxy follows it): the
        caller changes which source rows are exposed and the view lays out only once.
        """
        needle, compiled, error = parse_pattern(text, regex)
        self._apply(needle, compiled, bool(nan_inf_only), source_change)
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

    # ---- Private API
    def _apply(self, needle: str, compiled: re.Pattern[str] | None, nan_inf: bool,
               source_change: Callable[[], None] | None = None) -> None:
        # A reset, not beginFilterChange(): an incremental filter change makes Qt remove and
        # insert the changed rows parent by parent, and the view re-lays out its expanded rows
        # after each range - quadratic (2,000 matches to 2,000 others: 97 s on the GUI
        # thread). After a reset the view lays out once; the caller re-expands and re-selects.
        source = self.sourceModel()
        if source is None:
            return
        if (needle or compiled or nan_inf) and not source.is_fully_fetched() \
                and source_change is None:
            source_change = source.expose_all_rows

        def change() -> None:
            if source_change is not None:
                source_change()
            self._needle, self._regex, self._nan_inf_only = needle, compiled, nan_inf
            visible, self._matches = self._compute_visible()
            self._visible = visible
            source.show_only(visible, batch=self.sortColumn() < 0)

        source.reset_with(change)  # the proxy resets with its source

    def _compute_visible(self) -> tuple[tuple[bytearray, bytearray] | None, int]:
        """Which rows to show, as flags by search-index position (see
        ``SearchIndex.with_ancestors``), and the number of matches; (None, 0) when nothing
        is filtered."""
        model = self.sourceModel()
        needle, regex, nan_inf = self._needle, self._regex, self._nan_inf_only
        if model is None or not (needle or regex or nan_inf):
            return None, 0
        index = model.search_index()
        if needle or regex:
            matched = index.find(needle) if needle else index.search(regex)
            if nan_inf:
                bad, items = model.nan_inf_paths(), index.items
                matched = [p for p in matched if items[p].is_tensor and items[p].path in bad]
        else:
            matched = [item.pos for item in model.nan_inf_items()]
        return index.with_ancestors(matched), len(matched)
