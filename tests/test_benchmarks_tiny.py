"""The benchmark suite runs end to end at ``--size tiny`` (no timing assertions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 600  # several app processes and torch imports on a possibly busy machine
FIGURES = ("open", "stats", "diff", "responsiveness", "startup", "cores", "cli", "open-ratio")


def test_suite_runs_at_tiny_size(tmp_path):
    out = tmp_path / "bench.json"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"))
    proc = subprocess.run([sys.executable, "-m", "tests.benchmarks", "--size", "tiny",
                           "--repeat", "1", "--workdir", str(tmp_path / "work"),
                           "--json", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    text = proc.stdout
    assert "machine: cpus" in text and "torch" in text and "numpy" in text
    rows = [ln for ln in text.splitlines() if ln.startswith("| ")]
    for figure in FIGURES:
        assert any(ln.startswith(f"| {figure} |") for ln in rows), f"no {figure} row:\n{text}"
    assert "targets:" in text
    doc = json.loads(out.read_text())
    assert {r["figure"] for r in doc["rows"]} == set(FIGURES)
    for row in doc["rows"]:
        if "not measured" in row["label"]:  # the GPU row on a machine without CUDA
            assert not row["samples"] and row["verdict"] == "", row
            continue
        assert row["samples"], row
        assert all(v == v and v >= 0 for v in row["samples"]), row  # numbers, not NaN
        if row["target"] is not None:
            assert row["verdict"] in ("PASS", "MISS"), row
    assert doc["machine"]["cpus"] >= 1
