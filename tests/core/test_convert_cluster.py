"""convert --verify on a Dask cluster (a LocalCluster of 2 worker processes): the same
report as the local verify step, pieces split and merged exactly."""

from __future__ import annotations

import json

import pytest

from inspector.core.convert import ConvertOptions, convert
from inspector.core.convert.verify import (
    VerifyItem,
    merge_results,
    split_pieces,
    verify_piece,
)

torch = pytest.importorskip("torch")
pytest.importorskip("distributed")
from safetensors.torch import load_file, save_file  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=50) as c:
        yield c


def test_verify_on_the_cluster_matches_local(cluster, tmp_path, capsys):
    from inspector.cli import main

    g = torch.Generator().manual_seed(2)
    sd = {f"layer.{i}.weight": torch.randn(32, 32, generator=g) for i in range(6)}
    sd["tied"] = sd["layer.0.weight"]
    p = tmp_path / "m.pth"
    torch.save(sd, p)
    local = convert(p, tmp_path / "local", ConvertOptions(max_shard_size=5000, dtype="bfloat16"))
    remote = convert(p, tmp_path / "remote", ConvertOptions(
        max_shard_size=5000, dtype="bfloat16", scheduler=cluster.scheduler_address))
    assert remote.ok and remote.verify == local.verify and remote.verify.checked == 6
    assert len(remote.files) == 4  # three shards and the index
    index = json.loads((tmp_path / "remote" / "model.safetensors.index.json").read_text())
    for name, shard in index["weight_map"].items():
        assert torch.equal(load_file(tmp_path / "remote" / shard)[name], sd[name].bfloat16())
    pth = tmp_path / "w.pth"
    assert main(["convert", str(p), str(pth), "--scheduler", cluster.scheduler_address,
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["verify"]["ok"] and doc["verify"]["checked"] == 7  # the alias is a name in a .pth


def test_pieces_split_and_merge_exactly(tmp_path):
    sd = {f"t{i}": torch.full((10,), float(i)) for i in range(5)}
    p = tmp_path / "s.safetensors"
    save_file(sd, p)
    out = tmp_path / "o.safetensors"
    save_file({**sd, "t3": torch.zeros(10), "extra": torch.ones(1)}, out)
    items = [VerifyItem(f"t{i}", (f"t{i}",), "float32") for i in range(5)]
    pieces = split_pieces(str(p), str(out), items, [40] * 5, piece_bytes=80)
    assert [len(x.items) for x in pieces] == [2, 2, 1]
    assert [x.expected is None for x in pieces] == [True, True, False]
    report = merge_results(r for piece in reversed(pieces) for r in verify_piece(piece))
    assert report.checked == 5 and [n for n, _ in report.mismatches] == ["t3"]
    assert report.unexpected == ("extra",) and not report.ok
