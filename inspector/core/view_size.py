"""Views of stored bytes: which tensors show the same values, and how many values reading a
view costs, bounded by what the file stores.

:func:`view_key` says when two tensors are the same view of the same bytes (tied weights,
repeated entries), so statistics, the diff and the summary handle each once.

A view's virtual size (its shape's product) can be astronomically larger than its storage:
a stride-0 dimension repeats the same values (``expand``), overlapping strides read the same
elements many times. Statistics and the diff read values, so they work on the view without
its broadcast dimensions (:func:`distinct_view`; each value then stands for ``repeat`` of the
full view's) and refuse a view that would still cost far more than its storage
(:func:`over_work_cap`, message :func:`work_cap_problem`). Their time stays proportional to
the file's size, not to what its metadata claims.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from inspector.core.model import TensorInfo
from inspector.core.text import format_count

WORK_CAP_RATIO = 64  # values read per tensor: at most this many times its stored elements...
WORK_CAP_FLOOR = 1 << 28  # ...when it reads more than this many values


def view_key(info: TensorInfo) -> tuple | None:
    """Equal for two tensors that read the same stored bytes through the same view (offset,
    shape, stride) as the same dtype and layout; None for a tensor without a storage."""
    st = info.storage
    if st is None:
        return None
    return (st.file, st.key, st.file_offset, info.storage_offset, tuple(info.shape),
            tuple(info.stride), info.dtype, info.layout)


@dataclass(frozen=True)
class DistinctView:
    """A view without its broadcast (stride-0) dimensions: every value of the full view is a
    value of this one, and each of this one's values occurs ``repeat`` times in the full view."""

    shape: tuple[int, ...]
    stride: tuple[int, ...]
    repeat: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def broadcast_dims(shape: Sequence[int], stride: Sequence[int]) -> tuple[int, ...]:
    """The dimensions that repeat their values: stride 0 and size above 1."""
    return tuple(d for d, (n, s) in enumerate(zip(shape, stride)) if s == 0 and n > 1)


def distinct_view(shape: Sequence[int], stride: Sequence[int]) -> DistinctView:
    """``shape``/``stride`` without the :func:`broadcast_dims` (an empty view as it is)."""
    shape, stride = tuple(shape), tuple(stride)
    if 0 not in stride:  # the usual case, checked first: one call per tensor
        return DistinctView(shape, stride, 1)
    dims = broadcast_dims(shape, stride)
    if not dims or math.prod(shape) == 0:
        return DistinctView(shape, stride, 1)
    keep = [d for d in range(len(shape)) if d not in dims]
    return DistinctView(tuple(shape[d] for d in keep), tuple(stride[d] for d in keep),
                        math.prod(shape[d] for d in dims))


def over_work_cap(values: int, stored: int) -> bool:
    """Whether reading ``values`` values of a view over ``stored`` stored elements is refused."""
    return values > WORK_CAP_FLOOR and values > WORK_CAP_RATIO * max(stored, 0)


def work_cap_problem(values: int, stored: int) -> str:
    """Why a view's values are not read: its size against the cap, in one sentence."""
    return (f"not computed: the view reads {format_count(values)} values from "
            f"{format_count(max(stored, 0))} stored elements (cap: {WORK_CAP_RATIO}× the stored "
            f"elements, above {format_count(WORK_CAP_FLOOR)} values)")
