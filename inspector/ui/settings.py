"""Persistent settings: the only module that talks to QSettings.

Read every value with ``type=``: read back from an INI file in a new process, PySide6 returns
``'42'``, ``'false'`` (truthy!), ``'a'`` for ``['a']`` and ``None`` for ``[]``.
"""

from __future__ import annotations

import json
import os

from PySide6.QtCore import QByteArray, QSettings

from inspector.core.remote.urls import holds_credentials, is_url

MAX_RECENT = 10
INFERENCE_KEYS = ("architecture", "kwargs", "code_path", "class_name", "image", "text", "extra_args",
                  "input_npy")


class Settings:
    """Typed access to the app's QSettings; tests pass an INI-backed QSettings."""

    def __init__(self, qsettings: QSettings | None = None):
        self._qs = qsettings if qsettings is not None else QSettings()

    # ---- Public API: recent files
    def recent_files(self) -> list[str]:
        """Recently opened paths, newest first (may include files that no longer exist)."""
        value = self._qs.value("recent/files", [], type=list)
        return [str(v) for v in (value or []) if v]

    def add_recent(self, path: str | os.PathLike) -> None:
        path = os.fspath(path)
        if is_url(path) and holds_credentials(path):
            return  # a presigned URL or one with a password is a secret: never stored
        path = path if is_url(path) else os.path.abspath(path)
        files = [path] + [p for p in self.recent_files() if p != path]
        self._set_recent(files[:MAX_RECENT])

    def remove_recent(self, path: str) -> None:
        self._set_recent([p for p in self.recent_files() if p != path])

    def existing_recent_files(self) -> list[str]:
        """Recent files that still exist; the missing ones are forgotten."""
        files = self.recent_files()
        keep = [p for p in files if is_url(p) or os.path.exists(p)]
        if keep != files:
            self._set_recent(keep)
        return keep

    def clear_recent(self) -> None:
        self._set_recent([])

    # ---- Public API: window and preferences
    def last_directory(self) -> str:
        return self._qs.value("files/last_directory", "", type=str) or ""

    def set_last_directory(self, folder: str) -> None:
        self._qs.setValue("files/last_directory", folder)

    def regex_filter(self) -> bool:
        return bool(self._qs.value("filter/regex", False, type=bool))

    def set_regex_filter(self, on: bool) -> None:
        self._qs.setValue("filter/regex", bool(on))

    def window_geometry(self) -> QByteArray | None:
        value = self._qs.value("window/geometry", QByteArray(), type=QByteArray)
        return value if value is not None and not value.isEmpty() else None

    def window_state(self) -> QByteArray | None:
        value = self._qs.value("window/state", QByteArray(), type=QByteArray)
        return value if value is not None and not value.isEmpty() else None

    def save_window(self, geometry: QByteArray, state: QByteArray) -> None:
        self._qs.setValue("window/geometry", geometry)
        self._qs.setValue("window/state", state)

    def splitter_state(self, name: str) -> QByteArray | None:
        value = self._qs.value(f"splitters/{name}", QByteArray(), type=QByteArray)
        return value if value is not None and not value.isEmpty() else None

    def set_splitter_state(self, name: str, state: QByteArray) -> None:
        self._qs.setValue(f"splitters/{name}", state)

    def column_widths(self, name: str) -> dict[int, int]:
        """Column widths the user set in the table ``name`` ("tree", "table"): {column: px}."""
        text = self._qs.value(f"columns/{name}", "", type=str) or ""
        try:
            value = json.loads(text) if text else {}
        except json.JSONDecodeError:
            return {}
        if not isinstance(value, dict):
            return {}
        out = {}
        for k, v in value.items():
            if str(k).isdigit() and isinstance(v, int) and 10 <= v <= 5000:
                out[int(k)] = v
        return out

    def set_column_widths(self, name: str, widths: dict[int, int]) -> None:
        self._qs.setValue(f"columns/{name}", json.dumps({str(k): int(v)
                                                         for k, v in widths.items()}))

    # ---- Public API: per-checkpoint inference choices
    def inference_choice(self, path: str | os.PathLike) -> dict:
        """The architecture choice last used for this checkpoint ({} when none).

        Keys: ``architecture`` (built-in name, ``"code"`` or ``"file"``), ``kwargs`` (JSON
        text), ``code_path``, ``class_name``. Trust is never stored.
        """
        text = self._qs.value(self._inference_key(path), "", type=str) or ""
        try:
            value = json.loads(text) if text else {}
        except json.JSONDecodeError:
            return {}
        if not isinstance(value, dict):
            return {}
        return {k: str(v) for k, v in value.items()
                if k in INFERENCE_KEYS and isinstance(v, str)}

    def set_inference_choice(self, path: str | os.PathLike, choice: dict) -> None:
        value = {k: str(v) for k, v in choice.items() if k in INFERENCE_KEYS and v is not None}
        self._qs.setValue(self._inference_key(path), json.dumps(value, sort_keys=True))

    # ---- Public API: where statistics run (Statistics ▸ Device, inspector/ui/stats_device.py)
    def stats_device(self) -> str:
        """"cpu" (every core) or a torch device name such as "cuda"."""
        return self._qs.value("stats/device", "cpu", type=str) or "cpu"

    def set_stats_device(self, device: str) -> None:
        self._qs.setValue("stats/device", device)

    def scheduler_address(self) -> str:
        """The Dask scheduler statistics run on ('' = this machine; inspector.ui.remote)."""
        return self._qs.value("cluster/scheduler", "", type=str) or ""

    def set_scheduler_address(self, address: str) -> None:
        self._qs.setValue("cluster/scheduler", address.strip())

    def sync(self) -> None:
        self._qs.sync()

    # ---- Private API
    @staticmethod
    def _inference_key(path: str | os.PathLike) -> str:
        import hashlib  # not before the window's first paint

        # a hash: INI keys mangle slashes and colons, and paths can be long
        full = os.fspath(path)
        full = full if is_url(full) else os.path.abspath(full)
        return f"inference/{hashlib.sha1(full.encode()).hexdigest()[:20]}"

    def _set_recent(self, files: list[str]) -> None:
        self._qs.setValue("recent/files", list(files))
