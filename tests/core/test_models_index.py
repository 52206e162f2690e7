"""The key/shape signature index of library architectures (issue 12): built once per library
version as a worker job with progress, stored in the user cache folder, read back for
proposals. torchvision/timm tests skip where those libraries do not import."""

from __future__ import annotations

import json
import os
import warnings

import pytest
import torch

from inspector.core.inference.zoo import index as zindex
from inspector.core.inference.zoo.libraries import library, parse_library_spec
from inspector.core.jobs import JobProgress


def test_library_specs():
    assert parse_library_spec("torchvision:resnet50").text == "torchvision:resnet50"
    assert parse_library_spec("timm:convnext_tiny").library == "timm"
    assert parse_library_spec("hf:BertModel").library == "transformers"
    assert parse_library_spec("demo-cnn") is None
    assert parse_library_spec("models/net.py:Net") is None
    assert parse_library_spec("hf:not a name") is None


def test_missing_library_is_reported_not_raised():
    if library("torchvision") is None:
        from inspector.core.inference.zoo.libraries import library_problem, missing_note

        assert "torchvision" in library_problem("torchvision")
        assert "checkpoint-inspector[models]" in missing_note()


@pytest.mark.skipif(library("transformers") is None, reason="needs transformers")
def test_index_is_built_once_in_the_user_cache():
    # the session's cache folder is a temporary one (conftest): built here or by an earlier test
    cache = os.environ["XDG_CACHE_HOME"]
    version = library("transformers").__version__
    path = os.path.join(cache, "checkpoint-inspector", f"model-index-transformers-{version}.json")
    if "transformers" in zindex.missing_indexes():
        assert not os.path.exists(path)
        items = list(zindex.iter_build_index(("transformers",)))
        progress = [i for i in items if isinstance(i, JobProgress)]
        assert progress and progress[-1].done == progress[-1].total
        built = items[-1]
        assert isinstance(built, zindex.IndexBuilt) and built.candidates > 20
        assert built.path == os.path.dirname(path)
    with open(path, encoding="utf-8") as fh:
        doc = json.load(fh)
    names = {e["name"] for e in doc["entries"]}
    assert {"BertModel", "GPT2LMHeadModel", "ViTForImageClassification", "Wav2Vec2Model",
            "WhisperForConditionalGeneration", "LlamaForCausalLM", "T5Model"} <= names
    assert "transformers" not in zindex.missing_indexes()
    # proposals come from the stored index
    from transformers import LlamaConfig, LlamaForCausalLM

    with torch.device("meta"):
        model = LlamaForCausalLM(LlamaConfig(
            vocab_size=100, hidden_size=64, intermediate_size=96, num_hidden_layers=3,
            num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False))
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = zindex.propose(shapes)
    top = found[0][0]
    assert top.spec == "hf:LlamaForCausalLM" and top.exact
    assert top.kwargs["num_hidden_layers"] == 3 and top.kwargs["intermediate_size"] == 96
    # heads are not in the shapes, only heads × head size: a consistent choice
    kw = top.kwargs
    assert kw["num_attention_heads"] * kw["head_dim"] == 64
    assert kw["num_key_value_heads"] * kw["head_dim"] == 32


def test_cancelled_index_build_leaves_nothing(tmp_path, monkeypatch):
    if library("transformers") is None:
        pytest.skip("needs transformers")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(zindex, "cancel_requested", lambda: True)
    assert not [i for i in zindex.iter_build_index(("transformers",))
                if isinstance(i, zindex.IndexBuilt)]
    folder = tmp_path / "checkpoint-inspector"
    assert not folder.exists() or not os.listdir(folder)


tv = pytest.mark.skipif(library("torchvision") is None,
                        reason="torchvision does not import here (CPU torch vs CUDA wheel)")
timm_only = pytest.mark.skipif(library("timm") is None, reason="timm does not import here")


@tv
def test_every_torchvision_classifier_is_identified_as_itself(tmp_path):
    import torchvision

    from inspector.core.inference import inference_options

    zindex.build_index(("torchvision",))
    names = torchvision.models.list_models(module=torchvision.models)
    wrong = []
    for name in names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # googlenet/inception: init-default advice
            try:
                with torch.device("meta"):
                    model = torchvision.models.get_model(name, weights=None, num_classes=7)
            except NotImplementedError:  # RegNet reads tensor values while it is built
                model = torchvision.models.get_model(name, weights=None, num_classes=7)
        shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        found = zindex.propose(shapes)
        if not found or found[0][0].spec != f"torchvision:{name}" or \
                found[0][0].kwargs.get("num_classes") != 7:
            # architectures with identical names and shapes (e.g. quantizable twins) may tie
            if not found or found[0][0].score < 1.0 or not found[0][0].exact:
                wrong.append((name, found[0][0].spec if found else None))
    assert not wrong
    model = torchvision.models.resnet18(weights=None, num_classes=5)
    path = tmp_path / "r18.pth"
    torch.save(model.state_dict(), path)
    assert inference_options(str(path)).proposed == "torchvision:resnet18"


@timm_only
def test_a_sample_of_timm_models_is_identified_as_itself():
    import timm

    zindex.build_index(("timm",))
    for name in ("resnet18", "convnext_atto", "vit_tiny_patch16_224", "efficientnet_b0",
                 "mobilenetv3_small_050", "deit_tiny_patch16_224"):
        with torch.device("meta"):
            model = timm.create_model(name, pretrained=False, num_classes=9)
        shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
        top = zindex.propose(shapes)[0][0]
        assert top.exact and top.kwargs.get("num_classes") == 9, (name, top)
