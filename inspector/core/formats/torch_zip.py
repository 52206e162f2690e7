"""torch.save zip archives (.pth/.pt/.bin/.ckpt/.tar), read without running pickle code.

Only the central directory and ``data.pkl`` are read; each storage becomes a byte range of
the file (records are stored uncompressed), so opening costs what the pickle costs.
"""

from __future__ import annotations

import zlib
from typing import Any

from inspector.core.checkpoint import Checkpoint
from inspector.core.formats._torch_pickle import TorchPickles
from inspector.core.formats._zip import ZipArchive
from inspector.core.model import CheckpointError
from inspector.core.tree import TreeBuilder
from inspector.core.unpickler import MAX_PICKLE_BYTES


def read_torch_zip(path: str, archive: ZipArchive, size: int) -> Checkpoint:
    """A ``torch.save`` archive: ``<root>/data.pkl`` over the records in ``<root>/data/``."""
    root = archive.root
    pkl_name = f"{root}/data.pkl"
    if pkl_name not in archive.infos:
        raise CheckpointError(path, "a zip archive, but not a PyTorch checkpoint (no data.pkl)")
    warnings: list[str] = []
    pickles = TorchPickles(archive)
    data = pickles.read("data.pkl", MAX_PICKLE_BYTES)
    if zlib.crc32(data) != archive.infos[pkl_name].crc:
        warnings.append("data.pkl fails its CRC-32 check: the file is corrupt (torch does not "
                        "check CRCs and would read it anyway)")
    result = pickles.load("data.pkl", data=data)
    tree = TreeBuilder(pickles.storage_info, warnings).build(result.obj)
    details: dict[str, Any] = {"zip_root": root, "byteorder": pickles.byteorder,
                               "pickle_bytes": len(data), "entries": len(archive.infos)}
    version = f"{root}/version"
    if version in archive.infos:
        details["archive_version"] = archive.text(version, 64)
    return Checkpoint(path=path, format="torch-zip", size_bytes=size, root=tree,
                      globals=result.globals, unsafe_globals=result.unsafe_globals,
                      warnings=warnings, details=details)
