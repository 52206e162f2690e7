"""CLI options of issue #13: --threads gives the same numbers for any count, --device names
a GPU that must exist (exit 2 and a message when it does not)."""

from __future__ import annotations

import json

import pytest
import torch

from inspector.cli import main


@pytest.fixture
def two_files(tmp_path):
    g = torch.Generator().manual_seed(3)
    a = {"w": torch.randn(700, 300, generator=g), "b": torch.randn(300, generator=g)}
    b = {k: v + 1e-3 for k, v in a.items()}
    torch.save(a, tmp_path / "a.pth")
    torch.save(b, tmp_path / "b.pth")
    return str(tmp_path / "a.pth"), str(tmp_path / "b.pth")


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_threads_do_not_change_the_numbers(two_files, capsys):
    a, b = two_files
    one = _json(capsys, ["stats", "--json", "--threads", "1", a])
    many = _json(capsys, ["stats", "--json", "--threads", "3", a])
    assert one == many
    d1 = _json(capsys, ["diff", "--json", "--threads", "1", a, b])
    d3 = _json(capsys, ["diff", "--json", "--threads", "3", a, b])
    assert d1 == d3 and d1["summary"]["changed"] == 2


@pytest.mark.parametrize("command", ["stats", "diff"])
def test_bad_threads_and_devices_are_refused(two_files, capsys, command):
    a, b = two_files
    files = [a] if command == "stats" else [a, b]
    assert main([command, "--threads", "0", *files]) == 2
    assert "--threads" in capsys.readouterr().err
    assert main([command, "--device", "tpu", *files]) == 2
    assert "--device tpu" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main([command, "--device", "cuda", *files]) == 2
        assert "CUDA" in capsys.readouterr().err
