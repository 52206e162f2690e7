"""Opening a checkpoint for a viewer: read the file and compute what its first screen shows.

Qt-free and safe in any thread: the GUI runs :func:`read_checkpoint` in a pool thread, so its
own thread only builds widgets (for 20 000 tensors the summary and the optimizer labels take
~0.2 s). The readers, the summary and their imports load on first use, in that thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inspector.core.checkpoint import Checkpoint
    from inspector.core.summary import CheckpointSummary


@dataclass(frozen=True)
class PreparedCheckpoint:
    """An opened checkpoint with its summary (None when it could not be computed: the file
    gets a warning instead) and the optimizer's labels for parameter paths."""

    ckpt: Checkpoint
    labels: dict
    summary: CheckpointSummary | None


def prepare_checkpoint(ckpt: Checkpoint) -> PreparedCheckpoint:
    """Summary, optimizer labels and totals of an opened ``ckpt``."""
    from inspector.core import summary as summary_module

    labels: dict = {}
    summary = None
    try:
        labels = summary_module.optimizer_param_labels(ckpt)
        summary = summary_module.summarize(ckpt)
    except Exception as e:  # noqa: BLE001 - the tree is still worth showing
        ckpt.warnings.append(f"the summary could not be computed ({type(e).__name__}: {e})")
    ckpt.totals()  # cached in the checkpoint: a viewer reads it on its own thread later
    return PreparedCheckpoint(ckpt, labels, summary)


def read_checkpoint(path: str) -> PreparedCheckpoint:
    """Open ``path`` and prepare it; the file is closed again if preparing fails."""
    from inspector.core.formats import open_checkpoint

    ckpt = open_checkpoint(path)
    try:
        return prepare_checkpoint(ckpt)
    except BaseException:
        ckpt.close()
        raise
