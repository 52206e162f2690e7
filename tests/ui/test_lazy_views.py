"""Heavy views are built when first shown, not while a file opens."""

from __future__ import annotations


def test_inference_view_is_built_when_first_shown(make_window, open_file, training_ckpt):
    w = make_window()
    w.show()
    view = open_file(w, training_ckpt)
    lazy = view.inference_view
    assert "Inference" in view.view_names()
    assert not lazy.is_built()
    assert view.select_view("Inference")
    assert lazy.is_built()
    assert view.inference_panel is lazy.widget()
