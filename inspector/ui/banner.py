"""The message banner above the documents: errors and notes that need no dialog."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QSizePolicy, QToolButton, QWidget

from inspector.ui import resources

LEVEL_ICONS = {"error": "error", "warning": "warning", "info": "info"}


class MessageBanner(QFrame):
    """A dismissable line of plain text (messages often quote file names and file content)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("messageBanner")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        self._icon = QLabel()
        self._text = QLabel()
        self._text.setObjectName("bannerText")
        self._text.setTextFormat(Qt.TextFormat.PlainText)
        self._text.setWordWrap(True)
        self._text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._text.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        close = QToolButton()
        close.setIcon(resources.icon("close"))
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout.addWidget(self._icon)
        layout.addWidget(self._text, 1)
        layout.addWidget(close)
        self.hide()

    def show_message(self, text: str, level: str = "error") -> None:
        """Show ``text`` (plain text) with the icon of ``level``: error, warning or info."""
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        self._icon.setPixmap(resources.icon(LEVEL_ICONS.get(level, "info")).pixmap(18, 18))
        self._text.setText(text)
        self.show()

    def text(self) -> str:
        """The message shown, or "" when the banner is hidden."""
        return "" if self.isHidden() else self._text.text()
