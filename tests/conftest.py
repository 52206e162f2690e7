"""Shared fixtures: small real checkpoints written by torch.save into tmp_path."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# CI explores the same examples every run (a red CI must mean a regression, not bad luck);
# locally Hypothesis keeps searching with fresh random examples.
settings.register_profile("ci", derandomize=True, deadline=None, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


@pytest.fixture(scope="session", autouse=True)
def _user_cache_in_tmp(tmp_path_factory):
    """The user cache (the model index of issue 12) lives in a temporary folder for the whole
    session: tests never write to ~/.cache, and the index is built at most once."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old


@pytest.fixture
def torch_mod():
    import torch

    return torch


@pytest.fixture
def training_ckpt(tmp_path):
    """The tutorial's training checkpoint: a small CNN with BatchNorm and Dropout, one Adam step."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
        nn.Dropout(0.5), nn.Linear(8 * 4 * 4, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = model(torch.randn(2, 3, 4, 4)).sum()
    loss.backward()
    opt.step()
    path = tmp_path / "training.pth"
    torch.save({"epoch": 5, "model_state_dict": model.state_dict(),
                "optimizer_state_dict": opt.state_dict(), "loss": float(loss.detach())}, path)
    return path


@pytest.fixture
def state_dict_ckpt(tmp_path):
    """A bare state_dict of a small MLP."""
    import torch
    from torch import nn

    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    path = tmp_path / "mlp.pth"
    torch.save(model.state_dict(), path)
    return path


@pytest.fixture
def marker(tmp_path):
    """A path that a malicious payload would create; tests assert it never exists."""
    return tmp_path / "PWNED"
