"""What a trusted load hands to torch: the bytes we validated, never the path.

``torch.load(path)``, ``torch.jit.load(path)`` and ``torch.export.load(path)`` read the file
with their own container readers. When the user trusts a file after inspecting it, torch
must load what we showed: :func:`validated_bytes` reads the file once, refuses containers
with more than one reading (the same checks the readers make), and returns an in-memory
copy — for a zip, a fresh archive rebuilt from the validated records only; for anything
else, the file's bytes, given as a stream, which makes torch skip its tar attempt.
"""

from __future__ import annotations

import io
import os
import tarfile

from inspector.core.formats._zip import ZipArchive
from inspector.core.model import AmbiguousArchiveError, CheckpointError

TAR_BLOCK = 512


def looks_tar(head: bytes) -> bool:
    """Whether ``head`` (the first 512 bytes) is a tar header that Python's ``tarfile`` — and
    so ``torch.load``, which tries tar before the legacy format — accepts."""
    if len(head) < TAR_BLOCK:
        return False
    try:
        tarfile.TarInfo.frombuf(bytes(head[:TAR_BLOCK]), tarfile.ENCODING, "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def validated_bytes(path: str | os.PathLike) -> io.BytesIO:
    """The file at ``path`` as a stream for a trusted ``torch.load`` / ``torch.jit.load`` /
    ``torch.export.load``: read once, checked, and for a zip rebuilt from the validated
    records. Raises CheckpointError (:class:`AmbiguousArchiveError` for files readers could
    read differently). Memory: about twice the file's size while it is rebuilt."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as e:
        raise CheckpointError(path, f"cannot read it ({e.strerror or e})") from None
    if data.startswith(b"PK\x03\x04"):
        archive = ZipArchive(path, data)
        if archive.root is None:
            raise CheckpointError(path, "a zip archive without a single top-level folder is not "
                                        "a torch archive")
        rebuilt = archive.rebuilt()
        del archive, data
        return rebuilt
    if looks_tar(data[:TAR_BLOCK]):
        raise AmbiguousArchiveError(path, "the file starts with a tar header; torch.load would "
                                          "read it as a pre-0.4 tar checkpoint")
    return io.BytesIO(data)
