"""Statistics of every tensor of a checkpoint, one item at a time, with progress."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from inspector.core.checkpoint import Checkpoint, CheckpointError, TensorInfo
from inspector.core.stats.batch import Batcher
from inspector.core.stats.passes import (
    DEFAULT_BINS,
    DEFAULT_CHUNK_BYTES,
    Cancel,
    cancel_fn,
    compute_stats,
)
from inspector.core.stats.plan import progress_bytes
from inspector.core.stats.results import StatsCancelled, StatsItem, StatsProgress, TensorStats
from inspector.core.view_size import view_key


def iter_stats(ckpt: Checkpoint, paths: Iterable[tuple] | None = None, bins: int = DEFAULT_BINS,
               cancel: Cancel = None, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> Iterator[StatsItem]:
    """Yield a :class:`StatsItem` ``(path, stats, error)`` per tensor, one at a time.

    Tensors come in file order (``paths`` only selects which; paths that name no tensor
    come last, with an error). Views that are identical (same storage, dtype, shape,
    stride and offset) are computed once. Cancel by setting ``cancel`` or by no longer
    pulling; each item carries ``progress`` for an "i of n, bytes done" display.
    """
    stop = cancel_fn(cancel)
    all_tensors = ckpt.tensors()
    if paths is None:
        todo: list[tuple[tuple, TensorInfo | None]] = list(all_tensors)
    else:
        wanted = {tuple(p) for p in paths}
        todo = [(p, t) for p, t in all_tensors if p in wanted]
        found = {p for p, _ in todo}
        todo += [(p, None) for p in wanted - found]
    total = len(todo)
    bytes_total = sum(progress_bytes(t) for _, t in todo)
    done_bytes = 0
    cache: dict[tuple, TensorStats | str] = {}
    batcher = Batcher(ckpt, todo, bins, chunk_bytes, cache)
    for i, (path, info) in enumerate(todo, 1):
        if stop():
            return
        stats: TensorStats | None = None
        error: str | None = None
        if info is None:
            error = "no tensor at this path"
        else:
            key = view_key(info)
            result = cache.get(key) if key is not None else None
            if result is None and key is not None:
                # many small tensors: computed together, ahead, into the cache
                batcher.run(i - 1)
                result = cache.get(key)
            if result is None:
                try:
                    result = compute_stats(ckpt, info, bins=bins, chunk_bytes=chunk_bytes,
                                           cancel=stop)
                except StatsCancelled:
                    return
                except CheckpointError as e:
                    result = e.problem
                if key is not None:
                    cache[key] = result
            if isinstance(result, str):
                error = result
            else:
                stats = result
            done_bytes += progress_bytes(info)
        yield StatsItem(path, stats, error, StatsProgress(i, total, done_bytes, bytes_total))
