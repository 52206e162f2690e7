"""The largest changes lead with tensors that moved, not with step counters."""

from __future__ import annotations

from pathlib import Path

from inspector.core.diff import diff_checkpoints

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


def test_counters_rank_after_weights():
    report = diff_checkpoints(DEMO / "demo_epoch_1.pth", DEMO / "demo_epoch_3.pth")
    largest = report.summary.largest
    assert largest and largest[0].numel > 1
    sizes = [e.numel > 1 for e in largest]
    assert sizes == sorted(sizes, reverse=True)  # every multi-element tensor before any scalar
    counters = [e for e in report.entries if str(e.path[-1]).endswith("num_batches_tracked")]
    assert counters and counters[0].rel_l2 >= max(e.rel_l2 for e in largest if e.numel > 1)
