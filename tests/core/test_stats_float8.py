"""float8 values are decoded in numpy (no torch import for statistics or diff), exactly as
torch decodes them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from inspector.core.stats.plan import _float8_values

NAMES = ["float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2", "float8_e5m2fnuz", "float8_e8m0fnu"]


@pytest.mark.parametrize("name", NAMES)
def test_float8_table_matches_torch(name):
    if not hasattr(torch, name):
        pytest.skip(f"torch has no {name}")
    bits = torch.arange(256, dtype=torch.int32).to(torch.uint8)
    want = bits.view(getattr(torch, name)).to(torch.float64).numpy()
    got = _float8_values(name)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan)
    assert np.array_equal(got[~nan], want[~nan])
    assert np.array_equal(np.signbit(got[~nan]), np.signbit(want[~nan]))  # -0.0 stays -0.0
