"""GPU check for the train-vs-eval runs; run by hand on a machine with CUDA:

    .venv/bin/python tests/gpu_check.py

Lists the devices, runs the bundled demo checkpoint on cuda:0 in float32, bfloat16 (when the
GPU supports it) and float16, checks that the loaded weights are unchanged, that eval mode is
deterministic (spread 0) and train mode is not, and that the file was not modified; prints a
JSON summary. Exit code 0: all good, 1: a check failed, 2: no CUDA device.
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
    print(json.dumps(summary, indent=2))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
