"""The Inference view: run a checkpoint's model in train and in eval mode and show the difference.

:class:`InferencePanel` ties the choices (:class:`InferenceControls`) to the results
(:class:`InferenceResults`) through the job runner it is given: it reads the file's
:class:`~inspector.core.inference.InferenceOptions` and runs
:func:`inspector.core.inference.iter_run_job` in that runner's worker process; what comes
back are typed, torch-free dataclasses. When a model library's key/shape index is missing,
it is built in the same runner (once per library version, with progress and Cancel) and the
proposals are read again.

A run can stop on a question, asked after the run stopped and only when a person started it:
code from the file runs only after an explicit "trust this file" answer that names the
globals, and a model whose weights are missing from the file runs only after an explicit
"run anyway with random …" answer. Both answers hold for that one run and are never stored.
The scripted default run (``--tab inference --screenshot``) never asks: it shows why it did
not run, so the picture is always taken.
"""

from __future__ import annotations

import os
from dataclasses import replace

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QFrame, QHBoxLayout, QScrollArea, QVBoxLayout, QWidget

from inspector.core.inference import (
    HINT_ARCHITECTURE,
    HINT_CHANGE_INPUT_SHAPE,
    HINT_EXTRA_ARGS,
    HINT_GIVE_INPUT_SHAPE,
    HINT_TRUST,
    InferenceFailure,
    InferenceOptions,
    ModelError,
    RunConfig,
    RunResult,
)
from inspector.core.inference.errors import HINT_RANDOM_INIT
from inspector.core.jobs import JobFailure, JobProgress
from inspector.core.remote.urls import local_or_url
from inspector.ui.inference import dialogs
from inspector.ui.inference.controls import InferenceControls, own_code, own_kind_text
from inspector.ui.inference.results import InferenceResults, TimingBox
from inspector.ui.settings import Settings
from inspector.ui.workers import ProcessJobs

RUN_TARGET = "inspector.core.inference.runs:iter_run_job"
OPTIONS_TARGET = "inspector.core.inference.options:iter_inference_options"
INDEX_TARGET = "inspector.core.inference.zoo.index:iter_build_index"

# what the panel says after a core message with a hint (the CLI names its flags instead)
HINTS = {
    HINT_GIVE_INPUT_SHAPE: "give one in the Shape field (or an input .npy file)",
    HINT_CHANGE_INPUT_SHAPE: "give another shape in the Shape field, extra forward arguments "
                             "in Extra args, or an input .npy file",
    HINT_ARCHITECTURE: "choose another model in the list, or Your code… (and kwargs)",
    HINT_TRUST: "press Trust this file… if you trust it, or choose an architecture above to "
                "load only its weights",
    HINT_RANDOM_INIT: "choose another architecture or kwargs above, or press Run to be asked "
                      "whether to run anyway",
    HINT_EXTRA_ARGS: "give it in the Extra args field as JSON, e.g. {\"sr\": 16000}",
}

STATE_TEXTS = {"done": "Done.", "failed": "Failed; see the message on the right.",
               "cancelled": "Cancelled.", "refused": "Not run (file not trusted).",
               "declined": "Not run (weights missing; you chose not to run anyway)."}
SCRIPTED_TRUST_TEXT = (
    "Not run: this file's own model is code from the file, and a scripted run never runs code "
    "from a file. Open the file in the app and press Trust this file… if you trust it, or "
    "choose a built-in or library architecture to load only its weights.")
INDEX_CANCELLED_TEXT = ("The index of model architectures was not built (cancelled), so "
                        "proposals from the model libraries are missing. It is built the next "
                        "time this tab is opened.")


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
        A run ended: "done", "failed", "cancelled", "refused" (trust declined) or "declined"
        (running with random weights declined).
    """

    sig_run_started = Signal(int)
    """A run was submitted to the worker process: its job id."""
    sig_run_finished = Signal(str)
    """A run ended: "done", "failed", "cancelled", "refused" or "declined"."""

    def __init__(self, path: str, settings: Settings, jobs: ProcessJobs,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.path = local_or_url(path)
        self._settings = settings
        self._jobs = jobs
        self._job_id = 0
        self._options_job = 0
        self._refresh_job = 0
        self._index_job = 0
        self._index_done = False  # built, cancelled or failed: not started again
        self._options: InferenceOptions | None = None
        self._run_when_ready = False
        self._interactive = True  # False for the scripted default run: it never asks
        self._running = False
        self._state = ""
        self._config: RunConfig | None = None
        self._question: InferenceFailure | None = None  # a failure the user may overrule
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
        self.controls.sig_index_cancel_requested.connect(self.cancel_index)
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
        """Read what the file offers (kind, proposals, devices) in the worker process.

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

    def is_indexing(self) -> bool:
        """True while the model index is being built (or the proposals read again)."""
        return bool(self._index_job or self._refresh_job)

    def options(self) -> InferenceOptions | None:
        return self._options

    def run(self, interactive: bool = True) -> bool:
        """Start a run with the current choices; False when nothing was started.

        ``interactive`` False (the scripted default run) never asks a question: what would
        need an answer is shown as the reason the model did not run.
        """
        if self._running:
            return False
        self._interactive = interactive
        if self._options is None or self.is_indexing():
            self._run_when_ready = True  # runs as soon as the choices are filled in
            if self.is_indexing():
                self.controls.set_status("Waiting for the index of model architectures…")
            self.prepare()
            return True
        try:
            config = self.controls.run_config(self.path)
        except ModelError as e:
            return self._refuse(with_hint(e.message, e.hint))
        except ValueError as e:
            return self._refuse(str(e))
        if config.architecture is None:
            if not interactive:
                self.results.show_message(SCRIPTED_TRUST_TEXT, "info")
                self._finish("refused")
                return False
            if not dialogs.ask_trust(self, self.path, own_kind_text(self._options),
                                     list(own_code(self._options))):
                self.results.show_message(
                    "Not run: you did not trust this file, so none of its code was executed. "
                    "To run it without trusting it, choose a built-in architecture or your own "
                    "code above; the weights are then read without running the file.", "info")
                self._finish("refused")
                return False
            config = replace(config, trust=True)  # this run only; never stored
        self._save_choice()
        self._submit(config)
        return True

    def start_default_run(self) -> bool:
        """Run with the default choices on the CPU without asking anything (the scripted
        mode); False when a run is already going or done."""
        if self._running or self._run_when_ready or self._result is not None:
            return False
        self._interactive = False
        if self._options is None or self.is_indexing():
            self._run_when_ready = True
            self.prepare()
            return True
        self.controls.select_device("cpu")
        return self.run(interactive=False)

    def cancel(self) -> None:
        if self._running:
            self.controls.set_status("Cancelling after the current pass…")
            self._jobs.cancel(self._job_id)

    def cancel_index(self) -> None:
        """Stop building the model index (the proposals stay as they are)."""
        if self._index_job:
            self._jobs.cancel(self._index_job)

    def is_running(self) -> bool:
        return self._running

    def state(self) -> str:
        """"", "running", "done", "failed", "cancelled", "refused" or "declined"."""
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
        scroll.setFixedWidth(max(330, box.minimumSizeHint().width() +
                                 scroll.verticalScrollBar().sizeHint().width() + 4))
        return scroll

    def _submit(self, config: RunConfig) -> None:
        self._config = config
        self._question = None
        self._result = None
        self._running = True
        self._state = "running"
        self.controls.set_running(True)
        self.controls.set_status("Starting the worker process…")
        self.results.show_running()  # the previous result or error is not this run's
        self._job_id = self._jobs.submit(RUN_TARGET, {"config": config})
        self.sig_run_started.emit(self._job_id)

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
        first = self._options is None
        self._options = opts
        self.controls.set_options(opts, self._settings.inference_choice(self.path))
        if opts.problem:
            self.results.show_error(f"Cannot read {os.path.basename(self.path)}: "
                                    f"{opts.problem}", "")
        if first and self._needs_index(opts):
            self._start_index(opts)
        if self._run_when_ready and not self.is_indexing():
            self._run_when_ready = False
            if not self._interactive:
                self.controls.select_device("cpu")
            self.run(interactive=self._interactive)

    def _needs_index(self, opts: InferenceOptions) -> bool:
        """Build the index when a library's is missing and the file is not identified by
        its own config (a bare state_dict)."""
        missing = tuple(getattr(opts, "index_missing", ()) or ())
        return bool(missing) and not getattr(opts, "config_class", "") and \
            not self._index_done and not opts.problem

    def _start_index(self, opts: InferenceOptions) -> None:
        names = ", ".join(opts.index_missing)
        self.controls.show_index_progress(0, 0, f"Building the index of {names} architectures "
                                                f"(once per installed version)")
        self._index_job = self._jobs.submit(INDEX_TARGET, {})

    def _index_ended(self, note: str) -> None:
        self._index_job = 0
        self._index_done = True
        self.controls.hide_index_progress(note)
        if not note:  # built: read the proposals again
            self._refresh_job = self._jobs.submit(OPTIONS_TARGET, {"path": self.path})
        elif self._run_when_ready:
            self._run_when_ready = False
            self.run(interactive=self._interactive)

    def _on_item(self, job_id: int, item: object) -> None:
        if job_id == self._options_job and isinstance(item, InferenceOptions):
            self._apply_options(item)
            return
        if job_id == self._refresh_job and isinstance(item, InferenceOptions):
            self._refresh_job = 0
            self._apply_options(item)
            return
        if job_id == self._index_job and self._index_job:
            if isinstance(item, JobProgress):
                self.controls.show_index_progress(item.done, item.total, item.text)
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
            if self._interactive and self._can_ask(item):
                self._question = item

    def _can_ask(self, failure: InferenceFailure) -> bool:
        config = self._config
        if config is None:
            return False
        if failure.hint == HINT_RANDOM_INIT:
            return not config.allow_random_init
        # custom code of a library model (an HF folder's auto_map): trust, like a file's own
        return failure.hint == HINT_TRUST and config.architecture is not None and not config.trust

    def _on_finished(self, job_id: int, cancelled: bool, failure: JobFailure | None) -> None:
        if job_id == self._options_job and self._options is None:
            self._options_failed(str(failure) if failure is not None else
                                 "the worker stopped before reading the file",
                                 failure.traceback if failure is not None else "")
            return
        if job_id == self._refresh_job:  # ended without new options: keep the old ones
            self._refresh_job = 0
            if self._run_when_ready:
                self._run_when_ready = False
                self.run(interactive=self._interactive)
            return
        if job_id == self._index_job and self._index_job:
            if cancelled:
                self._index_ended(INDEX_CANCELLED_TEXT)
            elif failure is not None:
                self._index_ended(f"The index of model architectures could not be built: "
                                  f"{failure}")
            else:
                self._index_ended("")
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
        elif self._question is not None:
            # ask once the job is over, outside the runner's signal
            QTimer.singleShot(0, self._ask_question)
        else:
            self._finish("failed" if self._state == "failed" else "cancelled")

    def _ask_question(self) -> None:
        failure, config = self._question, self._config
        self._question = None
        if failure is None or config is None or not self._running:
            return
        if failure.hint == HINT_RANDOM_INIT:
            keys = list(getattr(failure, "keys", ()) or ())
            if dialogs.ask_random_init(self, failure.message, keys):
                self._running = False
                self._submit(replace(config, allow_random_init=True))  # this run only
                return
            self.controls.set_status(STATE_TEXTS["declined"])
            self._finish("declined")
            return
        if dialogs.ask_trust(self, self.path, own_kind_text(self._options),
                             list(own_code(self._options))):
            self._running = False
            self._submit(replace(config, trust=True))
            return
        self._finish("refused")

    def _on_crashed(self, job_id: int, message: str) -> None:
        if job_id == self._options_job and self._options is None:
            self._options_failed(message, "")
            return
        if job_id == self._refresh_job:
            self._refresh_job = 0
            return
        if job_id == self._index_job and self._index_job:
            self._index_ended(f"The index of model architectures could not be built: {message}")
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
