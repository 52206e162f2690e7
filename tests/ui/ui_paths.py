"""Find a UI class while its module moves into a package (tree/, compare/, tensor/).

``ui_name("CheckpointTreeModel", "inspector.ui.tree", "inspector.ui.tree_model")`` returns the
class from the new package once that package exports it, else from the old module. Only a
missing module or name falls back; any other import error fails the test.
"""

from __future__ import annotations

import importlib
from typing import Any


def ui_name(name: str, *modules: str) -> Any:
    """``name`` from the first of ``modules`` that exists and defines it."""
    for module_name in modules:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name is None or not module_name.startswith(e.name):
                raise  # the module exists but one of its own imports is missing
            continue
        if hasattr(module, name):
            return getattr(module, name)
    raise ImportError(f"{name} is in none of {', '.join(modules)}")
