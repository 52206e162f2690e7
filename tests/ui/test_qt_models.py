"""qtmodeltester over every item model and proxy of the UI, built over real checkpoints.

Each test runs twice: with Qt's own QAbstractItemModelTester (which reports a broken
contract as a Qt warning, so this module fails on Qt warnings) and with pytest-qt's Python
tester (which asserts). The tester stays connected, so the changes made after ``check``
(rows fetched, statistics arriving, filters, sorting, resets) are checked as they happen.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QAbstractItemModel, QModelIndex, Qt
from pytestqt.modeltest import ModelTester

import inspector.ui
from inspector.core.diff import diff_checkpoints
from inspector.core.formats import open_checkpoint
from inspector.core.stats import iter_stats
from inspector.core.summary import optimizer_param_labels
from inspector.ui.compare import COL_STATUS, DiffFilterProxy, DiffTableModel
from inspector.ui.tensor import ValuesTableModel
from inspector.ui.tree import COL_MEAN, COL_NAME, COL_NUMEL, CheckpointTreeModel, TensorFilterProxy

# Every QAbstractItemModel subclass under inspector/ui must be checked here ...
CHECKED = {CheckpointTreeModel, TensorFilterProxy, DiffTableModel, DiffFilterProxy,
           ValuesTableModel}
# ... or under the model tester in its feature's own test file: "module:Class" -> test file
CHECKED_ELSEWHERE = {
    "inspector.ui.table.model:TensorTableModel": "test_flat_table.py",
    "inspector.ui.timeline.models:HeatmapModel": "test_timeline_tab.py",
    "inspector.ui.timeline.models:FindingsModel": "test_timeline_tab.py",
}

pytestmark = pytest.mark.qt_log_level_fail("WARNING")  # Qt's tester reports by qWarning


class Payload:
    """A global that is not on the allow-list: the tree shows an inert placeholder."""


@pytest.fixture(params=["qt", "python"])
def check(request):
    """Attach a model tester to a model: Qt's C++ one or pytest-qt's Python one (one kind per
    run: two testers on one lazy model would fetch rows inside each other's notifications)."""
    testers = []

    def attach(model: QAbstractItemModel) -> None:
        tester = ModelTester(request.config)  # what the qtmodeltester fixture yields
        tester.check(model, force_py=request.param == "python")
        testers.append(tester)  # keeps the tester, so it watches every later change

    return attach


def _names(model, parent=None) -> list[str]:
    parent = parent if parent is not None else QModelIndex()
    return [model.index(r, COL_NAME, parent).data() for r in range(model.rowCount(parent))]


@pytest.fixture
def varied_ckpt(tmp_path, torch_mod):
    """Every kind of node: containers, scalars, strings, bytes, None, an unsafe object, a
    module hierarchy with tied weights, NaN/Inf, integer, bool, complex, empty and 0-d tensors."""
    torch = torch_mod
    torch.manual_seed(0)
    tied = torch.randn(4, 3)
    bad = torch.ones(6)
    bad[1], bad[4] = float("nan"), float("inf")
    state = {"encoder.0.weight": tied, "encoder.0.bias": torch.zeros(4),
             "encoder.1.running_mean": torch.randn(4), "decoder.weight": tied,
             "head.bad": bad, "head.steps": torch.arange(5), "head.mask": torch.ones(3) > 0,
             "head.z": torch.randn(2, dtype=torch.complex64), "head.empty": torch.zeros(0, 3),
             "head.scale": torch.tensor(2.5), "head.half": torch.randn(3, 2).half()}
    path = tmp_path / "varied.pth"
    torch.save({"epoch": 3, "name": "run\nwith a newline", "lr": 0.1, "none": None,
                "blob": b"\x00\x01", "history": [1.0, 2.0], "pair": (1, "a"), "empty": {},
                "nested": {"a": {"b": {"c": torch.ones(1)}}}, "payload": Payload(),
                "model": state}, path)
    with open_checkpoint(path) as ck:
        yield ck


def test_tree_model_and_filter_proxy(check, varied_ckpt):
    ck = varied_ckpt
    model = CheckpointTreeModel(ck)
    check(model)
    assert _names(model) == ["epoch", "name", "lr", "none", "blob", "history", "pair", "empty",
                             "nested", "payload", "model"]
    model.set_stats_pending(True)
    for path, stats, error in iter_stats(ck):  # dataChanged per row, checked by both testers
        model.set_stats(path, stats, error)
    assert model.stats_count() == len(ck.tensors())
    model.set_stats_pending(False)

    proxy = TensorFilterProxy()
    proxy.setSourceModel(model)
    check(proxy)
    assert proxy.rowCount() == model.rowCount()
    proxy.set_pattern("weight")
    assert _names(proxy) == ["model"]
    group_names = _names(proxy, proxy.index(0, 0))
    assert group_names == ["encoder", "decoder"]
    proxy.set_nan_inf_only(True)
    assert proxy.matches == 0 and proxy.rowCount() == 0
    proxy.set_pattern("")
    assert proxy.matches == 1  # head.bad: the only tensor with NaN or Inf
    head = proxy.index(0, 0, proxy.index(0, 0))
    assert _names(proxy, head) == ["bad"]
    proxy.set_nan_inf_only(False)
    proxy.set_pattern("/^model\\.head\\.(steps|mask)$/")
    assert proxy.matches == 2
    proxy.sort(COL_MEAN, Qt.SortOrder.DescendingOrder)
    proxy.refresh()
    proxy.sort(COL_NUMEL, Qt.SortOrder.AscendingOrder)
    proxy.set_pattern("/([")  # invalid: hides nothing
    assert proxy.rowCount() == model.rowCount()
    proxy.sort(-1)
    model.clear_stats()


def test_tree_model_of_a_training_checkpoint_with_optimizer_labels(check, training_ckpt):
    with open_checkpoint(training_ckpt) as ck:
        model = CheckpointTreeModel(ck, optimizer_param_labels(ck))
        check(model)
        proxy = TensorFilterProxy()
        proxy.setSourceModel(model)
        check(proxy)
        proxy.set_pattern("5.bias")
        assert _names(proxy) == ["model_state_dict", "optimizer_state_dict"]
        proxy.sort(COL_NAME, Qt.SortOrder.DescendingOrder)
        assert _names(proxy) == ["optimizer_state_dict", "model_state_dict"]


def test_lazy_tree_model_fetches_in_batches(check, tmp_path, torch_mod):
    n = 5_100  # more nodes than the tree exposes at once
    path = tmp_path / "many.pth"
    torch_mod.save({f"w{i}": torch_mod.zeros(2) for i in range(n)}, path)
    with open_checkpoint(path) as ck:
        model = CheckpointTreeModel(ck)
        assert not model.is_fully_fetched()
        assert 0 < model.rowCount() < n and model.canFetchMore(QModelIndex())
        check(model)  # the tester fetches more rows itself
        model.fetch_all()  # a reset
        assert model.rowCount() == n and not model.canFetchMore(QModelIndex())
        # The proxy gets a model of its own: a tester on the model too would fetch rows from
        # inside the proxy's tester's notifications (re-entrant inserts, not what views do).
        lazy = CheckpointTreeModel(ck)
        proxy = TensorFilterProxy()
        proxy.setSourceModel(lazy)
        check(proxy)  # fetches more source rows through the proxy
        assert 0 < proxy.rowCount() < n
        lazy.fetch_all()  # what the view does before it filters
        assert proxy.rowCount() == n
        proxy.set_pattern(f"w{n - 1}")
        assert _names(proxy) == [f"w{n - 1}"]


@pytest.mark.parametrize("value", ["tensor", "empty"])
def test_tree_model_of_a_single_value(check, tmp_path, torch_mod, value):
    path = tmp_path / "one.pt"
    torch_mod.save(torch_mod.arange(6.0) if value == "tensor" else {}, path)
    with open_checkpoint(path) as ck:
        model = CheckpointTreeModel(ck)
        check(model)
        assert _names(model) == (["(root)"] if value == "tensor" else [])
        proxy = TensorFilterProxy()
        proxy.setSourceModel(model)
        check(proxy)
        proxy.set_pattern("root")
        assert proxy.rowCount() == (1 if value == "tensor" else 0)


@pytest.fixture
def diff_entries(tmp_path, torch_mod):
    """The entries of a real comparison covering every status."""
    torch = torch_mod
    torch.manual_seed(0)
    same, changed = torch.randn(4, 4), torch.randn(8, 3)
    a = {"same": same, "changed": changed, "removed": torch.ones(3), "shape": torch.zeros(2, 3),
         "dtype": torch.arange(6.0), "nan": torch.tensor([1.0, 2.0])}
    b = {"same": same.clone(), "changed": changed + 0.5, "added": torch.ones(5),
         "shape": torch.zeros(3, 2), "dtype": torch.arange(6.0).double(),
         "nan": torch.tensor([1.0, float("nan")])}
    pa, pb = tmp_path / "a.pth", tmp_path / "b.pth"
    torch.save(a, pa)
    torch.save(b, pb)
    entries = list(diff_checkpoints(pa, pb, atol=1e-3).entries)
    assert {e.status for e in entries} == {"identical", "changed", "added", "removed",
                                           "shape_changed", "dtype_changed"}
    return entries


def test_diff_table_model_and_proxy(check, diff_entries):
    model = DiffTableModel()
    check(model)  # empty
    proxy = DiffFilterProxy()
    proxy.setSourceModel(model)
    check(proxy)
    model.add_entries(diff_entries[:3])  # rows arrive in batches while the diff streams
    model.add_entries([])
    model.add_entries(diff_entries[3:])
    assert model.rowCount() == proxy.rowCount() == len(diff_entries)
    proxy.sort(COL_STATUS, Qt.SortOrder.AscendingOrder)
    for column in range(model.columnCount()):
        proxy.sort(column, Qt.SortOrder.DescendingOrder)
    proxy.set_changed_only(True)
    assert proxy.rowCount() == len(diff_entries) - 1  # "same" is identical
    proxy.set_text("SHAPE")
    assert proxy.rowCount() == 1
    assert proxy.index(0, COL_STATUS).data() == "shape changed"
    proxy.set_text("")
    proxy.set_changed_only(False)
    assert proxy.rowCount() == len(diff_entries)
    model.clear()
    assert proxy.rowCount() == 0


def test_values_table_model(check, tmp_path, torch_mod):
    torch = torch_mod
    t = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    t[0, 1], t[2, 3] = float("nan"), float("-inf")
    path = tmp_path / "values.pth"
    torch.save({"f": t, "i": torch.arange(5).reshape(5, 1), "b": torch.eye(2) > 0,
                "z": torch.tensor([[1 + 2j, 3 - 0.5j]], dtype=torch.complex64),
                "h": torch.ones(1, 3).half()}, path)
    expected = {"f": {(0, 1): "nan", (1, 0): "4", (2, 3): "-inf"}, "i": {(4, 0): "4"},
                "b": {(0, 0): "True", (0, 1): "False"}, "z": {(0, 0): "1+2j", (0, 1): "3-0.5j"},
                "h": {(0, 2): "1"}}
    model = ValuesTableModel()
    check(model)  # empty
    with open_checkpoint(path) as ck:
        for (key,), info in ck.tensors():
            block = ck.tensor(info).numpy()
            model.set_block(block, [f"{key}[{r}]" for r in range(block.shape[0])])
            assert (model.rowCount(), model.columnCount()) == block.shape
            assert model.headerData(0, Qt.Orientation.Vertical) == f"{key}[0]"
            cells = {cell: model.index(*cell).data() for cell in expected[key]}
            assert cells == expected[key], key
    model.set_block(np.zeros((0, 0)), [])
    assert model.rowCount() == model.columnCount() == 0


def test_every_item_model_in_the_ui_is_checked():
    found = set()
    for info in pkgutil.walk_packages(inspector.ui.__path__, "inspector.ui."):
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if (isinstance(obj, type) and issubclass(obj, QAbstractItemModel)
                    and obj.__module__ == module.__name__):
                found.add(obj)
    elsewhere = set()
    for name, test_file in CHECKED_ELSEWHERE.items():
        module_name, cls_name = name.split(":")
        elsewhere.add(getattr(importlib.import_module(module_name), cls_name))
        source = (Path(__file__).parent / test_file).read_text()
        assert "qtmodeltester.check(" in source and cls_name in source, (name, test_file)
    assert found == CHECKED | elsewhere, "run qtmodeltester on every model and proxy"
