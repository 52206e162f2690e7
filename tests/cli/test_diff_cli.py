"""``checkpoint-inspector diff``: text, JSON, exit codes, errors."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from inspector.cli import main

ENTRY_KEYS = {"path", "status", "dtype_a", "dtype_b", "shape_a", "shape_b", "max_abs_diff",
              "mean_abs_diff", "rel_l2", "cosine", "num_diff", "nan_a", "nan_b"}


@pytest.fixture
def pair(tmp_path):
    """A training checkpoint (DDP keys) and a changed bare state_dict."""
    g = torch.Generator().manual_seed(0)
    sd = {"fc.weight": torch.randn(3, 4, generator=g), "fc.bias": torch.randn(3, generator=g),
          "emb": torch.randn(5, 2, generator=g)}
    a = tmp_path / "a.pth"
    torch.save({"epoch": 4, "loss": 0.5,
                "model_state_dict": {"module." + k: v for k, v in sd.items()}}, a)
    sd_b = {k: v.clone() for k, v in sd.items()}
    sd_b["fc.weight"][0, 0] += 1e-3
    sd_b["emb"] = sd_b["emb"].to(torch.bfloat16)
    sd_b["extra"] = torch.zeros(2)
    b = tmp_path / "b.safetensors"
    save_file(sd_b, b)
    return a, b


def _run(capsys, *argv):
    code = main(["diff", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


def test_text_output(capsys, pair):
    code, out, err = _run(capsys, *pair)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("A: ") and lines[1].startswith("B: ")
    assert "'module.' prefix removed from A's keys" in out
    assert "model_state_dict" in out
    assert "tensors: 4  (1 identical, 1 changed, 1 added, 1 dtype changed)" in out
    assert "result: DIFFERENT" in out
    table = out[out.index("status"):]
    # largest change first: the added tensor, then the bf16 cast... the tiny edit last
    order = [line.split()[0] for line in table.splitlines()[1:4]]
    assert order[0] == "added"
    assert table.index("fc.weight") > table.index("emb")
    assert "scalar differences:" in out and "epoch: removed (was 4)" in out


def test_json_shape(capsys, pair):
    code, out, _ = _run(capsys, *pair, "--json")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {"a", "b", "aligned_by", "summary", "entries", "scalars"}
    assert doc["a"] == str(pair[0]) and doc["b"] == str(pair[1])
    assert doc["summary"] == {"identical": 1, "changed": 1, "added": 1, "removed": 0,
                              "shape_changed": 0, "dtype_changed": 1}
    for entry in doc["entries"]:
        assert ENTRY_KEYS <= set(entry) <= ENTRY_KEYS | {"path_a", "close", "note"}
    changed = next(e for e in doc["entries"] if e["status"] == "changed")
    assert changed["path"] == ["fc.weight"]
    assert changed["path_a"] == ["model_state_dict", "module.fc.weight"]
    assert changed["num_diff"] == 1 and changed["max_abs_diff"] == pytest.approx(1e-3, rel=1e-3)
    assert "close" not in changed
    added = next(e for e in doc["entries"] if e["status"] == "added")
    assert added["path"] == ["extra"] and "path_a" not in added
    assert added["max_abs_diff"] is None and added["dtype_a"] is None
    dtype = next(e for e in doc["entries"] if e["status"] == "dtype_changed")
    assert (dtype["dtype_a"], dtype["dtype_b"]) == ("float32", "bfloat16")
    assert dtype["rel_l2"] > 0
    assert {s["path"][0] for s in doc["scalars"]} == {"epoch", "loss"}


def test_exit_code(capsys, pair, tmp_path):
    assert _run(capsys, *pair, "--exit-code")[0] == 1
    same = tmp_path / "same.pth"
    torch.save({"w": torch.ones(3)}, same)
    assert _run(capsys, same, same)[0] == 0
    assert _run(capsys, same, same, "--exit-code")[0] == 0


def test_tolerance_flags(capsys, tmp_path):
    a, b = tmp_path / "a.pth", tmp_path / "b.pth"
    torch.save({"w": torch.ones(4)}, a)
    torch.save({"w": torch.ones(4) + 1e-6}, b)
    code, out, _ = _run(capsys, a, b, "--exit-code")
    assert code == 1
    code, out, _ = _run(capsys, a, b, "--exit-code", "--atol", "1e-4", "--rtol", "0")
    assert code == 0
    assert "within tolerance (atol=0.0001, rtol=0): 1 of 1 changed tensor" in out
    assert "same within tolerance" in out
    code, out, _ = _run(capsys, a, b, "--json", "--atol", "1e-9", "--rtol", "0", "--exit-code")
    assert code == 1
    assert json.loads(out)["entries"][0]["close"] is False


def test_strip_prefix_flag(capsys, tmp_path):
    a, b = tmp_path / "a.pth", tmp_path / "b.pth"
    torch.save({"encoder.w": torch.ones(2), "encoder.v": torch.zeros(2)}, a)
    torch.save({"w": torch.ones(2), "v": torch.zeros(2)}, b)
    code, out, _ = _run(capsys, a, b, "--json")
    assert json.loads(out)["summary"]["added"] == 2
    code, out, _ = _run(capsys, a, b, "--json", "--strip-prefix", "encoder.", "--exit-code")
    doc = json.loads(out)
    assert code == 0 and doc["summary"]["identical"] == 2
    assert "encoder." in doc["aligned_by"]
    _, text, _ = _run(capsys, a, b)
    assert "hint: no tensor path matches; --strip-prefix P removes a prefix" in text
    _, text, _ = _run(capsys, a, b, "--strip-prefix", "encoder.")
    assert "aligned by: prefix 'encoder.' removed from both sides' keys, as asked" in text
    assert "hint:" not in text


@pytest.mark.parametrize("content", [b"garbage, not a checkpoint", b""])
def test_bad_file_is_one_error_line(capsys, tmp_path, content):
    good = tmp_path / "good.pth"
    torch.save({"w": torch.ones(2)}, good)
    bad = tmp_path / "bad.pth"
    bad.write_bytes(content)
    code, out, err = _run(capsys, good, bad)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(bad) in lines[0]
    assert "Traceback" not in err


def test_missing_file(capsys, tmp_path):
    good = tmp_path / "good.pth"
    torch.save({"w": torch.ones(2)}, good)
    code, out, err = _run(capsys, tmp_path / "nope.pth", good, "--json")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and "nope.pth" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize("flag", [["--atol", "-1"], ["--rtol", "nan"], ["--limit", "-3"],
                                  ["--threads", "0"]])
def test_bad_option_values(capsys, tmp_path, flag):
    good = tmp_path / "good.pth"
    torch.save({"w": torch.ones(2)}, good)
    code, out, err = _run(capsys, good, good, *flag)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")


def test_limit_truncates_table(capsys, tmp_path):
    a, b = tmp_path / "a.pth", tmp_path / "b.pth"
    torch.save({f"w{i}": torch.ones(2) for i in range(5)}, a)
    torch.save({f"w{i}": torch.ones(2) * 2 for i in range(5)}, b)
    code, out, _ = _run(capsys, a, b, "--limit", "2")
    assert "… 3 more" in out
    assert out.count("changed  w") == 2
