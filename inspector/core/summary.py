"""What a checkpoint is, at a glance, from its metadata alone.

:func:`summarize` reads only the Node tree (no tensor bytes, no torch import): where the
model weights are, how many parameters they hold, the training scalars and
hyper-parameters, which optimizer and LR scheduler the state looks like, and short hints
a user needs before loading the file. :func:`optimizer_param_labels` names optimizer
state entries after the parameters they belong to, when that can be checked.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from inspector.core.checkpoint import (
    BYTES,
    CONTAINER_KINDS,
    DICT,
    LIST,
    NONE,
    OBJECT,
    SCALAR,
    SET,
    STRING,
    TENSOR,
    TUPLE,
    Checkpoint,
    Node,
    TensorInfo,
)
from inspector.core.dtypes import DTYPES
from inspector.core.text import format_value, path_text, shorten

# Hint levels, most severe first.
DANGER, WARNING, INFO = "danger", "warning", "info"

WEIGHT_KEYS = ("model_state_dict", "state_dict", "model", "module", "model_state", "net",
               "network", "weights", "params", "ema_state_dict", "model_ema")
HPARAM_KEYS = ("hyper_parameters", "hparams", "hyperparameters", "config", "cfg", "args",
               "opt", "training_args", "train_config")
SCHEDULER_KEYS = ("lr_scheduler", "scheduler", "scheduler_state_dict", "lr_scheduler_state_dict",
                  "sched", "lr_schedulers", "schedulers")
EMA_KEYS = ("ema", "model_ema", "ema_state_dict", "ema_model", "ema_weights")
BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")
# Per-parameter optimizer state whose shape equals the parameter's shape.
SAME_SHAPE_STATE = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer", "square_avg",
                    "acc_delta", "sum", "exp_inf", "grad_avg", "ax", "prev")
# Scalars worth showing first, in this order; others follow in file order.
SCALAR_ORDER = ("epoch", "epochs", "global_step", "step", "iteration", "iter", "steps", "loss",
                "train_loss", "val_loss", "valid_loss", "test_loss", "best_loss", "best_acc",
                "best_acc1", "best_metric", "best_score", "accuracy", "acc", "val_acc",
                "metric", "score", "lr")
MAX_SCALARS = 16
MAX_HPARAMS = 60
MAX_HPARAM_DEPTH = 4
MAX_TEXT = 80


@dataclass(frozen=True)
class Hint:
    """One short sentence a user should read; ``level`` is danger, warning or info."""

    level: str
    text: str


@dataclass(frozen=True)
class DTypeShare:
    """How many tensors of one dtype there are and how many bytes they take."""

    dtype: str
    count: int
    nbytes: int


@dataclass(frozen=True)
class OptimizerSummary:
    """An optimizer recognized from its ``state_dict()``.

    ``name`` is a guess from the state and param_group keys ("Adam", "AdamW", "SGD",
    "Adam or AdamW" when the file cannot tell). Hyper-parameters come from the first
    param group; ``groups`` says how many groups there are.
    """

    path: tuple
    name: str
    lr: float | None
    betas: tuple[float, ...] | None
    momentum: float | None
    weight_decay: float | None
    nesterov: bool | None
    groups: int
    num_params: int
    num_states: int
    state_bytes: int
    extra: tuple[tuple[str, object], ...] = ()

    def describe(self) -> str:
        """``Adam · lr 0.001 · betas (0.9, 0.999) · weight decay 0`` style text."""
        parts = [self.name]
        if self.lr is not None:
            parts.append(f"lr {format_value(self.lr)}")
        if self.betas is not None:
            parts.append("betas (" + ", ".join(format_value(b) for b in self.betas) + ")")
        if self.momentum is not None:
            m = f"momentum {format_value(self.momentum)}"
            if self.nesterov:
                m += " (Nesterov)"
            parts.append(m)
        if self.weight_decay is not None:
            parts.append(f"weight decay {format_value(self.weight_decay)}")
        for k, v in self.extra:
            parts.append(f"{k} {format_value(v)}")
        if self.groups > 1:
            parts.append(f"{self.groups} param groups")
        return " · ".join(parts)


@dataclass(frozen=True)
class SchedulerSummary:
    """An LR scheduler recognized from its ``state_dict()`` keys."""

    path: tuple
    name: str
    last_epoch: int | None
    last_lr: tuple[float, ...] | None
    extra: tuple[tuple[str, object], ...] = ()

    def describe(self) -> str:
        parts = [self.name]
        for k, v in self.extra:
            parts.append(f"{k} {format_value(v)}")
        if self.last_epoch is not None:
            parts.append(f"last_epoch {self.last_epoch}")
        if self.last_lr:
            parts.append("last lr " + ", ".join(format_value(x) for x in self.last_lr[:4]))
        return " · ".join(parts)


@dataclass(frozen=True)
class CheckpointSummary:
    """A checkpoint at a glance, computed from metadata only.

    ``num_parameters`` counts the elements of the model weights (each storage once),
    without BatchNorm running statistics and other recognizable buffers;
    ``num_buffer_elements`` counts those. Optimizer state is never counted as parameters.
    ``weights_path`` is where the weights are (``()`` for a bare state_dict at the root,
    None when no weights were found); ``weights_label`` says it in words.
    """

    path: str
    file_name: str
    format: str
    size_bytes: int
    num_tensors: int
    total_numel: int
    unique_storage_bytes: int
    weights_path: tuple | None
    weights_label: str
    num_weight_tensors: int
    num_parameters: int
    num_buffer_elements: int
    weights_bytes: int
    dtypes: tuple[DTypeShare, ...]
    scalars: tuple[tuple[str, object], ...]
    hyper_parameters: tuple[tuple[str, object], ...]
    hyper_parameters_truncated: bool
    optimizers: tuple[OptimizerSummary, ...]
    schedulers: tuple[SchedulerSummary, ...]
    lightning_version: str | None
    model_class: str | None  # the class of a whole pickled model
    unsafe_globals: tuple[str, ...]
    hints: tuple[Hint, ...]

    @property
    def optimizer(self) -> OptimizerSummary | None:
        return self.optimizers[0] if self.optimizers else None

    @property
    def is_whole_model(self) -> bool:
        return self.model_class is not None


# ---- Public API
def summarize(ckpt: Checkpoint) -> CheckpointSummary:
    """Summarize ``ckpt`` from its metadata (fast: never touches tensor bytes)."""
    root = ckpt.root
    totals = ckpt.totals()
    all_tensors = ckpt.tensors()
    weights = _find_weights(ckpt)
    lightning = _lightning_version(root)
    optimizers = tuple(_optimizer_summary(n) for n in _find_optimizers(root))
    schedulers = tuple(s for s in (_scheduler_summary(n) for n in _find_schedulers(root)) if s)
    scalars = _top_scalars(root)
    hparams, truncated = _hyper_parameters(root)

    n_params = n_buffers = w_bytes = 0
    seen: set = set()
    for entry in weights.entries:
        info = entry.info
        ident = _view_ident(info)
        if ident in seen:
            continue
        seen.add(ident)
        nbytes = _nbytes(info)
        if entry.is_buffer:
            n_buffers += info.numel
        else:
            n_params += info.numel
        w_bytes += nbytes

    summary_args = dict(
        path=ckpt.path, file_name=os.path.basename(ckpt.path.rstrip(os.sep)) or ckpt.path,
        format=ckpt.format, size_bytes=ckpt.size_bytes, num_tensors=totals["num_tensors"],
        total_numel=totals["total_numel"], unique_storage_bytes=totals["unique_storage_bytes"],
        weights_path=weights.path, weights_label=weights.label,
        num_weight_tensors=len(weights.entries), num_parameters=n_params,
        num_buffer_elements=n_buffers, weights_bytes=w_bytes, dtypes=_dtype_mix(all_tensors),
        scalars=scalars, hyper_parameters=hparams, hyper_parameters_truncated=truncated,
        optimizers=optimizers, schedulers=schedulers, lightning_version=lightning,
        model_class=weights.model_class, unsafe_globals=tuple(ckpt.unsafe_globals))
    hints = _hints(ckpt, weights, optimizers, lightning, all_tensors, w_bytes)
    severity = {DANGER: 0, WARNING: 1, INFO: 2}
    hints.sort(key=lambda h: severity.get(h.level, 3))  # stable: file order within a level
    return CheckpointSummary(**summary_args, hints=tuple(hints))


def optimizer_param_labels(ckpt: Checkpoint) -> dict[tuple, str]:
    """Map optimizer state entries to the names of the parameters they belong to.

    Keys are the paths of the per-parameter state entries, e.g.
    ``("optimizer_state_dict", "state", 0)`` or ``("optimizer_states", 0, "state", 0)``;
    values are weight names as stored (``"0.weight"``). The param_groups' ``params`` ids,
    in group order, follow the order of the model's parameters (buffers and tied
    duplicates excluded). A mapping is returned only when the counts agree and every state
    tensor that must match its parameter's shape does; otherwise {} — a wrong label is
    worse than none.
    """
    optimizers = _find_optimizers(ckpt.root)
    if not optimizers:
        return {}  # the weights' walk below is the expensive part: skip it when unneeded
    params = _parameter_list(_find_weights(ckpt).entries)
    labels: dict[tuple, str] = {}
    for opt in optimizers:
        labels.update(_labels_for(opt, params))
    return labels


# ---- Private API: model weights
class _WeightEntry(NamedTuple):
    # a NamedTuple, not a frozen dataclass: one per tensor, and the dataclass __init__ costs
    # several times more (20 000 tensors: ~40 ms)
    name: str
    path: tuple
    info: TensorInfo
    is_buffer: bool


@dataclass(frozen=True)
class _Weights:
    path: tuple | None
    label: str
    entries: tuple[_WeightEntry, ...]
    model_class: str | None = None
    prefix: str | None = None  # a prefix every key shares: "module.", "_orig_mod.", "model."


def _view_ident(info: TensorInfo) -> tuple:
    st = info.storage
    if st is None:
        return ("nostorage", id(info))
    return (st.file, st.key, info.storage_offset, info.shape, info.stride)


_ITEMSIZES: dict[str, int] = {}


def _nbytes(info: TensorInfo) -> int:
    """``info.nbytes`` without its dtype-table lookup per call (one call per tensor)."""
    size = _ITEMSIZES.get(info.dtype)
    if size is None:
        size = _ITEMSIZES[info.dtype] = info.itemsize
    return math.prod(info.shape) * size


def _itemsizes(dtypes: Iterable[str], infos: dict[str, TensorInfo]) -> dict[str, int]:
    return {d: infos[d].itemsize for d in dtypes}


def _is_module_object(node: Node) -> bool:
    return node.kind == OBJECT and node.child("_modules") is not None and (
        node.child("_parameters") is not None)


def _tensor_share(node: Node) -> float:
    if node.kind != DICT or not node.children:
        return 0.0
    return sum(1 for c in node.children if c.kind == TENSOR) / len(node.children)


def _looks_state_dict(node: Node) -> bool:
    """Mostly tensors under string keys (a little metadata such as ``_metadata`` is fine)."""
    if node.kind != DICT or not node.children:
        return False
    tensors = [c for c in node.children if c.kind == TENSOR]
    return bool(tensors) and len(tensors) >= 0.5 * len(node.children) and all(
        isinstance(c.key, str) for c in tensors)


def _is_buffer_name(name: str, info: TensorInfo) -> bool:
    leaf = name.rsplit(".", 1)[-1]
    if leaf in BUFFER_SUFFIXES:
        return True
    return not _is_float_dtype(info.dtype)


def _is_float_dtype(dtype: str) -> bool:
    kind = DTYPES[dtype].kind if dtype in DTYPES else "bits"
    return kind in ("float", "complex")  # parameters are floating point


def _entries_from_state_dict(node: Node) -> list[_WeightEntry]:
    base = node.path()  # built once, not once per tensor
    floats: dict[str, bool] = {}
    out: list[_WeightEntry] = []
    for c in node.children:
        if c.kind != TENSOR:
            continue
        name, info = str(c.key), c.tensor
        is_float = floats.get(info.dtype)
        if is_float is None:
            is_float = floats[info.dtype] = _is_float_dtype(info.dtype)
        is_buffer = not is_float or name.rpartition(".")[2] in BUFFER_SUFFIXES
        out.append(_WeightEntry(name, (*base, c.key), info, is_buffer))
    return out


def _entries_from_module(module: Node) -> list[_WeightEntry]:
    """Parameters and buffers of a pickled nn.Module, in named_parameters() order."""
    out: list[_WeightEntry] = []
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
                    out.append(_WeightEntry(prefix + str(c.key), (*base, c.key), c.tensor,
                                            is_buffer))
        subs = mod.child("_modules")
        if subs is not None:
            for c in reversed(subs.children):
                if _is_module_object(c):
                    stack.append((c, f"{prefix}{c.key}."))
    return out


def _common_prefix(entries: list[_WeightEntry]) -> str | None:
    names = [e.name for e in entries]
    if not names:
        return None
    for prefix in ("module.", "_orig_mod.", "model."):
        if all(n.startswith(prefix) for n in names):
            return prefix
    return None


def _find_weights(ckpt: Checkpoint) -> _Weights:
    root = ckpt.root
    candidates: list[tuple[Node, tuple]] = [(root, ())]
    if root.kind == DICT:
        for key in WEIGHT_KEYS:
            child = root.child(key)
            if child is not None:
                candidates.insert(len(candidates) - 1, (child, (key,)))
    for node, path in candidates:
        if _is_module_object(node):
            entries = _entries_from_module(node)
            where = "whole pickled model" if not path else f"whole pickled model in {path_text(path)}"
            return _Weights(path, where, tuple(entries), model_class=node.type_name,
                            prefix=_common_prefix(entries))
        if _looks_state_dict(node):
            entries = _entries_from_state_dict(node)
            label = path_text(path) if path else (
                "the scripted module's state" if ckpt.format == "torchscript"
                else "root (a bare state_dict)")
            return _Weights(path, label, tuple(entries), prefix=_common_prefix(entries))
    # Fall back to the first tensor-dominated dict a little deeper that is not optimizer state.
    queue = [(c, 1) for c in root.children]
    while queue:
        node, depth = queue.pop(0)
        if _is_optimizer_state(node) or node.key in ("optimizer_states", "lr_schedulers"):
            continue
        if _looks_state_dict(node) and len(node.children) >= 2:
            entries = _entries_from_state_dict(node)
            return _Weights(node.path(), path_text(node.path()), tuple(entries),
                            prefix=_common_prefix(entries))
        if depth < 3 and node.kind in (DICT, LIST, TUPLE):
            queue.extend((c, depth + 1) for c in node.children[:200])
    return _Weights(None, "not found", ())


def _parameter_list(entries: Iterable[_WeightEntry]) -> list[_WeightEntry]:
    """The model's parameters in order: buffers and tied duplicates left out
    (``model.parameters()`` yields a tied parameter once)."""
    out, seen = [], set()
    for e in entries:
        if e.is_buffer:
            continue
        ident = _view_ident(e.info)
        if ident in seen:
            continue
        seen.add(ident)
        out.append(e)
    return out


# ---- Private API: optimizers and schedulers
def _is_optimizer_state(node: Node) -> bool:
    if node.kind != DICT:
        return False
    state, groups = node.child("state"), node.child("param_groups")
    return state is not None and state.kind == DICT and groups is not None and groups.kind in (
        LIST, TUPLE)


def _find_optimizers(root: Node) -> list[Node]:
    """Optimizer state_dicts within the top three levels, in file order."""
    found: list[Node] = []
    stack: list[tuple[Node, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if _is_optimizer_state(node):
            found.append(node)
            continue
        if depth < 3 and node.kind in (DICT, LIST, TUPLE):
            stack.extend((c, depth + 1) for c in reversed(node.children[:500]))
    return found


def _scalar(node: Node | None) -> object:
    if node is None:
        return None
    if node.kind == SCALAR and isinstance(node.value, (int, float)):
        return node.value
    if node.kind == TENSOR:  # e.g. a tensor lr; its value needs bytes, so unknown here
        return None
    return None


def _number_tuple(node: Node | None) -> tuple[float, ...] | None:
    if node is None or node.kind not in (LIST, TUPLE):
        return None
    vals = [_scalar(c) for c in node.children]
    if vals and all(isinstance(v, (int, float)) for v in vals):
        return tuple(vals)  # type: ignore[arg-type]
    return None


def _optimizer_name(group_keys: set, state_keys: set, group: Node | None) -> str:
    def flag(name: str) -> object:
        c = group.child(name) if group is not None else None
        return c.value if c is not None and c.kind == SCALAR else None

    if "beta2_decay" in group_keys or {"row_var", "col_var"} & state_keys:
        return "Adafactor"
    if "momentum_decay" in group_keys or "mu_product" in state_keys:
        return "NAdam"
    if "exp_inf" in state_keys:
        return "Adamax"
    if "lambd" in group_keys and "t0" in group_keys or {"eta", "mu", "ax"} <= state_keys:
        return "ASGD"
    if "etas" in group_keys or "step_sizes" in group_keys or "prev" in state_keys:
        return "Rprop"
    if "history_size" in group_keys or "old_dirs" in state_keys:
        return "LBFGS"
    if "rho" in group_keys or "acc_delta" in state_keys:
        return "Adadelta"
    if "lr_decay" in group_keys or "initial_accumulator_value" in group_keys or (
            "sum" in state_keys):
        return "Adagrad"
    if "centered" in group_keys or "square_avg" in state_keys:
        return "RMSprop"
    if "betas" in group_keys or {"exp_avg", "exp_avg_sq"} <= state_keys:
        if "amsgrad" not in group_keys and "betas" in group_keys and "decoupled_weight_decay" in (
                group_keys) and "max_exp_avg_sq" not in state_keys:
            return "RAdam"
        decoupled = flag("decoupled_weight_decay")
        if decoupled is True:
            return "AdamW"
        if decoupled is False:
            return "Adam"
        wd = flag("weight_decay")
        return "Adam" if wd == 0 else "Adam or AdamW"
    if "nesterov" in group_keys or "dampening" in group_keys or "momentum_buffer" in state_keys:
        return "SGD"
    return "unknown optimizer"


def _optimizer_summary(node: Node) -> OptimizerSummary:
    state = node.child("state")
    groups = node.child("param_groups")
    group_nodes = [g for g in groups.children if g.kind == DICT]
    first = group_nodes[0] if group_nodes else None
    group_keys = {c.key for c in first.children} if first is not None else set()
    state_keys: set = set()
    state_bytes = 0
    seen: set = set()
    for entry in state.children:
        for c in entry.children:
            state_keys.add(c.key)
            if c.kind == TENSOR:
                ident = _view_ident(c.tensor)
                if ident not in seen:
                    seen.add(ident)
                    state_bytes += c.tensor.nbytes
    name = _optimizer_name(group_keys, state_keys, first)

    def get(key: str) -> object:
        return _scalar(first.child(key)) if first is not None else None

    momentum = get("momentum")
    nesterov = first.child("nesterov").value if first is not None and first.child(
        "nesterov") is not None and first.child("nesterov").kind == SCALAR else None
    extra: list[tuple[str, object]] = []
    for key in ("eps", "alpha", "rho", "amsgrad", "dampening"):
        if name in ("Adam", "AdamW", "Adam or AdamW") and key == "eps":
            continue  # the default is what almost everyone uses; keep the line short
        v = first.child(key) if first is not None else None
        if v is not None and v.kind == SCALAR and (key != "amsgrad" or v.value is True) and (
                key != "dampening" or v.value):
            extra.append((key, v.value))
    num_params = sum(len(g.child("params").children) for g in group_nodes
                     if g.child("params") is not None)
    return OptimizerSummary(
        path=node.path(), name=name, lr=get("lr"), betas=(
            _number_tuple(first.child("betas")) if first is not None else None),
        momentum=momentum if name in ("SGD", "RMSprop") else None,
        weight_decay=get("weight_decay"), nesterov=nesterov if name == "SGD" else None,
        groups=len(group_nodes), num_params=num_params, num_states=len(state.children),
        state_bytes=state_bytes, extra=tuple(extra))


def _labels_for(opt: Node, params: list[_WeightEntry]) -> dict[tuple, str]:
    groups = opt.child("param_groups")
    ids: list = []
    for g in groups.children:
        p = g.child("params") if g.kind == DICT else None
        if p is None:
            return {}
        ids.extend(c.value for c in p.children)
    if len(ids) != len(params) or len(set(ids)) != len(ids):
        return {}
    position = {pid: i for i, pid in enumerate(ids)}
    labels: dict[tuple, str] = {}
    state = opt.child("state")
    base = state.path()  # once, not per entry
    for entry in state.children:
        pos = position.get(entry.key)
        if pos is None or entry.kind != DICT:
            return {}
        param = params[pos]
        checked = False
        for c in entry.children:
            if c.key in SAME_SHAPE_STATE and c.kind == TENSOR:
                if tuple(c.tensor.shape) != tuple(param.info.shape):
                    return {}
                checked = True
        if not checked:
            return {}
        labels[(*base, entry.key)] = param.name
    return labels


def _scheduler_name(keys: set) -> str:
    table = (
        ("_schedulers", "SequentialLR or ChainedScheduler"), ("T_0", "CosineAnnealingWarmRestarts"),
        ("T_max", "CosineAnnealingLR"), ("total_steps", "OneCycleLR"), ("max_lrs", "CyclicLR"),
        ("patience", "ReduceLROnPlateau"), ("milestones", "MultiStepLR"),
        ("step_size", "StepLR"), ("lr_lambdas", "LambdaLR or MultiplicativeLR"),
        ("start_factor", "LinearLR"), ("power", "PolynomialLR"), ("factor", "ConstantLR"),
        ("gamma", "ExponentialLR"))
    for key, name in table:
        if key in keys:
            return name
    return "LR scheduler"


def _is_scheduler_state(node: Node) -> bool:
    if node.kind != DICT:
        return False
    keys = {c.key for c in node.children}
    return ("last_epoch" in keys and ("base_lrs" in keys or "_last_lr" in keys)) or (
        "patience" in keys and "best" in keys and "num_bad_epochs" in keys)


def _find_schedulers(root: Node) -> list[Node]:
    found: list[Node] = []
    if root.kind != DICT:
        return found
    for c in root.children:
        if _is_scheduler_state(c):
            found.append(c)
        elif c.key in SCHEDULER_KEYS and c.kind in (LIST, TUPLE, DICT):
            for item in c.children:
                if _is_scheduler_state(item):
                    found.append(item)
                elif item.kind == DICT:  # Lightning's config dicts may nest the state
                    inner = item.child("scheduler")
                    if inner is not None and _is_scheduler_state(inner):
                        found.append(inner)
    return found


def _scheduler_summary(node: Node) -> SchedulerSummary | None:
    keys = {c.key for c in node.children}
    name = _scheduler_name(keys)
    extra = []
    for key in ("step_size", "milestones", "gamma", "T_max", "T_0", "eta_min", "max_lr",
                "total_steps", "patience", "factor", "mode"):
        c = node.child(key)
        if c is None:
            continue
        if c.kind == SCALAR or c.kind == STRING:
            extra.append((key, c.value))
        elif c.kind == DICT and key == "milestones":  # a Counter {epoch: count}
            extra.append((key, [m.key for m in c.children]))
        elif c.kind in (LIST, TUPLE):
            nums = _number_tuple(c)
            if nums is not None:
                extra.append((key, list(nums)))
    last_epoch = node.child("last_epoch")
    return SchedulerSummary(
        path=node.path(), name=name,
        last_epoch=last_epoch.value if last_epoch is not None and last_epoch.kind == SCALAR else None,
        last_lr=_number_tuple(node.child("_last_lr")), extra=tuple(extra))


# ---- Private API: scalars, hyper-parameters, Lightning
def _leaf_value(node: Node) -> object:
    if node.kind == SCALAR:
        return node.value
    if node.kind == STRING:
        return shorten(node.value, MAX_TEXT)
    if node.kind == NONE:
        return None
    if node.kind == TENSOR and node.tensor.numel == 1:
        return f"tensor {node.tensor.dtype} (value needs its bytes)"
    return _MISSING


_MISSING = object()


def _top_scalars(root: Node) -> tuple[tuple[str, object], ...]:
    """Scalars at the root (and in small metadata dicts one level down)."""
    if root.kind not in (DICT, OBJECT):
        return ()
    found: dict[str, object] = {}
    skip = set(HPARAM_KEYS)
    module = _is_module_object(root)
    for c in root.children:
        if isinstance(c.key, str) and (c.key.startswith("_") or c.key in (
                "pytorch-lightning_version", "lightning_version")):
            continue
        if module and c.key == "training":  # shown as a hint instead
            continue
        v = _leaf_value(c) if c.kind != TENSOR else _MISSING
        if v is not _MISSING and c.kind != NONE:
            found[str(c.key)] = v
        elif (c.kind == DICT and c.key not in skip and not _is_optimizer_state(c)
              and len(c.children) <= 40 and not any(g.kind == TENSOR for g in c.children)):
            for g in c.children:
                if str(g.key) in SCALAR_ORDER or str(g.key).startswith("best"):
                    gv = _leaf_value(g)
                    if gv is not _MISSING and g.kind != NONE:
                        found[f"{c.key}.{g.key}"] = gv
    order = {k: i for i, k in enumerate(SCALAR_ORDER)}

    def rank(item: tuple[str, object]) -> tuple[int, int]:
        leaf = item[0].rsplit(".", 1)[-1]
        if leaf in order:
            return (0, order[leaf])
        return (1 if leaf.startswith(("best", "val", "train")) else 2, 0)

    items = sorted(found.items(), key=rank)  # stable: file order within a rank
    return tuple(items[:MAX_SCALARS])


def _hyper_parameters(root: Node) -> tuple[tuple[tuple[str, object], ...], bool]:
    if root.kind not in (DICT, OBJECT):
        return (), False
    out: list[tuple[str, object]] = []
    truncated = False
    for key in HPARAM_KEYS:
        node = root.child(key)
        if node is None:
            continue
        if node.kind not in CONTAINER_KINDS:
            continue
        stack: list[tuple[Node, str, int]] = [(c, f"{key}.{c.key}", 1)
                                               for c in reversed(node.children)]
        while stack:
            c, name, depth = stack.pop()
            if len(out) >= MAX_HPARAMS:
                truncated = True
                break
            if c.kind in (LIST, TUPLE, SET) and all(
                    x.kind in (SCALAR, STRING, NONE) for x in c.children):
                out.append((name, [x.value for x in c.children]))
            elif c.kind in (DICT, OBJECT) and depth < MAX_HPARAM_DEPTH and c.children:
                stack.extend((g, f"{name}.{g.key}", depth + 1) for g in reversed(c.children))
            elif c.kind == TENSOR:
                out.append((name, f"tensor {c.tensor.dtype} {list(c.tensor.shape)}"))
            elif c.kind in (SCALAR, STRING, NONE, BYTES):
                out.append((name, c.value if c.kind != BYTES else f"<{len(c.value)} bytes>"))
            elif c.kind in CONTAINER_KINDS:
                out.append((name, f"{c.type_name} ({len(c.children)} items)"))
    return tuple(out), truncated


def _lightning_version(root: Node) -> str | None:
    if root.kind != DICT:
        return None
    v = root.child("pytorch-lightning_version") or root.child("lightning_version")
    if v is not None and v.kind == STRING:
        return v.value
    return None


# ---- Private API: dtypes and hints
def _dtype_mix(tensors: list[tuple[tuple, TensorInfo]]) -> tuple[DTypeShare, ...]:
    counts: dict[str, int] = {}
    numels: dict[str, int] = {}  # elements per dtype (each view once); bytes at the end
    first: dict[str, TensorInfo] = {}
    seen: set = set()
    prod = math.prod
    for _, info in tensors:
        dtype = info.dtype
        counts[dtype] = counts.get(dtype, 0) + 1
        st = info.storage
        ident = (st.file, st.key, info.storage_offset, info.shape, info.stride) if (
            st is not None) else ("nostorage", id(info))  # _view_ident, inlined: per tensor
        if ident not in seen:
            seen.add(ident)
            numels[dtype] = numels.get(dtype, 0) + prod(info.shape)
            if dtype not in first:
                first[dtype] = info
    sizes = _itemsizes(numels, first)
    nbytes = {d: n * sizes[d] for d, n in numels.items()}
    shares = [DTypeShare(d, counts[d], nbytes.get(d, 0)) for d in counts]
    return tuple(sorted(shares, key=lambda s: (-s.nbytes, -s.count, s.dtype)))


def _hints(ckpt: Checkpoint, weights: _Weights, optimizers: tuple[OptimizerSummary, ...],
           lightning: str | None, tensors: list[tuple[tuple, TensorInfo]],
           weights_bytes: int) -> list[Hint]:
    hints: list[Hint] = []
    unsafe = list(ckpt.unsafe_globals)
    shown = ", ".join(unsafe[:6]) + (f", … {len(unsafe) - 6} more" if len(unsafe) > 6 else "")
    if weights.model_class is not None:
        hints.append(Hint(DANGER, f"Whole pickled model ({weights.model_class}): loading it needs "
                                  "its class code and runs code from the file (torch.load with "
                                  "weights_only=False); trust the source first. Unsafe globals: "
                                  f"{shown or 'none'}"))
    elif unsafe:
        hints.append(Hint(DANGER, f"References {len(unsafe)} global(s) outside the safe list (not "
                                  f"executed here): {shown}. torch.load(weights_only=True) will "
                                  "refuse it; loading it otherwise runs code from the file."))
    if ckpt.format == "torchscript":
        hints.append(Hint(WARNING, "TorchScript archive: it contains code; torch.jit.load runs it."))
    elif ckpt.format == "pickle":
        hints.append(Hint(WARNING, "A plain pickle (not torch.save): tensor bytes are not in the "
                                   "file's storages and cannot be shown."))
    elif ckpt.format == "torch-legacy":
        hints.append(Hint(INFO, "Legacy (pre-1.6) torch.save format: re-save it with a current "
                                "torch for memory-mapped loading."))
    for w in ckpt.warnings[:5]:
        hints.append(Hint(WARNING, w[:1].upper() + w[1:] if w else w))
    if len(ckpt.warnings) > 5:
        hints.append(Hint(WARNING, f"… and {len(ckpt.warnings) - 5} more warnings."))

    if lightning:
        hints.append(Hint(INFO, f"PyTorch Lightning checkpoint (version {lightning}): the weights "
                                "are in `state_dict`; LightningModule.load_from_checkpoint "
                                "restores it with its hyper-parameters."))
    names = [e.name for e in weights.entries]
    if weights.prefix == "module.":
        hints.append(Hint(WARNING, "Weight keys start with `module.` (saved from DataParallel/DDP): "
                                   "strip the prefix, or load into the wrapped model."))
    elif weights.prefix == "_orig_mod.":
        hints.append(Hint(WARNING, "Weight keys start with `_orig_mod.` (saved from a "
                                   "torch.compile'd model): strip the prefix to load into the "
                                   "plain model."))
    elif weights.prefix == "model." and (lightning or weights.path == ("state_dict",)):
        hints.append(Hint(INFO, "Weight keys start with `model.` (Lightning): strip the prefix to "
                                "load them into the bare nn.Module."))
    if weights.path is None and tensors:
        hints.append(Hint(INFO, "No model state_dict was recognized; the tensors are listed in "
                                "the tree."))

    leaves = {n.rsplit(".", 1)[-1] for n in names}
    if {"running_mean", "running_var"} & leaves or "num_batches_tracked" in leaves:
        n_bn = sum(1 for n in names if n.endswith(".running_mean") or n == "running_mean")
        hints.append(Hint(WARNING, f"Contains BatchNorm running statistics ({n_bn} layer"
                                   f"{'' if n_bn == 1 else 's'}): call model.eval() before "
                                   "inference so they are used. Dropout leaves no weights, so "
                                   "whether the model has it cannot be told from the file; "
                                   "eval() turns it off too."))
    elif weights.entries:
        hints.append(Hint(INFO, "No BatchNorm running statistics in the weights. Dropout leaves "
                                "no weights, so it cannot be ruled out: call model.eval() before "
                                "inference anyway."))

    shared = ckpt.shared_groups()
    if shared:
        examples = []
        for paths in list(shared.values())[:3]:
            examples.append(" ↔ ".join(path_text(p) for p in paths[:3]))
        more = f" (and {len(shared) - 3} more groups)" if len(shared) > 3 else ""
        hints.append(Hint(INFO, f"{len(shared)} storage(s) shared by several tensors (tied "
                                f"weights or views, stored once): {'; '.join(examples)}{more}."))

    # one pass over the tensors for the location, missing-data and layout hints
    locations: dict[str, int] = {}
    no_data = odd = 0
    for _, info in tensors:
        st, layout = info.storage, info.layout
        if st is None:
            if not (layout == "sharded" and info.chunks):  # DCP: assembled from its chunks
                no_data += 1
        elif st.location not in ("cpu", ""):
            locations[st.location] = locations.get(st.location, 0) + 1
        if layout not in ("strided", "sharded"):
            if layout == "meta":
                if st is not None:
                    no_data += 1
            else:
                odd += 1
    if locations:
        where = ", ".join(f"{n} on {loc}" for loc, n in sorted(locations.items()))
        hints.append(Hint(WARNING, f"Tensors were saved on a GPU ({where}): load with "
                                   "map_location='cpu' (or your device) on another machine."))

    floats: dict[str, int] = {}
    for e in weights.entries:
        if not e.is_buffer:
            floats[e.info.dtype] = floats.get(e.info.dtype, 0) + 1
    if len(floats) > 1:
        mix = ", ".join(f"{d} ({n})" for d, n in sorted(floats.items(), key=lambda x: -x[1]))
        hints.append(Hint(INFO, f"Mixed precision weights: {mix}."))
    elif floats and (next(iter(floats)) in ("float16", "bfloat16")
                     or next(iter(floats)).startswith("float8")):
        hints.append(Hint(INFO, f"Weights are stored in {next(iter(floats))}: cast the model to "
                                "the same dtype (or load into float32) before inference."))

    if no_data:
        hints.append(Hint(WARNING, f"{no_data} tensor(s) have no data (meta or missing storage)."))
    if odd:
        hints.append(Hint(INFO, f"{odd} tensor(s) are sparse, quantized or nested: previews show "
                                "their stored values only."))

    for opt in optimizers:
        ratio = f", {opt.state_bytes / weights_bytes:.1f}× the weights' bytes" if (
            weights_bytes and opt.state_bytes) else ""
        hints.append(Hint(INFO, f"Optimizer state ({opt.name}, {opt.num_states} parameter "
                                f"states{ratio}) lets training resume; inference needs only the "
                                "model weights."))
    if ckpt.root.kind == DICT:
        ema = [k for k in EMA_KEYS if ckpt.root.child(k) is not None]
        if ema:
            hints.append(Hint(INFO, f"Contains EMA weights under `{ema[0]}`: they often evaluate "
                                    "better than the raw weights."))
    if weights.model_class is not None:
        training = ckpt.root.child("training") if weights.path == () else None
        if training is not None and training.value is True:
            hints.append(Hint(INFO, "The model was pickled in train mode (training=True)."))
    if tensors:
        hints.append(Hint(INFO, "Whether values are finite (no NaN/Inf) is known only after "
                                "statistics are computed."))
    return hints
