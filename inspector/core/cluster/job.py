"""Statistics on a Dask cluster as a job for the app's statistics worker (same messages as
:mod:`inspector.core.stats_job`): the worker process is the Dask client; results arrive
piece by piece as the cluster finishes them, and a cancel drops the rest."""

from __future__ import annotations

from collections.abc import Iterator

from inspector.core.jobs import JobProgress, cancel_requested
from inspector.core.stats_job import TensorStatsResult

TARGET = "inspector.core.cluster.job:cluster_tensor_stats"


def cluster_tensor_stats(path: str, scheduler: str, paths: list[tuple] | None = None,
                         bins: int = 64) -> Iterator[JobProgress | TensorStatsResult]:
    """Open ``path``, yield a :class:`JobProgress` with the number of tensors, then a
    result per tensor as the cluster at ``scheduler`` computes them (any order)."""
    from inspector.core.cluster.split import iter_cluster_items
    from inspector.core.cluster.work import fingerprint, stats_tasks
    from inspector.core.formats import open_checkpoint
    from inspector.core.stats import iter_stats

    with open_checkpoint(path) as ckpt:
        todo, missing, tasks, big = stats_tasks(ckpt, paths, bins)
        yield JobProgress(0, len(todo) + len(missing))
        for item in iter_cluster_items(scheduler, ckpt, tasks, big, bins,
                                       fingerprint(ckpt.path), cancel=cancel_requested):
            yield TensorStatsResult(tuple(item.path), item.stats, item.error)
        for item in iter_stats(ckpt, paths=missing, bins=bins, workers=1) if missing else ():
            yield TensorStatsResult(tuple(item.path), item.stats, item.error)
