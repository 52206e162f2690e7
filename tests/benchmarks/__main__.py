"""Benchmark suite (issue #7): ``python -m tests.benchmarks [--size tiny|small|full] ...``.

Writes deterministic workloads into a temporary folder (see ``workloads.py``), measures
every figure ``--repeat`` times, each in fresh child processes (``probes.py``), and prints
a table: median, spread (min .. max), the floor measured in the same run, the ratio to it,
the target and PASS/MISS. ``--json OUT`` also writes every sample. Run it from the
repository root; ``--size full`` needs ~4.5 GB of disk and finishes in a few minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from importlib import metadata

from tests.benchmarks import (
    figures_speed,  # noqa: F401 - registers the #13 figures
    workloads,
)
from tests.benchmarks.figures import FIGURES, ROOT, BenchError, Context, table

DEFAULT_REPEAT = {"tiny": 3, "small": 5, "full": 5}


def machine_facts() -> dict:
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {"cpus": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)),
            "loadavg": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "platform": platform.platform(),
            "torch": version("torch"), "numpy": version("numpy"),
            "PySide6": version("PySide6-Essentials") if version("PySide6") == "not installed"
            else version("PySide6"), "pyqtgraph": version("pyqtgraph")}


def _gpt2_bytes(size: workloads.Size) -> int:
    return size.gpt2_params() * 4


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.benchmarks",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=list(workloads.SIZES), default="small")
    ap.add_argument("--repeat", type=int, help="measurements per figure (default: 3 tiny, 5 else)")
    ap.add_argument("--only", nargs="+", choices=list(FIGURES), metavar="NAME",
                    help=f"run only these figures ({', '.join(FIGURES)})")
    ap.add_argument("--json", metavar="OUT", help="write all samples and rows as JSON")
    ap.add_argument("--workdir", metavar="DIR",
                    help="keep the workloads in DIR and reuse them next time (default: a "
                         "temporary folder, removed at the end)")
    args = ap.parse_args(argv)
    size = workloads.SIZES[args.size]
    repeat = max(1, args.repeat or DEFAULT_REPEAT[args.size])
    names = args.only or list(FIGURES)
    started = time.monotonic()

    facts = machine_facts()
    print(f"# Checkpoint Inspector benchmarks — size {size.name}, repeat {repeat}, "
          f"{facts['cpus_usable']} usable cores")
    print("machine: " + ", ".join(f"{k} {v}" for k, v in facts.items()), flush=True)

    folder = args.workdir or tempfile.mkdtemp(prefix="inspector-bench-")
    os.makedirs(folder, exist_ok=True)
    need = 3.3 * _gpt2_bytes(size) + 128 * 2**20
    free = shutil.disk_usage(folder).free
    if free < need:
        print(f"error: {folder} has {free / 2**30:.1f} GiB free; size {size.name} needs "
              f"{need / 2**30:.1f} GiB", file=sys.stderr)
        return 2
    try:
        t0 = time.monotonic()
        import subprocess

        subprocess.run([sys.executable, "-m", "tests.benchmarks.workloads", "--size", size.name,
                        folder], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(folder, workloads.MANIFEST), encoding="utf-8") as fh:
            manifest = json.load(fh)
        files = ", ".join(f"{n} {b / 2**20:,.1f} MiB" for n, b in manifest["files"].items())
        print(f"workloads: {files} in {folder} ({time.monotonic() - t0:.1f} s)", flush=True)

        # the app's modules byte-compiled, as an installed app has them (pip compiles them at
        # install; an editable install writes them on first launch); the probes themselves
        # run with PYTHONDONTWRITEBYTECODE and write nothing
        subprocess.run([sys.executable, "-m", "compileall", "-q", "inspector"], cwd=ROOT,
                       check=True, stdout=subprocess.DEVNULL)
        ctx = Context(size=size, folder=folder, repeat=repeat)
        rows = []
        for name in names:
            t0 = time.monotonic()
            try:
                new = FIGURES[name](ctx)
            except BenchError as e:
                print(f"error: figure {name}: {e}", file=sys.stderr)
                return 1
            rows += new
            print(f"figure {name}: {len(new)} rows in {time.monotonic() - t0:.1f} s", flush=True)
    finally:
        if not args.workdir:
            shutil.rmtree(folder, ignore_errors=True)

    print()
    print(table(rows))
    print()
    misses = [r for r in rows if r.verdict == "MISS"]
    note = "" if size.name == "full" else " (targets are set for --size full)"
    print(f"targets: {sum(r.verdict == 'PASS' for r in rows)} PASS, {len(misses)} MISS{note}")
    elapsed = time.monotonic() - started
    load_end = [round(x, 2) for x in os.getloadavg()]
    print(f"total {elapsed:.1f} s; load average at start {facts['loadavg']}, at end {load_end}")
    if args.json:
        doc = {"size": size.name, "repeat": repeat, "machine": facts, "loadavg_end": load_end,
               "elapsed_s": elapsed, "workloads": manifest, "rows": [r.to_json() for r in rows],
               "raw": ctx.raw}
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=1)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
