"""A big file's summary can be left for after its tree is shown (issue 13): the viewer asks
for that with ``summary_later=None``; the summary computed later is the same one."""

from __future__ import annotations

import pytest

from inspector.core import opening
from inspector.core.formats import open_checkpoint
from inspector.core.opening import prepare_checkpoint, read_checkpoint, summarize_checkpoint
from inspector.core.summary import DANGER, summarize


@pytest.fixture
def many_tensors(tmp_path):
    import torch

    path = tmp_path / "many.pth"
    torch.save({f"block{i}.weight": torch.zeros(3) for i in range(40)}, path)
    return path


def test_a_big_file_leaves_its_summary_for_later(many_tensors, monkeypatch):
    monkeypatch.setattr(opening, "SUMMARY_LATER_TENSORS", 10)
    prepared = read_checkpoint(str(many_tensors), summary_later=None)
    try:
        assert prepared.summary is None and prepared.summary_later
        assert prepared.ckpt.totals()["num_tensors"] == 40  # totals are ready for the view
        later = summarize_checkpoint(prepared.ckpt)
        assert later == summarize(prepared.ckpt)
        assert later.num_tensors == 40
    finally:
        prepared.ckpt.close()


def test_a_small_file_and_the_default_summarize_at_once(many_tensors, monkeypatch):
    monkeypatch.setattr(opening, "SUMMARY_LATER_TENSORS", 40)
    with open_checkpoint(many_tensors) as ck:
        prepared = prepare_checkpoint(ck, None)  # 40 tensors: not more than the limit
        assert prepared.summary is not None and not prepared.summary_later
    monkeypatch.setattr(opening, "SUMMARY_LATER_TENSORS", 10)
    with open_checkpoint(many_tensors) as ck:
        prepared = prepare_checkpoint(ck)  # the API's default: the summary comes with it
        assert prepared.summary is not None and not prepared.summary_later


def test_a_file_naming_unsafe_globals_is_summarized_at_once(many_tensors, monkeypatch):
    """Its danger banner must be there when the tree first shows."""
    monkeypatch.setattr(opening, "SUMMARY_LATER_TENSORS", 10)
    with open_checkpoint(many_tensors) as ck:
        ck.unsafe_globals.append("posix.system")
        prepared = prepare_checkpoint(ck, None)
        assert not prepared.summary_later
        assert any(h.level == DANGER for h in prepared.summary.hints)


def test_a_summary_that_fails_later_becomes_a_warning(many_tensors, monkeypatch):
    from inspector.core import summary as summary_module

    def broken(ck):
        raise ValueError("boom")

    monkeypatch.setattr(summary_module, "summarize", broken)
    with open_checkpoint(many_tensors) as ck:
        assert summarize_checkpoint(ck) is None
        assert any("summary could not be computed (ValueError: boom)" in w for w in ck.warnings)
