"""The Inference view's choices: architecture, input, device, dtype, runs; Run and Cancel.

:class:`InferenceControls` holds the widgets and what follows from them alone (which fields
show, the notes, the dtypes a device offers, the :class:`RunConfig` they describe). It knows
nothing about jobs; the panel connects its signals. :func:`ask_trust` is the per-run
"trust this file?" question, listing the globals as plain text.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from inspector.core.devices import Device
from inspector.core.inference import (
    DEFAULT_BATCH,
    DEFAULT_RUNS,
    InferenceOptions,
    RunConfig,
    parse_kwargs,
    parse_shape,
)
from inspector.core.text import format_bytes, percent_text, shape_text

ARCH_FILE = "file"  # the architecture stored in the file (whole-model pickle, TorchScript, .pt2)
ARCH_CODE = "code"  # the user's own code: path/to/model.py + class, or package.module:Class
BUILTIN_PREFIX = "builtin:"
MAX_TRUST_GLOBALS = 30  # globals listed in the trust question; the rest are counted


def ask_trust(parent: QWidget | None, path: str, kind_text: str, globals_: list[str]) -> bool:
    """Ask whether to run code from ``path``; True only for an explicit Yes. The file name
    and the globals come from the file, so the question is plain text."""
    if globals_:
        named = "\n".join(f"  • {g}" for g in globals_[:MAX_TRUST_GLOBALS])
        if len(globals_) > MAX_TRUST_GLOBALS:
            named += f"\n  … and {len(globals_) - MAX_TRUST_GLOBALS} more"
        what = f"These globals would be imported and run:\n{named}"
    else:
        what = "The code stored in the file would run (it cannot be listed as globals)."
    box = QMessageBox(QMessageBox.Icon.Warning, "Trust this file?",
                      f"{os.path.basename(path)} is a {kind_text}. Running its own model "
                      f"executes code from the file.\n\n{what}\n\nOnly continue if you trust "
                      f"where this file came from. The answer applies to this run only and is "
                      f"not remembered.",
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    return box.exec() == QMessageBox.StandardButton.Yes.value


def _plain_label(text: str = "", name: str = "") -> QLabel:
    """A wrapping label that shows its text as plain text (it may come from the file)."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(True)
    if name:
        label.setObjectName(name)
    return label


class InferenceControls(QWidget):
    """The left column of the Inference view.

    Emits
    -----
    sig_run_requested()
        Run (or Ctrl+R) was pressed.
    sig_cancel_requested()
        Cancel was pressed.
    sig_trust_requested()
        "Trust this file…" was pressed (the file's own model was selected).
    sig_choice_edited()
        The user changed the architecture, kwargs or code fields (worth remembering).
    """

    sig_run_requested = Signal()
    """Run was pressed."""
    sig_cancel_requested = Signal()
    """Cancel was pressed."""
    sig_trust_requested = Signal()
    """"Trust this file…" was pressed; the file's own model is selected."""
    sig_choice_edited = Signal()
    """The architecture choice was edited."""

    def __init__(self, path: str, parent: QWidget | None = None):
        super().__init__(parent)
        self._folder = os.path.dirname(path)  # where "Choose your code" starts
        self._options: InferenceOptions | None = None
        self._choices: dict = {}  # built-in name -> ArchitectureChoice
        self._devices: list[Device] = []
        self._populating = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 4, 0)
        layout.setSpacing(6)
        layout.addWidget(self._build_model_box())
        layout.addWidget(self._build_input_box())
        layout.addLayout(self._build_buttons())
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(12)
        self.progress.hide()
        layout.addWidget(self.progress)
        self.status_label = _plain_label(name="runStatus")
        layout.addWidget(self.status_label)

    # ---- Public API: filling in
    def show_reading(self) -> None:
        """The choices are being read from the file."""
        self._populating = True
        self.arch_combo.clear()
        self.arch_combo.addItem("Reading the checkpoint…")
        self.arch_combo.setEnabled(False)
        self._populating = False
        self.run_button.setEnabled(False)
        self.status_label.setText("Reading the checkpoint and the available devices…")

    def show_unreadable(self) -> None:
        """The choices could not be read."""
        self.arch_combo.clear()
        self.status_label.setText("")

    def set_options(self, opts: InferenceOptions, remembered: Mapping[str, str]) -> None:
        """Fill the choices from the file's options; ``remembered`` is the last choice made
        for this file (a file's own code is never preselected from it)."""
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
            share = percent_text(round(100 * choice.score), 100)
            if choice.name == opts.proposed:
                label += f" (proposed: {share} of keys match)"
            elif choice.score > 0:
                label += f" ({share} of keys match)"
            combo.addItem(label, BUILTIN_PREFIX + choice.name)
            combo.setItemData(combo.count() - 1, choice.description, Qt.ItemDataRole.ToolTipRole)
        combo.addItem("Your code…", ARCH_CODE)
        combo.setItemData(combo.count() - 1, "path/to/model.py and a class name, or an "
                          "importable package.module:Class", Qt.ItemDataRole.ToolTipRole)
        self.trust_button.setVisible(file_kind)

        key = remembered.get("architecture", "")
        if key == ARCH_FILE:
            key = ""
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

    def set_running(self, running: bool) -> None:
        """Switch between a running job (Cancel, busy bar) and idle (Run)."""
        self.run_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        if running:
            self.progress.setRange(0, 0)
            self.progress.show()
        else:
            self.progress.hide()

    def set_status(self, text: str) -> None:
        """One line under the buttons (plain text: it may name the file)."""
        self.status_label.setText(text)

    def show_progress(self, done: int, total: int, text: str) -> None:
        """A step of the run: a determinate bar when there is more than one step."""
        if total > 1:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        self.set_status(text[:1].upper() + text[1:] + "…")

    # ---- Public API: reading the choices
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
        self.sig_choice_edited.emit()

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

    def run_config(self, path: str) -> RunConfig:
        """The run the fields describe (without trust); ValueError or InferenceError when a
        field cannot be used."""
        spec = self.architecture_spec()
        kwargs = parse_kwargs(self.kwargs_edit.text()) if spec is not None else {}
        return RunConfig(
            path=path, architecture=spec, arch_kwargs=kwargs,
            device=self.device_combo.currentData() or "cpu",
            dtype=self.dtype_combo.currentText() or "float32",
            runs=self.runs_spin.value(), batch_size=self.batch_spin.value(),
            seed=self.seed_spin.value(), input_shape=parse_shape(self.shape_edit.text()))

    def choice(self) -> dict[str, str] | None:
        """The architecture choice to remember for the file (None while not filled in)."""
        if self._populating or self._options is None or not self.arch_combo.count():
            return None
        return {"architecture": self.architecture_key(),
                "kwargs": self.kwargs_edit.text().strip(),
                "code_path": self.code_edit.text().strip(),
                "class_name": self.class_edit.text().strip()}

    def devices(self) -> list[str]:
        """The device names offered (only available ones)."""
        return [self.device_combo.itemData(i) for i in range(self.device_combo.count())]

    def select_device(self, name: str) -> None:
        index = self.device_combo.findData(name)
        if index >= 0:
            self.device_combo.setCurrentIndex(index)

    # ---- Private API: building
    def _build_model_box(self) -> QGroupBox:
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
        self.arch_note = _plain_label(name="archNote")
        form.addWidget(self.arch_note)

        self.code_row = QWidget()
        code_layout = QVBoxLayout(self.code_row)
        code_layout.setContentsMargins(0, 0, 0, 0)
        code_layout.setSpacing(4)
        file_row = QHBoxLayout()
        self.code_edit = QLineEdit()
        self.code_edit.setPlaceholderText("path/to/model.py or package.module")
        self.code_edit.editingFinished.connect(self.sig_choice_edited)
        browse = QToolButton()
        browse.setText("…")
        browse.setToolTip("Choose a Python file with your model class")
        browse.clicked.connect(self._browse_code)
        file_row.addWidget(self.code_edit, 1)
        file_row.addWidget(browse)
        self.class_edit = QLineEdit()
        self.class_edit.setPlaceholderText("class name, e.g. MyNet")
        self.class_edit.editingFinished.connect(self.sig_choice_edited)
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
        self.kwargs_edit.editingFinished.connect(self.sig_choice_edited)
        self.kwargs_edit.editingFinished.connect(self._update_shape_hint)
        kwargs_row.addWidget(self.kwargs_edit, 1)
        form.addLayout(kwargs_row)
        self.trust_button = QPushButton(self.style().standardIcon(
            QStyle.StandardPixmap.SP_MessageBoxWarning), "Trust this file…")
        self.trust_button.setToolTip("Run the model stored in the file. This executes code from "
                                     "the file; you are asked first, for this run only.")
        self.trust_button.clicked.connect(self._trust_clicked)
        self.trust_button.hide()
        form.addWidget(self.trust_button)
        return model

    def _build_input_box(self) -> QGroupBox:
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
        self.batch_spin.setValue(DEFAULT_BATCH)
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
        self.runs_spin.setValue(DEFAULT_RUNS)
        self.runs_spin.setToolTip("Forward passes in each mode, on the same input")
        grid.addWidget(QLabel("Runs"), 3, 2)
        grid.addWidget(self.runs_spin, 3, 3)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        return inputs

    def _build_buttons(self) -> QHBoxLayout:
        buttons = QHBoxLayout()
        self.run_button = QPushButton(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay),
                                      "Run")
        self.run_button.setObjectName("runButton")
        self.run_button.setToolTip("Run the model in train and in eval mode (Ctrl+R)")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.sig_run_requested)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.sig_cancel_requested)
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.cancel_button)
        return buttons

    def _fill_devices(self) -> None:
        self.device_combo.clear()
        for dev in self._devices:
            memory = f", {format_bytes(dev.memory_bytes)}" if dev.memory_bytes else ""
            label = "cpu" if dev.name == "cpu" else f"{dev.name} — {dev.description}"
            self.device_combo.addItem(f"{label}{memory}", dev.name)
            self.device_combo.setItemData(self.device_combo.count() - 1,
                                          f"{dev.description}{memory}",
                                          Qt.ItemDataRole.ToolTipRole)
        if not self._devices:
            self.device_combo.addItem("cpu", "cpu")
        self._on_device_changed()

    # ---- Private API: reacting to choices
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
            choice = self._choices.get(key[len(BUILTIN_PREFIX):])
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
            self.sig_choice_edited.emit()
        self._update_shape_hint()

    def _update_shape_hint(self) -> None:
        """Show the input shape an automatic run would use (known for a matching built-in
        with the inferred sizes; otherwise it comes from the model's first layer)."""
        hint = "auto: from the first layer"
        key = self.architecture_key()
        choice = self._choices.get(key[len(BUILTIN_PREFIX):]) if key.startswith(
            BUILTIN_PREFIX) else None
        if choice is not None and choice.input_shape and not self.kwargs_edit.text().strip():
            hint = "auto: " + shape_text(choice.input_shape)
        self.shape_edit.setPlaceholderText(hint)

    def _browse_code(self) -> None:
        start = os.path.dirname(self.code_edit.text().strip()) or self._folder
        path, _ = QFileDialog.getOpenFileName(self, "Choose Your Model Code", start,
                                              "Python files (*.py);;All files (*)")
        if path:
            self.code_edit.setText(path)
            self.sig_choice_edited.emit()

    def _trust_clicked(self) -> None:
        self.set_architecture(ARCH_FILE)
        self.sig_trust_requested.emit()
