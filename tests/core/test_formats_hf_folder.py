"""Hugging Face model folders: config.json plus sharded safetensors or pytorch_model*.bin."""

from __future__ import annotations

import json

import pytest

from inspector.core.checkpoint import CheckpointError
from inspector.core.formats import open_checkpoint


def _weights():
    import torch

    torch.manual_seed(0)
    return {"embed.weight": torch.randn(5, 4), "layers.0.weight": torch.randn(4, 4),
            "layers.0.bias": torch.zeros(4, dtype=torch.float16), "head.weight": torch.randn(2, 4)}


def _config(folder, **extra):
    config = {"model_type": "toy", "architectures": ["ToyModel"], "hidden_size": 4, **extra}
    (folder / "config.json").write_text(json.dumps(config))


def _shard(weights, folder, suffix, saver):
    names = list(weights)
    half = len(names) // 2
    files = {}
    for i, part in enumerate((names[:half], names[half:]), 1):
        name = f"{suffix[0]}-{i:05d}-of-00002{suffix[1]}"
        saver({k: weights[k] for k in part}, folder / name)
        files.update(dict.fromkeys(part, name))
    return files


def _save_safetensors(sd, path):
    from safetensors.torch import save_file

    save_file(sd, str(path))


def _save_bin(sd, path):
    import torch

    torch.save(sd, path)


@pytest.fixture
def st_folder(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    _config(folder)
    weight_map = _shard(_weights(), folder, ("model", ".safetensors"), _save_safetensors)
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 0}, "weight_map": weight_map}))
    return folder


def _check(ck, expected):
    import torch

    listed = {p[0]: t for p, t in ck.tensors()}
    assert set(listed) == set(expected)
    for name, ref in expected.items():
        info = listed[name]
        assert (info.dtype, info.shape) == (str(ref.dtype).removeprefix("torch."), tuple(ref.shape))
        assert torch.equal(ck.tensor(info), ref), name


def test_folder_with_index_and_config(st_folder):
    with open_checkpoint(st_folder) as ck:
        assert ck.format == "hf-folder"
        assert ck.path == str(st_folder)
        assert ck.details["config"]["hidden_size"] == 4
        assert ck.details["model_type"] == "toy"
        assert ck.details["weights"] == "index"
        assert ck.warnings == []
        _check(ck, _weights())


def test_index_file_opened_directly_stays_hf_sharded(st_folder):
    ck = open_checkpoint(st_folder / "model.safetensors.index.json")
    assert ck.format == "hf-sharded"


def test_safetensors_shards_without_index(st_folder):
    (st_folder / "model.safetensors.index.json").unlink()
    with open_checkpoint(st_folder) as ck:
        assert ck.format == "hf-folder" and ck.details["weights"] == "safetensors"
        assert sorted(ck.details["shards"]) == ["model-00001-of-00002.safetensors",
                                                "model-00002-of-00002.safetensors"]
        _check(ck, _weights())


def test_pytorch_model_bin_shards(tmp_path):
    folder = tmp_path / "binmodel"
    folder.mkdir()
    _config(folder)
    _shard(_weights(), folder, ("pytorch_model", ".bin"), _save_bin)
    with open_checkpoint(folder) as ck:
        assert ck.details["weights"] == "bin"
        assert ck.unsafe_globals == []
        _check(ck, _weights())


def test_missing_shard_is_named(st_folder):
    (st_folder / "model-00002-of-00002.safetensors").unlink()
    with open_checkpoint(st_folder) as ck:
        assert any("model-00002-of-00002.safetensors" in w for w in ck.warnings)
        assert len(ck.tensors()) == 2


def test_bad_config_is_a_warning(st_folder):
    (st_folder / "config.json").write_text("{not json")
    with open_checkpoint(st_folder) as ck:
        assert ck.details["config"] is None
        assert any("config.json is not valid JSON" in w for w in ck.warnings)
        assert len(ck.tensors()) == 4


def test_config_only_folder_opens_with_a_warning(tmp_path):
    folder = tmp_path / "cfg"
    folder.mkdir()
    _config(folder)
    ck = open_checkpoint(folder)
    assert ck.format == "hf-folder" and ck.tensors() == []
    assert any("no weight files" in w for w in ck.warnings)


def test_folder_without_checkpoint_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(CheckpointError, match="folder without checkpoint files"):
        open_checkpoint(tmp_path)
