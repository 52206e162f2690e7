"""The Inference view's input and device choices.

What is fed depends on the model (:attr:`InputBox.input_kind`): an **image** model gets a
sample image (the project's own, or any image file the user picks), a **text** model an
editable sentence, anything else a random tensor of the Shape given (empty: automatic).
For models that need more, **Extra args** are further ``forward()`` keyword arguments as JSON
(``{"sr": 16000}``) and **Input .npy** replaces the generated input with an array from a file
(batch dimension included). Batch, seed, device, dtype and runs per mode follow.

Placeholders say what an empty field means in words ("none", "automatic"), so an empty field
never looks filled in.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QSpinBox,
    QStyle,
    QStyleOptionFrame,
    QToolButton,
    QWidget,
)

from inspector.core.devices import Device
from inspector.core.inference import DEFAULT_BATCH, DEFAULT_RUNS
from inspector.core.text import format_bytes, shape_text

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.webp *.tif *.tiff);;All files (*)"
KINDS = ("image", "text", "audio", "tensor")
LINE_EDIT_MARGIN = 2  # QLineEdit's horizontal margin inside its contents rect (Qt's constant)


def placeholder_room(edit: QLineEdit) -> int:
    """The pixels ``edit`` has for its text: its width less the frame, the text margins and
    the line edit's own 2 px each side."""
    opt = QStyleOptionFrame()
    edit.initStyleOption(opt)
    rect = edit.style().subElementRect(QStyle.SubElement.SE_LineEditContents, opt, edit)
    margins = edit.textMargins()
    return rect.width() - margins.left() - margins.right() - 2 * LINE_EDIT_MARGIN


def fit_placeholder(edit: QLineEdit) -> None:
    """Never narrower than its placeholder: the layout gives the field what it needs."""
    need = edit.fontMetrics().horizontalAdvance(edit.placeholderText())
    edit.setMinimumWidth(need + edit.width() - placeholder_room(edit) + 1)


def _browse_button(tip: str) -> QToolButton:
    button = QToolButton()
    button.setText("…")
    button.setToolTip(tip)
    return button


class InputBox(QGroupBox):
    """Input and device. Emits ``sig_edited`` when a remembered field changes."""

    sig_edited = Signal()
    """The image, sentence, extra args or .npy input was changed."""

    def __init__(self, folder: str, parent: QWidget | None = None):
        super().__init__("Input and device", parent)
        self._folder = folder  # where the file pickers start
        self._devices: list[Device] = []
        self.input_kind = "tensor"
        grid = self.grid = QGridLayout(self)
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(4)
        row = 0

        self.image_label = QLabel("Image")
        self.image_combo = QComboBox()
        self.image_combo.setObjectName("imageCombo")
        self.image_combo.setToolTip("The image fed to the model, preprocessed with the model's "
                                    "own transforms")
        self.image_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.image_combo.setMinimumContentsLength(10)
        self.image_combo.currentIndexChanged.connect(lambda _i: self.sig_edited.emit())
        self.image_browse = _browse_button("Choose any image file")
        self.image_browse.clicked.connect(self._browse_image)
        grid.addWidget(self.image_label, row, 0)
        grid.addWidget(self.image_combo, row, 1, 1, 2)
        grid.addWidget(self.image_browse, row, 3)
        row += 1

        self.text_label = QLabel("Text")
        self.text_edit = QLineEdit()
        self.text_edit.setObjectName("textEdit")
        self.text_edit.setToolTip("The sentence fed to the model, tokenized with the "
                                  "checkpoint's own tokenizer")
        self.text_edit.editingFinished.connect(self.sig_edited)
        grid.addWidget(self.text_label, row, 0)
        grid.addWidget(self.text_edit, row, 1, 1, 3)
        row += 1

        self.shape_label = QLabel("Shape")
        self.shape_edit = QLineEdit()
        self.shape_edit.setObjectName("shapeEdit")
        self.shape_edit.setToolTip("One sample's shape without the batch dimension, e.g. "
                                   "3x32x32; empty: automatic (from the model's first layer)")
        grid.addWidget(self.shape_label, row, 0)
        grid.addWidget(self.shape_edit, row, 1, 1, 3)
        row += 1

        self.extra_edit = QLineEdit()
        self.extra_edit.setObjectName("extraArgsEdit")
        self.extra_edit.setPlaceholderText("none — JSON")
        self.extra_edit.setToolTip("Further keyword arguments of the model's forward(), as a "
                                   "JSON object: numbers, strings, booleans, null or lists, "
                                   "e.g. {\"sr\": 16000} (a TorchScript audio model's "
                                   "sampling rate sr). Empty: none")
        fit_placeholder(self.extra_edit)
        self.extra_edit.editingFinished.connect(self.sig_edited)
        grid.addWidget(QLabel("Extra args"), row, 0)
        grid.addWidget(self.extra_edit, row, 1, 1, 3)
        row += 1

        self.npy_edit = QLineEdit()
        self.npy_edit.setObjectName("npyEdit")
        self.npy_edit.setPlaceholderText("none — generated")
        self.npy_edit.setToolTip("A .npy file used as the whole input, batch dimension "
                                 "included (Shape and Batch are then not used). Empty: none, "
                                 "the generated input is fed")
        fit_placeholder(self.npy_edit)
        self.npy_edit.editingFinished.connect(self.sig_edited)
        self.npy_edit.textChanged.connect(lambda _t: self._update_enabled())
        npy_browse = _browse_button("Choose a .npy file with the input")
        npy_browse.clicked.connect(self._browse_npy)
        grid.addWidget(QLabel("Input .npy"), row, 0)
        grid.addWidget(self.npy_edit, row, 1, 1, 2)
        grid.addWidget(npy_browse, row, 3)
        row += 1

        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 4096)
        self.batch_spin.setValue(DEFAULT_BATCH)
        self.batch_spin.setToolTip("Batch size: samples per forward pass (train-mode BatchNorm "
                                   "needs 2 or more)")
        grid.addWidget(QLabel("Batch"), row, 0)
        grid.addWidget(self.batch_spin, row, 1)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 999_999)
        self.seed_spin.setToolTip("Seed for the random input and for each pass's randomness")
        grid.addWidget(QLabel("Seed"), row, 2)
        grid.addWidget(self.seed_spin, row, 3)
        row += 1

        self.device_combo = QComboBox()
        self.device_combo.setObjectName("deviceCombo")
        self.device_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.device_combo.setMinimumContentsLength(12)
        self.device_combo.currentIndexChanged.connect(lambda _i: self._on_device_changed())
        grid.addWidget(QLabel("Device"), row, 0)
        grid.addWidget(self.device_combo, row, 1, 1, 3)
        row += 1

        self.dtype_combo = QComboBox()
        self.dtype_combo.setToolTip("The dtype the model and input are cast to")
        grid.addWidget(QLabel("dtype"), row, 0)
        grid.addWidget(self.dtype_combo, row, 1)
        self.runs_spin = QSpinBox()
        self.runs_spin.setRange(1, 1000)
        self.runs_spin.setValue(DEFAULT_RUNS)
        self.runs_spin.setToolTip("Forward passes in each mode, on the same input")
        grid.addWidget(QLabel("Runs"), row, 2)
        grid.addWidget(self.runs_spin, row, 3)
        grid.setColumnStretch(1, 1)
        grid.setColumnStretch(3, 1)
        self.set_input_kind("tensor")

    # ---- Public API
    def set_input_kind(self, kind: str) -> None:
        """Show the fields for an ``"image"``, ``"text"``, ``"audio"`` or ``"tensor"`` model."""
        self.input_kind = kind if kind in KINDS else "tensor"
        image, text = self.input_kind == "image", self.input_kind == "text"
        for w in (self.image_label, self.image_combo, self.image_browse):
            w.setVisible(image)
        for w in (self.text_label, self.text_edit):
            w.setVisible(text)
        for w in (self.shape_label, self.shape_edit):
            w.setVisible(not (image or text))
        self._update_enabled()

    def set_samples(self, images: list[str] | tuple[str, ...], default_text: str) -> None:
        """The project's sample images (paths) and the default sentence."""
        current = self.image_path()
        self.image_combo.blockSignals(True)
        self.image_combo.clear()
        for path in images:
            self.image_combo.addItem(os.path.basename(path), path)
            self.image_combo.setItemData(self.image_combo.count() - 1, path,
                                         Qt.ItemDataRole.ToolTipRole)
        if current:
            self.set_image(current)
        self.image_combo.blockSignals(False)
        self.text_edit.setPlaceholderText(f"empty: “{default_text}”" if default_text
                                          else "empty: the default sentence")
        if default_text and not self.text_edit.text():
            self.text_edit.setText(default_text)
            self.text_edit.setCursorPosition(0)  # the sentence's start, not its end

    def set_image(self, path: str) -> None:
        """Select ``path`` (added to the list when it is not a sample)."""
        index = self.image_combo.findData(path)
        if index < 0:
            self.image_combo.addItem(os.path.basename(path), path)
            index = self.image_combo.count() - 1
            self.image_combo.setItemData(index, path, Qt.ItemDataRole.ToolTipRole)
        self.image_combo.setCurrentIndex(index)

    def image_path(self) -> str | None:
        return self.image_combo.currentData() or None

    def text(self) -> str | None:
        return self.text_edit.text().strip() or None

    def npy_path(self) -> str | None:
        return self.npy_edit.text().strip() or None

    def set_shape_hint(self, shape: tuple[int, ...] | None) -> None:
        """The placeholder of an empty Shape: the shape an automatic run would use."""
        self.shape_edit.setPlaceholderText(
            f"automatic: {shape_text(shape)}" if shape else "automatic, from the first layer")

    def set_devices(self, devices: list[Device]) -> None:
        self._devices = list(devices)
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

    def devices(self) -> list[str]:
        return [self.device_combo.itemData(i) for i in range(self.device_combo.count())]

    def select_device(self, name: str) -> None:
        index = self.device_combo.findData(name)
        if index >= 0:
            self.device_combo.setCurrentIndex(index)

    def remembered(self) -> dict[str, str]:
        """The input fields worth remembering for the file."""
        return {"image": self.image_path() or "", "text": self.text_edit.text().strip(),
                "extra_args": self.extra_edit.text().strip(), "input_npy": self.npy_path() or ""}

    def restore(self, saved: dict) -> None:
        if saved.get("image") and os.path.isfile(saved["image"]):
            self.set_image(saved["image"])
        if saved.get("text"):
            self.text_edit.setText(saved["text"])
            self.text_edit.setCursorPosition(0)
        self.extra_edit.setText(saved.get("extra_args", ""))
        self.npy_edit.setText(saved.get("input_npy", ""))

    # ---- Private API
    def _update_enabled(self) -> None:
        from_file = bool(self.npy_path())
        self.shape_edit.setEnabled(not from_file)
        self.batch_spin.setEnabled(not from_file)
        self.image_combo.setEnabled(not from_file)
        self.text_edit.setEnabled(not from_file)

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

    def _browse_image(self) -> None:
        start = os.path.dirname(self.image_path() or "") or self._folder
        path, _ = QFileDialog.getOpenFileName(self, "Choose an Image", start, IMAGE_FILTER)
        if path:
            self.set_image(path)
            self.sig_edited.emit()

    def _browse_npy(self) -> None:
        start = os.path.dirname(self.npy_path() or "") or self._folder
        path, _ = QFileDialog.getOpenFileName(self, "Choose the Input Array", start,
                                              "NumPy arrays (*.npy);;All files (*)")
        if path:
            self.npy_edit.setText(path)
            self.sig_edited.emit()
