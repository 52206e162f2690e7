"""UI fixtures: an isolated settings file, a main window factory, and the dangling-worker guard."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QSettings, QThreadPool

from inspector.ui.settings import Settings


@pytest.fixture(scope="session", autouse=True)
def _collect_from_event_loop(qapp):
    """As in the app: Python's garbage collector runs between events, never inside a Qt
    destructor (a collection there deadlocked the suite once)."""
    from inspector.ui.collector import collect_from_event_loop

    collector = collect_from_event_loop(qapp)
    yield
    collector.stop()


@pytest.fixture(autouse=True)
def _no_dangling_workers(qapp):
    """Every test must leave the global thread pool idle (napari's guard)."""
    yield
    assert QThreadPool.globalInstance().waitForDone(5000), "a thread worker is still running"


@pytest.fixture
def settings_path(tmp_path):
    return str(tmp_path / "settings.ini")


@pytest.fixture
def settings(settings_path):
    return Settings(QSettings(settings_path, QSettings.Format.IniFormat))


@pytest.fixture
def make_window(qtbot, settings):
    """Create MainWindows with isolated settings; they are shut down after the test."""
    from inspector.ui.main_window import MainWindow

    windows = []

    def make(compute_stats: bool = False) -> MainWindow:
        w = MainWindow(settings, compute_stats=compute_stats)
        qtbot.addWidget(w)
        w.resize(1200, 800)
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.shutdown()
        assert all(jobs.worker_pid() is None for jobs in w.runners.all())


@pytest.fixture
def open_file(qtbot):
    """Open a path in a window and wait until its view shows the tree; returns the view."""

    def open_(window, path, timeout: int = 15_000):
        with qtbot.waitSignal(window.sig_opened, timeout=timeout):
            view = window.open_path(path)
        return view

    return open_
