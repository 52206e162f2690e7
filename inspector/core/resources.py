"""Find bundled resources (icons, stylesheet, demo checkpoints) from a checkout or a wheel.

``resources/`` sits next to the package in a checkout; the wheel maps it to
``inspector/_resources`` (pyproject's hatch ``force-include``). Qt-free: the UI loads icons
through :mod:`inspector.ui.resources`, the CLI and tests find the demo here.
"""

from __future__ import annotations

import re
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent.parent  # .../inspector
_CANDIDATES = (_PACKAGE / "_resources", _PACKAGE.parent / "resources")
_DEMO_RE = re.compile(r"demo_epoch_(\d+)\.pth$")


def resource_path(*parts: str) -> Path:
    """The path of a bundled resource; raises FileNotFoundError naming it when it is absent."""
    for root in _CANDIDATES:
        path = root.joinpath(*parts)
        if path.exists():
            return path
    raise FileNotFoundError(f"resource not found: {'/'.join(parts)} "
                            f"(looked in {', '.join(str(r) for r in _CANDIDATES)})")


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
