"""Hugging Face ``transformers`` models: the class a ``config.json`` names, and configs for
common model families inferred from a bare state_dict's shapes.

Nothing here runs code from a file: ``config.json`` is plain JSON read by our reader, the
class is looked up by name in ``transformers`` itself (never through ``auto_map``, which names
code shipped with the checkpoint: :func:`custom_code` reports it so the caller can refuse),
and the config object is built from that JSON by the library's own config class.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from inspector.core.inference.errors import ModelError
from inspector.core.inference.zoo.libraries import EXTRA, library, library_problem

Shapes = Mapping[str, tuple[int, ...]]
_CLASS_NAME = re.compile(r"[A-Z][A-Za-z0-9_]{1,100}")

# model_type → rules: (config attribute, key regex, dim) reads a size from a shape;
# (attribute, key regex with a group, None) counts layers (largest index + 1).
_BERT_LIKE: list[tuple[str, str, int | None]] = [
    ("vocab_size", r"embeddings\.word_embeddings\.weight$", 0),
    ("hidden_size", r"embeddings\.word_embeddings\.weight$", 1),
    ("max_position_embeddings", r"embeddings\.position_embeddings\.weight$", 0),
    ("type_vocab_size", r"embeddings\.token_type_embeddings\.weight$", 0),
    ("intermediate_size", r"intermediate\.dense\.weight$", 0),
    ("num_hidden_layers", r"encoder\.layer\.(\d+)\.", None),
]
FAMILIES: dict[str, list[tuple[str, str, int | None]]] = {
    "bert": _BERT_LIKE + [("num_labels", r"^classifier\.weight$", 0)],
    "roberta": _BERT_LIKE + [("num_labels", r"^classifier\.out_proj\.weight$", 0)],
    "distilbert": [
        ("vocab_size", r"embeddings\.word_embeddings\.weight$", 0),
        ("dim", r"embeddings\.word_embeddings\.weight$", 1),
        ("max_position_embeddings", r"embeddings\.position_embeddings\.weight$", 0),
        ("hidden_dim", r"ffn\.lin1\.weight$", 0),
        ("n_layers", r"transformer\.layer\.(\d+)\.", None),
        ("num_labels", r"^classifier\.weight$", 0)],
    "gpt2": [
        ("vocab_size", r"wte\.weight$", 0), ("n_embd", r"wte\.weight$", 1),
        ("n_positions", r"wpe\.weight$", 0), ("n_inner", r"mlp\.c_fc\.weight$", 1),
        ("n_layer", r"(?:^|\.)h\.(\d+)\.", None), ("num_labels", r"^score\.weight$", 0)],
    "vit": [  # older names and transformers 5's (layers.N, mlp.fc1)
        ("hidden_size", r"patch_embeddings\.projection\.weight$", 0),
        ("num_channels", r"patch_embeddings\.projection\.weight$", 1),
        ("patch_size", r"patch_embeddings\.projection\.weight$", 2),
        ("intermediate_size", r"(?:intermediate\.dense|mlp\.fc1)\.weight$", 0),
        ("num_hidden_layers", r"(?:encoder\.layer|(?:^|\.)layers)\.(\d+)\.", None),
        ("num_labels", r"^classifier\.weight$", 0)],
    "resnet": [
        ("embedding_size", r"embedder\.embedder\.convolution\.weight$", 0),
        ("num_channels", r"embedder\.embedder\.convolution\.weight$", 1),
        ("num_labels", r"^classifier\.1\.weight$", 0)],
    "wav2vec2": [
        ("hidden_size", r"feature_projection\.projection\.weight$", 0),
        ("intermediate_size", r"feed_forward\.intermediate_dense\.weight$", 0),
        ("num_hidden_layers", r"encoder\.layers\.(\d+)\.", None),
        ("vocab_size", r"^lm_head\.weight$", 0),
        ("num_labels", r"^classifier\.weight$", 0)],
    "whisper": [
        ("d_model", r"encoder\.conv1\.weight$", 0),
        ("num_mel_bins", r"encoder\.conv1\.weight$", 1),
        ("encoder_layers", r"encoder\.layers\.(\d+)\.", None),
        ("decoder_layers", r"decoder\.layers\.(\d+)\.", None),
        ("vocab_size", r"decoder\.embed_tokens\.weight$", 0),
        ("max_source_positions", r"encoder\.embed_positions\.weight$", 0),
        ("max_target_positions", r"decoder\.embed_positions\.weight$", 0),
        ("encoder_ffn_dim", r"encoder\.layers\.\d+\.fc1\.weight$", 0),
        ("decoder_ffn_dim", r"decoder\.layers\.\d+\.fc1\.weight$", 0)],
    "llama": [
        ("vocab_size", r"embed_tokens\.weight$", 0),
        ("hidden_size", r"embed_tokens\.weight$", 1),
        ("intermediate_size", r"mlp\.gate_proj\.weight$", 0),
        ("num_hidden_layers", r"(?:^|\.)layers\.(\d+)\.", None),
        ("num_labels", r"^score\.weight$", 0)],
    "t5": [
        ("vocab_size", r"shared\.weight$", 0), ("d_model", r"shared\.weight$", 1),
        ("num_layers", r"encoder\.block\.(\d+)\.", None),
        ("num_decoder_layers", r"decoder\.block\.(\d+)\.", None),
        ("d_ff", r"DenseReluDense\.wi(?:_0)?\.weight$", 0),
        ("relative_attention_num_buckets", r"relative_attention_bias\.weight$", 0),
        ("num_heads", r"relative_attention_bias\.weight$", 1)],
}
# attribute holding the number of attention heads, and the width it divides
_HEADS = {"bert": ("num_attention_heads", "hidden_size"),
          "roberta": ("num_attention_heads", "hidden_size"),
          "distilbert": ("n_heads", "dim"), "gpt2": ("n_head", "n_embd"),
          "vit": ("num_attention_heads", "hidden_size"),
          "wav2vec2": ("num_attention_heads", "hidden_size"),
          "whisper": ("encoder_attention_heads", "d_model"),
          "llama": ("num_attention_heads", "hidden_size")}
# attributes no shape shows (only their product with the head size): inferred by convention
GUESSED = ("num_attention_heads", "n_head", "n_heads", "encoder_attention_heads",
           "decoder_attention_heads", "num_key_value_heads", "head_dim", "d_kv")
# which auto-mapping tables give a family's candidate classes (base model first)
_TASK_TABLES = ("MODEL_MAPPING_NAMES", "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES",
                "MODEL_FOR_MASKED_LM_MAPPING_NAMES", "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES",
                "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES",
                "MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES", "MODEL_FOR_CTC_MAPPING_NAMES",
                "MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES",
                "MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES")


def transformers_or_error():
    """The transformers module, or a ModelError that says what to install."""
    module = library("transformers")
    if module is None:
        raise ModelError(f"identifying this model needs transformers: {library_problem('transformers')}"
                         f"; install {EXTRA}")
    return module


def custom_code(config: Mapping[str, Any]) -> list[str]:
    """The code references ``config.json`` makes (``auto_map`` entries, custom
    ``model_type`` code); empty when the model is built from transformers alone."""
    refs = []
    auto_map = config.get("auto_map")
    if isinstance(auto_map, Mapping):
        refs += [str(v) if not isinstance(v, list) else ", ".join(map(str, v))
                 for v in auto_map.values()]
    elif auto_map:
        refs.append(str(auto_map)[:200])
    if config.get("trust_remote_code"):
        refs.append("trust_remote_code")
    return refs


def model_class(name: str):
    """The transformers model class called ``name`` (a PreTrainedModel subclass)."""
    transformers = transformers_or_error()
    if not _CLASS_NAME.fullmatch(name or ""):
        raise ModelError(f"{name!r} is not a transformers class name")
    try:
        cls = getattr(transformers, name)
    except (AttributeError, ImportError, RuntimeError):
        cls = None
    if not (isinstance(cls, type) and issubclass(cls, transformers.PreTrainedModel)):
        raise ModelError(f"transformers {transformers.__version__} has no model class {name!r}")
    return cls


def class_for_config(config: Mapping[str, Any]):
    """The class ``config.json`` names in ``architectures`` (first one that transformers
    has), else the base model of its ``model_type``; ModelError when neither is known."""
    archs = config.get("architectures")
    tried = []
    for name in (archs if isinstance(archs, list) else [])[:8]:
        if isinstance(name, str):
            tried.append(name)
            try:
                return model_class(name)
            except ModelError:
                continue
    model_type = config.get("model_type")
    if isinstance(model_type, str):
        from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

        name = MODEL_MAPPING_NAMES.get(model_type)
        if isinstance(name, str):
            return model_class(name)
    transformers = transformers_or_error()
    what = f"architectures {tried}" if tried else f"model_type {model_type!r}"
    raise ModelError(f"config.json names {what}, which transformers {transformers.__version__} "
                     f"does not have")


def build_config(cls, values: Mapping[str, Any]):
    """``cls``'s config class filled from a config.json dict (or inferred sizes)."""
    config_class = cls.config_class
    clean = {k: v for k, v in values.items()
             if k not in ("auto_map", "transformers_version", "_name_or_path", "architectures")}
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return config_class.from_dict(clean) if "model_type" in values \
            else config_class(**clean)
    except Exception as e:  # noqa: BLE001 - a config the class rejects
        raise ModelError(f"{config_class.__name__} rejects this configuration: "
                         f"{type(e).__name__}: {str(e)[:300]}") from None
    finally:
        hf_logging.set_verbosity(level)


def build_model(cls, config):
    """Instantiate ``cls(config)``; library errors become ModelError. transformers' log
    chatter (config advice) is kept quiet meanwhile: what matters is reported by us."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        return cls(config)
    except Exception as e:  # noqa: BLE001
        raise ModelError(f"building {cls.__name__} failed: {type(e).__name__}: "
                         f"{str(e)[:300]}") from None
    finally:
        hf_logging.set_verbosity(level)


def family_classes() -> list[tuple[str, str]]:
    """(model_type, class name) for every candidate class of the common families."""
    from transformers.models.auto import modeling_auto

    found: dict[tuple[str, str], None] = {}
    for family in FAMILIES:
        for table in _TASK_TABLES:
            name = getattr(modeling_auto, table, {}).get(family)
            if isinstance(name, str):
                found[(family, name)] = None
    return list(found)


def _heads(width: int, default: int) -> int:
    if default and width % default == 0:
        return default
    for head_dim in (64, 128, 32, 16, 8, 4, 2, 1):
        if width % head_dim == 0:
            return width // head_dim
    return 1


def infer_config(family: str, shapes: Shapes) -> dict[str, Any]:
    """Config values for ``family`` read from the shapes of a state_dict (keys may carry
    the class's prefix such as ``bert.``)."""
    values: dict[str, Any] = {}
    layers: dict[str, int] = {}
    for attr, pattern, dim in FAMILIES.get(family, []):
        rx = re.compile(pattern)
        for key, shape in shapes.items():
            m = rx.search(key)
            if not m:
                continue
            if dim is None:
                layers[attr] = max(layers.get(attr, 0), int(m.group(1)) + 1)
            elif len(shape) > dim and attr not in values:
                values[attr] = int(shape[dim])
    values.update(layers)
    special = _SPECIAL.get(family)
    if special is not None:
        special(shapes, values)
    config_class = _config_class(family)
    defaults = config_class() if config_class else None
    vocab = values.get("vocab_size")
    if defaults is not None and isinstance(vocab, int):
        # special token ids of the family's defaults must fit a smaller vocabulary
        for attr in ("pad_token_id", "bos_token_id", "eos_token_id", "decoder_start_token_id"):
            token = getattr(defaults, attr, None)
            if isinstance(token, int) and token >= vocab:
                values[attr] = vocab - 1
    heads = _HEADS.get(family)
    if heads and heads[1] in values and heads[0] not in values:
        default = getattr(defaults, heads[0], 0) if defaults is not None else 0
        values[heads[0]] = _heads(values[heads[1]], int(default or 0))
        if family == "whisper":
            values["decoder_attention_heads"] = values[heads[0]]
    return values


def _config_class(family: str):
    transformers = library("transformers")
    if transformers is None:
        return None
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    return CONFIG_MAPPING[family] if family in CONFIG_MAPPING else None


def _first(shapes: Shapes, pattern: str) -> tuple[str, tuple[int, ...]] | None:
    rx = re.compile(pattern)
    return next(((k, tuple(s)) for k, s in shapes.items() if rx.search(k)), None)


def _vit(shapes: Shapes, values: dict[str, Any]) -> None:
    pos = _first(shapes, r"embeddings\.position_embeddings$")
    patch = values.get("patch_size")
    if pos and len(pos[1]) == 3 and patch:
        side = math.isqrt(max(pos[1][1] - 1, 0))
        if side * side == pos[1][1] - 1:
            values["image_size"] = side * patch


def _resnet(shapes: Shapes, values: dict[str, Any]) -> None:
    stages: dict[int, int] = {}
    rx = re.compile(r"encoder\.stages\.(\d+)\.layers\.(\d+)\.")
    bottleneck = False
    for key in shapes:
        m = rx.search(key)
        if m:
            s, layer = int(m.group(1)), int(m.group(2))
            stages[s] = max(stages.get(s, 0), layer + 1)
            bottleneck = bottleneck or ".layer.2." in key
    if not stages:
        return
    n = max(stages) + 1
    values["depths"] = [stages.get(i, 1) for i in range(n)]
    values["layer_type"] = "bottleneck" if bottleneck else "basic"
    last = 2 if bottleneck else 1
    sizes = []
    for i in range(n):
        found = _first(shapes, rf"encoder\.stages\.{i}\.layers\.0\.layer\.{last}\."
                               rf"convolution\.weight$")
        if found is None:
            return
        sizes.append(found[1][0])
    values["hidden_sizes"] = sizes


def _wav2vec2(shapes: Shapes, values: dict[str, Any]) -> None:
    convs: dict[int, tuple[int, ...]] = {}
    rx = re.compile(r"feature_extractor\.conv_layers\.(\d+)\.conv\.weight$")
    for key, shape in shapes.items():
        m = rx.search(key)
        if m and len(shape) == 3:
            convs[int(m.group(1))] = tuple(shape)
    if convs:
        order = [convs[i] for i in sorted(convs)]
        values["conv_dim"] = [s[0] for s in order]
        values["conv_kernel"] = [s[2] for s in order]
        default = [5, 2, 2, 2, 2, 2, 2]
        values["conv_stride"] = (default + [2] * len(order))[:len(order)]
        values["num_feat_extract_layers"] = len(order)
        values["conv_bias"] = any(re.search(r"conv_layers\.0\.conv\.bias$", k) for k in shapes)
        values["feat_extract_norm"] = "layer" if any(
            re.search(r"conv_layers\.1\.layer_norm\.", k) for k in shapes) else "group"
    pos = _first(shapes, r"pos_conv_embed\.conv\.(?:weight|weight_v|parametrizations\.weight"
                         r"\.original1)$")
    if pos and len(pos[1]) == 3 and pos[1][1]:
        values["num_conv_pos_embeddings"] = pos[1][2]
        values["num_conv_pos_embedding_groups"] = max(pos[1][0] // pos[1][1], 1)
    values["do_stable_layer_norm"] = any(
        re.search(r"encoder\.layers\.\d+\.final_layer_norm", k) for k in shapes) and any(
        re.search(r"encoder\.layer_norm\.", k) for k in shapes) and values.get(
        "feat_extract_norm") == "layer"


def _llama(shapes: Shapes, values: dict[str, Any]) -> None:
    hidden = values.get("hidden_size")
    q = _first(shapes, r"self_attn\.q_proj\.weight$")
    k = _first(shapes, r"self_attn\.k_proj\.weight$")
    if hidden and q and k:
        common = math.gcd(q[1][0], k[1][0])
        head_dim = next((d for d in ((128, 64) if hidden >= 2048 else (64,)) + (32, 16, 8, 4, 2)
                         if common % d == 0), 1)
        values["num_attention_heads"] = q[1][0] // head_dim
        values["head_dim"] = head_dim
        values["num_key_value_heads"] = max(k[1][0] // head_dim, 1)
    values["tie_word_embeddings"] = not any(k.endswith("lm_head.weight") for k in shapes)


def _t5(shapes: Shapes, values: dict[str, Any]) -> None:
    q = _first(shapes, r"SelfAttention\.q\.weight$")
    heads = values.get("num_heads")
    if q and heads:
        values["d_kv"] = q[1][0] // heads
    if any(re.search(r"DenseReluDense\.wi_0\.weight$", k) for k in shapes):
        values["feed_forward_proj"] = "gated-gelu"
    values["tie_word_embeddings"] = not any(k.endswith("lm_head.weight") for k in shapes)


_SPECIAL: dict[str, Callable[[Shapes, dict[str, Any]], None]] = {
    "vit": _vit, "resnet": _resnet, "wav2vec2": _wav2vec2, "llama": _llama, "t5": _t5}
