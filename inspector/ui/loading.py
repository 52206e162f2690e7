"""What a checkpoint view reads off the GUI thread, and the imports it warms up there.

:func:`load_checkpoint` runs in a pool thread: it opens the file and prepares what the first
screen shows (the tree's rows, the optimizer's labels, a small file's summary; a big file's
summary follows its tree, see :func:`~inspector.core.opening.prepare_checkpoint`).
"""

from __future__ import annotations

from dataclasses import dataclass

from inspector.core.opening import PreparedCheckpoint, read_checkpoint
from inspector.ui.tree import TreeData, prepare_tree
from inspector.ui.workers import run_in_pool


@dataclass(frozen=True)
class LoadedCheckpoint:
    """What a view shows, read off the GUI thread: the prepared file and its tree rows."""

    prepared: PreparedCheckpoint
    tree: TreeData


def load_checkpoint(path: str) -> LoadedCheckpoint:
    """Open ``path``, prepare its summary and its tree rows (run in a pool thread)."""
    prepared = read_checkpoint(path, summary_later=None)  # a big file's summary follows
    try:
        return LoadedCheckpoint(prepared, prepare_tree(prepared.ckpt, prepared.labels))
    except BaseException:
        prepared.ckpt.close()
        raise


def warm_up_plotting() -> None:
    """Import the tensor panel (and pyqtgraph) in a pool thread, once, so that the first
    selection only builds the panel. The import holds the GIL in short slices only: the
    GUI thread keeps ticking (longest gap measured: ~25 ms)."""
    global _plotting_warm
    if _plotting_warm:
        return
    _plotting_warm = True
    run_in_pool(_import_tensor_panel)


_plotting_warm = False


def _import_tensor_panel() -> None:
    import inspector.ui.tensor  # noqa: F401
