"""What a front end can offer for running one checkpoint, read from metadata only."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from inspector.core.checkpoint import CheckpointError
from inspector.core.devices import list_devices
from inspector.core.inference.architectures import BUILTINS
from inspector.core.inference.errors import ModelError
from inspector.core.inference.layers import sample_input
from inspector.core.inference.matching import build_on_meta, locate_state_dict, rank_architectures
from inspector.core.inference.results import ArchitectureChoice, InferenceOptions
from inspector.core.inference.runs import MIN_PROPOSAL_SCORE
from inspector.core.inference.trust import KIND_TEXT, is_exported_program, model_kind


def inference_options(path: str) -> InferenceOptions:
    """The :class:`InferenceOptions` for ``path``; never runs code from the file."""
    from inspector.core.formats import open_checkpoint

    devices = tuple(list_devices())
    try:
        ckpt = open_checkpoint(path)
    except CheckpointError as e:
        if is_exported_program(path):
            kind = "exported-program"
            return InferenceOptions(kind, KIND_TEXT[kind], (), (), None, devices)
        return InferenceOptions("state_dict", "", (), (), None, devices, e.problem)
    try:
        kind = model_kind(ckpt)
        globals_ = tuple(ckpt.unsafe_globals)
        source = locate_state_dict(ckpt)
        ranked = {p.architecture.name: p for p in rank_architectures(source)} \
            if source.entries else {}
    finally:
        ckpt.close()
    choices = []
    for arch in BUILTINS.values():
        p = ranked.get(arch.name)
        kwargs = dict(p.kwargs) if p is not None else {}
        shape = None
        if p is not None:
            try:
                with torch.device("meta"):  # shapes only, nothing allocated
                    x, _how = sample_input(build_on_meta(arch, kwargs), batch_size=1)
                shape = tuple(int(s) for s in x.shape[1:])
            except (ModelError, RuntimeError, ValueError, TypeError):
                shape = None
        choices.append(ArchitectureChoice(arch.name, arch.description,
                                          p.score if p is not None else 0.0, kwargs, shape))
    best = max(ranked.values(), key=lambda p: p.score, default=None)
    proposed = best.architecture.name if best is not None and \
        best.score >= MIN_PROPOSAL_SCORE else None
    return InferenceOptions(kind, KIND_TEXT.get(kind, ""), globals_, tuple(choices), proposed,
                            devices)


def iter_inference_options(path: str) -> Iterator[InferenceOptions]:
    """:func:`inference_options` as a worker-process job target: one item."""
    yield inference_options(path)
