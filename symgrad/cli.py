"""The command line: `symgrad diff EXPR --wrt x [--at x=0,1,2,3]` and `symgrad demo`.

Expressions are parsed by walking Python's `ast`: numbers, variable names, arithmetic
and calls of symgrad op names only. Nothing the user types is evaluated as Python.
"""

from __future__ import annotations

import argparse
import ast
import sys
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import TRACK_ORIGIN, ExpressionError, ShapeError, SymgradError, set_track_origin
from .graph import Symbol, var
from .ops.registry import OPS

_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: (float(a) if type(a) is int and type(b) is int else a) ** b,  # 9**9**9: no huge ints
    ast.MatMult: lambda a, b: a @ b,
}
MAX_LENGTH = 10_000


def _op_builders() -> dict[str, Any]:
    from . import sym

    return {name: getattr(sym, name) for name in OPS if hasattr(sym, name) and not name.startswith("_")}


def parse_expression(
    text: str, shapes: dict[str, tuple] | None = None, default_shape: tuple | None = None
) -> tuple[Symbol, dict[str, Symbol]]:
    """(expression, variables by name) from text such as "2*dot(x, x)"; raises ExpressionError.

    A variable not in `shapes` gets `default_shape` (None: undeclared)."""
    if not isinstance(text, str) or len(text) > MAX_LENGTH:
        raise ExpressionError(f"expected an expression of at most {MAX_LENGTH} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise ExpressionError(f"not an expression: {exc}") from None
    builders = _op_builders()
    variables: dict[str, Symbol] = {}
    shapes = shapes or {}

    def constant(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -constant(node.operand)
        if isinstance(node, ast.Tuple):
            return tuple(constant(e) for e in node.elts)
        if isinstance(node, ast.Constant) and node.value in (None, True, False):
            return node.value
        raise ExpressionError(f"keyword values must be numbers, tuples of numbers, True, False or None: {_text(node)}")

    def build(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Name):
            if node.id in builders:
                raise ExpressionError(f"{node.id!r} is an op; call it, as in {node.id}(x)")
            if node.id not in variables:
                variables[node.id] = var(node.id, shape=shapes.get(node.id, default_shape))
            return variables[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](build(node.left), build(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = build(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in builders:
            args = [build(a) for a in node.args]
            if any(isinstance(a, ast.Starred) for a in node.args):
                raise ExpressionError("*args is not allowed")
            kwargs = {}
            for kw in node.keywords:
                if kw.arg is None or kw.arg == "name":
                    raise ExpressionError(f"keyword {kw.arg!r} is not allowed")
                kwargs[kw.arg] = constant(kw.value)
            return builders[node.func.id](*args, **kwargs)
        power = isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitXor)  # x^2 written for x**2
        hint = "; ^ is Python's exclusive or: write ** for a power, as in x**2" if power else ""
        raise ExpressionError(
            f"not allowed in an expression: {_text(node)} (numbers, names, + - * / ** @ and op calls){hint}"
        )

    try:
        result = build(tree.body)
    except ExpressionError:
        raise
    except RecursionError:
        raise ExpressionError("expression is nested too deeply") from None
    except SymgradError as exc:  # a shape error most often means an op needs an axis of a variable left a scalar
        scalars = [name for name in variables if name not in shapes and default_shape == ()]
        hint = f"; {', '.join(scalars)}: a scalar here, declare a shape with --shape {scalars[0]}=3" if scalars else ""
        raise ExpressionError(f"{exc}{hint if isinstance(exc, ShapeError) else ''}") from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise ExpressionError(f"cannot build the expression: {exc}") from None
    if not isinstance(result, Symbol):
        raise ExpressionError("the expression has no variable to differentiate")
    return result, variables


def _text(node: ast.AST) -> str:
    try:
        return ast.unparse(node)[:80]
    except Exception:  # noqa: BLE001 - only for the message
        return type(node).__name__


def _values(spec: Sequence[str]) -> dict[str, np.ndarray]:
    values = {}
    for item in spec:
        name, _, text = item.partition("=")
        if not name or not text:
            raise ExpressionError(f"--at expects name=v1,v2,..., got {item!r}")
        try:
            numbers = [float(t) for t in text.split(",")]
        except ValueError:
            raise ExpressionError(f"--at {name}: not a list of numbers: {text!r}") from None
        values[name.strip()] = np.array(numbers[0] if len(numbers) == 1 else numbers)
    return values


def _shapes(spec: Sequence[str]) -> dict[str, tuple]:
    shapes = {}
    for item in spec:
        name, _, text = item.partition("=")
        try:
            shapes[name.strip()] = tuple(int(t) for t in text.split(",") if t.strip()) if text else ()
        except ValueError:
            raise ExpressionError(f"--shape expects name=3,4, got {item!r}") from None
    return shapes


def run_diff(args: argparse.Namespace) -> int:
    """Print each simplified derivative, and its value with --at."""
    from .autodiff import grad

    values = _values(args.at or [])
    shapes = {name: value.shape for name, value in values.items()}
    shapes.update(_shapes(args.shape or []))
    expr, variables = parse_expression(args.expression, shapes, default_shape=())  # scalars, as --help says
    for name in args.wrt:
        if name not in variables:
            raise ExpressionError(f"--wrt {name}: not a variable of the expression (variables: {sorted(variables)})")
    for name in args.wrt:
        derivative = grad(expr, variables[name])
        prefix = f"d/d{name} = " if len(args.wrt) > 1 else ""
        print(f"{prefix}{derivative}")
        if values:
            missing = [v for v in derivative.list_arguments() if v not in values]
            if missing:
                raise ExpressionError(f"--at gives no value for {missing}")
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always", RuntimeWarning)
                (value,) = derivative.eval(**{k: values[k] for k in derivative.list_arguments()})
            for warning in seen:  # named in the user's terms (the expression and the point), not this program's
                kind = str(warning.message).split(" encountered")[0]
                print(
                    f"symgrad: warning: {kind} encountered in d/d{name} = {derivative} at {', '.join(args.at)}:"
                    " the value has Inf or NaN",
                    file=sys.stderr,
                )
            if not derivative.list_arguments():
                value = np.broadcast_to(value, values.get(name, np.zeros(())).shape)
            print(f"  at {', '.join(args.at)}: {np.array2string(np.asarray(value), separator=', ')}")
    return 0


def run_demo(_args: argparse.Namespace) -> int:
    """A walk through the API, printing as it goes."""
    from .demo import main as demo

    demo()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="symgrad", description="Symbolic derivatives and a tour of symgrad.")
    commands = parser.add_subparsers(dest="command", required=True)
    diff = commands.add_parser("diff", help="print the simplified derivative of an expression")
    diff.add_argument("expression", help='e.g. "2*dot(x, x)" or "sin(x)*exp(y)"')
    diff.add_argument("--wrt", action="append", required=True, help="variable to differentiate by (repeatable)")
    diff.add_argument("--at", action="append", help="evaluate at name=v1,v2,... (repeatable)")
    diff.add_argument("--shape", action="append", help="declare a variable's shape, name=3,4 (default: scalar)")
    diff.set_defaults(run=run_diff)
    demo = commands.add_parser("demo", help="walk through symbols, derivatives, the executor and eager mode")
    demo.set_defaults(run=run_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `symgrad` command; exit status 2 for bad input."""
    parser = build_parser()
    args = parser.parse_args(argv)
    tracking = TRACK_ORIGIN[0]
    set_track_origin(False)  # the user's code is the expression, which errors quote, not this program's lines
    try:
        return args.run(args)
    except SymgradError as exc:
        message = " ".join(str(exc).split())
        print(f"symgrad: error: {message}", file=sys.stderr)
        return 2
    finally:
        set_track_origin(tracking)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
