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


SUMMARY_LATER_TENSORS = 5_000  # summaries of files with more tensors come after the tree


@dataclass(frozen=True)
class PreparedCheckpoint:
    """An opened checkpoint with its summary (None when it could not be computed: the file
    gets a warning instead) and the optimizer's labels for parameter paths. With
    ``summary_later`` the summary was not computed yet: :func:`summarize_checkpoint` makes
    it (a viewer shows the tree first)."""

    ckpt: Checkpoint
    labels: dict
    summary: CheckpointSummary | None
    summary_later: bool = False


def prepare_checkpoint(ckpt: Checkpoint, summary_later: bool | None = False) -> PreparedCheckpoint:
    """Summary, optimizer labels and totals of an opened ``ckpt``. ``summary_later``: leave
    the summary to :func:`summarize_checkpoint`; None: when the file has more than
    ``SUMMARY_LATER_TENSORS`` tensors (100,000 tensors take ~0.7 s to summarize) and names
    no unsafe global."""
    from inspector.core import summary as summary_module

    labels: dict = {}
    summary = None
    try:
        labels = summary_module.optimizer_param_labels(ckpt)
    except Exception as e:  # noqa: BLE001 - the tree is still worth showing
        ckpt.warnings.append(f"the summary could not be computed ({type(e).__name__}: {e})")
        summary_later = False
    else:
        if summary_later is None:  # a file naming unsafe globals gets its warnings at once
            summary_later = (len(ckpt.tensor_nodes()) > SUMMARY_LATER_TENSORS
                             and not ckpt.unsafe_globals)
        if not summary_later:
            summary = summarize_checkpoint(ckpt)
    ckpt.totals()  # cached in the checkpoint: a viewer reads it on its own thread later
    return PreparedCheckpoint(ckpt, labels, summary, summary_later)


def summarize_checkpoint(ckpt: Checkpoint) -> CheckpointSummary | None:
    """The summary of ``ckpt``, or None when it cannot be computed (the file gets a warning
    instead). Safe in any thread."""
    from inspector.core import summary as summary_module

    try:
        return summary_module.summarize(ckpt)
    except Exception as e:  # noqa: BLE001 - the tree is still worth showing
        ckpt.warnings.append(f"the summary could not be computed ({type(e).__name__}: {e})")
        return None


def read_checkpoint(path: str, summary_later: bool | None = False) -> PreparedCheckpoint:
    """Open ``path`` and prepare it (see :func:`prepare_checkpoint`); the file is closed
    again if preparing fails."""
    from inspector.core.formats import open_checkpoint

    ckpt = open_checkpoint(path)
    try:
        return prepare_checkpoint(ckpt, summary_later)
    except BaseException:
        ckpt.close()
        raise
