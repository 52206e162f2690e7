"""What a library model takes and gives: :class:`ModelTask` (input kind, preprocessing,
labels, what its output means), read from the model, its config and the files next to it.

Files next to a checkpoint (``preprocessor_config.json``, ``tokenizer.json``) are read as
JSON only; nothing in them runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_SIDE_FILE_BYTES = 64 << 20
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
OUT_CLASSES = "classes"
OUT_NEXT_TOKEN = "next-token"
OUT_MASKED = "masked-token"
OUT_EMBEDDING = "embedding"
OUT_RAW = "raw"


@dataclass
class ModelTask:
    """How to feed a model and read its output.

    ``input_kind``: "image", "text", "audio" or "tensor" (a random tensor, as for built-ins);
    ``output``: "classes" (top-k labels), "next-token" (top next tokens), "masked-token"
    (top tokens at the input's mask), "embedding" (cosine between runs) or "raw";
    ``main_input``: the forward() keyword of the input
    (None: positional); ``fixed_inputs``: further keyword inputs, e.g. a decoder start token.
    """

    input_kind: str = "tensor"
    output: str = OUT_RAW
    main_input: str | None = None
    labels: dict[int, str] | None = None
    image_size: tuple[int, int] = (224, 224)
    resize: int | None = None  # resize the short side to this, then center-crop image_size
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    channels: int = 3
    tokenizer_path: str | None = None
    vocab_size: int | None = None
    sampling_rate: int = 16000
    feature_shape: tuple[int, ...] | None = None  # audio features (e.g. mel bins, frames)
    fixed_inputs: dict[str, list[int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    mask_position: int | None = None  # masked-token: the token scored (set by text_input)
    mask_token: str | None = None  # masked-token: the tokenizer's mask, e.g. "[MASK]"


def _read_json(path: str) -> dict | None:
    try:
        if not os.path.isfile(path) or os.path.getsize(path) > MAX_SIDE_FILE_BYTES:
            return None
        with open(path, "rb") as fh:
            value = json.loads(fh.read().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _labels(config: Mapping[str, Any]) -> dict[int, str] | None:
    raw = config.get("id2label")
    if not isinstance(raw, Mapping):
        return None
    labels = {}
    for k, v in raw.items():
        try:
            labels[int(k)] = str(v)
        except (TypeError, ValueError):
            continue
    # transformers' defaults LABEL_0, LABEL_1 say nothing: keep them anyway (they are indices)
    return labels or None


def _pair(value: Any, default: tuple[int, int]) -> tuple[int, int]:
    if isinstance(value, int) and value > 0:
        return value, value
    if isinstance(value, list | tuple) and len(value) == 2 and all(
            isinstance(v, int) and v > 0 for v in value):
        return int(value[0]), int(value[1])
    if isinstance(value, Mapping):
        if isinstance(value.get("height"), int) and isinstance(value.get("width"), int):
            return int(value["height"]), int(value["width"])
        edge = value.get("shortest_edge")
        if isinstance(edge, int) and edge > 0:
            return edge, edge
    return default


def _floats(value: Any, default: tuple[float, ...]) -> tuple[float, ...]:
    if isinstance(value, list | tuple) and value and all(
            isinstance(v, int | float) for v in value):
        return tuple(float(v) for v in value)
    if isinstance(value, int | float):
        return (float(value),) * len(default)
    return default


def hf_task(class_name: str, config: Any, folder: str | None) -> ModelTask:
    """The task of a transformers model: its class name says the head, its config the
    sizes, the folder's preprocessor/tokenizer files the preprocessing."""
    cfg = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    task = ModelTask()
    pre = _read_json(os.path.join(folder, "preprocessor_config.json")) if folder else None
    tok = os.path.join(folder, "tokenizer.json") if folder else None
    model_type = str(cfg.get("model_type", ""))
    name = class_name
    if "num_mel_bins" in cfg or model_type in ("whisper",):
        task.input_kind, task.main_input = "audio", "input_features"
        frames = 2 * int(cfg.get("max_source_positions", 1500))
        task.feature_shape = (int(cfg.get("num_mel_bins", 80)), frames)
        task.fixed_inputs["decoder_input_ids"] = [int(cfg.get("decoder_start_token_id") or 0)]
    elif "conv_dim" in cfg or model_type.startswith(("wav2vec2", "hubert", "wavlm")):
        task.input_kind, task.main_input = "audio", "input_values"
    elif "num_channels" in cfg or "image_size" in cfg or model_type in ("resnet", "convnext"):
        task.input_kind, task.main_input = "image", "pixel_values"
        task.channels = int(cfg.get("num_channels", 3) or 3)
        task.image_size = _pair(cfg.get("image_size"), (224, 224))
        task.mean, task.std = (0.5,) * 3, (0.5,) * 3
        if model_type == "resnet":
            task.mean, task.std = IMAGENET_MEAN, IMAGENET_STD
    else:
        task.input_kind, task.main_input = "text", "input_ids"
        task.vocab_size = int(cfg["vocab_size"]) if isinstance(cfg.get("vocab_size"), int) \
            else None
        if cfg.get("is_encoder_decoder"):
            task.fixed_inputs["decoder_input_ids"] = [int(cfg.get("decoder_start_token_id") or 0)]
    if pre:
        if task.input_kind == "image":
            task.image_size = _pair(pre.get("crop_size") if pre.get("do_center_crop") else
                                    pre.get("size"), task.image_size)
            task.mean = _floats(pre.get("image_mean"), task.mean)
            task.std = _floats(pre.get("image_std"), task.std)
            task.notes.append("image preprocessed as preprocessor_config.json says (size, "
                              "mean, std)")
        if isinstance(pre.get("sampling_rate"), int):
            task.sampling_rate = int(pre["sampling_rate"])
    if task.input_kind == "text" and tok and os.path.isfile(tok):
        task.tokenizer_path = tok
    if name.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")) and \
            task.input_kind in ("text", "audio"):  # audio: a speech decoder's first token
        task.output = OUT_NEXT_TOKEN
    elif name.endswith("ForMaskedLM") and task.input_kind == "text":
        task.output = OUT_MASKED
    elif "Classification" in name and "Token" not in name:
        task.output = OUT_CLASSES
        task.labels = _labels(cfg)
    elif name.endswith("Model"):
        task.output = OUT_EMBEDDING
    return task


def vision_task(library: str, name: str, model: Any) -> ModelTask:
    """The task of a torchvision or timm image classifier: ImageNet labels and transforms
    when the library knows them."""
    task = ModelTask(input_kind="image", output=OUT_CLASSES)
    classes = _num_classes(model)
    try:
        if library == "torchvision":
            _torchvision_meta(name, task, classes)
        elif library == "timm":
            _timm_meta(model, task, classes)
    except Exception as e:  # noqa: BLE001 - library metadata is a nicety, never a failure
        task.notes.append(f"{library} gave no preprocessing for {name} ({type(e).__name__})")
    if task.labels is None and classes:
        task.labels = None
    return task


def _num_classes(model: Any) -> int | None:
    n = getattr(model, "num_classes", None)
    if isinstance(n, int):
        return n
    last = None
    for m in model.modules():
        if type(m).__name__ == "Linear":
            last = m
    return int(last.out_features) if last is not None else None


def _torchvision_meta(name: str, task: ModelTask, classes: int | None) -> None:
    from torchvision.models import get_model_weights

    weights = list(get_model_weights(name))
    if not weights:
        return
    w = weights[0]
    t = w.transforms()
    crop = getattr(t, "crop_size", None)
    resize = getattr(t, "resize_size", None)
    if crop:
        task.image_size = (int(crop[0]), int(crop[-1]))
    if resize:
        task.resize = int(resize[0])
    task.mean = tuple(float(v) for v in getattr(t, "mean", IMAGENET_MEAN))
    task.std = tuple(float(v) for v in getattr(t, "std", IMAGENET_STD))
    categories = w.meta.get("categories")
    if categories and classes == len(categories):
        task.labels = dict(enumerate(str(c) for c in categories))
    task.notes.append(f"image preprocessed with torchvision's {w} transforms")


def _timm_meta(model: Any, task: ModelTask, classes: int | None) -> None:
    from timm.data import resolve_data_config

    cfg = resolve_data_config({}, model=model)
    size = cfg.get("input_size")
    if size:
        task.channels = int(size[0])
        task.image_size = (int(size[1]), int(size[2]))
        crop_pct = float(cfg.get("crop_pct") or 1.0)
        task.resize = int(size[1] / crop_pct)
    task.mean = tuple(float(v) for v in cfg.get("mean", IMAGENET_MEAN))
    task.std = tuple(float(v) for v in cfg.get("std", IMAGENET_STD))
    task.notes.append("image preprocessed with timm's data config for the model")
    if classes == 1000:
        from timm.data import ImageNetInfo

        info = ImageNetInfo()
        task.labels = {i: info.index_to_description(i) for i in range(1000)}
