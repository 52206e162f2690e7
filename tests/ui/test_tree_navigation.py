"""The tree on many-thousand-tensor checkpoints: filters cost one reset and the rows shown,
keyboard navigation reaches every row, columns fit their content, NaN/Inf reach the summary
and the parent rows, module rows say what they are, rows copy their path/name/value."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QHeaderView

from inspector.ui.tree import COL_NAME, COL_NANINF, COL_SHAPE, CheckpointTreeModel
from inspector.ui.tree_pane import COLUMN_SAMPLES

NAMES = ("emb", "attn.q.weight", "attn.k.weight", "attn.v.weight", "mlp.fc1.weight",
         "mlp.fc1.bias", "mlp.fc2.weight", "norm.running_mean", "norm.running_var",
         "norm.weight")
BLOCKS = 700  # 7,000 tensors: more than the tree exposes at once


@pytest.fixture
def many_ckpt(tmp_path, torch_mod):
    path = tmp_path / "many.pth"
    torch_mod.save({f"blocks.{i}.{n}": torch_mod.zeros(2) for i in range(BLOCKS) for n in NAMES},
                   path)
    return path


def _count_calls(monkeypatch, counts, name):
    original = getattr(CheckpointTreeModel, name)

    def counted(self, *args):
        counts[name] = counts.get(name, 0) + 1
        return original(self, *args)

    monkeypatch.setattr(CheckpointTreeModel, name, counted)


def test_filter_change_and_clear_cost_one_reset_and_only_the_rows_shown(
        qtbot, qapp, monkeypatch, make_window, open_file, many_ckpt):
    w = make_window()
    w.show()
    view = open_file(w, many_ckpt)
    qapp.processEvents()
    resets, moved = [], []
    view.proxy.modelReset.connect(lambda: resets.append(1))
    view.proxy.rowsRemoved.connect(lambda *a: moved.append(1))
    view.set_filter("emb")
    qapp.processEvents()
    assert view.proxy.matches == BLOCKS and len(resets) == 1
    counts: dict[str, int] = {}
    for name in ("index", "rowCount", "hasChildren", "data"):
        _count_calls(monkeypatch, counts, name)
    # 700 matches to 700 others, then clear: the old proxy re-laid out the expanded rows
    # after each removed/inserted range (quadratic; 97 s on 20k tensors)
    for text, matches in (("k.weight", BLOCKS), ("", 0), ("/^blocks\\.69\\d\\.emb$/", 10)):
        resets.clear()
        counts.clear()
        view.set_filter(text)
        qapp.processEvents()
        assert view.proxy.matches == matches
        assert len(resets) == 1 and not moved
        # the view asked about the rows it lays out (a filter opens at most ~1,000 rows,
        # a cleared tree one batch of 500), never about all 7,000 tensors and 2,800 groups
        assert sum(counts.values()) < 12_000, (text, counts)
    blocks = view.proxy.index(0, 0)
    assert view.proxy.rowCount(blocks) == 10 and view.tree.isExpanded(blocks)
    view.tree.setCurrentIndex(view.proxy.index(9, 0, blocks))  # module "699" stays current
    view.set_filter("")
    assert view.proxy.rowCount(view.proxy.index(0, 0)) == 700  # its batch was fetched
    assert view.tree.currentIndex().data() == "699"
    assert view.filter_bar.match_label.text() == ""


def test_keyboard_reaches_every_row(qtbot, qapp, make_window, open_file, many_ckpt):
    w = make_window()
    w.show()
    view = open_file(w, many_ckpt)
    tree = view.tree
    tree.setFocus()
    tree.setCurrentIndex(view.proxy.index(0, 0))
    qtbot.keyClick(tree, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
    assert tree.currentIndex().data() == str(BLOCKS - 1)  # not row 499 of the fetched batch
    assert w.act_expand.shortcut().toString() == "Ctrl+E"
    w.act_expand.trigger()  # View ▸ Expand All
    assert view.model.is_fully_fetched()
    last_block = view.proxy.index(0, 0).parent()
    qtbot.keyClick(tree, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
    current = tree.currentIndex()
    assert current.data() == "weight" and current.parent().data() == "norm"
    assert current.parent().parent().data() == str(BLOCKS - 1)
    assert tree.isExpanded(current.parent()) and not last_block.isValid()
    # Down past the fetched batch fetches the next one
    view.collapse_all()
    view.model.limit_exposure()
    blocks = view.proxy.index(0, 0)
    tree.expand(blocks)
    tree.setCurrentIndex(view.proxy.index(CheckpointTreeModel.BATCH - 1, 0, blocks))
    qtbot.keyClick(tree, Qt.Key.Key_Down)
    assert tree.currentIndex().row() == CheckpointTreeModel.BATCH


def test_columns_fit_their_content_and_remember_widths(qtbot, make_window, open_file,
                                                        tmp_path, torch_mod, settings):
    path = tmp_path / "shapes.pth"
    torch_mod.save({"encoder.norm.running_mean": torch_mod.zeros(3),
                    "encoder.norm.running_var": torch_mod.zeros(3),
                    "wide": torch_mod.zeros(1024, 1, 512, 1, 1, 2)}, path)
    w = make_window()
    view = open_file(w, path)
    tree, header = view.tree, view.tree.header()
    assert tree.textElideMode() == Qt.TextElideMode.ElideMiddle  # running_m…n, not runnin…
    assert header.sectionResizeMode(COL_NAME) == QHeaderView.ResizeMode.Interactive
    metrics = tree.fontMetrics()
    assert header.sectionSize(COL_SHAPE) > metrics.horizontalAdvance("(1024, 1, 512, 1, 1, 2)")
    for col, sample in COLUMN_SAMPLES.items():
        assert header.sectionSize(col) > metrics.horizontalAdvance(sample), col
    # a width the user sets is kept for the next file
    tree._user_widths[COL_NAME] = 333
    tree.sig_columns_resized.emit()
    assert settings.column_widths("tree") == {COL_NAME: 333}
    w.close_document()
    view = open_file(w, path)
    assert view.tree.header().sectionSize(COL_NAME) == 333


def test_nan_inf_reach_the_summary_and_parent_rows(qtbot, make_window, open_file, tmp_path,
                                                   torch_mod):
    torch = torch_mod
    bad = torch.ones(4)
    bad[1] = float("nan")
    worse = torch.ones(3)
    worse[0] = float("inf")
    path = tmp_path / "nan.pth"
    torch.save({"enc.layer.0.weight": bad, "enc.layer.1.weight": worse,
                "enc.layer.1.bias": torch.ones(2), "head.weight": torch.ones(2)}, path)
    w = make_window(compute_stats=True)
    with qtbot.waitSignal(w.sig_stats_finished, timeout=60_000):
        view = open_file(w, path)
    text = view.summary_panel.text()
    assert "2 tensors have NaN or Inf values (all 4 tensors)" in text
    enc = view.proxy.index(0, 0)
    assert enc.data() == "enc.layer"
    assert enc.siblingAtColumn(COL_NANINF).data() == "⚠ 2 tensors"
    one = view.proxy.index(1, COL_NANINF, enc)
    assert one.data() == "⚠ 1 tensor"
    head = view.proxy.index(1, COL_NANINF)
    assert not head.data()
    view.summary_panel.finite_label.linkActivated.emit("nan-inf")  # the summary's link
    assert view.filter_bar.nan_inf_only() and view.proxy.matches == 2


def test_module_rows_and_copy_menu(qtbot, make_window, open_file, state_dict_ckpt, training_ckpt):
    w = make_window()
    view = open_file(w, training_ckpt)
    sd = next(view.proxy.index(r, 0) for r in range(view.proxy.rowCount())
              if view.proxy.index(r, 0).data() == "model_state_dict")
    module = view.proxy.index(0, 0, sd)  # a module group of the state_dict
    view.tree.setCurrentIndex(module)
    panel = view.tensor_panel
    assert panel is not None and panel.title.text() == f"model_state_dict.{module.data()}"
    assert "Nothing selected" not in panel.title.text() and "tensor" in panel.subtitle.text()
    weight = view.proxy.index(0, 0, module)
    view.tree.setCurrentIndex(weight)
    view.tree.setFocus()
    qtbot.keyClick(view.tree, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert QGuiApplication.clipboard().text() == f"model_state_dict.{module.data()}.{weight.data()}"
    from inspector.ui.tree.copy_menu import tree_row_texts

    name, full, value = tree_row_texts(view.model, view.proxy, weight.siblingAtColumn(COL_SHAPE))
    assert (name, full) == ("weight", f"model_state_dict.{module.data()}.weight")
    assert value == weight.siblingAtColumn(COL_SHAPE).data()  # the clicked cell

    epoch = next(view.proxy.index(r, 0) for r in range(view.proxy.rowCount())
                 if view.proxy.index(r, 0).data() == "epoch")
    assert tree_row_texts(view.model, view.proxy, epoch.siblingAtColumn(COL_SHAPE)) == \
        ("epoch", "epoch", "5")


def test_first_filter_adopts_rows_built_in_a_pool_thread(qtbot, qapp, monkeypatch, make_window,
                                                         open_file, many_ckpt):
    import threading

    from inspector.ui.tree import items as tree_items

    built_on = []
    original = tree_items.TreeData.expose_all

    def expose_all(self):
        if not self._complete:
            built_on.append(threading.current_thread() is threading.main_thread())
        original(self)

    monkeypatch.setattr(tree_items.TreeData, "expose_all", expose_all)
    w = make_window()
    w.show()
    view = open_file(w, many_ckpt)
    qtbot.waitUntil(lambda: view._full_tree is not None, timeout=15_000)
    assert built_on == [False]  # every row built in the pool thread, after the first paint
    view.set_filter("norm.running_var")
    assert view.proxy.matches == BLOCKS and built_on == [False]
    assert view.model.search_index() is view.model._data.search_index()
    view.set_filter("")
    assert view.proxy.rowCount(view.proxy.index(0, 0)) == CheckpointTreeModel.BATCH
