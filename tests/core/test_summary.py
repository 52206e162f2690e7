"""summarize() and optimizer_param_labels() on real torch.save checkpoints."""

from __future__ import annotations

import subprocess
import sys

import pytest

from inspector.core.formats import open_checkpoint
from inspector.core.summary import (
    DANGER,
    WARNING,
    optimizer_param_labels,
    summarize,
)
from inspector.core.text import format_bytes, format_value


def _hints(summary, level=None):
    return [h.text for h in summary.hints if level is None or h.level == level]


def _cnn(torch):
    from torch import nn

    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                         nn.Dropout(0.5), nn.Linear(8 * 4 * 4, 10))


def _step(torch, model, opt):
    loss = model(torch.randn(2, 3, 4, 4)).sum()
    loss.backward()
    opt.step()
    return loss.item()


def test_training_checkpoint_adam(training_ckpt):
    with open_checkpoint(training_ckpt) as ck:
        s = summarize(ck)
        labels = optimizer_param_labels(ck)
    assert s.format == "torch-zip"
    assert s.file_name == "training.pth"
    assert s.weights_path == ("model_state_dict",)
    # conv 8*3*3*3+8, BN weight+bias 16, linear 1280+10; BN buffers are not parameters
    assert s.num_parameters == 216 + 8 + 16 + 1280 + 10
    assert s.num_buffer_elements == 8 + 8 + 1
    assert s.num_weight_tensors == 9
    scalars = dict(s.scalars)
    assert scalars["epoch"] == 5
    assert isinstance(scalars["loss"], float)
    assert [k for k, _ in s.scalars][:2] == ["epoch", "loss"]
    opt = s.optimizer
    assert opt is not None and opt.name == "Adam"
    assert opt.lr == pytest.approx(1e-3)
    assert opt.betas == pytest.approx((0.9, 0.999))
    assert opt.weight_decay == 0
    assert opt.num_states == 6
    assert "lr 0.001" in opt.describe() and "betas (0.9, 0.999)" in opt.describe()
    # dtype mix: everything float32 but num_batches_tracked
    assert {d.dtype: d.count for d in s.dtypes} == {"float32": 26, "int64": 1}
    assert any("BatchNorm" in h and "model.eval()" in h for h in _hints(s, WARNING))
    assert any("Dropout" in h and "cannot be told" in h for h in _hints(s))
    assert not any("NaN-free" in h or "no NaN" in h.replace("(no NaN", "") for h in _hints(s))
    # labels: state i -> i-th parameter, BN buffers skipped (state 4 is the Linear weight)
    assert labels[("optimizer_state_dict", "state", 0)] == "0.weight"
    assert labels[("optimizer_state_dict", "state", 3)] == "1.bias"
    assert labels[("optimizer_state_dict", "state", 4)] == "5.weight"
    assert len(labels) == 6
    assert not any("running" in v for v in labels.values())


def test_sgd_momentum(tmp_path, torch_mod):
    torch = torch_mod
    model = _cnn(torch)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    _step(torch, model, opt)
    path = tmp_path / "sgd.pt"
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 2}, path)
    with open_checkpoint(path) as ck:
        s = summarize(ck)
        labels = optimizer_param_labels(ck)
    assert s.weights_path == ("model",)
    assert s.optimizer.name == "SGD"
    assert s.optimizer.momentum == pytest.approx(0.9)
    assert s.optimizer.nesterov is True
    assert s.optimizer.weight_decay == pytest.approx(5e-4)
    assert "momentum 0.9 (Nesterov)" in s.optimizer.describe()
    assert labels[("optimizer", "state", 5)] == "5.bias"


def test_adamw_and_scheduler(tmp_path, torch_mod):
    torch = torch_mod
    model = _cnn(torch)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100)
    _step(torch, model, opt)
    sched.step()
    path = tmp_path / "adamw.pth"
    torch.save({"state_dict": model.state_dict(), "optimizer": opt.state_dict(),
                "scheduler": sched.state_dict(), "best_acc": 0.91}, path)
    with open_checkpoint(path) as ck:
        s = summarize(ck)
    assert s.optimizer.name == "AdamW"
    assert s.optimizer.weight_decay == pytest.approx(0.05)
    assert [x.name for x in s.schedulers] == ["CosineAnnealingLR"]
    assert s.schedulers[0].last_epoch == 1
    assert dict(s.scalars)["best_acc"] == pytest.approx(0.91)


@pytest.mark.parametrize("factory,name", [
    (lambda torch, p: torch.optim.RMSprop(p, lr=0.01), "RMSprop"),
    (lambda torch, p: torch.optim.Adagrad(p, lr=0.01), "Adagrad"),
])
def test_other_optimizers(tmp_path, torch_mod, factory, name):
    torch = torch_mod
    model = _cnn(torch)
    opt = factory(torch, model.parameters())
    _step(torch, model, opt)
    path = tmp_path / "o.pth"
    torch.save({"model_state_dict": model.state_dict(), "optimizer_state_dict": opt.state_dict()},
               path)
    with open_checkpoint(path) as ck:
        s = summarize(ck)
        labels = optimizer_param_labels(ck)
    assert s.optimizer.name == name
    assert s.optimizer.lr == pytest.approx(0.01)
    assert labels[("optimizer_state_dict", "state", 0)] == "0.weight"


def test_lightning_like(tmp_path, torch_mod):
    torch = torch_mod
    model = _cnn(torch)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    _step(torch, model, opt)
    path = tmp_path / "epoch=3-step=100.ckpt"
    torch.save({
        "epoch": 3, "global_step": 100, "pytorch-lightning_version": "2.4.0",
        "state_dict": {"model." + k: v for k, v in model.state_dict().items()},
        "optimizer_states": [opt.state_dict()],
        "lr_schedulers": [sched.state_dict()],
        "hyper_parameters": {"lr": 2e-3, "hidden": 64, "data": {"batch_size": 32},
                             "layers": [8, 16]},
        "callbacks": {}, "loops": {},
    }, path)
    with open_checkpoint(path) as ck:
        s = summarize(ck)
        labels = optimizer_param_labels(ck)
    assert s.lightning_version == "2.4.0"
    assert s.weights_path == ("state_dict",)
    assert s.num_parameters == 1530
    assert dict(s.scalars) == {"epoch": 3, "global_step": 100}
    hp = dict(s.hyper_parameters)
    assert hp["hyper_parameters.lr"] == pytest.approx(2e-3)
    assert hp["hyper_parameters.data.batch_size"] == 32
    assert hp["hyper_parameters.layers"] == [8, 16]
    assert s.optimizer.name == "Adam" and s.optimizer.path == ("optimizer_states", 0)
    assert s.schedulers[0].name == "StepLR"
    assert any("Lightning" in h and "2.4.0" in h for h in _hints(s))
    assert any("`model.`" in h for h in _hints(s))
    assert labels[("optimizer_states", 0, "state", 0)] == "model.0.weight"
    assert labels[("optimizer_states", 0, "state", 4)] == "model.5.weight"


@pytest.mark.parametrize("prefix,phrase", [("module.", "DataParallel/DDP"),
                                           ("_orig_mod.", "torch.compile")])
def test_wrapper_prefix_hints(tmp_path, torch_mod, prefix, phrase):
    torch = torch_mod
    sd = {prefix + k: v for k, v in _cnn(torch).state_dict().items()}
    path = tmp_path / "wrapped.pth"
    torch.save(sd, path)
    with open_checkpoint(path) as ck:
        s = summarize(ck)
    assert s.weights_path == ()
    assert "bare state_dict" in s.weights_label
    assert any(f"`{prefix}`" in h and phrase in h for h in _hints(s, WARNING))


def test_whole_model_pickle_is_flagged(tmp_path, torch_mod):
    torch = torch_mod
    path = tmp_path / "whole.pth"
    torch.save(_cnn(torch), path)
    with open_checkpoint(path) as ck:
        s = summarize(ck)
    assert s.is_whole_model
    assert s.model_class == "torch.nn.modules.container.Sequential"
    assert "torch.nn.modules.conv.Conv2d" in s.unsafe_globals
    assert s.hints[0].level == DANGER  # shown first
    assert "Whole pickled model" in s.hints[0].text and "Unsafe globals" in s.hints[0].text
    assert s.num_parameters == 1530 and s.num_buffer_elements == 17


def test_whole_model_inside_a_dict_and_namespace_args(tmp_path, torch_mod):
    import argparse

    torch = torch_mod
    path = tmp_path / "dictwhole.pth"
    torch.save({"model": _cnn(torch), "epoch": 3,
                "args": argparse.Namespace(lr=0.1, batch_size=32, name="run1")}, path)
    with open_checkpoint(path) as ck:
        s = summarize(ck)
    assert s.weights_path == ("model",) and s.is_whole_model
    assert s.hints[0].level == DANGER
    assert dict(s.scalars) == {"epoch": 3}
    hp = dict(s.hyper_parameters)
    assert hp["args.lr"] == pytest.approx(0.1) and hp["args.name"] == "run1"


def test_tied_weights(tmp_path, torch_mod):
    torch = torch_mod
    from torch import nn

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(50, 16)
            self.lm_head = nn.Linear(16, 50, bias=False)
            self.lm_head.weight = self.embed.weight

    model = Tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model.lm_head(model.embed(torch.tensor([1, 2]))).sum().backward()
    opt.step()
    path = tmp_path / "tied.pth"
    torch.save({"model_state_dict": model.state_dict(), "optimizer_state_dict": opt.state_dict()},
               path)
    with open_checkpoint(path) as ck:
        s = summarize(ck)
        labels = optimizer_param_labels(ck)
    assert s.num_parameters == 50 * 16  # stored once
    assert any("embed.weight" in h and "lm_head.weight" in h for h in _hints(s))
    # model.parameters() yields the tied parameter once: one optimizer state
    assert labels == {("optimizer_state_dict", "state", 0): "embed.weight"}


def test_labels_empty_when_shapes_disagree(tmp_path, torch_mod):
    torch = torch_mod
    from torch import nn

    model = _cnn(torch)
    other = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2))  # 6 params too
    opt = torch.optim.Adam(other.parameters(), lr=1e-3)
    other(torch.randn(1, 4)).sum().backward()
    opt.step()
    path = tmp_path / "mismatch.pth"
    torch.save({"model_state_dict": model.state_dict(), "optimizer_state_dict": opt.state_dict()},
               path)
    with open_checkpoint(path) as ck:
        assert optimizer_param_labels(ck) == {}
        assert summarize(ck).optimizer.name == "Adam"


def test_labels_empty_when_counts_disagree(tmp_path, torch_mod):
    torch = torch_mod
    model = _cnn(torch)
    opt = torch.optim.Adam(list(model.parameters())[:2], lr=1e-3)
    _step(torch, model, opt)
    path = tmp_path / "partial.pth"
    torch.save({"model_state_dict": model.state_dict(), "optimizer_state_dict": opt.state_dict()},
               path)
    with open_checkpoint(path) as ck:
        assert optimizer_param_labels(ck) == {}


def test_safetensors_file(tmp_path, torch_mod):
    from safetensors.torch import save_file

    torch = torch_mod
    sd = {k: v.contiguous() for k, v in _cnn(torch).state_dict().items()}
    sd["0.weight"] = sd["0.weight"].half()
    path = tmp_path / "model.safetensors"
    save_file(sd, str(path), metadata={"format": "pt"})
    with open_checkpoint(path) as ck:
        s = summarize(ck)
        assert optimizer_param_labels(ck) == {}
    assert s.format == "safetensors"
    assert s.weights_path == ()
    assert s.num_parameters == 1530
    assert s.optimizers == ()
    assert any("Mixed precision" in h and "float16" in h for h in _hints(s))
    assert not any(h.level == DANGER for h in s.hints)


def test_cuda_location_hint(tmp_path):
    """A file whose storages say cuda:0 (rewritten pickle) is reported, not loaded."""
    import torch

    path = tmp_path / "cuda.pth"
    torch.save({"w": torch.ones(3)}, path)
    import zipfile

    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        blobs = {n: z.read(n) for n in names}
    pkl = next(n for n in names if n.endswith("data.pkl"))
    assert b"cpu" in blobs[pkl]
    blobs[pkl] = blobs[pkl].replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
    out = tmp_path / "cuda2.pth"
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as z:
        for n in names:
            z.writestr(n, blobs[n])
    with open_checkpoint(out) as ck:
        s = summarize(ck)
    assert any("cuda:0" in h and "map_location" in h for h in _hints(s))


def test_summary_does_not_import_torch(training_ckpt):
    code = ("import sys\nfrom inspector.core.formats import open_checkpoint\n"
            "from inspector.core.summary import summarize, optimizer_param_labels\n"
            f"ck = open_checkpoint({str(training_ckpt)!r})\n"
            "summarize(ck); optimizer_param_labels(ck)\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n"
            "assert not any(m.startswith(('PySide6', 'pyqtgraph')) for m in sys.modules)\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_formatting():
    assert format_bytes(1536) == "1.5 KiB"
    assert format_value(0.001) == "0.001"
    assert format_value(-2.2790017127990723) == "-2.279"
    assert format_value((0.9, 0.999)) == "(0.9, 0.999)"
