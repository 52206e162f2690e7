"""Python's cyclic garbage collector, run only from the event loop.

Left automatic, a collection can start inside any allocation, including one PySide makes
while Qt is destroying an object and holds its internal locks; if that collection frees
another Qt object (a plot's context menu in a reference cycle), its destructor waits for the
same lock and the process deadlocks. Run between events instead, with the interpreter's own
thresholds, nothing is collected at such a moment.
"""

from __future__ import annotations

import gc

from PySide6.QtCore import QObject, QTimer

CHECK_MS = 100


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


def collect_from_event_loop(app: QObject) -> MainThreadCollector:
    """Install the collector on ``app`` (once); returns it."""
    existing = app.findChild(MainThreadCollector)
    return existing if existing is not None else MainThreadCollector(app)
