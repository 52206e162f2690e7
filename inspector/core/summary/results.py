"""The summary's result types: plain frozen dataclasses the front ends show."""

from __future__ import annotations

from dataclasses import dataclass

from inspector.core.text import format_value

# Hint levels, most severe first.
DANGER, WARNING, INFO = "danger", "warning", "info"


@dataclass(frozen=True)
class Hint:
    """One short sentence a user should read; ``level`` is danger, warning or info."""

    level: str
    text: str


@dataclass(frozen=True)
class DTypeShare:
    """How many tensors of one dtype there are and how many bytes they take."""

    dtype: str
    count: int
    nbytes: int


@dataclass(frozen=True)
class OptimizerSummary:
    """An optimizer recognized from its ``state_dict()``.

    ``name`` is a guess from the state and param_group keys ("Adam", "AdamW", "SGD",
    "Adam or AdamW" when the file cannot tell). Hyper-parameters come from the first
    param group; ``groups`` says how many groups there are.
    """

    path: tuple
    name: str
    lr: float | None
    betas: tuple[float, ...] | None
    momentum: float | None
    weight_decay: float | None
    nesterov: bool | None
    groups: int
    num_params: int
    num_states: int
    state_bytes: int
    extra: tuple[tuple[str, object], ...] = ()

    def describe(self) -> str:
        """``Adam · lr 0.001 · betas (0.9, 0.999) · weight decay 0`` style text."""
        parts = [self.name]
        if self.lr is not None:
            parts.append(f"lr {format_value(self.lr)}")
        if self.betas is not None:
            parts.append("betas (" + ", ".join(format_value(b) for b in self.betas) + ")")
        if self.momentum is not None:
            m = f"momentum {format_value(self.momentum)}"
            if self.nesterov:
                m += " (Nesterov)"
            parts.append(m)
        if self.weight_decay is not None:
            parts.append(f"weight decay {format_value(self.weight_decay)}")
        for k, v in self.extra:
            parts.append(f"{k} {format_value(v)}")
        if self.groups > 1:
            parts.append(f"{self.groups} param groups")
        return " · ".join(parts)


@dataclass(frozen=True)
class SchedulerSummary:
    """An LR scheduler recognized from its ``state_dict()`` keys."""

    path: tuple
    name: str
    last_epoch: int | None
    last_lr: tuple[float, ...] | None
    extra: tuple[tuple[str, object], ...] = ()

    def describe(self) -> str:
        parts = [self.name]
        for k, v in self.extra:
            parts.append(f"{k} {format_value(v)}")
        if self.last_epoch is not None:
            parts.append(f"last_epoch {self.last_epoch}")
        if self.last_lr:
            parts.append("last lr " + ", ".join(format_value(x) for x in self.last_lr[:4]))
        return " · ".join(parts)


@dataclass(frozen=True)
class CheckpointSummary:
    """A checkpoint at a glance, computed from metadata only.

    ``num_parameters`` counts the elements of the model weights (each storage once),
    without BatchNorm running statistics and other recognizable buffers;
    ``num_buffer_elements`` counts those. Optimizer state is never counted as parameters.
    ``weights_path`` is where the weights are (``()`` for a bare state_dict at the root,
    None when no weights were found); ``weights_label`` says it in words.
    """

    path: str
    file_name: str
    format: str
    size_bytes: int
    num_tensors: int
    total_numel: int
    unique_storage_bytes: int
    weights_path: tuple | None
    weights_label: str
    num_weight_tensors: int
    num_parameters: int
    num_buffer_elements: int
    weights_bytes: int
    dtypes: tuple[DTypeShare, ...]
    scalars: tuple[tuple[str, object], ...]
    hyper_parameters: tuple[tuple[str, object], ...]
    hyper_parameters_truncated: bool
    optimizers: tuple[OptimizerSummary, ...]
    schedulers: tuple[SchedulerSummary, ...]
    lightning_version: str | None
    model_class: str | None  # the class of a whole pickled model
    unsafe_globals: tuple[str, ...]
    hints: tuple[Hint, ...]

    @property
    def optimizer(self) -> OptimizerSummary | None:
        return self.optimizers[0] if self.optimizers else None

    @property
    def is_whole_model(self) -> bool:
        return self.model_class is not None
