"""Comparing the non-tensor values (epoch, loss, lr, strings, None) of two checkpoints."""

from __future__ import annotations

import math
from typing import Any

from inspector.core.checkpoint import BYTES, NONE, SCALAR, STRING, Checkpoint
from inspector.core.diff.align import Alignment, index_first
from inspector.core.diff.results import ADDED, CHANGED, REMOVED, Path, ScalarDiff

_SCALAR_KINDS = frozenset({SCALAR, STRING, NONE, BYTES})


def diff_scalars(ck_a: Checkpoint, ck_b: Checkpoint, alignment: Alignment) -> list[ScalarDiff]:
    """Compare every non-tensor leaf value, aligned with the same rules as the tensors."""
    leaves_a = [(alignment.normalize_a(n.path()), n) for n in ck_a.root.walk()
                if n.kind in _SCALAR_KINDS and n.parent is not None]
    leaves_b = [(alignment.normalize_b(n.path()), n) for n in ck_b.root.walk()
                if n.kind in _SCALAR_KINDS and n.parent is not None]
    index_b, extra_b = index_first(leaves_b)
    out: list[ScalarDiff] = []
    used: set[Path] = set()
    for key, na in leaves_a:
        nb = None
        try:
            if key not in used:
                nb = index_b.get(key)
        except TypeError:
            nb = None
        if nb is None:
            out.append(ScalarDiff(na.path(), na.path(), None, REMOVED, value_a=_leaf_value(na),
                                  type_a=na.type_name))
            continue
        used.add(key)
        va, vb = _leaf_value(na), _leaf_value(nb)
        if not _same_value(va, vb) or na.type_name != nb.type_name:
            out.append(ScalarDiff(nb.path(), na.path(), nb.path(), CHANGED, va, vb,
                                  na.type_name, nb.type_name))
    for key, nb in index_b.items():
        if key not in used:
            out.append(ScalarDiff(nb.path(), None, nb.path(), ADDED, value_b=_leaf_value(nb),
                                  type_b=nb.type_name))
    out.extend(ScalarDiff(nb.path(), None, nb.path(), ADDED, value_b=_leaf_value(nb),
                          type_b=nb.type_name) for nb in extra_b)
    return out


def _leaf_value(node) -> Any:
    return None if node.kind == NONE else node.value


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001 - a value whose == fails is treated as different
        return False
