"""Deterministic benchmark workloads, written into a folder with ``torch.save``.

Three files per size (see :data:`SIZES`):

- ``gpt2.pth``: a GPT-2–shaped fp32 state_dict (Hugging Face ``GPT2LMHeadModel`` key names,
  ``lm_head.weight`` tied to ``transformer.wte.weight``), random values with a fixed seed.
  At ``--size full`` it has GPT-2 medium's shapes (24 layers, d=1024, vocab 50257, ctx 1024;
  ~1.4 GB, 293 tensors).
- ``gpt2_b.pth``: the same model with a few tensors changed, one removed and one added (the
  second file of the diff benchmark).
- ``many.pth``: many small tensors (``block{i}.weight`` / ``block{i}.bias``, 64 floats each).
- ``gpt2_c.pth``: every tensor of ``gpt2.pth`` changed (small noise added): the usual
  epoch-to-epoch diff, where no pair is identical (issue #13).
- ``many100k.pth``: 100,000 small tensors (the opening target for huge trees).

Run as a module (``python -m tests.benchmarks.workloads --size tiny OUT_DIR``) it writes the
files; the suite does that in a child process so torch's memory is returned afterwards.
A ``manifest.json`` records the size, so a kept folder is reused only for the same size.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass

MANIFEST = "manifest.json"
GPT2 = "gpt2.pth"
GPT2_B = "gpt2_b.pth"
MANY = "many.pth"
GPT2_C = "gpt2_c.pth"
MANY_100K = "many100k.pth"
FILES = (GPT2, GPT2_B, MANY, GPT2_C, MANY_100K)
SEED = 0
VERSION = 2  # bump when the generated content changes, so kept folders are rewritten


@dataclass(frozen=True)
class Size:
    """Shapes of one benchmark size."""

    name: str
    layers: int
    d_model: int
    vocab: int
    ctx: int
    many_tensors: int

    def gpt2_params(self) -> int:
        d, L = self.d_model, self.layers
        per_layer = (2 * d) * 2 + (d * 3 * d + 3 * d) + (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d)
        return self.vocab * d + self.ctx * d + L * per_layer + 2 * d


SIZES: dict[str, Size] = {
    "tiny": Size("tiny", layers=2, d_model=64, vocab=1000, ctx=128, many_tensors=500),
    "small": Size("small", layers=8, d_model=512, vocab=16384, ctx=512, many_tensors=20_000),
    "full": Size("full", layers=24, d_model=1024, vocab=50257, ctx=1024, many_tensors=20_000),
}

# what gpt2_b.pth changes relative to gpt2.pth (paths use the layer count at run time)
CHANGED = ("transformer.h.0.attn.c_attn.weight", "transformer.h.{last}.mlp.c_fc.weight",
           "transformer.ln_f.weight")
REMOVED = "transformer.h.{mid}.attn.c_proj.bias"
ADDED = "transformer.extra_head.weight"


def gpt2_state_dict(size: Size) -> dict:
    """A GPT-2–shaped state_dict with the Hugging Face key names; values from a fixed seed."""
    import torch

    gen = torch.Generator().manual_seed(SEED)
    d = size.d_model

    def rand(*shape: int, scale: float = 0.02):
        return torch.randn(*shape, generator=gen) * scale

    sd: dict = {"transformer.wte.weight": rand(size.vocab, d),
                "transformer.wpe.weight": rand(size.ctx, d, scale=0.01)}
    for i in range(size.layers):
        p = f"transformer.h.{i}."
        sd[p + "ln_1.weight"] = 1 + rand(d)
        sd[p + "ln_1.bias"] = rand(d)
        sd[p + "attn.c_attn.weight"] = rand(d, 3 * d)
        sd[p + "attn.c_attn.bias"] = rand(3 * d)
        sd[p + "attn.c_proj.weight"] = rand(d, d)
        sd[p + "attn.c_proj.bias"] = rand(d)
        sd[p + "ln_2.weight"] = 1 + rand(d)
        sd[p + "ln_2.bias"] = rand(d)
        sd[p + "mlp.c_fc.weight"] = rand(d, 4 * d)
        sd[p + "mlp.c_fc.bias"] = rand(4 * d)
        sd[p + "mlp.c_proj.weight"] = rand(4 * d, d)
        sd[p + "mlp.c_proj.bias"] = rand(d)
    sd["transformer.ln_f.weight"] = 1 + rand(d)
    sd["transformer.ln_f.bias"] = rand(d)
    sd["lm_head.weight"] = sd["transformer.wte.weight"]  # tied, one storage in the file
    return sd


def modify(sd: dict, size: Size) -> dict:
    """The second model: a few tensors nudged, one removed, one added (deterministic)."""
    import torch

    gen = torch.Generator().manual_seed(SEED + 1)
    names = _names(size)
    out = dict(sd)
    for key in names["changed"]:
        t = out[key]
        out[key] = t + torch.randn(t.shape, generator=gen) * 1e-3
    del out[names["removed"]]
    out[names["added"]] = torch.randn(size.d_model, 16, generator=gen) * 0.02
    return out


def modify_all(sd: dict) -> dict:
    """Every tensor nudged (the tied head stays tied): no pair of the diff is identical."""
    import torch

    gen = torch.Generator().manual_seed(SEED + 2)
    out = {k: v + torch.randn(v.shape, generator=gen) * 1e-4 for k, v in sd.items()
           if k != "lm_head.weight"}
    out["lm_head.weight"] = out["transformer.wte.weight"]
    return out


def write_many(path: str, count: int) -> None:
    """``count`` small tensors; reuses the stats helper's writer so the two stay comparable."""
    from tests.benchmarks.bench_stats import _write_small

    _write_small(path, count)


def generate(size: Size, folder: str) -> dict:
    """Write the three files into ``folder`` (reusing them when the manifest matches)."""
    os.makedirs(folder, exist_ok=True)
    manifest_path = os.path.join(folder, MANIFEST)
    wanted = {"version": VERSION, "size": asdict(size)}
    try:
        with open(manifest_path, encoding="utf-8") as fh:
            have = json.load(fh)
        if {k: have.get(k) for k in wanted} == wanted and all(
                os.path.isfile(os.path.join(folder, n)) for n in FILES):
            return have
    except (OSError, ValueError):
        pass
    import torch

    sd = gpt2_state_dict(size)
    torch.save(sd, os.path.join(folder, GPT2))
    sd_b = modify(sd, size)
    torch.save(sd_b, os.path.join(folder, GPT2_B))
    del sd_b
    torch.save(modify_all(sd), os.path.join(folder, GPT2_C))
    del sd
    write_many(os.path.join(folder, MANY), size.many_tensors)
    write_many(os.path.join(folder, MANY_100K), 100_000 if size.name == "full" else
               size.many_tensors)
    manifest = dict(wanted, files={n: os.path.getsize(os.path.join(folder, n))
                                   for n in FILES},
                    diff=_names(size))
    with open(manifest_path, "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=1)
    return manifest


def _names(size: Size) -> dict:
    fill = {"last": size.layers - 1, "mid": size.layers // 2}
    return {"changed": [c.format(**fill) for c in CHANGED], "removed": REMOVED.format(**fill),
            "added": ADDED}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Write the benchmark workloads into a folder.")
    ap.add_argument("--size", choices=sorted(SIZES), default="tiny")
    ap.add_argument("folder")
    args = ap.parse_args(argv)
    manifest = generate(SIZES[args.size], args.folder)
    json.dump(manifest, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
