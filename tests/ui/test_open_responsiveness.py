"""Opening stays off the GUI thread and paints the tree first (issue #7).

The Qt-free work (reading, summary, optimizer labels, tree rows) runs in a pool thread; the
TensorPanel (pyqtgraph) is built on the first selection; columns fit the default window;
files named on the command line open after the window's first paint.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from PySide6.QtWidgets import QApplication, QLabel, QWidget

from inspector.core.stats_job import TensorStatsResult
from inspector.ui import checkpoint_view as cv
from inspector.ui import tree_pane, workers
from inspector.ui.first_paint import after_first_paint
from inspector.ui.tree import CheckpointTreeModel, prepare_tree

ROOT = Path(__file__).resolve().parents[2]


def test_summary_labels_and_tree_rows_are_computed_off_the_gui_thread(
        monkeypatch, make_window, open_file, training_ckpt):
    import inspector.core.summary as summary
    import inspector.ui.tree.items as tree_model

    calls: dict[str, list[bool]] = {}

    def spy(name, func):
        def wrapper(*args, **kwargs):
            calls.setdefault(name, []).append(threading.current_thread() is threading.main_thread())
            return func(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(summary, "summarize", spy("summarize", summary.summarize))
    monkeypatch.setattr(summary, "optimizer_param_labels",
                        spy("labels", summary.optimizer_param_labels))
    monkeypatch.setattr(tree_model, "module_hierarchy", spy("hierarchy", tree_model.module_hierarchy))
    w = make_window()
    view = open_file(w, training_ckpt)
    assert view.is_loaded and view.proxy.rowCount() == 4
    assert calls["summarize"] == [False]  # once, in a pool thread
    assert calls["labels"] and not any(calls["labels"])
    assert calls["hierarchy"] and not any(calls["hierarchy"])
    assert "Adam" in view.summary_panel.text()


def test_tensor_panel_is_built_on_the_first_selection(qtbot, make_window, open_file,
                                                      training_ckpt):
    w = make_window()
    view = open_file(w, training_ckpt)
    assert view.tensor_panel is None
    placeholder = view._splitter.widget(1)
    assert isinstance(placeholder, QLabel) and "Select a tensor" in placeholder.text()
    path = ("model_state_dict", "5.weight")
    with qtbot.waitSignal(view.sig_current_changed):
        assert view.select_path(path)
    panel = view.tensor_panel
    assert panel is not None and view._splitter.widget(1) is panel
    assert panel._node is view.ckpt.find(path)
    assert panel.title.text() == "model_state_dict / 5.weight"
    # the next selection reuses it
    view.select_path(("model_state_dict", "0.weight"))
    assert view.tensor_panel is panel


def test_failed_statistics_show_in_the_tensor_panel(qtbot, make_window, open_file,
                                                    training_ckpt):
    w = make_window()
    view = open_file(w, training_ckpt)
    path = ("model_state_dict", "0.weight")
    view.select_path(path)
    view.add_stats([TensorStatsResult(path, None, "the file was truncated")])
    assert "the file was truncated" in view.tensor_panel.stats_status.text()
    # selecting it again shows the stored error, not blank statistics
    view.select_path(("model_state_dict", "5.weight"))
    view.select_path(path)
    assert "the file was truncated" in view.tensor_panel.stats_status.text()


def test_columns_fit_the_default_window(qtbot, make_window, open_file, training_ckpt):
    from inspector.ui.app import DEFAULT_SIZE

    w = make_window()
    w.resize(*DEFAULT_SIZE)
    w.show()
    qtbot.waitExposed(w)
    view = open_file(w, training_ckpt)
    header = view.tree.header()
    qtbot.waitUntil(lambda: view.tree.viewport().width() > 0)
    # issue 17: dtypes, shapes and numbers are never elided (the statistics columns may scroll
    # sideways at 1400 px beside the tensor panel), and the name column is never squeezed
    metrics = view.tree.fontMetrics()
    for col, sample in tree_pane.COLUMN_SAMPLES.items():
        assert header.sectionSize(col) > metrics.horizontalAdvance(sample), (col, sample)
    assert header.sectionSize(0) >= tree_pane.MIN_NAME_WIDTH


def test_summary_height_fits_its_content_once_painted(qtbot, make_window, open_file,
                                                      training_ckpt):
    w = make_window()
    w.show()
    qtbot.waitExposed(w)
    view = open_file(w, training_ckpt)
    want = lambda: min(view.summary_panel.sizeHint().height(), cv.MAX_SUMMARY_HEIGHT)  # noqa: E731
    qtbot.waitUntil(lambda: view._vsplit.sizes()[0] == want(), timeout=3000)


def test_prepared_tree_matches_a_tree_built_on_the_gui_thread(qtmodeltester, training_ckpt):
    from inspector.core.formats import open_checkpoint
    from inspector.core.summary import optimizer_param_labels

    with open_checkpoint(training_ckpt) as ck:
        labels = optimizer_param_labels(ck)
        box: dict = {}
        t = threading.Thread(target=lambda: box.update(tree=prepare_tree(ck, labels)))
        t.start()
        t.join()
        prepared = CheckpointTreeModel(ck, labels, prepared=box["tree"])
        plain = CheckpointTreeModel(ck, labels)
        qtmodeltester.check(prepared)

        def rows(model, parent=None):
            from PySide6.QtCore import QModelIndex

            parent = parent or QModelIndex()
            out = []
            for r in range(model.rowCount(parent)):
                index = model.index(r, 0, parent)
                out.append((index.data(), rows(model, index)))
            return out

        assert rows(prepared) == rows(plain)


def test_run_in_pool_calls_back_on_the_gui_thread(qtbot):
    seen: dict = {}

    def done(name):
        def callback(value=None):
            seen[name] = (value, threading.current_thread() is threading.main_thread())
        return callback

    workers.run_in_pool(lambda x: x * 2, 21, on_result=done("result"), on_finished=done("finished"))
    workers.run_in_pool(lambda: 1 / 0, on_error=done("error"))
    qtbot.waitUntil(lambda: len(seen) == 3, timeout=5000)
    assert seen["result"] == (42, True)
    assert seen["finished"] == (None, True)
    assert isinstance(seen["error"][0], ZeroDivisionError) and seen["error"][1]


def test_after_first_paint_waits_for_the_paint(qtbot):
    w = QWidget()
    qtbot.addWidget(w)
    fired = []
    after_first_paint(w, lambda: fired.append(True))
    QApplication.processEvents()
    assert not fired  # not shown, not painted
    w.show()
    qtbot.waitExposed(w)
    w.update()
    qtbot.waitUntil(lambda: fired == [True], timeout=3000)
    w.update()
    QApplication.processEvents()
    assert fired == [True]  # once


def test_plot_colours_follow_the_palette_when_pyqtgraph_is_imported_late(tmp_path):
    """In a fresh process: the theme is applied first, pyqtgraph imported afterwards."""
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from PySide6.QtGui import QPalette\n"
        "app = QApplication([])\n"
        "from inspector.ui.theme import apply_theme\n"
        "apply_theme(app)\n"
        "assert 'pyqtgraph' not in sys.modules\n"
        "import pyqtgraph as pg\n"
        "base = app.palette().color(QPalette.ColorRole.Base).name()\n"
        "print(pg.getConfigOption('background') == base, base)\n")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("True"), proc.stdout


def test_the_empty_window_imports_nothing_heavy(tmp_path):
    """Everything the features plug in (Open URL, timeline, convert, statistics device) adds
    menu entries only: the heavy libraries load when first used, never before the window's
    first paint (issue 13: opening time is measured against a bare PySide6 window)."""
    heavy = ["torch", "numpy", "pyqtgraph", "fsspec", "dask", "distributed", "transformers",
             "inspector.core.formats", "inspector.core.stats", "inspector.core.diff",
             # nor what the first file's tree does not need (issue 13: the window is built
             # before the file is read, and every module costs its compile)
             "importlib.metadata", "hashlib", "tarfile", "inspector.core.jobs",
             "inspector.core.stats_job", "inspector.core.cluster.job", "inspector.ui.table.view",
             "inspector.ui.table.model"]
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from inspector.ui.main_window import MainWindow\n"
        "w = MainWindow(compute_stats=False)\n"
        "w.show(); app.processEvents()\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
        "w.shutdown()\n")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout
