"""Training runs in the main window: File ▸ Open Run… (a folder) and Open Run from Files…
open a Timeline tab (:class:`~inspector.ui.timeline.view.TimelineView`).

A heatmap click opens the window's compare tab for those two checkpoints and selects the
tensor as soon as its row arrives; a finding opens its checkpoint with the tensor selected.
:func:`install` only adds menu actions: the view (pyqtgraph, numpy) is imported when a run is
first opened, never before the window's first paint.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog

from inspector.ui.tree.columns import plain_tooltip

SELECT_POLL_MS = 100
SELECT_TIMEOUT_MS = 60_000
RUN_TOOLTIP = ("A folder of checkpoints from one training run, read as a timeline: curves, "
               "a heatmap of change and health findings (Timeline tab)")


def install(window) -> None:
    """Add File ▸ Open Run… and Open Run from Files… to ``window``."""
    act = QAction("Open Ru&n…", window)
    act.setStatusTip("Open a folder of checkpoints as a training run (Timeline tab)")
    act.triggered.connect(lambda: open_run_dialog(window))
    act_files = QAction("Open Run from Fi&les…", window)
    act_files.setStatusTip("Open several checkpoint files as a training run (Timeline tab)")
    act_files.triggered.connect(lambda: open_run_files_dialog(window))
    menu = window.file_menu
    actions = menu.actions()
    # after "Open Recent", before the compare entries
    before = actions[2] if len(actions) > 2 else None
    if before is not None:
        menu.insertAction(before, act)
        menu.insertAction(before, act_files)
    else:
        menu.addAction(act)
        menu.addAction(act_files)
    window.act_open_run = act
    window.act_open_run_files = act_files
    openers = getattr(window, "folder_openers", None)
    if openers is not None:  # a folder of checkpoint folders (checkpoint-500/ …) given to Open
        openers.append(lambda folder: open_folder_run(window, folder))
    welcome = getattr(window, "welcome", None)
    if welcome is not None:  # the welcome page's "Open Run…" does what the menu entry does
        welcome.add_button("Open Run…", RUN_TOOLTIP, act.trigger, name="openRunButton")


def open_run(window, paths, cache_dir: str | None = None):
    """Open ``paths`` (a run folder, or checkpoint files) in a new Timeline tab; returns its
    :class:`~inspector.ui.timeline.view.TimelineView`."""
    from inspector.core.timeline.cache import default_cache_dir
    from inspector.ui.theme import configure_plotting
    from inspector.ui.timeline.view import TimelineView

    configure_plotting()
    paths = [os.fspath(p) for p in ([paths] if isinstance(paths, (str, os.PathLike)) else paths)]
    settings = window.settings
    device = getattr(settings, "stats_device", lambda: "cpu")() or "cpu"
    scheduler = getattr(settings, "scheduler_address", lambda: "")() or None
    # the window's own runner for runs (older windows: the statistics and tensor runners)
    jobs = getattr(window.runners, "timeline", None)
    view = TimelineView(paths, jobs or window.runners.stats, jobs or window.runners.tensor,
                        cache_dir=cache_dir if cache_dir is not None else default_cache_dir(),
                        device=device, scheduler=scheduler)
    view.sig_error.connect(lambda text: window.show_message(text, "error"))
    view.sig_compare_requested.connect(
        lambda a, b, tensor, _name: compare_at(window, a, b, tensor))
    view.sig_open_tensor_requested.connect(
        lambda path, tensor: open_at_tensor(window, path, tensor))
    tooltip = plain_tooltip("\n".join(view.paths[:20]))
    window.add_tab(view, view.title(), tooltip=tooltip)
    return view


def open_folder_run(window, folder: str) -> bool:
    """Open ``folder`` as a run when it holds checkpoint folders (a Hugging Face Trainer's
    ``checkpoint-500/ checkpoint-1000/ …``, distributed ``step_N/``) or a Lightning
    ``checkpoints/`` folder instead of checkpoint files; one checkpoint folder opens as a
    checkpoint. False when the folder holds none."""
    from inspector.core.timeline.discover import RunError, run_members

    try:
        members = run_members(folder)
    except RunError:
        return False
    if len(members) == 1:
        return window.open_path(members[0][0]) is not None
    window.statusBar().showMessage(f"{folder} holds {len(members)} checkpoints: opened as a "
                                   "training run", 8000)
    open_run(window, [folder])
    return True


def open_run_dialog(window):
    start = window.settings.last_directory() or str(Path.home())
    folder = QFileDialog.getExistingDirectory(window, "Open Run (a folder of checkpoints)", start)
    if not folder:
        return None
    window.settings.set_last_directory(folder)
    return open_run(window, [folder])


def open_run_files_dialog(window):
    from inspector.ui.dialogs import FILE_FILTER

    start = window.settings.last_directory() or str(Path.home())
    files, _ = QFileDialog.getOpenFileNames(window, "Open Run (two or more checkpoints)", start,
                                            FILE_FILTER)
    if not files:
        return None
    window.settings.set_last_directory(os.path.dirname(files[0]))
    return open_run(window, files)


def compare_at(window, path_a: str, path_b: str, tensor: tuple):
    """Open the compare tab of A and B and select ``tensor`` once its row has arrived."""
    view = window.open_compare(path_a, path_b)
    select_key = getattr(view, "select_key", None)
    if select_key is not None:  # selects now, or when the row arrives
        select_key(tuple(tensor))
    else:
        _when(lambda: _select_entry(view, tuple(tensor)), view)
    return view


def open_at_tensor(window, path: str, tensor: tuple):
    """Open (or switch to) the checkpoint at ``path`` and select ``tensor`` once loaded."""
    view = window.open_path(path)
    if view is not None:
        _when(lambda: view.is_loaded and view.select_path(tuple(tensor)), view)
    return view


# ---- Private API
def _select_entry(view, tensor: tuple) -> bool:
    for entry in view.entries():
        if tensor in (entry.path, entry.path_b, entry.path_a):
            return view.select_entry(entry)
    return False


def _when(check, owner) -> None:
    """Call ``check`` on the event loop until it returns True (or a minute has passed)."""
    timer = QTimer(owner)
    timer.setInterval(SELECT_POLL_MS)
    left = [SELECT_TIMEOUT_MS // SELECT_POLL_MS]

    def tick() -> None:
        left[0] -= 1
        try:
            done = bool(check())
        except RuntimeError:  # the view was closed
            done = True
        if done or left[0] <= 0:
            timer.stop()
            timer.deleteLater()

    timer.timeout.connect(tick)
    timer.start()
    QTimer.singleShot(0, tick)


