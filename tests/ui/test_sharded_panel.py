"""A DCP tensor split into chunks shows its assembled values in the tensor panel."""

from __future__ import annotations

import numpy as np
import pytest

from inspector.core.formats import open_checkpoint
from tests.core.test_dcp_assembly import sharded  # noqa: F401 - the fixture

torch = pytest.importorskip("torch")


def test_sharded_tensor_values_are_shown(qtbot, sharded):  # noqa: F811
    from inspector.ui.tensor import TensorPanel
    from inspector.ui.workers import ProcessJobs

    folder, _whole, spec = sharded
    jobs = ProcessJobs(name="inspector-tensor-test")
    panel = TensorPanel(jobs)
    qtbot.addWidget(panel)
    with open_checkpoint(folder) as ck:
        node = next(n for n in ck.tensor_nodes()
                    if n.tensor.layout == "sharded" and len(n.tensor.shape) == 2)
        name = node.path()[-1]
        panel.show_tensor(ck, node, None)
        assert panel.tabs.isTabVisible(panel.tabs.indexOf(panel.values_tab))
        panel.tabs.setCurrentWidget(panel.values_tab)
        qtbot.waitUntil(lambda: not panel.is_busy(), timeout=90_000)
        jobs.shutdown()
        block = panel.values_tab.model.block()
        expected = spec[name][0].to(torch.float64).numpy() if spec[name][0].dtype == torch.bfloat16 \
            else spec[name][0].numpy()
        rows, cols = block.shape
        assert np.array_equal(block, expected[:rows, :cols].astype(block.dtype), equal_nan=True)
