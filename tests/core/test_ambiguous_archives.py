"""Issue 18, class 1: we read the same file torch reads, or refuse it; and a trusted load hands
torch the records we validated (``validated_bytes``), never the path."""

from __future__ import annotations

import io
import warnings
import zipfile

import pytest

from inspector.core.formats import (
    AmbiguousArchiveError,
    CheckpointError,
    open_checkpoint,
    validated_bytes,
)
from tests.hostile_round2 import (
    CLASS_1,
    evil_weights,
    names_equal_ignoring_case,
    tar_legacy_polyglot,
    two_central_directories,
)

torch = pytest.importorskip("torch")


def _ours(path):
    with open_checkpoint(path) as ck:
        return {".".join(map(str, p)): ck.tensor(i).clone() for p, i in ck.tensors()}


def test_two_directories_torch_and_zipfile_read_different_weights(tmp_path, marker):
    path = two_central_directories(tmp_path, marker, e_data=evil_weights(666.0))
    assert torch.load(path, weights_only=True)["w"].tolist() == [666.0] * 4
    with zipfile.ZipFile(path) as zf:  # what a zipfile-based reader would have shown
        shown = torch.load(io.BytesIO(_rezip(zf)), weights_only=True)
    assert shown["w"].tolist() == [1.0] * 4
    with pytest.raises(AmbiguousArchiveError, match="between the central directory"):
        open_checkpoint(path)
    with pytest.raises(AmbiguousArchiveError):
        validated_bytes(path)


def _rezip(zf: zipfile.ZipFile) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in zf.infolist():
            dst.writestr(info.filename, zf.read(info))
    return out.getvalue()


def test_names_equal_ignoring_case_are_refused_whatever_torch_picks(tmp_path, marker):
    path = names_equal_ignoring_case(tmp_path, marker)
    loaded = torch.load(path, weights_only=True)["w"]  # torch picks one of the two
    assert loaded.shape == (4,)
    with pytest.raises(AmbiguousArchiveError, match="differ only in case"):
        open_checkpoint(path)


def test_tar_polyglot_is_legacy_to_a_stream_and_tar_to_torch_load(tmp_path, marker):
    path = tar_legacy_polyglot(tmp_path, marker)
    data = path.read_bytes()
    # as a stream (no tar attempt) it is a legacy checkpoint with harmless weights ...
    assert torch.load(io.BytesIO(data), weights_only=True)["w"].tolist() == [1.0] * 4
    # ... but torch.load(path) reads it as a tar archive
    with pytest.raises(RuntimeError, match="legacy .tar format"):
        torch.load(path, weights_only=True)
    with pytest.raises(AmbiguousArchiveError, match="tar"):
        open_checkpoint(path)
    with pytest.raises(AmbiguousArchiveError, match="tar"):
        validated_bytes(path)


@pytest.mark.parametrize("case", CLASS_1, ids=[c.name for c in CLASS_1])
def test_torch_never_loads_weights_we_show_differently(case, tmp_path, marker):
    """Where both torch (weights only) and our reader load a file, they agree."""
    path = case.build(tmp_path, marker)
    try:
        ours = _ours(path)
    except CheckpointError:  # refused: nothing is shown, so nothing can differ
        return
    theirs = torch.load(path, weights_only=True)
    assert set(ours) == set(theirs)
    for k, v in ours.items():
        assert torch.equal(v, theirs[k])


# ---- validated_bytes: what the trusted loader hands torch
def test_validated_bytes_torch_save(tmp_path, training_ckpt):
    expected = torch.load(training_ckpt, weights_only=True)
    got = torch.load(validated_bytes(training_ckpt), weights_only=True)
    assert got["epoch"] == expected["epoch"]
    for k, v in expected["model_state_dict"].items():
        assert torch.equal(got["model_state_dict"][k], v)


def test_validated_bytes_is_rebuilt_from_the_records(tmp_path, training_ckpt):
    rebuilt = validated_bytes(training_ckpt).getvalue()
    assert rebuilt != training_ckpt.read_bytes()
    with zipfile.ZipFile(io.BytesIO(rebuilt)) as new, zipfile.ZipFile(training_ckpt) as old:
        assert new.namelist() == old.namelist()
        for name in old.namelist():
            assert new.read(name) == old.read(name)


def test_validated_bytes_legacy_and_whole_model(tmp_path):
    model = torch.nn.Linear(3, 2)
    legacy = tmp_path / "legacy.pth"
    torch.save(model.state_dict(), legacy, _use_new_zipfile_serialization=False)
    got = torch.load(validated_bytes(legacy), weights_only=True)
    assert torch.equal(got["weight"], model.weight.detach())
    whole = tmp_path / "whole.pth"
    torch.save(model, whole)
    loaded = torch.load(validated_bytes(whole), weights_only=False)  # a trusted load
    assert torch.equal(loaded.weight, model.weight)


def test_validated_bytes_torchscript_and_export(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU())
    scripted = tmp_path / "m.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated in torch 2.13
        torch.jit.script(model).save(str(scripted))
        loaded = torch.jit.load(validated_bytes(scripted), map_location="cpu")
    x = torch.randn(2, 3)
    assert torch.equal(loaded(x), model(x))
    exported = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(model, (x,)), exported)
    program = torch.export.load(validated_bytes(exported))
    assert torch.allclose(program.module()(x), model(x))


@pytest.mark.parametrize("case", [c for c in CLASS_1 if "ambiguous" in c.message],
                         ids=[c.name for c in CLASS_1 if "ambiguous" in c.message])
def test_validated_bytes_refuses_every_ambiguous_archive(case, tmp_path, marker):
    path = case.build(tmp_path, marker)
    with pytest.raises(AmbiguousArchiveError):
        validated_bytes(path)
    assert not marker.exists()


# ---- strict, not wrong: unusual but unambiguous archives still open
def test_zip64_entries_written_by_zipfile_open(tmp_path):
    src = tmp_path / "src.pth"
    torch.save({"w": torch.arange(4.0)}, src)
    p = tmp_path / "zip64.pth"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(p, "w") as zout:
        for info in zin.infolist():
            with zout.open(zipfile.ZipInfo(info.filename), "w", force_zip64=True) as out:
                out.write(zin.read(info))
    assert _ours(p)["w"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert torch.load(validated_bytes(p), weights_only=True)["w"].tolist() == [0.0, 1.0, 2.0, 3.0]


def test_more_than_65535_entries_use_zip64_end_records_and_open(tmp_path):
    src = tmp_path / "src.pth"
    torch.save({"w": torch.ones(2)}, src)
    p = tmp_path / "many.pth"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(p, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
        for i in range(70_000):
            zout.writestr(f"src/extra/{i}", b"")
    assert b"PK\x06\x06" in p.read_bytes()[-200:]
    with open_checkpoint(p) as ck:
        assert ck.details["entries"] == 70_000 + len(zipfile.ZipFile(src).namelist())


def test_scan_reads_pickles_whatever_their_name(tmp_path, marker):
    """torch finds ``DATA.PKL`` when asked for ``data.pkl``; scan reads every entry that is a
    pickle by name (any case) or by its first bytes, except raw storage records."""
    import os
    import pickle

    from inspector.core.safety import scan
    from tests.ckpt_factory import Payload
    from tests.hostile_round2 import harmless

    payload = pickle.dumps(Payload(os.system, f"touch {marker}"), protocol=2)
    entries = [(n, d) for n, d in zip_entries_of(harmless())]
    p = tmp_path / "named.pth"
    with zipfile.ZipFile(p, "w") as zf:
        for name, data in entries + [("archive/extra/blob.bin", payload)]:
            zf.writestr(name, data)
    result = scan(p)
    assert result.verdict == "unsafe" and "posix.system" in result.unsafe_globals
    assert not marker.exists()


def zip_entries_of(data: bytes):
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return [(i.filename, zf.read(i)) for i in zf.infolist()]


def test_records_that_merely_start_like_a_pickle_scan_clean(tmp_path):
    from inspector.core.safety import scan

    p = tmp_path / "bytes.pth"
    # storage bytes starting 0x80 0x02 'c': PROTO 2, then a GLOBAL with no newline
    torch.save({"w": torch.tensor(list(b"\x80\x02cposix system"), dtype=torch.uint8)}, p)
    assert scan(p).verdict == "clean"
