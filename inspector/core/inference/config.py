"""What a run is asked for (torch-free): :class:`RunConfig` and parsers for typed choices.

A :class:`RunConfig` is what a front end sends to a worker process; the parsers turn what a
person typed (constructor kwargs as JSON, an input shape such as ``3x32x32``) into its fields,
with neutral messages each front end can add its own advice to.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from inspector.core.inference.errors import HINT_CHANGE_INPUT_SHAPE, InferenceError

DEFAULT_RUNS = 20
DEFAULT_BATCH = 4
DEFAULT_TEXT = "The quick brown fox jumps over the lazy dog."
# masked language models guess the word at [MASK] (or the tokenizer's own mask token)
MASK_PLACEHOLDER = "[MASK]"
DEFAULT_MASKED_TEXT = "The capital of France is [MASK]."


@dataclass(frozen=True)
class RunConfig:
    """What to run. ``architecture`` is a spec for
    :func:`~inspector.core.inference.resolve_architecture` (None: propose a built-in, or the
    file's own model when it carries one); ``input_shape`` is one sample's shape, without the
    batch dimension; ``trust`` allows running a file's own architecture (whole-model pickle,
    TorchScript, .pt2) for this run; ``container`` is the key path of the state_dict inside
    the file. ``image`` / ``text`` are the input of an image / text model (default: the
    project's sample images / :data:`DEFAULT_TEXT`); ``input_npy`` is a .npy file used as the
    whole input (batch dimension included); ``extra_args`` are further keyword arguments of
    ``forward()``; ``allow_random_init`` lets a run go on when weights are missing or have
    another shape (they keep random initial values, and the verdict says so)."""

    path: str
    architecture: str | None = None
    arch_kwargs: Mapping[str, Any] | None = None
    device: str = "cpu"
    dtype: str = "float32"
    runs: int = DEFAULT_RUNS
    batch_size: int = DEFAULT_BATCH
    seed: int = 0
    input_shape: tuple[int, ...] | None = None
    trust: bool = False
    container: tuple | None = None
    image: str | None = None
    text: str | None = None
    input_npy: str | None = None
    extra_args: Mapping[str, Any] | None = None
    allow_random_init: bool = False


def parse_kwargs(text: str | None) -> dict:
    """Constructor kwargs from JSON text (an object); InferenceError with the position if
    invalid; ``{}`` for empty text."""
    if not text or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise InferenceError(f"architecture kwargs are not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise InferenceError("architecture kwargs must be a JSON object, e.g. "
                             "'{\"num_classes\": 10}'")
    return value


def parse_extra_args(text: str | None) -> dict:
    """Extra forward() keyword arguments from JSON text (an object whose values are numbers,
    strings, booleans, null or lists of numbers), e.g. ``{"sr": 16000}``; ``{}`` for empty
    text; InferenceError if invalid."""
    if not text or not text.strip():
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise InferenceError(f"extra forward arguments are not valid JSON: {e}") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and k.isidentifier()
                                              for k in value):
        raise InferenceError("extra forward arguments must be a JSON object of keyword "
                             "arguments, e.g. '{\"sr\": 16000}'")
    return value


def parse_shape(text: str) -> tuple[int, ...] | None:
    """One sample's shape from text like ``3x32x32``, ``3 32 32``, ``3, 32, 32`` or
    ``[3, 32, 32]``; None for empty text or ``auto…`` (derive it from the model).
    InferenceError with a readable message otherwise."""
    text = text.strip()
    if not text or text.lower().startswith("auto"):
        return None
    parts = [p for p in re.split(r"[\s,x×*()\[\]]+", text.lower()) if p]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        raise InferenceError(f"input shape {text!r} is not a list of whole numbers, e.g. "
                             f"3x32x32", hint=HINT_CHANGE_INPUT_SHAPE) from None
    if not shape or any(s < 1 for s in shape):
        raise InferenceError(f"input shape {text!r} needs dimensions of at least 1, e.g. "
                             f"3x32x32", hint=HINT_CHANGE_INPUT_SHAPE)
    return shape
