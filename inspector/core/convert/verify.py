"""The verify step of a conversion: re-open what was written and compare every tensor with
its source, bit for bit (or value for value after a dtype cast: the source's values cast
the same way must give exactly the written bits).

Plain functions over paths and plain data, so the step can run anywhere: in the converting
process, a worker process, or spread over a cluster, one piece of (file, tensors) each, with
:func:`merge_results` putting the pieces together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from inspector.core.checkpoint import Checkpoint
from inspector.core.convert.reading import BlockReader, NotConvertible, cast_block
from inspector.core.dtypes import canonical
from inspector.core.model import CheckpointError

Cancel = Callable[[], bool] | None
PIECE_BYTES = 256 << 20  # bytes of tensor data per piece of work on a cluster


@dataclass(frozen=True)
class VerifyItem:
    """One tensor to check: its ``name`` in the output, its key path in the source, and the
    dtype it was written in."""

    name: str
    source: tuple
    dtype: str


@dataclass(frozen=True)
class VerifyResult:
    """The outcome for one tensor: ``problem`` is None when it matches."""

    name: str
    problem: str | None
    nbytes: int
    cast: bool


@dataclass(frozen=True)
class VerifyReport:
    """Every tensor's outcome, with the names the output holds that it should not."""

    checked: int
    cast: int
    mismatches: tuple[tuple[str, str], ...]
    unexpected: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.mismatches and not self.unexpected

    def to_json(self) -> dict:
        return {"ok": self.ok, "checked": self.checked, "cast": self.cast,
                "mismatches": [{"name": n, "problem": p} for n, p in self.mismatches],
                "unexpected": list(self.unexpected)}


def iter_verify(source: Checkpoint, out_path: str, items: Sequence[VerifyItem],
                cancel: Cancel = None, block_bytes: int | None = None,
                expected: Iterable[str] | None = None) -> Iterator[int | VerifyResult]:
    """Open ``out_path`` and compare each item with ``source``. Yields the number of bytes
    compared as it goes (ints, for progress) and a :class:`VerifyResult` per item; a last
    result named ``""`` lists output tensors that are not expected (``expected``: every
    name the output should hold; default: the items' names)."""
    from inspector.core.formats import open_checkpoint

    kwargs = {} if block_bytes is None else {"block_bytes": block_bytes}
    with open_checkpoint(out_path) as out, BlockReader(source, **kwargs) as src_reader, \
            BlockReader(out, **kwargs) as out_reader:
        written = {}
        for path, info in out.tensors():
            written.setdefault(".".join(str(k) for k in path) if len(path) != 1 else path[0],
                               info)
        unexpected = None if expected is None else set(written) - set(expected)
        for item in items:
            if cancel is not None and cancel():
                return
            node = source.find(item.source)
            got = written.pop(item.name, None)
            if node is None or node.tensor is None:
                yield VerifyResult(item.name, "the source tensor is gone", 0, False)
                continue
            if got is None:
                yield VerifyResult(item.name, "missing from the output", 0, False)
                continue
            src = node.tensor
            cast = canonical(src.dtype) != canonical(item.dtype)
            problem = None
            if tuple(got.shape) != tuple(src.shape):
                problem = f"shape {list(got.shape)} instead of {list(src.shape)}"
            elif canonical(got.dtype) != canonical(item.dtype):
                problem = f"dtype {got.dtype} instead of {item.dtype}"
            else:
                expected = src_reader.blocks(src)
                if cast:
                    expected = (cast_block(b, src.dtype, item.dtype) for b in expected)
                try:
                    yield from _compare(expected, out_reader.blocks(got), cancel)
                except _Mismatch as e:
                    problem = str(e)
                except NotConvertible as e:
                    problem = f"cannot be read back ({e})"
            yield VerifyResult(item.name, problem, src.nbytes, cast)
        if unexpected is None:
            unexpected = set(written)
        yield VerifyResult("", ", ".join(sorted(map(str, unexpected))) or None, 0, False)


def verify_outputs(source_path: str, outputs: Iterable[tuple[str, Sequence[VerifyItem]]],
                   cancel: Cancel = None) -> VerifyReport:
    """The whole verify step without progress: each output file against its items."""
    from inspector.core.formats import open_checkpoint

    results: list[VerifyResult] = []
    with open_checkpoint(source_path) as source:
        for out_path, items in outputs:
            results += [r for r in iter_verify(source, out_path, items, cancel)
                        if isinstance(r, VerifyResult)]
    return merge_results(results)


@dataclass(frozen=True)
class VerifyPiece:
    """A piece of the verify step that can run anywhere both files can be read: the
    ``items`` of ``output`` compared with ``source`` (paths)."""

    source: str
    output: str
    items: tuple[VerifyItem, ...]
    nbytes: int  # bytes compared, for progress
    expected: tuple[str, ...] | None  # the last piece of a file: every name it should hold


def split_pieces(source: str, output: str, items: Sequence[VerifyItem], sizes: Sequence[int],
                 piece_bytes: int = PIECE_BYTES) -> list[VerifyPiece]:
    """``items`` (with their byte ``sizes``) cut into pieces of about ``piece_bytes``."""
    pieces: list[VerifyPiece] = []
    group: list[VerifyItem] = []
    size = 0
    for item, n in zip(items, sizes):
        if group and size + n > piece_bytes:
            pieces.append(VerifyPiece(source, output, tuple(group), size, None))
            group, size = [], 0
        group.append(item)
        size += n
    names = tuple(i.name for i in items)
    pieces.append(VerifyPiece(source, output, tuple(group), size, names))
    return pieces


def verify_piece(piece: VerifyPiece) -> list[VerifyResult]:
    """Run one piece (a module-level function: a cluster worker imports it)."""
    from inspector.core.formats import open_checkpoint

    with open_checkpoint(piece.source) as source:
        results = [r for r in iter_verify(source, piece.output, piece.items,
                                          expected=piece.expected)
                   if isinstance(r, VerifyResult)]
    if piece.expected is None:
        results = [r for r in results if r.name != ""]  # the file's last piece reports those
    return results


def merge_results(results: Iterable[VerifyResult]) -> VerifyReport:
    """One report from the results of any number of pieces (in any order)."""
    checked = cast = 0
    mismatches: list[tuple[str, str]] = []
    unexpected: list[str] = []
    for r in results:
        if r.name == "":
            if r.problem:
                unexpected.extend(r.problem.split(", "))
            continue
        checked += 1
        cast += r.cast
        if r.problem is not None:
            mismatches.append((r.name, r.problem))
    return VerifyReport(checked, cast, tuple(mismatches), tuple(unexpected))


class _Mismatch(Exception):
    pass


def _compare(a: Iterator[np.ndarray], b: Iterator[np.ndarray], cancel: Cancel) -> Iterator[int]:
    """Compare two streams of blocks as bytes (their block boundaries may differ); yields
    the number of bytes found equal so far, block by block."""
    ia, ib = _byte_blocks(a), _byte_blocks(b)
    ca = cb = np.empty(0, np.uint8)
    pos = 0
    while True:
        if not len(ca):
            ca = next(ia, None)
        if not len(cb):
            cb = next(ib, None)
        if ca is None or cb is None:
            if ca is None and cb is None:
                return
            raise _Mismatch("the output holds " + ("more" if ca is None else "fewer")
                            + " bytes than the source")
        n = min(len(ca), len(cb))
        if not np.array_equal(ca[:n], cb[:n]):
            first = int(np.flatnonzero(ca[:n] != cb[:n])[0])
            raise _Mismatch(f"values differ (first at byte {pos + first})")
        pos += n
        ca, cb = ca[n:], cb[n:]
        yield n
        if cancel is not None and cancel():
            raise _Mismatch("verification was cancelled")


def _byte_blocks(blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    for block in blocks:
        if block.size:
            yield np.ascontiguousarray(block).reshape(-1).view(np.uint8)


__all__ = ["CheckpointError", "VerifyItem", "VerifyPiece", "VerifyReport", "VerifyResult",
           "iter_verify", "merge_results", "split_pieces", "verify_outputs", "verify_piece"]
