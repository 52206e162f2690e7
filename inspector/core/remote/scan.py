"""``scan`` of a checkpoint behind a URL: the reader's globals plus the same static pass over
the file's other pickles that :func:`inspector.core.safety.scan` makes for a local file
(a zip read through a seekable fsspec file: its central directory and its pickle entries
only; a legacy or bare pickle from its first bytes)."""

from __future__ import annotations

import dataclasses

from inspector.core.model import CheckpointError


def scan_url(url: str):
    """A :class:`~inspector.core.safety.ScanResult` for ``url``, with the same verdict rules
    as a local scan (anything not fully scanned is never clean)."""
    from inspector.core import safety
    from inspector.core.remote.source import remote_file
    from inspector.core.unpickler import is_allowed

    result = safety.scan(url)  # the reader's globals (its static pass needs a local file)
    try:
        remote_file(url)
    except CheckpointError:
        return result  # not reachable: nothing to scan, as for a missing local file
    try:
        found, notes = _static_pass(url, loaded=result.error is None)
    except CheckpointError as e:
        found, notes = ["<static scan not done>"], [f"static scan stopped: {e.problem}"]
    except Exception as e:  # noqa: BLE001 - best effort, as for local files
        found, notes = [], [f"static scan stopped: {type(e).__name__}: {str(e)[:200]}"]
    expected = safety._expected_for(result.format)
    seen = dict.fromkeys(result.globals)
    unsafe = dict.fromkeys(result.unsafe_globals)
    for g in found:
        seen.setdefault(g, None)
        if not is_allowed(g) and not expected(g):
            unsafe.setdefault(g, None)
    verdict = result.verdict
    if unsafe:
        verdict = safety.UNSAFE
    return dataclasses.replace(result, verdict=verdict, globals=list(seen),
                               unsafe_globals=list(unsafe), notes=list(result.notes) + notes)


def _static_pass(url: str, loaded: bool) -> tuple[list[str], list[str]]:
    from inspector.core import safety
    from inspector.core.formats import PROTOCOL_0_STARTS
    from inspector.core.formats.torch_legacy import looks_legacy
    from inspector.core.remote.source import remote_file

    remote = remote_file(url)
    if remote.kind == "directory" or not remote.size:
        return [], []
    head = remote.read(0, 64)
    count = 1
    if head.startswith(b"PK\x03\x04"):
        with remote.fs.open(remote.fspath, "rb", block_size=1 << 20) as fh:
            blobs = list(safety._zip_pickles(fh, skip_data_pkl=loaded))
    elif not loaded and (looks_legacy(head) or head[:1] == b"\x80"
                         or head[:1] in PROTOCOL_0_STARTS):
        # a legacy file: five pickles, then bytes; read as far as one scan reads anyway
        blobs, count = [("file", remote.read(0, min(remote.size, safety.MAX_SCAN_TOTAL)),
                         True)], 5
    else:
        blobs = []
    return safety.scan_pickles(blobs, count)  # the same rules as a local scan
