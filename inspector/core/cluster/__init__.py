"""Heavy work on a Dask cluster: ``--scheduler ADDRESS`` for stats, diff, timeline and
convert --verify.

Dask schedules; we provide the per-piece functions and the merge. :func:`run_pieces` is the
one entry point: it submits ``func(piece)`` for every piece to the scheduler, lets Dask
retry pieces whose worker died, and returns the results in piece order — or raises
:class:`ClusterError` naming the piece that failed. A result is never silently missing.
Each piece opens its checkpoint itself (a path on a shared filesystem, or a URL), so only
paths and small results travel. ``distributed`` is imported on first use only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from inspector.core.model import CheckpointError

DEFAULT_RETRIES = 2
CONNECT_TIMEOUT_S = 10

__all__ = ["ClusterError", "iter_pieces", "run_pieces"]


class ClusterError(CheckpointError):
    """The cluster could not be reached, or a piece failed on it (the message names the
    scheduler, the piece and why); front ends print it like any unreadable file."""

    def __init__(self, problem: str, address: str = "cluster"):
        super().__init__(address, problem)


def run_pieces(address: str, func: Callable[[Any], Any], pieces: Sequence[Any], *,
               progress: Callable[[int, int], None] | None = None,
               retries: int = DEFAULT_RETRIES, cancel: Callable[[], bool] | None = None,
               describe: Callable[[Any], str] = repr) -> list[Any]:
    """``[func(p) for p in pieces]`` computed on the Dask cluster at ``address``.

    ``func`` must be importable on the workers (a module-level function). A worker lost
    mid-run makes Dask run its pieces again elsewhere (``retries`` more times for pieces
    that raise); a piece that still fails raises :class:`ClusterError` with
    ``describe(piece)`` and the worker's message; a :class:`CheckpointError` raised by a
    piece is re-raised as it is. ``progress(done, total)`` is called as pieces finish;
    ``cancel()`` returning True cancels the rest and raises :class:`ClusterError`.
    """
    pieces = list(pieces)
    results: list[Any] = [None] * len(pieces)
    done = 0
    for i, result in iter_pieces(address, func, pieces, retries=retries, cancel=cancel,
                                 describe=describe):
        results[i] = result
        done += 1
        if progress is not None:
            progress(done, len(pieces))
    if done != len(pieces):
        raise ClusterError("cancelled", address)
    return results


def iter_pieces(address: str, func: Callable[[Any], Any], pieces: Sequence[Any], *,
                retries: int = DEFAULT_RETRIES, cancel: Callable[[], bool] | None = None,
                describe: Callable[[Any], str] = repr) -> Iterator[tuple[int, Any]]:
    """``(index, func(pieces[index]))`` as pieces finish on the cluster (any order; every
    piece exactly once, or :class:`ClusterError` — see :func:`run_pieces`); stops early,
    dropping the rest, when ``cancel()`` returns True."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise ClusterError("running on a cluster needs the dask[distributed] package (pip "
                           "install 'checkpoint-inspector[cluster]')", address) from None
    pieces = list(pieces)
    if not pieces:
        return
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as e:
        raise ClusterError(f"cannot reach the Dask scheduler ({e})", address) from None
    try:
        with client.as_current():
            # pure=False: the same piece submitted twice (two runs) is computed again
            futures = [client.submit(func, p, retries=retries, pure=False) for p in pieces]
            index = {f.key: i for i, f in enumerate(futures)}
            try:
                for future in as_completed(futures):
                    i = index[future.key]
                    if cancel is not None and cancel():
                        return  # the rest is dropped below
                    if future.status != "finished":
                        error = _piece_error(future)
                        if isinstance(error, CheckpointError):
                            raise error
                        raise ClusterError(f"piece {describe(pieces[i])} failed on the cluster "
                                           f"({type(error).__name__}: {str(error)[:300]})",
                                           address)
                    yield i, future.result()
            finally:  # an error, a cancel or a consumer that stops early: drop the rest
                client.cancel([f for f in futures if not f.done()])
    finally:
        client.close()


def _piece_error(future) -> BaseException:
    try:
        error = future.exception()
    except Exception as e:  # noqa: BLE001 - a cancelled or lost future
        return e
    return error if error is not None else ClusterError(f"the piece ended as {future.status}")
