"""Benchmark: what listing a checkpoint behind a URL fetches, and remote statistics (issue 16).

    python -m tests.benchmarks.bench_remote [--repeat 3] [--stats-mb 256] [--json OUT]

Writes sparse 1 GiB checkpoints (a torch zip of 16 x 64 MiB tensors, a GPT-2-like torch zip of
288 tensors, the same 288 tensors as safetensors), serves them with nginx on 127.0.0.1 (the
Debian package, started with its own configuration) and opens each URL ``--repeat`` times:
bytes and requests fetched (ours, and nginx's access log), and the listing time (median, over
loopback: a real network adds its round trips, 2 for safetensors, one per tensor for a zip
in batches of 8). Then ``stats --json`` of a ``--stats-mb`` MiB random safetensors file over
the URL (cold cache: every byte fetched into the disk cache; warm: read from it) against the
local file, and checks the two JSON documents are equal. Target: listing 1 GiB <= 1 MiB.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGET_BYTES = 1 << 20


def _files(root: Path) -> list[str]:
    import torch

    from tests.core.test_remote import sparse_safetensors, sparse_torch_save

    sparse_torch_save({f"layers.{i}.weight": torch.zeros(1024, 16384) for i in range(16)},
                      root / "zip16.pth")
    sparse_torch_save({f"h.{i}.w": torch.zeros(1024, 910) for i in range(288)},
                      root / "zip288.pth")
    sparse_safetensors(root / "st288.safetensors",
                       {f"h.{i}.w": ([1024, 910], 1024 * 910 * 4) for i in range(288)})
    return ["zip16.pth", "zip288.pth", "st288.safetensors"]


def _stats_json(target: str) -> tuple[dict, float]:
    from inspector.cli import main

    out = io.StringIO()
    t = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = main(["stats", target, "--json"])
    if code:
        raise RuntimeError(f"stats {target} exited {code}")
    return json.loads(out.getvalue()), time.perf_counter() - t


def run(repeat: int, stats_mb: int) -> dict:
    import os

    import torch
    from safetensors.torch import save_file

    from inspector.core.formats import open_checkpoint
    from tests.remote_servers import Nginx, nginx_binary

    if nginx_binary() is None:
        raise SystemExit("nginx is not installed (apt-get install -y nginx)")
    with tempfile.TemporaryDirectory(prefix="bench-remote-") as tmp:
        root = Path(tmp) / "www"
        root.mkdir()
        os.environ["INSPECTOR_REMOTE_CACHE_DIR"] = str(Path(tmp) / "cache")
        names = _files(root)
        n = stats_mb * (1 << 20) // 4 // 1024
        save_file({f"w{i}": torch.randn(n // 8, 1024) for i in range(8)},
                  str(root / "stats.safetensors"))
        server = Nginx(root, Path(tmp) / "nginx")
        rows = []
        try:
            for name in names:
                times, fetched, requests, sent = [], 0, 0, 0
                for _ in range(repeat):
                    before = server.bytes_sent(name)
                    t = time.perf_counter()
                    with open_checkpoint(f"{server.url}/{name}") as ck:
                        times.append(time.perf_counter() - t)
                        fetched = ck.details["remote"]["bytes_fetched"]
                        requests = ck.details["remote"]["requests"]
                        tensors = ck.totals()["num_tensors"]
                    time.sleep(0.1)
                    sent = server.bytes_sent(name) - before
                rows.append({"file": name, "size": os.path.getsize(root / name),
                             "tensors": tensors, "bytes_fetched": fetched,
                             "nginx_bytes_sent": sent, "requests": requests,
                             "list_s": statistics.median(times),
                             "ok": fetched <= TARGET_BYTES})
            local, t_local = _stats_json(str(root / "stats.safetensors"))
            cold, t_cold = _stats_json(f"{server.url}/stats.safetensors")
            warm, t_warm = _stats_json(f"{server.url}/stats.safetensors")
        finally:
            server.stop()
    same = local["tensors"] == cold["tensors"] == warm["tensors"]
    return {"listing": rows, "stats": {"mib": stats_mb, "local_s": t_local, "url_cold_s": t_cold,
                                       "url_warm_s": t_warm, "same_json": same}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--stats-mb", type=int, default=256)
    p.add_argument("--json", metavar="OUT")
    args = p.parse_args(argv)
    result = run(args.repeat, args.stats_mb)
    for r in result["listing"]:
        print(f"{r['file']:>18}: {r['size'] / (1 << 30):.2f} GiB, {r['tensors']} tensors: fetched "
              f"{r['bytes_fetched'] / 1024:.1f} KiB (nginx: {r['nginx_bytes_sent'] / 1024:.1f} KiB) "
              f"in {r['requests']} requests, listed in {r['list_s'] * 1000:.0f} ms "
              f"{'OK' if r['ok'] else 'OVER 1 MiB'}")
    s = result["stats"]
    print(f"stats --json of {s['mib']} MiB: local {s['local_s']:.2f} s, URL cold cache "
          f"{s['url_cold_s']:.2f} s, warm {s['url_warm_s']:.2f} s; same JSON: {s['same_json']}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0 if all(r["ok"] for r in result["listing"]) and s["same_json"] else 1


if __name__ == "__main__":
    sys.exit(main())
