"""The one rule of the architecture: ``inspector.core`` never imports Qt."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import inspector.core


def test_every_core_module_imports_without_qt():
    names = [m.name for m in pkgutil.walk_packages(inspector.core.__path__, "inspector.core.")]
    assert "inspector.core.formats.torch_zip" in names and len(names) > 15
    code = ("import importlib, sys\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('PySide6', 'pyqtgraph', 'superqt', 'qtpy') or m.startswith('inspector.ui'))\n"
            "print(','.join(bad))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
