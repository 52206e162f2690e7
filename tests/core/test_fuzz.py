"""Fuzzing: mutated checkpoints either open or fail with one CheckpointError — never another
exception, never a hang, never running anything. A small budget runs in CI; set
FUZZ_EXAMPLES=5000 for a longer run."""

from __future__ import annotations

import os
import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspector.core.checkpoint import CheckpointError
from inspector.core.formats import open_checkpoint
from inspector.core.safety import scan
from tests.ckpt_factory import Payload, rewrite_zip

torch = pytest.importorskip("torch")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("FUZZ_EXAMPLES"),
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    """Valid checkpoints of each main format, as bytes, plus the marker a payload would make."""
    d = tmp_path_factory.mktemp("seeds")
    marker = d / "PWNED"
    sd = {"w": torch.randn(3, 4), "b": torch.zeros(3, dtype=torch.float16), "i": torch.arange(4),
          "nested": [1, 2.5, "x", (torch.ones(2),)], "evil": Payload(os.system, f"touch {marker}")}
    torch.save(sd, d / "zip.pth")
    torch.save(sd, d / "legacy.pth", _use_new_zipfile_serialization=False)
    from safetensors.torch import save_file

    save_file({"w": torch.randn(3, 4), "b": torch.ones(2)}, d / "st.safetensors")
    return {name: (d / name).read_bytes() for name in ("zip.pth", "legacy.pth", "st.safetensors")}, marker


def _check(path, marker):
    try:
        with open_checkpoint(path) as ck:
            nodes = sum(1 for _ in ck.root.walk())
            assert nodes < 3_000_000
            for _, info in ck.tensors()[:4]:
                try:
                    ck.tensor(info)
                except CheckpointError:
                    pass
    except CheckpointError as e:
        assert e.problem and str(path) in str(e)
    assert scan(path).verdict in ("clean", "unsafe", "unreadable")
    assert not marker.exists()


mutation = st.tuples(st.sampled_from(["flip", "set", "truncate", "insert", "delete"]),
                     st.floats(0, 1), st.integers(0, 255), st.integers(1, 64))


def _mutate(data: bytes, ops) -> bytes:
    buf = bytearray(data)
    for kind, where, value, length in ops:
        if not buf:
            break
        i = min(int(where * len(buf)), len(buf) - 1)
        if kind == "flip":
            buf[i] ^= 1 << (value % 8)
        elif kind == "set":
            buf[i] = value
        elif kind == "truncate":
            del buf[i:]
        elif kind == "insert":
            buf[i:i] = bytes([value]) * length
        else:
            del buf[i:i + length]
    return bytes(buf)


@FUZZ
@given(name=st.sampled_from(["zip.pth", "legacy.pth", "st.safetensors"]),
       ops=st.lists(mutation, min_size=1, max_size=4))
def test_mutated_files(seeds, tmp_path, name, ops):
    files, marker = seeds
    p = tmp_path / f"m_{name}"
    p.write_bytes(_mutate(files[name], ops))
    _check(p, marker)


@FUZZ
@given(ops=st.lists(mutation, min_size=1, max_size=3))
def test_mutated_pickle_in_valid_zip(seeds, tmp_path, ops):
    """Mutate only data.pkl and rebuild a valid container, so the unpickler itself is fuzzed."""
    files, marker = seeds
    src = tmp_path / "src.pth"
    src.write_bytes(files["zip.pth"])
    p = tmp_path / "pkl_mutated.pth"
    rewrite_zip(src, p, edit_pickle=lambda data: _mutate(data, ops))
    _check(p, marker)


@FUZZ
@given(obj=st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
                        | st.binary(max_size=8),
                        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=4), kids, max_size=4)
                        | st.tuples(kids, kids), max_leaves=30),
       proto=st.integers(0, 5))
def test_arbitrary_plain_pickles(tmp_path, obj, proto):
    p = tmp_path / "plain.pkl"
    p.write_bytes(pickle.dumps(obj, protocol=proto))
    try:
        ck = open_checkpoint(p)
    except CheckpointError as e:
        # only a protocol 0/1 pickle (no PROTO opcode) of a bare scalar or string may not look
        # like a pickle by its first byte; anything else must open
        assert proto < 2 and "unrecognized format" in e.problem, e
        return
    assert ck.format == "pickle" and ck.unsafe_globals == []
