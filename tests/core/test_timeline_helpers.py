"""Training runs with planted events, written by torch.save (shared by the timeline tests).

:func:`planted_run` trains a small CNN-ish model with Adam on random gradients for six
checkpoints (global_step 100 … 600) and plants, from the step named in :data:`PLANTED`:
``fc1`` frozen from step 300, a NaN in ``fc3.weight`` from step 400, unit 5 of ``fc2.weight``
zeroed from step 200, ``conv.weight`` ×100 from step 500, ``bn.running_var[2] = 0`` from step
300, and ``aux.weight`` a copy of ``fc1.weight`` at step 600.
"""

from __future__ import annotations

import os

STEPS = (100, 200, 300, 400, 500, 600)
PLANTED = {
    ("frozen", "fc1.weight"): 300, ("frozen", "fc1.bias"): 300,
    ("nan", "fc3.weight"): 400,
    ("dead_units", "fc2.weight"): 200,
    ("exploding", "conv.weight"): 500,
    ("bn_var_zero", "bn.running_var"): 300,
    ("duplicate", "aux.weight"): 600,
}


def _model():
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)
            self.bn = nn.BatchNorm2d(8)
            self.fc1 = nn.Linear(32, 16)
            self.fc2 = nn.Linear(16, 16)
            self.fc3 = nn.Linear(16, 4)
            self.aux = nn.Linear(32, 16)

    torch.manual_seed(0)
    return Net()


def planted_run(folder, name="epoch_{i}.pth", wrap=None) -> list[str]:
    """Write the run into ``folder``; ``wrap(sd, opt_sd, i, step, loss)`` may change the saved
    object (default: the tutorial's dict with epoch, global_step, loss)."""
    import torch

    os.makedirs(folder, exist_ok=True)
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    gen = torch.Generator().manual_seed(1)
    frozen = None
    paths = []
    for i, step in enumerate(STEPS):
        if i:
            for p in model.parameters():
                p.grad = torch.randn(p.shape, generator=gen)
            for g in opt.param_groups:
                g["lr"] = 0.01 * 0.9 ** i
            opt.step()
        with torch.no_grad():
            if step == 300:
                frozen = {k: v.clone() for k, v in model.fc1.state_dict().items()}
            if frozen is not None:
                model.fc1.load_state_dict(frozen)
            if step >= 200:
                model.fc2.weight[5] = 0
            if step >= 300:
                model.bn.running_var[2] = 0
            if step >= 400:
                model.fc3.weight[1, 2] = float("nan")
            if step == 500:
                model.conv.weight.mul_(100)
            if step == 600:
                model.aux.weight.copy_(model.fc1.weight)
        sd = {k: v.clone() for k, v in model.state_dict().items()}
        loss = 2.0 / (i + 1)
        obj = {"epoch": i + 1, "global_step": step, "model_state_dict": sd,
               "optimizer_state_dict": opt.state_dict(), "loss": loss}
        if wrap is not None:
            obj = wrap(sd, opt.state_dict(), i, step, loss)
        path = os.path.join(os.fspath(folder), name.format(i=i + 1, step=step))
        if obj is not None:
            torch.save(obj, path)
        paths.append(path)
    return paths


def finding_keys(findings) -> dict:
    """(kind, name) -> step of timeline JSON findings."""
    return {(f["kind"], f["name"]): f["step"] for f in findings}
