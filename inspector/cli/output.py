"""Output helpers shared by the subcommands: text lines, JSON printing and the common flags."""

from __future__ import annotations

import argparse
import json
import sys
from typing import IO, Any

from inspector.core.text import printable_line


def print_line(text: str = "", file: IO[str] | None = None) -> None:
    """Print one line of text output. Strings from a file are in it, so control characters
    (ANSI escapes, carriage returns, newlines, bidi overrides) are shown escaped, never
    interpreted by the terminal."""
    print(printable_line(text), file=sys.stdout if file is None else file)


def print_error(message: str) -> None:
    """The one ``error:`` line on stderr."""
    print_line(f"error: {message}", file=sys.stderr)


def print_json(obj: Any) -> None:
    """The ``--json`` document, exact (non-ASCII characters escaped by ``json``)."""
    json.dump(obj, sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


def add_json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--debug", action="store_true", help=argparse.SUPPRESS)
