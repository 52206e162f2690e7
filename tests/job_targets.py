"""Job targets for tests: run by a worker process of ``inspector.ui.workers.ProcessJobs``.

Tests submit these by name (``"tests.job_targets:die_after"``) to make a worker count, fail,
send something unpicklable or kill itself, so no production code carries test hooks.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any


def count(n: int, delay: float = 0.0) -> Iterator[int]:
    """Yield ``0..n-1``, sleeping ``delay`` seconds before each: a cancellable job."""
    for i in range(n):
        if delay:
            time.sleep(delay)
        yield i


def fail_after(after: int, message: str) -> Iterator[int]:
    """Yield ``after`` items, then raise ``RuntimeError(message)``."""
    yield from range(after)
    raise RuntimeError(message)


def die_after(after: int) -> Iterator[int]:
    """Yield ``after`` items, then kill the worker process with SIGKILL (a crash)."""
    yield from range(after)
    time.sleep(0.2)  # let the items reach the GUI first (they leave in a batch)
    os.kill(os.getpid(), signal.SIGKILL)
    yield -1  # not reached


def unpicklable() -> Iterator[Any]:
    """Yield an item that cannot be pickled (a generator)."""
    yield (i for i in range(3))


def stats_then_die(path: str, paths: list | None = None, bins: int = 64,
                   after: int = 1, device: str = "cpu") -> Iterator[Any]:
    """The statistics job of ``inspector.core.stats_job``, killed by SIGKILL after ``after``
    results: a worker that crashes while reading a file."""
    from inspector.core.jobs import JobProgress
    from inspector.core.stats_job import tensor_stats

    sent = 0
    for item in tensor_stats(path, paths=paths, bins=bins, device=device):
        yield item
        if not isinstance(item, JobProgress):
            sent += 1
            if sent >= after:
                time.sleep(0.2)
                os.kill(os.getpid(), signal.SIGKILL)


def worker_pid() -> Iterator[int]:
    """Yield the worker's process id."""
    yield os.getpid()


def sleep_forever() -> Iterator[int]:
    """Yield the worker's pid, then keep it busy until it is killed or cancelled."""
    from inspector.core.jobs import cancel_requested

    yield os.getpid()
    while not cancel_requested():
        time.sleep(0.05)
