"""LR schedulers recognized from their ``state_dict()`` keys."""

from __future__ import annotations

from inspector.core.checkpoint import DICT, LIST, SCALAR, STRING, TUPLE, Node
from inspector.core.summary.results import SchedulerSummary
from inspector.core.summary.values import number_tuple

SCHEDULER_KEYS = ("lr_scheduler", "scheduler", "scheduler_state_dict", "lr_scheduler_state_dict",
                  "sched", "lr_schedulers", "schedulers")


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


def find_schedulers(root: Node) -> list[Node]:
    """LR scheduler state_dicts at the root and in the usual scheduler entries."""
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


def scheduler_summary(node: Node) -> SchedulerSummary | None:
    """The scheduler state_dict at ``node``: its likely class and its settings."""
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
            nums = number_tuple(c)
            if nums is not None:
                extra.append((key, list(nums)))
    last_epoch = node.child("last_epoch")
    return SchedulerSummary(
        path=node.path(), name=name,
        last_epoch=last_epoch.value if last_epoch is not None and last_epoch.kind == SCALAR else None,
        last_lr=number_tuple(node.child("_last_lr")), extra=tuple(extra))
