"""Hostile files against ``info``, ``scan``, ``stats`` and ``diff``, each run in a child process.

The files are built here by code (no binary payloads are committed):

- views whose virtual size dwarfs their storage (stride-0 broadcasts, overlapping strides):
  the commands finish quickly, computing over the stored values or naming the cap;
- keys, values and global names carrying ANSI escapes, carriage returns and newlines: text
  output shows them escaped (no ESC byte reaches the terminal, no forged line), JSON keeps
  them exact;
- integer keys too large to print and lone surrogates in keys and strings: normal output.

Every run must end with exit code 0, 1 or 2, at most one ``error:`` line and no traceback.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.ckpt_factory import rewrite_zip

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 120  # a child process imports torch; a hang would take far longer than this
ESC = b"\x1b"
SPOOF_KEY = "\x1b[2J\x1b[32mCLEAN\x1b[0m\r\nunsafe globals: none"
HUGE = 1 << 20000  # 6021 digits: past CPython's int -> str limit


# ---- pickles written by hand (protocol 2 opcodes), in a torch zip layout
def _global(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n".encode()


def _str(text: str) -> bytes:
    raw = text.encode("utf-8", "surrogatepass")  # lone surrogates as pickle writes them
    return b"X" + len(raw).to_bytes(4, "little") + raw


def _int(n: int) -> bytes:
    if 0 <= n < 256:
        return b"K" + bytes([n])
    if -(2 ** 31) <= n < 2 ** 31:
        return b"J" + struct.pack("<i", n)
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8b" + struct.pack("<i", len(raw)) + raw  # LONG4


def _tensor(offset: int = 0, numel: int = 8) -> bytes:
    storage = (b"(" + _str("storage") + _global("torch", "FloatStorage") + _str("0")
               + _str("cpu") + _int(numel) + b"tQ")
    return (_global("torch._utils", "_rebuild_tensor_v2") + b"(" + storage + _int(offset)
            + b"(" + _int(numel - offset) + b"t(" + _int(1) + b"t\x89"
            + _global("collections", "OrderedDict") + b")RtR")


def _hand_built(tmp: Path, name: str, items: list[tuple[bytes, bytes]]) -> Path:
    """A torch zip (one 8-float storage, key "0") whose data.pkl is the dict ``items``."""
    base = tmp / f"{name}.base.pth"
    torch.save({"w": torch.arange(8, dtype=torch.float32)}, base)
    pickle = b"\x80\x02}(" + b"".join(k + v for k, v in items) + b"u."
    return rewrite_zip(base, tmp / name, edit_pickle=lambda _: pickle)


def _run(*args) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(REPO / "main.py"), *map(str, args)],
                          capture_output=True, timeout=TIMEOUT, cwd=REPO)
    assert proc.returncode in (0, 1, 2), proc
    assert b"Traceback" not in proc.stderr and b"internal error" not in proc.stderr, proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith(b"error:")]
    assert len(errors) <= 1, proc.stderr
    return proc


def _text(proc: subprocess.CompletedProcess) -> str:
    assert ESC not in proc.stdout and ESC not in proc.stderr, proc
    return proc.stdout.decode("utf-8")


# ---- class 4: work bounded by the file, not by what its metadata claims
@pytest.fixture(scope="module")
def oversized(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("oversized")
    row = torch.arange(4.0)
    a, b = tmp / "a.pth", tmp / "b.pth"
    for path, step in ((a, 0), (b, 1)):
        overlap = torch.arange(2.0 ** 16).as_strided((2 ** 15, 2 ** 15), (1, 1))  # 256 KiB stored
        torch.save({"bcast": (row + step).expand(2 ** 30, 4),
                    "zeros": torch.zeros(1).expand(2 ** 20, 2 ** 20), "overlap": overlap}, path)
        assert path.stat().st_size < 1 << 20
    return a, b


def test_stats_of_oversized_views(oversized):
    a, _ = oversized
    proc = _run("stats", "--json", a)
    assert proc.returncode == 0
    doc = {tuple(t["path"]): t for t in json.loads(proc.stdout)["tensors"]}
    assert doc[("bcast",)]["numel"] == 2 ** 32 and doc[("bcast",)]["mean"] == 1.5
    assert doc[("zeros",)]["zeros"] == 2 ** 40
    assert "cap: 64× the stored elements" in doc[("overlap",)]["error"]
    text = _run("stats", a)
    assert text.returncode == 0
    [note] = text.stderr.decode().splitlines()
    assert note.startswith("no statistics for overlap: not computed: the view reads 1.07B values")


def test_diff_and_info_of_oversized_views(oversized):
    a, b = oversized
    proc = _run("diff", "--json", a, b)
    assert proc.returncode == 0
    entries = {tuple(e["path"]): e for e in json.loads(proc.stdout)["entries"]}
    assert entries[("bcast",)]["status"] == "changed"
    assert entries[("bcast",)]["num_diff"] == 2 ** 32 and entries[("bcast",)]["max_abs_diff"] == 1
    assert entries[("zeros",)]["status"] == "identical"
    assert entries[("overlap",)]["status"] == "identical"
    assert "cap: 64×" in entries[("overlap",)]["note"]
    assert "changed  bcast  float32  [1073741824, 4]" in _text(_run("diff", a, b))
    info = _run("info", a)
    assert info.returncode == 0 and "1.10T el" in _text(info)


# ---- class 3: text from a file is shown escaped, never interpreted
@pytest.fixture(scope="module")
def escapes(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("escapes")

    def build(name: str, offset: int, value: str) -> Path:
        return _hand_built(tmp, name, [
            (_str(SPOOF_KEY), _tensor(offset)),
            (_str("note\x1b]0;title\x07"), _str(value)),
            (_str("call"), _global("os\x1b[8m", "system\x1b[0m") + b"(" + _str("true") + b"tR"),
        ])

    return build("a.pth", 0, "\x1b[31mred\rover"), build("b.pth", 1, "\x1b[32mgreen")


def _no_forged_lines(text: str) -> None:
    for line in text.splitlines():
        assert not line.lstrip().startswith(("unsafe globals: none", "CLEAN")), text


def test_info_and_scan_escape_control_characters(escapes):
    a, _ = escapes
    info = _text(_run("info", a))
    assert "\\x1b[2J\\x1b[32mCLEAN\\x1b[0m\\r\\nunsafe globals: none" in info
    assert "UNSAFE GLOBALS (not executed): os\\x1b[8m.system\\x1b[0m" in info
    _no_forged_lines(info)
    scan = _run("scan", a)
    assert scan.returncode == 1
    out = _text(scan)
    assert out.splitlines()[0].endswith("UNSAFE (torch-zip)")
    assert "  UNSAFE  os\\x1b[8m.system\\x1b[0m" in out
    _no_forged_lines(out)


def test_stats_and_diff_escape_control_characters(escapes):
    a, b = escapes
    stats = _text(_run("stats", a))
    assert "\\x1b[2J" in stats
    _no_forged_lines(stats)
    diff = _text(_run("diff", a, b))
    assert "\\x1b[2J\\x1b[32mCLEAN" in diff and "\\x1b[31mred\\rover" in diff
    _no_forged_lines(diff)


def test_json_keeps_strings_from_the_file_exact(escapes):
    a, b = escapes
    info = json.loads(_run("info", "--json", a).stdout)
    assert info["tensors"][0]["path"] == [SPOOF_KEY]
    assert info["unsafe_globals"] == ["os\x1b[8m.system\x1b[0m"]
    scan = json.loads(_run("scan", "--json", a).stdout)
    assert scan["unsafe_globals"] == ["os\x1b[8m.system\x1b[0m"]
    diff = json.loads(_run("diff", "--json", a, b).stdout)
    assert diff["entries"][0]["path"] == [SPOOF_KEY]
    assert {s["value_a"] for s in diff["scalars"]} == {"\x1b[31mred\rover"}


def test_error_naming_a_hostile_path_is_one_escaped_line(tmp_path):
    missing = tmp_path / "no\x1b[2Jsuch\nfile.pth"
    for command in ("info", "scan", "stats"):
        proc = _run(command, missing)
        assert proc.returncode == 2
        [line] = proc.stderr.splitlines()
        assert line.startswith(b"error:") and b"no\\x1b[2Jsuch\\nfile.pth" in line


# ---- class 5: values that cannot be printed as they are
@pytest.fixture(scope="module")
def unprintable(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("unprintable")
    a = _hand_built(tmp, "a.pth", [(_int(HUGE), _tensor()), (_str("n"), _int(HUGE)),
                                   (_str("w\ud800x"), _tensor(1)), (_str("s"), _str("a\udfffb"))])
    b = _hand_built(tmp, "b.pth", [(_int(HUGE), _tensor(2)), (_str("n"), _int(HUGE + 1)),
                                   (_str("w\ud800x"), _tensor(1)), (_str("s"), _str("b\udfff"))])
    return a, b


def test_huge_ints_and_lone_surrogates_in_text_output(unprintable):
    a, b = unprintable
    info = _text(_run("info", a))
    assert "<int of 20001 bits>  float32 [8]" in info and "n: <int of 20001 bits>" in info
    assert "w\\ud800x  float32 [7]" in info and "'a\\udfffb'" in info
    assert _run("scan", a).returncode == 0
    stats = _text(_run("stats", a))
    assert "<int of 20001 bits>" in stats and "w\\ud800x" in stats
    diff = _run("diff", a, b)
    assert diff.returncode == 0
    text = _text(diff)
    assert "changed  <int of 20001 bits>" in text and "s: 'a\\udfffb' → 'b\\udfff'" in text
    assert "n: <int of 20001 bits> → <int of 20001 bits>" in text


def test_huge_ints_and_lone_surrogates_in_json(unprintable):
    a, b = unprintable
    info = json.loads(_run("info", "--json", a).stdout)
    assert [t["path"] for t in info["tensors"]] == [["<int of 20001 bits>"], ["w\ud800x"]]
    stats = json.loads(_run("stats", "--json", a).stdout)
    assert [t["path"] for t in stats["tensors"]] == [["<int of 20001 bits>"], ["w\ud800x"]]
    diff = json.loads(_run("diff", "--json", a, b).stdout)
    assert {s["value_b"] for s in diff["scalars"]} == {"<int of 20001 bits>", "b\udfff"}
