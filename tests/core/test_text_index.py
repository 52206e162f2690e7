"""TextIndex: the substring/regex search behind the tree's filter and the flat table."""

import re

from inspector.core.text_index import TextIndex


def test_find_agrees_with_a_test_per_row():
    texts = [f"layers.{i}.{'attn' if i % 3 else 'mlp'}.weight" for i in range(1000)]
    index = TextIndex(texts)
    for needle in ("attn", "mlp", "layers.99", "weight", "nothing", ".1", "layers.999.mlp"):
        assert index.find(needle) == [i for i, t in enumerate(texts) if needle in t], needle


def test_a_match_never_spans_two_rows_and_each_row_counts_once():
    index = TextIndex(["ab", "cd", "abab"])
    assert index.find("bc") == []  # "ab\ncd": the newline separates rows
    assert index.find("ab") == [0, 2]  # "abab" holds it twice, listed once


def test_search_by_regex():
    index = TextIndex(["fc.weight", "fc.bias", "conv.weight"])
    assert index.search(re.compile(r"^fc\.")) == [0, 1]
    assert index.search(re.compile(r"weight$")) == [0, 2]
