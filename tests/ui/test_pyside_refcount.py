"""Guard against PySide6 6.12.0 on Python 3.11 leaking a reference to None per void call.

That build decremented None's refcount on every void Qt call ("none_dealloc" abort after a
few thousand calls). pyproject pins around it; this test notices if a bad build sneaks in.
"""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QLabel


def test_void_calls_keep_none_refcount_steady(qtbot):
    label = QLabel()
    qtbot.addWidget(label)
    for i in range(200):  # warm up caches that may hold None once
        label.setText(str(i))
    before = sys.getrefcount(None)
    for i in range(10_000):
        label.setText(str(i))
    after = sys.getrefcount(None)
    assert abs(after - before) < 100, f"None refcount moved by {after - before}"
