"""Icons and the stylesheet as Qt objects, from :mod:`inspector.core.resources` (no ``.qrc``)."""

from __future__ import annotations

from functools import cache

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon

from inspector.core.resources import demo_checkpoint, resource_path

__all__ = ["demo_checkpoint", "icon", "resource_path", "stylesheet"]

@cache
def icon(name: str) -> QIcon:
    """The icon ``resources/icons/<name>.svg``; unknown names raise (a typo must not go blank)."""
    path = str(resource_path("icons", f"{name}.svg"))
    result = QIcon(path)
    # the same picture when selected: styles otherwise tint it into the highlight colour
    result.addFile(path, QSize(), QIcon.Mode.Selected)
    return result


def stylesheet() -> str:
    """The application stylesheet, or "" when none is bundled."""
    try:
        return resource_path("style.qss").read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
