"""`run` on real models (issue 12, issue 17 items 8 and 13): no flags for a Hugging Face folder
or its bare state_dict, --text/--image inputs, predictions and embedding cosine in --json,
--allow-random-init, --extra-args, and no code from a folder without --trust."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from inspector.cli import main  # noqa: E402
from tests.core.test_models_hf import shared_models  # noqa: E402


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return shared_models(tmp_path_factory)


def _json(capsys, argv) -> tuple[int, dict, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if code == 0 else {}, captured.err


def test_run_folder_with_no_flags_gives_next_tokens(models, capsys):
    code, doc, _ = _json(capsys, ["run", models["gpt2"][0], "--runs", "3", "--batch", "2",
                                  "--text", "the quick fox", "--json"])
    assert code == 0 and doc["architecture"] == "hf:GPT2LMHeadModel"
    assert doc["input_kind"] == "text" and doc["input_shape"] == [2, 3]
    preds = doc["predictions"]
    assert preds["kind"] == "next-token" and len(preds["eval"]) == 5
    assert len(preds["train"]) == 3 and 0 <= preds["top1_changes"] <= 3
    assert all(0 <= p["probability"] <= 1 and p["label"] for p in preds["eval"])


def test_run_bare_state_dict_gives_embedding_cosine(models, capsys):
    code, doc, _ = _json(capsys, ["run", models["bert"][1], "--runs", "2", "--batch", "2",
                                  "--json"])
    assert code == 0 and doc["architecture"] == "hf:BertModel"
    cos = doc["embedding_cosine"]
    assert len(cos["train"]) == 2 and cos["min"] <= cos["mean"] <= 1.0 + 1e-9
    assert "predictions" not in doc and doc["load"]["missing_keys"] == []


def test_run_image_text_report(models, capsys, tmp_path):
    from PIL import Image

    image = tmp_path / "square.png"
    Image.new("RGB", (20, 20), (200, 10, 10)).save(image)
    assert main(["run", models["vit"][0], "--runs", "2", "--batch", "2", "--image",
                 str(image)]) == 0
    out = capsys.readouterr().out
    assert "architecture: hf:ViTForImageClassification" in out
    assert "Top classes (first input, eval mode):" in out and "shape-" in out
    assert "square.png" in out and "top-1 class" in out


def test_random_init_needs_the_flag(models, capsys):
    argv = ["run", models["bert"][1], "--arch", "hf:BertForSequenceClassification",
            "--arch-kwargs", '{"num_labels": 3}', "--runs", "2", "--batch", "2"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "classifier.weight, classifier.bias" in err and "--allow-random-init" in err
    code, doc, _ = _json(capsys, argv + ["--allow-random-init", "--json"])
    assert code == 0 and doc["random_init_keys"] == ["classifier.weight", "classifier.bias"]


def test_extra_args_must_be_a_json_object(models, capsys):
    assert main(["run", models["bert"][1], "--extra-args", "[1, 2]"]) == 2
    assert "extra forward arguments must be a JSON object" in capsys.readouterr().err


def test_custom_code_folder_needs_trust(models, capsys, tmp_path, marker):
    folder = tmp_path / "custom"
    folder.mkdir()
    for path in Path(models["bert"][0]).iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    assert main(["run", str(folder), "--runs", "2"]) == 2
    err = capsys.readouterr().err
    assert "auto_map" in err and "--trust" in err
    assert not marker.exists()
