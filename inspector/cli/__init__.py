"""The command line: a thin front end over ``inspector.core``.

Each subcommand lives in its own module with ``register(subparsers)`` and ``run(args)``.
Errors the user can cause print one ``error:`` line naming the file and exit with code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from inspector import __version__
from inspector.core.text import safe_str

# subcommand -> module; a module missing from an install is simply not offered
COMMANDS = {
    "info": "inspector.cli.info",
    "scan": "inspector.cli.scan",
    "stats": "inspector.cli.stats",
    "diff": "inspector.cli.diff",
    "run": "inspector.cli.run",
    "convert": "inspector.cli.convert",
    "timeline": "inspector.cli.timeline",
    "health": "inspector.cli.health",
    "devices": "inspector.cli.devices",
    "demo": "inspector.cli.demo",
}


def _modules() -> dict[str, object]:
    mods = {}
    for name, module in COMMANDS.items():
        try:
            mods[name] = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
    return mods


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="checkpoint-inspector",
        description="Inspect, compare and run PyTorch checkpoints safely. "
                    "Without a subcommand, opens the desktop app.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _modules().values():
        mod.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from inspector.cli.output import print_error
    from inspector.core.checkpoint import CheckpointError

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CheckpointError as e:
        print_error(f"{e.path}: {e.problem}")
        return 2
    except KeyboardInterrupt:
        print_error("interrupted")
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # noqa: BLE001 - a bug must still end in one line, not a traceback
        if getattr(args, "debug", False):
            raise
        print_error(f"internal error ({type(e).__name__}: {safe_str(e)}); rerun with --debug for "
                    "details")
        return 2
