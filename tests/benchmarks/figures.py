"""The suite's figures: run probes in child processes, compare with floors and targets.

Each figure function takes a :class:`Context` and returns :class:`Row` objects. A row holds
every sample (its median is the figure; min..max the spread), the floor measured in the
same run, the target and whether the median meets it. Targets are issue #7's and are
meant for ``--size full``; at smaller sizes they are printed for orientation.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.benchmarks import workloads
from tests.benchmarks.probes import RESULT_PREFIX

ROOT = Path(__file__).resolve().parents[2]
PROBE_TIMEOUT_S = 600
MAX_GUI_GAP_RUNS = 3  # the responsiveness probe is the slowest; it is repeated at most this often


class BenchError(RuntimeError):
    """A probe failed; the message carries the end of its stderr."""


@dataclass
class Row:
    """One line of the table. ``better`` is "lower" (times, memory) or "higher" (GB/s)."""

    figure: str
    label: str
    unit: str  # "s", "GB/s" or "MB"
    samples: list[float]
    floor: list[float] | None = None
    floor_label: str = ""
    target: float | None = None
    better: str = "lower"
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    @property
    def floor_median(self) -> float | None:
        return statistics.median(self.floor) if self.floor else None

    @property
    def ratio(self) -> float | None:
        """How many times the floor this costs (> 1 is slower / bigger than the floor)."""
        f = self.floor_median
        m = self.median
        if not f or not m:
            return None
        return f / m if self.better == "higher" else m / f

    @property
    def verdict(self) -> str:
        if self.target is None or not self.samples:
            return ""
        ok = self.median >= self.target if self.better == "higher" else self.median <= self.target
        return "PASS" if ok else "MISS"

    def to_json(self) -> dict:
        return {"figure": self.figure, "label": self.label, "unit": self.unit,
                "samples": self.samples, "median": self.median, "floor": self.floor,
                "floor_median": self.floor_median, "floor_label": self.floor_label,
                "ratio": self.ratio, "target": self.target, "better": self.better,
                "verdict": self.verdict, "note": self.note}


@dataclass
class Context:
    """What the figures share: sizes, files, repeat count, cached probe results."""

    size: workloads.Size
    folder: str
    repeat: int
    raw: dict = field(default_factory=dict)  # probe outputs by name, for --json
    _cache: dict = field(default_factory=dict)
    log: Callable[[str], None] = print

    def file(self, name: str) -> str:
        return os.path.join(self.folder, name)

    def probe(self, name: str, *args: str, module: str = "tests.benchmarks.probes") -> dict:
        """Run one probe in a fresh process; its result is also kept under ``raw[name]``."""
        env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONDONTWRITEBYTECODE="1")
        with tempfile.TemporaryDirectory(prefix="bench-config-", dir=self.folder) as cfg:
            env["XDG_CONFIG_HOME"] = cfg  # a fresh QSettings: no recent files, no geometry
            cmd = [sys.executable, "-m", module, *args]
            env["BENCH_LAUNCH_T"] = repr(time.monotonic())
            try:
                proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                                      timeout=PROBE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                raise BenchError(f"probe {name} timed out after {PROBE_TIMEOUT_S} s") from None
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
        if proc.returncode != 0 or not lines:
            raise BenchError(f"probe {name} failed (exit {proc.returncode}):\n"
                             f"{proc.stderr[-3000:]}")
        out = json.loads(lines[-1][len(RESULT_PREFIX):])
        if out.get("error"):
            raise BenchError(f"probe {name}: {out['error']}\n{proc.stderr[-2000:]}")
        self.raw.setdefault(name, []).append(out)
        return out

    def gui_runs(self, name: str, *args: str, runs: int | None = None) -> list[dict]:
        """``runs`` fresh app processes (default: ``repeat``); cached by name."""
        if name not in self._cache:
            self._cache[name] = [self.probe(name, "gui", *args)
                                 for _ in range(runs or self.repeat)]
        return self._cache[name]

    def empty_window_runs(self) -> list[dict]:
        """The app without a file (the floor of several GUI figures), idle for 300 ms."""
        return self.gui_runs("gui-no-file", "--no-demo", "--target", "window", "--idle-ms", "300")


def _marks(runs: list[dict], end: str, start: str | None = None) -> list[float]:
    return [r["marks"][end] - (r["marks"][start] if start else 0.0) for r in runs]


def _mb(x: float) -> float:
    return x / 2**20


# ---- Figure 1: open
def fig_open(ctx: Context) -> list[Row]:
    rows: list[Row] = []
    labels = {workloads.GPT2: f"GPT-2 ({ctx.size.name})",
              workloads.MANY: f"{ctx.size.many_tensors:,} tensors"}
    for name, label in labels.items():
        r = ctx.probe(f"open-core-{name}", "open", ctx.file(name), "--repeat", str(ctx.repeat))
        note = f"{r['tensors']} tensors; torch imported: {r['torch_imported']}"
        rows.append(Row("open", f"{label}: open_checkpoint + tensors() (core)", "s", r["samples"],
                        r["floor"], "read data.pkl", 0.050 if name == workloads.GPT2 else None,
                        note=note))
        if name == workloads.GPT2:
            rows.append(Row("open", f"{label}: peak RSS of that process (core)", "MB",
                            [r["max_rss_mb"]], note="ru_maxrss, includes the repeats"))
    empty = ctx.empty_window_runs()
    empty_show = _marks(empty, "window_painted", "show")
    empty_rss = [r["max_rss_mb"] for r in empty]
    for name, label in labels.items():
        runs = ctx.gui_runs(f"gui-open-{name}", ctx.file(name), "--target", "tree")
        target = 0.7 if name == workloads.GPT2 else 1.0
        torch_seen = any(r.get("torch_at_tree_paint") for r in runs)
        rows.append(Row("open", f"{label}: window.show() -> tree painted (GUI)", "s",
                        _marks(runs, "tree_painted", "show"), empty_show,
                        "empty window painted", target,
                        note=f"torch imported before the paint: {torch_seen}"))
        rows.append(Row("open", f"{label}: launch -> tree painted (GUI)", "s",
                        _marks(runs, "tree_painted")))
        rows.append(Row("open", f"{label}: peak RSS of the app (GUI)", "MB",
                        [r["max_rss_mb"] for r in runs], empty_rss, "app without a file", 300.0,
                        note="ru_maxrss; statistics off, so no worker process"))
    return rows


# ---- Figure 2: statistics
def fig_stats(ctx: Context) -> list[Row]:
    r = ctx.probe("stats", "stats", ctx.file(workloads.GPT2), "--repeat", str(ctx.repeat))
    gb = r["bytes"] / 1e9
    bound = 4 * r["chunk_mb"]
    return [
        Row("stats", f"GPT-2 ({ctx.size.name}): iter_stats, every tensor, 64-bin exact "
                     "histograms", "GB/s", [gb / s for s in r["samples"]],
            [gb / s for s in r["floor"]], "numpy sum over the mmap", 1.2, "higher",
            note=f"{_mb(r['bytes']):,.0f} MiB of unique storages; 1 torch thread"),
        Row("stats", "anonymous RSS growth during the runs (peak)", "MB", [r["anon_growth_mb"]],
            target=bound, note=f"bound: 4 chunks of {r['chunk_mb']:.0f} MiB"),
    ]


# ---- Figure 3: diff
def fig_diff(ctx: Context) -> list[Row]:
    r = ctx.probe("diff", "diff", ctx.file(workloads.GPT2), ctx.file(workloads.GPT2_B),
                  "--repeat", str(ctx.repeat))
    gb = r["bytes"] / 1e9
    counts = ", ".join(f"{k} {v}" for k, v in sorted(r["counts"].items()))
    return [
        Row("diff", f"GPT-2 vs modified copy ({ctx.size.name}): diff_checkpoints", "GB/s",
            [gb / s for s in r["samples"]], [gb / s for s in r["floor"]],
            "numpy sum over both files", 3.0, "higher",
            note=f"{_mb(r['bytes']):,.0f} MiB of pair data; {counts}"),
        Row("diff", "anonymous RSS growth during the runs (peak)", "MB", [r["anon_growth_mb"]]),
    ]


# ---- Figure 4: responsiveness
def fig_responsiveness(ctx: Context) -> list[Row]:
    runs = ctx.gui_runs("gui-gaps", ctx.file(workloads.GPT2), "--gaps", "--diff",
                        ctx.file(workloads.GPT2), ctx.file(workloads.GPT2_B),
                        runs=min(ctx.repeat, MAX_GUI_GAP_RUNS))
    idle = [r["gaps"]["idle"]["max"] for r in ctx.empty_window_runs() if "idle" in r["gaps"]]
    phases = [("open", "opening: show -> tree painted (stats starting)", 0.1),
              ("stats", "statistics running in the worker process", 0.1),
              ("diff-import", "diff thread importing torch (not a target)", None),
              ("diff", "core diff running in a thread of the GUI process", 0.1)]
    rows = []
    for phase, label, target in phases:
        values = [r["gaps"][phase]["max"] for r in runs if phase in r["gaps"]]
        if not values:
            continue
        over = sum(r["gaps"][phase]["over"] for r in runs if phase in r["gaps"])
        rows.append(Row("responsiveness", f"longest 10 ms timer gap, {label}", "s", values,
                        idle or None, "idle window", target,
                        note=f"{over} gaps > 100 ms in {len(values)} run(s)"))
    stats_s = [r["marks"]["stats_done"] - r["marks"]["opened"] for r in runs]
    rows.append(Row("responsiveness", "statistics in the app: opened -> all results shown", "s",
                    stats_s, note="worker process start + torch import included"))
    return rows


# ---- Figure 5: startup
def fig_startup(ctx: Context) -> list[Row]:
    bare = ctx.gui_runs("gui-bare", "--bare")
    floor = _marks(bare, "window_painted")
    empty = ctx.empty_window_runs()
    demo = ctx.gui_runs("gui-demo", "--target", "tree")
    return [
        Row("startup", "launch -> first paint, no file", "s", _marks(empty, "window_painted"),
            floor, "bare QWidget process", 1.5),
        Row("startup", "launch -> first paint, bundled demo", "s", _marks(demo, "window_painted"),
            floor, "bare QWidget process", 1.5),
        Row("startup", "launch -> demo's tree painted", "s", _marks(demo, "tree_painted"),
            floor, "bare QWidget process"),
    ]


FIGURES: dict[str, Callable[[Context], list[Row]]] = {
    "open": fig_open,
    "stats": fig_stats,
    "diff": fig_diff,
    "responsiveness": fig_responsiveness,
    "startup": fig_startup,
}


# ---- Table
def _fmt(value: float | None, unit: str) -> str:
    if value is None or value != value:
        return "—"
    if unit == "s":
        return f"{value * 1000:,.1f} ms" if value < 10 else f"{value:,.1f} s"
    if unit == "GB/s":
        return f"{value:.2f} GB/s"
    if unit == "×":
        return f"{value:.2f}×"
    return f"{value:,.0f} MB"


def _fmt_target(row: Row) -> str:
    if row.target is None:
        return ""
    return ("≥ " if row.better == "higher" else "≤ ") + _fmt(row.target, row.unit)


def _spread(row: Row) -> str:
    if len(row.samples) < 2:
        return "(1 sample)"
    return f"{_fmt(min(row.samples), row.unit)} .. {_fmt(max(row.samples), row.unit)}"


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table (readable as plain text too)."""
    head = ["figure", "measurement", "median", "spread (min .. max)", "floor", "× floor",
            "target", "verdict"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        floor = f"{_fmt(r.floor_median, r.unit)} ({r.floor_label})" if r.floor else "—"
        ratio = f"{r.ratio:.1f}×" if r.ratio is not None else "—"
        label = r.label + (f" — {r.note}" if r.note else "")
        lines.append("| " + " | ".join([r.figure, label, _fmt(r.median, r.unit), _spread(r),
                                         floor, ratio, _fmt_target(r), r.verdict]) + " |")
    return "\n".join(lines)
