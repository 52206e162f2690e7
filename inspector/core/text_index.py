"""Substring and regex search over many rows of text (the tree's filter, the flat table)."""

from __future__ import annotations

import re
from bisect import bisect_right


class TextIndex:
    """Rows of lower-cased text (no newlines) joined by newlines, so that a substring is found
    with ``str.find`` over one string instead of one Python test per row (100,000 rows: a few
    ms)."""

    def __init__(self, texts: list[str]):
        self.texts = texts
        self.joined = "\n".join(texts)
        starts = []
        pos = 0
        for text in texts:
            starts.append(pos)
            pos += len(text) + 1
        self.starts = starts

    def find(self, needle: str) -> list[int]:
        """Positions of the rows whose text contains ``needle`` (lower-case, no newline)."""
        starts, find = self.starts, self.joined.find
        n = len(starts)
        if self.joined.count(needle) * 8 > n:  # many hits: one test per row is cheaper
            return [i for i, text in enumerate(self.texts) if needle in text]
        hits = []
        pos = find(needle)
        while pos >= 0:
            i = bisect_right(starts, pos) - 1
            hits.append(i)
            if i + 1 >= n:
                break
            pos = find(needle, starts[i + 1])
        return hits

    def search(self, regex: re.Pattern[str]) -> list[int]:
        """Positions of the rows whose text ``regex`` finds something in."""
        search = regex.search
        return [i for i, text in enumerate(self.texts) if search(text) is not None]
