"""Tensor statistics as a job for a worker process (see :mod:`inspector.core.jobs`).

The GUI submits ``"inspector.core.stats_job:tensor_stats"`` with a file path; the worker
opens the file itself (touching mapped tensor bytes can kill a process, so this never runs
in the GUI process) and streams one :class:`TensorStatsResult` per tensor.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from inspector.core.jobs import JobProgress, cancel_requested

if TYPE_CHECKING:  # the GUI imports this module; numpy and the engine load in the worker
    from inspector.core.stats import TensorStats

TARGET = "inspector.core.stats_job:tensor_stats"


@dataclass(frozen=True)
class TensorStatsResult:
    """Statistics of the tensor at ``path``, or the ``error`` that prevented them."""

    path: tuple
    stats: TensorStats | None
    error: str | None


@dataclass(frozen=True)
class DeviceNote:
    """The chosen device could not be used: ``message`` says why (the run goes on, on the
    CPU)."""

    message: str


def tensor_stats(path: str, paths: list[tuple] | None = None, bins: int = 64,
                 device: str = "cpu") -> Iterator[JobProgress | TensorStatsResult]:
    """Open ``path`` and yield a :class:`JobProgress` with the number of tensors, then a
    result per tensor (all of them, or those at ``paths``), in file order, computed on
    every core of the worker process (or on ``device``, e.g. "cuda"; when that device is
    unavailable, on the CPU with each result's error unchanged and a first
    :class:`DeviceNote` saying why)."""
    from inspector.core.formats import open_checkpoint
    from inspector.core.stats import iter_stats

    if device != "cpu":
        from inspector.core.stats.device import DeviceUnavailable, open_device

        try:
            open_device(device)
        except DeviceUnavailable as e:
            yield DeviceNote(f"Statistics computed on the CPU: device {device} cannot be used "
                             f"({e}).")
            device = "cpu"
    with open_checkpoint(path) as ckpt:
        total = len(paths) if paths is not None else len(ckpt.tensor_nodes())
        yield JobProgress(0, total)
        for item in iter_stats(ckpt, paths=paths, bins=bins, cancel=cancel_requested,
                               device=device):
            yield TensorStatsResult(tuple(item.path), item.stats, item.error)
