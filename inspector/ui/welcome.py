"""The welcome page, shown while no file is open: what to do, and the recent files."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from inspector.ui import resources
from inspector.ui.about import APP_NAME
from inspector.ui.settings import Settings
from inspector.ui.tree.columns import plain_tooltip

RECENT_SHOWN = 6


class WelcomePage(QWidget):
    """An "Open" button and links to the recent files.

    Emits
    -----
    sig_open_requested()
        The user wants to choose a file.
    sig_open_path(str)
        The user picked a recent file.
    """

    sig_open_requested = Signal()
    """The Open button was pressed."""
    sig_open_path = Signal(str)
    """A recent file was clicked: its path."""
    sig_open_folder_requested = Signal()
    """The Open Folder button was pressed."""

    def __init__(self, settings: Settings, parent: QWidget | None = None):
        super().__init__(parent)
        self._settings = settings
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        logo = QLabel(alignment=Qt.AlignmentFlag.AlignCenter)
        logo.setPixmap(resources.icon("app").pixmap(96, 96))
        title = QLabel(APP_NAME, alignment=Qt.AlignmentFlag.AlignCenter)
        title.setObjectName("welcomeTitle")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        title.setFont(font)
        hint = QLabel("Open a checkpoint (Ctrl+O), a model folder — Hugging Face, "
                      "torch.distributed.checkpoint, sharded (Ctrl+Alt+O) — or a training run "
                      "(a folder of checkpoints, read as a timeline), or drop one here",
                      alignment=Qt.AlignmentFlag.AlignCenter)
        hint.setObjectName("welcomeHint")
        button = QPushButton(resources.icon("open"), "Open Checkpoint…")
        button.clicked.connect(self.sig_open_requested)
        hint.setWordWrap(True)
        folder = QPushButton(resources.icon("open"), "Open Folder…")
        folder.setObjectName("openFolderButton")
        folder.setToolTip("A Hugging Face model folder (config.json and weights), a "
                          "torch.distributed.checkpoint folder or sharded checkpoint files")
        folder.clicked.connect(self.sig_open_folder_requested)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(button)
        row.addWidget(folder)
        row.addStretch(1)
        self._buttons = row
        self._recent = QVBoxLayout()
        for w in (logo, title, hint):
            layout.addWidget(w)
        layout.addSpacing(12)
        layout.addLayout(row)
        layout.addSpacing(16)
        layout.addLayout(self._recent)
        layout.addStretch(3)

    def add_button(self, text: str, tooltip: str, slot, name: str = "") -> QPushButton:
        """A feature's button (e.g. "Open Run…") after the others; ``slot`` is called when it
        is pressed."""
        button = QPushButton(resources.icon("open"), text)
        if name:
            button.setObjectName(name)
        button.setToolTip(tooltip)
        button.clicked.connect(lambda _c=False: slot())
        self._buttons.insertWidget(self._buttons.count() - 1, button)  # before the stretch
        return button

    def refresh(self) -> None:
        """List the recent files that still exist."""
        while self._recent.count():
            w = self._recent.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        files = self._settings.existing_recent_files()[:RECENT_SHOWN]
        if not files:
            return
        caption = QLabel("Recent files", alignment=Qt.AlignmentFlag.AlignCenter)
        caption.setObjectName("welcomeHint")
        self._recent.addWidget(caption)
        for path in files:
            link = QPushButton(os.path.basename(path))  # button text is never rich text
            link.setFlat(True)
            link.setToolTip(plain_tooltip(path))
            link.setCursor(Qt.CursorShape.PointingHandCursor)
            link.clicked.connect(lambda _c=False, p=path: self.sig_open_path.emit(p))
            self._recent.addWidget(link, 0, Qt.AlignmentFlag.AlignHCenter)
