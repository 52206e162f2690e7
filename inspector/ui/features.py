"""Features that plug into the main window: each module's ``install(window)`` adds its menu
actions (``window.file_menu``, ``view_menu``, ``stats_menu``, ``help_menu``) and tabs.

A module missing from an install is simply not offered; any other import error is a bug and
is raised. The order here is the order of their menu entries.
"""

from __future__ import annotations

import importlib

FEATURES = (
    "inspector.ui.remote",      # File ▸ Open URL…, Settings ▸ cluster scheduler
    "inspector.ui.timeline",    # File ▸ Open Run…, the Timeline and Health tabs
    "inspector.ui.convert",     # File ▸ Convert…
    "inspector.ui.stats_device",  # Statistics ▸ Device
)


def install_features(window) -> list[str]:
    """Install every available feature into ``window``; returns the modules installed."""
    installed = []
    for name in FEATURES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        module.install(window)
        installed.append(name)
    return installed
