"""Which paths are URLs, and how to name, split and join them (no network, cheap import)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

SCHEMES = ("http", "https", "s3", "gs", "gcs", "hf")
_URL = re.compile("^(" + "|".join(SCHEMES) + ")://.", re.IGNORECASE)

# the package that gives fsspec each protocol (what to install when it is missing)
BACKEND_PACKAGES = {"http": "aiohttp", "https": "aiohttp", "s3": "s3fs", "gs": "gcsfs",
                    "gcs": "gcsfs", "hf": "huggingface_hub"}


def is_url(text: object) -> bool:
    """Whether ``text`` is a URL we open through fsspec (http(s), s3, gs, hf)."""
    return isinstance(text, str) and _URL.match(text) is not None


def scheme(url: str) -> str:
    return url.split("://", 1)[0].lower()


def display_url(url: str) -> str:
    """The URL without user name, password or query string (a presigned URL's query is a
    credential): what messages, titles and recent-file lists show."""
    if not is_url(url):
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def holds_credentials(url: str) -> bool:
    """Whether the URL itself carries a secret (user info or a query string), so it must not
    be remembered (recent files)."""
    parts = urlsplit(url)
    return bool(parts.username or parts.password or parts.query)


def url_name(url: str) -> str:
    """The last path segment (``model.safetensors``), or the host for a bare host URL."""
    path = urlsplit(url).path.rstrip("/")
    return path.rsplit("/", 1)[-1] or (urlsplit(url).hostname or url)


def url_parent(url: str) -> str:
    """The folder URL holding ``url`` (no trailing slash, no query)."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path.rsplit("/", 1)[0], "", ""))


def url_join(folder: str, name: str) -> str:
    """``folder/name`` for a relative ``name`` already checked not to climb out."""
    return folder.rstrip("/") + "/" + name.lstrip("/")


def local_or_url(path) -> str:
    """An absolute path for a local file, the URL itself for a URL (front ends use it where
    they used ``os.path.abspath``)."""
    import os

    path = os.fspath(path)
    return path if is_url(path) else os.path.abspath(path)
