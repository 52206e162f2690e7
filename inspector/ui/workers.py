"""Background work: the only module that starts threads or processes.

Three runners:

- :class:`StatsService` computes tensor statistics in a long-lived **worker process**
  (``multiprocessing`` spawn context). Touching mapped tensor bytes can kill a process
  (SIGBUS on a truncated file, a torch C++ abort); in a separate process that costs one job,
  not the window. Results stream back over a queue that a QTimer polls on the GUI thread.
- :class:`ProcessJobs` is the generic form: any ``"package.module:function"`` returning an
  iterator of picklable items runs in its own restartable worker process (the worker side is
  :mod:`inspector.core.jobs`); items stream back as ``sig_item`` signals.
- :func:`run_in_pool` runs cheap jobs (opening a file's metadata) on the global
  QThreadPool; its callbacks run on the GUI thread.

The worker process sides (:func:`_worker_main`, :mod:`inspector.core.jobs`) never touch Qt.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal, Slot

POLL_MS = 40
POLL_BUDGET_S = 0.025  # at most this long per poll handling results, so the GUI stays smooth
BATCH_ITEMS = 256  # results per queue message...
BATCH_SECONDS = 0.05  # ...or sooner when this much time has passed


class _WorkerProcessOwner:
    """The life of one spawn worker process with a job queue, a result queue and a cancel
    flag, shared by the services below. Attributes are set by the owner's ``__init__``:
    ``_ctx``, ``_proc``, ``_jobs_q``, ``_results_q``, ``_cancel``."""

    def _spawn(self, target: Callable, name: str) -> None:
        self._stop_process(1.0)
        # Fresh queues with each process: a process killed mid-write can leave a queue torn.
        self._jobs_q = self._ctx.Queue()
        self._results_q = self._ctx.Queue()
        self._cancel = self._ctx.Value("q", 0, lock=False)
        self._proc = self._ctx.Process(target=target, name=name,
                                       args=(self._jobs_q, self._results_q, self._cancel),
                                       daemon=True)
        self._proc.start()

    def _stop_process(self, timeout: float) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.is_alive():
                try:
                    self._jobs_q.put(None)
                except (OSError, ValueError):
                    pass
                proc.join(timeout)
            if proc.is_alive():
                proc.terminate()
                proc.join(1.0)
            if proc.is_alive():
                proc.kill()
                proc.join(1.0)
            proc.close()
        for q in (self._jobs_q, self._results_q):
            if q is not None:
                q.cancel_join_thread()
                q.close()
        self._jobs_q = self._results_q = None


@dataclass
class StatsJob:
    """One request: statistics for some (or all) tensors of one file."""

    job_id: int
    path: str
    paths: list[tuple] | None
    bins: int
    crash_after: int | None = None  # test hook: the worker kills itself after this many results


class StatsService(QObject, _WorkerProcessOwner):
    """Runs statistics jobs one at a time in a restartable worker process.

    Job ids increase monotonically and double as generation numbers: a caller keeps the id
    of its latest job and ignores results carrying an older one.

    Emits
    -----
    sig_started(int, int)
        job id, number of tensors the job will report.
    sig_results(int, list)
        job id, a batch of ``(path, TensorStats | None, error | None)``.
    sig_finished(int, bool, str)
        job id, whether it was cancelled, and an error message ("" when none).
    sig_crashed(int, str)
        job id, a message naming the file: the worker process died during the job.
    """

    sig_started = Signal(int, int)
    """A job began: job id, number of tensors it will report."""
    sig_results = Signal(int, list)
    """Results of a job: job id, list of (path, stats or None, error or None)."""
    sig_finished = Signal(int, bool, str)
    """A job ended: job id, cancelled, error message ("" when it completed)."""
    sig_crashed = Signal(int, str)
    """The worker process died during a job: job id, message naming the signal and file."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._ctx = multiprocessing.get_context("spawn")
        self._next_id = 0
        self._queue: deque[StatsJob] = deque()
        self._current: StatsJob | None = None
        self._proc = None
        self._jobs_q = None
        self._results_q = None
        self._cancel = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._closed = False

    # ---- Public API
    def submit(self, path: str, paths: list[tuple] | None = None, bins: int = 64,
               *, _crash_after: int | None = None) -> int:
        """Queue a job for ``path`` (all tensors when ``paths`` is None); returns its id."""
        if self._closed:
            raise RuntimeError("the statistics service has been shut down")
        self._next_id += 1
        self._queue.append(StatsJob(self._next_id, os.fspath(path), paths, bins, _crash_after))
        self._start_next()
        return self._next_id

    def cancel(self, job_id: int) -> None:
        """Stop a job: a queued one is dropped at once, a running one after its current tensor."""
        for job in list(self._queue):
            if job.job_id == job_id:
                self._queue.remove(job)
                self.sig_finished.emit(job_id, True, "")
                return
        if self._current is not None and self._current.job_id == job_id and self._cancel is not None:
            self._cancel.value = max(self._cancel.value, job_id)

    def is_busy(self) -> bool:
        return self._current is not None or bool(self._queue)

    def current_job(self) -> StatsJob | None:
        return self._current

    def worker_pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def shutdown(self, timeout: float = 3.0) -> None:
        """Stop the worker process and forget queued jobs. Safe to call twice."""
        self._closed = True
        self._timer.stop()
        self._queue.clear()
        if self._current is not None and self._cancel is not None:
            self._cancel.value = max(self._cancel.value, self._current.job_id)
        self._current = None
        self._stop_process(timeout)

    # ---- Private API
    def _start_next(self) -> None:
        if self._current is not None or not self._queue or self._closed:
            return
        job = self._queue.popleft()
        if self._proc is None or not self._proc.is_alive():
            self._start_process()
        self._current = job
        self._jobs_q.put((job.job_id, job.path, job.paths, job.bins, job.crash_after))
        self._timer.start()

    def _start_process(self) -> None:
        self._spawn(_worker_main, "inspector-stats")


    def _poll(self) -> None:
        job = self._current
        if job is None:
            self._timer.stop()
            return
        deadline = time.monotonic() + POLL_BUDGET_S
        while time.monotonic() < deadline:
            try:
                msg = self._results_q.get_nowait()
            except queue.Empty:
                break
            except (OSError, EOFError, ValueError):
                break
            except Exception as e:  # noqa: BLE001 - an unreadable message ends the job, not the app
                msg = ("done", job.job_id, False, f"bad message from the worker ({e})")
            if self._handle(msg):
                return  # the job ended; the next one (if any) has been started
        else:
            return  # budget spent, more waiting: come back on the next tick
        if self._proc is not None and not self._proc.is_alive() and self._current is job:
            self._on_process_died(job)

    def _handle(self, msg: tuple) -> bool:
        kind, job_id = msg[0], msg[1]
        job = self._current
        if job is None or job_id != job.job_id:
            return False  # a leftover from a job that has already been closed
        if kind == "start":
            self.sig_started.emit(job_id, int(msg[2]))
        elif kind == "items":
            self.sig_results.emit(job_id, list(msg[2]))
        elif kind == "done":
            self._current = None
            self.sig_finished.emit(job_id, bool(msg[2]), msg[3] or "")
            self._start_next()
            if self._current is None:
                self._timer.stop()
            return True
        return False

    def _on_process_died(self, job: StatsJob) -> None:
        code = self._proc.exitcode
        if code is not None and code < 0:
            try:
                name = signal.Signals(-code).name
                how = f"signal {-code}, {name}"
            except ValueError:
                how = f"signal {-code}"
        else:
            how = f"exit code {code}"
        message = f"the statistics worker stopped ({how}) while reading {job.path}"
        self._current = None
        self._stop_process(0.5)
        self.sig_crashed.emit(job.job_id, message)
        self._start_next()  # a queued job gets a fresh process
        if self._current is None:
            self._timer.stop()


def _worker_main(jobs, results, cancel) -> None:
    """The worker process: open each job's file by path, stream ``iter_stats`` back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal is the app's to handle
    try:
        import torch

        torch.set_num_threads(1)  # see PERFORMANCE.md: the GUI thread keeps the other core
    except Exception:  # noqa: BLE001 - stats report their own errors below
        pass
    while True:
        job = jobs.get()
        if job is None:
            return
        job_id, path, paths, bins, crash_after = job
        _run_job(results, cancel, job_id, path, paths, bins, crash_after)


def _run_job(results, cancel, job_id: int, path: str, paths, bins: int,
             crash_after: int | None) -> None:
    cancelled = False
    error = ""
    ckpt = None
    try:
        from inspector.core.checkpoint import CheckpointError
        from inspector.core.formats import open_checkpoint
        from inspector.core.stats import iter_stats

        try:
            ckpt = open_checkpoint(path)
        except CheckpointError as e:
            results.put(("done", job_id, False, e.problem))
            return
        total = len(paths) if paths is not None else sum(1 for _ in ckpt.tensor_nodes())
        results.put(("start", job_id, total))
        batch: list[tuple] = []
        last = time.monotonic()
        done = 0
        for item in iter_stats(ckpt, paths=paths, bins=bins,
                               cancel=lambda: cancel.value >= job_id):
            path, stats, error_text = item[0], item[1], item[2]
            batch.append((tuple(path), stats, error_text))  # plain tuples pickle everywhere
            done += 1
            if crash_after is not None and done >= crash_after:
                os.kill(os.getpid(), signal.SIGKILL)
            now = time.monotonic()
            if len(batch) >= BATCH_ITEMS or now - last >= BATCH_SECONDS:
                results.put(("items", job_id, batch))
                batch, last = [], now
            if cancel.value >= job_id:
                cancelled = True
                break
        if batch:
            results.put(("items", job_id, batch))
        if not cancelled and cancel.value >= job_id:
            cancelled = True
    except Exception as e:  # noqa: BLE001 - reported to the window, the process lives on
        error = f"{type(e).__name__}: {e}"
    finally:
        if ckpt is not None:
            ckpt.close()
    results.put(("done", job_id, cancelled, error))


# ---- Generic process jobs
@dataclass
class _ProcessJob:
    job_id: int
    target: str
    kwargs_payload: bytes


class ProcessJobs(QObject, _WorkerProcessOwner):
    """Runs ``"package.module:function"`` jobs in a long-lived, restartable worker process.

    The function returns an iterator of picklable items; they stream back in batches over a
    queue that a QTimer polls on the GUI thread, with a time budget per tick so the window
    never stalls. Jobs run one at a time per instance, in submission order. The worker side
    lives in :mod:`inspector.core.jobs` (no Qt there).

    Every job ends with exactly one of ``sig_finished`` or ``sig_crashed``. Job ids increase
    monotonically, so a caller can keep its latest id and drop answers from older jobs.

    Emits
    -----
    sig_item(int, object)
        job id, one yielded item.
    sig_finished(int, bool, str)
        job id, cancelled, error text ("" when none; else "Type: message\\ntraceback").
    sig_crashed(int, str)
        job id, a message: the worker process died during the job (it restarts for the next).
    """

    sig_item = Signal(int, object)
    """One item yielded by a job: job id, item."""
    sig_finished = Signal(int, bool, str)
    """A job ended: job id, cancelled, error text ("" when it completed)."""
    sig_crashed = Signal(int, str)
    """The worker process died during a job: job id, message naming the signal and target."""

    def __init__(self, parent: QObject | None = None, *, name: str = "inspector-jobs"):
        super().__init__(parent)
        self._ctx = multiprocessing.get_context("spawn")
        self._name = name
        self._next_id = 0
        self._queue: deque[_ProcessJob] = deque()
        self._current: _ProcessJob | None = None
        self._pending: deque[tuple] = deque()  # received messages not yet emitted
        self._proc = None
        self._jobs_q = None
        self._results_q = None
        self._cancel = None
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._closed = False

    # ---- Public API
    def submit(self, target: str, kwargs: dict) -> int:
        """Queue ``target(**kwargs)``; returns the job id.

        Raises ``TypeError``/``pickle.PicklingError`` at once when ``kwargs`` cannot be
        pickled, and ``RuntimeError`` after :meth:`shutdown`.
        """
        if self._closed:
            raise RuntimeError("the job service has been shut down")
        if ":" not in target:
            raise ValueError(f"job target must look like 'package.module:function', got {target!r}")
        payload = pickle.dumps(dict(kwargs), pickle.HIGHEST_PROTOCOL)
        self._next_id += 1
        self._queue.append(_ProcessJob(self._next_id, target, payload))
        self._start_next()
        return self._next_id

    def cancel(self, job_id: int) -> None:
        """Stop a job: a queued one ends at once, a running one at its next item."""
        for job in list(self._queue):
            if job.job_id == job_id:
                self._queue.remove(job)
                self.sig_finished.emit(job_id, True, "")
                return
        if self._current is not None and self._current.job_id == job_id and self._cancel is not None:
            self._cancel.value = max(self._cancel.value, job_id)

    def is_busy(self) -> bool:
        return self._current is not None or bool(self._queue)

    def worker_pid(self) -> int | None:
        """The worker process id, or None when none is running (for tests and diagnostics)."""
        return self._proc.pid if self._proc is not None else None

    def shutdown(self, timeout: float = 3.0) -> None:
        """Stop the worker process and forget queued jobs. Safe to call twice."""
        self._closed = True
        self._timer.stop()
        self._queue.clear()
        self._pending.clear()
        if self._current is not None and self._cancel is not None:
            self._cancel.value = max(self._cancel.value, self._current.job_id)
        self._current = None
        self._stop_process(timeout)

    # ---- Private API
    def _start_next(self) -> None:
        if self._current is not None or not self._queue or self._closed:
            return
        job = self._queue.popleft()
        if self._proc is None or not self._proc.is_alive():
            self._start_process()
        self._current = job
        self._jobs_q.put((job.job_id, job.target, job.kwargs_payload))
        self._timer.start()

    def _start_process(self) -> None:
        from inspector.core.jobs import worker_main

        self._spawn(worker_main, self._name)


    def _poll(self) -> None:
        job = self._current
        if job is None:
            self._timer.stop()
            return
        deadline = time.monotonic() + POLL_BUDGET_S
        while True:
            while self._pending:
                if time.monotonic() >= deadline:
                    return  # budget spent: the rest goes out on the next tick
                entry = self._pending.popleft()
                if entry[1] != job.job_id:
                    continue  # a leftover from a job that has already been closed
                if entry[0] == "done":
                    self._finish(job, bool(entry[2]), entry[3] or "")
                    return
                self.sig_item.emit(entry[1], entry[2])
                if self._current is not job:
                    return  # a slot shut the service down
            if time.monotonic() >= deadline:
                return
            try:
                msg = self._results_q.get_nowait()
            except queue.Empty:
                break
            except (OSError, EOFError, ValueError):
                break
            except Exception as e:  # noqa: BLE001 - an unreadable message ends the job, not the app
                msg = ("done", job.job_id, False, f"bad message from the worker ({e})")
            if msg[0] == "items" and msg[1] == job.job_id:
                try:
                    items = pickle.loads(msg[2])
                except Exception as e:  # noqa: BLE001 - same: end the job with a message
                    msg = ("done", job.job_id, False, f"{type(e).__name__}: cannot read items ({e})")
                else:
                    self._pending.extend(("item", job.job_id, item) for item in items)
                    continue
            if msg[0] == "done":
                self._pending.append(msg)
        if self._proc is not None and not self._proc.is_alive() and self._current is job:
            self._on_process_died(job)

    def _finish(self, job: _ProcessJob, cancelled: bool, error: str) -> None:
        self._current = None
        self._pending.clear()
        self.sig_finished.emit(job.job_id, cancelled, error)
        self._start_next()
        if self._current is None:
            self._timer.stop()

    def _on_process_died(self, job: _ProcessJob) -> None:
        code = self._proc.exitcode
        if code is not None and code < 0:
            try:
                how = f"signal {-code}, {signal.Signals(-code).name}"
            except ValueError:
                how = f"signal {-code}"
        else:
            how = f"exit code {code}"
        message = f"the worker process stopped ({how}) while running {job.target}"
        self._current = None
        self._pending.clear()
        self._stop_process(0.5)
        self.sig_crashed.emit(job.job_id, message)
        self._start_next()  # a queued job gets a fresh process
        if self._current is None:
            self._timer.stop()


# ---- Thread-pool runner for cheap jobs (reading metadata)
_live_relays: set = set()


def run_in_pool(func, *args, on_result=None, on_error=None, on_finished=None) -> None:
    """Run ``func(*args)`` on the global QThreadPool; the callbacks run on the GUI thread.

    A plain QRunnable: superqt's workers cost ~0.3 s of imports on the GUI thread, paid
    before the first file can open.
    """
    relay = _PoolRelay(func, args, on_result, on_error, on_finished)
    _live_relays.add(relay)
    QThreadPool.globalInstance().start(relay.run)



class _PoolRelay(QObject):
    """Carries one pool job's outcome back to the GUI thread (it lives there)."""

    sig_done = Signal(object, object)
    """The job ended: its result (None on error) and the exception (None on success)."""

    def __init__(self, func, args, on_result, on_error, on_finished):
        super().__init__()
        self._func, self._args = func, args
        self._on_result, self._on_error, self._on_finished = on_result, on_error, on_finished
        self.sig_done.connect(self._deliver)  # queued: emitted from the pool thread

    def run(self) -> None:  # in the pool thread
        try:
            result, error = self._func(*self._args), None
        except BaseException as e:  # noqa: BLE001 - handed to on_error on the GUI thread
            result, error = None, e
        try:
            self.sig_done.emit(result, error)
        except RuntimeError:  # the app is exiting and Qt has deleted the relay: nobody to tell
            pass

    @Slot(object, object)
    def _deliver(self, result, error) -> None:
        _live_relays.discard(self)
        try:
            if error is None:
                if self._on_result is not None:
                    self._on_result(result)
            elif self._on_error is not None:
                self._on_error(error)
        finally:
            if self._on_finished is not None:
                self._on_finished()
            self.deleteLater()



def wait_for_threads(timeout_ms: int = 3000) -> bool:
    """Wait for every QThreadPool job (called when the app quits and by the test guard)."""
    return QThreadPool.globalInstance().waitForDone(timeout_ms)
