"""Bytes of a remote file through fsspec: ranged reads, a small block cache for metadata,
and a count of what was fetched.

:class:`RemoteFile` talks to the server (one fsspec filesystem per URL scheme, with timeouts);
:class:`RemoteBuffer` is what the format readers see instead of a memory map: ``len()``,
slicing to ``bytes``, ``find``/``rfind`` and :meth:`RemoteBuffer.prefetch` for many small
ranges at once (a zip's local headers). Every failure becomes one :class:`RemoteError` that
says what happened (not found, access denied, timed out, no range support, dropped
connection). Credentials are whatever each backend finds in its usual places (environment,
``~/.aws``, gcloud, the Hugging Face token); nothing here stores them.
"""

from __future__ import annotations

import bisect
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from inspector.core.model import CheckpointError
from inspector.core.remote.urls import BACKEND_PACKAGES, display_url, scheme

BLOCK = 64 << 10  # small reads are rounded to blocks of this size and kept in memory
MAX_BLOCKS = 1024  # 64 MiB of blocks per file at most
DIRECT_READ = 4 * BLOCK  # reads at least this long are fetched exactly, not cached
MAX_SPAN_BYTES = 64 << 20  # prefetched small ranges kept per file
PARALLEL = 8  # concurrent range requests for a batch of small ranges
MERGE_GAP = 16 << 10  # prefetched ranges closer than this are fetched as one
MAX_MERGED = 4 << 20  # ... up to this length


def timeout_s() -> float:
    """Seconds a connection or a read may stay silent (``INSPECTOR_REMOTE_TIMEOUT``, 30)."""
    try:
        return max(0.1, float(os.environ.get("INSPECTOR_REMOTE_TIMEOUT", "30")))
    except ValueError:
        return 30.0


class RemoteError(CheckpointError):
    """A remote file that could not be reached or read; ``transient`` errors (a dropped
    connection) are worth one retry."""

    def __init__(self, url: str, problem: str, transient: bool = False):
        self.url = url
        self.transient = transient
        super().__init__(display_url(url), problem)


def filesystem(url: str) -> tuple[Any, str]:
    """(fsspec filesystem, path in it) for ``url``, with our timeouts."""
    proto = scheme(url)
    try:
        import fsspec
    except ImportError:
        raise RemoteError(url, "opening URLs needs the fsspec package (pip install "
                               "'checkpoint-inspector[remote]')") from None
    t = timeout_s()
    options: dict[str, Any] = {}
    try:
        if proto in ("http", "https"):
            import aiohttp

            options["client_kwargs"] = {"timeout": aiohttp.ClientTimeout(
                total=None, sock_connect=t, sock_read=t)}
        elif proto == "s3":
            options["config_kwargs"] = {"connect_timeout": t, "read_timeout": t,
                                        "retries": {"max_attempts": 2}}
            endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
            if endpoint:
                options["endpoint_url"] = endpoint
        return fsspec.core.url_to_fs(url, **options)
    except ImportError:
        package = BACKEND_PACKAGES.get(proto, "an fsspec backend")
        raise RemoteError(url, f"{proto}:// URLs need the {package} package (pip install "
                               f"{package})") from None
    except ValueError as e:
        raise RemoteError(url, f"not a usable URL ({str(e)[:200]})") from None


def translate(url: str, error: BaseException) -> RemoteError:
    """One clear :class:`RemoteError` for whatever a backend raised."""
    if isinstance(error, RemoteError):
        return error
    seen = [error]
    cause = error.__cause__ or error.__context__
    if cause is not None:
        seen.insert(0, cause)  # the cause is the more precise (fsspec turns a 403 into "not found")
    for e in seen:
        found = _classify(url, e)
        if found is not None:
            return found
    return RemoteError(url, f"cannot read it ({type(error).__name__}: {str(error)[:200]})")


_TIMEOUTS = {"ServerTimeoutError", "ConnectTimeoutError", "ReadTimeoutError", "ConnectTimeout",
             "ReadTimeout", "FSTimeoutError", "SocketTimeoutError", "ConnectionTimeoutError"}
_DROPPED = {"ClientPayloadError", "ServerDisconnectedError", "IncompleteRead",
            "ResponseStreamingError", "ProtocolError", "ContentLengthError",
            "ClientOSError", "RemoteDisconnected"}
_CONNECT = {"ClientConnectorError", "EndpointConnectionError", "ClientConnectorDNSError",
            "InvalidURL", "ConnectError"}


def _classify(url: str, e: BaseException) -> RemoteError | None:
    name = type(e).__name__
    text = str(e)
    status = getattr(e, "status", None)
    code = ""
    response = getattr(e, "response", None)
    if isinstance(response, dict):  # botocore ClientError
        code = str(response.get("Error", {}).get("Code", ""))
        status = status or response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if isinstance(e, FileNotFoundError) or status == 404 or code in ("NoSuchKey", "NoSuchBucket",
                                                                     "404"):
        return RemoteError(url, "not found (HTTP 404: no such file or object)")
    if isinstance(e, PermissionError) or status in (401, 403) or code in ("AccessDenied", "403"):
        return RemoteError(url, f"access denied (HTTP {status or 403}); credentials come from "
                                "the backend's usual places (environment variables, ~/.aws, "
                                "gcloud, the Hugging Face token)")
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return RemoteError(url, "no credentials found; the backend looks in its usual places "
                                "(AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, ~/.aws, an instance "
                                "role)")
    if "support range requests" in text or status == 416:
        return RemoteError(url, "the server does not support range requests (HTTP Range), which "
                                "reading part of a file needs; download the file and open the "
                                "local copy")
    if name in _TIMEOUTS or isinstance(e, TimeoutError):
        return RemoteError(url, f"timed out: the server did not answer within {timeout_s():g} s",
                           transient=True)
    if name in _DROPPED or isinstance(e, ConnectionResetError | BrokenPipeError | EOFError):
        return RemoteError(url, "the connection dropped while reading (the server closed it "
                                "before sending every byte)", transient=True)
    if name in _CONNECT or isinstance(e, ConnectionRefusedError):
        return RemoteError(url, f"cannot connect to the server ({text[:200]})")
    if isinstance(status, int) and status >= 400:
        return RemoteError(url, f"the server answered HTTP {status}")
    return None


class RemoteFile:
    """One remote file: its size and version, ranged reads, bytes and requests counted."""

    def __init__(self, url: str, info: dict | None = None):
        self.url = url
        self.fs, self.fspath = filesystem(url)
        if info is None:
            info = self._call(self.fs.info, self.fspath)
        self.kind = str(info.get("type", "file"))
        size = info.get("size")
        self.size: int | None = int(size) if size is not None else None
        # whatever identifies this version of the object: S3/HTTP ETag, GCS generation,
        # the Hub's blob id, else a modification time
        self.version = str(next((info[k] for k in ("ETag", "etag", "generation", "blob_id",
                                                   "md5Hash", "LastModified", "last_modified",
                                                   "updated", "mtime") if info.get(k)), ""))
        self.fetched = 0  # bytes received
        self.requests = 0
        self._lock = threading.Lock()
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._span_starts: list[int] = []
        self._spans: dict[int, bytes] = {}
        self._span_bytes = 0
        self._http = None
        self._is_http = scheme(url) in ("http", "https")

    # ---- Public API
    def check_ranges(self) -> None:
        """Fail now, with the clear message, if an HTTP server ignores range requests (one
        byte asked for; a server that answers with the whole file is not read further)."""
        if self._is_http and (self.size or 0) > 1:
            self.fetch(self.size - 1, self.size)

    def fetch(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` straight from the server (one request; one retry when the
        connection drops). Raises RemoteError."""
        if end <= start:
            return b""
        for attempt in (0, 1):
            try:
                data = self._fetch_once(start, end)
                break
            except Exception as e:  # noqa: BLE001 - every backend error becomes one message
                err = translate(self.url, e)
                if attempt == 0 and err.transient:
                    continue
                raise err from None
        if len(data) != end - start:
            raise RemoteError(self.url, f"the server sent {len(data)} bytes for a request of "
                                        f"{end - start} (bytes {start}..{end}); it does not "
                                        "support range requests or the file changed")
        with self._lock:
            self.fetched += len(data)
            self.requests += 1
        return bytes(data)

    def read(self, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` clipped to the file: from memory when already fetched,
        small reads rounded to blocks and kept, long ones fetched exactly."""
        size = self.size or 0
        start, end = max(0, start), min(end, size)
        if end <= start:
            return b""
        found = self._from_spans(start, end)
        if found is not None:
            return found
        if end - start >= DIRECT_READ:
            return self.fetch(start, end)
        first, last = start // BLOCK, (end - 1) // BLOCK
        with self._lock:
            missing = [b for b in range(first, last + 1) if b not in self._blocks]
        if missing:
            lo, hi = missing[0], missing[-1]  # at most a few blocks: one request
            data = self.fetch(lo * BLOCK, min((hi + 1) * BLOCK, size))
            with self._lock:
                for b in range(lo, hi + 1):
                    self._blocks[b] = data[(b - lo) * BLOCK:(b - lo + 1) * BLOCK]
        with self._lock:
            parts = []
            for b in range(first, last + 1):
                self._blocks.move_to_end(b)
                parts.append(self._blocks[b])
            while len(self._blocks) > MAX_BLOCKS:
                self._blocks.popitem(last=False)
        joined = b"".join(parts)
        return joined[start - first * BLOCK:end - first * BLOCK]

    def prefetch(self, ranges: list[tuple[int, int]]) -> None:
        """Fetch many small ranges concurrently and keep them for :meth:`read` (a zip's
        local headers lie all over the file: one block each would cost far more)."""
        size = self.size or 0
        wanted = sorted({(max(0, a), min(b, size)) for a, b in ranges if min(b, size) > max(0, a)})
        wanted = [(a, b) for a, b in wanted if self._from_spans(a, b) is None]
        todo: list[tuple[int, int]] = []
        for a, b in wanted:  # ranges close together (a zip of many small entries): one request
            if todo and a - todo[-1][1] <= MERGE_GAP and b - todo[-1][0] <= MAX_MERGED:
                todo[-1] = (todo[-1][0], max(b, todo[-1][1]))
            else:
                todo.append((a, b))
        if not todo:
            return
        if len(todo) == 1:
            results = [self.fetch(*todo[0])]
        else:
            with ThreadPoolExecutor(min(PARALLEL, len(todo))) as pool:
                results = list(pool.map(lambda r: self.fetch(*r), todo))
        with self._lock:
            for (a, _), data in zip(todo, results):
                if self._span_bytes + len(data) > MAX_SPAN_BYTES:
                    break
                if a not in self._spans:
                    bisect.insort(self._span_starts, a)
                    self._span_bytes += len(data)
                self._spans[a] = data

    def forget(self) -> None:
        """Drop the bytes kept in memory (listing is done; later reads fetch again)."""
        with self._lock:
            self._blocks.clear()
            self._spans.clear()
            self._span_starts.clear()
            self._span_bytes = 0

    # ---- Private API
    def _from_spans(self, start: int, end: int) -> bytes | None:
        """Bytes ``[start, end)`` if already in memory (a prefetched span or whole blocks)."""
        with self._lock:
            i = bisect.bisect_right(self._span_starts, start) - 1
            for j in range(i, max(-1, i - 8), -1):
                a = self._span_starts[j]
                data = self._spans[a]
                if a + len(data) >= end:
                    return data[start - a:end - a]
            first, last = start // BLOCK, (end - 1) // BLOCK
            if last - first < 4 and all(b in self._blocks for b in range(first, last + 1)):
                joined = b"".join(self._blocks[b] for b in range(first, last + 1))
                return joined[start - first * BLOCK:end - first * BLOCK]
        return None

    def _fetch_once(self, start: int, end: int) -> bytes:
        if self._is_http:
            if self._http is None:
                # HTTPFile checks that the answer really is the range asked for (status 206
                # or a matching Content-Range/Length) and refuses a server that sends the
                # whole file instead, after reading at most what was asked for
                self._http = self.fs.open(self.fspath, "rb", block_size=BLOCK,
                                          cache_type="none", size=self.size)
            return self._http._fetch_range(start, end)
        return self.fs.cat_file(self.fspath, start=start, end=end)

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as e:  # noqa: BLE001 - every backend error becomes one message
            raise translate(self.url, e) from None


class RemoteBuffer:
    """A window ``[base, base + length)`` of a :class:`RemoteFile` that behaves like the
    read-only buffers the readers use: ``len``, slices and indexes, ``find``/``rfind``."""

    def __init__(self, remote: RemoteFile, base: int = 0, length: int | None = None):
        self.remote = remote
        self.base = base
        self.length = (remote.size or 0) - base if length is None else length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: int | slice) -> bytes | int:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.length)
            if step != 1:
                raise ValueError("remote buffers are read with step 1")
            return self.remote.read(self.base + start, self.base + max(start, stop))
        if key < 0:
            key += self.length
        if not 0 <= key < self.length:
            raise IndexError("index out of range")
        return self.remote.read(self.base + key, self.base + key + 1)[0]

    def window(self, offset: int, length: int) -> RemoteBuffer:
        length = max(0, min(length, self.length - offset))
        return RemoteBuffer(self.remote, self.base + offset, length)

    def find(self, sub: bytes, start: int = 0, end: int | None = None) -> int:
        end = self.length if end is None else min(end, self.length)
        at = self[start:end].find(sub)
        return at if at < 0 else start + at

    def rfind(self, sub: bytes, start: int = 0, end: int | None = None) -> int:
        end = self.length if end is None else min(end, self.length)
        at = self[start:end].rfind(sub)
        return at if at < 0 else start + at

    def prefetch(self, ranges: list[tuple[int, int]]) -> None:
        self.remote.prefetch([(self.base + a, self.base + min(b, self.length)) for a, b in ranges])


_OPENED: OrderedDict[str, RemoteFile] = OrderedDict()
_OPENED_LOCK = threading.Lock()


def remember(remote: RemoteFile) -> None:
    """Keep ``remote`` for later tensor reads of the same URL in this process."""
    with _OPENED_LOCK:
        _OPENED[remote.url] = remote
        _OPENED.move_to_end(remote.url)
        while len(_OPENED) > 64:
            _OPENED.popitem(last=False)


def remote_file(url: str) -> RemoteFile:
    """The :class:`RemoteFile` for ``url`` opened earlier in this process, or a new one."""
    with _OPENED_LOCK:
        found = _OPENED.get(url)
    if found is not None:
        return found
    remote = RemoteFile(url)
    remember(remote)
    return remote
