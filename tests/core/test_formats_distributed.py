"""torch.distributed.checkpoint folders, written by torch's own saver, read without running them."""

from __future__ import annotations

import os
import pickle
import socket
import sys
import warnings

import pytest

from inspector.core.checkpoint import CheckpointError
from inspector.core.formats import open_checkpoint
from inspector.core.safety import scan


class Evil:
    """A payload that would create ``self.marker`` if anything ran it."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _save_dcp(state_dict, folder):
    import torch.distributed.checkpoint as dcp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "assuming the intent is to save in a single process"
        dcp.save(state_dict, checkpoint_id=str(folder))
    return folder


def _torch_view(folder, tmp_path):
    """What torch itself reads back from the folder (test side only)."""
    import torch
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    out = tmp_path / "torch_view.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dcp_to_torch_save(str(folder), str(out))
    return torch.load(out, weights_only=False)


def _lookup(obj, path):
    for key in path:
        obj = obj[key]
    return obj


@pytest.fixture
def dcp_dir(tmp_path):
    import torch

    torch.manual_seed(0)
    sd = {"model": {"layer.weight": torch.randn(3, 4), "layer.bias": torch.ones(3, dtype=torch.float16),
                    "bn.num_batches_tracked": torch.tensor(5)},
          "optim": {"lr": 0.1, "state": {0: {"exp_avg": torch.zeros(2, 2, dtype=torch.bfloat16)}}},
          "step": 7, "blob": b"abc", "items": [torch.arange(4), "text"]}
    return _save_dcp(sd, tmp_path / "ckpt")


def _metadata(folder):
    with open(folder / ".metadata", "rb") as fh:
        return pickle.load(fh)  # test side: our own trusted file


def _write_metadata(folder, meta):
    with open(folder / ".metadata", "wb") as fh:
        pickle.dump(meta, fh)


def test_lists_logical_state_dict_with_global_shapes(dcp_dir, tmp_path):
    import torch

    ck = open_checkpoint(dcp_dir)
    assert ck.format == "dcp"
    assert ck.unsafe_globals == []
    assert ck.warnings == []
    listed = {p: (t.dtype, t.shape) for p, t in ck.tensors()}
    assert listed == {
        ("model", "layer.weight"): ("float32", (3, 4)),
        ("model", "layer.bias"): ("float16", (3,)),
        ("model", "bn.num_batches_tracked"): ("int64", ()),
        ("optim", "state", "0", "exp_avg"): ("bfloat16", (2, 2)),
        ("items", 0): ("int64", (4,)),
    }
    expected = _torch_view(dcp_dir, tmp_path)
    for path, info in ck.tensors():
        ref = _lookup(expected, path)  # torch reads the int key 0 back as "0" too
        assert torch.equal(ck.tensor(info), ref), path
    ck.close()


def test_non_tensor_values_are_read_inertly(dcp_dir):
    ck = open_checkpoint(dcp_dir)
    assert ck.find(["step"]).value == 7
    assert ck.find(["optim", "lr"]).value == 0.1
    assert ck.find(["blob"]).value == b"abc"
    assert ck.find(["items", 1]).value == "text"
    assert ck.find(["items"]).kind == "list"


def test_details_give_shards_and_file_sizes(dcp_dir):
    ck = open_checkpoint(dcp_dir)
    shards = ck.details["tensor_shards"][("model", "layer.weight")]
    assert shards == [{"file": "__0_0.distcp", "offsets": [0, 0], "sizes": [3, 4]}]
    size = os.path.getsize(dcp_dir / "__0_0.distcp")
    assert ck.details["files"]["__0_0.distcp"] == {"size_bytes": size, "items": 9}
    assert ck.details["rank_bytes"] == {0: size}
    assert ck.size_bytes == size + os.path.getsize(dcp_dir / ".metadata")
    assert ck.details["key_paths"] == "planner_data"


def test_metadata_file_opens_its_folder(dcp_dir):
    ck = open_checkpoint(dcp_dir / ".metadata")
    assert ck.format == "dcp"
    assert len(ck.tensors()) == 5


def test_flat_names_without_planner_data(dcp_dir):
    meta = _metadata(dcp_dir)
    meta.planner_data = None
    _write_metadata(dcp_dir, meta)
    ck = open_checkpoint(dcp_dir)
    assert ("model.layer.weight",) in {p for p, _ in ck.tensors()}
    assert ck.details["key_paths"] == "flat names"


def test_missing_shard_file_is_named_and_rest_stays_browsable(dcp_dir):
    os.remove(dcp_dir / "__0_0.distcp")
    ck = open_checkpoint(dcp_dir)
    assert any("__0_0.distcp is missing" in w for w in ck.warnings)
    info = ck.find(["model", "layer.weight"]).tensor
    assert info.shape == (3, 4) and info.storage is None
    assert "missing" in info.note
    with pytest.raises(CheckpointError, match="missing"):
        ck.tensor(info)
    assert "missing" in ck.find(["step"]).value


def test_truncated_shard_file_is_reported(dcp_dir):
    data = (dcp_dir / "__0_0.distcp").read_bytes()
    (dcp_dir / "__0_0.distcp").write_bytes(data[: len(data) // 2])
    ck = open_checkpoint(dcp_dir)
    assert any("__0_0.distcp is truncated" in w for w in ck.warnings)
    notes = [t.note for _, t in ck.tensors()]
    assert any("truncated" in n for n in notes)


def test_corrupt_metadata_gives_one_message(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / ".metadata").write_bytes(b"\x80\x04not a pickle")
    with pytest.raises(CheckpointError, match="unreadable DCP metadata"):
        open_checkpoint(folder)


def test_malicious_metadata_never_runs(dcp_dir, marker):
    meta = _metadata(dcp_dir)
    meta.planner_data["extra"] = Evil(marker)
    _write_metadata(dcp_dir, meta)
    ck = open_checkpoint(dcp_dir)
    assert not marker.exists()
    assert any(g.endswith(".system") for g in ck.unsafe_globals)
    assert not any(g.startswith("torch.distributed") for g in ck.unsafe_globals)
    result = scan(dcp_dir)
    assert result.verdict == "unsafe"
    assert not marker.exists()


def test_metadata_that_is_only_a_payload(tmp_path, marker):
    folder = tmp_path / "evil"
    folder.mkdir()
    (folder / ".metadata").write_bytes(pickle.dumps(Evil(marker), protocol=2))
    with pytest.raises(CheckpointError, match="not DCP metadata"):
        open_checkpoint(folder)
    assert not marker.exists()
    result = scan(folder)  # the static pass over .metadata still names the payload
    assert result.verdict == "unsafe" and "posix.system" in result.unsafe_globals


def test_malicious_bytes_value_never_runs(dcp_dir, marker):
    import io

    import torch
    from torch.distributed.checkpoint.filesystem import _StorageInfo

    meta = _metadata(dcp_dir)
    shard = dcp_dir / "__0_0.distcp"
    start = os.path.getsize(shard)
    buf = io.BytesIO()
    torch.save(Evil(marker), buf)
    with open(shard, "ab") as fh:
        fh.write(buf.getvalue())
    index = next(i for i in meta.storage_data if i.fqn == "step")
    meta.storage_data[index] = _StorageInfo("__0_0.distcp", start, len(buf.getvalue()))
    _write_metadata(dcp_dir, meta)
    ck = open_checkpoint(dcp_dir)
    assert not marker.exists()
    assert any(g.endswith(".system") for g in ck.unsafe_globals)
    assert "system" in ck.find(["step"]).value


# ---- several chunks
@pytest.fixture
def two_chunk_dir(tmp_path):
    """Two ranks' files built from torch's own metadata classes and torch.save chunks.

    The same layout a two-process save writes (see the opt-in gloo test below); torch's own
    loader reading it back proves the layout is right.
    """
    import io

    import torch
    from torch.distributed.checkpoint.filesystem import _StorageInfo
    from torch.distributed.checkpoint.metadata import (
        ChunkStorageMetadata,
        Metadata,
        MetadataIndex,
        TensorProperties,
        TensorStorageMetadata,
    )

    folder = tmp_path / "two"
    folder.mkdir()
    full = torch.arange(24.).reshape(6, 4)
    chunks, storage = [], {}
    for rank, part in enumerate((full[:3].clone(), full[3:].clone())):
        buf = io.BytesIO()
        torch.save(part, buf)
        (folder / f"__{rank}_0.distcp").write_bytes(buf.getvalue())
        offsets = torch.Size([3 * rank, 0])
        chunks.append(ChunkStorageMetadata(offsets=offsets, sizes=torch.Size([3, 4])))
        storage[MetadataIndex("w", offsets, rank)] = _StorageInfo(f"__{rank}_0.distcp", 0,
                                                                  len(buf.getvalue()))
    meta = Metadata(state_dict_metadata={"w": TensorStorageMetadata(
        TensorProperties(dtype=torch.float32), torch.Size([6, 4]), chunks)},
        planner_data={"w": ("w",)}, storage_data=storage)
    _write_metadata(folder, meta)
    return folder


def test_sharded_tensor_lists_its_chunks(two_chunk_dir, tmp_path):
    import torch

    from inspector.core.materialize import storage_tensor

    full = _torch_view(two_chunk_dir, tmp_path)["w"]
    assert torch.equal(full, torch.arange(24.).reshape(6, 4))  # torch accepts the layout
    with open_checkpoint(two_chunk_dir) as ck:
        w = ck.find(["w"]).tensor
        assert (w.dtype, w.shape) == ("float32", (6, 4))
        assert w.note == "assembled from 2 chunks on demand"
        assert w.layout == "sharded"
        assert w.storage is None and len(w.extra_storages) == 2
        assert [(c.offsets, c.sizes) for c in w.chunks] == [((0, 0), (3, 4)), ((3, 0), (3, 4))]
        assert [c.view.storage for c in w.chunks] == list(w.extra_storages)
        assert ck.details["tensor_shards"][("w",)] == [
            {"file": "__0_0.distcp", "offsets": [0, 0], "sizes": [3, 4]},
            {"file": "__1_0.distcp", "offsets": [3, 0], "sizes": [3, 4]}]
        first, second = (storage_tensor(ck, s, "float32").reshape(3, 4) for s in w.extra_storages)
        assert torch.equal(first, full[:3]) and torch.equal(second, full[3:])
        assert ck.totals()["unique_storage_bytes"] == 96
        assert torch.equal(ck.tensor(w), full)


def test_sharded_tensor_stats_and_diff_against_whole(two_chunk_dir, tmp_path):
    import torch

    from inspector.core.diff import IDENTICAL, diff_checkpoints
    from inspector.core.stats import compute_stats

    pth = tmp_path / "whole.pth"
    torch.save({"w": torch.arange(24.).reshape(6, 4)}, pth)
    with open_checkpoint(two_chunk_dir) as ck, open_checkpoint(pth) as whole:
        assert compute_stats(ck, ck.find(["w"]).tensor) == compute_stats(
            whole, whole.find(["w"]).tensor)
    report = diff_checkpoints(two_chunk_dir, pth)
    assert [e.status for e in report.entries] == [IDENTICAL]


# ---- several ranks: a real two-process save (gloo), the tensor split in two chunks.
# Opt-in (INSPECTOR_MULTIRANK_TESTS=1): spawning two torch processes takes 10-20 s.
def _rank_main(rank, folder, port):
    import torch
    import torch.distributed as dist
    import torch.distributed.checkpoint as dcp
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Replicate, Shard, distribute_tensor

    warnings.simplefilter("ignore")
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    mesh = init_device_mesh("cpu", (2,))
    sd = {"model": {"w": distribute_tensor(torch.arange(24.).reshape(6, 4), mesh, [Shard(0)]),
                    "r": distribute_tensor(torch.ones(3), mesh, [Replicate()])}, "step": 3}
    dcp.save(sd, checkpoint_id=folder)
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_rank_dir(tmp_path_factory):
    import torch.multiprocessing as mp

    if sys.platform == "win32" or os.environ.get("INSPECTOR_MULTIRANK_TESTS") != "1":
        pytest.skip("set INSPECTOR_MULTIRANK_TESTS=1 to run the two-process save")
    folder = tmp_path_factory.mktemp("dcp2") / "ckpt"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mp.spawn(_rank_main, args=(str(folder), port), nprocs=2)
    return folder


def test_two_ranks_sharded_tensor_lists_its_chunks(two_rank_dir, tmp_path):

    with open_checkpoint(two_rank_dir) as ck:
        _check_two_ranks(ck, two_rank_dir, tmp_path)


def _check_two_ranks(ck, two_rank_dir, tmp_path):
    import torch

    w = ck.find(["model", "w"]).tensor
    assert (w.dtype, w.shape) == ("float32", (6, 4))
    assert w.note == "assembled from 2 chunks on demand"
    assert w.layout == "sharded" and len(w.chunks) == 2
    assert w.storage is None and len(w.extra_storages) == 2
    shards = ck.details["tensor_shards"][("model", "w")]
    assert sorted((s["file"], tuple(s["offsets"]), tuple(s["sizes"])) for s in shards) == [
        ("__0_0.distcp", (0, 0), (3, 4)), ("__1_0.distcp", (3, 0), (3, 4))]
    assert set(ck.details["rank_bytes"]) == {0, 1}
    # every chunk's bytes are located: each is exactly that slice of the full tensor
    full = _torch_view(two_rank_dir, tmp_path)["model"]["w"]
    from inspector.core.materialize import storage_tensor

    halves = {"top": full[:3], "bottom": full[3:]}
    found = sorted(name for storage in w.extra_storages
                   for name, half in halves.items()
                   if torch.equal(storage_tensor(ck, storage, "float32").reshape(3, 4), half))
    assert found == ["bottom", "top"]  # one chunk each, not the same half twice
    assert torch.equal(ck.tensor(w), full)
    r = ck.find(["model", "r"]).tensor
    assert torch.equal(ck.tensor(r), torch.ones(3))
    assert ck.find(["step"]).value == 3
