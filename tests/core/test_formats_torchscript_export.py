"""TorchScript (torch.jit.save) and torch.export (.pt2) archives, listed without loading them."""

from __future__ import annotations

import os
import pickle
import warnings
import zipfile

import pytest

from inspector.core.checkpoint import CheckpointError
from inspector.core.formats import open_checkpoint
from inspector.core.formats.torchscript import read_code_file
from inspector.core.safety import scan


class Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _net():
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)
            self.register_buffer("scale", torch.arange(4.0))

        def forward(self, x):
            return self.lin(x) * self.scale.sum()

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 2, 3)
            self.bn = nn.BatchNorm2d(2)
            self.block = Block()
            self.tied = self.block.lin.weight

        def forward(self, x):
            return self.block(x)

    torch.manual_seed(0)
    return Net()


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("scripted")
    import torch

    path = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated in torch 2.13
        torch.jit.save(torch.jit.script(_net()), str(path))
    return path


@pytest.fixture(scope="module")
def traced(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("traced")
    import torch
    from torch import nn

    class WithConstant(nn.Module):
        def __init__(self):
            super().__init__()
            self.seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1, bias=False))

        def forward(self, x):
            return self.seq(x) + torch.tensor([1.5])

    path = tmp_path / "traced.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TracerWarning about the tensor constant
        torch.jit.save(torch.jit.trace(WithConstant(), torch.randn(1, 2)), str(path))
    return path


def _check_against_jit(path):
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = torch.jit.load(str(path)).state_dict()  # test side only
    with open_checkpoint(path) as ck:
        assert ck.format == "torchscript"
        assert ck.unsafe_globals == []
        assert ck.warnings == []
        listed = [(p, t) for p, t in ck.tensors() if p[0] != "CONSTANTS"]
        assert [p[0] for p, _ in listed] == list(expected)
        for (name,), info in listed:
            ref = expected[name]
            assert (info.dtype, info.shape) == (str(ref.dtype).removeprefix("torch."),
                                                tuple(ref.shape))
            assert torch.equal(ck.tensor(info), ref), name
        return ck


def test_scripted_module_lists_state_dict(scripted):
    ck = _check_against_jit(scripted)
    lin_class = ck.details["module_types"]["block.lin"]  # mangled when scripted twice
    assert lin_class.startswith("__torch__.torch.nn.modules.linear.") and lin_class.endswith(".Linear")
    assert ck.find(["bn.num_batches_tracked"]).tensor.dtype == "int64"
    assert ck.find(["tied"]).tensor.storage is ck.find(["block.lin.weight"]).tensor.storage
    assert any("/nn/modules/linear" in n for n in ck.details["code_files"])


def test_traced_module_with_mangled_classes_and_constants(traced):
    import torch

    _check_against_jit(traced)
    with open_checkpoint(traced) as ck:
        const = ck.find(["CONSTANTS", "c0"]).tensor
        assert torch.equal(ck.tensor(const), torch.tensor([1.5]))


def test_code_files_are_viewable_text(scripted):
    with open_checkpoint(scripted) as ck:
        module = ck.details["module_types"][""].rpartition(".")[0]  # __torch__.….Net
        name = "code/" + module.replace(".", "/") + ".py"
        text = read_code_file(ck, name)
        assert "class Net(Module):" in text and "__parameters__" in text
        short = read_code_file(ck, name, limit=20)
        assert short.startswith(text[:20]) and "more bytes not shown" in short
        with pytest.raises(CheckpointError, match="no code file"):
            read_code_file(ck, "../../etc/passwd")


def test_malicious_torchscript_data_pkl_never_runs(scripted, tmp_path, marker):
    with zipfile.ZipFile(scripted) as zf:
        entries = [(i, zf.read(i)) for i in zf.infolist()]
    bad = tmp_path / "evil.pt"
    with zipfile.ZipFile(bad, "w") as out:
        for info, data in entries:
            if info.filename.endswith("/data.pkl"):
                data = pickle.dumps({"conv1": Evil(marker)}, protocol=2)
            out.writestr(info, data)
    with open_checkpoint(bad) as ck:
        assert ck.format == "torchscript"
        assert any(g.endswith(".system") for g in ck.unsafe_globals)
    assert scan(bad).verdict == "unsafe"
    assert not marker.exists()


def test_missing_storage_record_is_named(scripted, tmp_path):
    with zipfile.ZipFile(scripted) as zf:
        entries = [(i, zf.read(i)) for i in zf.infolist() if not i.filename.endswith("/data/1")]
    bad = tmp_path / "missing.pt"
    with zipfile.ZipFile(bad, "w") as out:
        for info, data in entries:
            out.writestr(info, data)
    with pytest.raises(CheckpointError, match="data/1"):
        open_checkpoint(bad)


# ---- torch.export
@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("exported")
    import torch
    from torch import nn

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(3, 2)
            self.bn = nn.BatchNorm1d(2)
            self.register_buffer("offset", torch.arange(2.0))
            self.const = torch.full((2,), 5.0)

        def forward(self, x):
            return self.bn(self.lin(x)) + self.offset + self.const

    torch.manual_seed(0)
    path = tmp_path / "model.pt2"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = torch.export.export(M().eval(), (torch.randn(4, 3),))
        torch.export.save(ep, str(path))
    return path


def test_export_lists_weights_constants_and_graph(exported):
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ep = torch.export.load(str(exported))  # test side only
    with open_checkpoint(exported) as ck:
        assert ck.format == "torch-export"
        assert ck.unsafe_globals == [] and ck.warnings == []
        weights = [(p, t) for p, t in ck.tensors() if p[0] != "CONSTANTS"]
        assert [p[0] for p, _ in weights] == list(ep.state_dict)
        for (name,), info in weights:
            ref = ep.state_dict[name]
            assert info.shape == tuple(ref.shape)
            assert torch.equal(ck.tensor(info), ref), name
        assert ck.find(["lin.weight"]).tensor.is_parameter
        const = ck.find(["CONSTANTS", "const"]).tensor
        assert torch.equal(ck.tensor(const), ep.constants["const"])
        d = ck.details
        assert d["operators"]["torch.ops.aten.linear.default"] == 1
        assert any(line.startswith("linear = torch.ops.aten.linear.default(x,") for line in d["graph"])
        user = [s for s in d["inputs"] if s["kind"] == "user_input"]
        assert user == [{"kind": "user_input", "name": "x", "dtype": "float32", "shape": [4, 3]}]
        assert {"kind": "parameter", "name": "p_lin_weight", "target": "lin.weight",
                "dtype": "float32", "shape": [2, 3]} in d["inputs"]
        assert [s["kind"] for s in d["outputs"]] == ["user_output"]


def test_export_with_missing_weight_record(exported, tmp_path):
    with zipfile.ZipFile(exported) as zf:
        entries = [(i, zf.read(i)) for i in zf.infolist()
                   if not i.filename.endswith("/data/weights/weight_0")]
    bad = tmp_path / "missing.pt2"
    with zipfile.ZipFile(bad, "w") as out:
        for info, data in entries:
            out.writestr(info, data)
    with open_checkpoint(bad) as ck:
        assert any("weight_0 is missing" in w for w in ck.warnings)
        assert len(ck.tensors()) == 8  # the other weights and the constant stay browsable


def test_export_malicious_opaque_constant_never_runs(exported, tmp_path, marker):
    import json

    with zipfile.ZipFile(exported) as zf:
        entries = [(i, zf.read(i)) for i in zf.infolist()]
    bad = tmp_path / "evil.pt2"
    with zipfile.ZipFile(bad, "w") as out:
        for info, data in entries:
            if info.filename.endswith("model_constants_config.json"):
                config = json.loads(data)
                config["config"]["evil"] = {"path_name": "opaque_obj_0", "is_param": False,
                                            "use_pickle": True, "tensor_meta": None}
                data = json.dumps(config).encode()
            out.writestr(info, data)
        root = entries[0][0].filename.split("/")[0]
        out.writestr(f"{root}/data/constants/opaque_obj_0", pickle.dumps(Evil(marker)))
    with open_checkpoint(bad) as ck:
        assert any(g.endswith(".system") for g in ck.unsafe_globals)
        assert "system" in ck.find(["CONSTANTS", "evil"]).value
    assert not marker.exists()
