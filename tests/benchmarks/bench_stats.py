"""Benchmark helper for ``inspector.core.stats`` (not collected by pytest; run on demand).

    python tests/benchmarks/bench_stats.py [--mb 512] [--small 20000] [--dtype float32]

Writes checkpoints into a temporary folder, warms the page cache, then reports GB/s for
all tensors of a big file (exact histograms) and the time for many small tensors.
The benchmark suite (``python -m tests.benchmarks``) uses :func:`stats_samples`,
:func:`_warm` and :func:`_write_small`.
"""

from __future__ import annotations

import argparse
import mmap
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def _write_big(path: str, mb: int, dtype: str) -> int:
    import torch

    torch.manual_seed(0)
    dt = getattr(torch, dtype)
    itemsize = torch.empty(0, dtype=dt).element_size()
    per = 64 << 20  # 64 MiB tensors, like the big matrices of a real model
    total = mb << 20
    sd = {}
    i = 0
    while total > 0:
        n = min(per, total) // itemsize
        sd[f"layer{i}.weight"] = (torch.randn(n) * 0.02).to(dt)
        total -= n * itemsize
        i += 1
    torch.save(sd, path)
    return sum(t.numel() * t.element_size() for t in sd.values())


def _write_small(path: str, count: int) -> None:
    import torch

    torch.manual_seed(0)
    torch.save({f"block{i}.{kind}": torch.randn(64) for i in range(count // 2)
                for kind in ("weight", "bias")}, path)


def _warm(path: str) -> None:
    with open(path, "rb") as fh:
        while fh.read(16 << 20):
            pass


def stats_samples(path: str, repeats: int = 3, bins: int = 64) -> tuple[int, list[float]]:
    """Seconds of ``repeats`` full ``iter_stats`` runs over ``path`` (page cache warmed first).

    Returns ``(tensor bytes per run, [seconds, ...])``; the suite reports their median.
    """
    from inspector.core.formats import open_checkpoint
    from inspector.core.stats import iter_stats

    _warm(path)
    samples = []
    nbytes = 0
    for _ in range(repeats):
        with open_checkpoint(path) as ck:
            t0 = time.perf_counter()
            for item in iter_stats(ck, bins=bins):
                nbytes = item.progress.bytes_total
            samples.append(time.perf_counter() - t0)
    return nbytes, samples


class _Clock:
    """Wall and process-CPU time of the ``with`` block."""

    def __enter__(self) -> _Clock:
        self.t0, self.c0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.t0
        self.cpu = time.process_time() - self.c0


def _timed(fn, repeats: int) -> dict:
    """``fn()`` returns the _Clock of the part it times."""
    walls, cpus = [], []
    for _ in range(repeats):
        clock = fn()
        walls.append(clock.wall)
        cpus.append(clock.cpu)
    return {"seconds": min(walls), "median_seconds": statistics.median(walls),
            "cpu_seconds": statistics.median(cpus)}


def bench_floor(path: str, repeats: int = 3) -> dict:
    """The floor: a float64-accumulated sum of the mapped file's bytes read as float32, in
    1 Mi-element blocks (a fresh mapping each time, as open_checkpoint makes)."""
    import numpy as np

    _warm(path)
    nbytes = os.path.getsize(path) // 4 * 4

    def run() -> _Clock:
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            with _Clock() as clock:
                x = np.frombuffer(mm, dtype=np.float32, count=nbytes // 4)
                for i in range(0, x.size, 1 << 20):
                    np.add.reduce(x[i:i + (1 << 20)], dtype=np.float64)
                del x
        return clock

    t = _timed(run, repeats)
    return {"bytes": nbytes, **t, "gb_per_s": nbytes / t["seconds"] / 1e9,
            "cpu_gb_per_s": nbytes / t["cpu_seconds"] / 1e9}


def bench_big(path: str, repeats: int = 3, bins: int = 64) -> dict:
    """Best-of-``repeats`` throughput of ``iter_stats`` over every tensor of ``path``."""
    from inspector.core.formats import open_checkpoint
    from inspector.core.stats import iter_stats

    _warm(path)
    nbytes = 0

    def run() -> _Clock:
        nonlocal nbytes
        with open_checkpoint(path) as ck, _Clock() as clock:
            for item in iter_stats(ck, bins=bins):
                nbytes = item.progress.bytes_total
        return clock

    t = _timed(run, repeats)
    return {"bytes": nbytes, **t, "gb_per_s": nbytes / t["seconds"] / 1e9,
            "cpu_gb_per_s": nbytes / t["cpu_seconds"] / 1e9,
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def bench_small(path: str, repeats: int = 3) -> dict:
    """Best-of-``repeats`` time of ``iter_stats`` over every tensor of ``path`` (listing
    included, opening not)."""
    from inspector.core.formats import open_checkpoint
    from inspector.core.stats import iter_stats

    _warm(path)
    n = 0

    def run() -> _Clock:
        nonlocal n
        with open_checkpoint(path) as ck, _Clock() as clock:
            n = sum(1 for _ in iter_stats(ck))
        return clock

    t = _timed(run, repeats)
    return {"tensors": n, **t, "us_per_tensor": t["seconds"] / max(n, 1) * 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=512)
    ap.add_argument("--small", type=int, default=20000)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--torch-loaded", action="store_true",
                    help="import torch first (as the GUI's worker does)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        big = os.path.join(tmp, "big.pth")
        small = os.path.join(tmp, "small.pth")
        # written by a child process, so this one imports torch only if asked to
        code = (f"import sys; sys.path.insert(0, {os.path.dirname(__file__)!r}); "
                f"import bench_stats as b; b._write_big({big!r}, {args.mb}, {args.dtype!r}); "
                f"b._write_small({small!r}, {args.small})")
        subprocess.run([sys.executable, "-c", code], check=True)
        if args.torch_loaded:
            import torch  # noqa: F401
        floor = bench_floor(big)
        result = bench_big(big)
        print("floor", floor)
        print("big  ", result)
        print(f"big/floor: {result['gb_per_s'] / floor['gb_per_s']:.3f} wall, "
              f"{result['cpu_gb_per_s'] / floor['cpu_gb_per_s']:.3f} cpu")
        print("small", bench_small(small))


if __name__ == "__main__":
    main()
