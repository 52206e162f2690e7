"""A tab page that builds its real widget when first shown."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QVBoxLayout, QWidget


class LazyView(QWidget):
    """Holds a view's tab and builds the real widget when it is first shown or asked for, so
    heavy panels (and pyqtgraph) stay off the GUI thread's path while a file opens."""

    def __init__(self, factory: Callable[[], QWidget], parent: QWidget | None = None):
        super().__init__(parent)
        self._factory = factory
        self._widget: QWidget | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)

    def widget(self) -> QWidget:
        """The real widget, built now if it was not yet."""
        if self._widget is None:
            self._widget = self._factory()
            self.layout().addWidget(self._widget)
        return self._widget

    def is_built(self) -> bool:
        return self._widget is not None

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        self.widget()
        super().showEvent(event)
