"""One :class:`DiffEntry` per aligned tensor pair, reading bytes through each file's map."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

from inspector.core.checkpoint import Checkpoint, CheckpointError, TensorInfo
from inspector.core.diff.align import Alignment, TensorPair
from inspector.core.diff.metrics import CHUNK_ELEMENTS, castable, check_cancel, compare_tensors
from inspector.core.diff.parallel import PairJob
from inspector.core.diff.pieces import _side as numpy_side
from inspector.core.diff.pieces import pair_plan, tolerance
from inspector.core.diff.results import (
    ADDED,
    CHANGED,
    DTYPE_CHANGED,
    IDENTICAL,
    REMOVED,
    SHAPE_CHANGED,
    DiffCancelled,
    DiffEntry,
    TensorComparison,
)
from inspector.core.dtypes import canonical
from inspector.core.view_size import (
    broadcast_dims,
    distinct_view,
    over_work_cap,
    view_key,
    work_cap_problem,
)

SMALL_BYTES = 1 << 16  # contiguous tensors up to this size are compared as bytes first


def iter_diff(ck_a: Checkpoint, ck_b: Checkpoint, alignment: Alignment, *,
              atol: float | None = None, rtol: float | None = None,
              cancel: Callable[[], bool] | None = None,
              chunk_elements: int = CHUNK_ELEMENTS, workers: int | None = None,
              device: str = "cpu") -> Iterator[DiffEntry]:
    """Yield one :class:`DiffEntry` per pair of ``alignment``, in its order.

    Tensor bytes are read pair by pair, chunk by chunk, through each file's memory map,
    so memory stays bounded whatever the sizes. ``cancel`` is polled between chunks; when
    it returns True, :class:`DiffCancelled` is raised. Stopping iteration also stops the work.

    The chunks run on ``workers`` threads (None: every core this process may use; 1: this
    thread), several pairs at once, merged exactly (module ``pieces``): the results do not
    depend on the count. ``device="cuda"`` compares big pairs on the GPU (module ``device``).
    """
    from inspector.core.diff.parallel import DiffEngine

    engine = DiffEngine(workers, cancel or _never, device, ck_a, ck_b)
    cache: dict[tuple, object] = {}  # tied weights: each storage view compared once
    slots: list = []
    pairs = alignment.pairs
    tol = tolerance(atol, rtol)
    try:
        for i in range(len(pairs)):
            check_cancel(cancel)
            while len(slots) < len(pairs) and (len(slots) <= i or (
                    engine.hungry and len(slots) - i < MAX_AHEAD)):
                try:
                    slots.append(_diff_pair(ck_a, ck_b, pairs[len(slots)], atol, rtol, cancel,
                                            chunk_elements, cache, engine, tol))
                except (CheckpointError, DiffCancelled) as e:
                    slots.append(e)  # raised in order, after the entries before it
            item, slots[i] = slots[i], None
            if isinstance(item, Exception):
                raise item
            if isinstance(item, _Pending):
                active = [s.job for s in slots[i + 1:] if isinstance(s, _Pending)]
                item = item.entry(engine.wait_for(item.job, active))
            yield item
    finally:
        engine.close()


MAX_AHEAD = 64  # pairs admitted ahead of the one being yielded, at most


def _never() -> bool:
    return False


class _Pending:
    """A pair whose comparison runs in the engine: its entry once ``job`` is done."""

    def __init__(self, job, base: dict, status_if_differs: str, repeat: int):
        self.job, self.base, self.status_if_differs, self.repeat = (
            job, base, status_if_differs, repeat)

    def entry(self, cmp: TensorComparison) -> DiffEntry:
        return _entry(cmp, self.base, self.status_if_differs, self.repeat)


def _entry(cmp: TensorComparison, base: dict, status_if_differs: str, repeat: int) -> DiffEntry:
    status = IDENTICAL if cmp.identical else status_if_differs
    metrics = cmp.metrics()
    for name in ("num_diff", "nan_a", "nan_b"):  # counts of the broadcast view
        if metrics[name] is not None:
            metrics[name] *= repeat
    return DiffEntry(status=status, **metrics, **base)


def _diff_pair(ck_a: Checkpoint, ck_b: Checkpoint, pair: TensorPair, atol, rtol, cancel,
               chunk_elements: int, cache: dict, engine, tol) -> DiffEntry | _Pending:
    ia, ib = pair.info_a, pair.info_b
    path = pair.path_b if pair.path_b is not None else pair.path_a
    base = dict(path=path, path_a=pair.path_a, path_b=pair.path_b,
                dtype_a=canonical(ia.dtype) if ia else None,
                dtype_b=canonical(ib.dtype) if ib else None,
                shape_a=tuple(ia.shape) if ia else None, shape_b=tuple(ib.shape) if ib else None)
    if ia is None:
        return DiffEntry(status=ADDED, **base)
    if ib is None:
        return DiffEntry(status=REMOVED, **base)
    if base["shape_a"] != base["shape_b"]:
        return DiffEntry(status=SHAPE_CHANGED, **base)
    dtype_changed = base["dtype_a"] != base["dtype_b"]
    status_if_differs = DTYPE_CHANGED if dtype_changed else CHANGED
    if _value_layout(ia) != _value_layout(ib):
        return DiffEntry(status=status_if_differs, note=f"layout {ia.layout} vs {ib.layout}",
                         **base)
    if not (_dense(ia) and _dense(ib)):
        return _diff_raw(ck_a, ck_b, ia, ib, base, status_if_differs,
                         f"{ia.layout} tensor: compared byte for byte, no metrics")
    if not dtype_changed and _small_contiguous(ia, ib):
        # Many small tensors: a bytes comparison costs ~2 µs, a torch round trip ~50.
        if _raw_bytes(ck_a, ia) == _raw_bytes(ck_b, ib):
            return DiffEntry(status=IDENTICAL, **_identical_metrics(ia, atol, rtol), **base)
    repeat = 1
    if ia.storage is not None and ib.storage is not None:  # views of storages, not assembled
        ia, ib, repeat = _without_broadcast(ia, ib)
        stored = _stored_elements(ia) + _stored_elements(ib)
        if over_work_cap(ia.numel, stored):
            return _diff_raw(ck_a, ck_b, pair.info_a, pair.info_b, base, status_if_differs,
                             f"values {work_cap_problem(ia.numel, stored)}; compared byte for "
                             "byte")
    key_a, key_b = view_key(ia), view_key(ib)
    key = (key_a, key_b) if key_a and key_b else None
    cmp = cache.get(key) if key else None
    if cmp is None:
        plan = pair_plan(ia, ib, chunk_elements) if ia.storage and ib.storage else None
        if plan is not None and ia.storage.byteorder == ib.storage.byteorder:
            cmp = PairJob(engine, ck_a, ck_b, plan, tol)
        else:  # what numpy cannot read: through torch
            ta, tb = ck_a.tensor(ia), ck_b.tensor(ib)
            try:
                cmp = compare_tensors(ta, tb, atol=atol, rtol=rtol, cancel=cancel,
                                      chunk_elements=chunk_elements)
            finally:
                del ta, tb  # release the mmap views before the next pair
        if key:
            cache[key] = cmp
    if isinstance(cmp, PairJob):
        return _Pending(cmp, base, status_if_differs, repeat)
    return _entry(cmp, base, status_if_differs, repeat)


def _without_broadcast(ia: TensorInfo, ib: TensorInfo) -> tuple[TensorInfo, TensorInfo, int]:
    """Both views without the dimensions they both broadcast (stride 0), and how many times
    each remaining pair of values occurs; the views as they are when they broadcast
    differently."""
    dims = broadcast_dims(ia.shape, ia.stride)
    if not dims or dims != broadcast_dims(ib.shape, ib.stride):
        return ia, ib, 1
    va, vb = distinct_view(ia.shape, ia.stride), distinct_view(ib.shape, ib.stride)
    return (dataclasses.replace(ia, shape=va.shape, stride=va.stride),
            dataclasses.replace(ib, shape=vb.shape, stride=vb.stride), va.repeat)


def _stored_elements(info: TensorInfo) -> int:
    try:
        return info.storage.nbytes // max(1, info.itemsize)
    except KeyError:  # an unknown dtype: its bytes, as an upper bound
        return info.storage.nbytes


def _value_layout(info: TensorInfo) -> str:
    """The layout as far as values go: a sharded (DCP) tensor's values are a dense tensor."""
    return "strided" if info.layout == "sharded" else info.layout


def _dense(info: TensorInfo) -> bool:
    """Values readable as one dense tensor: a strided view of a storage, or a sharded
    tensor that ``Checkpoint.tensor`` assembles from its chunks (a copy of its size)."""
    if info.layout == "sharded":
        return bool(info.chunks)
    return info.layout == "strided" and info.storage is not None


def _small_contiguous(ia: TensorInfo, ib: TensorInfo) -> bool:
    if ia.storage is None or ib.storage is None:  # sharded: no one storage to compare
        return False
    return (ia.nbytes <= SMALL_BYTES and ia.is_contiguous() and ib.is_contiguous()
            and ia.storage.byteorder == ib.storage.byteorder
            and not ia.note and not ib.note)


def _raw_bytes(ck: Checkpoint, info: TensorInfo) -> bytes:
    start = info.storage_offset * info.itemsize
    view = ck.storage_view(info.storage)
    if start + info.nbytes > len(view):
        raise CheckpointError(ck.path, "a tensor's view exceeds its storage")
    return bytes(view[start:start + info.nbytes])


def _identical_metrics(info: TensorInfo, atol, rtol) -> dict:
    tol = atol is not None or rtol is not None
    if not _numeric(info):
        return dict(num_diff=0, close=True if tol else None)
    return dict(max_abs_diff=0.0, mean_abs_diff=0.0, rel_l2=0.0,
                cosine=1.0 if info.numel else None, num_diff=0, close=True if tol else None)


def _numeric(info: TensorInfo) -> bool:
    """Whether the dtype has float64/complex128 values (numpy knows; torch otherwise)."""
    if numpy_side(info) is not None:
        return True
    from inspector.core.materialize import torch_dtype

    return castable(torch_dtype(canonical(info.dtype)))


def _bytes_equal(a: memoryview, b: memoryview, step: int = 1 << 20) -> bool:
    """Byte equality in slices (memoryview == compares element by element: 50× slower)."""
    if len(a) != len(b):
        return False
    return all(bytes(a[i:i + step]) == bytes(b[i:i + step]) for i in range(0, len(a), step))


def _diff_raw(ck_a: Checkpoint, ck_b: Checkpoint, ia: TensorInfo, ib: TensorInfo, base: dict,
              status_if_differs: str, note: str) -> DiffEntry:
    """Sparse, quantized, nested and data-less tensors, and views too large to read value by
    value: equal metadata and bytes, or not."""
    if ia.storage is None or ib.storage is None:
        same = ia.storage is None and ib.storage is None and base["dtype_a"] == base["dtype_b"]
        return DiffEntry(status=IDENTICAL if same else status_if_differs,
                         note=f"no data to compare ({ia.note or ia.layout})", **base)
    same = (base["dtype_a"] == base["dtype_b"] and ia.stride == ib.stride
            and ia.storage_offset == ib.storage_offset
            and len(ia.extra_storages) == len(ib.extra_storages))
    if same:
        for sa, sb in zip((ia.storage, *ia.extra_storages), (ib.storage, *ib.extra_storages)):
            if not _bytes_equal(ck_a.storage_view(sa), ck_b.storage_view(sb)):
                same = False
                break
    return DiffEntry(status=IDENTICAL if same else status_if_differs, note=note, **base)
