"""File ▸ Convert…: convert a checkpoint to safetensors (one file or Hugging Face shards) or
to a weights-only .pth, as a job in a worker process, with progress and Cancel.

The conversion is :func:`inspector.core.convert.convert_job`; the dialog only collects the
options, submits the job to the window's runner and shows the report (plain text: it holds
names from the file).
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction, QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from inspector.ui.dialogs import FILE_FILTER

KINDS = (("safetensors", "safetensors file (.safetensors)"),
         ("sharded", "sharded safetensors folder (Hugging Face)"),
         ("pth", "weights-only .pth (torch.load weights_only=True)"))
DTYPES = (("", "keep as stored"), ("bfloat16", "bfloat16"), ("float16", "float16"),
          ("float32", "float32"))
PROGRESS_STEPS = 1000


def install(window) -> None:
    """Add File ▸ Convert… to ``window`` (before Close)."""
    act = QAction("Con&vert…", window)
    act.setStatusTip("Convert a checkpoint to safetensors or a weights-only .pth, safely")
    act.triggered.connect(lambda: open_convert_dialog(window))
    menu = window.file_menu
    close = getattr(window, "act_close", None)
    if close is not None and close in menu.actions():
        menu.insertAction(close, act)
        menu.insertSeparator(close)
    else:
        menu.addAction(act)
    window.act_convert = act


def convert_runner(window):
    """The worker-process runner conversions use (a dedicated one when the window has it)."""
    return getattr(window.runners, "convert", None) or window.runners.tensor


def open_convert_dialog(window, source: str | None = None) -> ConvertDialog:
    """Show the window's Convert dialog (one per window), for ``source`` or the current file."""
    dialog = getattr(window, "convert_dialog", None)
    if dialog is None:
        dialog = ConvertDialog(convert_runner(window), window)
        dialog.sig_open_result.connect(window.open_path)
        window.convert_dialog = dialog
    if source is None:
        doc = window.current_document() if hasattr(window, "current_document") else None
        source = getattr(doc, "path", None)
    if source and not dialog.is_running():
        dialog.set_source(source)
    dialog.show()
    if QGuiApplication.platformName() not in ("offscreen", "minimal"):  # they only warn
        dialog.raise_()
        dialog.activateWindow()
    return dialog


class ConvertDialog(QDialog):
    """Options, progress, Cancel and the report of one conversion at a time.

    Emits
    -----
    sig_finished(str)
        A conversion ended: "done", "failed" (verification or an error) or "cancelled".
    sig_open_result(str)
        The user asked to open the converted file or folder.
    """

    sig_finished = Signal(str)
    """A conversion ended: "done", "failed" or "cancelled"."""
    sig_open_result = Signal(str)
    """Open this converted file or folder."""

    def __init__(self, runner, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Convert Checkpoint")
        self.setObjectName("convertDialog")
        self._runner = runner
        self._job: int | None = None
        self._report = None
        self._suggested = ""
        self._build()
        runner.sig_item.connect(self._on_item)
        runner.sig_finished.connect(self._on_finished)
        runner.sig_crashed.connect(self._on_crashed)
        self._update_controls()

    # ---- Public API
    @property
    def runner(self):
        return self._runner

    def is_running(self) -> bool:
        return self._job is not None

    def set_source(self, path: str) -> None:
        self.source_edit.setText(os.fspath(path))

    def report_text(self) -> str:
        return self.report_view.toPlainText()

    def status_text(self) -> str:
        return self.status_label.text()

    def start(self) -> int | None:
        """Check the options and submit the conversion; returns the job id (None when an
        option is wrong: the status line says which)."""
        from inspector.core.convert import ConvertOptions, parse_size

        src = self.source_edit.text().strip()
        dst = self.dest_edit.text().strip()
        if not src or not dst:
            self._set_status("Choose a source checkpoint and a destination.")
            return None
        kind = self.kind_combo.currentData()
        size = None
        if kind == "sharded" and self.shard_edit.text().strip():
            try:
                size = parse_size(self.shard_edit.text())
            except ValueError as e:
                self._set_status(f"Max shard size: {e}")
                return None
        prefixes = tuple(p for p in self.prefix_edit.text().split() if p)
        options = ConvertOptions(
            kind=kind, key=self.key_edit.text().strip() or None,
            include_optimizer=self.optimizer_check.isChecked(), strip_prefixes=prefixes,
            dtype=self.dtype_combo.currentData() or None, max_shard_size=size,
            verify=self.verify_check.isChecked(), overwrite=self.overwrite_check.isChecked())
        from inspector.core.convert import JOB_TARGET

        self._report = None
        self.report_view.clear()
        self.progress.setValue(0)
        self._job = self._runner.submit(JOB_TARGET, {"src": src, "dst": dst, "options": options})
        self._set_status("Starting…")
        self._update_controls()
        return self._job

    def cancel(self) -> None:
        if self._job is not None:
            self._runner.cancel(self._job)
            self._set_status("Cancelling…")

    # ---- Private API: widgets
    def _build(self) -> None:
        self._browse_buttons: list[QPushButton] = []
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.source_edit = QLineEdit()
        self.source_edit.setPlaceholderText("checkpoint file or folder")
        self.source_edit.textChanged.connect(self._suggest_destination)
        form.addRow("Source:", self._with_button(self.source_edit, "Browse…",
                                                 self._browse_source))
        self.kind_combo = QComboBox()
        for key, label in KINDS:
            self.kind_combo.addItem(label, key)
        self.kind_combo.currentIndexChanged.connect(self._on_kind_changed)
        form.addRow("Write:", self.kind_combo)
        self.dest_edit = QLineEdit()
        self.dest_edit.textEdited.connect(lambda _text: setattr(self, "_suggested", ""))
        form.addRow("Destination:", self._with_button(self.dest_edit, "Browse…",
                                                      self._browse_dest))
        self.shard_edit = QLineEdit("5GB")
        self.shard_edit.setToolTip("Largest shard, e.g. 5GB, 500MB, 2GiB")
        form.addRow("Max shard size:", self.shard_edit)
        self.key_edit = QLineEdit()
        self.key_edit.setPlaceholderText("automatic (the model's state_dict)")
        self.key_edit.setToolTip("The entry to convert, as a dotted key path, e.g. "
                                 "model_state_dict or ema.model")
        form.addRow("Weights entry:", self.key_edit)
        self.prefix_edit = QLineEdit()
        self.prefix_edit.setPlaceholderText("none ('auto': module., _orig_mod., model.)")
        self.prefix_edit.setToolTip("Prefixes removed from the start of tensor names; "
                                    "separate several with spaces")
        form.addRow("Strip prefix:", self.prefix_edit)
        self.dtype_combo = QComboBox()
        for key, label in DTYPES:
            self.dtype_combo.addItem(label, key)
        form.addRow("Floating point:", self.dtype_combo)
        self.optimizer_check = QCheckBox("Include optimizer state")
        self.verify_check = QCheckBox("Verify bit for bit")
        self.verify_check.setToolTip("Re-read the result and compare every tensor with the "
                                     "source (value for value after a cast)")
        self.verify_check.setChecked(True)
        self.overwrite_check = QCheckBox("Replace existing")
        self.overwrite_check.setToolTip("Replace a destination that already exists (never "
                                        "the source)")
        checks = QHBoxLayout()
        for c in (self.optimizer_check, self.verify_check, self.overwrite_check):
            checks.addWidget(c)
        checks.addStretch(1)
        form.addRow("", self._wrap(checks))
        note = QLabel("Nothing from the source file is executed; it is never modified.")
        note.setObjectName("hint")
        note.setTextFormat(Qt.TextFormat.PlainText)
        note.setWordWrap(True)

        self.progress = QProgressBar()
        self.progress.setRange(0, PROGRESS_STEPS)
        self.progress.setTextVisible(False)
        self.status_label = QLabel("")
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)
        self.status_label.setWordWrap(True)
        self.report_view = QPlainTextEdit()
        self.report_view.setReadOnly(True)
        self.report_view.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.report_view.setPlaceholderText("The report appears here.")
        self.report_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.report_view.setMinimumHeight(110)

        buttons = QDialogButtonBox()
        self.convert_button = buttons.addButton("Convert", QDialogButtonBox.ButtonRole.AcceptRole)
        self.convert_button.setDefault(True)
        self.cancel_button = buttons.addButton("Cancel", QDialogButtonBox.ButtonRole.RejectRole)
        self.open_button = buttons.addButton("Open Result", QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = buttons.addButton("Close", QDialogButtonBox.ButtonRole.RejectRole)
        self.convert_button.clicked.connect(self.start)
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button.clicked.connect(self._open_result)
        self.close_button.clicked.connect(self.hide)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(self.progress)
        layout.addWidget(self.status_label)
        layout.addWidget(self.report_view, 1)
        layout.addWidget(buttons)
        self.resize(640, 560)
        self._on_kind_changed()

    def _with_button(self, edit: QLineEdit, text: str, slot) -> QWidget:
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(edit, 1)
        button = QPushButton(text)
        button.clicked.connect(slot)
        row.addWidget(button)
        self._browse_buttons.append(button)
        return self._wrap(row)

    @staticmethod
    def _wrap(layout) -> QWidget:
        w = QWidget()
        layout.setContentsMargins(0, 0, 0, 0)
        w.setLayout(layout)
        return w

    def _set_status(self, text: str) -> None:
        self.status_label.setText(text)

    def _update_controls(self) -> None:
        running = self.is_running()
        for w in (self.source_edit, self.dest_edit, self.kind_combo, self.shard_edit,
                  self.key_edit, self.prefix_edit, self.dtype_combo, self.optimizer_check,
                  self.verify_check, self.overwrite_check, self.convert_button,
                  *self._browse_buttons):
            w.setEnabled(not running)
        self.shard_edit.setEnabled(not running and self.kind_combo.currentData() == "sharded")
        self.cancel_button.setEnabled(running)
        self.open_button.setEnabled(not running and self._report is not None
                                    and self._report.ok)

    # ---- Private API: choosing paths
    def _browse_source(self) -> None:
        start = os.path.dirname(self.source_edit.text()) or str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Convert: choose the checkpoint", start,
                                              FILE_FILTER)
        if path:
            self.source_edit.setText(path)

    def _browse_dest(self) -> None:
        start = self.dest_edit.text() or str(Path.home())
        if self.kind_combo.currentData() == "sharded":
            path = QFileDialog.getExistingDirectory(self, "Convert: folder for the shards",
                                                    os.path.dirname(start))
        else:
            flt = ("safetensors (*.safetensors)" if self.kind_combo.currentData() ==
                   "safetensors" else "PyTorch weights (*.pth *.pt *.bin)")
            path, _ = QFileDialog.getSaveFileName(self, "Convert: save as", start, flt)
        if path:
            self.dest_edit.setText(path)
            self._suggested = ""

    def _on_kind_changed(self, *_args) -> None:
        self._update_controls()
        self._suggest_destination()

    def _suggest_destination(self, *_args) -> None:
        """A destination next to the source, until the user types one of their own."""
        if self.dest_edit.text() and self.dest_edit.text() != self._suggested:
            return
        src = self.source_edit.text().strip().rstrip(os.sep)
        if not src:
            return
        folder, name = os.path.split(src)
        stem = os.path.splitext(name)[0] if not os.path.isdir(src) else name
        kind = self.kind_combo.currentData()
        suggestion = os.path.join(folder, {"safetensors": f"{stem}.safetensors",
                                           "sharded": f"{stem}-safetensors",
                                           "pth": f"{stem}-weights.pth"}[kind])
        self._suggested = suggestion
        self.dest_edit.setText(suggestion)

    def _open_result(self) -> None:
        report = self._report
        if report is None or not report.files:
            return
        self.sig_open_result.emit(report.destination)

    # ---- Private API: the job
    def _on_item(self, job_id: int, item) -> None:
        if job_id != self._job:
            return
        from inspector.core.convert import ConvertReport, report_lines
        from inspector.core.jobs import JobProgress
        from inspector.core.text import format_bytes

        if isinstance(item, JobProgress):
            if item.total:
                self.progress.setValue(int(PROGRESS_STEPS * item.done / item.total))
            self._set_status(f"{item.text.capitalize()}… {format_bytes(item.done)} of "
                             f"{format_bytes(item.total)}")
        elif isinstance(item, ConvertReport):
            self._report = item
            self.report_view.setPlainText("\n".join(report_lines(item)))

    def _on_finished(self, job_id: int, cancelled: bool, failure) -> None:
        if job_id != self._job:
            return
        self._job = None
        if cancelled:
            state, text = "cancelled", "Cancelled: nothing was written."
            self.progress.setValue(0)
        elif failure is not None:
            state, text = "failed", "Conversion failed (see below)."
            self.report_view.setPlainText(f"Conversion failed: {failure.message}")
        elif self._report is not None and self._report.ok:
            state = "done"
            files = len(self._report.files)
            verified = " and verified" if self._report.verify is not None else ""
            text = f"Converted{verified}: {files} file{'s' if files != 1 else ''} written."
        else:
            state, text = "failed", "Verification failed: the result did not match the " \
                                    "source; nothing was written."
        self._set_status(text)
        self._update_controls()
        self.sig_finished.emit(state)

    def _on_crashed(self, job_id: int, message: str) -> None:
        if job_id != self._job:
            return
        self._job = None
        self._set_status(f"Conversion failed: {message}")
        self._update_controls()
        self.sig_finished.emit("failed")
