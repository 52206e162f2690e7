"""``info`` and ``scan`` from the command line: text, the JSON contract, exit codes, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.cli import main
from tests.ckpt_factory import Payload

torch = pytest.importorskip("torch")
REPO = Path(__file__).resolve().parents[2]


def run_cli(*args):
    proc = subprocess.run([sys.executable, str(REPO / "main.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    return proc.returncode, proc.stdout, proc.stderr


def test_info_text(training_ckpt, capsys):
    assert main(["info", str(training_ckpt)]) == 0
    out = capsys.readouterr().out
    assert "format:   torch-zip" in out
    assert "model_state_dict" in out and "0.weight  float32 [8, 3, 3, 3]" in out
    assert "epoch: 5" in out
    assert "unsafe globals: none" in out


def test_info_json_contract(training_ckpt, capsys):
    assert main(["info", "--json", str(training_ckpt)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"path", "format", "size_bytes", "num_tensors", "total_numel",
                        "unique_storage_bytes", "tensors", "unsafe_globals", "warnings"}
    assert doc["size_bytes"] == training_ckpt.stat().st_size
    loaded = torch.load(training_ckpt, weights_only=True)
    sd = loaded["model_state_dict"]
    first = doc["tensors"][0]
    assert first == {"path": ["model_state_dict", "0.weight"], "dtype": "float32",
                     "shape": list(sd["0.weight"].shape), "numel": sd["0.weight"].numel(),
                     "nbytes": sd["0.weight"].numel() * 4}
    adam = [t for t in doc["tensors"] if t["path"][:2] == ["optimizer_state_dict", "state"]]
    assert adam and all(isinstance(t["path"][2], int) for t in adam)
    assert doc["num_tensors"] == len(doc["tensors"])


def test_info_json_shows_unsafe_globals(tmp_path, marker, capsys):
    p = tmp_path / "evil.pth"
    torch.save({"w": torch.ones(1), "x": Payload(os.system, f"touch {marker}")}, p)
    assert main(["info", "--json", str(p)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["unsafe_globals"] == ["posix.system"]
    assert not marker.exists()


def test_scan_exit_codes_and_json(tmp_path, training_ckpt, marker, capsys):
    assert main(["scan", str(training_ckpt)]) == 0
    assert "CLEAN" in capsys.readouterr().out
    p = tmp_path / "evil.pth"
    torch.save({"x": Payload(os.system, f"touch {marker}")}, p)
    assert main(["scan", "--json", str(p)]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "unsafe" and doc["unsafe_globals"] == ["posix.system"]
    assert {"path", "format", "verdict", "globals", "unsafe_globals"} <= set(doc)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint at all")
    assert main(["scan", "--json", str(bad)]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["verdict"] == "unreadable"
    assert captured.err.startswith("error: ")
    assert not marker.exists()


@pytest.mark.parametrize("content,message", [
    (b"", "file is empty"),
    (b"\x00garbage" * 50, "unrecognized format"),
])
def test_errors_are_one_line_exit_2_no_traceback(tmp_path, content, message):
    p = tmp_path / "bad.pth"
    p.write_bytes(content)
    code, out, err = run_cli("info", p)
    assert code == 2
    assert err.strip().splitlines() == [f"error: {p}: {message}" if message == "file is empty"
                                        else err.strip()]
    assert err.startswith("error: ") and str(p) in err and message in err
    assert "Traceback" not in err and out == ""


def test_missing_file_cli(tmp_path):
    code, _, err = run_cli("info", "--json", tmp_path / "nope.pth")
    assert code == 2 and err.startswith("error: ") and "no such file" in err


def test_info_does_not_import_torch(training_ckpt):
    code = (f"import sys; from inspector.cli import main; main(['info', '--json', {str(training_ckpt)!r}]); "
            "sys.stderr.write('torch' in sys.modules and 'TORCH' or 'NOTORCH')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stderr.strip().endswith("NOTORCH")
