"""Formatting shared by the subcommands: sizes, key paths, JSON-safe values."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from inspector.core.checkpoint import key_to_json, path_to_json
from inspector.core.summary import format_bytes, format_count

human_bytes = format_bytes
human_count = format_count
json_key = key_to_json
json_path = path_to_json


def path_text(path: tuple) -> str:
    return " / ".join(str(k) for k in path) if path else "(root)"


def json_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, complex):
        return [v.real, v.imag]
    if isinstance(v, bytes):
        return v.decode("latin1")
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return str(v)


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


def add_json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--debug", action="store_true", help=argparse_suppress())


def argparse_suppress():
    import argparse

    return argparse.SUPPRESS
