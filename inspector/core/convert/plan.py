"""What a conversion writes: which tensors, under which names, in which dtype (metadata only).

The weights are found as everywhere else (:func:`~inspector.core.state_dict.find_weights`):
the state_dict inside a training or Lightning checkpoint, a bare state_dict, the weights of a
whole pickled model (read from its attributes, never run). Optimizer state is left out unless
asked for; views of one storage with the same shape, stride and offset (tied weights) are
written once and recorded as aliases.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from inspector.core.checkpoint import DICT, LIST, TENSOR, TUPLE, Checkpoint, Node, TensorInfo
from inspector.core.convert.paths import as_path
from inspector.core.convert.reading import CAST_TARGETS, CASTABLE, convertible_reason
from inspector.core.dtypes import SAFETENSORS_DTYPES, canonical, dtype_info
from inspector.core.model import CheckpointError
from inspector.core.state_dict import (
    find_weights,
    is_optimizer_state,
    is_pickled_module,
    module_entries,
    strip_wrapper_prefixes,
)
from inspector.core.text import dotted_path, path_text, safe_str

SAFETENSORS = "safetensors"  # one .safetensors file
SHARDED = "sharded"  # a folder: model-0000i-of-0000N.safetensors + model.safetensors.index.json
PTH = "pth"  # a weights-only torch.save zip
KINDS = (SAFETENSORS, SHARDED, PTH)
AUTO_PREFIX = "auto"  # strip the wrapper prefixes every name shares (module., _orig_mod., …)

SAFETENSORS_CODES = {v: k for k, v in SAFETENSORS_DTYPES.items()}
_OPTIMIZER_LISTS = ("optimizer_states",)  # Lightning keeps its optimizers in a list


class ConvertError(CheckpointError):
    """A conversion that cannot be done as asked; the message says why."""


@dataclass(frozen=True)
class ConvertOptions:
    """How to convert. ``kind``: :data:`SAFETENSORS`, :data:`SHARDED` or :data:`PTH` (None:
    chosen from the destination's name). ``key``: the container to convert (dotted path;
    None: found automatically). ``strip_prefixes``: removed from the start of every name
    that has them, in order (:data:`AUTO_PREFIX`: the wrapper prefixes all names share).
    ``dtype``: floating-point tensors are cast to it. ``max_shard_size``: bytes per shard
    (sharded output). ``verify``: re-read the result and compare every tensor (on the Dask
    cluster at ``scheduler`` when given: its workers must see both files at the same paths)."""

    kind: str | None = None
    key: str | tuple | None = None
    include_optimizer: bool = False
    strip_prefixes: tuple[str, ...] = ()
    dtype: str | None = None
    max_shard_size: int | None = None
    verify: bool = True
    overwrite: bool = False
    scheduler: str | None = None  # a Dask scheduler address: the verify step runs there


@dataclass(frozen=True)
class PlannedTensor:
    """One tensor to write: its output ``name``, where it is in the source (``source``, a
    key path) and its metadata, and the dtype it is written in."""

    name: str
    source: tuple
    info: TensorInfo
    dtype: str
    nbytes: int  # bytes written: elements × the written dtype's size


@dataclass
class ConversionPlan:
    """Everything decided before a byte is written."""

    container: tuple | None  # key path of the weights (None: tensors taken from everywhere)
    label: str  # where the weights are, in words
    tensors: list[PlannedTensor]
    aliases: dict[str, str] = field(default_factory=dict)  # alias name -> name written
    alias_sources: dict[str, tuple] = field(default_factory=dict)  # alias name -> key path
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (name, why)
    left_out: list[tuple[str, int]] = field(default_factory=list)  # (what, tensors)
    cast: int = 0
    stripped: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(t.nbytes for t in self.tensors)


def plan_conversion(ckpt: Checkpoint, options: ConvertOptions, kind: str) -> ConversionPlan:
    """Decide what to write from ``ckpt`` (metadata only). Raises :class:`ConvertError`."""
    container, label, entries, used = _select(ckpt, options)
    if options.include_optimizer:
        extra = _optimizer_tensors(ckpt)
        entries += [(dotted_path(p), p, n.tensor) for p, n in extra if p not in used]
        used |= {p for p, _ in extra}
    plan = ConversionPlan(container, label, [])
    plan.left_out = _left_out(ckpt, used)
    if options.dtype is not None and canonical(options.dtype) not in CAST_TARGETS:
        raise ConvertError(ckpt.path, f"cannot cast to {options.dtype} (choose one of "
                                      f"{', '.join(CAST_TARGETS)})")
    names = _strip(ckpt, [e[0] for e in entries], options.strip_prefixes, plan)
    seen_views: dict[tuple, str] = {}
    shared_storage: set[tuple] = set()
    taken: dict[str, tuple] = {}
    for name, (_, path, info) in zip(names, entries):
        if name in taken:
            raise ConvertError(ckpt.path, f"two tensors would both be named {name!r} "
                                          f"({path_text(taken[name])} and {path_text(path)})")
        taken[name] = path
        reason = convertible_reason(info) or _name_problem(name)
        dtype = canonical(info.dtype)
        if reason is None and kind != PTH and dtype not in SAFETENSORS_CODES:
            reason = f"safetensors has no {dtype} dtype"
        if reason is None and kind == PTH and info.layout == "strided" and dtype.startswith(
                ("bits", "q")):
            reason = f"a {dtype} tensor (only plain dtypes are written)"
        if reason is not None:
            plan.skipped.append((name, reason))
            continue
        view = _view_key(info)
        if view is not None and view in seen_views:
            plan.aliases[name] = seen_views[view]
            plan.alias_sources[name] = path
            continue
        out_dtype = dtype
        if options.dtype is not None and dtype in CASTABLE and dtype != canonical(options.dtype):
            out_dtype = canonical(options.dtype)
            plan.cast += 1
        if view is not None:
            seen_views[view] = name
            if view[0] in shared_storage:
                plan.notes.append(f"{name} views the storage of another tensor differently; "
                                  "it is written as a copy of its own")
            shared_storage.add(view[0])
        plan.tensors.append(PlannedTensor(name, path, info, out_dtype,
                                          info.numel * dtype_info(out_dtype).itemsize))
    if not plan.tensors:
        why = "; ".join(f"{n}: {r}" for n, r in plan.skipped[:3])
        raise ConvertError(ckpt.path, "nothing to convert: no tensor can be written"
                                      + (f" ({why})" if why else ""))
    return plan


# ---- Private API
Entry = tuple[str, tuple, TensorInfo]  # (name, key path, metadata)


def _select(ckpt: Checkpoint, options: ConvertOptions) -> tuple[tuple | None, str, list[Entry],
                                                                    set]:
    if options.key is not None:
        path = as_path(ckpt.root, options.key)
        node = ckpt.find(path) if path is not None else None
        if node is None:
            raise ConvertError(ckpt.path, f"no entry {safe_str(options.key)!r} in the file")
        if node.kind == TENSOR:
            entries = [(dotted_path(path[-1:]), path, node.tensor)]
        elif is_pickled_module(node):
            entries = [(e.name, e.path, e.info) for e in module_entries(node)]
        else:
            entries = [(dotted_path(p[len(path):]), p, n.tensor) for p, n in _tensors_under(node)]
        if not entries:
            raise ConvertError(ckpt.path, f"{path_text(path)} holds no tensors")
        label = "whole pickled model" if is_pickled_module(node) else path_text(path)
        return path, label, entries, {e[1] for e in entries}
    weights = find_weights(ckpt)
    if weights.found and weights.entries:
        entries = [(e.name, e.path, e.info) for e in weights.entries]
        return weights.path, weights.label, entries, {e[1] for e in entries}
    optimizer = {p for p, _ in _optimizer_tensors(ckpt)}
    entries = [(dotted_path(p), p, info) for p, info in ckpt.tensors() if p not in optimizer]
    if not entries:
        raise ConvertError(ckpt.path, "no model weights found (and no other tensors)")
    return None, "every tensor (no state_dict found), named by its key path", entries, \
        {e[1] for e in entries}


def _tensors_under(node: Node) -> list[tuple[tuple, Node]]:
    return [(n.path(), n) for n in node.walk() if n.kind == TENSOR]


def _optimizer_tensors(ckpt: Checkpoint) -> list[tuple[tuple, Node]]:
    out: list[tuple[tuple, Node]] = []
    stack = [(ckpt.root, 0)]
    while stack:
        node, depth = stack.pop()
        if is_optimizer_state(node) or (depth == 1 and node.key in _OPTIMIZER_LISTS):
            out += _tensors_under(node)
        elif depth < 3 and node.kind in (DICT, LIST, TUPLE):
            stack.extend((c, depth + 1) for c in reversed(node.children) if c.children)
    return out


def _left_out(ckpt: Checkpoint, used: set) -> list[tuple[str, int]]:
    """Top-level entries holding tensors that are not converted, with how many."""
    counts: dict[str, int] = {}
    for path, _ in ckpt.tensors():
        if path not in used:
            what = path_text(path[:1]) if path else "(root)"
            counts[what] = counts.get(what, 0) + 1
    return sorted(counts.items())


def _strip(ckpt: Checkpoint, names: list[str], prefixes: tuple[str, ...],
           plan: ConversionPlan) -> list[str]:
    out = list(names)
    for prefix in prefixes:
        if prefix == AUTO_PREFIX:
            stripped = list(strip_wrapper_prefixes({n: None for n in out}))
            if len(stripped) == len(out):
                plan.stripped = max(plan.stripped, sum(a != b for a, b in zip(out, stripped)))
                out = stripped
            continue
        if not prefix:
            continue
        done = [n[len(prefix):] if n.startswith(prefix) else n for n in out]
        plan.stripped = max(plan.stripped, sum(a != b for a, b in zip(out, done)))
        out = done
    for before, after in zip(names, out):
        if not after:
            raise ConvertError(ckpt.path, f"stripping the prefix leaves no name for {before!r}")
    return out


def _name_problem(name: str) -> str | None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid text (lone surrogates)"
    if name == "__metadata__":
        return "its name is reserved by safetensors"
    return None


def _view_key(info: TensorInfo) -> tuple | None:
    """What makes two tensors the same tensor: one storage, viewed the same way."""
    if info.storage is None or info.layout != "strided":
        return None
    return (info.storage.ident, canonical(info.dtype), tuple(info.shape), tuple(info.stride),
            info.storage_offset)
