"""The key/shape signature index of library architectures, and proposals from it.

For every candidate architecture (transformers' classes of the common families,
``torchvision.models.list_models()``, ``timm.list_models()``) the index keeps the set of its
state_dict key templates (layer numbers replaced by ``#``, with each tensor's rank). It is
built once per installed library version (:func:`iter_build_index`, a worker-process job
with progress), stored as JSON in the user cache folder, and read back in milliseconds.

A proposal ranks every candidate by the overlap of its templates with the checkpoint's
(Jaccard), then builds the best few on the meta device with constructor arguments inferred
from the shapes and scores them exactly by names and shapes (:func:`propose`).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from inspector.core.inference.errors import ModelError
from inspector.core.inference.results import Proposal
from inspector.core.inference.zoo.libraries import (
    LIBRARIES,
    LibrarySpec,
    cache_dir,
    library,
)
from inspector.core.jobs import JobProgress, cancel_requested
from inspector.core.state_dict import strip_wrapper_prefixes

INDEX_FORMAT = 1
REFINE = 4  # candidates built on the meta device and matched exactly...
MAX_REFINE = 16  # ...or more while equally good ones remain and none matched exactly
MIN_OVERLAP = 0.2  # key-template overlap below which a candidate is not even built
_NUMBER = re.compile(r"(?<=\.)\d+(?=\.)|^\d+(?=\.)")
Shapes = Mapping[str, tuple[int, ...]]


@dataclass(frozen=True)
class IndexBuilt:
    """The index job's last item: the folder, each library → its version, and how many
    candidates were indexed in all."""

    path: str
    libraries: dict[str, str]
    candidates: int


def templates(shapes: Shapes) -> set[str]:
    """Key templates: ``encoder.layer.#.attention.self.query.weight:2``."""
    return {f"{_NUMBER.sub('#', k)}:{len(s)}" for k, s in shapes.items()}


def index_path(name: str, version: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.+-]", "_", version)
    return os.path.join(cache_dir(), f"model-index-{name}-{safe}.json")


def _version(name: str) -> str | None:
    module = library(name)
    return str(getattr(module, "__version__", "unknown")) if module is not None else None


def missing_indexes() -> tuple[str, ...]:
    """The libraries that import but have no index for their version yet."""
    out = []
    for name in LIBRARIES:
        version = _version(name)
        if version is not None and not os.path.isfile(index_path(name, version)):
            out.append(name)
    return tuple(out)


def _candidates(name: str) -> list[tuple[str, str]]:
    """(architecture name, family) of one library."""
    if name == "transformers":
        from inspector.core.inference.zoo.hf import family_classes

        return [(cls, family) for family, cls in family_classes()]
    module = library(name)
    if name == "torchvision":
        names = module.models.list_models(module=module.models)
    else:
        names = module.list_models()
    return [(n, "") for n in names]


def iter_build_index(libraries: tuple[str, ...] | None = None
                     ) -> Iterator[JobProgress | IndexBuilt]:
    """Build the missing indexes (or those of ``libraries``): a worker-process job target
    that yields progress and finally an :class:`IndexBuilt`. Candidates that fail to build
    are skipped; cancelling leaves no partial index behind."""
    from inspector.core.inference.zoo.build import build, unique_shapes

    todo = [n for n in (libraries or missing_indexes()) if _version(n) is not None]
    work = [(n, _candidates(n)) for n in todo]
    total = sum(len(c) for _, c in work) or 1
    done = 0
    counted = 0
    for name, candidates in work:
        entries = []
        for arch, family in candidates:
            if cancel_requested():
                return
            done += 1
            if done % 5 == 1:
                yield JobProgress(done, total, f"indexing {name} architectures: {arch}")
            try:
                built = build(LibrarySpec(name, arch), {}, meta=True)
            except (ModelError, Exception):  # noqa: BLE001 - a candidate that does not build
                continue
            entries.append({"name": arch, "family": family,
                            "templates": sorted(templates(unique_shapes(built.model))),
                            "renames": [[rx.pattern, t] for rx, t in built.renames],
                            "keys": len(built.keys()[0])})
        _write(index_path(name, _version(name) or ""), {
            "format": INDEX_FORMAT, "library": name, "version": _version(name),
            "entries": entries})
        counted += len(entries)
    yield JobProgress(total, total, "model index ready")
    yield IndexBuilt(cache_dir(), {n: _version(n) or "" for n in todo}, counted)


_progress_hook: Callable[[JobProgress], None] | None = None


def set_progress_hook(hook: Callable[[JobProgress], None] | None) -> None:
    """Have :func:`build_index` (the blocking form, used when a run needs the index) report
    its progress to ``hook`` — a command line prints it; None stops."""
    global _progress_hook
    _progress_hook = hook


def build_index(libraries: tuple[str, ...] | None = None) -> IndexBuilt | None:
    """Blocking form of :func:`iter_build_index`."""
    result = None
    for item in iter_build_index(libraries):
        if isinstance(item, IndexBuilt):
            result = item
        elif _progress_hook is not None:
            _progress_hook(item)
    return result


def _write(path: str, doc: dict) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


_loaded: dict[str, tuple[float, list[dict[str, Any]]]] = {}


def load_index() -> dict[str, list[dict[str, Any]]]:
    """library → its index entries (libraries without an index are left out); read once per
    file modification."""
    out = {}
    for name in LIBRARIES:
        version = _version(name)
        if version is None:
            continue
        path = index_path(name, version)
        try:
            mtime = os.path.getmtime(path)
        except OSError:
            continue
        cached = _loaded.get(path)
        if cached is None or cached[0] != mtime:
            try:
                with open(path, encoding="utf-8") as fh:
                    doc = json.load(fh)
                entries = [e for e in doc.get("entries", []) if isinstance(e, dict)]
                for e in entries:
                    e["templates"] = frozenset(e.get("templates", ()))
            except (OSError, ValueError, AttributeError):
                continue
            cached = (mtime, entries)
            _loaded[path] = cached
        out[name] = cached[1]
    return out


def shortlist(shapes: Shapes, limit: int = 20) -> list[tuple[float, str, dict[str, Any]]]:
    """(Jaccard overlap, library, entry) of the best-matching candidates, best first."""
    from inspector.core.inference.zoo.build import rename_key

    plain = dict(shapes)
    stripped = strip_wrapper_prefixes(plain)
    base = [templates(plain)] + ([templates(stripped)] if set(stripped) != set(plain) else [])
    heads = {k.split(".", 1)[0] for k in stripped}
    if len(heads) == 1 and all("." in k for k in stripped):  # e.g. every key under "bert."
        base.append(templates({k.split(".", 1)[1]: v for k, v in stripped.items()}))
    by_renames: dict[tuple, list[set[str]]] = {(): base}
    ranked = []
    for name, entries in load_index().items():
        for entry in entries:
            renames = tuple(tuple(r) for r in entry.get("renames") or ())
            variants = by_renames.get(renames)
            if variants is None:
                compiled = tuple((re.compile(p), t) for p, t in renames)
                variants = base + [templates({rename_key(k, compiled): s
                                              for k, s in plain.items()})]
                by_renames[renames] = variants
            cand = entry["templates"]
            best = 0.0
            for t in variants:
                inter = len(t & cand)
                if inter:
                    best = max(best, inter / (len(t) + len(cand) - inter))
            if best > 0:
                ranked.append((best, name, entry))
    ranked.sort(key=lambda r: -r[0])
    return ranked[:limit]


def infer_kwargs(spec: LibrarySpec, family: str, shapes: Shapes) -> dict[str, Any]:
    """Constructor arguments (config values for transformers) read from the shapes."""
    from inspector.core.inference.zoo import hf

    plain = dict(shapes)
    if spec.library == "transformers":
        if not family:
            cls = hf.model_class(spec.name)
            family = getattr(cls.config_class, "model_type", "")
        values = hf.infer_config(family, plain)
        if "Classification" not in spec.name:
            values.pop("num_labels", None)
        return values
    return _vision_kwargs(spec, plain)


def _vision_kwargs(spec: LibrarySpec, shapes: Shapes) -> dict[str, Any]:
    from inspector.core.inference.matching import match_keys
    from inspector.core.inference.zoo.build import build, unique_shapes

    model = build(spec, {}, meta=True).model
    match = match_keys(unique_shapes(model), shapes)
    kwargs: dict[str, Any] = {}
    for m in match.shape_mismatches:
        a, b = m.model_shape, m.checkpoint_shape
        if len(a) == len(b) and a[1:] == b[1:] and a[0] != b[0] and len(a) <= 2:
            kwargs["num_classes"] = int(b[0])  # the classifier's rows: the number of classes
        elif len(a) == 4 and len(b) == 4 and a[0] == b[0] and a[1] != b[1] and "in_chans" \
                not in kwargs and spec.library == "timm":
            kwargs["in_chans"] = int(b[1])
    return kwargs


def propose(shapes: Shapes, limit: int = 5) -> list[tuple[Proposal, Any]]:
    """Library architectures for a checkpoint's key → shape, best first: (Proposal, KeyMatch).
    Only candidates in the index are considered (see :func:`missing_indexes`)."""
    from inspector.core.inference.zoo.build import build

    results = []
    tried = 0
    exact_found = False
    count = len(strip_wrapper_prefixes(dict(shapes)))
    short = shortlist(shapes, limit=40)
    # among equal overlaps, a fixed-size architecture with as many keys as the file comes first
    # (resnet50 and resnet101 have the same key templates, not the same number of keys)
    short.sort(key=lambda r: (-r[0], not (r[1] != "transformers" and r[2].get("keys") == count)))
    top = short[0][0] if short else 0.0
    for overlap, name, entry in short:
        if overlap < 0.5 * top or overlap < MIN_OVERLAP:
            break
        tie = overlap >= top - 1e-9
        if tried >= REFINE and not (tie and not exact_found and tried < MAX_REFINE):
            break
        spec = LibrarySpec(name, entry["name"])
        try:
            kwargs = infer_kwargs(spec, entry.get("family", ""), shapes)
            built = build(spec, kwargs, meta=True)
        except (ModelError, Exception):  # noqa: BLE001 - a candidate that does not build
            continue
        tried += 1
        match = built.match(shapes)
        exact = not (match.missing_keys or match.unexpected_keys or match.shape_mismatches)
        exact_found = exact_found or exact
        results.append((Proposal(spec.text, name, entry["name"], match.score, exact, kwargs,
                                 _describe(name, entry["name"], kwargs),
                                 built.task.input_kind), match, overlap))
    results = [r for r in results if r[0].score > 0]
    results.sort(key=lambda r: (-r[0].exact, -r[0].score, -r[2]))
    return [(p, m) for p, m, _ in results[:limit]]


def _describe(name: str, arch: str, kwargs: Mapping[str, Any]) -> str:
    sizes = ", ".join(f"{k}={v}" for k, v in list(kwargs.items())[:6])
    return f"{arch} from {name}" + (f" ({sizes})" if sizes else "")
