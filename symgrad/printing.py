"""Printing: readable infix text, the SymPy bridge, and LaTeX.

`str(s)` simplifies the graph, then prints it. Small scalar elementwise graphs go
through SymPy (`simplify` under a size budget) so a derivative reads as SymPy would
write it; everything else is printed from the graph with minimal parentheses,
matrix ops as `dot(x, w)` and `x.T`, and shared subexpressions named once.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from .edgevalues import edge_points, evaluate, same_values, text_values
from .errors import SymgradError
from .graph import CONST, GROUP, VAR, Symbol, is_const, topo_order
from .numbertext import format_const, format_number, narrow_number, reciprocal
from .ops import api
from .ops.indextext import format_index
from .ops.registry import OPS
from .shapes import same_shape_leaf

SYMPY_SIMPLIFY_OPS = 40  # count_ops budget for sympy.simplify when printing
SYMPY_MAX_NODES = 200
SYMPY_SWELL = 3  # a tree this many times the graph's size prints with temporaries instead
SYMPY_MAX_DEPTH = 60  # nesting SymPy's printers and sorting take without reaching the recursion limit


def format_name(name: str | None) -> str:
    if name is None:
        return "?"
    return name if name.isidentifier() else repr(name)


# ---- infix printing from the graph --------------------------------------------

_BINARY = {"add": (" + ", 1), "subtract": (" - ", 1), "multiply": ("*", 2), "divide": ("/", 2), "power": ("**", 4)}
_ATOM = 5
_MATMUL = 2.5  # a @ b + c, y - a @ b; its operands and a product's or negation's matmul in parentheses: c*(a @ b)
_COMPARE = {
    "greater": " > ",
    "greater_equal": " >= ",
    "less": " < ",
    "less_equal": " <= ",
    "equal": " == ",
    "not_equal": " != ",
}


class GraphPrinter:
    """Infix text of a DAG; nodes used twice (and not tiny) are printed once as t0, t1, ..."""

    def __init__(self, outputs: list[Symbol]) -> None:
        self.order = topo_order(outputs)
        uses: dict[int, int] = {}
        for node in self.order:
            for i in node.inputs:
                uses[id(i)] = uses.get(id(i), 0) + 1
        self.text: dict[int, tuple[str, float]] = {}
        self.temps: list[tuple[str, str]] = []
        for node in self.order:
            text, prec = self.render(node)
            shared = uses.get(id(node), 0) > 1 and node.op not in (VAR, CONST) and len(text) > 12
            if shared:
                tname = f"t{len(self.temps)}"
                self.temps.append((tname, text))
                text, prec = tname, _ATOM
            self.text[id(node)] = (text, prec)

    def arg(self, node: Symbol, min_prec: float, within: Symbol | None = None) -> str:
        """node's text as an operand (parenthesised below min_prec); a number `within` a float32 node as float32."""
        text, prec = self.text[id(node)]
        narrow = narrow_number(node, within)
        if narrow is not None:
            text = format_number(narrow)
            prec = 3 if text.startswith("-") else 2 if "/" in text else _ATOM
        return f"({text})" if prec < min_prec else text

    def render(self, node: Symbol) -> tuple[str, float]:
        node = displayed_as(node)
        op = node.op
        if op == VAR:
            return format_name(node.name), _ATOM
        if op == CONST:
            text = format_const(node.attrs["value"])
            return text, (3 if text.startswith("-") else 2 if "/" in text else _ATOM)  # 2/3 is a quotient
        if op in _BINARY:
            sym, prec = _BINARY[op]
            a, b = node.inputs
            if op == "power":
                return f"{self.arg(a, _ATOM, node)}**{self.arg(b, _ATOM, node)}", prec
            n = reciprocal(a, node) if op == "multiply" else None
            if n is not None:  # 0.02*x as x/50
                text = f"{self.arg(b, 2)}/{abs(n)}"
                return (f"-{text}", 3) if n < 0 else (text, 2)
            right_prec = prec + 1 if op in ("subtract", "divide") or b.op == "matmul" else prec
            left_prec = 3 if op == "multiply" and _is_neg_const(a) or a.op == "matmul" and prec == 2 else prec
            right = self.arg(b, right_prec, node)
            if prec == 1 and right.startswith("-"):  # a + -b*c as a - b*c, a - -b as a + b
                sym, right = (" - " if op == "add" else " + "), right[1:]
            return f"{self.arg(a, left_prec, node)}{sym}{right}", prec
        if op == "negative":  # -a/b reads as (-a)/b, the same value, but it is a quotient: x @ (-a/b)
            x = node.inputs[0]
            return f"-{self.arg(x, 3 if x.op == 'matmul' else 2)}", 2 if self.text[id(x)][1] == 2 else 3
        if op == "cast_like":  # a gradient in its variable's dtype: the same math
            return self.text[id(node.inputs[0])]
        if op in _COMPARE:
            a, b = node.inputs
            return f"{self.arg(a, 1)}{_COMPARE[op]}{self.arg(b, 1)}", 0
        if op == "matmul":  # x.T @ g, as NumPy and PyTorch users write it; c*(a @ b) keeps its parentheses
            a, b = node.inputs
            return f"{self.arg(a, 3)} @ {self.arg(b, 3)}", _MATMUL
        if op == "expand_dims":
            index = _new_axis_index(node)
            if index is not None:
                return f"{self.arg(node.inputs[0], _ATOM)}[{index}]", _ATOM
        if op == "transpose" and node.attrs["axes"] is None:
            return f"{self.arg(node.inputs[0], _ATOM)}.T", _ATOM
        if op == "getitem":
            return f"{self.arg(node.inputs[0], _ATOM)}[{format_index(node.attrs['index'])}]", _ATOM
        if op == "broadcast_to" and node.inputs[0].op == CONST and node.inputs[0].shape == ():
            return format_const(np.full(node.attrs["shape"], node.inputs[0].attrs["value"])), _ATOM
        if op == "broadcast_like":  # as broadcast_to prints, the shape named symbolically when not known
            g, like = node.inputs
            if g.op == CONST and g.shape == () and node.shape:
                return format_const(np.full(node.shape, g.attrs["value"])), _ATOM
            shape = f"shape({self.text[id(same_shape_leaf(like))][0]})"  # shape(y), not shape(y - x @ w)
            if node.shape is not None:  # declared shapes print as numbers, as broadcast_to's do
                shape = str(node.shape)
            if g.shape != ():
                known = f"shape={node.shape}" if node.shape is not None else shape
                return f"broadcast_to({self.text[id(g)][0]}, {known})", _ATOM
            if g.op == "divide" and is_const(g.inputs[0], 1):
                return f"ones({shape})/{self.arg(g.inputs[1], 3)}", 2  # the mean's 1/size(x), spread over x
            if g.op == CONST:
                return (f"ones({shape})", _ATOM) if is_const(g, 1) else (f"full({shape}, {self.text[id(g)][0]})", _ATOM)
            return f"{self.arg(g, 2)}*ones({shape})", 2
        if op in ("zeros", "ones"):
            return f"{op}({node.attrs['shape']})", _ATOM
        if op == "reduce_size":
            axis = node.attrs["axis"]
            shown = "" if axis is None else f", axis={axis[0] if len(axis) == 1 else axis}"
            return f"size({self.text[id(node.inputs[0])][0]}{shown})", _ATOM
        args = [self.text[id(i)][0] for i in node.inputs] + attribute_texts(node)
        return f"{op}({', '.join(args)})", _ATOM

    def result(self, outputs: list[Symbol]) -> str:
        body = ", ".join(self.text[id(o)][0] for o in outputs)
        if len(outputs) > 1:
            body = f"[{body}]"
        if not self.temps:
            return body
        where = "\n".join(f"  {name} = {text}" for name, text in self.temps)
        return f"{body}\n where\n{where}"


def displayed_as(node: Symbol) -> Symbol:
    """node, or the node its op's `shown_as` prints instead (x[[0, 2]] for getitem_arrays of constants)."""
    opdef = OPS.get(node.op)
    replaced = opdef.shown_as(node.inputs, node.attrs) if opdef is not None and opdef.shown_as else None
    if replaced is None:
        return node
    op, inputs, attrs = replaced
    return Symbol(op, inputs, attrs, name=node.name, shape=node.shape, dtype=node.dtype)


def _new_axis_index(node: Symbol) -> str | None:
    """expand_dims(x, axis) as the index that reads the same: x[:, None], x[..., None], x[None] (one axis)."""
    (axis,) = node.attrs["axis"] if len(node.attrs["axis"]) == 1 else (None,)
    ndim = node.inputs[0].ndim
    if axis is None or (ndim is None and axis not in (0, -1)):
        return None
    if axis == 0 or (ndim is not None and axis == -ndim - 1):
        return "None"
    if axis == -1 and (ndim is None or ndim >= 2):
        return "..., None"
    return ":, " * (axis if axis >= 0 else axis + ndim + 1) + "None"


def attribute_texts(node: Symbol) -> list[str]:
    """node's attributes that differ from their defaults, as written: axis=1, index=[0:2]."""
    opdef = OPS.get(node.op)
    defaults = opdef.attr_defaults if opdef else {}
    texts = []
    for key, value in node.attrs.items():
        if key in defaults and defaults[key] == value:
            continue
        if key == "index" and isinstance(value, tuple):  # an encoded NumPy index (take's is an int)
            value = f"[{format_index(value)}]"
        elif isinstance(value, tuple) and len(value) == 1 and key in ("axis", "axes"):
            value = value[0]  # sum(x, axis=0), as it was written
        texts.append(f"{key}={value}")
    return texts


def _is_neg_const(node: Symbol) -> bool:
    return node.op == CONST and format_const(node.attrs["value"]).startswith("-")


# ---- SymPy bridge ----------------------------------------------------------------


def to_sympy(s: Symbol, symbols: dict[str, Any] | None = None) -> Any:
    """The graph as a SymPy expression; ops with no SymPy form become named functions."""
    if s.op == GROUP:
        return [to_sympy(o, symbols) for o in s.inputs]
    symbols = dict(symbols or {})
    done: dict[int, Any] = {}
    for node in topo_order([s]):
        if node.op == VAR:
            if node.name not in symbols:
                symbols[node.name] = sp.Symbol(node.name, real=True)
            done[id(node)] = symbols[node.name]
        elif node.op == CONST:
            v = node.attrs["value"]
            if isinstance(v, np.ndarray) and v.ndim > 0:
                done[id(node)] = sp.Symbol(format_const(v))
            else:
                done[id(node)] = sp.nsimplify(v.item() if isinstance(v, np.ndarray) else v, rational=False)
        else:
            displayed = displayed_as(node)
            args = [_sympy_number(i, displayed, done) for i in displayed.inputs]
            opdef = OPS[displayed.op]
            if opdef.sympy is not None:
                done[id(node)] = opdef.sympy(*args, **displayed.attrs)
            else:
                extra = [AttributeSymbol(text) for text in attribute_texts(displayed)]
                done[id(node)] = sp.Function(displayed.op)(*args, *extra)
    return done[id(s)]


def _sympy_number(node: Symbol, within: Symbol, done: dict[int, Any]) -> Any:
    """node's SymPy form as an argument of `within`: a Python float in a float32 op as the float32 it becomes."""
    narrow = narrow_number(node, within)
    return done[id(node)] if narrow is None else sp.nsimplify(float(str(narrow)), rational=False)


def from_sympy(expr: Any, variables: Any) -> Symbol:
    """A Symbol graph from a SymPy expression; `variables` maps names (or a list of vars)."""
    if isinstance(variables, (list, tuple)):
        variables = {v.name: v for v in variables}
    cache: dict[Any, Symbol] = {}

    def convert(e: Any) -> Any:
        if e in cache:
            return cache[e]
        out = _convert(e)
        cache[e] = out
        return out

    def _convert(e: Any) -> Any:
        if e.is_Symbol:
            if e.name not in variables:
                raise SymgradError(f"from_sympy: no variable given for symbol {e.name!r}")
            return variables[e.name]
        if e.is_Number:
            return float(e) if not e.is_Integer else int(e)
        if e in (sp.pi, sp.E):
            return float(e)
        args = [convert(a) for a in e.args]
        if e.is_Add:
            total = args[0]
            for a in args[1:]:
                total = total + a
            return total
        if e.is_Mul:
            prod = args[0]
            for a in args[1:]:
                prod = prod * a
            return prod
        if e.is_Pow:
            base, exponent = args
            if exponent == 0.5:
                return api.sqrt(base)
            return base**exponent
        func = from_sympy_ops().get(type(e))
        if func is None:
            if isinstance(e, sp.Piecewise):
                return _piecewise(e, convert)
            if isinstance(e, sp.core.relational.Relational):
                return _RELATIONS[type(e)](*args)
            raise SymgradError(f"from_sympy: no symgrad op for {type(e).__name__} in {e}")
        return func(*args)

    return _as_symbol(convert(expr))


def _as_symbol(value: Any) -> Symbol:
    from .ops.registry import as_symbol

    return as_symbol(value)


def _piecewise(e: Any, convert: Any) -> Any:
    result = None
    for value, cond in reversed(e.args):
        v = convert(value)
        if cond == sp.true:
            result = v
        else:
            result = api.where(convert(cond), v, result)
    return result


def from_sympy_ops() -> dict[Any, Any]:
    """SymPy function -> the public builder of the op declaring it as its `from_sympy` (sp.Max -> maximum).

    Read from the registry on each conversion, so an op registered later is known too; the
    builder is the public one (maximum's moves a constant first argument second)."""
    return {opdef.from_sympy: getattr(api, name) for name, opdef in OPS.items() if opdef.from_sympy is not None}


_RELATIONS = {
    sp.StrictGreaterThan: lambda a, b: a > b, sp.GreaterThan: lambda a, b: a >= b,
    sp.StrictLessThan: lambda a, b: a < b, sp.LessThan: lambda a, b: a <= b,
    sp.Eq: lambda a, b: a == b, sp.Ne: lambda a, b: a != b,
}  # fmt: skip


class SymgradStrPrinter(StrPrinter):
    """SymPy's text with symgrad's function names."""

    def _print_Abs(self, e: Any) -> str:
        return f"abs({self._print(e.args[0])})"

    def _print_Max(self, e: Any) -> str:
        return f"maximum({', '.join(self._print(a) for a in e.args)})"

    def _print_Min(self, e: Any) -> str:
        return f"minimum({', '.join(self._print(a) for a in e.args)})"

    def _print_Function(self, e: Any) -> str:
        names = {"asin": "arcsin", "acos": "arccos", "atan": "arctan"}
        name = names.get(e.func.__name__, e.func.__name__)
        return f"{name}({', '.join(self._print(a) for a in e.args)})"

    def _print_Float(self, e: Any) -> str:
        return format_number(float(e))

    def _print_Infinity(self, e: Any) -> str:
        return "inf"

    def _print_NegativeInfinity(self, e: Any) -> str:
        return "-inf"

    def _print_Symbol(self, e: Any) -> str:
        return format_name(e.name)  # as the graph printer: a name such as "a b" or "" prints quoted


def _fits_sympy(nodes: list[Symbol]) -> bool:
    """The graph (in topological order) can go to SymPy as a tree: few nodes, a tree not much
    bigger than the graph (shared nodes are written once per use), and not deeper than SymPy's
    recursive printers reach before Python's recursion limit."""
    if len(nodes) > SYMPY_MAX_NODES:
        return False
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    for n in nodes:
        size[id(n)] = 1 + sum(size[id(i)] for i in n.inputs)
        depth[id(n)] = 1 + max((depth[id(i)] for i in n.inputs), default=0)
    return size[id(nodes[-1])] <= SYMPY_SWELL * len(nodes) + 20 and depth[id(nodes[-1])] <= SYMPY_MAX_DEPTH


def _negative_zero(v: Any) -> bool:
    return isinstance(v, (float, np.floating)) and v == 0 and math.copysign(1.0, v) < 0


def _sympy_ready(nodes: list[Symbol]) -> bool:
    if not _fits_sympy(nodes):
        return False  # as a tree it swells or nests too deep: print the graph, shared values as temporaries
    for n in nodes:
        if n.op == CONST and (n.shape != () or _negative_zero(n.attrs["value"])):
            return False  # SymPy has no -0.0: it would print 0
        if n.op not in (VAR, CONST) and not OPS[n.op].sympy_simplify:
            return False
        if n.shape not in (None, ()) and n.op == CONST:
            return False
    return True


def sympy_form(s: Symbol) -> Any:
    """SymPy's form of a small elementwise graph, simplified when that keeps its values, or None.

    SymPy simplifies as algebra on real numbers: sin(x)**2 + cos(x)**2 is 1 and x*x**(x - 1) is x**x,
    but at x = inf the graph gives NaN, at x = -inf NaN and 0. A form is kept only when its printed
    text has the graph's values at every combination of edgevalues.EDGE_VALUES (the infinities, NaN, signed zeros,
    both signs, and +-1000, where exp overflows: log(exp(x)) is inf there, not x); SymPy has no -0.0,
    so a zero's sign is not compared. Of the simplified form and its rearrangements (common factors out:
    (sin(x) + cos(x))*exp(x); the denominator factored: (1 - x**2)/(x**2 + 1)**2) the shortest text that
    keeps the values is printed; else the form as SymPy builds it (which already combines x*x**(x - 1))
    if it keeps them; else the graph is."""
    nodes = topo_order([s])
    if not _sympy_ready(nodes):
        return None
    try:
        expr = to_sympy(s)
        names = {n.name for n in nodes if n.op == VAR}
        if {str(v) for v in expr.free_symbols} != names:
            return None  # SymPy cancelled a variable (x - x -> 0): not exact for inf/NaN, print the graph
        if expr.has(sp.zoo, sp.nan):
            return None  # x/0.0 is zoo*x to SymPy, but inf or -inf (by the signs) to NumPy
        if _floats_merged(expr):
            return None  # SymPy merged 1e200*1e200 into 1e400, which no float holds; the graph keeps both
        simplified = []
        if sp.count_ops(expr) <= SYMPY_SIMPLIFY_OPS:
            simpler = sp.simplify(expr)
            best = simpler if sp.count_ops(simpler) <= sp.count_ops(expr) else expr
            simplified = [best, *_rearranged(best)]
    except Exception:  # noqa: BLE001 - SymPy may fail on odd input; the graph printer still works
        return None
    points = edge_points(sorted(names))
    with np.errstate(all="ignore"):
        expected = evaluate(s, points)
        kept = [(len(text), form) for form, text in _texts(simplified) if _keeps(text, points, expected)]
        if kept:
            return min(kept, key=lambda k: k[0])[1]  # the first of the shortest
        return expr if _keeps(SymgradStrPrinter().doprint(expr), points, expected) else None


def _texts(forms: list[Any]) -> list[tuple[Any, str]]:
    """(form, its text) for each SymPy form, each text once."""
    seen: dict[str, Any] = {}
    for form in forms:
        seen.setdefault(SymgradStrPrinter().doprint(form), form)
    return [(form, text) for text, form in seen.items()]


def _keeps(text: str, points: dict[str, np.ndarray], expected: Any) -> bool:
    """The printed text, read as NumPy reads it, has the graph's values at the edge points."""
    try:
        return same_values(text_values(text, points), expected)
    except Exception:  # noqa: BLE001 - text that cannot be evaluated here is not known to be right
        return False


def _rearranged(expr: Any) -> list[Any]:
    """expr with its common factors taken out, and as one fraction with its denominator factored."""
    numerator, denominator = sp.fraction(sp.together(expr))
    return [sp.factor_terms(expr), numerator / sp.factor(denominator)]


def _sympy_text(s: Symbol) -> str | None:
    """SymPy's text of a small elementwise graph (see sympy_form), or None when not suitable."""
    expr = sympy_form(s)
    return None if expr is None else SymgradStrPrinter().doprint(expr)


def to_str(s: Symbol, simplify: bool = True) -> str:
    """Readable infix text of the simplified graph."""
    if simplify:
        from .simplify import simplify as simplify_graph

        s = simplify_graph(s)
    outputs = s.outputs()
    if len(outputs) == 1:
        text = _sympy_text(outputs[0])
        if text is not None:
            return text
    return GraphPrinter(outputs).result(outputs)


def to_latex(s: Symbol) -> str:
    """LaTeX of the simplified graph: SymPy's form where it keeps the graph's values (see sympy_form), else
    the graph as written (other ops as named functions, attributes as subscripts; constants as str prints them)."""
    from .simplify import simplify as simplify_graph

    s = simplify_graph(s)
    texts = []
    for output in s.outputs():
        if not _fits_sympy(topo_order([output])):
            texts.append(_latex_lines(GraphPrinter([output]).result([output])))
            continue
        expr = sympy_form(output)
        if expr is None:  # the graph as written: SymPy's own evaluation would cancel sum(x) - sum(x)
            with sp.evaluate(False):
                expr = to_sympy(output)
        texts.append(SymgradLatexPrinter().doprint(expr))
    return ",\\ ".join(texts)


def _latex_lines(text: str) -> str:
    """str's text of a graph too big or deep for SymPy (its temporaries a line each) as LaTeX."""
    lines = [r"\texttt{" + _latex_text(line.strip()) + "}" for line in text.split("\n")]
    return lines[0] if len(lines) == 1 else r"\begin{array}{l}" + r" \\ ".join(lines) + r"\end{array}"


def _floats_merged(expr: Any) -> bool:
    """A float SymPy made by merging constants overflowed or underflowed (no float holds it)."""
    return any(not math.isfinite(float(f)) or (float(f) == 0) != (f == 0) for f in expr.atoms(sp.Float))


class AttributeSymbol(sp.Symbol):
    """An op's attribute (axis=1) as an argument of its SymPy function; LaTeX shows it as a subscript."""


_PLAIN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")  # SymPy's own LaTeX for these: x, alpha, X2
_LATEX_SPECIAL = {c: "\\" + c for c in "{}$&#%_"} | {"\\": r"\textbackslash{}", "^": r"\^{}", "~": r"\~{}"}


def _latex_text(text: str) -> str:
    """Text escaped for LaTeX: a name is data, never markup."""
    return "".join(_LATEX_SPECIAL.get(c, c) for c in text.replace("\n", " "))


def _latex_name(name: str) -> str:
    """A variable's name: SymPy's form for plain ones (x, alpha), upright for learning_rate, else text."""
    if name.isidentifier() and name.isascii():
        return r"\mathrm{" + _latex_text(name) + "}"
    return r"\text{" + _latex_text(name) + "}"


class SymgradLatexPrinter(LatexPrinter):
    """SymPy's LaTeX with symgrad's names: \\operatorname{log\\_softmax}, attributes as subscripts,
    names with underscores upright, numbers as str prints them (1e+200, not 10^{200})."""

    def _print_Symbol(self, expr: Any, style: str = "plain") -> str:
        if isinstance(expr, AttributeSymbol):
            return r"\text{" + _latex_text(expr.name) + "}"
        if _PLAIN_NAME.fullmatch(expr.name):
            return super()._print_Symbol(expr, style)
        return _latex_name(expr.name)

    def _print_Float(self, expr: Any) -> str:
        return format_number(float(expr))

    def _print_Function(self, expr: Any, exp: Any = None) -> str:
        if not isinstance(expr, AppliedUndef):
            return super()._print_Function(expr, exp)
        args = [a for a in expr.args if not isinstance(a, AttributeSymbol)]
        attributes = [a for a in expr.args if isinstance(a, AttributeSymbol)]
        name = expr.func.__name__
        if name == "getitem" and len(args) == 1 and attributes:
            index = attributes[0].name.partition("=")[2].strip("[]")
            text = rf"{self.parenthesize(args[0], PRECEDENCE['Func'])}\left[{_latex_text(index)}\right]"
        else:
            subscript = ", ".join(r"\text{" + _latex_text(a.name) + "}" for a in attributes)
            head = r"\operatorname{" + _latex_text(name) + "}" + (f"_{{{subscript}}}" if subscript else "")
            text = head + r"\left(" + ", ".join(self._print(a) for a in args) + r"\right)"
        return text if exp is None else f"{{{text}}}^{{{exp}}}"


# ---- Symbol's printing (attached here: graph.py imports nothing above it) ----


def _symbol_latex(self: Symbol) -> str:
    return f"$\\displaystyle {to_latex(self)}$"


Symbol.__str__ = to_str
Symbol._repr_latex_ = _symbol_latex
Symbol.to_sympy = to_sympy
