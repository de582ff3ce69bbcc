"""Tests of the integration's shape: its modules import each other without a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "custom_components" / "printfarm"


def _module_name(package: Path, path: Path) -> str:
    """Return the dotted name of a module inside the package ("" for the package itself)."""
    parts = list(path.relative_to(package).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """Return the package modules a relative `from ... import` names (checking imports too)."""
    if node.level == 0:
        return []
    base = module.split(".") if module else []
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    target = ".".join([*base, *(node.module.split(".") if node.module else [])])
    # `from . import x` may name a module x
    names = [f"{target}.{alias.name}".lstrip(".") for alias in node.names]
    return [target, *names]


def import_graph(package: Path) -> dict[str, set[str]]:
    """Return, for each module of a package, the package's modules it imports."""
    modules = {_module_name(package, path): path for path in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                imported.update(n for n in _resolve(name, is_package, node) if n in modules)
        imported.discard(name)
        graph[name] = imported
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """Return one import cycle of the graph, or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for child in sorted(graph.get(node, ())):
            # A package imports its own modules to export them; that is no cycle back
            if child.startswith(f"{node}.") or not node:
                continue
            if (cycle := visit(child, [*path, node])) is not None:
                return cycle
        done.add(node)
        return None

    for start in sorted(graph):
        if (cycle := visit(start, [])) is not None:
            return cycle
    return None


def test_no_import_cycle() -> None:
    """Test no module of the integration imports one that imports it back, even for types."""
    graph = import_graph(PACKAGE)
    assert {"coordinator", "entity", "connections", "api.view", "api"} <= graph.keys()
    assert "coordinator" in graph["entity"]
    assert find_cycle(graph) is None


def test_cycles_are_found(tmp_path: Path) -> None:
    """Test the check finds a cycle, also one made by an import for type checking only."""
    (tmp_path / "__init__.py").write_text("from .a import A\n")
    (tmp_path / "a.py").write_text("from .b import B\n")
    (tmp_path / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import A\n"
    )
    (tmp_path / "c.py").write_text("from . import a\n")
    graph = import_graph(tmp_path)
    assert graph["c"] == {"", "a"}
    assert find_cycle(graph) == ["a", "b", "a"]
    (tmp_path / "b.py").write_text("X = 1\n")
    assert find_cycle(import_graph(tmp_path)) is None
