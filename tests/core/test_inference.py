"""Train vs. eval runs: spreads, weights untouched, key fixes, user code, devices, demo files."""

from __future__ import annotations

import hashlib
import os

import pytest
import torch
from torch import nn

from inspector.core.demo import make_demo
from inspector.core.devices import DeviceError, check_device, list_devices
from inspector.core.inference import (
    HINT_ARCHITECTURE,
    HINT_CHANGE_INPUT_SHAPE,
    HINT_GIVE_INPUT_SHAPE,
    HINT_RANDOM_INIT,
    HINT_TRUST,
    DemoCNN,
    InferenceError,
    ModelCodeError,
    RandomInitError,
    RunConfig,
    RunResult,
    TrustRequiredError,
    iter_run_demo,
    iter_run_model,
    load_model,
    mode_sensitive_layers,
    parse_kwargs,
    parse_shape,
    run_demo,
    sample_input,
)
from inspector.core.jobs import JobProgress
from inspector.core.resources import demo_checkpoint

RUNS = 4
JSON_KEYS = {"device", "dtype", "architecture", "load", "mode_sensitive_layers", "input_shape",
             "output_shape", "train", "eval", "eval_vs_train_mean", "bn_running_stats_drift",
             "weights_unchanged"}


def _sha(path) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


@pytest.fixture(scope="module")
def demo_ckpt(tmp_path_factory):
    """One epoch of the demo training, saved the recommended way."""
    return make_demo(tmp_path_factory.mktemp("demo"), epochs=1, samples=64)[0].path


def _small_cnn_sd():
    torch.manual_seed(3)
    model = DemoCNN(width=4, image_size=8)
    # non-trivial running statistics, as after training
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, 8, 8))
    return model.state_dict()


def test_demo_checkpoint_eval_spread_zero_train_spread_positive(demo_ckpt):
    before = _sha(demo_ckpt)
    r = run_demo(RunConfig(demo_ckpt, runs=RUNS))
    assert r.architecture == "demo-cnn"
    assert r.eval.spread == 0.0 and r.eval.max_run_diff == 0.0
    assert r.train.spread > 0 and r.train.max_run_diff > 0
    assert r.eval_vs_train_mean > 0
    assert r.bn_running_stats_drift > 0
    assert r.weights_unchanged is True
    assert _sha(demo_ckpt) == before
    assert {m.type for m in r.mode_sensitive_layers} == {"BatchNorm2d", "Dropout"}
    assert all(m.explanation for m in r.mode_sensitive_layers)
    assert r.input_shape == (4, 3, 32, 32) and r.output_shape == (4, 10)
    assert r.train.outputs.shape == (RUNS, 4, 10) and r.eval.outputs.shape == (RUNS, 4, 10)
    doc = r.to_json()
    assert set(doc) == JSON_KEYS
    assert set(doc["load"]) == {"missing_keys", "unexpected_keys", "shape_mismatches",
                                "fixes_applied"}
    assert set(doc["train"]) == {"runs", "spread", "max_run_diff", "ms_per_run"}
    assert doc["mode_sensitive_layers"][0].keys() == {"name", "type"}


def test_loaded_weights_equal_the_file_after_a_run(demo_ckpt):
    config = RunConfig(demo_ckpt, runs=RUNS)
    loaded = load_model(config)
    results = [item for item in iter_run_model(loaded, config) if isinstance(item, RunResult)]
    assert results[0].weights_unchanged
    stored = torch.load(demo_ckpt, map_location="cpu", weights_only=True)["model_state_dict"]
    now = loaded.model.state_dict()
    assert now.keys() == stored.keys()
    for key, value in stored.items():
        assert torch.equal(now[key].view(-1).view(torch.uint8),
                           value.view(-1).view(torch.uint8)), key


def test_model_without_dropout_or_batchnorm_has_zero_spreads(state_dict_ckpt):
    r = run_demo(RunConfig(str(state_dict_ckpt), runs=RUNS))
    assert r.architecture == "plain-mlp"
    assert r.mode_sensitive_layers == ()
    assert r.train.spread == 0 and r.eval.spread == 0
    assert r.eval_vs_train_mean == 0 and r.bn_running_stats_drift == 0
    assert r.input_shape == (4, 4) and r.output_shape == (4, 2)


def test_progress_steps_then_result_and_global_state_untouched(state_dict_ckpt):
    rng = torch.get_rng_state()
    items = list(iter_run_demo(RunConfig(str(state_dict_ckpt), runs=3)))
    assert isinstance(items[-1], RunResult)
    texts = [i.text for i in items if isinstance(i, JobProgress)]
    assert "train pass 3/3" in texts and "eval pass 1/3" in texts
    assert any(t.startswith("moving the model to cpu") for t in texts)
    assert torch.equal(torch.get_rng_state(), rng)
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()


def test_cancel_between_steps(demo_ckpt):
    gen = iter_run_demo(RunConfig(demo_ckpt, runs=50))
    for item in gen:
        if isinstance(item, JobProgress) and item.text.startswith("train pass 2"):
            break
    gen.close()  # cancelling is: stop pulling
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()


@pytest.mark.parametrize("wrap", ["module.", "_orig_mod.", "module._orig_mod."])
def test_prefixed_keys_are_fixed(tmp_path, wrap):
    sd = _small_cnn_sd()
    path = tmp_path / "wrapped.pth"
    torch.save({wrap + k: v for k, v in sd.items()}, path)
    r = run_demo(RunConfig(str(path), runs=2))
    assert r.architecture == "demo-cnn"
    assert not r.load.missing_keys and not r.load.unexpected_keys
    for part in wrap.rstrip(".").split("."):
        assert any(repr(part + ".") in f for f in r.load.fixes_applied)


def test_lightning_checkpoint_with_model_prefix(tmp_path):
    sd = _small_cnn_sd()
    path = tmp_path / "lightning.ckpt"
    torch.save({"epoch": 2, "global_step": 7, "state_dict": {"model." + k: v for k, v in sd.items()},
                "optimizer_states": [], "lr_schedulers": []}, path)
    r = run_demo(RunConfig(str(path), runs=2))
    assert r.load.loaded_keys == len(sd)
    assert any("'state_dict'" in f for f in r.load.fixes_applied)
    assert any("'model.'" in f for f in r.load.fixes_applied)


def test_shape_mismatch_and_unexpected_keys_are_reported(tmp_path):
    sd = _small_cnn_sd()
    sd["extra.weight"] = torch.zeros(2)
    path = tmp_path / "odd.pth"
    torch.save({"model_state_dict": sd}, path)
    with pytest.raises(RandomInitError) as info:  # issue 17 item 8: stop unless allowed
        run_demo(RunConfig(str(path), architecture="demo-cnn", arch_kwargs={"num_classes": 5},
                           runs=2))
    assert info.value.hint == HINT_RANDOM_INIT
    assert info.value.keys == ["classifier.2.weight", "classifier.2.bias"]
    r = run_demo(RunConfig(str(path), architecture="demo-cnn", arch_kwargs={"num_classes": 5},
                           runs=2, allow_random_init=True))
    assert r.random_init_keys == ("classifier.2.weight", "classifier.2.bias")
    assert [m.key for m in r.load.shape_mismatches] == ["classifier.2.weight", "classifier.2.bias"]
    assert r.load.shape_mismatches[0].checkpoint_shape == (10, 8)
    assert r.load.unexpected_keys == ("extra.weight",)
    assert r.load.missing_keys == ()
    assert r.output_shape == (4, 5)


def test_user_file_architecture_runs(tmp_path):
    (tmp_path / "net.py").write_text(
        "from torch import nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, hidden=6):\n"
        "        super().__init__()\n"
        "        self.body = nn.Sequential(nn.Linear(3, hidden), nn.ReLU(), nn.Dropout(0.3))\n"
        "        self.head = nn.Linear(hidden, 2)\n"
        "    def forward(self, x):\n"
        "        return self.head(self.body(x))\n")
    import importlib.util

    spec = importlib.util.spec_from_file_location("net_for_test", tmp_path / "net.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    path = tmp_path / "net.pth"
    torch.save({"model_state_dict": mod.Net(hidden=9).state_dict()}, path)
    r = run_demo(RunConfig(str(path), architecture=f"{tmp_path / 'net.py'}:Net",
                           arch_kwargs={"hidden": 9}, runs=3))
    assert r.load.loaded_keys == 4 and not r.load.shape_mismatches
    assert r.input_shape == (4, 3)
    assert r.train.spread > 0 and r.eval.spread == 0


def test_exception_in_user_forward_is_a_clear_error(tmp_path, state_dict_ckpt):
    (tmp_path / "boom.py").write_text(
        "from torch import nn\n"
        "class Boom(nn.Sequential):\n"
        "    def __init__(self):\n"
        "        super().__init__(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))\n"
        "    def forward(self, x):\n"
        "        raise KeyError('no such feature')\n")
    with pytest.raises(ModelCodeError, match="forward raised KeyError") as info:
        run_demo(RunConfig(str(state_dict_ckpt), architecture=f"{tmp_path / 'boom.py'}:Boom",
                           runs=2))
    assert "boom.py" in info.value.traceback_text
    assert "raise KeyError" in info.value.traceback_text


def test_wrong_input_shape_is_a_clear_error(state_dict_ckpt):
    with pytest.raises(ModelCodeError, match=r"input \[4, 7\] failed") as info:
        run_demo(RunConfig(str(state_dict_ckpt), input_shape=(7,), runs=2))
    assert info.value.hint == HINT_CHANGE_INPUT_SHAPE
    assert "--" not in info.value.message  # core names no command-line flag


def test_no_matching_builtin_asks_for_an_architecture(tmp_path):
    path = tmp_path / "unknown.pth"
    torch.save({"encoder.tok.weight": torch.zeros(10, 4)}, path)
    with pytest.raises(InferenceError, match="no built-in or library architecture matches") \
            as info:
        run_demo(RunConfig(str(path)))
    assert info.value.hint == HINT_ARCHITECTURE
    assert "--" not in info.value.message


def test_whole_model_pickle_needs_trust_or_arch(tmp_path, marker):
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 2))
    path = tmp_path / "whole.pth"
    torch.save(model, path)
    with pytest.raises(TrustRequiredError, match="runs code from the file") as info:
        run_demo(RunConfig(str(path), runs=2))
    assert info.value.hint == HINT_TRUST and "--" not in info.value.message
    assert "torch.nn.modules.dropout.Dropout" in info.value.globals
    trusted = run_demo(RunConfig(str(path), runs=3, trust=True))
    assert trusted.train.spread > 0 and trusted.eval.spread == 0
    weights_only = run_demo(RunConfig(str(path), architecture="mlp", runs=3))
    assert weights_only.architecture == "mlp" and weights_only.load.loaded_keys == 4
    assert any("attributes" in f for f in weights_only.load.fixes_applied)
    torch.testing.assert_close(trusted.eval.outputs, weights_only.eval.outputs)


# ---- inputs and layers

def test_sample_input_from_first_layer():
    x, how = sample_input(nn.Sequential(nn.Conv2d(5, 2, 3)), batch_size=2)
    assert x.shape == (2, 5, 32, 32) and "Conv2d" in how
    x, _ = sample_input(nn.Sequential(nn.Linear(7, 2)), batch_size=3)
    assert x.shape == (3, 7)
    x, how = sample_input(nn.Sequential(nn.Embedding(50, 4), nn.Linear(4, 2)), batch_size=2)
    assert x.dtype == torch.int64 and x.shape == (2, 16)
    assert int(x.min()) >= 0 and int(x.max()) < 50
    x, _ = sample_input(nn.Sequential(nn.Conv2d(5, 2, 3)), batch_size=1, input_shape=(5, 9, 9))
    assert x.shape == (1, 5, 9, 9)
    a, _ = sample_input(nn.Linear(3, 1), seed=1)
    b, _ = sample_input(nn.Linear(3, 1), seed=1)
    assert torch.equal(a, b)
    with pytest.raises(InferenceError, match="cannot tell the input shape") as info:
        sample_input(nn.Sequential(nn.ReLU()))
    assert info.value.hint == HINT_GIVE_INPUT_SHAPE


def test_parse_shape_and_kwargs():
    assert parse_shape("") is None and parse_shape("auto: 3×32×32") is None
    assert parse_shape("3x32x32") == (3, 32, 32)
    assert parse_shape("[3, 32, 32]") == (3, 32, 32)
    assert parse_shape("3 32 32") == (3, 32, 32)
    assert parse_shape("784") == (784,)
    with pytest.raises(InferenceError, match="whole numbers"):
        parse_shape("3 x a")
    with pytest.raises(InferenceError, match="at least 1"):
        parse_shape("3x0")
    assert parse_kwargs(' {"num_classes": 10} ') == {"num_classes": 10}
    assert parse_kwargs("  ") == {}
    with pytest.raises(InferenceError, match="not valid JSON"):
        parse_kwargs("{num_classes: 10}")
    with pytest.raises(InferenceError, match="JSON object"):
        parse_kwargs("[1, 2]")


def test_mode_sensitive_layers_detected():
    model = nn.Sequential(nn.Dropout(0.2), nn.BatchNorm1d(3, track_running_stats=False),
                          nn.BatchNorm1d(3), nn.InstanceNorm1d(3, track_running_stats=True),
                          nn.InstanceNorm1d(3), nn.RReLU(), nn.ReLU(), nn.AlphaDropout(0.1))
    found = {m.name: m.type for m in mode_sensitive_layers(model)}
    assert found == {"0": "Dropout", "2": "BatchNorm1d", "3": "InstanceNorm1d", "5": "RReLU",
                     "7": "AlphaDropout"}


# ---- devices and dtypes

def test_device_listing():
    devices = list_devices()
    assert devices[0].name == "cpu" and devices[0].description
    assert devices[0].memory_bytes is None or devices[0].memory_bytes > 0
    assert set(devices[0].to_json()) >= {"name", "description", "memory_bytes"}
    assert all(d.name == "cpu" or d.name.startswith("cuda:") or d.name == "mps" for d in devices)
    assert check_device("cpu").name == "cpu"
    with pytest.raises(DeviceError, match="unknown dtype"):
        check_device("cpu", "float64")
    with pytest.raises(DeviceError, match="unknown device"):
        check_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message without a GPU")
def test_missing_cuda_is_a_clear_error(state_dict_ckpt):
    with pytest.raises(InferenceError, match="no CUDA device is available"):
        run_demo(RunConfig(str(state_dict_ckpt), device="cuda:0", runs=2))


def test_bfloat16_on_cpu(demo_ckpt):
    r = run_demo(RunConfig(demo_ckpt, dtype="bfloat16", runs=3))
    assert r.dtype == "bfloat16" and r.weights_unchanged
    assert r.eval.spread == 0 and r.train.spread > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_demo_on_cuda(demo_ckpt, dtype):
    r = run_demo(RunConfig(demo_ckpt, device="cuda:0", dtype=dtype, runs=RUNS))
    assert r.device == "cuda:0" and r.weights_unchanged
    assert r.eval.spread == 0 and r.train.spread > 0


# ---- the demo files

def test_make_demo_saves_recommended_checkpoints(tmp_path):
    epochs = make_demo(tmp_path / "out", epochs=2, seed=1, samples=64)
    assert [os.path.basename(e.path) for e in epochs] == ["demo_epoch_1.pth", "demo_epoch_2.pth"]
    data = torch.load(epochs[1].path, map_location="cpu", weights_only=True)
    assert set(data) == {"epoch", "model_state_dict", "optimizer_state_dict", "loss"}
    assert data["epoch"] == 2 and epochs[1].loss < epochs[0].loss


def test_bundled_demo_is_small_and_runs():
    demo = demo_checkpoint()
    folder = str(demo.parent) if demo is not None else None
    assert folder is not None
    files = sorted(os.listdir(folder))
    assert {"demo_epoch_1.pth", "demo_epoch_3.pth"} <= set(files)
    assert sum(os.path.getsize(os.path.join(folder, f)) for f in files) < 200_000
    r = run_demo(RunConfig(os.path.join(folder, "demo_epoch_3.pth"), runs=3))
    assert r.eval.spread == 0 and r.train.spread > 0 and r.weights_unchanged


def test_exported_program_needs_trust(tmp_path):
    path = tmp_path / "linear.pt2"
    program = torch.export.export(nn.Linear(2, 3), (torch.randn(1, 2),))
    torch.export.save(program, path)
    with pytest.raises(TrustRequiredError, match="torch.export"):
        run_demo(RunConfig(str(path), runs=2))
    with pytest.raises(InferenceError, match="torch.export program keeps the mode"):
        run_demo(RunConfig(str(path), runs=2, trust=True, input_shape=(2,)))


# ---- messages across the worker boundary

def test_results_and_failures_unpickle_without_torch(tmp_path, state_dict_ckpt):
    """What a worker sends back (progress, result, options, failure) is torch-free data."""
    import pickle
    import subprocess
    import sys

    from inspector.core.inference import inference_options, iter_run_job

    items = list(iter_run_job(RunConfig(str(state_dict_ckpt), runs=2)))
    failure = list(iter_run_job(RunConfig(str(state_dict_ckpt), input_shape=(7,), runs=2)))[-1]
    payload = tmp_path / "items.pickle"
    payload.write_bytes(pickle.dumps([*items, failure, inference_options(str(state_dict_ckpt))]))
    code = ("import pickle, sys\n"
            f"items = pickle.loads(open({str(payload)!r}, 'rb').read())\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n"
            "print(' '.join(type(i).__name__ for i in items))\n"
            "print(items[-2].hint, items[-2].type)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    names, hint = proc.stdout.splitlines()
    assert names.split()[0] == "JobProgress"
    assert names.split()[-3:] == ["RunResult", "InferenceFailure", "InferenceOptions"]
    assert hint == f"{HINT_CHANGE_INPUT_SHAPE} ModelCodeError"
