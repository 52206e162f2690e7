"""Background work: the only module that starts threads or processes.

- :class:`ProcessJobs` runs ``"package.module:function"`` generator jobs (statistics,
  diffs, inference, tensor slices) one at a time in a long-lived, restartable **worker
  process** (``multiprocessing`` spawn context). Touching mapped tensor bytes can kill a
  process (SIGBUS on a truncated file, a torch C++ abort); in a separate process that costs
  one job, not the window. The worker side and the typed messages are
  :mod:`inspector.core.jobs`; items stream back as ``sig_item`` signals.
- :class:`Runners` holds one window's ProcessJobs, one per kind of work; the window makes
  it and hands each view the runner it needs.
- :func:`run_in_pool` runs cheap jobs (opening a file's metadata) on the global
  QThreadPool; its callbacks run on the GUI thread.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import signal
import time
import traceback
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QThreadPool, QTimer, Signal, Slot

if TYPE_CHECKING:  # the job protocol loads with the first job, not before the first paint
    from inspector.core.jobs import JobDone, JobFailure

POLL_MS = 40
POLL_BUDGET_S = 0.025  # at most this long per poll handling results, so the GUI stays smooth


@dataclass(frozen=True)
class _Job:
    job_id: int
    target: str
    kwargs_payload: bytes


@dataclass(frozen=True)
class _Item:
    job_id: int
    item: Any


class ProcessJobs(QObject):
    """Runs ``"package.module:function"`` jobs in a long-lived, restartable worker process.

    The function returns an iterator of picklable items; they stream back in batches over a
    queue that a QTimer polls on the GUI thread, with a time budget per tick so the window
    never stalls. Jobs run one at a time per instance, in submission order; the worker
    process starts on the first submit and again after a crash.

    Every job ends with exactly one of ``sig_finished`` or ``sig_crashed``. Job ids increase
    monotonically, so a caller can keep its latest id and drop answers from older jobs.

    Emits
    -----
    sig_item(int, object)
        job id, one yielded item (a :class:`~inspector.core.jobs.JobProgress` or a result).
    sig_finished(int, bool, object)
        job id, cancelled, and the :class:`~inspector.core.jobs.JobFailure` (None when the
        job completed or was cancelled).
    sig_crashed(int, str)
        job id, a message: the worker process died during the job (it restarts for the next).
    """

    sig_item = Signal(int, object)
    """One item yielded by a job: job id, item."""
    sig_finished = Signal(int, bool, object)
    """A job ended: job id, cancelled, JobFailure or None."""
    sig_crashed = Signal(int, str)
    """The worker process died during a job: job id, message naming the signal and target."""

    def __init__(self, parent: QObject | None = None, *, name: str = "inspector-jobs"):
        super().__init__(parent)
        self._ctx = multiprocessing.get_context("spawn")
        self._name = name
        self._next_id = 0
        self._queue: deque[_Job] = deque()
        self._current: _Job | None = None
        self._pending: deque[_Item | JobDone] = deque()  # received, not yet emitted
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
        pickled, ``ValueError`` for a malformed target and ``RuntimeError`` after
        :meth:`shutdown`.
        """
        if self._closed:
            raise RuntimeError("the job service has been shut down")
        if ":" not in target:
            raise ValueError(f"job target must look like 'package.module:function', got {target!r}")
        payload = pickle.dumps(dict(kwargs), pickle.HIGHEST_PROTOCOL)
        self._next_id += 1
        self._queue.append(_Job(self._next_id, target, payload))
        self._start_next()
        return self._next_id

    def cancel(self, job_id: int) -> None:
        """Stop a job: a queued one ends at once, a running one at its next item."""
        for job in list(self._queue):
            if job.job_id == job_id:
                self._queue.remove(job)
                self.sig_finished.emit(job_id, True, None)
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

    # ---- Private API: the worker process
    def _spawn(self) -> None:
        from inspector.core.jobs import worker_main

        self._stop_process(1.0)
        # Fresh queues with each process: a process killed mid-write can leave a queue torn.
        self._jobs_q = self._ctx.Queue()
        self._results_q = self._ctx.Queue()
        self._cancel = self._ctx.Value("q", 0, lock=False)
        self._proc = self._ctx.Process(
            target=worker_main, name=self._name, daemon=True,
            args=(self._jobs_q, self._results_q, self._cancel, os.getpid()))
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

    # ---- Private API: jobs
    def _start_next(self) -> None:
        if self._current is not None or not self._queue or self._closed:
            return
        from inspector.core.jobs import JobRequest

        job = self._queue.popleft()
        if self._proc is None or not self._proc.is_alive():
            self._spawn()
        self._current = job
        self._jobs_q.put(JobRequest(job.job_id, job.target, job.kwargs_payload))
        self._timer.start()

    def _poll(self) -> None:
        from inspector.core.jobs import ItemBatch, JobDone

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
                if entry.job_id != job.job_id:
                    continue  # a leftover from a job that has already been closed
                if isinstance(entry, JobDone):
                    self._finish(job, entry.cancelled, entry.failure)
                    return
                self.sig_item.emit(entry.job_id, entry.item)
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
                msg = JobDone(job.job_id, False, _failure(e, "bad message from the worker"))
            if isinstance(msg, ItemBatch) and msg.job_id == job.job_id:
                try:
                    items = pickle.loads(msg.payload)
                except Exception as e:  # noqa: BLE001 - same: end the job with a failure
                    msg = JobDone(job.job_id, False, _failure(e, "cannot read items"))
                else:
                    self._pending.extend(_Item(job.job_id, item) for item in items)
                    continue
            if isinstance(msg, JobDone):
                self._pending.append(msg)
        if self._proc is not None and not self._proc.is_alive() and self._current is job:
            self._on_process_died(job)

    def _finish(self, job: _Job, cancelled: bool, failure: JobFailure | None) -> None:
        self._current = None
        self._pending.clear()
        self.sig_finished.emit(job.job_id, cancelled, failure)
        self._start_next()
        if self._current is None:
            self._timer.stop()

    def _on_process_died(self, job: _Job) -> None:
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


def _failure(error: Exception, what: str) -> JobFailure:
    from inspector.core.jobs import JobFailure

    return JobFailure(type(error).__name__, f"{what} ({error})", traceback.format_exc())


class Runners(QObject):
    """One window's worker processes, one :class:`ProcessJobs` per kind of work.

    The main window creates it once and passes each view the runner it needs; views never
    construct runners. A worker process starts on its runner's first job.
    """

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.stats = ProcessJobs(self, name="inspector-stats")
        """Tensor statistics of open files."""
        self.compare = ProcessJobs(self, name="inspector-compare")
        """Diffs of compare tabs."""
        self.compare_detail = ProcessJobs(self, name="inspector-compare-detail")
        """The selected pair of a compare tab (histograms)."""
        self.inference = ProcessJobs(self, name="inspector-inference")
        """Eval vs. train runs of the Inference views."""
        self.tensor = ProcessJobs(self, name="inspector-tensor")
        """Tensor slices (values, heatmaps, kernels) and exports."""
        self.convert = ProcessJobs(self, name="inspector-convert")
        """File ▸ Convert… (a long conversion must not hold up tensor previews)."""
        self.timeline = ProcessJobs(self, name="inspector-timeline")
        """Training runs read as a timeline, and their health checks."""

    def all(self) -> list[ProcessJobs]:
        """Every runner of the window."""
        return [self.stats, self.compare, self.compare_detail, self.inference, self.tensor,
                self.convert, self.timeline]

    def shutdown(self) -> None:
        """Stop every worker process (idempotent)."""
        for jobs in self.all():
            jobs.shutdown()


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
