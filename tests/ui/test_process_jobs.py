"""ProcessJobs: generic "package.module:function" jobs in a restartable worker process."""

from __future__ import annotations

import pytest

from inspector.core.jobs import JobFailure
from inspector.ui.workers import ProcessJobs, Runners

COUNT = "tests.job_targets:count"
FAIL = "tests.job_targets:fail_after"
DIE = "tests.job_targets:die_after"


@pytest.fixture
def jobs(qapp):
    service = ProcessJobs()
    yield service
    service.shutdown()
    assert service.worker_pid() is None


def _collect(service):
    got: dict[int, list] = {}
    ends: dict[int, tuple] = {}
    service.sig_item.connect(lambda jid, item: got.setdefault(jid, []).append(item))
    service.sig_finished.connect(lambda jid, c, e: ends.__setitem__(jid, ("finished", c, e)))
    service.sig_crashed.connect(lambda jid, m: ends.__setitem__(jid, ("crashed", m)))
    return got, ends


def test_items_arrive_in_order_and_jobs_run_one_after_another(qtbot, jobs):
    got, ends = _collect(jobs)
    with qtbot.waitSignal(jobs.sig_finished, timeout=30_000,
                          check_params_cb=lambda jid, c, e: jid == second):
        first = jobs.submit(COUNT, {"n": 600})
        second = jobs.submit(COUNT, {"n": 5})
        assert jobs.is_busy()
    assert got[first] == list(range(600))
    assert got[second] == list(range(5))
    assert ends == {first: ("finished", False, None), second: ("finished", False, None)}
    assert not jobs.is_busy()


def test_cancel_stops_a_running_job_early(qtbot, jobs):
    got, ends = _collect(jobs)
    with qtbot.waitSignal(jobs.sig_item, timeout=30_000):
        job = jobs.submit(COUNT, {"n": 1000, "delay": 0.01})
    with qtbot.waitSignal(jobs.sig_finished, timeout=10_000):
        jobs.cancel(job)
    assert ends[job] == ("finished", True, None)
    assert 0 < len(got[job]) < 1000
    assert got[job] == list(range(len(got[job])))


def test_cancel_of_a_queued_job_ends_it_at_once(qtbot, jobs):
    got, ends = _collect(jobs)
    running = jobs.submit(COUNT, {"n": 3})
    queued = jobs.submit(COUNT, {"n": 3})
    jobs.cancel(queued)
    assert ends[queued] == ("finished", True, None)
    qtbot.waitUntil(lambda: running in ends, timeout=30_000)
    assert queued not in got


def test_an_exception_ends_the_job_with_its_message(qtbot, jobs):
    got, ends = _collect(jobs)
    with qtbot.waitSignal(jobs.sig_finished, timeout=30_000):
        job = jobs.submit(FAIL, {"after": 3, "message": "no such tensor"})
    cancelled, failure = ends[job][1:]
    assert not cancelled
    assert isinstance(failure, JobFailure)
    assert (failure.type, failure.message) == ("RuntimeError", "no such tensor")
    assert str(failure) == "RuntimeError: no such tensor"
    assert failure.traceback.startswith("Traceback") and "fail_after" in failure.traceback
    assert got[job] == [0, 1, 2]


def test_bad_targets_and_arguments_are_reported(qtbot, jobs):
    _got, ends = _collect(jobs)
    with qtbot.waitSignal(jobs.sig_finished, timeout=30_000):
        job = jobs.submit("tests.job_targets:no_such_function", {})
    assert ends[job][2].type == "AttributeError"
    with qtbot.waitSignal(jobs.sig_finished, timeout=30_000):
        job = jobs.submit(COUNT, {"wrong": 1})
    assert ends[job][2].type == "TypeError"
    with pytest.raises(ValueError, match="package.module:function"):
        jobs.submit("no colon", {})
    with pytest.raises((TypeError, AttributeError)):
        jobs.submit(COUNT, {"n": lambda: 1})  # not picklable: refused at once


def test_a_worker_that_dies_is_reported_and_the_next_job_works(qtbot, jobs):
    got, ends = _collect(jobs)
    with qtbot.waitSignal(jobs.sig_crashed, timeout=30_000):
        dead = jobs.submit(DIE, {"after": 2})
        after = jobs.submit(COUNT, {"n": 4})
    kind, message = ends[dead]
    assert kind == "crashed"
    assert "SIGKILL" in message and DIE in message
    qtbot.waitUntil(lambda: after in ends, timeout=30_000)
    assert ends[after] == ("finished", False, None)
    assert got[after] == [0, 1, 2, 3]


def test_submit_after_shutdown_is_refused(jobs):
    jobs.shutdown()
    jobs.shutdown()
    with pytest.raises(RuntimeError):
        jobs.submit(COUNT, {"n": 1})


def test_an_unpicklable_item_ends_the_job_with_a_message(qtbot, jobs):
    _got, ends = _collect(jobs)
    with qtbot.waitSignal(jobs.sig_finished, timeout=30_000):
        job = jobs.submit("tests.job_targets:unpicklable", {})
    assert "pickle" in str(ends[job][2]).lower()
    with qtbot.waitSignal(jobs.sig_finished, timeout=30_000):
        job = jobs.submit(COUNT, {"n": 2})
    assert ends[job] == ("finished", False, None)


def test_runners_start_workers_lazily_and_stop_them_all(qtbot, qapp):
    runners = Runners()
    every = [runners.stats, runners.compare, runners.compare_detail, runners.inference,
             runners.tensor]
    assert len({id(j) for j in every}) == 5
    assert all(j.worker_pid() is None for j in every)
    with qtbot.waitSignal(runners.tensor.sig_finished, timeout=30_000):
        runners.tensor.submit(COUNT, {"n": 1})
    assert runners.tensor.worker_pid() is not None
    assert all(j.worker_pid() is None for j in every if j is not runners.tensor)
    runners.shutdown()
    assert all(j.worker_pid() is None for j in every)
    with pytest.raises(RuntimeError):
        runners.stats.submit(COUNT, {"n": 1})
