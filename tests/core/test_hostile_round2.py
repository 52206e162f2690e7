"""Issue 18: hostile files, round two. Every case of tests/hostile_round2.py goes through the
core (open + scan) and through ``info`` and ``scan`` in a child process with a memory limit:
no marker file, the expected exit code with at most one error line, bounded memory and
time, and no crash signal."""

from __future__ import annotations

import re

import pytest

from inspector.core.checkpoint import CheckpointError
from inspector.core.formats import open_checkpoint
from inspector.core.safety import scan
from inspector.core.tree import MAX_NODES
from tests.hostile_round2 import CASES, HANG_TIMEOUT, PEAK_RSS_LIMIT, run_cli

pytest.importorskip("torch")
SCAN_CODES = {"clean": 0, "unsafe": 1, "unreadable": 2}


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request):
    return request.param


def test_core_outcome(case, tmp_path, marker):
    path = case.build(tmp_path, marker)
    if case.info == 2:
        with pytest.raises(CheckpointError) as info:
            open_checkpoint(path)
        assert re.search(case.message, info.value.problem), info.value.problem
    else:
        with open_checkpoint(path) as ck:
            if case.message:
                assert any(re.search(case.message, w) for w in ck.warnings), ck.warnings
            assert sum(1 for _ in ck.root.walk()) <= MAX_NODES + 1
    result = scan(path)
    assert result.verdict == case.scan, (result.verdict, result.error, result.notes)
    assert not marker.exists()


def _check_child(run, marker) -> None:
    assert run.code >= 0, f"killed by signal {-run.code}"
    assert "Traceback" not in run.stderr and "internal error" not in run.stderr, run.stderr
    assert len(run.stderr.strip().splitlines()) <= 1, run.stderr
    assert 0 < run.peak_rss < PEAK_RSS_LIMIT, run.peak_rss
    assert run.seconds < HANG_TIMEOUT
    assert not marker.exists()


def test_cli_info(case, tmp_path, marker):
    path = case.build(tmp_path, marker)
    run = run_cli(tmp_path, "info", str(path))
    _check_child(run, marker)
    assert run.code == case.info, run.stderr
    if case.info == 2:
        assert run.stderr.startswith(f"error: {path}"), run.stderr  # the file or one in it
        assert re.search(case.message, run.stderr), run.stderr


def test_cli_scan(case, tmp_path, marker):
    path = case.build(tmp_path, marker)
    run = run_cli(tmp_path, "scan", str(path))
    _check_child(run, marker)
    assert run.code == SCAN_CODES[case.scan], (run.stdout, run.stderr)
    assert run.stdout.startswith(f"{path}: {case.scan.upper()}")
