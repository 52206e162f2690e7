"""TorchScript archives (``torch.jit.save``), read without ``torch.jit.load``.

A TorchScript archive is a torch zip whose ``data.pkl`` holds the module objects
(``__torch__.<Class>`` placeholders for us, never resolved) with their attributes, plus
``code/`` (the TorchScript source of every class) and ``constants.pkl`` (tensor constants the
code uses, stored under ``constants/``). Which attributes are parameters and which are
buffers is declared in each class's source (``__parameters__ = [...]``, ``__buffers__ =
[...]``); we read those lines as text. The tree is the state_dict ``torch.jit.load(f)
.state_dict()`` would give (flat dotted names, same order), plus ``CONSTANTS`` when the code
uses tensor constants.
"""

from __future__ import annotations

import ast
import mmap
import re
from typing import Any

from inspector.core.checkpoint import Checkpoint
from inspector.core.formats._torch_pickle import TorchPickles
from inspector.core.formats._zip import ZipArchive
from inspector.core.model import CheckpointError
from inspector.core.remote.urls import is_url
from inspector.core.tree import SharedReference, TreeBuilder
from inspector.core.unpickler import Opaque, TensorRef

SCRIPT_PREFIX = "__torch__."
# TorchScript's own pickle helpers (lists, type tags); expected in its data.pkl, never resolved
JIT_PICKLE_PREFIX = "torch.jit._pickle."
MAX_PICKLE = 1 << 30
MAX_CODE_PARSE = 4 << 20  # bytes of one class file read to find parameter declarations
MAX_CODE_VIEW = 1 << 20  # bytes of a code file returned for display
MAX_MODULES = 100_000  # modules listed (each once: a shared one becomes a reference)
MAX_MODULE_DEPTH = 200
MAX_PATH_CHARS = 10_000  # characters of one module's dotted path
CONSTANTS_KEY = "CONSTANTS"


def _is_script_object(v: Any) -> bool:
    return isinstance(v, Opaque) and v.global_name.startswith(SCRIPT_PREFIX)


def _state(v: Opaque) -> dict[str, Any]:
    state = v.state
    if isinstance(state, dict):
        return {k: val for k, val in state.items() if isinstance(k, str)}
    return {}


class _ClassDecls:
    """``__parameters__``/``__buffers__`` of each script class, read from ``code/`` as text."""

    def __init__(self, archive: ZipArchive, root: str):
        self.archive = archive
        self.root = root
        self._files: dict[str, str | None] = {}
        self._classes: dict[str, tuple[list[str], list[str], bool] | None] = {}

    def get(self, qualified: str) -> tuple[list[str], list[str], bool] | None:
        """(parameters, buffers, is_module) for ``__torch__.a.b.Class``; None if not found."""
        if qualified in self._classes:
            return self._classes[qualified]
        module, _, name = qualified.rpartition(".")
        text = self._file(f"{self.root}/code/{module.replace('.', '/')}.py")
        found = None
        if text is not None:
            m = re.search(rf"^class {re.escape(name)}\((\w*)\):\n((?:[ \t].*\n?|\n)*)", text,
                          re.MULTILINE)
            if m:
                body = m.group(2)
                found = (_names(body, "__parameters__"), _names(body, "__buffers__"),
                         m.group(1) == "Module")
        self._classes[qualified] = found
        return found

    def _file(self, name: str) -> str | None:
        if name not in self._files:
            text = None
            if name in self.archive.infos:
                try:
                    text = self.archive.entry_text(name, MAX_CODE_PARSE)[0]
                except CheckpointError:
                    text = None
            self._files[name] = text
        return self._files[name]


def _names(body: str, attr: str) -> list[str]:
    m = re.search(rf"^[ \t]+{attr} = (\[.*?\])", body, re.MULTILINE)
    if not m:
        return []
    try:
        value = ast.literal_eval(m.group(1))  # a list of string literals, never evaluated code
    except (ValueError, SyntaxError):
        return []
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def read_torchscript(path: str, archive: ZipArchive, size: int) -> Checkpoint:
    """A TorchScript archive: the state_dict of the scripted module in ``data.pkl``, plus the
    tensor constants of ``constants.pkl``; the ``code/`` files are listed, never run."""
    root = archive.root
    warnings: list[str] = []
    pickles = TorchPickles(archive)
    obj = pickles.load("data.pkl", "data", MAX_PICKLE, key_prefix="data/").obj
    constants = None
    if f"{root}/constants.pkl" in archive.infos:
        try:
            constants = pickles.load("constants.pkl", "constants", MAX_PICKLE,
                                     key_prefix="constants/").obj
        except CheckpointError as e:
            warnings.append(e.problem)
    globals_seen = pickles.globals
    unsafe = [g for g in pickles.unsafe_globals
              if not g.startswith((SCRIPT_PREFIX, JIT_PICKLE_PREFIX))]

    decls = _ClassDecls(archive, root)
    details: dict[str, Any] = {"zip_root": root, "byteorder": pickles.byteorder,
                               "entries": len(archive.infos)}
    if _is_script_object(obj):
        state, module_types, attrs = _state_dict(obj, decls, warnings)
        details["module_types"] = module_types
        details["tensor_attributes"] = attrs
        details["script_classes"] = sorted(g for g in globals_seen if g.startswith(SCRIPT_PREFIX))
        content: Any = dict(state)
        root_name = f"state_dict of {obj.global_name}"
    else:
        warnings.append("data.pkl does not hold a TorchScript module; shown as stored")
        content, root_name = obj, ""
    if isinstance(constants, tuple) and any(isinstance(c, TensorRef) for c in constants):
        if isinstance(content, dict) and CONSTANTS_KEY not in content:
            content[CONSTANTS_KEY] = {f"c{i}": c for i, c in enumerate(constants)}
        details["constants"] = len(constants)

    tree = TreeBuilder(pickles.storage_info, warnings).build(content, root_name)
    tree.type_name = root_name or tree.type_name
    version = f"{root}/version"
    if version in archive.infos:
        details["archive_version"] = archive.text(version, 64)
    details["code_files"] = sorted(n[len(root) + 1:] for n in archive.infos
                                   if n.startswith(f"{root}/code/") and not n.endswith("/"))
    details["extra_files"] = sorted(n[len(root) + 1:] for n in archive.infos
                                    if n.startswith(f"{root}/extra/") and not n.endswith("/"))
    return Checkpoint(path=path, format="torchscript", size_bytes=size, root=tree,
                      globals=list(globals_seen), unsafe_globals=unsafe,
                      warnings=warnings, details=details)


def _state_dict(obj: Opaque, decls: _ClassDecls, warnings: list[str]
                ) -> tuple[list[tuple[str, Any]], dict[str, str], list[str]]:
    """Parameters and buffers by dotted module path, in the order TorchScript lists them.

    A module reached a second time (shared, or a cycle) — or one sharing another's attribute
    dict — is listed once, at its first path; later paths get a reference to it, so shared
    structure never expands into a tree (2^depth paths)."""
    out: list[tuple[str, Any]] = []
    module_types: dict[str, str] = {}
    tensor_attrs: list[str] = []
    first: dict[int, str] = {}  # id of a module or of its attribute dict -> where it is listed
    stack: list[tuple[str, Opaque, int]] = [("", obj, 0)]
    unknown: set[str] = set()
    skipped = 0
    while stack:
        prefix, module, depth = stack.pop()
        path = prefix.rstrip(".")
        ids = (id(module), id(module.state)) if isinstance(module.state, dict) else (id(module),)
        prior = next((first[i] for i in ids if i in first), None)
        if prior is not None:
            out.append((path, SharedReference(f"the module at {prior or '(root)'}")))
            continue
        if len(first) >= MAX_MODULES or depth > MAX_MODULE_DEPTH or len(prefix) > MAX_PATH_CHARS:
            skipped += 1
            continue
        first.update(dict.fromkeys(ids, path))
        cls = module.global_name
        module_types[path] = cls
        attrs = _state(module)
        decl = decls.get(cls)
        if decl is None:
            unknown.add(cls)
            params = [k for k, v in attrs.items() if isinstance(v, TensorRef)]
            buffers: list[str] = []
        else:
            params, buffers = decl[0], decl[1]
        for name in params + buffers:
            value = attrs.get(name)
            if isinstance(value, TensorRef):
                out.append((prefix + name, value))
        declared = set(params) | set(buffers)
        tensor_attrs += [prefix + k for k, v in attrs.items()
                         if isinstance(v, TensorRef) and k not in declared]
        children = []
        for name, value in attrs.items():
            if _is_script_object(value):
                child_decl = decls.get(value.global_name)
                if child_decl is None or child_decl[2]:
                    children.append((prefix + name + ".", value, depth + 1))
        stack.extend(reversed(children))
    if skipped:
        warnings.append(f"{skipped} module(s) are not listed (over the limits of {MAX_MODULES} "
                        f"modules, {MAX_MODULE_DEPTH} levels or {MAX_PATH_CHARS}-character paths)")
    if unknown:
        warnings.append(f"no TorchScript source found for {len(unknown)} class(es), e.g. "
                        f"{sorted(unknown)[0]}; their tensor attributes are listed as parameters")
    return out, module_types, tensor_attrs


def read_code_file(ckpt: Checkpoint, name: str, limit: int = MAX_CODE_VIEW) -> str:
    """The text of one ``code/`` file of a TorchScript checkpoint (first ``limit`` bytes).

    ``name`` is as listed in ``ckpt.details["code_files"]``. Nothing is run.
    """
    if name not in ckpt.details.get("code_files", ()):
        raise CheckpointError(ckpt.path, f"no code file {name!r} in this archive")
    if is_url(ckpt.path):
        from inspector.core.remote.source import RemoteBuffer, remote_file

        text, length = _code_text(ZipArchive(ckpt.path, RemoteBuffer(remote_file(ckpt.path))),
                                  ckpt.path, name, limit)
    else:
        with open(ckpt.path, "rb") as fh, mmap.mmap(fh.fileno(), 0,
                                                    access=mmap.ACCESS_READ) as mm:
            text, length = _code_text(ZipArchive(ckpt.path, mm), ckpt.path, name, limit)
    if length > limit:
        text += f"\n# … {length - limit} more bytes not shown\n"
    return text


def _code_text(archive: ZipArchive, path: str, name: str, limit: int) -> tuple[str, int]:
    full = f"{archive.root}/{name}"
    if full not in archive.infos:
        raise CheckpointError(path, f"no code file {name!r} in this archive")
    return archive.entry_text(full, limit)
