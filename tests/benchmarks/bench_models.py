"""Benchmark: identifying a library architecture from a bare state_dict (issue 12).

    python -m tests.benchmarks.bench_models [--layers 62] [--repeat 5]

Writes a 1,000-tensor BERT state_dict (62 layers of 16 tensors plus embeddings; hidden size
64, so the file is small and the time is the matching, not the reading) into a temporary
folder, builds the key/shape signature index in a temporary cache folder (timed: once per
library version), then times the proposal with the index built: reading the file's metadata,
shortlisting by key templates, building the best candidates on the meta device and scoring
them by names and shapes. Target: ≤ 1 s per proposal (transformers already imported; the
first proposal in a fresh process also pays for that import, reported separately).
Not collected by pytest; no GPU needed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

TARGET_S = 1.0


def _write(path: str, layers: int) -> int:
    import torch
    from transformers import BertConfig, BertModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=500, hidden_size=64, num_hidden_layers=layers,
                                 num_attention_heads=4, intermediate_size=128))
    sd = model.state_dict()
    torch.save(sd, path)
    return len(sd)


def _propose(path: str):
    from inspector.core.formats import open_checkpoint
    from inspector.core.inference.matching import locate_state_dict
    from inspector.core.inference.zoo.index import propose

    ckpt = open_checkpoint(path)
    try:
        shapes = locate_state_dict(ckpt).shapes()
    finally:
        ckpt.close()
    return propose(shapes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=62, help="BERT layers (16 tensors each)")
    parser.add_argument("--repeat", type=int, default=5, help="timed proposals")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["XDG_CACHE_HOME"] = os.path.join(tmp, "cache")  # never the user's cache
        path = os.path.join(tmp, "bert-1000.pth")
        t0 = time.perf_counter()
        import transformers  # noqa: F401 - timed: what a fresh process pays once

        import_s = time.perf_counter() - t0
        tensors = _write(path, args.layers)
        from inspector.core.inference.zoo.index import build_index

        t0 = time.perf_counter()
        built = build_index()
        index_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        first = _propose(path)
        first_s = time.perf_counter() - t0
        samples = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            found = _propose(path)
            samples.append(time.perf_counter() - t0)
        top = found[0][0] if found else None
        best = min(samples)
        print(f"checkpoint: {tensors} tensors (BERT, {args.layers} layers)")
        print(f"import transformers: {import_s:.2f} s (once per process)")
        print(f"index build: {index_s:.2f} s for {built.candidates if built else 0} candidates "
              f"(once per library version)")
        print(f"first proposal: {first_s:.3f} s (reads the index file)")
        print(f"proposal: best {best:.3f} s, median {statistics.median(samples):.3f} s over "
              f"{len(samples)} (target ≤ {TARGET_S:.1f} s: {'PASS' if best <= TARGET_S else 'MISS'})")
        print(f"top proposal: {top.spec if top else None}, score {top.score if top else 0:.3f}, "
              f"exact {top.exact if top else False}")
        ok = top is not None and top.spec == "hf:BertModel" and top.exact and first
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
