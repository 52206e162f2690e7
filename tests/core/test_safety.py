"""Nothing from a file runs: malicious payloads, and every bad input gets its message."""

from __future__ import annotations

import builtins
import importlib
import os
import pickle
import zipfile

import pytest

from inspector.core.checkpoint import CheckpointError
from inspector.core.formats import open_checkpoint
from inspector.core.safety import scan
from tests.ckpt_factory import Payload, rewrite_zip, write_zip, zip_entries

torch = pytest.importorskip("torch")


def _evil_objects(marker):
    cmd = f"touch {marker}"
    return {
        "os_system": Payload(os.system, cmd),
        "builtins_exec": Payload(builtins.exec, f"open({str(marker)!r}, 'w').close()"),
        "builtins_eval": Payload(builtins.eval, f"open({str(marker)!r}, 'w')"),
    }


@pytest.mark.parametrize("kind", ["os_system", "builtins_exec", "builtins_eval"])
@pytest.mark.parametrize("container", ["zip", "legacy", "nested", "raw_pickle"])
def test_payload_never_runs(tmp_path, marker, kind, container):
    evil = _evil_objects(marker)[kind]
    p = tmp_path / f"{kind}-{container}.pth"
    if container == "zip":
        torch.save({"w": torch.ones(2), "x": evil}, p)
    elif container == "legacy":
        torch.save({"w": torch.ones(2), "x": evil}, p, _use_new_zipfile_serialization=False)
    elif container == "nested":
        torch.save({"a": [{"b": (torch.zeros(1), evil)}]}, p)
    else:
        p.write_bytes(pickle.dumps({"cfg": [evil]}, protocol=2))
    # protocol 2 spells builtins the Python 2 way; the allow-list is exact, so both are unsafe
    expected = {"os_system": "posix.system", "builtins_exec": "__builtin__.exec",
                "builtins_eval": "__builtin__.eval"}[kind]

    with open_checkpoint(p) as ck:
        assert expected in ck.unsafe_globals
        texts = [n.value for n in ck.root.walk() if n.kind == "object"]
        assert any(isinstance(t, str) and expected in t for t in texts)
    result = scan(p)
    assert result.verdict == "unsafe" and result.exit_code == 1
    assert expected in result.unsafe_globals
    assert not marker.exists()


def test_payload_text_is_shown_not_run(tmp_path, marker):
    p = tmp_path / "evil.pth"
    torch.save({"x": Payload(os.system, f"touch {marker}")}, p)
    with open_checkpoint(p) as ck:
        node = ck.find(["x"])
        assert node.kind == "object"
        assert node.value == f"posix.system('touch {marker}')"
    assert not marker.exists()


def test_getattr_import_chain_stays_inert(tmp_path, marker):
    # getattr(importlib.import_module('os'), 'system')('touch marker'), protocol 2 and 4
    chain = Payload(Payload(getattr, Payload(importlib.import_module, "os"), "system"),
                    f"touch {marker}")
    for proto in (2, 4):
        p = tmp_path / f"chain{proto}.pth"
        torch.save({"x": chain}, p, pickle_protocol=proto)
        with open_checkpoint(p) as ck:
            assert "importlib.import_module" in ck.unsafe_globals
            assert any(g.endswith(".getattr") for g in ck.unsafe_globals)
            assert "system" in ck.find(["x"]).value
        assert scan(p).verdict == "unsafe"
    assert not marker.exists()


def test_clean_checkpoint_scans_clean(training_ckpt):
    result = scan(training_ckpt)
    assert result.verdict == "clean" and result.exit_code == 0
    assert "torch._utils._rebuild_tensor_v2" in result.globals
    assert result.unsafe_globals == []


def test_whole_model_scans_unsafe_but_nothing_runs(tmp_path):
    p = tmp_path / "m.pth"
    torch.save(torch.nn.Linear(2, 2), p)
    result = scan(p)
    assert result.verdict == "unsafe"
    assert "torch.nn.modules.linear.Linear" in result.unsafe_globals


def test_protocol_4_payload_found(tmp_path, marker):
    p = tmp_path / "p4.pth"
    torch.save({"x": Payload(os.system, f"touch {marker}")}, p, pickle_protocol=4)
    result = scan(p)
    assert "posix.system" in result.unsafe_globals
    assert not marker.exists()


# ---- bad input: one clear message each
def test_empty_file(tmp_path):
    p = tmp_path / "empty.pth"
    p.write_bytes(b"")
    with pytest.raises(CheckpointError, match="file is empty"):
        open_checkpoint(p)


def test_random_bytes(tmp_path):
    p = tmp_path / "random.pth"
    p.write_bytes(os.urandom(4096).replace(b"PK", b"pk"))
    with pytest.raises(CheckpointError, match="unrecognized format"):
        open_checkpoint(p)


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.99])
def test_truncated_zip(tmp_path, state_dict_ckpt, keep):
    data = state_dict_ckpt.read_bytes()
    p = tmp_path / "cut.pth"
    p.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(CheckpointError, match="truncated|damaged zip"):
        open_checkpoint(p)


def test_truncated_legacy(tmp_path):
    p0 = tmp_path / "legacy.pth"
    torch.save({"w": torch.randn(100)}, p0, _use_new_zipfile_serialization=False)
    data = p0.read_bytes()
    p = tmp_path / "cut.pth"
    p.write_bytes(data[:-50])
    with pytest.raises(CheckpointError, match="truncated"):
        open_checkpoint(p)


def test_plain_zip(tmp_path):
    p = tmp_path / "plain.pth"
    write_zip(p, [("docs/readme.txt", b"hello")])
    with pytest.raises(CheckpointError, match="no data.pkl"):
        open_checkpoint(p)


def test_missing_record(tmp_path, state_dict_ckpt):
    p = tmp_path / "missing.pth"
    rewrite_zip(state_dict_ckpt, p, drop=lambda rest: rest == "data/1")
    with pytest.raises(CheckpointError, match=r"storage record '.*data/1' is missing"):
        open_checkpoint(p)


def test_record_size_mismatch(tmp_path, state_dict_ckpt):
    entries = [(n, d[:-4] if n.endswith("/data/0") else d) for n, d in zip_entries(state_dict_ckpt)]
    p = tmp_path / "short.pth"
    write_zip(p, entries)
    with pytest.raises(CheckpointError, match="has 124 bytes but its 32 float32 elements need 128"):
        open_checkpoint(p)


def test_compressed_records_refused(tmp_path, state_dict_ckpt):
    p = tmp_path / "deflated.pth"
    rewrite_zip(state_dict_ckpt, p, compression=zipfile.ZIP_DEFLATED)
    with pytest.raises(CheckpointError, match="compressed"):
        open_checkpoint(p)


def test_duplicate_entry_names_refused(tmp_path, state_dict_ckpt):
    entries = zip_entries(state_dict_ckpt)
    pkl = next((n, d) for n, d in entries if n.endswith("data.pkl"))
    p = tmp_path / "dup.pth"
    write_zip(p, [*entries, pkl])
    with pytest.raises(CheckpointError, match="two entries named"):
        open_checkpoint(p)


def test_two_root_folders_refused(tmp_path, state_dict_ckpt):
    p = tmp_path / "roots.pth"
    rewrite_zip(state_dict_ckpt, p, extra=[("other/file", b"x")])
    with pytest.raises(CheckpointError, match="more than one top-level folder"):
        open_checkpoint(p)


def test_fifo_is_refused_without_blocking(tmp_path):
    p = tmp_path / "model.pth"
    os.mkfifo(p)
    with pytest.raises(CheckpointError, match="FIFO"):
        open_checkpoint(p)


def test_missing_file_and_plain_folder(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        open_checkpoint(tmp_path / "nope.pth")
    with pytest.raises(CheckpointError, match="folder without"):
        open_checkpoint(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_file(tmp_path, state_dict_ckpt):
    p = tmp_path / "locked.pth"
    p.write_bytes(state_dict_ckpt.read_bytes())
    p.chmod(0)
    with pytest.raises(CheckpointError, match="permission denied"):
        open_checkpoint(p)


def test_scan_unreadable(tmp_path):
    p = tmp_path / "junk.bin"
    p.write_bytes(b"\x00" * 100)
    result = scan(p)
    assert result.verdict == "unreadable" and result.exit_code == 2
    assert "unrecognized format" in result.error


def test_files_are_never_modified(tmp_path, training_ckpt):
    before = training_ckpt.read_bytes()
    mtime = training_ckpt.stat().st_mtime_ns
    with open_checkpoint(training_ckpt) as ck:
        for _, info in ck.tensors():
            t = ck.tensor(info)
            if t.is_floating_point():
                t.add_(1.0)  # writes go to a private mapping, never to the file
    scan(training_ckpt)
    assert training_ckpt.read_bytes() == before
    assert training_ckpt.stat().st_mtime_ns == mtime
