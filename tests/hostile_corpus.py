"""A corpus of hostile and broken inputs, built by code (no binary payloads are committed).

Each case builds one file (or folder) in a temp dir and states what must happen:
``open`` is "ok" (opens, maybe with a warning matching ``message``) or "error" (one
CheckpointError whose problem matches ``message``); ``scan`` is the expected verdict. Every
payload would create the marker file if it ever ran.
"""

from __future__ import annotations

import builtins
import importlib
import json
import os
import pickle
import runpy
import struct
import subprocess
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.ckpt_factory import Payload, rewrite_zip, write_zip, zip_entries


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path, Path], Path]  # (tmp dir, marker) -> input path
    open: str  # "ok" | "error"
    message: str  # regex: the error's problem, or a warning when open == "ok"
    scan: str  # "clean" | "unsafe" | "unreadable"


def _torch():
    import torch

    return torch


def _save(tmp: Path, name: str, obj, **kw) -> Path:
    p = tmp / name
    _torch().save(obj, p, **kw)
    return p


def _base(tmp: Path) -> Path:
    torch = _torch()
    return _save(tmp, "base.pth", {"w": torch.arange(8, dtype=torch.float32), "b": torch.ones(2)})


def _with_pickle(tmp: Path, name: str, data: bytes) -> Path:
    """A torch zip whose data.pkl is replaced by ``data``."""
    return rewrite_zip(_base(tmp), tmp / name, edit_pickle=lambda _: data)


def _touch(marker: Path) -> str:
    return f"touch {marker}"


# ---- raw pickle snippets (protocol 0/2 opcodes written by hand)
def _global(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n".encode()


def _str(s: str) -> bytes:
    raw = s.encode()
    return b"X" + len(raw).to_bytes(4, "little") + raw


def _call(module: str, name: str, *args: bytes) -> bytes:
    return _global(module, name) + b"(" + b"".join(args) + b"tR"


def _dict_with(value: bytes) -> bytes:
    return b"\x80\x02}" + _str("x") + value + b"s."


def _tensor_call(storage: bytes, offset: bytes, size: bytes, stride: bytes) -> bytes:
    return (_global("torch._utils", "_rebuild_tensor_v2") + b"(" + storage + offset + size
            + stride + b"\x89" + _global("collections", "OrderedDict") + b")R" + b"tR")


def _storage_pid(key: str, numel: int, storage_type: bytes | None = None) -> bytes:
    st = storage_type or _global("torch", "FloatStorage")
    return b"(" + _str("storage") + st + _str(key) + _str("cpu") + _int(numel) + b"tQ"


def _int(n: int) -> bytes:
    if 0 <= n < 256:
        return b"K" + bytes([n])
    if -(2 ** 31) <= n < 2 ** 31:
        return b"J" + struct.pack("<i", n)
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def _tuple(*items: int) -> bytes:
    return b"(" + b"".join(_int(i) for i in items) + b"t"


def _bad_tensor(tmp: Path, name: str, offset: int, size: tuple, stride: tuple, numel: int = 8) -> Path:
    body = _dict_with(_tensor_call(_storage_pid("0", numel), _int(offset), _tuple(*size), _tuple(*stride)))
    return _with_pickle(tmp, name, body)


# ---- builders
def _with_marker(value, marker: Path):
    if isinstance(value, str):
        return value.replace("MARKER", str(marker))
    if isinstance(value, list):
        return [_with_marker(v, marker) for v in value]
    return value


def payload_zip(func, *args, proto=2):
    """A torch.save'd dict holding ``func(*args)`` ("MARKER" in args becomes the marker path)."""
    def build(tmp, marker):
        real_args = [_with_marker(a, marker) for a in args]
        return _save(tmp, "evil.pth", {"w": _torch().ones(2), "x": Payload(func, *real_args)},
                     pickle_protocol=proto)
    return build


def legacy_payload(where: str):
    def build(tmp, marker):
        torch = _torch()
        p = _save(tmp, "legacy.pth", {"w": torch.ones(3)}, _use_new_zipfile_serialization=False)
        data = p.read_bytes()
        evil = pickle.dumps(Payload(os.system, _touch(marker)), protocol=2)
        # the five pickles: magic, protocol, sys_info, object, keys (then raw storages)
        import pickletools

        bounds, pos = [], 0
        for _ in range(5):
            end = max(q for _, _, q in pickletools.genops(data[pos:])) + pos + 1
            bounds.append((pos, end))
            pos = end
        index = {"sysinfo": 2, "object": 3, "keys": 4}[where]
        a, b = bounds[index]
        if where == "object":
            obj = pickle.dumps({"w": Payload(os.system, _touch(marker))}, protocol=2)
            data = data[:a] + obj + data[b:]
        else:
            data = data[:a] + evil + data[b:]
        p.write_bytes(data)
        return p
    return build


def raw(name: str, data_fn: Callable[[Path], bytes]):
    def build(tmp, marker):
        p = tmp / name
        p.write_bytes(data_fn(marker))
        return p
    return build


def in_zip(data_fn: Callable[[Path], bytes]):
    def build(tmp, marker):
        return _with_pickle(tmp, "evil.pth", data_fn(marker))
    return build


def zip_bomb(tmp, marker):
    p = tmp / "bomb.pth"
    base = zip_entries(_base(tmp))
    with zipfile.ZipFile(p, "w") as zf:
        for name, data in base:
            if name.endswith("/data/0"):
                # 1 GiB of zeros deflates to ~1 MB; it is written in chunks, never held whole
                info = zipfile.ZipInfo(name)
                info.compress_type = zipfile.ZIP_DEFLATED
                with zf.open(info, "w", force_zip64=True) as out:
                    chunk = bytes(16 << 20)
                    for _ in range(64):
                        out.write(chunk)
            else:
                zf.writestr(name, data)
    return p


def many_entries(tmp, marker):
    base = zip_entries(_base(tmp))
    root = base[0][0].split("/")[0]
    extra = [(f"{root}/extra/{i}", b"") for i in range(50_000)]
    return write_zip(tmp / "entries.pth", base + extra)


def zip_slip(tmp, marker):
    base = zip_entries(_base(tmp))
    return write_zip(tmp / "slip.pth", base + [(f"{base[0][0].split('/')[0]}/../../evil.sh", b"x")])


def duplicate_pkl(tmp, marker):
    base = zip_entries(_base(tmp))
    pkl = next(n for n, _ in base if n.endswith("data.pkl"))
    evil = pickle.dumps({"w": Payload(os.system, _touch(marker))}, protocol=2)
    return write_zip(tmp / "dup.pth", [*base, (pkl, evil)])


def bit_flip_tensor(tmp, marker):
    p = _base(tmp)
    data = bytearray(p.read_bytes())
    entries = zip_entries(p)
    rec = next(d for n, d in entries if n.endswith("/data/0"))
    at = bytes(data).index(rec)
    data[at + 5] ^= 0x40
    out = tmp / "flipped.pth"
    out.write_bytes(bytes(data))
    return out


def bit_flip_pickle(tmp, marker):
    p = _base(tmp)
    data = bytearray(p.read_bytes())
    at = bytes(data).index(b"OrderedDict") if b"OrderedDict" in data else bytes(data).index(b"collections")
    data[at + 2] ^= 0x01  # "OrdfredDict": a global outside the allow-list, and a CRC mismatch
    out = tmp / "flipped_pkl.pth"
    out.write_bytes(bytes(data))
    return out


def fifo(tmp, marker):
    p = tmp / "model.pth"
    os.mkfifo(p)
    return p


def folder(tmp, marker):
    d = tmp / "folder.pth"
    d.mkdir()
    (d / "notes.txt").write_text("hi")
    return d


def truncated(keep: float):
    def build(tmp, marker):
        data = _base(tmp).read_bytes()
        p = tmp / "cut.pth"
        p.write_bytes(data[: int(len(data) * keep)])
        return p
    return build


def legacy_memo(tmp, marker):
    """A legacy file whose object pickle memoizes at index 4e9 (found by fuzzing: CPython's
    unpickler would allocate and zero a 32 GB memo table)."""
    torch = _torch()
    p = _save(tmp, "legacy_memo.pth", {"w": torch.ones(3)}, _use_new_zipfile_serialization=False)
    data = p.read_bytes()
    at = data.index(b"q\x00", 137)  # the object pickle's first BINPUT
    p.write_bytes(data[:at] + b"r\x00\x28\x6b\xee" + data[at + 2:])
    return p


def truncated_legacy(tmp, marker):
    torch = _torch()
    p = _save(tmp, "legacy.pth", {"w": torch.ones(100)}, _use_new_zipfile_serialization=False)
    p.write_bytes(p.read_bytes()[:-17])
    return p


def missing_record(tmp, marker):
    return rewrite_zip(_base(tmp), tmp / "missing.pth", drop=lambda rest: rest == "data/0")


def sparse_out_of_range(tmp, marker):
    torch = _torch()
    sp = torch.sparse_coo_tensor(torch.tensor([[0, 1]]), torch.tensor([1.0, 2.0]), (2,),
                                 check_invariants=True)
    p = _save(tmp, "sparse.pth", {"sp": sp})
    # indices [[0, 1]] -> [[0, 9]]: out of range for size (2,)
    entries = zip_entries(p)
    out = []
    for name, data in entries:
        if name.split("/")[-2:-1] == ["data"] and len(data) == 16 and data[8:] == (1).to_bytes(8, "little"):
            data = data[:8] + (9).to_bytes(8, "little")
        out.append((name, data))
    return write_zip(tmp / "sparse_bad.pth", out)


def quantized_bad_strides(tmp, marker):
    body = _dict_with(
        _global("torch._utils", "_rebuild_qtensor") + b"(" + _storage_pid("0", 8, _global("torch", "QInt8Storage"))
        + _int(0) + _tuple(4, 4) + _tuple(100, 1)
        + b"(" + _global("torch", "per_tensor_affine") + b"G?\xb9\x99\x99\x99\x99\x99\x9a" + _int(0) + b"t"
        + b"\x89" + _global("collections", "OrderedDict") + b")R" + b"tR")
    p = tmp / "q.pth"
    base = zip_entries(_base(tmp))
    root = base[0][0].split("/")[0]
    return write_zip(p, [(f"{root}/data.pkl", body), (f"{root}/data/0", bytes(8)),
                         (f"{root}/version", b"3\n")])


def million_keys(tmp, marker):
    body = bytearray(b"\x80\x02}(")
    for i in range(1_000_000):
        body += b"J" + struct.pack("<i", i) + b"K\x01"
    body += b"u."
    p = tmp / "million.pkl"
    p.write_bytes(bytes(body))
    return p


def deep_nesting(tmp, marker):
    return _with_pickle(tmp, "deep.pth", b"\x80\x02" + b"]" * 300_000 + b"a" * 299_999 + b".")


def self_reference(tmp, marker):
    # l = []; l.append(l)
    return _with_pickle(tmp, "selfref.pth", b"\x80\x02]q\x00h\x00a.")


def billion_laughs(tmp, marker):
    body = b"\x80\x02]q\x00(K\x01K\x02e"
    for i in range(1, 200):
        body += b"](" + (b"h" + bytes([i - 1])) * 10 + b"eq" + bytes([i])
    return _with_pickle(tmp, "laughs.pth", body + b".")


def many_globals(tmp, marker):
    body = b"\x80\x02(" + b"".join(_global("m", f"g{i}") for i in range(10_001)) + b"l."
    return _with_pickle(tmp, "globals.pth", body)


def safetensors_file(header: dict | bytes, data: bytes = b"", declared: int | None = None):
    def build(tmp, marker):
        h = header if isinstance(header, bytes) else json.dumps(header).encode()
        n = declared if declared is not None else len(h)
        p = tmp / "bad.safetensors"
        p.write_bytes(n.to_bytes(8, "little") + h + data)
        return p
    return build


def index_escape(tmp, marker):
    p = tmp / "model.safetensors.index.json"
    p.write_text(json.dumps({"weight_map": {"w": "../../etc/passwd"}}))
    return p


def _persistent_payload(marker):
    return _dict_with(_tensor_call(_storage_pid("0", 8, _call("posix", "system", _str(_touch(marker)))),
                                   _int(0), _tuple(8), _tuple(1)))


def _load_from_bytes_payload(marker):
    torch = _torch()
    import io

    buf = io.BytesIO()
    torch.save({"x": Payload(os.system, _touch(marker))}, buf, _use_new_zipfile_serialization=False)
    blob = buf.getvalue()
    return _dict_with(_global("torch.storage", "_load_from_bytes") + b"(B"
                      + len(blob).to_bytes(4, "little") + blob + b"tR")


CASES: list[Case] = [
    # ---- payloads and evasions: nothing runs; scan says unsafe
    Case("reduce_os_system", payload_zip(os.system, "touch MARKER"), "ok", "", "unsafe"),
    Case("builtins_exec", payload_zip(builtins.exec, "open('MARKER','w')"), "ok", "", "unsafe"),
    Case("builtins_eval", payload_zip(builtins.eval, "open('MARKER','w')"), "ok", "", "unsafe"),
    Case("subprocess_call", payload_zip(subprocess.call, ["touch", "MARKER"]), "ok", "", "unsafe"),
    Case("subprocess_check_output", payload_zip(subprocess.check_output, ["touch", "MARKER"]),
         "ok", "", "unsafe"),
    Case("importlib_import_module", payload_zip(importlib.import_module, "os"), "ok", "", "unsafe"),
    Case("runpy_run_path", payload_zip(runpy.run_path, "/tmp/evil.py"), "ok", "", "unsafe"),
    Case("getattr_chain", lambda tmp, m: _save(tmp, "chain.pth", {"x": Payload(
        Payload(getattr, Payload(importlib.import_module, "os"), "system"), _touch(m))}),
        "ok", "", "unsafe"),
    Case("protocol_4_stack_global", payload_zip(os.system, "touch MARKER", proto=4), "ok", "", "unsafe"),
    Case("protocol_5", payload_zip(os.system, "touch MARKER", proto=5), "ok", "", "unsafe"),
    Case("protocol_0_text_global", raw("p0.pkl", lambda m: b"cposix\nsystem\n(S'" + _touch(m).encode()
                                       + b"'\ntR."), "ok", "", "unsafe"),
    Case("inst_opcode", raw("inst.pkl", lambda m: b"(S'" + _touch(m).encode() + b"'\niposix\nsystem\n."),
         "ok", "", "unsafe"),
    Case("obj_opcode", raw("obj.pkl", lambda m: b"\x80\x02(" + _global("posix", "system") + _str(_touch(m))
                           + b"o."), "ok", "", "unsafe"),
    Case("newobj_ex", raw("newobj.pkl", lambda m: b"\x80\x04" + _global("subprocess", "Popen")
                          + b"(" + _str("touch") + b"t}\x92."), "ok", "", "unsafe"),
    Case("numpy_runstring_gadget", in_zip(lambda m: _dict_with(_call(
        "numpy.testing._private.utils", "runstring", _str("import os; os.system('x')"), b"}"))),
        "ok", "", "unsafe"),
    Case("numpy_load_gadget", in_zip(lambda m: _dict_with(_call("numpy", "load", _str("/tmp/x.npy"),
                                                                 b"\x88"))), "ok", "", "unsafe"),
    Case("nested_load_from_bytes", in_zip(_load_from_bytes_payload), "ok", "", "unsafe"),
    Case("payload_as_dict_key", lambda tmp, m: _save(tmp, "key.pth", {Payload(os.system, _touch(m)): 1}),
         "ok", "", "unsafe"),
    Case("payload_as_storage_type", in_zip(_persistent_payload), "error", "not a torch storage type", "unsafe"),
    Case("payload_as_tensor_storage", in_zip(lambda m: _dict_with(_tensor_call(
        _call("posix", "system", _str(_touch(m))), _int(0), _tuple(1), _tuple(1)))),
        "error", "not a storage record", "unsafe"),
    Case("legacy_payload_in_object", legacy_payload("object"), "error", "nothing uses", "unsafe"),
    Case("legacy_payload_in_sysinfo", legacy_payload("sysinfo"), "error", "system-info", "unsafe"),
    Case("legacy_payload_in_keys", legacy_payload("keys"), "error", "key list", "unsafe"),
    Case("duplicate_zip_entries", duplicate_pkl, "error", "two entries named", "unsafe"),
    Case("payload_after_garbage", raw("garbage.pth", lambda m: b"GARBAGE!" * 8
                                      + pickle.dumps(Payload(os.system, _touch(m)))),
         "error", "unrecognized format", "unreadable"),
    Case("ext_opcode", raw("ext.pkl", lambda m: b"\x80\x02\x82\x7f."), "error", "malformed pickle", "unreadable"),
    # ---- structure and resources: no crash, no hang, bounded memory
    Case("zip_bomb", zip_bomb, "error", "compressed", "unreadable"),
    Case("storage_numel_2_40", in_zip(lambda m: _dict_with(_tensor_call(
        _storage_pid("0", 1 << 40), _int(0), _tuple(8), _tuple(1)))), "error",
        "has 32 bytes but its 1099511627776 float32 elements need", "unreadable"),
    Case("shape_beyond_storage", lambda tmp, m: _bad_tensor(tmp, "big.pth", 0, (1 << 20, 1 << 20), (1 << 20, 1)),
         "ok", "view exceeds|needs elements", "clean"),
    Case("negative_offset", lambda tmp, m: _bad_tensor(tmp, "neg.pth", -4, (2,), (1,)),
         "error", "invalid storage offset", "unreadable"),
    Case("overflowing_shape", lambda tmp, m: _bad_tensor(tmp, "ovf.pth", 0, (1 << 62, 1 << 62), (1, 1)),
         "error", "too large|invalid tensor shape", "unreadable"),
    Case("negative_stride", lambda tmp, m: _bad_tensor(tmp, "negstride.pth", 7, (4,), (-1,)),
         "ok", "negative stride", "clean"),
    Case("string_4gib", in_zip(lambda m: b"\x80\x04\x8d" + struct.pack("<Q", 4 << 30) + b"abc."),
         "error", "truncated|too large for memory", "unreadable"),
    Case("bytes_2_40", in_zip(lambda m: b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b"abc."),
         "error", "too large for memory|truncated", "unreadable"),
    Case("deep_nesting_300k", deep_nesting, "ok", "nesting deeper", "clean"),
    Case("self_reference", self_reference, "ok", "", "clean"),
    Case("billion_laughs", billion_laughs, "ok", "", "clean"),
    Case("million_keys", million_keys, "ok", "", "clean"),
    Case("many_globals", many_globals, "error", "more than 10000 globals", "unsafe"),
    Case("zip_50000_entries", many_entries, "ok", "", "clean"),
    Case("memo_index_2g", in_zip(lambda m: b"\x80\x02]r\xff\xff\xff\x7f."), "error", "memo index",
         "unreadable"),
    Case("legacy_memo_index_4g", legacy_memo, "error", "memo index", "unreadable"),
    Case("unknown_opcode", in_zip(lambda m: b"\x80\x02\xff."), "error", "malformed pickle", "unreadable"),
    Case("zip_slip_name", zip_slip, "error", "escapes the archive", "unreadable"),
    Case("fifo_named_pth", fifo, "error", "FIFO", "unreadable"),
    Case("directory", folder, "error", "folder", "unreadable"),
    Case("empty_file", raw("empty.pth", lambda m: b""), "error", "file is empty", "unreadable"),
    Case("random_bytes", raw("random.pth", lambda m: bytes(range(256)) * 64), "error",
         "unrecognized format", "unreadable"),
    Case("truncated_zip_half", truncated(0.5), "error", "truncated|damaged zip", "unreadable"),
    Case("truncated_zip_tail", truncated(0.97), "error", "truncated|damaged zip", "unreadable"),
    Case("truncated_legacy", truncated_legacy, "error", "truncated", "unreadable"),
    Case("plain_zip", lambda tmp, m: write_zip(tmp / "plain.pth", [("a/readme.txt", b"hi")]),
         "error", "no data.pkl", "unreadable"),
    Case("missing_record", missing_record, "error", "is missing", "unreadable"),
    Case("sparse_out_of_range", sparse_out_of_range, "ok", "", "clean"),
    Case("quantized_bad_strides", quantized_bad_strides, "ok", "view exceeds|needs elements", "clean"),
    Case("bit_flip_in_pickle", bit_flip_pickle, "ok", "CRC", "unsafe"),
    Case("gzip_file", raw("model.pth.gz", lambda m: b"\x1f\x8b\x08\x00" + bytes(100)), "error", "gzip",
         "unreadable"),
    Case("safetensors_overlap", safetensors_file(
        {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
         "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12)),
        "error", "overlaps|has 8 bytes", "unreadable"),
    Case("safetensors_out_of_range", safetensors_file(
        {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, bytes(8)),
        "error", "outside the file", "unreadable"),
    Case("safetensors_header_past_end", safetensors_file(b'{"a": 1}', b"", declared=1000),
         "error", "unrecognized format|truncated", "unreadable"),
    Case("safetensors_huge_header_claim", safetensors_file(b'{"a": 1}', b"", declared=(1 << 40)),
         "error", "unrecognized format|100 MB", "unreadable"),
    Case("safetensors_bad_json", safetensors_file(b'{"a": [1, 2', b"  "), "error", "not valid JSON",
         "unreadable"),
    Case("index_shard_escape", index_escape, "error", "points outside the folder", "unreadable"),
    Case("bit_flip_in_tensor", bit_flip_tensor, "ok", "", "clean"),
]
