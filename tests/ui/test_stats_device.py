"""Statistics ▸ Device: the choice is kept, passed with each statistics job, and a missing
GPU is said in the banner while the statistics are computed on the CPU."""

from __future__ import annotations

import pytest

from inspector.core.stats_job import DeviceNote, tensor_stats

STATS_TIMEOUT = 90_000


@pytest.fixture
def small_ckpt(tmp_path, torch_mod):
    path = tmp_path / "small.pth"
    torch_mod.save({"w": torch_mod.randn(40, 30), "b": torch_mod.randn(30)}, path)
    return str(path)


def _device_actions(window):
    return {a.data(): a for a in window.stats_device_menu.actions()}


def test_device_menu_choice_is_kept_and_used(qtbot, make_window, open_file, small_ckpt,
                                             settings, torch_mod):
    w = make_window(compute_stats=True)
    actions = _device_actions(w)
    assert set(actions) == {"cpu", "cuda"} and actions["cpu"].isChecked()
    view = open_file(w, small_ckpt)
    qtbot.waitUntil(lambda: view.stats_state == "done", timeout=STATS_TIMEOUT)
    assert settings.stats_device() == "cpu"
    with qtbot.waitSignal(w.sig_stats_finished, timeout=STATS_TIMEOUT) as blocker:
        actions["cuda"].trigger()  # recomputes the current file's statistics
    assert blocker.args[1] == "done"
    assert settings.stats_device() == "cuda" and actions["cuda"].isChecked()
    assert view.stats_done == 2
    if not torch_mod.cuda.is_available():
        assert "Statistics computed on the CPU" in w.message_text()
    actions["cpu"].trigger()
    assert settings.stats_device() == "cpu"
    qtbot.waitUntil(lambda: not view.stats_running, timeout=STATS_TIMEOUT)


def test_job_without_cuda_says_so_and_computes_on_the_cpu(small_ckpt, torch_mod):
    if torch_mod.cuda.is_available():
        pytest.skip("this machine has CUDA")
    items = list(tensor_stats(small_ckpt, device="cuda"))
    assert isinstance(items[0], DeviceNote) and "CUDA" in items[0].message
    results = [i for i in items if hasattr(i, "stats")]
    assert len(results) == 2 and all(r.stats is not None for r in results)
