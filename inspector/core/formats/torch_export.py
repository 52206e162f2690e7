"""torch.export archives (``.pt2``, ``torch.export.save``), read without ``torch.export.load``.

A PT2 archive is a zip with ``archive_format`` (``pt2``), ``models/<name>.json`` (the
serialized program: graph nodes, input/output specs), ``data/weights/<name>_weights_config
.json`` and ``data/constants/<name>_constants_config.json`` (per tensor: the record holding
it, dtype, sizes, strides, storage offset), and the records themselves: raw storage bytes, or
a ``torch.save`` archive for tensor subclasses (read with the inert unpickler). Custom and
opaque object constants are pickles that torch would run; we only list their globals.

The tree holds the weights by name (as ``ExportedProgram.state_dict``) and the tensor
constants under ``CONSTANTS``; when the archive holds several models, each gets a subtree.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from inspector.core.checkpoint import Checkpoint
from inspector.core.dtypes import dtype_info
from inspector.core.formats._torch_pickle import read_embedded_torch_save
from inspector.core.formats._zip import ZipArchive, sub_buffer
from inspector.core.model import (
    DICT,
    STRING,
    TENSOR,
    AmbiguousArchiveError,
    CheckpointError,
    Node,
    StorageInfo,
    TensorInfo,
)
from inspector.core.tree import TreeBuilder, graft
from inspector.core.unpickler import InertPickleError, describe_value, load_inert

MAX_JSON = 64 << 20  # bytes of one JSON record, inflated
MAX_JSON_VALUES = 8_000_000  # values in one JSON record (each costs ~50-100 bytes parsed)
MAX_GRAPH_LINES = 200_000
MAX_LINE = 300
CONSTANTS_KEY = "CONSTANTS"

# torch/_export/serde/schema.py ScalarType
SCALAR_TYPES = {
    1: "uint8", 2: "int8", 3: "int16", 4: "int32", 5: "int64", 6: "float16", 7: "float32",
    8: "float64", 9: "complex32", 10: "complex64", 11: "complex128", 12: "bool",
    13: "bfloat16", 28: "uint16", 29: "float8_e4m3fn", 30: "float8_e5m2",
    31: "float8_e4m3fnuz", 32: "float8_e5m2fnuz", 33: "float8_e8m0fnu", 34: "uint32",
    35: "uint64",
}
STRIDED = 7  # schema.Layout.Strided


def _json(archive: ZipArchive, name: str) -> Any:
    """A JSON record, parsed only when its size and its number of values are under the caps
    (a few hundred KB can inflate to hundreds of MB of tiny objects)."""
    data = archive.content(name, MAX_JSON + 1)
    if len(data) > MAX_JSON or archive.infos[name].file_size > MAX_JSON:
        raise CheckpointError(archive.path, f"{name} is over the {MAX_JSON}-byte limit of a JSON "
                                            "record")
    if _json_values(data) > MAX_JSON_VALUES:
        raise CheckpointError(archive.path, f"{name} holds more than {MAX_JSON_VALUES} JSON "
                                            "values, over the limit")
    try:
        return json.loads(data.decode("utf-8", "replace"))
    except (ValueError, RecursionError) as e:
        raise CheckpointError(archive.path, f"{name} is not valid JSON ({str(e)[:200]})") from None


def _json_values(data: bytes) -> int:
    """An upper bound on the values of a JSON text: its separators and openers (exact once
    the strings are blanked out, which is only done when the quick bound is over the cap)."""
    def count(b: bytes) -> int:
        return b.count(b",") + b.count(b":") + b.count(b"[") + b.count(b"{") + 1

    quick = count(data)
    if quick <= MAX_JSON_VALUES:
        return quick
    return count(re.sub(rb'"(?:[^"\\]|\\.)*"', b'""', data))


def _dtype_name(code: Any) -> str | None:
    return SCALAR_TYPES.get(code) if type(code) is int else None


def _int_of(v: Any) -> int | None:
    """A serialized SymInt: {"as_int": n} (None for symbolic sizes)."""
    if isinstance(v, dict) and type(v.get("as_int")) is int:
        return v["as_int"]
    return None


def _sym_text(v: Any) -> Any:
    n = _int_of(v)
    if n is not None:
        return n
    if isinstance(v, dict) and isinstance(v.get("as_expr"), dict):
        return str(v["as_expr"].get("expr_str", "?"))
    return "?"


def _arg_text(arg: Any, depth: int = 0) -> str:
    """One serialized Argument as short text (tensor names, constants)."""
    if depth > 8:
        return "…"
    if isinstance(arg, dict) and len(arg) == 1:
        kind, v = next(iter(arg.items()))
        if kind == "as_none":
            return "None"
        if isinstance(v, dict) and "name" in v:
            return str(v["name"])
        if isinstance(v, dict) and "as_name" in v:
            return str(v["as_name"])
        if isinstance(v, list):
            return "[" + ", ".join(_arg_text(x, depth + 1) if isinstance(x, dict) else repr(x)
                                   for x in v[:16]) + (", …" if len(v) > 16 else "") + "]"
        return repr(v)
    return describe_value(arg)


def _tensor_meta(meta: Any) -> tuple[str, tuple[int, ...], tuple[int, ...], int, bool, str]:
    """(dtype, shape, stride, storage offset, requires_grad, note) from a TensorMeta dict."""
    if not isinstance(meta, dict):
        raise ValueError("no tensor metadata")
    dtype = _dtype_name(meta.get("dtype"))
    if dtype is None:
        raise ValueError(f"unknown dtype code {meta.get('dtype')!r}")
    sizes = [_int_of(s) for s in meta.get("sizes") or []]
    strides = [_int_of(s) for s in meta.get("strides") or []]
    offset = _int_of(meta.get("storage_offset")) if meta.get("storage_offset") else 0
    if any(s is None for s in sizes) or any(s is None for s in strides) or offset is None:
        raise ValueError("symbolic sizes or strides")
    if len(sizes) != len(strides) or len(sizes) > 64 or any(s < 0 for s in sizes) or offset < 0:
        raise ValueError(f"malformed sizes {sizes} / strides {strides}")
    note = "" if meta.get("layout", STRIDED) == STRIDED else f"layout code {meta.get('layout')}"
    return dtype, tuple(sizes), tuple(strides), offset, bool(meta.get("requires_grad")), note


class _Reader:
    def __init__(self, path: str, archive: ZipArchive):
        self.path = path
        self.archive = archive
        self.root = archive.root
        self.warnings: list[str] = []
        self.globals: dict[str, None] = {}
        self.unsafe: dict[str, None] = {}
        self.raw: dict[str, StorageInfo] = {}

    def record(self, directory: str, name: str) -> str:
        full = f"{self.root}/{directory}{name}"
        if "/" in name or name in ("", ".", "..") or full not in self.archive.infos:
            raise CheckpointError(self.path, f"record {directory}{name} is missing from the archive")
        return full

    def payloads(self, parent: Node, config_name: str, directory: str) -> int:
        """Add every entry of a payload config under ``parent``; return how many."""
        full = f"{self.root}/{config_name}"
        if full not in self.archive.infos:
            return 0
        config = _json(self.archive, full)
        entries = config.get("config") if isinstance(config, dict) else None
        if not isinstance(entries, dict):
            raise CheckpointError(self.path, f"{config_name} has no config mapping")
        for fqn, meta in entries.items():
            if not isinstance(fqn, str) or not isinstance(meta, dict):
                self.warnings.append(f"{config_name}: malformed entry {describe_value(fqn)}")
                continue
            try:
                self.payload(parent, fqn, meta, directory)
            except AmbiguousArchiveError:
                raise  # what torch would load is unclear: never shown as a mere warning
            except (CheckpointError, ValueError) as e:
                problem = e.problem if isinstance(e, CheckpointError) else str(e)
                self.warnings.append(f"{fqn}: {problem}")
                parent.add(fqn, STRING, type_name="unreadable", value=problem)
        return len(entries)

    def payload(self, parent: Node, fqn: str, meta: dict, directory: str) -> None:
        path_name = meta.get("path_name")
        if not isinstance(path_name, str):
            raise ValueError("no record name")
        if path_name.startswith(("custom_obj_", "opaque_obj_")):
            self.pickled_object(parent, fqn, self.record(directory, path_name))
            return
        record = self.record(directory, path_name)
        if meta.get("use_pickle"):
            offset, length = self.archive.data_range(record)
            emb = read_embedded_torch_save(self.path, self.archive.mm, offset, length,
                                           f"{directory}{path_name}")
            self.globals.update(dict.fromkeys(emb.globals))
            self.unsafe.update(dict.fromkeys(emb.unsafe_globals))
            built = TreeBuilder(emb.storage_info, self.warnings).build(emb.obj)
            graft(parent, fqn, built)
            return
        dtype, shape, stride, offset, requires_grad, note = _tensor_meta(meta.get("tensor_meta"))
        storage = self.raw.get(record)
        if storage is None:
            start, nbytes = self.archive.data_range(record)
            itemsize = dtype_info(dtype).itemsize
            storage = self.raw[record] = StorageInfo(
                key=f"{directory}{path_name}", dtype=dtype, numel=nbytes // itemsize,
                location="cpu", file=self.path, file_offset=start, nbytes=nbytes)
        info = TensorInfo(dtype=dtype, shape=shape, stride=stride, storage_offset=offset,
                          storage=storage, requires_grad=requires_grad,
                          is_parameter=bool(meta.get("is_param")), note=note)
        if info.numel:
            lo, hi = info.storage_span()
            if any(s < 0 for s in stride) and info.numel > 1:
                info.note = "negative stride"
            elif hi * info.itemsize > storage.nbytes:
                info.note = ("no data stored (fake tensor)" if storage.nbytes == 0
                             else "view exceeds its storage")
                if storage.nbytes == 0:
                    info.storage = None
                else:
                    self.warnings.append(f"tensor {fqn} needs bytes past the end of its record "
                                         f"{path_name}: the file is corrupt")
        parent.add(fqn, TENSOR, type_name="Parameter" if info.is_parameter else "Tensor",
                   tensor=info)

    def pickled_object(self, parent: Node, fqn: str, record: str) -> None:
        offset, length = self.archive.data_range(record)
        try:
            res = load_inert(self.archive.mm[offset:offset + length])
        except InertPickleError as e:
            self.globals.update(dict.fromkeys(e.globals))
            self.unsafe.update(dict.fromkeys(e.unsafe_globals))
            self.warnings.append(f"{fqn}: {e}")
            parent.add(fqn, STRING, type_name="unreadable object", value=str(e))
            return
        self.globals.update(dict.fromkeys(res.globals))
        self.unsafe.update(dict.fromkeys(res.unsafe_globals))
        graft(parent, fqn, TreeBuilder(lambda ref: None, self.warnings).build(res.obj))


def _check_nested_archives(archive: ZipArchive) -> None:
    """torch.export.load reads the torch.save archives stored in records (sample inputs,
    pickled weights) with torch's zip reader: each must have one reading too, even the ones
    this reader does not list."""
    for name, info in archive.infos.items():
        if info.compress_type == 0 and info.file_size >= 4 and \
                archive.content(name, 4) == b"PK\x03\x04":
            offset, length = archive.data_range(name)
            try:
                ZipArchive(archive.path, sub_buffer(archive.mm, offset, length))
            except AmbiguousArchiveError as e:
                raise AmbiguousArchiveError(archive.path, f"record {name!r}: {e.what}") from e
            except CheckpointError:
                pass  # damaged: reported where the record is read, if it is


def read_torch_export(path: str, archive: ZipArchive, size: int) -> Checkpoint:
    _check_nested_archives(archive)
    r = _Reader(path, archive)
    root_name = archive.root
    fmt_name = f"{root_name}/archive_format"
    details: dict[str, Any] = {"zip_root": root_name, "entries": len(archive.infos)}
    if fmt_name in archive.infos:
        details["archive_format"] = archive.text(fmt_name, 64)
        if details["archive_format"] != "pt2":
            r.warnings.append(f"archive_format is {details['archive_format']!r}, not 'pt2'")
    version = f"{root_name}/archive_version"
    if version in archive.infos:
        details["archive_version"] = archive.text(version, 64)
    prefix = f"{root_name}/models/"
    models = sorted(n[len(prefix):-5] for n in archive.infos
                    if n.startswith(prefix) and n.endswith(".json") and "/" not in n[len(prefix):])
    if not models:
        raise CheckpointError(path, "a torch.export archive without a models/*.json program")
    root = Node(None, DICT, type_name="ExportedProgram")
    details["models"] = {}
    for model in models:
        parent = root if len(models) == 1 else root.add(model, DICT, type_name="ExportedProgram")
        details["models"][model] = _read_model(r, parent, model)
    for name in ("data/weights/", "data/constants/", "data/sample_inputs/", "data/aotinductor/",
                 "extra/"):
        count = sum(1 for n in archive.infos if n.startswith(f"{root_name}/{name}"))
        if count:
            details.setdefault("records", {})[name] = count
    if len(models) == 1:
        details.update(details.pop("models")[models[0]])
        details["model"] = models[0]
    return Checkpoint(path=path, format="torch-export", size_bytes=size, root=root,
                      globals=list(r.globals), unsafe_globals=list(r.unsafe), warnings=r.warnings,
                      details=details)


def _read_model(r: _Reader, parent: Node, model: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        program = _json(r.archive, f"{r.root}/models/{model}.json")
    except CheckpointError as e:
        r.warnings.append(f"{e.problem}; the program is not shown")
        program = None
    legacy = f"{r.root}/data/weights/{model}.pt"
    if legacy in r.archive.infos:
        offset, length = r.archive.data_range(legacy)
        emb = read_embedded_torch_save(r.path, r.archive.mm, offset, length, f"weights/{model}.pt")
        r.globals.update(dict.fromkeys(emb.globals))
        r.unsafe.update(dict.fromkeys(emb.unsafe_globals))
        built = TreeBuilder(emb.storage_info, r.warnings).build(emb.obj)
        for child in list(built.children):
            graft(parent, child.key, child)
        out["weights"] = len(built.children)
    else:
        out["weights"] = r.payloads(parent, f"data/weights/{model}_weights_config.json",
                                    "data/weights/")
    consts = Node(None, DICT, type_name="constants")
    out["constants"] = r.payloads(consts, f"data/constants/{model}_constants_config.json",
                                  "data/constants/")
    if consts.children:
        graft(parent, CONSTANTS_KEY, consts)
    if not isinstance(program, dict):
        r.warnings.append(f"models/{model}.json is not a JSON object")
        return out
    for key in ("schema_version", "opset_version", "torch_version", "verifiers"):
        if key in program:
            out[key] = program[key]
    gm = program.get("graph_module")
    gm = gm if isinstance(gm, dict) else {}
    graph = gm.get("graph") if isinstance(gm.get("graph"), dict) else {}
    tensor_values = graph.get("tensor_values") if isinstance(graph.get("tensor_values"), dict) else {}
    signature = gm.get("signature") if isinstance(gm.get("signature"), dict) else {}
    out["inputs"] = [_spec(s, tensor_values) for s in signature.get("input_specs") or []
                     if isinstance(s, dict)]
    out["outputs"] = [_spec(s, tensor_values) for s in signature.get("output_specs") or []
                      if isinstance(s, dict)]
    nodes = graph.get("nodes") if isinstance(graph.get("nodes"), list) else []
    ops: Counter[str] = Counter()
    lines: list[str] = []
    for node in nodes:
        if not isinstance(node, dict):
            continue
        target = str(node.get("target", "?"))
        ops[target] += 1
        if len(lines) < MAX_GRAPH_LINES:
            args = ", ".join(f"{a.get('name')}={_arg_text(a.get('arg'))}" if a.get("kind") == 2
                             else _arg_text(a.get("arg"))
                             for a in node.get("inputs") or [] if isinstance(a, dict))
            outs = ", ".join(_arg_text(o) for o in node.get("outputs") or [])
            line = f"{outs or '_'} = {target}({args})"
            lines.append(line if len(line) <= MAX_LINE else line[:MAX_LINE - 1] + "…")
    if len(nodes) > MAX_GRAPH_LINES:
        lines.append(f"… {len(nodes) - MAX_GRAPH_LINES} more nodes")
    out["operators"] = dict(ops)
    out["graph"] = lines
    out["num_nodes"] = len(nodes)
    return out


def _spec(spec: dict, tensor_values: dict) -> dict[str, Any]:
    """One input/output spec: its kind, graph name, target and (for tensors) dtype/shape."""
    if len(spec) != 1:
        return {"kind": "?"}
    kind, body = next(iter(spec.items()))
    out: dict[str, Any] = {"kind": kind}
    if not isinstance(body, dict):
        return out
    arg = body.get("arg")
    name = None
    if isinstance(arg, dict):
        name = arg["name"] if isinstance(arg.get("name"), str) else _arg_text(arg)
    out["name"] = name
    for key, value in body.items():
        if key != "arg" and isinstance(value, (str, int, float, bool)):
            out["target" if key.endswith("_name") else key] = value
    meta = tensor_values.get(name) if isinstance(name, str) else None
    if isinstance(meta, dict):
        out["dtype"] = _dtype_name(meta.get("dtype")) or "?"
        out["shape"] = [_sym_text(s) for s in meta.get("sizes") or []]
    return out
