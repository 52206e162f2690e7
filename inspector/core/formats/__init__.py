"""Open any supported checkpoint: detect the format by content, never by the file name."""

from __future__ import annotations

import gc
import mmap
import os
import stat

from inspector.core.checkpoint import Checkpoint, CheckpointError
from inspector.core.formats._zip import ZipArchive, verify_zip_records
from inspector.core.model import AmbiguousArchiveError
from inspector.core.remote.urls import display_url, is_url, url_parent

# The readers load on first use: opening a torch.save file imports the zip reader and the
# unpickler only (the app opens its first file before anything else is imported, issue 13).

# first opcodes of text-mode (protocol 0/1) pickles
PROTOCOL_0_STARTS = frozenset(bytes([b]) for b in b"(c}])ISVNLFGJKUXi")

__all__ = ["PROTOCOL_0_STARTS", "AmbiguousArchiveError", "Checkpoint", "CheckpointError",
           "open_checkpoint", "validated_bytes", "verify_zip_records"]


def __getattr__(name: str):
    if name == "validated_bytes":  # imports tarfile: loaded when a trusted load needs it
        from inspector.core.formats.trusted import validated_bytes

        return validated_bytes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def open_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint's metadata (no tensor bytes, no code from the file).

    Raises CheckpointError with a message that names the file and the problem.
    """
    path = os.fspath(path)
    if is_url(path):
        return _open_url(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise CheckpointError(path, "no such file or folder") from None
    except PermissionError:
        raise CheckpointError(path, "permission denied") from None
    except OSError as e:
        raise CheckpointError(path, f"cannot read it ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        return _open_folder(path)
    if not stat.S_ISREG(st.st_mode):
        kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(st.st_mode) else
                "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                "a socket" if stat.S_ISSOCK(st.st_mode) else "not a regular file")
        raise CheckpointError(path, f"is {kind}, not a checkpoint file")
    if st.st_size == 0:
        raise CheckpointError(path, "file is empty")
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except PermissionError:
        raise CheckpointError(path, "permission denied") from None
    except OSError as e:
        raise CheckpointError(path, f"cannot read it ({e.strerror or e})") from None
    with fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise CheckpointError(path, "file is empty")
        try:
            mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as e:
            raise CheckpointError(path, f"cannot map it ({e})") from None
        try:
            return _read_guarded(path, fh, mm, size)
        finally:
            try:
                mm.close()
            except BufferError:
                pass


def _read_guarded(path: str, fh, mm, size: int) -> Checkpoint:
    """:func:`_dispatch` with every reader failure turned into one CheckpointError."""
    gc_was_enabled = gc.isenabled()
    gc.disable()  # millions of fresh containers would trigger collection after collection
    try:
        return _dispatch(path, fh, mm, size)
    except CheckpointError:
        raise
    except (RecursionError, MemoryError) as e:
        raise CheckpointError(path, f"the file is too complex to read ({type(e).__name__})") from None
    except Exception as e:  # noqa: BLE001 - no reader bug may escape as a traceback
        raise CheckpointError(path, f"unreadable ({type(e).__name__}: {str(e)[:200]})") from e
    finally:
        if gc_was_enabled:
            gc.enable()


def _open_url(url: str) -> Checkpoint:
    """A checkpoint behind a URL: the same readers over ranged reads (metadata only); the
    checkpoint's ``details["remote"]`` says how many bytes and requests listing took."""
    from inspector.core.remote.source import RemoteBuffer, RemoteFile, remember

    remote = RemoteFile(url)
    remember(remote)  # readers that fetch more of the same URL share its blocks and counts
    if remote.kind == "directory":
        from inspector.core.formats.remote_folder import read_remote_folder

        ck = read_remote_folder(url, remote, open_checkpoint)
    else:
        if remote.size is None:
            raise CheckpointError(display_url(url), "the server does not say how big the file "
                                                    "is, so it cannot be read in parts")
        if remote.size == 0:
            raise CheckpointError(display_url(url), "file is empty")
        remote.check_ranges()
        ck = _read_guarded(url, None, RemoteBuffer(remote), remote.size)
    remote.forget()  # the metadata is parsed: its bytes need not stay in memory
    fetched = ck.details.get("remote", {})
    ck.details["remote"] = {
        "url": display_url(url),
        "bytes_fetched": remote.fetched + fetched.get("bytes_fetched", 0),
        "requests": remote.requests + fetched.get("requests", 0),
    }
    return ck


def _dispatch(path: str, fh, mm: mmap.mmap, size: int) -> Checkpoint:
    head = bytes(mm[:64])
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _read_zip(path, mm, size)
    from inspector.core.formats.dcp import looks_dcp_metadata, read_dcp
    from inspector.core.formats.hf_folder import read_hf_index
    from inspector.core.formats.safetensors import looks_safetensors, read_safetensors
    from inspector.core.formats.torch_legacy import looks_legacy, read_torch_legacy
    from inspector.core.formats.trusted import TAR_BLOCK, looks_tar

    if looks_tar(mm[:TAR_BLOCK]):
        # torch.load tries tar before anything else that is not a zip
        if looks_legacy(head) or looks_safetensors(head, size) or head[:1] in PROTOCOL_0_STARTS \
                or head[:1] == b"\x80":
            raise AmbiguousArchiveError(path, "the file is also a tar archive, which torch.load "
                                              "reads instead (as a pre-0.4 checkpoint)")
        raise CheckpointError(path, "a tar archive (the pre-0.4 torch format is not supported)")
    if looks_legacy(head):
        return read_torch_legacy(path, fh, mm, size)
    if looks_safetensors(head, size):
        return read_safetensors(path, fh, mm, size)
    if head.lstrip()[:1] == b"{" and path.endswith(".json"):
        return read_hf_index(path, open_checkpoint)
    if looks_dcp_metadata(mm[:128]) and path.rstrip("/").rsplit("/", 1)[-1] == ".metadata":
        if is_url(path):
            return read_dcp(url_parent(path))
        return read_dcp(os.path.dirname(os.path.abspath(path)))
    if head[:1] == b"\x80" and 2 <= head[1] <= 5:
        return _read_pickle(path, mm, size)
    if head[:1] in PROTOCOL_0_STARTS:
        try:  # harmless to try: the inert unpickler runs nothing
            return _read_pickle(path, mm, size)
        except CheckpointError:
            pass
    if head.startswith(b"\x1f\x8b"):
        raise CheckpointError(path, "a gzip file, not a checkpoint (decompress it first)")
    if head[:1] in (b"{", b"["):
        raise CheckpointError(path, "a JSON file, not a checkpoint or shard index")
    raise CheckpointError(path, "unrecognized format: not a PyTorch (zip or legacy), "
                                "safetensors or pickle file")


def _read_zip(path: str, mm: mmap.mmap, size: int) -> Checkpoint:
    """A zip: a torch.export program, a TorchScript archive or a torch.save checkpoint,
    told apart by the entries torch itself looks for."""
    archive = ZipArchive(path, mm)
    if archive.root is None:
        if not archive.infos:
            raise CheckpointError(path, "empty zip archive: not a PyTorch checkpoint")
        raise CheckpointError(path, "zip archive has more than one top-level folder; a torch "
                                    "checkpoint has exactly one")
    root = archive.root
    names = archive.infos
    if f"{root}/archive_format" in names or (f"{root}/data.pkl" not in names and any(
            n.startswith(f"{root}/models/") for n in names)):
        from inspector.core.formats.torch_export import read_torch_export

        return read_torch_export(path, archive, size)
    if f"{root}/data.pkl" in names and (f"{root}/constants.pkl" in names or any(
            n.startswith(f"{root}/code/") for n in names)):
        from inspector.core.formats.torchscript import read_torchscript

        return read_torchscript(path, archive, size)
    from inspector.core.formats.torch_zip import read_torch_zip

    return read_torch_zip(path, archive, size)


def _read_pickle(path: str, mm: mmap.mmap, size: int) -> Checkpoint:
    """A bare pickle (pickle.dump): shown symbolically; storages cannot be resolved."""
    from inspector.core.tree import TreeBuilder
    from inspector.core.unpickler import MAX_PICKLE_BYTES, InertPickleError, load_inert

    if not isinstance(mm, mmap.mmap | bytes | memoryview):  # remote: the pickle is all there is
        mm = mm[:min(size, MAX_PICKLE_BYTES)]
    try:
        res = load_inert(mm)
    except InertPickleError as e:
        raise CheckpointError(path, f"pickle: {e}") from e
    warnings: list[str] = []
    tree = TreeBuilder(lambda ref: None, warnings).build(res.obj)
    if res.end < size:
        warnings.append(f"{size - res.end} bytes follow the pickle and were not read")
    return Checkpoint(path=path, format="pickle", size_bytes=size, root=tree,
                      globals=res.globals, unsafe_globals=res.unsafe_globals, warnings=warnings)


def _open_folder(path: str) -> Checkpoint:
    """A folder: a torch.distributed.checkpoint folder or a Hugging Face model folder."""
    from inspector.core.formats.dcp import looks_dcp_folder, read_dcp
    from inspector.core.formats.hf_folder import read_hf_folder

    try:
        if looks_dcp_folder(path):
            return read_dcp(path)
        return read_hf_folder(path, open_checkpoint)
    except CheckpointError:
        raise
    except (RecursionError, MemoryError) as e:
        raise CheckpointError(path, f"the checkpoint is too complex to read ({type(e).__name__})") from None
    except Exception as e:  # noqa: BLE001 - no reader bug may escape as a traceback
        raise CheckpointError(path, f"unreadable ({type(e).__name__}: {str(e)[:200]})") from e
