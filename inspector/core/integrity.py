"""Check that a checkpoint's bytes are what its container says (CRC-32 of zip records).

torch.load never checks zip CRCs, so a bit flip in a tensor goes unnoticed; this reads every
byte once, so it runs on request (``info --verify``), not when a file is opened.
"""

from __future__ import annotations

from inspector.core.checkpoint import Checkpoint
from inspector.core.formats import verify_zip_records


def verify_checksums(ckpt: Checkpoint) -> list[str]:
    """Problems found (empty when every record matches its CRC); files that are not zip
    archives (safetensors, legacy) carry no checksums and are skipped."""
    files: list[str] = []
    for _, info in ckpt.tensors():
        for st in (info.storage, *info.extra_storages):
            if st is not None and st.file not in files:
                files.append(st.file)
    if ckpt.path not in files:
        files.insert(0, ckpt.path)
    problems: list[str] = []
    for f in files:
        try:
            with open(f, "rb") as fh:
                if fh.read(4) != b"PK\x03\x04":
                    continue
        except OSError as e:
            problems.append(f"{f}: cannot read it ({e.strerror or e})")
            continue
        problems += verify_zip_records(f)
    return problems
