"""Built-in architectures, proposing one for a checkpoint, user specs, and the trust gate."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from inspector.core.formats import open_checkpoint
from inspector.core.inference import (
    BUILTINS,
    DemoCNN,
    ModelCodeError,
    ModelError,
    TrustRequiredError,
    build_model,
    load_trusted_model,
    locate_state_dict,
    match_keys,
    model_kind,
    model_shapes,
    parse_kwargs,
    propose_architecture,
    resolve_architecture,
)


def _shapes(sd):
    return {k: tuple(v.shape) for k, v in sd.items()}


def test_builtins_build_and_run():
    for arch in BUILTINS.values():
        model = build_model(arch)
        x = torch.randn(2, *model.example_input_shape)
        assert model.eval()(x).shape[0] == 2


def test_plain_mlp_has_no_mode_sensitive_layers():
    model = build_model(BUILTINS["plain-mlp"], {"sizes": [4, 8, 2]})
    assert not any(isinstance(m, nn.Dropout | nn.BatchNorm1d) for m in model.modules())
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_propose_demo_cnn_from_training_checkpoint(tmp_path):
    model = DemoCNN(in_channels=1, width=4, num_classes=3, image_size=16)
    path = tmp_path / "train.pth"
    torch.save({"epoch": 1, "model_state_dict": model.state_dict(), "loss": 0.5}, path)
    with open_checkpoint(path) as ck:
        source = locate_state_dict(ck)
        assert source.container == ("model_state_dict",)
        proposal = propose_architecture(ck)
    assert proposal.architecture.name == "demo-cnn"
    assert proposal.score == 1.0
    assert proposal.kwargs == {"in_channels": 1, "width": 4, "num_classes": 3, "image_size": 16}


def test_propose_plain_mlp_for_bare_state_dict(state_dict_ckpt):
    with open_checkpoint(state_dict_ckpt) as ck:
        proposal = propose_architecture(ck)
    assert proposal.architecture.name == "plain-mlp"
    assert proposal.kwargs["sizes"] == [4, 8, 2]
    assert proposal.score == 1.0


def test_propose_nothing_for_unrelated_weights():
    assert propose_architecture({"encoder.token.weight": (10, 4)}) is None


@pytest.mark.parametrize("prefix", ["module.", "_orig_mod.", "model.", "module._orig_mod."])
def test_match_keys_strips_known_prefixes(prefix):
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    shapes = model_shapes(model)
    fixed = match_keys(shapes, {prefix + k: v for k, v in shapes.items()})
    assert fixed.score == 1.0
    assert not fixed.missing_keys and not fixed.unexpected_keys
    for part in prefix.rstrip(".").split("."):
        assert any(repr(part + ".") in fix for fix in fixed.fixes_applied)


def test_match_keys_reports_missing_unexpected_and_shape_mismatches():
    model = {"a.weight": (3, 2), "a.bias": (3,), "b.weight": (4, 3)}
    ckpt = {"a.weight": (3, 2), "b.weight": (5, 3), "extra": (1,)}
    m = match_keys(model, ckpt)
    assert m.mapping == {"a.weight": "a.weight"}
    assert m.missing_keys == ("a.bias",)
    assert m.unexpected_keys == ("extra",)
    assert [(s.key, s.checkpoint_shape, s.model_shape) for s in m.shape_mismatches] == [
        ("b.weight", (5, 3), (4, 3))]


def test_lightning_checkpoint_state_dict_is_found(tmp_path):
    sd = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).state_dict()
    path = tmp_path / "l.ckpt"
    torch.save({"epoch": 3, "global_step": 10, "pytorch-lightning_version": "2.0",
                "state_dict": {"model." + k: v for k, v in sd.items()}}, path)
    with open_checkpoint(path) as ck:
        source = locate_state_dict(ck)
        proposal = propose_architecture(source)
    assert source.container == ("state_dict",)
    assert proposal.architecture.name == "plain-mlp" and proposal.score == 1.0
    assert any("'model.'" in f for f in proposal.match.fixes_applied)


def test_whole_model_pickle_weights_read_without_running_code(tmp_path):
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    path = tmp_path / "whole.pth"
    torch.save(model, path)
    with open_checkpoint(path) as ck:
        assert model_kind(ck) == "whole-model"
        source = locate_state_dict(ck)
        assert any("pickled module's attributes" in f for f in source.fixes)
        assert _shapes(model.state_dict()) == source.shapes()
        for key, info in source.entries.items():
            assert torch.equal(ck.tensor(info), model.state_dict()[key])


# ---- user specs

def test_user_file_architecture(tmp_path):
    (tmp_path / "helpers.py").write_text("WIDTH = 5\n")
    (tmp_path / "model.py").write_text(
        "import torch\nfrom torch import nn\nfrom helpers import WIDTH\n"
        "class MyNet(nn.Module):\n"
        "    def __init__(self, n_in=3):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(n_in, WIDTH)\n"
        "    def forward(self, x):\n"
        "        return self.fc(x)\n")
    arch = resolve_architecture(f"{tmp_path / 'model.py'}:MyNet")
    assert arch.source == "file"
    model = build_model(arch, parse_kwargs('{"n_in": 7}'))
    assert model_shapes(model) == {"fc.weight": (5, 7), "fc.bias": (5,)}


def test_importable_architecture():
    arch = resolve_architecture("torch.nn:Linear")
    assert arch.source == "module"
    model = build_model(arch, {"in_features": 2, "out_features": 3})
    assert isinstance(model, nn.Linear)


def test_unknown_module_and_attribute_are_clear():
    with pytest.raises(ModelError, match="no module named 'no_such_pkg_xyz'"):
        resolve_architecture("no_such_pkg_xyz.models:Net")
    with pytest.raises(ModelError, match="has no attribute 'NoSuchNet'"):
        resolve_architecture("torch.nn:NoSuchNet")
    with pytest.raises(ModelError, match="unknown architecture 'resnet9000'"):
        resolve_architecture("resnet9000")
    with pytest.raises(ModelError, match="does not exist"):
        resolve_architecture("/no/such/model.py:Net")


def test_syntax_error_in_user_file(tmp_path):
    path = tmp_path / "broken.py"
    path.write_text("import torch\n\nclass Net(:\n    pass\n")
    with pytest.raises(ModelCodeError, match="syntax error at line 3") as info:
        resolve_architecture(f"{path}:Net")
    assert "SyntaxError" in info.value.traceback_text


def test_exception_in_user_init(tmp_path):
    path = tmp_path / "bad_init.py"
    path.write_text("from torch import nn\n"
                    "class Net(nn.Module):\n"
                    "    def __init__(self):\n"
                    "        super().__init__()\n"
                    "        raise ValueError('bad hidden size')\n")
    arch = resolve_architecture(f"{path}:Net")
    with pytest.raises(ModelCodeError, match="ValueError: bad hidden size") as info:
        build_model(arch)
    assert "bad_init.py" in info.value.traceback_text
    assert "raise ValueError" in info.value.traceback_text


def test_exception_while_importing_user_file(tmp_path):
    path = tmp_path / "raises.py"
    path.write_text("raise RuntimeError('import-time failure')\n")
    with pytest.raises(ModelCodeError, match="RuntimeError while being imported") as info:
        resolve_architecture(f"{path}:Net")
    assert "import-time failure" in info.value.traceback_text


def test_kwargs_must_be_a_json_object():
    with pytest.raises(ModelError, match="not valid JSON"):
        parse_kwargs("{num_classes: 10}")
    with pytest.raises(ModelError, match="must be a JSON object"):
        parse_kwargs("[1, 2]")
    assert parse_kwargs(None) == {}


# ---- trust gate

def test_whole_model_pickle_refused_unless_trusted(tmp_path):
    model = nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.1))
    path = tmp_path / "whole.pth"
    torch.save(model, path)
    with pytest.raises(TrustRequiredError) as info:
        load_trusted_model(path, trusted=False)
    assert "torch.nn.modules.container.Sequential" in info.value.message
    assert "torch.nn.modules.dropout.Dropout" in info.value.globals
    loaded = load_trusted_model(path, trusted=True)
    assert isinstance(loaded, nn.Sequential)
    assert torch.equal(loaded[0].weight, model[0].weight)


def test_torchscript_refused_unless_trusted(tmp_path):
    path = tmp_path / "scripted.pt"
    with pytest.warns(DeprecationWarning):
        torch.jit.save(torch.jit.script(nn.Sequential(nn.Linear(2, 3))), path)
    with pytest.raises(TrustRequiredError, match="TorchScript"):
        load_trusted_model(path, trusted=False)
    loaded = load_trusted_model(path, trusted=True)
    assert loaded(torch.zeros(1, 2)).shape == (1, 3)


def test_malicious_pickle_is_never_run(tmp_path, marker):
    import os

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pth"
    torch.save({"model": Payload()}, path)
    with pytest.raises(ModelError):
        load_trusted_model(path, trusted=False)
    assert not marker.exists()


def test_state_dict_file_is_not_a_trusted_model(state_dict_ckpt):
    with pytest.raises(ModelError, match="holds only weights"):
        load_trusted_model(state_dict_ckpt, trusted=True)
