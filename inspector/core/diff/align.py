"""Which tensor of A is compared with which tensor of B (metadata only, no tensor bytes).

:func:`align` detects wrapper prefixes that make equal checkpoints look different
(``module.``, ``_orig_mod.``, ``model.``; see :mod:`inspector.core.state_dict`) and a training
checkpoint's ``model_state_dict``/``state_dict`` compared with a bare state_dict.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from inspector.core.checkpoint import Checkpoint, TensorInfo
from inspector.core.diff.results import Path
from inspector.core.state_dict import split_wrapper_prefix, state_dict_roots, wrapper_names
from inspector.core.text import safe_str


@dataclass(frozen=True)
class AlignRule:
    """How one side's paths are rewritten before matching.

    ``root`` is the container holding the state_dict (``("model_state_dict",)``, or ``()``
    for the top level). With ``lift`` its entries are compared as if they were at the top
    level (a training checkpoint against a bare state_dict). ``prefix`` is removed from
    the state_dict keys (the keys directly under ``root``) that start with it.
    """

    root: Path = ()
    lift: bool = False
    prefix: str = ""

    @property
    def is_identity(self) -> bool:
        return not self.lift and not self.prefix

    @property
    def cost(self) -> int:
        return int(self.lift) + int(bool(self.prefix))

    def apply(self, path: Path) -> Path:
        n = len(self.root)
        if self.is_identity or len(path) <= n or path[:n] != self.root:
            return path
        key = path[n]
        if self.prefix:
            if not isinstance(key, str) or not key.startswith(self.prefix):
                return path if not self.lift else path[n:]
            key = key[len(self.prefix):]
        head = () if self.lift else self.root
        return (*head, key, *path[n + 1:])

    def describe(self, side: str) -> list[str]:
        parts = []
        if self.lift:
            parts.append(f"{side}'s {_path_label(self.root)} compared as a bare state_dict")
        if self.prefix:
            who = wrapper_names(self.prefix)
            parts.append(f"'{self.prefix}' prefix removed from {side}'s keys"
                         + (f" ({', '.join(who)})" if who else ""))
        return parts


@dataclass(frozen=True)
class TensorPair:
    """A tensor of A matched with one of B; one side is None for removed/added tensors."""

    path_a: Path | None
    path_b: Path | None
    info_a: TensorInfo | None
    info_b: TensorInfo | None


@dataclass(frozen=True)
class Alignment:
    """Which tensor of A is compared with which tensor of B, and why."""

    rule_a: AlignRule
    rule_b: AlignRule
    strip_prefixes: tuple[str, ...]
    pairs: tuple[TensorPair, ...]
    aligned_by: str | None  # None when tensors matched by their paths as stored

    @property
    def matched(self) -> int:
        return sum(1 for p in self.pairs if p.info_a is not None and p.info_b is not None)

    @property
    def total_bytes(self) -> int:
        """Bytes of tensor data a full comparison reads (both sides), for progress bars."""
        return sum((p.info_a.nbytes if p.info_a else 0) + (p.info_b.nbytes if p.info_b else 0)
                   for p in self.pairs if p.info_a is not None and p.info_b is not None)

    def normalize_a(self, path: Path) -> Path:
        return self.rule_a.apply(_strip_user(path, self.strip_prefixes))

    def normalize_b(self, path: Path) -> Path:
        return self.rule_b.apply(_strip_user(path, self.strip_prefixes))


def align(ck_a: Checkpoint, ck_b: Checkpoint, strip_prefixes: Sequence[str] = ()) -> Alignment:
    """Match A's tensors with B's by path, undoing wrapper prefixes when that matches more.

    ``strip_prefixes`` are removed from every key of both sides that starts with them
    (applied first, always). Automatic rules are then chosen to match the most tensors;
    among equally good choices the one that rewrites least wins, so checkpoints whose
    paths already match are compared as stored.
    """
    strip = tuple(p for p in strip_prefixes if p)
    tensors_a = [(_strip_user(p, strip), p, info) for p, info in ck_a.tensors()]
    tensors_b = [(_strip_user(p, strip), p, info) for p, info in ck_b.tensors()]
    rule_a, rule_b = _choose_rules(ck_a, ck_b, [t[0] for t in tensors_a],
                                   [t[0] for t in tensors_b])
    index_b, extra_b = index_first([(rule_b.apply(s), (p, info)) for s, p, info in tensors_b])
    pairs: list[TensorPair] = []
    used_b: set[Path] = set()
    for stripped, path, info in tensors_a:
        key = rule_a.apply(stripped)
        hit = index_b.get(key) if key not in used_b else None
        if hit is None:
            pairs.append(TensorPair(path, None, info, None))
        else:
            used_b.add(key)
            pairs.append(TensorPair(path, hit[0], info, hit[1]))
    for key, (path, info) in index_b.items():
        if key not in used_b:
            pairs.append(TensorPair(None, path, None, info))
    pairs.extend(TensorPair(None, path, None, info) for path, info in extra_b)

    parts = []
    if strip and any(s != p for s, p, _ in (*tensors_a, *tensors_b)):
        noun = "prefix" if len(strip) == 1 else "prefixes"
        parts.append(f"{noun} {', '.join(repr(p) for p in strip)} removed from both sides' "
                     "keys, as asked")
    parts += rule_a.describe("A") + rule_b.describe("B")
    return Alignment(rule_a=rule_a, rule_b=rule_b, strip_prefixes=strip, pairs=tuple(pairs),
                     aligned_by="; ".join(parts) or None)


def _path_label(path: Path) -> str:
    return "/".join(safe_str(k) for k in path) or "top level"


def _strip_user(path: Path, prefixes: tuple[str, ...]) -> Path:
    if not prefixes:
        return path
    out = []
    for key in path:
        if isinstance(key, str):
            changed = True
            while changed:
                changed = False
                for p in prefixes:
                    if key.startswith(p):
                        key = key[len(p):]
                        changed = True
        out.append(key)
    return tuple(out)


def index_first(items: Iterable[tuple[Path, Any]]) -> tuple[dict[Path, Any], list[Any]]:
    """key -> first value; values whose key repeats an earlier one come back separately."""
    index: dict[Path, Any] = {}
    extra: list[Any] = []
    for key, value in items:
        try:
            if key in index:
                extra.append(value)
            else:
                index[key] = value
        except TypeError:  # an unhashable key from a hostile file: never matched
            extra.append(value)
    return index, extra


def _candidate_rules(ck: Checkpoint, paths: list[Path]) -> list[AlignRule]:
    rules = []
    for root in state_dict_roots(ck):
        n = len(root)
        prefixes: set[str] = set()
        for path in paths:
            if len(path) > n and path[:n] == root and isinstance(path[n], str):
                key = path[n]
                cut = sum(len(p) for p in split_wrapper_prefix(key))
                if cut:
                    prefixes.add(key[:cut])
        for lift in ((False,) if not root else (False, True)):
            for prefix in ("", *sorted(prefixes)):
                rules.append(AlignRule(root=root, lift=lift, prefix=prefix))
    return rules


def _choose_rules(ck_a: Checkpoint, ck_b: Checkpoint, paths_a: list[Path],
                  paths_b: list[Path]) -> tuple[AlignRule, AlignRule]:
    def keysets(ck: Checkpoint, paths: list[Path]) -> list[tuple[AlignRule, set[Path]]]:
        out = []
        for rule in _candidate_rules(ck, paths):
            try:
                keys = {rule.apply(p) for p in paths}
            except TypeError:
                keys = set()
            if len(keys) == len(paths) or rule.is_identity:  # a rule may not merge two tensors
                out.append((rule, keys))
        return out

    best = (AlignRule(), AlignRule())
    best_score = (-1, 0)
    for rule_a, keys_a in keysets(ck_a, paths_a):
        for rule_b, keys_b in keysets(ck_b, paths_b):
            score = (len(keys_a & keys_b), -(rule_a.cost + rule_b.cost))
            if score > best_score:
                best, best_score = (rule_a, rule_b), score
    return best
