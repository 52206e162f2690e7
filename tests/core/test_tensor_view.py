"""The tensor panel's job targets without Qt: bounded slices and the streaming .npy export."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from inspector.core import tensor_view
from inspector.core.checkpoint import CheckpointError
from inspector.core.jobs import JobProgress
from inspector.core.tensor_view import (
    MAX_COLS,
    ExportDone,
    HeatmapSlice,
    KernelsSlice,
    ValuesSlice,
    export_npy,
    read_slice,
)

torch = pytest.importorskip("torch")


@pytest.fixture
def ckpt(tmp_path):
    torch.manual_seed(0)
    x = torch.arange(2 * 3 * 5 * 7, dtype=torch.float32).reshape(2, 3, 5, 7)
    tensors = {
        "x": x,
        "permuted": x.permute(3, 1, 2, 0),  # not contiguous
        "bf16": torch.randn(5, 6).to(torch.bfloat16),
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 4),
        "mask": torch.rand(9) > 0.5,
        "complex": torch.randn(4, dtype=torch.complex64),
        "conv": torch.randn(6, 3, 3, 3),
        "wide": torch.randn(3000, 20),
    }
    path = tmp_path / "c.pth"
    torch.save({**tensors, "epoch": 3}, path)
    return path, tensors


def _items(gen) -> tuple[list[JobProgress], list]:
    items = list(gen)
    return ([i for i in items if isinstance(i, JobProgress)],
            [i for i in items if not isinstance(i, JobProgress)])


@pytest.mark.parametrize("name", ["x", "permuted", "bf16", "scalar", "empty", "mask", "complex"])
def test_export_matches_torch_in_small_chunks(ckpt, tmp_path, monkeypatch, name):
    path, tensors = ckpt
    monkeypatch.setattr(tensor_view, "EXPORT_CHUNK_BYTES", 12)  # many chunks, rows split
    dest = tmp_path / f"{name}.npy"
    progress, results = _items(export_npy(str(path), (name,), str(dest)))
    t = tensors[name]
    expected = t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()
    saved = np.load(dest, allow_pickle=False)
    assert saved.dtype == expected.dtype and saved.shape == expected.shape
    assert np.array_equal(saved, expected)
    assert results == [ExportDone(str(dest), tuple(t.shape), expected.dtype.name,
                                  "bfloat16 shown as float32" if name == "bf16" else "")]
    assert progress[-1].done == progress[-1].total == expected.nbytes
    assert [p.done for p in progress] == sorted(p.done for p in progress)
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".export-")]


def test_export_refuses_the_checkpoint_itself(ckpt):
    path, _ = ckpt
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(ValueError, match="that is the checkpoint itself"):
        list(export_npy(str(path), ("x",), str(path)))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_cancelled_export_removes_its_temporary_file(ckpt, tmp_path, monkeypatch):
    path, _ = ckpt
    monkeypatch.setattr(tensor_view, "EXPORT_CHUNK_BYTES", 64)
    dest = tmp_path / "out.npy"
    seen = []
    monkeypatch.setattr(tensor_view, "cancel_requested", lambda: len(seen) >= 3)
    for item in export_npy(str(path), ("wide",), str(dest)):
        seen.append(item)
    assert all(isinstance(i, JobProgress) for i in seen)
    assert not dest.exists()
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".export-")]


def test_closing_an_export_midway_removes_its_temporary_file(ckpt, tmp_path, monkeypatch):
    path, _ = ckpt
    monkeypatch.setattr(tensor_view, "EXPORT_CHUNK_BYTES", 64)
    dest = tmp_path / "out.npy"
    gen = export_npy(str(path), ("wide",), str(dest))
    next(gen), next(gen)
    assert [f for f in os.listdir(tmp_path) if f.startswith(".export-")]
    gen.close()  # what the worker does when it stops pulling a cancelled job
    assert not dest.exists()
    assert not [f for f in os.listdir(tmp_path) if f.startswith(".export-")]


def test_values_slice_is_bounded(ckpt):
    path, tensors = ckpt
    progress, (values,) = _items(read_slice(str(path), ("wide",), "values"))
    assert progress and isinstance(values, ValuesSlice)
    assert values.block.shape == (tensor_view.MAX_ROWS, 20)
    assert (values.total_rows, values.total_cols, values.dims) == (3000, 20, 2)
    assert np.array_equal(values.block, tensors["wide"][:tensor_view.MAX_ROWS].numpy())
    _, (nd,) = _items(read_slice(str(path), ("x",), "values"))
    assert nd.block.shape == (30, 7) and nd.row_labels[4:6] == ("0,0,4", "0,1,0")
    assert nd.block.shape[1] <= MAX_COLS


def test_heatmap_and_kernel_slices(ckpt):
    path, tensors = ckpt
    _, (heat,) = _items(read_slice(str(path), ("wide",), "heatmap"))
    assert isinstance(heat, HeatmapSlice)
    assert (heat.row_step, heat.col_step) == (3, 1) and heat.data.shape == (1000, 20)
    _, (kernels,) = _items(read_slice(str(path), ("conv",), "kernels", count=4, mode="first"))
    assert isinstance(kernels, KernelsSlice)
    assert np.allclose(kernels.images, tensors["conv"][:4, 0].numpy())
    _, (rgb,) = _items(read_slice(str(path), ("conv",), "kernels", count=2, mode="rgb"))
    assert rgb.mode == "rgb" and rgb.images.shape == (2, 3, 3, 3)


def test_bad_requests_say_what_is_wrong(ckpt):
    path, _ = ckpt
    with pytest.raises(CheckpointError, match="no tensor at"):
        list(read_slice(str(path), ("epoch",), "values"))
    with pytest.raises(ValueError, match="needs a 2-D tensor"):
        list(read_slice(str(path), ("x",), "heatmap"))
    with pytest.raises(ValueError, match="unknown kind"):
        list(read_slice(str(path), ("x",), "pixels"))
