"""Run work once a widget has painted: the window shows at once, heavy work follows."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QWidget


def after_first_paint(widget: QWidget, callback: Callable[[], None],
                      fallback_ms: int | None = None) -> None:
    """Call ``callback()`` once, in the event-loop turn after ``widget`` first paints.

    With ``fallback_ms``, call it after that long even if no paint came (a hidden or
    minimized window must still get its work done).
    """
    _FirstPaint(widget, callback, fallback_ms)


class _FirstPaint(QObject):
    """Event filter behind :func:`after_first_paint`."""

    def __init__(self, widget: QWidget, callback: Callable[[], None], fallback_ms: int | None):
        super().__init__(widget)
        self._widget = widget
        self._callback = callback
        self._done = False
        widget.installEventFilter(self)
        if fallback_ms is not None:
            QTimer.singleShot(fallback_ms, self, self._fire)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.Paint and not self._done:
            QTimer.singleShot(0, self, self._fire)
        return False

    def _fire(self) -> None:
        if self._done:
            return
        self._done = True
        self._widget.removeEventFilter(self)
        self.deleteLater()
        self._callback()
