"""Finding a checkpoint's weights and lining them up with a model's names and shapes.

Where the weights are and which wrapper prefixes their keys carry is decided by
:mod:`inspector.core.state_dict` (shared with the summary and the diff); this module turns
that into a :class:`StateDictSource`, matches its keys to a model (:func:`match_keys`) and
proposes the built-in that fits best (:func:`propose_architecture`). Metadata only: nothing
from the file is run and no tensor bytes are read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from inspector.core.checkpoint import Checkpoint, TensorInfo
from inspector.core.inference.architectures import BUILTINS, Architecture, Shapes, build_model
from inspector.core.inference.errors import ModelError
from inspector.core.inference.results import ShapeMismatch
from inspector.core.state_dict import WRAPPER_PREFIXES, find_weights, strip_wrapper_prefixes
from inspector.core.text import path_text


@dataclass(frozen=True)
class StateDictSource:
    """Where a checkpoint's weights are: state_dict key → tensor metadata.

    ``container`` is the key path of the dict holding them (``()`` for a bare state_dict);
    ``fixes`` says what was done to find them (e.g. "used the state_dict inside …").
    """

    container: tuple
    entries: dict[str, TensorInfo]
    fixes: tuple[str, ...] = ()

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v.shape) for k, v in self.entries.items()}


def locate_state_dict(ckpt: Checkpoint, container: tuple | None = None) -> StateDictSource:
    """The checkpoint's weights as a flat state_dict (see
    :func:`inspector.core.state_dict.find_weights`); ``container`` picks a dict explicitly.
    Empty when the file holds no weights (or ``container`` does not exist)."""
    weights = find_weights(ckpt, container)
    if not weights.found:
        return StateDictSource((), {})
    path = weights.path
    where = path_text(path)
    fixes: list[str] = []
    if weights.from_module:
        if path:
            fixes.append(f"used the module stored under {where!r}")
        fixes.append("read the weights from the pickled module's attributes (its code was "
                     "not run)")
    elif ckpt.format == "torchscript":
        fixes.append("read the TorchScript module's weights from its attributes (its code "
                     "was not run)")
    elif path:
        fixes.append(f"used the state_dict inside the checkpoint's {where!r} entry")
    return StateDictSource(path, weights.tensors(), tuple(fixes))


@dataclass(frozen=True)
class KeyMatch:
    """How a checkpoint's keys line up with a model's, after the known fixes.

    ``mapping`` maps each loadable model key to its checkpoint key (shapes agree);
    ``missing_keys`` are model keys the checkpoint lacks; ``unexpected_keys`` checkpoint keys
    (as stored in the file) the model has no place for.
    """

    mapping: dict[str, str]
    missing_keys: tuple[str, ...]
    unexpected_keys: tuple[str, ...]
    shape_mismatches: tuple[ShapeMismatch, ...]
    fixes_applied: tuple[str, ...]
    num_model_keys: int
    num_checkpoint_keys: int

    @property
    def score(self) -> float:
        """1.0 when every key of both sides matches in name and shape, 0.0 when none does."""
        total = max(self.num_model_keys, self.num_checkpoint_keys)
        return len(self.mapping) / total if total else 0.0


def match_keys(model_shapes: Shapes, checkpoint_shapes: Shapes, base_prefix: str = ""
               ) -> KeyMatch:
    """Align checkpoint keys to model keys, stripping the wrapper prefixes of
    :data:`inspector.core.state_dict.WRAPPER_PREFIXES` (``module.``, ``_orig_mod.``,
    ``model.``) where that matches more keys. ``base_prefix`` (a Hugging Face model's
    ``base_model_prefix`` and a dot, e.g. ``"bert."``) is stripped or added where that makes
    a key match: a base model's weights fit a model with a head and the other way round."""
    model_keys = set(model_shapes)
    prefixes = tuple(WRAPPER_PREFIXES) + ((base_prefix,) if base_prefix else ())
    renamed: dict[str, str] = {}  # checkpoint key -> name used for matching
    stripped: dict[str, int] = {}
    added = 0
    for key in checkpoint_shapes:
        name, removed = key, []
        while name not in model_keys:
            prefix = next((p for p in prefixes if name.startswith(p)), None)
            if prefix is None:
                break
            name = name[len(prefix):]
            removed.append(prefix)
        if name in model_keys and removed:
            renamed[key] = name
            for prefix in removed:
                stripped[prefix] = stripped.get(prefix, 0) + 1
        elif name not in model_keys and base_prefix and base_prefix + name in model_keys:
            renamed[key] = base_prefix + name
            added += 1
        else:
            renamed[key] = key
    fixes = tuple(f"stripped the {p!r} prefix from {n} key{'s' if n != 1 else ''}"
                  for p, n in stripped.items())
    if added:
        fixes += (f"added the {base_prefix!r} prefix to {added} key{'s' if added != 1 else ''}",)

    by_name: dict[str, str] = {}
    for k, n in renamed.items():
        by_name.setdefault(n, k)
    mapping: dict[str, str] = {}
    mismatches: list[ShapeMismatch] = []
    missing: list[str] = []
    for key, shape in model_shapes.items():
        ck = by_name.get(key)
        if ck is None:
            missing.append(key)
        elif tuple(checkpoint_shapes[ck]) != tuple(shape):
            mismatches.append(ShapeMismatch(key, ck, tuple(checkpoint_shapes[ck]), tuple(shape)))
        else:
            mapping[key] = ck
    used = set(mapping.values()) | {m.checkpoint_key for m in mismatches}
    unexpected = tuple(k for k in checkpoint_shapes if k not in used)
    return KeyMatch(mapping, tuple(missing), unexpected, tuple(mismatches), fixes,
                    len(model_shapes), len(checkpoint_shapes))


def model_shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    """The model's state_dict key → shape."""
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@dataclass(frozen=True)
class ArchitectureProposal:
    """A built-in that fits a checkpoint: build it with ``kwargs``; ``score`` in [0, 1]."""

    architecture: Architecture
    kwargs: dict[str, Any]
    score: float
    match: KeyMatch = field(repr=False)


def build_on_meta(arch: Architecture, kwargs: dict[str, Any]) -> nn.Module:
    """``arch`` built on the meta device: shapes only, no memory for big sizes, no draw from
    the global RNG."""
    with torch.device("meta"), torch.random.fork_rng(devices=[]):
        return build_model(arch, kwargs)


def rank_architectures(source: Checkpoint | StateDictSource | Shapes
                       ) -> list[ArchitectureProposal]:
    """Every built-in that could hold these weights, best first (score > 0 only)."""
    if isinstance(source, Checkpoint):
        source = locate_state_dict(source)
    shapes = source.shapes() if isinstance(source, StateDictSource) else dict(source)
    plain = strip_wrapper_prefixes(shapes)
    proposals = []
    for arch in BUILTINS.values():
        kwargs = arch.infer_kwargs(plain) if arch.infer_kwargs else {}
        if kwargs is None:
            continue
        try:
            model = build_on_meta(arch, kwargs)
        except ModelError:
            continue
        match = match_keys(model_shapes(model), shapes)
        if match.score > 0:
            proposals.append(ArchitectureProposal(arch, kwargs, match.score, match))
    proposals.sort(key=lambda p: -p.score)
    return proposals


def propose_architecture(source: Checkpoint | StateDictSource | Shapes
                         ) -> ArchitectureProposal | None:
    """The built-in whose parameter names and shapes best match the checkpoint, or None."""
    ranked = rank_architectures(source)
    return ranked[0] if ranked else None
