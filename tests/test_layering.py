"""The architecture's rules, checked from the source: layers, import cycles, module size.

The import graph of every module under ``inspector/`` is read with ``ast`` (nothing is
imported): absolute and relative imports, ``from pkg import submodule`` as an import of the
submodule, and imports inside functions and classes. Imports under ``if TYPE_CHECKING:``
are left out: they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parents[1] / "inspector"
MAX_LINES = 700
QT = ("PySide6", "shiboken6", "pyqtgraph", "superqt", "qtpy", "PyQt5", "PyQt6")


# ---- The import graph
def module_files(package_dir: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of the package."""
    root = package_dir.parent
    modules = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run, at any depth (TYPE_CHECKING blocks skipped)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
            continue
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> dict[str, int]:
    """The modules (ours by dotted name, others by top-level name) that ``name`` imports,
    each with the line of its first import."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: dict[str, int] = {}

    def add(target: str, line: int) -> None:
        found.setdefault(target, line)

    def ours(dotted: str) -> str:
        """The longest prefix of ``dotted`` that is one of our modules."""
        while dotted and dotted not in modules:
            dotted = dotted.rpartition(".")[0]
        return dotted

    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules or alias.name.split(".")[0] == PACKAGE_DIR.name:
                    add(ours(alias.name) or alias.name, node.lineno)
                else:
                    add(alias.name.split(".")[0], node.lineno)
            continue
        if node.level:
            base_parts = package.split(".")
            if node.level > 1:
                base_parts = base_parts[:len(base_parts) - (node.level - 1)]
            base = ".".join(base_parts)
            source = f"{base}.{node.module}" if node.module else base
        else:
            source = node.module or ""
        if source.split(".")[0] != PACKAGE_DIR.name and source not in modules:
            add(source.split(".")[0], node.lineno)
            continue
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            if submodule in modules:
                add(submodule, node.lineno)  # from pkg import submodule
            else:
                add(ours(source) or source, node.lineno)
    found.pop(name, None)  # a package importing a name of its own __init__
    return found


def import_graph(package_dir: Path = PACKAGE_DIR) -> dict[str, dict[str, int]]:
    """Module -> {imported module: line}, for every module of the package."""
    modules = module_files(package_dir)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def _our_edges(graph: dict[str, dict[str, int]]) -> dict[str, list[str]]:
    return {m: sorted(t for t in targets if t in graph) for m, targets in graph.items()}


def import_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle per group of modules that import each other, as ``[a, b, ..., a]``."""
    ours = _our_edges(graph)
    return [_cycle_through(group, ours) for group in tangled_groups(graph)]


def tangled_groups(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected groups (more than one module) of the import graph, sorted."""
    ours = _our_edges(graph)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = 0
    for start in sorted(ours):
        if start in index:
            continue
        work = [(start, iter(ours[start]))]  # Tarjan, iteratively
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(ours[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))
    return sorted(groups)


def _cycle_through(group: list[str], ours: dict[str, list[str]]) -> list[str]:
    """A shortest cycle from the group's first module back to itself, inside the group."""
    members = set(group)
    start = group[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in ours[node]:
                if child not in members:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if child not in previous:
                    previous[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError(f"no cycle through {group}")


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == PACKAGE_DIR.name else ""


def layer_violations(graph: dict[str, dict[str, int]]) -> list[str]:
    """Imports that break the layering, as ``module:line imports target (rule)``."""
    problems = []
    for module, targets in sorted(graph.items()):
        layer = _layer(module)
        for target, line in sorted(targets.items()):
            target_layer = _layer(target)
            top = target.split(".")[0]
            rule = None
            if layer == "core" and target_layer in ("cli", "ui"):
                rule = "core never imports the front ends"
            elif {layer, target_layer} == {"cli", "ui"}:
                rule = "cli and ui never import each other"
            elif layer in ("core", "cli") and top in QT:
                rule = f"{layer} never imports Qt"
            if rule:
                problems.append(f"{module}:{line} imports {target} ({rule})")
    return problems


# ---- The rules, on inspector/
@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_no_import_cycles(graph):
    lines = []
    for group, cycle in zip(tangled_groups(graph), import_cycles(graph), strict=True):
        rest = sorted(set(group) - set(cycle))
        lines.append(" -> ".join(cycle) + (f"   (same loop: {', '.join(rest)})" if rest else ""))
    assert not lines, "import cycles:\n" + "\n".join(lines)


def test_core_cli_and_ui_keep_to_their_layers(graph):
    problems = layer_violations(graph)
    assert not problems, "layering broken:\n" + "\n".join(problems)


def test_no_module_is_longer_than_the_limit():
    long = {}
    for name, path in module_files(PACKAGE_DIR).items():
        with path.open(encoding="utf-8") as fh:
            n = sum(1 for _ in fh)
        if n > MAX_LINES:
            long[name] = n
    assert not long, f"modules over {MAX_LINES} lines (split them by role): " + ", ".join(
        f"{name} ({n})" for name, n in sorted(long.items(), key=lambda kv: -kv[1]))


# ---- The checker itself, on a made-up package
def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / "inspector" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "inspector"


def test_the_graph_sees_every_kind_of_import(tmp_path):
    pkg = _write(tmp_path, {
        "__init__.py": "",
        "core/__init__.py": "from inspector.core.model import Node\n",
        "core/model.py": "import numpy as np\nNode = object\n",
        "core/formats/__init__.py": "from . import zip_reader\n",
        "core/formats/zip_reader.py": ("from ..model import Node\n"
                                       "def later():\n    from inspector.core import text\n"),
        "core/text.py": ("from typing import TYPE_CHECKING\n"
                         "if TYPE_CHECKING:\n    from inspector.ui.panel import Panel\n"
                         "else:\n    import json\n"),
        "ui/__init__.py": "",
        "ui/panel.py": "from PySide6.QtWidgets import QWidget\nimport inspector.core.formats\n",
    })
    graph = import_graph(pkg)
    assert graph["inspector.core"] == {"inspector.core.model": 1}
    assert graph["inspector.core.model"] == {"numpy": 1}
    assert graph["inspector.core.formats"] == {"inspector.core.formats.zip_reader": 1}
    assert graph["inspector.core.formats.zip_reader"] == {"inspector.core.model": 1,
                                                          "inspector.core.text": 3}
    assert graph["inspector.core.text"] == {"typing": 1, "json": 5}
    assert graph["inspector.ui.panel"] == {"PySide6": 1, "inspector.core.formats": 2}
    assert import_cycles(graph) == []
    assert layer_violations(graph) == []


def test_cycles_and_layer_breaks_are_reported(tmp_path):
    pkg = _write(tmp_path, {
        "__init__.py": "",
        "core/__init__.py": "",
        "core/a.py": "from inspector.core import b\n",
        "core/b.py": "def f():\n    from .c import x\n",
        "core/c.py": "import inspector.core.a\nimport inspector.ui.view\nfrom pyqtgraph import Qt\n",
        "cli/__init__.py": "",
        "cli/info.py": "from inspector.ui import view\n",
        "ui/__init__.py": "",
        "ui/view.py": "from ..cli.info import main\n",
    })
    graph = import_graph(pkg)
    assert tangled_groups(graph) == [
        ["inspector.cli.info", "inspector.ui.view"],
        ["inspector.core.a", "inspector.core.b", "inspector.core.c"]]
    assert import_cycles(graph) == [
        ["inspector.cli.info", "inspector.ui.view", "inspector.cli.info"],
        ["inspector.core.a", "inspector.core.b", "inspector.core.c", "inspector.core.a"]]
    assert layer_violations(graph) == [
        "inspector.cli.info:1 imports inspector.ui.view (cli and ui never import each other)",
        "inspector.core.c:2 imports inspector.ui.view (core never imports the front ends)",
        "inspector.core.c:3 imports pyqtgraph (core never imports Qt)",
        "inspector.ui.view:1 imports inspector.cli.info (cli and ui never import each other)",
    ]
