"""Real models (issue 12): Hugging Face folders written by save_pretrained of tiny random-init
configs are identified from config.json and run with no flags; their bare state_dicts are
identified by names and shapes alone; custom code in a folder never runs without trust."""

from __future__ import annotations

import json
import os
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from inspector.core.inference import (  # noqa: E402
    HINT_EXTRA_ARGS,
    HINT_RANDOM_INIT,
    HINT_TRUST,
    RandomInitError,
    RunConfig,
    TrustRequiredError,
    inference_options,
    iter_run_job,
    run_demo,
    verdict_text,
)
from inspector.core.inference.results import InferenceFailure  # noqa: E402

RUNS = 3
WORDS = ["[PAD]", "[UNK]", "the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "."]


def _tokenizer(folder: str) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {w: i for i, w in enumerate(WORDS + [f"w{i}" for i in range(40)])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(os.path.join(folder, "tokenizer.json"))


def tiny_models() -> dict[str, tuple[object, bool]]:
    """name -> (random-init model of a tiny config, whether it gets a tokenizer.json)."""
    t = transformers
    torch.manual_seed(0)
    labels = {i: f"shape-{i}" for i in range(5)}
    return {
        "bert": (t.BertModel(t.BertConfig(
            vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
            intermediate_size=37, max_position_embeddings=40)), True),
        "gpt2": (t.GPT2LMHeadModel(t.GPT2Config(
            vocab_size=64, n_embd=32, n_layer=2, n_head=2, n_positions=40, bos_token_id=0,
            eos_token_id=0)), True),
        "vit": (t.ViTForImageClassification(t.ViTConfig(
            image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
            num_attention_heads=2, intermediate_size=37, num_labels=5, id2label=labels,
            label2id={v: k for k, v in labels.items()}, hidden_dropout_prob=0.2)), False),
        "resnet": (t.ResNetForImageClassification(t.ResNetConfig(
            embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic",
            num_labels=3)), False),
        "wav2vec2": (t.Wav2Vec2Model(t.Wav2Vec2Config(
            vocab_size=20, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=20, conv_dim=[8, 8], conv_kernel=[10, 3], conv_stride=[5, 2],
            num_conv_pos_embeddings=4, num_conv_pos_embedding_groups=2)), False),
    }


CLASSES = {"bert": "BertModel", "gpt2": "GPT2LMHeadModel", "vit": "ViTForImageClassification",
           "resnet": "ResNetForImageClassification", "wav2vec2": "Wav2Vec2Model"}


def make_models(root, names: tuple[str, ...] | None = None) -> dict[str, tuple[str, str]]:
    """name -> (save_pretrained folder, bare state_dict .pth) under ``root``."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    out = {}
    for name, (model, with_tokenizer) in tiny_models().items():
        if names is not None and name not in names:
            continue
        folder = os.path.join(root, name)
        model.save_pretrained(folder)
        if with_tokenizer:
            _tokenizer(folder)
        pth = os.path.join(root, f"{name}.pth")
        torch.save(model.state_dict(), pth)
        out[name] = (folder, pth)
    return out


_MADE: dict[str, tuple[str, str]] = {}


def shared_models(tmp_path_factory) -> dict[str, tuple[str, str]]:
    """The tiny models, written once per test session (this module and the CLI tests)."""
    if not _MADE or not all(os.path.isdir(folder) for folder, _ in _MADE.values()):
        _MADE.clear()
        _MADE.update(make_models(str(tmp_path_factory.mktemp("hf-models"))))
    return dict(_MADE)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return shared_models(tmp_path_factory)


@pytest.fixture(scope="module")
def index():
    """The model index (in the session's temporary cache folder, see conftest)."""
    from inspector.core.inference.zoo.index import build_index, missing_indexes

    if missing_indexes():
        build_index()


@pytest.mark.parametrize("name", list(CLASSES))
def test_hf_folder_identified_from_config_and_run(models, name):
    folder, _pth = models[name]
    options = inference_options(folder)
    assert options.config_class == CLASSES[name]
    assert options.proposed == f"hf:{CLASSES[name]}"
    assert options.proposals[0].exact and options.proposals[0].score == 1.0
    r = run_demo(RunConfig(folder, runs=RUNS, batch_size=1 if name == "wav2vec2" else 2))
    assert r.architecture == f"hf:{CLASSES[name]}"
    assert not (r.load.missing_keys or r.load.unexpected_keys or r.load.shape_mismatches)
    assert r.load.loaded_keys > 0 and r.weights_unchanged
    assert any("from config.json" in n and "no code from the folder ran" in n for n in r.notes)
    assert r.eval.max_run_diff == 0
    doc = r.to_json()
    if name in ("gpt2", "vit", "resnet"):
        assert r.predictions is not None and len(r.predictions.train) == RUNS
        assert doc["predictions"]["eval"][0]["label"]
        assert "top-1" in verdict_text(r)
    else:
        assert r.embedding_cosine is not None and len(r.embedding_cosine.train) == RUNS
        assert -1.0 <= r.embedding_cosine.min <= 1.0 and "embedding_cosine" in doc
        assert "cosine similarity" in verdict_text(r)


def test_inputs_are_real_and_labelled(models):
    r = run_demo(RunConfig(models["gpt2"][0], runs=RUNS, batch_size=2, text="the lazy dog"))
    assert r.input_kind == "text" and r.input_shape == (2, 3)
    assert "tokenized with tokenizer.json (3 tokens)" in r.input_description
    assert r.predictions.kind == "next-token" and r.output_shape == (2, 64)
    labels = {x.label for x in r.predictions.eval}
    assert labels & set(WORDS[2:]) or any(x.startswith("w") for x in labels)
    v = run_demo(RunConfig(models["vit"][0], runs=5, batch_size=2))
    assert v.input_kind == "image" and v.input_shape == (2, 3, 32, 32)
    assert "sample images" in v.input_description
    assert {x.label for x in v.predictions.eval} == {f"shape-{i}" for i in range(5)}
    assert len(v.predictions.train_probs) == 5 and all(
        len(run) == 5 and abs(sum(run) - 1.0) < 1e-6 for run in v.predictions.train_probs)
    assert abs(sum(x.probability for x in v.predictions.eval) - 1.0) < 1e-6
    # ViT has Dropout 0.2 here: train runs differ and the verdict names the layers
    assert v.train.max_run_diff > 0
    w = run_demo(RunConfig(models["wav2vec2"][0], runs=2, batch_size=1))
    assert w.input_kind == "audio" and w.input_shape == (1, 16000)
    assert "440 Hz" in w.input_description


def test_user_image_is_used(models, tmp_path):
    from PIL import Image

    image = tmp_path / "mine.png"
    Image.new("RGB", (50, 40), (10, 200, 30)).save(image)
    r = run_demo(RunConfig(models["resnet"][0], runs=2, batch_size=2, image=str(image)))
    assert "mine.png" in r.input_description and r.predictions.kind == "classes"
    assert [x.label for x in r.predictions.eval] and r.predictions.eval[0].label.startswith(
        "LABEL_")


@pytest.mark.parametrize("name", list(CLASSES))
def test_bare_state_dict_identified_by_shapes(models, index, name):
    _folder, pth = models[name]
    options = inference_options(pth)
    assert options.config_class == "" and options.index_missing == ()
    top = options.proposals[0]
    assert top.spec == f"hf:{CLASSES[name]}" and top.exact and top.score == 1.0
    assert top.input_kind == {"bert": "text", "gpt2": "text", "wav2vec2": "audio"}.get(
        name, "image")
    assert options.proposed == top.spec
    if name not in ("gpt2", "vit"):  # running: the tied LM head and the renamed ViT keys
        return
    r = run_demo(RunConfig(pth, runs=2, batch_size=2))
    assert r.architecture == f"hf:{CLASSES[name]}"
    assert not (r.load.missing_keys or r.load.unexpected_keys or r.load.shape_mismatches)
    assert any("by parameter names and shapes (100% of keys match)" in n for n in r.notes)


def test_state_dict_with_prefixes_and_wrapper(models, index, tmp_path):
    sd = torch.load(models["bert"][1], weights_only=True)
    path = tmp_path / "wrapped.ckpt"
    torch.save({"epoch": 3, "state_dict": {"module.bert." + k: v for k, v in sd.items()}}, path)
    r = run_demo(RunConfig(str(path), runs=2, batch_size=2))
    assert r.architecture == "hf:BertModel" and not r.load.missing_keys
    assert any("'module.'" in f for f in r.load.fixes_applied)


def test_explicit_hf_spec_with_kwargs(models):
    _folder, pth = models["bert"]
    r = run_demo(RunConfig(pth, architecture="hf:BertModel", runs=2, batch_size=2))
    assert r.architecture == "hf:BertModel" and not r.load.missing_keys
    with pytest.raises(RandomInitError) as info:  # a head the file does not have
        run_demo(RunConfig(pth, architecture="hf:BertForSequenceClassification",
                           arch_kwargs={"num_labels": 4}, runs=2, batch_size=2))
    assert info.value.hint == HINT_RANDOM_INIT
    assert info.value.keys == ["classifier.weight", "classifier.bias"]
    r = run_demo(RunConfig(pth, architecture="hf:BertForSequenceClassification",
                           arch_kwargs={"num_labels": 4}, runs=2, batch_size=2,
                           allow_random_init=True))
    assert r.random_init_keys == ("classifier.weight", "classifier.bias")
    assert verdict_text(r).startswith("Ran anyway with random weights: 2 weights "
                                      "(classifier.weight, classifier.bias)")
    assert r.to_json()["random_init_keys"] == ["classifier.weight", "classifier.bias"]
    assert r.predictions is not None and len(r.predictions.eval) == 4


def test_missing_weights_stop_the_job_with_the_keys(models, tmp_path):
    sd = torch.load(models["resnet"][1], weights_only=True)
    del sd["classifier.1.weight"]
    path = tmp_path / "headless.pth"
    torch.save(sd, path)
    items = list(iter_run_job(RunConfig(str(path), architecture="hf:ResNetForImageClassification",
                                        arch_kwargs={"num_labels": 3}, runs=2, batch_size=2)))
    failure = items[-1]
    assert isinstance(failure, InferenceFailure) and failure.hint == HINT_RANDOM_INIT
    assert failure.keys == ("classifier.1.weight",)
    assert "missing from the file" in failure.message


@pytest.fixture
def custom_folder(models, tmp_path, marker):
    """A HF folder whose config.json points at code in the folder that would create the
    marker file when imported."""
    folder = tmp_path / "custom"
    folder.mkdir()
    source = Path(models["bert"][0])
    for path in source.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_evil.EvilModel",
                          "AutoConfig": "modeling_evil.EvilConfig"}
    config["architectures"] = ["EvilModel"]
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    return folder


def test_custom_code_folder_runs_nothing_without_trust(custom_folder, marker):
    options = inference_options(str(custom_folder))
    assert options.custom_code == ("modeling_evil.EvilModel", "modeling_evil.EvilConfig")
    assert options.proposed != "hf:EvilModel"
    with pytest.raises(TrustRequiredError) as info:
        run_demo(RunConfig(str(custom_folder), runs=2))
    assert info.value.hint == HINT_TRUST and "auto_map" in info.value.message
    assert "modeling_evil.EvilModel" in info.value.globals
    items = list(iter_run_job(RunConfig(str(custom_folder), runs=2)))
    assert isinstance(items[-1], InferenceFailure) and items[-1].hint == HINT_TRUST
    assert not marker.exists()


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_pickled_bin_weights_are_read_without_running_code(models, tmp_path, marker):
    """A folder whose pytorch_model.bin is a pickle that would create the marker: our reader
    never runs it; the run stops with a clear error or runs without the payload."""
    folder = tmp_path / "binfolder"
    folder.mkdir()
    (folder / "config.json").write_bytes((Path(models["bert"][0]) / "config.json").read_bytes())
    sd = torch.load(models["bert"][1], weights_only=True)
    torch.save(sd, folder / "pytorch_model.bin")
    r = run_demo(RunConfig(str(folder), runs=2, batch_size=2))
    assert r.architecture == "hf:BertModel" and not r.load.missing_keys
    with open(folder / "pytorch_model.bin", "wb") as fh:
        pickle.dump({"x": _Evil(str(marker))}, fh)
    items = list(iter_run_job(RunConfig(str(folder), runs=2, batch_size=2)))
    assert isinstance(items[-1], InferenceFailure)
    assert not marker.exists()


def test_extra_forward_args_and_npy_input(tmp_path):
    (tmp_path / "scaled.py").write_text(
        "from torch import nn\n"
        "class Scaled(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.lin = nn.Linear(3, 2)\n"
        "    def forward(self, x, sr=None):\n"
        "        assert sr == 16000, sr\n"
        "        return self.lin(x) * 2\n")
    path = tmp_path / "scaled.pth"
    torch.manual_seed(0)
    torch.save({"lin.weight": torch.randn(2, 3), "lin.bias": torch.zeros(2)}, path)
    npy = tmp_path / "input.npy"
    np.save(npy, np.arange(15, dtype=np.float64).reshape(5, 3))
    spec = f"{tmp_path / 'scaled.py'}:Scaled"
    r = run_demo(RunConfig(str(path), architecture=spec, runs=2, input_npy=str(npy),
                           extra_args={"sr": 16000}))
    assert r.input_shape == (5, 3) and r.output_shape == (5, 2)
    assert "input.npy" in r.input_description and "'sr': 16000" in r.input_description
    items = list(iter_run_job(RunConfig(str(path), architecture=spec, runs=2,
                                        extra_args={"sr": 8000})))
    assert isinstance(items[-1], InferenceFailure) and "assert sr == 16000" in items[-1].traceback
    (tmp_path / "needs.py").write_text(
        "from torch import nn\n"
        "class Needs(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.lin = nn.Linear(3, 2)\n"
        "    def forward(self, x, sr):\n"
        "        return self.lin(x)\n")
    items = list(iter_run_job(RunConfig(str(path), architecture=f"{tmp_path / 'needs.py'}:Needs",
                                        runs=2)))
    failure = items[-1]
    assert isinstance(failure, InferenceFailure) and failure.hint == HINT_EXTRA_ARGS
    assert "needs the argument 'sr'" in failure.message
    scripted = tmp_path / "needs.pt"
    with warnings.catch_warnings():  # torch.jit is deprecated (the warning's class varies
        warnings.simplefilter("ignore")  # by torch version); silero still ships TorchScript
        torch.jit.save(torch.jit.script(_Needs()), str(scripted))
    items = list(iter_run_job(RunConfig(str(scripted), trust=True, runs=2, input_shape=(3,))))
    assert items[-1].hint == HINT_EXTRA_ARGS and "'sr'" in items[-1].message
    r = run_demo(RunConfig(str(scripted), trust=True, runs=2, input_shape=(3,),
                           extra_args={"sr": 16000}))
    assert r.output_shape == (4, 2)


class _Needs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)

    def forward(self, x, sr: int):
        return self.lin(x) * (sr / 16000)


def test_trusted_custom_code_folder_runs_its_own_model(tmp_path):
    """Only with trust=True does transformers import the folder's own code; weights still
    come through our reader; a forward() without input_ids gets a tensor of the right size."""
    from safetensors.torch import save_file

    folder = tmp_path / "tiny-custom"
    folder.mkdir()
    (folder / "modeling_tiny.py").write_text(
        "from torch import nn\n"
        "from transformers import PretrainedConfig, PreTrainedModel\n"
        "class TinyConfig(PretrainedConfig):\n"
        "    model_type = 'tinycustom'\n"
        "    def __init__(self, width=4, **kw):\n"
        "        self.width = width\n"
        "        super().__init__(**kw)\n"
        "class TinyModel(PreTrainedModel):\n"
        "    config_class = TinyConfig\n"
        "    def __init__(self, config):\n"
        "        super().__init__(config)\n"
        "        self.lin = nn.Linear(config.width, 2)\n"
        "        self.drop = nn.Dropout(0.3)\n"
        "        self.post_init()\n"
        "    def forward(self, x):\n"
        "        return self.lin(self.drop(x))\n")
    (folder / "config.json").write_text(json.dumps({
        "model_type": "tinycustom", "width": 4, "architectures": ["TinyModel"],
        "auto_map": {"AutoConfig": "modeling_tiny.TinyConfig",
                     "AutoModel": "modeling_tiny.TinyModel"}}))
    save_file({"lin.weight": torch.ones(2, 4), "lin.bias": torch.zeros(2)},
              str(folder / "model.safetensors"))
    with pytest.raises(TrustRequiredError):
        run_demo(RunConfig(str(folder), runs=2))
    r = run_demo(RunConfig(str(folder), runs=3, trust=True))
    assert r.architecture == "TinyModel (the folder's own code, trusted)"
    assert r.load.loaded_keys == 2 and not r.load.missing_keys
    assert r.input_shape == (4, 4) and r.train.max_run_diff > 0 and r.eval.max_run_diff == 0


@pytest.mark.parametrize("name", ["gpt2", "vit", "wav2vec2"])
def test_outputs_equal_transformers_own_loading(models, name):
    """Our reader + load_state_dict (no random init of weights about to be loaded) gives the
    same eval output as transformers' from_pretrained of the same safetensors folder."""
    folder, _pth = models[name]
    r = run_demo(RunConfig(folder, runs=1, batch_size=1))
    cls = getattr(transformers, CLASSES[name])
    reference = cls.from_pretrained(folder).eval()
    from inspector.core.inference.runs import _model_input, load_model
    from inspector.core.inference.zoo.inputs import reduce_output

    loaded = load_model(RunConfig(folder, batch_size=1))
    inp = _model_input(loaded, RunConfig(folder, batch_size=1), torch.device("cpu"),
                       torch.float32)
    with torch.inference_mode():
        expected = reduce_output(loaded.task, reference(*inp.args, **inp.kwargs))
    np.testing.assert_allclose(r.eval.outputs[0], expected.numpy(), rtol=1e-5, atol=1e-6)


def test_one_shard_of_a_folder_says_to_open_the_folder(models, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "sharded"
    folder.mkdir()
    sd = load_file(os.path.join(models["bert"][0], "model.safetensors"))
    keys = sorted(sd)
    save_file({k: sd[k] for k in keys[:20]}, str(folder / "model-00001-of-00002.safetensors"))
    save_file({k: sd[k] for k in keys[20:]}, str(folder / "model-00002-of-00002.safetensors"))
    (folder / "config.json").write_bytes((Path(models["bert"][0]) / "config.json").read_bytes())
    r = run_demo(RunConfig(str(folder), runs=1, batch_size=1))
    assert r.architecture == "hf:BertModel" and r.load.loaded_keys == len(sd)
    items = list(iter_run_job(RunConfig(str(folder / "model-00001-of-00002.safetensors"),
                                        runs=1)))
    assert isinstance(items[-1], InferenceFailure)
    assert "open the folder to load every shard" in items[-1].message
