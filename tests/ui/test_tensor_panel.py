"""TensorPanel on real checkpoints: metadata, stats, histogram, values, heatmap, kernels, export."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog

from inspector.core.formats import open_checkpoint
from inspector.core.stats import compute_stats
from inspector.core.tensor_view import MAX_COLS, MAX_ROWS
from inspector.core.text import format_value
from inspector.ui.tensor import TensorPanel
from inspector.ui.workers import ProcessJobs

WAIT_MS = 90_000  # the worker process imports torch first; the machine may be busy


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def jobs(qapp):
    """One tensor runner for the module (its worker process starts once)."""
    runner = ProcessJobs(name="inspector-tensor-test")
    yield runner
    runner.shutdown()
    assert runner.worker_pid() is None


@pytest.fixture
def panel(qtbot, jobs):
    p = TensorPanel(jobs)
    qtbot.addWidget(p)
    p.resize(800, 600)
    yield p
    _wait(qtbot, p)


def _wait(qtbot, panel) -> None:
    """Until the panel's slice or export job has ended."""
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=WAIT_MS)


def _show_tab(qtbot, panel, tab) -> None:
    panel.tabs.setCurrentWidget(tab)
    _wait(qtbot, panel)


@pytest.fixture
def training(training_ckpt):
    import torch

    ck = open_checkpoint(training_ckpt)
    ref = torch.load(training_ckpt, weights_only=True)
    yield ck, ref
    ck.close()


def _visible_tabs(panel):
    return [panel.tabs.tabText(i) for i in range(panel.tabs.count()) if panel.tabs.isTabVisible(i)]


def test_show_tensor_metadata(panel, training):
    ck, _ = training
    node = ck.find(("model_state_dict", "5.weight"))
    panel.show_tensor(ck, node, None)
    assert panel.overview_tab.field_labels["dtype"].text().startswith("float32")
    assert "[10, 128]" in panel.overview_tab.field_labels["shape"].text()
    assert "[128, 1]" in panel.overview_tab.field_labels["stride"].text()
    assert panel.overview_tab.field_labels["numel"].text() == "1,280"
    assert "5.0 KiB" in panel.overview_tab.field_labels["bytes"].text()
    assert panel.overview_tab.field_labels["device"].text() == "cpu"
    assert "5.weight" in panel.title.text()
    assert _visible_tabs(panel) == ["Overview", "Histogram", "Values", "Heatmap"]
    assert panel.overview_tab.stat_labels["mean"].text() == "…"  # stats not known yet


def test_set_stats_fills_numbers_and_histogram(panel, training):
    ck, _ = training
    node = ck.find(("model_state_dict", "5.weight"))
    stats = compute_stats(ck, node.tensor, bins=32)
    panel.show_tensor(ck, node, None)
    panel.set_stats(stats)
    assert panel.overview_tab.stat_labels["mean"].text() == format_value(stats.mean)
    assert panel.overview_tab.stat_labels["max"].text() == format_value(stats.max)
    assert panel.overview_tab.stat_labels["nan"].text() == "0"
    assert panel.overview_tab.stat_labels["zeros"].text().startswith(f"{stats.zeros:,}")
    x, y = panel.histogram_tab.histogram.curve.getData()
    assert np.allclose(x, stats.histogram.edges)
    assert np.array_equal(y, np.asarray(stats.histogram.counts, dtype=float))
    assert y.sum() == stats.finite == 1280


def test_stats_given_with_show_tensor(panel, training):
    ck, _ = training
    node = ck.find(("model_state_dict", "0.bias"))
    stats = compute_stats(ck, node.tensor)
    panel.show_tensor(ck, node, stats)
    assert panel.overview_tab.stat_labels["min"].text() == format_value(stats.min)
    assert len(panel.histogram_tab.histogram.curve.getData()[1]) == len(stats.histogram.counts)


def test_stats_error_is_shown(panel, training):
    ck, _ = training
    panel.show_tensor(ck, ck.find(("model_state_dict", "0.bias")), None)
    assert "No statistics yet" in panel.stats_status.text()
    panel.set_stats_error("worker crashed")
    assert panel.stats_status.text() == "Statistics failed: worker crashed"
    assert panel.overview_tab.stat_labels["mean"].text() == "—"


def test_log_toggle(panel, training):
    ck, _ = training
    node = ck.find(("model_state_dict", "5.weight"))
    stats = compute_stats(ck, node.tensor, bins=16)
    panel.show_tensor(ck, node, stats)
    panel.histogram_tab.histogram.log_check.setChecked(True)
    assert panel.histogram_tab.histogram.plot_item.getAxis("left").logMode
    _, y = panel.histogram_tab.histogram.curve.getData()
    counts = np.asarray(stats.histogram.counts, dtype=float)
    nz = counts > 0
    assert np.allclose(y[nz], np.log10(counts[nz]))
    panel.histogram_tab.histogram.log_check.setChecked(False)
    assert not panel.histogram_tab.histogram.plot_item.getAxis("left").logMode
    assert np.array_equal(panel.histogram_tab.histogram.curve.getData()[1], counts)


def test_values_table_matches_torch_2d(qtbot, qtmodeltester, panel, training):
    ck, ref = training
    node = ck.find(("model_state_dict", "5.weight"))
    panel.show_tensor(ck, node, None)
    _show_tab(qtbot, panel, panel.values_tab)
    model = panel.values_tab.model
    expected = ref["model_state_dict"]["5.weight"].numpy()
    assert (model.rowCount(), model.columnCount()) == (10, MAX_COLS)
    assert np.array_equal(model.block(), expected[:, :MAX_COLS])
    assert model.data(model.index(0, 0)) == f"{float(expected[0, 0]):.6g}"
    assert model.data(model.index(3, 7)) == f"{float(expected[3, 7]):.6g}"
    assert "of 128" in panel.values_tab.info.text()
    qtmodeltester.check(model)


def test_values_nd_flattened_by_last_dim(qtbot, qtmodeltester, panel, training):
    ck, ref = training
    node = ck.find(("model_state_dict", "0.weight"))  # [8, 3, 3, 3]
    panel.show_tensor(ck, node, None)
    _show_tab(qtbot, panel, panel.values_tab)
    model = panel.values_tab.model
    expected = ref["model_state_dict"]["0.weight"].reshape(-1, 3).numpy()
    assert np.array_equal(model.block(), expected)
    assert model.headerData(4, Qt.Orientation.Vertical) == "0,1,1"
    qtmodeltester.check(model)


def test_values_bounded_and_non_contiguous(qtbot, panel, tmp_path):
    import torch

    big = torch.arange(3000 * 7, dtype=torch.float32).reshape(3000, 7)
    path = tmp_path / "t.pth"
    torch.save({"t": big.t(), "v": torch.arange(5000, dtype=torch.int64)}, path)
    with open_checkpoint(path) as ck:
        panel.show_tensor(ck, ck.find(("t",)), None)
        assert "not contiguous" in panel.overview_tab.field_labels["stride"].text()
        _show_tab(qtbot, panel, panel.values_tab)
        assert np.array_equal(panel.values_tab.model.block(), big.t()[:, :MAX_COLS].numpy())
        panel.show_tensor(ck, ck.find(("v",)), None)
        assert panel.tabs.currentWidget() is panel.values_tab
        _wait(qtbot, panel)
        block = panel.values_tab.model.block()
        assert block.shape == (MAX_ROWS, 1)
        assert np.array_equal(block[:, 0], np.arange(MAX_ROWS))


def test_heatmap_for_2d(qtbot, panel, training):
    ck, ref = training
    node = ck.find(("model_state_dict", "5.weight"))
    panel.show_tensor(ck, node, None)
    _show_tab(qtbot, panel, panel.heatmap_tab)
    img = panel.heatmap_tab.heatmap.image.image
    assert img.shape == (10, 128)
    assert np.allclose(img, ref["model_state_dict"]["5.weight"].numpy())
    lo, hi = panel.heatmap_tab.heatmap.colorbar.levels()
    assert lo == -hi  # weights of both signs: symmetric, diverging


def test_heatmap_downsamples_big_matrices(qtbot, panel, tmp_path):
    import torch

    path = tmp_path / "big.pth"
    torch.save({"w": torch.randn(3000, 50)}, path)
    with open_checkpoint(path) as ck:
        panel.show_tensor(ck, ck.find(("w",)), None)
        _show_tab(qtbot, panel, panel.heatmap_tab)
        assert panel.heatmap_tab.heatmap.image.image.shape == (1000, 50)
        assert "1 in 3 rows, 1 in 1 columns" in panel.heatmap_tab.info.text()


def test_kernel_grid_for_conv_weight(qtbot, panel, training):
    ck, ref = training
    node = ck.find(("model_state_dict", "0.weight"))  # 8 filters, 3 input channels, 3x3
    panel.show_tensor(ck, node, None)
    assert "Kernels" in _visible_tabs(panel) and "Heatmap" not in _visible_tabs(panel)
    _show_tab(qtbot, panel, panel.kernels_tab)
    img = panel.kernels_tab.kernels.image.image
    assert img.shape == (11, 11)  # 3 x 3 grid of 3x3 kernels, 1-pixel gaps
    w = ref["model_state_dict"]["0.weight"].numpy()
    assert np.allclose(img[0:3, 0:3], w[0].mean(axis=0), atol=1e-6)
    assert np.allclose(img[0:3, 4:7], w[1].mean(axis=0), atol=1e-6)
    assert np.isnan(img[3, 0])
    panel.kernels_tab.mode.setCurrentIndex(panel.kernels_tab.mode.findData("first"))
    _wait(qtbot, panel)
    assert np.allclose(panel.kernels_tab.kernels.image.image[0:3, 0:3], w[0, 0])
    panel.kernels_tab.mode.setCurrentIndex(panel.kernels_tab.mode.findData("rgb"))
    _wait(qtbot, panel)
    assert panel.kernels_tab.kernels.image.image.shape == (11, 11, 3)
    panel.kernels_tab.count.setValue(4)
    _wait(qtbot, panel)
    assert panel.kernels_tab.kernels.image.image.shape == (7, 7, 3)


def test_copy_values(qtbot, panel, training):
    ck, ref = training
    panel.show_tensor(ck, ck.find(("model_state_dict", "0.bias")), None)
    QGuiApplication.clipboard().clear()
    panel.copy_values()  # the values are read first: copied when they arrive
    _wait(qtbot, panel)
    lines = QGuiApplication.clipboard().text().splitlines()
    expected = ref["model_state_dict"]["0.bias"].numpy()
    assert len(lines) == 8
    assert lines[0] == f"{float(expected[0]):.6g}"


def test_export_npy_writes_new_file_and_keeps_checkpoint(qtbot, panel, training, training_ckpt,
                                                         tmp_path, monkeypatch):
    ck, ref = training
    before = _sha(training_ckpt)
    target = tmp_path / "out" / "conv.npy"
    target.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(target), "NumPy array (*.npy)")))
    panel.show_tensor(ck, ck.find(("model_state_dict", "0.weight")), None)
    _show_tab(qtbot, panel, panel.values_tab)
    assert panel.export_npy() == str(target)
    assert panel.export_bar.isVisibleTo(panel)
    assert not panel.values_tab.export_button.isEnabled()  # one export at a time
    _wait(qtbot, panel)
    assert not panel.export_bar.isVisibleTo(panel)
    saved = np.load(target, allow_pickle=False)
    assert saved.dtype == np.float32
    assert np.array_equal(saved, ref["model_state_dict"]["0.weight"].numpy())
    assert _sha(training_ckpt) == before
    assert "Exported conv.npy" in panel.export_status.text()


def test_export_appends_npy_instead_of_overwriting(qtbot, panel, training, training_ckpt,
                                                    monkeypatch):
    ck, _ = training
    before = _sha(training_ckpt)
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(training_ckpt), "")))
    panel.show_tensor(ck, ck.find(("model_state_dict", "0.weight")), None)
    assert panel.export_npy() == str(training_ckpt) + ".npy"
    _wait(qtbot, panel)
    assert np.load(str(training_ckpt) + ".npy").shape == (8, 3, 3, 3)
    assert _sha(training_ckpt) == before


def test_export_refuses_checkpoint_named_npy(panel, tmp_path, monkeypatch):
    import torch

    path = tmp_path / "weights.npy"  # a checkpoint with an .npy name
    torch.save({"w": torch.ones(3)}, path)
    before = _sha(path)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(path), "")))
    with open_checkpoint(path) as ck:
        panel.show_tensor(ck, ck.find(("w",)), None)
        assert panel.export_npy() is None
    assert "Refused" in panel.export_status.text()
    assert _sha(path) == before


def test_export_bfloat16_as_float32(qtbot, panel, tmp_path, monkeypatch):
    import torch

    x = torch.randn(4, 5).to(torch.bfloat16)
    path = tmp_path / "bf.pth"
    torch.save({"x": x}, path)
    target = tmp_path / "x.npy"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "")))
    with open_checkpoint(path) as ck:
        panel.show_tensor(ck, ck.find(("x",)), None)
        assert panel.export_npy() == str(target)
        _wait(qtbot, panel)
        _show_tab(qtbot, panel, panel.values_tab)
        assert "bfloat16 shown as float32" in panel.values_tab.info.text()
    saved = np.load(target)
    assert saved.dtype == np.float32
    assert np.array_equal(saved, x.float().numpy())
    assert "bfloat16 shown as float32" in panel.export_status.text()


def test_export_cancelled(panel, training, monkeypatch):
    ck, _ = training
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: ("", "")))
    panel.show_tensor(ck, ck.find(("model_state_dict", "0.weight")), None)
    assert panel.export_npy() is None


def test_tied_weights_named_on_both_sides(panel, tmp_path):
    import torch

    w = torch.randn(6, 4)
    path = tmp_path / "tied.pth"
    torch.save({"embed.weight": w, "lm_head.weight": w}, path)
    with open_checkpoint(path) as ck:
        panel.show_tensor(ck, ck.find(("embed.weight",)), None)
        assert panel.overview_tab.field_labels["shared"].text().startswith("shares storage with lm_head.weight")
        panel.show_tensor(ck, ck.find(("lm_head.weight",)), None)
        assert panel.overview_tab.field_labels["shared"].text().startswith("shares storage with embed.weight")


def test_optimizer_state_named_after_parameter(panel, training):
    ck, _ = training
    panel.show_tensor(ck, ck.find(("optimizer_state_dict", "state", 4, "exp_avg")), None)
    assert panel.overview_tab.field_labels["optimizer"].text() == "5.weight (exp_avg)"
    panel.show_node(ck, ck.find(("optimizer_state_dict", "state", 0)))
    assert ("Optimizer state of", "0.weight") in panel.overview_tab.node_rows


def test_meta_tensor_has_clear_message(panel, tmp_path):
    import torch

    path = tmp_path / "meta.pth"
    torch.save({"m": torch.empty(3, 4, device="meta")}, path)
    with open_checkpoint(path) as ck:
        node = ck.find(("m",))
        panel.show_tensor(ck, node, None)
        assert panel.message.isVisibleTo(panel)
        assert "no data" in panel.message.text()
        assert _visible_tabs(panel) == ["Overview", "Histogram"]
        assert not panel.values_tab.export_button.isEnabled()


def test_show_node_scalars_strings_containers(panel, training, tmp_path):
    ck, _ = training
    panel.show_node(ck, ck.find(("epoch",)))
    assert "5" in panel.subtitle.text()
    assert _visible_tabs(panel) == ["Overview"]
    panel.show_node(ck, ck.find(("model_state_dict",)))
    assert "9 items" in panel.subtitle.text()
    text = panel.overview_tab.node_text.toPlainText()
    assert "0.weight: float32 [8, 3, 3, 3]" in text
    import torch

    path = tmp_path / "s.pth"
    torch.save({"note": "hello world", "flag": None}, path)
    with open_checkpoint(path) as ck2:
        panel.show_node(ck2, ck2.find(("note",)))
        assert panel.overview_tab.node_text.toPlainText() == "hello world"
        panel.show_node(ck2, ck2.find(("flag",)))
        assert panel.subtitle.text() == "None"


def test_show_node_object_of_whole_model(panel, tmp_path):
    import torch
    from torch import nn

    path = tmp_path / "whole.pth"
    torch.save(nn.Sequential(nn.Linear(2, 3)), path)
    with open_checkpoint(path) as ck:
        panel.show_node(ck, ck.root)
        assert "torch.nn.modules.container.Sequential" in panel.subtitle.text()
        assert "not executed" in panel.subtitle.text()
        assert "_modules" in panel.overview_tab.node_text.toPlainText()


def test_clear(panel, training):
    ck, _ = training
    panel.show_tensor(ck, ck.find(("model_state_dict", "0.weight")), None)
    panel.clear()
    assert panel.title.text() == "Nothing selected"
    assert _visible_tabs(panel) == ["Overview"]
    assert panel.values_tab.model.rowCount() == 0
    # stats arriving after clear are ignored
    panel.set_stats(compute_stats(ck, ck.find(("model_state_dict", "0.weight")).tensor))
    assert panel.histogram_tab.histogram.curve.getData()[1] is None or len(panel.histogram_tab.histogram.curve.getData()[1]) == 0


def test_a_failed_read_is_shown_in_the_panel(qtbot, panel, training_ckpt, tmp_path):
    import shutil

    path = tmp_path / "copy.pth"
    shutil.copy(training_ckpt, path)
    with open_checkpoint(path) as ck:
        panel.show_tensor(ck, ck.find(("model_state_dict", "5.weight")), None)
        path.write_bytes(b"not a checkpoint any more")  # the worker reopens it by path
        _show_tab(qtbot, panel, panel.values_tab)
        assert panel.message.isVisibleTo(panel)
        assert panel.message.text().startswith("The values cannot be read: CheckpointError: ")
        assert str(path) in panel.message.text()
        assert panel.values_tab.model.rowCount() == 0
        assert not panel.read_bar.isVisibleTo(panel)


def test_a_failed_export_is_shown_in_the_panel(qtbot, panel, training, tmp_path, monkeypatch):
    ck, _ = training
    target = tmp_path / "missing-folder" / "w.npy"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(target), "")))
    panel.show_tensor(ck, ck.find(("model_state_dict", "0.weight")), None)
    assert panel.export_npy() == str(target)
    _wait(qtbot, panel)
    assert panel.export_status.text().startswith("Export failed: FileNotFoundError: ")
    assert not target.exists()
    assert panel.values_tab.export_button.isEnabled()


def test_reading_shows_progress_and_can_be_cancelled(qtbot, panel, training):
    ck, ref = training
    panel.show_tensor(ck, ck.find(("model_state_dict", "5.weight")), None)
    panel.tabs.setCurrentWidget(panel.values_tab)
    assert panel.read_bar.isVisibleTo(panel) and panel.is_busy()
    panel.read_bar.cancel_button.click()
    assert not panel.read_bar.isVisibleTo(panel) and not panel.is_busy()
    assert panel.values_tab.info.text().startswith("Reading cancelled")
    qtbot.wait(300)  # whatever the cancelled job still sends is ignored
    assert panel.values_tab.model.rowCount() == 0
    panel.tabs.setCurrentWidget(panel.overview_tab)
    _show_tab(qtbot, panel, panel.values_tab)  # read again
    assert np.array_equal(panel.values_tab.model.block(),
                          ref["model_state_dict"]["5.weight"].numpy()[:, :MAX_COLS])


def test_a_slice_of_the_previous_selection_is_never_shown(qtbot, panel, training):
    ck, ref = training
    panel.show_tensor(ck, ck.find(("model_state_dict", "5.weight")), None)
    panel.tabs.setCurrentWidget(panel.values_tab)
    panel.show_tensor(ck, ck.find(("model_state_dict", "0.bias")), None)  # before any answer
    _wait(qtbot, panel)
    qtbot.wait(300)
    expected = ref["model_state_dict"]["0.bias"].numpy().reshape(-1, 1)
    assert np.array_equal(panel.values_tab.model.block(), expected)
