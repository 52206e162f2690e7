"""inspector.core.diff: alignment, statuses, float64 metrics, scalars, export."""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from inspector.core.diff import (
    ADDED,
    CHANGED,
    DTYPE_CHANGED,
    IDENTICAL,
    REMOVED,
    SHAPE_CHANGED,
    DiffCancelled,
    align,
    compare_tensors,
    diff_checkpoints,
    iter_diff,
    report_to_csv,
    report_to_json,
)
from inspector.core.formats import open_checkpoint


def _save(tmp_path, name, obj):
    path = tmp_path / name
    torch.save(obj, path)
    return path


def _small_sd(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "conv1.weight": torch.randn(4, 3, 3, 3, generator=g),
        "conv1.bias": torch.randn(4, generator=g),
        "bn.running_mean": torch.randn(4, generator=g),
        "bn.num_batches_tracked": torch.tensor(7),
        "fc.weight": torch.randn(5, 16, generator=g),
    }


def _by_path(report):
    return {e.path: e for e in report.entries}


def reference(a, b):
    """Independent float64 numpy reference for the metrics (finite, NaN-free inputs)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    d = np.abs(a - b)
    na, nb = np.sqrt(np.sum(a * a)), np.sqrt(np.sum(b * b))
    return {
        "max_abs_diff": float(d.max()),
        "mean_abs_diff": float(d.mean()),
        "rel_l2": float(np.sqrt(np.sum(d * d)) / na),
        "cosine": float(np.dot(a, b) / (na * nb)),
        "num_diff": int(np.count_nonzero(a != b)),
    }


def assert_metrics(entry, ref, rel=1e-12):
    for name in ("max_abs_diff", "mean_abs_diff", "rel_l2", "cosine"):
        assert getattr(entry, name) == pytest.approx(ref[name], rel=rel, abs=1e-15), name
    assert entry.num_diff == ref["num_diff"]


# ---- statuses


def test_every_status(tmp_path):
    sd_a = _small_sd()
    sd_b = {k: v.clone() for k, v in sd_a.items()}
    sd_a["gone"] = torch.ones(3)
    sd_b["new"] = torch.zeros(2)
    sd_b["fc.weight"][1, 2] += 0.5
    sd_b["conv1.bias"] = torch.randn(5)
    sd_b["bn.running_mean"] = sd_a["bn.running_mean"].to(torch.float16)
    report = diff_checkpoints(_save(tmp_path, "a.pth", sd_a), _save(tmp_path, "b.pth", sd_b))
    e = _by_path(report)
    assert e[("conv1.weight",)].status == IDENTICAL
    assert e[("bn.num_batches_tracked",)].status == IDENTICAL
    assert e[("fc.weight",)].status == CHANGED
    assert e[("fc.weight",)].num_diff == 1
    assert e[("fc.weight",)].max_abs_diff == pytest.approx(0.5, rel=1e-6)
    assert e[("conv1.bias",)].status == SHAPE_CHANGED
    assert e[("conv1.bias",)].max_abs_diff is None
    assert e[("bn.running_mean",)].status == DTYPE_CHANGED
    assert e[("gone",)].status == REMOVED and e[("gone",)].path_b is None
    assert e[("new",)].status == ADDED and e[("new",)].path_a is None
    assert report.summary.counts() == {"identical": 2, "changed": 1, "added": 1, "removed": 1,
                                       "shape_changed": 1, "dtype_changed": 1}
    assert report.aligned_by is None
    assert report.differ
    assert [x.path for x in report.summary.largest] == [("fc.weight",), ("bn.running_mean",)]
    assert report.summary.elements_changed == 1 + e[("bn.running_mean",)].num_diff


def test_identical_files_do_not_differ(tmp_path):
    sd = _small_sd()
    report = diff_checkpoints(_save(tmp_path, "a.pth", sd), _save(tmp_path, "b.pth", sd))
    assert {e.status for e in report.entries} == {IDENTICAL}
    assert not report.differ and not report.scalars
    assert report.summary.elements_changed == 0


def test_identical_is_bitwise_nan_and_signed_zero(tmp_path):
    a = torch.tensor([1.0, float("nan"), 0.0])
    b = a.clone()
    assert compare_tensors(a, b).identical  # NaN != NaN, but the bits are the same
    c = torch.tensor([1.0, float("nan"), -0.0])
    r = compare_tensors(a, c)
    assert not r.identical and r.num_diff == 1 and r.max_abs_diff == 0.0


# ---- metrics against numpy


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 17])
def test_metrics_match_numpy_float64(tmp_path, chunk):
    g = torch.Generator().manual_seed(3)
    a = torch.randn(33, 17, generator=g)
    b = a + 1e-3 * torch.randn(33, 17, generator=g)
    b[0, 0] = a[0, 0]
    report = diff_checkpoints(_save(tmp_path, "a.pth", {"w": a}), _save(tmp_path, "b.pth", {"w": b}),
                              chunk_elements=chunk)
    (entry,) = report.entries
    assert entry.status == CHANGED
    assert_metrics(entry, reference(a.numpy(), b.numpy()))
    assert entry.nan_a == 0 and entry.nan_b == 0


def test_chunking_strided_against_contiguous(tmp_path):
    """Chunk boundaries follow the shape, so a transposed view lines up with a copy."""
    g = torch.Generator().manual_seed(4)
    base = torch.randn(9, 13, generator=g)
    a = base.t()  # non-contiguous in the file
    b = base.t().contiguous().clone()
    b[5, 2] += 1.0
    for chunk in (1, 4, 13, 50, 10_000):
        r = compare_tensors(a, b, chunk_elements=chunk)
        assert_metrics(r, reference(a.numpy(), b.numpy()))
    assert compare_tensors(a, base.t().contiguous(), chunk_elements=5).identical


def test_wide_rows_are_split_into_chunks():
    g = torch.Generator().manual_seed(5)
    a = torch.randn(2, 3, 50, generator=g)
    b = a.clone()
    b[1, 2, 49] = 7.0
    b[0, 0, 0] = -3.0
    r = compare_tensors(a, b, chunk_elements=8)
    assert_metrics(r, reference(a.numpy(), b.numpy()))


def test_float64_accumulation_beats_float32():
    """A sum that float32 gets visibly wrong must come out right."""
    n = 1 << 18
    a = torch.full((n,), 1.0)
    b = a + torch.full((n,), 1e-4)
    r = compare_tensors(a, b, chunk_elements=1 << 14)
    ref = reference(a.numpy(), b.numpy())
    assert_metrics(r, ref, rel=1e-9)


def test_dtype_changed_bf16_and_fp16_vs_fp32(tmp_path):
    g = torch.Generator().manual_seed(6)
    w = torch.randn(6, 10, generator=g)
    sd_b = {"bf": w.to(torch.bfloat16), "half": w.to(torch.float16)}
    report = diff_checkpoints(_save(tmp_path, "a.pth", {"bf": w, "half": w}),
                              _save(tmp_path, "b.pth", sd_b), chunk_elements=7)
    e = _by_path(report)
    for name in ("bf", "half"):
        entry = e[(name,)]
        assert entry.status == DTYPE_CHANGED
        assert entry.dtype_a == "float32" and entry.dtype_b == str(sd_b[name].dtype)[6:]
        # bfloat16 has no numpy dtype: the exact values it holds, through float64
        ref = reference(w.numpy(), sd_b[name].to(torch.float64).numpy())
        assert_metrics(entry, ref)


def test_dtype_changed_identical_values_has_zero_change():
    a = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float32)
    r = compare_tensors(a, a.to(torch.float64))
    assert not r.identical and r.num_diff == 0 and r.max_abs_diff == 0 and r.rel_l2 == 0
    assert r.cosine == pytest.approx(1.0)


# ---- NaN and inf


def test_nan_appearing_and_disappearing(tmp_path):
    a = torch.tensor([1.0, float("nan"), 3.0, 4.0, 5.0])
    b = torch.tensor([1.0, 2.0, float("nan"), 4.5, float("nan")])
    report = diff_checkpoints(_save(tmp_path, "a.pth", {"w": a}), _save(tmp_path, "b.pth", {"w": b}),
                              chunk_elements=2)
    (e,) = report.entries
    assert e.status == CHANGED
    assert (e.nan_a, e.nan_b) == (1, 2)
    assert e.num_diff == 4
    # metrics over positions where neither is NaN: 0 and 3
    ref = reference([1.0, 4.0], [1.0, 4.5])
    assert e.max_abs_diff == pytest.approx(ref["max_abs_diff"])
    assert e.mean_abs_diff == pytest.approx(ref["mean_abs_diff"])
    assert e.rel_l2 == pytest.approx(ref["rel_l2"])
    assert e.cosine == pytest.approx(ref["cosine"])
    assert e.change == math.inf  # NaNs appearing rank first


def test_inf_handling():
    r = compare_tensors(torch.tensor([float("inf"), 1.0]), torch.tensor([float("inf"), 2.0]))
    assert r.max_abs_diff == 1.0 and r.nan_a == 0 and r.nan_b == 0
    assert r.rel_l2 == pytest.approx(1.0)  # over the finite positions only
    r = compare_tensors(torch.tensor([1.0, 2.0]), torch.tensor([float("inf"), 2.0]))
    assert r.max_abs_diff == math.inf and r.num_diff == 1
    r = compare_tensors(torch.tensor([1.0, 2.0]), torch.tensor([float("-inf"), 2.0]),
                        atol=1e9, rtol=1e9)
    assert r.close is False


def test_zero_norm_definitions():
    z = torch.zeros(4)
    r = compare_tensors(z, torch.ones(4))
    assert r.rel_l2 is None and r.cosine is None and r.max_abs_diff == 1.0
    r = compare_tensors(z, torch.zeros(4, dtype=torch.float64))  # dtype changed, both zero
    assert r.rel_l2 == 0.0 and r.cosine == 1.0


# ---- tolerances


@pytest.mark.parametrize(("atol", "rtol"), [(1e-3, 0.0), (0.0, 1e-3), (1e-5, 1e-5), (None, 0.1),
                                            (0.2, None)])
def test_close_matches_allclose(atol, rtol):
    g = torch.Generator().manual_seed(8)
    a = torch.randn(40, generator=g)
    b = a + 5e-4 * torch.randn(40, generator=g)
    r = compare_tensors(a, b, atol=atol, rtol=rtol, chunk_elements=3)
    expected = np.allclose(a.double().numpy(), b.double().numpy(),
                           atol=1e-8 if atol is None else atol, rtol=1e-5 if rtol is None else rtol)
    assert r.close is bool(expected)


def test_close_with_nan_is_false_and_identical_is_close():
    a = torch.tensor([1.0, float("nan")])
    assert compare_tensors(a, torch.tensor([1.0, 2.0]), atol=10.0).close is False
    assert compare_tensors(a, a.clone(), atol=0.0).close is True
    assert compare_tensors(a, a.clone()).close is None


def test_tolerance_decides_differ(tmp_path):
    a = torch.ones(5)
    pa = _save(tmp_path, "a.pth", {"w": a})
    pb = _save(tmp_path, "b.pth", {"w": a + 1e-6})
    assert diff_checkpoints(pa, pb).differ
    loose = diff_checkpoints(pa, pb, atol=1e-4)
    assert not loose.differ and loose.entries[0].close is True
    assert loose.entries[0].status == CHANGED  # identical stays bit for bit
    assert loose.summary.tensors_close == 1
    assert diff_checkpoints(pa, pb, atol=1e-9, rtol=0.0).differ


# ---- hypothesis: any values, any chunk size, against numpy


finite32 = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=32)
special = st.sampled_from([float("nan"), float("inf"), float("-inf"), 0.0, -0.0])


@settings(max_examples=60, deadline=None)
@given(pairs=st.lists(st.tuples(st.one_of(finite32, special), st.one_of(finite32, special)),
                      min_size=1, max_size=40),
       chunk=st.integers(min_value=1, max_value=50))
def test_metrics_property(pairs, chunk):
    a = np.array([p[0] for p in pairs], dtype=np.float32)
    b = np.array([p[1] for p in pairs], dtype=np.float32)
    r = compare_tensors(torch.from_numpy(a), torch.from_numpy(b), chunk_elements=chunk)
    assert r.identical == (a.tobytes() == b.tobytes())
    if r.identical:
        return
    assert r.nan_a == int(np.isnan(a).sum()) and r.nan_b == int(np.isnan(b).sum())
    assert r.num_diff == int(np.count_nonzero(a.view(np.int32) != b.view(np.int32)))
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    keep = ~(np.isnan(a64) | np.isnan(b64))
    ak, bk = a64[keep], b64[keep]
    if not keep.any():
        assert r.max_abs_diff is None
        return
    with np.errstate(invalid="ignore"):
        d = np.where(ak == bk, 0.0, np.abs(ak - bk))
    assert r.max_abs_diff == d.max()
    assert r.mean_abs_diff == pytest.approx(d.mean(), rel=1e-12)
    fin = np.isfinite(ak) & np.isfinite(bk)
    norm_a = math.sqrt(np.sum(ak[fin] ** 2))
    norm_d = math.sqrt(np.sum(d[fin] ** 2))
    if norm_a > 0:
        assert r.rel_l2 == pytest.approx(norm_d / norm_a, rel=1e-9)


# ---- alignment


def _wrapped_pair(tmp_path, wrap_a, wrap_b):
    sd = _small_sd()
    pa = _save(tmp_path, "a.pth", wrap_a(sd))
    pb = _save(tmp_path, "b.pth", wrap_b(sd))
    return diff_checkpoints(pa, pb)


def _prefixed(prefix):
    return lambda sd: {prefix + k: v for k, v in sd.items()}


def _same(sd):
    return dict(sd)


@pytest.mark.parametrize(("wrap_a", "wrap_b", "expect"), [
    (_prefixed("module."), _same, "'module.' prefix removed from A's keys"),
    (_same, _prefixed("module."), "'module.' prefix removed from B's keys"),
    (_prefixed("_orig_mod."), _same, "torch.compile"),
    (_prefixed("_orig_mod.module."), _same, "'_orig_mod.module.'"),
    (lambda sd: {"state_dict": {"model." + k: v for k, v in sd.items()}, "epoch": 3,
                 "global_step": 30}, _same, "Lightning"),
    (lambda sd: {"epoch": 1, "model_state_dict": dict(sd), "loss": 0.25}, _same,
     "A's model_state_dict compared as a bare state_dict"),
    (_same, lambda sd: {"state_dict": dict(sd)}, "B's state_dict compared"),
    (lambda sd: {"model_state_dict": {"module." + k: v for k, v in sd.items()}},
     lambda sd: {"model_state_dict": dict(sd)}, "'module.' prefix removed from A's keys"),
])
def test_prefix_alignment(tmp_path, wrap_a, wrap_b, expect):
    report = _wrapped_pair(tmp_path, wrap_a, wrap_b)
    assert report.aligned_by is not None and expect in report.aligned_by
    assert {e.status for e in report.entries} == {IDENTICAL}
    assert len(report.entries) == len(_small_sd())
    e = report.entries[0]
    assert e.path == e.path_b and e.path_a != e.path_b


def test_matching_paths_need_no_alignment(tmp_path):
    """Both sides wrapped the same way: compared as stored, nothing stripped."""
    report = _wrapped_pair(tmp_path, _prefixed("module."), _prefixed("module."))
    assert report.aligned_by is None
    assert all(e.path_a == e.path_b for e in report.entries)


def test_model_prefix_is_not_stripped_when_it_matches_less(tmp_path):
    sd = {"model.weight": torch.ones(2), "head.weight": torch.zeros(2)}
    report = diff_checkpoints(_save(tmp_path, "a.pth", sd), _save(tmp_path, "b.pth", sd))
    assert report.aligned_by is None and not report.differ


def test_strip_prefix_forced(tmp_path):
    sd = _small_sd()
    pa = _save(tmp_path, "a.pth", {"backbone." + k: v for k, v in sd.items()})
    pb = _save(tmp_path, "b.pth", sd)
    plain = diff_checkpoints(pa, pb)
    assert plain.summary.removed == len(sd) and plain.summary.added == len(sd)
    forced = diff_checkpoints(pa, pb, strip_prefixes=["backbone."])
    assert {e.status for e in forced.entries} == {IDENTICAL}
    assert forced.aligned_by == "prefix 'backbone.' removed from both sides' keys, as asked"
    assert forced.strip_prefixes == ("backbone.",)  # core names no CLI flag; the CLI adds hints


def test_training_checkpoint_vs_bare_reports_optimizer_and_scalars(tmp_path, training_ckpt):
    ck = open_checkpoint(training_ckpt)
    with ck:
        bare_paths = [p for p, _ in ck.tensors() if p[0] == "model_state_dict"]
    full = torch.load(training_ckpt, weights_only=True)
    bare = _save(tmp_path, "bare.pth", full["model_state_dict"])
    report = diff_checkpoints(training_ckpt, bare)
    statuses = {}
    for e in report.entries:
        statuses.setdefault(e.status, []).append(e)
    assert len(statuses[IDENTICAL]) == len(bare_paths)
    assert all(e.path_a[0] == "optimizer_state_dict" for e in statuses[REMOVED])
    assert {s.path for s in report.scalars} >= {("epoch",), ("loss",)}
    assert all(s.status == REMOVED for s in report.scalars)


def test_optimizer_state_and_scalar_changes(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step_and_save(name, epoch, loss):
        model(torch.randn(4, 3)).sum().backward()
        opt.step()
        opt.zero_grad()
        return _save(tmp_path, name, {"epoch": epoch, "loss": loss, "model": model.state_dict(),
                                      "optimizer": opt.state_dict()})

    pa = step_and_save("a.pth", 1, 0.5)
    for group in opt.param_groups:
        group["lr"] = 5e-4
    pb = step_and_save("b.pth", 2, 0.25)
    report = diff_checkpoints(pa, pb)
    e = _by_path(report)
    assert e[("optimizer", "state", 0, "exp_avg")].status == CHANGED
    assert e[("optimizer", "state", 0, "exp_avg_sq")].status == CHANGED
    assert e[("model", "weight")].status == CHANGED
    scalars = {s.path: s for s in report.scalars}
    assert scalars[("epoch",)].value_a == 1 and scalars[("epoch",)].value_b == 2
    assert scalars[("loss",)].value_b == 0.25
    assert scalars[("optimizer", "param_groups", 0, "lr")].value_b == 5e-4
    assert all(s.status == CHANGED for s in report.scalars)


def test_scalar_added_removed_and_nan_equal(tmp_path):
    w = torch.ones(2)
    pa = _save(tmp_path, "a.pth", {"w": w, "loss": float("nan"), "note": "x", "old": None})
    pb = _save(tmp_path, "b.pth", {"w": w, "loss": float("nan"), "note": "y", "new": 3})
    scalars = {s.path: s for s in diff_checkpoints(pa, pb).scalars}
    assert set(scalars) == {("note",), ("old",), ("new",)}
    assert scalars[("old",)].status == REMOVED and scalars[("new",)].status == ADDED


def test_tied_weights(tmp_path):
    emb = torch.randn(6, 4)
    pa = _save(tmp_path, "a.pth", {"embed.weight": emb, "head.weight": emb})  # one storage
    untied = emb.clone()
    untied[0, 0] += 2.0
    pb = _save(tmp_path, "b.pth", {"embed.weight": emb.clone(), "head.weight": untied})
    with open_checkpoint(pa) as ck:
        assert ck.shared_groups()  # really tied in A
    e = _by_path(diff_checkpoints(pa, pb))
    assert e[("embed.weight",)].status == IDENTICAL
    assert e[("head.weight",)].status == CHANGED and e[("head.weight",)].num_diff == 1
    both = _by_path(diff_checkpoints(pa, pa))
    assert {x.status for x in both.values()} == {IDENTICAL}


def test_pth_against_safetensors(tmp_path):
    g = torch.Generator().manual_seed(9)
    w = torch.randn(5, 7, generator=g)
    pa = _save(tmp_path, "a.pth", {"w": w.t(), "b": torch.arange(4.0)})  # strided in the file
    pb = tmp_path / "b.safetensors"
    save_file({"w": w.t().contiguous(), "b": torch.arange(4.0) + 1}, pb)
    e = _by_path(diff_checkpoints(pa, pb, chunk_elements=4))
    assert e[("w",)].status == IDENTICAL
    assert e[("b",)].status == CHANGED and e[("b",)].max_abs_diff == 1.0


def test_lightning_ckpt_against_safetensors(tmp_path):
    sd = _small_sd()
    pa = _save(tmp_path, "a.ckpt", {"state_dict": {"model." + k: v for k, v in sd.items()},
                                    "epoch": 2})
    pb = tmp_path / "b.safetensors"
    save_file({k: v.contiguous() for k, v in sd.items()}, pb)
    report = diff_checkpoints(pa, pb)
    assert {e.status for e in report.entries} == {IDENTICAL}
    assert "Lightning" in report.aligned_by


def test_complex_and_int_tensors():
    a = torch.tensor([1 + 2j, 3 - 1j], dtype=torch.complex64)
    b = a.clone()
    b[1] = 3 + 0j
    r = compare_tensors(a, b)
    assert r.num_diff == 1 and r.max_abs_diff == pytest.approx(1.0)
    ia = torch.tensor([1, 2, 3])
    r = compare_tensors(ia, torch.tensor([1, 5, 3]))
    assert r.num_diff == 1 and r.max_abs_diff == 3.0


def test_bool_tensors():
    r = compare_tensors(torch.tensor([True, False]), torch.tensor([True, True]))
    assert r.num_diff == 1 and r.max_abs_diff == 1.0


def test_cancel(tmp_path):
    sd = _small_sd()
    pa, pb = _save(tmp_path, "a.pth", sd), _save(tmp_path, "b.pth", sd)
    with pytest.raises(DiffCancelled):
        diff_checkpoints(pa, pb, cancel=lambda: True)
    calls = []

    def cancel_late():
        calls.append(1)
        return len(calls) > 3

    a = torch.zeros(100)
    with pytest.raises(DiffCancelled):
        compare_tensors(a, a + 1, chunk_elements=10, cancel=cancel_late)


def test_iter_diff_yields_per_pair(tmp_path):
    sd = _small_sd()
    with open_checkpoint(_save(tmp_path, "a.pth", sd)) as ck_a, \
            open_checkpoint(_save(tmp_path, "b.pth", _prefixed("module.")(sd))) as ck_b:
        alignment = align(ck_a, ck_b)
        assert alignment.matched == len(sd)
        assert alignment.total_bytes == 2 * sum(v.nbytes for v in sd.values())
        gen = iter_diff(ck_a, ck_b, alignment)
        first = next(gen)
        assert first.status == IDENTICAL
        gen.close()  # stopping early is fine


# ---- export


def test_report_to_json_and_csv(tmp_path):
    a = torch.tensor([1.0, 2.0, 3.0])
    pa = _save(tmp_path, "a.pth", {"module.w": a, "module.gone": a, "epoch": 1})
    pb = _save(tmp_path, "b.pth", {"w": torch.tensor([1.0, float("inf"), 3.0]), "new": a,
                                   "epoch": 2})
    report = diff_checkpoints(pa, pb, atol=0.1)
    doc = report_to_json(report)
    json.dumps(doc, allow_nan=False)
    assert set(doc) == {"a", "b", "aligned_by", "summary", "entries", "scalars"}
    assert set(doc["summary"]) == {"identical", "changed", "added", "removed", "shape_changed",
                                   "dtype_changed"}
    w = next(e for e in doc["entries"] if e["path"] == ["w"])
    assert w["path_a"] == ["module.w"]
    assert w["max_abs_diff"] is None  # inf has no JSON spelling
    assert w["close"] is False
    added = next(e for e in doc["entries"] if e["status"] == "added")
    assert added["dtype_a"] is None and added["shape_b"] == [3] and added["num_diff"] is None
    assert doc["scalars"] == [{"path": ["epoch"], "status": "changed", "value_a": 1,
                               "value_b": 2, "type_a": "int", "type_b": "int"}]
    buf = io.StringIO()
    report_to_csv(report, buf)
    rows = list(csv.DictReader(io.StringIO(buf.getvalue())))
    assert len(rows) == len(report.entries)
    row = next(r for r in rows if r["path"] == "w")  # dotted paths, as the app shows them
    assert row["max_abs_diff"] == "inf" and row["path_a"] == "module.w"
    out = tmp_path / "r.csv"
    report_to_csv(report, out)
    assert out.read_text().splitlines()[0].startswith("path,path_a,status")


def test_unreadable_file_raises_checkpoint_error(tmp_path):
    from inspector.core.checkpoint import CheckpointError

    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint at all")
    good = _save(tmp_path, "a.pth", {"w": torch.ones(1)})
    with pytest.raises(CheckpointError, match="bad.pth"):
        diff_checkpoints(good, bad)


def test_large_tensors_take_the_torch_path(tmp_path):
    """Over 64 KiB the bit check runs in torch; same answers as the bytes path."""
    g = torch.Generator().manual_seed(10)
    big = torch.randn(100, 200, generator=g)
    changed = big.clone()
    changed[99, 199] = 0.0
    pa = _save(tmp_path, "a.pth", {"big": big, "other": big.t()})
    pb = _save(tmp_path, "b.pth", {"big": big.clone(), "other": changed.t().contiguous()})
    e = _by_path(diff_checkpoints(pa, pb, atol=1e-3))
    assert e[("big",)].status == IDENTICAL and e[("big",)].close is True
    assert e[("big",)].max_abs_diff == 0.0 and e[("big",)].cosine == 1.0
    assert e[("other",)].status == CHANGED and e[("other",)].num_diff == 1


def test_sparse_and_quantized_compared_byte_for_byte(tmp_path):
    idx = torch.tensor([[0, 1], [1, 0]])
    vals = torch.tensor([1.0, 2.0])
    pa = _save(tmp_path, "a.pth", {"s": torch.sparse_coo_tensor(idx, vals, (2, 2), check_invariants=True)})
    pb = _save(tmp_path, "b.pth", {"s": torch.sparse_coo_tensor(idx, vals + 1, (2, 2),
                                                              check_invariants=True)})
    (same,) = diff_checkpoints(pa, pa).entries
    (changed,) = diff_checkpoints(pa, pb).entries
    assert same.status == IDENTICAL and changed.status == CHANGED
    assert "byte for byte" in changed.note and changed.max_abs_diff is None


def test_sharded_folder_against_single_file(tmp_path):
    sd = {k: v.contiguous() for k, v in _small_sd().items()}
    names = list(sd)
    folder = tmp_path / "hf"
    folder.mkdir()
    shards = {"model-00001-of-00002.safetensors": names[:2],
              "model-00002-of-00002.safetensors": names[2:]}
    weight_map = {}
    for shard, keys in shards.items():
        save_file({k: sd[k] for k in keys}, folder / shard)
        weight_map.update(dict.fromkeys(keys, shard))
    (folder / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {}, "weight_map": weight_map}))
    report = diff_checkpoints(folder, _save(tmp_path, "single.pth", sd))
    assert {e.status for e in report.entries} == {IDENTICAL}
    assert len(report.entries) == len(sd)


# ---- views larger than their storage (broadcasts, overlapping strides) ---------------------
def test_broadcast_views_are_compared_over_their_stored_values(tmp_path):
    row_a, row_b = torch.arange(4.0), torch.tensor([0.0, 1.0, 2.5, float("nan")])
    pa = _save(tmp_path, "a.pth", {"x": row_a.expand(2**30, 4), "same": row_a.expand(3, 4)})
    pb = _save(tmp_path, "b.pth", {"x": row_b.expand(2**30, 4), "same": row_a.expand(3, 4)})
    report = diff_checkpoints(pa, pb)
    e = _by_path(report)[("x",)]
    assert e.status == CHANGED and e.shape_a == (2**30, 4)
    assert e.num_diff == 2 * 2**30 and e.nan_a == 0 and e.nan_b == 2**30
    assert e.max_abs_diff == 0.5 and e.mean_abs_diff == pytest.approx(0.5 / 3)
    assert _by_path(report)[("same",)].status == IDENTICAL
    assert diff_checkpoints(pa, pa).entries[0].status == IDENTICAL


def test_views_far_beyond_their_storage_are_compared_byte_for_byte(tmp_path):
    base = torch.arange(2.0**16)
    view = (2**15, 2**15), (1, 1)
    pa = _save(tmp_path, "a.pth", {"x": base.as_strided(*view)})
    pb = _save(tmp_path, "b.pth", {"x": (base + 1).as_strided(*view)})
    pc = _save(tmp_path, "c.pth", {"x": base.expand(2**15, 2**16)[:, :2**15]})  # other strides
    same = diff_checkpoints(pa, pa).entries[0]
    assert same.status == IDENTICAL and "cap: 64×" in same.note
    changed = diff_checkpoints(pa, pb).entries[0]
    assert changed.status == CHANGED and changed.num_diff is None
    assert changed.note.startswith("values not computed: the view reads 1.07B values")
    assert diff_checkpoints(pa, pc).entries[0].status == CHANGED


def test_pair_histograms_of_broadcast_and_oversized_views(tmp_path):
    from inspector.core.diff import DiffProblem, PairHistograms, pair_histograms

    row = torch.arange(4.0)
    pa = _save(tmp_path, "a.pth", {"x": row.expand(2**30, 4),
                                   "o": torch.arange(2.0**16).as_strided((2**15, 2**15), (1, 1))})
    pb = _save(tmp_path, "b.pth", {"x": (row + 1).expand(2**30, 4)})
    [h] = list(pair_histograms(str(pa), str(pb), ("x",), ("x",), bins=5))
    assert isinstance(h, PairHistograms) and h.step == 1
    assert h.a.finite == h.b.finite == 2**32 and sum(h.a.counts) == 2**32
    assert sum(h.delta_counts) == 2**32 and h.delta_mean == 1.0
    [problem] = list(pair_histograms(str(pa), str(pa), ("o",), ("o",)))
    assert isinstance(problem, DiffProblem) and "cap: 64×" in problem.message
