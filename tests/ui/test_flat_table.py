"""The flat table of every tensor: full paths, sorting across the whole model, the shared
filter, statistics, selection, copy menu."""

from __future__ import annotations

from PySide6.QtCore import Qt

from inspector.core.formats import open_checkpoint
from inspector.ui.table import TABLE_HEADERS, TensorTableModel
from inspector.ui.table.model import COL_ABS_MEAN, COL_L2
from inspector.ui.tree import COL_MEAN, COL_NAME, COL_NANINF, COL_SHAPE, COL_SIZE


def _paths(model):
    return [model.index(r, COL_NAME).data() for r in range(model.rowCount())]


def test_table_model_sorts_and_filters_the_whole_model(qtmodeltester, tmp_path, torch_mod):
    torch = torch_mod
    path = tmp_path / "t.pth"
    torch.save({"model": {"enc.0.weight": torch.ones(4, 3), "enc.0.bias": torch.zeros(4),
                          "dec.weight": torch.full((2,), 5.0)}, "epoch": 3}, path)
    stats = {}
    with open_checkpoint(path) as ck:
        model = TensorTableModel(ck, stats.get)
        qtmodeltester.check(model)
        assert TABLE_HEADERS[COL_NAME] == "Path"
        assert _paths(model) == ["model.enc.0.weight", "model.enc.0.bias", "model.dec.weight"]
        assert model.index(0, COL_SHAPE).data() == "(4, 3)"
        model.sort(COL_SIZE, Qt.SortOrder.DescendingOrder)
        assert _paths(model)[0] == "model.enc.0.weight"
        model.sort(COL_NAME, Qt.SortOrder.AscendingOrder)
        assert _paths(model) == ["model.dec.weight", "model.enc.0.bias", "model.enc.0.weight"]
        assert model.set_filter("ENC.0".lower()) == 2
        assert _paths(model) == ["model.enc.0.bias", "model.enc.0.weight"]  # still sorted
        qtmodeltester.check(model)
        model.set_filter()
        # statistics arrive later; rows without them sort last either way
        from inspector.core.stats import iter_stats

        for item in iter_stats(ck, workers=1):
            if item.path[-1] != "enc.0.bias":
                stats[tuple(item.path)] = item.stats
        model.stats_changed()
        model.sort(COL_MEAN, Qt.SortOrder.DescendingOrder)
        assert _paths(model) == ["model.dec.weight", "model.enc.0.weight", "model.enc.0.bias"]
        assert model.index(0, COL_MEAN).data() == "5"
        assert [model.index(0, c).data() for c in (COL_ABS_MEAN, COL_L2)] == ["5", "7.071"]
        assert TABLE_HEADERS[COL_L2] == "L2 norm"
        model.sort(COL_MEAN, Qt.SortOrder.AscendingOrder)
        assert _paths(model)[-1] == "model.enc.0.bias"
        assert model.set_filter(nan_inf_only=True) == 0
        qtmodeltester.check(model)


def test_table_beside_the_tree(qtbot, make_window, open_file, tmp_path, torch_mod):
    torch = torch_mod
    bad = torch.ones(3)
    bad[0] = float("nan")
    path = tmp_path / "t.pth"
    torch.save({"a.weight": torch.ones(2, 2), "b.weight": bad, "b.bias": torch.zeros(3)}, path)
    w = make_window(compute_stats=True)
    with qtbot.waitSignal(w.sig_stats_finished, timeout=60_000):
        view = open_file(w, path)
    assert view.table is None  # built on first use
    view.filter_bar.table_button.click()  # one click away
    table = view.table
    assert table is not None and view.is_table_shown()
    model = table.table_model
    assert _paths(model) == ["a.weight", "b.weight", "b.bias"]
    assert model.index(1, COL_NANINF).data() == "1 NaN"
    view.set_filter("weight")
    assert _paths(model) == ["a.weight", "b.weight"]
    assert view.filter_bar.match_label.text() == "2 matches"
    table.selectRow(1)
    assert view.current_path() == ("b.weight",)
    assert view.tensor_panel.title.text().endswith("b.weight")
    assert table.row_texts(model.index(1, COL_SHAPE)) == ("b.weight", "b.weight", "(3)")
    view.filter_bar.tree_button.click()
    assert not view.is_table_shown()
    assert view.current_path() == ("b.weight",)
