"""The Inference view's results: verdict, plots, load report, mode-sensitive layers, errors.

The sentences come from :mod:`inspector.core.inference.report`; this module lays them out.
Every string that comes from the file or the user's code (layer and key names, fixes,
architecture names, tracebacks) is shown as plain text or escaped inside our own markup.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import (
    QGroupBox,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QStackedWidget,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from inspector.core.inference import (
    ReportSection,
    RunResult,
    drift_text,
    load_sections,
    timing_rows,
    verdict_text,
)
from inspector.core.text import html_text
from inspector.ui.inference.layers import LayersTable
from inspector.ui.inference.plots import OutputPlots, PredictionsView

LEVEL_COLORS = {"warning": "#c2410c", "error": "#b91c1c", "ok": "#15803d"}
IDLE_TEXT = ("Press Run (Ctrl+R) to run the model 20 times in train mode and 20 times in eval "
             "mode on the same input, and see what model.eval() changes.")


def section_html(section: ReportSection) -> str:
    """One report section as rich text; its strings are escaped (they may come from the
    file)."""
    title = html_text(section.title)
    if not section.items:
        if section.level == "ok":
            title = f"✓ {title}"
        elif section.text:
            title = f"<b>{title}</b> {html_text(section.text)}"
        return f"<p style='margin:0 0 4px 0'>{title}</p>"
    color = LEVEL_COLORS.get(section.level)
    title = f"<b style='color:{color}'>{title}</b>" if color else f"<b>{title}</b>"
    text = f" — {html_text(section.text)}" if section.text else ""
    items = "".join(f"<li><code>{html_text(item)}</code></li>" for item in section.items)
    if section.more:
        items += f"<li>… and {section.more} more</li>"
    return (f"<p style='margin-bottom:0'>{title}{text}:</p>"
            f"<ul style='margin-top:0'>{items}</ul>")


def load_report_html(result: RunResult) -> str:
    """The load report (see :func:`inspector.core.inference.load_sections`) as rich text."""
    return "".join(section_html(s) for s in load_sections(result))


class TimingBox(QGroupBox):
    """Timings per mode, the BatchNorm drift and whether the weights stayed unchanged."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Timings and state", parent)
        layout = QVBoxLayout(self)
        self.timing_label = QLabel("")
        self.timing_label.setObjectName("timings")
        self.timing_label.setTextFormat(Qt.TextFormat.RichText)
        self.timing_label.setWordWrap(True)
        self.timing_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.timing_label)
        self.hide()

    def show_result(self, r: RunResult) -> None:
        rows = "".join(
            f"<tr><td>{name}</td><td align='right'>{ms}</td><td align='right'>{spread}</td>"
            f"<td align='right'>{diff}</td></tr>" for name, ms, spread, diff in timing_rows(r))
        table = (f"<p style='margin:0'>{html_text(r.device)}, {html_text(r.dtype)}, "
                 f"{r.train.runs} runs per mode</p>"
                 "<table cellspacing='0' cellpadding='2' width='100%'>"
                 "<tr><th align='left'>mode</th><th align='right'>ms / run</th>"
                 "<th align='right'>spread</th><th align='right'>max diff</th></tr>"
                 f"{rows}</table>")
        lines = [html_text(drift_text(r))]
        if r.weights_unchanged:
            lines.append(f"<b style='color:{LEVEL_COLORS['ok']}'>Weights unchanged ✓</b>")
        else:
            lines.append(f"<b style='color:{LEVEL_COLORS['error']}'>⚠ The loaded weights "
                         f"changed during the run</b> (the model's forward modifies its own "
                         f"state).")
        self.timing_label.setText(table + "".join(f"<p style='margin:4px 0 0 0'>{line}</p>"
                                                  for line in lines))
        self.show()


class InferenceResults(QWidget):
    """The right-hand side: the verdict above a page with the results (tabs: Predictions,
    Outputs, Weights, Layers), or with an error message and its traceback, or a note that a
    run is going."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.verdict_label = QLabel(IDLE_TEXT)
        self.verdict_label.setObjectName("inferenceVerdict")
        self.verdict_label.setTextFormat(Qt.TextFormat.PlainText)
        self.verdict_label.setWordWrap(True)
        self.verdict_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.verdict_label.setSizePolicy(QSizePolicy.Policy.Expanding,
                                         QSizePolicy.Policy.Minimum)
        layout.addWidget(self.verdict_label)
        self.random_label = QLabel("")
        self.random_label.setObjectName("randomInitWarning")
        self.random_label.setTextFormat(Qt.TextFormat.PlainText)
        self.random_label.setWordWrap(True)
        self.random_label.setStyleSheet(f"color: {LEVEL_COLORS['error']}; font-weight: bold")
        self.random_label.hide()
        layout.addWidget(self.random_label)

        self.pages = QStackedWidget()
        self.empty_page = QLabel("No run yet.", alignment=Qt.AlignmentFlag.AlignCenter)
        self.empty_page.setObjectName("welcomeHint")
        self.empty_page.setWordWrap(True)
        self.pages.addWidget(self.empty_page)
        self.results_page = self._build_result_page()
        self.pages.addWidget(self.results_page)
        self.error_page = self._build_error_page()
        self.pages.addWidget(self.error_page)
        layout.addWidget(self.pages, 1)

    # ---- Public API
    def show_result(self, r: RunResult) -> None:
        self.verdict_label.setText(verdict_text(r))
        keys = r.random_init_keys
        self.random_label.setText(
            f"⚠ Not what the checkpoint predicts: you chose to run anyway, and {len(keys)} "
            f"weight{'s' if len(keys) != 1 else ''} had random values (listed under Weights)."
            if keys else "")
        self.random_label.setVisible(bool(keys))
        has_predictions = self.predictions.show_result(r)
        tabs = self.tabs
        tabs.setTabVisible(tabs.indexOf(self.predictions), has_predictions)
        if has_predictions:
            tabs.setTabText(tabs.indexOf(self.predictions),
                            "Embedding" if self.predictions.kind == "embedding" else "Predictions")
        self.output_plots.show_result(r)
        self.load_view.setHtml(load_report_html(r))
        load = r.load
        problems = len(load.missing_keys) + len(load.shape_mismatches)
        tabs.setTabText(tabs.indexOf(self.load_view),
                        f"Weights ⚠ {problems}" if problems else "Weights")
        self.layers_table.set_layers(r.mode_sensitive_layers)
        tabs.setTabText(tabs.indexOf(self.layers_table),
                        f"Train-mode layers ({len(r.mode_sensitive_layers)})")
        if not tabs.isTabVisible(tabs.currentIndex()):
            tabs.setCurrentWidget(self.output_plots)
        if has_predictions and not self._had_predictions:
            tabs.setCurrentWidget(self.predictions)  # what the outputs mean comes first
        self._had_predictions = has_predictions
        self.pages.setCurrentWidget(self.results_page)

    def show_running(self) -> None:
        """A run has started: the previous result or error is no longer shown as current."""
        self.random_label.hide()
        self.verdict_label.setText("Running… the result replaces this when the run ends.")
        self.empty_page.setText("Running the model in train and in eval mode (progress on "
                                "the left)…")
        self.pages.setCurrentWidget(self.empty_page)

    def show_message(self, text: str, level: str) -> None:
        """A message instead of results (``level``: ``"info"`` or ``"error"``)."""
        self.random_label.hide()
        self.error_label.setProperty("level", level)
        self.error_label.setText(text)
        self.traceback_edit.setPlainText("")
        self.traceback_edit.setVisible(False)
        self.pages.setCurrentWidget(self.error_page)
        self.verdict_label.setText("The model did not run.")

    def show_error(self, message: str, traceback_text: str) -> None:
        """Why the model did not run, with the user code's traceback (if any) as text."""
        self.random_label.hide()
        self.error_label.setProperty("level", "error")
        self.error_label.setText(message)
        self.traceback_edit.setPlainText(traceback_text.rstrip())
        self.traceback_edit.setVisible(bool(traceback_text.strip()))
        self.pages.setCurrentWidget(self.error_page)
        self.verdict_label.setText("The model did not run; the reason is below.")

    def verdict(self) -> str:
        return self.verdict_label.text()

    def message_text(self) -> str:
        """The error or refusal shown (message and traceback), or ""."""
        if self.pages.currentWidget() is not self.error_page:
            return ""
        return self.error_label.text() + "\n" + self.traceback_edit.toPlainText()

    # ---- Private API: building
    def _build_result_page(self) -> QTabWidget:
        self.tabs = QTabWidget()
        self.tabs.setObjectName("inferenceResultTabs")
        self.tabs.setDocumentMode(True)
        self._had_predictions = False  # a result with predictions after one without opens them
        self.predictions = PredictionsView()
        self.tabs.addTab(self.predictions, "Predictions")
        self.output_plots = OutputPlots()
        self.tabs.addTab(self.output_plots, "Outputs")
        # the names earlier code and tests use
        self.outputs_plot = self.output_plots.outputs_plot
        self.outputs_item = self.output_plots.outputs_item
        self.spread_plot = self.output_plots.spread_plot
        self.spread_item = self.output_plots.spread_item
        self.load_view = QTextBrowser()
        self.load_view.setObjectName("loadReport")
        self.load_view.setOpenLinks(False)
        self.tabs.addTab(self.load_view, "Weights")
        self.layers_table = LayersTable()
        self.tabs.addTab(self.layers_table, "Train-mode layers")
        self.tabs.setTabToolTip(self.tabs.indexOf(self.layers_table),
                                "Layers that behave differently in train mode, identical ones "
                                "grouped")
        self.tabs.setTabVisible(0, False)
        self.tabs.setCurrentWidget(self.output_plots)
        return self.tabs

    def _build_error_page(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 0, 0, 0)
        self.error_label = QLabel("")
        self.error_label.setObjectName("runError")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        bold = self.error_label.font()
        bold.setBold(True)
        self.error_label.setFont(bold)
        layout.addWidget(self.error_label)
        self.traceback_edit = QPlainTextEdit()
        self.traceback_edit.setObjectName("runTraceback")
        self.traceback_edit.setReadOnly(True)
        self.traceback_edit.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        mono.setStyleHint(QFont.StyleHint.Monospace)
        self.traceback_edit.setFont(mono)
        layout.addWidget(self.traceback_edit, 1)
        layout.addStretch(0)
        return page

