"""Where a checkpoint's model weights are, and which wrapper prefixes their keys carry.

The one place that decides it, from metadata only (no tensor bytes, no torch import), for
the summary, the diff alignment and inference:

- :func:`find_weights` locates the weights: a bare state_dict at the root, a training
  checkpoint's ``model_state_dict``/``state_dict``/``model``/… entry, a whole pickled
  ``nn.Module`` (read from its ``_parameters``/``_buffers`` attributes, never run), or the
  first tensor-dominated dict a few levels down. It returns a :class:`Weights`.
- :data:`WRAPPER_PREFIXES` names the key prefixes training tools add (``module.`` from
  DataParallel/DDP, ``_orig_mod.`` from ``torch.compile``, ``model.`` from Lightning);
  :func:`split_wrapper_prefix`, :func:`shared_wrapper_prefix` and
  :func:`strip_wrapper_prefixes` find and remove them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple, TypeVar

from inspector.core.checkpoint import (
    DICT,
    LIST,
    OBJECT,
    TENSOR,
    TUPLE,
    Checkpoint,
    Node,
    TensorInfo,
)
from inspector.core.dtypes import DTYPES
from inspector.core.text import path_text

# Wrapper prefixes that training tools add to every state_dict key, with who adds them.
WRAPPER_PREFIXES: dict[str, str] = {
    "module.": "DataParallel/DDP",
    "_orig_mod.": "torch.compile",
    "model.": "Lightning",
}

# Entries of a training checkpoint that hold the model's weights, most likely first.
STATE_DICT_KEYS: tuple[str, ...] = (
    "model_state_dict", "state_dict", "model", "module", "model_state", "net", "network",
    "weights", "params", "ema_state_dict", "model_ema")

# Leaf names of buffers that are not parameters (BatchNorm running statistics).
BUFFER_SUFFIXES: tuple[str, ...] = ("running_mean", "running_var", "num_batches_tracked")

_FALLBACK_DEPTH = 3  # levels searched for a tensor-dominated dict when no known entry holds one
_FALLBACK_WIDTH = 200  # children looked at per container in that search
_SKIPPED_ENTRIES = ("optimizer_states", "lr_schedulers")  # Lightning's non-weight state


class WeightEntry(NamedTuple):
    """One weight: its state_dict ``name``, its key ``path`` in the file, its metadata, and
    whether it is a buffer (running statistics, integer tensors) rather than a parameter."""

    # a NamedTuple, not a frozen dataclass: one per tensor, and the dataclass __init__ costs
    # several times more (20 000 tensors: ~40 ms)
    name: str
    path: tuple
    info: TensorInfo
    is_buffer: bool


@dataclass(frozen=True)
class Weights:
    """A checkpoint's model weights as found by :func:`find_weights`.

    ``path`` is the key path of the container (``()`` for the root, None when no weights
    were found); ``label`` says where in words; ``entries`` are in file order (for a pickled
    module, in ``named_parameters()`` order with its buffers). ``model_class`` is the class
    of a whole pickled module, None for a state_dict. ``prefix`` is the wrapper prefix every
    name shares (``"module."``, ``"_orig_mod."``, ``"model."``), None when there is none.
    """

    path: tuple | None
    label: str
    entries: tuple[WeightEntry, ...]
    model_class: str | None = None
    prefix: str | None = None

    @property
    def found(self) -> bool:
        return self.path is not None

    @property
    def from_module(self) -> bool:
        """True when the weights were read from a pickled module's attributes."""
        return self.model_class is not None

    def tensors(self) -> dict[str, TensorInfo]:
        """State_dict name -> tensor metadata (the first entry wins for a repeated name)."""
        out: dict[str, TensorInfo] = {}
        for e in self.entries:
            out.setdefault(e.name, e.info)
        return out

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """State_dict name -> shape, what architecture matching needs."""
        return {name: tuple(info.shape) for name, info in self.tensors().items()}


# ---- Public API: locating the weights
def find_weights(ckpt: Checkpoint, container: tuple | None = None) -> Weights:
    """Where ``ckpt``'s model weights are (metadata only; nothing from the file is run).

    With ``container`` (a key path) that container is used as it is. Otherwise the entries
    named in :data:`STATE_DICT_KEYS` are tried, then the root, then the first
    tensor-dominated dict within three levels that is not optimizer or scheduler state.
    A container qualifies when it is a pickled ``nn.Module`` or a dict that is mostly tensors
    under string keys.
    """
    root = ckpt.root
    if container is not None:
        path = tuple(container)
        node = ckpt.find(path)
        if node is None:
            return Weights(None, f"{path_text(path)} not found", ())
        return _weights_of(ckpt, node, path)
    candidates: list[tuple[Node, tuple]] = []
    if root.kind == DICT:
        for key in STATE_DICT_KEYS:
            child = root.child(key)
            if child is not None:
                candidates.append((child, (key,)))
    candidates.append((root, ()))
    for node, path in candidates:
        if is_pickled_module(node) or looks_like_state_dict(node):
            return _weights_of(ckpt, node, path)
    queue = deque((c, 1) for c in root.children)
    while queue:
        node, depth = queue.popleft()
        if is_optimizer_state(node) or node.key in _SKIPPED_ENTRIES:
            continue
        if looks_like_state_dict(node) and len(node.children) >= 2:
            return _weights_of(ckpt, node, node.path())
        if depth < _FALLBACK_DEPTH and node.kind in (DICT, LIST, TUPLE):
            queue.extend((c, depth + 1) for c in node.children[:_FALLBACK_WIDTH])
    return Weights(None, "not found", ())


def is_pickled_module(node: Node | None) -> bool:
    """A pickled ``torch.nn.Module`` (an object with ``_modules`` and ``_parameters``)."""
    return (node is not None and node.kind == OBJECT and node.child("_modules") is not None
            and node.child("_parameters") is not None)


def looks_like_state_dict(node: Node) -> bool:
    """A dict that is mostly tensors under string keys (a little metadata such as
    ``_metadata`` is fine)."""
    if node.kind != DICT or not node.children:
        return False
    tensors = [c for c in node.children if c.kind == TENSOR]
    return bool(tensors) and len(tensors) >= 0.5 * len(node.children) and all(
        isinstance(c.key, str) for c in tensors)


def state_dict_entries(node: Node) -> list[WeightEntry]:
    """The tensors directly under a state_dict container, in file order."""
    base = node.path()  # built once, not once per tensor
    floats: dict[str, bool] = {}
    out: list[WeightEntry] = []
    for c in node.children:
        if c.kind != TENSOR:
            continue
        name, info = str(c.key), c.tensor
        is_float = floats.get(info.dtype)
        if is_float is None:
            is_float = floats[info.dtype] = is_float_dtype(info.dtype)
        is_buffer = not is_float or name.rpartition(".")[2] in BUFFER_SUFFIXES
        out.append(WeightEntry(name, (*base, c.key), info, is_buffer))
    return out


def module_entries(module: Node) -> list[WeightEntry]:
    """Parameters and persistent buffers of a pickled nn.Module, in ``named_parameters()``
    order (read from its attributes; its code is not run)."""
    out: list[WeightEntry] = []
    stack: list[tuple[Node, str]] = [(module, "")]
    while stack:
        mod, prefix = stack.pop()
        params = mod.child("_parameters")
        buffers = mod.child("_buffers")
        non_persistent = mod.child("_non_persistent_buffers_set")
        skip = {c.value for c in non_persistent.children} if non_persistent else set()
        for group, is_buffer in ((params, False), (buffers, True)):
            if group is None:
                continue
            base = group.path()
            for c in group.children:
                if c.kind == TENSOR and not (is_buffer and c.key in skip):
                    out.append(WeightEntry(prefix + str(c.key), (*base, c.key), c.tensor,
                                           is_buffer))
        subs = mod.child("_modules")
        if subs is not None:
            for c in reversed(subs.children):
                if is_pickled_module(c):
                    stack.append((c, f"{prefix}{c.key}."))
    return out


def is_float_dtype(dtype: str) -> bool:
    """Floating point or complex: the dtypes parameters have."""
    kind = DTYPES[dtype].kind if dtype in DTYPES else "bits"
    return kind in ("float", "complex")


# ---- Public API: wrapper prefixes
def split_wrapper_prefix(key: str) -> list[str]:
    """The known wrapper prefixes ``key`` starts with, outermost first:
    ``"module._orig_mod.fc.weight"`` -> ``["module.", "_orig_mod."]``."""
    out = []
    while key:
        for p in WRAPPER_PREFIXES:
            if key.startswith(p):
                out.append(p)
                key = key[len(p):]
                break
        else:
            break
    return out


def shared_wrapper_prefix(names: Iterable[str]) -> str | None:
    """The one wrapper prefix every name starts with (the first of :data:`WRAPPER_PREFIXES`
    that fits), None when there is none or no names."""
    names = list(names)
    if not names:
        return None
    for prefix in WRAPPER_PREFIXES:
        if all(n.startswith(prefix) for n in names):
            return prefix
    return None


V = TypeVar("V")


def strip_wrapper_prefixes(entries: Mapping[str, V]) -> dict[str, V]:
    """``entries`` with the wrapper prefixes that every key shares removed, repeatedly
    (``module._orig_mod.fc.weight`` -> ``fc.weight`` when all keys carry both)."""
    out = dict(entries)
    changed = True
    while changed and out:
        changed = False
        for prefix in WRAPPER_PREFIXES:
            if all(k.startswith(prefix) for k in out):
                out = {k[len(prefix):]: v for k, v in out.items()}
                changed = True
    return out


def wrapper_names(prefix: str) -> list[str]:
    """Who adds each wrapper in ``prefix`` (``"module._orig_mod."`` ->
    ``["DataParallel/DDP", "torch.compile"]``)."""
    return [WRAPPER_PREFIXES[p] for p in split_wrapper_prefix(prefix)]


def state_dict_roots(ckpt: Checkpoint) -> list[tuple]:
    """Containers that may hold the model's state_dict: the root, then each entry named in
    :data:`STATE_DICT_KEYS` that is a dict holding tensors."""
    roots: list[tuple] = [()]
    if ckpt.root.kind == DICT:
        for k in STATE_DICT_KEYS:
            node = ckpt.root.child(k)
            if node is not None and node.kind == DICT and any(
                    c.kind == TENSOR for c in node.children):
                roots.append((k,))
    return roots


def is_optimizer_state(node: Node) -> bool:
    """An optimizer ``state_dict()``: a dict with a ``state`` dict and ``param_groups``."""
    if node.kind != DICT:
        return False
    state, groups = node.child("state"), node.child("param_groups")
    return state is not None and state.kind == DICT and groups is not None and groups.kind in (
        LIST, TUPLE)


# ---- Private API
def _weights_of(ckpt: Checkpoint, node: Node, path: tuple) -> Weights:
    if is_pickled_module(node):
        entries = module_entries(node)
        where = "whole pickled model" if not path else f"whole pickled model in {path_text(path)}"
        return Weights(path, where, tuple(entries), model_class=node.type_name,
                       prefix=shared_wrapper_prefix(e.name for e in entries))
    entries = state_dict_entries(node)
    label = path_text(path) if path else (
        "the scripted module's state" if ckpt.format == "torchscript"
        else "root (a bare state_dict)")
    return Weights(path, label, tuple(entries),
                   prefix=shared_wrapper_prefix(e.name for e in entries))

