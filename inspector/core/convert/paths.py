"""Key paths typed as one dotted string (``model_state_dict.fc.weight``), resolved against a
checkpoint's tree even when keys themselves contain dots (``fc.weight`` is one key)."""

from __future__ import annotations

from collections.abc import Sequence

from inspector.core.model import Key, Node

MAX_PARTS = 256  # dots considered in one typed path


def resolve_dotted(root: Node, text: str) -> tuple[Key, ...] | None:
    """The key path of the node that ``text`` names, or None.

    At each level the longest key that matches wins (``fc.weight`` before ``fc``); integer
    keys (list items, optimizer state ids) match their decimal text. ``""`` names the root.
    """
    if text in ("", "(root)"):
        return ()
    parts = text.split(".")
    if len(parts) > MAX_PARTS:
        return None
    return _resolve(root, parts, 0)


def _resolve(node: Node, parts: list[str], start: int) -> tuple[Key, ...] | None:
    stack: list[tuple[Node, int, tuple]] = [(node, start, ())]
    while stack:
        current, i, path = stack.pop()
        if i == len(parts):
            return path
        # push shorter keys first so that the longest match is tried first
        for j in range(i + 1, len(parts) + 1):
            key_text = ".".join(parts[i:j])
            child, key = _child(current, key_text)
            if child is not None:
                stack.append((child, j, (*path, key)))
    return None


def _child(node: Node, text: str) -> tuple[Node | None, Key]:
    child = node.child(text)
    if child is not None:
        return child, text
    if text.lstrip("-").isdigit() and len(text) < 20:
        child = node.child(int(text))
        if child is not None:
            return child, int(text)
    return None, None


def as_path(root: Node, where: str | Sequence[Key]) -> tuple[Key, ...] | None:
    """A key path from a dotted string or a sequence of keys (taken as it is)."""
    if isinstance(where, str):
        return resolve_dotted(root, where)
    return tuple(where)
