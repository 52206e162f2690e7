"""Worker processes never outlive the app: SIGKILL the GUI process, its workers end too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 120  # each worker imports torch first; the machine may be busy
EXIT_TIMEOUT_S = 5.0

GUI = """
import sys
from PySide6.QtWidgets import QApplication
app = QApplication([])
from inspector.ui.workers import Runners
runners = Runners()
for jobs in (runners.stats, runners.tensor):
    jobs.sig_item.connect(lambda _job, pid: print(pid, flush=True))
runners.stats.submit("tests.job_targets:sleep_forever", {})  # a worker busy in a job
runners.tensor.submit("tests.job_targets:worker_pid", {})  # a worker waiting for work
sys.exit(app.exec())
"""


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie left for a non-reaping init counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL and re-parenting are POSIX")
def test_killing_the_gui_process_ends_its_workers(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path))
    errors = tmp_path / "gui.stderr"
    with open(errors, "w") as err:  # a file: orphaned workers would hold a pipe open
        gui = subprocess.Popen([sys.executable, "-c", GUI], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=err, text=True)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while len(workers) < 2 and time.monotonic() < deadline:
            line = gui.stdout.readline()
            if not line:
                break
            workers.append(int(line))
        assert len(workers) == 2, errors.read_text()
        assert all(_alive(pid) for pid in workers)
        gui.send_signal(signal.SIGKILL)
        gui.wait(10)
        deadline = time.monotonic() + EXIT_TIMEOUT_S
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [pid for pid in workers if _alive(pid)]
        assert not left, f"worker processes {left} outlived the killed GUI process"
    finally:
        if gui.poll() is None:
            gui.kill()
            gui.wait(10)
        gui.stdout.close()
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
