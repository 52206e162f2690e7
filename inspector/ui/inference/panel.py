"""The Inference view: run a checkpoint's model in train and in eval mode and show the difference.

:class:`InferencePanel` ties the choices (:class:`InferenceControls`) to the results
(:class:`InferenceResults`) through the job runner it is given: it reads the file's
:class:`~inspector.core.inference.InferenceOptions` and runs
:func:`inspector.core.inference.iter_run_job` in that runner's worker process; what comes
back are typed, torch-free dataclasses.

Code from the file runs only after an explicit "trust this file" answer in a dialog that names
the globals, for that one run; the answer is never stored and never used after an error.
"""

from __future__ import annotations

import os
from dataclasses import replace

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QFrame, QHBoxLayout, QScrollArea, QVBoxLayout, QWidget

from inspector.core.inference import (
    HINT_ARCHITECTURE,
    HINT_CHANGE_INPUT_SHAPE,
    HINT_GIVE_INPUT_SHAPE,
    HINT_TRUST,
    InferenceFailure,
    InferenceOptions,
    ModelError,
    RunResult,
)
from inspector.core.jobs import JobFailure, JobProgress
from inspector.ui.inference.controls import InferenceControls, ask_trust
from inspector.ui.inference.results import InferenceResults, TimingBox
from inspector.ui.settings import Settings
from inspector.ui.workers import ProcessJobs

RUN_TARGET = "inspector.core.inference.runs:iter_run_job"
OPTIONS_TARGET = "inspector.core.inference.options:iter_inference_options"

# what the panel says after a core message with a hint (the CLI names its flags instead)
HINTS = {
    HINT_GIVE_INPUT_SHAPE: "give one in the Shape field",
    HINT_CHANGE_INPUT_SHAPE: "give another shape in the Shape field",
    HINT_ARCHITECTURE: "choose Your code… above (and kwargs)",
    HINT_TRUST: "press Trust this file… if you trust it, or choose an architecture above to "
                "load only its weights",
}

STATE_TEXTS = {"done": "Done.", "failed": "Failed; see the message on the right.",
               "cancelled": "Cancelled.", "refused": "Not run (file not trusted)."}


def with_hint(message: str, hint: str) -> str:
    """A core message with the panel's advice for its hint."""
    advice = HINTS.get(hint, "")
    return f"{message}; {advice}" if advice else message


class InferencePanel(QWidget):
    """Train vs. eval mode for one checkpoint: choices on the left, results on the right.

    ``jobs`` is the window's inference runner (shared by every Inference view); the panel
    submits to it and never starts processes itself.

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

    def __init__(self, path: str, settings: Settings, jobs: ProcessJobs,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.path = os.path.abspath(path)
        self._settings = settings
        self._jobs = jobs
        self._job_id = 0
        self._options_job = 0
        self._options: InferenceOptions | None = None
        self._run_when_ready = False
        self._running = False
        self._state = ""
        self._result: RunResult | None = None

        self.controls = InferenceControls(self.path)
        self.timings = TimingBox()
        self.results = InferenceResults()
        outer = QHBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.setSpacing(8)
        outer.addWidget(self._left_column())
        outer.addWidget(self.results, 1)

        self.controls.sig_run_requested.connect(self.run)
        self.controls.sig_cancel_requested.connect(self.cancel)
        self.controls.sig_trust_requested.connect(self.run)
        self.controls.sig_choice_edited.connect(self._save_choice)
        jobs.sig_item.connect(self._on_item)
        jobs.sig_finished.connect(self._on_finished)
        jobs.sig_crashed.connect(self._on_crashed)
        self.run_shortcut = QShortcut(QKeySequence("Ctrl+R"), self)
        self.run_shortcut.setContext(Qt.ShortcutContext.WindowShortcut)  # hidden panels do not match
        self.run_shortcut.activated.connect(self.run)

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
        self.controls.show_reading()
        self._options_job = self._jobs.submit(OPTIONS_TARGET, {"path": self.path})

    def is_ready(self) -> bool:
        """True once the choices are filled in from the file."""
        return self._options is not None

    def run(self) -> bool:
        """Start a run with the current choices; False when nothing was started."""
        if self._running:
            return False
        if self._options is None:
            self._run_when_ready = True  # runs as soon as the choices are filled in
            self.prepare()
            return True
        try:
            config = self.controls.run_config(self.path)
        except ModelError as e:
            return self._refuse(with_hint(e.message, e.hint))
        except ValueError as e:
            return self._refuse(str(e))
        if config.architecture is None:
            if not ask_trust(self, self.path, self._options.kind_text or "file",
                             list(self._options.globals)):
                self.results.show_message(
                    "Not run: you did not trust this file, so none of its code was executed. "
                    "To run it without trusting it, choose a built-in architecture or your own "
                    "code above; the weights are then read without running the file.", "info")
                self._finish("refused")
                return False
            config = replace(config, trust=True)  # this run only; never stored
        self._save_choice()
        self._result = None
        self._running = True
        self._state = "running"
        self.controls.set_running(True)
        self.controls.set_status("Starting the worker process…")
        self._job_id = self._jobs.submit(RUN_TARGET, {"config": config})
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
        self.controls.select_device("cpu")
        return self.run()

    def cancel(self) -> None:
        if self._running:
            self.controls.set_status("Cancelling after the current pass…")
            self._jobs.cancel(self._job_id)

    def is_running(self) -> bool:
        return self._running

    def state(self) -> str:
        """"", "running", "done", "failed", "cancelled" or "refused"."""
        return self._state

    def result(self) -> RunResult | None:
        """The last RunResult, or None."""
        return self._result

    def verdict(self) -> str:
        return self.results.verdict()

    def message_text(self) -> str:
        """The error or refusal shown in the panel (message and traceback), or ""."""
        return self.results.message_text()

    # ---- Private API
    def _left_column(self) -> QScrollArea:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.controls)
        layout.addWidget(self.timings)
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

    def _refuse(self, message: str) -> bool:
        """A choice that cannot be run: say why, start nothing."""
        self.results.show_error(message, "")
        self._finish("failed")
        return False

    def _save_choice(self) -> None:
        choice = self.controls.choice()
        if choice is not None:
            self._settings.set_inference_choice(self.path, choice)

    def _apply_options(self, opts: InferenceOptions) -> None:
        self._options = opts
        self.controls.set_options(opts, self._settings.inference_choice(self.path))
        if opts.problem:
            self.results.show_error(f"Cannot read {os.path.basename(self.path)}: "
                                    f"{opts.problem}", "")
        if self._run_when_ready:
            self._run_when_ready = False
            self.run()

    def _on_item(self, job_id: int, item: object) -> None:
        if job_id == self._options_job and isinstance(item, InferenceOptions):
            self._apply_options(item)
            return
        if job_id != self._job_id or not self._running:
            return
        if isinstance(item, JobProgress):
            self.controls.show_progress(item.done, item.total, item.text)
        elif isinstance(item, RunResult):
            self._result = item
            self.results.show_result(item)
            self.timings.show_result(item)
        elif isinstance(item, InferenceFailure):
            self.results.show_error(with_hint(item.message, item.hint), item.traceback)
            self._state = "failed"

    def _on_finished(self, job_id: int, cancelled: bool, failure: JobFailure | None) -> None:
        if job_id == self._options_job and self._options is None:
            self._options_failed(str(failure) if failure is not None else
                                 "the worker stopped before reading the file",
                                 failure.traceback if failure is not None else "")
            return
        if job_id != self._job_id or not self._running:
            return
        if failure is not None:
            self.results.show_error(f"The run failed unexpectedly: {failure}", failure.traceback)
            self._finish("failed")
        elif cancelled:
            self._finish("cancelled")
        elif self._result is not None:
            self._finish("done")
        else:
            self._finish("failed" if self._state == "failed" else "cancelled")

    def _on_crashed(self, job_id: int, message: str) -> None:
        if job_id == self._options_job and self._options is None:
            self._options_failed(message, "")
            return
        if job_id != self._job_id or not self._running:
            return
        self.results.show_error(message[:1].upper() + message[1:] + ". The window is fine; "
                                "press Run to try again (a fresh worker process starts).", "")
        self._finish("failed")

    def _options_failed(self, message: str, traceback_text: str) -> None:
        self._options_job = 0  # showing the panel again retries
        self.controls.show_unreadable()
        self.results.show_error(f"Could not read the checkpoint's options: {message}",
                                traceback_text)
        if self._run_when_ready:
            self._run_when_ready = False
            self.sig_run_finished.emit("failed")

    def _finish(self, state: str) -> None:
        self._running = False
        self._state = state
        self.controls.set_running(False)
        self.controls.set_status(STATE_TEXTS.get(state, ""))
        self.sig_run_finished.emit(state)
