"""The Inference view: choices, runs in the worker process, results, errors, trust, settings."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QLabel, QMessageBox

from inspector.ui.inference import ARCH_CODE, ARCH_FILE, InferencePanel, ask_trust
from inspector.ui.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "resources" / "demo" / "demo_epoch_3.pth"
RUN_TIMEOUT = 120_000  # the worker process imports torch first; the machine may be busy


@pytest.fixture(scope="module")
def jobs(qapp):
    """The runner the panels are given: one worker process for the whole module (each spawn
    imports torch: seconds), shut down at the end."""
    from inspector.ui.workers import ProcessJobs

    service = ProcessJobs(None, name="inspector-inference-tests")
    yield service
    service.shutdown()


@pytest.fixture
def make_panel(qtbot, settings, jobs):
    """A shown InferencePanel for a path whose choices have been read from the file."""

    def make(path, settings_=None, ready: bool = True) -> InferencePanel:
        panel = InferencePanel(str(path), settings_ or settings, jobs)
        qtbot.addWidget(panel)
        panel.resize(1300, 560)
        panel.show()  # showing reads the file's options in the worker
        if ready:
            qtbot.waitUntil(panel.is_ready, timeout=RUN_TIMEOUT)
        return panel

    return make


def run_and_wait(qtbot, panel: InferencePanel) -> str:
    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT) as blocker:
        assert panel.run()
    return blocker.args[0]


def combo_names(controls) -> list:
    return controls.architecture_keys()


# ---- Choices
def test_demo_preselects_the_proposed_architecture(make_panel):
    panel = make_panel(DEMO)
    assert panel.controls.architecture_key() == "builtin:demo-cnn"
    item = panel.controls.arch_list.currentItem()
    assert (item.text(0), item.text(1), item.text(2)) == ("demo-cnn", "built-in", "exact")
    assert item.font(0).bold()  # the proposed row
    assert panel.controls.architecture_keys()[0] == "builtin:demo-cnn"  # best match first
    assert ARCH_FILE not in combo_names(panel.controls)  # a state_dict has no code to trust
    assert panel.controls.trust_button.isHidden()
    assert ARCH_CODE in combo_names(panel.controls)
    assert panel.controls.shape_edit.placeholderText() == "automatic: 3×32×32"
    # the inferred sizes are a note, not a placeholder that looks like a filled-in value
    assert panel.controls.kwargs_edit.text() == ""
    assert panel.controls.kwargs_edit.placeholderText().startswith("none")
    assert "in_channels" not in panel.controls.kwargs_edit.placeholderText()
    assert panel.controls.kwargs_note.text().startswith("Inferred from the weights: ")
    assert "in_channels=3" in panel.controls.kwargs_note.text()
    assert panel.controls.runs_spin.value() == 20 and panel.controls.batch_spin.value() == 4


def test_device_combo_lists_only_available_devices(make_panel):
    from inspector.core.devices import list_devices

    panel = make_panel(DEMO)
    available = list_devices()
    assert panel.controls.devices() == [d.name for d in available]
    assert panel.controls.devices()[0] == "cpu"
    import torch

    if not torch.cuda.is_available():
        assert not any(name.startswith("cuda") for name in panel.controls.devices())
    if not (torch.backends.mps.is_available()):
        assert "mps" not in panel.controls.devices()
    dtypes = [panel.controls.dtype_combo.itemText(i) for i in range(panel.controls.dtype_combo.count())]
    assert dtypes == list(available[0].dtypes)


@pytest.mark.gpu
@pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="needs CUDA")
def test_cuda_device_is_offered_with_name_and_memory_and_runs(qtbot, make_panel):
    panel = make_panel(DEMO)
    index = panel.controls.device_combo.findData("cuda:0")
    assert index >= 0
    assert "GiB" in panel.controls.device_combo.itemText(index)
    panel.controls.device_combo.setCurrentIndex(index)
    assert run_and_wait(qtbot, panel) == "done"
    assert panel.result().device == "cuda:0"
    assert panel.result().eval.spread == 0


def test_architecture_choice_persists_in_a_new_settings_instance(make_panel, settings_path,
                                                                 state_dict_ckpt, tmp_path):
    first = Settings(QSettings(settings_path, QSettings.Format.IniFormat))
    panel = make_panel(DEMO, first)
    assert panel.controls.set_architecture("mlp")
    panel.controls.kwargs_edit.setText('{"sizes": [3072, 10]}')
    panel.controls.kwargs_edit.editingFinished.emit()
    other = make_panel(state_dict_ckpt, first)
    other.controls.set_user_code(str(tmp_path / "model.py"), "Net")
    first.sync()
    del first

    again = Settings(QSettings(settings_path, QSettings.Format.IniFormat))
    assert again.inference_choice(DEMO)["architecture"] == "builtin:mlp"
    reopened = make_panel(DEMO, again)
    assert reopened.controls.architecture_key() == "builtin:mlp"
    assert reopened.controls.kwargs_edit.text() == '{"sizes": [3072, 10]}'
    reopened_code = make_panel(state_dict_ckpt, again)
    assert reopened_code.controls.architecture_key() == ARCH_CODE
    assert reopened_code.controls.code_edit.text() == str(tmp_path / "model.py")
    assert reopened_code.controls.class_edit.text() == "Net"
    assert reopened_code.controls.code_row.isVisibleTo(reopened_code)
    assert "trust" not in Path(settings_path).read_text(encoding="utf-8").lower()


# ---- Runs
def test_demo_run_on_cpu_shows_eval_identical_and_train_spread(qtbot, make_panel):
    panel = make_panel(DEMO)
    assert run_and_wait(qtbot, panel) == "done"
    r = panel.result()
    assert r.eval.spread == 0 and r.eval.max_run_diff == 0
    assert r.train.spread > 0
    assert r.weights_unchanged
    verdict = panel.verdict()
    assert verdict.startswith("In eval mode the 20 runs are identical; in train mode they "
                              "spread by")
    assert "Dropout (classifier.1)" in verdict and "BatchNorm" in verdict
    assert panel.results.pages.currentWidget() is panel.results.results_page
    # plots have data: 10 outputs of sample 0, every train run, the spread bars
    x, y = panel.results.output_plots.eval_curve.getData()
    assert len(x) == 10 and len(y) == 10
    _x, lo = panel.results.output_plots.train_min_curve.getData()
    _x, hi = panel.results.output_plots.train_max_curve.getData()
    assert (hi >= lo).all() and (hi > lo).any()
    assert len(panel.results.output_plots.train_lines.getData()[0]) == 20 * 11  # 20 runs, NaN-separated
    assert max(panel.results.output_plots.train_spread_bars.opts["height"]) > 0
    _x, eval_std = panel.results.output_plots.eval_spread_curve.getData()
    assert (eval_std == 0).all()
    assert panel.results.output_plots.gap_curve.getData()[1].max() > 0
    # layers, load report, timings
    table = panel.results.layers_table
    # the two BatchNorm layers say the same thing: one row names both
    assert [row[:2] for row in table.row_texts()] == [
        ("features.1, features.5", "BatchNorm2d ×2"), ("classifier.1", "Dropout")]
    assert "passes the input through unchanged" in table.item(1, 2).text()
    report = panel.results.load_view.toPlainText()
    assert "16 tensors loaded into demo-cnn" in report
    assert "in memory; the file is not changed" in report
    assert "model_state_dict" in report
    timings = panel.timings.timing_label.text()
    assert "would have drifted by up to" in timings and "Weights unchanged ✓" in timings
    assert "cpu, float32, 20 runs per mode" in timings
    assert panel.controls.status_label.text() == "Done."
    assert panel.controls.run_button.isEnabled() and not panel.is_running()


def test_model_without_dropout_or_batchnorm_shows_no_spread(qtbot, make_panel,
                                                            state_dict_ckpt):
    panel = make_panel(state_dict_ckpt)
    assert panel.controls.architecture_key() == "builtin:plain-mlp"
    panel.controls.runs_spin.setValue(5)
    assert run_and_wait(qtbot, panel) == "done"
    r = panel.result()
    assert r.train.spread == 0 and r.eval.spread == 0 and r.eval_vs_train_mean == 0
    assert "no Dropout or BatchNorm layers" in panel.verdict()
    assert "In eval mode the 5 runs are identical; in train mode they are identical too" \
        in panel.verdict()
    assert panel.results.layers_table.item(0, 0).text().startswith("None")
    assert "No BatchNorm running statistics" in panel.timings.timing_label.text()
    assert max(panel.results.output_plots.train_spread_bars.opts["height"]) == 0


def test_key_fixes_are_reported(qtbot, make_panel, tmp_path):
    import torch
    from torch import nn

    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    path = tmp_path / "ddp.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, path)
    panel = make_panel(path)
    assert panel.controls.architecture_key() == "builtin:plain-mlp"
    panel.controls.runs_spin.setValue(2)
    assert run_and_wait(qtbot, panel) == "done"
    report = panel.results.load_view.toPlainText()
    assert "stripped the 'module.' prefix from 4 keys" in report
    assert "in memory; the file is not changed" in report


def test_user_code_architecture_runs(qtbot, make_panel, state_dict_ckpt, tmp_path):
    code = tmp_path / "my_model.py"
    code.write_text(textwrap.dedent("""
        from torch import nn

        class Net(nn.Sequential):
            def __init__(self, hidden=8, p=0.5):
                super().__init__(nn.Linear(4, hidden), nn.Dropout(p), nn.Linear(hidden, 2))
    """))
    panel = make_panel(state_dict_ckpt)
    panel.controls.set_user_code(str(code), "Net")
    panel.controls.kwargs_edit.setText('{"p": 0.3}')
    panel.controls.shape_edit.setText("4")
    panel.controls.runs_spin.setValue(8)
    assert panel.controls.architecture_spec() == f"{code}:Net"
    assert run_and_wait(qtbot, panel) == "done"
    r = panel.result()
    assert r.architecture == f"{code}:Net"
    assert r.train.spread > 0 and r.eval.spread == 0
    assert "Dropout (1)" in panel.verdict()
    assert list(r.input_shape) == [4, 4]


def test_bad_user_code_shows_its_traceback_and_the_panel_survives(qtbot, make_panel,
                                                                   state_dict_ckpt, tmp_path):
    code = tmp_path / "broken_model.py"
    code.write_text(textwrap.dedent("""
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                raise ValueError("boom from the user's constructor")
    """))
    panel = make_panel(state_dict_ckpt)
    panel.controls.set_user_code(str(code), "Net")
    assert run_and_wait(qtbot, panel) == "failed"
    assert panel.results.pages.currentWidget() is panel.results.error_page
    text = panel.message_text()
    assert "raised ValueError: boom from the user's constructor" in text
    assert "Traceback (most recent call last)" in panel.results.traceback_edit.toPlainText()
    assert "broken_model.py" in panel.results.traceback_edit.toPlainText()
    assert panel.results.traceback_edit.isVisibleTo(panel)
    assert panel.results.traceback_edit.isReadOnly()
    assert panel.results.traceback_edit.font().fixedPitch() or \
        panel.results.traceback_edit.font().styleHint() == panel.results.traceback_edit.font().StyleHint.Monospace
    # the same panel (and worker) still runs a working choice
    panel.controls.set_architecture("plain-mlp")
    panel.controls.runs_spin.setValue(2)
    assert run_and_wait(qtbot, panel) == "done"
    assert panel.results.pages.currentWidget() is panel.results.results_page


def test_a_failing_forward_names_the_shape_field(qtbot, make_panel, state_dict_ckpt,
                                                 tmp_path):
    code = tmp_path / "reshaping_model.py"
    code.write_text(textwrap.dedent("""
        from torch import nn

        class Net(nn.Sequential):
            def __init__(self):
                super().__init__(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))

            def forward(self, x):
                return super().forward(x).view(3, -1, 7)
    """))
    panel = make_panel(state_dict_ckpt)
    panel.controls.set_user_code(f"{code}:Net")
    assert run_and_wait(qtbot, panel) == "failed"
    text = panel.message_text()
    assert "forward pass with input [4, 4] failed" in text
    assert "give another shape in the Shape field" in text and "--input-shape" not in text
    assert "reshaping_model.py" in panel.results.traceback_edit.toPlainText()


def test_missing_class_name_and_bad_kwargs_are_reported_without_running(qtbot, make_panel,
                                                                       state_dict_ckpt):
    panel = make_panel(state_dict_ckpt)
    panel.controls.set_user_code("some_model.py", "")
    with qtbot.waitSignal(panel.sig_run_finished) as blocker:
        assert not panel.run()
    assert blocker.args == ["failed"]
    assert "type the name of the model class" in panel.message_text()
    panel.controls.set_architecture("plain-mlp")
    panel.controls.kwargs_edit.setText("{sizes: [4]}")
    with qtbot.waitSignal(panel.sig_run_finished):
        assert not panel.run()
    assert "kwargs are not valid JSON" in panel.message_text()


def test_cancel_stops_a_long_run(qtbot, make_panel):
    panel = make_panel(DEMO)
    panel.controls.runs_spin.setValue(1000)
    panel.controls.batch_spin.setValue(64)
    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT) as blocker:
        assert panel.run()
        qtbot.waitUntil(lambda: "pass" in panel.controls.status_label.text(), timeout=RUN_TIMEOUT)
        panel.cancel()
    assert blocker.args == ["cancelled"]
    assert panel.result() is None and panel.controls.status_label.text() == "Cancelled."


# ---- Trust
@pytest.fixture
def whole_model_pickle(tmp_path):
    """A benign whole-model pickle: torch.save(nn.Linear(4, 2))."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    path = tmp_path / "whole_linear.pt"
    torch.save(nn.Linear(4, 2), path)
    return path


def test_whole_model_pickle_needs_an_explicit_yes(qtbot, make_panel, whole_model_pickle,
                                                  monkeypatch, jobs):
    asked = []

    def answer(value):
        def fake(box):
            asked.append(box.text())
            assert box.defaultButton() is box.button(QMessageBox.StandardButton.No)
            assert box.textFormat() == Qt.TextFormat.PlainText
            return value.value
        return fake

    panel = make_panel(whole_model_pickle)
    assert panel.controls.architecture_key() == ARCH_FILE  # no built-in holds these weights
    assert not panel.controls.trust_button.isHidden()
    assert "torch.nn.modules.linear.Linear" in panel.controls.arch_note.text()

    monkeypatch.setattr(QMessageBox, "exec", answer(QMessageBox.StandardButton.No))
    submitted = []
    monkeypatch.setattr(jobs, "submit", lambda *a, **k: submitted.append(a) or 0)
    with qtbot.waitSignal(panel.sig_run_finished) as blocker:
        assert not panel.run()
    assert blocker.args == ["refused"]
    assert not submitted  # nothing ran
    assert "torch.nn.modules.linear.Linear" in asked[0]
    assert "whole-model pickle" in asked[0]
    assert "Not run: you did not trust this file" in panel.message_text()
    assert panel.result() is None
    monkeypatch.undo()

    monkeypatch.setattr(QMessageBox, "exec", answer(QMessageBox.StandardButton.Yes))
    panel.controls.runs_spin.setValue(3)
    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT) as blocker:
        panel.controls.trust_button.click()
    assert blocker.args == ["done"]
    assert len(asked) == 2
    r = panel.result()
    assert r.architecture == "Linear (from the file, trusted)"
    assert r.train.spread == 0 and r.eval.spread == 0
    # the trust was for that run only: the next run asks again
    monkeypatch.setattr(QMessageBox, "exec", answer(QMessageBox.StandardButton.No))
    with qtbot.waitSignal(panel.sig_run_finished) as blocker:
        panel.run()
    assert blocker.args == ["refused"] and len(asked) == 3


def test_whole_model_pickle_loads_into_a_builtin_without_trust(qtbot, make_panel, tmp_path,
                                                                monkeypatch):
    import torch
    from torch import nn

    path = tmp_path / "whole_mlp.pt"
    torch.save(nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)), path)
    monkeypatch.setattr(QMessageBox, "exec",
                        lambda *a: pytest.fail("no trust question for a built-in"))
    panel = make_panel(path)
    assert ARCH_FILE in combo_names(panel.controls)
    assert panel.controls.architecture_key() == "builtin:plain-mlp"
    panel.controls.runs_spin.setValue(2)
    assert run_and_wait(qtbot, panel) == "done"
    assert "without running its code" in panel.controls.arch_note.text()
    assert "its code was not run" in panel.results.load_view.toPlainText()


# ---- In the window and from the command line
def test_window_adds_an_inference_view(qtbot, make_window, open_file):
    w = make_window()
    w.show()
    view = open_file(w, DEMO)
    assert "Inference" in view.view_names()
    panel = view.inference_panel
    assert not panel.is_ready()  # nothing is read until the view is shown
    assert view.select_view("inference")
    qtbot.waitUntil(panel.is_ready, timeout=RUN_TIMEOUT)
    assert panel.controls.architecture_key() == "builtin:demo-cnn"
    panel.controls.runs_spin.setValue(3)
    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT) as blocker:
        panel.run_shortcut.activated.emit()  # Ctrl+R
    assert blocker.args == ["done"]


def test_screenshot_of_the_inference_tab_runs_the_default_comparison(tmp_path):
    out = tmp_path / "inference.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), str(DEMO), "--tab", "inference",
         "--screenshot", str(out), "--size", "1400x900"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert out.exists() and out.stat().st_size > 20_000
    from PySide6.QtGui import QImage

    image = QImage(str(out))
    assert (image.width(), image.height()) == (1400, 900)


# ---- Text from the file is plain text
MARKUP = "<h1 style='color:green'>✔ Verified by Checkpoint Inspector</h1>"


def test_trust_question_lists_globals_as_plain_text(monkeypatch, qapp):
    seen = []

    def fake(box):
        seen.append((box.text(), box.textFormat()))
        return QMessageBox.StandardButton.No.value

    monkeypatch.setattr(QMessageBox, "exec", fake)
    assert not ask_trust(None, f"/tmp/{MARKUP}.pt", "whole-model pickle", [MARKUP, "os.system"])
    text, fmt = seen[0]
    assert fmt == Qt.TextFormat.PlainText
    assert f"• {MARKUP}" in text and "• os.system" in text


def test_layer_and_key_names_from_the_file_are_shown_as_plain_text(qtbot, make_panel,
                                                                    tmp_path):
    import torch

    code = tmp_path / "markup_model.py"
    code.write_text(textwrap.dedent(f"""
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 2)
                self.add_module({MARKUP!r}, nn.Dropout(0.5))

            def forward(self, x):
                return getattr(self, {MARKUP!r})(self.fc(x))
    """))
    path = tmp_path / "markup.pth"
    torch.save({"fc.weight": torch.ones(2, 4), "fc.bias": torch.zeros(2),
                MARKUP: torch.zeros(1)}, path)
    panel = make_panel(path)
    panel.controls.set_user_code(f"{code}:Net")
    panel.controls.runs_spin.setValue(3)
    assert run_and_wait(qtbot, panel) == "done"
    assert f"Dropout ({MARKUP})" in panel.verdict()
    assert panel.results.layers_table.item(0, 0).text() == MARKUP
    report = panel.results.load_view.toPlainText()
    assert MARKUP in report  # escaped, so shown as the characters it is
    assert "Unexpected keys (1)" in report
    for label in panel.findChildren(QLabel):
        if "<h1" in label.text():
            assert label.textFormat() == Qt.TextFormat.PlainText, label.objectName()


# ---- Bounded by the file, not by what it claims
def test_a_file_that_only_claims_a_huge_model_is_refused_naming_the_cap(qtbot, make_panel,
                                                                        tmp_path):
    from tests.inference_corpus import write_stride0_mlp

    panel = make_panel(write_stride0_mlp(tmp_path / "claims.pth"))
    assert panel.controls.architecture_key() == "builtin:plain-mlp"
    assert run_and_wait(qtbot, panel) == "failed"
    assert "would take 1024.0 TiB in memory, more than the 4.0 GiB a run may use" in \
        panel.message_text()
    assert panel.results.pages.currentWidget() is panel.results.error_page


def test_input_fields_persist_per_file(make_panel, settings_path):
    first = Settings(QSettings(settings_path, QSettings.Format.IniFormat))
    panel = make_panel(DEMO, first)
    panel.controls.inputs.extra_edit.setText('{"sr": 16000}')
    panel.controls.inputs.extra_edit.editingFinished.emit()
    first.sync()
    del first

    again = Settings(QSettings(settings_path, QSettings.Format.IniFormat))
    assert again.inference_choice(DEMO)["extra_args"] == '{"sr": 16000}'
    reopened = make_panel(DEMO, again)
    assert reopened.controls.inputs.extra_edit.text() == '{"sr": 16000}'
