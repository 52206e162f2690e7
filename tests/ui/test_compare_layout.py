"""The compare view's room and texts (#17 items 4, 5, 14): the table gets the space, plots
only once a row is selected, columns fit their content and are remembered, whole keys,
same-file notice, export confirmation and the dotted CSV path, select_key for other views.

The diff items are computed in-process (stream_diff) and fed through a stand-in runner, so
these tests start no worker process."""

from __future__ import annotations

import csv
import os

import pytest
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QHeaderView

from inspector.core.diff import stream_diff
from inspector.core.text import dotted_path
from inspector.ui.compare import COLUMNS, CompareView
from inspector.ui.compare.columns import SETTINGS_KEY, elide_path, text_margin


class FakeRunner(QObject):
    """Stands in for a ProcessJobs: records submits and cancels; the test emits results."""

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


LONG = "encoder.layers.11.attention.self_attention.query_key_value_projection.weight"


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A training checkpoint and its next epoch: model, long keys, optimizer state whose
    param_groups changed (lr, momentum, weight_decay), and a shape change."""
    import torch

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("compare_layout")
    model = {f"features.{i}.{n}": torch.randn(16, 8) for i in range(6) for n in ("weight", "bias")}
    model[LONG] = torch.randn(1024, 1, 51)
    model["head.weight"] = torch.zeros(2, 3)
    groups = [{"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4, "params": [0, 1]}]
    state = {i: {"momentum_buffer": torch.randn(16, 8)} for i in range(3)}
    a = {"epoch": 1, "model": model,
         "optimizer": {"state": state, "param_groups": groups}}
    model_b = {k: v + 0.01 for k, v in model.items()}
    model_b["head.weight"] = torch.zeros(3, 2)
    groups_b = [{"lr": 0.05, "momentum": 0.95, "weight_decay": 5e-4, "params": [0, 1]}]
    state_b = {i: {"momentum_buffer": v["momentum_buffer"] * 2} for i, v in state.items()}
    b = {"epoch": 2, "model": model_b,
         "optimizer": {"state": state_b, "param_groups": groups_b}}
    pa, pb = folder / "epoch_1.pth", folder / "epoch_2.pth"
    torch.save(a, pa)
    torch.save(b, pb)
    return str(pa), str(pb)


@pytest.fixture
def make_view(qtbot):
    """A CompareView on stand-in runners, shown at a size; ``feed(view)`` streams the real
    diff's items into it and finishes the job."""
    views = []

    def make(a, b, size=(1400, 900), settings=None, **options):
        jobs, detail_jobs = FakeRunner(), FakeRunner()
        view = CompareView(a, b, jobs, detail_jobs, settings=settings, **options)
        qtbot.addWidget(view)
        view.resize(*size)
        view.show()
        qtbot.waitExposed(view)
        views.append(view)
        return view

    yield make
    for v in views:
        v.shutdown()


def feed(qtbot, view, items=None, finish=True):
    jobs = view.jobs
    job_id, _target, kwargs = jobs.submitted[-1]
    if items is None:
        items = list(stream_diff(kwargs["path_a"], kwargs["path_b"],
                                 atol=kwargs["atol"], rtol=kwargs["rtol"]))
    for item in items:
        jobs.sig_item.emit(job_id, item)
    if finish:
        with qtbot.waitSignal(view.sig_diff_finished, timeout=10_000):
            jobs.sig_finished.emit(job_id, False, None)
        assert view.state == "done", view.error
    return items


def _row_of(view, last_key):
    return next(r for r in range(view.proxy.rowCount())
                if dotted_path(view.proxy.index(r, 0).data(Qt.ItemDataRole.UserRole + 1).path)
                .endswith(last_key))


def test_the_table_has_the_room_until_a_row_is_selected(qtbot, make_view, pair):
    view = make_view(*pair)
    feed(qtbot, view)
    # no automatic selection, no plots: the table has the space
    assert view.current_entry() is None
    assert view.detail.isHidden()
    assert view.detail_jobs.submitted == []
    rows_shown = view.table.viewport().height() // view.table.rowHeight(0)
    assert rows_shown >= 25, rows_shown  # at 1400×900 (it was about 9)
    summary, middle, plots = view.splitter.sizes()
    assert plots == 0 and middle > 2 * summary
    # selecting a row shows the plots and asks for its histograms
    view.table.selectRow(_row_of(view, "features.0.weight"))
    assert not view.detail.isHidden()
    qtbot.waitUntil(lambda: view.splitter.sizes()[2] > 0)
    assert view.detail.height() >= 200
    assert view.table.viewport().height() // view.table.rowHeight(0) >= 10
    assert [t for _id, t, _kw in view.detail_jobs.submitted] == [
        "inspector.core.diff:pair_histograms"]


def test_columns_fit_their_content_and_are_resizable(qtbot, make_view, pair):
    view = make_view(*pair, size=(1920, 1080))
    feed(qtbot, view)
    header = view.table.horizontalHeader()
    fm = view.table.fontMetrics()
    for col in range(len(COLUMNS)):
        if header.isSectionHidden(col):
            continue
        assert header.sectionResizeMode(col) == QHeaderView.ResizeMode.Interactive, COLUMNS[col]
        if col == 0:
            continue
        for row in range(view.model.rowCount()):
            text = view.model.index(row, col).data()
            # shapes and numbers are never elided
            assert header.sectionSize(col) >= fm.horizontalAdvance(text) + 8, (COLUMNS[col], text)
    long_row = _row_of(view, LONG)
    assert view.proxy.index(long_row, 4).data() == "1024×1×51"
    # at 1920 px the longest key shows whole
    path_text = view.proxy.index(long_row, 0).data()
    assert header.sectionSize(0) >= fm.horizontalAdvance(path_text)
    # the table fills its width: no blank band on the right, no scroll bar
    visible = sum(header.sectionSize(c) for c in range(len(COLUMNS)) if not header.isSectionHidden(c))
    assert visible == view.table.viewport().width()


def test_close_column_only_with_a_tolerance(qtbot, make_view, pair):
    view = make_view(*pair)
    close = COLUMNS.index("Close")
    assert view.table.isColumnHidden(close)
    view.set_tolerance(0.5, None)
    feed(qtbot, view)
    assert not view.table.isColumnHidden(close)


def test_a_narrow_table_elides_keys_in_the_middle_keeping_their_end(qtbot, make_view, pair):
    view = make_view(*pair, size=(1024, 700))
    feed(qtbot, view)
    header = view.table.horizontalHeader()
    fm = view.table.fontMetrics()
    width = header.sectionSize(0)
    assert width >= 240
    full = f"model.{LONG}"
    assert fm.horizontalAdvance(full) > width  # too long for the column at 1024 px
    shown = elide_path(full, fm, width - text_margin(view.table))
    assert shown.startswith("model") and shown.endswith("query_key_value_projection.weight")
    assert "…" in shown and fm.horizontalAdvance(shown) <= width
    # what the delegate paints
    from PySide6.QtWidgets import QStyleOptionViewItem

    index = view.proxy.index(_row_of(view, LONG), 0)
    option = QStyleOptionViewItem()
    option.initFrom(view.table)
    option.rect = view.table.visualRect(index)
    view.columns.delegate.initStyleOption(option, index)
    assert option.text == shown
    assert option.text.endswith(".weight")


def test_elide_path():
    from PySide6.QtGui import QFont, QFontMetrics

    fm = QFontMetrics(QFont())
    text = "optimizer_state_dict.param_groups.0.weight_decay"
    assert elide_path(text, fm, 10_000) == text
    narrow = elide_path(text, fm, fm.horizontalAdvance("optimizer_state_dict … 0.weight_decay"))
    assert narrow == "optimizer_state_dict … 0.weight_decay"
    tiny = elide_path(text, fm, fm.horizontalAdvance("… weight_decay"))
    assert tiny == "… weight_decay"
    assert elide_path("x" * 200, fm, 50).count("…") == 1


def test_user_widths_and_heights_are_remembered(qtbot, make_view, pair, settings):
    view = make_view(*pair, settings=settings)
    feed(qtbot, view)
    header = view.table.horizontalHeader()
    status = COLUMNS.index("Status")
    header.resizeSection(status, 181)  # what a drag on the divider does
    header.resizeSection(0, 900)  # wider than the room left: the table scrolls
    assert view.columns.user_widths() == {"Status": 181, "Path": 900}
    assert settings.splitter_state(SETTINGS_KEY) is not None
    view.table.selectRow(0)
    view.splitter.moveSplitter(view.splitter.sizes()[0] + 40, 1)  # taller summary
    summary_height = view.splitter.sizes()[0]

    again = make_view(*pair, settings=settings)
    feed(qtbot, again)
    header2 = again.table.horizontalHeader()
    assert header2.sectionSize(status) == 181 and header2.sectionSize(0) == 900
    qtbot.waitUntil(lambda: again.splitter.sizes()[0] == summary_height)
    # a narrow Path still fills the room left over: no blank band on the right
    header2.resizeSection(0, 250)
    again.columns.fit()
    visible = sum(header2.sectionSize(c) for c in range(len(COLUMNS))
                  if not header2.isSectionHidden(c))
    assert header2.sectionSize(0) > 250 and visible == again.table.viewport().width()
    # "Fit Columns to Content" forgets them
    again.columns.fit_to_content()
    assert again.columns.user_widths() == {}
    assert header2.sectionSize(status) < 181


def test_non_tensor_keys_are_shown_whole(qtbot, make_view, pair):
    view = make_view(*pair)
    feed(qtbot, view)
    table = view.summary.scalars_table
    qtbot.waitUntil(lambda: table.rowCount() == 4)
    keys = [table.item(r, 0).text() for r in range(table.rowCount())]
    assert keys == ["epoch", "optimizer.param_groups.0.lr", "optimizer.param_groups.0.momentum",
                    "optimizer.param_groups.0.weight_decay"]
    fm = table.fontMetrics()
    assert table.columnWidth(0) >= max(fm.horizontalAdvance(k) for k in keys)
    # and the delegate draws them whole
    from PySide6.QtWidgets import QStyleOptionViewItem

    for row in range(table.rowCount()):
        index = table.model().index(row, 0)
        option = QStyleOptionViewItem()
        option.initFrom(table)
        option.rect = table.visualRect(index)
        table.itemDelegateForColumn(0).initStyleOption(option, index)
        assert option.text == keys[row]
    for col in (1, 2):
        values = [table.item(r, col).text() for r in range(table.rowCount())]
        assert table.columnWidth(col) >= max(fm.horizontalAdvance(v) for v in values)
    assert table.horizontalHeader().length() <= table.viewport().width()
    # every row of the table shows at the first height
    assert table.viewport().height() >= 4 * table.rowHeight(0)


def test_a_file_compared_with_itself_says_so(qtbot, make_view, pair, tmp_path):
    view = make_view(pair[0], pair[0])
    notice = view.summary.notice_label
    assert not notice.isHidden()
    assert "A and B are the same file (epoch_1.pth)" in notice.text()
    feed(qtbot, view)
    assert "same file" in notice.text()
    # a link to the file is the same file too
    link = tmp_path / "link.pth"
    os.symlink(pair[0], link)
    assert make_view(pair[0], str(link)).same_file
    # two copies: not the same file, but the notice says nothing differs
    import shutil

    copy = tmp_path / "copy.pth"
    shutil.copyfile(pair[0], copy)
    copied = make_view(pair[0], str(copy))
    assert not copied.same_file and copied.summary.notice_label.isHidden()
    feed(qtbot, copied)
    assert copied.summary.notice_label.text().startswith("No differences: all 17 tensors")
    # and no notice where files differ
    other = make_view(*pair)
    feed(qtbot, other)
    assert other.summary.notice_label.isHidden()


def test_export_confirms_where_it_wrote_and_csv_paths_are_dotted(qtbot, make_view, pair,
                                                                   tmp_path, monkeypatch):
    from inspector.ui.compare import view as view_module

    view = make_view(*pair)
    feed(qtbot, view)
    out = tmp_path / "report.csv"
    monkeypatch.setattr(view_module, "ask_export_path", lambda *_a: str(out))
    assert view.export_label.isHidden()
    view.controls.export_button.click()
    assert not view.export_label.isHidden()
    assert view.export_label.text() == (f"Saved the comparison (CSV table, 17 tensors) to {out}")
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    paths = {r["path"] for r in rows}
    assert f"model.{LONG}" in paths and "optimizer.state.0.momentum_buffer" in paths
    assert not any(p.startswith("[") for p in paths)
    # a refused target says why and takes the confirmation away
    monkeypatch.setattr(view_module, "ask_export_path", lambda *_a: pair[0])
    view.controls.export_button.click()
    assert view.export_label.isHidden()
    assert "will not write over" in view.problem_label.text()


def test_select_key_selects_now_or_when_the_row_arrives(qtbot, make_view, pair):
    view = make_view(*pair)
    jobs = view.jobs
    job_id = jobs.submitted[-1][0]
    items = list(stream_diff(*pair))
    # asked for before the diff has reached it: selected when its row arrives
    assert view.select_key(("model", LONG)) is False
    for item in items:
        jobs.sig_item.emit(job_id, item)
    qtbot.waitUntil(lambda: view.current_entry() is not None)
    assert view.current_entry().path == ("model", LONG)
    assert not view.detail.isHidden()
    jobs.sig_finished.emit(job_id, False, None)
    # the dotted text works too, and a key that is not there is refused
    assert view.select_key("optimizer.state.1.momentum_buffer") is True
    assert dotted_path(view.current_entry().path) == "optimizer.state.1.momentum_buffer"
    assert view.select_key(("model", "nope")) is False
    assert dotted_path(view.current_entry().path) == "optimizer.state.1.momentum_buffer"


def test_focus_alone_shows_no_plots_and_a_small_window_keeps_table_rows(qtbot, make_view, pair):
    view = make_view(*pair, size=(1024, 640))
    feed(qtbot, view)
    # focus (e.g. after a dialog closes) makes row 0 current without selecting it
    view.table.setFocus(Qt.FocusReason.TabFocusReason)
    qtbot.waitUntil(lambda: view.table.currentIndex().isValid())
    assert view.current_entry() is None and view.detail.isHidden()
    assert view.detail_jobs.submitted == []
    view.table.selectRow(2)
    assert not view.detail.isHidden()
    qtbot.waitUntil(lambda: view.splitter.sizes()[2] > 0)
    assert view.table.viewport().height() // view.table.rowHeight(0) >= 8
    assert view.detail.height() >= 140


def test_a_compare_tab_uses_the_window_settings(qtbot, make_window, settings, pair):
    window = make_window()
    window.show()
    view = window.open_compare(*pair)
    qtbot.waitExposed(view)
    qtbot.waitUntil(lambda: view._settings is not None)
    view.table.horizontalHeader().resizeSection(COLUMNS.index("Status"), 150)
    assert settings.splitter_state(SETTINGS_KEY) is not None
    view.cancel()
    qtbot.waitUntil(lambda: not view.running, timeout=60_000)


def test_columns_follow_a_font_change(qtbot, make_view, pair):
    view = make_view(*pair, size=(1920, 1080))
    feed(qtbot, view)
    shape = COLUMNS.index("Shape A")
    before = view.table.horizontalHeader().sectionSize(shape)
    font = view.table.font()
    font.setPointSizeF(font.pointSizeF() * 1.6)
    view.table.setFont(font)
    fm = view.table.fontMetrics()
    qtbot.waitUntil(lambda: view.table.horizontalHeader().sectionSize(shape) > before)
    assert view.table.horizontalHeader().sectionSize(shape) >= fm.horizontalAdvance("1024×1×51")


def test_double_click_on_a_divider_fits_the_whole_key(qtbot, make_view, pair):
    view = make_view(*pair, size=(1024, 700))
    feed(qtbot, view)
    fm = view.table.fontMetrics()
    view.table.resizeColumnToContents(0)  # what a double-click on Path's divider does
    assert view.table.columnWidth(0) >= fm.horizontalAdvance(f"model.{LONG}")
    assert view.columns.user_widths()["Path"] == view.table.columnWidth(0)
