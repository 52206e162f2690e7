"""The per-piece functions the workers run, and the client-side split and merge, for
``stats`` and ``diff`` on a cluster.

stats: tensors are grouped (by shard file, then by bytes) and every group runs through the
very code of the local run (:func:`inspector.core.stats.iter_stats`, one thread); results
come back as ``StatsItem`` and are put back into file order — the same JSON, bit for bit.
diff: the client aligns the two files (metadata only); each group of pairs is compared by a
worker through :func:`inspector.core.diff.pairs.iter_diff` after aligning the files itself
(checked to be the same pairs), and the client builds the report from the entries in order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from inspector.core.checkpoint import Checkpoint
from inspector.core.cluster import ClusterError, run_pieces
from inspector.core.cluster.opened import fingerprint, worker_checkpoint
from inspector.core.model import CheckpointError

GROUP_BYTES = 256 << 20  # tensor bytes per piece at most (unless one tensor is bigger)
GROUP_TENSORS = 256

def group_tensors(items: Sequence[tuple[object, object]], cuts: set[int] | None = None
                  ) -> list[list]:
    """Tensor paths cut into pieces: one shard file per piece, at most ``GROUP_BYTES`` of
    tensor bytes and ``GROUP_TENSORS`` tensors each, file order kept; pieces start only at
    indexes in ``cuts`` when it is given."""
    groups: list[list] = []
    current: list = []
    size = 0
    file = None
    for j, (path, info) in enumerate(items):
        nbytes = getattr(info, "nbytes", 0) or 0
        storage = getattr(info, "storage", None)
        f = storage.file if storage is not None else None
        may_cut = cuts is None or j in cuts
        if current and may_cut and (f != file or size + nbytes > GROUP_BYTES
                                    or len(current) >= GROUP_TENSORS):
            groups.append(current)
            current, size = [], 0
        current.append(path)
        size += nbytes
        file = f
    if current:
        groups.append(current)
    return groups


# ---- stats

def stats_units(ck: Checkpoint, todo: Sequence[tuple[tuple, object]], bins: int
                ) -> list[list[int]]:
    """``todo`` (indexes) cut into units that one ``iter_stats`` call each computes exactly
    as the local run does: each batch of small tensors the local run sums together is one
    unit (their sums round a little differently than alone), every other tensor is a unit
    of its own. The local run's batching is replayed on metadata only (the batcher's
    computation stubbed out)."""
    from inspector.core.stats.batch import Batcher
    from inspector.core.stats.iterate import DEFAULT_CHUNK_BYTES
    from inspector.core.view_size import view_key

    batches: list[set] = []

    class Replay(Batcher):
        def _compute(self, plans):  # noqa: ANN001, ANN202 - the batcher's own signature
            batches.append(set())
            return ["batched"] * len(plans)

    cache: dict = {}
    batcher = Replay(ck, list(todo), bins, DEFAULT_CHUNK_BYTES, cache)
    batch_of: dict = {}  # view key -> batch number
    for j, (_, info) in enumerate(todo):
        key = view_key(info) if info is not None else None
        if key is not None and key in cache:
            continue
        before = set(cache)
        batcher.run(j)
        for k in set(cache) - before:
            batch_of[k] = len(batches) - 1
        if key is not None and key not in cache:
            cache[key] = "alone"
    units: dict[object, list[int]] = {}
    for j, (_, info) in enumerate(todo):
        key = view_key(info) if info is not None else None
        batch = batch_of.get(key) if key is not None else None
        units.setdefault(("batch", batch) if batch is not None else ("alone", key or j),
                         []).append(j)
    return sorted(units.values())


def stats_tasks(ck: Checkpoint, paths: Sequence[tuple] | None, bins: int
                ) -> tuple[list[tuple], list[tuple], list[tuple], list[tuple]]:
    """(tensors to compute, requested paths that name no tensor, one task per piece of
    whole tensors, the paths of big tensors to split: :mod:`.split`)."""
    tensors = ck.tensors()
    if paths is None:
        todo = tensors
        missing: list[tuple] = []
    else:
        wanted = {tuple(p) for p in paths}
        todo = [(p, t) for p, t in tensors if p in wanted]
        missing = sorted(wanted - {p for p, _ in todo}, key=repr)
    from inspector.core.cluster import split

    units = stats_units(ck, todo, bins)
    big = [todo[u[0]][0] for u in units
           if len(u) == 1 and (getattr(todo[u[0]][1], "nbytes", 0) or 0) > split.SPLIT_BYTES]
    big_set = set(big)
    units = [u for u in units if not (len(u) == 1 and todo[u[0]][0] in big_set)]
    # units grouped into pieces of about GROUP_BYTES, each unit a list of tensor paths
    pieces = [[[todo[j][0] for j in units[k]] for k in group]
              for group in group_units(units, todo)]
    fp = fingerprint(ck.path)
    return todo, missing, [(ck.path, fp, piece, bins) for piece in pieces], big


def cluster_stats(address: str, ck: Checkpoint, paths: Sequence[tuple] | None = None,
                  bins: int = 64, progress: Callable[[int, int], None] | None = None,
                  cancel: Callable[[], bool] | None = None) -> list:
    """What ``list(iter_stats(ck, paths=paths, bins=bins))`` returns, computed on the
    cluster: ``StatsItem`` per tensor in the same order, bit for bit the same values."""
    from inspector.core.cluster.split import iter_cluster_items

    todo, missing, tasks, big = stats_tasks(ck, paths, bins)
    items = list(iter_cluster_items(address, ck, tasks, big, bins, fingerprint(ck.path),
                                    cancel=cancel))
    if cancel is not None and cancel():
        raise ClusterError("cancelled", address)
    by_path = {tuple(item.path): item for item in items}
    if set(by_path) != {p for p, _ in todo}:
        raise ClusterError("the workers read a different checkpoint than this machine (was "
                           "the file changed, or is the path not the same file there?)",
                           address)
    items = [by_path[p] for p, _ in todo]
    if missing:  # names no tensor: reported exactly as the local run does
        from inspector.core.stats import iter_stats

        items += list(iter_stats(ck, paths=missing, bins=bins, workers=1))
    return items


def group_units(units: list[list[int]], todo: Sequence[tuple[tuple, object]]) -> list[list[int]]:
    """Unit numbers grouped into pieces: one shard file per piece, about ``GROUP_BYTES`` of
    tensor bytes and at most ``GROUP_TENSORS`` tensors each."""
    groups: list[list[int]] = []
    current: list[int] = []
    size = count = 0
    file = None
    for k, unit in enumerate(units):
        infos = [todo[j][1] for j in unit]
        nbytes = sum(getattr(i, "nbytes", 0) or 0 for i in infos)
        storage = getattr(infos[0], "storage", None)
        f = storage.file if storage is not None else None
        if current and (f != file or size + nbytes > GROUP_BYTES
                        or count + len(unit) > GROUP_TENSORS):
            groups.append(current)
            current, size, count = [], 0, 0
        current.append(k)
        size += nbytes
        count += len(unit)
        file = f
    if current:
        groups.append(current)
    return groups


# ---- diff

def diff_piece(task: tuple) -> list:
    """Worker side: entries of the pairs ``indices`` of the alignment of A and B."""
    from inspector.core.diff.align import align
    from inspector.core.diff.pairs import iter_diff

    (path_a, fp_a), (path_b, fp_b), strip, indices, expected, atol, rtol = task
    ck_a, ck_b = worker_checkpoint(path_a, fp_a), worker_checkpoint(path_b, fp_b)
    alignment = align(ck_a, ck_b, strip)
    pairs = tuple(alignment.pairs[i] for i in indices if i < len(alignment.pairs))
    if [(p.path_a, p.path_b) for p in pairs] != expected:
        raise ClusterError("the workers read different checkpoints than this machine (were "
                           "the files changed, or are the paths not the same files there?)",
                           "cluster")
    sub = dataclasses.replace(alignment, pairs=pairs)
    return list(iter_diff(ck_a, ck_b, sub, atol=atol, rtol=rtol))


def cluster_diff(address: str, path_a: str, path_b: str, *, strip_prefixes: Sequence[str] = (),
                 atol: float | None = None, rtol: float | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 cancel: Callable[[], bool] | None = None):
    """What :func:`inspector.core.diff.diff_checkpoints` returns, the tensor pairs compared
    on the cluster."""
    from inspector.core.diff.align import align
    from inspector.core.diff.report import make_report
    from inspector.core.formats import open_checkpoint

    with open_checkpoint(path_a) as ck_a, open_checkpoint(path_b) as ck_b:
        alignment = align(ck_a, ck_b, strip_prefixes)
        items = [(i, p.info_b if p.info_b is not None else p.info_a)
                 for i, p in enumerate(alignment.pairs)]
        groups = group_tensors(items)
        sides = ((ck_a.path, fingerprint(ck_a.path)), (ck_b.path, fingerprint(ck_b.path)))
        tasks = [(*sides, tuple(strip_prefixes), g,
                  [(alignment.pairs[i].path_a, alignment.pairs[i].path_b) for i in g],
                  atol, rtol) for g in groups]
        results = run_pieces(address, diff_piece, tasks, progress=progress, cancel=cancel,
                             describe=lambda t: f"{len(t[3])} pair(s) from pair {t[3][0]}")
        entries = [e for part in results for e in part]
        if len(entries) != len(alignment.pairs):
            raise ClusterError("the cluster returned a different number of comparisons",
                               address)
        return make_report(ck_a, ck_b, alignment, entries, atol=atol, rtol=rtol)


__all__ = ["CheckpointError", "cluster_diff", "cluster_stats", "diff_piece", "group_tensors",
           "fingerprint", "run_pieces", "worker_checkpoint"]
