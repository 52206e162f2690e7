"""The tensor panel's layout (#17 items 6 and 9): it grows with the window, its statistics
reflow instead of being clipped, and histogram axes show real values (no SI prefix)."""

from __future__ import annotations

import pytest

from inspector.core import resources
from inspector.core.formats import open_checkpoint
from inspector.core.stats import compute_stats

DEMO = resources.demo_checkpoint()


@pytest.fixture
def window(make_window):
    w = make_window()
    w.resize(1024, 700)
    w.show()
    return w


def test_the_panel_grows_with_the_window(qtbot, window, open_file):
    view = open_file(window, str(DEMO))
    assert view.select_path(("model_state_dict", "classifier.2.bias"))
    qtbot.waitUntil(lambda: view.tensor_panel is not None and view.tensor_panel.isVisible())
    panel = view.tensor_panel
    qtbot.waitUntil(lambda: panel.width() > 100)
    narrow = panel.width()
    tree_before = view.tree.width()
    window.resize(1920, 1050)
    qtbot.waitUntil(lambda: panel.width() > narrow + 200)
    grown_panel = panel.width() - narrow
    grown_tree = view.tree.width() - tree_before
    # the splitter shares the extra width 3 : 2 between the tree and the panel
    assert grown_panel > 0.5 * grown_tree, (grown_panel, grown_tree)


@pytest.fixture
def stats_panel(qtbot):
    from inspector.ui.tensor import TensorPanel
    from inspector.ui.workers import ProcessJobs

    jobs = ProcessJobs(name="inspector-tensor-layout-test")
    panel = TensorPanel(jobs)
    qtbot.addWidget(panel)
    yield panel
    jobs.shutdown()


def _show_bias(panel):
    ck = open_checkpoint(DEMO)
    node = ck.find(("model_state_dict", "classifier.2.bias"))
    panel.show_tensor(ck, node, compute_stats(ck, node.tensor))
    return ck


@pytest.mark.parametrize("width", [330, 560, 900])
def test_statistics_reflow_and_are_never_clipped(qtbot, stats_panel, width):
    ck = _show_bias(stats_panel)
    stats_panel.resize(width, 600)
    stats_panel.show()
    qtbot.waitExposed(stats_panel)
    page = stats_panel.overview_tab
    qtbot.waitUntil(lambda: page.stat_columns > 0)
    for key, label in page.stat_labels.items():
        # every number shows whole: its label is at least as wide as its text
        needed = label.fontMetrics().horizontalAdvance(label.text())
        assert label.width() >= needed, (width, key, label.text(), label.width(), needed)
        right = label.mapTo(page, label.rect().topRight()).x()
        assert right <= page.width(), (width, key, right, page.width())
    ck.close()


def test_a_wide_panel_shows_three_statistics_per_row(qtbot, stats_panel):
    ck = _show_bias(stats_panel)
    stats_panel.resize(330, 600)
    stats_panel.show()
    qtbot.waitExposed(stats_panel)
    page = stats_panel.overview_tab
    qtbot.waitUntil(lambda: page.stat_columns == 1)
    stats_panel.resize(1000, 600)
    qtbot.waitUntil(lambda: page.stat_columns == 3)
    ck.close()


def test_histogram_axis_shows_real_values(qtbot, stats_panel):
    """Values 0.80-0.97 read 0.8 … 0.95 on the axis, not "value (x0.001)" with 800-950."""
    import numpy as np

    hist = stats_panel.histogram_tab.histogram
    plot = hist.plot_item
    edges = np.linspace(0.80, 0.97, 33)
    hist.set_histogram(edges, np.arange(32.0), mean=0.88)
    stats_panel.resize(700, 500)
    stats_panel.show()
    stats_panel.tabs.setCurrentWidget(stats_panel.histogram_tab)
    qtbot.waitExposed(stats_panel)
    axis = plot.getAxis("bottom")
    qtbot.waitUntil(lambda: axis.range[1] - axis.range[0] < 1.0)
    assert axis.autoSIPrefixScale == 1.0
    assert "x0.001" not in axis.labelString() and "(" not in axis.labelString()
    ticks = [t for level in axis.tickValues(*axis.range, axis.width()) for t in level[1]]
    texts = axis.tickStrings(ticks, axis.autoSIPrefixScale * axis.scale, 0.05)
    assert any(t.startswith("0.8") for t in texts), texts
    assert not any(t.startswith(("800", "850", "900")) for t in texts), texts


def test_every_plot_of_the_panel_and_compare_view_has_real_value_axes(qtbot, stats_panel):
    import pyqtgraph as pg

    from inspector.ui.compare.detail import PairDetail

    detail = PairDetail()
    qtbot.addWidget(detail)
    items = [w.getPlotItem() for w in (detail.overlay_plot, detail.delta_plot)]
    for page in (stats_panel.histogram_tab, stats_panel.heatmap_tab, stats_panel.kernels_tab):
        items += [i for view in page.findChildren(pg.GraphicsView) for i in view.items()
                  if isinstance(i, pg.PlotItem)]
    assert len(items) >= 4
    for item in items:
        for name in ("left", "bottom"):
            assert item.getAxis(name).autoSIPrefix is False, (item, name)
