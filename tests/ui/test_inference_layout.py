"""The Inference view's layout and states, driven by a stand-in runner (no worker process):
the model list with library proposals and scores, the note naming the package that would
identify the file, the background index build (progress, Cancel, proposals read again), the
scripted default run that never asks (#17 item 3), a new run clearing the previous error and
grouped layers (#17 item 9), and plots and legends that fit 1024×700 (#17 item 6)."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox

from inspector.core.devices import Device
from inspector.core.inference import (
    ArchitectureChoice,
    InferenceFailure,
    InferenceOptions,
    Label,
    LoadReport,
    ModeResult,
    ModeSensitiveLayer,
    Predictions,
    Proposal,
    RunResult,
)
from inspector.core.jobs import JobProgress
from inspector.ui.inference import InferencePanel
from inspector.ui.inference import panel as panel_module
from inspector.ui.inference.layers import group_layers
from inspector.ui.inference.results import InferenceResults

ROOT = Path(__file__).resolve().parents[2]
CPU = Device("cpu", "CPU", 8 << 30, ("float32",))


class StandInJobs(QObject):
    """Records what the panel submits; the test answers with the runner's signals."""

    sig_item = Signal(int, object)
    sig_finished = Signal(int, bool, object)
    sig_crashed = Signal(int, str)

    def __init__(self):
        super().__init__()
        self.submitted: list[tuple[int, str, dict]] = []
        self.cancelled: list[int] = []

    def submit(self, target: str, kwargs: dict) -> int:
        self.submitted.append((len(self.submitted) + 1, target, dict(kwargs)))
        return len(self.submitted)

    def cancel(self, job_id: int) -> None:
        self.cancelled.append(job_id)

    def last(self, target: str) -> int:
        return next(j for j, t, _k in reversed(self.submitted) if t == target)

    def answer(self, job_id: int, *items, cancelled: bool = False) -> None:
        for item in items:
            self.sig_item.emit(job_id, item)
        self.sig_finished.emit(job_id, cancelled, None)


def options(**changes) -> InferenceOptions:
    base = dict(kind="state_dict", kind_text="state_dict", globals=(),
                architectures=(ArchitectureChoice("plain-mlp", "Linear blocks", 0.25, {}, None),
                               ArchitectureChoice("demo-cnn", "Demo CNN", 0.0, {}, None)),
                proposed=None, devices=(CPU,))
    base.update(changes)
    return InferenceOptions(**base)


PROPOSALS = (
    Proposal("timm:resnet18", "timm", "resnet18", 0.93, False, {"num_classes": 10},
             "timm resnet18"),
    Proposal("torchvision:resnet18", "torchvision", "resnet18", 1.0, True,
             {"num_classes": 10}, "torchvision resnet18"),
    Proposal("hf:ResNetForImageClassification", "transformers", "ResNetForImageClassification",
             0.4, False, {}, ""),
)


@pytest.fixture
def stand_in(qtbot, settings):
    jobs = StandInJobs()

    def make(path="/tmp/model.pth") -> InferencePanel:
        panel = InferencePanel(path, settings, jobs)
        qtbot.addWidget(panel)
        panel.resize(1000, 620)
        panel.show()
        return panel

    return jobs, make


# ---- The model list
def test_proposals_are_listed_best_exact_first_and_preselected(stand_in):
    jobs, make = stand_in
    panel = make()
    jobs.answer(jobs.last(panel_module.OPTIONS_TARGET), options(
        proposals=PROPOSALS, proposed="torchvision:resnet18", input_kind="image",
        sample_images=("/samples/a.png", "/samples/b.png")))
    c = panel.controls
    assert c.architecture_keys() == [
        "spec:torchvision:resnet18", "spec:timm:resnet18", "spec:hf:ResNetForImageClassification",
        "builtin:plain-mlp", "builtin:demo-cnn", "code"]
    assert c.architecture_key() == "spec:torchvision:resnet18"
    rows = [(c.arch_list.topLevelItem(i).text(1), c.arch_list.topLevelItem(i).text(2))
            for i in range(4)]
    assert rows == [("torchvision", "exact"), ("timm", "93 %"), ("HF", "40 %"),
                    ("built-in", "25 %")]
    assert c.arch_list.currentItem().font(0).bold()
    assert c.kwargs_note.text() == "Inferred from the weights: num_classes=10"
    assert c.kwargs_edit.placeholderText().startswith("none")
    assert c.inputs.input_kind == "image" and not c.inputs.image_combo.isHidden()
    config = c.run_config("/tmp/model.pth")
    assert config.architecture == "torchvision:resnet18"
    assert config.arch_kwargs == {"num_classes": 10}
    assert config.image == "/samples/a.png" and config.text is None
    # another candidate: its own input kind; a built-in is fed a tensor
    assert c.set_architecture("plain-mlp")
    assert c.inputs.input_kind == "tensor" and not c.inputs.shape_edit.isHidden()
    assert c.library_note.isHidden()


def test_missing_libraries_are_named(stand_in):
    jobs, make = stand_in
    panel = make()
    note = ("torchvision, timm are not available: install checkpoint-inspector[models] to "
            "identify checkpoints of those libraries")
    jobs.answer(jobs.last(panel_module.OPTIONS_TARGET), options(library_note=note))
    label = panel.controls.library_note
    assert not label.isHidden()
    assert label.text().startswith("Torchvision, timm are not available: install "
                                   "checkpoint-inspector[models]")


def test_index_is_built_in_the_runner_with_progress_then_proposals_refresh(stand_in):
    jobs, make = stand_in
    panel = make()
    jobs.answer(jobs.last(panel_module.OPTIONS_TARGET), options(index_missing=("timm",)))
    index_job = jobs.last(panel_module.INDEX_TARGET)
    assert panel.is_indexing()
    c = panel.controls
    assert not c.index_row.isHidden()
    jobs.sig_item.emit(index_job, JobProgress(40, 100, "timm: 40 of 100 models"))
    assert c.index_bar.maximum() == 100 and c.index_bar.value() == 40
    assert c.index_label.text() == "Timm: 40 of 100 models…"
    # Run during the build waits for the refreshed proposals
    assert panel.run()
    assert not any(t == panel_module.RUN_TARGET for _j, t, _k in jobs.submitted)
    assert "Waiting for the index" in c.status_label.text()
    jobs.answer(index_job)
    assert c.index_row.isHidden()
    refresh = jobs.last(panel_module.OPTIONS_TARGET)
    assert refresh != 1
    jobs.answer(refresh, options(proposals=PROPOSALS[:1], proposed="timm:resnet18"))
    assert c.architecture_key() == "spec:timm:resnet18"  # the new best replaces the default
    run_job, target, kwargs = jobs.submitted[-1]
    assert target == panel_module.RUN_TARGET
    assert kwargs["config"].architecture == "timm:resnet18"


def test_cancelling_the_index_build_keeps_the_list_and_says_so(stand_in):
    jobs, make = stand_in
    panel = make()
    jobs.answer(jobs.last(panel_module.OPTIONS_TARGET), options(index_missing=("timm",)))
    index_job = jobs.last(panel_module.INDEX_TARGET)
    panel.controls.index_cancel.click()
    assert jobs.cancelled == [index_job]
    jobs.answer(index_job, cancelled=True)
    c = panel.controls
    assert not panel.is_indexing()
    assert "not built (cancelled)" in c.index_label.text() and c.index_bar.isHidden()
    assert c.architecture_key() == "builtin:plain-mlp"


# ---- Stale text (#17 item 9)
def test_a_new_run_clears_the_previous_error(stand_in):
    jobs, make = stand_in
    panel = make()
    jobs.answer(jobs.last(panel_module.OPTIONS_TARGET), options())
    assert panel.run()
    first = jobs.last(panel_module.RUN_TARGET)
    jobs.answer(first, InferenceFailure("ModelCodeError", "the model's forward raised boom", ""))
    assert panel.state() == "failed" and "boom" in panel.message_text()
    assert panel.run()
    assert panel.message_text() == ""  # not shown as this run's error
    assert panel.results.pages.currentWidget() is panel.results.empty_page
    assert panel.verdict().startswith("Running")


def test_identical_layers_share_one_row():
    bn = ("in train mode it normalizes with the current batch's mean and variance and updates "
          "its running statistics; in eval mode it uses the stored running statistics")
    layers = [ModeSensitiveLayer(f"layer{i}.bn", "BatchNorm2d", bn, "norm") for i in range(20)]
    layers.insert(3, ModeSensitiveLayer("head.drop", "Dropout", "in train mode it zeroes (p=0.5)",
                                        "dropout"))
    layers.append(ModeSensitiveLayer("tail.drop", "Dropout", "in train mode it zeroes (p=0.1)",
                                     "dropout"))
    groups = group_layers(layers)
    assert [(g.type, len(g.names)) for g in groups] == [
        ("BatchNorm2d", 20), ("Dropout", 1), ("Dropout", 1)]
    assert groups[0].names_text() == "layer0.bn, layer1.bn, layer2.bn and 17 more (20 layers)"
    assert "layer19.bn" in groups[0].tooltip()


# ---- The scripted default run never asks (#17 item 3)
def test_scripted_default_run_shows_why_instead_of_asking(stand_in, monkeypatch):
    monkeypatch.setattr(QMessageBox, "exec", lambda *a: pytest.fail("a scripted run asked"))
    jobs, make = stand_in
    panel = make("/tmp/scripted.pt")
    finished = []
    panel.sig_run_finished.connect(finished.append)
    assert panel.start_default_run()  # waits for the options
    jobs.answer(jobs.last(panel_module.OPTIONS_TARGET), options(
        kind="torchscript", kind_text="TorchScript archive", architectures=()))
    assert finished == ["refused"]
    assert "a scripted run never runs code from a file" in panel.message_text()
    assert not any(t == panel_module.RUN_TARGET for _j, t, _k in jobs.submitted)


def test_scripted_default_run_does_not_ask_about_missing_weights(stand_in, monkeypatch):
    monkeypatch.setattr(QMessageBox, "exec", lambda *a: pytest.fail("a scripted run asked"))
    jobs, make = stand_in
    panel = make()
    jobs.answer(jobs.last(panel_module.OPTIONS_TARGET), options())
    finished = []
    panel.sig_run_finished.connect(finished.append)
    assert panel.start_default_run()
    jobs.answer(jobs.last(panel_module.RUN_TARGET), InferenceFailure(
        "RandomInitError", "1 weight the model needs is missing", "", hint="random-init",
        keys=("fc.bias",)))
    assert finished == ["failed"]
    assert "missing" in panel.message_text()


@pytest.fixture
def torchscript_file(tmp_path):
    import torch
    from torch import nn

    path = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(nn.Sequential(nn.Linear(3, 2))).save(str(path))
    return path


def test_screenshot_of_the_inference_tab_of_a_torchscript_file_exits(torchscript_file,
                                                                     tmp_path):
    out = tmp_path / "shot.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), str(torchscript_file), "--tab", "inference",
         "--screenshot", str(out), "--size", "1024x700", "--no-stats"],
        capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert out.exists()


# ---- Fits 1024×700 (#17 item 6)
def _result() -> RunResult:
    rng = np.random.default_rng(0)
    outputs = rng.normal(size=(20, 4, 10)).astype(np.float32)
    labels = tuple(Label(name, i, p) for i, (name, p) in enumerate(
        [("golden retriever", 0.4), ("Labrador retriever", 0.2), ("tennis ball", 0.1),
         ("kuvasz", 0.05), ("Great Pyrenees", 0.04)]))
    train = tuple(labels for _ in range(20))
    return RunResult(
        device="cpu", dtype="float32", architecture="resnet18", load=LoadReport(loaded_keys=3),
        mode_sensitive_layers=(), input_shape=(3, 32, 32), input_description="input",
        output_shape=(4, 10),
        train=ModeResult(20, 0.1, 0.5, 1.0, outputs), eval=ModeResult(20, 0.0, 0.0, 1.0,
                                                                      outputs[:1].repeat(20, 0)),
        eval_vs_train_mean=0.1, bn_running_stats_drift=0.0, weights_unchanged=True,
        predictions=Predictions("classes", labels, train, 0), input_kind="image")


@pytest.mark.parametrize("size", [(680, 420), (1560, 800)])  # the results side at 1024×700, 1920×1080
def test_plots_and_legends_fit_the_results_area(qtbot, size):
    results = InferenceResults()
    qtbot.addWidget(results)
    results.resize(*size)
    results.show()
    results.show_result(_result())
    assert results.tabs.currentWidget() is results.predictions
    qtbot.wait(50)
    for tab in (results.predictions, results.output_plots):
        results.tabs.setCurrentWidget(tab)
        qtbot.wait(50)
    plots = [results.outputs_plot, results.spread_plot, results.predictions.bars_plot]
    for plot in plots:
        width = plot.viewport().width()
        legend = plot.legend.mapRectToScene(plot.legend.boundingRect())
        assert legend.right() <= width + 1, (size, plot.item.titleLabel.text)
        assert legend.bottom() <= plot.viewport().height() + 1
        title = plot.item.titleLabel
        assert title.mapRectToScene(title.boundingRect()).width() <= width + 1
    narrow = size[0] < 1000
    assert results.outputs_plot.legend_columns() == (1 if narrow else 3)
    assert (results.predictions.split.orientation().name == "Vertical") == narrow


def test_prediction_bars_use_each_train_runs_probability_of_evals_classes(qtbot):
    from dataclasses import replace

    from inspector.ui.inference.plots import PredictionsView

    r = _result()
    p = r.predictions
    # train run 0 has another top-5; its probabilities of eval's classes come with train_probs
    other = tuple(Label(f"other {i}", 100 + i, 0.1) for i in range(5))
    probs = tuple((0.01, 0.02, 0.03, 0.04, 0.05) if i == 0 else
                  tuple(lab.probability for lab in p.eval) for i in range(20))
    with_probs = replace(r, predictions=replace(p, train=(other,) + p.train[1:],
                                                train_probs=probs, top1_changes=1))
    view = PredictionsView()
    qtbot.addWidget(view)
    assert view.show_result(with_probs)
    heights = view.train_bars.opts["height"]
    assert len(heights) == 20 * 5 and min(heights) > 0  # every bar known
    rows = view.row_texts()
    assert rows[0][0] == "1. golden retriever" and rows[0][3] == "19 of 20"
    assert "below the top" not in rows[0][2]
    assert "changes in 1 of 20 train runs" in view.caption_text()
    # without train_probs, a class outside a run's own top-5 is said to be below it
    assert view.show_result(replace(with_probs, predictions=replace(
        with_probs.predictions, train_probs=())))
    assert view.row_texts()[0][2].endswith("below the top 5 in 1 run")
