"""Issue 18, class 6: every dtype the safetensors format defines opens, with the values
``safetensors.torch.load_file`` gives wherever the installed package and torch support it."""

from __future__ import annotations

import pytest

from inspector.core.checkpoint import CheckpointError
from inspector.core.formats import open_checkpoint
from tests.hostile_round2 import SAFETENSORS_CODES, safetensors_dtype

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")


def _bits(t):
    return t.contiguous().view(torch.uint8).reshape(-1).tolist()


@pytest.mark.parametrize("code", sorted(SAFETENSORS_CODES))
def test_dtype_opens_as_safetensors_loads_it(code, tmp_path, marker):
    shape, nbytes = SAFETENSORS_CODES[code]
    path = safetensors_dtype(code, shape, nbytes)(tmp_path, marker)
    with open_checkpoint(path) as ck:
        (_, info), = ck.tensors()
        ours = _bits(ck.tensor(info))  # the stored bits (a copy could canonicalize bools)
    try:
        theirs = safetensors_torch.load_file(path)["w"]
    except Exception:  # noqa: BLE001 - the package has no torch dtype for it (F6_*)
        assert code.startswith("F6_")
        assert info.dtype == "uint8" and info.shape == (nbytes,) and code in info.note
        assert ours == list(range(1, nbytes + 1))
        return
    assert str(theirs.dtype) == f"torch.{info.dtype}"
    assert tuple(theirs.shape) == info.shape
    assert ours == _bits(theirs)


def test_fnuz_float8_values(tmp_path, marker):
    for code, dtype in (("F8_E5M2FNUZ", torch.float8_e5m2fnuz),
                        ("F8_E4M3FNUZ", torch.float8_e4m3fnuz)):
        path = safetensors_dtype(code, [4], 4)(tmp_path, marker)
        with open_checkpoint(path) as ck:
            (_, info), = ck.tensors()
            assert ck.tensor(info).dtype == dtype
        path.unlink()


@pytest.mark.parametrize("shape,nbytes,problem", [
    ([3], 2, "not a whole number of bytes"),  # 3 x 4 bits
    ([2, 3], 3, "last dimension divisible by 2"),
    ([], 1, "not a whole number of bytes"),
])
def test_packed_f4_shapes_that_do_not_fit(shape, nbytes, problem, tmp_path, marker):
    with pytest.raises(CheckpointError, match=problem):
        open_checkpoint(safetensors_dtype("F4", shape, nbytes)(tmp_path, marker))
