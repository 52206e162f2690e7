"""The Adam moments of a Hugging Face Trainer checkpoint folder, named after their parameters.

A Trainer folder (``checkpoint-500/``) keeps the weights in ``model.safetensors`` and the
optimizer in ``optimizer.pt``: ``optimizer.state_dict()``, whose state is keyed by parameter
*number*. The numbers follow the param groups the Trainer built — the parameters that get
weight decay, then the others, each in ``model.named_parameters()`` order — and neither file
says which name a number is. So the names are worked out, never guessed:

- candidate orders: the model of ``config.json`` built on the meta device by transformers
  (when installed and the config needs no custom code) gives ``named_parameters()`` order and
  each parameter's module; it is split into the two groups by the rule of recent transformers
  (no decay for ``nn.LayerNorm`` modules and names matching bias/layernorm/rmsnorm/norm) and by
  the rule of earlier releases (LayerNorm modules and names containing ``bias``), and also
  taken whole (one group). Without transformers, the weight file's parameter order is the one
  candidate (right for a ``pytorch_model.bin`` saved from the model's ``state_dict()``).
- a candidate is kept only if its groups have exactly the sizes of ``param_groups`` and every
  moment tensor has the shape of the weight its name gives.
- names are used only when every kept candidate gives the same names; otherwise (or with no
  candidate) the moments keep their numbers (``optimizer 0 parameter 7``), as in a plain file
  whose parameters cannot be matched.

Nothing from the folder runs: ``optimizer.pt`` is read by the same restricted reader as any
checkpoint, and the model is built from transformers' own classes (never ``auto_map`` code).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from typing import Any

from inspector.core.checkpoint import Checkpoint, CheckpointError
from inspector.core.formats.hf_folder import inside_folder
from inspector.core.timeline.scan import Cancel, model_tensors, moment_norms, optimizer_groups

OPTIMIZER_FILE = "optimizer.pt"
# transformers' Trainer.get_decay_parameter_names (searched in the lower-cased full name)
NO_DECAY_NAMES = re.compile(r"bias|layernorm|rmsnorm|(?:^|\.)norm(?:$|\.)|_norm(?:$|\.)")
_GROUPINGS: dict[str, list[list[list[str]]]] = {}  # the model's candidates, per config.json


# ---- Public API
def folder_moment_norms(folder: str, weights: Checkpoint, cancel: Cancel | None = None,
                        progress: Callable[[int], None] | None = None
                        ) -> dict[str, dict[str, float]]:
    """Parameter name (or ``optimizer K parameter N``) -> {``exp_avg``: L2, ``exp_avg_sq``: L2}
    from ``folder``'s ``optimizer.pt``; empty when the folder has none or it cannot be read
    as an optimizer state."""
    from inspector.core.formats import open_checkpoint

    path = os.path.join(folder, OPTIMIZER_FILE)
    if not os.path.isfile(path) or not inside_folder(folder, OPTIMIZER_FILE):
        return {}
    try:
        opt = open_checkpoint(path)
    except CheckpointError:
        return {}
    try:
        moments = moment_norms(opt, cancel, progress)
        groups = optimizer_groups(opt)
    finally:
        opt.close()
    if not moments:
        return {}
    names = parameter_names(weights, groups[0] if groups else [], moments)
    out: dict[str, dict[str, float]] = {}
    for (k, idx), leaves in moments.items():
        name = names.get(idx) if k == 0 else None
        entry = out.setdefault(name or f"optimizer {k} parameter {idx}", {})
        for leaf, (l2, _shape) in leaves.items():
            if l2 is not None:
                entry[leaf] = l2
    return out


def parameter_names(weights: Checkpoint, groups: list[list[int]],
                    moments: Mapping[tuple[int, int], Mapping[str, tuple[Any, tuple]]]
                    ) -> dict[int, str]:
    """Parameter number -> name for optimizer 0, when exactly one naming fits (see the module
    docstring); empty otherwise."""
    weight_tensors = model_tensors(weights)
    shapes = {name: tuple(info.shape) for name, (_p, info, _r) in weight_tensors.items()}
    params = [name for name, (_p, _i, role) in weight_tensors.items() if role == "param"]
    wanted = [len(g) for g in groups if g]
    ids = [i for g in groups for i in g]
    if not ids or len(set(ids)) != len(ids):
        return {}
    found: list[dict[int, str]] = []
    for candidate in [*_model_groupings(weights), [params]]:
        if [len(g) for g in candidate if g] != wanted:
            continue
        mapping = dict(zip(ids, [n for g in candidate for n in g]))
        if all(_fits(mapping.get(idx), leaves, shapes) for (k, idx), leaves in moments.items()
               if k == 0) and mapping not in found:
            found.append(mapping)
    return found[0] if len(found) == 1 else {}


# ---- Private API
def _fits(name: str | None, leaves: Mapping[str, tuple[Any, tuple]], shapes: dict) -> bool:
    return name is not None and name in shapes and all(
        shape == shapes[name] for _l2, shape in leaves.values())


def _model_groupings(weights: Checkpoint) -> list[list[list[str]]]:
    """The param groups the Trainer would build for the model ``config.json`` describes —
    [decay, no decay] by the recent rule, the same by the earlier rule, and all in one group —
    in ``named_parameters()`` order; empty when it cannot be built from transformers alone."""
    config = weights.details.get("config") if isinstance(weights.details, dict) else None
    if not isinstance(config, dict) or not _plausible(config, len(weights.tensors())):
        return []
    key = json.dumps(config, sort_keys=True, default=str)
    if key not in _GROUPINGS:
        _GROUPINGS[key] = _build_groupings(config)
    return _GROUPINGS[key]


def _plausible(config: dict, n_tensors: int) -> bool:
    """No layer count beyond the number of weight tensors: a config claiming a million layers
    would take minutes to build even on the meta device, and cannot match these weights."""
    return not any(
        isinstance(v, int) and not isinstance(v, bool) and v > n_tensors
        and ("layer" in k or "block" in k) for k, v in config.items())


def _build_groupings(config: dict) -> list[list[list[str]]]:
    from inspector.core.inference.zoo.hf import class_for_config, custom_code
    from inspector.core.inference.zoo.libraries import library

    if custom_code(config) or library("transformers") is None:
        return []
    try:
        from inspector.core.inference.zoo.build import build
        from inspector.core.inference.zoo.libraries import LibrarySpec

        cls = class_for_config(config)
        model = build(LibrarySpec("transformers", cls.__name__), {}, meta=True,
                      config_json=config, init=False).model
    except Exception:  # noqa: BLE001 - any refusal (ModelError, a config it rejects): no names
        return []
    import torch.nn as nn

    norms = tuple(name + "." for name, m in model.named_modules() if isinstance(m, nn.LayerNorm))
    order = [n for n, _p in model.named_parameters()]  # tied parameters once, as the Trainer
    in_norm = {n for n in order if n.startswith(norms)}
    rules = (lambda n: not NO_DECAY_NAMES.search(n.lower()), lambda n: "bias" not in n)
    out = []
    for decays in rules:
        decay = {n for n in order if n not in in_norm and decays(n)}
        out.append([[n for n in order if n in decay], [n for n in order if n not in decay]])
    return [*out, [order]]
