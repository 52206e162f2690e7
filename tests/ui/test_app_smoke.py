"""The app as a user starts it: a subprocess running main.py (as pyqtgraph tests its examples)."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 240  # the statistics worker imports torch; the machine may be busy


def _env(tmp_path) -> dict[str, str]:
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["HOME"] = str(tmp_path)  # keep the user's QSettings (recent files) out of it
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    return env


def _run(args, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *map(str, args)], cwd=ROOT,
                          env=_env(tmp_path), capture_output=True, text=True, timeout=TIMEOUT)


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_opens_a_file_and_quits(tmp_path, training_ckpt):
    proc = _run([training_ckpt, "--quit-after-ms", "500", "--no-stats"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


def test_starts_without_a_file(tmp_path):
    proc = _run(["--quit-after-ms", "500", "--no-stats"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


def test_screenshot_has_the_requested_size(tmp_path, training_ckpt):
    out = tmp_path / "shot.png"
    proc = _run([training_ckpt, "--screenshot", out, "--size", "900x650", "--tab", "Tensors"],
                tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert out.stat().st_size > 10_000
    assert _png_size(out) == (900, 650)


def test_bad_size_is_a_usage_error(tmp_path):
    proc = _run(["--size", "huge", "--quit-after-ms", "1"], tmp_path)
    assert proc.returncode == 2 and "WIDTHxHEIGHT" in proc.stderr


@pytest.mark.parametrize("module", ["inspector.ui.app", "inspector.ui.main_window"])
def test_window_modules_do_not_import_torch_or_pyqtgraph(tmp_path, module):
    code = (f"import sys, {module}; "
            "bad = [m for m in ('torch', 'pyqtgraph', 'numpy') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(tmp_path),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_signal_closes_the_app_cleanly(tmp_path, sig):
    """``kill`` or Ctrl+C in the terminal closes the window as File ▸ Quit does: exit code 0,
    the worker processes stopped (killed outright they left semaphores behind, which
    multiprocessing's resource tracker warned about), no traceback."""
    import signal
    import time

    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py")], cwd=ROOT,
                            env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        time.sleep(6)  # the demo is open and its statistics worker started
        proc.send_signal(getattr(signal, sig))
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:  # it did not close: do not leave it running
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "leaked semaphore" not in err and "Traceback" not in err, err
