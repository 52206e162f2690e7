"""The tensor panel: the widget (:mod:`.panel`), its Overview tab (:mod:`.overview`), the
value tabs and progress row (:mod:`.pages`), the values table model (:mod:`.values`) and
its Qt-free text (:mod:`.details`). Slices and exports are read by
:mod:`inspector.core.tensor_view` jobs."""

from inspector.ui.tensor.panel import TensorPanel
from inspector.ui.tensor.values import ValuesTableModel

__all__ = ["TensorPanel", "ValuesTableModel"]
