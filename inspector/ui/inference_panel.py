"""The Inference view: run a checkpoint's model in train and in eval mode and show the difference.

The panel gathers the choices (architecture, input, device, dtype, runs), runs
:func:`inspector.core.inference.iter_run_demo_plain` in a worker process through
:class:`~inspector.ui.workers.ProcessJobs`, and shows the :class:`RunResult`: a plain-language
verdict, the per-output values of every train run against the eval output, the spread across
runs, the load report, the mode-sensitive layers, timings and the BatchNorm drift.

Code from the file runs only after an explicit "trust this file" answer in a dialog that names
the globals, for that one run; the answer is never stored and never used after an error.
"""

from __future__ import annotations

import json
import os
import re
from html import escape
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QFont, QFontDatabase, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QStackedWidget,
    QStyle,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from inspector.core.text import format_bytes, metric_text
from inspector.ui.settings import Settings

RUN_TARGET = "inspector.core.inference:iter_run_demo_plain"
OPTIONS_TARGET = "inspector.core.inference:iter_inference_options"
MIN_PROPOSAL_SCORE = 0.5  # as the core's: below this a built-in is not preselected
MAX_PLOT_OUTPUTS = 512  # outputs drawn per plot; more would be an unreadable smear
MAX_LISTED_KEYS = 12
ARCH_FILE = "file"  # the architecture stored in the file (whole-model pickle, TorchScript, .pt2)
ARCH_CODE = "code"  # the user's own code: path/to/model.py + class, or package.module:Class
BUILTIN_PREFIX = "builtin:"

TRAIN_COLOR = (52, 120, 200)
EVAL_COLOR = (225, 110, 20)
GAP_COLOR = (160, 60, 170)


# ---- Plain helpers (no widgets)
def parse_shape(text: str) -> tuple[int, ...] | None:
    """One sample's shape from text like ``3x32x32``, ``3, 32, 32`` or ``[3, 32, 32]``;
    None for empty text (automatic). Raises ValueError with a readable message."""
    text = text.strip()
    if not text or text.lower().startswith("auto"):
        return None
    parts = [p for p in re.split(r"[\s,x×*()\[\]]+", text.lower()) if p]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"input shape {text!r} is not a list of whole numbers, e.g. 3x32x32"
                         ) from None
    if not shape or any(s < 1 for s in shape):
        raise ValueError(f"input shape {text!r} needs dimensions of at least 1, e.g. 3x32x32")
    return shape


def _names(layers: list, limit: int = 3) -> str:
    names = [layer.name for layer in layers]
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def verdict_text(result: Any) -> str:
    """One paragraph in plain language: what eval and train mode did, and why."""
    n = result.train.runs
    layers = result.mode_sensitive_layers
    dropout = [m for m in layers if "Dropout" in m.type]
    norm = [m for m in layers if "Norm" in m.type]
    random_other = [m for m in layers if m not in dropout and m not in norm]
    if result.eval.max_run_diff == 0:
        text = f"In eval mode the {n} runs are identical"
    else:
        text = (f"Even in eval mode the {n} runs differ (spread {metric_text(result.eval.spread)}): "
                f"the model's forward pass is itself random")
    if result.train.max_run_diff > 0:
        reasons = []
        if dropout:
            reasons.append(f"Dropout ({_names(dropout)}) zeroes a different random set of "
                           f"activations on every pass")
        if random_other:
            reasons.append(f"{random_other[0].type} ({_names(random_other)}) is random in "
                           f"train mode")
        text += (f"; in train mode they spread by {metric_text(result.train.spread)} on average "
                 f"(largest difference between two runs {metric_text(result.train.max_run_diff)})")
        if reasons:
            text += " because " + " and ".join(reasons)
    else:
        text += "; in train mode they are identical too"
        if norm:
            text += " (BatchNorm is not random: with the same batch it gives the same output)"
    text += "."
    gap = result.eval_vs_train_mean
    if gap > 1e-6 * max(1.0, float(np.abs(result.eval.outputs).mean()) if
                        result.eval.outputs.size else 1.0):
        why = []
        if norm:
            why.append(f"BatchNorm ({_names(norm)}) normalizes with the batch's own mean and "
                       f"variance instead of the stored running statistics")
        elif dropout:
            why.append(f"the {n} random Dropout masks do not average out exactly")
        text += (f" The eval output differs from the mean of the train runs by {metric_text(gap)} on "
                 f"average")
        text += (" because " + " and ".join(why) + "." if why else ".")
        text += " Call model.eval() before inference."
    elif not layers:
        text += (" This model has no Dropout or BatchNorm layers, so model.eval() changes "
                 "nothing here (calling it is still good practice).")
    else:
        text += " Train and eval outputs agree here."
    return text


def load_report_html(result: Any) -> str:
    """The load report as HTML: what was loaded, fixes, missing/unexpected keys, mismatches."""
    load = result.load

    def listing(keys: list[str]) -> str:
        items = "".join(f"<li><code>{escape(k)}</code></li>" for k in keys[:MAX_LISTED_KEYS])
        more = len(keys) - MAX_LISTED_KEYS
        if more > 0:
            items += f"<li>… and {more} more</li>"
        return f"<ul style='margin-top:0'>{items}</ul>"

    parts = [f"<b>{load.loaded_keys} tensor{'s' if load.loaded_keys != 1 else ''} loaded</b> "
             f"into <b>{escape(result.architecture)}</b>"]
    if load.container:
        parts.append(f"from <code>{escape('/'.join(str(k) for k in load.container))}</code>")
    html = [" ".join(parts)]
    if load.fixes_applied:
        html.append("<p style='margin-bottom:0'><b>Fixes applied</b> (in memory; the file is "
                    "not changed):</p>" + "<ul style='margin-top:0'>" +
                    "".join(f"<li>{escape(f)}</li>" for f in load.fixes_applied) + "</ul>")
    ok = not (load.missing_keys or load.unexpected_keys or load.shape_mismatches)
    if ok:
        html.append("<p>✓ Every key matched in name and shape.</p>")
    if load.missing_keys:
        html.append(f"<p style='margin-bottom:0'><b style='color:#c2410c'>Missing keys "
                    f"({len(load.missing_keys)})</b>: the model has them, the file does not; "
                    f"they keep their initial values.</p>" + listing(load.missing_keys))
    if load.unexpected_keys:
        html.append(f"<p style='margin-bottom:0'><b style='color:#c2410c'>Unexpected keys "
                    f"({len(load.unexpected_keys)})</b>: in the file, not in the model; "
                    f"ignored.</p>" + listing(load.unexpected_keys))
    if load.shape_mismatches:
        rows = "".join(
            f"<li><code>{escape(m.key)}</code>: file {list(m.checkpoint_shape)}, model "
            f"{list(m.model_shape)}</li>" for m in load.shape_mismatches[:MAX_LISTED_KEYS])
        html.append(f"<p style='margin-bottom:0'><b style='color:#b91c1c'>Shape mismatches "
                    f"({len(load.shape_mismatches)})</b>: not loaded.</p>"
                    f"<ul style='margin-top:0'>{rows}</ul>")
    if result.notes:
        html.append("<p style='margin-bottom:0'><b>Notes</b></p><ul style='margin-top:0'>" +
                    "".join(f"<li>{escape(n)}</li>" for n in result.notes) + "</ul>")
    html.append(f"<p>{escape(result.input_description[:1].upper() + result.input_description[1:])}"
                f"; output {list(result.output_shape)}.</p>")
    return "".join(html)


def ask_trust(parent: QWidget | None, path: str, kind_text: str, globals_: list[str]) -> bool:
    """Ask whether to run code from ``path``; True only for an explicit Yes."""
    if globals_:
        named = "\n".join(f"  • {g}" for g in globals_[:30])
        if len(globals_) > 30:
            named += f"\n  … and {len(globals_) - 30} more"
        what = f"These globals would be imported and run:\n{named}"
    else:
        what = "The code stored in the file would run (it cannot be listed as globals)."
    text = (f"{os.path.basename(path)} is a {kind_text}. Running its own model executes code "
            f"from the file.\n\n{what}\n\nOnly continue if you trust where this file came from. "
            f"The answer applies to this run only and is not remembered.")
    answer = QMessageBox.warning(
        parent, "Trust this file?", text,
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


class InferencePanel(QWidget):
    """Train vs. eval mode for one checkpoint: choices on the left, results on the right.

    Emits
    -----
    sig_run_started(int)
        A run was submitted: its job id.
    sig_run_finished(str)
        A run ended: "done", "failed", "cancelled" or "refused" (trust declined).
    """

    sig_run_started = Signal(int)
    """A run was submitted to the worker process: its job id."""
    sig_run_finished = Signal(str)
    """A run ended: "done", "failed", "cancelled" or "refused"."""

    def __init__(self, path: str, settings: Settings, jobs: QObject | None = None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.path = os.path.abspath(path)
        self._settings = settings
        self._jobs_service = jobs
        self._owns_jobs = False
        self._connected = False
        self._job_id = 0
        self._options_job = 0
        self._options = None
        self._run_when_ready = False
        self._running = False
        self._state = ""
        self._result = None
        self._choices: dict[str, Any] = {}  # built-in name -> ArchitectureChoice (plain)
        self._devices: list = []
        self._populating = False
        self._build()
        shortcut = QShortcut(QKeySequence("Ctrl+R"), self)
        shortcut.setContext(Qt.ShortcutContext.WindowShortcut)  # hidden panels do not match
        shortcut.activated.connect(self.run)
        self._shortcut = shortcut

    # ---- Qt overrides
    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.prepare()

    # ---- Public API
    def prepare(self) -> None:
        """Read what the file offers (kind, matching built-ins, devices) in the worker process.

        Done when the panel is first shown or a run is asked for, so opening a file costs
        nothing and the GUI process never imports torch.
        """
        if self._options is not None or self._options_job:
            return
        self._populating = True
        self.arch_combo.clear()
        self.arch_combo.addItem("Reading the checkpoint…")
        self.arch_combo.setEnabled(False)
        self._populating = False
        self.run_button.setEnabled(False)
        self.status_label.setText("Reading the checkpoint and the available devices…")
        self._options_job = self._jobs().submit(OPTIONS_TARGET, {"path": self.path})

    def is_ready(self) -> bool:
        """True once the choices are filled in from the file."""
        return self._options is not None

    def architecture_key(self) -> str:
        """The selected entry: ``"file"``, ``"code"`` or ``"builtin:<name>"``."""
        return self.arch_combo.currentData() or ""

    def set_architecture(self, key: str) -> bool:
        """Select ``"file"``, ``"code"``, ``"builtin:<name>"`` or a bare built-in name."""
        index = self.arch_combo.findData(key)
        if index < 0:
            index = self.arch_combo.findData(BUILTIN_PREFIX + key)
        if index < 0:
            return False
        self.arch_combo.setCurrentIndex(index)
        return True

    def set_user_code(self, path_or_module: str, class_name: str = "") -> None:
        """Choose "Your code…" with a .py file (or module) and class name."""
        self.set_architecture(ARCH_CODE)
        self.code_edit.setText(path_or_module)
        self.class_edit.setText(class_name)
        self._save_choice()

    def architecture_spec(self) -> str | None:
        """What the core gets as ``architecture`` (None: the file's own); ValueError when the
        user-code fields are incomplete."""
        key = self.architecture_key()
        if key == ARCH_FILE:
            return None
        if key.startswith(BUILTIN_PREFIX):
            return key[len(BUILTIN_PREFIX):]
        target = self.code_edit.text().strip()
        cls = self.class_edit.text().strip()
        if not target:
            raise ValueError("choose your model's .py file (or type package.module:Class)")
        if ":" in target and not cls and not re.match(r"^[A-Za-z]:[\\/]", target):
            return target
        if not cls:
            raise ValueError("type the name of the model class in your code")
        return f"{target}:{cls}"

    def devices(self) -> list[str]:
        """The device names offered (only available ones)."""
        return [self.device_combo.itemData(i) for i in range(self.device_combo.count())]

    def run(self) -> bool:
        """Start a run with the current choices; False when nothing was started."""
        if self._running:
            return False
        if self._options is None:
            self._run_when_ready = True  # runs as soon as the choices are filled in
            self.prepare()
            return True
        try:
            request = self._request()
        except ValueError as e:
            self._show_error(str(e), "")
            self._finish("failed")
            return False
        if request["architecture"] is None:
            if not ask_trust(self, self.path, self._options.kind_text or "file",
                             list(self._options.globals)):
                self._show_message(
                    "Not run: you did not trust this file, so none of its code was executed. "
                    "To run it without trusting it, choose a built-in architecture or your own "
                    "code above; the weights are then read without running the file.", "info")
                self._finish("refused")
                return False
            request["trust"] = True  # this run only; never stored
        self._save_choice()
        self._result = None
        self._running = True
        self._state = "running"
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setRange(0, 0)
        self.progress.show()
        self.cancel_button.show()
        self.status_label.setText("Starting the worker process…")
        self._job_id = self._jobs().submit(RUN_TARGET, request)
        self.sig_run_started.emit(self._job_id)
        return True

    def start_default_run(self) -> bool:
        """Run with the default choices on the CPU (once the choices are known); False when
        a run is already going or done."""
        if self._running or self._run_when_ready or self._result is not None:
            return False
        if self._options is None:
            self._run_when_ready = True
            self.prepare()
            return True
        index = self.device_combo.findData("cpu")
        if index >= 0:
            self.device_combo.setCurrentIndex(index)
        return self.run()

    def cancel(self) -> None:
        if self._running and self._jobs_service is not None:
            self.status_label.setText("Cancelling after the current pass…")
            self._jobs_service.cancel(self._job_id)

    def is_running(self) -> bool:
        return self._running

    def state(self) -> str:
        """"", "running", "done", "failed", "cancelled" or "refused"."""
        return self._state

    def result(self):
        """The last RunResult, or None."""
        return self._result

    def verdict(self) -> str:
        return self.verdict_label.text()

    def message_text(self) -> str:
        """The error or refusal shown in the panel (message and traceback), or ""."""
        if self.pages.currentWidget() is not self.error_page:
            return ""
        return self.error_label.text() + "\n" + self.traceback_edit.toPlainText()

    def shutdown(self) -> None:
        """Stop a run; stop the worker process if this panel started its own."""
        if self._running:
            self.cancel()
        if self._owns_jobs and self._jobs_service is not None:
            self._jobs_service.shutdown()

    # ---- Private API: building
    def _build(self) -> None:
        outer = QHBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.setSpacing(8)
        outer.addWidget(self._build_controls())
        outer.addWidget(self._build_results(), 1)

    def _build_controls(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 4, 0)
        layout.setSpacing(6)

        model = QGroupBox("Model")
        form = QVBoxLayout(model)
        form.setSpacing(4)
        self.arch_combo = QComboBox()
        self.arch_combo.setObjectName("archCombo")
        self.arch_combo.setToolTip("The architecture to load the weights into")
        self.arch_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.arch_combo.setMinimumContentsLength(16)
        self.arch_combo.currentIndexChanged.connect(lambda _i: self._on_arch_changed())
        form.addWidget(self.arch_combo)
        self.arch_note = QLabel("")
        self.arch_note.setWordWrap(True)
        self.arch_note.setObjectName("archNote")
        form.addWidget(self.arch_note)

        self.code_row = QWidget()
        code_layout = QVBoxLayout(self.code_row)
        code_layout.setContentsMargins(0, 0, 0, 0)
        code_layout.setSpacing(4)
        file_row = QHBoxLayout()
        self.code_edit = QLineEdit()
        self.code_edit.setPlaceholderText("path/to/model.py or package.module")
        self.code_edit.editingFinished.connect(self._save_choice)
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip("Choose a Python file with your model class")
        browse.clicked.connect(self._browse_code)
        file_row.addWidget(self.code_edit, 1)
        file_row.addWidget(browse)
        self.class_edit = QLineEdit()
        self.class_edit.setPlaceholderText("class name, e.g. MyNet")
        self.class_edit.editingFinished.connect(self._save_choice)
        code_layout.addLayout(file_row)
        code_layout.addWidget(self.class_edit)
        form.addWidget(self.code_row)

        kwargs_row = QHBoxLayout()
        kwargs_row.addWidget(QLabel("kwargs"))
        self.kwargs_edit = QLineEdit()
        self.kwargs_edit.setObjectName("kwargsEdit")
        self.kwargs_edit.setToolTip("Constructor keyword arguments as a JSON object, e.g. "
                                    "{\"num_classes\": 10}; for built-ins they override the "
                                    "sizes inferred from the weights")
        self.kwargs_edit.editingFinished.connect(self._save_choice)
        self.kwargs_edit.editingFinished.connect(self._update_shape_hint)
        kwargs_row.addWidget(self.kwargs_edit, 1)
        form.addLayout(kwargs_row)
        self.trust_button = QPushButton(self.style().standardIcon(
            QStyle.StandardPixmap.SP_MessageBoxWarning), "Trust this file…")
        self.trust_button.setToolTip("Run the model stored in the file. This executes code from "
                                     "the file; you are asked first, for this run only.")
        self.trust_button.clicked.connect(self._trust_and_run)
        self.trust_button.hide()
        form.addWidget(self.trust_button)
        layout.addWidget(model)

        inputs = QGroupBox("Input and device")
        grid = QGridLayout(inputs)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(4)
        self.shape_edit = QLineEdit()
        self.shape_edit.setObjectName("shapeEdit")
        self.shape_edit.setToolTip("One sample's shape without the batch dimension, e.g. "
                                   "3x32x32; empty: from the model's first layer")
        grid.addWidget(QLabel("Shape"), 0, 0)
        grid.addWidget(self.shape_edit, 0, 1, 1, 3)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 4096)
        self.batch_spin.setValue(4)
        self.batch_spin.setToolTip("Batch size: samples per forward pass (train-mode BatchNorm "
                                   "needs 2 or more)")
        grid.addWidget(QLabel("Batch"), 1, 0)
        grid.addWidget(self.batch_spin, 1, 1)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 999_999)
        self.seed_spin.setToolTip("Seed for the random input and for each pass's randomness")
        grid.addWidget(QLabel("Seed"), 1, 2)
        grid.addWidget(self.seed_spin, 1, 3)
        self.device_combo = QComboBox()
        self.device_combo.setObjectName("deviceCombo")
        self.device_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.device_combo.setMinimumContentsLength(12)
        self.device_combo.currentIndexChanged.connect(lambda _i: self._on_device_changed())
        grid.addWidget(QLabel("Device"), 2, 0)
        grid.addWidget(self.device_combo, 2, 1, 1, 3)
        self.dtype_combo = QComboBox()
        self.dtype_combo.setToolTip("The dtype the model and input are cast to")
        grid.addWidget(QLabel("dtype"), 3, 0)
        grid.addWidget(self.dtype_combo, 3, 1)
        self.runs_spin = QSpinBox()
        self.runs_spin.setRange(1, 1000)
        self.runs_spin.setValue(20)
        self.runs_spin.setToolTip("Forward passes in each mode, on the same input")
        grid.addWidget(QLabel("Runs"), 3, 2)
        grid.addWidget(self.runs_spin, 3, 3)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        layout.addWidget(inputs)

        buttons = QHBoxLayout()
        self.run_button = QPushButton(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay),
                                      "Run")
        self.run_button.setObjectName("runButton")
        self.run_button.setToolTip("Run the model in train and in eval mode (Ctrl+R)")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.run)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(12)
        self.progress.hide()
        layout.addWidget(self.progress)
        self.status_label = QLabel("")
        self.status_label.setObjectName("runStatus")
        self.status_label.setWordWrap(True)
        layout.addWidget(self.status_label)

        self.timing_box = QGroupBox("Timings and state")
        timing_layout = QVBoxLayout(self.timing_box)
        self.timing_label = QLabel("")
        self.timing_label.setObjectName("timings")
        self.timing_label.setWordWrap(True)
        self.timing_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        timing_layout.addWidget(self.timing_label)
        self.timing_box.hide()
        layout.addWidget(self.timing_box)
        layout.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidget(box)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # room for the contents plus a vertical scroll bar, so nothing is clipped sideways
        scroll.setFixedWidth(max(320, box.minimumSizeHint().width() +
                                 scroll.verticalScrollBar().sizeHint().width() + 4))
        return scroll

    def _build_results(self) -> QWidget:
        right = QWidget()
        layout = QVBoxLayout(right)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        self.verdict_label = QLabel("Press Run (Ctrl+R) to run the model 20 times in train mode "
                                    "and 20 times in eval mode on the same input, and see what "
                                    "model.eval() changes.")
        self.verdict_label.setObjectName("inferenceVerdict")
        self.verdict_label.setWordWrap(True)
        self.verdict_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.verdict_label.setSizePolicy(QSizePolicy.Policy.Expanding,
                                         QSizePolicy.Policy.Minimum)
        layout.addWidget(self.verdict_label)

        self.pages = QStackedWidget()
        self.empty_page = QLabel("No run yet.", alignment=Qt.AlignmentFlag.AlignCenter)
        self.empty_page.setObjectName("welcomeHint")
        self.pages.addWidget(self.empty_page)
        self.results_page = self._build_result_page()
        self.pages.addWidget(self.results_page)
        self.error_page = self._build_error_page()
        self.pages.addWidget(self.error_page)
        layout.addWidget(self.pages, 1)
        return right

    def _build_result_page(self) -> QWidget:
        split = QSplitter(Qt.Orientation.Vertical)
        split.setChildrenCollapsible(False)
        plots = QWidget()
        row = QHBoxLayout(plots)
        row.setContentsMargins(0, 0, 0, 0)

        self.outputs_plot, self.outputs_item, legend = _plot_with_legend(
            "Outputs of sample 0, every run", "output index", "output value")
        item = self.outputs_item
        self.train_min_curve = pg.PlotDataItem(pen=pg.mkPen((*TRAIN_COLOR, 120), width=1))
        self.train_max_curve = pg.PlotDataItem(pen=pg.mkPen((*TRAIN_COLOR, 120), width=1))
        self.train_band = pg.FillBetweenItem(self.train_min_curve, self.train_max_curve,
                                             brush=pg.mkBrush(*TRAIN_COLOR, 60))
        item.addItem(self.train_min_curve)
        item.addItem(self.train_max_curve)
        item.addItem(self.train_band)
        self.train_lines = pg.PlotDataItem(pen=pg.mkPen((*TRAIN_COLOR, 70), width=1),
                                           connect="finite")
        item.addItem(self.train_lines)
        self.train_mean_curve = item.plot(pen=pg.mkPen(TRAIN_COLOR, width=2,
                                                       style=Qt.PenStyle.DashLine))
        self.eval_curve = item.plot(pen=pg.mkPen(EVAL_COLOR, width=2.5))
        # the legend cannot draw a FillBetweenItem (it has no opts): a filled stand-in
        self._band_sample = pg.PlotDataItem(pen=pg.mkPen((*TRAIN_COLOR, 120)), fillLevel=0,
                                            fillBrush=pg.mkBrush(*TRAIN_COLOR, 60))
        legend.addItem(self._band_sample, "train runs: min…max")
        legend.addItem(self.train_mean_curve, "train: mean of the runs")
        legend.addItem(self.eval_curve, "eval")
        row.addWidget(self.outputs_plot, 1)

        self.spread_plot, self.spread_item, legend = _plot_with_legend(
            "Spread across runs, and the eval–train gap", "output index",
            "std across runs / |gap|")
        item = self.spread_item
        self.train_spread_bars = pg.BarGraphItem(x=[], height=[], width=0.6,
                                                 brush=pg.mkBrush(*TRAIN_COLOR, 170),
                                                 pen=pg.mkPen(None))
        item.addItem(self.train_spread_bars)
        self.eval_spread_curve = item.plot(pen=None, symbol="s", symbolSize=6,
                                           symbolBrush=pg.mkBrush(EVAL_COLOR),
                                           symbolPen=pg.mkPen(None))
        self.gap_curve = item.plot(pen=pg.mkPen(GAP_COLOR, width=1.5), symbol="o",
                                   symbolSize=5, symbolBrush=pg.mkBrush(GAP_COLOR),
                                   symbolPen=pg.mkPen(None))
        legend.addItem(self.train_spread_bars, "train: std across runs")
        legend.addItem(self.eval_spread_curve, "eval: std across runs")
        legend.addItem(self.gap_curve, "|eval − train mean|")
        row.addWidget(self.spread_plot, 1)
        split.addWidget(plots)

        details = QWidget()
        row = QHBoxLayout(details)
        row.setContentsMargins(0, 0, 0, 0)
        self.load_view = QTextBrowser()
        self.load_view.setObjectName("loadReport")
        self.load_view.setOpenLinks(False)
        row.addWidget(self._titled("Weights", self.load_view), 2)

        self.layers_table = QTableWidget(0, 3)
        self.layers_table.setObjectName("modeLayers")
        self.layers_table.setHorizontalHeaderLabels(["Layer", "Type", "Train vs. eval mode"])
        self.layers_table.verticalHeader().hide()
        self.layers_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.layers_table.setWordWrap(True)
        self.layers_table.setAlternatingRowColors(True)
        header = self.layers_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        row.addWidget(self._titled("Layers that behave differently in train mode",
                                   self.layers_table), 3)
        split.addWidget(details)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([330, 170])
        return split

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
        return page

    @staticmethod
    def _titled(title: str | QLabel, widget: QWidget) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(title if isinstance(title, QLabel) else QLabel(f"<b>{title}</b>"))
        layout.addWidget(widget, 1)
        return box

    def _fill_devices(self) -> None:

        self.device_combo.clear()
        for dev in self._devices:
            memory = f", {format_bytes(dev.memory_bytes)}" if dev.memory_bytes else ""
            label = dev.name if dev.name == "cpu" else f"{dev.name} — {dev.description}"
            self.device_combo.addItem(f"{label}{memory}" if dev.name != "cpu" else
                                      f"cpu{memory}", dev.name)
            self.device_combo.setItemData(self.device_combo.count() - 1,
                                          f"{dev.description}{memory}",
                                          Qt.ItemDataRole.ToolTipRole)
        if not self._devices:
            self.device_combo.addItem("cpu", "cpu")
        self._on_device_changed()

    # ---- Private API: reacting to choices
    def _apply_options(self, opts) -> None:
        """Fill the choices from the file's :class:`InferenceOptions` (plain form)."""
        self._options = opts
        self._choices = {c.name: c for c in opts.architectures}
        self._devices = list(opts.devices)
        self._fill_devices()
        file_kind = opts.kind != "state_dict"

        self._populating = True
        combo = self.arch_combo
        combo.clear()
        combo.setEnabled(True)
        if file_kind:
            combo.addItem("From the file (runs its code; asks first)", ARCH_FILE)
        for choice in opts.architectures:
            label = choice.name
            if choice.name == opts.proposed:
                label += f" (proposed: {choice.score:.0%} of keys match)"
            elif choice.score > 0:
                label += f" ({choice.score:.0%} of keys match)"
            combo.addItem(label, BUILTIN_PREFIX + choice.name)
            combo.setItemData(combo.count() - 1, choice.description, Qt.ItemDataRole.ToolTipRole)
        combo.addItem("Your code…", ARCH_CODE)
        combo.setItemData(combo.count() - 1, "path/to/model.py and a class name, or an "
                          "importable package.module:Class", Qt.ItemDataRole.ToolTipRole)
        self.trust_button.setVisible(file_kind)

        remembered = self._settings.inference_choice(self.path)
        key = remembered.get("architecture", "")
        if key == ARCH_FILE:
            key = ""  # a file's own code is never preselected from memory
        if not key or combo.findData(key) < 0:
            if opts.proposed:
                key = BUILTIN_PREFIX + opts.proposed
            elif file_kind:
                key = ARCH_FILE
            else:
                best = max(opts.architectures, key=lambda c: c.score, default=None)
                key = BUILTIN_PREFIX + best.name if best is not None and best.score > 0 \
                    else ARCH_CODE
        index = combo.findData(key)
        combo.setCurrentIndex(index if index >= 0 else 0)
        self.kwargs_edit.setText(remembered.get("kwargs", ""))
        self.code_edit.setText(remembered.get("code_path", ""))
        self.class_edit.setText(remembered.get("class_name", ""))
        self._populating = False
        self._on_arch_changed()
        self.run_button.setEnabled(True)
        self.status_label.setText("")
        if opts.problem:
            self._show_error(f"Cannot read {os.path.basename(self.path)}: {opts.problem}", "")
        if self._run_when_ready:
            self._run_when_ready = False
            self.run()

    def _on_device_changed(self) -> None:
        name = self.device_combo.currentData()
        dev = next((d for d in self._devices if d.name == name), None)
        dtypes = dev.dtypes if dev is not None else ("float32",)
        previous = self.dtype_combo.currentText() or "float32"
        self.dtype_combo.clear()
        for dt in dtypes:
            self.dtype_combo.addItem(dt)
            note = dev.notes.get(dt, "") if dev is not None else ""
            if note:
                self.dtype_combo.setItemData(self.dtype_combo.count() - 1, note,
                                             Qt.ItemDataRole.ToolTipRole)
        index = self.dtype_combo.findText(previous)
        self.dtype_combo.setCurrentIndex(index if index >= 0 else 0)

    def _on_arch_changed(self) -> None:
        key = self.architecture_key()
        self.code_row.setVisible(key == ARCH_CODE)
        self.kwargs_edit.setEnabled(key != ARCH_FILE)
        opts = self._options
        if opts is None:
            return
        if key == ARCH_FILE:
            globals_ = list(opts.globals)
            named = ", ".join(globals_[:4]) or "the code stored in it"
            more = f" and {len(globals_) - 4} more" if len(globals_) > 4 else ""
            self.arch_note.setText(f"This file is a {opts.kind_text}; running its own model "
                                   f"executes {named}{more}. Run asks you first.")
            self.kwargs_edit.setPlaceholderText("(not used)")
        elif key.startswith(BUILTIN_PREFIX):
            name = key[len(BUILTIN_PREFIX):]
            choice = self._choices.get(name)
            note = choice.description if choice is not None else ""
            if opts.kind != "state_dict":
                note += ". The weights are read from the file without running its code."
            self.arch_note.setText(note)
            inferred = choice.kwargs if choice is not None and choice.score > 0 else None
            self.kwargs_edit.setPlaceholderText(
                f"inferred: {json.dumps(inferred)}" if inferred else "{} (JSON)")
            self.kwargs_edit.setToolTip(
                "Constructor keyword arguments as a JSON object; they override the sizes "
                f"inferred from the weights{': ' + json.dumps(inferred) if inferred else ''}")
        else:
            self.arch_note.setText("Your model class: a .py file and the class name, or an "
                                   "importable package.module:Class. Its code runs in the "
                                   "worker process.")
            self.kwargs_edit.setPlaceholderText('{"num_classes": 10}')
        if not self._populating:
            self._save_choice()
        self._update_shape_hint()

    def _update_shape_hint(self) -> None:
        """Show the input shape an automatic run would use (known for a matching built-in
        with the inferred sizes; otherwise it comes from the model's first layer)."""
        hint = "auto: from the first layer"
        key = self.architecture_key()
        choice = self._choices.get(key[len(BUILTIN_PREFIX):]) if key.startswith(
            BUILTIN_PREFIX) else None
        if choice is not None and choice.input_shape and not self.kwargs_edit.text().strip():
            hint = "auto: " + "×".join(str(s) for s in choice.input_shape)
        self.shape_edit.setPlaceholderText(hint)

    def _browse_code(self) -> None:
        start = os.path.dirname(self.code_edit.text().strip()) or os.path.dirname(self.path)
        path, _ = QFileDialog.getOpenFileName(self, "Choose Your Model Code", start,
                                              "Python files (*.py);;All files (*)")
        if path:
            self.code_edit.setText(path)
            self._save_choice()

    def _trust_and_run(self) -> None:
        self.set_architecture(ARCH_FILE)
        self.run()

    def _request(self) -> dict:
        spec = self.architecture_spec()
        kwargs = parse_kwargs(self.kwargs_edit.text()) if spec is not None else {}
        return {"path": self.path, "architecture": spec, "arch_kwargs": kwargs,
                "device": self.device_combo.currentData() or "cpu",
                "dtype": self.dtype_combo.currentText() or "float32",
                "runs": self.runs_spin.value(), "batch_size": self.batch_spin.value(),
                "seed": self.seed_spin.value(),
                "input_shape": parse_shape(self.shape_edit.text()), "trust": False}

    def _save_choice(self) -> None:
        if self._populating or not self.arch_combo.count():
            return
        self._settings.set_inference_choice(self.path, {
            "architecture": self.architecture_key(), "kwargs": self.kwargs_edit.text().strip(),
            "code_path": self.code_edit.text().strip(),
            "class_name": self.class_edit.text().strip()})

    # ---- Private API: the worker
    def _jobs(self):
        if self._jobs_service is None:
            from inspector.ui.workers import ProcessJobs

            self._jobs_service = ProcessJobs(self, name="inspector-inference")
            self._owns_jobs = True
        if not self._connected:
            self._jobs_service.sig_item.connect(self._on_item)
            self._jobs_service.sig_finished.connect(self._on_finished)
            self._jobs_service.sig_crashed.connect(self._on_crashed)
            self._connected = True
        return self._jobs_service

    def _on_item(self, job_id: int, item: object) -> None:
        kind = item.get("item") if isinstance(item, dict) else None
        if job_id == self._options_job and kind == "InferenceOptions":
            self._apply_options(_namespace(item))
            return
        if job_id != self._job_id or not self._running:
            return
        if kind == "RunProgress":
            if item["total"] > 1:
                self.progress.setRange(0, item["total"])
                self.progress.setValue(item["done"])
            text = item["text"]
            self.status_label.setText(text[:1].upper() + text[1:] + "…")
        elif kind == "RunResult":
            self._result = _namespace(item)
            self._show_result(self._result)
        elif kind == "RunFailure":
            self._show_error(item["message"], item["traceback_text"])
            self._state = "failed"

    def _on_finished(self, job_id: int, cancelled: bool, error: str) -> None:
        if job_id == self._options_job and self._options is None:
            self._options_failed(error or "the worker stopped before reading the file")
            return
        if job_id != self._job_id or not self._running:
            return
        if error:
            message, _sep, tb = error.partition("\n")
            self._show_error(f"The run failed unexpectedly: {message}", tb)
            self._finish("failed")
        elif cancelled:
            self._finish("cancelled")
        elif self._result is not None:
            self._finish("done")
        else:
            self._finish("failed" if self._state == "failed" else "cancelled")

    def _on_crashed(self, job_id: int, message: str) -> None:
        if job_id == self._options_job and self._options is None:
            self._options_failed(message)
            return
        if job_id != self._job_id or not self._running:
            return
        self._show_error(message[:1].upper() + message[1:] + ". The window is fine; press Run "
                         "to try again (a fresh worker process starts).", "")
        self._finish("failed")

    def _options_failed(self, error: str) -> None:
        message, _sep, tb = error.partition("\n")
        self._options_job = 0  # showing the panel again retries
        self.arch_combo.clear()
        self.status_label.setText("")
        self._show_error(f"Could not read the checkpoint's options: {message}", tb)
        if self._run_when_ready:
            self._run_when_ready = False
            self.sig_run_finished.emit("failed")

    def _finish(self, state: str) -> None:
        self._running = False
        self._state = state
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.hide()
        texts = {"done": "Done.", "failed": "Failed; see the message on the right.",
                 "cancelled": "Cancelled.", "refused": "Not run (file not trusted)."}
        self.status_label.setText(texts.get(state, ""))
        self.sig_run_finished.emit(state)

    # ---- Private API: showing results
    def _show_message(self, text: str, level: str) -> None:
        self.error_label.setProperty("level", level)
        self.error_label.setText(text)
        self.traceback_edit.setPlainText("")
        self.traceback_edit.setVisible(False)
        self.pages.setCurrentWidget(self.error_page)

    def _show_error(self, message: str, traceback_text: str) -> None:
        self.error_label.setProperty("level", "error")
        self.error_label.setText(gui_wording(message))
        self.traceback_edit.setPlainText(traceback_text.rstrip())
        self.traceback_edit.setVisible(bool(traceback_text.strip()))
        self.pages.setCurrentWidget(self.error_page)
        self.verdict_label.setText("The model did not run; the reason is below.")

    def _show_result(self, r) -> None:
        self.verdict_label.setText(verdict_text(r))
        self._plot(r)
        self.load_view.setHtml(load_report_html(r))
        self._fill_layers(r)
        self._fill_timings(r)
        self.pages.setCurrentWidget(self.results_page)

    def _plot(self, r) -> None:
        train = _first_sample(r.train.outputs)
        evaluation = _first_sample(r.eval.outputs)
        n = train.shape[1]
        shown = min(n, MAX_PLOT_OUTPUTS)
        train, evaluation = train[:, :shown], evaluation[:, :shown]
        x = np.arange(shown, dtype=np.float64)
        lo, hi = train.min(axis=0), train.max(axis=0)
        self.train_min_curve.setData(x, lo)
        self.train_max_curve.setData(x, hi)
        runs = train.shape[0]
        xs = np.concatenate([np.append(x, np.nan)] * runs)
        ys = np.concatenate([np.append(row, np.nan) for row in train])
        self.train_lines.setData(xs, ys, connect="finite")
        train_mean = train.mean(axis=0)
        self.train_mean_curve.setData(x, train_mean)
        eval_line = evaluation[0]
        symbols = {"symbol": "o", "symbolSize": 6, "symbolBrush": pg.mkBrush(EVAL_COLOR),
                   "symbolPen": pg.mkPen(None)} if shown <= 64 else {"symbol": None}
        self.eval_curve.setData(x, eval_line, **symbols)
        cut = f" (first {shown} of {n})" if shown < n else ""
        self.outputs_item.setTitle(
            f"Outputs of sample 0: {runs} train runs vs. eval{cut}")
        self.outputs_item.setLabel("bottom", f"output index{cut}")

        self.train_spread_bars.setOpts(x=x, height=train.std(axis=0), width=0.6)
        self.eval_spread_curve.setData(x, evaluation.std(axis=0))
        self.gap_curve.setData(x, np.abs(eval_line - train_mean),
                               symbol="o" if shown <= 64 else None)
        self.spread_item.setLabel("bottom", f"output index{cut}")
        for item in (self.outputs_item, self.spread_item):
            item.enableAutoRange()

    def _fill_layers(self, r) -> None:
        table = self.layers_table
        layers = r.mode_sensitive_layers
        table.setRowCount(max(len(layers), 1))
        if not layers:
            table.setSpan(0, 0, 1, 3)
            table.setItem(0, 0, QTableWidgetItem(
                "None: no Dropout, BatchNorm or other mode-dependent layer, so train and eval "
                "mode compute the same thing."))
        else:
            table.clearSpans()
            for i, layer in enumerate(layers):
                table.setItem(i, 0, QTableWidgetItem(layer.name))
                table.setItem(i, 1, QTableWidgetItem(layer.type))
                text = layer.explanation[:1].upper() + layer.explanation[1:] + "."
                cell = QTableWidgetItem(text)
                cell.setToolTip(text)
                table.setItem(i, 2, cell)
        table.resizeRowsToContents()

    def _fill_timings(self, r) -> None:
        rows = "".join(
            f"<tr><td>{name}</td><td align='right'>{mode.ms_per_run:.2f}</td>"
            f"<td align='right'>{metric_text(mode.spread)}</td>"
            f"<td align='right'>{metric_text(mode.max_run_diff)}</td></tr>"
            for name, mode in (("train", r.train), ("eval", r.eval)))
        table = (f"<p style='margin:0'>{escape(r.device)}, {escape(r.dtype)}, "
                 f"{r.train.runs} runs per mode</p>"
                 "<table cellspacing='0' cellpadding='2' width='100%'>"
                 "<tr><th align='left'>mode</th><th align='right'>ms / run</th>"
                 "<th align='right'>spread</th><th align='right'>max diff</th></tr>"
                 f"{rows}</table>")
        lines = []
        has_bn = any("Norm" in m.type for m in r.mode_sensitive_layers)
        if has_bn or r.bn_running_stats_drift:
            lines.append(f"BatchNorm running statistics would have drifted by up to "
                         f"<b>{metric_text(r.bn_running_stats_drift)}</b> had the train passes run on "
                         f"the loaded model (they ran on a copy).")
        else:
            lines.append("No BatchNorm running statistics that could drift.")
        if r.weights_unchanged:
            lines.append("<b style='color:#15803d'>Weights unchanged ✓</b>")
        else:
            lines.append("<b style='color:#b91c1c'>⚠ The loaded weights changed during the "
                         "run</b> (the model's forward modifies its own state).")
        self.timing_label.setText(table + "".join(f"<p style='margin:4px 0 0 0'>{line}</p>"
                                                  for line in lines))
        self.timing_box.show()

def _plot_with_legend(title: str, x_label: str, y_label: str):
    """A plot with labelled axes and its legend in a row below it, where it hides no data.

    Returns (widget, PlotItem, LegendItem)."""
    widget = pg.GraphicsLayoutWidget()
    widget.ci.setContentsMargins(2, 2, 2, 2)
    item = widget.addPlot(row=0, col=0)
    item.setTitle(title)
    item.setLabel("bottom", x_label)
    item.setLabel("left", y_label)
    item.showGrid(x=True, y=True, alpha=0.2)
    item.setMenuEnabled(False)
    legend = pg.LegendItem(colCount=3, labelTextSize="8pt", verSpacing=-4)
    widget.addItem(legend, row=1, col=0)
    widget.ci.layout.setRowStretchFactor(0, 1)
    return widget, item, legend


_CLI_WORDS = (  # the core's messages name command-line flags; the panel has fields instead
    ("give another shape with --input-shape", "give another shape in the Shape field"),
    ("give one with --input-shape", "give one in the Shape field"),
    ("(command line: --trust)", "(Trust this file…)"),
    ("(--arch)", "(choose one above)"),
    ("give one: --arch path/to/model.py:ClassName (and --arch-kwargs JSON)",
     "choose Your code… above (and kwargs)"),
)


def gui_wording(message: str) -> str:
    """A core message with its command-line advice said in the panel's terms."""
    for cli, gui in _CLI_WORDS:
        message = message.replace(cli, gui)
    return message


def parse_kwargs(text: str) -> dict:
    """Constructor kwargs from JSON text (an object); ValueError with a readable message."""
    text = text.strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"kwargs are not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise ValueError('kwargs must be a JSON object, e.g. {"num_classes": 10}')
    return value


_KEEP_DICTS = ("kwargs", "notes")  # mappings with data keys, not fields


def _namespace(value: Any) -> Any:
    """Plain dicts from the worker as attribute objects (``r.train.spread``); arrays stay."""
    if isinstance(value, dict):
        return SimpleNamespace(**{str(k): v if k in _KEEP_DICTS else _namespace(v)
                                  for k, v in value.items()})
    if isinstance(value, list | tuple):
        return type(value)(_namespace(v) for v in value)
    return value


def _first_sample(outputs: np.ndarray) -> np.ndarray:
    """(runs, batch, …) → (runs, N): every output value of sample 0, flattened."""
    a = np.asarray(outputs, dtype=np.float64)
    if a.ndim == 1:
        return a.reshape(-1, 1)
    if a.ndim == 2:
        return a[:, :1] if a.shape[1] else a  # one value per sample
    return a[:, 0].reshape(a.shape[0], -1)
