"""A gallery of printed gradients, with shapes undeclared, ranks only and declared: the README's table.

    python -m symgrad.gallery            # print the table (Markdown)
    python -m symgrad.gallery README.md  # replace the table between the README's gallery markers

Each case builds its graph from variables made by a factory, so the same function is
differentiated with shapes left to bind (`sym.var("x")`, MXNet's style), with each rank
declared and its sizes left open (`shape=(None, None)`), and with every shape declared.
`tests/test_gallery.py` checks that the README holds exactly this table and the conditions
the table is meant to show.
"""

from __future__ import annotations

import pathlib
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

from . import sym
from .graph import Symbol

Factory = Callable[[str], Symbol]  # a variable by name: undeclared, or with its declared rank or shape


class Case(NamedTuple):
    name: str
    build: Callable[[Factory], tuple[Symbol, Symbol]]  # (function, variable to differentiate by)
    shapes: dict[str, tuple[int, ...]]
    scalar: bool = False  # one of the 17 scalar functions (elementwise, summed)


def _scalar(f: Callable[[Symbol], Symbol]) -> Callable[[Factory], tuple[Symbol, Symbol]]:
    def build(v: Factory) -> tuple[Symbol, Symbol]:
        x = v("x")
        return sym.sum(f(x)), x

    return build


SCALAR_FUNCTIONS: list[tuple[str, Callable[[Symbol], Symbol]]] = [
    ("sin(x)*exp(x)", lambda x: sym.sin(x) * sym.exp(x)),
    ("log(1 + x*x)", lambda x: sym.log(1 + x * x)),
    ("x**3 - 2*x", lambda x: x**3 - 2 * x),
    ("tanh(x)", lambda x: sym.tanh(x)),
    ("sqrt(x*x + 1)", lambda x: sym.sqrt(x * x + 1)),
    ("exp(-x*x)", lambda x: sym.exp(-x * x)),
    ("x/(1 + x*x)", lambda x: x / (1 + x * x)),
    ("cos(x)**2", lambda x: sym.cos(x) ** 2),
    ("arctan(x)*x", lambda x: sym.arctan(x) * x),
    ("sin(x)/x", lambda x: sym.sin(x) / x),
    ("(x + 1)**5", lambda x: (x + 1) ** 5),
    ("exp(sin(x))", lambda x: sym.exp(sym.sin(x))),
    ("log(cosh(x))", lambda x: sym.log(sym.cosh(x))),
    ("x*exp(2*x)", lambda x: x * sym.exp(2 * x)),
    ("1/(1 + exp(-x))", lambda x: 1 / (1 + sym.exp(-x))),
    ("sqrt(x)*log(x)", lambda x: sym.sqrt(x) * sym.log(x)),
    ("sinh(x)*cosh(x)", lambda x: sym.sinh(x) * sym.cosh(x)),
]


def _linear_regression(v: Factory) -> tuple[Symbol, Symbol]:
    w = v("w")
    return sym.mean((sym.dot(v("X"), w) + v("b") - v("y")) ** 2), w


def _softmax_regression(v: Factory) -> tuple[Symbol, Symbol]:
    W = v("W")
    logits = sym.dot(v("X"), W) + v("b")
    return -sym.mean(sym.sum(v("OH") * sym.log_softmax(logits, axis=-1), axis=1)), W


def _mlp(wrt: str) -> Callable[[Factory], tuple[Symbol, Symbol]]:
    def build(v: Factory) -> tuple[Symbol, Symbol]:
        hidden = sym.relu(sym.dot(v("X"), v("w1")) + v("b1"))
        logits = sym.dot(hidden, v("w2")) + v("b2")
        return -sym.mean(sym.sum(v("OH") * sym.log_softmax(logits, axis=-1), axis=1)), v(wrt)

    return build


_DATA = {"X": (50, 3), "y": (50,), "OH": (50, 4)}
_MLP = {**_DATA, "w1": (3, 8), "b1": (8,), "w2": (8, 4), "b2": (4,)}
VECTOR = {"x": (5,), "y": (5,)}

CASES: list[Case] = [
    Case("mean(x)", lambda v: (sym.mean(v("x")), v("x")), VECTOR),
    Case("sum(x*y + exp(x*y)), by y", lambda v: (sym.sum(v("x") * v("y") + sym.exp(v("x") * v("y"))), v("y")), VECTOR),
    Case("sum(log(cos(x) + 2))", _scalar(lambda x: sym.log(sym.cos(x) + 2)), VECTOR),
    Case("sqrt(sum(x**2) + 1)", lambda v: (sym.sqrt(sym.sum(v("x") ** 2) + 1), v("x")), VECTOR),
    Case("sum(where(x > 0, x, 0.1*x))", _scalar(lambda x: sym.where(x > 0, x, 0.1 * x)), VECTOR),
    Case("sum(x @ y), by y", lambda v: (sym.sum(v("x") @ v("y")), v("y")), {"x": (2,), "y": (2, 3)}),
    Case("d2l: 2*dot(x, x)", lambda v: (2 * sym.dot(v("x"), v("x")), v("x")), VECTOR),
    Case("d2l: sum(x)", _scalar(lambda x: x), VECTOR),
    Case("d2l: sum(x*x)", _scalar(lambda x: x * x), VECTOR),
    Case("d2l: sum(stop_gradient(x*x)*x)", _scalar(lambda x: sym.stop_gradient(x * x) * x), VECTOR),
    Case("linear regression, by w", _linear_regression, {**_DATA, "w": (3,), "b": ()}),
    Case("softmax regression, by W", _softmax_regression, {**_DATA, "W": (3, 4), "b": (4,)}),
    Case("2-layer MLP, by w1", _mlp("w1"), _MLP),
    Case("2-layer MLP, by b2", _mlp("b2"), _MLP),
] + [Case(f"sum({text})", _scalar(f), VECTOR, scalar=True) for text, f in SCALAR_FUNCTIONS]


SHAPES = ("undeclared", "rank", "full")  # how much each variable declares: nothing, its rank, its shape


def declared_shape(case: Case, name: str, shapes: str) -> tuple[int | None, ...] | None:
    """The shape variable `name` of the case is declared with: none, its rank (sizes None), or all of it."""
    if shapes == "undeclared":
        return None
    full = case.shapes[name]
    return full if shapes == "full" else (None,) * len(full)


def gradient(case: Case, shapes: str) -> Symbol:
    """The case's gradient graph, its variables declared as `shapes` (one of SHAPES) says."""
    made: dict[str, Symbol] = {}

    def variable(name: str) -> Symbol:
        if name not in made:
            made[name] = sym.var(name, shape=declared_shape(case, name, shapes))
        return made[name]

    function, wrt = case.build(variable)
    return sym.grad(function, wrt)


def printed(case: Case, shapes: str) -> str:
    """The case's gradient as str() prints it, its variables declared as `shapes` (one of SHAPES) says."""
    return str(gradient(case, shapes))


def table() -> str:
    """The README's table: one row per case, the printed gradient with shapes undeclared, rank-only, full."""
    rows = [
        '| gradient of | shapes undeclared (`sym.var("x")`) | ranks only (`shape=(None, None)`) | shapes declared |',
        "|---|---|---|---|",
    ]
    for case in CASES:
        cells = [_cell(printed(case, shapes)) for shapes in SHAPES]
        rows.append(f"| {case.name} | {' | '.join(cells)} |")
    return "\n".join(rows)


def _cell(text: str) -> str:
    """Printed text as one Markdown cell: code, temporaries on the same line."""
    lines = [line.strip() for line in text.splitlines() if line.strip() != "where"]
    return "<br>".join(f"`{line}`".replace("|", "\\|") for line in lines)


START, END = "<!-- gallery: generated by python -m symgrad.gallery README.md -->", "<!-- gallery end -->"


def with_table(readme: str) -> str:
    """readme with the text between the gallery markers replaced by today's table."""
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{table()}\n{END}{tail}"


def main(argv: Any = None) -> None:
    """Print the table, or write it into the README given as the one argument."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(table())
        return
    path = pathlib.Path(args[0])
    path.write_text(with_table(path.read_text()))


if __name__ == "__main__":
    main()
