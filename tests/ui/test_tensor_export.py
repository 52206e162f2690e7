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
ATTEMPTS = 3  # a stall of our own repeats on every attempt; one of a busy machine does not


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
import json, os, resource, sys, time
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
    ticks, cpu = [], []
    def tick():
        ticks.append(time.perf_counter())
        # what the GUI thread itself computed: user-mode and kernel CPU (system calls, and
        # memory reclaim the kernel may charge to any thread that allocates)
        use = resource.getrusage(resource.RUSAGE_THREAD)
        cpu.append((use.ru_utime, use.ru_stime))
    def io():  # bytes the GUI thread read or wrote through system calls
        try:
            with open("/proc/thread-self/io") as fh:
                fields = dict(line.split(":") for line in fh)
            return int(fields["rchar"]) + int(fields["wchar"])
        except OSError:
            return None
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    timer.start()
    tick()
    io_before = io()
    started = panel.export_npy()
    bar_shown = panel.export_bar.isVisibleTo(panel)
    wait_until(lambda: not panel.is_busy())
    tick()
    io_after = io()
    timer.stop()
    status = panel.export_status.text()
jobs.shutdown()
gui_io = None if io_before is None or io_after is None else io_after - io_before
print(json.dumps({"ticks": ticks, "cpu": cpu, "gui_io": gui_io, "started": started,
                  "bar_shown": bar_shown, "status": status}))
"""


def _export_in_fresh_app(big_ckpt, target) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", RESPONSIVE_CHILD, str(big_ckpt), str(target)],
                          capture_output=True, text=True, env=env, timeout=WAIT_MS / 1000)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout.strip().splitlines()[-1])
    assert doc["started"] == str(target) and doc["bar_shown"]
    # from the first event-loop turn after the click: the click's own turn (showing the
    # progress row the first time) is one ~30 ms repaint here, once 186 ms on a busy CI
    # machine; what must never stall is the window during the seconds the export runs
    ticks, cpu = np.array(doc["ticks"][1:]), np.array(doc["cpu"][1:])
    assert len(ticks) > 10
    doc["gaps"] = np.diff(ticks)
    doc["cpu_gaps"], doc["system_gaps"] = np.diff(cpu[:, 0] + cpu[:, 1]), np.diff(cpu[:, 1])
    doc["at"] = ticks[int(np.argmax(doc["gaps"]))] - ticks[0]
    doc["duration"] = ticks[-1] - ticks[0]
    return doc


def test_exporting_2gb_keeps_the_window_responsive(big_ckpt, tmp_path):
    """Measured in a fresh app process (a panel and its runner, as in the window), so what
    earlier tests left in the test process cannot stall the event loop for the export.

    Every attempt must show that the GUI thread read or wrote no tensor bytes through system
    calls. In at least one of three attempts, the wall-clock gap between event-loop turns and
    the GUI thread's CPU time in one turn must both stay under 100 ms: a stall of our own repeats on every attempt, while a busy CI
    machine once descheduled the whole process for 368 ms during one run and once charged the
    GUI thread 114 ms of CPU in one turn whose work takes ~20 ms here (memory reclaim while
    2 GB were written is charged to whichever thread allocates)."""
    target = tmp_path / "w.npy"
    seen = []
    for _attempt in range(ATTEMPTS):
        doc = _export_in_fresh_app(big_ckpt, target)
        assert doc["status"] == "Exported w.npy."
        if doc["gui_io"] is not None:  # the 2 GiB went through the worker, not the GUI thread
            assert doc["gui_io"] < 16 * 2**20, doc["gui_io"]
        worst_cpu = float(doc["cpu_gaps"].max())
        worst = float(doc["gaps"].max())
        seen.append(f"{worst * 1000:.0f} ms at {doc['at']:.2f} s of {doc['duration']:.2f} s "
                    f"(GUI thread CPU up to {worst_cpu * 1000:.0f} ms, of which kernel "
                    f"{float(doc['system_gaps'].max()) * 1000:.0f} ms)")
        if worst < MAX_GAP_S and worst_cpu < MAX_GAP_S:
            break
        target.unlink()
    else:
        pytest.fail("the event loop stalled in every attempt: " + "; ".join(seen))
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
