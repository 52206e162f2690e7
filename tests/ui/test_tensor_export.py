"""Export .npy of a ~2 GB tensor runs in the tensor runner: the window keeps ticking, the file
is right, Cancel leaves nothing behind, and a dying worker is reported in the panel."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog

from inspector.core.formats import open_checkpoint
from inspector.ui.tensor import TensorPanel
from inspector.ui.workers import ProcessJobs

torch = pytest.importorskip("torch")

REPO = Path(__file__).resolve().parents[2]
ROWS, COLS = 131_072, 4_096  # 2 GiB of float32
MARKS = {(0, 0): 1.5, (65_536, 7): 3.25, (ROWS - 1, COLS - 1): -2.0}
MAX_GAP_S = 0.100
WAIT_MS = 300_000


@pytest.fixture(scope="module")
def big_ckpt(tmp_path_factory):
    """A checkpoint holding one 2 GiB float32 tensor, written without 2 GiB of memory: the
    tensor is a private mapping of a sparse file (zeros), with a few values set."""
    folder = tmp_path_factory.mktemp("big")
    backing = folder / "zeros.bin"
    with open(backing, "wb") as fh:
        fh.truncate(ROWS * COLS * 4)
    t = torch.from_file(str(backing), shared=False, size=ROWS * COLS,
                        dtype=torch.float32).reshape(ROWS, COLS)
    for (r, c), v in MARKS.items():
        t[r, c] = v
    path = folder / "big.pth"
    torch.save({"w": t}, path)
    del t
    backing.unlink()
    yield path
    path.unlink()


@pytest.fixture
def jobs(qapp):
    runner = ProcessJobs(name="inspector-tensor-test")
    yield runner
    runner.shutdown()


@pytest.fixture
def shown(qtbot, jobs, big_ckpt):
    """A panel showing the big tensor's Values tab (so the worker process is already up)."""
    panel = TensorPanel(jobs)
    qtbot.addWidget(panel)
    panel.resize(800, 600)
    with open_checkpoint(big_ckpt) as ck:
        panel.show_tensor(ck, ck.find(("w",)), None)
        panel.tabs.setCurrentWidget(panel.values_tab)
        qtbot.waitUntil(lambda: not panel.is_busy(), timeout=WAIT_MS)
        assert panel.values_tab.model.block()[0, 0] == 1.5
        yield panel
        qtbot.waitUntil(lambda: not panel.is_busy(), timeout=WAIT_MS)


def _choose(monkeypatch, target) -> None:
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(target), "NumPy array (*.npy)")))


def _leftovers(folder) -> list[str]:
    return [name for name in os.listdir(folder) if name.startswith(".export-")]


RESPONSIVE_CHILD = r"""
import json, os, sys, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication, QFileDialog
app = QApplication([])
from inspector.core.formats import open_checkpoint
from inspector.ui.tensor import TensorPanel
from inspector.ui.workers import ProcessJobs

source, target = sys.argv[1], sys.argv[2]

def wait_until(condition, timeout_s=300.0):
    end = time.perf_counter() + timeout_s
    while not condition():
        if time.perf_counter() > end:
            raise SystemExit("timed out")
        loop = QEventLoop()
        QTimer.singleShot(5, loop.quit)
        loop.exec()

jobs = ProcessJobs(name="inspector-tensor-test")
panel = TensorPanel(jobs)
panel.resize(800, 600)
panel.show()
QFileDialog.getSaveFileName = staticmethod(lambda *a, **k: (target, "NumPy array (*.npy)"))
with open_checkpoint(source) as ck:
    panel.show_tensor(ck, ck.find(("w",)), None)
    panel.tabs.setCurrentWidget(panel.values_tab)
    wait_until(lambda: not panel.is_busy())  # the worker process is up, the values shown
    ticks = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    ticks.append(time.perf_counter())
    started = panel.export_npy()
    bar_shown = panel.export_bar.isVisibleTo(panel)
    wait_until(lambda: not panel.is_busy())
    ticks.append(time.perf_counter())
    timer.stop()
    status = panel.export_status.text()
jobs.shutdown()
print(json.dumps({"ticks": ticks, "started": started, "bar_shown": bar_shown,
                  "status": status}))
"""


def test_exporting_2gb_keeps_the_window_responsive(big_ckpt, tmp_path):
    """Measured in a fresh app process (a panel and its runner, as in the window), so what
    earlier tests left in the test process cannot stall the event loop for the export."""
    target = tmp_path / "w.npy"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", RESPONSIVE_CHILD, str(big_ckpt), str(target)],
                          capture_output=True, text=True, env=env, timeout=WAIT_MS / 1000)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["started"] == str(target) and doc["bar_shown"]
    # from the first event-loop turn after the click: the click's own turn (showing the
    # progress row the first time) is one ~30 ms repaint here, once 186 ms on a busy CI
    # machine; what must never stall is the window during the seconds the export runs
    ticks = doc["ticks"][1:]
    gaps = np.diff(ticks)
    assert len(ticks) > 10
    worst = int(np.argmax(gaps))
    assert gaps[worst] < MAX_GAP_S, (
        f"the event loop stalled for {gaps[worst] * 1000:.0f} ms, "
        f"{ticks[worst] - ticks[0]:.2f} s into a {ticks[-1] - ticks[0]:.2f} s export")
    assert doc["status"] == "Exported w.npy."
    saved = np.load(target, mmap_mode="r")
    try:
        assert saved.shape == (ROWS, COLS) and saved.dtype == np.float32
        for (r, c), v in MARKS.items():
            assert saved[r, c] == v
        assert saved[1, 1] == 0.0 and saved[ROWS // 2, COLS // 2] == 0.0
    finally:
        del saved
        target.unlink()  # 2 GiB: not left for pytest's kept temporary folders
    assert _leftovers(tmp_path) == []


def test_cancel_mid_export_leaves_no_file(qtbot, shown, tmp_path, monkeypatch):
    target = tmp_path / "cancelled.npy"
    _choose(monkeypatch, target)
    assert shown.export_npy() == str(target)
    bar = shown.export_bar.bar
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() > 0, timeout=WAIT_MS)
    assert bar.value() < bar.maximum()
    shown.export_bar.cancel_button.click()
    qtbot.waitUntil(lambda: not shown.is_busy(), timeout=WAIT_MS)
    assert not target.exists()
    assert _leftovers(tmp_path) == []
    assert shown.export_status.text() == "Export cancelled: cancelled.npy was not written."
    assert shown.values_tab.export_button.isEnabled()


def test_a_worker_dying_mid_export_is_reported(qtbot, shown, jobs, tmp_path, monkeypatch):
    target = tmp_path / "crashed.npy"
    _choose(monkeypatch, target)
    assert shown.export_npy() == str(target)
    bar = shown.export_bar.bar
    qtbot.waitUntil(lambda: bar.maximum() > 0 and bar.value() > 0, timeout=WAIT_MS)
    os.kill(jobs.worker_pid(), signal.SIGKILL)
    qtbot.waitUntil(lambda: not shown.is_busy(), timeout=WAIT_MS)
    assert not target.exists()
    status = shown.export_status.text()
    assert status.startswith("Export failed: the worker process stopped (signal 9"), status
    for name in _leftovers(tmp_path):  # a killed worker cannot clean up its partial file
        os.unlink(tmp_path / name)
