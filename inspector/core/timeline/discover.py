"""Which checkpoints make a training run, and in which order (metadata only, nothing run).

A run is given as one folder or as several paths. A folder's checkpoints are its checkpoint
files (``epoch_1.pth …``), or its checkpoint folders (Hugging Face ``checkpoint-500/``,
torch.distributed.checkpoint ``step_1000/``); a folder holding none but a ``checkpoints/``
folder (Lightning, also under ``lightning_logs/version_N/``) opens that one.

Order: the step each file holds (``global_step``, then ``step``, then ``epoch``, read from
the file's top-level entries, or ``global_step`` from a Hugging Face ``trainer_state.json``)
when every checkpoint holds the same one; otherwise the last number in each name. A run that
mixes kinds of checkpoints, or that can be ordered neither way, raises :class:`RunError`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from inspector.core.checkpoint import SCALAR, Checkpoint, CheckpointError

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors", ".tar")
STEP_KEYS = ("global_step", "step", "epoch")  # in order of preference
LIGHTNING_LAST = "last.ckpt"  # Lightning's copy of the latest checkpoint
MAX_TRAINER_STATE_BYTES = 64 << 20
_NUMBER = re.compile(r"\d+")


class RunError(ValueError):
    """The paths do not make one orderable run; ``str()`` is the message for the user."""


@dataclass(frozen=True)
class RunEntry:
    """One checkpoint of a run: where it is, what kind (``file``, ``hf``, ``dcp``), the step
    used to order it and where that step came from (``global_step``, ``step``, ``epoch`` or
    ``name``)."""

    path: str
    kind: str
    step: int | float
    step_source: str


# ---- Public API
def discover_run(paths: list[str] | tuple[str, ...] | str) -> list[RunEntry]:
    """The checkpoints of a run, ordered by step. Raises :class:`RunError`."""
    from inspector.core.formats import open_checkpoint

    if isinstance(paths, (str, os.PathLike)):
        paths = [os.fspath(paths)]
    paths = [os.path.abspath(os.fspath(p)) for p in paths]
    if not paths:
        raise RunError("no checkpoints given")
    if len(paths) == 1 and os.path.isdir(paths[0]) and not _is_checkpoint_folder(paths[0]):
        members = run_members(paths[0])
    else:
        members = []
        for p in paths:
            if not os.path.exists(p):
                raise RunError(f"{p}: no such file or folder")
            members.append((p, _kind(p)))
    if len(members) < 2:
        where = paths[0] if len(paths) == 1 else "the selection"
        raise RunError(f"{where}: a run needs at least two checkpoints, found {len(members)}")
    kinds = sorted({k for _, k in members})
    if len(kinds) > 1:
        names = {"file": "checkpoint files", "hf": "Hugging Face checkpoint folders",
                 "dcp": "distributed (DCP) checkpoint folders"}
        raise RunError("the run mixes " + " and ".join(names[k] for k in kinds)
                       + "; open one kind at a time")
    held = {}
    for p, kind in members:
        held[p] = _held_steps(p, kind, open_checkpoint)
    return _ordered(members, held)


def run_members(folder: str) -> list[tuple[str, str]]:
    """``(path, kind)`` of a folder's checkpoints (see the module docstring)."""
    try:
        names = sorted(os.listdir(folder))
    except OSError as e:
        raise RunError(f"{folder}: cannot list the folder ({e.strerror or e})") from None
    files, subfolders = [], []
    real_folder = os.path.realpath(folder)
    for n in names:
        p = os.path.join(folder, n)
        if os.path.commonpath([os.path.realpath(p), real_folder]) != real_folder:
            continue  # a link out of the folder
        if os.path.isfile(p) and n.lower().endswith(CHECKPOINT_SUFFIXES):
            files.append((p, "file"))
        elif os.path.isdir(p) and _is_checkpoint_folder(p):
            subfolders.append((p, _kind(p)))
    if len(files) > 1 and any(os.path.basename(p) == LIGHTNING_LAST for p, _ in files):
        files = [(p, k) for p, k in files if os.path.basename(p) != LIGHTNING_LAST]
    found = files + subfolders
    if found:
        return found
    for sub in ("checkpoints",):
        p = os.path.join(folder, sub)
        if os.path.isdir(p):
            return run_members(p)
    logs = os.path.join(folder, "lightning_logs")
    if os.path.isdir(logs):
        versions = sorted((d for d in os.listdir(logs) if d.startswith("version_")),
                          key=lambda d: _last_number(d) or 0)
        if versions:
            return run_members(os.path.join(logs, versions[-1]))
    raise RunError(f"{folder}: no checkpoint files or checkpoint folders in it")


# ---- Private API
def _is_checkpoint_folder(path: str) -> bool:
    from inspector.core.formats.dcp import looks_dcp_folder
    from inspector.core.formats.hf_folder import weight_files

    if looks_dcp_folder(path):
        return True
    try:
        return bool(weight_files(path)[1])
    except CheckpointError:
        return False


def _kind(path: str) -> str:
    if os.path.isdir(path):
        from inspector.core.formats.dcp import looks_dcp_folder

        return "dcp" if looks_dcp_folder(path) else "hf"
    return "file"


def _held_steps(path: str, kind: str, open_checkpoint) -> dict[str, int | float]:
    """The step-like numbers a checkpoint holds at its top level."""
    out: dict[str, int | float] = {}
    if kind == "hf":
        state = os.path.join(path, "trainer_state.json")
        try:
            if os.path.isfile(state) and os.path.getsize(state) <= MAX_TRAINER_STATE_BYTES:
                with open(state, encoding="utf-8") as fh:
                    doc = json.load(fh)
                for key in STEP_KEYS:
                    v = doc.get(key) if isinstance(doc, dict) else None
                    if _is_number(v):
                        out[key] = v
        except (OSError, ValueError):
            pass
        return out
    try:
        ck = open_checkpoint(path)
    except CheckpointError as e:
        raise RunError(f"{e.path}: {e.problem}") from None
    try:
        out.update(top_level_steps(ck))
    finally:
        ck.close()
    return out


def top_level_steps(ck: Checkpoint) -> dict[str, int | float]:
    """``global_step``/``step``/``epoch`` numbers among the root's entries."""
    out: dict[str, int | float] = {}
    for key in STEP_KEYS:
        node = ck.root.child(key) if ck.root.children else None
        if node is not None and node.kind == SCALAR and _is_number(node.value):
            out[key] = node.value
    return out


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v


def _last_number(name: str) -> int | None:
    stem = name
    for suffix in CHECKPOINT_SUFFIXES:
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    found = _NUMBER.findall(stem)
    return int(found[-1]) if found else None


def _ordered(members: list[tuple[str, str]], held: dict[str, dict]) -> list[RunEntry]:
    for key in STEP_KEYS:
        steps = [held[p].get(key) for p, _ in members]
        if all(s is not None for s in steps) and len(set(steps)) == len(steps):
            return sorted((RunEntry(p, k, held[p][key], key) for p, k in members),
                          key=lambda e: e.step)
    numbers = {p: _last_number(os.path.basename(p.rstrip(os.sep))) for p, _ in members}
    missing = [os.path.basename(p) for p, n in numbers.items() if n is None]
    if missing:
        raise RunError("cannot order the run: " + ", ".join(missing[:3])
                       + (" …" if len(missing) > 3 else "")
                       + " hold no step, epoch or global_step entry and have no number in "
                         "the name")
    values = list(numbers.values())
    if len(set(values)) != len(values):
        dup = sorted(os.path.basename(p) for p, n in numbers.items() if values.count(n) > 1)
        raise RunError("cannot order the run: " + ", ".join(dup[:4])
                       + " hold no distinct step and carry the same number in their names")
    return sorted((RunEntry(p, k, numbers[p], "name") for p, k in members),
                  key=lambda e: e.step)


def is_run_folder(path: str) -> bool:
    """Whether ``path`` is a folder holding several checkpoints (not itself one checkpoint).
    Raises :class:`RunError` when it does not exist."""
    if not os.path.exists(path):
        raise RunError(f"{path}: no such file or folder")
    if not os.path.isdir(path) or _is_checkpoint_folder(path):
        return False
    try:
        return len(run_members(path)) >= 2
    except RunError:
        return False
