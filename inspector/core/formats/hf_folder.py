"""Hugging Face model folders: ``config.json`` plus weights, possibly in several shards.

Weights are found in this order: a shard index (``model.safetensors.index.json``,
``pytorch_model.bin.index.json``, any other ``*.index.json``), else every top-level
``*.safetensors`` file, else every ``pytorch_model*.bin`` file. All shards are merged into
one flat tree keyed by tensor name. ``config.json`` is parsed as JSON (size-capped) into
``details["config"]``; it is never executed (``auto_map`` code references are just text).

The work is bounded by the folder, not by what an index claims: every shard file is opened
once however many names it holds, an index may not name itself or another index, at most
``MAX_SHARDS`` distinct files are opened, and nothing is read through a symlink that leads
out of the folder.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

from inspector.core.checkpoint import Checkpoint
from inspector.core.model import DICT, TENSOR, AmbiguousArchiveError, CheckpointError, Node
from inspector.core.remote.urls import is_url, url_join, url_parent
from inspector.core.text import dotted_path

CONFIG_NAME = "config.json"
MAX_CONFIG_BYTES = 16 << 20
MAX_INDEX_BYTES = 100_000_000
MAX_SHARDS = 10_000  # distinct files one index may name
INDEX_NAMES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
BIN_PATTERN = re.compile(r"pytorch_model.*\.bin")

OpenFile = Callable[[str], Checkpoint]


def _listing(folder: str) -> list[str]:
    try:
        return sorted(n for n in os.listdir(folder) if os.path.isfile(os.path.join(folder, n)))
    except OSError as e:
        raise CheckpointError(folder, f"cannot list the folder ({e.strerror or e})") from None


def weight_files(folder: str) -> tuple[str, list[str]]:
    """("index", [index]) | ("safetensors", files) | ("bin", files) | ("", [])."""
    return choose_weight_files(_listing(folder))


def choose_weight_files(names: list[str]) -> tuple[str, list[str]]:
    """:func:`weight_files` over a sorted list of the folder's file names."""
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


def inside_folder(folder: str, name: str) -> bool:
    """Whether ``folder/name``, symlinks resolved, is still in ``folder``."""
    if is_url(folder):  # no symlinks behind a URL; names were checked not to climb out
        return True
    real_folder = os.path.realpath(folder)
    real = os.path.realpath(os.path.join(folder, name))
    return os.path.commonpath([real, real_folder]) == real_folder


def read_config(folder: str, warnings: list[str]) -> dict[str, Any] | None:
    path = os.path.join(folder, CONFIG_NAME)
    if not os.path.isfile(path):
        return None
    if not inside_folder(folder, CONFIG_NAME):
        warnings.append(f"{CONFIG_NAME} is a link to a file outside the folder; not read")
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


class _Shards:
    """Shards merged into one flat tree: each file opened once, names checked in sets."""

    def __init__(self, folder: str, open_file: OpenFile, type_name: str):
        self.folder = folder
        self.open_file = open_file
        self.root = Node(None, DICT, type_name=type_name)
        self.warnings: list[str] = []
        self.globals: dict[str, None] = {}
        self.unsafe: dict[str, None] = {}
        self.names: set[str] = set()
        self.sizes: dict[str, int] = {}
        self.repeated: list[str] = []
        self.misplaced: list[str] = []
        self.fetched = {"bytes_fetched": 0, "requests": 0}  # by remote shards

    def add(self, name: str, weight_map: dict[str, str] | None = None) -> None:
        """Open shard ``name`` of the folder and add its tensors (a warning if it cannot be
        read; an error if it is ambiguous)."""
        if not inside_folder(self.folder, name):
            self.warnings.append(f"shard {name} is a link to a file outside the folder; not read")
            return
        try:
            ck = self.open_file(_join(self.folder, name))
        except AmbiguousArchiveError:
            raise  # what torch would load is unclear: never shown as a mere warning
        except CheckpointError as e:
            self.warnings.append(f"shard {name}: {e.problem}")
            return
        self.sizes[name] = ck.size_bytes
        fetched = ck.details.get("remote")
        if fetched:
            self.fetched["bytes_fetched"] += fetched["bytes_fetched"]
            self.fetched["requests"] += fetched["requests"]
        self.globals.update(dict.fromkeys(ck.globals))
        self.unsafe.update(dict.fromkeys(ck.unsafe_globals))
        self.warnings += [f"shard {name}: {w}" for w in ck.warnings]
        for node in ck.tensor_nodes():
            tname = dotted_path(node.path())
            if weight_map is not None and weight_map.get(tname) != name:
                self.misplaced.append(f"{tname} (in {name})")
            if tname in self.names:
                self.repeated.append(tname)
                continue
            self.names.add(tname)
            self.root.add(tname, TENSOR, type_name=node.type_name, tensor=node.tensor)

    def checkpoint(self, path: str, fmt: str, size: int, details: dict[str, Any]) -> Checkpoint:
        for found, text in ((self.misplaced, "the index does not place"),
                            (self.repeated, "more than one shard holds")):
            if found:
                self.warnings.append(f"{text} {len(found)} tensor(s), e.g. {found[0]}")
        return Checkpoint(path=path, format=fmt, size_bytes=size + sum(self.sizes.values()),
                          root=self.root, globals=list(self.globals),
                          unsafe_globals=list(self.unsafe), warnings=self.warnings,
                          details={"shards": self.sizes, **details,
                                   **({"remote": self.fetched} if is_url(path) else {})})


def read_hf_index(path: str, open_file: OpenFile) -> Checkpoint:
    """A ``*.index.json`` with a ``weight_map``: every shard merged into one tree."""
    remote = _remote(path)
    size = remote.size if remote is not None else os.path.getsize(path)
    if size is None or size > MAX_INDEX_BYTES:
        raise CheckpointError(path, f"index file is {size} bytes, over the {MAX_INDEX_BYTES}-"
                                    "byte limit")
    try:
        if remote is not None:
            raw = remote.read(0, size)
        else:
            with open(path, "rb") as fh:
                raw = fh.read()
        index = json.loads(raw.decode("utf-8"))
        weight_map = index["weight_map"]
        if not isinstance(weight_map, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()):
            raise ValueError("weight_map must map tensor names to file names")
    except (KeyError, TypeError, ValueError, UnicodeDecodeError, RecursionError) as e:
        raise CheckpointError(path, f"not a Hugging Face shard index ({str(e)[:200]})") from e
    folder = url_parent(path) if remote is not None else os.path.dirname(os.path.abspath(path))
    shards = list(dict.fromkeys(weight_map.values()))  # each file once, in first-named order
    if len(shards) > MAX_SHARDS:
        raise CheckpointError(path, f"the index names {len(shards)} shard files, more than the "
                                    f"limit of {MAX_SHARDS} shard files")
    me = _real(path)
    for shard in shards:
        if os.path.isabs(shard) or ".." in shard.replace("\\", "/").split("/") or (
                remote is not None and ("://" in shard or shard.startswith(("/", "?", "#")))):
            raise CheckpointError(path, f"shard name {shard!r} points outside the folder")
        shard_path = _join(folder, shard)
        if _real(shard_path) == me:
            raise CheckpointError(path, "the index refers to itself as a shard")
        if _is_json(shard_path):
            raise CheckpointError(path, f"shard {shard} is another shard index, not a weight file")
    merged = _Shards(folder, open_file, "sharded state_dict")
    for shard in shards:
        merged.add(shard, weight_map)
    missing = [k for k in weight_map if k not in merged.names]
    if missing:
        merged.warnings.append(f"{len(missing)} tensors named in the index were not found, "
                               f"e.g. {missing[0]}")
    return merged.checkpoint(path, "hf-sharded", size, {"index_metadata": index.get("metadata")})


def _is_json(path: str) -> bool:
    try:
        if is_url(path):
            from inspector.core.remote.source import remote_file

            return remote_file(path).read(0, 64).lstrip()[:1] in (b"{", b"[")
        with open(path, "rb") as fh:
            return fh.read(64).lstrip()[:1] in (b"{", b"[")
    except (OSError, CheckpointError):
        return False  # reported when the shard is opened


def _remote(path: str):
    """The RemoteFile of a URL (None for a local path)."""
    if not is_url(path):
        return None
    from inspector.core.remote.source import remote_file

    return remote_file(path)


def _join(folder: str, name: str) -> str:
    return url_join(folder, name) if is_url(folder) else os.path.join(folder, name)


def _real(path: str) -> str:
    return path.split("?", 1)[0] if is_url(path) else os.path.realpath(path)


def read_hf_folder(folder: str, open_file: OpenFile) -> Checkpoint:
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
        if not inside_folder(folder, names[0]):
            raise CheckpointError(folder, f"{names[0]} is a link to a file outside the folder")
        ck = read_hf_index(os.path.join(folder, names[0]), open_file)
        ck.details["index"] = names[0]
        ck.path = folder
    else:
        merged = _Shards(folder, open_file, "model folder")
        for name in names:
            merged.add(name)
        ck = merged.checkpoint(folder, "hf-folder", 0, {})
    return folder_checkpoint(ck, warnings, config, kind)


def folder_checkpoint(ck: Checkpoint, warnings: list[str], config: dict[str, Any] | None,
                      kind: str | None) -> Checkpoint:
    """A model folder's checkpoint, local or remote: its format, the folder's warnings first,
    and what ``config.json`` says about the model in the details."""
    ck.format = "hf-folder"
    ck.warnings = warnings + ck.warnings
    ck.details["config"] = config
    ck.details["weights"] = kind or None
    if config is not None:
        for key in ("model_type", "architectures", "torch_dtype"):
            if key in config:
                ck.details[key] = config[key]
    return ck
