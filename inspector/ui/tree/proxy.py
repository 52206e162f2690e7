"""The proxy that filters and sorts the checkpoint tree."""

from __future__ import annotations

import re

from PySide6.QtCore import QModelIndex, QObject, QSortFilterProxyModel, Signal

from inspector.ui.tree.columns import COL_MEAN, SortRole


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
