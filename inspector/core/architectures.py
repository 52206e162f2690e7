"""Model architectures: the built-in demo models, user-supplied ones, and matching them to files.

A checkpoint that holds only weights (a state_dict) needs an architecture to run. This module

- defines the built-in models (the tutorial's demo CNN, an MLP with Dropout, and a plain MLP
  with neither Dropout nor BatchNorm) and infers their sizes from a checkpoint's shapes;
- resolves user specs: a built-in name, ``path/to/model.py:MyNet`` or
  ``package.module:MyNet`` (importing that code is the user's explicit choice);
- finds the state_dict inside a checkpoint (bare, in a training or Lightning checkpoint, or
  read from the attributes of a pickled module without running its code) and matches its
  names and shapes to a model, applying the usual key fixes;
- loads files that carry their own architecture (whole-model pickles, TorchScript, .pt2)
  only after an explicit per-file trust decision.

Errors come back as :class:`ModelError` subclasses whose ``message`` is one clear sentence and
whose ``traceback_text`` carries the user code's traceback as data.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import math
import os
import re
import sys
import traceback
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from inspector.core.checkpoint import OBJECT, REF, TENSOR, Checkpoint, Node, TensorInfo

# ---------------------------------------------------------------------------------------------
# Errors


class ModelError(Exception):
    """A model that cannot be built, loaded or run; ``message`` says why in one sentence."""

    def __init__(self, message: str, traceback_text: str = ""):
        super().__init__(message)
        self.message = message
        self.traceback_text = traceback_text


class ModelCodeError(ModelError):
    """User code failed (syntax error, import error, exception in ``__init__`` or ``forward``).

    ``traceback_text`` holds the formatted traceback, to be shown as data.
    """


class TrustRequiredError(ModelError):
    """Running this file's own architecture would execute code from it; ``globals`` names it."""

    def __init__(self, path: str, globals_: list[str], kind: str):
        self.path = path
        self.globals = list(globals_)
        self.kind = kind
        named = ", ".join(globals_) if globals_ else "the code stored in the file"
        super().__init__(
            f"this file is a {kind} that carries its own architecture; loading it runs code from "
            f"the file ({named}). Only do that for a file you trust (command line: --trust), "
            f"or load its weights into a known architecture instead (--arch).")


def format_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` as text, to be shown as data."""
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


# ---------------------------------------------------------------------------------------------
# Built-in models


class DemoCNN(nn.Module):
    """The tutorial's small image classifier: two Conv→BatchNorm→ReLU→MaxPool blocks, then
    Flatten→Dropout→Linear. Input: (B, in_channels, image_size, image_size)."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 8,
                 image_size: int = 32, dropout: float = 0.5):
        super().__init__()
        if image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8, got {image_size}")
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.MaxPool2d(4),
        )
        side = image_size // 8
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * width * side * side, num_classes))
        self.example_input_shape = (in_channels, image_size, image_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class MLP(nn.Sequential):
    """Linear→ReLU(→Dropout) blocks and a final Linear; ``sizes`` = [in, hidden..., out].

    With ``dropout=None`` there is no Dropout layer at all (and never BatchNorm), so train and
    eval mode give identical outputs.
    """

    def __init__(self, sizes: list[int] | tuple[int, ...] = (784, 64, 10),
                 dropout: float | None = 0.5):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2:
            raise ValueError("sizes needs at least an input and an output size")
        layers: list[nn.Module] = []
        for i in range(len(sizes) - 2):
            layers += [nn.Linear(sizes[i], sizes[i + 1]), nn.ReLU()]
            if dropout is not None:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(sizes[-2], sizes[-1]))
        super().__init__(*layers)
        self.example_input_shape = (sizes[0],)


Shapes = Mapping[str, tuple[int, ...]]


def _demo_cnn_kwargs(shapes: Shapes) -> dict | None:
    w0, w4, lin = (shapes.get("features.0.weight"), shapes.get("features.4.weight"),
                   shapes.get("classifier.2.weight"))
    if not (w0 and len(w0) == 4 and lin and len(lin) == 2):
        return None
    width = w0[0]
    kwargs: dict[str, Any] = {"in_channels": w0[1], "width": width, "num_classes": lin[0]}
    channels = w4[0] if w4 and len(w4) == 4 else 2 * width
    side = math.isqrt(max(lin[1] // max(channels, 1), 0))
    if side > 0 and side * side * channels == lin[1]:
        kwargs["image_size"] = 8 * side
    return kwargs


def _mlp_kwargs(step: int) -> Callable[[Shapes], dict | None]:
    def infer(shapes: Shapes) -> dict | None:
        linears = sorted((int(k.split(".")[0]), s) for k, s in shapes.items()
                         if re.fullmatch(r"\d+\.weight", k) and len(s) == 2)
        if not linears:
            return None
        sizes = [linears[0][1][1]] + [s[0] for _, s in linears]
        kwargs: dict[str, Any] = {"sizes": sizes}
        if step == 2:
            kwargs["dropout"] = None
        return kwargs
    return infer


@dataclass(frozen=True)
class Architecture:
    """A way to build a model: a built-in, or a class/function from the user's code.

    ``factory(**kwargs)`` returns an ``nn.Module``; ``default_kwargs`` are merged under the
    caller's kwargs; ``infer_kwargs(shapes)`` (built-ins) derives sizes from a checkpoint.
    """

    name: str
    description: str
    factory: Callable[..., nn.Module]
    default_kwargs: Mapping[str, Any] = field(default_factory=dict)
    infer_kwargs: Callable[[Shapes], dict | None] | None = None
    source: str = "built-in"  # "built-in", "file" or "module"


BUILTINS: dict[str, Architecture] = {a.name: a for a in (
    Architecture("demo-cnn", "the tutorial's CNN: Conv2d→BatchNorm2d→ReLU→MaxPool2d ×2, "
                 "Flatten→Dropout→Linear; input 3×32×32", DemoCNN, {}, _demo_cnn_kwargs),
    Architecture("mlp", "Linear→ReLU→Dropout blocks and a final Linear", MLP,
                 {"dropout": 0.5}, _mlp_kwargs(3)),
    Architecture("plain-mlp", "Linear→ReLU blocks and a final Linear (no Dropout, no "
                 "BatchNorm: train and eval mode agree)", MLP, {"dropout": None}, _mlp_kwargs(2)),
)}


def builtin_architectures() -> list[Architecture]:
    return list(BUILTINS.values())


# ---------------------------------------------------------------------------------------------
# User-supplied architectures


def resolve_architecture(spec: str) -> Architecture:
    """An :class:`Architecture` for ``spec``: a built-in name, ``path/to/model.py:MyNet`` or
    ``package.module:MyNet``. Importing the user's code runs it; errors become ModelCodeError."""
    spec = spec.strip()
    if spec in BUILTINS:
        return BUILTINS[spec]
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        names = ", ".join(BUILTINS)
        raise ModelError(f"unknown architecture {spec!r}: use a built-in ({names}), "
                         f"path/to/model.py:ClassName or package.module:ClassName")
    if target.endswith(".py") or os.sep in target or "/" in target:
        module = _import_file(target)
        source = "file"
    else:
        module = _import_module(target)
        source = "module"
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            where = target
            raise ModelError(f"{where} has no attribute {part!r} (looking for {attr!r})")
        obj = getattr(obj, part)
    if not callable(obj):
        raise ModelError(f"{spec}: {attr!r} is not a class or function")
    return Architecture(name=spec, description=f"{attr} from {target}", factory=obj,
                        source=source)


def _import_file(path: str):
    full = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(full):
        raise ModelError(f"model file {path} does not exist")
    digest = hashlib.sha1(full.encode()).hexdigest()[:12]
    name = f"_inspector_user_model_{digest}"
    spec = importlib.util.spec_from_file_location(name, full)
    if spec is None or spec.loader is None:
        raise ModelError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(full)
    added = folder not in sys.path
    if added:  # so the file can import its sibling modules
        sys.path.insert(0, folder)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as e:
        sys.modules.pop(name, None)
        raise ModelCodeError(f"{path}: syntax error at line {e.lineno}: {e.msg}",
                             format_traceback(e)) from None
    except BaseException as e:  # noqa: BLE001 - user code may raise anything, even SystemExit
        sys.modules.pop(name, None)
        if isinstance(e, KeyboardInterrupt):
            raise
        raise ModelCodeError(f"{path} raised {type(e).__name__} while being imported: {e}",
                             format_traceback(e)) from None
    finally:
        if added:
            try:
                sys.path.remove(folder)
            except ValueError:
                pass
    return module


def _import_module(name: str):
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name and (name == e.name or name.startswith(e.name + ".")):
            raise ModelError(f"cannot import module {name!r}: no module named {e.name!r} "
                             f"(is it installed, or should the spec be a path to a .py file?)"
                             ) from None
        raise ModelCodeError(f"importing {name} failed: {e}", format_traceback(e)) from None
    except SyntaxError as e:
        raise ModelCodeError(f"{e.filename}: syntax error at line {e.lineno}: {e.msg}",
                             format_traceback(e)) from None
    except BaseException as e:  # noqa: BLE001 - user code
        if isinstance(e, KeyboardInterrupt):
            raise
        raise ModelCodeError(f"importing {name} raised {type(e).__name__}: {e}",
                             format_traceback(e)) from None


def parse_kwargs(text: str | None) -> dict:
    """Constructor kwargs from JSON text (an object); ModelError with the position if invalid."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ModelError(f"architecture kwargs are not valid JSON: {e}") from None
    if not isinstance(value, dict):
        raise ModelError("architecture kwargs must be a JSON object, e.g. '{\"num_classes\": 10}'")
    return value


def build_model(arch: Architecture, kwargs: Mapping[str, Any] | None = None) -> nn.Module:
    """Instantiate ``arch`` with its defaults overridden by ``kwargs``; user errors become
    ModelCodeError with the traceback as data."""
    merged = {**arch.default_kwargs, **(kwargs or {})}
    try:
        model = arch.factory(**merged)
    except BaseException as e:  # noqa: BLE001 - user code
        if isinstance(e, KeyboardInterrupt):
            raise
        cls = ModelError if arch.source == "built-in" else ModelCodeError
        raise cls(f"building {arch.name} with {merged or 'no arguments'} raised "
                  f"{type(e).__name__}: {e}", format_traceback(e)) from None
    if not isinstance(model, nn.Module):
        raise ModelError(f"{arch.name} returned {type(model).__name__}, not a torch.nn.Module")
    return model


# ---------------------------------------------------------------------------------------------
# Finding the state_dict in a checkpoint

# Containers tried first, in order; training checkpoints and Lightning use these names.
KNOWN_CONTAINERS: tuple[tuple[str, ...], ...] = (
    (), ("model_state_dict",), ("state_dict",), ("model",), ("module",), ("net",),
    ("network",), ("model_ema",), ("ema",),
)
KEY_PREFIXES = ("module.", "_orig_mod.", "model.")


@dataclass
class StateDictSource:
    """Where a checkpoint's weights are: state_dict key → tensor metadata.

    ``container`` is the key path of the dict holding them (``()`` for a bare state_dict);
    ``fixes`` says what was done to find them (e.g. "used 'model_state_dict'").
    """

    container: tuple
    entries: dict[str, TensorInfo]
    fixes: list[str] = field(default_factory=list)
    kind: str = "state_dict"  # "state_dict", "module-attributes" or "torchscript"

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: tuple(v.shape) for k, v in self.entries.items()}


def _is_pickled_module(node: Node | None) -> bool:
    return (node is not None and node.kind == OBJECT and node.child("_modules") is not None
            and node.child("_parameters") is not None)


def _module_attribute_entries(node: Node) -> dict[str, TensorInfo]:
    """A pickled nn.Module's parameters and persistent buffers, read from its attributes."""
    entries: dict[str, TensorInfo] = {}
    stack: list[tuple[str, Node]] = [("", node)]
    while stack:
        prefix, mod = stack.pop()
        skip: set[str] = set()
        npb = mod.child("_non_persistent_buffers_set")
        if npb is not None:
            skip = {c.value for c in npb.children if isinstance(c.value, str)}
        for attr in ("_parameters", "_buffers"):
            holder = mod.child(attr)
            for c in (holder.children if holder is not None else ()):
                if c.kind == TENSOR and isinstance(c.key, str) and c.key not in skip:
                    entries[prefix + c.key] = c.tensor
        subs = mod.child("_modules")
        children = [c for c in (subs.children if subs is not None else ())
                    if c.kind != REF and _is_pickled_module(c)]
        for c in reversed(children):
            stack.append((f"{prefix}{c.key}.", c))
    return entries


def model_kind(ckpt: Checkpoint) -> str:
    """``"torchscript"``, ``"whole-model"`` (a pickled nn.Module) or ``"state_dict"``."""
    if ckpt.format == "torchscript":
        return "torchscript"
    if ckpt.format in ("pt2", "torch-export", "exported-program"):
        return "exported-program"
    if _is_pickled_module(ckpt.root):
        return "whole-model"
    for path in KNOWN_CONTAINERS[1:]:
        if _is_pickled_module(ckpt.find(path)):
            return "whole-model"
    return "state_dict"


def locate_state_dict(ckpt: Checkpoint, container: tuple | None = None) -> StateDictSource:
    """The checkpoint's weights as a flat state_dict (metadata only; nothing is executed).

    ``container`` picks a dict explicitly; otherwise the root, then the usual names
    (``model_state_dict``, ``state_dict``, ``model``, …), then the largest dict of tensors.
    A pickled nn.Module's weights are read from its ``_parameters``/``_buffers`` attributes.
    """
    if ckpt.format == "torchscript" and container is None:
        entries = {".".join(str(k) for k in p): t for p, t in ckpt.tensors()}
        return StateDictSource((), entries, ["read the TorchScript module's weights from its "
                                             "attributes (its code was not run)"], "torchscript")
    candidates = [tuple(container)] if container is not None else list(KNOWN_CONTAINERS)
    for path in candidates:
        node = ckpt.find(path)
        if node is None:
            continue
        where = "/".join(str(k) for k in path)
        if _is_pickled_module(node):
            entries = _module_attribute_entries(node)
            if entries or container is not None:
                fixes = ["read the weights from the pickled module's attributes (its code was "
                         "not run)"]
                if path:
                    fixes.insert(0, f"used the module stored under {where!r}")
                return StateDictSource(path, entries, fixes, "module-attributes")
        entries = {c.key: c.tensor for c in node.children
                   if c.kind == TENSOR and isinstance(c.key, str)}
        if entries or container is not None:
            fixes = [f"used the state_dict inside the checkpoint's {where!r} entry"] if path else []
            return StateDictSource(path, entries, fixes)
    groups: dict[tuple, dict[str, TensorInfo]] = {}
    for p, t in ckpt.tensors():
        if p and isinstance(p[-1], str):
            groups.setdefault(p[:-1], {})[p[-1]] = t
    if not groups:
        return StateDictSource((), {}, [])
    path, entries = max(groups.items(), key=lambda kv: len(kv[1]))
    where = "/".join(str(k) for k in path)
    return StateDictSource(path, entries, [f"used the largest dict of tensors, {where!r}"])


# ---------------------------------------------------------------------------------------------
# Matching names and shapes


@dataclass(frozen=True)
class ShapeMismatch:
    key: str  # the model's key
    checkpoint_key: str
    checkpoint_shape: tuple[int, ...]
    model_shape: tuple[int, ...]

    def to_json(self) -> dict:
        return {"key": self.key, "checkpoint_key": self.checkpoint_key,
                "checkpoint_shape": list(self.checkpoint_shape),
                "model_shape": list(self.model_shape)}


@dataclass(frozen=True)
class KeyMatch:
    """How a checkpoint's keys line up with a model's, after the known fixes.

    ``mapping`` maps each loadable model key to its checkpoint key (shapes agree);
    ``missing_keys`` are model keys the checkpoint lacks; ``unexpected_keys`` checkpoint keys
    (as stored in the file) the model has no place for.
    """

    mapping: dict[str, str]
    missing_keys: list[str]
    unexpected_keys: list[str]
    shape_mismatches: list[ShapeMismatch]
    fixes_applied: list[str]
    num_model_keys: int
    num_checkpoint_keys: int

    @property
    def score(self) -> float:
        """1.0 when every key of both sides matches in name and shape, 0.0 when none does."""
        total = max(self.num_model_keys, self.num_checkpoint_keys)
        return len(self.mapping) / total if total else 0.0


def match_keys(model_shapes: Shapes, checkpoint_shapes: Shapes) -> KeyMatch:
    """Align checkpoint keys to model keys, stripping ``module.`` (DataParallel/DDP),
    ``_orig_mod.`` (torch.compile) and ``model.`` (Lightning) where that matches more keys."""
    model_keys = set(model_shapes)
    renamed: dict[str, str] = {}  # checkpoint key -> name used for matching
    stripped: dict[str, int] = {}
    for key in checkpoint_shapes:
        name, removed = key, []
        while name not in model_keys:
            prefix = next((p for p in KEY_PREFIXES if name.startswith(p)), None)
            if prefix is None:
                break
            name = name[len(prefix):]
            removed.append(prefix)
        if name in model_keys and removed:
            renamed[key] = name
            for prefix in removed:
                stripped[prefix] = stripped.get(prefix, 0) + 1
        else:
            renamed[key] = key
    fixes = [f"stripped the {p!r} prefix from {n} key{'s' if n != 1 else ''}"
             for p, n in stripped.items()]

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
    unexpected = [k for k in checkpoint_shapes if k not in used]
    return KeyMatch(mapping, missing, unexpected, mismatches, fixes, len(model_shapes),
                    len(checkpoint_shapes))


def model_shapes(model: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


@dataclass(frozen=True)
class ArchitectureProposal:
    """A built-in that fits a checkpoint: build it with ``kwargs``; ``score`` in [0, 1]."""

    architecture: Architecture
    kwargs: dict[str, Any]
    score: float
    match: KeyMatch


def strip_shared_prefixes(shapes: Shapes) -> dict[str, tuple[int, ...]]:
    out = dict(shapes)
    changed = True
    while changed and out:
        changed = False
        for prefix in KEY_PREFIXES:
            if all(k.startswith(prefix) for k in out):
                out = {k[len(prefix):]: v for k, v in out.items()}
                changed = True
    return out


def rank_architectures(source: Checkpoint | StateDictSource | Shapes
                       ) -> list[ArchitectureProposal]:
    """Every built-in that could hold these weights, best first (score > 0 only)."""
    if isinstance(source, Checkpoint):
        source = locate_state_dict(source)
    shapes = source.shapes() if isinstance(source, StateDictSource) else dict(source)
    plain = strip_shared_prefixes(shapes)
    proposals = []
    for arch in BUILTINS.values():
        kwargs = arch.infer_kwargs(plain) if arch.infer_kwargs else {}
        if kwargs is None:
            continue
        try:
            # shapes only: no memory for big inferred sizes, no draw from the global RNG
            with torch.device("meta"), torch.random.fork_rng(devices=[]):
                model = build_model(arch, kwargs)
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


# ---------------------------------------------------------------------------------------------
# Files that carry their own architecture


def is_exported_program(path: str) -> bool:
    """Whether ``path`` is a torch.export archive (.pt2), judged by its entry names."""
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("/archive_format") or n.endswith("/models/model.json")
                       for n in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def architecture_globals(path: str) -> tuple[str, list[str]]:
    """(kind, globals) for a file that carries its own architecture; kind is
    ``"whole-model"``, ``"torchscript"``, ``"exported-program"`` or ``"state_dict"``."""
    from inspector.core.checkpoint import CheckpointError
    from inspector.core.formats import open_checkpoint

    try:
        ckpt = open_checkpoint(path)
    except CheckpointError:
        if is_exported_program(path):
            return "exported-program", []
        raise
    try:
        return model_kind(ckpt), list(ckpt.unsafe_globals)
    finally:
        ckpt.close()


KIND_TEXT = {"whole-model": "whole-model pickle (torch.save(model))",
             "torchscript": "TorchScript archive", "exported-program": "torch.export program (.pt2)"}


def load_trusted_model(path: str | os.PathLike, trusted: bool) -> nn.Module:
    """Instantiate the model a file carries (whole-model pickle, TorchScript, .pt2).

    This runs code from the file, so it refuses with :class:`TrustRequiredError` (naming the
    globals that would run) unless ``trusted`` is True — an explicit, per-file decision that is
    never made as a fallback.
    """
    path = os.fspath(path)
    kind, globals_ = architecture_globals(path)
    if kind == "state_dict":
        raise ModelError("this file holds only weights, not an architecture; choose one "
                         "(a built-in or path/to/model.py:ClassName)")
    if not trusted:
        raise TrustRequiredError(path, globals_, KIND_TEXT[kind])
    try:
        if kind == "torchscript":
            with warnings.catch_warnings():  # "torch.jit.load is deprecated" is not news to them
                warnings.simplefilter("ignore", DeprecationWarning)
                model = torch.jit.load(path, map_location="cpu")
        elif kind == "exported-program":
            model = torch.export.load(path).module()
        else:
            model = torch.load(path, map_location="cpu", weights_only=False)  # trusted by the user
    except BaseException as e:  # noqa: BLE001 - code from the file may raise anything
        if isinstance(e, KeyboardInterrupt):
            raise
        hint = ""
        if isinstance(e, AttributeError | ModuleNotFoundError | ImportError):
            hint = (" (a whole-model pickle needs its model class importable under the same "
                    "module name it was saved from)")
        raise ModelCodeError(f"loading the trusted {KIND_TEXT[kind]} failed: "
                             f"{type(e).__name__}: {e}{hint}", format_traceback(e)) from None
    if isinstance(model, Mapping):
        for key in ("model", "module", "net"):
            if isinstance(model.get(key), nn.Module):
                return model[key]
    if not isinstance(model, nn.Module):
        raise ModelError(f"the file holds a {type(model).__name__}, not a torch.nn.Module")
    return model
