"""Training runs as timelines: planted events found with their steps and tensors, the numbers
against torch, the per-file cache, and every kind of run folder (files, Lightning, Hugging
Face checkpoint-N, DCP steps) with clear messages for runs that cannot be ordered."""

from __future__ import annotations

import json
import math
import os
import warnings

import pytest

from inspector.core.timeline import RunError, build_timeline, discover_run, timeline_to_json
from tests.core.test_timeline_helpers import PLANTED, STEPS, finding_keys, planted_run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    planted_run(folder)
    return folder


@pytest.fixture(scope="module")
def doc(run_dir):
    return timeline_to_json(build_timeline(run_dir, cache_dir=None))


def test_planted_events_are_reported_exactly_with_their_steps(doc):
    assert finding_keys(doc["findings"]) == PLANTED
    nan = next(f for f in doc["findings"] if f["kind"] == "nan")
    assert nan["tensor"] == ["model_state_dict", "fc3.weight"]
    assert nan["checkpoint"].endswith("epoch_4.pth")
    dup = next(f for f in doc["findings"] if f["kind"] == "duplicate")
    assert dup["other"] == ["model_state_dict", "fc1.weight"]
    dead = next(f for f in doc["findings"] if f["kind"] == "dead_units")
    assert dead["count"] == 1 and dead["detail"].startswith("1 of 16 rows")
    assert set(doc["findings"][0]) >= {"kind", "tensor", "step", "detail"}


def test_checkpoints_ordered_by_global_step_and_scalars(doc):
    assert [c["step"] for c in doc["checkpoints"]] == list(STEPS)
    assert {c["step_source"] for c in doc["checkpoints"]} == {"global_step"}
    assert doc["scalars"]["loss"] == pytest.approx([2.0 / (i + 1) for i in range(6)])
    assert doc["scalars"]["epoch"] == [1, 2, 3, 4, 5, 6]
    assert doc["scalars"]["optimizer_state_dict.param_groups.0.lr"] == pytest.approx(
        [0.01 * 0.9 ** i for i in range(6)])


def test_numbers_match_torch(run_dir, doc):
    import torch

    files = [torch.load(run_dir / f"epoch_{i}.pth", weights_only=True) for i in range(1, 7)]
    t = next(s for s in doc["tensors"] if s["name"] == "fc2.weight")
    assert t["path"] == ["model_state_dict", "fc2.weight"] and t["shape"] == [16, 16]
    assert list(t)[:6] == ["path", "name", "module", "role", "shape", "dtype"]
    for i, f in enumerate(files):
        w = f["model_state_dict"]["fc2.weight"].double()
        assert t["l2"][i] == pytest.approx(float(w.norm()), rel=1e-12)
        assert t["mean"][i] == pytest.approx(float(w.mean()), rel=1e-9)
        assert t["std"][i] == pytest.approx(float(w.std(unbiased=False)), rel=1e-9)
        assert t["max_abs"][i] == pytest.approx(float(w.abs().max()))
        if i:
            prev = files[i - 1]["model_state_dict"]["fc2.weight"].double()
            d = float((w - prev).norm())
            assert t["rel_change"][i] == pytest.approx(d / float(prev.norm()), rel=1e-9)
            assert t["update_ratio"][i] == pytest.approx(d / float(w.norm()), rel=1e-9)
            state = f["optimizer_state_dict"]["state"]
            params = [k for k in f["model_state_dict"] if "running" not in k and "num_b" not in k]
            index = params.index("fc2.weight")  # Adam's state is keyed by parameter order
            assert t["exp_avg"][i] == pytest.approx(float(state[index]["exp_avg"].double().norm()))
    assert t["rel_change"][0] is None and t["exp_avg"][0] is None
    frozen = next(s for s in doc["tensors"] if s["name"] == "fc1.weight")
    assert frozen["rel_change"][3:] == [0.0, 0.0, 0.0] and frozen["rel_change"][2] > 0
    fc1 = next(m for m in doc["modules"] if m["name"] == "fc1")
    assert fc1["tensors"] == ["fc1.weight", "fc1.bias"]
    bias = next(s for s in doc["tensors"] if s["name"] == "fc1.bias")
    assert fc1["l2"][0] == pytest.approx(math.hypot(frozen["l2"][0], bias["l2"][0]))
    # a NaN is left out of the norms and moments, as in the statistics
    fc3 = next(s for s in doc["tensors"] if s["name"] == "fc3.weight")
    w = files[5]["model_state_dict"]["fc3.weight"].double()
    assert fc3["l2"][5] == pytest.approx(float(w[torch.isfinite(w)].norm()))


def test_cache_makes_reopening_read_nothing_and_notices_changes(tmp_path, monkeypatch):
    from inspector.core.timeline import build as build_mod

    folder = tmp_path / "run"
    paths = planted_run(folder)
    cache = tmp_path / "cache"
    first = timeline_to_json(build_timeline(folder, cache_dir=str(cache)))
    assert len(os.listdir(cache / "timeline")) == 6

    def no_reading(*args, **kwargs):
        raise AssertionError("a cached checkpoint was read again")

    monkeypatch.setattr(build_mod, "scan_checkpoint", no_reading)
    assert timeline_to_json(build_timeline(folder, cache_dir=str(cache))) == first
    monkeypatch.undo()
    # a rewritten file is read again (size/mtime changed); the others come from the cache
    import torch

    obj = torch.load(paths[5], weights_only=True)
    obj["model_state_dict"]["fc2.bias"] += 1
    torch.save(obj, paths[5])
    os.utime(paths[5], ns=(1, 1))
    seen = []
    real = build_mod.scan_checkpoint

    def counting(ck, prev=None, **kwargs):
        seen.append(os.path.basename(ck.path))
        return real(ck, prev, **kwargs)

    monkeypatch.setattr(build_mod, "scan_checkpoint", counting)
    again = timeline_to_json(build_timeline(folder, cache_dir=str(cache)))
    assert seen == ["epoch_6.pth"]
    bias = next(s for s in again["tensors"] if s["name"] == "fc2.bias")
    assert bias["rel_change"][5] > 1


def test_cache_env_folder_is_used_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("CHECKPOINT_INSPECTOR_CACHE", str(tmp_path / "c"))
    planted_run(tmp_path / "run")
    build_timeline(tmp_path / "run")
    assert len(os.listdir(tmp_path / "c" / "timeline")) == 6


def test_order_by_number_in_names_when_files_hold_no_step(tmp_path):
    import torch

    for n in (10, 9, 100):
        torch.save({"w": torch.full((2,), float(n))}, tmp_path / f"model_{n}.pt")
    run = discover_run(str(tmp_path))
    assert [os.path.basename(e.path) for e in run] == ["model_9.pt", "model_10.pt",
                                                       "model_100.pt"]
    assert {e.step_source for e in run} == {"name"}
    tl = build_timeline(str(tmp_path), cache_dir=None)
    assert [s.name for s in tl.tensors] == ["w"]
    # several selected files are a run too
    files = [str(tmp_path / "model_100.pt"), str(tmp_path / "model_9.pt")]
    assert [e.step for e in discover_run(files)] == [9, 100]


def test_epoch_orders_when_names_disagree(tmp_path):
    import torch

    for name, epoch in (("b.pth", 1), ("a.pth", 2), ("c.pth", 3)):
        torch.save({"epoch": epoch, "model": {"w": torch.ones(3) * epoch}}, tmp_path / name)
    assert [os.path.basename(e.path) for e in discover_run(str(tmp_path))] == ["b.pth", "a.pth",
                                                                               "c.pth"]


def test_unorderable_and_mixed_runs_get_one_clear_message(tmp_path):
    import torch

    (tmp_path / "u").mkdir()
    torch.save({"w": torch.ones(2)}, tmp_path / "u" / "first.pt")
    torch.save({"w": torch.ones(2)}, tmp_path / "u" / "second.pt")
    with pytest.raises(RunError, match="cannot order the run: first.pt, second.pt hold no step"):
        discover_run(str(tmp_path / "u"))
    (tmp_path / "m").mkdir()
    torch.save({"w": torch.ones(2)}, tmp_path / "m" / "step_1.pt")
    _hf_checkpoint(tmp_path / "m" / "checkpoint-2", 2)
    with pytest.raises(RunError, match="mixes checkpoint files and Hugging Face checkpoint folders"):
        discover_run(str(tmp_path / "m"))
    with pytest.raises(RunError, match="at least two checkpoints, found 1"):
        discover_run(str(tmp_path / "m" / "step_1.pt"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match="no checkpoint files or checkpoint folders"):
        discover_run(str(tmp_path / "empty"))


def test_lightning_folder_opens_as_a_run(tmp_path):
    def lightning(sd, opt, i, step, loss):
        return {"epoch": i, "global_step": step, "pytorch-lightning_version": "2.4.0",
                "state_dict": {f"model.{k}": v for k, v in sd.items()},
                "optimizer_states": [opt], "lr_schedulers": [], "loops": {}}

    ckpts = tmp_path / "lightning_logs" / "version_0" / "checkpoints"
    paths = planted_run(ckpts, name="epoch={i}-step={step}.ckpt", wrap=lightning)
    import shutil

    shutil.copy(paths[-1], ckpts / "last.ckpt")
    tl = build_timeline(str(tmp_path), cache_dir=None)
    assert tl.steps == list(STEPS) and len(tl.checkpoints) == 6
    doc = timeline_to_json(tl)
    assert finding_keys(doc["findings"]) == PLANTED  # names without Lightning's "model."
    fc2 = tl.series("fc2.weight")
    assert fc2.path == ("state_dict", "model.fc2.weight")
    assert fc2.metric("exp_avg")[1] is not None  # optimizer_states[0] labelled by name


def _hf_checkpoint(folder, step, sd=None):
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    sd = sd or {"w": torch.ones(4) * step}
    save_file({k: v.contiguous() for k, v in sd.items()}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"model_type": "test"}))
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step, "epoch": 0.5}))


def test_hugging_face_checkpoint_folders_open_as_a_run(tmp_path):
    import torch

    for step in (500, 1500, 1000):
        _hf_checkpoint(tmp_path / f"checkpoint-{step}", step,
                       {"lin.weight": torch.full((3, 3), step / 1000.0)})
    run = discover_run(str(tmp_path))
    assert [e.step for e in run] == [500, 1000, 1500] and run[0].kind == "hf"
    assert run[0].step_source == "global_step"
    tl = build_timeline(str(tmp_path), cache_dir=None)
    assert tl.series("lin.weight").metric("l2") == pytest.approx([1.5, 3.0, 4.5])
    assert tl.series("lin.weight").metric("rel_change")[1:] == pytest.approx([1.0, 0.5])


def test_dcp_step_folders_open_as_a_run(tmp_path):
    import torch
    import torch.distributed.checkpoint as dcp

    for step in (1000, 2000):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dcp.save({"layer.weight": torch.full((4, 2), step / 1000.0)},
                     checkpoint_id=str(tmp_path / f"step_{step}"))
    run = discover_run(str(tmp_path))
    assert [e.step for e in run] == [1000, 2000] and {e.kind for e in run} == {"dcp"}
    tl = build_timeline(str(tmp_path), cache_dir=None)
    assert tl.series("layer.weight").metric("l2") == pytest.approx([math.sqrt(8), 2 * math.sqrt(8)])


def test_demo_output_opens_as_a_timeline(tmp_path):
    from inspector.core.demo import make_demo

    make_demo(tmp_path, epochs=2, samples=64)
    tl = build_timeline(str(tmp_path), cache_dir=None)
    assert tl.steps == [1, 2] and tl.checkpoints[0].step_source == "epoch"
    assert "loss" in tl.scalars and tl.modules
    assert all(s.metric("rel_change")[1] > 0 for s in tl.tensors if s.role == "param")


def test_cancel_stops_without_a_result(tmp_path):
    from inspector.core.timeline import TimelineProgress, TimelineResult, iter_timeline

    planted_run(tmp_path / "run")
    seen = []

    def cancel():
        return len(seen) >= 2

    for item in iter_timeline(str(tmp_path / "run"), cache_dir=None, cancel=cancel):
        seen.append(item)
    assert seen and all(isinstance(i, TimelineProgress) for i in seen)
    assert not any(isinstance(i, TimelineResult) for i in seen)


def test_a_tensor_whose_dtype_changes_between_checkpoints(tmp_path):
    import torch

    w = torch.randn(8, 8)
    torch.save({"step": 1, "m": {"w": w, "b": torch.ones(3)}}, tmp_path / "a.pt")
    torch.save({"step": 2, "m": {"w": w.to(torch.bfloat16), "b": torch.ones(3)}},
               tmp_path / "b.pt")
    tl = build_timeline(str(tmp_path), cache_dir=None)
    rel = tl.series("w").metric("rel_change")[1]
    expected = float((w.to(torch.bfloat16).float() - w).norm() / w.norm())
    assert rel == pytest.approx(expected, rel=1e-6)
    assert tl.series("b").changed[1] is False


# ---- Several checkpoints at once in worker processes
def _force_workers(monkeypatch, cores: int, fork: bool = True):
    from inspector.core.stats import parallel

    monkeypatch.setattr(parallel, "usable_cores", lambda: cores)
    monkeypatch.setattr(parallel, "fork_is_safe", lambda: fork)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="worker processes need fork")
def test_worker_processes_give_the_serial_timeline(run_dir, monkeypatch):
    import concurrent.futures

    import inspector.core.timeline.build as build

    _force_workers(monkeypatch, 1)
    serial = timeline_to_json(build_timeline(run_dir, cache_dir=None))
    pools = []
    real = concurrent.futures.ProcessPoolExecutor

    def spy(*a, **kw):
        pools.append(kw.get("max_workers", a[0] if a else None))
        return real(*a, **kw)

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor", spy)
    _force_workers(monkeypatch, 3)
    parallel = timeline_to_json(build_timeline(run_dir, cache_dir=None))
    assert pools == [3]  # the 5 files after the first each read with their predecessor
    assert json.dumps(parallel, sort_keys=True) == json.dumps(serial, sort_keys=True)
    assert finding_keys(parallel["findings"]) == PLANTED
    assert build.MAX_WORKERS >= 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="worker processes need fork")
def test_a_damaged_checkpoint_read_by_a_worker_gives_one_message(tmp_path, monkeypatch):
    import inspector.core.timeline.build as build
    from inspector.core.checkpoint import CheckpointError
    from inspector.core.timeline import RunProblem, TimelineResult, iter_timeline

    planted_run(tmp_path / "run")
    real = build._scan

    def scan(entry, *a):  # inherited by the forked workers
        if entry.path.endswith("epoch_4.pth"):
            raise CheckpointError(entry.path, "damaged zip archive (test)")
        return real(entry, *a)

    monkeypatch.setattr(build, "_scan", scan)
    _force_workers(monkeypatch, 2)
    items = list(iter_timeline(str(tmp_path / "run"), cache_dir=None, cancel=lambda: False))
    problems = [i for i in items if isinstance(i, RunProblem)]
    assert len(problems) == 1 and "epoch_4.pth" in problems[0].message
    assert "damaged zip archive (test)" in problems[0].message
    assert not any(isinstance(i, TimelineResult) for i in items)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="worker processes need fork")
def test_cancel_ends_the_worker_processes(tmp_path, monkeypatch):
    import multiprocessing

    from inspector.core.timeline import TimelineProgress, TimelineResult, iter_timeline

    planted_run(tmp_path / "run")
    _force_workers(monkeypatch, 2)
    seen = []
    items = iter_timeline(str(tmp_path / "run"), cache_dir=None,
                          cancel=lambda: len(seen) >= 3)
    for item in items:
        seen.append(item)
    assert all(isinstance(i, TimelineProgress) for i in seen)
    assert not any(isinstance(i, TimelineResult) for i in seen)
    assert multiprocessing.active_children() == []
