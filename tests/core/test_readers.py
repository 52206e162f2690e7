"""The core reader on real checkpoints: every format, container and dtype of issue #2."""

from __future__ import annotations

import json
import math
from collections import OrderedDict

import pytest

from inspector.cli.info import info_json
from inspector.core.checkpoint import CheckpointError
from inspector.core.formats import open_checkpoint
from tests.ckpt_factory import rewrite_zip, saved_on

torch = pytest.importorskip("torch")

ALL_DTYPES = [
    "float64", "float32", "float16", "bfloat16", "complex128", "complex64", "int64", "int32",
    "int16", "int8", "uint8", "uint16", "uint32", "uint64", "bool", "float8_e4m3fn",
    "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu",
]


def torch_tensors(obj, path=(), seen=None):
    """(path, dtype, shape) of every tensor torch finds, containers expanded once."""
    seen = set() if seen is None else seen
    out = []
    if isinstance(obj, torch.Tensor):
        return [(path, str(obj.dtype).replace("torch.", ""), list(obj.shape))]
    if isinstance(obj, (dict, list, tuple)):
        if id(obj) in seen:
            return out
        seen.add(id(obj))
        items = obj.items() if isinstance(obj, dict) else enumerate(obj)
        for k, v in items:
            out += torch_tensors(v, (*path, k), seen)
    return out


def raw_bytes(t):
    return t.contiguous().reshape(-1).view(torch.uint8)


def ours(path):
    with open_checkpoint(path) as ck:
        doc = info_json(ck)
    return [(tuple(t["path"]), t["dtype"], t["shape"]) for t in doc["tensors"]], doc


def assert_same_as_torch(path):
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    mine, doc = ours(path)
    assert mine == torch_tensors(loaded)
    return doc, loaded


def test_training_checkpoint_tree_and_paths(training_ckpt):
    doc, loaded = assert_same_as_torch(training_ckpt)
    assert doc["format"] == "torch-zip"
    paths = [t["path"] for t in doc["tensors"]]
    assert ["model_state_dict", "0.weight"] in paths
    assert ["optimizer_state_dict", "state", 0, "exp_avg"] in paths  # int keys stay ints
    assert doc["unsafe_globals"] == []
    with open_checkpoint(training_ckpt) as ck:
        assert ck.find(["epoch"]).value == 5
        assert ck.find(["loss"]).value == pytest.approx(loaded["loss"])
        lr = ck.find(["optimizer_state_dict", "param_groups", 0, "lr"]).value
        assert lr == loaded["optimizer_state_dict"]["param_groups"][0]["lr"]


def test_totals_count_shared_storage_once(tmp_path):
    emb = torch.nn.Parameter(torch.randn(10, 4))
    sd = OrderedDict(wte=emb, lm_head=emb, other=torch.zeros(3))
    p = tmp_path / "tied.pth"
    torch.save(sd, p)
    doc, _ = assert_same_as_torch(p)
    assert doc["num_tensors"] == 3
    assert doc["total_numel"] == 10 * 4 * 2 + 3
    assert doc["unique_storage_bytes"] == 10 * 4 * 4 + 3 * 4
    by_path = {tuple(t["path"]): t for t in doc["tensors"]}
    assert by_path[("wte",)]["shared_with"] == [["lm_head"]]
    assert by_path[("lm_head",)]["shared_with"] == [["wte"]]
    assert "shared_with" not in by_path[("other",)]


@pytest.mark.parametrize("dtype", ALL_DTYPES)
def test_every_dtype_matches_torch_and_values_read_back(tmp_path, dtype):
    dt = getattr(torch, dtype)
    base = torch.arange(-6, 18, dtype=torch.float32).reshape(4, 6)
    if dtype == "bool":
        t = base > 3
    elif dtype.startswith("uint") or dtype == "uint8":
        t = base.abs().to(dt)
    else:
        t = base.to(dt)
    p = tmp_path / f"{dtype}.pth"
    torch.save({"t": t, "zero_dim": t[0, 0].clone(), "empty": t[:0].clone()}, p)
    assert_same_as_torch(p)
    with open_checkpoint(p) as ck:
        for path, info in ck.tensors():
            got = ck.tensor(info)
            want = torch.load(p, weights_only=True)[path[0]]
            assert got.dtype == want.dtype and got.shape == want.shape
            assert torch.equal(raw_bytes(got), raw_bytes(want))


def test_complex32_and_subbyte_listed(tmp_path):
    p = tmp_path / "c32.pth"
    torch.save({"c": torch.zeros(3, dtype=torch.complex32)}, p)
    assert_same_as_torch(p)


def test_views_offsets_strides_and_sharing(tmp_path):
    base = torch.arange(100, dtype=torch.float32).reshape(10, 10)
    sd = {"base": base, "row": base[3], "col": base[:, 2], "t": base.T, "slice": base[2:5, 4:9],
          "step": base[::3, ::2]}
    p = tmp_path / "views.pth"
    torch.save(sd, p)
    assert_same_as_torch(p)
    with open_checkpoint(p) as ck:
        assert len(ck.shared_groups()) == 1
        for path, info in ck.tensors():
            assert torch.equal(ck.tensor(info), sd[path[0]])
        assert ck.totals()["unique_storage_bytes"] == 400


def test_nested_containers_int_keys_parameters(tmp_path):
    obj = {"a": [torch.ones(2), (torch.zeros(1), {"deep": torch.ones(3, 3)})],
           3: {"x": torch.nn.Parameter(torch.ones(2))}, "none": None, "s": "text",
           "nums": [1, 2.5, True], "od": OrderedDict(k=torch.ones(1)), "set": {1, 2},
           "bytes": b"\x00\x01", "size": torch.Size([2, 3]), "dt": torch.float16}
    p = tmp_path / "nested.pth"
    torch.save(obj, p)
    doc, _ = assert_same_as_torch(p)
    paths = [t["path"] for t in doc["tensors"]]
    assert ["a", 1, 1, "deep"] in paths and [3, "x"] in paths
    with open_checkpoint(p) as ck:
        assert ck.find([3, "x"]).tensor.is_parameter
        assert ck.find(["s"]).value == "text"
        assert ck.find(["bytes"]).value == b"\x00\x01"
        assert ck.find(["nums", 1]).value == 2.5
        assert ck.find(["none"]).kind == "none"
        assert ck.find(["od"]).type_name == "OrderedDict"
        assert ck.find(["set"]).kind == "set"
        assert "torch.Size([2, 3])" in ck.find(["size"]).value


def test_cuda_checkpoint_opens_on_cpu_machine(tmp_path):
    p = tmp_path / "cuda.pth"
    with saved_on("cuda:0"):
        torch.save({"w": torch.randn(3, 3)}, p)
    loaded = torch.load(p, map_location="cpu", weights_only=True)
    with open_checkpoint(p) as ck:
        (path, info), = ck.tensors()
        assert info.device == "cuda:0"
        assert torch.equal(ck.tensor(info), loaded["w"])


def test_legacy_format_including_cuda(tmp_path):
    sd = {"w": torch.randn(4, 5), "v": torch.arange(6, dtype=torch.int16)[1:4], "h": torch.ones(2, dtype=torch.float16)}
    p = tmp_path / "legacy.pt"
    with saved_on("cuda:1"):
        torch.save(sd, p, _use_new_zipfile_serialization=False)
    doc, loaded = assert_same_as_torch(p)
    assert doc["format"] == "torch-legacy"
    with open_checkpoint(p) as ck:
        for path, info in ck.tensors():
            assert info.device == "cuda:1"
            assert torch.equal(ck.tensor(info), loaded[path[0]])


def test_any_root_folder_and_address_named_records(tmp_path, state_dict_ckpt):
    p = tmp_path / "renamed.bin"
    rewrite_zip(state_dict_ckpt, p, root="archive",
                rename_records={"0": "140234234567", "1": "94276891891728"})
    assert_same_as_torch(p)
    with open_checkpoint(p) as ck:
        assert ck.details["zip_root"] == "archive"
        keys = {info.storage.key for _, info in ck.tensors()}
        assert "140234234567" in keys


def test_old_rebuild_tensor_signature_is_understood(tmp_path):
    """Files from torch < 1.0 call _rebuild_tensor(storage, offset, size, stride)."""
    p0 = tmp_path / "v2.pth"
    torch.save({"w": torch.arange(6.0).reshape(2, 3)}, p0)
    p = tmp_path / "v1.pth"
    # _rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict()) -> _rebuild_tensor(...):
    # rename the global and drop the two trailing arguments (NEWFALSE, OrderedDict() REDUCE).
    def edit(data: bytes) -> bytes:
        import pickletools

        ops = [(op.name, pos) for op, _, pos in pickletools.genops(data)]
        tail = next(pos for name, pos in ops if name == "NEWFALSE")  # requires_grad
        end = next(pos for name, pos in ops if name == "TUPLE" and pos > tail)
        data = data[:tail] + data[end:]
        return data.replace(b"_rebuild_tensor_v2", b"_rebuild_tensor")

    rewrite_zip(p0, p, edit_pickle=edit)
    with open_checkpoint(p) as ck:
        assert "torch._utils._rebuild_tensor" in ck.globals
        (path, info), = ck.tensors()
        assert info.shape == (2, 3) and info.stride == (3, 1)
        assert torch.equal(ck.tensor(info), torch.arange(6.0).reshape(2, 3))


def test_safetensors_with_metadata(tmp_path):
    from safetensors.torch import save_file

    tensors = {"a.weight": torch.randn(3, 4), "b.bias": torch.zeros(5, dtype=torch.bfloat16),
               "c": torch.arange(4, dtype=torch.int64)}
    p = tmp_path / "model.safetensors"
    save_file(tensors, p, metadata={"format": "pt", "note": "hello"})
    with open_checkpoint(p) as ck:
        assert ck.format == "safetensors"
        assert ck.details["metadata"] == {"format": "pt", "note": "hello"}
        got = {path[0]: (info.dtype, list(info.shape)) for path, info in ck.tensors()}
        assert got == {k: (str(v.dtype)[6:], list(v.shape)) for k, v in tensors.items()}
        for path, info in ck.tensors():
            assert torch.equal(ck.tensor(info), tensors[path[0]])


def _hf_shards(tmp_path, kind):
    from safetensors.torch import save_file

    a = {"layer.0.weight": torch.randn(2, 2), "layer.0.bias": torch.randn(2)}
    b = {"layer.1.weight": torch.randn(2, 2)}
    if kind == "safetensors":
        save_file(a, tmp_path / "model-00001-of-00002.safetensors")
        save_file(b, tmp_path / "model-00002-of-00002.safetensors")
        names = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
        index = tmp_path / "model.safetensors.index.json"
    else:
        torch.save(a, tmp_path / "pytorch_model-00001-of-00002.bin")
        torch.save(b, tmp_path / "pytorch_model-00002-of-00002.bin")
        names = ["pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"]
        index = tmp_path / "pytorch_model.bin.index.json"
    wm = {k: names[0] for k in a} | {k: names[1] for k in b}
    index.write_text(json.dumps({"metadata": {"total_size": 40}, "weight_map": wm}))
    return index, {**a, **b}


@pytest.mark.parametrize("kind", ["safetensors", "bin"])
def test_hf_sharded_index_shown_as_one_model(tmp_path, kind):
    index, tensors = _hf_shards(tmp_path, kind)
    for target, fmt in ((index, "hf-sharded"), (tmp_path, "hf-folder")):  # index, or its folder
        with open_checkpoint(target) as ck:
            assert ck.format == fmt
            assert {p[0] for p, _ in ck.tensors()} == set(tensors)
            for path, info in ck.tensors():
                assert torch.equal(ck.tensor(info), tensors[path[0]])
            assert ck.warnings == []


def test_hf_index_with_missing_shard_warns(tmp_path):
    index, _ = _hf_shards(tmp_path, "safetensors")
    (tmp_path / "model-00002-of-00002.safetensors").unlink()
    with open_checkpoint(index) as ck:
        assert any("model-00002-of-00002.safetensors" in w for w in ck.warnings)
        assert len(ck.tensors()) == 2


def test_whole_model_pickle_is_symbolic(tmp_path, marker):
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    p = tmp_path / "whole.pth"
    torch.save(model, p)
    with open_checkpoint(p) as ck:
        assert "torch.nn.modules.container.Sequential" in ck.unsafe_globals
        assert "torch.nn.modules.linear.Linear" in ck.unsafe_globals
        assert ck.root.type_name == "torch.nn.modules.container.Sequential"
        weights = {p: i for p, i in ck.tensors()}
        w = weights[("_modules", "0", "_parameters", "weight")]
        assert w.shape == (2, 3)
        assert torch.equal(ck.tensor(w), model[0].weight.detach())
        assert ("_modules", "1", "_buffers", "running_var") in weights


def test_lightning_style_checkpoint(tmp_path):
    model = torch.nn.Linear(4, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(1, 4)).sum().backward()
    opt.step()
    ckpt = {"epoch": 2, "global_step": 40, "pytorch-lightning_version": "2.4.0",
            "state_dict": OrderedDict((f"model.{k}", v) for k, v in model.state_dict().items()),
            "optimizer_states": [opt.state_dict()], "lr_schedulers": [{"last_epoch": 2}],
            "hyper_parameters": {"lr": 0.1, "hidden": 32}, "callbacks": {"ModelCheckpoint": {"best": 0.3}},
            "loops": {"fit_loop": {"epoch_progress": {"current": {"completed": 2}}}}}
    p = tmp_path / "last.ckpt"
    torch.save(ckpt, p)
    doc, _ = assert_same_as_torch(p)
    paths = [t["path"] for t in doc["tensors"]]
    assert ["state_dict", "model.weight"] in paths
    assert ["optimizer_states", 0, "state", 0, "momentum_buffer"] in paths
    with open_checkpoint(p) as ck:
        assert ck.find(["hyper_parameters", "hidden"]).value == 32
        assert ck.find(["pytorch-lightning_version"]).value == "2.4.0"


def test_protocol_4_checkpoint(tmp_path):
    p = tmp_path / "p4.pth"
    torch.save({"w": torch.ones(2, 2), "x": [1, 2]}, p, pickle_protocol=4)
    mine, doc = ours(p)
    assert mine == [(("w",), "float32", [2, 2])]
    assert doc["unsafe_globals"] == []


def test_quantized_sparse_and_meta_tensors_are_listed(tmp_path):
    q = torch.quantize_per_tensor(torch.randn(4), 0.1, 3, torch.qint8)
    sp = torch.sparse_coo_tensor(torch.tensor([[0, 1], [1, 0]]), torch.tensor([1.0, 2.0]), (2, 2),
                                 check_invariants=True)
    meta = torch.empty(3, 4, device="meta")
    p = tmp_path / "special.pth"
    torch.save({"q": q, "sp": sp, "meta": meta}, p)
    with open_checkpoint(p) as ck:
        got = {path[0]: info for path, info in ck.tensors()}
        assert got["q"].layout == "quantized" and got["q"].dtype == "qint8" and got["q"].shape == (4,)
        assert got["sp"].layout == "sparse_coo" and got["sp"].shape == (2, 2)
        assert got["meta"].layout == "meta" and got["meta"].shape == (3, 4)
        assert ck.unsafe_globals == []
        with pytest.raises(CheckpointError, match="no data"):
            ck.tensor(got["meta"])


def test_many_tensors_open_without_reading_bytes(tmp_path):
    sd = {f"layer.{i}.weight": torch.full((4,), float(i)) for i in range(2000)}
    p = tmp_path / "many.pth"
    torch.save(sd, p)
    with open_checkpoint(p) as ck:
        assert len(ck.tensors()) == 2000
        assert ck._maps == {}  # no tensor bytes were mapped to list the tree
        info = ck.find(["layer.1999.weight"]).tensor
        assert ck.tensor(info)[0].item() == 1999.0


def test_unknown_extension_is_detected_by_content(tmp_path, state_dict_ckpt):
    p = tmp_path / "weights.unknown"
    p.write_bytes(state_dict_ckpt.read_bytes())
    assert open_checkpoint(p).format == "torch-zip"


def test_float_values_exact(training_ckpt):
    loaded = torch.load(training_ckpt, weights_only=True)
    with open_checkpoint(training_ckpt) as ck:
        info = ck.find(["model_state_dict", "5.weight"]).tensor
        t = ck.tensor(info)
        assert torch.equal(t, loaded["model_state_dict"]["5.weight"])
        assert math.isclose(float(t.double().sum()), float(loaded["model_state_dict"]["5.weight"].double().sum()))
