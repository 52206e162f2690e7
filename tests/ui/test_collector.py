"""Garbage collection runs from the event loop only (never inside a Qt destructor)."""

from __future__ import annotations

import gc
import weakref

from inspector.ui.collector import MainThreadCollector, collect_from_event_loop


class _Node:
    pass


def test_cycles_are_collected_between_events_not_by_the_interpreter(qtbot, qapp):
    collector = collect_from_event_loop(qapp)
    assert isinstance(collector, MainThreadCollector)
    assert collect_from_event_loop(qapp) is collector  # installed once
    assert not gc.isenabled()
    a, b = _Node(), _Node()
    a.other, b.other = b, a  # a cycle: only the cyclic collector frees it
    alive = weakref.ref(a)
    del a, b
    # past gen 0's threshold, with room: objects freed meanwhile (an earlier test's widgets,
    # deleted in this test's event loop) count down the same counter
    kept = [[] for _ in range(gc.get_threshold()[0] * 3)]
    qtbot.waitUntil(lambda: alive() is None, timeout=5_000)  # collected by the timer
    assert len(kept) > gc.get_threshold()[0]
