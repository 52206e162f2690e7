"""The Timeline tab: File ▸ Open Run…, curves of several modules with the log toggle, the
heatmap (click → compare tab at that tensor), the health findings (across the run and per
checkpoint; double-click → the checkpoint opens at the tensor), alpha, closing, a bad run."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from inspector.ui.timeline import open_run
from inspector.ui.timeline.models import FROZEN_COLOR, FindingRole
from tests.core.test_timeline_helpers import PLANTED, STEPS, planted_run


@pytest.fixture
def run_dir(tmp_path):
    planted_run(tmp_path / "run")
    return tmp_path / "run"


def _open(qtbot, window, paths, tmp_path):
    window.show()
    qtbot.waitExposed(window)
    view = open_run(window, paths, cache_dir=str(tmp_path / "cache"))
    with qtbot.waitSignal(view.sig_loaded, timeout=60_000):
        pass
    return view


def test_curves_heatmap_and_click_to_compare(qtbot, make_window, run_dir, tmp_path):
    window = make_window()
    menu = [a.text() for a in window.file_menu.actions()]
    assert "Open Ru&n…" in menu and "Open Run from Fi&les…" in menu
    view = _open(qtbot, window, [str(run_dir)], tmp_path)
    assert window.tabs.currentWidget() is view and view.isVisible()
    assert view.title() == "Run: run" and view.state == "done"
    assert view.status_text().startswith("6 checkpoints, steps 100–600 (by global step)")
    # curves: several modules overlaid, any metric, log scale
    curves = view.curves
    assert [curves.names.item(i).text() for i in range(curves.names.count())] == [
        "conv", "bn", "fc1", "fc2", "fc3", "aux"]
    curves.select_names(["conv", "fc1", "fc2"])
    assert len(curves.curves) == 3
    x, y = curves.curves[0].getData()
    assert list(x) == list(STEPS) and y[4] == pytest.approx(view.timeline.series("conv")
                                                            .metric("l2")[4])
    curves.set_metric("rel_change")
    _, y = curves.curves[1].getData()  # fc1: frozen from step 300
    assert np.isnan(y[0]) and list(y[3:]) == [0.0, 0.0, 0.0]
    curves.log_check.setChecked(True)
    assert curves.plot_item.ctrl.logYCheck.isChecked()
    _, y = curves.curves[1].getData()
    assert np.isnan(y[3:]).all()  # zero has no logarithm: a gap, not a warning
    # tensors instead of modules
    view.set_rows_mode("tensors")
    assert curves.names.count() == len(view.timeline.tensors) == 14
    view.set_rows_mode("modules")
    # heatmap: modules × checkpoints, grey where frozen
    model = view.heatmap_model
    assert (model.rowCount(), model.columnCount()) == (6, 6)
    assert model.headerData(5, Qt.Orientation.Horizontal) == "600"
    fc1 = model.index(2, 3)
    assert model.headerData(2, Qt.Orientation.Vertical) == "fc1"
    assert fc1.data(Qt.ItemDataRole.BackgroundRole).color() == FROZEN_COLOR
    assert model.index(0, 0).data(Qt.ItemDataRole.BackgroundRole) is None
    # a click on (fc2, step 300) compares step 200 with step 300 at fc2.weight
    view.pages.setCurrentIndex(1)
    cell = view.heatmap.visualRect(model.index(3, 2)).center()
    qtbot.mouseClick(view.heatmap.viewport(), Qt.MouseButton.LeftButton, pos=cell)
    compare = window.current_compare()
    assert compare is not None
    assert (compare.path_a, compare.path_b) == (str(run_dir / "epoch_2.pth"),
                                                str(run_dir / "epoch_3.pth"))
    qtbot.waitUntil(lambda: compare.current_entry() is not None, timeout=60_000)
    assert compare.current_entry().path == ("model_state_dict", "fc2.weight")
    qtbot.waitUntil(lambda: not compare.is_busy(), timeout=60_000)


def test_findings_open_at_tensor_alpha_and_close(qtbot, make_window, run_dir, tmp_path):
    window = make_window()
    view = _open(qtbot, window, [str(run_dir)], tmp_path)
    assert view.pages.tabText(3) == "Health (7)"
    found = {(f.kind, f.name): f.step for f in view.current_findings()}
    assert found == PLANTED
    table = view.findings_model
    rows = [[table.index(r, c).data() for c in range(4)] for r in range(table.rowCount())]
    assert rows[0][:3] == ["200", "dead units", "fc2.weight"]
    # one checkpoint's own findings
    view.set_health_scope(4)  # step 400
    assert sorted(f.kind for f in view.current_findings()) == ["bn_var_zero", "dead_units", "nan"]
    assert view.findings_label.text().startswith("3 findings in step 400")
    row = next(r for r, f in enumerate(view.current_findings()) if f.kind == "nan")
    # "Show curves" puts the finding's tensor on the curves page
    view.findings_view.setCurrentIndex(table.index(row, 0))
    assert table.index(row, 0).data(FindingRole).name == "fc3.weight"
    view._show_finding_curves()
    assert view.pages.currentIndex() == 0 and view.curves.selected_names() == ["fc3.weight"]
    # double-click: the checkpoint opens with the tensor selected
    view.pages.setCurrentIndex(3)
    rect = view.findings_view.visualRect(table.index(row, 2))
    qtbot.mouseClick(view.findings_view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(view.findings_view.viewport(), Qt.MouseButton.LeftButton,
                      pos=rect.center())
    doc = window.current_document()
    assert doc is not None and doc.path == str(run_dir / "epoch_4.pth")
    qtbot.waitUntil(lambda: doc.current_path() == ("model_state_dict", "fc3.weight"),
                    timeout=30_000)
    # alpha of the last checkpoint, on demand
    window.tabs.setCurrentWidget(view)
    view.set_health_scope(0)
    with qtbot.waitSignal(view.sig_alpha_done, timeout=60_000):
        view.alpha_button.click()
    assert [a.name for a in view.alphas] == ["fc1.weight", "fc2.weight", "fc3.weight",
                                             "aux.weight"]
    assert view.alpha_table.rowCount() == 4
    assert view.alpha_table.item(2, 3).text() == "holds NaN or infinite values: no spectrum"
    # the tab's × closes it
    index = window.tabs.indexOf(view)
    window.tabs.tabCloseRequested.emit(index)
    assert window.tabs.indexOf(view) < 0
    # a folder that cannot be ordered: one message, in the tab and the window's banner
    import torch

    (tmp_path / "bad").mkdir()
    torch.save({"w": torch.ones(2)}, tmp_path / "bad" / "a.pt")
    torch.save({"w": torch.ones(2)}, tmp_path / "bad" / "b.pt")
    bad = open_run(window, [str(tmp_path / "bad")], cache_dir=str(tmp_path / "cache"))
    with qtbot.waitSignal(bad.sig_error, timeout=60_000) as blocker:
        pass
    assert blocker.args[0].startswith("cannot order the run: a.pt, b.pt")
    assert not bad.problem_label.isHidden() and bad.state == "failed"
    assert bad.problem_label.textFormat() == Qt.TextFormat.PlainText
    assert window.message_text().startswith("cannot order the run")
    # Ctrl+W (File ▸ Close Tab) closes a timeline tab like any other
    window.tabs.setCurrentWidget(bad)
    window.act_close.trigger()
    assert window.tabs.indexOf(bad) < 0


def test_timeline_models_pass_the_model_tester(qtmodeltester, run_dir):
    """HeatmapModel and FindingsModel under Qt's model tester (empty, filled, refilled)."""
    from inspector.core.timeline import build_timeline
    from inspector.ui.timeline.models import FindingsModel, HeatmapModel

    tl = build_timeline(str(run_dir), cache_dir=None)
    heat = HeatmapModel()
    qtmodeltester.check(heat)
    heat.set_data(tl.modules, tl.steps, [c.path for c in tl.checkpoints])
    qtmodeltester.check(heat)
    heat.set_data(tl.tensors, tl.steps, [c.path for c in tl.checkpoints])
    qtmodeltester.check(heat)
    assert heat.rowCount() == 14 and heat.columnCount() == 6
    found = FindingsModel()
    qtmodeltester.check(found)
    found.set_findings(tl.findings)
    qtmodeltester.check(found)
    found.set_findings(tl.checkpoint_findings[2])
    qtmodeltester.check(found)
    assert found.rowCount() == len(tl.checkpoint_findings[2])


def test_installing_the_feature_imports_no_plotting(tmp_path):
    """install() only adds menu actions: pyqtgraph and numpy wait for the first run."""
    import subprocess
    import sys

    code = ("import sys; import inspector.ui.timeline; "
            "print(sorted(m for m in ('pyqtgraph', 'numpy', 'inspector.ui.timeline.view') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=tmp_path, timeout=120)
    assert out.stdout.strip() == "[]"


def _hf_folders(root, steps=(10, 20, 30)):
    import json

    import torch
    from safetensors.torch import save_file

    names = [f"encoder.layer.{i}.attention.output.{part}.weight"
             for i in range(2) for part in ("dense", "LayerNorm")]
    for step in steps:
        folder = root / f"checkpoint-{step}"
        folder.mkdir(parents=True)
        save_file({n: torch.full((4, 4), step / 10.0) for n in names},
                  str(folder / "model.safetensors"))
        (folder / "config.json").write_text(json.dumps({"model_type": "test"}))
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return names


def test_opening_a_folder_of_checkpoint_folders_opens_it_as_a_run(qtbot, make_window, tmp_path):
    """A Trainer's output folder (checkpoint-10/ checkpoint-20/ …) given to Open (command
    line, drop, Open Folder) is a training run, not "a folder without checkpoint files"; one
    checkpoint folder in it opens as that checkpoint."""
    from inspector.ui.timeline.view import TimelineView

    names = _hf_folders(tmp_path / "out")
    window = make_window()
    window.show()
    qtbot.waitExposed(window)
    assert window.open_path(str(tmp_path / "out")) is None
    view = window.tabs.currentWidget()
    assert isinstance(view, TimelineView)
    with qtbot.waitSignal(view.sig_loaded, timeout=60_000):
        pass
    assert not window.banner.isVisible()
    assert view.timeline.steps == [10, 20, 30]
    assert {s.name for s in view.timeline.tensors} == set(names)

    _hf_folders(tmp_path / "single", steps=(5,))
    window.open_path(str(tmp_path / "single"))
    opened = window.current_document()
    assert opened is not None and opened.path == str(tmp_path / "single" / "checkpoint-5")


def test_the_names_pane_fits_long_dotted_names(qtbot, make_window, tmp_path):
    """Names differ at their ends (….output.dense / ….output.LayerNorm): the pane widens to
    the longest name (up to 45 % of the view) and elides in the middle, keeping the ends."""
    _hf_folders(tmp_path / "out")
    window = make_window()
    view = _open(qtbot, window, [str(tmp_path / "out")], tmp_path)
    curves = view.curves
    shown = [curves.names.item(i).text() for i in range(curves.names.count())]
    assert "encoder.layer.1.attention.output.LayerNorm" in shown  # modules, by default
    longest = max(shown, key=len)
    needed = curves.names.fontMetrics().horizontalAdvance(longest)
    assert curves.names.viewport().width() >= needed
    assert curves.names.textElideMode() == Qt.TextElideMode.ElideMiddle
    left, right = curves.splitter.sizes()
    assert left <= 0.45 * (left + right) + 1
