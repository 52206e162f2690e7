"""The welcome page's "Open Run…" button does what File ▸ Open Run… does."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QLabel, QPushButton

import inspector.ui.timeline as timeline


def test_welcome_page_open_run_button_opens_a_run_like_the_menu(qtbot, make_window, tmp_path,
                                                                monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    asked, opened = [], []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *a, **k: asked.append(a[1]) or str(run)))
    monkeypatch.setattr(timeline, "open_run", lambda window, paths: opened.append(
        (window, list(paths))))
    w = make_window()
    w.show()
    qtbot.waitExposed(w)
    assert w._central.currentWidget() is w.welcome
    button = w.welcome.findChild(QPushButton, "openRunButton")
    assert button is not None and button.isVisible() and button.text() == "Open Run…"
    assert "training run" in button.toolTip() and "timeline" in button.toolTip()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert asked == ["Open Run (a folder of checkpoints)"] and opened == [(w, [str(run)])]
    w.act_open_run.trigger()  # the menu entry: the same dialog, the same run
    assert asked[1] == asked[0] and opened[1] == opened[0]
    assert w.settings.last_directory() == str(run)
    # the welcome hint names what can be opened, runs included
    hints = [lbl.text() for lbl in w.welcome.findChildren(QLabel, "welcomeHint")]
    assert any("training run" in h for h in hints)
