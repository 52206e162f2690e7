"""``stats``: per-tensor statistics and histograms, streamed from the file."""

from __future__ import annotations

import re
import sys

from inspector.cli.output import add_json_flag, print_error, print_json, print_line
from inspector.core.formats import open_checkpoint
from inspector.core.text import dotted_path, number_text, path_to_json

# inspector.core.stats.DEFAULT_BINS; the engine (numpy) is imported only when stats run, so
# that other subcommands (info, scan) start without numpy
DEFAULT_BINS = 64


def register(sub) -> None:
    p = sub.add_parser(
        "stats", help="per-tensor statistics (min, max, mean, std, NaN/Inf, histogram)",
        description="Compute statistics of every tensor by streaming its bytes from the file "
                    "(bounded memory, float64 accumulation, exact histograms). NaN and Inf are "
                    "counted and left out of the other statistics; complex tensors are "
                    "summarized by |z|, quantized ones by their stored integers. Nothing from "
                    "the file is executed.")
    p.add_argument("path", help="checkpoint file or folder")
    p.add_argument("--bins", type=_bins, default=DEFAULT_BINS,
                   help=f"histogram bins (default {DEFAULT_BINS}; 0: no histogram)")
    p.add_argument("--filter", metavar="REGEX", type=_regex,
                   help="only tensors whose key path matches (re.search); the path is the keys "
                        "joined with '.', e.g. model_state_dict.conv1.weight or "
                        "optimizer_state_dict.state.0.exp_avg")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="threads computing statistics (default: every core this process may "
                        "run on; results are bit for bit the same for any count)")
    p.add_argument("--device", default="cpu", metavar="DEV",
                   help="where big tensors are summarized: cpu (default) or cuda / cuda:N "
                        "(needs PyTorch with CUDA; counts, min/max and histograms exact, "
                        "float64 sums within 1e-12)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="compute on a Dask cluster (e.g. tcp://host:8786); the workers read "
                        "the file themselves (shared filesystem or URL)")
    add_json_flag(p)
    p.set_defaults(func=run)


def _bins(text: str) -> int:
    import argparse

    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= n <= 100_000:
        raise argparse.ArgumentTypeError("must be between 0 and 100000")
    return n


def _regex(text: str) -> re.Pattern:
    import argparse

    try:
        return re.compile(text)
    except re.error as e:
        raise argparse.ArgumentTypeError(f"invalid regular expression: {e}") from None


def run(args) -> int:
    if args.threads is not None and args.threads < 1:
        print_error("--threads must be >= 1")
        return 2
    if args.device != "cpu":
        from inspector.core.stats.device import DeviceUnavailable, open_device

        try:
            open_device(args.device)
        except DeviceUnavailable as e:
            print_error(f"--device {args.device}: {e}")
            return 2
    ck = open_checkpoint(args.path)
    try:
        paths = None
        if args.filter is not None:
            paths = [p for p, _ in ck.tensors() if args.filter.search(dotted_path(p))]
        if getattr(args, "scheduler", None):
            from inspector.core.cluster.work import cluster_stats

            items = cluster_stats(args.scheduler, ck, paths=paths, bins=args.bins)
        else:
            from inspector.core.stats import iter_stats

            items = list(iter_stats(ck, paths=paths, bins=args.bins, workers=args.threads,
                                    device=args.device))
    finally:
        ck.close()
    if args.json:
        from inspector.core.stats import stats_to_json

        tensors = []
        for path, stats, error in items:
            if stats is not None:
                tensors.append(stats_to_json(path, stats))
            else:
                tensors.append({"path": path_to_json(path), "error": error})
        print_json({"path": ck.path, "tensors": tensors})
        return 0
    header = ("name", "dtype", "shape", "mean", "std", "min", "max", "zeros%", "nan", "inf")
    rows = [header]
    notes = []
    for path, stats, error in items:
        name = dotted_path(path)
        if stats is None:
            notes.append(f"{name}: {error}")
            continue
        zeros = f"{100 * stats.zeros / stats.numel:.1f}" if stats.numel else "-"
        rows.append((name, stats.dtype, "[" + ", ".join(map(str, stats.shape)) + "]",
                     *(number_text(v, missing="-") for v in (stats.mean, stats.std, stats.min,
                                                             stats.max)), zeros,
                     str(stats.nan), str(stats.inf)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    left = {0, 1, 2}
    for r in rows:
        cells = [c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in
                 enumerate(zip(r, widths))]
        print_line("  ".join(cells).rstrip())
    if len(rows) == 1 and not notes:
        print_line("(no tensors)" if args.filter is None else "(no tensor matches the filter)")
    for n in notes:
        print_line(f"no statistics for {n}", file=sys.stderr)
    return 0

