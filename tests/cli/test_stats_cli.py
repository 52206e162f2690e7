"""The ``stats`` subcommand: JSON shape, --filter, --bins, text table, bad input."""

from __future__ import annotations

import json

import pytest

from inspector.cli import main


def test_json_shape_filter_and_bins(training_ckpt, capsys):
    rc = main(["stats", str(training_ckpt), "--json", "--bins", "5",
               "--filter", r"^model_state_dict\.0\.(weight|bias)$"])
    out = capsys.readouterr().out
    assert rc == 0
    doc = json.loads(out)
    assert doc["path"] == str(training_ckpt)
    # state_dict keys are single strings ("0.weight"); joined with the parent by "."
    assert [t["path"] for t in doc["tensors"]] == [["model_state_dict", "0.weight"],
                                                   ["model_state_dict", "0.bias"]]
    t = doc["tensors"][0]
    assert list(t) == ["path", "dtype", "shape", "numel", "min", "max", "mean", "std",
                       "abs_mean", "l2", "zeros", "nan", "inf", "histogram"]
    assert t["dtype"] == "float32" and t["shape"] == [8, 3, 3, 3] and t["numel"] == 216
    assert len(t["histogram"]["edges"]) == 6 and sum(t["histogram"]["counts"]) == 216


def test_filter_sees_integer_keys_joined_with_dots(training_ckpt, capsys):
    assert main(["stats", str(training_ckpt), "--json", "--bins", "0",
                 "--filter", r"optimizer_state_dict\.state\.0\.exp_avg$"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [t["path"] for t in doc["tensors"]] == [["optimizer_state_dict", "state", 0, "exp_avg"]]
    assert doc["tensors"][0]["histogram"] is None


def test_text_table(state_dict_ckpt, capsys):
    assert main(["stats", str(state_dict_ckpt)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "dtype", "shape", "mean", "std", "min", "max", "zeros%",
                                "nan", "inf"]
    assert [ln.split()[0] for ln in lines[1:]] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert "float32" in lines[1] and "[8, 4]" in lines[1]


def test_no_match(state_dict_ckpt, capsys):
    assert main(["stats", str(state_dict_ckpt), "--filter", "nothing-like-this"]) == 0
    assert "no tensor matches" in capsys.readouterr().out


def test_meta_tensor_is_reported_not_fatal(tmp_path, capsys):
    import torch

    path = tmp_path / "meta.pth"
    torch.save({"m": torch.empty(2, device="meta"), "w": torch.ones(3)}, path)
    assert main(["stats", str(path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["tensors"][0]["path"] == ["m"] and "no data" in doc["tensors"][0]["error"]
    assert doc["tensors"][1]["mean"] == 1.0


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_bad_file_exits_2_with_one_error_line(tmp_path, capsys, content):
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    assert main(["stats", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"error: {path}:")
    assert "Traceback" not in captured.err and captured.out == ""


def test_missing_file(tmp_path, capsys):
    assert main(["stats", str(tmp_path / "nope.pth"), "--json"]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize("args", [["--bins", "-1"], ["--bins", "x"], ["--filter", "("]])
def test_bad_arguments(state_dict_ckpt, capsys, args):
    with pytest.raises(SystemExit) as e:
        main(["stats", str(state_dict_ckpt), *args])
    assert e.value.code == 2
    assert "error:" in capsys.readouterr().err
