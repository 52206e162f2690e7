"""The main window: opening files, the tree, filtering, statistics, errors, settings."""

from __future__ import annotations

import os
import signal

import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QApplication, QLabel

from inspector.core.text import format_value
from inspector.ui.settings import Settings
from inspector.ui.tree import COL_MEAN
from tests.ui.paused_jobs import pause_runner

STATS_TIMEOUT = 90_000  # the worker process imports torch first; the machine may be busy


def _tensor_ckpt(torch, path, n: int, size: int = 64):
    torch.manual_seed(0)
    torch.save({f"block{i // 10}.layer{i % 10}.weight": torch.randn(size) for i in range(n)}, path)
    return path


def test_open_shows_tree_summary_and_records_recent(make_window, open_file, training_ckpt,
                                                    settings):
    w = make_window()
    view = open_file(w, training_ckpt)
    assert view.is_loaded and w.tabs.count() == 1
    assert w.windowTitle().startswith("training.pth")
    assert view.proxy.rowCount() == 4
    assert view.view_names() == ["Tensors", "Inference"]  # Inference: issue #5
    assert settings.recent_files() == [str(training_ckpt)]
    assert "torch-zip" in w._file_label.text()
    # opening the same file again switches to its tab instead of a second copy
    assert w.open_path(training_ckpt) is view and w.tabs.count() == 1


def test_filter_box_is_debounced_and_expands_matches(qtbot, make_window, open_file,
                                                     training_ckpt):
    w = make_window()
    view = open_file(w, training_ckpt)
    view.filter_edit.setText("running_var")
    assert view.proxy.rowCount() == 4  # not yet: debounced
    qtbot.waitUntil(lambda: view.proxy.rowCount() == 1, timeout=3000)
    sd = view.proxy.index(0, 0)
    assert view.tree.isExpanded(sd)
    bn = view.proxy.index(0, 0, sd)
    assert view.proxy.index(0, 0, bn).data() == "running_var"
    assert view.filter_bar.match_label.text() == "1 match"
    view.set_filter("/^(epoch|loss)$")
    assert view.proxy.rowCount() == 2
    view.set_filter("")
    assert view.proxy.rowCount() == 4


def test_ctrl_f_focuses_the_filter(qtbot, make_window, open_file, training_ckpt):
    w = make_window()
    w.show()
    qtbot.waitExposed(w)
    view = open_file(w, training_ckpt)
    w.activateWindow()
    w.act_find.trigger()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is view.filter_edit, timeout=2000)


def test_selecting_a_tensor_shows_it_in_the_panel(qtbot, make_window, open_file, training_ckpt):
    w = make_window()
    view = open_file(w, training_ckpt)
    path = ("model_state_dict", "5.weight")
    with qtbot.waitSignal(view.sig_current_changed) as blocker:
        assert view.select_path(path)
    assert blocker.args == [path]
    assert view.current_path() == path
    panel = view.tensor_panel
    assert panel.title.text() == "model_state_dict / 5.weight"  # the real panel shows it
    assert view.select_largest_tensor() in (path, ("optimizer_state_dict", "state", 4, "exp_avg"),
                                            ("optimizer_state_dict", "state", 4, "exp_avg_sq"))


def test_statistics_arrive_in_the_background(qtbot, make_window, open_file, training_ckpt):
    w = make_window(compute_stats=True)
    with qtbot.waitSignal(w.sig_stats_finished, timeout=STATS_TIMEOUT) as blocker:
        view = open_file(w, training_ckpt)
        path = ("model_state_dict", "0.weight")
        view.select_path(path)
        assert w.is_busy()
    assert blocker.args == [str(training_ckpt), "done"]
    assert not w.is_busy()
    stats = view.model.stats(path)
    assert stats is not None and stats.numel == 8 * 3 * 3 * 3
    assert view.model.stats_count() == view.ckpt.totals()["num_tensors"]
    cell = view.model.index_for_path(path).siblingAtColumn(COL_MEAN)
    assert cell.data() == f"{stats.mean:.4g}"
    assert view.tensor_panel.overview_tab.stat_labels["mean"].text() == format_value(stats.mean)
    assert w._stats_label.text() == "Statistics complete"
    assert w.progress.isHidden()


def test_cancel_stops_statistics(qtbot, make_window, open_file, tmp_path, torch_mod,
                                monkeypatch):
    path = _tensor_ckpt(torch_mod, tmp_path / "many.pth", 3000, size=2048)
    w = make_window(compute_stats=True)
    with monkeypatch.context() as patch:
        pause_runner(patch, w.runners.stats, after=20)  # the job holds until it is cancelled
        view = open_file(w, path)
        qtbot.waitUntil(lambda: view.stats_done > 0, timeout=STATS_TIMEOUT)
        with qtbot.waitSignal(w.sig_stats_finished, timeout=30_000) as blocker:
            w.cancel_button.click()
    assert blocker.args[1] == "cancelled"
    assert 0 < view.stats_done < 3000
    assert w._stats_label.text() == "Statistics cancelled"
    missing = view.model.index_for_path(("block299.layer9.weight",))
    assert missing.siblingAtColumn(COL_MEAN).data() == ""  # no longer "…"
    # the service takes new work afterwards
    with qtbot.waitSignal(w.sig_stats_finished, timeout=STATS_TIMEOUT) as blocker:
        w.recompute_stats()
    assert blocker.args[1] == "done" and view.stats_done == 3000


def test_worker_crash_is_reported_and_the_window_survives(qtbot, make_window, open_file,
                                                          training_ckpt, state_dict_ckpt,
                                                          monkeypatch):
    from inspector.core import stats_job

    w = make_window(compute_stats=True)
    other = open_file(w, state_dict_ckpt)
    view = open_file(w, training_ckpt)
    qtbot.waitUntil(lambda: not w.is_busy(), timeout=STATS_TIMEOUT)
    pid = w.runners.stats.worker_pid()
    # the statistics job, as a test target that SIGKILLs its worker after one result
    monkeypatch.setattr(stats_job, "TARGET", "tests.job_targets:stats_then_die")
    with qtbot.waitSignal(w.sig_stats_finished, timeout=STATS_TIMEOUT) as blocker:
        w.recompute_stats()
    assert blocker.args == [str(training_ckpt), "failed"]
    message = w.message_text()
    assert message.startswith(f"Statistics for {training_ckpt} stopped: ")
    assert f"(signal {int(signal.SIGKILL)}, SIGKILL)" in message
    assert view.stats_state == "failed" and not view.stats_running
    assert view.stats_done >= 1  # what arrived before the crash stays
    assert other.is_loaded and other.proxy.rowCount() == 2  # the other tab is untouched
    # the next job gets a fresh worker process
    monkeypatch.undo()
    with qtbot.waitSignal(w.sig_stats_finished, timeout=STATS_TIMEOUT) as blocker:
        w.recompute_stats()
    assert blocker.args[1] == "done"
    assert w.runners.stats.worker_pid() not in (None, pid)


def test_bad_file_gets_a_message_and_the_app_keeps_working(qtbot, make_window, open_file,
                                                           tmp_path, state_dict_ckpt):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"this is not a checkpoint at all" * 10)
    w = make_window()
    good = open_file(w, state_dict_ckpt)
    with qtbot.waitSignal(w.sig_open_failed, timeout=10_000) as blocker:
        w.open_path(bad)
    path, problem = blocker.args
    assert path == str(bad) and "unrecognized format" in problem
    assert w.message_text() == f"Could not open {bad}: {problem}"
    assert w.documents() == [good] and good.proxy.rowCount() == 2
    with qtbot.waitSignal(w.sig_open_failed, timeout=10_000):
        w.open_path(tmp_path / "missing.pth")
    assert "no such file" in w.message_text()
    assert w.settings.recent_files() == [str(state_dict_ckpt)]


def test_welcome_page_until_a_file_is_open_and_after_the_last_closes(make_window, open_file,
                                                                     state_dict_ckpt):
    w = make_window()
    assert w._central.currentWidget() is w.welcome
    open_file(w, state_dict_ckpt)
    assert w._central.currentWidget() is w.tabs
    w.act_close.trigger()
    assert w.tabs.count() == 0 and w._central.currentWidget() is w.welcome


def test_several_files_open_as_closable_tabs(qtbot, make_window, open_file, training_ckpt,
                                             state_dict_ckpt):
    w = make_window()
    open_file(w, training_ckpt)
    second = open_file(w, state_dict_ckpt)
    assert [w.tabs.tabText(i) for i in range(2)] == ["training.pth", "mlp.pth"]
    assert w.current_document() is second
    w.close_document(0)
    assert w.documents() == [second]


def test_recent_files_persist_and_missing_ones_are_dropped(make_window, open_file, tmp_path,
                                                           settings_path, state_dict_ckpt,
                                                           training_ckpt):
    w = make_window()
    open_file(w, training_ckpt)
    open_file(w, state_dict_ckpt)
    w.settings.sync()
    fresh = Settings(QSettings(settings_path, QSettings.Format.IniFormat))
    assert fresh.recent_files() == [str(state_dict_ckpt), str(training_ckpt)]
    single = Settings(QSettings(str(tmp_path / "one.ini"), QSettings.Format.IniFormat))
    single.add_recent(state_dict_ckpt)
    single.sync()
    assert Settings(QSettings(str(tmp_path / "one.ini"), QSettings.Format.IniFormat)
                    ).recent_files() == [str(state_dict_ckpt)]
    os.remove(training_ckpt)
    w.recent_menu.aboutToShow.emit()
    entries = [a.data() for a in w.recent_menu.actions() if a.data()]
    assert entries == [str(state_dict_ckpt)]
    assert fresh.recent_files() == [str(state_dict_ckpt)]


def _drop(window, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    return event


def test_drag_and_drop_files_and_folders(qtbot, make_window, tmp_path, torch_mod):
    folder = tmp_path / "runs"
    folder.mkdir()
    for name in ("a.pth", "b.pt"):
        torch_mod.save({"w": torch_mod.ones(2)}, folder / name)
    (folder / "notes.txt").write_text("not a checkpoint")
    w = make_window()
    event = _drop(w, [folder])
    assert event.isAccepted()
    qtbot.waitUntil(lambda: len(w.documents()) == 2 and all(v.is_loaded for v in w.documents()),
                    timeout=10_000)
    assert sorted(os.path.basename(v.path) for v in w.documents()) == ["a.pth", "b.pt"]
    single = tmp_path / "c.pth"
    torch_mod.save({"x": torch_mod.zeros(1)}, single)
    _drop(w, [single])
    qtbot.waitUntil(lambda: len(w.documents()) == 3 and w.documents()[2].is_loaded, timeout=10_000)
    empty = QMimeData()
    event = QDropEvent(QPointF(1, 1), Qt.DropAction.CopyAction, empty,
                       Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    w.dropEvent(event)
    assert len(w.documents()) == 3


def test_views_can_be_added_and_selected_by_name(make_window, open_file, state_dict_ckpt):
    w = make_window()
    view = open_file(w, state_dict_ckpt)
    view.add_view("Later", QLabel("later"))
    assert view.view_names() == ["Tensors", "Inference", "Later"]
    assert view.select_view("later") and view.select_view("inference")
    assert not view.select_view("nope")


def test_about_box_lists_versions():
    from inspector import __version__
    from inspector.ui.about import about_html

    html = about_html()
    for word in ("Python", "PySide6", "PyTorch", "pyqtgraph", __version__):
        assert word in html


@pytest.mark.parametrize("key", ["", "0"])
def test_expand_and_collapse_all(make_window, open_file, training_ckpt, key):
    w = make_window()
    view = open_file(w, training_ckpt)
    w.act_expand.trigger()
    assert view.tree.isExpanded(view.proxy.index(1, 0))
    w.act_collapse.trigger()
    assert not view.tree.isExpanded(view.proxy.index(1, 0))
