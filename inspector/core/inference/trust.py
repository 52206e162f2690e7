"""Files that carry their own architecture: whole-model pickles, TorchScript, .pt2 programs.

Instantiating their model runs code from the file, so :func:`load_trusted_model` refuses
with :class:`TrustRequiredError` (naming the globals that would run) unless the caller
passes an explicit, per-file ``trusted=True``; it is never a fallback after an error. Even
then torch gets the records we validated and showed
(:func:`inspector.core.formats.validated_bytes`), never the path: a file that torch could
read differently from us is refused.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Mapping

import torch
from torch import nn

from inspector.core.checkpoint import Checkpoint, CheckpointError
from inspector.core.inference.errors import (
    ModelCodeError,
    ModelError,
    TrustRequiredError,
    format_traceback,
)
from inspector.core.state_dict import find_weights

KIND_TEXT = {"whole-model": "whole-model pickle (torch.save(model))",
             "torchscript": "TorchScript archive", "exported-program": "torch.export program (.pt2)"}


def model_kind(ckpt: Checkpoint) -> str:
    """``"torchscript"``, ``"exported-program"``, ``"whole-model"`` (the weights are in a
    pickled nn.Module) or ``"state_dict"``."""
    if ckpt.format == "torchscript":
        return "torchscript"
    if ckpt.format in ("pt2", "torch-export", "exported-program"):
        return "exported-program"
    return "whole-model" if find_weights(ckpt).from_module else "state_dict"


def is_exported_program(path: str) -> bool:
    """Whether ``path`` is a torch.export archive (.pt2), judged by its entry names."""
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("/archive_format") or n.endswith("/models/model.json")
                       for n in zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def architecture_globals(path: str) -> tuple[str, list[str]]:
    """(kind, globals) for a file that carries its own architecture; kind is
    ``"whole-model"``, ``"torchscript"``, ``"exported-program"`` or ``"state_dict"``."""
    from inspector.core.formats import open_checkpoint

    try:
        ckpt = open_checkpoint(path)
    except CheckpointError:
        if is_exported_program(path):
            return "exported-program", []
        raise
    try:
        return model_kind(ckpt), list(ckpt.unsafe_globals)
    finally:
        ckpt.close()


def load_trusted_model(path: str | os.PathLike, trusted: bool) -> nn.Module:
    """Instantiate the model a file carries (whole-model pickle, TorchScript, .pt2).

    This runs code from the file, so it refuses with :class:`TrustRequiredError` (naming the
    globals that would run) unless ``trusted`` is True — an explicit, per-file decision that is
    never made as a fallback.
    """
    path = os.fspath(path)
    kind, globals_ = architecture_globals(path)
    if kind == "state_dict":
        raise ModelError("this file holds only weights, not an architecture; choose one "
                         "(a built-in or path/to/model.py:ClassName)")
    if not trusted:
        raise TrustRequiredError(path, globals_, KIND_TEXT[kind])
    from inspector.core.formats import validated_bytes

    source = validated_bytes(path)  # CheckpointError for an ambiguous container
    try:
        if kind == "torchscript":
            with warnings.catch_warnings():  # "torch.jit.load is deprecated" is not news to them
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", FutureWarning)  # its class in torch >= 2.14
                model = torch.jit.load(source, map_location="cpu")
        elif kind == "exported-program":
            model = torch.export.load(source).module()
        else:
            model = torch.load(source, map_location="cpu", weights_only=False)  # trusted
    except BaseException as e:  # noqa: BLE001 - code from the file may raise anything
        if isinstance(e, KeyboardInterrupt):
            raise
        hint = ""
        if isinstance(e, AttributeError | ModuleNotFoundError | ImportError):
            hint = (" (a whole-model pickle needs its model class importable under the same "
                    "module name it was saved from)")
        raise ModelCodeError(f"loading the trusted {KIND_TEXT[kind]} failed: "
                             f"{type(e).__name__}: {e}{hint}", format_traceback(e)) from None
    if isinstance(model, Mapping):
        for key in ("model", "module", "net"):
            if isinstance(model.get(key), nn.Module):
                return model[key]
    if not isinstance(model, nn.Module):
        raise ModelError(f"the file holds a {type(model).__name__}, not a torch.nn.Module")
    return model
