"""Conversion to safetensors / sharded safetensors / weights-only .pth from every format we
read, checked with safetensors.torch.load_file and torch.load(weights_only=True) against the
source values (torch.save writes the sources; torch never loads a hostile one)."""

from __future__ import annotations

import json
import os
import pickle
import warnings
from collections import OrderedDict

import pytest

from inspector.core.convert import ConvertError, ConvertOptions, convert, iter_convert
from tests.ckpt_factory import Payload, touch_command

torch = pytest.importorskip("torch")
from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402


def _same(a, b):
    """Equal bit for bit (NaN included), same dtype and shape."""
    return (a.dtype == b.dtype and a.shape == b.shape and torch.equal(
        a.contiguous().reshape(-1).view(torch.uint8), b.contiguous().reshape(-1).view(torch.uint8)))


def _check(loaded: dict, expected: dict):
    assert set(loaded) == set(expected)
    for k, v in expected.items():
        assert _same(loaded[k], v), k


def _mlp(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6),
                               torch.nn.Linear(6, 3))


def _sd(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_training_checkpoint_to_safetensors_picks_state_dict_drops_optimizer(training_ckpt,
                                                                           tmp_path):
    src = torch.load(training_ckpt, weights_only=True)
    out = tmp_path / "model.safetensors"
    report = convert(training_ckpt, out)
    assert report.ok and report.files == (str(out),)
    assert report.weights == "model_state_dict"
    assert dict(report.left_out)["optimizer_state_dict"] > 0
    _check(load_file(out), src["model_state_dict"])
    with safe_open(out, "pt") as f:
        meta = f.metadata()
    assert meta["format"] == "pt" and meta["source"] == "training.pth"
    assert meta["source_format"] == "torch-zip" and meta["weights"] == "model_state_dict"
    assert report.verify.ok and report.verify.checked == len(src["model_state_dict"])
    assert sorted(os.listdir(tmp_path)) == ["model.safetensors", "training.pth"]  # no temp left


def test_include_optimizer_key_and_strip_prefix(training_ckpt, tmp_path):
    src = torch.load(training_ckpt, weights_only=True)
    out = tmp_path / "all.safetensors"
    convert(training_ckpt, out, ConvertOptions(include_optimizer=True))
    loaded = load_file(out)
    assert _same(loaded["optimizer_state_dict.state.0.exp_avg"],
                 src["optimizer_state_dict"]["state"][0]["exp_avg"])
    out2 = tmp_path / "stripped.safetensors"
    report = convert(training_ckpt, out2, ConvertOptions(key="model_state_dict",
                                                        strip_prefixes=("0.",)))
    expected = {k.removeprefix("0."): v for k, v in src["model_state_dict"].items()}
    _check(load_file(out2), expected)
    assert report.stripped == 2


def test_lightning_checkpoint_auto_prefix_and_bfloat16_cast(tmp_path):
    model = _mlp()
    sd = OrderedDict((f"model.{k}", v) for k, v in _sd(model).items())
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(3, 4)).sum().backward()
    opt.step()
    p = tmp_path / "last.ckpt"
    torch.save({"epoch": 1, "state_dict": sd, "optimizer_states": [opt.state_dict()],
                "pytorch-lightning_version": "2.4.0"}, p)
    out = tmp_path / "bf16.safetensors"
    report = convert(p, out, ConvertOptions(strip_prefixes=("auto",), dtype="bfloat16"))
    expected = {k.removeprefix("model."): (v.to(torch.bfloat16) if v.is_floating_point() else v)
                for k, v in sd.items()}
    _check(load_file(out), expected)
    assert report.cast == 8 and report.verify.cast == 8 and report.verify.ok  # not the int
    assert ("optimizer_states", 6) in report.left_out


@pytest.mark.parametrize("target", ["float16", "float32", "bfloat16"])
def test_casts_are_exactly_torchs(tmp_path, target):
    g = torch.Generator().manual_seed(3)
    base = torch.cat([torch.randn(5000, generator=g, dtype=torch.float64) * s
                      for s in (1e-30, 1e-6, 1.0, 1e4, 1e40)])
    specials = torch.tensor([float("inf"), -float("inf"), 0.0, -0.0, 65519.99, 65520.0, 1e-45,
                             3.4e38, 5.96e-8, 2.98e-8], dtype=torch.float64)
    values = torch.cat([base, specials])
    sd = {"f64": values, "f32": values.float(), "f16": values.half(), "bf16": values.bfloat16(),
          "i64": torch.arange(7), "mask": values > 0}
    p = tmp_path / "mixed.pth"
    torch.save(sd, p)
    out = tmp_path / "cast.safetensors"
    convert(p, out, ConvertOptions(dtype=target))
    dt = getattr(torch, target)
    _check(load_file(out), {k: v.to(dt) if v.is_floating_point() else v for k, v in sd.items()})
    nan = tmp_path / "nan.pth"
    torch.save({"x": torch.tensor([float("nan"), 1.0, float("nan")], dtype=torch.float64)}, nan)
    convert(nan, tmp_path / "nan.safetensors", ConvertOptions(dtype=target))
    got = load_file(tmp_path / "nan.safetensors")["x"]
    assert got.dtype == dt and got.isnan().tolist() == [True, False, True]


def test_tied_tensors_written_once_with_aliases_and_views_copied(tmp_path):
    w = torch.randn(5, 3)
    big = torch.arange(40.0)
    sd = {"embed.weight": w, "lm_head.weight": w, "t": w.t(), "slice": big[10:30:2],
          "rest": big.view(8, 5)}
    p = tmp_path / "tied.pth"
    torch.save(sd, p)
    out = tmp_path / "tied.safetensors"
    report = convert(p, out)
    assert dict(report.aliases) == {"lm_head.weight": "embed.weight"}
    loaded = load_file(out)
    assert set(loaded) == {"embed.weight", "t", "slice", "rest"}
    for k in loaded:
        assert _same(loaded[k], sd[k].contiguous()), k
    with safe_open(out, "pt") as f:
        assert f.metadata()["lm_head.weight"] == "embed.weight"  # safetensors' save_model way
    pth = tmp_path / "tied_out.pth"
    convert(p, pth)
    back = torch.load(pth, weights_only=True)
    assert back["lm_head.weight"].data_ptr() == back["embed.weight"].data_ptr()
    for k, v in sd.items():
        assert _same(back[k], v.contiguous()), k


def test_sharded_output_loads_through_the_index(tmp_path):
    g = torch.Generator().manual_seed(1)
    sd = {f"layer.{i}.weight": torch.randn(16, 16, generator=g) for i in range(5)}
    sd["tied"] = sd["layer.0.weight"]
    p = tmp_path / "m.pth"
    torch.save(sd, p)
    folder = tmp_path / "hf"
    report = convert(p, folder, ConvertOptions(max_shard_size=2100))
    assert report.ok and report.kind == "sharded"
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert shards == [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)]
    assert index["metadata"]["total_size"] == 5 * 16 * 16 * 4
    loaded = {}
    for name, shard in index["weight_map"].items():
        loaded[name] = load_file(folder / shard)[name]
    _check(loaded, {k: v for k, v in sd.items() if k != "tied"})
    assert index["metadata"]["aliases"] == {"tied": "layer.0.weight"}
    assert sorted(os.listdir(folder)) == [*shards, "model.safetensors.index.json"]
    # the whole folder reads back as one model in our own reader too
    from inspector.core.formats import open_checkpoint

    with open_checkpoint(folder) as ck:
        assert {p[0] for p, _ in ck.tensors()} == set(sd) - {"tied"}
    # one shard is enough: Hugging Face's single-file name, no index
    one = tmp_path / "one"
    convert(p, one, ConvertOptions(max_shard_size=10**9))
    assert os.listdir(one) == ["model.safetensors"]
    # a folder holding a converted model is refused, or replaced as a whole when allowed
    with pytest.raises(ConvertError, match="already holds a converted model"):
        convert(p, folder, ConvertOptions(max_shard_size=10**9))
    convert(p, folder, ConvertOptions(max_shard_size=10**9, overwrite=True))
    assert os.listdir(folder) == ["model.safetensors"]  # the three old shards and index went


def test_weights_only_pth_output(training_ckpt, tmp_path):
    src = torch.load(training_ckpt, weights_only=True)["model_state_dict"]
    out = tmp_path / "weights.pth"
    report = convert(training_ckpt, out, ConvertOptions(dtype="float16"))
    back = torch.load(out, weights_only=True)
    assert isinstance(back, OrderedDict) and list(back) == list(src)
    _check(back, {k: v.half() if v.is_floating_point() else v for k, v in src.items()})
    assert report.verify.ok
    sd = {"u16": torch.arange(5).to(torch.uint16), "f8": torch.randn(4).to(torch.float8_e4m3fn),
          "scalar": torch.tensor(2.5), "empty": torch.zeros(0, 3)}
    p = tmp_path / "odd.pth"
    torch.save(sd, p)
    convert(p, tmp_path / "odd_out.pth")
    _check(torch.load(tmp_path / "odd_out.pth", weights_only=True), sd)


def test_legacy_and_pickled_whole_model_with_unsafe_globals(tmp_path, marker):
    model = _mlp(2)
    legacy = tmp_path / "legacy.pth"
    torch.save(_sd(model), legacy, _use_new_zipfile_serialization=False)
    convert(legacy, tmp_path / "legacy.safetensors")
    _check(load_file(tmp_path / "legacy.safetensors"), _sd(model))
    whole = tmp_path / "whole.pth"
    torch.save({"model": model, "hook": Payload(os.system, touch_command(marker))}, whole)
    report = convert(whole, tmp_path / "whole.safetensors")
    assert not marker.exists()
    assert "posix.system" in report.unsafe_globals
    assert report.weights.startswith("whole pickled model")
    _check(load_file(tmp_path / "whole.safetensors"), _sd(model))


def test_unsafe_globals_next_to_a_state_dict_convert_and_nothing_runs(tmp_path, marker):
    sd = _sd(_mlp(4))
    p = tmp_path / "evil.pth"
    torch.save({"state_dict": sd, "evil": Payload(os.system, touch_command(marker))}, p)
    for out in (tmp_path / "evil.safetensors", tmp_path / "evil_clean.pth"):
        report = convert(p, out)
        assert report.ok and report.unsafe_globals
    assert not marker.exists()
    _check(load_file(tmp_path / "evil.safetensors"), sd)
    _check(torch.load(tmp_path / "evil_clean.pth", weights_only=True), sd)


def test_torchscript_and_export_archives(tmp_path):
    model = _mlp(5).eval()
    sd = _sd(model)
    ts = tmp_path / "scripted.pt"
    pt2 = tmp_path / "exported.pt2"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated in torch 2.13
        torch.jit.save(torch.jit.script(model), str(ts))
        torch.export.save(torch.export.export(model, (torch.randn(2, 4),)), str(pt2))
    for src in (ts, pt2):
        out = tmp_path / f"{src.stem}.safetensors"
        assert convert(src, out).ok
        _check(load_file(out), sd)


def test_hf_folders_and_dcp(tmp_path):
    from tests.core.test_dcp_assembly import _grid, build_dcp

    a = {"layer.0.weight": torch.randn(2, 2), "layer.0.bias": torch.randn(2)}
    b = {"layer.1.weight": torch.randn(3, 2)}
    hf = tmp_path / "hf"
    hf.mkdir()
    torch.save(a, hf / "pytorch_model-00001-of-00002.bin")
    torch.save(b, hf / "pytorch_model-00002-of-00002.bin")
    wm = {k: "pytorch_model-00001-of-00002.bin" for k in a} | {
        k: "pytorch_model-00002-of-00002.bin" for k in b}
    (hf / "pytorch_model.bin.index.json").write_text(json.dumps({"weight_map": wm}))
    convert(hf, tmp_path / "from_bin.safetensors")
    _check(load_file(tmp_path / "from_bin.safetensors"), {**a, **b})
    save_file(a, tmp_path / "st.safetensors")
    convert(tmp_path / "st.safetensors", tmp_path / "st.pth")
    _check(torch.load(tmp_path / "st.pth", weights_only=True), a)
    # a multi-rank DCP layout: chunks assembled band by band (block size forces many bands)
    g = torch.Generator().manual_seed(0)
    full = torch.randn(40, 12, generator=g)
    half = torch.randn(30, generator=g).half()
    items = {"model.w": (full, [(o, s, "__0_0.distcp") for o, s in _grid((40, 12), [[13], [5]])]),
             "model.h": (half, [(o, s, "__1_0.distcp") for o, s in _grid((30,), [[7, 20]])])}
    folder = build_dcp(tmp_path / "dcp", items, strided={"model.w"})
    out = tmp_path / "dcp.safetensors"
    reports = [i for i in iter_convert(folder, out, block_bytes=4096) if hasattr(i, "ok")]
    assert reports[0].ok and reports[0].verify.checked == 2
    _check(load_file(out), {"model.w": full, "model.h": half})


def test_refusals_never_touch_the_source(tmp_path, state_dict_ckpt):
    before = state_dict_ckpt.read_bytes()
    with pytest.raises(ConvertError, match="being converted"):
        convert(state_dict_ckpt, state_dict_ckpt, ConvertOptions(kind="pth", overwrite=True))
    link = tmp_path / "link.pth"
    link.symlink_to(state_dict_ckpt)
    with pytest.raises(ConvertError, match="being converted"):
        convert(state_dict_ckpt, link, ConvertOptions(overwrite=True))
    hf = tmp_path / "hf"
    hf.mkdir()
    save_file({"w": torch.ones(2)}, hf / "model.safetensors")
    with pytest.raises(ConvertError, match="inside the folder being read"):
        convert(hf, hf / "sub" / "x.safetensors")
    with pytest.raises(ConvertError, match="inside the folder being read"):
        convert(hf, hf / "sub", ConvertOptions(kind="sharded"))
    with pytest.raises(ConvertError, match="being converted"):  # model.safetensors is SRC's
        convert(hf, hf, ConvertOptions(kind="sharded", overwrite=True))
    existing = tmp_path / "exists.safetensors"
    existing.write_bytes(b"keep me")
    with pytest.raises(ConvertError, match="already exists"):
        convert(state_dict_ckpt, existing)
    assert existing.read_bytes() == b"keep me"
    with pytest.raises(ConvertError, match="which format"):
        convert(state_dict_ckpt, tmp_path / "noext")
    with pytest.raises(ConvertError, match="no entry"):
        convert(state_dict_ckpt, tmp_path / "k.safetensors", ConvertOptions(key="nope"))
    assert state_dict_ckpt.read_bytes() == before
    assert convert(state_dict_ckpt, existing, ConvertOptions(overwrite=True)).ok


def test_cancel_and_close_leave_no_temporary_files(tmp_path):
    p = tmp_path / "m.pth"
    torch.save({f"w{i}": torch.randn(64, 64) for i in range(8)}, p)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    calls = []
    gen = iter_convert(p, out_dir / "m.safetensors", block_bytes=4096,
                       cancel=lambda: calls.append(1) or len(calls) > 3)
    assert not any(hasattr(i, "ok") for i in gen)
    assert os.listdir(out_dir) == []
    gen = iter_convert(p, out_dir / "m.pth", block_bytes=4096)
    next(gen), next(gen)
    assert any(n.endswith(".partial") for n in os.listdir(out_dir))
    gen.close()  # what the GUI's worker does when a job is cancelled
    assert os.listdir(out_dir) == []
    gen = iter_convert(p, tmp_path / "newdir", ConvertOptions(max_shard_size=20000),
                       block_bytes=4096)
    next(gen), next(gen)
    gen.close()
    assert not (tmp_path / "newdir").exists()  # the folder it made goes too


def test_verification_catches_a_corrupted_result(tmp_path, monkeypatch):
    from inspector.core.convert import safetensors_out

    sd = {"a": torch.randn(10), "b": torch.randn(3, 3)}
    p = tmp_path / "m.pth"
    torch.save(sd, p)
    real = safetensors_out.cast_block

    def corrupt(block, src, dst):
        out = real(block, src, dst).copy()
        out[0] = 0
        return out

    monkeypatch.setattr(safetensors_out, "cast_block", corrupt)
    report = convert(p, tmp_path / "bad.safetensors", ConvertOptions(dtype="float16"))
    assert not report.ok and report.files == ()
    assert {n for n, _ in report.verify.mismatches} == {"a", "b"}
    assert os.listdir(tmp_path) == ["m.pth"]


def test_unconvertible_tensors_are_skipped_with_a_reason(tmp_path):
    sd = {"w": torch.randn(3), "sparse": torch.eye(3).to_sparse(),
          "q": torch.quantize_per_tensor(torch.randn(4), 0.1, 0, torch.qint8),
          "c32": torch.zeros(2, dtype=torch.complex32)}
    p = tmp_path / "odd.pth"
    torch.save(sd, p)
    report = convert(p, tmp_path / "odd.safetensors")
    reasons = dict(report.skipped)
    assert "sparse" in reasons["sparse"] and "quantized" in reasons["q"]
    assert "complex32" in reasons["c32"]
    _check(load_file(tmp_path / "odd.safetensors"), {"w": sd["w"]})
    with pytest.raises(ConvertError, match="nothing to convert"):
        convert(p, tmp_path / "none.safetensors", ConvertOptions(key="sparse"))


def test_options_and_report_pickle_for_the_worker_process(training_ckpt, tmp_path):
    options = ConvertOptions(dtype="float16", strip_prefixes=("auto",))
    assert pickle.loads(pickle.dumps(options)) == options
    report = convert(training_ckpt, tmp_path / "x.safetensors", options)
    again = pickle.loads(pickle.dumps(report))
    assert again.to_json() == report.to_json()
    json.dumps(report.to_json())


def test_tied_model_loads_with_safetensors_load_model(tmp_path):
    from safetensors.torch import load_model

    class Tied(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(7, 4)
            self.head = torch.nn.Linear(4, 7, bias=False)
            self.head.weight = self.embed.weight

    torch.manual_seed(6)
    model = Tied()
    p = tmp_path / "tied_model.pth"
    torch.save({"model": model.state_dict()}, p)
    out = tmp_path / "tied_model.safetensors"
    report = convert(p, out)
    assert dict(report.aliases) == {"head.weight": "embed.weight"}
    fresh = Tied()
    load_model(fresh, str(out))  # strict: the tie is recognised, nothing missing
    assert torch.equal(fresh.head.weight, model.embed.weight)
    assert fresh.head.weight.data_ptr() == fresh.embed.weight.data_ptr()
