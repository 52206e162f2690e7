"""Jobs that stop part-way until they are cancelled: cancel tests that do not race the machine.

``pause_runner(monkeypatch, runner, after=20)`` makes every job submitted to that
``ProcessJobs`` runner deliver its first ``after`` items (plus one) and then wait for Cancel,
so a test can cancel a job that is certainly still running, with some results already shown.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

PAUSED = "tests.ui.paused_jobs:pause_after"
FLUSH_S = 0.5  # longer than the worker's batching delay: the items so far reach the GUI
WAIT_S = 120.0  # a job nobody cancels fails instead of hanging the test run
_END = object()


def pause_after(target: str, kwargs: dict, after: int) -> Iterator[Any]:
    """Run ``target(**kwargs)`` in the worker; after ``after`` items, hold until cancelled."""
    from inspector.core.jobs import cancel_requested, resolve_target

    items = iter(resolve_target(target)(**kwargs))
    for _ in range(after):
        item = next(items, _END)
        if item is _END:
            return
        yield item
    time.sleep(FLUSH_S)
    item = next(items, _END)
    if item is _END:
        return
    yield item
    deadline = time.monotonic() + WAIT_S
    while not cancel_requested():
        if time.monotonic() > deadline:
            raise RuntimeError(f"paused job {target} was never cancelled")
        time.sleep(0.01)


def pause_runner(monkeypatch, runner, after: int) -> None:
    """Route every job submitted to ``runner`` through :func:`pause_after`."""
    submit = runner.submit

    def paused_submit(target: str, kwargs: dict) -> int:
        return submit(PAUSED, {"target": target, "kwargs": dict(kwargs), "after": after})

    monkeypatch.setattr(runner, "submit", paused_submit)
