"""Masked language models (BertForMaskedLM and the like): the sentence's [MASK] (or the
tokenizer's <mask>) is found, and the top guesses for it are those transformers gives."""

from __future__ import annotations

import os

import pytest
import torch

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from inspector.core.inference import (  # noqa: E402
    RunConfig,
    inference_options,
    run_demo,
    verdict_text,
)
from inspector.core.inference.config import DEFAULT_MASKED_TEXT  # noqa: E402
from inspector.core.inference.errors import InferenceError  # noqa: E402

WORDS = ["[PAD]", "[UNK]", "the", "capital", "of", "france", "is", "paris", "london", "."]


def _save(folder: str, mask: str) -> None:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    vocab = {w: i for i, w in enumerate([*WORDS, mask] + [f"w{i}" for i in range(40)])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens([mask])
    torch.manual_seed(3)
    model = transformers.BertForMaskedLM(transformers.BertConfig(
        vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=37, max_position_embeddings=40, hidden_dropout_prob=0.3))
    model.save_pretrained(folder)
    tok.save(os.path.join(folder, "tokenizer.json"))


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("mlm") / "bert")
    _save(folder, "[MASK]")
    return folder


def _transformers_top5(folder: str, sentence: str) -> tuple[int, list[int]]:
    from tokenizers import Tokenizer

    ids = Tokenizer.from_file(os.path.join(folder, "tokenizer.json")).encode(sentence).ids
    model = transformers.BertForMaskedLM.from_pretrained(folder).eval()
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits
    mask_id = ids.index(len(WORDS))  # the mask token comes right after WORDS
    return mask_id, logits[0, mask_id].topk(5).indices.tolist()


def test_the_guesses_at_the_mask_are_those_of_transformers(bert):
    options = inference_options(bert)
    assert options.config_class == "BertForMaskedLM"
    assert options.default_text == DEFAULT_MASKED_TEXT and options.labels_known
    r = run_demo(RunConfig(bert, runs=3, batch_size=2))
    p = r.predictions
    assert p is not None and p.kind == "masked-token" and len(p.train) == 3
    position, top5 = _transformers_top5(bert, DEFAULT_MASKED_TEXT)
    assert [lab.index for lab in p.eval] == top5
    words = [*WORDS, "[MASK]"] + [f"w{i}" for i in range(40)]
    assert [lab.label for lab in p.eval] == [  # ids past the tokenizer's vocabulary: numbers
        words[i] if i < len(words) else f"token {i}" for i in top5]
    assert f"the scores are those of [MASK] (token {position + 1})" in r.input_description
    assert any("logits at [MASK] position" in n for n in r.notes)
    assert "guess for the masked word" in verdict_text(r)
    assert r.to_json()["predictions"]["kind"] == "masked-token"


def test_the_users_sentence_and_a_missing_mask(bert):
    r = run_demo(RunConfig(bert, runs=2, batch_size=1, text="paris is the [MASK] of france ."))
    _pos, top5 = _transformers_top5(bert, "paris is the [MASK] of france .")
    assert [lab.index for lab in r.predictions.eval] == top5
    assert "(token 4)" in r.input_description
    with pytest.raises(InferenceError, match=r"type \[MASK\] where the word to guess goes"):
        run_demo(RunConfig(bert, runs=2, batch_size=1, text="the capital of france ."))


def test_a_tokenizer_whose_mask_is_written_differently(tmp_path):
    """RoBERTa-style tokenizers use <mask>: a sentence typed with [MASK] still works."""
    folder = str(tmp_path / "roberta-like")
    _save(folder, "<mask>")
    r = run_demo(RunConfig(folder, runs=2, batch_size=1, text="paris is the [MASK] ."))
    _pos, top5 = _transformers_top5(folder, "paris is the <mask> .")
    assert [lab.index for lab in r.predictions.eval] == top5
    assert "<mask>" in r.input_description
