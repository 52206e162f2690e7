"""Issue #8: every hostile or broken input ends in its expected outcome, and nothing runs.

Each case of tests/hostile_corpus.py is fed to the core (open + scan) and to the command
line (``info --json`` in a child process with a memory limit and a hang timeout).
"""

from __future__ import annotations

import json
import re
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from inspector.core.checkpoint import CheckpointError
from inspector.core.formats import open_checkpoint
from inspector.core.integrity import verify_checksums
from inspector.core.safety import scan
from inspector.core.tree import MAX_NODES
from tests.hostile_corpus import CASES, bit_flip_tensor

pytest.importorskip("torch")
REPO = Path(__file__).resolve().parents[2]
MEMORY_LIMIT = 2 << 30  # address space for the CLI child: stated bound is 1 GiB resident
HANG_TIMEOUT = 60  # a hang detector, not a speed assertion (README states the real bound)


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request):
    return request.param


def test_corpus_is_big_enough():
    assert len(CASES) >= 40


def test_core_outcome(case, tmp_path, marker):
    path = case.build(tmp_path, marker)
    if case.open == "error":
        with pytest.raises(CheckpointError) as info:
            open_checkpoint(path)
        assert re.search(case.message, info.value.problem), info.value.problem
        assert info.value.path == str(path)
    else:
        with open_checkpoint(path) as ck:
            if case.message:
                assert any(re.search(case.message, w) for w in ck.warnings), ck.warnings
            # the tree stays within the node budget, so walking it is bounded too
            assert sum(1 for _ in ck.root.walk()) <= MAX_NODES + 1
    result = scan(path)
    assert result.verdict == case.scan, (result.verdict, result.error, result.unsafe_globals)
    assert not marker.exists()


def test_cli_outcome(case, tmp_path, marker):
    path = case.build(tmp_path, marker)
    proc = subprocess.run([sys.executable, str(REPO / "main.py"), "info", "--json", str(path)],
                          capture_output=True, text=True, timeout=HANG_TIMEOUT, cwd=REPO,
                          preexec_fn=_limit_memory)
    assert "Traceback" not in proc.stderr
    if case.open == "error":
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"error: {path}: ")
        assert re.search(case.message, lines[0])
    else:
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(proc.stdout)
        assert doc["path"] == str(path)
    assert not marker.exists()


def test_bit_flip_in_tensor_data_is_reported_by_verify(tmp_path, marker):
    path = bit_flip_tensor(tmp_path, marker)
    with open_checkpoint(path) as ck:
        assert ck.warnings == []  # opening reads only metadata
        problems = verify_checksums(ck)
    assert len(problems) == 1 and "data/0" in problems[0] and "CRC" in problems[0]
    proc = subprocess.run([sys.executable, str(REPO / "main.py"), "info", "--verify", "--json", str(path)],
                          capture_output=True, text=True, timeout=HANG_TIMEOUT, cwd=REPO)
    assert proc.returncode == 0
    assert any("CRC" in w for w in json.loads(proc.stdout)["warnings"])


def test_verify_clean_file(training_ckpt):
    with open_checkpoint(training_ckpt) as ck:
        assert verify_checksums(ck) == []


def test_file_truncated_while_open_gives_message_not_sigbus(tmp_path):
    import torch

    p = tmp_path / "shrinking.pth"
    torch.save({"w": torch.randn(256, 256)}, p)
    with open_checkpoint(p) as ck:
        (_, info), = ck.tensors()
        assert ck.tensor(info).shape == (256, 256)  # maps the file
        with open(p, "r+b") as fh:
            fh.truncate(1000)
        with pytest.raises(CheckpointError, match="truncated or replaced"):
            ck.tensor(info)
