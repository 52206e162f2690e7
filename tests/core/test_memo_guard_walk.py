"""The memo-index guard's opcode walk (issue 13 made it skip opcodes with a regex): it must
find exactly what a plain opcode-by-opcode walk finds, and opening a torch.save file must
import neither numpy nor the other formats' readers."""

from __future__ import annotations

import os
import pickle
import pickletools
import random
import struct
import subprocess
import sys

import pytest

from inspector.core.unpickler import InertPickleError
from inspector.core.unpickler.guard import _memo_index_over, check_memo_indices

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def reference(data: bytes, limit: int) -> int | None:
    """The first PUT / LONG_BINPUT index above ``limit``, from pickletools' own parse."""
    for op, arg, _pos in pickletools.genops(data):
        if op.name in ("LONG_BINPUT", "PUT") and arg > limit:
            return arg
    return None


def random_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 3 else 5)
    if kind == 0:
        return rng.randrange(-10**6, 10**6)
    if kind == 1:  # strings full of 'r' (LONG_BINPUT) and 'p' (PUT) followed by digits
        n = rng.choice((0, 1, 5, 63, 64, 65, 200, 300))
        return "".join(rng.choice("rp0123456789\n\x00\xff.abc") for _ in range(n))
    if kind == 2:
        return bytes(rng.randrange(256) for _ in range(rng.choice((0, 3, 64, 65, 300))))
    if kind == 3:
        return rng.random()
    if kind == 4:
        return None if rng.random() < 0.5 else rng.random() < 0.5
    items = [random_value(rng, depth + 1) for _ in range(rng.randrange(6))]
    if kind == 5:
        return items
    if kind == 6:
        return tuple(items)
    if kind == 7:
        return {str(i) + "r": v for i, v in enumerate(items)}
    return [items, items]  # shared: memo GETs


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_the_walk_finds_what_pickletools_finds(protocol):
    rng = random.Random(protocol)
    for i in range(30):
        # every few, enough memoized objects for LONG_BINPUT (protocols 1-3 past 255)
        count = rng.randrange(300, 1500) if i % 5 == 0 else rng.randrange(1, 40)
        value = [random_value(rng) for _ in range(count)]
        data = pickle.dumps(value, protocol)
        for limit in (0, 1, 2, 3, 7, 100, 255, 256, 300, 1000, 2047, 70_000, len(data)):
            assert _memo_index_over(data, 0, len(data), limit) == reference(data, limit), \
                (protocol, limit)


def test_a_huge_index_hidden_after_text_that_looks_like_opcodes_is_found():
    text = ("r" + "\xff" * 4) * 50  # 'r' and four high bytes inside a string: not an opcode
    head = b"\x80\x02X" + struct.pack("<I", len(text.encode("utf-8"))) + text.encode("utf-8")
    for index in (2**20, 2**31, 2**32 - 1):
        data = head + b"r" + struct.pack("<I", index) + b"."
        assert _memo_index_over(data, 0, len(data), len(data)) == index
        with pytest.raises(InertPickleError, match=f"memo index {index}"):
            check_memo_indices(data, 0, len(data))
    clean = head + b"."
    check_memo_indices(clean, 0, len(clean))  # only text: nothing to refuse


def test_text_put_and_long_strings_are_checked():
    long = b"X" + struct.pack("<I", 500) + b"r\xff\xff\xff\xff" * 100
    data = b"\x80\x02" + long + b"p99999999\n."
    assert _memo_index_over(data, 0, len(data), len(data)) == 99999999
    ok = b"\x80\x02" + long + b"p5\n."
    assert _memo_index_over(ok, 0, len(ok), len(ok)) is None


def test_torch_save_pickles_pass(state_dict_ckpt):
    import zipfile

    with zipfile.ZipFile(state_dict_ckpt) as zf:
        name = next(n for n in zf.namelist() if n.endswith("data.pkl"))
        data = zf.read(name)
    check_memo_indices(data, 0, len(data))
    assert _memo_index_over(data, 0, len(data), 3) == reference(data, 3)


def test_opening_a_torch_save_file_imports_only_its_reader(state_dict_ckpt, tmp_path):
    """The app reads its first file before anything else is loaded (issue 13)."""
    heavy = ["numpy", "torch", "tarfile", "inspector.core.formats.dcp",
             "inspector.core.formats.hf_folder", "inspector.core.formats.safetensors",
             "inspector.core.formats.torch_export", "inspector.core.formats.torchscript",
             "inspector.core.formats.torch_legacy", "inspector.core.formats.trusted"]
    code = ("import sys\n"
            "from inspector.core.formats import open_checkpoint\n"
            f"ck = open_checkpoint({str(state_dict_ckpt)!r})\n"
            "assert ck.tensors()\n"
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout


def test_validated_bytes_is_still_importable_from_formats():
    from inspector.core.formats import validated_bytes
    from inspector.core.formats.trusted import validated_bytes as direct

    assert validated_bytes is direct
