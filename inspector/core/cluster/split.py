"""Big tensors split across the cluster with the statistics engine's exact pieces.

A tensor over ``SPLIT_BYTES`` is not one piece of work but many: a worker cuts it into the
engine's block ranges (:func:`inspector.core.stats.pieces.tensor_pieces`), workers scan the
ranges (phase 1), the client merges the scans (exact), workers bin the ranges (phase 2), the
client merges the bins (block sums kept in block order), and a worker finishes — bit for bit
what the local run computes. Every step that touches tensor bytes runs on a worker (the
client may be far from the data); the client only merges small results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from inspector.core.checkpoint import Checkpoint
from inspector.core.cluster import iter_pieces
from inspector.core.cluster.opened import worker_checkpoint

SPLIT_BYTES = 512 << 20  # tensors bigger than this are cut into pieces
PIECE_BYTES = 64 << 20  # block ranges of about this many bytes per task


def stats_piece(task: tuple) -> list:
    """Worker side: statistics of the tensors of checkpoint ``path``, one ``iter_stats``
    call per unit (see :func:`stats_units`)."""
    from inspector.core.stats import iter_stats

    path, fp, units, bins = task
    ck = worker_checkpoint(path, fp)
    return [item for unit in units
            for item in iter_stats(ck, paths=unit, bins=bins, workers=1)]


def split_task(task: tuple):
    """Worker side of every step: ("plan" | "scan" | "bin" | "finish", ...)."""
    from inspector.core.stats import pieces as P

    kind, path, fp, tpath = task[:4]
    if kind == "units":
        return "items", stats_piece(task[1:])
    ck = worker_checkpoint(path, fp)
    node = ck.find(tpath)
    info = node.tensor if node is not None else None
    if kind == "plan":
        bins, piece_bytes = task[4:]
        try:
            lay = P.layout(ck, info)
            pieces = P.tensor_pieces(ck, info, lay=lay, piece_bytes=piece_bytes)
        except Exception:  # noqa: BLE001 - whatever the local run reports, reported alike
            pieces = []
        if len(pieces) < 2:  # nothing to split (or an error): the local run's own path
            return "items", stats_piece((path, fp, [[tpath]], bins))
        return "pieces", (tpath, pieces)
    if kind == "scan":
        return "scans", (tpath, [P.scan_piece(ck, info, p) for p in task[4]])
    if kind == "bin":
        pieces, scan, bins = task[4:]
        return "bins", (tpath, [P.bin_piece(ck, info, p, scan, bins=bins) for p in pieces])
    scan, part, bins = task[4:]
    return "stats", (tpath, P.finish_stats(ck, info, scan, part, bins=bins))


def _chunks(pieces: Sequence, per: int) -> list[list]:
    return [list(pieces[i:i + per]) for i in range(0, len(pieces), per)]


def iter_cluster_items(address: str, ck: Checkpoint, unit_tasks: list[tuple],
                       big: list[tuple], bins: int, fp: tuple,
                       cancel: Callable[[], bool] | None = None) -> Iterator:
    """``StatsItem`` per tensor (any order): ``unit_tasks`` as they are, each tensor path in
    ``big`` split into pieces. Stops early (fewer items) when ``cancel()`` says so."""
    from inspector.core.stats import pieces as P
    from inspector.core.stats.results import StatsItem, StatsProgress

    stopped = cancel or (lambda: False)
    nothing = StatsProgress(0, 0, 0, 0)
    first = [("units", *t) for t in unit_tasks]
    first += [("plan", ck.path, fp, p, bins, PIECE_BYTES) for p in big]
    pending: dict[tuple, list] = {}
    for _, (kind, value) in iter_pieces(address, split_task, first, cancel=cancel,
                                        describe=_describe):
        if kind == "items":
            yield from value
        else:
            pending[value[0]] = value[1]
    if not pending or stopped():
        return
    per = 4  # block ranges per task: several per worker, each a few hundred MiB
    scans: dict[tuple, list] = {t: [] for t in pending}
    tasks = [("scan", ck.path, fp, t, chunk) for t, ps in pending.items() for chunk in
             _chunks(ps, per)]
    for _, (_, (t, part)) in iter_pieces(address, split_task, tasks, cancel=cancel,
                                         describe=_describe):
        scans[t] += part
    if stopped():
        return
    merged = {t: P.merge_scans(s) for t, s in scans.items()}
    binned: dict[tuple, list] = {t: [] for t in pending if P.needs_binning(merged[t], bins)}
    tasks = [("bin", ck.path, fp, t, chunk, merged[t], bins) for t in binned
             for chunk in _chunks(pending[t], per)]
    for _, (_, (t, part)) in iter_pieces(address, split_task, tasks, cancel=cancel,
                                         describe=_describe):
        binned[t] += part
    if stopped():
        return
    tasks = [("finish", ck.path, fp, t, merged[t],
              P.merge_bins(binned[t]) if t in binned else None, bins) for t in pending]
    for _, (_, (t, stats)) in iter_pieces(address, split_task, tasks, cancel=cancel,
                                          describe=_describe):
        yield StatsItem(t, stats, None, nothing)


def _describe(task: tuple) -> str:
    if task[0] == "units":
        return f"{sum(map(len, task[3]))} tensor(s) from {task[3][0][0]!r}"
    return f"{task[0]} of tensor {task[3]!r}"
