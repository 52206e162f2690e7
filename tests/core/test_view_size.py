"""inspector.core.view_size: broadcast dimensions and the cap on values read per view."""

from __future__ import annotations

from inspector.core.view_size import (
    WORK_CAP_FLOOR,
    broadcast_dims,
    distinct_view,
    over_work_cap,
    work_cap_problem,
)


def test_distinct_view_drops_broadcast_dimensions_only():
    assert broadcast_dims((4, 1, 3), (0, 0, 1)) == (0,)  # a size-1 dim repeats nothing
    v = distinct_view((4, 1, 3, 5), (0, 0, 1, 0))
    assert (v.shape, v.stride, v.repeat, v.numel) == ((1, 3), (0, 1), 20, 3)
    plain = distinct_view((2, 3), (3, 1))
    assert (plain.shape, plain.stride, plain.repeat) == ((2, 3), (3, 1), 1)
    empty = distinct_view((0, 5), (1, 0))
    assert (empty.shape, empty.repeat, empty.numel) == ((0, 5), 1, 0)


def test_work_cap():
    assert not over_work_cap(WORK_CAP_FLOOR, 1)  # small views are always read
    assert not over_work_cap(WORK_CAP_FLOOR * 2, WORK_CAP_FLOOR)  # within 64x the storage
    assert over_work_cap(WORK_CAP_FLOOR + 1, 1)
    assert over_work_cap(WORK_CAP_FLOOR * 128, WORK_CAP_FLOOR)
    assert work_cap_problem(2**30, 2**16) == (
        "not computed: the view reads 1.07B values from 65.54K stored elements "
        "(cap: 64× the stored elements, above 268.44M values)")
