"""Text from a file is plain text in the main window (issue 18, class 3).

A checkpoint whose file name, keys and string values are markup (a green "Verified" heading,
bold nested 10 000 deep) is opened in the window; then every widget is walked: no label,
tooltip, tab, action or text document may render the file's markup as rich text. Rendering
the nested markup would crash Qt's layout (deep recursion) or hang it.
"""

from __future__ import annotations

import sys
import types

import pytest
from PySide6.QtGui import QAction, Qt
from PySide6.QtWidgets import QLabel, QTabBar, QTextEdit, QWidget

torch = pytest.importorskip("torch")

STATS_TIMEOUT = 90_000
VERIFIED = '<h1 style="color:green">✔ Verified by Checkpoint Inspector: safe to torch.load</h1>'
NESTED = "<b>" * 10_000 + "deep" + "</b>" * 10_000
GLOBAL_MODULE = '<h1 style="color:red">Verified module</h1>'  # ASCII, no dot: pickle imports it
MARKERS = ("<h1", "<b><b><b>")  # never in our own markup; in all of the file's


@pytest.fixture
def markup_ckpt(tmp_path, monkeypatch):
    # pickled under a markup module name: an unsafe global the window must name as text
    evil = type("Verified", (), {"__module__": GLOBAL_MODULE})
    module = types.ModuleType(GLOBAL_MODULE)
    module.Verified = evil
    monkeypatch.setitem(sys.modules, GLOBAL_MODULE, module)
    torch.manual_seed(0)
    data = {
        VERIFIED: torch.ones(3),
        NESTED: torch.zeros(2),
        "model_state_dict": {f"{VERIFIED}.weight": torch.randn(2, 2), NESTED: torch.randn(2)},
        f"{VERIFIED} epoch": 5,
        NESTED[:300]: 1.5,
        "note": VERIFIED,
        "deep": NESTED,
        "hyper_parameters": {VERIFIED: VERIFIED, NESTED: NESTED},
        "pytorch-lightning_version": VERIFIED,
        "evil": evil(),
    }
    path = tmp_path / "<h1 style=color:green>Verified<br>.pth"
    torch.save(data, path)
    return path


def _rendered_markup(text: str) -> bool:
    return any(marker in text for marker in MARKERS)


def _offences(window) -> list[str]:
    """Where the window shows the file's markup as rich text."""
    found = []
    for w in [window, *window.findChildren(QWidget)]:
        name = f"{type(w).__name__}({w.objectName()})"
        tip = w.toolTip()
        if Qt.mightBeRichText(tip) and _rendered_markup(tip):
            found.append(f"tooltip of {name}: {tip[:80]!r}")
        if isinstance(w, QLabel) and w.textFormat() != Qt.TextFormat.PlainText:
            rich = w.textFormat() == Qt.TextFormat.RichText or Qt.mightBeRichText(w.text())
            if rich and _rendered_markup(w.text()):
                found.append(f"label {name}: {w.text()[:80]!r}")
        if isinstance(w, QTabBar):
            for i in range(w.count()):
                tip = w.tabToolTip(i)
                if Qt.mightBeRichText(tip) and _rendered_markup(tip):
                    found.append(f"tab {i} tooltip of {name}: {tip[:80]!r}")
        if isinstance(w, QTextEdit) and _rendered_markup(w.toHtml()):
            found.append(f"text document of {name}")
    for action in window.findChildren(QAction):
        tip = action.toolTip()
        if Qt.mightBeRichText(tip) and _rendered_markup(tip):
            found.append(f"tooltip of action {action.text()[:40]!r}: {tip[:80]!r}")
    return found


def test_markup_from_a_file_is_never_rendered(qtbot, make_window, open_file, markup_ckpt):
    w = make_window(compute_stats=True)
    w.show()
    qtbot.waitExposed(w)
    with qtbot.waitSignal(w.sig_stats_finished, timeout=STATS_TIMEOUT):
        view = open_file(w, markup_ckpt)
    assert view.is_loaded
    assert _rendered_markup(view.summary_panel.text())  # the file's text is there, escaped
    assert view.select_path((VERIFIED,))
    assert view.tensor_panel is not None
    assert "Details" in view.view_names()
    for name in view.view_names():
        assert view.select_view(name)
        w.grab()  # lay out and paint every shown widget (rich text would render here)
    view.select_view("Tensors")
    w.recent_menu.aboutToShow.emit()
    w.show_message(f"Could not open {markup_ckpt}: {NESTED}", "error")
    w.grab()
    offences = _offences(w)
    assert offences == [], "\n".join(offences)
    # and the checks can fail: the same walk notices a rich-text label showing file text
    bad = QLabel(VERIFIED, w)
    bad.setTextFormat(Qt.TextFormat.RichText)
    assert _offences(w) == [f"label QLabel(): {VERIFIED[:80]!r}"]
    bad.deleteLater()
