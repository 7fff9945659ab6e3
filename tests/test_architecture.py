"""The package's import graph keeps the architecture docs/DESIGN.md draws: data flows one way.

Read from the modules' own ``import`` statements (top-level and lazy ones inside functions alike: a lazy
import is still a dependency), never by importing them. A module may import its own package's modules and
any package of a lower rank; never one of a higher rank, and never in a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from support.repo import ROOT

PACKAGE = "datafusion_exprtool"

#: rank of each top-level room, lowest first: a module imports only rooms of its own rank or lower
RANKS = {
    "model": 0,
    "errors": 0,
    "catalog": 0,
    "atomic": 0,
    "layers": 1,
    "text": 2,
    "inspection": 3,
    "sandbox": 4,
    "reports": 5,
    "actions": 6,
    "capturing": 7,
    "cli": 8,
    "__init__": 9,
    "__main__": 9,
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        found[".".join(parts)] = path
    for path in sorted((ROOT / "cli").glob("*.py")):
        found[f"{PACKAGE}.cli.{path.stem}" if path.stem != "__init__" else f"{PACKAGE}.cli"] = path
    return found


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Library modules ``name`` imports (a ``from pkg import submodule`` counts as the submodule)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                out.add(sub if sub in known else module)
        elif isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
    return {m for m in out if m in known and m != name}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


MODULES = _modules()
GRAPH = {name: _imports(name, path, MODULES) for name, path in MODULES.items()}


def test_every_module_belongs_to_a_ranked_room():
    assert {_room(m) for m in MODULES} <= set(RANKS), sorted({_room(m) for m in MODULES} - set(RANKS))


def test_no_module_imports_upward():
    upward = sorted(
        f"{m} -> {d}" for m, deps in GRAPH.items() for d in deps if RANKS[_room(d)] > RANKS[_room(m)]
    )
    assert not upward, "\n".join(upward)


def test_the_library_never_imports_the_cli_or_a_terminal_toolkit():
    offenders = []
    for name, path in MODULES.items():
        if _room(name) == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            mods = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            )
            offenders += [f"{name} -> {m}" for m in mods if m.split(".")[0] in ("typer", "rich")]
    assert not offenders, "\n".join(offenders)


def test_no_import_cycles():
    """Tarjan's strongly connected components, iteratively: any component of two or more is a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles = []
    for start in GRAPH:
        if start in index:
            continue
        work = [(start, iter(sorted(GRAPH[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(GRAPH[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    assert not cycles, "\n".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("room", sorted(RANKS))
def test_the_graph_is_read(room):
    """The test reads real edges: every room but the base has modules, and the graph is not empty."""
    if room in ("__main__", "model", "errors", "catalog", "atomic", "__init__"):
        assert any(_room(m) == room for m in MODULES)
    else:
        assert any(GRAPH[m] for m in MODULES if _room(m) == room), room


def test_no_module_imports_another_modules_private_name():
    """A name another module needs is part of its contract: public (tests included)."""
    paths = list(MODULES.values()) + sorted((ROOT / "tests").rglob("*.py")) + sorted((ROOT / "tools").glob("*.py"))
    private = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PACKAGE):
                private += [
                    f"{path.relative_to(ROOT)}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
    assert not private, "\n".join(private)
