"""Which library model a run uses: the class a ``config.json`` names, an explicit
``library:name`` spec, or the best proposal for a bare state_dict.

A folder whose ``config.json`` points at code shipped with the checkpoint (``auto_map``)
raises :class:`TrustRequiredError` unless the run trusts that file; only then is its code
imported (by transformers, ``trust_remote_code=True``) — never as a fallback.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from typing import Any

from inspector.core.formats.hf_folder import weight_files
from inspector.core.inference.errors import (
    ModelCodeError,
    ModelError,
    TrustRequiredError,
    format_traceback,
)
from inspector.core.inference.zoo import hf
from inspector.core.inference.zoo.build import LibraryModel, build, folder_config
from inspector.core.inference.zoo.index import build_index, infer_kwargs, missing_indexes, propose
from inspector.core.inference.zoo.libraries import LibrarySpec, parse_library_spec

KIND_CUSTOM_CODE = "Hugging Face folder (its config.json names code in auto_map)"


def hf_folder_model(config, ckpt, kwargs: Mapping[str, Any]) -> LibraryModel | None:
    """The model a Hugging Face ``config.json`` (the folder's, or next to the weights file)
    describes, or None when there is none. Refuses custom code without trust."""
    cfg_json, folder = folder_config(ckpt, config.path)
    if cfg_json is None:
        return None
    refs = hf.custom_code(cfg_json)
    if refs:
        if not config.trust:
            raise TrustRequiredError(config.path, refs, KIND_CUSTOM_CODE)
        return _trusted_custom(folder, cfg_json)
    hf.transformers_or_error()
    cls = hf.class_for_config(cfg_json)
    built = build(LibrarySpec("transformers", cls.__name__), kwargs, config_json=cfg_json,
                  folder=folder, meta=True, seed=config.seed)
    if os.path.isfile(config.path) and folder:
        kind, names = weight_files(folder)
        if kind == "index" or len(names) > 1:
            built.shard_folder = folder
    archs = cfg_json.get("architectures")
    said = f"architectures {archs}" if archs else f"model_type {cfg_json.get('model_type')!r}"
    built.notes.insert(0, f"built {cls.__name__} from config.json ({said}); no code from the "
                          f"folder ran")
    return built


def _trusted_custom(folder: str | None, cfg_json: Mapping[str, Any]) -> LibraryModel:
    """The folder's own model class, imported by transformers (the caller checked trust)."""
    from inspector.core.inference.zoo.task import ModelTask, hf_task

    transformers = hf.transformers_or_error()
    auto_map = cfg_json.get("auto_map") if isinstance(cfg_json.get("auto_map"), Mapping) else {}
    names = [k for k in auto_map if k.startswith("AutoModel")]
    name = next((k for k in names if k != "AutoModel"), names[0] if names else "AutoModel")
    try:
        cfg = transformers.AutoConfig.from_pretrained(folder, trust_remote_code=True,
                                                      local_files_only=True)
        model = getattr(transformers, name).from_config(cfg, trust_remote_code=True)
    except BaseException as e:  # noqa: BLE001 - the folder's code may raise anything
        if isinstance(e, KeyboardInterrupt):
            raise
        raise ModelCodeError(f"building the folder's own model ({name}) failed: "
                             f"{type(e).__name__}: {str(e)[:300]}", format_traceback(e)) from None
    prefix = getattr(model, "base_model_prefix", "") or ""
    task = hf_task(type(model).__name__, cfg, folder)
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        params = {}
    if task.main_input and task.main_input not in params:  # its own inputs: a random tensor
        task = ModelTask()
    return LibraryModel(model, f"{type(model).__name__} (the folder's own code, trusted)", task,
                        prefix + "." if prefix else "", frozenset(),
                        ["built the model with the folder's own code (trusted by you)"])


def spec_model(spec: LibrarySpec, config, ckpt, shapes) -> LibraryModel:
    """An explicit ``library:name``: for transformers over the folder's config.json when
    there is one, else with sizes inferred from the shapes; the user's kwargs win."""
    user = dict(config.arch_kwargs or {})
    cfg_json, folder = folder_config(ckpt, config.path)
    if spec.library == "transformers" and cfg_json is not None and not hf.custom_code(cfg_json):
        return build(spec, user, config_json=cfg_json, folder=folder, meta=True,
                     seed=config.seed)
    try:
        inferred = infer_kwargs(spec, "", shapes)
    except ModelError:
        inferred = {}
    built = build(spec, {**inferred, **user}, folder=folder, meta=True, seed=config.seed)
    if inferred:
        built.notes.append(f"sizes read from the weights' shapes: {inferred}")
    _note_guesses(built, inferred, user)
    return built


def _note_guesses(built: LibraryModel, inferred: Mapping[str, Any], user: Mapping) -> None:
    guessed = {k: v for k, v in inferred.items() if k in hf.GUESSED and k not in user}
    if guessed:
        text = ", ".join(f"{k}={v}" for k, v in guessed.items())
        built.notes.append(f"the number of attention heads is not in the weights' shapes: "
                           f"assumed {text}; give the right value in the kwargs if the model "
                           f"was trained with another (the outputs depend on it)")


def proposed_model(config, shapes) -> tuple[LibraryModel, float] | None:
    """The best library proposal for a bare state_dict (building the index first if it is
    missing), built on the meta device (see :meth:`LibraryModel.materialize`), with its
    score; None when nothing matches."""
    if missing_indexes():
        build_index()
    found = propose(shapes)
    if not found:
        return None
    proposal, _match = found[0]
    spec = parse_library_spec(proposal.spec)
    assert spec is not None
    kwargs = {**proposal.kwargs, **(config.arch_kwargs or {})}
    built = build(spec, kwargs, meta=True, seed=config.seed)
    share = round(100 * proposal.score)
    built.notes.insert(0, f"identified as {proposal.spec} by parameter names and shapes "
                          f"({share}% of keys match) with {dict(proposal.kwargs)}")
    _note_guesses(built, proposal.kwargs, config.arch_kwargs or {})
    return built, proposal.score


def library_architecture(config, ckpt, shapes) -> LibraryModel | None:
    """The library model for this run, on the meta device (or the CPU for a trusted folder's
    own code), or None when the run is not about one (a built-in, the user's code, or a bare
    state_dict: see :func:`proposed_model`)."""
    spec = parse_library_spec(config.architecture)
    if spec is not None:
        return spec_model(spec, config, ckpt, shapes)
    if config.architecture is None:
        return hf_folder_model(config, ckpt, config.arch_kwargs or {})
    return None
