"""The statistics' result types: plain frozen dataclasses (numpy- and torch-free)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from inspector.core.text import json_value, path_to_json


@dataclass(frozen=True)
class Histogram:
    """Counts of finite values in bins: bin ``i`` holds ``edges[i] <= v < edges[i+1]``,
    the last bin also holds ``v == edges[-1]`` (numpy's convention)."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]


@dataclass(frozen=True)
class TensorStats:
    """Summary of one tensor's values (see the module docstring for what "values" means).

    ``min``, ``max``, ``mean``, ``std`` (population), ``abs_mean``, ``l2`` and the
    histogram cover the finite values only; they are None when there are none.
    ``zeros + nonzero finite + nan + inf == numel``.
    """

    dtype: str
    shape: tuple[int, ...]
    numel: int
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    abs_mean: float | None
    l2: float | None
    zeros: int
    nan: int
    inf: int
    finite: int
    histogram: Histogram | None
    note: str = ""


@dataclass(frozen=True)
class StatsProgress:
    """Where a run of :func:`iter_stats` stands after an item: ``index`` of ``total``
    tensors are done (1-based), covering ``bytes_done`` of ``bytes_total`` tensor bytes."""

    index: int
    total: int
    bytes_done: int
    bytes_total: int


@dataclass(frozen=True)
class StatsItem:
    """One result of :func:`iter_stats`: the tensor at ``path``, its ``stats`` or the
    ``error`` (a message) that prevented them (exactly one is set), and the run's
    ``progress``. Unpacks as ``(path, stats, error)``."""

    path: tuple
    stats: TensorStats | None
    error: str | None
    progress: StatsProgress

    def __iter__(self) -> Iterator:
        return iter((self.path, self.stats, self.error))


class StatsCancelled(Exception):
    """Raised by :func:`compute_stats` when its ``cancel`` says stop."""


def stats_to_json(path: tuple | list, stats: TensorStats) -> dict:
    """The stable JSON document for one tensor's stats (NaN and missing values are null)."""
    hist = None
    if stats.histogram is not None:
        hist = {"edges": [json_value(e) for e in stats.histogram.edges],
                "counts": list(stats.histogram.counts)}
    return {
        "path": path_to_json(path),
        "dtype": stats.dtype,
        "shape": list(stats.shape),
        "numel": stats.numel,
        "min": json_value(stats.min),
        "max": json_value(stats.max),
        "mean": json_value(stats.mean),
        "std": json_value(stats.std),
        "abs_mean": json_value(stats.abs_mean),
        "l2": json_value(stats.l2),
        "zeros": stats.zeros,
        "nan": stats.nan,
        "inf": stats.inf,
        "histogram": hist,
    }
