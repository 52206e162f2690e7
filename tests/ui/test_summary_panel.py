"""SummaryPanel shows what summarize() found, with danger hints in a red banner."""

from __future__ import annotations

import pytest

from inspector.core.formats import open_checkpoint
from inspector.core.summary import summarize
from inspector.ui.summary_panel import SummaryPanel


@pytest.fixture
def panel(qtbot):
    p = SummaryPanel()
    qtbot.addWidget(p)
    p.resize(700, 400)
    return p


def test_training_checkpoint(panel, training_ckpt):
    with open_checkpoint(training_ckpt) as ck:
        panel.show_checkpoint(ck, summarize(ck))
    assert panel.file_label.text() == "training.pth"
    assert panel.format_badge.text() == "torch-zip"
    scalars = panel.scalar_row.text()
    assert "epoch <b>5</b>" in scalars and "loss" in scalars
    assert panel.optimizer_label.text().startswith("Adam · lr 0.001 · betas (0.9, 0.999)")
    assert "1530</b> parameters" in panel.counts_label.text()
    assert "float32 ×26" in panel.dtype_row.text()
    assert not panel.banner.isVisibleTo(panel)
    assert any("BatchNorm" in lab.text() for lab in panel.hint_labels)
    assert not panel.hparams_button.isVisibleTo(panel)
    assert not panel.scheduler_label.isVisibleTo(panel)


def test_whole_model_pickle_shows_unsafe_banner(panel, tmp_path):
    import torch
    from torch import nn

    path = tmp_path / "whole.pth"
    torch.save(nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)), path)
    with open_checkpoint(path) as ck:
        panel.show_checkpoint(ck, summarize(ck))
    assert panel.banner.isVisibleTo(panel)
    text = panel.banner_label.text()
    assert "Whole pickled model" in text
    assert "torch.nn.modules.linear.Linear" in text
    assert panel.extra_badge.text() == "whole model"
    assert "Whole pickled model" in panel.text()


def test_lightning_hparams_and_scheduler(panel, tmp_path):
    import torch
    from torch import nn

    model = nn.Linear(3, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=5)
    path = tmp_path / "l.ckpt"
    torch.save({"state_dict": {"model." + k: v for k, v in model.state_dict().items()},
                "optimizer_states": [opt.state_dict()], "lr_schedulers": [sched.state_dict()],
                "epoch": 7, "global_step": 70, "pytorch-lightning_version": "2.3.1",
                "hyper_parameters": {"lr": 0.1, "width": 32}}, path)
    with open_checkpoint(path) as ck:
        panel.show_checkpoint(ck, summarize(ck))
    assert panel.extra_badge.text() == "Lightning 2.3.1"
    assert "SGD" in panel.optimizer_label.text() and "momentum 0.9" in panel.optimizer_label.text()
    assert panel.scheduler_label.text().startswith("StepLR")
    assert panel.hparams_button.isVisibleTo(panel)
    assert panel.hparams_button.text() == "Hyper-parameters (2)"
    assert not panel.hparams_widget.isVisibleTo(panel)
    panel.hparams_button.click()
    assert panel.hparams_widget.isVisibleTo(panel)
    assert "<code>model.</code>" in panel.text()


def test_clear(panel, training_ckpt):
    with open_checkpoint(training_ckpt) as ck:
        panel.show_checkpoint(ck, summarize(ck))
    panel.clear()
    assert panel.file_label.text() == "No checkpoint open"
    assert panel.hint_labels == []
    assert not panel.optimizer_label.isVisibleTo(panel)
