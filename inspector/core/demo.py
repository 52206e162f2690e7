"""Make the demo checkpoints: train the tutorial's CNN briefly on synthetic data.

Each epoch is saved the recommended way, ``{'epoch', 'model_state_dict',
'optimizer_state_dict', 'loss'}``, to ``OUTDIR/demo_epoch_N.pth``, so there is something to
open, compare (epoch 1 vs. the last) and run in train vs. eval mode. Deterministic for a
given seed; takes seconds on a CPU.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from dataclasses import dataclass

import torch
from torch import nn

from inspector.core.inference.architectures import DemoCNN

DEMO_KWARGS = {"in_channels": 3, "num_classes": 10, "width": 8, "image_size": 32,
               "dropout": 0.5}


@dataclass(frozen=True)
class DemoEpoch:
    """One saved epoch: where, and the training loss it ended with."""

    epoch: int
    path: str
    loss: float


def _synthetic_data(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Images whose class is encoded by a per-class colour pattern plus noise: learnable."""
    labels = torch.randint(0, 10, (n,), generator=gen)
    patterns = torch.randn(10, 3, 4, 4, generator=gen)
    base = nn.functional.interpolate(patterns[labels], size=(32, 32), mode="nearest")
    images = base + 0.8 * torch.randn(n, 3, 32, 32, generator=gen)
    return images, labels


def iter_make_demo(outdir: str | os.PathLike, epochs: int = 3, seed: int = 0,
                   samples: int = 256, batch_size: int = 32,
                   ) -> Generator[DemoEpoch, None, list[DemoEpoch]]:
    """Train :class:`DemoCNN` for ``epochs`` epochs, yield each saved :class:`DemoEpoch`.

    Global torch state (RNG, grad mode) is left as it was.
    """
    outdir = os.fspath(outdir)
    os.makedirs(outdir, exist_ok=True)
    gen = torch.Generator().manual_seed(seed)
    saved: list[DemoEpoch] = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # initial weights and dropout masks
        model = DemoCNN(**DEMO_KWARGS)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        images, labels = _synthetic_data(samples, gen)
        loss_fn = nn.CrossEntropyLoss()
        with torch.enable_grad():
            for epoch in range(1, epochs + 1):
                model.train()
                order = torch.randperm(samples, generator=gen)
                total = 0.0
                for start in range(0, samples, batch_size):
                    idx = order[start:start + batch_size]
                    optimizer.zero_grad()
                    loss = loss_fn(model(images[idx]), labels[idx])
                    loss.backward()
                    optimizer.step()
                    total += loss.item() * len(idx)
                mean_loss = total / samples
                path = os.path.join(outdir, f"demo_epoch_{epoch}.pth")
                torch.save({"epoch": epoch, "model_state_dict": model.state_dict(),
                            "optimizer_state_dict": optimizer.state_dict(),
                            "loss": mean_loss}, path)
                item = DemoEpoch(epoch, path, mean_loss)
                saved.append(item)
                yield item
    return saved


def make_demo(outdir: str | os.PathLike, epochs: int = 3, seed: int = 0,
              samples: int = 256) -> list[DemoEpoch]:
    """Blocking form of :func:`iter_make_demo`; returns every saved epoch."""
    return list(iter_make_demo(outdir, epochs=epochs, seed=seed, samples=samples))
