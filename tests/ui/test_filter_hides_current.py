"""A filter that hides the current tensor deselects it: the tensor panel shows nothing (not the
hidden tensor as if it were still selected), in the flat table and in the tree; the tensor
comes back selected once the filter shows it again."""

from __future__ import annotations

import pytest

from inspector.ui import resources

DEMO = resources.demo_checkpoint()
TENSOR = ("model_state_dict", "classifier.2.weight")


def _filter(qtbot, view, text: str) -> None:
    view.filter_bar.edit.setText(text)
    view.apply_filter()
    qtbot.wait(20)


@pytest.mark.parametrize("mode", ["table", "tree"])
def test_a_filtered_out_current_tensor_leaves_the_panel_empty(qtbot, make_window, open_file,
                                                              mode):
    w = make_window()
    w.show()
    qtbot.waitExposed(w)
    view = open_file(w, DEMO)
    view.show_mode(mode)
    left = view.table if mode == "table" else view.tree
    assert left.isVisible()
    assert (view.table.select_path(TENSOR) if mode == "table" else view.select_path(TENSOR))
    panel = view.tensor_panel
    assert panel.title.text() == "model_state_dict / classifier.2.weight"

    _filter(qtbot, view, "classifier.2")  # still shown: still selected
    assert left.currentIndex().isValid()
    assert panel.title.text() == "model_state_dict / classifier.2.weight"

    _filter(qtbot, view, "features")  # hidden: nothing selected, the panel empty
    assert not left.currentIndex().isValid()
    assert not left.selectionModel().selectedIndexes()
    assert panel.title.text() == "Nothing selected"
    _filter(qtbot, view, "features.0")  # another filter that hides it: still empty
    assert panel.title.text() == "Nothing selected"

    _filter(qtbot, view, "")  # Esc / cleared: the tensor comes back selected
    assert left.currentIndex().isValid()
    if mode == "table":
        assert view.table.current_path() == TENSOR
    assert panel.title.text() == "model_state_dict / classifier.2.weight"
