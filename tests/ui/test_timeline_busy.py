"""A Timeline tab reading its run counts in the window's busy state, and the status bar says
how far it is ("Reading run 3/6…"), as a checkpoint tab computing statistics does."""

from __future__ import annotations

import re

from inspector.ui.timeline import open_run
from tests.core.test_timeline_helpers import STEPS, planted_run


def test_reading_a_run_makes_the_window_busy_with_progress_in_the_status_bar(
        qtbot, make_window, tmp_path):
    planted_run(tmp_path / "run")
    w = make_window()
    w.show()
    qtbot.waitExposed(w)
    assert not w.is_busy()
    view = open_run(w, [str(tmp_path / "run")], cache_dir=str(tmp_path / "cache"))
    assert view.is_busy() and w.is_busy()  # from the start, before any progress came back
    assert w._stats_label.text() == view.status_text() == "Reading the run…"
    seen = []
    view.sig_state_changed.connect(lambda: seen.append((view.state, w.is_busy(),
                                                        w._stats_label.text())))
    with qtbot.waitSignal(view.sig_loaded, timeout=60_000):
        pass
    qtbot.waitUntil(lambda: not w.is_busy(), timeout=10_000)  # the job's end comes after
    reading = [(busy, text) for state, busy, text in seen if state == "running"]
    assert reading and all(busy for busy, _t in reading)
    counts = [re.fullmatch(r"Reading run (\d+)/(\d+)…", t) for _b, t in reading]
    assert all(counts), reading
    assert {int(m[2]) for m in counts} == {len(STEPS)}
    assert [int(m[1]) for m in counts] == sorted(int(m[1]) for m in counts)
    # done: not busy, the status bar shows what the tab says about the run
    assert view.state == "done" and not view.is_busy()
    assert w._stats_label.text() == view.status_text()
    assert w._stats_label.text().startswith(f"{len(STEPS)} checkpoints")
    # closed: the welcome page, nothing to say
    w.close_document(w.tabs.indexOf(view))
    assert not w.is_busy() and w._stats_label.text() == ""
