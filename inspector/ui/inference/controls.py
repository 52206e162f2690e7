"""The Inference view's choices: the model (proposals with match scores), the input and
device (:class:`~inspector.ui.inference.inputs.InputBox`); Run and Cancel.

:class:`InferenceControls` holds the widgets and what follows from them alone (which fields
show, the notes, the :class:`RunConfig` they describe). It knows nothing about jobs; the panel
connects its signals.

The model list, best first: the architectures of the model libraries (transformers,
torchvision, timm) and the built-ins that can hold the file's weights, each with its match
score ("exact" when every key matches in name and shape), the best exact match preselected;
then the remaining built-ins, "From the file" (a file that carries its own code) and
"Your code…". Names come from the file's config or the libraries: shown as plain text.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QStyle,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inspector.core.inference import InferenceOptions, RunConfig, parse_kwargs
from inspector.core.inference.config import parse_extra_args
from inspector.core.text import percent_text
from inspector.ui.inference.dialogs import ask_trust
from inspector.ui.inference.inputs import InputBox, fit_placeholder

ARCH_FILE = "file"  # the architecture stored in the file (whole-model pickle, TorchScript, .pt2)
ARCH_CODE = "code"  # the user's own code: path/to/model.py + class, or package.module:Class
BUILTIN_PREFIX = "builtin:"
SPEC_PREFIX = "spec:"  # a model library's architecture: "spec:hf:BertModel"
LIBRARY_NAMES = {"transformers": "HF", "torchvision": "torchvision",
                 "timm": "timm", "built-in": "built-in"}
LIST_ROWS = 7  # rows the model list shows without scrolling

__all__ = ["ARCH_CODE", "ARCH_FILE", "BUILTIN_PREFIX", "SPEC_PREFIX", "Candidate",
           "InferenceControls", "ask_trust"]


@dataclass(frozen=True)
class Candidate:
    """One row of the model list."""

    key: str  # "builtin:<name>", "spec:<spec>", "file" or "code"
    name: str
    source: str  # "transformers", "torchvision", "timm", "built-in", or "" for file/code
    score: float  # share of keys that match; -1: not scored (file, code)
    exact: bool
    kwargs: Mapping[str, Any]
    description: str
    input_kind: str  # "" when unknown
    input_shape: tuple[int, ...] | None = None

    def match_text(self) -> str:
        if self.score < 0:
            return ""
        if self.exact:
            return "exact"
        return percent_text(round(100 * self.score), 100)


def candidates(opts: InferenceOptions) -> list[Candidate]:
    """The model list for ``opts``: scored candidates best first (exact matches, then by
    score), then the built-ins that cannot hold these weights, then file and code."""
    scored: list[Candidate] = []
    for p in getattr(opts, "proposals", ()):
        scored.append(Candidate(SPEC_PREFIX + p.spec, p.name, p.library, float(p.score),
                                bool(p.exact), dict(p.kwargs), p.description,
                                getattr(p, "input_kind", "") or ""))
    for c in opts.architectures:
        scored.append(Candidate(BUILTIN_PREFIX + c.name, c.name, "built-in", float(c.score),
                                c.score >= 1.0, dict(c.kwargs), c.description, "tensor",
                                c.input_shape))
    matching = sorted((c for c in scored if c.score > 0), key=lambda c: (-c.exact, -c.score))
    rest = [c for c in scored if c.score <= 0]
    out = matching + rest
    if has_own_code(opts):
        own = "folder's own code" if opts.kind == "state_dict" else "file's own model"
        out.append(Candidate(ARCH_FILE, f"The {own} (asks first)", "", -1, False, {},
                             f"The {own}", ""))
    out.append(Candidate(ARCH_CODE, "Your code…", "", -1, False, {},
                         "path/to/model.py and a class name, or an importable "
                         "package.module:Class", ""))
    return out


def has_own_code(opts: InferenceOptions) -> bool:
    """True for a file that carries its own model (whole-model pickle, TorchScript, .pt2) or a
    Hugging Face folder whose config names its own code (``auto_map``)."""
    return opts.kind != "state_dict" or bool(getattr(opts, "custom_code", ()))


def own_code(opts: InferenceOptions) -> tuple[str, ...]:
    """What running the file's own model executes: its globals or the folder's code."""
    return tuple(opts.globals) or tuple(getattr(opts, "custom_code", ()) or ())


def own_kind_text(opts: InferenceOptions) -> str:
    if opts.kind == "state_dict":
        return "model folder whose config.json names its own code (auto_map)"
    return opts.kind_text or "file"


def proposed_key(opts: InferenceOptions) -> str:
    """The list key of ``opts.proposed`` (a built-in's name or a library spec), or ""."""
    if not opts.proposed:
        return ""
    if any(c.name == opts.proposed for c in opts.architectures):
        return BUILTIN_PREFIX + opts.proposed
    return SPEC_PREFIX + opts.proposed


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
        The user changed the architecture, kwargs, code or input fields (worth remembering).
    sig_index_cancel_requested()
        Cancel was pressed on the model-index progress row.
    """

    sig_run_requested = Signal()
    """Run was pressed."""
    sig_cancel_requested = Signal()
    """Cancel was pressed."""
    sig_trust_requested = Signal()
    """"Trust this file…" was pressed; the file's own model is selected."""
    sig_choice_edited = Signal()
    """The architecture choice or an input field was edited."""
    sig_index_cancel_requested = Signal()
    """Cancel was pressed while the model index was being built."""

    def __init__(self, path: str, parent: QWidget | None = None):
        super().__init__(parent)
        self._folder = os.path.dirname(path)  # where "Choose your code" starts
        self._options: InferenceOptions | None = None
        self._candidates: dict[str, Candidate] = {}
        self._default_key = ""  # what set_options preselected
        self._populating = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 4, 0)
        layout.setSpacing(6)
        layout.addWidget(self._build_model_box())
        self.inputs = InputBox(self._folder)
        self.inputs.sig_edited.connect(self.sig_choice_edited)
        layout.addWidget(self.inputs)
        # the names earlier code and tests use
        for name in ("shape_edit", "batch_spin", "seed_spin", "device_combo", "dtype_combo",
                     "runs_spin"):
            setattr(self, name, getattr(self.inputs, name))
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
        self.arch_list.clear()
        QTreeWidgetItem(self.arch_list, ["Reading the checkpoint…"])
        self.arch_list.setEnabled(False)
        self.code_row.hide()  # until "Your code…" is chosen
        self._populating = False
        self.run_button.setEnabled(False)
        self.status_label.setText("Reading the checkpoint and the available devices…")

    def show_unreadable(self) -> None:
        """The choices could not be read."""
        self.arch_list.clear()
        self.status_label.setText("")

    def set_options(self, opts: InferenceOptions, remembered: Mapping[str, str]) -> None:
        """Fill the choices from the file's options; ``remembered`` is the last choice made
        for this file (a file's own code is never preselected from it)."""
        refresh = self._options is not None
        previous = self.architecture_key() if refresh else ""
        self._options = opts
        rows = candidates(opts)
        self._candidates = {c.key: c for c in rows}
        if not refresh:
            self.inputs.set_devices(list(opts.devices))
        self.inputs.set_samples(tuple(getattr(opts, "sample_images", ())),
                                getattr(opts, "default_text", ""))
        file_kind = has_own_code(opts)
        best = proposed_key(opts)

        self._populating = True
        tree = self.arch_list
        tree.clear()
        tree.setEnabled(True)
        for c in rows:
            item = QTreeWidgetItem(tree, [c.name, LIBRARY_NAMES.get(c.source, c.source),
                                          c.match_text()])
            item.setData(0, Qt.ItemDataRole.UserRole, c.key)
            item.setTextAlignment(2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            tip = f"{c.name} ({c.source}). {c.description}" if c.source else c.description
            if c.key == best:
                tip = f"Proposed: the best match for this file's weights. {tip}"
                font = item.font(0)
                font.setBold(True)
                for col in range(3):
                    item.setFont(col, font)
            for col in range(3):
                item.setToolTip(col, _plain_tooltip(tip))
        self._fit_list_height(len(rows))
        self.trust_button.setVisible(file_kind)
        note = getattr(opts, "library_note", "")
        self.library_note.setText(note[:1].upper() + note[1:] + ("." if note and
                                                                 not note.endswith(".") else ""))
        self.library_note.setVisible(bool(note))

        key = previous or remembered.get("architecture", "")
        if key == ARCH_FILE and not refresh:
            key = ""  # a file's own code is never preselected from the settings
        if not key or key not in self._candidates or (refresh and best and
                                                      previous == self._default_key):
            key = best or (ARCH_FILE if file_kind else "")
            if not key:
                top = next((c for c in rows if c.score > 0), None)
                key = top.key if top is not None else ARCH_CODE
        self._default_key = key
        if not refresh:
            self.kwargs_edit.setText(remembered.get("kwargs", ""))
            self.code_edit.setText(remembered.get("code_path", ""))
            self.class_edit.setText(remembered.get("class_name", ""))
            self.inputs.restore(remembered)
        self._select_key(key)
        self._populating = False
        self._on_arch_changed()
        self.run_button.setEnabled(True)
        if not refresh:
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

    def show_index_progress(self, done: int, total: int, text: str) -> None:
        """The model index is being built (``total`` 0: not known yet)."""
        self.index_row.show()
        self.index_bar.show()
        self.index_cancel.show()
        self.index_bar.setRange(0, max(total, 0))
        if total > 0:
            self.index_bar.setValue(done)
        self.index_label.setText(text[:1].upper() + text[1:] + "…" if text else
                                 "Building the index of model architectures…")

    def hide_index_progress(self, text: str = "") -> None:
        """The index build ended; ``text`` stays as a note when given."""
        self.index_row.setVisible(bool(text))
        self.index_bar.setVisible(not text)
        self.index_cancel.setVisible(not text)
        self.index_label.setText(text)

    # ---- Public API: reading the choices
    def architecture_key(self) -> str:
        """The selected entry: ``"file"``, ``"code"``, ``"builtin:<name>"`` or
        ``"spec:<library spec>"``."""
        item = self.arch_list.currentItem()
        return (item.data(0, Qt.ItemDataRole.UserRole) or "") if item is not None else ""

    def architecture_keys(self) -> list[str]:
        """Every entry of the list, in order."""
        return [self.arch_list.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) or ""
                for i in range(self.arch_list.topLevelItemCount())]

    def candidate(self, key: str | None = None) -> Candidate | None:
        return self._candidates.get(self.architecture_key() if key is None else key)

    def set_architecture(self, key: str) -> bool:
        """Select ``"file"``, ``"code"``, ``"builtin:<name>"``, ``"spec:<spec>"``, a bare
        built-in name or a bare library spec (``"hf:BertModel"``)."""
        for candidate in (key, BUILTIN_PREFIX + key, SPEC_PREFIX + key):
            if candidate in self._candidates:
                self._select_key(candidate)
                return True
        return False

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
        if key.startswith(SPEC_PREFIX):
            return key[len(SPEC_PREFIX):]
        if key != ARCH_CODE:
            raise ValueError("choose a model in the list")
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
        from inspector.core.inference import parse_shape

        spec = self.architecture_spec()
        kwargs = parse_kwargs(self.kwargs_edit.text()) if spec is not None else {}
        candidate = self.candidate()
        if candidate is not None and candidate.key.startswith(SPEC_PREFIX) and not kwargs:
            kwargs = dict(candidate.kwargs)  # the sizes the proposal was scored with
        inputs = self.inputs
        kind = inputs.input_kind
        return RunConfig(
            path=path, architecture=spec, arch_kwargs=kwargs,
            device=inputs.device_combo.currentData() or "cpu",
            dtype=inputs.dtype_combo.currentText() or "float32",
            runs=inputs.runs_spin.value(), batch_size=inputs.batch_spin.value(),
            seed=inputs.seed_spin.value(),
            input_shape=parse_shape(inputs.shape_edit.text()) if kind not in (
                "image", "text") else None,
            image=inputs.image_path() if kind == "image" else None,
            text=inputs.text() if kind == "text" else None,
            input_npy=inputs.npy_path(),
            extra_args=parse_extra_args(inputs.extra_edit.text()) or None)

    def choice(self) -> dict[str, str] | None:
        """The choices to remember for the file (None while not filled in)."""
        if self._populating or self._options is None or not self._candidates:
            return None
        return {"architecture": self.architecture_key(),
                "kwargs": self.kwargs_edit.text().strip(),
                "code_path": self.code_edit.text().strip(),
                "class_name": self.class_edit.text().strip(),
                **self.inputs.remembered()}

    def devices(self) -> list[str]:
        """The device names offered (only available ones)."""
        return self.inputs.devices()

    def select_device(self, name: str) -> None:
        self.inputs.select_device(name)

    # ---- Private API: building
    def _build_model_box(self) -> QGroupBox:
        model = QGroupBox("Model")
        form = QVBoxLayout(model)
        form.setSpacing(4)
        self.arch_list = QTreeWidget()
        self.arch_list.setObjectName("archList")
        self.arch_list.setColumnCount(3)
        self.arch_list.setHeaderLabels(["Architecture", "From", "Match"])
        self.arch_list.setRootIsDecorated(False)
        self.arch_list.setUniformRowHeights(True)
        self.arch_list.setAlternatingRowColors(True)
        self.arch_list.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.arch_list.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.arch_list.setToolTip("The architectures that can hold this file's weights, best "
                                  "match first")
        header = self.arch_list.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        self._fit_list_height(LIST_ROWS)
        self.arch_list.currentItemChanged.connect(lambda *_: self._on_arch_changed())
        form.addWidget(self.arch_list)
        self.arch_note = _plain_label(name="archNote")
        form.addWidget(self.arch_note)
        self.library_note = _plain_label(name="libraryNote")
        self.library_note.hide()
        form.addWidget(self.library_note)

        self.index_row = QWidget()
        index_layout = QVBoxLayout(self.index_row)
        index_layout.setContentsMargins(0, 0, 0, 0)
        index_layout.setSpacing(2)
        self.index_label = _plain_label(name="indexStatus")
        index_layout.addWidget(self.index_label)
        bar_row = QHBoxLayout()
        self.index_bar = QProgressBar()
        self.index_bar.setMaximumHeight(12)
        self.index_bar.setTextVisible(False)
        self.index_cancel = QPushButton("Cancel")
        self.index_cancel.setToolTip("Stop building the index (proposals from the model "
                                     "libraries need it; it is built once per version)")
        self.index_cancel.clicked.connect(self.sig_index_cancel_requested)
        bar_row.addWidget(self.index_bar, 1)
        bar_row.addWidget(self.index_cancel)
        index_layout.addLayout(bar_row)
        self.index_row.hide()
        form.addWidget(self.index_row)

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
        self.kwargs_edit.editingFinished.connect(self.sig_choice_edited)
        self.kwargs_edit.editingFinished.connect(self._update_shape_hint)
        kwargs_row.addWidget(self.kwargs_edit, 1)
        form.addLayout(kwargs_row)
        self.kwargs_note = _plain_label(name="kwargsNote")
        form.addWidget(self.kwargs_note)
        self.trust_button = QPushButton(self.style().standardIcon(
            QStyle.StandardPixmap.SP_MessageBoxWarning), "Trust this file…")
        self.trust_button.setToolTip("Run the model stored in the file. This executes code from "
                                     "the file; you are asked first, for this run only.")
        self.trust_button.clicked.connect(self._trust_clicked)
        self.trust_button.hide()
        form.addWidget(self.trust_button)
        return model

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

    def _fit_list_height(self, rows: int) -> None:
        """Room for ``rows`` rows (at most LIST_ROWS; more scroll) and the header."""
        row = max(self.arch_list.sizeHintForRow(0), self.arch_list.fontMetrics().height() + 4)
        header = self.arch_list.header().sizeHint().height()
        self.arch_list.setFixedHeight(header + row * max(2, min(rows, LIST_ROWS)) + 6)

    # ---- Private API: reacting to choices
    def _select_key(self, key: str) -> None:
        for i in range(self.arch_list.topLevelItemCount()):
            item = self.arch_list.topLevelItem(i)
            if item.data(0, Qt.ItemDataRole.UserRole) == key:
                self.arch_list.setCurrentItem(item)
                self.arch_list.scrollToItem(item)
                return

    def _on_arch_changed(self) -> None:
        key = self.architecture_key()
        self.code_row.setVisible(key == ARCH_CODE)
        self.kwargs_edit.setEnabled(key != ARCH_FILE)
        opts = self._options
        if opts is None:
            return
        c = self._candidates.get(key)
        inferred = dict(c.kwargs) if c is not None and c.score > 0 and c.kwargs else {}
        if key == ARCH_FILE:
            globals_ = list(own_code(opts))
            named = ", ".join(globals_[:4]) or "the code stored in it"
            more = f" and {len(globals_) - 4} more" if len(globals_) > 4 else ""
            self.arch_note.setText(f"This is a {own_kind_text(opts)}; running its own model "
                                   f"executes {named}{more}. Run asks you first.")
            self.kwargs_edit.setPlaceholderText("not used")
            self.kwargs_note.setText("")
        elif key == ARCH_CODE:
            self.arch_note.setText("Your model class: a .py file and the class name, or an "
                                   "importable package.module:Class. Its code runs in the "
                                   "worker process.")
            self.kwargs_edit.setPlaceholderText("none — JSON")
            self.kwargs_note.setText("")
        else:
            note = c.description.strip() if c is not None else ""
            if note and not note.endswith((".", "!", "?")):
                note += "."
            if c is not None and c.exact:
                note = (note + " " if note else "") + "Every key matches in name and shape."
            if opts.kind != "state_dict":
                note += " The weights are read from the file without running its code."
            self.arch_note.setText(note.strip())
            self.kwargs_edit.setPlaceholderText("none — JSON")
            self.kwargs_note.setText(
                "Inferred from the weights: " + ", ".join(
                    f"{k}={json.dumps(v)}" for k, v in inferred.items()) if inferred else "")
        self.kwargs_note.setVisible(bool(self.kwargs_note.text()))
        self.kwargs_edit.setToolTip(
            "Not used for the file's own model" if key == ARCH_FILE else
            "Constructor keyword arguments as a JSON object, e.g. {\"num_classes\": 10} (for a "
            "transformers model: config overrides); they override the sizes inferred from the "
            "weights. Empty: none, only what is inferred")
        fit_placeholder(self.kwargs_edit)
        kind = (c.input_kind if c is not None and c.input_kind else "")
        if not kind:
            kind = (getattr(opts, "input_kind", "tensor") if key == proposed_key(opts)
                    or key in (ARCH_FILE, ARCH_CODE) else "tensor")
        self.inputs.set_input_kind(kind)
        if not self._populating:
            self.sig_choice_edited.emit()
        self._update_shape_hint()

    def _update_shape_hint(self) -> None:
        """Show the input shape an automatic run would use (known for a matching built-in
        with the inferred sizes; otherwise it comes from the model's first layer)."""
        c = self.candidate()
        shape = c.input_shape if c is not None and not self.kwargs_edit.text().strip() else None
        self.inputs.set_shape_hint(shape)

    def _browse_code(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        start = os.path.dirname(self.code_edit.text().strip()) or self._folder
        path, _ = QFileDialog.getOpenFileName(self, "Choose Your Model Code", start,
                                              "Python files (*.py);;All files (*)")
        if path:
            self.code_edit.setText(path)
            self.sig_choice_edited.emit()

    def _trust_clicked(self) -> None:
        self.set_architecture(ARCH_FILE)
        self.sig_trust_requested.emit()


def _plain_tooltip(text: str) -> str:
    """A tooltip that shows ``text`` as text (Qt renders a tooltip that looks like markup)."""
    from inspector.core.text import html_text

    return f"<p>{html_text(text)}</p>"
