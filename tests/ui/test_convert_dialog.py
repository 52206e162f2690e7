"""File ▸ Convert…: the dialog runs the conversion as a worker-process job, shows progress
and the report, and Cancel leaves nothing behind."""

from __future__ import annotations

import os

import pytest

from tests.ui.paused_jobs import pause_runner

torch = pytest.importorskip("torch")


def test_convert_action_writes_and_verifies(make_window, open_file, qtbot, training_ckpt,
                                            tmp_path):
    from safetensors.torch import load_file

    window = make_window()
    open_file(window, training_ckpt)
    assert window.act_convert in window.file_menu.actions()
    window.act_convert.trigger()
    dialog = window.convert_dialog
    assert dialog.isVisible()
    assert dialog.source_edit.text() == str(training_ckpt)
    assert dialog.dest_edit.text() == str(tmp_path / "training.safetensors")  # suggested
    dialog.dtype_combo.setCurrentIndex(dialog.dtype_combo.findData("float16"))
    with qtbot.waitSignal(dialog.sig_finished, timeout=60_000) as finished:
        dialog.convert_button.click()
        assert dialog.is_running() and dialog.cancel_button.isEnabled()
    assert finished.args == ["done"]
    assert dialog.status_text().startswith("Converted and verified")
    assert "verify:   OK" in dialog.report_text() and "cast to float16" in dialog.report_text()
    assert dialog.progress.value() == dialog.progress.maximum()
    src = torch.load(training_ckpt, weights_only=True)["model_state_dict"]
    loaded = load_file(tmp_path / "training.safetensors")
    assert torch.equal(loaded["0.weight"], src["0.weight"].half())
    assert dialog.open_button.isEnabled()
    with qtbot.waitSignal(window.sig_opened, timeout=15_000):
        dialog.open_button.click()
    # an error the user can fix is shown, not raised
    with qtbot.waitSignal(dialog.sig_finished, timeout=60_000) as again:
        dialog.start()
    assert again.args == ["failed"] and "already exists" in dialog.report_text()


def test_cancel_leaves_no_files_and_bad_options_are_refused(make_window, qtbot, monkeypatch,
                                                            tmp_path):
    from inspector.ui.convert import convert_runner, open_convert_dialog

    src = tmp_path / "big.pth"
    torch.save({f"w{i}": torch.randn(32, 32) for i in range(6)}, src)
    window = make_window()
    dialog = open_convert_dialog(window, str(src))
    dialog.kind_combo.setCurrentIndex(dialog.kind_combo.findData("sharded"))
    assert dialog.shard_edit.isEnabled()
    dest = tmp_path / "big-safetensors"
    assert dialog.dest_edit.text() == str(dest)
    dialog.shard_edit.setText("lots")
    assert dialog.start() is None and "Max shard size" in dialog.status_text()
    dialog.shard_edit.setText("5KB")
    pause_runner(monkeypatch, convert_runner(window), after=2)
    with qtbot.waitSignal(dialog.sig_finished, timeout=60_000) as finished:
        dialog.start()
        qtbot.waitUntil(lambda: dest.exists() and any(
            n.endswith(".partial") for n in os.listdir(dest)), timeout=30_000)
        dialog.cancel_button.click()
    assert finished.args == ["cancelled"]
    assert "nothing was written" in dialog.status_text()
    qtbot.waitUntil(lambda: not dest.exists(), timeout=10_000)
    assert os.listdir(tmp_path) == ["big.pth"]
    assert dialog.convert_button.isEnabled() and not dialog.cancel_button.isEnabled()
