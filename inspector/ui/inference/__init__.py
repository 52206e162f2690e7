"""The Inference view, split by role: :mod:`~inspector.ui.inference.controls` (the choices
and the trust question), :mod:`~inspector.ui.inference.results` (verdict, plots, load report,
layers, errors) and :mod:`~inspector.ui.inference.panel` (the view that runs jobs through the
runner it is given)."""

from inspector.ui.inference.controls import (
    ARCH_CODE,
    ARCH_FILE,
    BUILTIN_PREFIX,
    InferenceControls,
    ask_trust,
)
from inspector.ui.inference.panel import InferencePanel
from inspector.ui.inference.results import InferenceResults, TimingBox, load_report_html

__all__ = ["ARCH_CODE", "ARCH_FILE", "BUILTIN_PREFIX", "InferenceControls", "InferencePanel",
           "InferenceResults", "TimingBox", "ask_trust", "load_report_html"]
