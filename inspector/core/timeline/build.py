"""Build a run's timeline: read each checkpoint once (or take it from the cache), then put
the per-file numbers side by side as series over steps.

:func:`iter_timeline` is a generator for the GUI's worker process and the CLI: it yields
:class:`TimelineProgress` items and ends with one :class:`TimelineResult` (or a
:class:`RunProblem` when the paths do not make a run). :func:`build_timeline` is its
blocking form.
"""

from __future__ import annotations

import itertools
import math
import os
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from inspector.core.checkpoint import CheckpointError
from inspector.core.health.findings import file_findings
from inspector.core.health.run import EXPLODING_FACTOR, run_findings
from inspector.core.timeline.cache import RunCache, default_cache_dir, file_key
from inspector.core.timeline.discover import RunEntry, RunError, discover_run
from inspector.core.timeline.model import Checkpoint, Series, Timeline
from inspector.core.timeline.scan import Delta, FileSummary, ScanCancelled, scan_checkpoint

_USE_DEFAULT = object()


@dataclass(frozen=True)
class TimelineProgress:
    """``index`` of ``count`` checkpoints done; ``bytes_done`` of ``bytes_total`` read."""

    index: int
    count: int
    bytes_done: int
    bytes_total: int
    text: str = ""


@dataclass(frozen=True)
class TimelineResult:
    timeline: Timeline


@dataclass(frozen=True)
class RunProblem:
    """The paths do not make a run, or a checkpoint cannot be read: one message."""

    message: str


# ---- Public API
def iter_timeline(paths, cache_dir=_USE_DEFAULT, cancel: Callable[[], bool] | None = None,
                  exploding_factor: float = EXPLODING_FACTOR, scheduler: str | None = None
                  ) -> Iterator[TimelineProgress | TimelineResult | RunProblem]:
    """Discover the run in ``paths``, read every checkpoint (cached per file under
    ``cache_dir``; None: no cache) and yield progress, then the result. With ``scheduler``
    (a Dask address) the checkpoints not in the cache are read on that cluster, one piece
    per checkpoint (the paths must be readable there)."""
    if cancel is None:
        from inspector.core.jobs import cancel_requested as cancel
    try:
        entries = discover_run(paths)
    except RunError as e:
        yield RunProblem(str(e))
        return
    cache = RunCache(default_cache_dir() if cache_dir is _USE_DEFAULT else cache_dir)
    try:
        keys = [file_key(e.path) for e in entries]
    except OSError as e:
        yield RunProblem(f"{e.filename}: {e.strerror or e}")
        return
    total = sum(k[1] for k in keys)
    summaries: list[FileSummary] = []
    deltas: list[Delta | None] = [None]
    errors: list[str] = []
    yield TimelineProgress(0, len(entries), 0, total, "")
    if scheduler:
        try:
            _scan_on_cluster(scheduler, entries, keys, cache, cancel)
        except CheckpointError as e:
            yield RunProblem(f"{e.path}: {e.problem}")
            return
    tasks = {}
    for i, entry in enumerate(entries):
        need_summary = cache.summary(keys[i]) is None
        need_delta = i > 0 and cache.delta(keys[i], keys[i - 1]) is None
        if need_summary or need_delta:
            tasks[i] = (entry, entries[i - 1] if need_delta else None, need_summary)
    scans = _scans(list(tasks.values()), cancel)
    try:
        yield from _collect(entries, keys, tasks, scans, cache, summaries, deltas, total)
    finally:
        scans.close()
    if len(summaries) < len(entries) or cancel():
        return
    yield TimelineResult(assemble(entries, summaries, deltas, errors, exploding_factor))


def _collect(entries, keys, tasks, scans, cache, summaries, deltas, total):
    """Take each checkpoint's numbers from the cache or from ``scans`` (in order), yielding
    progress; stops early (leaving ``summaries`` short) on a problem or a cancel."""
    done = 0
    for i, entry in enumerate(entries):
        summary = cache.summary(keys[i])
        delta = cache.delta(keys[i], keys[i - 1]) if i else None
        need_delta = i > 0 and delta is None
        if i in tasks:
            try:
                summary_new, delta_new = next(scans)
            except (ScanCancelled, StopIteration):
                return
            except CheckpointError as e:
                yield RunProblem(f"{e.path}: {e.problem}")
                return
            if summary is None:
                summary = summary_new
            if need_delta:
                delta = delta_new
            cache.store(keys[i], summary_new, keys[i - 1] if need_delta else None,
                        delta_new if need_delta else None)
        summaries.append(summary)
        if i:
            deltas.append(delta)
        done += keys[i][1]
        yield TimelineProgress(i + 1, len(entries), done, total, entry.path)


def build_timeline(paths, cache_dir=_USE_DEFAULT, exploding_factor: float = EXPLODING_FACTOR,
                   scheduler: str | None = None) -> Timeline:
    """Blocking form of :func:`iter_timeline`; raises :class:`RunError` for a bad run."""
    for item in iter_timeline(paths, cache_dir, cancel=lambda: False,
                              exploding_factor=exploding_factor, scheduler=scheduler):
        if isinstance(item, RunProblem):
            raise RunError(item.message)
        if isinstance(item, TimelineResult):
            return item.timeline
    raise RunError("the timeline was cancelled")


def assemble(entries: list[RunEntry], summaries: list[FileSummary], deltas: list[Delta | None],
             errors: list[str] | None = None, exploding_factor: float = EXPLODING_FACTOR
             ) -> Timeline:
    """Series over the run from each checkpoint's summary and its change from the previous."""
    n = len(entries)
    checkpoints = [Checkpoint(e.path, e.kind, e.step, e.step_source) for e in entries]
    tensors: dict[str, Series] = {}
    for i, s in enumerate(summaries):
        for t in s.tensors:
            if t.role not in ("param", "buffer"):
                continue
            series = tensors.get(t.name)
            if series is None:
                series = tensors[t.name] = Series(
                    t.name, t.path, module_of(t.name), t.role, t.shape, t.dtype,
                    {m: [None] * n for m in ("l2", "mean", "std", "max_abs", "rel_change",
                                             "update_ratio", "exp_avg", "exp_avg_sq", "finite",
                                             "delta")},
                    [None] * n)
            v = series.values
            v["l2"][i], v["mean"][i], v["std"][i], v["max_abs"][i] = t.l2, t.mean, t.std, t.max_abs
            v["finite"][i] = float(t.finite)
            opt = s.optimizer.get(t.name, {})
            v["exp_avg"][i] = opt.get("exp_avg")
            v["exp_avg_sq"][i] = opt.get("exp_avg_sq")
            d = deltas[i] if i < len(deltas) else None
            if d is not None and t.name in d.changes:
                dl2, changed = d.changes[t.name]
                v["delta"][i] = dl2
                series.changed[i] = changed
                prev = v["l2"][i - 1]
                v["rel_change"][i] = _ratio(dl2, prev)
                v["update_ratio"][i] = _ratio(dl2, t.l2)
    tensor_list = list(tensors.values())
    modules = _modules(tensor_list, n)
    for s in tensor_list:
        s.values.pop("finite", None)
        s.values.pop("delta", None)
    scalars: dict[str, list[float | None]] = {}
    for i, s in enumerate(summaries):
        for k, val in s.scalars.items():
            scalars.setdefault(k, [None] * n)[i] = val
    per_checkpoint = [file_findings(s) for s in summaries]
    findings = run_findings(checkpoints, tensor_list, per_checkpoint, exploding_factor)
    return Timeline(checkpoints, scalars, tensor_list, modules, findings, per_checkpoint,
                    list(errors or []))


def module_of(name: str) -> str:
    """``features.0.weight`` -> ``features.0``; a top-level tensor is its own module."""
    return name.rpartition(".")[0] or name


def scan_piece(task: tuple) -> tuple[FileSummary | None, Delta | None]:
    """One checkpoint's piece of work on a cluster worker: ``task`` is (entry, previous entry
    or None, whether its summary is needed)."""
    entry, prev_entry, want_summary = task
    return _scan(entry, prev_entry, want_summary, lambda: False, None)


# ---- Private API
def _scan_on_cluster(address: str, entries: list[RunEntry], keys: list, cache: RunCache,
                     cancel) -> None:
    """Read every checkpoint the cache lacks on the Dask cluster; results go to the cache
    (a run without a cache folder keeps them in memory: see :class:`RunCache`)."""
    from inspector.core.cluster import run_pieces

    tasks, where = [], []
    for i, entry in enumerate(entries):
        need_summary = cache.summary(keys[i]) is None
        need_delta = i > 0 and cache.delta(keys[i], keys[i - 1]) is None
        if need_summary or need_delta:
            tasks.append((entry, entries[i - 1] if need_delta else None, need_summary))
            where.append(i)
    results = run_pieces(address, scan_piece, tasks, cancel=cancel,
                         describe=lambda t: t[0].path)
    for i, (summary, delta) in zip(where, results):
        cache.store(keys[i], summary, keys[i - 1] if delta is not None else None, delta)


def _scans(tasks: list[tuple], cancel) -> Iterator[tuple[FileSummary | None, Delta | None]]:
    """The results of ``tasks`` (see :func:`scan_piece`), in order. With several usable
    cores, forked worker processes read several checkpoints at once (each pair of files is
    independent); otherwise, or where forking is not safe (see
    :func:`inspector.core.stats.parallel.fork_is_safe`), one after another here. Raises
    CheckpointError for an unreadable file and ScanCancelled when ``cancel()`` is true."""
    from inspector.core.stats.parallel import children_allowed, fork_is_safe, usable_cores

    workers = min(usable_cores(), len(tasks), MAX_WORKERS)
    if workers <= 1 or not fork_is_safe():
        for entry, prev_entry, want_summary in tasks:
            yield _scan(entry, prev_entry, want_summary, cancel, lambda n: None)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures import TimeoutError as FutureTimeout

    ctx = multiprocessing.get_context("fork")
    stop = ctx.Event()  # workers check it between chunks: a cancel ends them promptly
    pool = ProcessPoolExecutor(workers, mp_context=ctx, initializer=_child_init,
                               initargs=(os.getpid(), stop))
    todo = iter(tasks)
    with children_allowed():  # the app's job worker is a daemon process
        running = deque(pool.submit(_scan_in_child, t)
                        for t in itertools.islice(todo, 2 * workers))
    try:
        while running:
            fut = running.popleft()
            while True:
                if cancel():
                    raise ScanCancelled()
                try:
                    out = fut.result(timeout=0.05)
                    break
                except FutureTimeout:
                    continue
            for t in itertools.islice(todo, 1):
                running.append(pool.submit(_scan_in_child, t))
            if out[0] == "error":
                raise CheckpointError(out[1], out[2])
            if out[0] == "cancelled":
                raise ScanCancelled()
            yield out
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)


MAX_WORKERS = 8  # each worker holds one pair of files' blocks (a few MB)
_STOP: list = []


def _child_init(parent: int, stop) -> None:
    from inspector.core.jobs import watch_parent

    _STOP[:] = [stop]
    watch_parent(parent)


def _scan_in_child(task: tuple):
    """:func:`scan_piece` in a worker process; a CheckpointError comes back as data."""
    entry, prev_entry, want_summary = task
    try:
        return _scan(entry, prev_entry, want_summary, _STOP[0].is_set, None)
    except CheckpointError as e:
        return ("error", e.path, e.problem)
    except ScanCancelled:
        return ("cancelled",)


def _scan(entry: RunEntry, prev_entry: RunEntry | None, want_summary: bool, cancel, progress
          ) -> tuple[FileSummary | None, Delta | None]:
    from inspector.core.formats import open_checkpoint

    ck = open_checkpoint(entry.path)
    prev = None
    try:
        if prev_entry is not None:
            prev = open_checkpoint(prev_entry.path)
        summary, delta = scan_checkpoint(ck, prev, summary=want_summary, cancel=cancel,
                                         progress=progress)
        if summary is not None and entry.kind == "hf" and not summary.optimizer:
            from inspector.core.timeline.hf_optimizer import folder_moment_norms

            summary.optimizer = folder_moment_norms(entry.path, ck, cancel, progress)
        return summary, delta
    finally:
        ck.close()
        if prev is not None:
            prev.close()


def _ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or not math.isfinite(a) or not math.isfinite(b) or b == 0:
        return None
    return a / b


def _modules(tensors: list[Series], n: int) -> list[Series]:
    """Per-module series over the parameters: norms combined as √Σ‖·‖², moments weighted by
    the number of finite values, max |w| the largest."""
    groups: dict[str, list[Series]] = {}
    for s in tensors:
        if s.role == "param":
            groups.setdefault(s.module, []).append(s)
    out = []
    for module, members in groups.items():
        vals: dict[str, list[float | None]] = {m: [None] * n for m in (
            "l2", "mean", "std", "max_abs", "rel_change", "update_ratio", "exp_avg",
            "exp_avg_sq")}
        changed: list[bool | None] = [None] * n
        for i in range(n):
            present = [s for s in members if s.values["l2"][i] is not None]
            if not present:
                continue
            l2sq = sum(s.values["l2"][i] ** 2 for s in present)
            vals["l2"][i] = math.sqrt(l2sq)
            counts = [s.values["finite"][i] or 0.0 for s in present]
            total = sum(counts)
            if total:
                mean = sum(c * s.values["mean"][i] for c, s in zip(counts, present)) / total
                ex2 = sum(c * (s.values["std"][i] ** 2 + s.values["mean"][i] ** 2)
                          for c, s in zip(counts, present)) / total
                vals["mean"][i] = mean
                vals["std"][i] = math.sqrt(max(ex2 - mean * mean, 0.0))
            vals["max_abs"][i] = max(s.values["max_abs"][i] for s in present)
            for m in ("exp_avg", "exp_avg_sq"):
                parts = [s.values[m][i] for s in present if s.values[m][i] is not None]
                if parts:
                    vals[m][i] = math.sqrt(sum(p * p for p in parts))
            deltas = [s.values["delta"][i] for s in present]
            if i and all(d is not None for d in deltas):
                dl2 = math.sqrt(sum(d * d for d in deltas))
                vals["rel_change"][i] = _ratio(dl2, vals["l2"][i - 1])
                vals["update_ratio"][i] = _ratio(dl2, vals["l2"][i])
                changed[i] = any(s.changed[i] for s in present)
        first = members[0]
        out.append(Series(module, first.path[:-1], module, "module", None, None, vals, changed,
                          [s.name for s in members]))
    return out
