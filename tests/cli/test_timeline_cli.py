"""``timeline``: the JSON document, --filter, --csv, text, and one clear message for a bad run."""

from __future__ import annotations

import csv
import io
import json

import pytest

from inspector.cli import main
from tests.core.test_timeline_helpers import PLANTED, STEPS, finding_keys, planted_run


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CHECKPOINT_INSPECTOR_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def run_dir(tmp_path):
    planted_run(tmp_path / "run")
    return tmp_path / "run"


def test_json_document(run_dir, capsys):
    assert main(["timeline", str(run_dir), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc) == ["checkpoints", "scalars", "tensors", "modules", "findings", "errors"]
    assert [c["step"] for c in doc["checkpoints"]] == list(STEPS)
    assert set(doc["checkpoints"][0]) >= {"path", "step"}
    t = doc["tensors"][0]
    assert {"path", "l2", "mean", "std", "max_abs", "rel_change", "update_ratio"} <= set(t)
    assert all(len(t[m]) == 6 for m in ("l2", "rel_change", "update_ratio"))
    assert finding_keys(doc["findings"]) == PLANTED
    assert {"kind", "tensor", "step", "detail"} <= set(doc["findings"][0])
    assert (run_dir.parent / "cache" / "timeline").is_dir()


def test_filter_and_csv(run_dir, capsys):
    assert main(["timeline", str(run_dir), "--json", "--filter", r"^fc1\."]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in doc["tensors"]] == ["fc1.weight", "fc1.bias"]
    assert main(["timeline", str(run_dir), "--csv", "--filter", "conv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["kind"], r["name"], r["step"]) for r in rows[:2]] == [
        ("tensor", "conv.weight", "100"), ("tensor", "conv.weight", "200")]
    assert len(rows) == 3 * 6  # conv.weight, conv.bias, module conv
    assert float(rows[4]["rel_change"]) > 50  # ×100 at step 500


def test_selected_files_and_text(run_dir, capsys):
    files = [str(run_dir / f"epoch_{i}.pth") for i in (3, 1, 2)]
    assert main(["timeline", *files]) == 0
    out = capsys.readouterr().out
    assert out.startswith("3 checkpoints, ordered by global step: 100, 200, 300")
    assert "dead_units     fc2.weight" in out and "Findings (2)" in out


def test_bad_runs_exit_2_with_one_line(tmp_path, capsys):
    import torch

    torch.save({"w": torch.ones(2)}, tmp_path / "a.pt")
    torch.save({"w": torch.ones(2)}, tmp_path / "b.pt")
    assert main(["timeline", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot order the run: a.pt, b.pt") and err.count("\n") == 1
    assert main(["timeline", str(tmp_path), "--filter", "("]) == 2
    assert "not a valid regular expression" in capsys.readouterr().err


def test_scheduler_reads_the_run_on_a_dask_cluster(run_dir, capsys):
    distributed = pytest.importorskip("distributed")
    assert main(["timeline", str(run_dir), "--json", "--no-cache"]) == 0
    local = json.loads(capsys.readouterr().out)
    # workers in this process (inproc://): the pieces and their results still go through
    # Dask's scheduler
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None, silence_logs=50) as cluster:
        assert main(["timeline", str(run_dir), "--json", "--no-cache",
                     "--scheduler", cluster.scheduler_address]) == 0
    assert json.loads(capsys.readouterr().out) == local


def test_exploding_factor(run_dir, capsys):
    assert main(["timeline", str(run_dir), "--json", "--exploding-factor", "200"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert ("exploding", "conv.weight") not in finding_keys(doc["findings"])  # ×101 < 200
    assert main(["timeline", str(run_dir), "--exploding-factor", "1"]) == 2
    assert "must be greater than 1" in capsys.readouterr().err
