"""The app's job worker is a daemon process; statistics, comparisons and timelines split over
worker processes must still run there ("daemonic processes are not allowed to have children"
used to end every such job on a file with a tensor of 1 MiB or more)."""

from __future__ import annotations

import pytest
import torch

from inspector.core.stats.parallel import fork_is_safe, usable_cores
from inspector.ui.workers import ProcessJobs

pytestmark = pytest.mark.skipif(usable_cores() < 2 or not fork_is_safe(),
                                reason="needs 2 cores and fork")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("children")
    g = torch.Generator().manual_seed(4)
    a = {f"layer{i}.weight": torch.randn(1500, 1000, generator=g) for i in range(3)}
    run = root / "run"
    run.mkdir()
    for epoch in (1, 2, 3):
        for v in a.values():
            v.add_(torch.randn(v.shape, generator=g), alpha=0.01)
        torch.save({"epoch": epoch, "model_state_dict": a}, run / f"epoch_{epoch}.pth")
    return run


@pytest.fixture
def jobs(qapp):
    service = ProcessJobs(None, name="inspector-children-tests")
    yield service
    service.shutdown()


def _run(qtbot, jobs, target, kwargs):
    items, ends = [], []
    jobs.sig_item.connect(lambda _jid, item: items.append(item))
    jobs.sig_crashed.connect(lambda _jid, message: ends.append(("crashed", message)))
    with qtbot.waitSignal(jobs.sig_finished, timeout=120_000) as blocker:
        jobs.submit(target, kwargs)
    _jid, cancelled, failure = blocker.args
    assert not ends and not cancelled
    assert failure is None, failure
    return items


def test_statistics_of_big_tensors_in_the_job_worker(qtbot, jobs, files):
    from inspector.core.stats_job import TARGET, TensorStatsResult

    items = _run(qtbot, jobs, TARGET, {"path": str(files / "epoch_3.pth")})
    results = [i for i in items if isinstance(i, TensorStatsResult)]
    assert len(results) == 3  # the three matrices (the epoch is a number, not a tensor)
    ok = [r for r in results if r.stats is not None and r.stats.numel == 1_500_000]
    assert len(ok) == 3 and all(r.error is None for r in results)
    want = torch.load(files / "epoch_3.pth", weights_only=True)["model_state_dict"]
    by_name = {r.path[-1]: r.stats for r in ok}
    for name, w in want.items():
        assert by_name[name].max == w.max().item() and by_name[name].min == w.min().item()


def test_comparison_of_big_tensors_in_the_job_worker(qtbot, jobs, files):
    from inspector.core.diff.stream import stream_diff

    target = f"{stream_diff.__module__}:stream_diff"
    items = _run(qtbot, jobs, target, {"path_a": str(files / "epoch_1.pth"),
                                       "path_b": str(files / "epoch_2.pth")})
    names = [type(i).__name__ for i in items]
    assert "DiffProblem" not in names, items
    changed = [i for i in items if type(i).__name__ == "DiffProgress"]
    assert changed, names


def test_timeline_in_the_job_worker(qtbot, jobs, files):
    from inspector.core.timeline import TimelineResult

    items = _run(qtbot, jobs, "inspector.core.timeline.build:iter_timeline",
                 {"paths": [str(files)], "cache_dir": None})
    result = [i for i in items if isinstance(i, TimelineResult)]
    assert len(result) == 1 and len(result[0].timeline.checkpoints) == 3
