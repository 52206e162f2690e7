"""What a checkpoint is, at a glance, from its metadata alone."""

from __future__ import annotations

from inspector.core.checkpoint import Checkpoint
from inspector.core.state_dict import find_weights
from inspector.core.summary.hints import hints_for
from inspector.core.summary.optimizers import find_optimizers, optimizer_summary
from inspector.core.summary.results import DANGER, INFO, WARNING, CheckpointSummary
from inspector.core.summary.schedulers import find_schedulers, scheduler_summary
from inspector.core.summary.values import hyper_parameters, lightning_version, top_scalars
from inspector.core.summary.weights import dtype_mix, tensor_nbytes, view_ident
from inspector.core.text import file_label


def summarize(ckpt: Checkpoint) -> CheckpointSummary:
    """Summarize ``ckpt`` from its metadata (fast: never touches tensor bytes)."""
    root = ckpt.root
    totals = ckpt.totals()
    all_tensors = ckpt.tensors()
    weights = find_weights(ckpt)
    lightning = lightning_version(root)
    optimizers = tuple(optimizer_summary(n) for n in find_optimizers(root))
    schedulers = tuple(s for s in (scheduler_summary(n) for n in find_schedulers(root)) if s)
    scalars = top_scalars(root)
    hparams, truncated = hyper_parameters(root)

    n_params = n_buffers = w_bytes = 0
    seen: set = set()
    for entry in weights.entries:
        info = entry.info
        ident = view_ident(info)
        if ident in seen:
            continue
        seen.add(ident)
        nbytes = tensor_nbytes(info)
        if entry.is_buffer:
            n_buffers += info.numel
        else:
            n_params += info.numel
        w_bytes += nbytes

    summary_args = dict(
        path=ckpt.path, file_name=file_label(ckpt.path),
        format=ckpt.format, size_bytes=ckpt.size_bytes, num_tensors=totals["num_tensors"],
        total_numel=totals["total_numel"], unique_storage_bytes=totals["unique_storage_bytes"],
        weights_path=weights.path, weights_label=weights.label,
        num_weight_tensors=len(weights.entries), num_parameters=n_params,
        num_buffer_elements=n_buffers, weights_bytes=w_bytes, dtypes=dtype_mix(all_tensors),
        scalars=scalars, hyper_parameters=hparams, hyper_parameters_truncated=truncated,
        optimizers=optimizers, schedulers=schedulers, lightning_version=lightning,
        model_class=weights.model_class, unsafe_globals=tuple(ckpt.unsafe_globals))
    hints = hints_for(ckpt, weights, optimizers, lightning, all_tensors, w_bytes)
    severity = {DANGER: 0, WARNING: 1, INFO: 2}
    hints.sort(key=lambda h: severity.get(h.level, 3))  # stable: file order within a level
    return CheckpointSummary(**summary_args, hints=tuple(hints))
