"""Stats and diff on a Dask LocalCluster (2 worker processes on 127.0.0.1) give the same
JSON as the local run; a worker killed mid-run is retried, a failing piece is reported."""

from __future__ import annotations

import json
import os
import signal

import pytest

distributed = pytest.importorskip("distributed")
torch = pytest.importorskip("torch")

from inspector.cli import main as cli_main  # noqa: E402
from inspector.core.cluster import ClusterError, run_pieces  # noqa: E402
from tests.cluster_pieces import failing_piece, slow_square  # noqa: E402


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None, silence_logs=50) as c:
        yield c


def _sharded(folder, seed: int, changed: bool = False):
    """A Hugging Face sharded checkpoint (index + 3 safetensors shards)."""
    from safetensors.torch import save_file

    gen = torch.Generator().manual_seed(seed)
    folder.mkdir()
    weight_map = {}
    for s in range(3):
        # small tensors (computed in batches) between big ones (each alone)
        shard = {f"layers.{s}.{k}.weight": torch.randn(*((256, 128) if k % 3 == 0 else (64, 32)),
                                                       generator=gen) for k in range(12)}
        shard[f"layers.{s}.bias"] = torch.randn(32, generator=gen).to(torch.bfloat16)
        if changed and s == 1:
            shard["layers.1.0.weight"] = shard["layers.1.0.weight"] + 1e-3
        name = f"model-{s:05d}-of-00003.safetensors"
        save_file(shard, str(folder / name))
        weight_map.update(dict.fromkeys(shard, name))
    index = folder / "model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return index


def _cli_json(capsys, *argv) -> dict:
    assert cli_main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_stats_and_diff_on_the_cluster_match_the_local_run(tmp_path, cluster, capsys,
                                                          monkeypatch):
    from inspector.core.cluster import work
    from inspector.core.formats import open_checkpoint

    monkeypatch.setattr(work, "GROUP_BYTES", 100_000)  # many pieces from a small checkpoint
    a = _sharded(tmp_path / "a", 0)
    b = _sharded(tmp_path / "b", 0, changed=True)
    with open_checkpoint(a) as ck:
        todo = ck.tensors()
        units = work.stats_units(ck, todo, 64)
        assert any(len(u) > 1 for u in units)  # a batch of small tensors, kept together
        assert len(work.group_units(units, todo)) >= 4
    address = cluster.scheduler_address
    local = _cli_json(capsys, "stats", str(a), "--json")
    remote = _cli_json(capsys, "stats", str(a), "--json", "--scheduler", address)
    assert remote == local
    assert len(local["tensors"]) == 39
    filtered = _cli_json(capsys, "stats", str(a), "--json", "--filter", r"layers\.1\.",
                         "--scheduler", address)
    assert filtered == _cli_json(capsys, "stats", str(a), "--json", "--filter", r"layers\.1\.")
    local_diff = _cli_json(capsys, "diff", str(a), str(b), "--json", "--atol", "1e-6")
    remote_diff = _cli_json(capsys, "diff", str(a), str(b), "--json", "--atol", "1e-6",
                            "--scheduler", address)
    assert remote_diff == local_diff
    assert local_diff["summary"]["changed"] == 1


def test_big_tensors_are_split_into_exact_pieces(tmp_path, cluster, capsys, monkeypatch):
    """A tensor over the split size is scanned and binned in block ranges on the workers and
    merged on the client: the same JSON as the local run, bit for bit."""
    from safetensors.torch import save_file

    from inspector.core.cluster import split
    from inspector.core.formats import open_checkpoint
    from inspector.core.stats import pieces

    gen = torch.Generator().manual_seed(7)
    path = tmp_path / "big.safetensors"
    save_file({"embed": torch.randn(4096, 1024, generator=gen) * 3 + 1,
               "embed_bf16": torch.randn(4096, 1024, generator=gen).to(torch.bfloat16),
               "small": torch.randn(8, 8, generator=gen)}, str(path))
    monkeypatch.setattr(split, "SPLIT_BYTES", 1 << 20)
    monkeypatch.setattr(split, "PIECE_BYTES", 2 << 20)
    with open_checkpoint(path) as ck:
        info = ck.find(("embed",)).tensor
        assert len(pieces.tensor_pieces(ck, info, piece_bytes=split.PIECE_BYTES)) > 2
    local = _cli_json(capsys, "stats", str(path), "--json")
    remote = _cli_json(capsys, "stats", str(path), "--json", "--scheduler",
                       cluster.scheduler_address)
    assert remote == local


def test_workers_read_a_url_themselves(tmp_path, cluster, capsys, monkeypatch):
    """stats --scheduler of a sharded checkpoint served by nginx: each worker fetches its
    pieces from the URL; the JSON equals the local file's."""
    from tests.remote_servers import Nginx, nginx_binary

    if nginx_binary() is None:
        pytest.skip("nginx is not installed")
    monkeypatch.setenv("INSPECTOR_REMOTE_CACHE_DIR", str(tmp_path / "cache"))
    index = _sharded(tmp_path / "www", 4)
    server = Nginx(tmp_path / "www", tmp_path / "nginx")
    try:
        url = f"{server.url}/{index.name}"
        remote = _cli_json(capsys, "stats", url, "--json", "--scheduler",
                           cluster.scheduler_address)
    finally:
        server.stop()
    local = _cli_json(capsys, "stats", str(index), "--json")
    assert remote["tensors"] == local["tensors"] and remote["path"] == url


def test_a_failing_piece_is_reported_not_dropped(cluster):
    with pytest.raises(ClusterError, match="piece 3 failed.*piece three is broken"):
        run_pieces(cluster.scheduler_address, failing_piece, list(range(6)), retries=0)


def test_the_app_statistics_job_on_the_cluster(tmp_path, cluster):
    from inspector.core.cluster.job import cluster_tensor_stats
    from inspector.core.formats import open_checkpoint
    from inspector.core.jobs import JobProgress
    from inspector.core.stats import iter_stats, stats_to_json

    index = _sharded(tmp_path / "m", 3)
    out = list(cluster_tensor_stats(str(index), cluster.scheduler_address))
    assert isinstance(out[0], JobProgress) and out[0].total == 39
    got = {r.path: stats_to_json(r.path, r.stats) for r in out[1:]}
    with open_checkpoint(index) as ck:
        assert got == {tuple(i.path): stats_to_json(i.path, i.stats) for i in iter_stats(ck)}


def test_an_unreachable_scheduler_is_one_clear_error(capsys, tmp_path, monkeypatch):
    from safetensors.torch import save_file

    from inspector.core import cluster as cluster_module

    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT_S", 1)

    f = tmp_path / "m.safetensors"
    save_file({"w": torch.zeros(3)}, str(f))
    assert cli_main(["stats", str(f), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: tcp://127.0.0.1:9: cannot reach the Dask scheduler")
    assert "Traceback" not in err


def test_a_worker_killed_mid_run_is_retried(cluster):
    from distributed import Client

    address = cluster.scheduler_address
    with Client(address) as client:
        pids = list(client.run(os.getpid).values())
    done: list[int] = []

    def progress(n: int, total: int) -> None:
        done.append(n)
        if n == 1:  # one piece finished, others running or queued: kill a worker now
            os.kill(pids[0], signal.SIGKILL)

    pieces = list(range(6))
    assert run_pieces(address, slow_square, pieces, progress=progress) == [x * x for x in pieces]
    assert done[-1] == len(pieces)
