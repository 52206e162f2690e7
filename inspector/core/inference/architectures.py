"""Model architectures: the built-in demo models and the user's own code.

- The built-ins (the tutorial's demo CNN, an MLP with Dropout, and a plain MLP with neither
  Dropout nor BatchNorm) infer their sizes from a checkpoint's shapes.
- :func:`resolve_architecture` resolves user specs: a built-in name, ``path/to/model.py:MyNet``
  or ``package.module:MyNet`` (importing that code is the user's explicit choice).

User-code failures come back as :class:`ModelCodeError` with the traceback as data.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from inspector.core.inference.errors import ModelCodeError, ModelError, format_traceback


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

_MISSING = object()


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
        obj = getattr(obj, part, _MISSING)
        if obj is _MISSING:
            raise ModelError(f"{target} has no attribute {part!r} (looking for {attr!r})")
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

