"""``s3://`` checkpoints (issue 16) against moto's S3 server on 127.0.0.1 (s3fs with the
endpoint from ``AWS_ENDPOINT_URL_S3``, credentials from the environment as boto does)."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("s3fs")
moto_server = pytest.importorskip("moto.server")

from inspector.core.checkpoint import CheckpointError  # noqa: E402
from inspector.core.formats import open_checkpoint  # noqa: E402
from tests.remote_servers import free_port  # noqa: E402


@pytest.fixture(scope="module")
def bucket(tmp_path_factory):
    import s3fs
    from safetensors.torch import save_file

    port = free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    mp = pytest.MonkeyPatch()
    endpoint = f"http://127.0.0.1:{port}"
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL_S3": endpoint}.items():
        mp.setenv(k, v)
    root = tmp_path_factory.mktemp("s3src")
    gen = torch.Generator().manual_seed(1)
    sd = {f"block.{i}.weight": torch.randn(32, 16, generator=gen) for i in range(3)}
    torch.save({"model": sd, "step": 7}, root / "train.pth")
    save_file(sd, str(root / "model.safetensors"))
    fs = s3fs.S3FileSystem(endpoint_url=endpoint, key="testing", secret="testing")
    fs.mkdir("ckpts")
    for name in ("train.pth", "model.safetensors"):
        fs.put(str(root / name), f"ckpts/runs/{name}")
    # a Hugging Face model folder under a prefix: config, index, two shards
    folder = root / "hf"
    folder.mkdir()
    weight_map = {}
    for s in range(2):
        part = {f"layer{s}.{k}": torch.randn(4, 4, generator=gen) for k in range(2)}
        save_file(part, str(folder / f"model-{s + 1}-of-2.safetensors"))
        weight_map.update(dict.fromkeys(part, f"model-{s + 1}-of-2.safetensors"))
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    (folder / "config.json").write_text(json.dumps({"model_type": "toy"}))
    for f in folder.iterdir():
        fs.put(str(f), f"ckpts/models/toy/{f.name}")
    try:
        yield root
    finally:
        mp.undo()
        server.stop()


def test_s3_checkpoints_read_like_local_files(bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECTOR_REMOTE_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("train.pth", "model.safetensors"):
        with open_checkpoint(bucket / name) as local, \
                open_checkpoint(f"s3://ckpts/runs/{name}") as remote:
            assert remote.format == local.format
            assert [(p, i.dtype, i.shape) for p, i in remote.tensors()] == \
                   [(p, i.dtype, i.shape) for p, i in local.tensors()]
            for (_, a), (_, b) in zip(remote.tensors(), local.tensors()):
                assert bytes(remote.storage_view(a.storage)) == bytes(local.storage_view(b.storage))
            assert 0 < remote.details["remote"]["bytes_fetched"]


def test_a_missing_s3_object_is_one_clear_error(bucket):
    with pytest.raises(CheckpointError, match=r"not found \(HTTP 404"):
        open_checkpoint("s3://ckpts/runs/missing.pth")


def test_an_s3_prefix_opens_as_a_model_folder(bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("INSPECTOR_REMOTE_CACHE_DIR", str(tmp_path / "cache"))
    with open_checkpoint(bucket / "hf") as local, open_checkpoint("s3://ckpts/models/toy") as ck:
        assert ck.format == local.format == "hf-folder"
        assert ck.details["model_type"] == "toy" and ck.details["index"] == local.details["index"]
        assert [p for p, _ in ck.tensors()] == [p for p, _ in local.tensors()]
        assert ck.details["remote"]["bytes_fetched"] > 0
        for (_, a), (_, b) in zip(ck.tensors(), local.tensors()):
            assert bytes(ck.storage_view(a.storage)) == bytes(local.storage_view(b.storage))
