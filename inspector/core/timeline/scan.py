"""One checkpoint of a run, read once: per-tensor numbers, health counts, scalars, and the
change from the previous checkpoint, streaming every tensor in float64 chunks.

:func:`scan_checkpoint` returns a :class:`FileSummary` (what the file holds, cacheable on its
own) and, when a previous checkpoint is given, the change of every tensor they share (a
:class:`Delta`, cacheable per pair). Tensors are viewed over the file's memory map; one chunk
of at most :data:`CHUNK_ELEMENTS` values is widened to float64 at a time, so memory stays
bounded whatever the tensor's size.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from inspector.core.checkpoint import (
    DICT,
    LIST,
    SCALAR,
    TUPLE,
    Checkpoint,
    CheckpointError,
    TensorInfo,
)
from inspector.core.state_dict import find_weights, is_float_dtype, is_optimizer_state
from inspector.core.text import dotted_path

CHUNK_ELEMENTS = 1 << 18
BN_VAR_EPS = 1e-5          # BatchNorm's default eps: a running_var at or below it is dead
FP16_MAX = 65504.0         # the largest finite float16
MAX_SCALARS = 200
MAX_DEAD_LISTED = 16
_WIDE_FLOATS = ("float32", "float64", "bfloat16")  # dtypes whose values can overflow float16


class ScanCancelled(Exception):
    """The scan was cancelled."""


@dataclass
class TensorSummary:
    """The numbers of one float tensor (finite values only for the moments and norms).

    ``name`` is its state_dict name (wrapper prefix removed) for model weights, its dotted
    key path otherwise; ``role`` is ``param``, ``buffer``, ``exp_avg``, ``exp_avg_sq`` or
    ``other``. ``dead_rows`` counts all-zero rows (output units, conv filters) of a tensor of
    two or more dimensions; ``small`` counts values <= :data:`BN_VAR_EPS` (running_var
    only); ``fp16_over`` counts values beyond float16's range."""

    name: str
    path: tuple
    role: str
    dtype: str
    shape: tuple[int, ...]
    numel: int
    finite: int = 0
    mean: float | None = None
    std: float | None = None
    l2: float | None = None
    max_abs: float | None = None
    nan: int = 0
    inf: int = 0
    dead_rows: int = 0
    dead_examples: list[int] = field(default_factory=list)
    small: int = 0
    fp16_over: int = 0
    error: str = ""


@dataclass
class FileSummary:
    """What one checkpoint holds, as the timeline and the health report need it."""

    path: str
    tensors: list[TensorSummary]
    scalars: dict[str, float]
    optimizer: dict[str, dict[str, float]]  # param name -> {"exp_avg": l2, "exp_avg_sq": l2}
    duplicates: list[tuple[str, str]]       # names of identical tensors (not shared storage)
    held_steps: dict[str, float] = field(default_factory=dict)

    def by_name(self) -> dict[str, TensorSummary]:
        return {t.name: t for t in self.tensors}


@dataclass
class Delta:
    """How each model tensor changed from the previous checkpoint: ``‖Δw‖`` and whether any
    bit changed (name -> (l2 of the difference, changed))."""

    changes: dict[str, tuple[float, bool]]


Cancel = Callable[[], bool]


# ---- Public API
def scan_checkpoint(ck: Checkpoint, prev: Checkpoint | None = None, *, summary: bool = True,
                    cancel: Cancel | None = None,
                    progress: Callable[[int], None] | None = None
                    ) -> tuple[FileSummary | None, Delta | None]:
    """Read ``ck`` once: its :class:`FileSummary` (when ``summary``) and its
    :class:`Delta` from ``prev`` (when given). ``progress`` is called with bytes read."""
    from inspector.core.materialize import tensor_from_info

    stop = cancel or (lambda: False)
    items = model_tensors(ck)
    prev_items = {name: info for name, (_, info, _) in model_tensors(prev).items()} if prev else {}
    names = set(items)
    others = [] if not summary else [
        (p, info) for p, info in ck.tensors()
        if is_float_dtype(info.dtype) and p not in {v[0] for v in items.values()}]
    opt_roles = optimizer_roles(ck) if summary else {}
    tensors: list[TensorSummary] = []
    changes: dict[str, tuple[float, bool]] = {}
    todo: list[tuple[str, tuple, TensorInfo, str]] = [
        (name, path, info, role) for name, (path, info, role) in items.items()]
    todo += [(dotted_path(p), p, info, opt_roles.get(p, ("other",))[0]) for p, info in others]
    for name, path, info, role in todo:
        if stop():
            raise ScanCancelled()
        s = TensorSummary(name, tuple(path), role, info.dtype, tuple(info.shape), info.numel)
        prev_info = prev_items.get(name) if name in names else None
        if prev_info is not None and (tuple(prev_info.shape) != tuple(info.shape)
                                      or not is_float_dtype(prev_info.dtype)):
            prev_info = None
        if not summary and prev_info is None:
            continue
        try:
            t = tensor_from_info(ck, info)
            p = tensor_from_info(prev, prev_info) if prev_info is not None else None
            if t.is_complex():
                raise CheckpointError(ck.path, "complex values are not summarized")
            changed = _stream(t, p, s, stop)
        except CheckpointError as e:
            s.error = e.problem
            changed = None
        if changed is not None and prev_info is not None:
            changes[name] = changed
        if summary:
            tensors.append(s)
        if progress is not None:
            progress(info.nbytes)
    if not summary:
        return None, Delta(changes)
    from inspector.core.timeline.discover import top_level_steps

    file_summary = FileSummary(
        path=ck.path, tensors=tensors, scalars=scalars_of(ck),
        optimizer=_optimizer_norms(tensors, opt_roles, ck), held_steps=top_level_steps(ck),
        duplicates=_duplicates(ck, tensors, {name: (path, info) for name, (path, info, _)
                                                   in items.items()}, stop))
    return file_summary, (Delta(changes) if prev is not None else None)


def model_tensors(ck: Checkpoint | None) -> dict[str, tuple[tuple, TensorInfo, str]]:
    """The model's float tensors: state_dict name (wrapper prefix removed) -> (key path,
    metadata, ``param``/``buffer``)."""
    if ck is None:
        return {}
    weights = find_weights(ck)
    out: dict[str, tuple[tuple, TensorInfo, str]] = {}
    cut = len(weights.prefix or "")
    for e in weights.entries:
        name = e.name[cut:] if cut and e.name.startswith(weights.prefix) else e.name
        if is_float_dtype(e.info.dtype) and name not in out:
            out[name] = (e.path, e.info, "buffer" if e.is_buffer else "param")
    return out


def optimizer_roles(ck: Checkpoint) -> dict[tuple, tuple[str, int, int]]:
    """Key path of each Adam-style moment tensor -> (``exp_avg``/``exp_avg_sq``, optimizer
    number, parameter index)."""
    out: dict[tuple, tuple[str, int, int]] = {}
    for k, node in enumerate(_optimizer_nodes(ck)):
        state = node.child("state")
        for entry in state.children:
            if entry.kind != DICT or not isinstance(entry.key, int):
                continue
            for leaf in ("exp_avg", "exp_avg_sq"):
                child = entry.child(leaf)
                if child is not None and child.tensor is not None:
                    out[child.path()] = (leaf, k, entry.key)
    return out


def optimizer_groups(ck: Checkpoint) -> list[list[list[int]]]:
    """Per optimizer state in ``ck`` (in :func:`optimizer_roles`' numbering), each param
    group's parameter indices; a group whose ``params`` are not all integers is empty."""
    out = []
    for node in _optimizer_nodes(ck):
        groups = []
        for group in node.child("param_groups").children:
            params = group.child("params") if group.kind == DICT else None
            ids = [c.value for c in params.children] if params is not None else []
            groups.append(ids if all(type(i) is int for i in ids) else [])
        out.append(groups)
    return out


def moment_norms(ck: Checkpoint, cancel: Cancel | None = None,
                 progress: Callable[[int], None] | None = None
                 ) -> dict[tuple[int, int], dict[str, tuple[float | None, tuple[int, ...]]]]:
    """Each Adam-style moment tensor of ``ck``'s optimizer state(s), read once as the
    timeline reads any tensor: (optimizer number, parameter index) -> {``exp_avg`` /
    ``exp_avg_sq``: (L2 norm of its finite values or None, shape)}."""
    from inspector.core.materialize import tensor_from_info

    stop = cancel or (lambda: False)
    infos = dict(ck.tensors())
    out: dict[tuple[int, int], dict[str, tuple[float | None, tuple[int, ...]]]] = {}
    for path, (leaf, k, idx) in optimizer_roles(ck).items():
        info = infos[path]
        s = TensorSummary(leaf, path, leaf, info.dtype, tuple(info.shape), info.numel)
        if is_float_dtype(info.dtype):
            try:
                _stream(tensor_from_info(ck, info), None, s, stop)
            except CheckpointError as e:
                s.error = e.problem
        out.setdefault((k, idx), {})[leaf] = (None if s.error else s.l2, s.shape)
        if progress is not None:
            progress(info.nbytes)
    return out


def scalars_of(ck: Checkpoint) -> dict[str, float]:
    """The file's numeric values outside the weights and the optimizer's per-parameter
    state: epoch, loss, global_step, each param group's lr, … (dotted name -> value)."""
    out: dict[str, float] = {}
    stack = [(c, 1) for c in reversed(ck.root.children)]
    while stack and len(out) < MAX_SCALARS:
        node, depth = stack.pop()
        if node.kind == SCALAR:
            v = node.value
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                path = node.path()
                if "param_groups" in path and path[-1] not in ("lr", "initial_lr"):
                    continue
                out[dotted_path(path)] = float(v)
            continue
        if depth >= 5 or node.kind not in (DICT, LIST, TUPLE):
            continue
        if node.key == "state" and node.parent is not None and is_optimizer_state(node.parent):
            continue
        if sum(1 for c in node.children[:8] if c.tensor is not None) >= 4:
            continue  # a state_dict
        stack.extend((c, depth + 1) for c in reversed(node.children[:256]))
    return out


# ---- Private API: streaming one tensor
def _stream(t, p, s: TensorSummary, stop: Cancel) -> tuple[float, bool] | None:
    """Fill ``s`` from tensor ``t``; with ``p`` (same shape) also return (‖t − p‖, changed).

    numpy on the mapped bytes, one chunk widened to float64 at a time (single-threaded: torch's
    thread pool is 10-30× slower on a busy machine, PERFORMANCE.md)."""
    numel = t.numel()
    rows = int(t.shape[0]) if t.dim() >= 2 and numel else 0
    rowlen = numel // rows if rows else 1
    flat, to_numpy = _flat(t)
    pflat, p_numpy = _flat(p) if p is not None else (None, None)
    long_rows = rows and rowlen > CHUNK_ELEMENTS  # rows read in pieces: flags per row
    step = CHUNK_ELEMENTS if not rows or long_rows else (CHUNK_ELEMENTS // rowlen) * rowlen
    row_seen = np.zeros(rows, dtype=bool) if long_rows else None
    acc = _Moments()
    want_small = s.name.split(".")[-1] == "running_var"
    want_over = s.dtype in _WIDE_FLOATS
    dsq = 0.0
    changed = False
    dead: list[int] = []
    # reused buffers: a fresh 2 MiB array per operation costs more in page faults than the
    # arithmetic (measured: 5 ms instead of 0.15 ms per chunk)
    size = min(step, numel)
    xbuf = np.empty(size, dtype=np.float64)
    dbuf = np.empty(size, dtype=np.float64) if pflat is not None else None
    abuf = np.empty(size, dtype=np.float64)
    with np.errstate(all="ignore"):
        for start in range(0, numel, step):
            if stop():
                raise ScanCancelled()
            a = to_numpy(flat[start:start + step])
            k = a.size
            x = xbuf[:k]
            np.copyto(x, a, casting="unsafe")
            if pflat is not None:
                pa = p_numpy(pflat[start:start + step])
                d = dbuf[:k]
                np.subtract(x, pa, out=d, casting="unsafe")
                sq = _sumsq(d)
                if not math.isfinite(sq):  # NaN/Inf on either side: compare where they are
                    changed = changed or not np.array_equal(np.isnan(x), np.isnan(pa))
                    sq = _sumsq(d[np.isfinite(d)])
                changed = changed or sq > 0
                dsq += sq
            absx = np.abs(x, out=abuf[:k])
            row_max = None
            if long_rows:
                for r in range(start // rowlen, (start + k - 1) // rowlen + 1):
                    lo, hi = max(r * rowlen - start, 0), min((r + 1) * rowlen - start, k)
                    row_seen[r] |= bool(absx[lo:hi].max() != 0)
            elif rows:
                row_max = absx.reshape(-1, rowlen).max(axis=1)
                zero = np.flatnonzero(row_max == 0)
                if zero.size:
                    s.dead_rows += int(zero.size)
                    first = start // rowlen
                    dead.extend(first + int(i) for i in zero[:MAX_DEAD_LISTED - len(dead)])
            if want_small:
                s.small += int(np.count_nonzero(x <= BN_VAR_EPS))
            s1 = float(x.sum())
            if not math.isfinite(s1):
                fin = np.isfinite(x)
                nan = int(np.count_nonzero(np.isnan(x)))
                s.nan += nan
                s.inf += int(x.size - np.count_nonzero(fin) - nan)
                x, absx, row_max = x[fin], absx[fin], None
                s1 = float(x.sum())
            if x.size:
                top = float(absx.max() if row_max is None else row_max.max())
                acc.add(x, s1, top)
                if want_over and top > FP16_MAX:
                    s.fp16_over += int(np.count_nonzero(absx > FP16_MAX))
    acc.finish(s)
    if long_rows:
        zero = np.flatnonzero(~row_seen)
        s.dead_rows = int(zero.size)
        dead = [int(i) for i in zero[:MAX_DEAD_LISTED]]
    s.dead_examples = dead[:MAX_DEAD_LISTED]
    if pflat is None:
        return None
    return math.sqrt(dsq), changed


class _Moments:
    """Count, mean, M2 (Chan et al.'s parallel merge of per-chunk moments), Σx², max |x|."""

    def __init__(self):
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0
        self.sumsq = 0.0
        self.max_abs = 0.0

    def add(self, x: np.ndarray, s1: float, top: float) -> None:
        """Add a chunk's values (``x`` may be overwritten); ``s1`` is their sum."""
        k = x.size
        cm = s1 / k
        sq = _sumsq(x)
        self.sumsq += sq
        if cm * cm * k < 0.25 * sq:
            cm2 = sq - cm * cm * k  # the mean is small next to the spread: no cancellation
        else:
            x -= cm
            cm2 = _sumsq(x)
        total = self.n + k
        d = cm - self.mean
        self.mean += d * k / total
        self.m2 += cm2 + d * d * self.n * k / total
        self.n = total
        self.max_abs = max(self.max_abs, top)

    def finish(self, s: TensorSummary) -> None:
        s.finite = self.n
        if self.n:
            s.mean = self.mean
            s.std = math.sqrt(max(self.m2, 0.0) / self.n)
            s.l2 = math.sqrt(self.sumsq)
            s.max_abs = self.max_abs


_NUMPY_FLOATS = ("float64", "float32", "float16")


def _sumsq(x: np.ndarray) -> float:
    """Σx² in float64 without BLAS (a multi-threaded BLAS dot is 100× slower on a busy
    machine)."""
    return float(np.einsum("i,i->", x, x))


def _flat(t):
    """The tensor as a flat sequence that slices cheaply, and how to turn a slice into a
    numpy array (zero-copy for numpy's float types; bfloat16/float8 through float32)."""
    import torch

    flat = t.reshape(-1)
    name = str(t.dtype).removeprefix("torch.")
    if name in _NUMPY_FLOATS:
        return flat.numpy(), np.asarray
    return flat, lambda c: c.to(torch.float32).numpy()


# ---- Private API: optimizer state and duplicates
def _optimizer_nodes(ck: Checkpoint) -> list:
    found = []
    queue = [(ck.root, 0)]
    while queue:
        node, depth = queue.pop(0)
        if is_optimizer_state(node):
            found.append(node)
            continue
        if depth < 2 and node.kind in (DICT, LIST, TUPLE):
            queue.extend((c, depth + 1) for c in node.children[:64])
    return found


def _optimizer_norms(tensors: list[TensorSummary], roles: dict, ck: Checkpoint
                     ) -> dict[str, dict[str, float]]:
    if not roles:
        return {}
    params = [name for name, (_, _, role) in model_tensors(ck).items() if role == "param"]
    indices = {idx for _, k, idx in roles.values() if k == 0}
    named = bool(indices) and max(indices) < len(params)
    out: dict[str, dict[str, float]] = {}
    for t in tensors:
        role = roles.get(t.path)
        if role is None or t.l2 is None:
            continue
        leaf, k, idx = role
        name = params[idx] if named and k == 0 else f"optimizer {k} parameter {idx}"
        out.setdefault(name, {})[leaf] = t.l2
    return out


def _duplicates(ck: Checkpoint, tensors: list[TensorSummary],
                model: dict[str, tuple[tuple, TensorInfo]], stop: Cancel) -> list[tuple[str, str]]:
    """Model tensors with identical values under different names that are not views of one
    storage. Constant tensors (zeros, ones) are left out: identical by design."""
    import torch

    from inspector.core.materialize import tensor_from_info

    groups: dict[Any, list[TensorSummary]] = {}
    for t in tensors:
        if t.name in model and not t.error and t.numel > 1 and t.std and t.finite == t.numel:
            groups.setdefault((t.dtype, t.shape, t.l2, t.mean, t.max_abs), []).append(t)
    out: list[tuple[str, str]] = []
    for group in groups.values():
        if len(group) < 2:
            continue
        for i, a in enumerate(group):
            ia = model[a.name][1]
            for b in group[i + 1:]:
                if stop():
                    raise ScanCancelled()
                ib = model[b.name][1]
                if ia.storage is not None and ib.storage is not None and \
                        (ia.storage.file, ia.storage.key) == (ib.storage.file, ib.storage.key):
                    continue  # tied weights: one storage
                if torch.equal(tensor_from_info(ck, ia), tensor_from_info(ck, ib)):
                    out.append((a.name, b.name))
    return out
