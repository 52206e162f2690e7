"""The Python API (inspector.open/diff/convert/scan): the stable surface, values read on
demand, the same core objects the CLI uses, and an escaped HTML table for Jupyter."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import inspector
from tests.ckpt_factory import Payload, touch_command

torch = pytest.importorskip("torch")


def test_import_is_light_and_all_is_the_surface():
    code = ("import sys, inspector; assert inspector.__version__; "
            "heavy = [m for m in ('torch', 'numpy', 'PySide6', 'inspector.api') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    for name in inspector.__all__:
        assert getattr(inspector, name) is not None, name
    assert {"open", "diff", "convert", "scan", "CheckpointFile"} <= set(inspector.__all__)
    with pytest.raises(AttributeError):
        inspector.no_such_thing  # noqa: B018
    assert "open" in dir(inspector)


def test_open_summary_tree_listing_and_values(training_ckpt):
    src = torch.load(training_ckpt, weights_only=True)
    with inspector.open(training_ckpt) as ck:
        assert isinstance(ck, inspector.CheckpointFile)
        assert ck.format == "torch-zip" and ck.unsafe_globals == []
        summary = ck.summary()
        assert summary.weights_label == "model_state_dict"
        assert summary.num_parameters == sum(
            v.numel() for k, v in src["model_state_dict"].items()
            if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
        assert [c.key for c in ck.tree.children] == list(src)
        names = ck.keys()
        assert "model_state_dict.0.weight" in names and "optimizer_state_dict.state.0.exp_avg" in names
        entry = next(t for t in ck.tensors() if t.name == "model_state_dict.5.weight")
        assert entry.shape == (10, 128) and entry.dtype == "float32" and entry.path == (
            "model_state_dict", "5.weight")
        w = ck.tensor("model_state_dict.5.weight")  # "5.weight" is one key with a dot
        assert w.dtype.name == "float32" and (w == src["model_state_dict"]["5.weight"].numpy()).all()
        t = ck.tensor(("optimizer_state_dict", "state", 0, "exp_avg"), as_="torch")
        assert torch.equal(t, src["optimizer_state_dict"]["state"][0]["exp_avg"])
        assert ck.tensor("optimizer_state_dict.state.0.step").shape == ()
        assert ck.weights().label == "model_state_dict"
        items = ck.stats(["model_state_dict.5.weight"])
        assert len(items) == 1 and items[0].stats.numel == 1280
        assert items[0].stats.max == pytest.approx(float(src["model_state_dict"]["5.weight"].max()))
        with pytest.raises(KeyError):
            ck.tensor("model_state_dict.nope")
        with pytest.raises(KeyError, match="not a tensor"):
            ck.tensor("epoch")
        assert "training.pth" in repr(ck)


def test_bfloat16_values_come_as_float32_numpy(tmp_path):
    x = torch.randn(3, 4).bfloat16()
    p = tmp_path / "bf.pth"
    torch.save({"x": x, "t": x.t(), "f8": x.float().to(torch.float8_e5m2)}, p)
    with inspector.open(p) as ck:
        got = ck.tensor("x")
        assert got.dtype.name == "float32" and (got == x.float().numpy()).all()
        assert (ck.tensor("t") == x.t().float().numpy()).all()
        assert (ck.tensor("f8") == x.float().to(torch.float8_e5m2).float().numpy()).all()
        assert ck.tensor("x", as_="torch").dtype == torch.bfloat16


def test_diff_convert_scan(tmp_path, state_dict_ckpt, marker):
    report = inspector.convert(state_dict_ckpt, tmp_path / "m.safetensors", dtype="float16",
                               strip_prefix="0.")
    assert report.ok and report.cast == 4 and report.stripped == 2
    d = inspector.diff(state_dict_ckpt, state_dict_ckpt)
    assert d.summary.changed == 0 and d.summary.identical == 4
    evil = tmp_path / "evil.pth"
    torch.save({"w": torch.ones(2), "x": Payload(os.system, touch_command(marker))}, evil)
    result = inspector.scan(evil)
    assert result.verdict == "unsafe" and "posix.system" in result.unsafe_globals
    with inspector.open(evil) as ck:
        assert ck.unsafe_globals == ["posix.system"]
    sharded = inspector.convert(evil, tmp_path / "shards", max_shard_size="1KB")
    assert sharded.ok and not marker.exists()
    with pytest.raises(inspector.CheckpointError):
        inspector.open(tmp_path / "missing.pth")


def test_repr_html_escapes_text_from_the_file(tmp_path):
    evil_key = "<script>alert(1)</script>"
    p = tmp_path / "<b>x&amp;.pth"
    torch.save({evil_key: torch.ones(2), **{f"k{i}": torch.zeros(1) for i in range(30)}}, p)
    with inspector.open(p) as ck:
        html = ck._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>x" not in html and "&lt;b&gt;x&amp;amp;.pth" in html
    assert "… 11 more" in html
