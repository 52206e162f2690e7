"""The compare view: streamed diff table, summary, histograms, export, app integration."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from PySide6.QtCore import QObject, Signal

from inspector.core.diff import diff_checkpoints, report_to_json
from inspector.ui.compare import COL_STATUS, EntryRole, SortRole

TIMEOUT = 60_000


@pytest.fixture
def every_status_pair(tmp_path):
    """A (keys with a DDP 'module.' prefix) and B covering every status, plus scalars."""
    import torch

    torch.manual_seed(0)
    same = torch.randn(4, 4)
    changed = torch.randn(32, 8)
    a = {"module.same": same, "module.changed": changed, "module.removed": torch.ones(3),
         "module.shape": torch.zeros(2, 3), "module.dtype": torch.arange(6.0),
         "module.nan": torch.tensor([1.0, 2.0, 3.0])}
    b = {"same": same.clone(), "changed": changed + 0.01 * torch.randn(32, 8),
         "added": torch.full((5,), 2.0), "shape": torch.zeros(3, 2),
         "dtype": torch.arange(6.0).double(), "nan": torch.tensor([1.0, float("nan"), 3.0])}
    pa, pb = tmp_path / "a.pth", tmp_path / "b.pth"
    torch.save({"epoch": 1, "lr": 0.1, "model": a}, pa)
    torch.save({"epoch": 2, "lr": 0.1, "model": b}, pb)
    return str(pa), str(pb)


@pytest.fixture
def runners(qapp):
    """The two runners a window lends its compare views; shut down after the test."""
    from inspector.ui.workers import ProcessJobs

    jobs = ProcessJobs(None, name="test-compare")
    detail_jobs = ProcessJobs(None, name="test-compare-detail")
    yield jobs, detail_jobs
    for runner in (jobs, detail_jobs):
        runner.shutdown()
        assert runner.worker_pid() is None


@pytest.fixture
def make_compare(qtbot, runners):
    from inspector.ui.compare import CompareView

    views = []

    def make(a, b, **options):
        view = CompareView(a, b, *runners, **options)
        qtbot.addWidget(view)
        view.resize(1300, 850)
        views.append(view)
        return view

    yield make
    for v in views:
        v.shutdown()
        assert not v.is_busy()


def _wait_done(qtbot, view):
    qtbot.waitUntil(lambda: view.state in ("done", "failed", "cancelled"), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not view.is_busy(), timeout=TIMEOUT)


def test_every_status_and_the_prefix_alignment_are_shown(qtbot, make_compare, every_status_pair,
                                                         qtmodeltester):
    view = make_compare(*every_status_pair)
    _wait_done(qtbot, view)
    assert view.state == "done", view.error
    statuses = {e.path[-1]: e.status for e in view.entries()}
    assert statuses == {"same": "identical", "changed": "changed", "module.removed": "removed",
                        "added": "added", "shape": "shape_changed", "dtype": "dtype_changed",
                        "nan": "changed"}
    assert "'module.' prefix removed from A's keys" in view.summary.align_label.text()
    assert view.summary.chips["identical"].text() == "1 identical"
    assert view.summary.chips["added"].text() == "1 added"
    # the non-tensor value that differs (epoch), not the equal one (lr)
    keys = [view.summary.scalars_table.item(r, 0).text() for r in range(view.summary.scalars_table.rowCount())]
    assert keys == ["epoch"]
    # A's path is shown next to B's when the alignment renamed it
    row = next(r for r in range(view.model.rowCount())
               if view.model.entry(r).path[-1] == "changed")
    assert "(A: model.module.changed)" in view.model.index(row, 0).data()
    # status colours and numeric sort values
    status_index = view.model.index(row, COL_STATUS)
    assert status_index.data() == "changed"
    assert status_index.data(0x0009) is not None  # ForegroundRole
    assert isinstance(view.model.index(row, 6).data(SortRole), float)
    qtmodeltester.check(view.model)
    qtmodeltester.check(view.proxy)


def test_changed_only_and_text_filters(qtbot, make_compare, every_status_pair):
    view = make_compare(*every_status_pair)
    _wait_done(qtbot, view)
    assert view.proxy.rowCount() == 7
    view.set_changed_only(True)
    assert view.proxy.rowCount() == 6
    view.set_filter("shape")
    assert view.proxy.rowCount() == 1
    assert view.proxy.index(0, 0).data(EntryRole).status == "shape_changed"
    view.set_filter("")
    view.set_changed_only(False)
    assert view.proxy.rowCount() == 7


def test_sorting_by_max_diff_puts_missing_values_last(qtbot, make_compare, every_status_pair):
    from PySide6.QtCore import Qt

    view = make_compare(*every_status_pair)
    _wait_done(qtbot, view)
    view.table.sortByColumn(6, Qt.SortOrder.DescendingOrder)
    first = view.proxy.index(0, 0).data(EntryRole)
    last = view.proxy.index(view.proxy.rowCount() - 1, 0).data(EntryRole)
    assert first.max_abs_diff == max(e.max_abs_diff for e in view.entries()
                                     if e.max_abs_diff is not None)
    assert last.max_abs_diff is None


def test_selecting_a_row_shows_overlaid_and_delta_histograms(qtbot, make_compare,
                                                             every_status_pair):
    view = make_compare(*every_status_pair)
    _wait_done(qtbot, view)
    row = next(r for r in range(view.proxy.rowCount())
               if view.proxy.index(r, 0).data(EntryRole).path[-1] == "changed")
    entry = view.proxy.index(row, 0).data(EntryRole)
    if view.current_entry() is entry:
        view.table.clearSelection()
        view.table.setCurrentIndex(view.proxy.index(0, 0))
        qtbot.waitUntil(lambda: not view.is_busy(), timeout=TIMEOUT)
    with qtbot.waitSignal(view.sig_histograms_shown, timeout=TIMEOUT) as blocker:
        view.select_entry(entry)
    h = blocker.args[0]
    assert sum(h.a.counts) == 256 and sum(h.b.counts) == 256
    assert len(h.delta_counts) == len(h.delta_edges) - 1 > 0
    assert sum(h.delta_counts) == 256
    xs, ys = view.detail.curve_a.getData()
    assert ys is not None and ys.sum() == 256
    assert view.detail.curve_b.getData()[1].sum() == 256
    assert view.detail.curve_delta.getData()[1].sum() == 256
    assert "rel L2" in view.detail.metrics_label.text()


def test_shape_change_shows_both_sides_without_delta(qtbot, make_compare, every_status_pair):
    view = make_compare(*every_status_pair)
    _wait_done(qtbot, view)
    entry = next(e for e in view.entries() if e.status == "shape_changed")
    with qtbot.waitSignal(view.sig_histograms_shown, timeout=TIMEOUT) as blocker:
        view.select_entry(entry)
    h = blocker.args[0]
    assert h.a is not None and h.b is not None and not h.delta_counts
    assert "shapes differ" in h.note
    assert "not defined" in view.detail.delta_plot.getPlotItem().titleLabel.text


def test_export_json_and_csv_equal_a_direct_diff(qtbot, make_compare, every_status_pair,
                                                 tmp_path):
    from inspector.core.diff import report_to_csv

    view = make_compare(*every_status_pair)
    _wait_done(qtbot, view)
    out = tmp_path / "report.json"
    view.export_report(str(out))
    direct = diff_checkpoints(*every_status_pair)
    assert json.loads(out.read_text()) == json.loads(json.dumps(report_to_json(direct)))
    csv_out = tmp_path / "report.csv"
    view.export_report(str(csv_out))
    assert csv_out.read_text(encoding="utf-8").replace("\r\n", "\n") == \
        _csv_text(direct, report_to_csv).replace("\r\n", "\n")
    with pytest.raises(ValueError, match="will not write over"):
        view.export_report(every_status_pair[0])


def test_tolerance_and_forced_prefix_rerun_the_diff(qtbot, make_compare, every_status_pair):
    view = make_compare(*every_status_pair)
    _wait_done(qtbot, view)
    view.set_tolerance(1.0, None)
    assert view.state == "running"
    _wait_done(qtbot, view)
    changed = next(e for e in view.entries() if e.path[-1] == "changed")
    assert changed.close is True
    assert view.report.atol == 1.0
    view.set_strip_prefixes(["module."])
    _wait_done(qtbot, view)
    assert "prefix 'module.' removed from both sides' keys" in view.summary.align_label.text()


def test_bad_file_is_reported_and_the_view_keeps_working(qtbot, make_compare, tmp_path,
                                                         every_status_pair):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint at all")
    view = make_compare(every_status_pair[0], str(bad))
    with qtbot.waitSignal(view.sig_error, timeout=TIMEOUT) as blocker:
        pass
    _wait_done(qtbot, view)
    assert view.state == "failed"
    assert "bad.pth" in blocker.args[0]
    assert not view.problem_label.isHidden()
    assert "bad.pth" in view.problem_label.text()


class FakeRunner(QObject):
    """Stands in for a ProcessJobs: records submits and cancels; the test emits the results."""

    sig_item = Signal(int, object)
    sig_finished = Signal(int, bool, object)
    sig_crashed = Signal(int, str)

    def __init__(self):
        super().__init__()
        self.submitted: list[tuple[int, str, dict]] = []
        self.cancelled: list[int] = []

    def submit(self, target: str, kwargs: dict) -> int:
        job_id = len(self.submitted) + 1
        self.submitted.append((job_id, target, kwargs))
        return job_id

    def cancel(self, job_id: int) -> None:
        self.cancelled.append(job_id)


@pytest.fixture
def fake_compare(qtbot, tmp_path):
    """A CompareView over two 400-tensor files whose runners the test drives by hand, and
    the items the real diff job yields for them (computed here, in-process)."""
    import torch

    from inspector.core.diff import stream_diff
    from inspector.ui.compare import CompareView

    sd = {f"t{i}": torch.randn(8, 8) for i in range(400)}
    torch.save(sd, tmp_path / "x.pth")
    torch.save({k: v + 1 for k, v in sd.items()}, tmp_path / "y.pth")
    jobs, detail_jobs = FakeRunner(), FakeRunner()
    view = CompareView(tmp_path / "x.pth", tmp_path / "y.pth", jobs, detail_jobs)
    qtbot.addWidget(view)
    items = list(stream_diff(view.path_a, view.path_b))
    yield view, jobs, items
    view.shutdown()


def test_cancel_keeps_the_rows_compared_so_far(qtbot, fake_compare):
    view, jobs, items = fake_compare
    (job_id, target, kwargs), = jobs.submitted
    assert target.endswith(":stream_diff") and kwargs["path_b"] == view.path_b
    for item in items[:11]:  # the header and 10 pairs
        jobs.sig_item.emit(job_id, item)
    view.cancel()
    assert jobs.cancelled == [job_id]
    with qtbot.waitSignal(view.sig_diff_finished, timeout=TIMEOUT) as blocker:
        jobs.sig_finished.emit(job_id, True, None)
    assert blocker.args == ["cancelled"]
    assert view.state == "cancelled"
    assert view.report is None and not view.controls.export_button.isEnabled()
    assert view.model.rowCount() == 10 < 400
    assert view.status_text() == "Comparison cancelled (10 of 400 tensors)"


def test_a_failed_job_shows_its_type_and_message(qtbot, fake_compare):
    from inspector.core.jobs import JobFailure

    view, jobs, items = fake_compare
    (job_id, _target, _kwargs), = jobs.submitted
    jobs.sig_item.emit(job_id, items[0])
    failure = JobFailure("OSError", "disk on fire\nsecond line", "Traceback (most recent...)")
    with qtbot.waitSignal(view.sig_error, timeout=TIMEOUT) as blocker:
        jobs.sig_finished.emit(job_id, False, failure)
    assert view.state == "failed"
    assert view.error == "OSError: disk on fire"
    assert view.problem_label.text() == "Comparison failed: OSError: disk on fire"
    assert blocker.args == ["Could not compare x.pth with y.pth: OSError: disk on fire"]
    assert "Traceback" not in view.problem_label.text()


def test_results_of_other_jobs_are_ignored_and_a_crash_is_reported(qtbot, fake_compare):
    view, jobs, items = fake_compare
    (job_id, _target, _kwargs), = jobs.submitted
    jobs.sig_item.emit(job_id + 100, items[0])  # another view's job on the shared runner
    jobs.sig_finished.emit(job_id + 100, False, None)
    assert view.header is None and view.state == "running"
    with qtbot.waitSignal(view.sig_diff_finished, timeout=TIMEOUT):
        jobs.sig_crashed.emit(job_id, "signal 9, SIGKILL")
    assert view.state == "failed"
    assert "The comparison worker stopped: signal 9, SIGKILL" in view.problem_label.text()


MARKUP = "<h1 style='color:green'>✔ Verified by Checkpoint Inspector</h1>"
DEEP = "<b>" * 10_000 + "deep" + "</b>" * 10_000


@pytest.fixture
def markup_pair(tmp_path):
    """Two checkpoints whose keys, a string value and the file names are markup."""
    import torch

    torch.manual_seed(0)
    a = {MARKUP: torch.randn(16), DEEP: torch.randn(4, 4), "plain": torch.ones(3)}
    b = {MARKUP: a[MARKUP] + 1, DEEP: a[DEEP] * 2, f"{MARKUP}.added": torch.zeros(2)}
    name = MARKUP.replace("/", "")  # a file name cannot hold a slash
    pa, pb = tmp_path / f"{name} A.pth", tmp_path / f"{name} B.pth"
    torch.save({"model": a, "note": MARKUP, MARKUP: 1}, pa)
    torch.save({"model": b, "note": DEEP, MARKUP: 2}, pb)
    return str(pa), str(pb)


def _rendered_as_rich_text(text_format, text: str) -> bool:
    from PySide6.QtGui import Qt

    return text_format == Qt.TextFormat.RichText or (
        text_format == Qt.TextFormat.AutoText and Qt.mightBeRichText(text))


def _markup_of_the_file(text: str) -> bool:
    return "<h1" in text or "<b><b>" in text


def _assert_no_rich_text_from_the_file(view) -> int:
    """No label, tooltip, table tooltip or plot title renders the files' markup; returns
    how many texts were checked."""
    from PySide6.QtGui import Qt
    from PySide6.QtWidgets import QLabel, QWidget

    checked = 0
    for label in view.findChildren(QLabel):
        text = label.text()
        if _rendered_as_rich_text(label.textFormat(), text):
            assert not _markup_of_the_file(text), (label.objectName(), text[:200])
        checked += 1
    tips = [w.toolTip() for w in (view, *view.findChildren(QWidget))]
    model = view.model
    tips += [model.index(r, c).data(Qt.ItemDataRole.ToolTipRole)
             for r in range(model.rowCount()) for c in range(model.columnCount())]
    table = view.summary.scalars_table
    tips += [table.item(r, c).toolTip()
             for r in range(table.rowCount()) for c in range(table.columnCount())]
    for tip in tips:
        if tip and Qt.mightBeRichText(tip):
            assert not _markup_of_the_file(tip), tip[:200]
        checked += 1
    for plot in (view.detail.overlay_plot, view.detail.delta_plot):
        assert not _markup_of_the_file(plot.getPlotItem().titleLabel.text)
    return checked


def test_markup_from_the_files_is_shown_as_plain_text(qtbot, make_compare, markup_pair):
    from PySide6.QtCore import Qt

    view = make_compare(*markup_pair)
    _wait_done(qtbot, view)
    assert view.state == "done", view.error
    assert {e.path[-1] for e in view.entries()} >= {MARKUP, DEEP, f"{MARKUP}.added"}
    # the markup is there to read, as text
    assert "&lt;h1 style=&#x27;color:green&#x27;&gt;" in view.summary.files_label.text()
    assert "&lt;h1" in view.summary.largest_label.text()
    scalar_keys = [view.summary.scalars_table.item(r, 0).text()
                   for r in range(view.summary.scalars_table.rowCount())]
    assert MARKUP in scalar_keys and "note" in scalar_keys
    shown = [view.model.index(r, 0).data() for r in range(view.model.rowCount())]
    assert f"model.{MARKUP}" in shown and f"model.{DEEP}" in shown
    for key in (MARKUP, DEEP):
        entry = next(e for e in view.entries() if e.path[-1] == key)
        if view.current_entry() is not entry:
            with qtbot.waitSignal(view.sig_histograms_shown, timeout=TIMEOUT):
                view.select_entry(entry)
        assert view.detail.title_label.textFormat() == Qt.TextFormat.PlainText
        assert view.detail.title_label.text().startswith(f"model.{key}"[:500])
        view.grab()  # lays out and paints every pane with the markup in it
        assert _assert_no_rich_text_from_the_file(view) > 20
    tip = view.model.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("<qt>") and "&lt;" in tip


def test_two_file_arguments_open_a_compare_tab(qtbot, make_window, every_status_pair,
                                               monkeypatch):
    from inspector.ui import app as app_module

    window = make_window()
    app_module._open_files(window, list(every_status_pair))
    compare = window.current_compare()
    assert compare is not None and window.documents() == []
    assert window.is_busy()
    _wait_done(qtbot, compare)
    assert not window.is_busy()
    assert window.act_close.isEnabled()
    window.close_document()
    assert window.compare_views() == []


def test_dropping_a_second_file_can_compare(qtbot, make_window, open_file, every_status_pair,
                                            monkeypatch):
    window = make_window()
    open_file(window, every_status_pair[0])
    monkeypatch.setattr(window, "_ask_drop_action", lambda dropped, current: "compare")
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(every_status_pair[1])])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    compare = window.current_compare()
    assert compare is not None
    assert compare.path_a == os.path.abspath(every_status_pair[0])
    _wait_done(qtbot, compare)
    assert len(window.documents()) == 1


def test_screenshot_of_the_compare_view(tmp_path, every_status_pair):
    out = tmp_path / "compare.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-m", "inspector", *every_status_pair,
                           "--screenshot", str(out), "--size", "1200x800"],
                          capture_output=True, text=True, timeout=200, env=env)
    assert proc.returncode == 0, proc.stderr
    from PySide6.QtGui import QImage

    image = QImage(str(out))
    assert (image.width(), image.height()) == (1200, 800)


def _csv_text(report, write) -> str:
    buf = io.StringIO()
    write(report, buf)
    return buf.getvalue()
