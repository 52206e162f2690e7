"""Worker-process side of the generic process job service (no Qt here).

The GUI's :class:`inspector.ui.workers.ProcessJobs` sends ``(job_id, target, kwargs)``
requests to :func:`worker_main`, running in a long-lived ``spawn`` process. ``target`` is
``"package.module:function"``; the function returns an iterator of picklable items, which
stream back in batches. A job stops early when the shared ``cancel`` value reaches its id
(the GUI raises it), so cancelling means "stop pulling the iterator".

Messages to the GUI, each a tuple:

- ``("items", job_id, payload)``: ``payload`` is a pickled list of items. Items are pickled
  here, not in the queue's feeder thread, so an unpicklable item ends its job with an error
  instead of vanishing into a background thread.
- ``("done", job_id, cancelled, error)``: error is ``""`` or ``"Type: message\\ntraceback"``.
"""

from __future__ import annotations

import importlib
import os
import pickle
import signal
import time
import traceback
from collections.abc import Callable
from typing import Any

BATCH_ITEMS = 256  # items per queue message...
BATCH_SECONDS = 0.05  # ...or sooner when this much time has passed

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


def worker_main(jobs, results, cancel) -> None:
    """The worker process loop: run each job, stream its items, until a ``None`` request."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal is the app's to handle
    try:
        import torch

        torch.set_num_threads(1)  # see PERFORMANCE.md: the GUI thread keeps the other core
    except Exception:  # noqa: BLE001 - jobs that need torch report their own import errors
        pass
    while True:
        request = jobs.get()
        if request is None:
            return
        job_id, target, kwargs_payload = request
        run_job(results, lambda jid=job_id: cancel.value >= jid, job_id, target, kwargs_payload)


def run_job(results, cancelled: Callable[[], bool], job_id: int, target: str,
            kwargs_payload: bytes) -> None:
    """Run one job: call the target, batch its items onto ``results``, end with ``done``."""
    global _current_cancelled
    _current_cancelled = cancelled
    was_cancelled = False
    error = ""
    iterator = None
    batch: list[Any] = []
    try:
        kwargs = pickle.loads(kwargs_payload)
        func = resolve_target(target)
        iterator = iter(func(**kwargs))
        last = time.monotonic()
        while True:
            if cancelled():
                was_cancelled = True
                break
            try:
                item = next(iterator)
            except StopIteration:
                break
            batch.append(item)
            now = time.monotonic()
            if len(batch) >= BATCH_ITEMS or now - last >= BATCH_SECONDS:
                results.put(("items", job_id, pickle.dumps(batch, pickle.HIGHEST_PROTOCOL)))
                batch, last = [], now
        if not was_cancelled and cancelled():
            was_cancelled = True
    except Exception as e:  # noqa: BLE001 - reported to the GUI, the process lives on
        error = f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
    if batch:  # what was yielded before an error still arrives, in order
        try:
            results.put(("items", job_id, pickle.dumps(batch, pickle.HIGHEST_PROTOCOL)))
        except Exception as e:  # noqa: BLE001 - an unpicklable item ends the job with a message
            error = error or f"{type(e).__name__}: cannot send an item ({e})"
    close = getattr(iterator, "close", None)
    if close is not None:
        try:
            close()  # run the generator's finally blocks (closing files) now
        except Exception:  # noqa: BLE001 - the job's outcome is already decided
            pass
    _current_cancelled = None
    if not was_cancelled and cancelled():
        was_cancelled = True  # the target noticed cancel_requested() and stopped early
    results.put(("done", job_id, was_cancelled, error))


# ---- Test targets (used by tests/ui/test_process_jobs.py; harmless elsewhere)
def count_for_tests(n: int, delay: float = 0.0) -> Any:
    """Yield ``0..n-1``, sleeping ``delay`` seconds before each: a cancellable test job."""
    for i in range(n):
        if delay:
            time.sleep(delay)
        yield i


def fail_for_tests(after: int, message: str) -> Any:
    """Yield ``after`` items, then raise ``RuntimeError(message)``."""
    yield from range(after)
    raise RuntimeError(message)


def die_for_tests(after: int) -> Any:
    """Yield ``after`` items, then kill the worker process with SIGKILL (a crash test)."""
    yield from range(after)
    time.sleep(0.2)  # let the queue's feeder thread flush the items first
    os.kill(os.getpid(), signal.SIGKILL)
    yield -1  # not reached


def unpicklable_for_tests() -> Any:
    """Yield an item that cannot be pickled (a generator)."""
    yield (i for i in range(3))
