"""``checkpoint-inspector convert``: text and JSON reports, exit codes, one-line errors."""

from __future__ import annotations

import json

import pytest

from inspector.cli import main

torch = pytest.importorskip("torch")
from safetensors.torch import load_file  # noqa: E402


def test_convert_text_report(training_ckpt, tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    assert main(["convert", str(training_ckpt), str(out), "--dtype", "bfloat16"]) == 0
    text = capsys.readouterr().out
    assert "weights:  model_state_dict" in text
    assert "left out: optimizer_state_dict" in text
    assert "cast to bfloat16" in text and "verify:   OK" in text
    src = torch.load(training_ckpt, weights_only=True)["model_state_dict"]
    loaded = load_file(out)
    assert torch.equal(loaded["0.weight"], src["0.weight"].bfloat16())


def test_convert_json_sharded_and_pth(training_ckpt, tmp_path, capsys):
    folder = tmp_path / "hf"
    assert main(["convert", str(training_ckpt), str(folder), "--max-shard-size", "1KiB",
                 "--include-optimizer", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] and doc["kind"] == "sharded" and doc["verify"]["ok"]
    assert len(doc["files"]) > 2 and doc["files"][-1].endswith("model.safetensors.index.json")
    assert doc["left_out"] == []
    pth = tmp_path / "w.pth"
    assert main(["convert", str(training_ckpt), str(pth), "--no-verify", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verify"] is None and doc["kind"] == "pth"
    assert set(torch.load(pth, weights_only=True)) == set(
        torch.load(training_ckpt, weights_only=True)["model_state_dict"])


def test_convert_errors_are_one_line(training_ckpt, tmp_path, capsys):
    assert main(["convert", str(training_ckpt), str(training_ckpt), "--to", "pth",
                 "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "being converted" in err
    assert main(["convert", str(tmp_path / "missing.pth"), str(tmp_path / "x.safetensors")]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["convert", str(training_ckpt), str(tmp_path / "x"), "--max-shard-size", "lots"])
    assert e.value.code == 2
    assert "not a size" in capsys.readouterr().err
