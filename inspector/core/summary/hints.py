"""The short sentences a user should read before loading a checkpoint."""

from __future__ import annotations

from inspector.core.checkpoint import DICT, Checkpoint, TensorInfo
from inspector.core.state_dict import Weights
from inspector.core.summary.results import DANGER, INFO, WARNING, Hint, OptimizerSummary
from inspector.core.text import path_text

EMA_KEYS = ("ema", "model_ema", "ema_state_dict", "ema_model", "ema_weights")


def hints_for(ckpt: Checkpoint, weights: Weights, optimizers: tuple[OptimizerSummary, ...],
              lightning: str | None, tensors: list[tuple[tuple, TensorInfo]],
              weights_bytes: int) -> list[Hint]:
    """The hints for ``ckpt`` in the order they were found (the caller sorts by level)."""
    hints: list[Hint] = []
    unsafe = list(ckpt.unsafe_globals)
    shown = ", ".join(unsafe[:6]) + (f", … {len(unsafe) - 6} more" if len(unsafe) > 6 else "")
    if weights.model_class is not None:
        hints.append(Hint(DANGER, f"Whole pickled model ({weights.model_class}): loading it needs "
                                  "its class code and runs code from the file (torch.load with "
                                  "weights_only=False); trust the source first. Unsafe globals: "
                                  f"{shown or 'none'}"))
    elif unsafe:
        hints.append(Hint(DANGER, f"References {len(unsafe)} global(s) outside the safe list (not "
                                  f"executed here): {shown}. torch.load(weights_only=True) will "
                                  "refuse it; loading it otherwise runs code from the file."))
    if ckpt.format == "torchscript":
        hints.append(Hint(WARNING, "TorchScript archive: it contains code; torch.jit.load runs it."))
    elif ckpt.format == "pickle":
        hints.append(Hint(WARNING, "A plain pickle (not torch.save): tensor bytes are not in the "
                                   "file's storages and cannot be shown."))
    elif ckpt.format == "torch-legacy":
        hints.append(Hint(INFO, "Legacy (pre-1.6) torch.save format: re-save it with a current "
                                "torch for memory-mapped loading."))
    for w in ckpt.warnings[:5]:
        hints.append(Hint(WARNING, w[:1].upper() + w[1:] if w else w))
    if len(ckpt.warnings) > 5:
        hints.append(Hint(WARNING, f"… and {len(ckpt.warnings) - 5} more warnings."))

    if lightning:
        hints.append(Hint(INFO, f"PyTorch Lightning checkpoint (version {lightning}): the weights "
                                "are in `state_dict`; LightningModule.load_from_checkpoint "
                                "restores it with its hyper-parameters."))
    names = [e.name for e in weights.entries]
    if weights.prefix == "module.":
        hints.append(Hint(WARNING, "Weight keys start with `module.` (saved from DataParallel/DDP): "
                                   "strip the prefix, or load into the wrapped model."))
    elif weights.prefix == "_orig_mod.":
        hints.append(Hint(WARNING, "Weight keys start with `_orig_mod.` (saved from a "
                                   "torch.compile'd model): strip the prefix to load into the "
                                   "plain model."))
    elif weights.prefix == "model." and (lightning or weights.path == ("state_dict",)):
        hints.append(Hint(INFO, "Weight keys start with `model.` (Lightning): strip the prefix to "
                                "load them into the bare nn.Module."))
    if weights.path is None and tensors:
        hints.append(Hint(INFO, "No model state_dict was recognized; the tensors are listed in "
                                "the tree."))

    leaves = {n.rsplit(".", 1)[-1] for n in names}
    if {"running_mean", "running_var"} & leaves or "num_batches_tracked" in leaves:
        n_bn = sum(1 for n in names if n.endswith(".running_mean") or n == "running_mean")
        hints.append(Hint(WARNING, f"Contains BatchNorm running statistics ({n_bn} layer"
                                   f"{'' if n_bn == 1 else 's'}): call model.eval() before "
                                   "inference so they are used. Dropout leaves no weights, so "
                                   "whether the model has it cannot be told from the file; "
                                   "eval() turns it off too."))
    elif weights.entries:
        hints.append(Hint(INFO, "No BatchNorm running statistics in the weights. Dropout leaves "
                                "no weights, so it cannot be ruled out: call model.eval() before "
                                "inference anyway."))

    shared = ckpt.shared_groups()
    if shared:
        examples = []
        for paths in list(shared.values())[:3]:
            examples.append(" ↔ ".join(path_text(p) for p in paths[:3]))
        more = f" (and {len(shared) - 3} more groups)" if len(shared) > 3 else ""
        hints.append(Hint(INFO, f"{len(shared)} storage(s) shared by several tensors (tied "
                                f"weights or views, stored once): {'; '.join(examples)}{more}."))

    # one pass over the tensors for the location, missing-data and layout hints
    locations: dict[str, int] = {}
    no_data = odd = 0
    for _, info in tensors:
        st, layout = info.storage, info.layout
        if st is None:
            if not (layout == "sharded" and info.chunks):  # DCP: assembled from its chunks
                no_data += 1
        elif st.location not in ("cpu", ""):
            locations[st.location] = locations.get(st.location, 0) + 1
        if layout not in ("strided", "sharded"):
            if layout == "meta":
                if st is not None:
                    no_data += 1
            else:
                odd += 1
    if locations:
        where = ", ".join(f"{n} on {loc}" for loc, n in sorted(locations.items()))
        hints.append(Hint(WARNING, f"Tensors were saved on a GPU ({where}): load with "
                                   "map_location='cpu' (or your device) on another machine."))

    floats: dict[str, int] = {}
    for e in weights.entries:
        if not e.is_buffer:
            floats[e.info.dtype] = floats.get(e.info.dtype, 0) + 1
    if len(floats) > 1:
        mix = ", ".join(f"{d} ({n})" for d, n in sorted(floats.items(), key=lambda x: -x[1]))
        hints.append(Hint(INFO, f"Mixed precision weights: {mix}."))
    elif floats and (next(iter(floats)) in ("float16", "bfloat16")
                     or next(iter(floats)).startswith("float8")):
        hints.append(Hint(INFO, f"Weights are stored in {next(iter(floats))}: cast the model to "
                                "the same dtype (or load into float32) before inference."))

    if no_data:
        hints.append(Hint(WARNING, f"{no_data} tensor(s) have no data (meta or missing storage)."))
    if odd:
        hints.append(Hint(INFO, f"{odd} tensor(s) are sparse, quantized or nested: previews show "
                                "their stored values only."))

    for opt in optimizers:
        ratio = f", {opt.state_bytes / weights_bytes:.1f}× the weights' bytes" if (
            weights_bytes and opt.state_bytes) else ""
        hints.append(Hint(INFO, f"Optimizer state ({opt.name}, {opt.num_states} parameter "
                                f"states{ratio}) lets training resume; inference needs only the "
                                "model weights."))
    if ckpt.root.kind == DICT:
        ema = [k for k in EMA_KEYS if ckpt.root.child(k) is not None]
        if ema:
            hints.append(Hint(INFO, f"Contains EMA weights under `{ema[0]}`: they often evaluate "
                                    "better than the raw weights."))
    if weights.model_class is not None:
        training = ckpt.root.child("training") if weights.path == () else None
        if training is not None and training.value is True:
            hints.append(Hint(INFO, "The model was pickled in train mode (training=True)."))
    if tensors:
        hints.append(Hint(INFO, "Whether values are finite (no NaN/Inf) is known only after "
                                "statistics are computed."))
    return hints
