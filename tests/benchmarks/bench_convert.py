"""Benchmark of ``convert`` (not collected by pytest; run on demand):

    python -m tests.benchmarks.bench_convert [--mb 1024] [--workdir DIR] [--json OUT]

Writes a checkpoint of ``--mb`` MiB (float32 tensors of 64 MiB, like a model's big
matrices, plus a few small ones and a tied pair) with torch.save, then converts it in fresh
child processes, one per case, and reports each child's **peak resident memory** (VmHWM:
everything the process ever held at once, Python and numpy included) and the time. Target:
< 200 MB peak for a 1 GB file (issue #15). The child never imports torch: the conversion
path is numpy-only, and bytes are read with pread, so the file's pages stay in the page
cache instead of the process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

TARGET_MB = 200
CASES = {
    "safetensors": ("model.safetensors", {}),
    "safetensors+bfloat16": ("bf16.safetensors", {"dtype": "bfloat16"}),
    "sharded 256MB": ("sharded", {"max_shard_size": 256 << 20}),
    "weights-only pth": ("weights.pth", {}),
}

_CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
from inspector.core.convert import ConvertOptions, convert
src, dst, opts = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
report = convert(src, dst, ConvertOptions(**opts))
elapsed = time.perf_counter() - t0
status = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
print(json.dumps({"ok": report.ok, "seconds": elapsed, "verified": report.verify.checked,
                  "peak_mb": int(status["VmHWM"].split()[0]) / 1024,
                  "torch_imported": "torch" in sys.modules, "bytes": report.tensor_bytes}))
"""

_BASELINE = r"""
import sys
import numpy, inspector.core.convert, inspector.core.formats
status = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
print(int(status["VmHWM"].split()[0]) / 1024)
"""


def write_source(path: str, mb: int) -> int:
    """A float32 state_dict of ``mb`` MiB, written by torch.save in a child process."""
    code = (
        "import sys, torch\n"
        "torch.manual_seed(0)\n"
        "total, per, sd, i = int(sys.argv[2]) << 20, 64 << 20, {}, 0\n"
        "while total > 0:\n"
        "    n = min(per, total) // 4\n"
        "    sd[f'layer{i}.weight'] = torch.randn(n) * 0.02\n"
        "    total -= n * 4; i += 1\n"
        "sd['small.bias'] = torch.zeros(10); sd['tied'] = sd['layer0.weight']\n"
        "torch.save(sd, sys.argv[1])\n")
    subprocess.run([sys.executable, "-c", code, path, str(mb)], check=True)
    return os.path.getsize(path)


def run_case(src: str, dst: str, options: dict) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, src, dst, json.dumps(options)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.benchmarks.bench_convert",
                                 description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=1024, help="source size in MiB (default 1024)")
    ap.add_argument("--workdir", help="folder for the files (default: a temporary folder)")
    ap.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    args = ap.parse_args(argv)
    work = args.workdir or tempfile.mkdtemp(prefix="bench-convert-")
    os.makedirs(work, exist_ok=True)
    try:
        src = os.path.join(work, "source.pth")
        if not os.path.exists(src):
            write_source(src, args.mb)
        size = os.path.getsize(src)
        base = float(subprocess.run([sys.executable, "-c", _BASELINE], check=True,
                                    capture_output=True, text=True).stdout)
        print(f"source: {size / 2**20:.0f} MiB torch.save file; baseline peak (python + numpy "
              f"+ inspector imported): {base:.0f} MB; target: peak < {TARGET_MB} MB")
        print(f"{'case':24} {'peak MB':>8} {'seconds':>8} {'MB/s':>7}  verdict")
        rows = []
        for name, (dst_name, options) in CASES.items():
            dst = os.path.join(work, dst_name)
            if os.path.isdir(dst):
                shutil.rmtree(dst)
            elif os.path.exists(dst):
                os.unlink(dst)
            t0 = time.perf_counter()
            result = run_case(src, dst, options)
            result["wall_seconds"] = time.perf_counter() - t0
            verdict = "PASS" if result["ok"] and result["peak_mb"] < TARGET_MB else "MISS"
            rate = 2 * result["bytes"] / 2**20 / result["seconds"]  # written + verified
            print(f"{name:24} {result['peak_mb']:8.0f} {result['seconds']:8.1f} {rate:7.0f}  "
                  f"{verdict}{'  (torch imported!)' if result['torch_imported'] else ''}")
            rows.append({"case": name, **result, "verdict": verdict})
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"source_bytes": size, "baseline_mb": base, "rows": rows}, fh,
                          indent=2)
        return 0 if all(r["verdict"] == "PASS" for r in rows) else 1
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
