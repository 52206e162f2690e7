"""Whether the stored chunks of a sharded tensor overlap (DCP), in time proportional to them.

A row- or column-wise split, or a grid, is checked by marking the cells of the grid that all
chunk boundaries cut the tensor into (one array write per chunk); a layout too irregular for
a grid of ``MAX_CELLS`` cells falls back to a sorted sweep with a budget of comparisons.
"""

from __future__ import annotations

import math

Box = tuple[tuple[int, ...], tuple[int, ...]]  # (offsets, sizes)

MAX_CELLS = 1 << 24
MAX_COMPARISONS = 10_000_000


class TooIrregular(ValueError):
    """The chunk layout cannot be checked within the limits."""


def first_overlap(boxes: list[Box]) -> tuple[Box, Box] | None:
    """Two chunks sharing an element, or None. Raises :class:`TooIrregular` when the layout
    is neither a grid of at most ``MAX_CELLS`` cells nor checkable within ``MAX_COMPARISONS``."""
    boxes = [b for b in boxes if all(b[1])]  # an empty chunk holds no element
    if len(boxes) < 2:
        return None
    ndim = len(boxes[0][0])
    bounds = [sorted({o[d] for o, _ in boxes} | {o[d] + s[d] for o, s in boxes})
              for d in range(ndim)]
    if math.prod(len(b) - 1 for b in bounds) <= MAX_CELLS:
        return _grid_overlap(boxes, bounds)
    return _sweep_overlap(boxes)


def _grid_overlap(boxes: list[Box], bounds: list[list[int]]) -> tuple[Box, Box] | None:
    import numpy as np

    index = [{v: i for i, v in enumerate(b)} for b in bounds]
    owner = np.full([len(b) - 1 for b in bounds], -1, dtype=np.int32)
    for k, (offsets, sizes) in enumerate(boxes):
        cells = tuple(slice(index[d][o], index[d][o + s])
                      for d, (o, s) in enumerate(zip(offsets, sizes)))
        taken = int(owner[cells].max())
        if taken >= 0:
            return boxes[taken], (offsets, sizes)
        owner[cells] = k
    return None


def _sweep_overlap(boxes: list[Box]) -> tuple[Box, Box] | None:
    """Sorted by their start in dimension 0, a chunk can only meet the chunks after it that
    start before it ends there."""
    boxes = sorted(boxes)
    budget = MAX_COMPARISONS
    for i, (oa, sa) in enumerate(boxes):
        for ob, sb in boxes[i + 1:]:
            if ob[0] >= oa[0] + sa[0]:
                break
            budget -= 1
            if budget < 0:
                raise TooIrregular(f"the chunk layout takes more than {MAX_COMPARISONS} "
                                   "comparisons to check")
            if all(b < a + m and a < b + n for a, m, b, n in zip(oa, sa, ob, sb)):
                return (oa, sa), (ob, sb)
    return None
