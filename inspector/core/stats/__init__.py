"""Streaming tensor statistics and exact histograms over the memory-mapped file.

Statistics are computed from the file's bytes in bounded blocks, so a 4 GB tensor never
needs 4 GB of memory; sums are accumulated in float64.

How values are read (the *meaning* of the numbers):

- float tensors: their values; NaN and ±Inf are counted (``nan``, ``inf``) and left out of
  min/max/mean/std/abs_mean/l2 and the histogram.
- bool and integer tensors: their values (bool as 0/1).
- complex tensors: the magnitudes ``|z|`` (computed in float64).
- quantized tensors: the stored integer representation (scale and zero point not applied).
- packed sub-byte types (``float4_e2m1fn_x2``, ``quint4x2``, ``quint2x4``): every packed
  value is unpacked, so ``numel`` counts values, not bytes.
- sparse tensors: the stored (non-zero pattern) values only; ``numel`` counts them.
- sharded tensors (torch.distributed.checkpoint chunks): assembled into one tensor in
  memory (its full size, while its statistics run), then read exactly as the same tensor
  stored whole, so every statistic and the histogram are identical to that tensor's.
- meta tensors, tensor subclasses without data, unknown dtypes and views that lie outside
  their storage raise :class:`CheckpointError` (``iter_stats`` turns it into an error item).

Two designs, both exact (module ``passes``):

- 1- and 2-byte dtypes (bool, int8/uint8, float16, bfloat16, the float8s, int16/uint16, …)
  take **one pass**: the raw bit patterns are counted (at most 65 536 of them), every
  pattern is decoded once, and all statistics and the histogram follow exactly from the
  pattern counts.
- wider dtypes take **two passes**: pass 1 finds min/max, counts, sums; pass 2 computes the
  squared deviations from the exact mean (two-pass variance) and bins every value with one
  fixed, monotonic float64 formula (module ``binning``). The reported edges are the exact
  thresholds of that formula (found by bisection over doubles), so
  ``np.histogram(values, bins=edges)`` reproduces the counts exactly. Tensors that fit in one
  block use ``np.histogram``'s algorithm. Pass 2 converts each block to float64 once and
  counts *pairs* of bin indices (one ``np.bincount`` key per two values).

:func:`iter_stats` (module ``iterate``) computes runs of small one-block tensors (real values
or 1-/2-byte patterns) together (module ``batch``): their values are concatenated and every
statistic and histogram comes from segmented numpy operations (``reduceat``, one
``bincount`` over ``segment * bins + bin``). Counts, min/max and histograms are those of
:func:`compute_stats` exactly; sums agree up to rounding.

What to read for a tensor (dtype, view, packed or complex values) is its plan (module
``plan``); the result types are in ``results``.
"""

from inspector.core.stats.iterate import iter_stats
from inspector.core.stats.parallel import compute_stats
from inspector.core.stats.passes import DEFAULT_BINS, DEFAULT_CHUNK_BYTES
from inspector.core.stats.results import (
    Histogram,
    StatsCancelled,
    StatsItem,
    StatsProgress,
    TensorStats,
    stats_to_json,
)

__all__ = [
    "DEFAULT_BINS", "DEFAULT_CHUNK_BYTES", "Histogram", "StatsCancelled", "StatsItem",
    "StatsProgress", "TensorStats", "compute_stats", "iter_stats", "stats_to_json",
]
