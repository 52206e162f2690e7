"""``scan``: which globals a file's pickles reference, and a verdict."""

from __future__ import annotations

from inspector.cli.output import add_json_flag, print_error, print_json, print_line
from inspector.core.remote.urls import is_url
from inspector.core.safety import scan


def register(sub) -> None:
    p = sub.add_parser("scan", help="list the globals a checkpoint's pickles reference",
                       description="Report every global the file's pickle(s) reference and which "
                                   "are outside the safe allow-list. Exit code 0: clean, 1: unsafe "
                                   "globals found, 2: unreadable. A clean verdict is a label, "
                                   "not a guarantee.")
    p.add_argument("path", help="checkpoint file or folder")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    if is_url(args.path):
        from inspector.core.remote.scan import scan_url

        result = scan_url(args.path)
    else:
        result = scan(args.path)
    if args.json:
        print_json(result.to_json())
    else:
        print_line(f"{result.path}: {result.verdict.upper()}"
                   + (f" ({result.format})" if result.format else ""))
        for g in result.globals:
            mark = "  UNSAFE  " if g in result.unsafe_globals else "  ok      "
            print_line(f"{mark}{g}")
        for note in result.notes:
            print_line(f"  note: {note}")
    if result.error and result.verdict != "clean":
        print_error(result.error)
    return result.exit_code
