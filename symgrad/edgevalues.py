"""Values of a small elementwise graph, and of text printed for it, at the edge values.

Printing lets SymPy rewrite such a graph only when the text it prints has the graph's values
at every combination of EDGE_VALUES: SymPy's algebra on the reals is not the graph's arithmetic
at inf and NaN (sin(x)**2 + cos(x)**2 is 1 to SymPy, NaN at x = inf to NumPy).
"""

from __future__ import annotations

import ast
import math
from typing import Any

import numpy as np

from .graph import CONST, VAR, Symbol, topo_order
from .ops.registry import OPS

EDGE_VALUES = (-math.inf, -1e3, -3.5, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0, 3.5, 1e3, math.inf, math.nan)
EDGE_POINTS = 4096  # points compared at most: all combinations of EDGE_VALUES for up to 3 variables


def edge_points(names: list[str]) -> dict[str, np.ndarray]:
    """Every combination of EDGE_VALUES for the named variables (a seeded sample of them for many names)."""
    values = np.array(EDGE_VALUES)
    if len(values) ** len(names) <= EDGE_POINTS:
        grid = np.meshgrid(*[values] * len(names), indexing="ij")
        return {name: axis.ravel() for name, axis in zip(names, grid)}
    rng = np.random.default_rng(0)
    return {name: rng.choice(values, EDGE_POINTS) for name in names}


def evaluate(s: Symbol, inputs: dict[str, Any]) -> Any:
    """The values of an elementwise graph at the given variable values, op by op (the ops' own impls)."""
    values: dict[int, Any] = {}
    for node in topo_order([s]):
        if node.op == VAR:
            values[id(node)] = inputs[node.name]
        elif node.op == CONST:
            values[id(node)] = node.attrs["value"]
        else:
            opdef = OPS[node.op]
            attrs = node.attrs if opdef.prepare is None else opdef.prepare(node.attrs)
            values[id(node)] = opdef.impl(*[values[id(i)] for i in node.inputs], **attrs)
    return values[id(s)]


def same_values(a: Any, b: Any) -> bool:
    """a and b agree: NaN where the other is NaN, each infinity in place, other values to rounding."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    return bool(np.all(np.isclose(a, b, rtol=1e-6, atol=1e-12, equal_nan=True)))


_TEXT_OPERATORS = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.true_divide, ast.Pow: np.power,
    ast.USub: np.negative, ast.UAdd: np.positive,
}  # fmt: skip
_TEXT_NAMES = {"inf": math.inf, "nan": math.nan, "pi": math.pi, "E": math.e}


def text_values(text: str, inputs: dict[str, Any]) -> Any:
    """The values printed text such as 1/(2*sqrt(x)) reads as: its numbers, operators and symgrad ops on NumPy."""

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.Name):
            return inputs[node.id] if node.id in inputs else _TEXT_NAMES[node.id]
        if isinstance(node, ast.BinOp):
            return _TEXT_OPERATORS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp):
            return _TEXT_OPERATORS[type(node.op)](value(node.operand))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            opdef = OPS[node.func.id]
            return opdef.impl(*[value(a) for a in node.args])
        raise KeyError(ast.dump(node))

    return value(ast.parse(text, mode="eval").body)
