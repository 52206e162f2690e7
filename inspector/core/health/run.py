"""Findings across a training run: where each per-checkpoint problem first appears, and the
layers that froze or whose norm exploded, with the step where it starts."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from inspector.core.health.findings import Finding
from inspector.core.text import number_text

if TYPE_CHECKING:
    from inspector.core.timeline.model import Checkpoint, Series

EXPLODING_FACTOR = 10.0  # a norm this many times its first value "explodes"


def run_findings(checkpoints: list[Checkpoint], tensors: list[Series],
                 per_checkpoint: list[list[Finding]],
                 exploding_factor: float = EXPLODING_FACTOR) -> list[Finding]:
    """Each per-checkpoint finding at the first checkpoint where it appears (its ``step``),
    then ``frozen`` and ``exploding`` parameters, ordered by step."""
    out: list[Finding] = []
    seen: set = set()
    for i, findings in enumerate(per_checkpoint):
        c = checkpoints[i]
        for f in findings:
            key = (f.kind, f.name, f.other)
            if key in seen:
                continue
            seen.add(key)
            out.append(Finding(f.kind, f.tensor, f.name, f"{f.detail} (from step {c.step})",
                               step=c.step, checkpoint=c.path, count=f.count, other=f.other))
    for s in tensors:
        if s.role != "param":
            continue
        f = _frozen(s, checkpoints)
        if f is not None:
            out.append(f)
        f = _exploding(s, checkpoints, exploding_factor)
        if f is not None:
            out.append(f)
    order = {c.step: i for i, c in enumerate(checkpoints)}
    out.sort(key=lambda f: (order.get(f.step, 0), f.kind, f.name))
    return out


def _frozen(s: Series, checkpoints: list[Checkpoint]) -> Finding | None:
    """Unchanged, bit for bit, from some checkpoint to the end of the run."""
    changed = s.changed
    n = len(changed)
    if n < 2 or changed[-1] is not False:
        return None
    j = n - 1
    while j >= 2 and changed[j - 1] is False:
        j -= 1
    start = j - 1  # the checkpoint whose values every later one repeats
    c = checkpoints[start]
    if start == 0:
        detail = f"never changed across the run's {n} checkpoints"
    else:
        detail = (f"unchanged from step {c.step} to the end "
                  f"({n - 1 - start} checkpoints without a change)")
    return Finding("frozen", s.path, s.name, detail, step=c.step, checkpoint=c.path)


def _exploding(s: Series, checkpoints: list[Checkpoint], factor: float) -> Finding | None:
    """The first checkpoint whose L2 norm exceeds ``factor`` times the first non-zero norm."""
    l2 = s.metric("l2")
    ref = None
    for i, v in enumerate(l2):
        if v is None or not math.isfinite(v):
            continue
        if ref is None:
            if v > 0:
                ref = v
            continue
        if v > factor * ref:
            c = checkpoints[i]
            return Finding("exploding", s.path, s.name,
                           f"L2 norm {number_text(v)} at step {c.step} is {number_text(v / ref)}× "
                           f"its first value {number_text(ref)}", step=c.step, checkpoint=c.path)
    return None
