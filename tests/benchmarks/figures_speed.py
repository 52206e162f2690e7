"""Figures of issue #13, each target judged against a floor measured in the same run:

- ``cores``: statistics on every usable core (GB/s vs a numpy sum over the same bytes,
  target 2 GB/s at 2 cores), scaling against one core (target 0.7 × cores, capped by the
  floor), anonymous RSS growth (target 64 MB per worker) and, where CUDA is, the GPU path
  (target 5 GB/s); diff of two files where every tensor changed (target 2 GB/s).
- ``cli``: ``stats``, ``diff`` and ``info`` on a small file, whole process (target 0.5 s;
  floor: ``python -c "import numpy"``), and whether torch was imported.
- ``open-ratio``: launch -> tree painted in the app divided by launch -> first paint of a
  bare PySide6 window (targets 1.4× for any file size, 2× at 20,000 tensors, 4× at 100,000).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

from tests.benchmarks import workloads
from tests.benchmarks.figures import FIGURES, ROOT, Context, Row, _marks, _mb

SPEED = "tests.benchmarks.probes_speed"


def fig_cores(ctx: Context) -> list[Row]:
    r = ctx.probe("stats-scaling", "stats-scaling", ctx.file(workloads.GPT2), "--repeat",
                  str(ctx.repeat), module=SPEED)
    gb = r["bytes"] / 1e9
    cores = r["cores"]
    floor = [gb / s for s in r["floor"]]
    many = [gb / s for s in r["many"]]
    one = [gb / s for s in r["one"]]
    one_med = statistics.median(one)
    # scaling target: 0.7 x cores x one core, but never above the memory floor
    scale_target = min(0.7 * cores, statistics.median(floor) / one_med) if one_med else None
    rows = [
        Row("cores", f"stats, GPT-2 ({ctx.size.name}), {cores} cores (workers=None)", "GB/s",
            many, floor, "numpy sum over the mmap", 2.0 if cores >= 2 else None, "higher",
            note=f"{_mb(r['bytes']):,.0f} MiB; exact 64-bin histograms; pass 2: "
                 f"{r.get('pass2', '?')}"),
        Row("cores", "stats, same file, one core (workers=1)", "GB/s", one, floor,
            "numpy sum over the mmap", better="higher"),
        Row("cores", f"stats scaling: {cores} cores / one core (paired runs)", "×",
            [m / o for m, o in zip(many, one)], target=round(scale_target, 2)
            if scale_target else None, better="higher",
            note=f"target 0.7 × {cores} cores, capped by floor / one-core"),
        Row("cores", "stats CPU cost, one core: GB per CPU-second (its speed on a core of its "
                     "own)", "GB/s", [gb / c for c in r["cpu_one"]], better="higher",
            note="CPU time of the process and its workers; far less sensitive to other "
                 "processes than wall time"),
        Row("cores", f"stats CPU cost, {cores} cores: GB per CPU-second (÷ one core's: the "
                     "parallel overhead)", "GB/s", [gb / c for c in r["cpu_many"]],
            better="higher"),
        Row("cores", f"stats anonymous RSS growth, {cores} workers (peak)", "MB",
            [r["anon_growth_mb"]], target=64.0 * cores, note="target 64 MB per worker"),
    ]
    dev = ctx.probe("stats-device", "stats-device", ctx.file(workloads.GPT2), "--repeat",
                    str(ctx.repeat), module=SPEED)
    if "skipped" in dev:
        rows.append(Row("cores", f"stats on the GPU: not measured ({dev['skipped']}); "
                                 "target ≥ 5 GB/s, see tests/gpu_check.py", "GB/s", []))
    else:
        rows.append(Row("cores", f"stats on the GPU ({dev['gpu']}), page-cached file", "GB/s",
                        [dev["bytes"] / 1e9 / s for s in dev["samples"]], floor,
                        "numpy sum over the mmap", 5.0, "higher"))
    d = ctx.probe("diff-changed", "diff-workers", ctx.file(workloads.GPT2),
                  ctx.file(workloads.GPT2_C), "--repeat", str(ctx.repeat), module=SPEED)
    dgb = d["bytes"] / 1e9
    counts = ", ".join(f"{k} {v}" for k, v in sorted(d["counts"].items()))
    dfloor = [dgb / s for s in d["floor"]]
    rows += [
        Row("cores", f"diff, every tensor changed ({ctx.size.name}), {d['cores']} cores", "GB/s",
            [dgb / s for s in d["many"]], dfloor, "numpy sum over both files",
            2.0 if d["cores"] >= 2 else None, "higher",
            note=f"{_mb(d['bytes']):,.0f} MiB of pair data; {counts}; torch imported: "
                 f"{d['torch_imported']}"),
        Row("cores", "diff, every tensor changed, one core", "GB/s",
            [dgb / s for s in d["one"]], dfloor, "numpy sum over both files", better="higher"),
        Row("cores", "diff CPU cost, one core: GB of pair data per CPU-second", "GB/s",
            [dgb / c for c in d["cpu_one"]], better="higher"),
        Row("cores", f"diff CPU cost, {d['cores']} cores: GB per CPU-second", "GB/s",
            [dgb / c for c in d["cpu_many"]], better="higher"),
        Row("cores", "diff anonymous RSS growth (peak)", "MB", [d["anon_growth_mb"]],
            target=64.0 * d["cores"], note="target 64 MB per worker"),
    ]
    return rows


def _process_seconds(cmd: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd}: exit {proc.returncode}: {proc.stderr[-2000:]}")
    return dt, proc.stdout


def fig_cli(ctx: Context) -> list[Row]:
    small = ctx.file("cli_small.pth")
    small_b = ctx.file("cli_small_b.pth")
    code = ("import torch, sys; g = torch.Generator().manual_seed(0); "
            "torch.save({f'l{i}.weight': torch.randn(64, 64, generator=g) for i in range(8)}, "
            "sys.argv[1]); "
            "torch.save({f'l{i}.weight': torch.randn(64, 64, generator=g) for i in range(8)}, "
            "sys.argv[2])")
    subprocess.run([sys.executable, "-c", code, small, small_b], check=True, cwd=ROOT)
    floor = [_process_seconds([sys.executable, "-c", "import numpy"])[0]
             for _ in range(ctx.repeat)]
    rows = []
    for args in (["stats", small], ["diff", small, small_b], ["info", small]):
        samples, torch_seen = [], False
        for _ in range(ctx.repeat):
            dt, out = _process_seconds([sys.executable, "-m", SPEED, "cli", *args])
            samples.append(dt)
            torch_seen |= '"torch_imported": true' in out
        rows.append(Row("cli", f"`{' '.join(args[:1])}` on a 64 KiB file, whole process",
                        "s", samples, floor, "python -c 'import numpy'", 0.5,
                        note=f"torch imported: {torch_seen}"))
    return rows


def fig_open_ratio(ctx: Context) -> list[Row]:
    bare = ctx.gui_runs("gui-bare", "--bare")
    floor = _marks(bare, "window_painted")
    base = statistics.median(floor)
    cases = [(workloads.GPT2, f"GPT-2 ({ctx.size.name})", 1.4),
             (workloads.MANY, f"{ctx.size.many_tensors:,} tensors", 2.0 if
              ctx.size.many_tensors >= 20_000 else 1.4),
             (workloads.MANY_100K, "100,000 tensors" if ctx.size.name == "full" else
              f"{ctx.size.many_tensors:,} tensors (100k at full)", 4.0)]
    rows = []
    for name, label, target in cases:
        runs = ctx.gui_runs(f"gui-open-{name}", ctx.file(name), "--target", "tree")
        times = _marks(runs, "tree_painted")
        rows.append(Row("open-ratio", f"{label}: launch -> tree painted / bare window first "
                                      "paint", "×", [t / base for t in times],
                        target=target, better="lower",
                        note=f"median {statistics.median(times) * 1000:,.0f} ms vs bare "
                             f"{base * 1000:,.0f} ms"))
    return rows


FIGURES.update({"cores": fig_cores, "cli": fig_cli, "open-ratio": fig_open_ratio})
