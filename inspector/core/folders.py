"""Folders the user opens or drops: is a folder one checkpoint (a Hugging Face model, DCP,
shards) or a folder of checkpoint files?"""

from __future__ import annotations

import os

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt", ".safetensors", ".tar", ".pkl", ".pt2")


def is_checkpoint_folder(folder: str) -> bool:
    """A folder that is one checkpoint: a shard index, a Hugging Face model folder
    (``config.json`` beside weights), a torch.distributed.checkpoint folder (``.metadata``)
    or safetensors shards (``model-00001-of-00003.safetensors``)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return False
    if ".metadata" in names or any(n.endswith(".index.json") for n in names):
        return True
    weights = [n for n in names if n.endswith((".safetensors", ".bin"))]
    if "config.json" in names and weights:
        return True
    return sum(1 for n in weights if "-of-" in n) > 1


def checkpoint_files(folder: str) -> list[str]:
    """The checkpoint files of a dropped folder; symlinks out of the folder are not followed."""
    from inspector.core.formats.hf_folder import inside_folder  # the readers: not before paint

    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return []
    return [os.path.join(folder, n) for n in names
            if n.lower().endswith(CHECKPOINT_SUFFIXES) and os.path.isfile(os.path.join(folder, n))
            and inside_folder(folder, n)]
