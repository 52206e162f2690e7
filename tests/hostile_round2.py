"""Hostile files, round two (issue 18), built by code: one builder per attack, grouped by class.

Class 1: files torch and a zip library can read differently (ambiguous archives).
Class 2: files that try to change how the next file is read (shared stand-ins).
Class 4: files that make the reader's work explode (fan-out, quadratic checks, bombs).
Class 5: malformed fields that must end in one clear message.
Class 6: every dtype safetensors defines.

Each :class:`Case` builds its input in a temp dir and states what ``info`` and ``scan`` must
do. :func:`run_cli` runs the command line in a child process under a memory limit and
reports its exit code, output, peak memory and wall time; nothing a payload would do
(create the marker file) may ever happen.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import resource
import struct
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tests.ckpt_factory import Payload, zip_entries

REPO = Path(__file__).resolve().parents[1]
MEMORY_LIMIT = 2 << 30  # address space of the child
PEAK_RSS_LIMIT = 1 << 30  # stated bound: resident memory of one command on these files
HANG_TIMEOUT = 120  # a hang detector: the cases are small, so seconds are expected

# Peak memory is the child's VmHWM, not ru_maxrss: ru_maxrss survives fork + exec, so a child
# of a big pytest process would report the parent's peak.
CHILD = r"""
import resource, sys
rss_file = sys.argv[1]
code = 3
try:
    from inspector.cli import main
    code = main(sys.argv[2:])
finally:
    with open(rss_file, "w") as fh:
        fh.write(str(int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])))
sys.exit(code)
"""


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Path, Path], Path]  # (tmp dir, marker) -> input path
    info: int  # exit code of ``info``: 0 opens, 2 refused with one error line
    message: str  # regex: the error line of ``info`` (or "" when it opens)
    scan: str  # verdict of ``scan``: "clean", "unsafe" or "unreadable"


@dataclass(frozen=True)
class ChildRun:
    code: int
    stdout: str
    stderr: str
    peak_rss: int  # bytes
    seconds: float


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_cli(tmp: Path, *args: str) -> ChildRun:
    """``python -m inspector ARGS`` in a child process with a memory limit and a timeout."""
    rss_file = tmp / f"rss-{time.monotonic_ns()}"
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", CHILD, str(rss_file), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=HANG_TIMEOUT,
                          preexec_fn=_limit_memory, env={**os.environ, "PYTHONPATH": str(REPO)})
    seconds = time.monotonic() - start
    peak = int(rss_file.read_text()) * 1024 if rss_file.exists() else -1
    return ChildRun(proc.returncode, proc.stdout, proc.stderr, peak, seconds)


def _torch():
    import torch

    return torch


def _saved(obj, **kw) -> bytes:
    buf = io.BytesIO()
    _torch().save(obj, buf, **kw)
    return buf.getvalue()


def _plain_zip(entries: list[tuple[str, bytes]]) -> bytes:
    """A zip written by Python's zipfile (entries stored, sizes in the local headers)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in entries:
            zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return buf.getvalue()


def torch_entries(obj) -> list[tuple[str, bytes]]:
    """The records of ``torch.save(obj)`` (root ``archive``)."""
    with zipfile.ZipFile(io.BytesIO(_saved(obj))) as zf:
        return [(i.filename, zf.read(i)) for i in zf.infolist()]


def harmless() -> bytes:
    torch = _torch()
    return _plain_zip(torch_entries({"w": torch.ones(4)}))


def evil(marker: Path, value: float = 666.0) -> bytes:
    """What an attacker wants loaded: other weights (and a payload torch.load would run)."""
    torch = _torch()
    obj = {"w": torch.full((4,), value), "x": Payload(os.system, f"touch {marker}")}
    return _plain_zip(torch_entries(obj))


def evil_weights(value: float = 666.0) -> bytes:
    """Other weights, no payload: what ``torch.load(weights_only=True)`` can still load."""
    torch = _torch()
    return _plain_zip(torch_entries({"w": torch.full((4,), value)}))


# ---- zip structures, written by hand
def _layout(data: bytes) -> tuple[list[zipfile.ZipInfo], int]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return zf.infolist(), zf.start_dir


def central_record(info: zipfile.ZipInfo, offset: int, comment: bytes = b"",
                   name: bytes | None = None) -> bytes:
    raw = name if name is not None else info.filename.encode()
    return struct.pack("<4s6H3I5H2I", b"PK\x01\x02", 20, 20, info.flag_bits, info.compress_type,
                       0, 33, info.CRC, info.compress_size, info.file_size, len(raw), 0,
                       len(comment), 0, 0, 0, offset) + raw + comment


def end_record(count: int, cd_size: int, cd_offset: int, comment: bytes = b"") -> bytes:
    return struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, count, count, cd_size, cd_offset,
                       len(comment)) + comment


def _write(tmp: Path, name: str, data: bytes) -> Path:
    p = tmp / name
    p.write_bytes(data)
    return p


# ---- class 1: we must read the same file torch reads
def two_central_directories(tmp: Path, marker: Path, e_data: bytes | None = None) -> Path:
    """One end record whose directory torch reads at its stated offset, while Python's
    zipfile, seeing a gap before the end record, shifts every offset onto a second, harmless
    directory: torch loads the evil entries, zipfile the harmless ones."""
    e_data, h_data = e_data or evil(marker), harmless()
    e_infos, e_end = _layout(e_data)
    h_infos, h_end = _layout(h_data)
    filler = b"\0" * 4096  # keeps the harmless offsets (shifted back) non-negative
    region = e_data[:e_end] + filler + h_data[:h_end]
    h_base = e_end + len(filler)
    e_cd = b"".join(central_record(i, i.header_offset) for i in e_infos)
    h_cd = b"".join(central_record(i, h_base + i.header_offset) for i in h_infos)
    size = max(len(e_cd), len(h_cd)) + 16

    def padded(infos, offsets, cd):
        pad = b"x" * (size - len(cd))
        return b"".join(central_record(i, o, pad if k == len(infos) - 1 else b"")
                        for k, (i, o) in enumerate(zip(infos, offsets)))

    e_cd = padded(e_infos, [i.header_offset for i in e_infos], e_cd)
    h_cd = padded(h_infos, [h_base + i.header_offset - size for i in h_infos], h_cd)
    cd_offset = len(region)
    return _write(tmp, "two_dirs.pth",
                  region + e_cd + h_cd + end_record(len(e_infos), size, cd_offset))


def appended_archive(tmp: Path, marker: Path) -> Path:
    """A harmless archive with a whole evil one appended (two end records)."""
    return _write(tmp, "appended.pth", harmless() + evil(marker))


def trailing_bytes(tmp: Path, marker: Path) -> Path:
    return _write(tmp, "trailing.pth", harmless() + pickle.dumps(Payload(os.system, f"touch {marker}")))


def end_record_in_comment(tmp: Path, marker: Path) -> Path:
    """The archive comment holds a second end record."""
    data = harmless()
    infos, cd_offset = _layout(data)
    cd = data[cd_offset:data.rfind(b"PK\x05\x06")]
    fake = end_record(len(infos), len(cd), cd_offset)
    return _write(tmp, "comment.pth", data[:-2] + struct.pack("<H", len(fake)) + fake)


def _with_directory(tmp: Path, name: str, data: bytes, records: list[bytes]) -> Path:
    """``data``'s entries with a hand-written central directory of ``records``."""
    _, cd_offset = _layout(data)
    cd = b"".join(records)
    return _write(tmp, name, data[:cd_offset] + cd + end_record(len(records), len(cd), cd_offset))


def unlisted_entry_first(tmp: Path, marker: Path) -> Path:
    """An evil entry at byte 0 that the directory does not list, before the listed ones."""
    evil_entry = evil(marker)
    _, e_end = _layout(evil_entry)
    data = harmless()
    infos, cd_offset = _layout(data)
    body = evil_entry[:e_end] + data[:cd_offset]
    cd = b"".join(central_record(i, e_end + i.header_offset) for i in infos)
    return _write(tmp, "prefix.pth", body + cd + end_record(len(infos), len(cd), len(body)))


def gap_between_entries(tmp: Path, marker: Path) -> Path:
    data = harmless()
    infos, cd_offset = _layout(data)
    hidden = pickle.dumps(Payload(os.system, f"touch {marker}"))
    second = infos[1].header_offset
    body = data[:second] + hidden + data[second:cd_offset]
    cd = b"".join(central_record(i, i.header_offset + (len(hidden) if k else 0))
                  for k, i in enumerate(infos))
    return _write(tmp, "gap.pth", body + cd + end_record(len(infos), len(cd), len(body)))


def local_name_differs(tmp: Path, marker: Path) -> Path:
    """The directory says ``data.pkl``; the local header of that entry names ``data.pk1``."""
    data = bytearray(harmless())
    infos, _ = _layout(bytes(data))
    pkl = next(i for i in infos if i.filename.endswith("data.pkl"))
    at = pkl.header_offset + 30 + len(pkl.filename) - 1
    data[at:at + 1] = b"1"
    return _write(tmp, "lhname.pth", bytes(data))


def local_size_differs(tmp: Path, marker: Path) -> Path:
    data = bytearray(harmless())
    infos, _ = _layout(bytes(data))
    pkl = next(i for i in infos if i.filename.endswith("data.pkl"))
    struct.pack_into("<I", data, pkl.header_offset + 18, pkl.compress_size - 8)
    return _write(tmp, "lhsize.pth", bytes(data))


def local_method_differs(tmp: Path, marker: Path) -> Path:
    data = bytearray(harmless())
    infos, _ = _layout(bytes(data))
    pkl = next(i for i in infos if i.filename.endswith("data.pkl"))
    struct.pack_into("<H", data, pkl.header_offset + 8, zipfile.ZIP_DEFLATED)
    return _write(tmp, "lhmethod.pth", bytes(data))


def overlapping_entries(tmp: Path, marker: Path) -> Path:
    """Two listed names whose data is the same bytes (one local header for both)."""
    data = harmless()
    infos, _ = _layout(data)
    records = [central_record(i, i.header_offset) for i in infos]
    pkl = next(i for i in infos if i.filename.endswith("data.pkl"))
    records.append(central_record(pkl, pkl.header_offset, name=b"archive/extra/copy.pkl"))
    return _with_directory(tmp, "overlap.pth", data, records)


def names_equal_ignoring_case(tmp: Path, marker: Path) -> Path:
    """``archive/data.pkl`` (harmless) and ``archive/DATA.PKL`` (other weights): torch finds
    names case-insensitively, so either may be the one it loads."""
    entries = [(n, d) for n, d in zip_entries(io.BytesIO(harmless()))]
    evil_pkl = next(d for n, d in zip_entries(io.BytesIO(evil_weights())) if n.endswith("data.pkl"))
    at = next(k for k, (n, _) in enumerate(entries) if n.endswith("data.pkl"))
    entries.insert(at, ("archive/DATA.PKL", evil_pkl))
    return _write(tmp, "case.pth", _plain_zip(entries))


def upper_case_pickle_only(tmp: Path, marker: Path) -> Path:
    """Only ``archive/DATA.PKL`` (a payload): torch finds it when asked for ``data.pkl``."""
    entries = zip_entries(io.BytesIO(evil(marker)))
    return _write(tmp, "upper.pth", _plain_zip(
        [(n.replace("data.pkl", "DATA.PKL"), d) for n, d in entries]))


def nul_in_name(tmp: Path, marker: Path) -> Path:
    """``archive/data.pkl\\0x``: some readers cut names at a NUL byte, torch does not."""
    entries = zip_entries(io.BytesIO(harmless()))
    evil_pkl = next(d for n, d in zip_entries(io.BytesIO(evil(marker))) if n.endswith("data.pkl"))
    data = _plain_zip(entries + [("archive/data.pkl_x", evil_pkl)])
    return _write(tmp, "nul.pth", data.replace(b"archive/data.pkl_x", b"archive/data.pkl\0x"))


def zip64_disagrees(tmp: Path, marker: Path) -> Path:
    """torch's own file (zip64 end records, data descriptors) whose zip64 end record names
    another directory size than the classic one."""
    data = bytearray(_saved({"w": _torch().ones(4)}))
    at = bytes(data).rfind(b"PK\x06\x06")
    size = struct.unpack_from("<Q", data, at + 40)[0]
    struct.pack_into("<Q", data, at + 40, size + 46)
    return _write(tmp, "zip64.pth", bytes(data))


def descriptor_differs(tmp: Path, marker: Path) -> Path:
    """torch's own file whose data descriptor after data.pkl states another size."""
    data = bytearray(_saved({"w": _torch().ones(4)}))
    infos, _ = _layout(bytes(data))
    pkl = next(i for i in infos if i.filename.endswith("data.pkl"))
    name_len, extra_len = struct.unpack_from("<2H", data, pkl.header_offset + 26)
    at = pkl.header_offset + 30 + name_len + extra_len + pkl.compress_size
    assert data[at:at + 4] == b"PK\x07\x08"
    struct.pack_into("<I", data, at + 8, pkl.compress_size + 1)
    return _write(tmp, "descriptor.pth", bytes(data))


def tar_legacy_polyglot(tmp: Path, marker: Path) -> Path:
    """A legacy torch file (it opens as one) whose first 512 bytes are also a valid tar header:
    torch.load tries tar first and never reads the pickles we would show."""
    torch = _torch()
    legacy = _saved({"w": torch.ones(4)}, _use_new_zipfile_serialization=False)
    import pickletools

    ends, pos = [], 0
    for _ in range(3):  # magic, protocol, system info
        pos = max(p for _, _, p in pickletools.genops(legacy[pos:])) + pos + 1
        ends.append(pos)
    head = legacy[:ends[1]]
    # a system-info dict whose key is a string covering the tar header fields
    key_at = len(head) + 3 + 5  # PROTO 2, EMPTY_DICT, BINUNICODE + length
    block = bytearray(b"a" * 600)

    def put(offset: int, value: bytes) -> None:
        block[offset - key_at:offset - key_at + len(value)] = value

    for offset, width in ((100, 8), (108, 8), (116, 8), (124, 12), (136, 12), (329, 8), (337, 8)):
        put(offset, b"0" * (width - 1) + b"\0")
    put(156, b"0")
    put(157, b"\0" * 100)
    put(257, b"ustar\x0000")
    put(148, b" " * 8)
    sysinfo = (b"\x80\x02}X" + struct.pack("<I", len(block)) + bytes(block) + b"\x88s.")
    data = bytearray(head + sysinfo + legacy[ends[2]:])
    checksum = sum(data[:148]) + 8 * 32 + sum(data[156:512])
    data[148:156] = b"%06o\0 " % checksum
    p = _write(tmp, "polyglot.pth", bytes(data))
    tarfile.TarInfo.frombuf(bytes(data[:512]), tarfile.ENCODING, "surrogateescape")  # a tar header
    return p


# ---- class 2: one file must not change how the next one is read
def g(module: str, name: str) -> bytes:
    """GLOBAL module.name (protocol 0/2 opcode)."""
    return f"c{module}\n{name}\n".encode()


def u(text: str) -> bytes:
    """BINUNICODE text."""
    raw = text.encode("utf-8", "surrogatepass")
    return b"X" + len(raw).to_bytes(4, "little") + raw


def holding(value: bytes) -> bytes:
    """A protocol-2 pickle of ``{'x': value}``."""
    return b"\x80\x02}" + u("x") + value + b"s."


def in_torch_zip(tmp: Path, name: str, data_pkl: bytes, extra: list | None = None) -> Path:
    """A torch.save archive of ``{'w': ones(4)}`` whose data.pkl is ``data_pkl``."""
    entries = [(n, data_pkl if n.endswith("/data.pkl") else d)
               for n, d in torch_entries({"w": _torch().ones(4)})]
    return _write(tmp, name, _plain_zip(entries + (extra or [])))


POISONS = {  # BUILD (dict state, or (None, slot state)) into what find_class hands out
    "storage_type_dict": g("torch", "FloatStorage") + b"}" + u("dtype") + u("int8") + b"sb",
    "storage_type_slots": g("torch", "FloatStorage") + b"N}" + u("dtype") + u("int8") + b"s\x86b",
    "dtype_dict": g("torch", "float32") + b"}" + u("name") + u("int8") + b"sb",
    "layout_dict": g("torch", "strided") + b"}" + u("name") + u("torch.sparse_coo") + b"sb",
    "tensor_class_slots": g("torch", "Tensor") + b"N}" + u("name") + u("x") + b"s\x86b",
    "function_defaults": g("torch._utils", "_rebuild_tensor_v2") + b"N}" + u("__defaults__")
    + b"(\x88NNt" + b"s\x86b",
    "function_dict": g("collections", "OrderedDict") + b"}" + u("evil") + b"K\x01sb",
    "numpy_dtype_class": g("numpy", "dtype") + b"N}" + u("byteorder") + u(">") + b"s\x86b",
}


def poison(kind: str) -> Callable[[Path, Path], Path]:
    def build(tmp: Path, marker: Path) -> Path:
        return in_torch_zip(tmp, f"poison_{kind}.pth", holding(POISONS[kind]))
    return build


CLASS_2 = [Case(f"poison_{kind}", poison(kind), 2, "tries to change", "unreadable")
           for kind in POISONS]

# ---- class 4: work bounded by the file, not by what it claims
def hf_index(tmp: Path, weight_map: dict, name: str = "model.safetensors.index.json",
             shard: bool = True) -> Path:
    folder = tmp / "hf"
    folder.mkdir(exist_ok=True)
    if shard:
        w = struct.pack("<4f", 1, 2, 3, 4)
        header = json.dumps({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
        (folder / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + w)
    p = folder / name
    p.write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return p


def index_self_reference(tmp: Path, marker: Path) -> Path:
    return hf_index(tmp, {"w": "model.safetensors", "x": "model.safetensors.index.json"})


def index_mutual_reference(tmp: Path, marker: Path) -> Path:
    hf_index(tmp, {"y": "model.safetensors.index.json"}, name="other.index.json", shard=False)
    return hf_index(tmp, {"w": "model.safetensors", "x": "other.index.json"})


def index_one_shard_aliased(tmp: Path, marker: Path) -> Path:
    """200,000 names, all in the same shard: it is opened once."""
    return hf_index(tmp, {"w": "model.safetensors", **{f"n{i}": "model.safetensors"
                                                       for i in range(200_000)}})


def index_many_shards(tmp: Path, marker: Path) -> Path:
    """100,000 names in 100,000 shard files that do not exist."""
    return hf_index(tmp, {"w": "model.safetensors", **{f"n{i}": f"shard-{i}.safetensors"
                                                       for i in range(100_000)}})


def folder_symlink_out(tmp: Path, marker: Path) -> Path:
    """A model folder whose weights and config are symlinks to files outside it."""
    outside = tmp / "outside"
    outside.mkdir()
    w = struct.pack("<4f", 1, 2, 3, 4)
    header = json.dumps({"secret": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}).encode()
    (outside / "private.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + w)
    (outside / "private.json").write_text(json.dumps({"token": "s3cret"}))
    folder = tmp / "model"
    folder.mkdir()
    (folder / "model.safetensors").symlink_to(outside / "private.safetensors")
    (folder / "config.json").symlink_to(outside / "private.json")
    return folder


def _dcp_folder(tmp: Path, sd_meta: dict, storage: dict, files: dict[str, bytes],
                planner: dict | None = None) -> Path:
    from torch.distributed.checkpoint.metadata import Metadata

    folder = tmp / "dcp"
    folder.mkdir()
    for name, data in files.items():
        (folder / name).write_bytes(data)
    meta = Metadata(state_dict_metadata=sd_meta, planner_data=planner or {}, storage_data=storage)
    (folder / ".metadata").write_bytes(pickle.dumps(meta, protocol=2))
    return folder


def _dcp_rows(tmp: Path, rows: int, columns: bool = False) -> Path:
    """One tensor in ``rows`` one-row (or one-column) chunks, each a torch.save archive."""
    from torch.distributed.checkpoint.filesystem import _StorageInfo
    from torch.distributed.checkpoint.metadata import (
        ChunkStorageMetadata,
        MetadataIndex,
        TensorProperties,
        TensorStorageMetadata,
    )

    torch = _torch()
    piece = _saved(torch.ones(4, 1) if columns else torch.ones(1, 4))
    chunks, storage = [], {}
    for i in range(rows):
        offsets = torch.Size((0, i) if columns else (i, 0))
        chunks.append(ChunkStorageMetadata(offsets=offsets,
                                           sizes=torch.Size((4, 1) if columns else (1, 4))))
        storage[MetadataIndex("w", offsets, 0)] = _StorageInfo("__0_0.distcp", i * len(piece),
                                                               len(piece))
    shape = torch.Size((4, rows) if columns else (rows, 4))
    sd_meta = {"w": TensorStorageMetadata(TensorProperties(dtype=torch.float32), shape, chunks)}
    return _dcp_folder(tmp, sd_meta, storage, {"__0_0.distcp": piece * rows})


def dcp_row_chunks(tmp: Path, marker: Path) -> Path:
    return _dcp_rows(tmp, 10_000)


def dcp_column_chunks(tmp: Path, marker: Path) -> Path:
    return _dcp_rows(tmp, 10_000, columns=True)


def dcp_fan_out(tmp: Path, marker: Path) -> Path:
    """20,000 names sharing one tensor entry of 2,000 chunks: 40 M chunks from a small file."""
    from torch.distributed.checkpoint.metadata import (
        ChunkStorageMetadata,
        TensorProperties,
        TensorStorageMetadata,
    )

    torch = _torch()
    chunks = [ChunkStorageMetadata(offsets=torch.Size((i,)), sizes=torch.Size((1,)))
              for i in range(2_000)]
    shared = TensorStorageMetadata(TensorProperties(dtype=torch.float32), torch.Size((2_000,)),
                                   chunks)
    return _dcp_folder(tmp, {f"n{i}": shared for i in range(20_000)}, {}, {})


def pt2_json_bomb(tmp: Path, marker: Path) -> Path:
    """A .pt2 whose program JSON inflates from under 100 KB to 30 MB: 10 million tiny objects
    (several GB once parsed)."""
    torch = _torch()
    src = tmp / "src.pt2"
    model = torch.nn.Linear(2, 2)
    torch.export.save(torch.export.export(model, (torch.ones(1, 2),)), src)
    p = tmp / "bomb.pt2"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(p, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("models/model.json"):
                bomb = (b'{"graph_module": {"graph": {"nodes": [' + b"{}," * 10_000_000
                        + b'{}]}}, "schema_version": 1}')
                zi = zipfile.ZipInfo(info.filename)
                zi.compress_type = zipfile.ZIP_DEFLATED
                zout.writestr(zi, bomb)
            else:
                zout.writestr(zipfile.ZipInfo(info.filename), data)
    return p


def scan_deflate_bomb(tmp: Path, marker: Path) -> Path:
    """A zip of 4 deflated pickle entries, each 256 MB of opcodes (a few hundred KB stored):
    ``scan`` reads pickle-like entries statically, up to its caps."""
    data = zip_entries(io.BytesIO(harmless()))
    body = b"\x80\x02(" + b"N" * (256 << 20) + b"l."
    p = tmp / "scanbomb.pth"
    with zipfile.ZipFile(p, "w") as zf:
        for name, content in data:
            zf.writestr(name, content)
        for i in range(4):
            zi = zipfile.ZipInfo(f"archive/extra/bomb{i}.pkl")
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, body)
    return p


def scan_globals_bomb(tmp: Path, marker: Path) -> Path:
    """A pickle naming 2 million distinct globals (the static pass must not keep them all)."""
    body = b"\x80\x02(" + b"".join(g("m", f"g{i}") + b"0" for i in range(2_000_000)) + b"N."
    return _write(tmp, "globals.pkl", body)


def script_dag(tmp: Path, marker: Path) -> Path:
    """A TorchScript archive whose modules share children: level i holds level i-1 twice,
    40 levels deep (2^40 paths if expanded as a tree)."""
    torch = _torch()
    src = tmp / "src.pt"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(src))
    storage = (b"(" + u("storage") + g("torch", "FloatStorage") + u("0") + u("cpu") + b"K\x04tQ")
    tensor = (g("torch._utils", "_rebuild_tensor_v2") + b"(" + storage + b"K\x00K\x04\x85K\x01\x85"
              + b"\x89" + g("collections", "OrderedDict") + b")RtR")
    cls = g("__torch__", "M")
    body = b"\x80\x02" + cls + b")\x81}" + u("w") + tensor + b"sbq\x00"
    for level in range(1, 41):
        body += (cls + b")\x81}(" + u("a") + b"h" + bytes([level - 1]) + u("b") + b"h"
                 + bytes([level - 1]) + b"ubq" + bytes([level]))
    body += b"."
    entries = [(n, d) for n, d in zip_entries(src) if not n.endswith("/data.pkl")]
    root = entries[0][0].split("/")[0]
    entries = [(n, d) for n, d in entries if not n.split("/", 1)[1].startswith("data/")]
    entries += [(f"{root}/data.pkl", body), (f"{root}/data/0", struct.pack("<4f", 1, 2, 3, 4))]
    return _write(tmp, "dag.pt", _plain_zip(entries))


def many_views(tmp: Path, marker: Path) -> Path:
    """20,000 views of one storage."""
    torch = _torch()
    base = torch.arange(40_000, dtype=torch.float32)
    p = tmp / "views.pth"
    torch.save({f"v{i}": base[i:i + 2] for i in range(20_000)}, p)
    return p


def legacy_many_globals(tmp: Path, marker: Path) -> Path:
    """A legacy file whose system-info and object pickles name ~20,000 globals."""
    torch = _torch()
    legacy = _saved({"w": torch.ones(4)}, _use_new_zipfile_serialization=False)
    import pickletools

    ends, pos = [], 0
    for _ in range(5):
        pos = max(q for _, _, q in pickletools.genops(legacy[pos:])) + pos + 1
        ends.append(pos)
    names = b"".join(g(f"mod{i}", "f") + b"0" for i in range(9_990))
    sysinfo = b"\x80\x02(" + names + b"0}."
    obj_start = ends[2]
    obj = legacy[obj_start:ends[3]]
    obj = obj[:2] + b"(" + names.replace(b"mod", b"other") + b"1" + obj[2:]
    return _write(tmp, "legacy_globals.pth", legacy[:ends[1]] + sysinfo + obj + legacy[ends[3]:])


CLASS_4 = [
    Case("index_self_reference", index_self_reference, 2, "refers to itself|another shard index",
         "unreadable"),
    Case("index_mutual_reference", index_mutual_reference, 2, "another shard index", "unreadable"),
    Case("index_one_shard_aliased", index_one_shard_aliased, 0, "", "clean"),
    Case("index_many_shards", index_many_shards, 2, "more than .* shard files", "unreadable"),
    Case("folder_symlink_out", folder_symlink_out, 0, "", "clean"),
    Case("dcp_row_chunks", dcp_row_chunks, 0, "", "clean"),
    Case("dcp_column_chunks", dcp_column_chunks, 0, "", "clean"),
    Case("dcp_fan_out", dcp_fan_out, 2, "more than the limit of .* chunks", "unreadable"),
    Case("pt2_json_bomb", pt2_json_bomb, 0, "more than 8000000 JSON values", "clean"),
    Case("scan_deflate_bomb", scan_deflate_bomb, 0, "", "unsafe"),
    Case("scan_globals_bomb", scan_globals_bomb, 2, "more than 10000 globals", "unsafe"),
    Case("script_dag", script_dag, 0, "", "clean"),
    Case("many_views", many_views, 0, "", "clean"),
    Case("legacy_many_globals", legacy_many_globals, 0, "", "unsafe"),
]

# ---- class 5: clear messages, not internal errors
def _long(n: int) -> bytes:
    """LONG4: a binary int of any size (past Python's int -> str limit when large)."""
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8b" + len(raw).to_bytes(4, "little") + raw


def _tensor_record(size: bytes, stride: bytes = b"(K\x01t", offset: bytes = b"K\x00",
                   numel: int = 4, rebuild: bytes | None = None) -> bytes:
    storage = (b"(" + u("storage") + g("torch", "FloatStorage") + u("0") + u("cpu")
               + b"K" + bytes([numel]) + b"tQ")
    call = rebuild or (g("torch._utils", "_rebuild_tensor_v2") + b"(" + storage + offset + size
                       + stride + b"\x89" + g("collections", "OrderedDict") + b")RtR")
    return call


def pickled(name: str, body: bytes) -> Callable[[Path, Path], Path]:
    def build(tmp: Path, marker: Path) -> Path:
        return in_torch_zip(tmp, name, body)
    return build


SURROGATE = "k\udc80ey"
HUGE = 10 ** 5000


def _safetensors(tmp: Path, name: str, header: dict, data: bytes) -> Path:
    raw = json.dumps(header).encode().replace(b"424242", b"9" * 5000)  # a 5000-digit size
    return _write(tmp, name, len(raw).to_bytes(8, "little") + raw + data)


def safetensors_case(name: str, header: dict, data: bytes = b"\0" * 16):
    def build(tmp: Path, marker: Path) -> Path:
        return _safetensors(tmp, name, header, data)
    return build


def pt2_case(name: str, edit: Callable[[dict], None]):
    """A .pt2 whose weights config is edited by ``edit``."""
    def build(tmp: Path, marker: Path) -> Path:
        torch = _torch()
        src = tmp / "src.pt2"
        torch.export.save(torch.export.export(torch.nn.Linear(2, 2), (torch.ones(1, 2),)), src)
        out = []
        for n, d in zip_entries(src):
            if n.endswith("weights_config.json"):
                config = json.loads(d)
                edit(config["config"]["weight"]["tensor_meta"])
                d = json.dumps(config).encode()
            out.append((n, d))
        return _write(tmp, name, _plain_zip(out))
    return build


def _set(key: str, value) -> Callable[[dict], None]:
    return lambda meta: meta.__setitem__(key, value)


def dcp_case(name: str, size, dtype_global: bytes | None = None, offset: int = 0):
    """A DCP folder whose one tensor entry has the given size / dtype / storage offset."""
    def build(tmp: Path, marker: Path) -> Path:
        from torch.distributed.checkpoint.filesystem import _StorageInfo
        from torch.distributed.checkpoint.metadata import (
            ChunkStorageMetadata,
            MetadataIndex,
            TensorProperties,
            TensorStorageMetadata,
        )

        torch = _torch()
        piece = _saved(torch.ones(4))
        chunk = ChunkStorageMetadata(offsets=torch.Size((0,)), sizes=torch.Size((4,)))
        meta = TensorStorageMetadata(TensorProperties(dtype=torch.float32), torch.Size((4,)), [chunk])
        meta.size = size
        storage = {MetadataIndex("w", torch.Size((0,)), 0): _StorageInfo("__0_0.distcp", offset,
                                                                          len(piece))}
        folder = _dcp_folder(tmp, {"w": meta}, storage, {"__0_0.distcp": piece})
        if dtype_global is not None:  # the dtype in TensorProperties' state, swapped by bytes
            data = (folder / ".metadata").read_bytes()
            data = data.replace(g("torch", "float32"), dtype_global, 1)
            (folder / ".metadata").write_bytes(data)
        return folder
    return build


CLASS_5 = [
    Case("float_shape", pickled("fshape.pth", holding(_tensor_record(b"(G?\xf8\0\0\0\0\0\0t"))),
         2, "invalid tensor shape: 1.5", "unreadable"),
    Case("list_dtype", pickled("ldtype.pth", holding(g("torch._utils", "_rebuild_tensor_v3") + b"("
                                                    + b"(" + u("storage") + g("torch", "FloatStorage")
                                                    + u("0") + u("cpu") + b"K\x04tQ"
                                                    + b"K\x00(K\x04t(K\x01t\x89" + b"}]K\x01atR")),
         2, "tensor dtype is", "unreadable"),
    Case("negative_storage_offset", pickled("negoff.pth", holding(_tensor_record(
        b"(K\x02t", offset=b"J\xfc\xff\xff\xff"))), 2, "invalid storage offset: -4", "unreadable"),
    Case("huge_shape", pickled("hshape.pth", holding(_tensor_record(b"(" + _long(HUGE) + b"t"))),
         2, "invalid tensor shape: <int of \\d+ bits>", "unreadable"),
    Case("fields_changed_by_build", pickled("build.pth", holding(
        _tensor_record(b"(K\x04t") + b"}(" + u("storage") + b"K\x05" + u("shape") + b"G?\xf8\0\0\0\0\0\0"
        + u("dtype") + b"]K\x01a" + b"ub")), 0, "", "clean"),
    Case("huge_int_key_and_value", pickled("hugeint.pth", b"\x80\x02}(" + _long(HUGE) + _long(-HUGE)
                                           + u("w") + _tensor_record(b"(K\x04t") + b"u."), 0, "", "clean"),
    Case("huge_int_in_size", pickled("hugesize.pth", holding(g("torch", "Size") + b"((" + _long(HUGE)
                                                             + b"ttR")), 0, "", "clean"),
    Case("lone_surrogates", pickled("surrogate.pth", b"\x80\x02}(" + u(SURROGATE) + u("v\udc80")
                                    + u("w") + _tensor_record(b"(K\x04t") + b"u."), 0, "", "clean"),
    Case("surrogate_global", pickled("sglobal.pth", b"\x80\x04" + holding(
        u("os\udc80") + u("sys\ud800tem") + b"\x93" + u("x") + b"\x85R")[2:]), 0, "", "unsafe"),
    Case("safetensors_float_shape", safetensors_case("f.safetensors", {
        "w": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 16]}}), 2, "bad shape", "unreadable"),
    Case("safetensors_list_dtype", safetensors_case("d.safetensors", {
        "w": {"dtype": ["F32"], "shape": [4], "data_offsets": [0, 16]}}), 2, "malformed", "unreadable"),
    Case("safetensors_negative_offset", safetensors_case("n.safetensors", {
        "w": {"dtype": "F32", "shape": [4], "data_offsets": [-16, 0]}}), 2, "outside the file",
        "unreadable"),
    Case("safetensors_surrogate_name", safetensors_case("s.safetensors", {
        SURROGATE: {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}), 2, "safetensors",
        "unreadable"),
    Case("safetensors_huge_dim", safetensors_case("h.safetensors", {
        "w": {"dtype": "F32", "shape": [424242], "data_offsets": [0, 16]}}), 2, "safetensors",
        "unreadable"),
    Case("pt2_list_dtype", pt2_case("ldtype.pt2", _set("dtype", [7])), 0, "unknown dtype", "clean"),
    Case("pt2_float_sizes", pt2_case("fsizes.pt2", _set("sizes", [{"as_int": 1.5}, {"as_int": 2}])),
         0, "symbolic", "clean"),
    Case("pt2_negative_offset", pt2_case("noff.pt2", _set("storage_offset", {"as_int": -4})), 0,
         "malformed", "clean"),
    Case("pt2_huge_size", pt2_case("hsize.pt2", _set("sizes", [{"as_int": 10 ** 100},
                                                               {"as_int": 2}])),
         0, "view exceeds|needs bytes past", "clean"),
    Case("dcp_float_size", dcp_case("fsize", (4.5,)), 0, "invalid tensor size", "clean"),
    Case("dcp_list_dtype", dcp_case("ldtype", (4,), dtype_global=b"]K\x01a"), 0,
         "unknown tensor properties", "clean"),
    Case("dcp_negative_offset", dcp_case("noff", (4,), offset=-8), 0, "malformed", "clean"),
]


# ---- class 6: every dtype the formats define
def safetensors_dtype(code: str, shape: list[int], nbytes: int):
    def build(tmp: Path, marker: Path) -> Path:
        return _safetensors(tmp, f"{code}.safetensors", {
            "w": {"dtype": code, "shape": shape, "data_offsets": [0, nbytes]}},
            bytes(range(1, nbytes + 1)))
    return build


SAFETENSORS_CODES = {  # code -> (shape, bytes)
    "F8_E5M2FNUZ": ([4], 4), "F8_E4M3FNUZ": ([4], 4), "F8_E8M0": ([4], 4), "F8_E4M3": ([4], 4),
    "F8_E5M2": ([4], 4), "F4": ([2, 4], 4), "F6_E2M3": ([4], 3), "F6_E3M2": ([4], 3),
    "U16": ([2], 4), "U32": ([2], 8), "U64": ([2], 16), "C64": ([2], 16), "BOOL": ([4], 4),
}
CLASS_6 = [Case(f"safetensors_{code}", safetensors_dtype(code, *spec), 0, "", "clean")
           for code, spec in SAFETENSORS_CODES.items()]

AMBIGUOUS = "ambiguous archive"
CLASS_1 = [
    Case("two_central_directories", two_central_directories, 2, f"{AMBIGUOUS}: .*between the "
         "central directory and its end record", "unsafe"),
    Case("appended_archive", appended_archive, 2, AMBIGUOUS, "unsafe"),
    Case("trailing_bytes", trailing_bytes, 2, f"{AMBIGUOUS}: .*bytes follow the end", "unsafe"),
    Case("end_record_in_comment", end_record_in_comment, 2, AMBIGUOUS, "unsafe"),
    Case("unlisted_entry_first", unlisted_entry_first, 2, f"{AMBIGUOUS}: .*before the first entry",
         "unsafe"),
    Case("gap_between_entries", gap_between_entries, 2, f"{AMBIGUOUS}: .*unlisted bytes after",
         "unsafe"),
    Case("local_name_differs", local_name_differs, 2, f"{AMBIGUOUS}: .*names another file",
         "unsafe"),
    Case("local_size_differs", local_size_differs, 2, f"{AMBIGUOUS}: .*size or checksum", "unsafe"),
    Case("local_method_differs", local_method_differs, 2, f"{AMBIGUOUS}: .*how it is stored",
         "unsafe"),
    Case("overlapping_entries", overlapping_entries, 2, f"{AMBIGUOUS}: .*overlap", "unsafe"),
    Case("names_equal_ignoring_case", names_equal_ignoring_case, 2,
         f"{AMBIGUOUS}: .*differ only in case", "unsafe"),
    Case("upper_case_pickle_only", upper_case_pickle_only, 2, "no data.pkl", "unsafe"),
    Case("nul_in_name", nul_in_name, 2, f"{AMBIGUOUS}: .*NUL", "unsafe"),
    Case("zip64_disagrees", zip64_disagrees, 2, f"{AMBIGUOUS}: .*disagree", "unsafe"),
    Case("descriptor_differs", descriptor_differs, 2, f"{AMBIGUOUS}: .*data descriptor", "unsafe"),
    Case("tar_legacy_polyglot", tar_legacy_polyglot, 2, f"{AMBIGUOUS}: .*tar", "unsafe"),
]

CASES = CLASS_1 + CLASS_2 + CLASS_4 + CLASS_5 + CLASS_6

