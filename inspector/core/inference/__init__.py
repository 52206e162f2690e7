"""Run a checkpoint's model in train and in eval mode, and explain what ``model.eval()`` changed.

Modules, by role:

- :mod:`~inspector.core.inference.config` — :class:`RunConfig` (what to run) and parsers for
  typed choices; :mod:`~inspector.core.inference.results` — the frozen dataclasses a run
  returns (:class:`RunResult`, :class:`InferenceOptions`, :class:`InferenceFailure`);
  :mod:`~inspector.core.inference.errors`, :mod:`~inspector.core.inference.limits`;
  :mod:`~inspector.core.inference.report` — the explanation in words, for both front ends.
  These are torch-free: the GUI process unpickles a worker's results with them.
- :mod:`~inspector.core.inference.architectures` (built-ins, the user's code),
  :mod:`~inspector.core.inference.trust` (files that carry their own code),
  :mod:`~inspector.core.inference.matching` (weights ↔ model keys, proposals),
  :mod:`~inspector.core.inference.layers` (mode-sensitive layers, sample input),
  :mod:`~inspector.core.inference.runs` (loading and the train/eval runs) and
  :mod:`~inspector.core.inference.options` (what a front end offers) import torch, and so
  does :mod:`~inspector.core.inference.zoo` (models of transformers, torchvision and timm); their
  names are loaded from here on first use, so importing this package does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from inspector.core.inference.config import (
    DEFAULT_BATCH,
    DEFAULT_RUNS,
    DEFAULT_TEXT,
    RunConfig,
    parse_extra_args,
    parse_kwargs,
    parse_shape,
)
from inspector.core.inference.errors import (
    HINT_ARCHITECTURE,
    HINT_CHANGE_INPUT_SHAPE,
    HINT_EXTRA_ARGS,
    HINT_GIVE_INPUT_SHAPE,
    HINT_RANDOM_INIT,
    HINT_TRUST,
    InferenceError,
    ModelCodeError,
    ModelError,
    RandomInitError,
    TrustRequiredError,
    format_traceback,
)
from inspector.core.inference.limits import MAX_RUN_BYTES, check_run_bytes
from inspector.core.inference.report import (
    SPREAD_MEANING,
    ReportSection,
    drift_text,
    input_text,
    layer_text,
    load_sections,
    prediction_text,
    probability_text,
    random_init_text,
    timing_rows,
    verdict_text,
    weights_text,
)
from inspector.core.inference.results import (
    LAYER_DROPOUT,
    LAYER_NORM,
    LAYER_RANDOM,
    ArchitectureChoice,
    EmbeddingCosine,
    InferenceFailure,
    InferenceOptions,
    Label,
    LoadReport,
    ModeResult,
    ModeSensitiveLayer,
    Predictions,
    Proposal,
    RunResult,
    ShapeMismatch,
)

if TYPE_CHECKING:
    from inspector.core.inference.architectures import (
        BUILTINS,
        MLP,
        Architecture,
        DemoCNN,
        build_model,
        resolve_architecture,
    )
    from inspector.core.inference.layers import mode_sensitive_layers, sample_input
    from inspector.core.inference.matching import (
        ArchitectureProposal,
        KeyMatch,
        StateDictSource,
        locate_state_dict,
        match_keys,
        model_shapes,
        propose_architecture,
        rank_architectures,
    )
    from inspector.core.inference.options import inference_options, iter_inference_options
    from inspector.core.inference.runs import (
        MIN_PROPOSAL_SCORE,
        LoadedModel,
        iter_run_demo,
        iter_run_job,
        iter_run_model,
        load_model,
        run_demo,
    )
    from inspector.core.inference.trust import (
        KIND_TEXT,
        architecture_globals,
        is_exported_program,
        load_trusted_model,
        model_kind,
    )

# name -> submodule, for the names whose modules import torch
_TORCH_NAMES = {
    **dict.fromkeys(("BUILTINS", "MLP", "Architecture", "DemoCNN", "build_model",
                     "resolve_architecture"), "architectures"),
    **dict.fromkeys(("mode_sensitive_layers", "sample_input"), "layers"),
    **dict.fromkeys(("ArchitectureProposal", "KeyMatch", "StateDictSource", "locate_state_dict",
                     "match_keys", "model_shapes", "propose_architecture",
                     "rank_architectures"), "matching"),
    **dict.fromkeys(("inference_options", "iter_inference_options"), "options"),
    **dict.fromkeys(("MIN_PROPOSAL_SCORE", "LoadedModel", "iter_run_demo", "iter_run_job",
                     "iter_run_model", "load_model", "run_demo"), "runs"),
    **dict.fromkeys(("KIND_TEXT", "architecture_globals", "is_exported_program",
                     "load_trusted_model", "model_kind"), "trust"),
}


def __getattr__(name: str):
    module = _TORCH_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_TORCH_NAMES})


__all__ = [
    "BUILTINS", "DEFAULT_BATCH", "DEFAULT_RUNS", "DEFAULT_TEXT", "HINT_ARCHITECTURE",
    "HINT_CHANGE_INPUT_SHAPE", "HINT_EXTRA_ARGS", "HINT_GIVE_INPUT_SHAPE", "HINT_RANDOM_INIT", "HINT_TRUST",
    "EmbeddingCosine", "Label", "Predictions", "Proposal", "RandomInitError",
    "parse_extra_args", "prediction_text", "probability_text", "random_init_text", "KIND_TEXT", "LAYER_DROPOUT", "LAYER_NORM",
    "LAYER_RANDOM", "MAX_RUN_BYTES", "MIN_PROPOSAL_SCORE", "MLP", "SPREAD_MEANING", "Architecture",
    "ArchitectureChoice", "ArchitectureProposal", "DemoCNN", "InferenceError",
    "InferenceFailure", "InferenceOptions", "KeyMatch", "LoadReport", "LoadedModel",
    "ModeResult", "ModeSensitiveLayer", "ModelCodeError", "ModelError", "ReportSection",
    "RunConfig", "RunResult", "ShapeMismatch", "StateDictSource", "TrustRequiredError",
    "architecture_globals", "build_model", "check_run_bytes", "drift_text", "format_traceback",
    "inference_options", "input_text", "is_exported_program", "iter_inference_options",
    "iter_run_demo", "iter_run_job", "iter_run_model", "layer_text", "load_model",
    "load_sections", "load_trusted_model", "locate_state_dict", "match_keys",
    "mode_sensitive_layers", "model_kind", "model_shapes", "parse_kwargs", "parse_shape",
    "propose_architecture", "rank_architectures", "resolve_architecture", "run_demo",
    "sample_input", "timing_rows", "verdict_text", "weights_text",
]
