"""Real inputs for library models (an image, a sentence, a synthetic sound, a .npy array),
what their outputs mean (top labels, next tokens, embeddings) and how runs compare.

Images are decoded by Pillow (its decompression-bomb limit applies); ``tokenizer.json`` is
loaded by ``tokenizers`` (JSON, no code); ``.npy`` files are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from inspector.core.inference.config import DEFAULT_MASKED_TEXT, DEFAULT_TEXT, MASK_PLACEHOLDER
from inspector.core.inference.errors import InferenceError
from inspector.core.inference.limits import check_run_bytes
from inspector.core.inference.results import EmbeddingCosine, Label, Predictions
from inspector.core.inference.zoo.task import (
    OUT_CLASSES,
    OUT_EMBEDDING,
    OUT_MASKED,
    OUT_NEXT_TOKEN,
    ModelTask,
)

TOP_K = 5
AUDIO_SECONDS = 1.0
MAX_TEXT_TOKENS = 512


@dataclass
class ModelInput:
    """What one forward pass gets: positional ``args`` and keyword ``kwargs`` (tensors on the
    CPU), a sentence on what it is, and the tokenizer used (for token labels)."""

    args: tuple = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    tokenizer: Any = None

    @property
    def main(self) -> torch.Tensor:
        return self.args[0] if self.args else next(iter(self.kwargs.values()))


def sample_images() -> list[str]:
    """The project's sample images (resources/samples/*.png), sorted."""
    from inspector.core.resources import resource_path

    try:
        folder = resource_path("samples")
    except FileNotFoundError:
        return []
    return sorted(str(p) for p in folder.iterdir() if p.suffix.lower() == ".png")


def _load_image(path: str, task: ModelTask) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im = im.convert("L" if task.channels == 1 else "RGB")
            h, w = task.image_size
            if task.resize:
                scale = task.resize / min(im.size)
                im = im.resize((max(w, round(im.size[0] * scale)),
                                max(h, round(im.size[1] * scale))), Image.BILINEAR)
                left, top = (im.size[0] - w) // 2, (im.size[1] - h) // 2
                im = im.crop((left, top, left + w, top + h))
            else:
                im = im.resize((w, h), Image.BILINEAR)
            arr = np.asarray(im, dtype=np.float32) / 255.0
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as e:
        raise InferenceError(f"cannot read the image {path}: {e}") from None
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if task.channels not in (1, 3):  # e.g. 4 channels: repeat the grey level
        arr = np.repeat(arr.mean(axis=2, keepdims=True), task.channels, axis=2)
    x = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
    mean = torch.tensor(_fit(task.mean, x.shape[0])).view(-1, 1, 1)
    std = torch.tensor(_fit(task.std, x.shape[0])).view(-1, 1, 1)
    return (x - mean) / std


def _fit(values: Sequence[float], n: int) -> list[float]:
    values = list(values) or [0.0]
    return (values * n)[:n] if len(values) != n else values


def image_input(task: ModelTask, image: str | None, batch: int) -> ModelInput:
    paths = [image] if image else sample_images()
    if not paths:
        raise InferenceError("no image to feed: give an image file")
    h, w = task.image_size
    check_run_bytes(batch * task.channels * h * w * 4, f"the input [{batch}, {task.channels}, "
                                                       f"{h}, {w}]")
    images = [_load_image(p, task) for p in paths[:batch]]
    x = torch.stack([images[i % len(images)] for i in range(batch)])
    names = ", ".join(os.path.basename(p) for p in paths[:batch])
    what = "the image" if image else "the sample images"
    how = f"{what} {names}" + (" repeated" if len(images) < batch else "")
    return ModelInput(*_keyed(task, x), description=(
        f"input {list(x.shape)}: {how}, resized to {h}×{w} and normalized (mean "
        f"{_short(task.mean)}, std {_short(task.std)}); predictions are for "
        f"{os.path.basename(paths[0])}"))


def _short(values: Sequence[float]) -> str:
    return "(" + ", ".join(f"{v:.3g}" for v in values) + ")"


def _keyed(task: ModelTask, x: torch.Tensor) -> tuple[tuple, dict]:
    if task.main_input:
        kwargs = {task.main_input: x}
        for name, ids in task.fixed_inputs.items():
            kwargs[name] = torch.tensor([ids] * x.shape[0], dtype=torch.long)
        return (), kwargs
    return (x,), {}


def load_tokenizer(path: str):
    try:
        from tokenizers import Tokenizer
    except ImportError:
        return None
    try:
        return Tokenizer.from_file(path)
    except Exception as e:  # noqa: BLE001 - a malformed tokenizer.json
        raise InferenceError(f"cannot load {path}: {str(e)[:200]}") from None


def mask_token(tokenizer) -> tuple[str, int] | None:
    """The tokenizer's mask token and its id ("[MASK]" for BERT, "<mask>" for RoBERTa)."""
    for token in (MASK_PLACEHOLDER, "<mask>"):
        index = tokenizer.token_to_id(token)
        if index is not None:
            return token, int(index)
    return None


def text_input(task: ModelTask, text: str | None, batch: int, seed: int) -> ModelInput:
    masked = task.output == OUT_MASKED
    sentence = text if text is not None else DEFAULT_MASKED_TEXT if masked else DEFAULT_TEXT
    tokenizer = load_tokenizer(task.tokenizer_path) if task.tokenizer_path else None
    vocab = task.vocab_size or 0
    task.mask_position = task.mask_token = None
    if tokenizer is not None:
        mask = mask_token(tokenizer) if masked else None
        if masked and mask is None:
            raise InferenceError("this masked language model's tokenizer.json has no mask "
                                 "token ([MASK] or <mask>), so no word can be asked for")
        if mask is not None:  # [MASK] typed for a tokenizer whose mask is <mask>, or back
            for other in (MASK_PLACEHOLDER, "<mask>"):
                sentence = sentence.replace(other, mask[0])
        ids = tokenizer.encode(sentence).ids[:MAX_TEXT_TOKENS]
        if not ids:
            raise InferenceError("the text gives no tokens: type a sentence")
        if vocab and max(ids) >= vocab:
            raise InferenceError(f"the tokenizer gives token id {max(ids)}, but the model has "
                                 f"only {vocab} tokens")
        how = f"{sentence!r} tokenized with tokenizer.json ({len(ids)} tokens)"
        if mask is not None:
            if mask[1] not in ids:
                raise InferenceError(f"type {mask[0]} where the word to guess goes, e.g. "
                                     f"{DEFAULT_MASKED_TEXT.replace(MASK_PLACEHOLDER, mask[0])!r}")
            task.mask_position, task.mask_token = ids.index(mask[1]), mask[0]
            how += f"; the scores are those of {mask[0]} (token {task.mask_position + 1})"
    else:
        gen = torch.Generator().manual_seed(seed)
        ids = torch.randint(0, max(vocab, 2), (16,), generator=gen).tolist()
        how = ("random token ids (no tokenizer.json next to the weights, so the sentence "
               f"cannot be tokenized), seed {seed}")
        if masked:
            task.mask_position = len(ids) // 2
            how += f"; the scores are those of token {task.mask_position + 1}"
    x = torch.tensor([ids] * batch, dtype=torch.long)
    args, kwargs = _keyed(task, x)
    if task.main_input == "input_ids":
        kwargs["attention_mask"] = torch.ones_like(x)
    return ModelInput(args, kwargs, f"input {list(x.shape)}: {how}", tokenizer)


def audio_input(task: ModelTask, batch: int, seed: int) -> ModelInput:
    gen = torch.Generator().manual_seed(seed)
    if task.feature_shape is not None:
        shape = (batch, *task.feature_shape)
        check_run_bytes(math.prod(shape) * 4, f"the input {list(shape)}")
        x = torch.randn(shape, generator=gen) * 0.5
        how = (f"synthetic log-mel features {list(task.feature_shape)} (mel bins × frames), "
               f"seed {seed}")
    else:
        n = int(task.sampling_rate * AUDIO_SECONDS)
        t = torch.arange(n, dtype=torch.float32) / task.sampling_rate
        tone = 0.5 * torch.sin(2 * math.pi * 440.0 * t)
        x = torch.stack([tone + 0.05 * torch.randn(n, generator=gen) for _ in range(batch)])
        how = (f"a synthetic {AUDIO_SECONDS:g} s 440 Hz tone with a little noise at "
               f"{task.sampling_rate} Hz, seed {seed}")
    args, kwargs = _keyed(task, x)
    return ModelInput(args, kwargs, f"input {list(x.shape)}: {how}")


def npy_input(path: str, task: ModelTask | None) -> ModelInput:
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
    except (OSError, ValueError) as e:
        raise InferenceError(f"cannot read {path} as a .npy array: {e}") from None
    if arr.dtype.kind not in "biuf":
        raise InferenceError(f"{path} holds {arr.dtype} values; a model input needs numbers")
    check_run_bytes(int(arr.nbytes), f"the input array {list(arr.shape)}")
    x = torch.from_numpy(np.array(arr))
    if x.dtype == torch.float64:
        x = x.float()
    args, kwargs = _keyed(task, x) if task is not None else ((x,), {})
    return ModelInput(args, kwargs, f"input {list(x.shape)} ({x.dtype}) from "
                                    f"{os.path.basename(path)}, as stored")


def make_input(task: ModelTask, config) -> ModelInput | None:
    """The input for a library model per ``config`` (a RunConfig); None: use a random
    tensor like a built-in (``task.input_kind == "tensor"``)."""
    if config.input_npy:
        return npy_input(config.input_npy, task)
    if task.input_kind == "image":
        return image_input(task, config.image, config.batch_size)
    if task.input_kind == "text":
        return text_input(task, config.text, config.batch_size, config.seed)
    if task.input_kind == "audio":
        return audio_input(task, config.batch_size, config.seed)
    return None


def _tensor(out: Any, names: Sequence[str]) -> torch.Tensor | None:
    for name in names:
        value = out.get(name) if isinstance(out, Mapping) else getattr(out, name, None)
        if isinstance(value, torch.Tensor):
            return value
    return None


def reduce_output(task: ModelTask, out: Any) -> torch.Tensor | None:
    """The part of a library model's output that is compared between runs: logits (of the
    last position for next tokens) or the mean embedding; None: the first tensor as usual."""
    if task.output in (OUT_CLASSES, OUT_NEXT_TOKEN, OUT_MASKED):
        t = out if isinstance(out, torch.Tensor) else _tensor(out, ("logits",))
        if t is not None and task.output == OUT_NEXT_TOKEN and t.ndim == 3:
            return t[:, -1, :]
        if t is not None and task.output == OUT_MASKED and t.ndim == 3:
            return t[:, task.mask_position or 0, :]
        return t
    if task.output == OUT_EMBEDDING:
        t = out if isinstance(out, torch.Tensor) else _tensor(
            out, ("last_hidden_state", "pooler_output"))
        if t is None:
            return None
        if t.ndim == 3:
            return t.mean(dim=1)
        if t.ndim == 4:
            return t.mean(dim=(2, 3))
        return t
    return None


def _label(task: ModelTask, tokenizer, index: int) -> str:
    if task.output in (OUT_NEXT_TOKEN, OUT_MASKED):
        if tokenizer is not None:
            try:
                text = tokenizer.decode([index])
            except Exception:  # noqa: BLE001
                text = ""
            return text if text.strip() else (tokenizer.id_to_token(index) or f"token {index}")
        return f"token {index}"
    if task.labels and index in task.labels:
        return task.labels[index]
    return f"class {index}"


def _top(task: ModelTask, tokenizer, logits: torch.Tensor) -> tuple[Label, ...]:
    probs = torch.softmax(logits.double().reshape(-1), dim=0)
    k = min(TOP_K, probs.numel())
    values, indices = probs.topk(k)
    return tuple(Label(_label(task, tokenizer, int(i)), int(i), float(v))
                 for v, i in zip(values, indices, strict=True))


def predictions(task: ModelTask, tokenizer, eval_outputs: np.ndarray,
                train_outputs: np.ndarray) -> Predictions | None:
    """Top labels of sample 0 in eval run 1 and in each train run (outputs: runs × batch × C)."""
    if task.output not in (OUT_CLASSES, OUT_NEXT_TOKEN, OUT_MASKED) or eval_outputs.ndim != 3:
        return None
    ev = _top(task, tokenizer, torch.from_numpy(eval_outputs[0, 0]))
    train = tuple(_top(task, tokenizer, torch.from_numpy(run[0])) for run in train_outputs)
    changes = sum(1 for run in train if run and ev and run[0].index != ev[0].index)
    picks = [x.index for x in ev]
    probs = tuple(
        tuple(float(p) for p in torch.softmax(torch.from_numpy(run[0]).double().reshape(-1),
                                              dim=0)[picks])
        for run in train_outputs)
    return Predictions(task.output, ev, train, changes, probs)


def embedding_cosine(task: ModelTask, eval_outputs: np.ndarray, train_outputs: np.ndarray
                     ) -> EmbeddingCosine | None:
    """Cosine of sample 0's embedding in each train run with eval run 1's."""
    if task.output != OUT_EMBEDDING or eval_outputs.ndim != 3 or not len(train_outputs):
        return None
    ref = torch.from_numpy(eval_outputs[0, 0]).double()
    runs = torch.from_numpy(np.ascontiguousarray(train_outputs[:, 0])).double()
    cos = torch.nn.functional.cosine_similarity(runs, ref.expand_as(runs), dim=1)
    values = tuple(float(c) for c in cos)
    return EmbeddingCosine(values, min(values), sum(values) / len(values))
