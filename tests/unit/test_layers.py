"""Imports run one way: shell -> steps -> domain -> foundation (docs/ENGINEERING.md).

LAYERS is the one list of which top-level package sits where. A module may import its own
layer and any layer below it; importing a layer above it fails here, naming the line. Every
import counts, also one inside a function (a deferred import is still a dependency), and
no two modules may import each other, directly or round a longer loop.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

LAYERS: list[tuple[str, tuple[str, ...]]] = [
    # top: what people and schedulers call
    ("shell", ("npd", "dags", "plugins")),
    # the steps of a partition, and what they record about the runs
    ("steps", ("pipeline",)),
    # what the product knows: feeds, linkage, safe access, quality, the stores
    (
        "domain",
        (
            "ingest",
            "linkage",
            "governance",
            "quality",
            "expectations",
            "warehouse",
            "warehouse_schema",
            "synth",
        ),
    ),
    # bottom: settings, periods and partitions, code lists, DuckDB helpers, logging
    ("foundation", ("core",)),
]
RANK = {package: rank for rank, (_, packages) in enumerate(LAYERS) for package in packages}
LAYER_OF = {package: layer for layer, packages in LAYERS for package in packages}


def _modules() -> dict[str, Path]:
    found = {}
    for package in RANK:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts).removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, module) of every absolute import of one of our modules, wherever it is."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in MODULES:  # `from x import name` may name a function
                name = name.rpartition(".")[0]
            if name:
                yield node.lineno, name


GRAPH = {
    module: {target for _, target in _imports(path) if target != module}
    for module, path in MODULES.items()
}


def test_every_top_level_package_has_a_layer() -> None:
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")} | {"dags", "plugins"}
    assert packages - {"tests"} == set(RANK), "add the package to LAYERS"


def test_no_layer_imports_a_layer_above_it() -> None:
    upward = []
    for module, path in MODULES.items():
        here = module.split(".")[0]
        for line, target in _imports(path):
            there = target.split(".")[0]
            if RANK[there] < RANK[here]:
                upward.append(
                    f"{path.relative_to(REPO)}:{line}: {LAYER_OF[here]} {module} imports "
                    f"{LAYER_OF[there]} {target}"
                )
    assert not upward, "imports that run up the layers:\n" + "\n".join(upward)


def test_no_two_modules_import_each_other() -> None:
    loops = [loop for loop in _cycles(GRAPH) if len(loop) > 1]
    assert not loops, "modules importing each other: " + "; ".join(" <-> ".join(c) for c in loops)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components (Tarjan), without recursion."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is not None:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.get(target, ())))))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                found.append(sorted(component))
    return found


@pytest.mark.parametrize(
    ("graph", "loops"),
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": set()}, []),
    ],
)
def test_the_loop_finder_finds_loops(graph: dict[str, set[str]], loops: list[list[str]]) -> None:
    assert [c for c in _cycles(graph) if len(c) > 1] == loops
