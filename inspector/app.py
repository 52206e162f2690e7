"""Entry point: the command line when a subcommand is given, otherwise the desktop app."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from inspector.cli import COMMANDS

    if argv and (argv[0] in COMMANDS or argv[0] in ("-h", "--help", "--version")):
        from inspector.cli import main as cli_main

        return cli_main(argv)
    from inspector.ui.app import run_gui

    return run_gui(argv)


if __name__ == "__main__":
    sys.exit(main())
