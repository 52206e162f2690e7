"""Statistics ▸ Device: where the statistics worker summarizes tensors.

"CPU (every core)" or "GPU (CUDA)". The choice is kept in the settings and passed with each
statistics job (``inspector.core.stats_job.tensor_stats(device=...)``); nothing is imported
or checked on the GUI thread: the worker process checks CUDA when a job starts and, if it
is missing, computes on the CPU and says so in the banner. Changing the choice recomputes
the current checkpoint's statistics.
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup

CHOICES = (("cpu", "&CPU (every core)"), ("cuda", "&GPU (CUDA)"))


def install(window) -> None:
    """Add the Device submenu to ``window.stats_menu``."""
    menu = window.stats_menu.addMenu("&Device")
    menu.setObjectName("stats_device_menu")
    group = QActionGroup(menu)
    group.setExclusive(True)
    current = window.settings.stats_device()
    actions = {}
    for device, label in CHOICES:
        action = QAction(label, menu)
        action.setCheckable(True)
        action.setData(device)
        action.setChecked(device == current)
        action.setStatusTip("Compute statistics on the GPU (needs PyTorch with CUDA; counts, "
                            "min/max and histograms are identical, sums agree to 1e-12)"
                            if device == "cuda" else
                            "Compute statistics on every CPU core of this machine")
        group.addAction(action)
        menu.addAction(action)
        actions[device] = action
    if current not in actions:
        actions["cpu"].setChecked(True)

    def chosen(action: QAction) -> None:
        device = str(action.data())
        if device == window.settings.stats_device():
            return
        window.settings.set_stats_device(device)
        recompute = getattr(window, "recompute_stats", None)
        if recompute is not None and getattr(window, "current_document", lambda: None)():
            recompute()

    group.triggered.connect(chosen)
    window.stats_device_menu = menu
