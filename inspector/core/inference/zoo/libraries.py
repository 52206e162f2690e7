"""The model libraries (transformers, torchvision, timm): which import, their versions, the
cache folder, and architecture specs such as ``torchvision:resnet50`` or ``hf:BertModel``.

Every library is optional: a missing or broken one (torchvision's CUDA wheel next to a CPU
torch fails at import) is reported as unavailable, never raised.
"""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass

LIBRARIES = ("transformers", "torchvision", "timm")
SPEC_PREFIXES = {"hf": "transformers", "transformers": "transformers",
                 "torchvision": "torchvision", "tv": "torchvision", "timm": "timm"}
EXTRA = "checkpoint-inspector[models]"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")
_status: dict[str, tuple[object | None, str]] = {}


def cache_dir() -> str:
    """The user cache folder: ``$XDG_CACHE_HOME/checkpoint-inspector`` or
    ``~/.cache/checkpoint-inspector`` (not created here)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "checkpoint-inspector")


def library(name: str):
    """The imported library module, or None when it is not installed or fails to import."""
    return _load(name)[0]


def library_problem(name: str) -> str:
    """Why ``name`` is unavailable ("" when it imports)."""
    return _load(name)[1]


def _load(name: str) -> tuple[object | None, str]:
    if name not in _status:
        try:
            module = importlib.import_module(name)
            if name == "torchvision":
                importlib.import_module("torchvision.models")
            _status[name] = (module, "")
        except ModuleNotFoundError as e:
            _status[name] = (None, f"{name} is not installed ({e.name} missing)")
        except Exception as e:  # noqa: BLE001 - a broken wheel may raise anything at import
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            _status[name] = (None, f"{name} does not import ({type(e).__name__}: {first[:200]})")
    return _status[name]


def versions() -> dict[str, str]:
    """name → version of every library that imports."""
    found = {}
    for name in LIBRARIES:
        module = library(name)
        if module is not None:
            found[name] = str(getattr(module, "__version__", "unknown"))
    return found


def missing_note(names: tuple[str, ...] = LIBRARIES) -> str:
    """A sentence naming the libraries of ``names`` that do not import ("" when all do)."""
    missing = [n for n in names if library(n) is None]
    if not missing:
        return ""
    return (f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not available: "
            f"install {EXTRA} to identify checkpoints of "
            f"{'that library' if len(missing) == 1 else 'those libraries'}")


@dataclass(frozen=True)
class LibrarySpec:
    """A parsed ``library:name`` architecture spec."""

    library: str  # "transformers", "torchvision" or "timm"
    name: str

    @property
    def text(self) -> str:
        prefix = "hf" if self.library == "transformers" else self.library
        return f"{prefix}:{self.name}"


def parse_library_spec(spec: str | None) -> LibrarySpec | None:
    """``torchvision:resnet50``, ``timm:convnext_tiny``, ``hf:BertModel`` → a LibrarySpec;
    None for anything else (a built-in, a file or a module spec)."""
    if not spec:
        return None
    prefix, sep, name = spec.strip().partition(":")
    lib = SPEC_PREFIXES.get(prefix.lower()) if sep else None
    if lib is None or not _NAME.fullmatch(name):
        return None
    return LibrarySpec(lib, name)
