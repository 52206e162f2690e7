"""Running tensors' statistics pieces on every core: a thread pool and an in-order pipeline.

numpy releases the GIL inside its large reductions, conversions and ``bincount``, so
threads over the mapped file scale without copying any bytes between processes. Each
tensor is cut into pieces (:mod:`~inspector.core.stats.pieces`); phase 1 pieces run, their
merge decides phase 2, phase 2 pieces run, and the finish (histogram edges) runs as one more
task. Several tensors are in flight at once (admitted in file order while the pool's queue
is short), so the cores stay busy across each tensor's phase boundary; results still come
out in file order and are bit for bit those of the serial path.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass

import inspector.core.stats.pieces as P
from inspector.core.checkpoint import Checkpoint, CheckpointError, TensorInfo
from inspector.core.stats import fused
from inspector.core.stats.passes import DEFAULT_BINS, DEFAULT_CHUNK_BYTES, Cancel, cancel_fn
from inspector.core.stats.passes import compute_stats as compute_serial
from inspector.core.stats.results import StatsCancelled, TensorStats
from inspector.core.view_size import view_key

# worker processes: None = when this process has no other thread and can fork (see Engine)
PROCESSES: bool | None = None
INLINE_BYTES = 1 << 20  # one-piece tensors below this size never leave the calling thread
# With worker processes, a tensor of at most this many pieces is one task (both passes and
# the edges in the worker): each task and phase costs the calling process a round trip,
# which it pays on the same cores as the workers.
WHOLE_PIECES = 4


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def resolve_workers(workers: int | None) -> int:
    return usable_cores() if workers is None else max(1, int(workers))


class _Inline:
    """An executor that runs each task when it is submitted (one worker: no threads)."""

    def submit(self, fn: Callable, *args, **kwargs) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001 - handed to the waiter, as a pool does
            fut.set_exception(e)
        return fut

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


class Job:
    """One tensor's statistics moving through its phases; ``result`` is set when done
    (a TensorStats, or a problem string for a CheckpointError)."""

    def __init__(self, engine: Engine, info: TensorInfo):
        self.engine = engine
        self.info = info
        self.result: TensorStats | str | None = None
        self.error: CheckpointError | None = None
        self.futures: list[Future] = []
        self.phase = "scan"
        self.scan: P.Scan | None = None
        self.binner = None
        self.shift: float | None = None
        try:
            self.lay = P.layout(engine.ckpt, info, engine.chunk_bytes)
            self.pieces = P.tensor_pieces(engine.ckpt, info, lay=self.lay)
        except CheckpointError as e:
            self.error, self.result = e, e.problem
            return
        if self.lay.grid is None:
            self.result = P.finish_stats(engine.ckpt, info, P.Scan(0), None, bins=engine.bins,
                                         lay=self.lay)
            return
        if engine.forking and engine.bins > 0 and len(self.pieces) <= WHOLE_PIECES:
            self.phase = "whole"
            self._submit(P.whole_stats, [()], bins=engine.bins, chunk_bytes=engine.chunk_bytes)
        elif P.fusable(self.lay, engine.bins):  # no histogram: one read does both phases
            self.phase = "shift"
            self._submit(P.first_shift, [()])
        else:
            self._submit(P.scan_piece, [(p,) for p in self.pieces])

    def _submit(self, fn: Callable, arg_list: list[tuple], **kw) -> None:
        e = self.engine
        # a one-piece tensor is computed right here when handing it over costs more than it
        # saves: always for threads (the GIL passes back and forth), below 1 MiB for processes
        small = len(self.pieces) == 1 and (not e.forking or self.lay.plan.numel *
                                           self.lay.plan.np_dtype.itemsize < INLINE_BYTES)
        submit = e.run_here if small else e.submit
        self.futures = [submit(fn, e.ckpt, self.info, *args, lay=self.lay, **kw)
                        for args in arg_list]

    @property
    def done(self) -> bool:
        return self.result is not None

    def advance(self) -> bool:
        """Move on when the current phase's tasks are done; True when something changed."""
        if self.result is not None or not all(f.done() for f in self.futures):
            return False
        e = self.engine
        try:
            outs = unwrap([f.result() for f in self.futures])  # re-raises StatsCancelled, bugs
        except CheckpointError as err:
            self.error, self.result, self.futures = err, err.problem, []
            return True
        self.futures = []
        if self.phase == "shift":
            self.phase, self.shift = "fused", outs[0]
            self._submit(P.fused_piece, [(p, self.shift) for p in self.pieces])
        elif self.phase == "fused":
            self.scan = P.merge_scans([scan for scan, _ in outs])
            part = None
            if P.needs_binning(self.scan):
                if P._shift(P._p1_of(self.scan)) != self.shift:
                    # a range so wide that the shift falls back to the minimum: the sums
                    # were taken around the wrong point; phase 2 again, now it is known
                    self.phase = "bin"
                    self._submit(P.bin_piece, [(p, self.scan) for p in self.pieces],
                                 bins=e.bins)
                    return True
                part = P.merge_bins([b for _, b in outs])
            self.phase = "finish"
            self._submit(P.finish_stats, [(self.scan, part)], bins=e.bins)
        elif self.phase == "scan":
            self.scan = P.merge_scans(outs)
            if P.needs_binning(self.scan, e.bins):
                self.phase = "bin"
                self.binner = P.make_binner(self.scan, e.bins, self.lay)
                self._submit(P.bin_piece, [(p, self.scan) for p in self.pieces], bins=e.bins,
                             binner=self.binner)
            else:
                self.phase = "finish"
                self._submit(P.finish_stats, [(self.scan, None)], bins=e.bins)
        elif self.phase == "bin":
            self.phase = "finish"
            self._submit(P.finish_stats, [(self.scan, P.merge_bins(outs))], bins=e.bins,
                         binner=self.binner)
        else:
            self.result = outs[0]
        return True


# ---- Worker processes (forked: they inherit the open checkpoints and their maps)
_CHILD: dict = {}


def _child_init(state: dict) -> None:
    from inspector.core.jobs import watch_parent

    _CHILD.clear()
    _CHILD.update(state)
    _CHILD["lays"] = {}
    # a worker whose parent was killed (SIGKILL) would wait for work forever: it exits instead
    watch_parent(state["parent"])


@dataclass(frozen=True)
class ChildFailure:
    """A CheckpointError in a worker process, sent back as data (its pickle is lossy)."""

    path: str
    problem: str


def unwrap(outs: list) -> list:
    """The results of pieces; a worker's CheckpointError raised here."""
    for out in outs:
        if isinstance(out, ChildFailure):
            raise CheckpointError(out.path, out.problem)
    return outs


def _in_child(module: str, name: str, args: tuple, kw: dict):
    """Run ``module.name`` in a forked worker, with the checkpoints it inherited."""
    import importlib

    fn = getattr(importlib.import_module(module), name)
    try:
        if module.endswith("diff.pieces"):
            return fn(_CHILD["ck_a"], _CHILD["ck_b"], *args, **kw)
        info, *rest = args
        lays = _CHILD["lays"]
        key = view_key(info)
        lay = lays.get(key)
        if lay is None:
            if len(lays) > 256:
                lays.clear()
            lay = lays[key] = P.layout(_CHILD["ckpt"], info, _CHILD["chunk_bytes"])
        return fn(_CHILD["ckpt"], info, *rest, lay=lay, **kw)
    except CheckpointError as e:
        return ChildFailure(e.path, e.problem)


def fork_is_safe() -> bool:
    """Worker processes are forked only from the main thread of a process whose other
    threads are all daemon helpers (the app's job worker has a parent watcher and queue
    feeders): a fork copies one thread, and a lock held by another thread would stay locked
    in the child - the workers use none of those helpers' locks. A process running other
    work in non-daemon threads (a GUI, a caller's own pool) gets threads instead."""
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    if threading.current_thread() is not threading.main_thread():
        return False
    return all(t.daemon for t in threading.enumerate() if t is not threading.main_thread())


@contextmanager
def children_allowed():
    """Let this process start worker processes even when it is a daemon process.

    multiprocessing refuses children to a daemonic process, because such a process is
    terminated at its parent's exit without a chance to end its own children. The app's job
    worker is daemonic (it must never outlive the window), and without this its statistics,
    comparisons and timelines failed on any file big enough to be split ("daemonic processes
    are not allowed to have children"). Our workers need no such help: each one watches its
    parent (:func:`inspector.core.jobs.watch_parent`) and exits when it is gone. Wrap the
    calls that start processes (a fork-context ProcessPoolExecutor starts all its workers on
    its first ``submit``)."""
    import multiprocessing

    config = multiprocessing.current_process()._config
    daemon = config.get("daemon")
    config["daemon"] = False
    try:
        yield
    finally:
        if daemon is None:
            config.pop("daemon", None)
        else:
            config["daemon"] = daemon


class Engine:
    """``workers`` forked processes (or threads, or inline for 1) computing pieces.

    numpy's operations on 128 Ki-element blocks are short (tens of microseconds), and a
    thread gives the GIL back and takes it again around each: measured here, two threads ran
    no faster than one while two processes ran 1.3-2.3x faster. So when this process has no
    other thread and can fork, pieces run in forked worker processes, which inherit the open
    checkpoint and its memory map (nothing is copied; results are small); everything else -
    merges, histogram edges, one-piece tensors - runs in the calling thread. Otherwise a
    thread pool runs them.
    """

    CHILD_FUNCTIONS = ("scan_piece", "bin_piece", "fused_piece", "whole_stats")
    CHILD_MODULE = "inspector.core.stats.pieces"
    CHECKPOINT_ARGS = 1  # leading arguments the child replaces by the checkpoints it has

    def __init__(self, ckpt: Checkpoint, bins: int, chunk_bytes: int, workers: int | None,
                 stop: Callable[[], bool], processes: bool | None = None):
        self.ckpt, self.bins, self.chunk_bytes = ckpt, bins, chunk_bytes
        self.workers = resolve_workers(workers)
        self._abort = threading.Event()
        self._stop = stop
        self._lock = threading.Lock()
        self.queued = 0  # submitted pieces not started yet
        if processes is None:
            processes = PROCESSES
        self.forking = self.workers > 1 and self.local() and (
            fork_is_safe() if processes is None else processes and fork_is_safe())
        self.procs = None
        self.pool = (ThreadPoolExecutor(self.workers, thread_name_prefix="stats")
                     if self.workers > 1 and not self.forking else _Inline())

    def child_state(self) -> dict:
        return {"ckpt": self.ckpt, "chunk_bytes": self.chunk_bytes}

    def checkpoints(self) -> list:
        return [self.ckpt]

    def local(self) -> bool:
        """Only local files go to forked workers: a remote file's bytes are fetched through
        threads (fsspec's event loop) that a forked child does not have."""
        for ck in self.checkpoints():
            if ck is None or "://" in str(getattr(ck, "path", "")):
                return False
            for _path, info in ck.tensors()[:16]:
                if info.storage is not None and "://" in info.storage.file:
                    return False
        return True

    def _submit_child(self, fn: Callable, args: tuple, kw: dict) -> Future:
        if self.procs is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self.preload()

            self.procs = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("fork"),
                initializer=_child_init, initargs=({**self.child_state(),
                                                    "parent": os.getpid()},))
        with self._lock:
            self.queued += 1
        with children_allowed():
            fut = self.procs.submit(_in_child, self.CHILD_MODULE, fn.__name__, args, kw)
        fut.add_done_callback(self._unqueue)
        return fut

    def preload(self) -> None:
        """Load the compiled pass-2 loop here, before forking, when a tensor will use it:
        every worker would otherwise import numba and load the loop itself (~0.4 s each)."""
        for ck in self.checkpoints():
            if ck is not None and any(info.numel >= fused.FUSED_MIN_ELEMS
                                      for _, info in ck.tensors()):
                fused.kernel()
                return

    def _unqueue(self, _fut: Future) -> None:
        with self._lock:
            self.queued -= 1

    def halted(self) -> bool:
        return self._abort.is_set() or self._stop()

    def submit(self, fn: Callable, *args, **kw) -> Future:
        lay = kw.get("lay")
        if (self.forking and fn.__name__ in self.CHILD_FUNCTIONS
                and getattr(fn, "__module__", "") == self.CHILD_MODULE
                and (lay is None or lay.plan.buffer is None)):
            kw = {k: v for k, v in kw.items() if k != "lay"}
            return self._submit_child(fn, args[self.CHECKPOINT_ARGS:], kw)
        if self.forking:
            return self.run_here(fn, *args, **kw)
        with self._lock:
            self.queued += 1
        if fn is not P.finish_stats:
            kw["cancel"] = self.halted
        return self.pool.submit(self._run, fn, args, kw)

    def run_here(self, fn: Callable, *args, **kw) -> Future:
        """Run a task in the calling thread; its (completed) future."""
        if fn is not P.finish_stats:
            kw["cancel"] = self.halted
        return _Inline().submit(fn, *args, **kw)

    def _run(self, fn: Callable, args: tuple, kw: dict):
        with self._lock:
            self.queued -= 1
        if self._abort.is_set():
            raise StatsCancelled()
        return fn(*args, **kw)

    @property
    def hungry(self) -> bool:
        """Whether another tensor should be admitted (the queue keeps every worker fed)."""
        return self.queued < 2 * self.workers

    def step(self, jobs: list[Job]) -> None:
        """Advance jobs until one changed, waiting for a task to finish if none can."""
        while True:
            if self._stop():
                raise StatsCancelled()
            if any([j.advance() for j in jobs]):
                return
            # only the futures still running: FIRST_COMPLETED returns at once while any
            # future in the list is done, and a job waits for all of its pieces
            pending = [f for j in jobs for f in j.futures if not f.done()]
            if not pending:
                return
            wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)

    def close(self) -> None:
        self._abort.set()
        self.pool.shutdown(wait=True, cancel_futures=True)
        if self.procs is not None:
            self.procs.shutdown(wait=True, cancel_futures=True)


def compute_stats(ckpt: Checkpoint, info: TensorInfo, bins: int = DEFAULT_BINS,
                  chunk_bytes: int = DEFAULT_CHUNK_BYTES, cancel: Cancel = None,
                  workers: int | None = 1) -> TensorStats:
    """Statistics and an exact ``bins``-bin histogram of one tensor, streaming its bytes.

    Memory stays bounded by ``chunk_bytes`` (times a small factor for float64
    temporaries) whatever the tensor's size. ``bins=0`` skips the histogram.
    ``workers=1`` (the default) computes it in this thread, block after block (the
    reference path); other counts spread its pieces over that many threads (None: every
    usable core) with exact merges: the identical result.
    Raises CheckpointError for tensors without readable data and StatsCancelled when
    ``cancel`` becomes true.
    """
    if workers == 1:
        return compute_serial(ckpt, info, bins=bins, chunk_bytes=chunk_bytes, cancel=cancel)
    if bins < 0:
        raise ValueError("bins must be >= 0")
    engine = Engine(ckpt, bins, chunk_bytes, workers, cancel_fn(cancel))
    try:
        job = Job(engine, info)
        while not job.done:
            engine.step([job])
    finally:
        engine.close()
    if job.error is not None:
        raise job.error
    return job.result
