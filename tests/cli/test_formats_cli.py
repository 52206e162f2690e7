"""``info``/``scan`` over the multi-file formats: DCP shards in JSON, verdicts that fit the format."""

from __future__ import annotations

import json
import os
import pickle
import warnings

import pytest

from inspector.cli import main
from inspector.core.safety import scan
from tests.ckpt_factory import Payload

torch = pytest.importorskip("torch")


@pytest.fixture
def dcp_folder(tmp_path):
    import torch.distributed.checkpoint as dcp

    sd = {"model": {"layer.weight": torch.randn(3, 4), "layer.bias": torch.ones(3)}, "step": 7}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "assuming the intent is to save in a single process"
        dcp.save(sd, checkpoint_id=str(tmp_path / "ckpt"))
    return tmp_path / "ckpt"


def test_dcp_info_json_lists_shards(dcp_folder, capsys):
    assert main(["info", "--json", str(dcp_folder)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["format"] == "dcp"
    by_path = {tuple(t["path"]): t for t in doc["tensors"]}
    weight = by_path[("model", "layer.weight")]
    assert weight["shape"] == [3, 4]
    (shard,) = weight["shards"]
    assert shard["file"].endswith(".distcp") and shard["offsets"] == [0, 0] and shard["sizes"] == [3, 4]


def test_dcp_folder_scans_clean_and_payload_unsafe(dcp_folder, marker):
    assert scan(dcp_folder).verdict == "clean"
    meta = dcp_folder / ".metadata"
    meta.write_bytes(pickle.dumps(Payload(os.system, f"touch {marker}"), protocol=2))
    result = scan(dcp_folder)
    assert result.verdict == "unsafe" and "posix.system" in result.unsafe_globals
    assert not marker.exists()


def test_torchscript_scans_clean_with_a_note(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.ReLU())
    p = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(model), p)
    result = scan(p)
    assert result.format == "torchscript"
    assert result.verdict == "clean", result.unsafe_globals
    assert any("torch.jit.load" in n for n in result.notes)
