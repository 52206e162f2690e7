"""Checkpoints opened from URLs (issue 16): nginx serves generated checkpoints of every
format on 127.0.0.1; what we read equals the local file, listing a 1 GB file fetches under
1 MB (counted by us and by nginx's own access log), misbehaving servers end in one clear
message, and hostile files are exactly as inert remotely as locally."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import time
import warnings

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("fsspec")
pytest.importorskip("aiohttp")

from inspector.core.checkpoint import CheckpointError  # noqa: E402
from inspector.core.formats import open_checkpoint  # noqa: E402
from inspector.core.remote import cache as remote_cache  # noqa: E402
from inspector.core.remote.urls import display_url, is_url, url_name  # noqa: E402
from tests.remote_servers import Nginx, nginx_binary, python_server  # noqa: E402

GB = 1 << 30
# hostile cases that take seconds to build (the local tests cover them; remotely they go
# through the same readers, the zip's many headers fetched in merged ranges)
SLOW_TO_BUILD = {"zip_bomb", "zip_50000_entries", "million_keys"}


def sparse_torch_save(obj, path) -> None:
    """torch.save into a sparse file: big zero storages become holes (a 1 GB checkpoint
    written in a second, taking no disk)."""

    class Sparse(io.RawIOBase):
        def __init__(self):
            self.f = open(path, "wb")  # noqa: SIM115 - closed in finish()

        def writable(self):
            return True

        def write(self, b):
            n = memoryview(b).nbytes
            if n >= 1 << 20:
                self.f.seek(n, 1)
            else:
                self.f.write(b)
            return n

        def tell(self):
            return self.f.tell()

        def seek(self, offset, whence=0):
            return self.f.seek(offset, whence)

        def flush(self):
            if not self.f.closed:
                self.f.flush()

    w = Sparse()
    torch.save(obj, w)
    w.f.truncate()
    w.f.close()


def sparse_safetensors(path, tensors: dict[str, tuple[list[int], int]]) -> None:
    """A safetensors file of zeros ("F32" tensors of the given shapes), written sparse."""
    header, offset = {}, 0
    for name, (shape, nbytes) in tensors.items():
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as fh:
        fh.write(len(raw).to_bytes(8, "little") + raw)
        fh.truncate(8 + len(raw) + offset)


def _formats(root):
    """One small checkpoint of every format the readers support over a URL."""
    from safetensors.torch import save_file

    gen = torch.Generator().manual_seed(0)
    sd = {f"f.{i}.weight": torch.randn(16, 8, generator=gen) for i in range(4)}
    sd["f.3.bias"] = torch.arange(8, dtype=torch.int64)
    sd["tied"] = sd["f.0.weight"][2:5]
    torch.save(sd, root / "zip.pth")
    torch.save({"epoch": 3, "model_state_dict": sd, "optimizer_state_dict": {"state": {}}},
               root / "training.ckpt")
    torch.save(sd, root / "legacy.pth", _use_new_zipfile_serialization=False)
    save_file({k: v.contiguous() for k, v in sd.items() if k != "tied"},
              str(root / "model.safetensors"), metadata={"format": "pt"})
    (root / "sharded").mkdir()
    weight_map = {}
    for s in range(2):
        part = {f"layer{s}.{k}": torch.randn(8, 4, generator=gen) for k in range(3)}
        name = f"model-{s + 1:05d}-of-00002.safetensors"
        save_file(part, str(root / "sharded" / name))
        weight_map.update(dict.fromkeys(part, name))
    (root / "sharded" / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit warns in torch 2.13
        torch.jit.save(torch.jit.script(torch.nn.Linear(3, 2)), str(root / "script.pt"))
    with open(root / "bare.pkl", "wb") as fh:
        import pickle

        pickle.dump({"lr": 0.1, "names": ["a", "b"]}, fh, protocol=4)
    return ["zip.pth", "training.ckpt", "legacy.pth", "model.safetensors",
            "sharded/model.safetensors.index.json", "script.pt", "bare.pkl"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    if nginx_binary() is None:
        pytest.skip("nginx is not installed (apt-get install nginx; .ci/run installs it)")
    root = tmp_path_factory.mktemp("www")
    names = _formats(root)
    (root / "private").mkdir()
    shutil.copy(root / "zip.pth", root / "private" / "zip.pth")
    server = Nginx(root, tmp_path_factory.mktemp("nginx"))
    try:
        yield server, root, names
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECTOR_REMOTE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("INSPECTOR_REMOTE_TIMEOUT", "5")


def _described(ck) -> list:
    return [(p, i.dtype, i.shape, i.stride, i.storage_offset, i.storage.nbytes if i.storage else None)
            for p, i in ck.tensors()]


def _values(ck) -> dict:
    return {p: bytes(ck.storage_view(i.storage)) for p, i in ck.tensors() if i.storage}


def test_urls_are_recognized():
    assert is_url("https://h/x.pth") and is_url("s3://b/k") and is_url("hf://org/repo/f")
    assert not is_url("/tmp/x.pth") and not is_url("C:/x") and not is_url("file.pth")
    assert display_url("https://user:pw@h:8/a/b.pth?X-Amz-Signature=s") == "https://h:8/a/b.pth"
    assert url_name("s3://bucket/dir/model.safetensors") == "model.safetensors"


def test_every_format_reads_the_same_remotely(served):
    server, root, names = served
    for name in names:
        local = open_checkpoint(root / name)
        with open_checkpoint(f"{server.url}/{name}") as remote:
            assert remote.format == local.format, name
            assert _described(remote) == _described(local), name
            assert remote.globals == local.globals and remote.warnings == local.warnings, name
            assert _values(remote) == _values(local), name
            fetched = remote.details["remote"]
            assert 0 < fetched["bytes_fetched"] and fetched["requests"] > 0
        local.close()


def test_listing_a_1gb_file_fetches_under_1mb(served, tmp_path):
    server, root, _ = served
    big = {f"layers.{i}.weight": torch.zeros(1024, 16384) for i in range(16)}  # 16 x 64 MiB
    sparse_torch_save(big, root / "big.pth")
    del big
    sparse_safetensors(root / "big.safetensors",
                       {f"layers.{i}.weight": ([1024, 16384], 64 << 20) for i in range(16)})
    for name in ("big.pth", "big.safetensors"):
        assert os.path.getsize(root / name) >= GB
        before = server.bytes_sent(name)
        with open_checkpoint(f"{server.url}/{name}") as ck:
            assert ck.totals()["unique_storage_bytes"] == GB
            fetched = ck.details["remote"]["bytes_fetched"]
        time.sleep(0.2)  # nginx writes its log line after the response
        assert fetched <= 1 << 20, (name, fetched)
        assert server.bytes_sent(name) - before == fetched  # what nginx says it sent


def test_stats_of_a_remote_file_equal_the_local_ones(served, capsys):
    from inspector.cli import main

    server, root, _ = served
    for name in ("zip.pth", "sharded/model.safetensors.index.json"):
        outs = []
        for where in (str(root / name), f"{server.url}/{name}"):
            assert main(["stats", where, "--json"]) == 0
            outs.append(json.loads(capsys.readouterr().out)["tensors"])
        assert outs[0] == outs[1]


def test_tensor_bytes_go_through_a_bounded_disk_cache(served, tmp_path, monkeypatch):
    server, root, _ = served
    monkeypatch.setenv("INSPECTOR_REMOTE_CACHE_BYTES", "1000")
    with open_checkpoint(f"{server.url}/zip.pth") as ck:
        first = _values(ck)
        folder = tmp_path / "cache"
        files = list(folder.glob("*.bin"))
        # each storage is 512 bytes: at most the limit is kept, plus the one just read
        assert 1 <= len(files) <= 2 and sum(f.stat().st_size for f in files) <= 1000 + 512
    with open_checkpoint(f"{server.url}/zip.pth") as ck:
        assert _values(ck) == first


def test_missing_forbidden_and_unreachable_urls(served):
    server, _, _ = served
    cases = [(f"{server.url}/nope.pth", r"not found \(HTTP 404"),
             (f"{server.url}/private/zip.pth", r"access denied \(HTTP 403\)"),
             ("http://127.0.0.1:9/x.pth", r"cannot connect to the server")]
    for url, message in cases:
        with pytest.raises(CheckpointError) as info:
            open_checkpoint(url)
        assert re.search(message, info.value.problem), info.value.problem


def test_misbehaving_servers_get_clean_errors(served, monkeypatch):
    _, root, _ = served
    monkeypatch.setenv("INSPECTOR_REMOTE_TIMEOUT", "0.5")
    expected = {"norange": r"does not support range requests",
                "drop": r"connection dropped while reading",
                "silent": r"timed out: the server did not answer within 0\.5 s"}
    for kind, message in expected.items():
        with python_server(root, kind) as url:
            for name in ("zip.pth", "model.safetensors") if kind != "silent" else ("zip.pth",):
                with pytest.raises(CheckpointError) as info:
                    open_checkpoint(f"{url}/{name}")
                assert re.search(message, info.value.problem), (kind, info.value.problem)
                assert info.value.path == f"{url}/{name}"


def test_hostile_files_served_remotely_are_as_inert_as_local(tmp_path_factory, marker):
    """Same outcome (tree or message) and the same scan verdict and unsafe globals."""
    from inspector.core.remote.scan import scan_url
    from inspector.core.safety import scan
    from tests.hostile_corpus import CASES

    if nginx_binary() is None:
        pytest.skip("nginx is not installed")
    root = tmp_path_factory.mktemp("hostile")
    built = []
    for case in CASES:
        if case.name in SLOW_TO_BUILD:
            continue
        folder = root / case.name
        folder.mkdir()
        path = case.build(folder, marker)
        if path.is_file() and not path.is_symlink():
            built.append((case, path))
    assert len(built) >= 40
    server = Nginx(root, tmp_path_factory.mktemp("nginx-hostile"))
    try:
        for case, path in built:
            url = f"{server.url}/{path.relative_to(root).as_posix()}"
            outcomes = []
            for where in (path, url):
                try:
                    with open_checkpoint(where) as ck:
                        outcomes.append(("ok", _described(ck), ck.unsafe_globals, ck.warnings))
                except CheckpointError as e:
                    outcomes.append(("error", e.problem))
            assert outcomes[1] == outcomes[0], case.name
            assert outcomes[0][0] == case.open, case.name
            local_scan, remote_scan = scan(path), scan_url(url)
            assert remote_scan.verdict == local_scan.verdict == case.scan, case.name
            assert set(remote_scan.unsafe_globals) == set(local_scan.unsafe_globals), case.name
    finally:
        server.stop()
    assert not marker.exists()


def test_a_dcp_checkpoint_behind_a_url(served):
    """torch.distributed.checkpoint over HTTP: open its .metadata URL (HTTP cannot list a
    folder); values, shards and tensor bytes equal the local folder's."""
    import torch.distributed.checkpoint as dcp

    server, root, _ = served
    gen = torch.Generator().manual_seed(5)
    state = {"model": {"w": torch.randn(6, 4, generator=gen), "b": torch.arange(4.0)},
             "step": 11, "lr": 0.01}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "assuming the intent is to save in a single process"
        dcp.save(state, checkpoint_id=str(root / "dcp"))
    with open_checkpoint(root / "dcp") as local, \
            open_checkpoint(f"{server.url}/dcp/.metadata") as remote:
        assert remote.format == local.format == "dcp"
        assert _described(remote) == _described(local)
        assert _values(remote) == _values(local)
        assert remote.find(("step",)).value == 11 and remote.warnings == local.warnings
        assert remote.details["remote"]["bytes_fetched"] > 0


def test_cache_eviction_keeps_the_newest(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    folder.mkdir()
    monkeypatch.setenv("INSPECTOR_REMOTE_CACHE_DIR", str(folder))
    for i in range(4):
        f = folder / f"{i}.bin"
        f.write_bytes(b"x" * 100)
        os.utime(f, (1000 + i, 1000 + i))
    assert remote_cache.evict(limit=250) == 200
    assert sorted(p.name for p in folder.iterdir()) == ["2.bin", "3.bin"]
