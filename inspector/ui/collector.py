"""Python's cyclic garbage collector, run only from the event loop.

Left automatic, a collection can start inside any allocation, including one PySide makes
while Qt is destroying an object and holds its internal locks; if that collection frees
another Qt object (a plot's context menu in a reference cycle), its destructor waits for the
same lock and the process deadlocks. Run between events instead, with the interpreter's own
thresholds, nothing is collected at such a moment.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer

CHECK_MS = 100
_paused = 0  # how many pool jobs asked the collector to wait (see pause_collection)


class MainThreadCollector(QObject):
    """Disables automatic collection and collects, generation by generation as the default
    thresholds would, from a timer on the GUI thread."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._thresholds = gc.get_threshold()
        gc.disable()
        self._timer = QTimer(self)
        self._timer.setInterval(CHECK_MS)
        self._timer.timeout.connect(self.check)
        self._timer.start()

    def check(self) -> None:
        if _paused:
            return
        t0, t1, t2 = self._thresholds
        c0, c1, c2 = gc.get_count()
        if c2 > t2:
            gc.collect(2)
        elif c1 > t1:
            gc.collect(1)
        elif c0 > t0:
            gc.collect(0)

    def stop(self) -> None:
        """Stop the timer and give collection back to the interpreter."""
        self._timer.stop()
        gc.enable()


def pause_collection() -> Callable[[], None]:
    """No collection until the matching :func:`resume_collection` (or a call of the function
    returned, which resumes once): a pool thread reading a file makes a million containers,
    and each collection would scan all those made so far, holding the interpreter lock
    (100,000 tensors: ~0.5 s of collections that found nothing)."""
    global _paused
    _paused += 1
    done = []

    def resume() -> None:
        if not done:
            done.append(True)
            resume_collection()

    return resume


def resume_collection() -> None:
    global _paused
    _paused = max(0, _paused - 1)


def keep_out_of_collections() -> None:
    """Move every object alive now into the permanent generation (``gc.freeze``), so the
    metadata just read is never scanned again while its file is open (100,000 tensors: one
    collection of it holds the GUI thread ~0.15 s); call :func:`allow_collections` when a
    file is closed, so its cycles can be freed. GUI thread, and only while this module
    collects (automatic collection off: none can be running in another thread)."""
    if not gc.isenabled():
        gc.freeze()


def allow_collections() -> None:
    """Undo :func:`keep_out_of_collections`: frozen objects are collectable again."""
    gc.unfreeze()


def collect_from_event_loop(app: QObject) -> MainThreadCollector:
    """Install the collector on ``app`` (once); returns it."""
    existing = app.findChild(MainThreadCollector)
    return existing if existing is not None else MainThreadCollector(app)
