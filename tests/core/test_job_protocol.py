"""The worker side of the job protocol, without Qt or a process: typed messages, batching,
failures, and the statistics job."""

from __future__ import annotations

import pickle
import queue
import threading

from inspector.core.jobs import ItemBatch, JobDone, JobFailure, JobProgress, JobRequest, run_job
from inspector.core.stats_job import TensorStatsResult, tensor_stats


def _run(target: str, kwargs: dict, cancelled=lambda: False) -> list:
    results: queue.Queue = queue.Queue()
    run_job(results, cancelled, JobRequest(7, target, pickle.dumps(kwargs)))
    return [results.get_nowait() for _ in range(results.qsize())]


def _items(messages: list) -> list:
    return [item for m in messages if isinstance(m, ItemBatch) for item in pickle.loads(m.payload)]


def test_items_then_one_done_message():
    messages = _run("tests.job_targets:count", {"n": 600})
    assert _items(messages) == list(range(600))
    assert all(m.job_id == 7 for m in messages)
    assert messages[-1] == JobDone(7, False, None)
    assert sum(isinstance(m, JobDone) for m in messages) == 1


def test_a_failure_carries_type_message_and_traceback():
    messages = _run("tests.job_targets:fail_after", {"after": 2, "message": "no such tensor"})
    assert _items(messages) == [0, 1]  # what came before the error still arrives
    done = messages[-1]
    assert isinstance(done, JobDone) and not done.cancelled
    failure = done.failure
    assert isinstance(failure, JobFailure)
    assert (failure.type, failure.message, str(failure)) == (
        "RuntimeError", "no such tensor", "RuntimeError: no such tensor")
    assert failure.traceback.startswith("Traceback") and "fail_after" in failure.traceback


def test_an_unpicklable_item_ends_the_job_with_a_failure():
    done = _run("tests.job_targets:unpicklable", {})[-1]
    assert "pickle" in str(done.failure).lower()


def test_cancel_stops_pulling_items():
    done = _run("tests.job_targets:count", {"n": 10}, cancelled=lambda: True)[-1]
    assert done == JobDone(7, True, None)


def test_an_item_is_sent_while_the_target_works_on():
    results: queue.Queue = queue.Queue()
    stop = threading.Event()
    request = JobRequest(1, "tests.job_targets:sleep_forever", pickle.dumps({}))
    worker = threading.Thread(target=run_job, args=(results, stop.is_set, request))
    worker.start()
    try:
        first = results.get(timeout=5)  # the target yielded once and keeps working
        assert isinstance(first, ItemBatch) and len(pickle.loads(first.payload)) == 1
    finally:
        stop.set()
        worker.join(10)
    assert results.get(timeout=5) == JobDone(1, True, None)


def test_statistics_job_reports_the_total_then_every_tensor(training_ckpt):
    items = list(tensor_stats(str(training_ckpt)))
    progress, results = items[0], items[1:]
    assert isinstance(progress, JobProgress) and progress.total == len(results) > 0
    assert all(isinstance(r, TensorStatsResult) for r in results)
    by_path = {r.path: r for r in results}
    weight = by_path[("model_state_dict", "0.weight")]
    assert weight.error is None and weight.stats.numel == 8 * 3 * 3 * 3
    pickle.loads(pickle.dumps(results))  # they cross a process boundary


def test_statistics_job_for_chosen_paths(training_ckpt):
    items = list(tensor_stats(str(training_ckpt), paths=[("model_state_dict", "5.bias"),
                                                         ("no", "such")]))
    assert items[0] == JobProgress(0, 2)
    errors = {r.path: r.error for r in items[1:]}
    assert errors[("model_state_dict", "5.bias")] is None
    assert errors[("no", "such")] == "no tensor at this path"

