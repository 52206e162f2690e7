"""Format-specific facts as readable text sections (TorchScript code, an exported program's
signature and graph, DCP shards, a Hugging Face config), for the GUI's Details view.

Sections load lazily: a TorchScript code file is read only when its section is shown.
Nothing is run; code is shown as text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from inspector.core.checkpoint import Checkpoint
from inspector.core.text import dotted_path, safe_str

MAX_JSON_TEXT = 2 << 20  # characters of a pretty-printed JSON section


@dataclass(frozen=True)
class DetailSection:
    """One titled text; ``load()`` returns it (reading the file if it must)."""

    title: str
    group: str
    load: Callable[[], str]
    monospace: bool = True


def _json_text(value: Any) -> str:
    text = safe_str(json.dumps(value, indent=2, sort_keys=False, default=safe_str,
                               ensure_ascii=False))  # lone surrogates become escapes
    return text if len(text) <= MAX_JSON_TEXT else text[:MAX_JSON_TEXT] + "\n… (cut)"


def _spec_line(spec: dict) -> str:
    kind = spec.get("kind", "?")
    name = spec.get("name", "?")
    target = f" → {spec['target']}" if spec.get("target") else ""
    tensor = f"  {spec['dtype']} {spec.get('shape')}" if spec.get("dtype") else ""
    return f"{kind:<16} {name}{target}{tensor}"


def _const(text: str) -> Callable[[], str]:
    return lambda: text


def detail_sections(ckpt: Checkpoint) -> list[DetailSection]:
    """The sections worth showing for this checkpoint's format (may be empty)."""
    d = ckpt.details
    out: list[DetailSection] = []
    if ckpt.format == "torchscript":
        from inspector.core.formats.torchscript import read_code_file

        for name in d.get("code_files", []):
            out.append(DetailSection(name, "TorchScript code (shown as text, never run)",
                                     lambda n=name: read_code_file(ckpt, n)))
        if d.get("module_types"):
            out.append(DetailSection("module types", "TorchScript", lambda: _json_text(d["module_types"])))
    if ckpt.format == "torch-export":
        group = "Exported program (not run)"
        if d.get("inputs") is not None:
            out.append(DetailSection("inputs", group, _const(
                "\n".join(_spec_line(s) for s in d["inputs"]) or "(none)")))
        if d.get("outputs") is not None:
            out.append(DetailSection("outputs", group, _const(
                "\n".join(_spec_line(s) for s in d["outputs"]) or "(none)")))
        if d.get("operators"):
            ops = sorted(d["operators"].items(), key=lambda kv: (-kv[1], kv[0]))
            out.append(DetailSection("operators", group, _const(
                "\n".join(f"{count:>6}  {op}" for op, count in ops))))
        if d.get("graph"):
            out.append(DetailSection("graph", group, _const("\n".join(d["graph"]))))
        facts = {k: d[k] for k in ("schema_version", "opset_version", "torch_version", "verifiers",
                                   "records", "models") if k in d}
        if facts:
            out.append(DetailSection("program facts", group, lambda: _json_text(facts)))
    if ckpt.format == "dcp":
        group = "Distributed checkpoint"
        if d.get("files"):
            out.append(DetailSection("files", group, lambda: "\n".join(
                f"{name:<28} {info.get('size_bytes', 0):>14,} bytes  {info.get('items', 0)} items"
                for name, info in d["files"].items())))
        if d.get("rank_bytes"):
            out.append(DetailSection("bytes per rank", group, lambda: _json_text(d["rank_bytes"])))
        if d.get("tensor_shards"):
            def shards_text() -> str:
                lines = []
                for path, chunks in d["tensor_shards"].items():
                    lines.append(dotted_path(path))
                    lines.extend(f"    {c.get('file')}  offsets {c.get('offsets')}  sizes {c.get('sizes')}"
                                 for c in chunks)
                return "\n".join(lines)
            out.append(DetailSection("shards", group, shards_text))
    if d.get("config") is not None:
        out.append(DetailSection("config.json", "Hugging Face", lambda: _json_text(d["config"])))
    if ckpt.format == "hf-sharded" and d.get("shards"):
        out.append(DetailSection("shards", "Hugging Face", lambda: "\n".join(
            f"{name:<48} {size:>14,} bytes" for name, size in d["shards"].items())))
    if ckpt.format == "safetensors" and d.get("metadata"):
        out.append(DetailSection("__metadata__", "safetensors", lambda: _json_text(d["metadata"])))
    if ckpt.unsafe_globals:
        out.append(DetailSection("unsafe globals", "Safety", _const(
            "These globals are named by the file's pickles and lie outside the allow-list.\n"
            "They were NOT run: each is shown as an inert placeholder.\n\n"
            + "\n".join(ckpt.unsafe_globals)), monospace=False))
    if ckpt.warnings:
        out.append(DetailSection("warnings", "Reading the file", _const("\n".join(ckpt.warnings)),
                                 monospace=False))
    return out
