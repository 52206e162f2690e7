"""``devices``: the devices this machine can run a model on."""

from __future__ import annotations

from inspector.cli.output import add_json_flag, print_json, print_line
from inspector.core.text import format_bytes


def register(sub) -> None:
    p = sub.add_parser("devices", help="list the devices `run` can use",
                       description="List the available devices (cpu, cuda:N, mps) with their "
                                   "memory and the dtypes worth using on them.")
    add_json_flag(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from inspector.core.devices import list_devices

    devices = list_devices()
    if args.json:
        print_json([d.to_json() for d in devices])
        return 0
    for d in devices:
        memory = format_bytes(d.memory_bytes) if d.memory_bytes else "memory unknown"
        print_line(f"{d.name:<8} {d.description}, {memory}")
        print_line(f"{'':<8} dtypes: {', '.join(d.dtypes)}")
        for dtype, note in d.notes.items():
            print_line(f"{'':<8} note: {dtype}: {note}")
    return 0
