"""What a run found, in words: written once here, shown by the CLI and the app alike.

Everything returned is plain text. Strings that come from the file or the user's code (layer
and key names, fixes, notes) are included as they are; a front end escapes them for its
medium (:func:`inspector.core.text.printable` for a terminal,
:func:`inspector.core.text.html_text` inside rich text).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from inspector.core.inference.results import (
    LAYER_DROPOUT,
    LAYER_NORM,
    ModeSensitiveLayer,
    RunResult,
)
from inspector.core.text import cosine_text, metric_text, number_text, path_text, percent_text

MAX_LISTED_KEYS = 12  # keys listed per section; the rest are counted

LEVEL_INFO = "info"
LEVEL_OK = "ok"
LEVEL_WARNING = "warning"
LEVEL_ERROR = "error"


@dataclass(frozen=True)
class ReportSection:
    """One part of a report: a ``title``, a sentence after it, and a list of ``items``
    (``more`` further items left out). ``level`` is ``"info"``, ``"ok"``, ``"warning"`` or
    ``"error"``, for front ends that colour it."""

    title: str
    text: str = ""
    items: tuple[str, ...] = ()
    more: int = 0
    level: str = LEVEL_INFO


def _names(layers: Sequence[ModeSensitiveLayer], limit: int = 3) -> str:
    names = [layer.name for layer in layers]
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def verdict_text(result: RunResult) -> str:
    """One paragraph: what eval and train mode did with the same input, and why."""
    n = result.train.runs
    layers = result.mode_sensitive_layers
    dropout = [m for m in layers if m.kind == LAYER_DROPOUT]
    norm = [m for m in layers if m.kind == LAYER_NORM]
    random_other = [m for m in layers if m not in dropout and m not in norm]
    if result.eval.max_run_diff == 0:
        text = f"In eval mode the {n} runs are identical"
    else:
        text = (f"Even in eval mode the {n} runs differ (spread "
                f"{metric_text(result.eval.spread)}): the model's forward pass is itself random")
    if result.train.max_run_diff > 0:
        reasons = []
        if dropout:
            reasons.append(f"Dropout ({_names(dropout)}) zeroes a different random set of "
                           f"activations on every pass")
        if random_other:
            reasons.append(f"{random_other[0].type} ({_names(random_other)}) is random in "
                           f"train mode")
        text += (f"; in train mode they spread by {metric_text(result.train.spread)} on "
                 f"average (largest difference between two runs "
                 f"{metric_text(result.train.max_run_diff)})")
        if reasons:
            text += " because " + " and ".join(reasons)
    else:
        text += "; in train mode they are identical too"
        if norm:
            text += " (BatchNorm is not random: with the same batch it gives the same output)"
    text += "."
    gap = result.eval_vs_train_mean
    outputs = result.eval.outputs
    scale = max(1.0, float(np.abs(outputs).mean()) if outputs.size else 1.0)
    if gap > 1e-6 * scale:
        why = []
        if norm:
            why.append(f"BatchNorm ({_names(norm)}) normalizes with the batch's own mean and "
                       f"variance instead of the stored running statistics")
        elif dropout:
            why.append(f"the {n} random Dropout masks do not average out exactly")
        text += (f" The eval output differs from the mean of the train runs by "
                 f"{metric_text(gap)} on average")
        text += (" because " + " and ".join(why) + "." if why else ".")
        text += " Call model.eval() before inference."
    elif not layers:
        text += (" This model has no Dropout or BatchNorm layers, so model.eval() changes "
                 "nothing here (calling it is still good practice).")
    else:
        text += " Train and eval outputs agree here."
    extra = prediction_text(result)
    if extra:
        text += " " + extra
    warning = random_init_text(result)
    if warning:
        text = warning + " " + text
    return text


def _because(result: RunResult) -> str:
    layers = result.mode_sensitive_layers
    dropout = [m for m in layers if m.kind == LAYER_DROPOUT]
    norm = [m for m in layers if m.kind == LAYER_NORM]
    reasons = []
    if dropout:
        reasons.append(f"Dropout in {_names(dropout)}")
    if norm:
        reasons.append(f"BatchNorm in {_names(norm)}")
    others = [m for m in layers if m not in dropout and m not in norm]
    if others:
        reasons.append(f"{others[0].type} in {_names(others)}")
    return " because of " + " and ".join(reasons) if reasons else ""


def prediction_text(result: RunResult) -> str:
    """What train mode did to the labelled output: how often the top-1 class (or next
    token) changed, or how similar the embeddings stayed; "" for other outputs."""
    p = result.predictions
    n = result.train.runs
    if p is not None and p.eval:
        what = {"classes": "class", "masked-token": "guess for the masked word"}.get(
            p.kind, "next token")
        top = p.eval[0]
        head = (f"In eval mode the top-1 {what} is {top.label!r} "
                f"({probability_text(top.probability)})")
        if p.top1_changes:
            return (f"{head}; in train mode the top-1 {what} changes in {p.top1_changes} of "
                    f"{n} runs{_because(result)}.")
        return f"{head}, and it stays the same in all {n} train runs."
    c = result.embedding_cosine
    if c is not None:
        return (f"The embedding's cosine similarity between each train run and eval is "
                f"{cosine_text(c.mean)} on average (lowest {cosine_text(c.min)}; 1 means "
                f"identical)"
                f"{_because(result) if c.min < 0.999999 else ''}.")
    return ""


def probability_text(p: float) -> str:
    """A probability as a percentage (3 significant digits)."""
    return percent_text(round(p * 1_000_000), 1_000_000)


def random_init_text(result: RunResult) -> str:
    """The warning that the run used random weights ("" when every weight was loaded)."""
    keys = result.random_init_keys
    if not keys:
        return ""
    shown = ", ".join(keys[:4]) + (f" and {len(keys) - 4} more" if len(keys) > 4 else "")
    return (f"Ran anyway with random weights: {len(keys)} weight{'s' if len(keys) != 1 else ''} "
            f"({shown}) kept random initial values because the file lacks them or has another "
            f"shape, so these outputs are partly random.")


def drift_text(result: RunResult) -> str:
    """What the train passes would have done to BatchNorm's running statistics."""
    has_norm = any(m.kind == LAYER_NORM for m in result.mode_sensitive_layers)
    if not has_norm and not result.bn_running_stats_drift:
        return "No BatchNorm running statistics that could drift."
    return (f"BatchNorm running statistics would have drifted by up to "
            f"{metric_text(result.bn_running_stats_drift)} had the train passes run on the "
            f"loaded model (they ran on a copy).")


def weights_text(result: RunResult) -> str:
    """Whether the loaded weights are what the file holds after the run."""
    if result.weights_unchanged:
        return ("The loaded weights are unchanged (verified bit for bit), and the file was "
                "only read.")
    return "The loaded weights changed during the run (the model's forward modifies its own state)."


def input_text(result: RunResult) -> str:
    """The input that was fed and the output shape, as a sentence."""
    described = result.input_description[:1].upper() + result.input_description[1:]
    return f"{described}; output {list(result.output_shape)}."


def layer_text(layer: ModeSensitiveLayer) -> str:
    """How one layer differs between the modes, as a sentence."""
    return layer.explanation[:1].upper() + layer.explanation[1:] + "."


def _listed(keys: Sequence[str], limit: int) -> tuple[tuple[str, ...], int]:
    return tuple(keys[:limit]), max(len(keys) - limit, 0)


def load_sections(result: RunResult, limit: int = MAX_LISTED_KEYS) -> list[ReportSection]:
    """The load report: what was loaded into what, the key fixes, missing and unexpected keys,
    shape mismatches, notes, and the input that was fed."""
    load = result.load
    where = f"from {path_text(load.container)}" if load.container else ""
    sections = [ReportSection(
        f"{_plural(load.loaded_keys, 'tensor')} loaded into {result.architecture}", where)]
    if load.fixes_applied:
        sections.append(ReportSection("Fixes applied", "in memory; the file is not changed",
                                      tuple(load.fixes_applied)))
    if not (load.missing_keys or load.unexpected_keys or load.shape_mismatches):
        sections.append(ReportSection("Every key matched in name and shape.", level=LEVEL_OK))
    if load.missing_keys:
        items, more = _listed(load.missing_keys, limit)
        sections.append(ReportSection(
            f"Missing keys ({len(load.missing_keys)})",
            "the model has them, the file does not; they keep their initial values",
            items, more, LEVEL_WARNING))
    if load.unexpected_keys:
        items, more = _listed(load.unexpected_keys, limit)
        sections.append(ReportSection(
            f"Unexpected keys ({len(load.unexpected_keys)})",
            "in the file, not in the model; ignored", items, more, LEVEL_WARNING))
    if load.shape_mismatches:
        lines = [f"{m.checkpoint_key}: file {list(m.checkpoint_shape)}, model "
                 f"{list(m.model_shape)}" for m in load.shape_mismatches]
        items, more = _listed(lines, limit)
        sections.append(ReportSection(
            f"Shape mismatches ({len(load.shape_mismatches)})", "not loaded", items, more,
            LEVEL_ERROR))
    if result.notes:
        sections.append(ReportSection("Notes", items=tuple(result.notes)))
    sections.append(ReportSection(input_text(result)))
    return sections


def timing_rows(result: RunResult) -> list[tuple[str, str, str, str]]:
    """(mode, ms per run, spread, max run diff) for train and eval, as text."""
    return [(name, number_text(mode.ms_per_run, 3), metric_text(mode.spread),
             metric_text(mode.max_run_diff))
            for name, mode in (("train", result.train), ("eval", result.eval))]


SPREAD_MEANING = "spread: the mean over outputs of the standard deviation across runs"
