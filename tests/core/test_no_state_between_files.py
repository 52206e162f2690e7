"""Issue 18, class 2: one file must not change how the next one is read. A pickle that BUILDs
into a stand-in the unpickler handed out (the torch.FloatStorage placeholder, a dtype, an
allow-listed function) is refused, and a good file read afterwards in the same process reads
exactly as before."""

from __future__ import annotations

import pytest

from inspector.core.checkpoint import CheckpointError
from inspector.core.formats import open_checkpoint
from inspector.core.unpickler import InertPickleError, load_inert
from tests.hostile_round2 import POISONS, holding, poison

torch = pytest.importorskip("torch")


def _good(tmp_path):
    p = tmp_path / "good.pth"
    torch.save({"w": torch.arange(6, dtype=torch.float32), "h": torch.ones(3, dtype=torch.half),
                "layout": torch.strided, "dtype": torch.float32}, p)
    return p


def _read_good(path):
    with open_checkpoint(path) as ck:
        tensors = {p[0]: ck.tensor(i).clone() for p, i in ck.tensors()}
        values = {n.key: n.value for n in ck.root.children if n.tensor is None}
        return tensors, values


@pytest.mark.parametrize("kind", sorted(POISONS))
def test_poisoned_file_is_refused_and_the_next_file_reads_the_same(kind, tmp_path, marker):
    good = _good(tmp_path)
    before = _read_good(good)
    with pytest.raises(CheckpointError, match="tries to change"):
        open_checkpoint(poison(kind)(tmp_path, marker))
    after = _read_good(good)
    assert after[1] == before[1]
    assert after[0].keys() == before[0].keys()
    for k, v in before[0].items():
        assert after[0][k].dtype == v.dtype and torch.equal(after[0][k], v)
    assert after[0]["w"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


@pytest.mark.parametrize("kind", sorted(POISONS))
def test_the_unpickler_itself_refuses_and_shares_nothing(kind):
    with pytest.raises(InertPickleError, match="tries to change"):
        load_inert(holding(POISONS[kind]))
    first = load_inert(b"\x80\x02" + b"ctorch\nFloatStorage\n.").obj
    second = load_inert(b"\x80\x02" + b"ctorch\nFloatStorage\n.").obj
    assert first is not second  # each load gets its own stand-ins
    assert first.dtype == second.dtype == "float32"


def test_stand_ins_are_immutable():
    marker_ = load_inert(b"\x80\x02ctorch\nfloat32\n.").obj
    with pytest.raises(InertPickleError):
        marker_.name = "int8"
    assert str(marker_) == "torch.float32"


def test_build_on_a_tensor_never_changes_what_was_validated(tmp_path):
    """BUILD after _rebuild_tensor_v2 (shape/dtype fields) lands in the tensor's attributes."""
    p = tmp_path / "t.pth"
    torch.save({"w": torch.arange(4.0)}, p)
    from tests.ckpt_factory import rewrite_zip

    def edit(data: bytes) -> bytes:
        # after the rebuild call's REDUCE, BUILD {'shape': 1.5, 'dtype': [1]} onto the tensor
        at = data.index(b"R", data.index(b"_rebuild_tensor_v2"))
        at = data.index(b"R", at + 1)  # the rebuild REDUCE follows the OrderedDict() REDUCE
        return (data[:at + 1] + b"}(X\x05\x00\x00\x00shapeG?\xf8\x00\x00\x00\x00\x00\x00"
                b"X\x05\x00\x00\x00dtype]K\x01au" + b"b" + data[at + 1:])

    out = rewrite_zip(p, tmp_path / "built.pth", edit_pickle=edit)
    with open_checkpoint(out) as ck:
        (_, info), = ck.tensors()
        assert info.shape == (4,) and info.dtype == "float32"
        assert ck.tensor(info).tolist() == [0.0, 1.0, 2.0, 3.0]
