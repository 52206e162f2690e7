"""torch.distributed.checkpoint (DCP) folders: ``.metadata`` plus ``__<rank>_<n>.distcp`` files.

``.metadata`` is a pickle that torch reads with plain ``pickle.load``; we read it only with the
inert unpickler, so the DCP metadata classes arrive as named placeholders whose recorded
state we interpret structurally (torch.distributed is never imported). Each stored item
(a tensor chunk, or a non-tensor value) is a small ``torch.save`` archive at a byte range of
a ``.distcp`` file; a tensor kept in one chunk points straight at its storage record inside
that archive, so its bytes are read through the usual memory map. A tensor split into several
chunks that cover it exactly (in bounds, disjoint) gets layout ``"sharded"`` and one
:class:`TensorChunk` per chunk (its offsets, sizes and view of its own storage record); its
values are assembled from the chunks only when asked for (``Checkpoint.tensor``, statistics,
diff). Partly covered or overlapping tensors keep ``storage=None`` and a note saying why.

Key paths: DCP flattens nested state_dicts into dotted names (``model.layer.weight``) and
records the original key path of every name in ``planner_data`` (``('model', 'layer.weight')``).
We use that path when present and valid; otherwise the dotted name is one top-level key (a
dot cannot be split reliably: ``layer.weight`` is itself one key of the inner dict).
"""

from __future__ import annotations

import math
import mmap
import os
import re
import stat
from dataclasses import dataclass
from typing import Any

from inspector.core.checkpoint import Checkpoint
from inspector.core.dtypes import DTYPES
from inspector.core.formats._chunks import TooIrregular, first_overlap
from inspector.core.formats._torch_pickle import read_embedded_torch_save
from inspector.core.model import (
    DICT,
    LIST,
    MAX_DIM,
    STRING,
    TENSOR,
    AmbiguousArchiveError,
    CheckpointError,
    Node,
    StorageInfo,
    TensorChunk,
    TensorInfo,
    contiguous_stride,
)
from inspector.core.remote.source import RemoteBuffer, remote_file
from inspector.core.remote.urls import is_url, url_join
from inspector.core.tree import TreeBuilder, graft
from inspector.core.unpickler import (
    DtypeMarker,
    InertPickleError,
    Opaque,
    StorageRef,
    TensorRef,
    describe_value,
    load_inert,
)

METADATA_NAME = ".metadata"
MAX_METADATA_BYTES = 1 << 30
MAX_PATH_KEYS = 64
MAX_ITEMS = 2_000_000  # names in the metadata
MAX_CHUNKS = 1_000_000  # tensor chunks of all names together

_META = "torch.distributed.checkpoint.metadata."
# Globals that torch itself writes into a DCP .metadata. They are never resolved or called;
# they are only *expected* here, so they are not reported as unsafe for this format.
DCP_EXPECTED_GLOBALS = frozenset({
    _META + "Metadata", _META + "TensorStorageMetadata", _META + "BytesStorageMetadata",
    _META + "ChunkStorageMetadata", _META + "TensorProperties", _META + "MetadataIndex",
    _META + "StorageMeta", _META + "_MEM_FORMAT_ENCODING",
    "torch.distributed.checkpoint.filesystem._StorageInfo",
    "torch.distributed._shard.sharded_tensor.metadata.TensorProperties",
    "torch.distributed._shard.sharded_tensor.metadata.MEM_FORMAT_ENCODING",
    # StorageMeta.checkpoint_id is the path the checkpoint was saved to
    "pathlib.PosixPath", "pathlib.WindowsPath", "pathlib.PurePosixPath",
    "pathlib.PureWindowsPath", "pathlib._local.PosixPath", "pathlib._local.WindowsPath",
})


def looks_dcp_folder(path: str) -> bool:
    return os.path.isfile(os.path.join(path, METADATA_NAME))


def looks_dcp_metadata(head: bytes) -> bool:
    """The first bytes of a pickle whose first global is DCP's Metadata class."""
    return head[:1] == b"\x80" and b"torch.distributed.checkpoint.metadata" in head[:128]


# ---------------------------------------------------------------------------------------
# Reading the placeholders the metadata pickle builds
# ---------------------------------------------------------------------------------------
def _global(v: Any) -> str:
    return v.global_name if isinstance(v, Opaque) else ""


def _fields(v: Any) -> dict[str, Any]:
    """The attribute dict a pickled object recorded (dict state or (dict, slots) state)."""
    if not isinstance(v, Opaque):
        return {}
    state = v.state
    out: dict[str, Any] = {}
    if isinstance(state, dict):
        out.update(state)
    elif isinstance(state, tuple) and len(state) == 2 and all(
            s is None or isinstance(s, dict) for s in state):
        out.update(state[0] or {})
        out.update(state[1] or {})
    return {k: val for k, val in out.items() if isinstance(k, str)}


def _int_tuple(v: Any, what: str) -> tuple[int, ...]:
    if not isinstance(v, (tuple, list)) or len(v) > MAX_DIM or not all(
            type(x) is int and x >= 0 for x in v):
        raise ValueError(f"invalid {what}: {describe_value(v)}")
    return tuple(v)


def _dtype_of(props: Any) -> str:
    if isinstance(props, Opaque):
        fields = _fields(props)
        dtype = fields.get("dtype")
        if dtype is None and isinstance(props.state, tuple) and props.state:
            dtype = props.state[0]  # TensorProperties.__getstate__: (dtype, layout, ...)
        if isinstance(dtype, DtypeMarker) and dtype.name in DTYPES:
            return dtype.name
    raise ValueError(f"unknown tensor properties {describe_value(props)}")


@dataclass
class _Item:
    """Where one stored item lives."""

    file: str  # relative name in the folder
    offset: int
    length: int


class _Files:
    """The folder's data files: sizes, maps (opened once), and problems reported once."""

    def __init__(self, folder: str, warnings: list[str]):
        self.folder = folder
        self.warnings = warnings
        self.sizes: dict[str, int | None] = {}
        self.problems: dict[str, str] = {}
        self._maps: dict[str, tuple[Any, mmap.mmap]] = {}

    def check(self, name: str) -> str | None:
        """None when ``name`` is readable, else why not (warned once per file)."""
        if name in self.problems:
            return self.problems[name]
        if name in self.sizes:
            return None
        problem = None
        if not name or "/" in name or "\\" in name or name in (".", "..") or "\0" in name:
            problem = f"data file name {name!r} points outside the folder"
        elif is_url(self.folder):
            try:
                remote = remote_file(url_join(self.folder, name))
            except CheckpointError as e:
                problem = f"data file {name} cannot be read ({e.problem})"
            else:
                if remote.kind == "directory" or remote.size is None:
                    problem = f"data file {name} is not a regular file"
                else:
                    self.sizes[name] = remote.size
        else:
            full = os.path.join(self.folder, name)
            try:
                st = os.stat(full)
            except FileNotFoundError:
                problem = f"data file {name} is missing"
            except OSError as e:
                problem = f"data file {name} cannot be read ({e.strerror or e})"
            else:
                if not stat.S_ISREG(st.st_mode):
                    problem = f"data file {name} is not a regular file"
                else:
                    self.sizes[name] = st.st_size
        if problem:
            self.sizes[name] = None
            self.problems[name] = problem
            self.warnings.append(f"{problem}; the items stored in it cannot be read")
        return problem

    def item_problem(self, item: _Item) -> str | None:
        problem = self.check(item.file)
        if problem:
            return problem
        size = self.sizes[item.file] or 0
        if item.offset + item.length > size:
            key = f"truncated:{item.file}"
            if key not in self.problems:
                self.problems[key] = f"data file {item.file} is truncated"
                self.warnings.append(f"data file {item.file} is truncated ({size} bytes; items "
                                     f"up to byte {item.offset + item.length} are missing)")
            return (f"data file {item.file} is truncated (needs bytes {item.offset}.."
                    f"{item.offset + item.length}, has {size})")
        return None

    def path(self, name: str) -> str:
        return url_join(self.folder, name) if is_url(self.folder) else os.path.join(self.folder,
                                                                                     name)

    def map(self, name: str) -> mmap.mmap:
        if is_url(self.folder):  # ranged reads of the remote file, as a buffer
            return RemoteBuffer(remote_file(url_join(self.folder, name)))
        entry = self._maps.get(name)
        if entry is None:
            fh = open(os.path.join(self.folder, name), "rb")  # noqa: SIM115 - closed in close()
            try:
                mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                fh.close()
                raise
            entry = self._maps[name] = (fh, mm)
        return entry[1]

    def close(self) -> None:
        for fh, mm in self._maps.values():
            try:
                mm.close()
            except BufferError:
                pass
            fh.close()
        self._maps.clear()


# ---------------------------------------------------------------------------------------
# The reader
# ---------------------------------------------------------------------------------------
def _read_metadata(folder: str, meta_path: str) -> bytes:
    try:
        st = os.stat(meta_path)
    except OSError:
        raise CheckpointError(folder, "no .metadata file: not a torch.distributed.checkpoint "
                                      "folder") from None
    if not stat.S_ISREG(st.st_mode):
        raise CheckpointError(meta_path, "is not a regular file")
    if st.st_size > MAX_METADATA_BYTES:
        raise CheckpointError(meta_path, f"is {st.st_size} bytes, over the "
                                         f"{MAX_METADATA_BYTES}-byte limit")
    with open(meta_path, "rb") as fh:
        return fh.read(MAX_METADATA_BYTES)


def read_dcp(folder: str) -> Checkpoint:
    """Open a DCP checkpoint folder: logical state_dict, shards, per-file sizes."""
    folder = os.fspath(folder)
    if is_url(folder):
        folder = folder.rstrip("/")
        meta_path = url_join(folder, METADATA_NAME)
        remote = remote_file(meta_path)
        size = remote.size or 0
        if remote.kind == "directory":
            raise CheckpointError(meta_path, "is not a regular file")
        if size > MAX_METADATA_BYTES:
            raise CheckpointError(meta_path, f"is {size} bytes, over the "
                                             f"{MAX_METADATA_BYTES}-byte limit")
        data = remote.read(0, size)
    else:
        meta_path = os.path.join(folder, METADATA_NAME)
        data = _read_metadata(folder, meta_path)
    if not data:
        raise CheckpointError(meta_path, "file is empty")
    try:
        res = load_inert(data)
    except InertPickleError as e:
        named = [g for g in e.unsafe_globals if g not in DCP_EXPECTED_GLOBALS]
        extra = f" (it names {', '.join(named[:5])})" if named else ""
        raise CheckpointError(meta_path, f"unreadable DCP metadata: {e}{extra}") from e
    globals_seen = list(res.globals)
    unsafe = [g for g in res.unsafe_globals if g not in DCP_EXPECTED_GLOBALS]
    meta = res.obj
    if _global(meta) != _META + "Metadata":
        raise CheckpointError(meta_path, f"not DCP metadata (it holds {describe_value(meta)})")
    fields = _fields(meta)
    sd_meta = fields.get("state_dict_metadata")
    if not isinstance(sd_meta, dict):
        raise CheckpointError(meta_path, "DCP metadata without a state_dict_metadata dict")
    planner = fields.get("planner_data")
    planner = planner if isinstance(planner, dict) else {}
    storage_data = fields.get("storage_data")
    storage_data = storage_data if isinstance(storage_data, dict) else {}

    warnings: list[str] = []
    if res.end < len(data):
        warnings.append(f".metadata: {len(data) - res.end} bytes follow the pickle and were "
                        "not read")
    # (fqn, offsets or None) -> where the item lives
    locations: dict[tuple[str, tuple[int, ...] | None], _Item] = {}
    bad_entries = 0
    for index, info in storage_data.items():
        idx, loc = _fields(index), _fields(info)
        fqn, off = idx.get("fqn"), idx.get("offset")
        rel, start, length = loc.get("relative_path"), loc.get("offset"), loc.get("length")
        if not (isinstance(fqn, str) and isinstance(rel, str) and type(start) is int
                and type(length) is int and start >= 0 and length >= 0):
            bad_entries += 1
            continue
        try:
            key = (fqn, None if off is None else _int_tuple(off, "chunk offset"))
        except ValueError:
            bad_entries += 1
            continue
        locations[key] = _Item(rel, start, length)
    if bad_entries:
        warnings.append(f".metadata: {bad_entries} storage entries are malformed and ignored")

    files = _Files(folder, warnings)
    for item in locations.values():
        files.check(item.file)

    root = Node(None, DICT, type_name="state_dict (DCP)")
    containers: dict[tuple, Node] = {(): root}
    leaves: set[tuple] = set()
    tensor_shards: dict[tuple, list[dict[str, Any]]] = {}
    per_file_items: dict[str, int] = {}
    seen_globals = dict.fromkeys(globals_seen)
    unsafe_seen = dict.fromkeys(unsafe)

    def note_globals(g: list[str], u: list[str]) -> None:
        seen_globals.update(dict.fromkeys(g))
        unsafe_seen.update(dict.fromkeys(u))

    def place(fqn: str) -> tuple[Node, Any] | None:
        path = _logical_path(fqn, planner.get(fqn))
        if path is None or not _free(path, containers, leaves):
            path = (fqn,)
            if not _free(path, containers, leaves):
                warnings.append(f"item {fqn!r} collides with another item's key path; not shown")
                return None
        parent = root
        for i in range(len(path) - 1):
            prefix = path[:i + 1]
            node = containers.get(prefix)
            if node is None:
                kind = LIST if type(path[i + 1]) is int else DICT
                node = parent.add(path[i], kind, type_name="list" if kind == LIST else "dict")
                containers[prefix] = node
            parent = node
        leaves.add(path)
        return parent, path[-1]

    if len(sd_meta) > MAX_ITEMS:
        raise CheckpointError(meta_path, f"the metadata lists {len(sd_meta)} items, more than "
                                         f"the limit of {MAX_ITEMS}")
    chunk_count = 0
    for item_meta in sd_meta.values():  # an entry shared by many names counts once per name
        chunks = _fields(item_meta).get("chunks")
        chunk_count += len(chunks) if isinstance(chunks, list) else 0
    if chunk_count > MAX_CHUNKS:
        raise CheckpointError(meta_path, f"the metadata lists {chunk_count} chunks in all, "
                                         f"more than the limit of {MAX_CHUNKS} chunks")
    try:
        for fqn, item_meta in sd_meta.items():
            if not isinstance(fqn, str):
                warnings.append(f".metadata: a non-text item name {describe_value(fqn)} is ignored")
                continue
            spot = place(fqn)
            if spot is None:
                continue
            parent, key = spot
            kind = _global(item_meta)
            if kind.endswith(".TensorStorageMetadata"):
                try:
                    _add_tensor(parent, key, fqn, item_meta, locations, files,
                                note_globals, tensor_shards, per_file_items)
                except ValueError as e:
                    warnings.append(f"tensor {fqn}: {e}")
                    parent.add(key, STRING, type_name="unreadable tensor", value=str(e))
                    continue
            elif kind.endswith(".BytesStorageMetadata"):
                _add_value(parent, key, fqn, locations, files, note_globals, warnings,
                           per_file_items)
            else:
                warnings.append(f"item {fqn}: unknown storage kind {describe_value(item_meta)}")
                parent.add(key, STRING, type_name="unknown item", value=describe_value(item_meta))
    finally:
        files.close()

    file_details: dict[str, dict[str, Any]] = {}
    for name, size in files.sizes.items():
        file_details[name] = {"size_bytes": size, "items": per_file_items.get(name, 0)}
    ranks: dict[int, int] = {}
    for name, size in files.sizes.items():
        m = re.fullmatch(r"__(\d+)_(\d+)\.distcp", name)
        if m and size is not None:
            ranks[int(m.group(1))] = ranks.get(int(m.group(1)), 0) + size
    details: dict[str, Any] = {
        "metadata_bytes": len(data),
        "version": fields.get("version") if isinstance(fields.get("version"), str) else None,
        "files": file_details,
        "rank_bytes": ranks,
        "tensor_shards": tensor_shards,
        "items": len(sd_meta),
        "key_paths": "planner_data" if planner else "flat names",
    }
    total = len(data) + sum(s for s in files.sizes.values() if s is not None)
    return Checkpoint(path=folder, format="dcp", size_bytes=total, root=root,
                      globals=list(seen_globals), unsafe_globals=list(unsafe_seen),
                      warnings=warnings, details=details)


def _logical_path(fqn: str, planned: Any) -> tuple | None:
    if not isinstance(planned, (tuple, list)) or not 1 <= len(planned) <= MAX_PATH_KEYS:
        return None
    if not all(type(k) in (str, int) for k in planned):
        return None
    return tuple(planned)


def _free(path: tuple, containers: dict[tuple, Node], leaves: set[tuple]) -> bool:
    if path in leaves or path in containers:
        return False
    return not any(path[:i] in leaves for i in range(1, len(path)))


def _add_tensor(parent: Node, key: Any, fqn: str, item_meta: Any,
                locations: dict, files: _Files, note_globals, tensor_shards: dict,
                per_file_items: dict[str, int]) -> Node:
    fields = _fields(item_meta)
    dtype = _dtype_of(fields.get("properties"))
    shape = _int_tuple(fields.get("size"), "tensor size")
    chunks = fields.get("chunks")
    if not isinstance(chunks, list):
        raise ValueError("no chunk list")
    parsed: list[tuple[tuple[int, ...], tuple[int, ...], _Item | None]] = []
    for chunk in chunks:
        cf = _fields(chunk)
        offsets = _int_tuple(cf.get("offsets"), "chunk offsets")
        sizes = _int_tuple(cf.get("sizes"), "chunk sizes")
        if len(offsets) != len(shape) or len(sizes) != len(shape) or any(
                o + s > d for o, s, d in zip(offsets, sizes, shape)):
            raise ValueError(f"chunk at {list(offsets)} size {list(sizes)} does not fit "
                             f"shape {list(shape)}")
        parsed.append((offsets, sizes, locations.get((fqn, offsets))))
    shards = [{"file": item.file if item else None, "offsets": list(o), "sizes": list(s)}
              for o, s, item in parsed]
    stride = contiguous_stride(shape)
    info = TensorInfo(dtype=dtype, shape=shape, stride=stride, storage_offset=0, storage=None)
    node = parent.add(key, TENSOR, type_name="Tensor", tensor=info)
    tensor_shards[node.path()] = shards
    for _, _, item in parsed:
        if item is not None:
            per_file_items[item.file] = per_file_items.get(item.file, 0) + 1

    numel = math.prod(shape)
    covered = sum(math.prod(s) for _, s, _ in parsed)
    problems: list[str] = []
    storages: list[StorageInfo] = []
    chunk_views: list[TensorRef] = []
    for offsets, sizes, item in parsed:
        if item is None:
            problems.append(f"chunk at {list(offsets)} has no storage entry")
            continue
        problem = files.item_problem(item)
        if problem:
            problems.append(problem)
            continue
        try:
            emb = read_embedded_torch_save(
                files.path(item.file), files.map(item.file), item.offset,
                item.length, f"{item.file}@{item.offset}")
            note_globals(emb.globals, emb.unsafe_globals)
            ref = emb.obj
            if not isinstance(ref, TensorRef) or ref.storage is None:
                raise CheckpointError(item.file, f"chunk at {list(offsets)} holds "
                                                 f"{describe_value(ref)}, not a tensor")
            if tuple(ref.shape) != sizes:
                raise CheckpointError(item.file, f"chunk at {list(offsets)} has shape "
                                                 f"{list(ref.shape)}, the metadata says "
                                                 f"{list(sizes)}")
            if ref.dtype != dtype:
                raise CheckpointError(item.file, f"chunk at {list(offsets)} is {ref.dtype}, "
                                                 f"the metadata says {dtype}")
            storage = emb.storage_info(ref.storage)
        except AmbiguousArchiveError:
            raise  # what torch would load is unclear: never shown as a mere warning
        except CheckpointError as e:
            problems.append(e.problem)
            continue
        storages.append(storage)
        chunk_views.append(ref)

    if problems:
        info.note = problems[0] if len(problems) == 1 else f"{problems[0]} (+{len(problems) - 1} more)"
        info.extra_storages = tuple(storages)
        return node
    if len(parsed) == 1 and covered == numel and chunk_views:
        ref, storage = chunk_views[0], storages[0]
        info.stride = ref.stride
        info.storage_offset = ref.storage_offset
        info.storage = storage
        lo, hi = info.storage_span()
        if any(s < 0 for s in ref.stride) and info.numel > 1:
            info.note, info.storage = "negative stride", None
        elif hi * info.itemsize > storage.nbytes:
            info.note = "view exceeds its storage"
        return node
    info.extra_storages = tuple(storages)
    if not parsed:
        info.note = "no chunks stored" if numel else ""
        return node
    if covered != numel:
        info.note = (f"stored chunks cover {covered} of {numel} elements "
                     f"({len(parsed)} chunk{'s' if len(parsed) != 1 else ''})")
        return node
    try:
        overlap = first_overlap([(o, s) for o, s, _ in parsed])
    except TooIrregular as e:
        info.note = f"{e} (values not assembled)"
        return node
    if overlap is not None:
        (oa, sa), (ob, sb) = overlap
        info.note = (f"chunks at {list(oa)} size {list(sa)} and at {list(ob)} size {list(sb)} "
                     f"overlap (values not assembled)")
        return node
    views: list[TensorChunk] = []
    for (offsets, sizes, _), ref, storage in zip(parsed, chunk_views, storages):
        view = TensorInfo(dtype=dtype, shape=sizes, stride=tuple(ref.stride),
                          storage_offset=ref.storage_offset, storage=storage)
        problem = _view_problem(view)
        if problem:
            info.note = f"chunk at {list(offsets)}: {problem} (values not assembled)"
            return node
        views.append(TensorChunk(offsets, sizes, view))
    # in-bounds, disjoint chunks whose sizes add up to the tensor's: they cover it exactly
    info.layout = "sharded"
    info.chunks = tuple(views)
    info.note = f"assembled from {len(views)} chunks on demand"
    return node


def _view_problem(view: TensorInfo) -> str:
    """Why a chunk's view cannot be read from its storage ("" when it can)."""
    if view.numel == 0:
        return ""
    if len(view.stride) != len(view.shape) or any(type(s) is not int for s in view.stride):
        return "malformed stride"
    if any(s < 0 for s in view.stride) and view.numel > 1:
        return "negative stride"
    lo, hi = view.storage_span()
    if lo < 0 or view.storage is None or hi * view.itemsize > view.storage.nbytes:
        return "view exceeds its storage"
    return ""


def _add_value(parent: Node, key: Any, fqn: str, locations: dict, files: _Files, note_globals,
               warnings: list[str], per_file_items: dict[str, int]) -> None:
    item = locations.get((fqn, None))
    if item is None:
        warnings.append(f"value {fqn}: no storage entry in .metadata")
        parent.add(key, STRING, type_name="missing value", value="no storage entry")
        return
    per_file_items[item.file] = per_file_items.get(item.file, 0) + 1
    problem = files.item_problem(item)
    if problem:
        parent.add(key, STRING, type_name="missing value", value=problem)
        return
    try:
        emb = read_embedded_torch_save(files.path(item.file),
                                       files.map(item.file), item.offset, item.length,
                                       f"{item.file}@{item.offset}")
    except AmbiguousArchiveError:
        raise  # what torch would load is unclear: never shown as a mere warning
    except CheckpointError as e:
        warnings.append(f"value {fqn}: {e.problem}")
        parent.add(key, STRING, type_name="unreadable value", value=e.problem)
        return
    note_globals(emb.globals, emb.unsafe_globals)
    sub_warnings: list[str] = []

    def storage_info(ref: StorageRef) -> StorageInfo | None:
        try:
            return emb.storage_info(ref)
        except AmbiguousArchiveError:
            raise  # what torch would load is unclear: never shown as a mere warning
        except CheckpointError as e:
            sub_warnings.append(e.problem)
            return None

    built = TreeBuilder(storage_info, sub_warnings).build(emb.obj)
    warnings.extend(f"value {fqn}: {w}" for w in sub_warnings)
    graft(parent, key, built)
