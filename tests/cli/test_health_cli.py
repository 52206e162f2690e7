"""``health``: exit 1 when a problem is found (0 when none, 2 for bad input), JSON shape, runs
and --alpha."""

from __future__ import annotations

import json

import pytest

from inspector.cli import main
from tests.core.test_timeline_helpers import PLANTED, finding_keys, planted_run


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CHECKPOINT_INSPECTOR_CACHE", str(tmp_path / "cache"))


def test_clean_file_exits_0(training_ckpt, capsys):
    assert main(["health", str(training_ckpt)]) == 0
    assert "No problems found." in capsys.readouterr().out


def test_sick_file_exits_1_with_json(tmp_path, capsys):
    paths = planted_run(tmp_path / "run")
    assert main(["health", paths[3], "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert list(doc) == ["path", "format", "tensors", "findings"]
    assert [(f["kind"], f["tensor"]) for f in doc["findings"]] == [
        ("bn_var_zero", ["model_state_dict", "bn.running_var"]),
        ("dead_units", ["model_state_dict", "fc2.weight"]),
        ("nan", ["model_state_dict", "fc3.weight"])]
    assert all(isinstance(f["detail"], str) for f in doc["findings"])


def test_run_folder_reports_steps_and_alpha(tmp_path, capsys):
    planted_run(tmp_path / "run")
    assert main(["health", str(tmp_path / "run"), "--json", "--alpha"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert finding_keys(doc["findings"]) == PLANTED
    alphas = {a["name"]: a for a in doc["alpha"]}
    assert set(alphas) == {"fc1.weight", "fc2.weight", "fc3.weight", "aux.weight"}
    assert alphas["fc3.weight"]["alpha"] is None  # NaN: no spectrum
    assert alphas["fc1.weight"]["alpha"] > 1 and alphas["fc1.weight"]["reading"]


def test_unreadable_input_exits_2(tmp_path, capsys):
    assert main(["health", str(tmp_path / "missing.pth")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    assert main(["health", str(tmp_path / "junk.pth")]) == 2
    assert "junk.pth" in capsys.readouterr().err


def test_alpha_on_an_unavailable_device_says_where_it_ran(tmp_path, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    paths = planted_run(tmp_path / "run")
    assert main(["health", paths[0], "--json", "--alpha", "--device", "cuda"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["alpha_note"] == "cuda is not available: the SVDs ran on cpu"
    assert len(doc["alpha"]) == 4
