"""What a checkpoint is, at a glance, from its metadata alone.

:func:`summarize` reads only the Node tree (no tensor bytes, no torch import): where the
model weights are (decided by :mod:`inspector.core.state_dict`), how many parameters they
hold, the training scalars and hyper-parameters, which optimizer and LR scheduler the state
looks like, and short hints a user needs before loading the file.
:func:`optimizer_param_labels` names optimizer state entries after the parameters they
belong to, when that can be checked.

Modules: ``results`` (the dataclasses), ``overview`` (:func:`summarize`), ``weights``
(counting), ``optimizers``, ``schedulers``, ``values`` (scalars, hyper-parameters) and
``hints``.
"""

from inspector.core.summary.optimizers import optimizer_param_labels
from inspector.core.summary.overview import summarize
from inspector.core.summary.results import (
    DANGER,
    INFO,
    WARNING,
    CheckpointSummary,
    DTypeShare,
    Hint,
    OptimizerSummary,
    SchedulerSummary,
)

__all__ = [
    "DANGER", "INFO", "WARNING", "CheckpointSummary", "DTypeShare", "Hint", "OptimizerSummary",
    "SchedulerSummary", "optimizer_param_labels", "summarize",
]
