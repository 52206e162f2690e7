"""The Inference view, split by role: :mod:`~inspector.ui.inference.controls` (the model list
with its proposals), :mod:`~inspector.ui.inference.inputs` (image, text, extra args, .npy,
device), :mod:`~inspector.ui.inference.dialogs` (the trust and "run anyway" questions),
:mod:`~inspector.ui.inference.results` (verdict, load report, errors),
:mod:`~inspector.ui.inference.plots` (outputs, predictions), :mod:`~inspector.ui.inference.layers`
(mode-sensitive layers, grouped) and :mod:`~inspector.ui.inference.panel` (the view that runs
jobs through the runner it is given)."""

from inspector.ui.inference.controls import (
    ARCH_CODE,
    ARCH_FILE,
    BUILTIN_PREFIX,
    SPEC_PREFIX,
    InferenceControls,
)
from inspector.ui.inference.dialogs import ask_random_init, ask_trust
from inspector.ui.inference.panel import InferencePanel
from inspector.ui.inference.results import InferenceResults, TimingBox, load_report_html

__all__ = ["ARCH_CODE", "ARCH_FILE", "BUILTIN_PREFIX", "SPEC_PREFIX", "InferenceControls",
           "InferencePanel", "InferenceResults", "TimingBox", "ask_random_init", "ask_trust",
           "load_report_html"]
