"""``info --verify`` for a checkpoint behind a URL: every zip record of every file it reads
checked against its CRC-32, as :func:`inspector.core.integrity.verify_checksums` does for
local files (this reads every byte of those files, in large range requests)."""

from __future__ import annotations

from inspector.core.checkpoint import Checkpoint
from inspector.core.model import CheckpointError


def verify_remote_checksums(ckpt: Checkpoint) -> list[str]:
    from inspector.core.formats import verify_zip_records
    from inspector.core.remote.source import remote_file
    from inspector.core.remote.urls import display_url

    files: list[str] = [ckpt.path]
    for _, info in ckpt.tensors():
        for st in (info.storage, *info.extra_storages):
            if st is not None and st.file not in files:
                files.append(st.file)
    problems: list[str] = []
    for f in files:
        try:
            remote = remote_file(f)
            if remote.kind == "directory" or remote.read(0, 4) != b"PK\x03\x04":
                continue
            problems += verify_zip_records(f)
        except CheckpointError as e:
            problems.append(f"{display_url(f)}: {e.problem}")
    return problems
