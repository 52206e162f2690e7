"""The Inference inputs' placeholders are read whole in a 1024×700 window: "Extra args" and
"Input .npy" say what empty means in a few words, the tooltips say the rest."""

from __future__ import annotations

from PySide6.QtWidgets import QLineEdit, QStyle, QStyleOptionFrame

from inspector.ui import resources
from inspector.ui.inference.inputs import InputBox

DEMO = resources.demo_checkpoint()


def _room(edit: QLineEdit) -> int:
    """The width QLineEdit draws its text (and placeholder) in: the contents rect of its
    frame, less the text margins and its own 2 px each side."""
    opt = QStyleOptionFrame()
    edit.initStyleOption(opt)
    rect = edit.style().subElementRect(QStyle.SubElement.SE_LineEditContents, opt, edit)
    m = edit.textMargins()
    return rect.width() - m.left() - m.right() - 4


def _inference_tab(qtbot, make_window, open_file):
    """The demo's Inference tab in a 1024×700 window."""
    w = make_window()
    w.resize(1024, 700)
    w.show()
    qtbot.waitExposed(w)
    view = open_file(w, DEMO)
    assert view.select_view("Inference")
    return view


def test_extra_args_and_npy_placeholders_fit_at_1024x700(qtbot, make_window, open_file):
    box = _inference_tab(qtbot, make_window, open_file).findChild(InputBox)
    qtbot.waitUntil(lambda: box is not None and box.isVisible(), timeout=15_000)
    qtbot.wait(50)
    for name in ("extraArgsEdit", "npyEdit"):
        edit = box.findChild(QLineEdit, name)
        assert edit.isVisible() and not edit.text()
        text = edit.placeholderText()
        need = edit.fontMetrics().horizontalAdvance(text)
        assert need <= _room(edit), (name, text, need, _room(edit), edit.width())
        assert need <= edit.contentsRect().width()
        assert text.startswith("none")
    extra = box.findChild(QLineEdit, "extraArgsEdit")
    assert '{"sr": 16000}' in extra.toolTip() and "JSON" in extra.placeholderText()
    assert "generated input" in box.findChild(QLineEdit, "npyEdit").toolTip()


def test_model_kwargs_placeholder_fits_at_1024x700(qtbot, make_window, open_file):
    from inspector.ui.inference.controls import InferenceControls

    controls = _inference_tab(qtbot, make_window, open_file).findChild(InferenceControls)
    qtbot.waitUntil(lambda: controls is not None and controls.kwargs_edit.isVisible()
                    and controls.kwargs_edit.placeholderText() != "", timeout=30_000)
    qtbot.wait(50)
    edit = controls.kwargs_edit
    text = edit.placeholderText()
    assert text.startswith("none") and not edit.text()
    assert edit.fontMetrics().horizontalAdvance(text) <= _room(edit), (text, _room(edit))
    assert "num_classes" in edit.toolTip() and "inferred" in edit.toolTip()
