"""Probes of issue #13 (statistics and diff on every core, the GPU, CLI start-up), each run
in a fresh child process like those of ``probes.py``:

- ``stats-scaling FILE``: ``iter_stats`` with ``workers=1`` and with every usable core,
  interleaved, against the numpy-sum floor over the same storages; anonymous RSS growth.
- ``stats-device FILE``: ``iter_stats(device="cuda")`` (an error result without CUDA).
- ``diff-workers A B``: ``diff_checkpoints`` on every core and on one, and the floor.
- ``cli``: one CLI call (``stats``/``diff``/``info`` on a small file) timed from outside
  by the figure; this probe only reports whether torch got imported.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from tests.benchmarks.probes import (
    RESULT_PREFIX,
    AnonPeak,
    max_rss_mb,
    numpy_sum_storages,
    unique_storages,
    warm,
)

CPU: dict[str, list[float]] = {}  # CPU seconds of each timed run, by series


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the statistics' and diff's
    worker processes are joined at the end of each run)."""
    t = os.times()  # children in clock ticks; this process to the nanosecond
    return time.process_time() + t.children_user + t.children_system


def _stats_once(path: str, workers: int | None, device: str = "cpu",
                series: str = "") -> tuple[float, int]:
    from inspector.core.formats import open_checkpoint
    from inspector.core.stats import iter_stats

    nbytes = 0
    with open_checkpoint(path) as ck:
        t0, c0 = time.perf_counter(), cpu_seconds()
        for item in iter_stats(ck, workers=workers, device=device):
            nbytes = item.progress.bytes_total
        if series:
            CPU.setdefault(series, []).append(cpu_seconds() - c0)
        return time.perf_counter() - t0, nbytes


def stats_scaling(path: str, repeat: int) -> dict:
    from inspector.core.formats import open_checkpoint
    from inspector.core.stats.parallel import usable_cores

    warm(path)
    with open_checkpoint(path) as ck:
        storages = unique_storages(ck, [info for _, info in ck.tensors()])
    nbytes = sum(s[2] for s in storages)
    floor, one, many = [], [], []
    _stats_once(path, None)  # warm-up: page tables, lazily imported modules
    with AnonPeak() as peak:
        for _ in range(repeat):
            t0 = time.perf_counter()
            numpy_sum_storages(storages)
            floor.append(time.perf_counter() - t0)
            many.append(_stats_once(path, None, series="many")[0])
            one.append(_stats_once(path, 1, series="one")[0])
    from inspector.core.stats import fused

    return {"bytes": nbytes, "floor": floor, "one": one, "many": many, "pass2": fused.status(),
            "cpu_one": CPU["one"], "cpu_many": CPU["many"],
            "cores": usable_cores(), "anon_growth_mb": peak.growth_mb,
            "max_rss_mb": max_rss_mb()}


def stats_device(path: str, repeat: int) -> dict:
    try:
        import torch
    except ImportError:
        return {"skipped": "no torch"}
    if not torch.cuda.is_available():
        return {"skipped": "no CUDA device"}
    warm(path)
    _stats_once(path, None, "cuda")
    samples = []
    nbytes = 0
    for _ in range(repeat):
        dt, nbytes = _stats_once(path, None, "cuda")
        samples.append(dt)
    return {"bytes": nbytes, "samples": samples, "gpu": torch.cuda.get_device_name(0)}


def diff_workers(path_a: str, path_b: str, repeat: int) -> dict:
    from inspector.core.diff import align, diff_checkpoints
    from inspector.core.formats import open_checkpoint
    from inspector.core.stats.parallel import usable_cores

    warm(path_a)
    warm(path_b)
    with open_checkpoint(path_a) as ca, open_checkpoint(path_b) as cb:
        pairs = [p for p in align(ca, cb).pairs if p.info_a is not None and p.info_b is not None]
        storages = (unique_storages(ca, [p.info_a for p in pairs]) +
                    unique_storages(cb, [p.info_b for p in pairs]))
    nbytes = sum(s[2] for s in storages)
    floor, one, many = [], [], []
    counts: dict = {}
    diff_checkpoints(path_a, path_b)  # warm-up
    with AnonPeak() as peak:
        for _ in range(repeat):
            t0 = time.perf_counter()
            numpy_sum_storages(storages)
            floor.append(time.perf_counter() - t0)
            t0, c0 = time.perf_counter(), cpu_seconds()
            report = diff_checkpoints(path_a, path_b)
            many.append(time.perf_counter() - t0)
            CPU.setdefault("many", []).append(cpu_seconds() - c0)
            t0, c0 = time.perf_counter(), cpu_seconds()
            diff_checkpoints(path_a, path_b, workers=1)
            one.append(time.perf_counter() - t0)
            CPU.setdefault("one", []).append(cpu_seconds() - c0)
            counts = {k: v for k, v in report.summary.counts().items() if v}
    from inspector.core.stats import fused

    return {"bytes": nbytes, "floor": floor, "one": one, "many": many, "pass2": fused.status(), "counts": counts,
            "cpu_one": CPU["one"], "cpu_many": CPU["many"],
            "cores": usable_cores(), "anon_growth_mb": peak.growth_mb,
            "torch_imported": "torch" in sys.modules}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="One speed measurement (run by the suite).")
    sub = ap.add_subparsers(dest="kind", required=True)
    for kind in ("stats-scaling", "stats-device"):
        p = sub.add_parser(kind)
        p.add_argument("file")
        p.add_argument("--repeat", type=int, default=3)
    p = sub.add_parser("diff-workers")
    p.add_argument("file_a")
    p.add_argument("file_b")
    p.add_argument("--repeat", type=int, default=3)
    p = sub.add_parser("cli")
    p.add_argument("args", nargs=argparse.REMAINDER)
    args = ap.parse_args(argv)
    if args.kind == "stats-scaling":
        out = stats_scaling(args.file, args.repeat)
    elif args.kind == "stats-device":
        out = stats_device(args.file, args.repeat)
    elif args.kind == "diff-workers":
        out = diff_workers(args.file_a, args.file_b, args.repeat)
    else:
        import contextlib
        import io

        from inspector.cli import main as cli_main

        with contextlib.redirect_stdout(io.StringIO()):
            code = cli_main(args.args)
        out = {"code": code, "torch_imported": "torch" in sys.modules}
    print(RESULT_PREFIX + json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
