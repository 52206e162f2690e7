"""``convert``: a checkpoint to safetensors (one file or Hugging Face shards) or to a
weights-only .pth, read without running anything from the file."""

from __future__ import annotations

import argparse
import sys

from inspector.cli.output import add_json_flag, print_json, print_line


def register(sub) -> None:
    p = sub.add_parser(
        "convert", help="convert a checkpoint to safetensors or a weights-only .pth, safely",
        description="Convert SRC (any format this tool reads) to DST: a .safetensors file, a "
                    "folder of Hugging Face shards (model-0000i-of-0000N.safetensors and "
                    "model.safetensors.index.json), or a weights-only .pth that "
                    "torch.load(weights_only=True) accepts. The model weights are found "
                    "automatically (the state_dict inside a training or Lightning checkpoint); "
                    "optimizer state is left out unless asked for. Nothing from SRC is "
                    "executed, tensors are streamed in bounded memory, the result is written "
                    "to a temporary file, verified bit for bit and then renamed. SRC is never "
                    "written. Exit code 0: converted and verified, 1: verification failed "
                    "(nothing written), 2: error.")
    p.add_argument("src", help="checkpoint file or folder to convert")
    p.add_argument("dst", help="output: NAME.safetensors, NAME.pth (.pt, .bin), or a folder "
                               "for sharded safetensors")
    p.add_argument("--to", choices=("safetensors", "sharded", "pth"), dest="kind",
                   help="output format (default: from DST's name; a folder or "
                        "--max-shard-size means sharded)")
    p.add_argument("--max-shard-size", metavar="SIZE", type=_size,
                   help="write Hugging Face shards of at most SIZE each (e.g. 5GB, 500MB, "
                        "2GiB); DST is a folder")
    p.add_argument("--key", metavar="PATH",
                   help="the entry to convert, as a dotted key path (e.g. model_state_dict, "
                        "ema.model); default: found automatically")
    p.add_argument("--include-optimizer", action="store_true",
                   help="also write the optimizer state's tensors, named by their key path")
    p.add_argument("--strip-prefix", metavar="PREFIX", action="append", default=[],
                   help="remove PREFIX from the start of every tensor name that has it "
                        "(repeatable; 'auto': the wrapper prefixes all names share, such as "
                        "module. or _orig_mod.)")
    p.add_argument("--dtype", choices=("bfloat16", "float16", "float32"),
                   help="cast floating-point tensors (integer and bool tensors stay as they are)")
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="skip re-reading the result and comparing it with SRC")
    p.add_argument("--overwrite", action="store_true", help="replace an existing DST")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the verify step on a Dask cluster (e.g. tcp://host:8786); its "
                        "workers must see SRC and DST at the same paths")
    add_json_flag(p)
    p.set_defaults(func=run)


def _size(text: str) -> int:
    from inspector.core.convert import parse_size

    try:
        return parse_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def run(args) -> int:
    from inspector.core.convert import ConvertOptions, report_lines

    options = ConvertOptions(kind=args.kind, key=args.key,
                             include_optimizer=args.include_optimizer,
                             strip_prefixes=tuple(args.strip_prefix), dtype=args.dtype,
                             max_shard_size=args.max_shard_size, verify=args.verify,
                             overwrite=args.overwrite, scheduler=args.scheduler)
    report = _run_with_progress(args.src, args.dst, options)
    if args.json:
        print_json(report.to_json())
    else:
        for line in report_lines(report):
            print_line(line)
    if not report.ok:
        if not args.json:
            print_line("error: the result did not match the source; nothing was written",
                       file=sys.stderr)
        return 1
    return 0


def _run_with_progress(src: str, dst: str, options):
    """Run the conversion; on a terminal, one progress line on stderr, rewritten in place."""
    from inspector.core.convert import ConvertReport, iter_convert
    from inspector.core.text import format_bytes, printable_line

    tty = sys.stderr.isatty()
    report = None
    shown = False
    try:
        for item in iter_convert(src, dst, options):
            if isinstance(item, ConvertReport):
                report = item
            elif tty and item.total:
                line = (f"{item.text}: {format_bytes(item.done)} of {format_bytes(item.total)} "
                        f"({100 * item.done // item.total} %)")
                sys.stderr.write("\r" + printable_line(line)[:100].ljust(100))
                sys.stderr.flush()
                shown = True
    finally:
        if shown:
            sys.stderr.write("\r" + " " * 100 + "\r")
            sys.stderr.flush()
    return report
