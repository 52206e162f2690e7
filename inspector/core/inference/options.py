"""What a front end can offer for running one checkpoint, read from metadata only."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from inspector.core.checkpoint import CheckpointError
from inspector.core.devices import list_devices
from inspector.core.inference.architectures import BUILTINS
from inspector.core.inference.config import DEFAULT_MASKED_TEXT, DEFAULT_TEXT
from inspector.core.inference.errors import ModelError
from inspector.core.inference.layers import sample_input
from inspector.core.inference.matching import build_on_meta, locate_state_dict, rank_architectures
from inspector.core.inference.results import ArchitectureChoice, InferenceOptions, Proposal
from inspector.core.inference.runs import MIN_PROPOSAL_SCORE
from inspector.core.inference.trust import KIND_TEXT, is_exported_program, model_kind
from inspector.core.inference.zoo.build import build, folder_config
from inspector.core.inference.zoo.hf import class_for_config, custom_code
from inspector.core.inference.zoo.index import missing_indexes, propose
from inspector.core.inference.zoo.inputs import sample_images
from inspector.core.inference.zoo.libraries import (
    LibrarySpec,
    library,
    missing_note,
    parse_library_spec,
)
from inspector.core.inference.zoo.task import OUT_MASKED, OUT_NEXT_TOKEN


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
        exact = any(p.score >= 1.0 for p in ranked.values())
        library = library_options(ckpt, path, source.shapes(), exact) \
            if kind == "state_dict" else {}
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
    proposals = library.get("proposals", ())
    top = proposals[0] if proposals else None
    if top is not None and top.score >= MIN_PROPOSAL_SCORE and (
            library.get("config_class") or best is None or top.score > best.score):
        proposed = top.spec
    elif proposed is not None:  # a built-in: its input is a random tensor
        library.update(input_kind="tensor", labels_known=False, library_note="")
    return InferenceOptions(kind, KIND_TEXT.get(kind, ""), globals_, tuple(choices), proposed,
                            devices, **library)


def library_options(ckpt, path: str, shapes: dict, builtin_exact: bool = False) -> dict:
    """The library side of the options (see :class:`InferenceOptions`): the class a
    config.json names, or proposals from the index; never runs code from the file and
    never builds the index (``index_missing`` says it is needed). When a built-in matches
    exactly, no library is imported (a bare state_dict of a demo model stays quick)."""
    out: dict = {"default_text": DEFAULT_TEXT, "sample_images": tuple(sample_images())}
    cfg_json, folder = folder_config(ckpt, path)
    if cfg_json is None and builtin_exact:
        return out
    built = None
    if cfg_json is not None:
        refs = custom_code(cfg_json)
        if refs:
            out["custom_code"] = tuple(refs)
            return out
        if library("transformers") is None:
            out["library_note"] = missing_note(("transformers",))
            return out
        try:
            cls = class_for_config(cfg_json)
            spec = LibrarySpec("transformers", cls.__name__)
            built = build(spec, {}, meta=True, config_json=cfg_json, folder=folder)
        except ModelError as e:
            out["library_note"] = e.message
            return out
        out["config_class"] = cls.__name__
        match = built.match(shapes)
        exact = not (match.missing_keys or match.unexpected_keys or match.shape_mismatches)
        out["proposals"] = (Proposal(spec.text, "transformers", cls.__name__, match.score,
                                     exact, {}, f"{cls.__name__} as config.json says",
                                     built.task.input_kind),)
    else:
        out["index_missing"] = missing_indexes()
        found = [p for p, _m in propose(shapes)] if shapes else []
        out["proposals"] = tuple(found)
        if found:
            spec = parse_library_spec(found[0].spec)
            try:
                built = build(spec, found[0].kwargs, meta=True) if spec else None
            except ModelError:
                built = None
        note = missing_note()
        if note and not (found and found[0].exact):
            out["library_note"] = note
    if built is not None:
        out["input_kind"] = built.task.input_kind
        out["labels_known"] = bool(built.task.labels) or built.task.output in (
            OUT_NEXT_TOKEN, OUT_MASKED) and bool(built.task.tokenizer_path)
        if built.task.output == OUT_MASKED:
            out["default_text"] = DEFAULT_MASKED_TEXT
    return out


def iter_inference_options(path: str) -> Iterator[InferenceOptions]:
    """:func:`inference_options` as a worker-process job target: one item."""
    yield inference_options(path)
