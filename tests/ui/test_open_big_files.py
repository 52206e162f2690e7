"""Opening a big file (issue 13): the tree is shown first and the summary follows it; the
garbage collector waits while the file is read, and the metadata read is kept out of later
collections until the file is closed."""

from __future__ import annotations

import gc
import weakref

import pytest

from inspector.core import opening
from inspector.ui import collector as collector_module
from inspector.ui.collector import (
    CHECK_MS,
    collect_from_event_loop,
    pause_collection,
    resume_collection,
)


@pytest.fixture
def many_tensors(tmp_path):
    import torch

    path = tmp_path / "many.pth"
    torch.save({f"block{i}.weight": torch.ones(3) * i for i in range(60)}, path)
    return str(path)


def _open_and_watch(window, open_file, path):
    """Open ``path``; what the view showed when ``sig_opened`` came (the tree is there)."""
    seen = {}

    def opened(_path):
        view = window.current_document()
        seen.update(pending=view.summary_pending, text=view.summary_panel.text(),
                    busy=window.is_busy(), rows=view.proxy.rowCount())

    window.sig_opened.connect(opened)
    view = open_file(window, path)
    return view, seen


def test_a_big_files_summary_follows_its_tree(make_window, open_file, many_tensors,
                                              monkeypatch, qtbot):
    monkeypatch.setattr(opening, "SUMMARY_LATER_TENSORS", 10)
    window = make_window()
    window.show()
    qtbot.waitExposed(window)
    view, seen = _open_and_watch(window, open_file, many_tensors)
    assert seen["pending"] and seen["busy"]  # a screenshot waits for the summary
    assert "summarizing" in seen["text"] and "60" in seen["text"] and "torch-zip" in seen["text"]
    assert seen["rows"] == 60  # the whole tree is there already
    qtbot.waitUntil(lambda: not view.summary_pending, timeout=10_000)
    later = view.summary_panel.text()
    assert "summarizing" not in later

    # the same file summarized at once shows the same panel
    monkeypatch.setattr(opening, "SUMMARY_LATER_TENSORS", 1_000)
    other = make_window()
    other.show()
    qtbot.waitExposed(other)
    view2, seen2 = _open_and_watch(other, open_file, many_tensors)
    assert not seen2["pending"]
    assert view2.summary_panel.text() == later
    # and the summary gets the height it needs, as when it comes at once (no scroll bar)
    qtbot.waitUntil(lambda: view2._vsplit.sizes()[0] > 0, timeout=5_000)
    qtbot.wait(100)
    want = view2._vsplit.sizes()
    qtbot.waitUntil(lambda: view._vsplit.sizes() == want, timeout=5_000)


def test_the_tree_works_before_the_summary_arrives(make_window, open_file, many_tensors,
                                                   monkeypatch, qtbot):
    monkeypatch.setattr(opening, "SUMMARY_LATER_TENSORS", 10)
    window = make_window()  # never shown: the summary waits for the tree's first paint
    view = open_file(window, many_tensors)
    assert view.summary_pending
    assert not window.is_busy()  # a tab not shown makes its summary when first shown
    view.set_filter("block42")
    assert view.proxy.matches == 2  # the module row block42 and its tensor
    assert view.select_path(("block42.weight",))
    view.set_filter("")
    assert view.summary_pending and "summarizing" in view.summary_panel.text()


def test_statistics_that_end_before_the_summary_keep_their_line(make_window, open_file,
                                                                many_tensors, monkeypatch,
                                                                qtbot):
    monkeypatch.setattr(opening, "SUMMARY_LATER_TENSORS", 10)
    window = make_window(compute_stats=True)
    view = open_file(window, many_tensors)  # hidden: the summary is not started
    qtbot.waitUntil(lambda: view.stats_state == "done", timeout=60_000)
    assert "No NaN or Inf values" in view.summary_panel.text()
    view._on_summary(opening.summarize_checkpoint(view.ckpt))  # as when it arrives
    assert not view.summary_pending
    assert "No NaN or Inf values" in view.summary_panel.text()
    assert "summarizing" not in view.summary_panel.text()


def test_collection_waits_while_paused(qtbot, qapp):
    collect_from_event_loop(qapp)

    class Node:
        pass

    pause_collection()
    try:
        a, b = Node(), Node()
        a.other, b.other = b, a
        alive = weakref.ref(a)
        del a, b
        kept = [[] for _ in range(gc.get_threshold()[0] * 3)]  # past gen 0's threshold
        qtbot.wait(3 * CHECK_MS)
        assert alive() is not None  # the timer ran, but did not collect
    finally:
        resume_collection()
    qtbot.waitUntil(lambda: alive() is None, timeout=5_000)
    assert kept


def test_opening_pauses_the_collector_and_freezes_until_closed(make_window, open_file,
                                                               many_tensors, qtbot,
                                                               monkeypatch):
    paused = []
    window = make_window()
    real_pause = collector_module.pause_collection
    monkeypatch.setattr("inspector.ui.main_window.pause_collection",
                        lambda: (paused.append(collector_module._paused), real_pause())[1])
    view = open_file(window, many_tensors)
    assert paused == [0]
    assert collector_module._paused == 0  # resumed once the file was read
    assert gc.get_freeze_count() > 0  # the metadata is out of the collector's way
    window.close_document()
    assert gc.get_freeze_count() == 0
    assert view.ckpt is not None
