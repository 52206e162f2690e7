"""The job protocol between the GUI and its worker processes, and the worker side (no Qt).

A job target is a ``"package.module:function"`` generator. It may yield :class:`JobProgress`
items (for progress bars) and any other picklable, torch-free dataclass as results, and it
checks :func:`cancel_requested` in long loops. The GUI's
:class:`inspector.ui.workers.ProcessJobs` runs targets in a long-lived ``spawn`` process
whose loop is :func:`worker_main`.

Everything that crosses the process boundary is a frozen dataclass defined here:

- GUI → worker: :class:`JobRequest` (``None`` asks the worker to exit);
- worker → GUI: :class:`ItemBatch` (a pickled list of yielded items) and :class:`JobDone`
  (cancelled or not, and a :class:`JobFailure` when the target raised).

Items are pickled here, not in the queue's feeder thread, so an unpicklable item ends its job
with a failure instead of vanishing in a background thread. A worker exits on its own when
the process that started it is gone (killed, crashed): it never outlives the app.
"""

from __future__ import annotations

import importlib
import os
import pickle
import signal
import threading
import time
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

BATCH_ITEMS = 256  # items per queue message...
BATCH_SECONDS = 0.05  # ...or sooner when this much time has passed
PARENT_POLL_S = 0.5  # how often a worker checks that the process that started it lives
EXIT_ORPHANED = 3  # the exit code of a worker whose parent has gone


@dataclass(frozen=True)
class JobProgress:
    """How far a job is: ``done`` of ``total`` units, with an optional line of text."""

    done: int
    total: int
    text: str = ""


@dataclass(frozen=True)
class JobFailure:
    """Why a job ended early: the exception's type name, its message and the traceback."""

    type: str
    message: str
    traceback: str

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"

    @classmethod
    def from_exception(cls, error: BaseException) -> JobFailure:
        return cls(type(error).__name__, str(error),
                   "".join(traceback.format_exception(error)))


@dataclass(frozen=True)
class JobRequest:
    """Run ``target(**kwargs)`` as job ``job_id``; ``kwargs_payload`` is the pickled kwargs."""

    job_id: int
    target: str
    kwargs_payload: bytes


@dataclass(frozen=True)
class ItemBatch:
    """Items a job yielded, in order: ``payload`` is a pickled list."""

    job_id: int
    payload: bytes


@dataclass(frozen=True)
class JobDone:
    """A job ended: cancelled or not, and the failure when it raised."""

    job_id: int
    cancelled: bool
    failure: JobFailure | None


_current_cancelled: Callable[[], bool] | None = None


def cancel_requested() -> bool:
    """True when the job running in this worker has been cancelled.

    A target can pass this to long inner loops (``iter_diff(cancel=...)``) so that cancel
    takes effect inside one long item too; outside a worker it is always False.
    """
    return _current_cancelled is not None and _current_cancelled()


def resolve_target(target: str) -> Callable[..., Any]:
    """Import ``"package.module:function"`` and return the function."""
    module_name, sep, func_name = target.partition(":")
    if not sep or not module_name or not func_name:
        raise ValueError(f"job target must look like 'package.module:function', got {target!r}")
    obj: Any = importlib.import_module(module_name)
    for part in func_name.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"job target {target!r} is not callable")
    return obj


WORKER_NICENESS = 10  # added to the worker's nice value: the GUI process wins the CPU


def worker_main(jobs, results, cancel, parent_pid: int) -> None:
    """The worker process loop: run each request, stream its items, until a ``None`` request.

    ``cancel`` is a shared integer: a job stops once it reaches the job's id. The worker
    exits when its parent process (``parent_pid``) is gone.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal is the app's to handle
    watch_parent(parent_pid)
    try:  # background work yields the CPU to the window (on 2 cores they compete)
        os.nice(WORKER_NICENESS)
    except (AttributeError, OSError):  # no nice() on this platform, or not permitted
        pass
    try:
        import torch

        torch.set_num_threads(1)  # see PERFORMANCE.md: the GUI thread keeps the other core
    except Exception:  # noqa: BLE001 - jobs that need torch report their own import errors
        pass
    while True:
        request = jobs.get()
        if request is None:
            return
        run_job(results, lambda jid=request.job_id: cancel.value >= jid, request)


def watch_parent(parent_pid: int, interval: float = PARENT_POLL_S) -> threading.Thread:
    """Exit this process (code :data:`EXIT_ORPHANED`) soon after ``parent_pid`` stops being
    its parent: when the GUI is killed, the worker is re-parented and notices."""
    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(EXIT_ORPHANED)
            time.sleep(interval)

    thread = threading.Thread(target=watch, name="inspector-parent-watch", daemon=True)
    thread.start()
    return thread


def run_job(results, cancelled: Callable[[], bool], request: JobRequest) -> None:
    """Run one job: call the target, send its items in batches, end with :class:`JobDone`."""
    global _current_cancelled
    _current_cancelled = cancelled
    was_cancelled = False
    failure: JobFailure | None = None
    iterator = None
    sender = _Sender(results, request.job_id)
    try:
        kwargs = pickle.loads(request.kwargs_payload)
        func = resolve_target(request.target)
        iterator = iter(func(**kwargs))
        while sender.failure is None:
            if cancelled():
                was_cancelled = True
                break
            try:
                item = next(iterator)
            except StopIteration:
                break
            sender.add(item)
    except Exception as e:  # noqa: BLE001 - reported to the GUI, the process lives on
        failure = JobFailure.from_exception(e)
    # what was yielded before an error still arrives, in order; an unpicklable item ends
    # the job with a failure
    failure = sender.close() or failure
    if isinstance(iterator, Generator):
        try:
            iterator.close()  # run the generator's finally blocks (closing files) now
        except Exception:  # noqa: BLE001 - the job's outcome is already decided
            pass
    _current_cancelled = None
    if not was_cancelled and cancelled():
        was_cancelled = True  # the target noticed cancel_requested() and stopped early
    results.put(JobDone(request.job_id, was_cancelled, failure))


class _Sender:
    """Sends one job's items to the GUI in batches: at once when :data:`BATCH_ITEMS` wait,
    otherwise within :data:`BATCH_SECONDS` of their arrival (a thread sends them while the
    target works on, so a slow next item never holds back the ones before it)."""

    def __init__(self, results, job_id: int):
        self._results = results
        self._job_id = job_id
        self._items: list[Any] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.failure: JobFailure | None = None
        self._thread = threading.Thread(target=self._run, name="inspector-job-sender",
                                        daemon=True)
        self._thread.start()

    def add(self, item: Any) -> None:
        with self._lock:
            self._items.append(item)
            if len(self._items) >= BATCH_ITEMS:
                self._send()

    def close(self) -> JobFailure | None:
        """Send what is left and stop the thread; returns the failure to send, if any."""
        self._stop.set()
        self._thread.join()
        with self._lock:
            self._send()
        return self.failure

    def _run(self) -> None:
        while not self._stop.wait(BATCH_SECONDS):
            with self._lock:
                self._send()

    def _send(self) -> None:  # with the lock held
        if not self._items or self.failure is not None:
            self._items.clear()
            return
        batch, self._items = self._items, []
        try:
            payload = pickle.dumps(batch, pickle.HIGHEST_PROTOCOL)
        except Exception as e:  # noqa: BLE001 - the job ends with this failure
            self.failure = JobFailure(type(e).__name__, f"cannot send an item ({e})",
                                      traceback.format_exc())
            return
        self._results.put(ItemBatch(self._job_id, payload))
