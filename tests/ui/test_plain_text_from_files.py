"""Text from a file is shown as text in the tree and the tensor panel, never rendered as markup
(issue 18, class 3): a key cannot draw a "Verified" banner, and 10 000 nested tags neither
crash Qt's rich-text layout nor hang it."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtGui import Qt as QtGuiNamespace
from PySide6.QtGui import QTextDocument
from PySide6.QtWidgets import QLabel, QTreeView, QWidget

from inspector.core.formats import open_checkpoint
from inspector.core.text import path_text
from inspector.ui.tensor import TensorPanel
from inspector.ui.tree import COL_NAME, COL_SHAPE, CheckpointTreeModel
from inspector.ui.workers import ProcessJobs

torch = pytest.importorskip("torch")

VERIFIED = "<h1 style='color:green'>✔ Verified by Checkpoint Inspector: safe to torch.load</h1>"
DEEP = "<b>" * 10_000 + "deep" + "</b>" * 10_000
NOTE = "<u>note</u>"
NOTE_VALUE = "<h1>value</h1>" + "<i>" * 10_000


@pytest.fixture
def markup_ckpt(tmp_path):
    path = tmp_path / "markup.pth"
    torch.save({VERIFIED: torch.ones(2, 2), DEEP: torch.arange(3.0), NOTE: NOTE_VALUE,
                "nested": {VERIFIED: 1, DEEP: [1, 2]},
                "sd": {f"{VERIFIED}.weight": torch.ones(1), f"{VERIFIED}.bias": torch.ones(1)}},
               path)
    with open_checkpoint(path) as ck:
        yield ck


def _rendered(tooltip: str) -> str:
    """What a tooltip shows: Qt renders it as rich text when it looks like markup."""
    doc = QTextDocument()
    if QtGuiNamespace.mightBeRichText(tooltip):
        doc.setHtml(tooltip)
    else:
        doc.setPlainText(tooltip)
    return doc.toPlainText()


def _indexes(model, parent=QModelIndex()):  # noqa: B008
    for row in range(model.rowCount(parent)):
        for col in range(model.columnCount(parent)):
            yield model.index(row, col, parent)
        yield from _indexes(model, model.index(row, 0, parent))


def test_tree_shows_markup_keys_and_values_as_text(qtbot, markup_ckpt):
    model = CheckpointTreeModel(markup_ckpt)
    names = [i.data() for i in _indexes(model) if i.column() == COL_NAME]
    assert VERIFIED in names and DEEP in names and NOTE in names
    checked = set()
    for index in _indexes(model):
        tip = index.data(Qt.ItemDataRole.ToolTipRole)
        if tip is None:
            continue
        shown = _rendered(tip)
        name = index.siblingAtColumn(COL_NAME).data()
        if index.column() == COL_NAME and name in (VERIFIED, DEEP):
            assert name[:500] in shown  # the tags themselves are shown: nothing was rendered
            checked.add(name)
    assert checked == {VERIFIED, DEEP}
    note = next(i for i in _indexes(model) if i.column() == COL_SHAPE
                and i.siblingAtColumn(COL_NAME).data() == NOTE)
    assert note.data() == repr(NOTE_VALUE)[:200] + "…"  # the cell: plain text, cut
    assert _rendered(note.data(Qt.ItemDataRole.ToolTipRole)).startswith("<h1>value</h1><i><i>")


def test_tree_view_paints_and_shows_tooltips_of_markup_keys(qtbot, markup_ckpt):
    model = CheckpointTreeModel(markup_ckpt)
    view = QTreeView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.resize(900, 500)
    view.expandAll()
    view.show()
    assert not view.grab().isNull()  # paints every row (no rich-text layout, no crash)
    deep = next(i for i in _indexes(model) if i.column() == COL_NAME and i.data() == DEEP)
    tip = deep.data(Qt.ItemDataRole.ToolTipRole)
    assert tip.startswith("<qt>&lt;b&gt;&lt;b&gt;")
    shown = QLabel(tip)  # a tooltip is such a label (auto text format): rendered as rich text
    qtbot.addWidget(shown)
    shown.adjustSize()
    assert not shown.grab().isNull()


def _labels_show_file_text_as_text(panel: TensorPanel) -> None:
    for label in panel.findChildren(QLabel):
        if "<" in label.text():
            assert label.textFormat() == Qt.TextFormat.PlainText, label.text()[:80]
    for widget in panel.findChildren(QWidget):
        assert "<h1" not in widget.toolTip() and "<b><b>" not in widget.toolTip()


@pytest.mark.parametrize("path", [(VERIFIED,), (DEEP,), (NOTE,), ("nested",),
                                  ("sd", f"{VERIFIED}.weight")])
def test_tensor_panel_shows_markup_as_text(qtbot, markup_ckpt, path):
    jobs = ProcessJobs(name="inspector-tensor-test")  # no job runs: the Overview tab only
    panel = TensorPanel(jobs)
    qtbot.addWidget(panel)
    panel.resize(800, 600)
    panel.show()
    node = markup_ckpt.find(path)
    panel.show_node(markup_ckpt, node)
    assert panel.title.text() == path_text(path)
    assert panel.title.textFormat() == Qt.TextFormat.PlainText
    _labels_show_file_text_as_text(panel)
    assert not panel.grab().isNull()
    if path == ("nested",):
        assert VERIFIED in panel.overview_tab.node_text.toPlainText()
    if path == (NOTE,):
        text = panel.overview_tab.node_text.toPlainText()
        assert text == node.value and text.startswith("<h1>value</h1><i><i>")  # as stored
    assert jobs.worker_pid() is None
    jobs.shutdown()
