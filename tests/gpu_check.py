"""GPU check for the train-vs-eval runs; run by hand on a machine with CUDA:

    .venv/bin/python tests/gpu_check.py

Lists the devices, runs the bundled demo checkpoint on cuda:0 in float32, bfloat16 (when the
GPU supports it) and float16, checks that the loaded weights are unchanged, that eval mode is
deterministic (spread 0) and train mode is not, and that the file was not modified; then
statistics and diff with ``device="cuda"`` on a ~1 GiB file (GB/s, and the results against
the CPU path: counts/histograms identical, sums within 1e-12; issue #13); prints a JSON
summary. Exit code 0: all good, 1: a check failed, 2: no CUDA device.
Not collected by pytest (no test_ functions).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
import traceback


def _sha(path: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def _checkpoint() -> str:
    from inspector.core.demo import make_demo
    from inspector.core.resources import demo_checkpoint

    demo = demo_checkpoint()
    folder = str(demo.parent) if demo is not None else None
    if folder and os.path.isfile(os.path.join(folder, "demo_epoch_3.pth")):
        return os.path.join(folder, "demo_epoch_3.pth")
    return make_demo(tempfile.mkdtemp(prefix="gpu_check_"), epochs=1, samples=64)[0].path


def main() -> int:
    import torch

    from inspector.core.devices import list_devices
    from inspector.core.inference import RunConfig, run_demo

    summary: dict = {"torch": torch.__version__, "devices": [d.to_json() for d in list_devices()],
                     "runs": [], "ok": True}
    if not torch.cuda.is_available():
        summary["ok"] = False
        summary["error"] = "no CUDA device available"
        print(json.dumps(summary, indent=2))
        return 2
    path = _checkpoint()
    digest = _sha(path)
    cuda = next(d for d in list_devices() if d.name == "cuda:0")
    for dtype in ("float32", "bfloat16", "float16"):
        entry: dict = {"device": "cuda:0", "dtype": dtype}
        if dtype not in cuda.dtypes:
            entry["skipped"] = cuda.notes.get(dtype, "not supported")
            summary["runs"].append(entry)
            continue
        t0 = time.perf_counter()
        try:
            r = run_demo(RunConfig(path, device="cuda:0", dtype=dtype, runs=20, batch_size=8))
        except Exception as e:  # noqa: BLE001 - report every failure in the summary
            entry.update(ok=False, error=f"{type(e).__name__}: {e}",
                         traceback=traceback.format_exc())
            summary["ok"] = False
            summary["runs"].append(entry)
            continue
        doc = r.to_json()
        checks = {
            "weights_unchanged": r.weights_unchanged,
            "eval_spread_zero": r.eval.spread == 0.0,
            "train_spread_positive": r.train.spread > 0.0,
            "ran_on_cuda": r.device == "cuda:0",
            "file_unchanged": _sha(path) == digest,
        }
        entry.update(ok=all(checks.values()), checks=checks, seconds=time.perf_counter() - t0,
                     train=doc["train"], eval=doc["eval"],
                     eval_vs_train_mean=doc["eval_vs_train_mean"],
                     bn_running_stats_drift=doc["bn_running_stats_drift"])
        summary["ok"] &= entry["ok"]
        summary["runs"].append(entry)
    # the CPU result for the same input should be close to the cuda float32 one
    try:
        cpu = run_demo(RunConfig(path, device="cpu", runs=2, batch_size=8))
        gpu = run_demo(RunConfig(path, device="cuda:0", runs=2, batch_size=8))
        diff = float(abs(cpu.eval.outputs - gpu.eval.outputs).max())
        summary["cpu_vs_cuda_eval_max_abs_diff"] = diff
        if diff > 1e-3:
            summary["ok"] = False
    except Exception as e:  # noqa: BLE001
        summary["ok"] = False
        summary["cpu_vs_cuda_error"] = f"{type(e).__name__}: {e}"
    try:
        summary["stats_diff"] = stats_diff_check()
        summary["ok"] &= summary["stats_diff"]["ok"]
    except Exception as e:  # noqa: BLE001
        summary["ok"] = False
        summary["stats_diff_error"] = f"{type(e).__name__}: {e}"
        summary["stats_diff_traceback"] = traceback.format_exc()
    print(json.dumps(summary, indent=2))
    return 0 if summary["ok"] else 1


def stats_diff_check(mb: int = 1024, device: str = "cuda") -> dict:
    """Statistics and diff with ``device="cuda"`` (issue #13) on a ~1 GiB float32 file and a
    changed copy, page cache warm: GB/s of the GPU path and of every CPU core, and the
    results against the CPU's (counts, min/max and histograms identical; float64 sums within
    a relative 1e-12)."""
    import math

    import torch

    from inspector.core.diff import diff_checkpoints
    from inspector.core.formats import open_checkpoint
    from inspector.core.stats import iter_stats

    folder = tempfile.mkdtemp(prefix="gpu_check_stats_")
    a, b = os.path.join(folder, "a.pth"), os.path.join(folder, "b.pth")
    g = torch.Generator().manual_seed(0)
    per = 16 << 20  # 64 MiB float32 tensors
    sd = {f"layer{i}.weight": torch.randn(per, generator=g) * 0.02 for i in range(mb // 64)}
    sd["with_nan"] = torch.randn(3 << 20, generator=g)
    sd["with_nan"][::1000] = float("nan")
    sd["bf16"] = torch.randn(8 << 20, generator=g).to(torch.bfloat16)
    torch.save(sd, a)
    torch.save({k: v + (torch.randn(v.shape, generator=g) * 1e-3).to(v.dtype)
                for k, v in sd.items()}, b)
    del sd
    for path in (a, b):
        with open(path, "rb") as fh:
            while fh.read(16 << 20):
                pass
    out: dict = {"ok": True}

    def stats(device: str):
        with open_checkpoint(a) as ck:
            t0 = time.perf_counter()
            items = list(iter_stats(ck, device=device))
            return items, time.perf_counter() - t0

    cpu_items, cpu_s = stats("cpu")
    stats(device)  # warm-up: CUDA context, kernels
    gpu_items, gpu_s = stats(device)
    nbytes = cpu_items[-1].progress.bytes_total
    out["stats_gb_per_s"] = {"cpu_all_cores": nbytes / cpu_s / 1e9,
                             "cuda": nbytes / gpu_s / 1e9}
    worst = 0.0
    for c, d in zip(cpu_items, gpu_items):
        cs, ds = c.stats, d.stats
        for name in ("numel", "min", "max", "zeros", "nan", "inf", "finite", "histogram"):
            if repr(getattr(cs, name)) != repr(getattr(ds, name)):
                out["ok"] = False
                out.setdefault("stats_mismatch", []).append([list(c.path), name])
        for name in ("mean", "std", "abs_mean", "l2"):
            x, y = getattr(cs, name), getattr(ds, name)
            if x is not None and y is not None and math.isfinite(x):
                # the mean and std relative to the spread: a mean near 0 has few exact digits
                scale = abs(cs.mean) + cs.std if name in ("mean", "std") else abs(x)
                worst = max(worst, abs(x - y) / max(scale, 1e-300))
    out["stats_worst_relative_error"] = worst
    out["ok"] &= worst <= 1e-12

    t0 = time.perf_counter()
    cpu_report = diff_checkpoints(a, b)
    cpu_s = time.perf_counter() - t0
    diff_checkpoints(a, b, device=device)
    t0 = time.perf_counter()
    gpu_report = diff_checkpoints(a, b, device=device)
    gpu_s = time.perf_counter() - t0
    pair_bytes = 2 * nbytes
    out["diff_gb_per_s"] = {"cpu_all_cores": pair_bytes / cpu_s / 1e9,
                            "cuda": pair_bytes / gpu_s / 1e9}
    worst = 0.0
    for c, d in zip(cpu_report.entries, gpu_report.entries):
        if (c.status, c.num_diff, c.nan_a, c.nan_b, c.max_abs_diff) != \
                (d.status, d.num_diff, d.nan_a, d.nan_b, d.max_abs_diff):
            out["ok"] = False
            out.setdefault("diff_mismatch", []).append(list(c.path))
        for name in ("mean_abs_diff", "rel_l2", "cosine"):
            x, y = getattr(c, name), getattr(d, name)
            if x is not None and y is not None:
                worst = max(worst, abs(x - y) / max(abs(x), 1e-300))
    out["diff_worst_relative_error"] = worst
    out["ok"] &= worst <= 1e-12
    out["gpu"] = torch.cuda.get_device_name(0) if device.startswith("cuda") else device
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    return out


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
