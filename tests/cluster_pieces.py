"""Piece functions for the Dask cluster tests (issue 16), in a module the workers import
cheaply (no torch): the test module itself imports torch, which a worker would pay for."""

from __future__ import annotations

import time


def slow_square(x: int) -> int:
    """A piece that takes a moment, so a worker can be killed while it runs."""
    time.sleep(0.3)
    return x * x


def failing_piece(x: int) -> int:
    if x == 3:
        raise ValueError("piece three is broken")
    return x
