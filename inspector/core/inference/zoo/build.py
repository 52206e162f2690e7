"""Build a library model (transformers, torchvision, timm) from a spec and kwargs, on the
CPU or on the meta device (shapes only), with what it takes and gives (:class:`ModelTask`).

Library models are built with random initial values and no download (``weights=None``,
``pretrained=False``); the checkpoint's weights are loaded afterwards through our reader.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import warnings
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from inspector.core.inference.errors import ModelError
from inspector.core.inference.limits import check_run_bytes
from inspector.core.inference.zoo import hf
from inspector.core.inference.zoo.libraries import (
    EXTRA,
    LibrarySpec,
    library,
    library_problem,
)
from inspector.core.inference.zoo.task import ModelTask, hf_task, vision_task

Shapes = Mapping[str, tuple[int, ...]]


@dataclass
class LibraryModel:
    """A built library model: ``name`` for display (``hf:BertModel``), its ``task``, the
    prefix its checkpoints may lack or carry (HF ``base_model_prefix``), and the model keys
    whose absence from a file is normal (tied copies, keys the library ignores)."""

    model: nn.Module
    name: str
    task: ModelTask
    base_prefix: str = ""
    optional_keys: frozenset[str] = frozenset()
    notes: list[str] = field(default_factory=list)
    renames: tuple[tuple[re.Pattern, str], ...] = ()  # transformers' legacy key renamings
    _keys: tuple[dict[str, tuple[int, ...]], frozenset[str]] | None = None
    rebuild: Callable[[bool], LibraryModel] | None = None  # meta → CPU (init or not)
    shard_folder: str = ""  # the file is one of several weight files of this HF folder

    def materialize(self, init: bool) -> LibraryModel:
        """This model built on the CPU (itself when it is not on the meta device); with
        ``init=False`` parameters are not randomly initialised (all are about to be loaded).
        The notes carry over."""
        if self.rebuild is None:
            return self
        built = self.rebuild(init)
        built.notes = list(self.notes)
        built.shard_folder = self.shard_folder
        return built

    def keys(self) -> tuple[dict[str, tuple[int, ...]], frozenset[str]]:
        """(unique key → shape, tied keys) of the model, computed once."""
        if self._keys is None:
            self._keys = _key_shapes(self.model)
        return self._keys

    def match(self, shapes: Shapes):
        """:func:`~inspector.core.inference.matching.match_keys` of the checkpoint's keys
        against this model's, after transformers' own renaming of older key names; the
        result names the checkpoint's keys as stored."""

        model_keys, tied = self.keys()
        copies = [k for k in shapes if _plain(k, self.base_prefix) in tied]
        if copies:  # e.g. lm_head.weight, the embeddings' tensor under a second name
            shapes = {k: v for k, v in shapes.items() if k not in set(copies)}
        m = self._match(model_keys, shapes)
        if copies:
            m = dataclasses.replace(m, fixes_applied=m.fixes_applied + (
                f"skipped {len(copies)} tied cop{'ies' if len(copies) != 1 else 'y'} of "
                f"other weights ({', '.join(copies[:3])})",))
        return m

    def _match(self, model_keys, shapes: Shapes):
        from inspector.core.inference.matching import match_keys

        if not self.renames:
            return match_keys(model_keys, shapes, self.base_prefix)
        alias: dict[str, str] = {}
        for key in shapes:
            alias.setdefault(rename_key(key, self.renames), key)
        renamed = {new: shapes[old] for new, old in alias.items()}
        m = match_keys(model_keys, renamed, self.base_prefix)
        changed = sum(1 for new, old in alias.items() if new != old)
        fixes = m.fixes_applied + ((f"renamed {changed} key{'s' if changed != 1 else ''} from "
                                    f"older transformers names, as transformers does",)
                                   if changed else ())
        return dataclasses.replace(
            m, mapping={k: alias[v] for k, v in m.mapping.items()},
            unexpected_keys=tuple(alias.get(k, k) for k in m.unexpected_keys),
            shape_mismatches=tuple(dataclasses.replace(x, checkpoint_key=alias.get(
                x.checkpoint_key, x.checkpoint_key)) for x in m.shape_mismatches),
            fixes_applied=fixes, num_checkpoint_keys=len(shapes))


def _plain(key: str, base_prefix: str) -> str:
    from inspector.core.state_dict import WRAPPER_PREFIXES

    for prefix in WRAPPER_PREFIXES:
        if key.startswith(prefix) and not key.startswith(base_prefix or "\0"):
            key = key[len(prefix):]
    return key


def tied_keys(model: nn.Module) -> frozenset[str]:
    """State_dict keys that are a second name of a tensor listed under an earlier key."""
    return _key_shapes(model)[1]


def rename_key(key: str, renames: tuple[tuple[re.Pattern, str], ...]) -> str:
    for rx, target in renames:
        key = rx.sub(target, key, count=1)
    return key


def hf_renames(model: nn.Module) -> tuple[tuple[re.Pattern, str], ...]:
    """transformers' own renamings of older checkpoint key names for ``model`` (plain
    renamings only; empty for a transformers without them)."""
    try:
        from transformers.conversion_mapping import get_model_conversion_mapping
        from transformers.core_model_loading import WeightRenaming
    except ImportError:
        return ()
    out = []
    try:
        transforms = get_model_conversion_mapping(model)
    except Exception:  # noqa: BLE001 - a library detail; matching still works without it
        return ()
    for t in transforms:
        if not isinstance(t, WeightRenaming) or not t.target_patterns:
            continue
        for source in t.source_patterns:
            try:
                out.append((re.compile(source), str(t.target_patterns[0])))
            except re.error:
                continue
    return tuple(out)


def _require(name: str):
    module = library(name)
    if module is None:
        raise ModelError(f"{library_problem(name)}; install {EXTRA} (see the README's "
                         f"\"Real models\")")
    return module


def _key_shapes(model: nn.Module) -> tuple[dict[str, tuple[int, ...]], frozenset[str]]:
    seen: set[int] = set()
    shapes = {}
    tied = set()
    for key, value in model.state_dict(keep_vars=True).items():
        if id(value) in seen:
            tied.add(key)
            continue
        seen.add(id(value))
        shapes[key] = tuple(value.shape)
    return shapes, frozenset(tied)


def unique_shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    """The model's state_dict key → shape, without tied copies (a tensor shared by two
    keys, such as an LM head tied to the embeddings, is listed under its first key only)."""
    return _key_shapes(model)[0]


def _ignored(model: nn.Module, keys) -> frozenset[str]:
    patterns = []
    for attr in ("_keys_to_ignore_on_load_missing", "_keys_to_ignore_on_load_unexpected"):
        value = getattr(model, attr, None)
        if isinstance(value, list | tuple | set):
            patterns += [p for p in value if isinstance(p, str)]
    out = {k for k in keys if k.endswith("num_batches_tracked")}
    for p in patterns:
        try:
            rx = re.compile(p)
        except re.error:
            continue
        out |= {k for k in keys if rx.search(k)}
    return frozenset(out)


_INIT_NAMES = ("uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_",
               "eye_", "dirac_", "xavier_uniform_", "xavier_normal_", "kaiming_uniform_",
               "kaiming_normal_", "orthogonal_", "sparse_")


@contextmanager
def _no_init():
    """Weight initialisers as no-ops: on the meta device they only cost time (a 1,000-tensor
    model spends most of its build in them), and there are no values to fill."""
    saved = {n: getattr(torch.nn.init, n) for n in _INIT_NAMES if hasattr(torch.nn.init, n)}

    def skip(tensor, *args, **kwargs):
        return tensor

    for name in saved:
        setattr(torch.nn.init, name, skip)
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(torch.nn.init, name, fn)


def _on(device):
    return contextlib.nullcontext() if device is None else _meta(device)


@contextmanager
def _quiet(inner):
    """``inner`` with library warnings silenced (advice about init defaults, deprecations):
    the report says what matters."""
    with warnings.catch_warnings(), inner:
        warnings.simplefilter("ignore")
        yield


@contextmanager
def _meta(device):
    with device, _no_init(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # library advice about init defaults: no values here
        yield


def build(spec: LibrarySpec, kwargs: Mapping[str, Any] | None = None, *, meta: bool = False,
          config_json: Mapping[str, Any] | None = None, folder: str | None = None,
          init: bool = True, seed: int = 0) -> LibraryModel:
    """Build ``spec`` with ``kwargs`` (for transformers: config values, over ``config_json``
    when a config.json was found). ModelError when the library is missing or refuses.

    On the meta device the result can be :meth:`LibraryModel.materialize`-d on the CPU once
    the weights are known to fit; ``init=False`` skips the random initialisation (every
    weight is about to be loaded: a 110M-parameter BERT builds in a quarter of the time);
    ``seed`` makes the initial values reproducible."""
    kwargs = dict(kwargs or {})
    device = torch.device("meta") if meta else None
    if not meta:  # what the sizes claim is checked on the meta device before it is allocated
        shapes = build(spec, kwargs, meta=True, config_json=config_json).model.state_dict()
        check_run_bytes(sum(t.numel() * t.element_size() for t in shapes.values()),
                        f"the {spec.text} model these sizes describe")
    place = _quiet(_on(device) if device is not None or init else _no_init())

    def rebuild(init_values: bool) -> LibraryModel:
        return build(spec, kwargs, config_json=config_json, folder=folder, init=init_values,
                     seed=seed)

    if spec.library == "transformers":
        hf.transformers_or_error()
        cls = hf.model_class(spec.name)
        values = {**(config_json or {}), **kwargs}
        config = hf.build_config(cls, values)
        with torch.random.fork_rng(devices=[]), place:
            torch.manual_seed(seed)
            model = hf.build_model(cls, config)
        prefix = getattr(model, "base_model_prefix", "") or ""
        task = hf_task(cls.__name__, config, folder)
        note = _functional_dropout(model, config)
        if note:
            task.notes.append(note)
        keys = _key_shapes(model)
        return LibraryModel(model, f"hf:{cls.__name__}", task, prefix + "." if prefix else "",
                            _ignored(model, keys[0]), list(task.notes), hf_renames(model), keys,
                            rebuild if meta else None)
    module = _require(spec.library)

    def construct():
        if spec.library == "torchvision":
            return module.models.get_model(spec.name, weights=None, **kwargs)
        return module.create_model(spec.name, pretrained=False, **kwargs)

    try:
        try:
            with torch.random.fork_rng(devices=[]), place:
                torch.manual_seed(seed)
                model = construct()
        except (NotImplementedError, RuntimeError) as e:
            if device is None or "meta" not in str(e):
                raise
            # a constructor that reads tensor values (torchvision's RegNet): build on the
            # CPU without filling weights
            with torch.random.fork_rng(devices=[]), _quiet(_no_init()):
                model = construct()
    except Exception as e:  # noqa: BLE001 - unknown names, rejected kwargs
        raise ModelError(f"{spec.library} cannot build {spec.name!r} with {kwargs}: "
                         f"{type(e).__name__}: {str(e)[:300]}") from None
    task = vision_task(spec.library, spec.name, model)
    keys = _key_shapes(model)
    return LibraryModel(model, spec.text, task, "", _ignored(model, keys[0]), list(task.notes),
                        (), keys, rebuild if meta else None)


def _functional_dropout(model: nn.Module, config) -> str:
    """A note when the config sets dropout rates but the model has no Dropout module (the
    rate is applied by ``torch.nn.functional.dropout`` inside forward(): not listed as a
    layer, yet random in train mode)."""
    if any(isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0 for m in model.modules()):
        return ""
    try:
        values = config.to_dict()
    except Exception:  # noqa: BLE001
        return ""
    rates = {k: v for k, v in values.items() if "dropout" in k and isinstance(v, int | float)
             and not isinstance(v, bool) and v > 0}
    if not rates:
        return ""
    text = ", ".join(f"{k}={v:g}" for k, v in rates.items())
    return (f"the config sets {text}; this model applies it inside forward() (functional "
            f"dropout), so train mode is random there although no Dropout layer is listed")


def folder_config(ckpt, path: str) -> tuple[dict[str, Any] | None, str | None]:
    """(config.json dict, folder) for a Hugging Face folder, or for a weights file with a
    config.json next to it (read as JSON only); (None, None) otherwise."""
    config = ckpt.details.get("config") if isinstance(ckpt.details, dict) else None
    if isinstance(config, dict):  # a transformers config names a model type or classes
        if "model_type" not in config and "architectures" not in config:
            return None, None
        return config, path if os.path.isdir(path) else os.path.dirname(path)
    if os.path.isfile(path):
        from inspector.core.formats.hf_folder import read_config

        folder = os.path.dirname(os.path.abspath(path))
        config = read_config(folder, [])
        if isinstance(config, dict) and ("model_type" in config or "architectures" in config):
            return config, folder
    return None, None
