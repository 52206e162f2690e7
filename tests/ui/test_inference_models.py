"""The Inference view on real models (#12): Hugging Face folders written by save_pretrained of
tiny configs are identified with no typing, fed a real input (a sentence, an image) and show
labelled outputs; weights missing from the file stop the run with a question (#17 item 8);
extra forward arguments and a .npy input (#17 item 13).

torchvision and timm are not installed here (their registry wheels do not import with the
CPU torch), so only the transformers path runs; the model list is also checked with
torchvision/timm proposals given directly (a stand-in runner, no worker process).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QMessageBox, QPushButton

from inspector.ui.inference import InferencePanel

pytest.importorskip("transformers")

RUN_TIMEOUT = 180_000  # the worker imports torch and transformers first; the machine may be busy
WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "quick", "brown", "fox", "jumps", "over",
         "lazy", "dog", ".", "a", "cat", "sat", "on", "mat"]
LABELS = ["circle", "square", "triangle", "stripes", "blank", "noise", "other"]


def _tokenizer(folder: Path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(folder / "tokenizer.json"))


@pytest.fixture(scope="module")
def hf_models(tmp_path_factory):
    """Tiny random-init GPT-2 (LM head), BERT (encoder) and ViT (classifier) folders."""
    import torch
    from transformers import (
        BertConfig,
        BertModel,
        GPT2Config,
        GPT2LMHeadModel,
        ViTConfig,
        ViTForImageClassification,
    )

    base = tmp_path_factory.mktemp("hf")
    torch.manual_seed(0)
    gpt2 = base / "gpt2"
    GPT2LMHeadModel(GPT2Config(vocab_size=len(WORDS), n_positions=32, n_embd=16, n_layer=1,
                               n_head=2)).save_pretrained(gpt2)
    _tokenizer(gpt2)
    bert = base / "bert"
    BertModel(BertConfig(vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=1,
                         num_attention_heads=2, intermediate_size=32,
                         max_position_embeddings=32)).save_pretrained(bert)
    _tokenizer(bert)
    vit = base / "vit"
    ViTForImageClassification(ViTConfig(
        image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, hidden_dropout_prob=0.3, num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)), label2id={name: i for i, name in enumerate(LABELS)},
    )).save_pretrained(vit)
    return {"gpt2": gpt2, "bert": bert, "vit": vit}


@pytest.fixture(scope="module")
def jobs(qapp):
    """One worker process for the module's runs (each spawn imports torch: seconds)."""
    from inspector.ui.workers import ProcessJobs

    service = ProcessJobs(None, name="inspector-inference-model-tests")
    yield service
    service.shutdown()


@pytest.fixture
def make_panel(qtbot, settings, jobs):
    def make(path) -> InferencePanel:
        panel = InferencePanel(str(path), settings, jobs)
        qtbot.addWidget(panel)
        panel.resize(1300, 700)
        panel.show()
        qtbot.waitUntil(panel.is_ready, timeout=RUN_TIMEOUT)
        return panel

    return make


def run_and_wait(qtbot, panel: InferencePanel) -> str:
    with qtbot.waitSignal(panel.sig_run_finished, timeout=RUN_TIMEOUT) as blocker:
        assert panel.run()
    return blocker.args[0]


def no_questions(monkeypatch) -> None:
    monkeypatch.setattr(QMessageBox, "exec", lambda *a: pytest.fail("no question expected"))


# ---- Hugging Face folders: identified, a real input, labelled outputs
def test_hf_language_model_preselected_with_sentence_and_next_tokens(qtbot, make_panel,
                                                                     hf_models, monkeypatch):
    no_questions(monkeypatch)
    panel = make_panel(hf_models["gpt2"])
    controls = panel.controls
    assert controls.architecture_key() == "spec:hf:GPT2LMHeadModel"
    item = controls.arch_list.currentItem()
    assert (item.text(0), item.text(1), item.text(2)) == ("GPT2LMHeadModel", "HF", "exact")
    assert "Every key matches in name and shape" in controls.arch_note.text()
    # a text model: an editable sentence, no image or shape field
    inputs = controls.inputs
    assert inputs.input_kind == "text"
    assert not inputs.text_edit.isHidden() and inputs.image_combo.isHidden()
    assert inputs.shape_edit.isHidden()
    assert inputs.text_edit.text() == panel.options().default_text
    inputs.text_edit.setText("the cat sat on the")
    controls.runs_spin.setValue(3)
    assert run_and_wait(qtbot, panel) == "done"

    r = panel.result()
    assert r.predictions is not None and r.predictions.kind == "next-token"
    assert "the cat sat on the" in r.input_description or r.input_kind == "text"
    results = panel.results
    assert results.tabs.currentWidget() is results.predictions  # what it means comes first
    assert results.tabs.tabText(results.tabs.currentIndex()) == "Predictions"
    rows = results.predictions.row_texts()
    assert len(rows) == len(r.predictions.eval) == 5
    tokens = [f"{i + 1}. “{lab.label}”" for i, lab in enumerate(r.predictions.eval)]
    assert [row[0] for row in rows] == tokens
    assert all(row[3].endswith("of 3") for row in rows)
    assert "next tokens" in results.predictions.caption_text()
    assert "next token" in panel.verdict()
    # the bars: one eval bar per token, a bar per train run beside it
    assert len(results.predictions.eval_bars.opts["height"]) == 5
    assert len(results.predictions.train_bars.opts["height"]) == 3 * 5


def test_hf_image_model_runs_on_a_picked_image_with_config_labels(qtbot, make_panel, hf_models,
                                                                 tmp_path, monkeypatch):
    from PIL import Image

    no_questions(monkeypatch)
    panel = make_panel(hf_models["vit"])
    controls = panel.controls
    assert controls.architecture_key() == "spec:hf:ViTForImageClassification"
    inputs = controls.inputs
    assert inputs.input_kind == "image"
    assert not inputs.image_combo.isHidden() and inputs.text_edit.isHidden()
    samples = [inputs.image_combo.itemData(i) for i in range(inputs.image_combo.count())]
    assert samples == list(panel.options().sample_images) and samples
    assert all(Path(p).parent.name == "samples" for p in samples)
    # any image file the user picks
    picked = tmp_path / "mine.png"
    Image.fromarray(np.tile(np.linspace(0, 255, 48, dtype=np.uint8), (40, 1))).save(picked)
    inputs.set_image(str(picked))
    assert inputs.image_path() == str(picked)
    controls.runs_spin.setValue(4)
    assert run_and_wait(qtbot, panel) == "done"

    r = panel.result()
    assert r.predictions.kind == "classes" and r.input_kind == "image"
    rows = panel.results.predictions.row_texts()
    labels = [row[0].split(". ", 1)[1] for row in rows]
    assert set(labels) <= set(LABELS) and len(labels) == 5  # id2label from config.json
    assert labels[0] == r.predictions.eval[0].label
    assert "classes" in panel.results.predictions.caption_text()
    assert "top-1 class" in panel.verdict()
    assert "mine.png" in r.input_description


def test_hf_encoder_shows_embedding_cosine_per_train_run(qtbot, make_panel, hf_models,
                                                         monkeypatch):
    no_questions(monkeypatch)
    panel = make_panel(hf_models["bert"])
    assert panel.controls.architecture_key() == "spec:hf:BertModel"
    assert panel.controls.inputs.input_kind == "text"
    panel.controls.runs_spin.setValue(3)
    assert run_and_wait(qtbot, panel) == "done"
    r = panel.result()
    assert r.embedding_cosine is not None and len(r.embedding_cosine.train) == 3
    view = panel.results.predictions
    assert view.kind == "embedding"
    assert panel.results.tabs.tabText(panel.results.tabs.currentIndex()) == "Embedding"
    assert [row[0] for row in view.row_texts()] == ["1", "2", "3"]
    assert view.caption_text().startswith("Cosine similarity of sample 0")
    assert "cosine similarity" in panel.verdict()


# ---- Missing weights stop the run with a clear choice (#17 item 8)
@pytest.fixture
def mlp_without_last_bias(tmp_path):
    import torch
    from torch import nn

    torch.manual_seed(0)
    state = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).state_dict()
    del state["2.bias"]
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    return path


def test_missing_weights_ask_before_running_with_random_values(qtbot, make_panel,
                                                               mlp_without_last_bias,
                                                               monkeypatch):
    panel = make_panel(mlp_without_last_bias)
    panel.controls.set_architecture("plain-mlp")
    panel.controls.runs_spin.setValue(2)
    asked = []

    def answer(run_anyway: bool):
        def fake(box):
            asked.append((box.windowTitle(), box.text(),
                          [b.text() for b in box.buttons()], box.defaultButton().text()))
            if run_anyway:
                box.findChild(QPushButton, "runAnywayButton").click()
            return 0
        return fake

    monkeypatch.setattr(QMessageBox, "exec", answer(False))
    started = []
    panel.sig_run_started.connect(started.append)
    assert run_and_wait(qtbot, panel) == "declined"
    title, text, buttons, default = asked[0]
    assert "missing" in title.lower()
    assert "2.bias" in text and "random" in text
    assert any(b.startswith("Run anyway with random") and "bias" in b for b in buttons)
    assert default == "Don't run"  # the safe answer is the default
    assert len(started) == 1 and panel.result() is None
    assert "2.bias" in panel.message_text()  # the reason stays in view

    monkeypatch.setattr(QMessageBox, "exec", answer(True))
    assert run_and_wait(qtbot, panel) == "done"
    assert len(asked) == 2 and len(started) == 3  # the refused run, then the run anyway
    r = panel.result()
    assert r.random_init_keys and any(k.endswith("bias") for k in r.random_init_keys)
    warning = panel.results.random_label
    assert not warning.isHidden() and "random" in warning.text()
    assert "random" in panel.verdict().lower()


# ---- Extra forward arguments and a .npy input (#17 item 13)
@pytest.fixture
def scripted_with_sr(tmp_path):
    """A TorchScript model whose forward needs a second argument, like silero's ``sr``."""
    import torch

    code = tmp_path / "sr_model.py"
    code.write_text(
        "import torch\nfrom torch import nn\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(4, 2)\n\n"
        "    def forward(self, x, sr: int):\n"
        "        return self.fc(x) * sr\n")
    import importlib.util

    spec = importlib.util.spec_from_file_location("sr_model", code)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path = tmp_path / "needs_sr.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit.script is deprecated
        torch.jit.script(module.Net()).save(str(path))
    return path


def test_extra_args_json_and_npy_input_reach_forward(qtbot, make_panel, scripted_with_sr,
                                                     tmp_path, monkeypatch):
    monkeypatch.setattr(QMessageBox, "exec", lambda box: QMessageBox.StandardButton.Yes.value)
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    npy = tmp_path / "x.npy"
    np.save(npy, x)
    panel = make_panel(scripted_with_sr)
    controls = panel.controls
    controls.set_architecture("file")
    controls.runs_spin.setValue(2)
    # without sr the forward fails, and the message points at the Extra args field
    assert run_and_wait(qtbot, panel) == "failed"
    assert "'sr'" in panel.message_text()  # the error names the missing argument
    assert "give it in the Extra args field" in panel.message_text()

    inputs = controls.inputs
    assert inputs.extra_edit.placeholderText().startswith("none")
    inputs.extra_edit.setText('{"sr": 3}')
    inputs.npy_edit.setText(str(npy))
    assert not inputs.batch_spin.isEnabled()  # the .npy holds the batch
    assert run_and_wait(qtbot, panel) == "done"
    r = panel.result()
    assert r.input_shape[:2] == (3, 4) or tuple(r.input_shape) == (3, 4)
    assert r.output_shape[-1] == 2
    assert panel.message_text() == ""

    inputs.extra_edit.setText("{sr: 3")  # not JSON: refused before anything runs
    submitted = []
    monkeypatch.setattr(panel._jobs, "submit", lambda *a, **k: submitted.append(a) or 0)
    with qtbot.waitSignal(panel.sig_run_finished) as blocker:
        assert not panel.run()
    assert blocker.args == ["failed"] and not submitted
    assert "extra forward arguments" in panel.message_text()
    saved = json.dumps(controls.choice())
    assert '"extra_args": "{sr: 3"' in saved and str(npy) in saved


# ---- A folder with its own code runs nothing without an explicit yes
def test_folder_with_auto_map_code_asks_and_runs_nothing_when_declined(qtbot, make_panel,
                                                                       hf_models, tmp_path,
                                                                       monkeypatch):
    marker = tmp_path / "ran.txt"
    folder = tmp_path / "custom"
    folder.mkdir()
    for path in hf_models["bert"].iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_evil.EvilModel",
                          "AutoConfig": "modeling_evil.EvilConfig"}
    config["architectures"] = ["EvilModel"]
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "modeling_evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")

    asked = []

    def decline(box):
        asked.append(box.text())
        return QMessageBox.StandardButton.No.value

    monkeypatch.setattr(QMessageBox, "exec", decline)
    panel = make_panel(folder)
    controls = panel.controls
    assert "file" in controls.architecture_keys()
    assert controls.candidate("file").name == "The folder's own code (asks first)"
    assert controls.set_architecture("file")
    assert "modeling_evil.EvilModel" in controls.arch_note.text()
    submitted = []
    monkeypatch.setattr(panel._jobs, "submit", lambda *a, **k: submitted.append(a) or 0)
    with qtbot.waitSignal(panel.sig_run_finished) as blocker:
        assert not panel.run()
    assert blocker.args == ["refused"] and not submitted
    assert "• modeling_evil.EvilModel" in asked[0] and "auto_map" in asked[0]
    assert not marker.exists()
