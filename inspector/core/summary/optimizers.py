"""Optimizers recognized from their ``state_dict()``, and which parameter each state is for."""

from __future__ import annotations

from inspector.core.checkpoint import DICT, LIST, SCALAR, TENSOR, TUPLE, Checkpoint, Node
from inspector.core.state_dict import WeightEntry, find_weights, is_optimizer_state
from inspector.core.summary.results import OptimizerSummary
from inspector.core.summary.values import number_tuple, scalar_value
from inspector.core.summary.weights import parameter_list, view_ident

# Per-parameter optimizer state whose shape equals the parameter's shape.
SAME_SHAPE_STATE = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer", "square_avg",
                    "acc_delta", "sum", "exp_inf", "grad_avg", "ax", "prev")


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
    optimizers = find_optimizers(ckpt.root)
    if not optimizers:
        return {}  # the weights' walk below is the expensive part: skip it when unneeded
    params = parameter_list(find_weights(ckpt).entries)
    labels: dict[tuple, str] = {}
    for opt in optimizers:
        labels.update(_labels_for(opt, params))
    return labels


def find_optimizers(root: Node) -> list[Node]:
    """Optimizer state_dicts within the top three levels, in file order."""
    found: list[Node] = []
    stack: list[tuple[Node, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        if is_optimizer_state(node):
            found.append(node)
            continue
        if depth < 3 and node.kind in (DICT, LIST, TUPLE):
            stack.extend((c, depth + 1) for c in reversed(node.children[:500]))
    return found


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


def optimizer_summary(node: Node) -> OptimizerSummary:
    """What the optimizer state_dict at ``node`` holds and which optimizer it looks like."""
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
                ident = view_ident(c.tensor)
                if ident not in seen:
                    seen.add(ident)
                    state_bytes += c.tensor.nbytes
    name = _optimizer_name(group_keys, state_keys, first)

    def get(key: str) -> object:
        return scalar_value(first.child(key)) if first is not None else None

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
            number_tuple(first.child("betas")) if first is not None else None),
        momentum=momentum if name in ("SGD", "RMSprop") else None,
        weight_decay=get("weight_decay"), nesterov=nesterov if name == "SGD" else None,
        groups=len(group_nodes), num_params=num_params, num_states=len(state.children),
        state_bytes=state_bytes, extra=tuple(extra))


def _labels_for(opt: Node, params: list[WeightEntry]) -> dict[tuple, str]:
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
