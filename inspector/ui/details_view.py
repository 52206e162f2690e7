"""The Details view: format-specific text (TorchScript code, an exported program's graph,
DCP shards, config.json, unsafe globals) from ``inspector.core.details``, read on demand."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QFontDatabase, QFontInfo
from PySide6.QtWidgets import (
    QLabel,
    QPlainTextEdit,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from inspector.core.checkpoint import Checkpoint, CheckpointError
from inspector.core.details import DetailSection
from inspector.core.text import html_text


def _monospace_font() -> QFont:
    # the platform's fixed font is not always fixed-pitch (offscreen, minimal desktops)
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    if not QFontInfo(font).fixedPitch():
        font = QFont("DejaVu Sans Mono")
        font.setStyleHint(QFont.StyleHint.TypeWriter)
        font.setFixedPitch(True)
    return font


class DetailsView(QWidget):
    """A list of sections on the left, the selected one's text on the right (read-only)."""

    def __init__(self, ckpt: Checkpoint, sections: list[DetailSection],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self._ckpt = ckpt
        self._sections = sections
        self.list = QTreeWidget()
        self.list.setHeaderHidden(True)
        self.list.setRootIsDecorated(True)
        groups: dict[str, QTreeWidgetItem] = {}
        for i, section in enumerate(sections):
            group = groups.get(section.group)
            if group is None:
                group = groups[section.group] = QTreeWidgetItem(self.list, [section.group])
                group.setFlags(group.flags() & ~Qt.ItemFlag.ItemIsSelectable)
                group.setExpanded(True)
            item = QTreeWidgetItem(group, [section.title])
            item.setData(0, Qt.ItemDataRole.UserRole, i)
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        right = QWidget()
        layout = QVBoxLayout(right)
        layout.setContentsMargins(6, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.text)
        splitter = QSplitter()
        splitter.addWidget(self.list)
        splitter.addWidget(right)
        splitter.setStretchFactor(1, 3)
        splitter.setSizes([260, 800])
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(splitter)
        self.list.currentItemChanged.connect(self._on_current)
        if sections:
            self.list.setCurrentItem(self.list.topLevelItem(0).child(0))

    # ---- Public API
    def section_titles(self) -> list[str]:
        return [s.title for s in self._sections]

    def show_section(self, title: str) -> bool:
        for i in range(self.list.topLevelItemCount()):
            group = self.list.topLevelItem(i)
            for j in range(group.childCount()):
                if group.child(j).text(0) == title:
                    self.list.setCurrentItem(group.child(j))
                    return True
        return False

    # ---- Private API
    def _on_current(self, item: QTreeWidgetItem | None, _previous=None) -> None:
        index = item.data(0, Qt.ItemDataRole.UserRole) if item is not None else None
        if index is None:
            return
        section = self._sections[index]
        # titles name code files of the checkpoint: escaped, never rendered
        self.title.setText(f"<b>{html_text(section.group)}</b> ▸ {html_text(section.title)}")
        # a style sheet, not setFont: the application's style sheet re-resolves fonts on polish
        family = QFontInfo(_monospace_font()).family() if section.monospace else ""
        self.text.setStyleSheet(f"QPlainTextEdit {{ font-family: '{family}'; }}" if family else "")
        try:
            self.text.setPlainText(section.load())
        except CheckpointError as e:
            self.text.setPlainText(f"Cannot show this section: {e.problem}")
        except OSError as e:
            self.text.setPlainText(f"Cannot read the file: {e}")
