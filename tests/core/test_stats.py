"""inspector.core.stats against float64 references computed independently with torch/numpy."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import threading
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

import inspector.core.stats.batch as batch_mod
import inspector.core.stats.iterate as iterate_mod
from inspector.core.checkpoint import CheckpointError
from inspector.core.formats import open_checkpoint
from inspector.core.stats import (
    StatsCancelled,
    compute_stats,
    iter_stats,
    stats_to_json,
)
from inspector.core.stats.binning import Binner
from inspector.core.stats.plan import packed_table

FLOATS = ["float64", "float32", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2"]
COMPLEX = ["complex64", "complex128"]
INTS = ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "bool"]
TINY_CHUNK = 64  # bytes: forces many blocks, so the streaming code paths run


def _random(dtype: str, shape: tuple[int, ...], seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    dt = getattr(torch, dtype)
    if dtype in FLOATS:
        return (torch.randn(shape, generator=g, dtype=torch.float64) * 3 + 0.5).to(dt)
    if dtype in COMPLEX:
        return torch.randn(shape, generator=g, dtype=torch.complex128).to(dt)
    if dtype == "bool":
        return torch.rand(shape, generator=g) > 0.4
    info = np.iinfo(dtype)
    lo, hi = max(info.min, -300), min(info.max, 300)
    arr = np.random.default_rng(seed).integers(lo, hi, size=shape, endpoint=True)
    return torch.from_numpy(arr.astype(dtype))


def _reference(t: torch.Tensor) -> np.ndarray:
    """The tensor's values as float64, computed without the code under test."""
    if t.is_complex():
        return t.detach().to(torch.complex128).abs().numpy().ravel()
    if t.dtype in (torch.uint16, torch.uint32, torch.uint64):
        return t.numpy().astype(np.float64).ravel()
    return t.detach().to(torch.float64).numpy().ravel()


def _check(s, t: torch.Tensor, bins: int = 64, shape: tuple | None = None) -> None:
    ref = _reference(t)
    fin = ref[np.isfinite(ref)]
    assert s.numel == ref.size
    assert s.shape == (tuple(t.shape) if shape is None else shape)
    assert s.nan == int(np.isnan(ref).sum())
    assert s.inf == int(np.isinf(ref).sum())
    assert s.finite == fin.size
    assert s.zeros == int((fin == 0).sum())
    if fin.size == 0:
        assert (s.min, s.max, s.mean, s.std, s.abs_mean, s.l2, s.histogram) == (None,) * 7
        return
    assert s.min == fin.min() and s.max == fin.max()
    scale = max(float(np.abs(fin).max()), 1e-300)
    close = dict(rel_tol=1e-9, abs_tol=1e-12 * scale)
    assert math.isclose(s.mean, fin.mean(), **close)
    assert math.isclose(s.std, fin.std(), **close)
    assert math.isclose(s.abs_mean, np.abs(fin).mean(), **close)
    assert math.isclose(s.l2, math.sqrt((fin * fin).sum()), rel_tol=1e-9)
    h = s.histogram
    assert h is not None and len(h.counts) == bins and len(h.edges) == bins + 1
    assert sum(h.counts) == fin.size
    assert all(a <= b for a, b in zip(h.edges, h.edges[1:]))
    counts, _ = np.histogram(fin, bins=np.array(h.edges))
    assert list(counts) == list(h.counts)
    if fin.min() != fin.max():
        assert h.edges[0] == fin.min() and h.edges[-1] == fin.max()


def _with_nonfinite(t: torch.Tensor) -> torch.Tensor:
    t = t.clone()
    flat = t.view(-1)
    if t.is_complex():
        flat[3] = complex(float("nan"), 1.0)
        flat[7] = complex(float("inf"), 0.0)
    elif t.dtype in (torch.float8_e4m3fn,):  # no Inf in this format
        flat[3] = float("nan")
    else:
        flat[3] = float("nan")
        flat[7] = float("inf")
        flat[11] = float("-inf")
    return t


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    """Every dtype: plain, with NaN/Inf, all-NaN, empty, 0-dim, and views sharing storage."""
    sd: dict[str, torch.Tensor] = {}
    for i, dtype in enumerate(FLOATS + COMPLEX + INTS):
        base = _random(dtype, (37, 23), seed=i)
        sd[f"{dtype}.plain"] = base
        sd[f"{dtype}.T"] = base.T
        sd[f"{dtype}.every2"] = base[::2]
        sd[f"{dtype}.slice"] = base[3:, 5:17]
        sd[f"{dtype}.col"] = base[:, 4]
        sd[f"{dtype}.empty"] = base[:0]
        sd[f"{dtype}.scalar"] = base[2, 2].clone()
        if dtype in FLOATS + COMPLEX:
            sd[f"{dtype}.nonfinite"] = _with_nonfinite(base)
            sd[f"{dtype}.allnan"] = torch.full((5,), float("nan"), dtype=base.dtype)
        sd[f"{dtype}.const"] = base.reshape(-1)[:1].repeat(9)
    path = tmp_path_factory.mktemp("zoo") / "zoo.pth"
    torch.save(sd, path)
    return path, sd


def test_every_dtype_matches_float64_reference(zoo):
    path, sd = zoo
    with open_checkpoint(path) as ck:
        tensors = ck.tensors()
        assert len(tensors) == len(sd)
        for (key,), info in tensors:
            for chunk in (TINY_CHUNK, 4 << 20):
                s = compute_stats(ck, info, chunk_bytes=chunk)
                assert s.dtype == str(sd[key].dtype).removeprefix("torch."), key
                try:
                    _check(s, sd[key])
                except AssertionError as e:
                    raise AssertionError(f"{key} (chunk {chunk}): {e}") from e


def test_many_chunks_of_a_bigger_tensor(tmp_path):
    torch.manual_seed(3)
    t = torch.randn(300, 257) * 5 + 2
    sd = {"w": t, "wT": t.T, "w_half": t.half(), "w64": t.double()[::3, 1::2],
          "ints": torch.randint(0, 256, (300, 100), dtype=torch.int32)}  # values on the edges
    path = tmp_path / "big.pth"
    torch.save(sd, path)
    with open_checkpoint(path) as ck:
        for (key,), info in ck.tensors():
            for bins in (1, 7, 64, 300):
                _check(compute_stats(ck, info, bins=bins, chunk_bytes=4096), sd[key], bins=bins)


def test_no_histogram_with_zero_bins(state_dict_ckpt):
    with open_checkpoint(state_dict_ckpt) as ck:
        s = compute_stats(ck, ck.tensors()[0][1], bins=0, chunk_bytes=16)
    assert s.histogram is None and s.std is not None


def test_extreme_float64_range(tmp_path):
    t = torch.tensor([-1.7e308, 1.7e308, 0.0, 1.0, -5.0, 1e300] * 50, dtype=torch.float64)
    path = tmp_path / "extreme.pth"
    torch.save({"t": t}, path)
    with open_checkpoint(path) as ck:
        s = compute_stats(ck, ck.tensors()[0][1], chunk_bytes=64)
    fin = _reference(t)
    assert (s.min, s.max, s.zeros) == (fin.min(), fin.max(), 50)
    counts, _ = np.histogram(fin, bins=np.array(s.histogram.edges))
    assert list(counts) == list(s.histogram.counts)


def _to_big_endian(src, dst) -> None:
    """Rewrite a torch zip checkpoint as a big-endian machine would have saved it."""
    with open_checkpoint(src) as ck:
        itemsize = {info.storage.key: info.itemsize for _, info in ck.tensors()}
        root = ck.details["zip_root"]
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.startswith(f"{root}/data/"):
                size = itemsize[item.filename.rsplit("/", 1)[1]]
                data = np.frombuffer(data, dtype=np.uint8).reshape(-1, size)[:, ::-1].tobytes()
            elif item.filename == f"{root}/byteorder":
                data = b"big"
            zout.writestr(item.filename, data)


def test_big_endian_storage(tmp_path):
    torch.manual_seed(5)
    t = torch.randn(40, 30)
    sd = {"f32": _with_nonfinite(t), "f64": t.double().T, "f16": t.half()[::2],
          "bf16": t.bfloat16(), "c64": torch.randn(20, 10, dtype=torch.complex64),
          "i32": torch.randint(-1000, 1000, (50,), dtype=torch.int32), "u8": (t * 9).to(torch.uint8)}
    src, dst = tmp_path / "little.pth", tmp_path / "big.pth"
    torch.save(sd, src)
    _to_big_endian(src, dst)
    loaded = torch.load(dst, weights_only=True)  # torch itself agrees the file is valid
    assert torch.equal(loaded["i32"], sd["i32"])
    with open_checkpoint(dst) as ck:
        assert ck.details["byteorder"] == "big"
        for (key,), info in ck.tensors():
            assert info.storage.byteorder == "big"
            for chunk in (TINY_CHUNK, 4 << 20):
                _check(compute_stats(ck, info, chunk_bytes=chunk), sd[key])


def test_quantized_uses_integer_representation(tmp_path):
    q = torch.quantize_per_tensor(torch.randn(200) * 3, 0.05, 7, torch.qint8)
    path = tmp_path / "q.pth"
    torch.save({"q": q}, path)
    with open_checkpoint(path) as ck:
        s = compute_stats(ck, ck.tensors()[0][1])
    _check(s, q.int_repr())
    assert "quantized" in s.note


def test_sparse_uses_stored_values(tmp_path):
    torch.manual_seed(2)
    dense = torch.randn(30, 30) * (torch.rand(30, 30) > 0.8)
    sp = dense.to_sparse()
    path = tmp_path / "sparse.pth"
    torch.save({"sp": sp}, path)
    with open_checkpoint(path) as ck:
        s = compute_stats(ck, ck.tensors()[0][1])
    values = sp.coalesce().values()
    assert s.numel == values.numel()
    assert "stored values" in s.note
    _check(s, values, shape=(30, 30))


def test_meta_tensor_raises_and_iter_reports_error(tmp_path):
    path = tmp_path / "meta.pth"
    torch.save({"m": torch.empty(3, 4, device="meta"), "ok": torch.ones(2)}, path)
    with open_checkpoint(path) as ck:
        info = ck.find(("m",)).tensor
        with pytest.raises(CheckpointError, match="no data"):
            compute_stats(ck, info)
        items = list(iter_stats(ck))
    assert [(p, s is None, bool(e)) for p, s, e in items] == [(("m",), True, True),
                                                              (("ok",), False, False)]
    assert "no data" in items[0].error


def test_cancel_stops_a_tensor_and_the_iteration(tmp_path):
    t = torch.randn(1000)
    path = tmp_path / "c.pth"
    torch.save({"a": t, "b": t + 1, "c": t + 2}, path)
    with open_checkpoint(path) as ck:
        info = ck.tensors()[0][1]
        ev = threading.Event()
        ev.set()
        with pytest.raises(StatsCancelled):
            compute_stats(ck, info, cancel=ev)
        calls = []

        def stop_after_some_blocks() -> bool:
            calls.append(1)
            return len(calls) > 5

        with pytest.raises(StatsCancelled):
            compute_stats(ck, info, chunk_bytes=64, cancel=stop_after_some_blocks)
        assert len(calls) == 6  # it stopped right away, not after the 60-odd blocks

        done = []
        got = []
        for item in iter_stats(ck, cancel=lambda: bool(done)):
            got.append(item.path)
            done.append(1)
        assert got == [("a",)]


def test_iter_stats_order_progress_paths_and_dedup(tmp_path, monkeypatch):
    w = torch.randn(8, 4)
    sd = {"first": w, "tied": w, "view": w.T, "other": torch.arange(5.0)}
    path = tmp_path / "order.pth"
    torch.save(sd, path)
    real = iterate_mod.Job
    computed = []

    def counting(engine, info):
        computed.append(info)
        return real(engine, info)

    monkeypatch.setattr(iterate_mod, "Job", counting)
    with open_checkpoint(path) as ck:
        items = list(iter_stats(ck))
        assert [i.path for i in items] == [("first",), ("tied",), ("view",), ("other",)]
        assert len(computed) == 3  # "tied" is the same view of the same storage as "first"
        assert items[0].stats is items[1].stats
        assert [i.progress.index for i in items] == [1, 2, 3, 4]
        assert {i.progress.total for i in items} == {4}
        total = 3 * 32 * 4 + 5 * 4
        assert items[-1].progress.bytes_done == items[-1].progress.bytes_total == total
        assert all(a.progress.bytes_done < b.progress.bytes_done for a, b in zip(items, items[1:]))

        picked = list(iter_stats(ck, paths=[("other",), ("missing",), ("first",)]))
    assert [p for p, _, _ in picked] == [("first",), ("other",), ("missing",)]
    assert picked[-1].stats is None and picked[-1].error == "no tensor at this path"


def test_stats_to_json_shape(zoo):
    path, sd = zoo
    with open_checkpoint(path) as ck:
        info = ck.find(("float32.nonfinite",)).tensor
        doc = stats_to_json(("float32.nonfinite",), compute_stats(ck, info, bins=5))
        nan_doc = stats_to_json(("x", 0), compute_stats(ck, ck.find(("float32.allnan",)).tensor))
    assert list(doc) == ["path", "dtype", "shape", "numel", "min", "max", "mean", "std",
                         "abs_mean", "l2", "zeros", "nan", "inf", "histogram"]
    assert doc["path"] == ["float32.nonfinite"]
    assert doc["shape"] == [37, 23] and doc["nan"] == 1 and doc["inf"] == 2
    assert len(doc["histogram"]["edges"]) == 6 and sum(doc["histogram"]["counts"]) == 37 * 23 - 3
    assert nan_doc["path"] == ["x", 0]
    assert nan_doc["min"] is None and nan_doc["mean"] is None and nan_doc["histogram"] is None
    json.dumps([doc, nan_doc], allow_nan=False)


def test_float4_and_packed_tables():
    table = packed_table("float4_e2m1fn_x2")
    assert table.shape == (256, 2)
    assert table[0x21].tolist() == [0.5, 1.0] and table[0xF7].tolist() == [6.0, -6.0]
    assert packed_table("quint2x4")[0b11100100].tolist() == [0, 1, 2, 3]


@settings(max_examples=60, deadline=None)
@given(values=st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64),
                       min_size=2, max_size=40),
       bins=st.integers(1, 70))
@example(values=[0.0, 2.2250738585e-313], bins=1)  # a subnormal range: bins / width overflowed
@example(values=[-5e-324, 5e-324, 0.0], bins=3)
def test_binner_edges_agree_with_np_histogram(values, bins):
    v = np.array(values, dtype=np.float64)
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        return
    with np.errstate(over="ignore", invalid="ignore"):  # inf - inf in the mean's sum
        mean = float(np.mean(v))
    binner = Binner(lo, hi, mean if math.isfinite(mean) else lo, bins)
    idx = np.empty(v.size, dtype=np.intp)
    binner.index(v, np.empty(v.size), idx)
    assert idx.min() >= 0 and idx.max() < bins
    counts = np.bincount(idx, minlength=bins)
    ref, _ = np.histogram(v, bins=np.array(binner.edges()))
    assert list(ref) == list(counts)


def test_core_stats_needs_neither_qt_nor_torch_for_float32(state_dict_ckpt):
    code = (
        "import sys\n"
        "from inspector.core.formats import open_checkpoint\n"
        "from inspector.core.stats import iter_stats\n"
        f"ck = open_checkpoint({str(state_dict_ckpt)!r})\n"
        "assert all(s is not None for _, s, _ in iter_stats(ck))\n"
        "bad = [m for m in ('torch', 'PySide6', 'pyqtgraph', 'superqt') if m in sys.modules]\n"
        "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- batched small tensors (iter_stats) --------------------------------------------------
def _assert_same_stats(a, b, where) -> None:
    """Counts, min/max and histograms identical; sums equal up to rounding."""
    assert a is not None and b is not None, where
    for f in ("dtype", "shape", "numel", "min", "max", "zeros", "nan", "inf", "finite",
              "histogram", "note"):
        assert getattr(a, f) == getattr(b, f), (where, f, getattr(a, f), getattr(b, f))
    scale = max(abs(a.min), abs(a.max), 1e-300) if a.min is not None else 1.0
    for f in ("mean", "std", "abs_mean", "l2"):
        x, y = getattr(a, f), getattr(b, f)
        assert (x is None) == (y is None), (where, f)
        if x is not None:
            assert math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-13 * scale), (where, f, x, y)


@pytest.fixture(scope="module")
def many_small(tmp_path_factory):
    """~600 small tensors of mixed dtypes: NaN/Inf, all-NaN, constants, views, scalars."""
    g = torch.Generator().manual_seed(11)
    dtypes = ["float32", "float64", "float16", "bfloat16", "int8", "int16", "int32", "int64",
              "uint8", "bool", "complex64", "float8_e5m2"]
    sd: dict[str, torch.Tensor] = {}
    for i in range(300):
        dtype = dtypes[i % len(dtypes)]
        n = (1, 3, 16, 64, 100, 257)[i % 6]
        base = _random(dtype, (n, 3), seed=1000 + i)
        if dtype in FLOATS + COMPLEX and i % 5 == 0 and base.numel() >= 12:
            base = _with_nonfinite(base)
        sd[f"t{i}"] = base
        if i % 7 == 0:
            sd[f"t{i}.T"] = base.T
            sd[f"t{i}.every2"] = base[::2]
            sd[f"t{i}.tied"] = base
        if i % 11 == 0:
            sd[f"t{i}.zeros"] = torch.zeros(n, dtype=base.dtype)
            sd[f"t{i}.ones"] = torch.ones(n, 2, dtype=base.dtype)
        if i % 13 == 0 and dtype in FLOATS:
            sd[f"t{i}.allnan"] = torch.full((n,), float("nan"), dtype=base.dtype)
        if i % 17 == 0:
            sd[f"t{i}.scalar"] = base.reshape(-1)[0].clone()
            sd[f"t{i}.empty"] = base[:0]
    sd["big"] = torch.randn(300_000, generator=g)  # not batched, between batches
    sd["huge_range"] = torch.tensor([-1.7e308, 1.7e308, 0.0] * 4, dtype=torch.float64)
    for i in range(40):
        sd[f"tail{i}"] = torch.randn(50, generator=g) * (i + 1)
    path = tmp_path_factory.mktemp("many") / "many.pth"
    torch.save(sd, path)
    return path


@pytest.mark.parametrize("bins", [0, 7, 64])
def test_batched_small_tensors_match_per_tensor(many_small, bins, monkeypatch):
    real = iterate_mod.Job
    calls = []

    def counting(engine, info):
        calls.append(info)
        return real(engine, info)

    with open_checkpoint(many_small) as ck:
        expected = {p: compute_stats(ck, info, bins=bins) for p, info in ck.tensors()}
        monkeypatch.setattr(iterate_mod, "Job", counting)
        items = list(iter_stats(ck, bins=bins))
    assert [i.path for i in items] == list(expected)
    assert len(calls) < len(items) // 5  # most were batched
    for item in items:
        assert item.error is None, item
        _assert_same_stats(item.stats, expected[item.path], item.path)


def test_batched_small_tensors_against_float64_reference(tmp_path):
    g = torch.Generator().manual_seed(5)
    sd = {f"w{i}": torch.randn(8 + i % 9, 5, generator=g) * 3 + i for i in range(100)}
    sd["w3"][1, 1] = float("nan")
    sd["w4"][0, 0] = float("-inf")
    sd["v"] = sd["w7"].T
    path = tmp_path / "small.pth"
    torch.save(sd, path)
    with open_checkpoint(path) as ck:
        items = list(iter_stats(ck))
    for (key,), s, err in items:
        assert err is None
        _check(s, sd[key])


def test_batch_boundaries_and_budget(many_small, monkeypatch):
    with open_checkpoint(many_small) as ck:
        monkeypatch.setattr(batch_mod, "BATCH_MAX_TENSORS", 9)
        monkeypatch.setattr(batch_mod, "BATCH_WINDOW", 20)
        for chunk in (2048, 4 << 20):  # 2048: a budget of 512 elements a batch
            expected = {p: compute_stats(ck, info, chunk_bytes=chunk) for p, info in ck.tensors()}
            got = list(iter_stats(ck, chunk_bytes=chunk))
            assert [i.path for i in got] == list(expected)
            for item in got:
                _assert_same_stats(item.stats, expected[item.path], (chunk, item.path))
        picked = list(iter_stats(ck, paths=[("t5",), ("t0.T",), ("nothing",)]))
    assert [p for p, _, _ in picked] == [("t0.T",), ("t5",), ("nothing",)]


def test_batched_big_endian(tmp_path):
    torch.manual_seed(8)
    sd = {f"x{i}": (torch.randn(30) * (i + 1)).to([torch.float32, torch.float64,
                                                   torch.float16, torch.int32][i % 4])
          for i in range(40)}
    src, dst = tmp_path / "little.pth", tmp_path / "big.pth"
    torch.save(sd, src)
    _to_big_endian(src, dst)
    with open_checkpoint(dst) as ck:
        for (key,), s, err in iter_stats(ck):
            assert err is None
            _check(s, sd[key])


def test_binner_range_over_half_the_doubles():
    """(v - shift) + offset reaches 2 * (hi - lo): found by hypothesis, it overflowed."""
    v = np.array([0.0] * 8 + [1.7976931348623157e308])
    for bins in (1, 3, 64):
        binner = Binner(0.0, float(v.max()), float(np.mean(v / 9) * 9), bins)
        idx = np.empty(v.size, dtype=np.intp)
        binner.index(v, np.empty(v.size), idx)
        ref, _ = np.histogram(v, bins=np.array(binner.edges()))
        assert list(ref) == list(np.bincount(idx, minlength=bins))


# ---- views larger than their storage (broadcasts, overlapping strides) ---------------------
@pytest.mark.parametrize("dtype", ["float32", "float16", "int64", "complex64", "bool"])
def test_broadcast_views_read_each_stored_value_once(tmp_path, dtype):
    base = _random(dtype, (5, 7), seed=11)
    if dtype in FLOATS + COMPLEX:
        base = _with_nonfinite(base)
    sd = {"rows": base[0].expand(40, 7), "cols": base[:, :1].expand(5, 30),
          "both": base[1, 2].expand(6, 4, 3), "mid": base.unsqueeze(1).expand(5, 9, 7)}
    path = tmp_path / "bcast.pth"
    torch.save(sd, path)
    with open_checkpoint(path) as ck:
        assert 0 in ck.find(("rows",)).tensor.stride  # stored as a broadcast, not copied
        for key, t in sd.items():
            _check(compute_stats(ck, ck.find((key,)).tensor), t)
        for (key,), s, err in iter_stats(ck):
            assert err is None
            _check(s, sd[key])


def test_huge_broadcast_is_computed_from_its_stored_values(tmp_path):
    path = tmp_path / "huge.pth"
    torch.save({"x": torch.arange(4.0).expand(2**30, 4), "z": torch.zeros(1).expand(2**20, 2**20)},
               path)
    with open_checkpoint(path) as ck:
        s = compute_stats(ck, ck.find(("x",)).tensor, bins=4)
        z = compute_stats(ck, ck.find(("z",)).tensor)
    assert s.numel == s.finite == 2**32 and s.zeros == 2**30
    assert (s.min, s.max, s.mean) == (0.0, 3.0, 1.5)
    assert s.histogram.counts == (2**30,) * 4
    assert math.isclose(s.l2, math.sqrt(14 * 2**30))
    assert z.numel == z.zeros == 2**40 and z.max == 0.0


def test_overlapping_view_far_beyond_its_storage_is_refused(tmp_path):
    path = tmp_path / "overlap.pth"
    torch.save({"x": torch.arange(2.0**16).as_strided((2**15, 2**15), (1, 1))}, path)
    with open_checkpoint(path) as ck:
        info = ck.find(("x",)).tensor
        with pytest.raises(CheckpointError, match=r"not computed: .* \(cap: 64× the stored "
                                                  r"elements, above 268\.44M values\)"):
            compute_stats(ck, info)
        [item] = list(iter_stats(ck))
    assert item.stats is None and "cap: 64×" in item.error
