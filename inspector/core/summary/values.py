"""Training scalars, hyper-parameters and the Lightning version, read from the Node tree."""

from __future__ import annotations

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
    Node,
)
from inspector.core.state_dict import is_optimizer_state, is_pickled_module
from inspector.core.text import shorten

HPARAM_KEYS = ("hyper_parameters", "hparams", "hyperparameters", "config", "cfg", "args",
               "opt", "training_args", "train_config")
# Scalars worth showing first, in this order; others follow in file order.
SCALAR_ORDER = ("epoch", "epochs", "global_step", "step", "iteration", "iter", "steps", "loss",
                "train_loss", "val_loss", "valid_loss", "test_loss", "best_loss", "best_acc",
                "best_acc1", "best_metric", "best_score", "accuracy", "acc", "val_acc",
                "metric", "score", "lr")
MAX_SCALARS = 16
MAX_HPARAMS = 60
MAX_HPARAM_DEPTH = 4
MAX_TEXT = 80


def scalar_value(node: Node | None) -> object:
    """A number stored as a plain scalar, else None (a tensor lr needs its bytes)."""
    if node is not None and node.kind == SCALAR and isinstance(node.value, (int, float)):
        return node.value
    return None


def number_tuple(node: Node | None) -> tuple[float, ...] | None:
    """A list or tuple of plain numbers (``betas``, ``_last_lr``), else None."""
    if node is None or node.kind not in (LIST, TUPLE):
        return None
    vals = [scalar_value(c) for c in node.children]
    if vals and all(isinstance(v, (int, float)) for v in vals):
        return tuple(vals)  # type: ignore[arg-type]
    return None


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


def top_scalars(root: Node) -> tuple[tuple[str, object], ...]:
    """Scalars at the root (and in small metadata dicts one level down)."""
    if root.kind not in (DICT, OBJECT):
        return ()
    found: dict[str, object] = {}
    skip = set(HPARAM_KEYS)
    module = is_pickled_module(root)
    for c in root.children:
        if isinstance(c.key, str) and (c.key.startswith("_") or c.key in (
                "pytorch-lightning_version", "lightning_version")):
            continue
        if module and c.key == "training":  # shown as a hint instead
            continue
        v = _leaf_value(c) if c.kind != TENSOR else _MISSING
        if v is not _MISSING and c.kind != NONE:
            found[str(c.key)] = v
        elif (c.kind == DICT and c.key not in skip and not is_optimizer_state(c)
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


def hyper_parameters(root: Node) -> tuple[tuple[tuple[str, object], ...], bool]:
    """Flattened hyper-parameters from the usual entries, and whether the list was cut."""
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


def lightning_version(root: Node) -> str | None:
    """The PyTorch Lightning version a Lightning checkpoint records."""
    if root.kind != DICT:
        return None
    v = root.child("pytorch-lightning_version") or root.child("lightning_version")
    if v is not None and v.kind == STRING:
        return v.value
    return None
