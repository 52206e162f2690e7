"""A folder behind a URL (an ``s3://`` prefix, an ``hf://`` repository): read as a Hugging
Face model folder, listed through fsspec. Only ``config.json``, the index and each shard's
metadata are fetched."""

from __future__ import annotations

import json
from typing import Any

from inspector.core.checkpoint import Checkpoint
from inspector.core.formats.hf_folder import (
    CONFIG_NAME,
    MAX_CONFIG_BYTES,
    OpenFile,
    _Shards,
    choose_weight_files,
    folder_checkpoint,
    read_hf_index,
)
from inspector.core.model import DICT, CheckpointError, Node
from inspector.core.remote.source import RemoteFile, remote_file, translate
from inspector.core.remote.urls import display_url, url_join

MAX_LISTED = 100_000


def read_remote_folder(url: str, remote: RemoteFile, open_file: OpenFile) -> Checkpoint:
    try:
        entries = remote.fs.ls(remote.fspath, detail=True)
    except Exception as e:  # noqa: BLE001 - every backend error becomes one message
        raise translate(url, e) from None
    if len(entries) > MAX_LISTED:
        raise CheckpointError(display_url(url), f"the folder lists more than {MAX_LISTED} entries")
    names = sorted(str(e["name"]).rstrip("/").rsplit("/", 1)[-1] for e in entries
                   if e.get("type") == "file")
    if ".metadata" in names:  # a torch.distributed.checkpoint folder
        from inspector.core.formats.dcp import read_dcp

        return read_dcp(url.rstrip("/"))
    folder = url.rstrip("/")
    warnings: list[str] = []
    config = _read_config(folder, names, warnings)
    kind, chosen = choose_weight_files(names)
    if not kind:
        if config is None:
            raise CheckpointError(display_url(url), "a folder without checkpoint files "
                                                    "(config.json, *.safetensors, "
                                                    "pytorch_model*.bin or *.index.json)")
        warnings.append("no weight files (*.safetensors, pytorch_model*.bin) in the folder")
        ck = Checkpoint(path=url, format="hf-folder", size_bytes=0,
                        root=Node(None, DICT, type_name="model folder"))
    elif kind == "index":
        index_url = url_join(folder, chosen[0])
        ck = read_hf_index(index_url, open_file)
        index_remote = remote_file(index_url)
        fetched = ck.details.setdefault("remote", {"bytes_fetched": 0, "requests": 0})
        fetched["bytes_fetched"] += index_remote.fetched
        fetched["requests"] += index_remote.requests
        ck.details["index"] = chosen[0]
        ck.path = url
    else:
        merged = _Shards(folder, open_file, "model folder")
        for name in chosen:
            merged.add(name)
        ck = merged.checkpoint(url, "hf-folder", 0, {})
    return folder_checkpoint(ck, warnings, config, kind)


def _read_config(folder: str, names: list[str], warnings: list[str]) -> dict[str, Any] | None:
    if CONFIG_NAME not in names:
        return None
    remote = remote_file(url_join(folder, CONFIG_NAME))
    if (remote.size or 0) > MAX_CONFIG_BYTES:
        warnings.append(f"{CONFIG_NAME} is {remote.size} bytes, over the {MAX_CONFIG_BYTES}-byte "
                        "limit; not read")
        return None
    try:
        config = json.loads(remote.read(0, remote.size or 0).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        warnings.append(f"{CONFIG_NAME} is not valid JSON ({str(e)[:200]})")
        return None
    if not isinstance(config, dict):
        warnings.append(f"{CONFIG_NAME} is not a JSON object")
        return None
    return config
