"""Benchmark of the training-run timeline (not collected by pytest; run on demand):

    python -m tests.benchmarks.bench_timeline [--files 10] [--mb 100] [--workdir DIR]

Writes a run of ``--files`` checkpoints of ``--mb`` MiB each (float32 matrices drifting a
little from file to file, like a training run), then measures in this process:

- ``read once``: every file's bytes summed once in float64 over its memory map (the floor:
  what reading the run's bytes costs);
- ``timeline``: :func:`build_timeline` without a cache (every file read once, and again as the
  next file's previous checkpoint for the change ‖Δw‖);
- ``reopen``: the same run again with the per-file cache warm (issue #14: "reopening a run is
  instant").

Figures are medians of ``--repeat`` runs; read them as ratios on a shared machine.
"""

from __future__ import annotations

import argparse
import mmap
import os
import shutil
import statistics
import tempfile
import time


def write_run(folder: str, files: int, mb: int) -> int:
    import torch

    g = torch.Generator().manual_seed(0)
    side = int(((mb << 20) / 4 / 4) ** 0.5)
    sd = {f"layer{i}.weight": torch.randn(side, side, generator=g) for i in range(4)}
    for k in range(files):
        for v in sd.values():
            v.add_(torch.randn(v.shape, generator=g), alpha=0.01)
        torch.save({"epoch": k + 1, "model_state_dict": sd}, os.path.join(folder, f"epoch_{k + 1}.pth"))
    return sum(os.path.getsize(os.path.join(folder, n)) for n in os.listdir(folder))


def read_once(folder: str) -> None:
    import numpy as np

    for name in sorted(os.listdir(folder)):
        with open(os.path.join(folder, name), "rb") as fh, \
                mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            a = np.frombuffer(mm, dtype=np.float32, count=len(mm) // 4)
            float(np.add.reduce(a, dtype=np.float64))
            del a


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--files", type=int, default=10)
    p.add_argument("--mb", type=int, default=100)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--workdir", default=None)
    args = p.parse_args(argv)
    from inspector.core.timeline import build_timeline

    work = tempfile.mkdtemp(prefix="bench-timeline-", dir=args.workdir)
    try:
        run = os.path.join(work, "run")
        os.makedirs(run)
        total = write_run(run, args.files, args.mb)
        cache = os.path.join(work, "cache")
        read_once(run)  # warm the page cache: every figure below reads from memory
        figures = {"read once": [], "timeline": [], "reopen": []}
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            read_once(run)
            figures["read once"].append(time.perf_counter() - t0)
            shutil.rmtree(cache, ignore_errors=True)
            t0 = time.perf_counter()
            build_timeline(run, cache_dir=cache)
            figures["timeline"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            build_timeline(run, cache_dir=cache)
            figures["reopen"].append(time.perf_counter() - t0)
        gb = total / 1e9
        base = statistics.median(figures["read once"])
        print(f"{args.files} checkpoints, {gb:.2f} GB in all (page cache warm)")
        for name, values in figures.items():
            m = statistics.median(values)
            print(f"  {name:<10} {m:7.2f} s  {gb / m:6.2f} GB/s  ×{m / base:.1f} of reading once")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
