"""``run``, ``devices`` and ``demo`` on the command line: JSON shape, text, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from inspector.cli import main
from tests.hostile_round2 import CLASS_1, PEAK_RSS_LIMIT, run_cli, two_central_directories
from tests.inference_corpus import HUGE, OVER_CAP, write_meta_mlp, write_stride0_mlp

ROOT = Path(__file__).resolve().parents[2]

RUN_KEYS = {"device", "dtype", "architecture", "load", "mode_sensitive_layers", "input_shape",
            "output_shape", "train", "eval", "eval_vs_train_mean", "bn_running_stats_drift",
            "weights_unchanged"}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    from inspector.core.demo import make_demo

    out = tmp_path_factory.mktemp("demo")
    make_demo(out, epochs=2, samples=64)
    return out


def test_run_json_document(demo_dir, capsys):
    assert main(["run", str(demo_dir / "demo_epoch_2.pth"), "--runs", "3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == RUN_KEYS
    assert set(doc["load"]) == {"missing_keys", "unexpected_keys", "shape_mismatches",
                                "fixes_applied"}
    for mode in ("train", "eval"):
        assert set(doc[mode]) == {"runs", "spread", "max_run_diff", "ms_per_run"}
        assert doc[mode]["runs"] == 3
    assert doc["eval"]["spread"] == 0.0 and doc["train"]["spread"] > 0
    assert doc["weights_unchanged"] is True
    assert doc["device"] == "cpu" and doc["dtype"] == "float32"
    assert doc["input_shape"] == [4, 3, 32, 32] and doc["output_shape"] == [4, 10]
    assert [m["type"] for m in doc["mode_sensitive_layers"]] == [
        "BatchNorm2d", "BatchNorm2d", "Dropout"]


def test_run_text_report_explains_eval(demo_dir, capsys):
    code = main(["run", str(demo_dir / "demo_epoch_1.pth"), "--runs", "2", "--batch", "2",
                 "--seed", "5", "--input-shape", "3x16x16", "--arch-kwargs",
                 '{"image_size": 16}', "--allow-random-init"])
    out = capsys.readouterr().out
    assert code == 0
    assert "Ran anyway with random weights: 1 weight (classifier.2.weight)" in out
    assert "What model.eval() changed" in out
    assert "Dropout" in out and "running statistics" in out
    assert "Input [2, 3, 16, 16] from the shape you gave" in out
    assert "classifier.2.weight: file [10, 256], model [10, 64]" in out


def test_run_whole_model_needs_trust(tmp_path, capsys):
    path = tmp_path / "whole.pth"
    torch.save(nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5)), path)
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: ")
    assert "--trust" in err and "torch.nn.modules.container.Sequential" in err
    assert "Traceback" not in err
    assert main(["run", str(path), "--trust", "--runs", "2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["train"]["spread"] > 0 and doc["eval"]["spread"] == 0


def test_run_bad_user_code_shows_its_traceback(tmp_path, state_dict_ckpt, capsys):
    model_py = tmp_path / "model.py"
    model_py.write_text("from torch import nn\nclass Net(nn.Module)\n    pass\n")
    assert main(["run", str(state_dict_ckpt), "--arch", f"{model_py}:Net"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0].startswith(f"error: {state_dict_ckpt}: ")
    assert "syntax error at line 2" in err
    assert "traceback from the model code:" in err and "SyntaxError" in err


@pytest.mark.parametrize("argv, message", [
    (["--arch-kwargs", "{oops"], "not valid JSON"),
    (["--input-shape", "3", "abc"], "--input-shape"),
    (["--device", "cuda:9"], "cannot be used"),
    (["--arch", "nonexistent_pkg_q:Net"], "no module named"),
])
def test_run_user_errors_exit_2(state_dict_ckpt, capsys, argv, message):
    assert main(["run", str(state_dict_ckpt), "--runs", "2", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err


def test_run_missing_file(tmp_path, capsys):
    missing = tmp_path / "nope.pth"
    assert main(["run", str(missing)]) == 2
    assert capsys.readouterr().err == f"error: {missing}: no such file or folder\n"


def test_run_rejects_zero_runs(state_dict_ckpt, capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", str(state_dict_ckpt), "--runs", "0"])
    assert info.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_devices(capsys):
    assert main(["devices", "--json"]) == 0
    devices = json.loads(capsys.readouterr().out)
    assert devices[0]["name"] == "cpu"
    assert {"name", "description", "memory_bytes"} <= set(devices[0])
    assert main(["devices"]) == 0
    assert capsys.readouterr().out.startswith("cpu")


def test_demo_command(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", str(out), "--epochs", "1", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [d["epoch"] for d in doc] == [1]
    assert (out / "demo_epoch_1.pth").is_file()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["demo", str(blocker)]) == 2
    assert "not a folder" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_run_on_cuda(demo_dir, capsys):
    assert main(["run", str(demo_dir / "demo_epoch_2.pth"), "--device", "cuda", "--runs", "3",
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["device"] == "cuda:0" and doc["eval"]["spread"] == 0


# ---- Bounded by the file, not by what it claims (issue 18, class 4)
CHILD = """
import resource, sys
from inspector.cli import main
code = main(sys.argv[2:])
sys.stderr.flush()
with open(sys.argv[1], "w") as fh:
    fh.write(str(int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) // 1024))
sys.exit(code)
"""


@pytest.mark.parametrize("write", [write_stride0_mlp, write_meta_mlp])
@pytest.mark.parametrize("shape", [HUGE, OVER_CAP])
def test_run_refuses_what_a_file_only_claims_in_a_child_process(tmp_path, write, shape):
    path = write(tmp_path / "claims.pth", shape)
    rss = tmp_path / "rss"
    proc = subprocess.run([sys.executable, "-c", CHILD, str(rss), "run", str(path), "--runs", "2"],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: {path}: the plain-mlp model these weights describe "
                               f"would take ")
    assert lines[0].endswith("in memory, more than the 4.0 GiB a run may use")
    assert int(rss.read_text()) < 1024  # MiB: torch itself, nothing of the claimed size


# ---- --trust never runs what we did not show (issue 18, class 1)
@pytest.mark.parametrize("case", CLASS_1, ids=lambda c: c.name)
def test_run_trust_refuses_ambiguous_archives_in_a_child_process(case, tmp_path, marker):
    path = case.build(tmp_path, marker)
    run = run_cli(tmp_path, "run", str(path), "--trust", "--runs", "2")
    assert run.code == 2, (run.stdout, run.stderr)
    assert run.stderr.startswith(f"error: {path}: ") and len(run.stderr.splitlines()) == 1
    assert "Traceback" not in run.stderr
    assert 0 < run.peak_rss < PEAK_RSS_LIMIT
    assert not marker.exists()


def test_trusted_load_hands_torch_the_validated_records(tmp_path, marker, monkeypatch):
    """Even when our reader is bypassed, the trusted loader gives torch the validated bytes:
    an archive torch would read differently is refused, its payload never runs."""
    from inspector.core.checkpoint import CheckpointError
    from inspector.core.inference import trust

    path = two_central_directories(tmp_path, marker)
    monkeypatch.setattr(trust, "architecture_globals", lambda p: ("whole-model", []))
    with pytest.raises(CheckpointError, match="ambiguous"):
        trust.load_trusted_model(path, trusted=True)
    assert not marker.exists()
