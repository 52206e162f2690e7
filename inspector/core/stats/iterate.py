"""Statistics of every tensor of a checkpoint, one item at a time, with progress."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from inspector.core.checkpoint import Checkpoint, TensorInfo
from inspector.core.stats.batch import Batcher
from inspector.core.stats.parallel import Engine, Job
from inspector.core.stats.passes import DEFAULT_BINS, DEFAULT_CHUNK_BYTES, Cancel, cancel_fn
from inspector.core.stats.plan import progress_bytes
from inspector.core.stats.results import StatsCancelled, StatsItem, StatsProgress, TensorStats
from inspector.core.view_size import view_key

_Job = Job  # the type (tests may wrap the constructor)

# tensors admitted ahead of the one being yielded, at most
MAX_AHEAD = 64


def iter_stats(ckpt: Checkpoint, paths: Iterable[tuple] | None = None, bins: int = DEFAULT_BINS,
               cancel: Cancel = None, chunk_bytes: int = DEFAULT_CHUNK_BYTES,
               workers: int | None = None, device: str = "cpu") -> Iterator[StatsItem]:
    """Yield a :class:`StatsItem` ``(path, stats, error)`` per tensor, one at a time.

    Tensors come in file order (``paths`` only selects which; paths that name no tensor
    come last, with an error). Views that are identical (same storage, dtype, shape,
    stride and offset) are computed once. Cancel by setting ``cancel`` or by no longer
    pulling; each item carries ``progress`` for an "i of n, bytes done" display.

    The work runs on ``workers`` threads (None: every core this process may use; 1: this
    thread only), each tensor cut into pieces with exact merges (module ``pieces``), so
    the results are bit for bit the same whatever the count. ``device="cuda"`` runs the
    pieces of big tensors on the GPU (module ``device``; torch with CUDA needed).
    """
    if bins < 0:
        raise ValueError("bins must be >= 0")
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
    # results by view identity; a Job while it is being computed (the batcher sees it as
    # taken, exactly as the serial loop would have computed it by then)
    cache: dict[tuple, TensorStats | str | Job] = {}
    batcher = Batcher(ckpt, todo, bins, chunk_bytes, cache)
    engine = make_engine(ckpt, bins, chunk_bytes, workers, stop, device)
    slots: list[TensorStats | str | Job | None] = []

    def admit(j: int) -> None:
        info = todo[j][1]
        if info is None:
            slots.append(None)
            return
        key = view_key(info)
        result = cache.get(key) if key is not None else None
        if result is None and key is not None:
            batcher.run(j)  # many small tensors: computed together, ahead, into the cache
            result = cache.get(key)
        if result is None:
            result = Job(engine, info)
            if result.done:
                result = result.result
            if key is not None:
                cache[key] = result
        slots.append(result)

    try:
        for i, (path, info) in enumerate(todo, 1):
            if stop():
                return
            while len(slots) < total and (len(slots) < i or (
                    engine.hungry and len(slots) - i < MAX_AHEAD)):
                admit(len(slots))
            result = slots[i - 1]
            while isinstance(result, _Job) and not result.done:
                engine.step([s for s in slots[i - 1:] if isinstance(s, _Job) and not s.done])
            if isinstance(result, _Job):
                result = result.result
            slots[i - 1] = None  # the item owns it now
            stats: TensorStats | None = None
            error: str | None = None
            if info is None:
                error = "no tensor at this path"
            elif isinstance(result, str):
                error = result
            else:
                stats = result
            if info is not None:
                done_bytes += progress_bytes(info)
            yield StatsItem(path, stats, error, StatsProgress(i, total, done_bytes, bytes_total))
    except StatsCancelled:
        return
    finally:
        engine.close()


def make_engine(ckpt: Checkpoint, bins: int, chunk_bytes: int, workers: int | None,
                stop, device: str) -> Engine:
    if device == "cpu":
        return Engine(ckpt, bins, chunk_bytes, workers, stop)
    from inspector.core.stats.device import DeviceEngine

    return DeviceEngine(ckpt, bins, chunk_bytes, workers, stop, device)
