"""What a run found, as small frozen dataclasses (torch-free).

These are the messages that come back across the worker-process boundary, unpickled by the
GUI process with only numpy imported: :class:`~inspector.core.jobs.JobProgress` steps, then a
:class:`RunResult` or an :class:`InferenceFailure`; :class:`InferenceOptions` for the choices.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from inspector.core.devices import Device
from inspector.core.jobs import JobFailure


@dataclass(frozen=True)
class ShapeMismatch:
    """A model key whose checkpoint tensor has another shape (not loaded)."""

    key: str  # the model's key
    checkpoint_key: str
    checkpoint_shape: tuple[int, ...]
    model_shape: tuple[int, ...]

    def to_json(self) -> dict:
        return {"key": self.key, "checkpoint_key": self.checkpoint_key,
                "checkpoint_shape": list(self.checkpoint_shape),
                "model_shape": list(self.model_shape)}


@dataclass(frozen=True)
class LoadReport:
    """What loading the weights did. Key fixes are applied in memory only, never to the file."""

    missing_keys: tuple[str, ...] = ()
    unexpected_keys: tuple[str, ...] = ()
    shape_mismatches: tuple[ShapeMismatch, ...] = ()
    fixes_applied: tuple[str, ...] = ()
    loaded_keys: int = 0
    container: tuple = ()

    def to_json(self) -> dict:
        return {"missing_keys": list(self.missing_keys),
                "unexpected_keys": list(self.unexpected_keys),
                "shape_mismatches": [m.to_json() for m in self.shape_mismatches],
                "fixes_applied": list(self.fixes_applied)}


LAYER_DROPOUT = "dropout"  # random masks in train mode
LAYER_NORM = "norm"  # batch statistics in train mode, running statistics in eval mode
LAYER_RANDOM = "random"  # other randomness in train mode (RReLU, attention/RNN dropout)


@dataclass(frozen=True)
class ModeSensitiveLayer:
    """A layer that behaves differently in train and eval mode: its name and class,
    a sentence on how, and its ``kind`` (``LAYER_DROPOUT``, ``LAYER_NORM``, ``LAYER_RANDOM``)."""

    name: str
    type: str
    explanation: str
    kind: str = LAYER_RANDOM


@dataclass(frozen=True, eq=False)
class ModeResult:
    """``runs`` forward passes in one mode. ``outputs`` has shape (runs, *output_shape),
    float32: per-output values of each run, for plots."""

    runs: int
    spread: float  # mean over output elements of the std across runs
    max_run_diff: float  # largest |difference| between any two runs, over all elements
    ms_per_run: float
    outputs: np.ndarray

    def to_json(self) -> dict:
        return {"runs": self.runs, "spread": _finite(self.spread),
                "max_run_diff": _finite(self.max_run_diff),
                "ms_per_run": round(self.ms_per_run, 4)}


@dataclass(frozen=True)
class Label:
    """One class or token of a prediction: its label (the index as text when unknown), its
    index in the output and its probability (softmax over the output)."""

    label: str
    index: int
    probability: float

    def to_json(self) -> dict:
        return {"label": self.label, "index": self.index,
                "probability": _finite(round(self.probability, 6))}


@dataclass(frozen=True)
class Predictions:
    """Top labels of the first sample: ``kind`` is "classes", "next-token" or "masked-token"
    (the guesses for the word at the mask); ``eval`` the
    top-k of the (first) eval run, ``train`` the top-k of every train run; ``top1_changes``
    counts the train runs whose top-1 differs from eval's."""

    kind: str
    eval: tuple[Label, ...]
    train: tuple[tuple[Label, ...], ...]
    top1_changes: int
    # for every train run, the probability of each of eval's top-k (same order as ``eval``)
    train_probs: tuple[tuple[float, ...], ...] = ()

    def to_json(self) -> dict:
        return {"kind": self.kind, "eval": [x.to_json() for x in self.eval],
                "train": [[x.to_json() for x in run] for run in self.train],
                "top1_changes": self.top1_changes}


@dataclass(frozen=True)
class EmbeddingCosine:
    """Cosine similarity of the first sample's embedding in each train run with eval's."""

    train: tuple[float, ...]
    min: float
    mean: float

    def to_json(self) -> dict:
        return {"train": [_finite(round(x, 6)) for x in self.train],
                "min": _finite(self.min), "mean": _finite(self.mean)}


@dataclass(frozen=True)
class Proposal:
    """A library architecture that could hold a checkpoint's weights: ``spec`` goes into
    :attr:`RunConfig.architecture` (e.g. ``"hf:BertModel"``, ``"torchvision:resnet50"``) with
    ``kwargs`` as its ``arch_kwargs``; ``score`` in [0, 1] is the share of keys that match in
    name and shape; ``exact`` when every key of both sides does."""

    spec: str
    library: str
    name: str
    score: float
    exact: bool
    kwargs: Mapping[str, Any]
    description: str = ""
    input_kind: str = ""  # "image", "text", "audio" or "tensor" for this candidate


@dataclass(frozen=True, eq=False)
class RunResult:
    """Everything a front end shows after a run; :meth:`to_json` is the CLI's document."""

    device: str
    dtype: str
    architecture: str
    load: LoadReport
    mode_sensitive_layers: tuple[ModeSensitiveLayer, ...]
    input_shape: tuple[int, ...]
    input_description: str
    output_shape: tuple[int, ...]
    train: ModeResult
    eval: ModeResult
    eval_vs_train_mean: float  # mean |eval output - mean of the train outputs|
    bn_running_stats_drift: float  # largest change the train passes made to running stats
    weights_unchanged: bool
    notes: tuple[str, ...] = ()
    predictions: Predictions | None = None
    embedding_cosine: EmbeddingCosine | None = None
    random_init_keys: tuple[str, ...] = ()  # model keys that ran with random initial values
    input_kind: str = "tensor"  # "image", "text", "audio" or "tensor"

    def to_json(self) -> dict:
        doc = {
            "device": self.device, "dtype": self.dtype, "architecture": self.architecture,
            "load": self.load.to_json(),
            "mode_sensitive_layers": [{"name": m.name, "type": m.type}
                                      for m in self.mode_sensitive_layers],
            "input_shape": list(self.input_shape), "output_shape": list(self.output_shape),
            "train": self.train.to_json(), "eval": self.eval.to_json(),
            "eval_vs_train_mean": _finite(self.eval_vs_train_mean),
            "bn_running_stats_drift": _finite(self.bn_running_stats_drift),
            "weights_unchanged": self.weights_unchanged,
        }
        if self.input_kind != "tensor":
            doc["input_kind"] = self.input_kind
        if self.random_init_keys:
            doc["random_init_keys"] = list(self.random_init_keys)
        if self.predictions is not None:
            doc["predictions"] = self.predictions.to_json()
        if self.embedding_cosine is not None:
            doc["embedding_cosine"] = self.embedding_cosine.to_json()
        return doc


@dataclass(frozen=True)
class InferenceFailure(JobFailure):
    """A run that stopped on an error the user can act on.

    ``message`` is the error's neutral sentence, ``traceback`` the user code's traceback (may
    be empty), ``hint`` what to change (an ``HINT_*`` value of
    :mod:`inspector.core.inference.errors`, or ``""``).
    """

    hint: str = ""
    keys: tuple[str, ...] = ()  # hint "random-init": the model keys that would be random


@dataclass(frozen=True)
class ArchitectureChoice:
    """A built-in as a front end offers it for one checkpoint: ``score`` is the share of keys
    that match (0 when it cannot hold these weights), ``kwargs`` the sizes inferred from the
    weights, ``input_shape`` one sample's automatic input shape with those sizes (or None)."""

    name: str
    description: str
    score: float
    kwargs: Mapping[str, Any]
    input_shape: tuple[int, ...] | None


@dataclass(frozen=True)
class InferenceOptions:
    """What a front end offers for running one checkpoint, read from metadata only.

    ``kind`` is ``"state_dict"``, ``"whole-model"``, ``"torchscript"`` or
    ``"exported-program"``; for the others, ``globals`` names the code that trusting the file
    would run. ``proposed`` is the architecture preselected: a built-in's name or a library spec
    such as ``"hf:BertModel"`` (None when none matches well enough).
    ``problem`` is set when the file cannot be read.
    """

    kind: str
    kind_text: str
    globals: tuple[str, ...]
    architectures: tuple[ArchitectureChoice, ...]
    proposed: str | None
    devices: tuple[Device, ...] = field(default_factory=tuple)
    problem: str = ""
    proposals: tuple[Proposal, ...] = ()  # library architectures, best first
    input_kind: str = "tensor"  # of the proposed model: "image", "text", "audio", "tensor"
    default_text: str = ""
    sample_images: tuple[str, ...] = ()
    labels_known: bool = False
    index_missing: tuple[str, ...] = ()  # libraries whose key/shape index is not built yet
    library_note: str = ""  # which package would identify the file ("" when none is missing)
    config_class: str = ""  # the transformers class config.json names
    custom_code: tuple[str, ...] = ()  # auto_map code references (run only when trusted)


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None
