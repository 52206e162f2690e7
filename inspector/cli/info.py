"""``info``: what is in a checkpoint — format, totals, the tree, every tensor."""

from __future__ import annotations

from inspector.cli.output import add_json_flag, print_json, print_line
from inspector.core.checkpoint import (
    BYTES,
    NONE,
    REF,
    SCALAR,
    STRING,
    TENSOR,
    TRUNCATED,
    Checkpoint,
    Node,
)
from inspector.core.formats import open_checkpoint
from inspector.core.text import (
    format_bytes,
    format_count,
    path_text,
    path_to_json,
    safe_str,
    shorten,
)

INLINE_LIST = 12  # lists of scalars longer than this print on one abbreviated line


def register(sub) -> None:
    p = sub.add_parser("info", help="show what a checkpoint contains",
                       description="Show a checkpoint's format, totals, tree and every tensor. "
                                   "Nothing from the file is executed.")
    p.add_argument("path", help="checkpoint file (.pth, .pt, .bin, .ckpt, .safetensors, …) or folder")
    p.add_argument("--verify", action="store_true",
                   help="also check every record's CRC-32 (reads all bytes; finds bit flips)")
    add_json_flag(p)
    p.set_defaults(func=run)


def info_json(ck: Checkpoint) -> dict:
    """The stable ``info --json`` document."""
    shards = ck.details.get("tensor_shards", {}) if ck.format == "dcp" else {}
    tensors = []
    for path, t in ck.tensors():
        entry = {"path": path_to_json(path), "dtype": t.dtype, "shape": list(t.shape),
                 "numel": t.numel, "nbytes": t.nbytes}
        others, count = ck.shared_with(path)
        if others:
            entry["shared_with"] = [path_to_json(q) for q in others]
            if count > len(others):
                entry["shared_with_more"] = count - len(others)
        if path in shards:
            entry["shards"] = shards[path]
        tensors.append(entry)
    totals = ck.totals()
    doc = {"path": ck.path, "format": ck.format, "size_bytes": ck.size_bytes,
           "num_tensors": totals["num_tensors"], "total_numel": totals["total_numel"],
           "unique_storage_bytes": totals["unique_storage_bytes"], "tensors": tensors,
           "unsafe_globals": list(ck.unsafe_globals), "warnings": list(ck.warnings)}
    if ck.details.get("remote"):  # a URL: what listing it fetched
        doc["remote"] = dict(ck.details["remote"])
    return doc


def _scalar_text(node: Node) -> str:
    if node.kind == STRING:
        return repr(shorten(node.value, 121))
    if node.kind == BYTES:
        return f"<{node.type_name}, {node.value!r}…>"
    if node.kind == NONE:
        return "None"
    if node.kind == REF:
        return f"→ same object as {safe_str(node.value)}"
    if node.kind == TRUNCATED:
        return "… (too deep to show)"
    return safe_str(node.value)


def _is_leafy(node: Node) -> bool:
    return node.kind in (SCALAR, STRING, NONE, BYTES)


def tree_lines(ck: Checkpoint) -> list[str]:
    lines: list[str] = []
    stack: list[tuple[Node, str, bool]] = [(c, "", i == len(ck.root.children) - 1)
                                           for i, c in enumerate(ck.root.children)][::-1]
    while stack:
        node, prefix, last = stack.pop()
        branch = "└─ " if last else "├─ "
        label = f"{prefix}{branch}{safe_str(node.key)}"
        if node.kind == TENSOR:
            t = node.tensor
            text = (f"{label}  {t.dtype} {list(t.shape)}  {format_count(t.numel)} el  "
                    f"{format_bytes(t.nbytes)}")
            if t.device != "cpu":
                text += f"  on {t.device}"
            if t.layout != "strided":
                text += f"  [{t.layout}]"
            if t.note and t.note not in t.layout:
                text += f"  ({t.note})"
            path = node.path()
            others, count = ck.shared_with(path, limit=3)
            if others:
                more = f" and {count - len(others)} more" if count > len(others) else ""
                text += "  shared with " + ", ".join(path_text(q) for q in others) + more
            lines.append(text)
            continue
        if not node.children:
            if node.kind in ("dict", "list", "tuple", "set"):
                lines.append(f"{label}: {node.type_name} (empty)")
            elif node.kind == "object":
                lines.append(f"{label}: {safe_str(node.value or node.type_name)}")
            else:
                lines.append(f"{label}: {_scalar_text(node)}")
            continue
        if node.kind in ("list", "tuple") and all(_is_leafy(c) for c in node.children):
            vals = [_scalar_text(c) for c in node.children[:INLINE_LIST]]
            more = len(node.children) - INLINE_LIST
            tail = f", … {more} more" if more > 0 else ""
            lines.append(f"{label}: {node.type_name} [{', '.join(vals)}{tail}]")
            continue
        desc = safe_str(node.value if node.kind == "object" and node.value else node.type_name)
        n_items = len(node.children)
        lines.append(f"{label}  ({desc}, {n_items} item{'' if n_items == 1 else 's'})")
        child_prefix = prefix + ("   " if last else "│  ")
        n = len(node.children)
        for i, c in reversed(list(enumerate(node.children))):
            stack.append((c, child_prefix, i == n - 1))
    return lines


def run(args) -> int:
    ck = open_checkpoint(args.path)
    try:
        if args.verify and "://" in ck.path:  # a URL: the records are read remotely
            from inspector.core.remote.verify import verify_remote_checksums

            ck.warnings.extend(verify_remote_checksums(ck))
        elif args.verify:
            from inspector.core.integrity import verify_checksums

            ck.warnings.extend(verify_checksums(ck))
        if args.json:
            print_json(info_json(ck))
            return 0
        totals = ck.totals()
        print_line(ck.path)
        print_line(f"  format:   {ck.format}")
        print_line(f"  size:     {format_bytes(ck.size_bytes)} ({ck.size_bytes} bytes)")
        remote = ck.details.get("remote")
        if remote:
            print_line(f"  fetched:  {format_bytes(remote['bytes_fetched'])} "
                       f"({remote['bytes_fetched']} bytes) in {remote['requests']} "
                       f"request{'' if remote['requests'] == 1 else 's'} to list it")
        print_line(f"  tensors:  {totals['num_tensors']}   elements: "
                   f"{format_count(totals['total_numel'])}   unique storage: "
                   f"{format_bytes(totals['unique_storage_bytes'])}")
        if ck.unsafe_globals:
            print_line(f"  UNSAFE GLOBALS (not executed): {', '.join(ck.unsafe_globals)}")
        else:
            print_line("  unsafe globals: none")
        for w in ck.warnings:
            print_line(f"  warning: {w}")
        if args.verify and not any("CRC" in w for w in ck.warnings):
            print_line("  checksums: every record matches its CRC-32")
        print_line()
        print_line(f"({ck.root.type_name or ck.root.kind})")
        for line in tree_lines(ck):
            print_line(line)
        return 0
    finally:
        ck.close()
