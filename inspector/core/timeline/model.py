"""The timeline's result types: plain dataclasses (no torch, no numpy), picklable for the GUI's
worker process, and their JSON/CSV documents."""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field

from inspector.core.health.findings import Finding
from inspector.core.text import json_value, path_to_json

METRICS = ("l2", "mean", "std", "max_abs", "rel_change", "update_ratio", "exp_avg",
           "exp_avg_sq")
METRIC_TITLES = {
    "l2": "L2 norm ‖w‖", "mean": "mean", "std": "std", "max_abs": "max |w|",
    "rel_change": "relative change ‖Δw‖/‖w_prev‖", "update_ratio": "update ratio ‖Δw‖/‖w‖",
    "exp_avg": "Adam ‖exp_avg‖", "exp_avg_sq": "Adam ‖exp_avg_sq‖",
}


@dataclass
class Series:
    """One tensor's (or module's) numbers at every checkpoint of the run (None where the
    checkpoint lacks it). ``path`` is its key path in the first checkpoint holding it."""

    name: str
    path: tuple
    module: str
    role: str
    shape: tuple[int, ...] | None
    dtype: str | None
    values: dict[str, list[float | None]]
    changed: list[bool | None] = field(default_factory=list)
    members: list[str] = field(default_factory=list)  # a module's tensors

    def metric(self, name: str) -> list[float | None]:
        return self.values.get(name, [])


@dataclass(frozen=True)
class Checkpoint:
    """One checkpoint of the run: path, kind, the ordering step and where it came from."""

    path: str
    kind: str
    step: int | float
    step_source: str


@dataclass
class Timeline:
    """A training run: checkpoints in order, scalars, per-tensor and per-module series,
    findings across the run, and each checkpoint's own health findings."""

    checkpoints: list[Checkpoint]
    scalars: dict[str, list[float | None]]
    tensors: list[Series]
    modules: list[Series]
    findings: list[Finding]
    checkpoint_findings: list[list[Finding]]
    errors: list[str] = field(default_factory=list)

    @property
    def steps(self) -> list[int | float]:
        return [c.step for c in self.checkpoints]

    def series(self, name: str) -> Series | None:
        for s in (*self.tensors, *self.modules):
            if s.name == name:
                return s
        return None

    def filtered(self, pattern: str | None) -> Timeline:
        """The same timeline keeping the tensors and modules whose name matches ``pattern``."""
        if not pattern:
            return self
        rx = re.compile(pattern)
        return Timeline(self.checkpoints, self.scalars,
                        [s for s in self.tensors if rx.search(s.name)],
                        [s for s in self.modules if rx.search(s.name)],
                        self.findings, self.checkpoint_findings, self.errors)


def _numbers(values: list[float | None]) -> list:
    return [json_value(v) if v is None or math.isfinite(v) else None for v in values]


def series_json(s: Series, with_path: bool = True) -> dict:
    out: dict = {"name": s.name}
    if with_path:
        out = {"path": path_to_json(s.path), "name": s.name, "module": s.module,
               "role": s.role, "shape": list(s.shape) if s.shape is not None else None,
               "dtype": s.dtype}
    else:
        out["tensors"] = list(s.members)
    for m in METRICS:
        out[m] = _numbers(s.metric(m))
    return out


def timeline_to_json(t: Timeline) -> dict:
    """The stable ``timeline --json`` document."""
    return {
        "checkpoints": [{"path": c.path, "step": c.step, "step_source": c.step_source,
                         "kind": c.kind} for c in t.checkpoints],
        "scalars": {k: _numbers(v) for k, v in t.scalars.items()},
        "tensors": [series_json(s) for s in t.tensors],
        "modules": [series_json(s, with_path=False) for s in t.modules],
        "findings": [f.to_json(with_step=True) for f in t.findings],
        "errors": list(t.errors),
    }


def timeline_to_csv(t: Timeline) -> str:
    """One row per tensor (and module) and checkpoint: the metrics as columns."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["kind", "name", "step", "checkpoint", *METRICS])
    for kind, group in (("tensor", t.tensors), ("module", t.modules)):
        for s in group:
            for i, c in enumerate(t.checkpoints):
                row = []
                for m in METRICS:
                    vals = s.metric(m)
                    v = vals[i] if i < len(vals) else None
                    row.append("" if v is None or not math.isfinite(v) else repr(v))
                w.writerow([kind, s.name, c.step, c.path, *row])
    return buf.getvalue()
