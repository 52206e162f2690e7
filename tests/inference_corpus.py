"""Checkpoints whose metadata claims far more memory than the file holds, for ``run``.

Each is a few kilobytes on disk and describes a plain MLP whose first layer, taken at its word,
needs gigabytes to a pebibyte: stride-0 views of one stored element, or meta tensors with no
storage at all. A run must refuse them before allocating anything.
"""

from __future__ import annotations

from pathlib import Path

HUGE = (2**24, 2**24)  # first weight of 2**48 elements: 1 PiB as float32
OVER_CAP = (2**16, 2**15)  # 2**31 elements: 8 GiB, twice the cap, small enough to allocate


def write_stride0_mlp(path: Path, shape: tuple[int, int] = HUGE) -> Path:
    """A plain-MLP state_dict whose weights are stride-0 views of one stored element."""
    import torch

    hidden, inputs = shape
    one = torch.zeros(1)
    torch.save({"0.weight": one.expand(hidden, inputs), "0.bias": one.expand(hidden),
                "2.weight": one.expand(2, hidden), "2.bias": torch.zeros(2)}, path)
    return path


def write_meta_mlp(path: Path, shape: tuple[int, int] = HUGE) -> Path:
    """The same as meta tensors: no storage in the file at all."""
    import torch

    hidden, inputs = shape
    meta = {"device": "meta"}
    torch.save({"0.weight": torch.empty(hidden, inputs, **meta),
                "0.bias": torch.empty(hidden, **meta),
                "2.weight": torch.empty(2, hidden, **meta), "2.bias": torch.empty(2, **meta)},
               path)
    return path


def write_stride0_whole_model(path: Path, shape: tuple[int, int] = HUGE) -> Path:
    """A whole-model pickle (``torch.save(model)``) whose Linear weight is a stride-0 view:
    loading it under trust makes no copy, running it would."""
    import torch
    from torch import nn

    hidden, inputs = shape
    model = nn.Linear(1, 1)
    model.weight = nn.Parameter(torch.zeros(1).expand(hidden, inputs), requires_grad=False)
    model.bias = nn.Parameter(torch.zeros(1).expand(hidden), requires_grad=False)
    torch.save(model, path)
    return path
