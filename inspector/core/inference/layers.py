"""The layers that make train and eval mode differ, and a sample input for a model.

Module types are read from the user's model, which may be a TorchScript module whose Python
class is gone: there the type name (``original_name``) is all there is, so both the class and
the name are checked.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from inspector.core.inference.config import DEFAULT_BATCH
from inspector.core.inference.errors import HINT_GIVE_INPUT_SHAPE, InferenceError
from inspector.core.inference.limits import check_run_bytes
from inspector.core.inference.results import (
    LAYER_DROPOUT,
    LAYER_NORM,
    LAYER_RANDOM,
    ModeSensitiveLayer,
)

DEFAULT_IMAGE_SIDE = 32
DEFAULT_SEQUENCE = 16


def _type_name(module: nn.Module) -> str:
    """The module's class name; a TorchScript module keeps it in ``original_name``."""
    return getattr(module, "original_name", None) or type(module).__name__


def mode_sensitive_layers(model: nn.Module) -> list[ModeSensitiveLayer]:
    """The layers whose behaviour depends on ``model.training``, each with a sentence on how."""
    found = []
    for name, m in model.named_modules():
        t = _type_name(m)
        text = None
        kind = LAYER_RANDOM
        if isinstance(m, nn.modules.dropout._DropoutNd) or t.endswith("Dropout") or t in (
                "Dropout1d", "Dropout2d", "Dropout3d"):
            kind = LAYER_DROPOUT
            p = getattr(m, "p", None)
            rate = f"p={p:g}" if isinstance(p, float) else "probability p"
            if "Alpha" in t:
                text = (f"in train mode it randomly sets activations ({rate}) to the SELU "
                        f"saturation value keeping mean and variance; in eval mode it passes "
                        f"the input through unchanged")
            else:
                what = "whole channels" if t[-2:] in ("1d", "2d", "3d") else "elements"
                text = (f"in train mode it zeroes random {what} ({rate}) and scales the rest "
                        f"by 1/(1-p); in eval mode it passes the input through unchanged")
        elif isinstance(m, nn.modules.batchnorm._BatchNorm) or "BatchNorm" in t:
            kind = LAYER_NORM
            if getattr(m, "track_running_stats", True):
                text = ("in train mode it normalizes with the current batch's mean and variance "
                        "and updates its running statistics; in eval mode it uses the stored "
                        "running statistics, so outputs no longer depend on the batch")
        elif isinstance(m, nn.modules.instancenorm._InstanceNorm) or "InstanceNorm" in t:
            kind = LAYER_NORM
            if getattr(m, "track_running_stats", False):
                text = ("in train mode it normalizes each sample with its own statistics and "
                        "updates running statistics; in eval mode it uses the running statistics")
        elif isinstance(m, nn.RReLU) or t == "RReLU":
            text = ("in train mode the negative slope is drawn at random for each element; in "
                    "eval mode it is fixed at (lower+upper)/2")
        elif isinstance(m, nn.MultiheadAttention) and m.dropout > 0:
            text = (f"in train mode it drops attention weights (p={m.dropout:g}); in eval mode "
                    f"attention is deterministic")
        elif isinstance(m, nn.RNNBase) and m.dropout > 0 and m.num_layers > 1:
            text = (f"in train mode it applies dropout (p={m.dropout:g}) between stacked "
                    f"layers; in eval mode it does not")
        if text:
            found.append(ModeSensitiveLayer(name or "(model)", t, text, kind))
    return found


def _first_layer(model: nn.Module) -> tuple[str, nn.Module] | None:
    for name, m in model.named_modules():
        t = _type_name(m)
        if t in ("Conv1d", "Conv2d", "Conv3d", "Linear", "Embedding", "LazyLinear", "Bilinear",
                 "EmbeddingBag", "RNN", "LSTM", "GRU") or isinstance(
                m, nn.modules.conv._ConvNd | nn.Linear | nn.Embedding | nn.EmbeddingBag
                | nn.RNNBase):
            return name, m
    return None


def sample_input(model: nn.Module, batch_size: int = DEFAULT_BATCH, seed: int = 0,
                 input_shape: tuple[int, ...] | None = None) -> tuple[torch.Tensor, str]:
    """A reproducible random input for ``model`` (CPU, float32 or int64 token ids) and a
    sentence saying how its shape was chosen.

    The shape is ``input_shape`` if given (one sample, no batch dimension), else the model's
    ``example_input_shape`` attribute, else derived from the first layer: Conv2d → (C, 32, 32),
    Conv1d → (C, 64), Conv3d → (C, 16, 16, 16), Linear → (in_features,), Embedding → 16 ids.
    """
    if batch_size < 1:
        raise InferenceError(f"batch size must be at least 1, got {batch_size}")
    gen = torch.Generator().manual_seed(seed)
    first = _first_layer(model)
    token_range: int | None = None
    if first is not None and _type_name(first[1]) in ("Embedding", "EmbeddingBag"):
        token_range = int(first[1].num_embeddings)
    how = ""
    if input_shape is not None:
        shape = tuple(int(s) for s in input_shape)
        how = "the shape you gave"
    elif getattr(model, "example_input_shape", None):
        shape = tuple(int(s) for s in model.example_input_shape)
        how = "the architecture's example_input_shape"
    elif first is None:
        raise InferenceError("cannot tell the input shape: the model has no Conv, Linear, "
                             "Embedding or RNN layer", hint=HINT_GIVE_INPUT_SHAPE)
    else:
        name, m = first
        t = _type_name(m)
        if t.startswith("Conv"):
            dims = {"Conv1d": (64,), "Conv2d": (DEFAULT_IMAGE_SIDE, DEFAULT_IMAGE_SIDE),
                    "Conv3d": (16, 16, 16)}.get(t, (DEFAULT_IMAGE_SIDE, DEFAULT_IMAGE_SIDE))
            shape = (int(m.in_channels), *dims)
        elif t in ("Embedding", "EmbeddingBag"):
            shape = (DEFAULT_SEQUENCE,)
        elif t in ("RNN", "LSTM", "GRU"):
            shape = (DEFAULT_SEQUENCE, int(m.input_size))
            if not getattr(m, "batch_first", False):
                raise InferenceError(f"cannot tell the input shape: the first layer {name!r} "
                                     f"is a {t} without batch_first",
                                     hint=HINT_GIVE_INPUT_SHAPE)
        else:
            shape = (int(m.in_features),)
        how = f"the first layer, {t} {name!r}"
    if any(s < 1 for s in shape):
        raise InferenceError(f"input shape {list(shape)} has a dimension below 1")
    full = (batch_size, *shape)
    check_run_bytes(math.prod(full) * (8 if token_range is not None else 4),
                    f"the input {list(full)}")
    if token_range is not None:
        x = torch.randint(0, token_range, full, generator=gen)
        how += f" (random token ids below {token_range})"
    else:
        x = torch.randn(full, generator=gen)
    return x, f"input {list(full)} from {how}, seed {seed}"
