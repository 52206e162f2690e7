"""Sharded torch.distributed.checkpoint tensors: values assembled from their chunks on demand.

The folders are built from torch's own DCP metadata classes and torch.save chunks (the layout
a multi-rank save writes); torch's own reader (``dcp_to_torch_save``) is the reference for
the values, and the same tensors saved whole with torch.save are the reference for the
statistics and the diff.
"""

from __future__ import annotations

import io
import os
import pickle
import warnings

import pytest

from inspector.core.checkpoint import CheckpointError
from inspector.core.formats import open_checkpoint

torch = pytest.importorskip("torch")


def _same(a, b):
    """Equal bit for bit (NaN included)."""
    return (a.dtype == b.dtype and a.shape == b.shape and torch.equal(
        a.contiguous().reshape(-1).view(torch.uint8), b.contiguous().reshape(-1).view(torch.uint8)))


def _slices(offsets, sizes):
    return tuple(slice(o, o + s) for o, s in zip(offsets, sizes))


def _grid(shape, splits):
    """Chunks (offsets, sizes) cutting ``shape`` at ``splits[d]`` (a list of cut points)."""
    import itertools

    ranges = []
    for d, n in enumerate(shape):
        cuts = [0, *splits[d], n]
        ranges.append([(a, b - a) for a, b in zip(cuts, cuts[1:])])
    return [tuple(zip(*combo)) for combo in itertools.product(*ranges)]


def build_dcp(folder, items, *, strided=(), drop=(), extra_chunks=()):
    """Write a DCP folder. ``items``: fqn -> (full tensor, [(offsets, sizes, file name)]).

    ``strided``: fqns whose chunks are saved as non-contiguous views (transposed storage);
    ``drop``: (fqn, offsets) chunks left out of the chunk list (the bytes are not written);
    ``extra_chunks``: (fqn, offsets, sizes) listed in the metadata with no storage entry.
    """
    from torch.distributed.checkpoint.filesystem import _StorageInfo
    from torch.distributed.checkpoint.metadata import (
        ChunkStorageMetadata,
        Metadata,
        MetadataIndex,
        TensorProperties,
        TensorStorageMetadata,
    )

    folder.mkdir()
    files: dict[str, bytearray] = {}
    storage, sd_meta = {}, {}
    for fqn, (full, pieces) in items.items():
        chunks = []
        for offsets, sizes, name in pieces:
            if (fqn, tuple(offsets)) in drop:
                continue
            part = full[_slices(offsets, sizes)].clone()
            if fqn in strided and part.dim() == 2:
                part = part.t().contiguous().t()  # same values, column-major storage
                assert not part.is_contiguous() or min(part.shape) <= 1
            buf = io.BytesIO()
            torch.save(part, buf)
            data = files.setdefault(name, bytearray())
            start = len(data)
            data += buf.getvalue()
            index = torch.Size(offsets)
            chunks.append(ChunkStorageMetadata(offsets=index, sizes=torch.Size(sizes)))
            storage[MetadataIndex(fqn, index, 0)] = _StorageInfo(name, start, len(buf.getvalue()))
        for efqn, offsets, sizes in extra_chunks:
            if efqn == fqn:
                chunks.append(ChunkStorageMetadata(offsets=torch.Size(offsets),
                                                   sizes=torch.Size(sizes)))
        sd_meta[fqn] = TensorStorageMetadata(TensorProperties(dtype=full.dtype), full.shape,
                                             chunks)
    for name, data in files.items():
        (folder / name).write_bytes(bytes(data))
    meta = Metadata(state_dict_metadata=sd_meta, planner_data={k: (k,) for k in items},
                    storage_data=storage)
    with open(folder / ".metadata", "wb") as fh:
        pickle.dump(meta, fh)  # test side: our own file
    return folder


def torch_view(folder, tmp_path):
    """What torch itself reads back from the folder (test side only)."""
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    out = tmp_path / f"{folder.name}_torch_view.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dcp_to_torch_save(str(folder), str(out))
    return torch.load(out, weights_only=False)


def _tensors():
    g = torch.Generator().manual_seed(0)
    big = torch.randn(300, 520, generator=g)  # over one stats block: the two-pass binner
    big[7, 9] = float("nan")
    big[100, 3] = float("inf")
    big[250, 500] = 0.0
    return {
        "big": (big, _grid(big.shape, [[100, 200], [260]]), ["__0_0.distcp", "__1_0.distcp"]),
        "rows": (torch.randn(9, 5, generator=g).to(torch.bfloat16), _grid((9, 5), [[4], []]),
                 ["__0_0.distcp", "__1_0.distcp"]),
        "cols": (torch.arange(-40, 40, dtype=torch.int64).reshape(4, 20),
                 _grid((4, 20), [[], [3, 11]]), ["__0_0.distcp", "__1_0.distcp", "__2_0.distcp"]),
        "f64": (torch.randn(3, 4, 5, generator=g, dtype=torch.float64),
                _grid((3, 4, 5), [[1], [2], [1, 3]]), ["__0_0.distcp", "__1_0.distcp"]),
        "mask": (torch.rand(6, 6, generator=g) > 0.5, _grid((6, 6), [[3], [3]]),
                 ["__1_0.distcp", "__0_0.distcp"]),
        "half": (torch.randn(2000, generator=g).half(), _grid((2000,), [[1]]),
                 ["__0_0.distcp", "__1_0.distcp"]),
        "strided": (torch.randn(8, 6, generator=g), _grid((8, 6), [[5], [2]]),
                    ["__0_0.distcp", "__1_0.distcp"]),
    }


def _items(spec):
    """fqn -> (full, [(offsets, sizes, file)]), chunks spread over the files, listed in
    reverse order (the chunk list need not be sorted)."""
    out = {}
    for fqn, (full, chunks, names) in spec.items():
        pieces = [(o, s, names[i % len(names)]) for i, (o, s) in enumerate(chunks)]
        out[fqn] = (full, list(reversed(pieces)))
    return out


@pytest.fixture
def sharded(tmp_path):
    spec = _tensors()
    folder = build_dcp(tmp_path / "sharded", _items(spec), strided={"strided"})
    whole = tmp_path / "whole.pth"
    torch.save({k: v[0] for k, v in spec.items()}, whole)
    return folder, whole, spec


# ---- values
def test_assembled_values_equal_what_torch_reads(sharded, tmp_path):
    folder, _, spec = sharded
    expected = torch_view(folder, tmp_path)
    with open_checkpoint(folder) as ck:
        assert ck.warnings == []
        for (fqn,), info in ck.tensors():
            full, chunks, _ = spec[fqn]
            assert info.layout == "sharded", fqn
            assert info.note == f"assembled from {len(chunks)} chunks on demand"
            assert (info.dtype, info.shape) == (str(full.dtype).removeprefix("torch."),
                                                tuple(full.shape))
            assert len(info.chunks) == len(chunks) == len(info.extra_storages)
            got = ck.tensor(info)
            assert got.is_contiguous() and got.dtype == full.dtype
            assert _same(got, expected[fqn]) and _same(got, full), fqn
            for chunk in info.chunks:
                assert chunk.view.shape == chunk.sizes
                assert _same(ck.tensor(chunk.view), full[_slices(chunk.offsets, chunk.sizes)])
        strided = ck.find(["strided"]).tensor
        assert any(not c.view.is_contiguous() for c in strided.chunks)
        # totals count every chunk's storage once, as before
        assert ck.totals()["unique_storage_bytes"] == sum(
            v[0].numel() * v[0].element_size() for v in spec.values())


def test_assembly_writes_into_a_new_tensor_not_the_file(sharded):
    folder, _, _ = sharded
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with open_checkpoint(folder) as ck:
        info = ck.find(["cols"]).tensor
        t = ck.tensor(info)
        t.fill_(7)
        assert not torch.equal(ck.tensor(info), t)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


# ---- statistics
@pytest.mark.parametrize("chunk_bytes", [4 << 20, 4096])
def test_stats_equal_those_of_the_tensor_stored_whole(sharded, chunk_bytes):
    from inspector.core.stats import compute_stats

    folder, whole, spec = sharded
    with open_checkpoint(folder) as ck, open_checkpoint(whole) as ref:
        for fqn in spec:
            a = compute_stats(ck, ck.find([fqn]).tensor, chunk_bytes=chunk_bytes)
            b = compute_stats(ref, ref.find([fqn]).tensor, chunk_bytes=chunk_bytes)
            assert a == b, fqn  # every field, histogram edges and counts included
            assert a.histogram is not None and sum(a.histogram.counts) == a.finite
        big = compute_stats(ck, ck.find(["big"]).tensor)
        assert (big.nan, big.inf, big.numel) == (1, 1, 300 * 520)


def test_iter_stats_reads_sharded_tensors(sharded):
    from inspector.core.stats import compute_stats, iter_stats

    folder, whole, spec = sharded
    with open_checkpoint(folder) as ck, open_checkpoint(whole) as ref:
        items = list(iter_stats(ck))
        assert [i.error for i in items] == [None] * len(spec)
        last = items[-1].progress
        assert last.bytes_done == last.bytes_total == sum(
            v[0].numel() * v[0].element_size() for v in spec.values())
        for item in items:
            (fqn,) = item.path
            assert item.stats == compute_stats(ref, ref.find([fqn]).tensor), fqn


# ---- diff
def test_diff_against_the_same_values_in_a_pth_is_identical(sharded):
    from inspector.core.diff import IDENTICAL, diff_checkpoints

    folder, whole, spec = sharded
    for a, b in ((folder, whole), (whole, folder)):
        report = diff_checkpoints(a, b)
        assert {e.path[0]: e.status for e in report.entries} == dict.fromkeys(spec, IDENTICAL)
        assert report.summary.elements_compared == sum(v[0].numel() for v in spec.values())


def test_diff_reports_a_changed_value_with_its_size(sharded, tmp_path):
    from inspector.core.diff import CHANGED, IDENTICAL, diff_checkpoints

    folder, _, spec = sharded
    changed = {k: v[0].clone() for k, v in spec.items()}
    changed["f64"][2, 3, 4] += 0.25  # in the last chunk
    changed["cols"][1, 5] = 1000  # was -15
    pth = tmp_path / "changed.pth"
    torch.save(changed, pth)
    report = diff_checkpoints(folder, pth)
    by = {e.path[0]: e for e in report.entries}
    assert by["f64"].status == CHANGED and by["f64"].num_diff == 1
    assert by["f64"].max_abs_diff == pytest.approx(0.25)
    assert by["cols"].status == CHANGED and by["cols"].num_diff == 1
    assert by["cols"].max_abs_diff == 1015
    assert all(by[k].status == IDENTICAL for k in spec if k not in ("f64", "cols"))


def test_diff_between_two_differently_split_folders(sharded, tmp_path):
    from inspector.core.diff import CHANGED, IDENTICAL, diff_checkpoints

    folder, _, spec = sharded
    other_spec = {k: v[0] for k, v in spec.items()}
    other_spec["rows"] = other_spec["rows"].clone()
    other_spec["rows"][8, 4] += 1
    items = {k: (t, [(o, s, "__0_0.distcp") for o, s in _grid(t.shape, [[1]] + [[]] * (t.dim() - 1))])
             for k, t in other_spec.items()}
    other = build_dcp(tmp_path / "other", items)
    report = diff_checkpoints(folder, other)
    by = {e.path[0]: e.status for e in report.entries}
    assert by.pop("rows") == CHANGED
    assert by == dict.fromkeys(by, IDENTICAL)


# ---- what stays unreadable
def test_partly_covered_tensor_is_refused_clearly(tmp_path):
    from inspector.core.stats import compute_stats

    full = torch.arange(24.).reshape(6, 4)
    chunks = [((0, 0), (3, 4), "__0_0.distcp"), ((3, 0), (3, 4), "__1_0.distcp")]
    folder = build_dcp(tmp_path / "part", {"w": (full, chunks)}, drop={("w", (3, 0))})
    with open_checkpoint(folder) as ck:
        info = ck.find(["w"]).tensor
        assert info.layout == "strided" and info.storage is None and info.chunks == ()
        assert info.note == "stored chunks cover 12 of 24 elements (1 chunk)"
        with pytest.raises(CheckpointError, match="cover 12 of 24 elements"):
            ck.tensor(info)
        with pytest.raises(CheckpointError, match="cover 12 of 24 elements"):
            compute_stats(ck, info)


def test_chunk_without_storage_entry_is_named(tmp_path):
    full = torch.arange(24.).reshape(6, 4)
    chunks = [((0, 0), (3, 4), "__0_0.distcp")]
    folder = build_dcp(tmp_path / "noentry", {"w": (full, chunks)},
                       extra_chunks=[("w", (3, 0), (3, 4))])
    with open_checkpoint(folder) as ck:
        info = ck.find(["w"]).tensor
        assert info.layout == "strided" and info.storage is None
        assert "chunk at [3, 0] has no storage entry" in info.note
        with pytest.raises(CheckpointError, match="no storage entry"):
            ck.tensor(info)


def test_overlapping_chunks_are_not_assembled(tmp_path):
    full = torch.arange(24.).reshape(6, 4)
    # 4 + 8 + 12 = 24 elements, but rows 2..3 twice and row 5 never
    chunks = [((0, 0), (1, 4), "__0_0.distcp"), ((1, 0), (2, 4), "__0_0.distcp"),
              ((2, 0), (3, 4), "__1_0.distcp")]
    folder = build_dcp(tmp_path / "overlap", {"w": (full, chunks)})
    with open_checkpoint(folder) as ck:
        info = ck.find(["w"]).tensor
        assert info.layout == "strided" and info.storage is None
        assert "overlap" in info.note
        with pytest.raises(CheckpointError, match="overlap"):
            ck.tensor(info)


def test_missing_chunk_file_names_the_file(tmp_path):
    from inspector.core.diff import diff_checkpoints
    from inspector.core.stats import iter_stats

    full = torch.arange(24.).reshape(6, 4)
    chunks = [((0, 0), (3, 4), "__0_0.distcp"), ((3, 0), (3, 4), "__1_0.distcp")]
    folder = build_dcp(tmp_path / "gone", {"w": (full, chunks)})
    os.remove(folder / "__1_0.distcp")
    with open_checkpoint(folder) as ck:
        assert any("__1_0.distcp is missing" in w for w in ck.warnings)
        info = ck.find(["w"]).tensor
        assert info.layout == "strided" and info.storage is None
        with pytest.raises(CheckpointError, match="__1_0.distcp is missing"):
            ck.tensor(info)
        [item] = list(iter_stats(ck))
        assert item.stats is None and "__1_0.distcp is missing" in item.error
    pth = tmp_path / "w.pth"
    torch.save({"w": full}, pth)
    [entry] = diff_checkpoints(folder, pth).entries
    assert entry.status != "identical" and "missing" in (entry.note or "")


def test_chunk_file_truncated_after_opening(tmp_path):
    full = torch.arange(24.).reshape(6, 4)
    chunks = [((0, 0), (3, 4), "__0_0.distcp"), ((3, 0), (3, 4), "__1_0.distcp")]
    folder = build_dcp(tmp_path / "cut", {"w": (full, chunks)})
    with open_checkpoint(folder) as ck:
        info = ck.find(["w"]).tensor
        assert info.layout == "sharded"
        path = folder / "__1_0.distcp"
        path.write_bytes(path.read_bytes()[:100])
        with pytest.raises(CheckpointError, match="__1_0.distcp.*(outside the file|truncated)"):
            ck.tensor(info)
