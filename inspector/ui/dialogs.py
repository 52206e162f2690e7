"""The main window's questions: which files to open or compare, what to do with a drop."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

FILE_FILTER = ("Checkpoints (*.pth *.pt *.bin *.ckpt *.safetensors *.json *.tar *.pkl *.pt2);;"
               "All files (*)")
OPEN = "open"
COMPARE = "compare"


def choose_files(parent: QWidget, start: str) -> list[str]:
    """Checkpoint files to open (none when the dialog is cancelled)."""
    files, _ = QFileDialog.getOpenFileNames(parent, "Open Checkpoint", start, FILE_FILTER)
    return files


def choose_compare_files(parent: QWidget, start: str) -> tuple[str, str] | None:
    """Two files to compare, A then B; None when either dialog is cancelled."""
    a, _ = QFileDialog.getOpenFileName(parent, "Compare: choose file A", start, FILE_FILTER)
    if not a:
        return None
    b, _ = QFileDialog.getOpenFileName(parent, f"Compare {os.path.basename(a)} with: "
                                       "choose file B", os.path.dirname(a), FILE_FILTER)
    return (a, b) if b else None


def choose_compare_with(parent: QWidget, path: str) -> str:
    """A file to compare ``path`` with ("" when cancelled)."""
    b, _ = QFileDialog.getOpenFileName(parent, f"Compare {os.path.basename(path)} with…",
                                       os.path.dirname(path), FILE_FILTER)
    return b


def ask_drop_action(parent: QWidget, dropped: str, current: str) -> str:
    """:data:`OPEN`, :data:`COMPARE` or "" (cancel): what to do with one file dropped on an
    open checkpoint. Offscreen (scripted and test runs) nobody could answer: "open"."""
    if QGuiApplication.platformName() in ("offscreen", "minimal"):
        return OPEN
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Open or Compare")
    box.setTextFormat(Qt.TextFormat.PlainText)  # file names are shown, never rendered
    box.setText(f"What should happen with {os.path.basename(dropped)}?")
    open_button = box.addButton("Open in a New Tab", QMessageBox.ButtonRole.AcceptRole)
    compare_button = box.addButton(f"Compare with {os.path.basename(current)}",
                                   QMessageBox.ButtonRole.ActionRole)
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(open_button)
    box.exec()
    clicked = box.clickedButton()
    return OPEN if clicked is open_button else COMPARE if clicked is compare_button else ""
