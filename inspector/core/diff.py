"""Compare two checkpoints: align their tensors by path, then compare each pair.

The work is split so that a GUI can show progress and cancel:

- :func:`align` matches tensor paths (metadata only, no tensor bytes). It detects wrapper
  prefixes that make equal checkpoints look different (``module.`` from DataParallel/DDP,
  ``_orig_mod.`` from ``torch.compile``, ``model.`` from Lightning) and a training
  checkpoint's ``model_state_dict``/``state_dict`` compared with a bare state_dict.
- :func:`iter_diff` yields one :class:`DiffEntry` per tensor pair, streaming each pair in
  chunks: a bit-for-bit check first, then one pass that accumulates the metrics in float64.
- :func:`diff_scalars` compares the non-tensor values (epoch, loss, lr, ...).
- :func:`make_report` / :func:`diff_checkpoints` put it together into a :class:`DiffReport`;
  :func:`report_to_json` and :func:`report_to_csv` export it.

torch is imported only when tensor bytes are compared.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from inspector.core.checkpoint import (
    BYTES,
    NONE,
    SCALAR,
    STRING,
    Checkpoint,
    CheckpointError,
    TensorInfo,
)
from inspector.core.dtypes import canonical
from inspector.core.state_dict import split_wrapper_prefix, state_dict_roots, wrapper_names
from inspector.core.text import json_value, path_to_json

if TYPE_CHECKING:
    import torch

Path = tuple[Any, ...]

# statuses
IDENTICAL = "identical"
CHANGED = "changed"
ADDED = "added"
REMOVED = "removed"
SHAPE_CHANGED = "shape_changed"
DTYPE_CHANGED = "dtype_changed"
STATUSES = (IDENTICAL, CHANGED, ADDED, REMOVED, SHAPE_CHANGED, DTYPE_CHANGED)

# 128 Ki elements: 1 MiB of float64 per side, inside the 512 KiB - 4 MiB sweet spot
# measured in PERFORMANCE.md.
CHUNK_ELEMENTS = 1 << 17

# torch.allclose defaults, used for whichever of atol/rtol is not given.
DEFAULT_ATOL = 1e-8
DEFAULT_RTOL = 1e-5

LARGEST = 10  # entries kept in DiffSummary.largest

_SCALAR_KINDS = frozenset({SCALAR, STRING, NONE, BYTES})


class DiffCancelled(Exception):
    """Raised by :func:`iter_diff` when its ``cancel`` callable returns True."""


# ---------------------------------------------------------------------------------------------
# Alignment


@dataclass(frozen=True)
class AlignRule:
    """How one side's paths are rewritten before matching.

    ``root`` is the container holding the state_dict (``("model_state_dict",)``, or ``()``
    for the top level). With ``lift`` its entries are compared as if they were at the top
    level (a training checkpoint against a bare state_dict). ``prefix`` is removed from
    the state_dict keys (the keys directly under ``root``) that start with it.
    """

    root: Path = ()
    lift: bool = False
    prefix: str = ""

    @property
    def is_identity(self) -> bool:
        return not self.lift and not self.prefix

    @property
    def cost(self) -> int:
        return int(self.lift) + int(bool(self.prefix))

    def apply(self, path: Path) -> Path:
        n = len(self.root)
        if self.is_identity or len(path) <= n or path[:n] != self.root:
            return path
        key = path[n]
        if self.prefix:
            if not isinstance(key, str) or not key.startswith(self.prefix):
                return path if not self.lift else path[n:]
            key = key[len(self.prefix):]
        head = () if self.lift else self.root
        return (*head, key, *path[n + 1:])

    def describe(self, side: str) -> list[str]:
        parts = []
        if self.lift:
            parts.append(f"{side}'s {_path_label(self.root)} compared as a bare state_dict")
        if self.prefix:
            who = wrapper_names(self.prefix)
            parts.append(f"'{self.prefix}' prefix removed from {side}'s keys"
                         + (f" ({', '.join(who)})" if who else ""))
        return parts


@dataclass(frozen=True)
class TensorPair:
    """A tensor of A matched with one of B; one side is None for removed/added tensors."""

    path_a: Path | None
    path_b: Path | None
    info_a: TensorInfo | None
    info_b: TensorInfo | None


@dataclass(frozen=True)
class Alignment:
    """Which tensor of A is compared with which tensor of B, and why."""

    rule_a: AlignRule
    rule_b: AlignRule
    strip_prefixes: tuple[str, ...]
    pairs: tuple[TensorPair, ...]
    aligned_by: str | None  # None when tensors matched by their paths as stored

    @property
    def matched(self) -> int:
        return sum(1 for p in self.pairs if p.info_a is not None and p.info_b is not None)

    @property
    def total_bytes(self) -> int:
        """Bytes of tensor data a full comparison reads (both sides), for progress bars."""
        return sum((p.info_a.nbytes if p.info_a else 0) + (p.info_b.nbytes if p.info_b else 0)
                   for p in self.pairs if p.info_a is not None and p.info_b is not None)

    def normalize_a(self, path: Path) -> Path:
        return self.rule_a.apply(_strip_user(path, self.strip_prefixes))

    def normalize_b(self, path: Path) -> Path:
        return self.rule_b.apply(_strip_user(path, self.strip_prefixes))


def align(ck_a: Checkpoint, ck_b: Checkpoint, strip_prefixes: Sequence[str] = ()) -> Alignment:
    """Match A's tensors with B's by path, undoing wrapper prefixes when that matches more.

    ``strip_prefixes`` are removed from every key of both sides that starts with them
    (applied first, always). Automatic rules are then chosen to match the most tensors;
    among equally good choices the one that rewrites least wins, so checkpoints whose
    paths already match are compared as stored.
    """
    strip = tuple(p for p in strip_prefixes if p)
    tensors_a = [(_strip_user(p, strip), p, info) for p, info in ck_a.tensors()]
    tensors_b = [(_strip_user(p, strip), p, info) for p, info in ck_b.tensors()]
    rule_a, rule_b = _choose_rules(ck_a, ck_b, [t[0] for t in tensors_a],
                                   [t[0] for t in tensors_b])
    index_b, extra_b = _index([(rule_b.apply(s), (p, info)) for s, p, info in tensors_b])
    pairs: list[TensorPair] = []
    used_b: set[Path] = set()
    for stripped, path, info in tensors_a:
        key = rule_a.apply(stripped)
        hit = index_b.get(key) if key not in used_b else None
        if hit is None:
            pairs.append(TensorPair(path, None, info, None))
        else:
            used_b.add(key)
            pairs.append(TensorPair(path, hit[0], info, hit[1]))
    for key, (path, info) in index_b.items():
        if key not in used_b:
            pairs.append(TensorPair(None, path, None, info))
    pairs.extend(TensorPair(None, path, None, info) for path, info in extra_b)

    parts = []
    if strip and any(s != p for s, p, _ in (*tensors_a, *tensors_b)):
        parts.append("--strip-prefix " + " ".join(repr(p) for p in strip))
    parts += rule_a.describe("A") + rule_b.describe("B")
    return Alignment(rule_a=rule_a, rule_b=rule_b, strip_prefixes=strip, pairs=tuple(pairs),
                     aligned_by="; ".join(parts) or None)


def _path_label(path: Path) -> str:
    return "/".join(str(k) for k in path) or "top level"


def _strip_user(path: Path, prefixes: tuple[str, ...]) -> Path:
    if not prefixes:
        return path
    out = []
    for key in path:
        if isinstance(key, str):
            changed = True
            while changed:
                changed = False
                for p in prefixes:
                    if key.startswith(p):
                        key = key[len(p):]
                        changed = True
        out.append(key)
    return tuple(out)


def _index(items: Iterable[tuple[Path, Any]]) -> tuple[dict[Path, Any], list[Any]]:
    """key -> first value; values whose key repeats an earlier one come back separately."""
    index: dict[Path, Any] = {}
    extra: list[Any] = []
    for key, value in items:
        try:
            if key in index:
                extra.append(value)
            else:
                index[key] = value
        except TypeError:  # an unhashable key from a hostile file: never matched
            extra.append(value)
    return index, extra


def _candidate_rules(ck: Checkpoint, paths: list[Path]) -> list[AlignRule]:
    rules = []
    for root in state_dict_roots(ck):
        n = len(root)
        prefixes: set[str] = set()
        for path in paths:
            if len(path) > n and path[:n] == root and isinstance(path[n], str):
                key = path[n]
                cut = sum(len(p) for p in split_wrapper_prefix(key))
                if cut:
                    prefixes.add(key[:cut])
        for lift in ((False,) if not root else (False, True)):
            for prefix in ("", *sorted(prefixes)):
                rules.append(AlignRule(root=root, lift=lift, prefix=prefix))
    return rules


def _choose_rules(ck_a: Checkpoint, ck_b: Checkpoint, paths_a: list[Path],
                  paths_b: list[Path]) -> tuple[AlignRule, AlignRule]:
    def keysets(ck: Checkpoint, paths: list[Path]) -> list[tuple[AlignRule, set[Path]]]:
        out = []
        for rule in _candidate_rules(ck, paths):
            try:
                keys = {rule.apply(p) for p in paths}
            except TypeError:
                keys = set()
            if len(keys) == len(paths) or rule.is_identity:  # a rule may not merge two tensors
                out.append((rule, keys))
        return out

    best = (AlignRule(), AlignRule())
    best_score = (-1, 0)
    for rule_a, keys_a in keysets(ck_a, paths_a):
        for rule_b, keys_b in keysets(ck_b, paths_b):
            score = (len(keys_a & keys_b), -(rule_a.cost + rule_b.cost))
            if score > best_score:
                best, best_score = (rule_a, rule_b), score
    return best


# ---------------------------------------------------------------------------------------------
# Comparing tensors


@dataclass(frozen=True)
class TensorComparison:
    """Metrics of one pair of equally shaped tensors (None where not defined).

    All are computed in float64. ``max_abs_diff``/``mean_abs_diff`` cover the positions
    where neither value is NaN (inf vs a number is an infinite change, inf vs the same inf
    none); ``rel_l2`` (‖a−b‖/‖a‖) and ``cosine`` cover the positions where both values
    are finite. ``rel_l2`` is 0 when a and b are all zeros and None when only ‖a‖ is 0;
    ``cosine`` is 1 for two all-zero tensors and None when just one is. ``num_diff`` counts differing elements
    (bit patterns when the dtypes are equal, values otherwise, NaN == NaN); ``close`` is
    ``torch.allclose`` computed in float64 (None when no tolerance was asked for).
    """

    identical: bool
    max_abs_diff: float | None = None
    mean_abs_diff: float | None = None
    rel_l2: float | None = None
    cosine: float | None = None
    num_diff: int | None = None
    nan_a: int | None = None
    nan_b: int | None = None
    close: bool | None = None
    note: str = ""


@dataclass(frozen=True)
class DiffEntry:
    """The comparison of one tensor path.

    ``path`` is B's path (A's for a removed tensor); ``path_a`` and ``path_b`` are the
    paths as stored in each file (None on the side that lacks the tensor).
    """

    path: Path
    path_a: Path | None
    path_b: Path | None
    status: str
    dtype_a: str | None
    dtype_b: str | None
    shape_a: tuple[int, ...] | None
    shape_b: tuple[int, ...] | None
    max_abs_diff: float | None = None
    mean_abs_diff: float | None = None
    rel_l2: float | None = None
    cosine: float | None = None
    num_diff: int | None = None
    nan_a: int | None = None
    nan_b: int | None = None
    close: bool | None = None
    note: str = ""

    @property
    def numel(self) -> int:
        shape = self.shape_b if self.shape_b is not None else self.shape_a
        return math.prod(shape) if shape is not None else 0

    @property
    def change(self) -> float:
        """How much this entry changed, for sorting: structural changes and NaNs that
        appear or disappear rank first (inf), then relative L2, then max |Δ|."""
        if self.status == IDENTICAL:
            return 0.0
        if self.status in (ADDED, REMOVED, SHAPE_CHANGED):
            return math.inf
        if (self.nan_a or 0) != (self.nan_b or 0):
            return math.inf
        if self.rel_l2 is not None and not math.isnan(self.rel_l2):
            return self.rel_l2
        if self.max_abs_diff:
            return math.inf
        return 0.0


def compare_tensors(a: torch.Tensor, b: torch.Tensor, *, atol: float | None = None,
                    rtol: float | None = None, cancel: Callable[[], bool] | None = None,
                    chunk_elements: int = CHUNK_ELEMENTS) -> TensorComparison:
    """Compare two tensors of the same shape, streaming in chunks of ``chunk_elements``.

    Equal dtypes: bit-for-bit equality decides ``identical`` (so NaN payloads count, and
    0.0 vs -0.0 is a change); the metrics pass runs only when they differ. Different
    dtypes: both sides are cast to float64 (complex128 when either is complex) chunk by
    chunk, and ``identical`` is False.
    """
    import torch

    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    same_dtype = a.dtype == b.dtype
    tol = None
    if atol is not None or rtol is not None:
        tol = (DEFAULT_ATOL if atol is None else float(atol),
               DEFAULT_RTOL if rtol is None else float(rtol))
    if same_dtype:
        bits_a, bits_b = _bits(a), _bits(b)
        if bits_a is None or bits_b is None:
            raise ValueError(f"cannot compare tensors of dtype {a.dtype}")
        if torch.equal(bits_a, bits_b):
            zero = _castable(a.dtype)
            return TensorComparison(
                identical=True, max_abs_diff=0.0 if zero else None,
                mean_abs_diff=0.0 if zero else None, rel_l2=0.0 if zero else None,
                cosine=1.0 if zero and a.numel() else None, num_diff=0,
                close=True if tol else None)
    if not (_castable(a.dtype) and _castable(b.dtype)):
        # no numeric view of these values: count differing bit patterns only
        num = None
        if same_dtype:
            num = 0
            for ca, cb in zip(_chunks(a, chunk_elements), _chunks(b, chunk_elements)):
                _check(cancel)
                num += _count_bits_diff(ca, cb)
        names = sorted({str(a.dtype).removeprefix("torch."), str(b.dtype).removeprefix("torch.")})
        return TensorComparison(identical=False, num_diff=num,
                                note=f"no numeric metrics for {' / '.join(names)}")
    work = torch.complex128 if a.is_complex() or b.is_complex() else torch.float64
    acc = _Accumulator(tol, same_dtype, work, min(max(1, int(chunk_elements)), a.numel()))
    for ca, cb in zip(_chunks(a, chunk_elements), _chunks(b, chunk_elements)):
        _check(cancel)
        acc.add(ca, cb)
    return acc.result()


def _check(cancel: Callable[[], bool] | None) -> None:
    if cancel is not None and cancel():
        raise DiffCancelled("comparison cancelled")


_BITS_DTYPES: dict[int, str] = {1: "uint8", 2: "int16", 4: "int32", 8: "int64"}


def _bits(t: torch.Tensor) -> torch.Tensor | None:
    """An integer view of ``t``'s bit patterns (a trailing pair for 16-byte complex)."""
    import torch

    size = t.element_size()
    if size == 16 and t.is_complex():
        return torch.view_as_real(t).view(torch.int64)
    name = _BITS_DTYPES.get(size)
    if name is None:
        return None
    target = getattr(torch, name)
    return t if t.dtype == target else t.view(target)


def _count_bits_diff(a: torch.Tensor, b: torch.Tensor) -> int:
    ne = _bits(a) != _bits(b)
    if ne.dim() > a.dim():
        ne = ne.any(-1)
    return int(ne.sum())


_CASTABLE: dict[Any, bool] = {}


def _castable(dtype: torch.dtype) -> bool:
    """Whether torch can turn this dtype into float64/complex128 values."""
    import torch

    ok = _CASTABLE.get(dtype)
    if ok is None:
        try:
            x = torch.zeros(1, dtype=dtype)
            x.to(torch.complex128 if x.is_complex() else torch.float64)
            ok = True
        except (RuntimeError, NotImplementedError, TypeError):
            ok = False
        _CASTABLE[dtype] = ok
    return ok


def _chunks(t: torch.Tensor, n: int) -> Iterator[torch.Tensor]:
    """1-D pieces of ``t`` in logical (row-major) order, each at most ``n`` elements.

    The boundaries depend only on the shape, so two tensors of the same shape are cut at
    the same places whatever their strides. Contiguous pieces are views; pieces of a
    strided tensor are copies of at most ``n`` elements.
    """
    n = max(1, int(n))
    numel = t.numel()
    if numel == 0:
        return
    if numel <= n:
        yield t.reshape(-1)
        return
    if t.dim() == 1:
        for i in range(0, numel, n):
            yield t[i:i + n]
        return
    rows = t.shape[0]
    row = numel // rows
    if row <= n:
        step = n // row
        for r in range(0, rows, step):
            yield t[r:r + step].reshape(-1)
    else:
        for r in range(rows):
            yield from _chunks(t[r], n)


class _Accumulator:
    """Float64 sums over chunks; Python floats carry the totals between chunks.

    Work buffers are allocated once per tensor and reused: fresh multi-MB temporaries per
    chunk cost page faults that halve the throughput.
    """

    def __init__(self, tol: tuple[float, float] | None, same_dtype: bool, work: torch.dtype,
                 size: int):
        import torch

        self.tol = tol
        self.same_dtype = same_dtype
        self.work = work
        self.cplx = work.is_complex
        size = max(1, size)
        self.buf_a = torch.empty(size, dtype=work)
        self.buf_b = torch.empty(size, dtype=work)
        self.buf_d = torch.empty(size, dtype=torch.float64)
        self.buf_bits: torch.Tensor | None = None
        self.max_abs = 0.0
        self.sum_abs = 0.0
        self.sum_d2 = 0.0
        self.sum_a2 = 0.0
        self.sum_b2 = 0.0
        self.dot = 0.0
        self.n_valid = 0
        self.nan_a = 0
        self.nan_b = 0
        self.num_diff = 0
        self.close = True

    def add(self, ca: torch.Tensor, cb: torch.Tensor) -> None:
        """Fold in one pair of 1-D chunks (original dtypes, same length)."""
        import torch

        m = ca.numel()
        a, b, d = self.buf_a[:m], self.buf_b[:m], self.buf_d[:m]
        a.copy_(ca)
        b.copy_(cb)
        if self.same_dtype:
            self.num_diff += self._count_bits_diff(ca, cb)
        value_diff = 0  # differing values, for different dtypes (fast path only)
        if self.cplx:
            torch.abs(a - b, out=d)
            sums = [_dot(a, a, True), _dot(b, b, True), _dot(a, b, True),
                    float(d.max()), float(d.sum()), float(torch.dot(d, d))]
        else:
            torch.sub(a, b, out=d)
            if not self.same_dtype:
                value_diff = int(torch.count_nonzero(d))
            d.abs_()
            sums = torch.stack([torch.dot(a, a), torch.dot(b, b), torch.dot(a, b), d.max(),
                                d.sum(), torch.dot(d, d)]).tolist()
        a2, b2, ab, dmax, dsum, d2 = sums
        if not (math.isfinite(a2) and math.isfinite(b2)):
            self._add_nonfinite(a, b)
            return
        # fast path: every value in both chunks is finite
        self.max_abs = max(self.max_abs, dmax)
        self.sum_abs += dsum
        self.sum_d2 += d2
        self.sum_a2 += a2
        self.sum_b2 += b2
        self.dot += ab
        self.n_valid += m
        if not self.same_dtype:
            self.num_diff += int(torch.count_nonzero(a != b)) if self.cplx else value_diff
        if self.tol is not None and self.close:
            atol, rtol = self.tol
            self.close = bool((d <= atol + rtol * b.abs()).all())

    def _count_bits_diff(self, ca: torch.Tensor, cb: torch.Tensor) -> int:
        import torch

        ba, bb = _bits(ca), _bits(cb)
        if ba.dim() > 1:  # 16-byte complex: two int64 halves per element
            return int((ba != bb).any(-1).sum())
        m = ba.numel()
        if self.buf_bits is None or self.buf_bits.dtype != ba.dtype:
            self.buf_bits = torch.empty(self.buf_a.numel(), dtype=ba.dtype)
        x = self.buf_bits[:m]
        torch.bitwise_xor(ba, bb, out=x)
        return int(torch.count_nonzero(x))

    def _add_nonfinite(self, a: torch.Tensor, b: torch.Tensor) -> None:
        import torch

        cplx = self.cplx
        na, nb = torch.isnan(a), torch.isnan(b)
        self.nan_a += int(na.sum())
        self.nan_b += int(nb.sum())
        either = na | nb
        if not self.same_dtype:
            self.num_diff += int(((a != b) & ~(na & nb)).sum())
        if self.tol is not None and bool(either.any()):
            self.close = False  # torch.allclose: equal_nan=False
        keep = ~either
        a, b = a[keep], b[keep]
        if a.numel() == 0:
            return
        eq = a == b  # inf == inf counts as no change (inf - inf would be NaN)
        d = torch.where(eq, torch.zeros((), dtype=a.dtype), a - b)
        ad = d.abs()
        self.max_abs = max(self.max_abs, float(ad.max()))
        self.sum_abs += float(ad.sum())
        self.n_valid += a.numel()
        finite = torch.isfinite(a) & torch.isfinite(b)
        if self.tol is not None and self.close:
            atol, rtol = self.tol
            ok = eq | (finite & (ad <= atol + rtol * b.abs()))
            self.close = bool(ok.all())
        # norms and the dot product only over positions where both values are finite
        a, b, ad = a[finite], b[finite], ad[finite]
        self.sum_d2 += float(torch.dot(ad, ad))
        self.sum_a2 += _dot(a, a, cplx)
        self.sum_b2 += _dot(b, b, cplx)
        self.dot += _dot(a, b, cplx)

    def result(self) -> TensorComparison:
        if self.n_valid == 0:
            return TensorComparison(identical=False, num_diff=self.num_diff, nan_a=self.nan_a,
                                    nan_b=self.nan_b, close=self.close if self.tol else None)
        norm_a, norm_b, norm_d = (math.sqrt(x) if x >= 0 else math.nan
                                  for x in (self.sum_a2, self.sum_b2, self.sum_d2))
        if norm_a > 0:
            rel = norm_d / norm_a
        else:  # ‖a‖ = 0: 0 when b is zero too, undefined otherwise
            rel = 0.0 if norm_d == 0 else None
        if norm_a > 0 and norm_b > 0:
            cos = self.dot / (norm_a * norm_b)
            cos = max(-1.0, min(1.0, cos)) if not math.isnan(cos) else None
        elif norm_a == 0 and norm_b == 0:
            cos = 1.0  # both all zeros: the same vector
        else:
            cos = None
        return TensorComparison(
            identical=False, max_abs_diff=self.max_abs, mean_abs_diff=self.sum_abs / self.n_valid,
            rel_l2=None if rel is None or math.isnan(rel) else rel, cosine=cos,
            num_diff=self.num_diff, nan_a=self.nan_a, nan_b=self.nan_b,
            close=self.close if self.tol else None)


def _dot(a: torch.Tensor, b: torch.Tensor, cplx: bool) -> float:
    import torch

    if cplx:
        return float(torch.vdot(a, b).real)
    return float(torch.dot(a, b))


# ---------------------------------------------------------------------------------------------
# Checkpoint pairs


def iter_diff(ck_a: Checkpoint, ck_b: Checkpoint, alignment: Alignment, *,
              atol: float | None = None, rtol: float | None = None,
              cancel: Callable[[], bool] | None = None,
              chunk_elements: int = CHUNK_ELEMENTS) -> Iterator[DiffEntry]:
    """Yield one :class:`DiffEntry` per pair of ``alignment``, in its order.

    Tensor bytes are read pair by pair, chunk by chunk, through each file's memory map,
    so memory stays bounded whatever the sizes. ``cancel`` is polled between chunks; when
    it returns True, :class:`DiffCancelled` is raised. Stopping iteration also stops the work.
    """
    cache: dict[tuple, TensorComparison] = {}  # tied weights: each storage view compared once
    for pair in alignment.pairs:
        _check(cancel)
        yield _diff_pair(ck_a, ck_b, pair, atol, rtol, cancel, chunk_elements, cache)


def _view_key(info: TensorInfo) -> tuple | None:
    if info.storage is None:
        return None
    return (info.storage.ident, info.storage.file_offset, info.storage_offset, info.shape,
            info.stride, info.dtype, info.layout)


def _diff_pair(ck_a: Checkpoint, ck_b: Checkpoint, pair: TensorPair, atol, rtol, cancel,
               chunk_elements: int, cache: dict) -> DiffEntry:
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
        return _diff_raw(ck_a, ck_b, ia, ib, base, status_if_differs)
    if not dtype_changed and _small_contiguous(ia, ib):
        # Many small tensors: a bytes comparison costs ~2 µs, a torch round trip ~50.
        if _raw_bytes(ck_a, ia) == _raw_bytes(ck_b, ib):
            return DiffEntry(status=IDENTICAL, **_identical_metrics(ia, atol, rtol), **base)
    key_a, key_b = _view_key(ia), _view_key(ib)
    key = (key_a, key_b) if key_a and key_b else None
    cmp = cache.get(key) if key else None
    if cmp is None:
        ta, tb = ck_a.tensor(ia), ck_b.tensor(ib)
        try:
            cmp = compare_tensors(ta, tb, atol=atol, rtol=rtol, cancel=cancel,
                                  chunk_elements=chunk_elements)
        finally:
            del ta, tb  # release the mmap views before the next pair
        if key:
            cache[key] = cmp
    status = IDENTICAL if cmp.identical else status_if_differs
    return DiffEntry(status=status, max_abs_diff=cmp.max_abs_diff,
                     mean_abs_diff=cmp.mean_abs_diff, rel_l2=cmp.rel_l2, cosine=cmp.cosine,
                     num_diff=cmp.num_diff, nan_a=cmp.nan_a, nan_b=cmp.nan_b, close=cmp.close,
                     note=cmp.note, **base)


def _value_layout(info: TensorInfo) -> str:
    """The layout as far as values go: a sharded (DCP) tensor's values are a dense tensor."""
    return "strided" if info.layout == "sharded" else info.layout


def _dense(info: TensorInfo) -> bool:
    """Values readable as one dense tensor: a strided view of a storage, or a sharded
    tensor that ``Checkpoint.tensor`` assembles from its chunks (a copy of its size)."""
    if info.layout == "sharded":
        return bool(info.chunks)
    return info.layout == "strided" and info.storage is not None


SMALL_BYTES = 1 << 16


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
    from inspector.core.materialize import torch_dtype

    tol = atol is not None or rtol is not None
    if not _castable(torch_dtype(canonical(info.dtype))):
        return dict(num_diff=0, close=True if tol else None)
    return dict(max_abs_diff=0.0, mean_abs_diff=0.0, rel_l2=0.0,
                cosine=1.0 if info.numel else None, num_diff=0, close=True if tol else None)


def _bytes_equal(a: memoryview, b: memoryview, step: int = 1 << 20) -> bool:
    """Byte equality in slices (memoryview == compares element by element: 50× slower)."""
    if len(a) != len(b):
        return False
    return all(bytes(a[i:i + step]) == bytes(b[i:i + step]) for i in range(0, len(a), step))


def _diff_raw(ck_a: Checkpoint, ck_b: Checkpoint, ia: TensorInfo, ib: TensorInfo, base: dict,
              status_if_differs: str) -> DiffEntry:
    """Sparse, quantized, nested and data-less tensors: equal metadata and bytes, or not."""
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
    return DiffEntry(status=IDENTICAL if same else status_if_differs,
                     note=f"{ia.layout} tensor: compared byte for byte, no metrics", **base)


# ---------------------------------------------------------------------------------------------
# Scalars


@dataclass(frozen=True)
class ScalarDiff:
    """A non-tensor value (epoch, loss, lr, a string, None) that differs between A and B.

    ``status`` is ``changed``, ``added`` (only in B) or ``removed`` (only in A).
    """

    path: Path
    path_a: Path | None
    path_b: Path | None
    status: str
    value_a: Any = None
    value_b: Any = None
    type_a: str | None = None
    type_b: str | None = None


def diff_scalars(ck_a: Checkpoint, ck_b: Checkpoint, alignment: Alignment) -> list[ScalarDiff]:
    """Compare every non-tensor leaf value, aligned with the same rules as the tensors."""
    leaves_a = [(alignment.normalize_a(n.path()), n) for n in ck_a.root.walk()
                if n.kind in _SCALAR_KINDS and n.parent is not None]
    leaves_b = [(alignment.normalize_b(n.path()), n) for n in ck_b.root.walk()
                if n.kind in _SCALAR_KINDS and n.parent is not None]
    index_b, extra_b = _index(leaves_b)
    out: list[ScalarDiff] = []
    used: set[Path] = set()
    for key, na in leaves_a:
        nb = None
        try:
            if key not in used:
                nb = index_b.get(key)
        except TypeError:
            nb = None
        if nb is None:
            out.append(ScalarDiff(na.path(), na.path(), None, REMOVED, value_a=_leaf_value(na),
                                  type_a=na.type_name))
            continue
        used.add(key)
        va, vb = _leaf_value(na), _leaf_value(nb)
        if not _same_value(va, vb) or na.type_name != nb.type_name:
            out.append(ScalarDiff(nb.path(), na.path(), nb.path(), CHANGED, va, vb,
                                  na.type_name, nb.type_name))
    for key, nb in index_b.items():
        if key not in used:
            out.append(ScalarDiff(nb.path(), None, nb.path(), ADDED, value_b=_leaf_value(nb),
                                  type_b=nb.type_name))
    out.extend(ScalarDiff(nb.path(), None, nb.path(), ADDED, value_b=_leaf_value(nb),
                          type_b=nb.type_name) for nb in extra_b)
    return out


def _leaf_value(node) -> Any:
    return None if node.kind == NONE else node.value


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001 - a value whose == fails is treated as different
        return False


# ---------------------------------------------------------------------------------------------
# Reports


@dataclass(frozen=True)
class DiffSummary:
    """Counts per status and the size of the change."""

    identical: int = 0
    changed: int = 0
    added: int = 0
    removed: int = 0
    shape_changed: int = 0
    dtype_changed: int = 0
    elements_compared: int = 0  # elements of the pairs whose values were compared
    elements_changed: int = 0  # differing elements in changed and dtype_changed tensors
    tensors_close: int | None = None  # changed/dtype_changed entries within tolerance
    scalars_changed: int = 0
    largest: tuple[DiffEntry, ...] = ()  # the biggest value changes, largest first

    def counts(self) -> dict[str, int]:
        return {s: getattr(self, s) for s in STATUSES}

    @property
    def tensors(self) -> int:
        return sum(self.counts().values())


@dataclass(frozen=True)
class DiffReport:
    """The comparison of two checkpoints."""

    path_a: str
    path_b: str
    aligned_by: str | None
    entries: tuple[DiffEntry, ...]
    scalars: tuple[ScalarDiff, ...]
    summary: DiffSummary
    atol: float | None = None
    rtol: float | None = None
    format_a: str = ""
    format_b: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def tolerant(self) -> bool:
        return self.atol is not None or self.rtol is not None

    @property
    def differ(self) -> bool:
        """Whether A and B differ; with a tolerance, changed tensors that are close do not
        count as differences (identical is still bit for bit)."""
        for e in self.entries:
            if e.status == IDENTICAL:
                continue
            if self.tolerant and e.status in (CHANGED, DTYPE_CHANGED) and e.close:
                continue
            return True
        return bool(self.scalars)


def summarize(entries: Sequence[DiffEntry], scalars: Sequence[ScalarDiff] = (),
              tolerant: bool = False) -> DiffSummary:
    counts = dict.fromkeys(STATUSES, 0)
    compared = changed_el = close = 0
    for e in entries:
        counts[e.status] += 1
        if e.status in (IDENTICAL, CHANGED, DTYPE_CHANGED):
            compared += e.numel
        if e.status in (CHANGED, DTYPE_CHANGED):
            changed_el += e.num_diff or 0
            close += bool(e.close)
    valued = [e for e in entries if e.status in (CHANGED, DTYPE_CHANGED)]
    # single-value tensors (step counters, num_batches_tracked) change by whole units every
    # step; listing them first would hide the weights that moved, so they rank after
    valued.sort(key=lambda e: (e.numel <= 1, -e.change, -(e.max_abs_diff or 0.0)))
    return DiffSummary(**counts, elements_compared=compared, elements_changed=changed_el,
                       tensors_close=close if tolerant else None,
                       scalars_changed=len(scalars), largest=tuple(valued[:LARGEST]))


def make_report(ck_a: Checkpoint, ck_b: Checkpoint, alignment: Alignment,
                entries: Sequence[DiffEntry], *, atol: float | None = None,
                rtol: float | None = None) -> DiffReport:
    """Build the report from entries produced by :func:`iter_diff` (scalars computed here)."""
    scalars = tuple(diff_scalars(ck_a, ck_b, alignment))
    tolerant = atol is not None or rtol is not None
    return DiffReport(path_a=ck_a.path, path_b=ck_b.path, aligned_by=alignment.aligned_by,
                      entries=tuple(entries), scalars=scalars,
                      summary=summarize(entries, scalars, tolerant), atol=atol, rtol=rtol,
                      format_a=ck_a.format, format_b=ck_b.format)


def diff_checkpoints(path_a: str | os.PathLike, path_b: str | os.PathLike, *,
                     strip_prefixes: Sequence[str] = (), atol: float | None = None,
                     rtol: float | None = None, cancel: Callable[[], bool] | None = None,
                     chunk_elements: int = CHUNK_ELEMENTS) -> DiffReport:
    """Open two checkpoints (any supported formats) and compare them completely.

    Raises CheckpointError for a file that cannot be read, DiffCancelled when cancelled.
    """
    from inspector.core.formats import open_checkpoint

    with open_checkpoint(path_a) as ck_a, open_checkpoint(path_b) as ck_b:
        alignment = align(ck_a, ck_b, strip_prefixes)
        entries = list(iter_diff(ck_a, ck_b, alignment, atol=atol, rtol=rtol, cancel=cancel,
                                 chunk_elements=chunk_elements))
        return make_report(ck_a, ck_b, alignment, entries, atol=atol, rtol=rtol)


# ---------------------------------------------------------------------------------------------
# Export

ENTRY_FIELDS = ("status", "dtype_a", "dtype_b", "shape_a", "shape_b", "max_abs_diff",
                "mean_abs_diff", "rel_l2", "cosine", "num_diff", "nan_a", "nan_b")


def _json_path(path: Path | None) -> list | None:
    return None if path is None else path_to_json(path)


def entry_to_json(e: DiffEntry, tolerant: bool = False) -> dict:
    out: dict[str, Any] = {"path": _json_path(e.path)}
    if e.path_a is not None and e.path_a != e.path:
        out["path_a"] = _json_path(e.path_a)
    for name in ENTRY_FIELDS:
        v = getattr(e, name)
        if name.startswith("shape") and v is not None:
            v = list(v)
        out[name] = json_value(v)
    if tolerant:
        out["close"] = e.close
    if e.note:
        out["note"] = e.note
    return out


def scalar_to_json(s: ScalarDiff) -> dict:
    out: dict[str, Any] = {"path": _json_path(s.path)}
    if s.path_a is not None and s.path_a != s.path:
        out["path_a"] = _json_path(s.path_a)
    out.update(status=s.status, value_a=json_value(s.value_a), value_b=json_value(s.value_b),
               type_a=s.type_a, type_b=s.type_b)
    return out


def report_to_json(report: DiffReport) -> dict:
    """The stable ``diff --json`` document (non-finite numbers become null)."""
    return {
        "a": report.path_a,
        "b": report.path_b,
        "aligned_by": report.aligned_by,
        "summary": report.summary.counts(),
        "entries": [entry_to_json(e, report.tolerant) for e in report.entries],
        "scalars": [scalar_to_json(s) for s in report.scalars],
    }


CSV_COLUMNS = ("path", "path_a", *ENTRY_FIELDS, "close", "note")


def report_to_csv(report: DiffReport, file: str | os.PathLike | IO[str]) -> None:
    """Write one row per tensor entry. Paths and shapes are JSON lists; empty cells mean
    "not applicable"; inf/nan are written as text."""
    if isinstance(file, (str, os.PathLike)):
        with open(file, "w", newline="", encoding="utf-8") as fh:
            _write_csv(report, fh)
    else:
        _write_csv(report, file)


def _write_csv(report: DiffReport, fh: IO[str]) -> None:
    writer = csv.writer(fh)
    writer.writerow(CSV_COLUMNS)
    for e in report.entries:
        row = []
        for col in CSV_COLUMNS:
            if col in ("path", "path_a"):
                v = getattr(e, col)
                row.append("" if v is None else json.dumps(_json_path(v)))
            elif col.startswith("shape"):
                v = getattr(e, col)
                row.append("" if v is None else json.dumps(list(v)))
            else:
                v = getattr(e, col)
                row.append("" if v is None else repr(v) if isinstance(v, float) else str(v))
        writer.writerow(row)


def report_to_csv_text(report: DiffReport) -> str:
    buf = io.StringIO()
    _write_csv(report, buf)
    return buf.getvalue()
