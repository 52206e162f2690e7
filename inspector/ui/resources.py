"""Find bundled resources (icons, stylesheet, demo checkpoints) from a checkout or a wheel.

``resources/`` sits next to the package in a checkout; the wheel maps it to
``inspector/_resources`` (pyproject's hatch ``force-include``). No ``.qrc`` files.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon

_PACKAGE = Path(__file__).resolve().parent.parent  # .../inspector
_CANDIDATES = (_PACKAGE / "_resources", _PACKAGE.parent / "resources")


def resource_root() -> Path | None:
    """The first resources folder that exists (installed copy first, then the checkout)."""
    for root in _CANDIDATES:
        if root.is_dir():
            return root
    return None


def resource_path(*parts: str) -> Path:
    """The path of a bundled resource; raises FileNotFoundError naming it when it is absent."""
    for root in _CANDIDATES:
        path = root.joinpath(*parts)
        if path.exists():
            return path
    raise FileNotFoundError(f"resource not found: {'/'.join(parts)} "
                            f"(looked in {', '.join(str(r) for r in _CANDIDATES)})")


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


_DEMO_RE = re.compile(r"demo_epoch_(\d+)\.pth$")


def demo_checkpoint() -> Path | None:
    """The newest bundled demo checkpoint (highest epoch number), or None when none exists."""
    for root in _CANDIDATES:
        folder = root / "demo"
        if not folder.is_dir():
            continue
        found = [(int(m.group(1)), p) for p in folder.iterdir()
                 if (m := _DEMO_RE.search(p.name)) and p.is_file()]
        if found:
            return max(found)[1]
    return None
