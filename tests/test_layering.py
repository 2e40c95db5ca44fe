"""Imports flow one way: the package's import graph (function-level imports included) has no circle."""

from __future__ import annotations

import ast
import pathlib

import symgrad

PACKAGE = pathlib.Path(symgrad.__file__).parent
# Edges allowed to close a circle, each with the reason (at most two). None today.
ALLOWED: dict[tuple[str, str], str] = {}
MAX_LINES = 600
# Modules over MAX_LINES, each with the reason (to be split, not to grow).
OVERSIZED: dict[str, str] = {}


def modules() -> dict[str, pathlib.Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ("symgrad", *path.relative_to(PACKAGE).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports anywhere in its text (inside functions too)."""
    mods = modules()
    edges: dict[str, set[str]] = {name: set() for name in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                module = ".".join(base + ([node.module] if node.module else []))
                targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in mods else module for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            edges[name].update(t for t in targets if t in mods and t != name)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A circle of imports as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if (node, nxt) in ALLOWED:
                continue
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_import_graph_has_no_circle():
    assert len(ALLOWED) <= 2
    assert find_cycle(import_graph()) is None


def test_the_cycle_finder_finds_a_circle_through_a_function_level_import():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert find_cycle(edges) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_graph_and_nd_import_nothing_above_them():
    edges = import_graph()
    assert edges["symgrad.graph"] <= {"symgrad.errors"}
    assert not edges["symgrad.nd"] & {"symgrad.autograd", "symgrad.executor", "symgrad.compile.pipeline"}


def test_no_module_is_over_600_lines():
    lengths = {name: len(path.read_text().splitlines()) for name, path in modules().items()}
    assert {name for name, n in lengths.items() if n > MAX_LINES} <= set(OVERSIZED)


def test_methods_attached_by_higher_layers_are_there():
    x = symgrad.sym.var("x")
    assert str(2 * x) == "2*x" and (x + 1).list_arguments() == ["x"]
    assert symgrad.sym.load_json((x * 3).tojson()).eval(x=2.0)[0] == 6.0
    a = symgrad.nd.array([1.0, 2.0])
    a.attach_grad()
    with symgrad.autograd.record():
        b = (a * a).sum()
    b.backward()
    assert a.grad.asnumpy().tolist() == [2.0, 4.0]
