"""The compare view's detail pane: the selected pair's title, A and B overlaid as histograms,
the histogram of Δ = B − A, and the pair's metrics.

The title is plain text; the metrics table is our markup with every text from a file escaped.
Plot titles are rendered as HTML by pyqtgraph, so they only ever hold our own text.
pyqtgraph is imported when the first pane is built, so the window can import
:class:`~inspector.ui.compare.CompareView` (for ``isinstance``) without loading it."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QWidget

from inspector.core.diff import DiffEntry, PairHistograms
from inspector.core.text import (
    cosine_text,
    dotted_path,
    html_text,
    metric_text,
    number_text,
    percent_text,
    shape_text,
    shorten,
)
from inspector.ui.compare.model import (
    COLOR_A,
    COLOR_B,
    COLOR_DELTA,
    STATUS_COLORS,
    STATUS_LABELS,
)

OVERLAY_TITLE = "Values: A and B"
DELTA_TITLE = "Δ = B − A"
MAX_TITLE_PATH = 1000  # characters of a key path in the title (a label lays out all of them)


class PairDetail(QWidget):
    """Histograms and metrics of one tensor pair."""

    def __init__(self, parent=None):
        import pyqtgraph as pg  # with the first compare tab: the package imports without it

        from inspector.ui.plots import real_value_axes

        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 4, 0, 0)
        grid.setHorizontalSpacing(8)
        self.title_label = QLabel()
        self.title_label.setTextFormat(Qt.TextFormat.PlainText)
        self.title_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.title_label.setObjectName("compareDetailTitle")
        self.title_label.setStyleSheet("font-weight: 600;")
        self.title_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        grid.addWidget(self.title_label, 0, 0, 1, 3)

        self.overlay_plot = pg.PlotWidget()
        self.overlay_plot.setMinimumHeight(120)
        p = real_value_axes(self.overlay_plot.getPlotItem())
        p.setMenuEnabled(False)
        p.setTitle(OVERLAY_TITLE)
        p.setLabel("bottom", "value")
        p.setLabel("left", "count")
        p.showGrid(x=True, y=True, alpha=0.2)
        p.addLegend(offset=(-10, 10))
        self.curve_a = p.plot([0.0, 1.0], [0.0], stepMode="center", fillLevel=0, name="A",
                              pen=pg.mkPen(COLOR_A, width=1.6), brush=(*COLOR_A, 60))
        self.curve_b = p.plot([0.0, 1.0], [0.0], stepMode="center", fillLevel=0, name="B",
                              pen=pg.mkPen(COLOR_B, width=1.6), brush=(*COLOR_B, 60))
        self.curve_a.setData([], [])
        self.curve_b.setData([], [])

        self.delta_plot = pg.PlotWidget()
        self.delta_plot.setMinimumHeight(120)
        d = real_value_axes(self.delta_plot.getPlotItem())
        d.setMenuEnabled(False)
        d.setTitle(DELTA_TITLE)
        d.setLabel("bottom", "difference")
        d.setLabel("left", "count")
        d.showGrid(x=True, y=True, alpha=0.2)
        self.curve_delta = d.plot([0.0, 1.0], [0.0], stepMode="center", fillLevel=0,
                                  pen=pg.mkPen(COLOR_DELTA, width=1.6), brush=(*COLOR_DELTA, 70))
        self.curve_delta.setData([], [])
        d.addItem(pg.InfiniteLine(0.0, angle=90,
                                  pen=pg.mkPen((140, 140, 140), style=Qt.PenStyle.DashLine)))

        self.metrics_label = QLabel()
        self.metrics_label.setObjectName("compareMetrics")
        self.metrics_label.setTextFormat(Qt.TextFormat.RichText)
        self.metrics_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.metrics_label.setWordWrap(True)
        self.metrics_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.metrics_label.setMinimumWidth(230)
        self.metrics_label.setMaximumWidth(300)

        grid.addWidget(self.overlay_plot, 1, 0)
        grid.addWidget(self.delta_plot, 1, 1)
        grid.addWidget(self.metrics_label, 1, 2)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(1, 1)

    # ---- Public API
    def show_message(self, message: str) -> None:
        """No pair: empty plots and ``message`` in place of the title."""
        self.clear_plots()
        self.title_label.setText(message)
        self.metrics_label.setText("")

    def clear_plots(self) -> None:
        for c in (self.curve_a, self.curve_b, self.curve_delta):
            c.setData([], [])
        self.overlay_plot.getPlotItem().setTitle(OVERLAY_TITLE)
        self.delta_plot.getPlotItem().setTitle(DELTA_TITLE)

    def show_entry(self, e: DiffEntry, computing: bool) -> None:
        """The pair's title and metrics; its histograms follow (``computing``) or never come."""
        self.clear_plots()
        self.title_label.setText(entry_title(e))
        self.metrics_label.setText(metrics_html(e, None))
        if computing:
            self.overlay_plot.getPlotItem().setTitle(f"{OVERLAY_TITLE} (computing…)")

    def show_histograms(self, e: DiffEntry, h: PairHistograms) -> None:
        """Draw the pair's histograms; a Δ histogram only where both sides have one shape."""
        edges = list(h.edges)
        self.curve_a.setData(edges, list(h.a.counts) if h.a else [0] * (len(edges) - 1),
                             stepMode="center", fillLevel=0)
        self.curve_b.setData(edges, list(h.b.counts) if h.b else [0] * (len(edges) - 1),
                             stepMode="center", fillLevel=0)
        self.curve_a.setVisible(h.a is not None)
        self.curve_b.setVisible(h.b is not None)
        sampled = f" (every {h.step:,}th value)" if h.step > 1 else ""
        self.overlay_plot.getPlotItem().setTitle(OVERLAY_TITLE + sampled)
        self.overlay_plot.getPlotItem().enableAutoRange()
        dp = self.delta_plot.getPlotItem()
        if h.delta_counts:
            self.curve_delta.setData(list(h.delta_edges), list(h.delta_counts),
                                     stepMode="center", fillLevel=0)
            dp.setTitle(DELTA_TITLE + sampled)
        else:
            self.curve_delta.setData([], [])
            why = ("one side only" if h.a is None or h.b is None else "shapes differ")
            dp.setTitle(f"{DELTA_TITLE}: not defined ({why})")
        dp.enableAutoRange()
        self.metrics_label.setText(metrics_html(e, h))


# ---- Text of the detail pane
def entry_title(e: DiffEntry) -> str:
    """The pair's key path and status; A's path too when the alignment renamed it."""
    title = f"{shorten(dotted_path(e.path), MAX_TITLE_PATH)} — " \
            f"{STATUS_LABELS.get(e.status, e.status)}"
    if e.path_a is not None and e.path_b is not None and e.path_a != e.path_b:
        title += f"   (A: {shorten(dotted_path(e.path_a), MAX_TITLE_PATH)})"
    return title


def metrics_html(e: DiffEntry, h: PairHistograms | None) -> str:
    """The pair's metrics as a small table (rich text; every text from a file escaped)."""
    rows = []

    def add(name: str, value: str) -> None:
        rows.append(f"<tr><td style='padding-right:10px'>{name}</td><td>{value}</td></tr>")

    color = STATUS_COLORS.get(e.status, "#888")
    add("status", f"<b style='color:{color}'>{STATUS_LABELS.get(e.status, e.status)}</b>")
    dtype = e.dtype_a if e.dtype_a == e.dtype_b else f"{e.dtype_a or '–'} → {e.dtype_b or '–'}"
    shape = (shape_text(e.shape_a) if e.shape_a == e.shape_b
             else f"{shape_text(e.shape_a)} → {shape_text(e.shape_b)}")
    add("dtype", html_text(dtype))
    add("shape", html_text(shape))
    if e.max_abs_diff is not None:
        add("max |Δ|", metric_text(e.max_abs_diff))
        add("mean |Δ|", metric_text(e.mean_abs_diff))
        add("rel L2", metric_text(e.rel_l2))
        add("cosine", cosine_text(e.cosine))
    if e.num_diff is not None:
        pct = f" ({percent_text(e.num_diff, e.numel)})" if e.numel else ""
        add("# differ", f"{metric_text(e.num_diff)} of {metric_text(e.numel)}{pct}")
    if e.nan_a or e.nan_b:
        add("NaN", f"{metric_text(e.nan_a or 0)} → {metric_text(e.nan_b or 0)}")
    if e.close is not None:
        add("close", "yes" if e.close else "no")
    if h is not None:
        if h.a is not None and h.a.mean is not None:
            add(f"<span style='color:rgb{COLOR_A}'>mean A</span>", number_text(h.a.mean))
        if h.b is not None and h.b.mean is not None:
            add(f"<span style='color:rgb{COLOR_B}'>mean B</span>", number_text(h.b.mean))
        if h.delta_mean is not None:
            add("mean Δ", number_text(h.delta_mean))
    notes = [n for n in (e.note, h.note if h else "") if n]
    html = "<table>" + "".join(rows) + "</table>"
    if notes:
        html += "<p><i>" + html_text("; ".join(notes)) + "</i></p>"
    return html
