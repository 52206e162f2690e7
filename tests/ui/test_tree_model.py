"""The lazy checkpoint tree model and its filter proxy."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QModelIndex, Qt

from inspector.core.formats import open_checkpoint
from inspector.core.summary import optimizer_param_labels
from inspector.ui.tree import (
    COL_MEAN,
    COL_NAME,
    COL_NANINF,
    COL_NUMEL,
    CheckpointTreeModel,
    NodeRole,
    SortRole,
    TensorFilterProxy,
)
from inspector.ui.tree import items as tree_items


class Payload:
    """A class the inert unpickler must not resolve: shown as an unsafe placeholder."""


def _names(model, parent=None):
    parent = parent if parent is not None else QModelIndex()
    return [model.index(r, COL_NAME, parent).data() for r in range(model.rowCount(parent))]


def _child(model, parent, name):
    for r in range(model.rowCount(parent)):
        index = model.index(r, COL_NAME, parent)
        if index.data() == name:
            return index
    raise AssertionError(f"{name!r} not in {_names(model, parent)}")


@pytest.fixture
def training(training_ckpt):
    ck = open_checkpoint(training_ckpt)
    yield ck
    ck.close()


def test_model_contract_after_load(qtmodeltester, training):
    model = CheckpointTreeModel(training, optimizer_param_labels(training))
    qtmodeltester.check(model)
    assert _names(model) == ["epoch", "model_state_dict", "optimizer_state_dict", "loss"]


def test_state_dict_keys_show_as_module_hierarchy(training):
    model = CheckpointTreeModel(training)
    sd = _child(model, QModelIndex(), "model_state_dict")
    assert _names(model, sd) == ["0", "1", "5"]
    bn = _child(model, sd, "1")
    assert _names(model, bn) == ["weight", "bias", "running_mean", "running_var",
                                 "num_batches_tracked"]
    assert model.index(bn.row(), COL_NUMEL, sd).data(SortRole) == 8 * 4 + 1
    weight = model.index(0, COL_NAME, bn)
    assert weight.data(NodeRole) is training.find(["model_state_dict", "1.weight"])


def test_lazy_rows_arrive_in_batches(qtmodeltester, monkeypatch, state_dict_ckpt):
    monkeypatch.setattr(tree_items, "EAGER_LIMIT", 2)
    monkeypatch.setattr(CheckpointTreeModel, "BATCH", 1)
    with open_checkpoint(state_dict_ckpt) as ck:
        model = CheckpointTreeModel(ck)
        assert model.rowCount() == 1 and model.canFetchMore(QModelIndex())
        model.fetchMore(QModelIndex())
        assert model.rowCount() == 2 and not model.canFetchMore(QModelIndex())
        first = model.index(0, 0)
        assert model.hasChildren(first) and model.rowCount(first) == 0
        assert model.canFetchMore(first)
        model.fetchMore(first)
        assert model.rowCount(first) == 1
        qtmodeltester.check(model)  # the tester fetches more rows itself
        model.fetch_all()
        assert model.rowCount(model.index(0, 0)) == 2
        qtmodeltester.check(model)


def test_filter_finds_rows_not_yet_fetched(monkeypatch, make_window, open_file, tmp_path,
                                           torch_mod):
    monkeypatch.setattr(tree_items, "EAGER_LIMIT", 10)
    path = tmp_path / "layers.pth"
    torch_mod.save({f"layers.{i}.weight": torch_mod.zeros(1) for i in range(2_000)}, path)
    view = open_file(make_window(), path)
    model, proxy = view.model, view.proxy
    assert model.rowCount() == 1  # the "layers" group
    layers = model.index(0, 0)
    assert model.rowCount(layers) < 2_000 and not model.is_fully_fetched()  # a batch at most
    view.set_filter("layers.1999.")
    assert proxy.rowCount() == 1
    group = proxy.index(0, 0)
    assert proxy.rowCount(group) == 1
    assert proxy.index(0, 0, group).data() == "1999"
    assert proxy.matches == 1
    view.set_filter("/199[0-9]$")
    assert proxy.rowCount(proxy.index(0, 0)) == 10
    view.set_filter("")
    # back to batch-wise exposure (a view expanding "layers" lays out one batch), the rest
    # a fetch away
    group = proxy.index(0, 0)
    assert proxy.rowCount(group) == CheckpointTreeModel.BATCH
    while proxy.canFetchMore(group):
        proxy.fetchMore(group)
    assert proxy.rowCount(group) == 2_000


def test_substring_regex_and_errors(qtmodeltester, training):
    model = CheckpointTreeModel(training)
    proxy = TensorFilterProxy()
    proxy.setSourceModel(model)
    qtmodeltester.check(proxy)
    proxy.set_pattern("RUNNING_mean")  # case-insensitive
    qtmodeltester.check(proxy)
    sd = proxy.index(0, 0)
    assert proxy.data(sd) == "model_state_dict" and proxy.rowCount() == 1
    bn = proxy.index(0, 0, sd)
    assert [proxy.index(r, 0, bn).data() for r in range(proxy.rowCount(bn))] == ["running_mean"]
    proxy.set_pattern("^epoch$", regex=True)
    assert proxy.rowCount() == 1 and proxy.index(0, 0).data() == "epoch"
    errors = []
    proxy.sig_pattern_error.connect(errors.append)
    proxy.set_pattern("/([")
    assert errors[-1].startswith("invalid regular expression")
    assert proxy.rowCount() == 4  # an invalid pattern hides nothing
    proxy.set_pattern("/weight$/")
    assert errors[-1] == ""
    assert proxy.rowCount() == 1  # model_state_dict only: the optimizer labels are off here
    qtmodeltester.check(proxy)


def test_optimizer_state_is_labelled_with_parameter_names(training):
    model = CheckpointTreeModel(training, optimizer_param_labels(training))
    opt = _child(model, QModelIndex(), "optimizer_state_dict")
    state = _child(model, opt, "state")
    assert _names(model, state)[0] == "0 · 0.weight"
    proxy = TensorFilterProxy()
    proxy.setSourceModel(model)
    proxy.set_pattern("5.bias")
    assert [proxy.index(r, 0).data() for r in range(proxy.rowCount())] == [
        "model_state_dict", "optimizer_state_dict"]


def test_stats_fill_in_for_one_row(qtbot, training):
    from inspector.core.stats import compute_stats

    model = CheckpointTreeModel(training)
    model.set_stats_pending(True)
    path = ("model_state_dict", "0.weight")
    index = model.index_for_path(path)
    cell = index.siblingAtColumn(COL_MEAN)
    assert cell.data() == "…" and cell.data(SortRole) is None
    stats = compute_stats(training, training.find(path).tensor)
    with qtbot.waitSignal(model.dataChanged) as blocker:
        model.set_stats(path, stats)
    top_left, bottom_right = blocker.args[:2]
    assert top_left.row() == bottom_right.row() == index.row()
    assert (top_left.column(), bottom_right.column()) == (COL_MEAN, COL_NANINF)
    assert top_left.internalPointer() is index.internalPointer()
    assert cell.data(SortRole) == pytest.approx(stats.mean)
    assert cell.data() == f"{stats.mean:.4g}"
    assert index.siblingAtColumn(COL_NANINF).data() == "0"
    model.set_stats(("model_state_dict", "0.bias"), None, "no data")
    bias = model.index_for_path(("model_state_dict", "0.bias"))
    assert bias.siblingAtColumn(COL_MEAN).data() == "–"
    assert "no data" in bias.siblingAtColumn(COL_MEAN).data(Qt.ItemDataRole.ToolTipRole)


def test_nan_inf_only_and_sorting(qtmodeltester, tmp_path, torch_mod):
    torch = torch_mod
    bad = torch.ones(10)
    bad[3] = float("nan")
    path = tmp_path / "nan.pth"
    torch.save({"good": torch.zeros(100), "bad": bad, "mid": torch.ones(50)}, path)
    from inspector.core.stats import iter_stats

    with open_checkpoint(path) as ck:
        model = CheckpointTreeModel(ck)
        for p, stats, error in iter_stats(ck):
            model.set_stats(p, stats, error)
        proxy = TensorFilterProxy()
        proxy.setSourceModel(model)
        proxy.set_nan_inf_only(True)
        assert [proxy.index(r, 0).data() for r in range(proxy.rowCount())] == ["bad"]
        assert proxy.index(0, COL_NANINF).data() == "1 NaN"
        qtmodeltester.check(proxy)
        proxy.set_nan_inf_only(False)
        proxy.sort(COL_NUMEL, Qt.SortOrder.AscendingOrder)
        assert [proxy.index(r, 0).data() for r in range(3)] == ["bad", "mid", "good"]
        qtmodeltester.check(proxy)
        proxy.sort(-1)
        assert [proxy.index(r, 0).data() for r in range(3)] == ["good", "bad", "mid"]


def test_tied_tensors_and_unsafe_objects_are_marked(tmp_path, torch_mod):
    torch = torch_mod
    w = torch.randn(4, 4)
    path = tmp_path / "odd.pth"
    torch.save({"encoder.weight": w, "decoder.weight": w}, path)
    with open_checkpoint(path) as ck:
        model = CheckpointTreeModel(ck)
        enc = model.index_for_path(("encoder.weight",))
        assert "decoder.weight" in enc.data(Qt.ItemDataRole.ToolTipRole)
        assert model.shared_with(("encoder.weight",)) == [("decoder.weight",)]
        assert not enc.data(Qt.ItemDataRole.DecorationRole).isNull()
    path2 = tmp_path / "unsafe.pth"
    torch.save({"payload": Payload(), "x": torch.ones(1)}, path2)
    with open_checkpoint(path2) as ck:
        assert ck.unsafe_globals
        model = CheckpointTreeModel(ck)
        index = model.index_for_path(("payload",))
        assert model.is_unsafe(index.data(NodeRole))
        assert "NOT executed" in index.data(Qt.ItemDataRole.ToolTipRole)
        assert index.data(Qt.ItemDataRole.ForegroundRole) is not None


def test_single_tensor_file_shows_one_row(qtmodeltester, tmp_path, torch_mod):
    path = tmp_path / "t.pt"
    torch_mod.save(torch_mod.arange(6.0), path)
    with open_checkpoint(path) as ck:
        model = CheckpointTreeModel(ck)
        qtmodeltester.check(model)
        assert model.rowCount() == 1
        assert model.index(0, 0).data() == "(root)"
        assert model.index(0, 1).data() == "float32"
