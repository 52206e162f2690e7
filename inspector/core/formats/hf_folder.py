"""Hugging Face model folders: ``config.json`` plus weights, possibly in several shards.

Weights are found in this order: a shard index (``model.safetensors.index.json``,
``pytorch_model.bin.index.json``, any other ``*.index.json``), else every top-level
``*.safetensors`` file, else every ``pytorch_model*.bin`` file. All shards are merged into
one flat tree keyed by tensor name. ``config.json`` is parsed as JSON (size-capped) into
``details["config"]``; it is never executed (``auto_map`` code references are just text).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

from inspector.core.checkpoint import DICT, TENSOR, Checkpoint, CheckpointError, Node
from inspector.core.formats.safetensors import read_hf_index
from inspector.core.model import AmbiguousArchiveError

CONFIG_NAME = "config.json"
MAX_CONFIG_BYTES = 16 << 20
INDEX_NAMES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
BIN_PATTERN = re.compile(r"pytorch_model.*\.bin")


def _listing(folder: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(folder) if os.path.isfile(os.path.join(folder, n)))
    except OSError as e:
        raise CheckpointError(folder, f"cannot list the folder ({e.strerror or e})") from None


def weight_files(folder: str) -> tuple[str, list[str]]:
    """("index", [index]) | ("safetensors", files) | ("bin", files) | ("", [])."""
    names = _listing(folder)
    for name in INDEX_NAMES:
        if name in names:
            return "index", [name]
    indexes = [n for n in names if n.endswith(".index.json")]
    if indexes:
        return "index", indexes[:1]
    st = [n for n in names if n.endswith(".safetensors")]
    if st:
        return "safetensors", st
    bins = [n for n in names if BIN_PATTERN.fullmatch(n)]
    if bins:
        return "bin", bins
    return "", []


def looks_hf_folder(folder: str) -> bool:
    return os.path.isfile(os.path.join(folder, CONFIG_NAME)) or bool(weight_files(folder)[1])


def read_config(folder: str, warnings: list[str]) -> dict[str, Any] | None:
    path = os.path.join(folder, CONFIG_NAME)
    if not os.path.isfile(path):
        return None
    try:
        size = os.path.getsize(path)
        if size > MAX_CONFIG_BYTES:
            warnings.append(f"{CONFIG_NAME} is {size} bytes, over the {MAX_CONFIG_BYTES}-byte "
                            "limit; not read")
            return None
        with open(path, "rb") as fh:
            config = json.loads(fh.read(MAX_CONFIG_BYTES).decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        warnings.append(f"{CONFIG_NAME} is not valid JSON ({str(e)[:200]})")
        return None
    if not isinstance(config, dict):
        warnings.append(f"{CONFIG_NAME} is not a JSON object")
        return None
    return config


def read_hf_folder(folder: str, open_file: Callable[[str], Checkpoint]) -> Checkpoint:
    """Open a model folder: every weight shard merged, config.json in ``details``."""
    folder = os.fspath(folder)
    warnings: list[str] = []
    config = read_config(folder, warnings)
    kind, names = weight_files(folder)
    if not kind:
        if config is None:
            raise CheckpointError(folder, "a folder without checkpoint files (no .metadata, "
                                          "config.json, *.safetensors, pytorch_model*.bin or "
                                          "*.index.json); open a file in it")
        warnings.append("no weight files (*.safetensors, pytorch_model*.bin) in the folder")
        ck = Checkpoint(path=folder, format="hf-folder", size_bytes=0,
                        root=Node(None, DICT, type_name="model folder"))
    elif kind == "index":
        ck = read_hf_index(os.path.join(folder, names[0]), open_file)
        ck.details["index"] = names[0]
        ck.path = folder
    else:
        ck = _merge(folder, names, open_file)
    ck.format = "hf-folder"
    ck.warnings = warnings + ck.warnings
    ck.details["config"] = config
    ck.details["weights"] = kind or None
    if config is not None:
        for key in ("model_type", "architectures", "torch_dtype"):
            if key in config:
                ck.details[key] = config[key]
    return ck


def _merge(folder: str, names: list[str], open_file: Callable[[str], Checkpoint]) -> Checkpoint:
    root = Node(None, DICT, type_name="model folder")
    warnings: list[str] = []
    globals_seen: dict[str, None] = {}
    unsafe: dict[str, None] = {}
    seen: set[str] = set()
    shard_sizes: dict[str, int] = {}
    total = 0
    for name in names:
        try:
            ck = open_file(os.path.join(folder, name))
        except AmbiguousArchiveError:
            raise  # what torch would load is unclear: never shown as a mere warning
        except CheckpointError as e:
            warnings.append(f"shard {name}: {e.problem}")
            continue
        total += ck.size_bytes
        shard_sizes[name] = ck.size_bytes
        globals_seen.update(dict.fromkeys(ck.globals))
        unsafe.update(dict.fromkeys(ck.unsafe_globals))
        warnings += [f"shard {name}: {w}" for w in ck.warnings]
        for node in ck.tensor_nodes():
            tname = ".".join(str(k) for k in node.path())
            if tname in seen:
                warnings.append(f"tensor {tname} appears in more than one shard")
                continue
            seen.add(tname)
            root.add(tname, TENSOR, type_name=node.type_name, tensor=node.tensor)
    return Checkpoint(path=folder, format="hf-folder", size_bytes=total, root=root,
                      globals=list(globals_seen), unsafe_globals=list(unsafe), warnings=warnings,
                      details={"shards": shard_sizes})
