"""Formatting shared by the subcommands: sizes, key paths, JSON-safe values."""

from __future__ import annotations

import json
import math
import sys
from typing import Any


def human_bytes(n: int | float) -> str:
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{int(n)} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def human_count(n: int) -> str:
    if n < 10_000:
        return str(n)
    for unit, div in (("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


def json_key(k: Any) -> Any:
    """A container key as JSON: str/int/float/bool/None as they are, others as text."""
    if isinstance(k, bool) or k is None or isinstance(k, (str, int)):
        return k
    if isinstance(k, float):
        return k if math.isfinite(k) else repr(k)
    if isinstance(k, bytes):
        return k.decode("latin1")
    if isinstance(k, tuple):
        return [json_key(x) for x in k]
    return repr(k)


def json_path(path: tuple) -> list:
    return [json_key(k) for k in path]


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
