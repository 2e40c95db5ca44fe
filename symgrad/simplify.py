"""Graph simplification: small local rewrite rules to a fixed point, with CSE.

Each rule is a small function keyed by op that returns a replacement Symbol or None.
A rule fires only when it keeps values (up to rounding), shape, dtype, and where NaN
and Inf appear; rules that hold only for finite values (`x*0 -> 0`, `x - x -> 0`,
`x/x -> 1`) are marked `finite=True` and run only under `assume_finite=True`.
Stability rewrites (`log(1 + x) -> log1p(x)`, ...) run by default: they agree with
the naive form wherever it is finite and accurate.

The pass visits each node once bottom-up; rewritten nodes are normalised again, and
every result is interned by (op, attrs, inputs) so equal subexpressions become one
node (CSE). A work budget keeps the cost linear in graph size.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import is_
from typing import Any

import numpy as np

from .autodiff import broadcast_leaves, covered_by, covers
from .graph import CONST, GROUP, VAR, Group, NameManager, Symbol, const, is_const, scalar_key, scalar_value, topo_order
from .ops import elementwise as ew
from .ops import linalg as la
from .ops import nn
from .ops import reduction as red
from .ops import shape as shp
from .ops.registry import OPS, rebuild, swap_origin

FOLD_LIMIT = 64  # constant-fold results up to this many elements; larger ones stay lazy


@dataclass
class Rule:
    name: str
    fn: Callable[[Symbol, Simplifier], Symbol | None]
    finite: bool = False
    needs: frozenset[str] | None = None  # the rule can fire only if some input's op is one of these


RULES: dict[str, list[Rule]] = {}


def rewrites(*ops: str, finite: bool = False, needs: tuple[str, ...] | None = None) -> Callable:
    """Register a rule for nodes of the given ops (tried only when an input's op is in `needs`)."""

    def decorate(fn: Callable) -> Callable:
        for op in ops:
            RULES.setdefault(op, []).append(Rule(fn.__name__, fn, finite, None if needs is None else frozenset(needs)))
        return fn

    return decorate


@dataclass
class Report:
    """Which rules fired and how often (`sym.simplify(s, explain=True)`)."""

    counts: Counter = field(default_factory=Counter)
    nodes_before: int = 0
    nodes_after: int = 0

    def __str__(self) -> str:
        lines = [f"nodes: {self.nodes_before} -> {self.nodes_after}"]
        lines += [f"  {name}: {count}" for name, count in self.counts.most_common()]
        return "\n".join(lines)


def _const_key(node: Symbol) -> tuple:
    v = node.attrs["value"]
    if isinstance(v, np.ndarray):
        if v.size > 1024:
            return ("big", id(node))
        return ("array", v.dtype.str, v.shape, v.tobytes())
    return ("weak", *scalar_key(v))


_COMMUTATIVE = {"add", "multiply"}


class Simplifier:
    """One simplification run: memo of visited nodes, the CSE table, the budget.

    The budget of rule firings grows by `per_node` for each node a run visits, so the
    work stays linear in graph size whatever the rules do.
    """

    def __init__(self, assume_finite: bool, per_node: int = 20, base: int = 1000) -> None:
        self.assume_finite = assume_finite
        self.per_node = per_node
        self.budget = base
        self.rules = {op: [r for r in rules if assume_finite or not r.finite] for op, rules in RULES.items()}
        self.table: dict[tuple, Symbol] = {}
        self.canonical: set[Symbol] = set()
        self.term_summaries: dict[Symbol, tuple | None] = {}  # see _term_summary
        self.forward: dict[Symbol, Symbol] = {}  # canonical node a rule rewrote -> its normal form
        self.pending: set[Symbol] = set()  # nodes whose rewrite _settle is still normalising
        self.fired: tuple[Symbol, Symbol] = ()  # type: ignore[assignment]  # (node, what a rule made of it)
        self.report = Report()

    def run(
        self, outputs: list[Symbol], variables: dict[str, Symbol] | None = None, order: list[Symbol] | None = None
    ) -> list[Symbol]:
        """The outputs simplified, with variables replaced by name on the way (as `substitute` does).

        `order` is topo_order(outputs) when the caller has it already."""
        memo: dict[Symbol, Symbol] = {}
        order = topo_order(outputs) if order is None else order
        self.budget += self.per_node * len(order)
        for node in order:
            if node in self.canonical:  # already normalised by an earlier run of this simplifier
                memo[node] = self.forward.get(node, node)
                continue
            if variables is not None and node.op == VAR:
                memo[node] = variables.get(node.name, node)
                continue
            new = node
            if node.inputs:
                inputs = tuple([memo[i] for i in node.inputs])
                if not all(map(is_, inputs, node.inputs)):
                    new = rebuild(node, inputs)
            memo[node] = self.normalize(new)
        return [memo[o] for o in outputs]

    def intern(self, node: Symbol) -> Symbol:
        """The one node of node's (op, attrs, inputs) this run has seen (CSE), node itself if new."""
        op = node.op
        if op == VAR:
            return node
        if op == CONST:
            key: tuple = ("const", _const_key(node))
        else:
            inputs = node.inputs
            ids = tuple(map(id, inputs))
            if op in _COMMUTATIVE and ids[0] > ids[1] and inputs[0].op != CONST and inputs[1].op != CONST:
                ids = (ids[1], ids[0])  # in order; constants have a fixed side, set by the rules
            key = (op, tuple(sorted(node.attrs.items())) if node.attrs else (), ids)
        found = self.table.get(key)
        if found is not None:
            return found
        self.table[key] = node
        self.canonical.add(node)
        return node

    def normalize(self, node: Symbol) -> Symbol:
        """node (whose inputs are normalised) rewritten by rules until none fires."""
        done = self._step(node)
        return done if done is not None else self._settle(node)

    def normalize_built(self, root: Symbol) -> Symbol:
        """root (built by the caller over nodes of this simplifier's runs) normalised.

        Reverse mode builds gradients through this, so each node is simplified once, as
        it is made; the budget grows as for a run.
        """
        self.budget += self.per_node
        return self.normalize_new(root)

    def normalize_new(self, root: Symbol) -> Symbol:
        """Normalise the nodes a rule created (everything not already canonical)."""
        if root in self.canonical or root.op == VAR:
            return root
        return self._settle(root)

    def _step(self, node: Symbol) -> Symbol | None:
        """node's normal form when no rule fires on it (or it folds); None when one does.

        The rule's result waits in self.fired for _settle. node's inputs are normalised."""
        node = self.intern(node)
        forward = self.forward.get(node)
        if forward is not None:  # rewritten before: the same result
            return forward
        for i in node.inputs:
            if i.op != CONST:
                break
        else:  # every input constant (or none): maybe a small constant
            folded = self._fold(node)
            if folded is not None:
                self.report.counts["constant_fold"] += 1
                return self.intern(folded)
        rules = self.rules.get(node.op)
        if not rules or self.budget <= 0 or node in self.pending:
            return node  # in pending: a rule led back to a node being rewritten (a cycle), so it stays
        ins = node.inputs  # a set display, not a comprehension (a call) for the usual one or two inputs
        input_ops = {ins[0].op, ins[-1].op} if 0 < len(ins) <= 2 else {i.op for i in ins}
        outer = swap_origin(node.origin)  # new nodes keep the rewritten node's origin
        try:
            for rule in rules:
                if rule.needs is not None and input_ops.isdisjoint(rule.needs):
                    continue
                new = rule.fn(node, self)
                if new is not None and new is not node:
                    break
            else:
                return node
        finally:
            swap_origin(outer)
        self.budget -= 1
        self.report.counts[rule.name] += 1
        self.fired = (node, new)
        return None

    def _settle(self, root: Symbol) -> Symbol:
        """root's normal form, with an explicit stack instead of recursion.

        A node's new inputs are settled first; a node a rule rewrote takes its result's
        normal form. Termination: each firing spends one unit of the finite budget (with
        none left no rule fires), and a node being rewritten is never rewritten again
        inside its own rewrite (`pending`), so a rule that rebuilds its input ends.
        """
        canonical, done, redirect = self.canonical, {}, {}
        stack = [root]
        while stack:
            n = stack[-1]
            if n in done:
                stack.pop()
                continue
            target = redirect.get(n)
            if target is not None:  # n was rewritten to target, which is settled now
                rewritten, new = target
                done[n] = self.forward[rewritten] = done[new]
                self.pending.discard(rewritten)
                stack.pop()
                continue
            waiting = False
            for i in n.inputs:
                if i not in done and i not in canonical and i.op != VAR:
                    stack.append(i)
                    waiting = True
            if waiting:
                continue
            inputs = tuple([done.get(i, i) for i in n.inputs])
            node = n if all(map(is_, inputs, n.inputs)) else rebuild(n, inputs)
            if node.op == CONST:
                done[n] = self.intern(node)
                continue
            result = self._step(node)
            if result is not None:
                done[n] = result
                continue
            rewritten, new = self.fired
            if new in canonical or new.op == VAR:
                done[n] = self.forward[rewritten] = new
                continue
            self.pending.add(rewritten)
            redirect[n] = (rewritten, new)
            stack.append(new)
        return done[root]

    def _fold(self, node: Symbol) -> Symbol | None:
        """Evaluate an op whose inputs are all small constants (normalize checks the inputs)."""
        if node.op in (VAR, CONST, GROUP):
            return None
        if node.op in ("zeros", "ones") and math.prod(node.attrs["shape"]) > FOLD_LIMIT:
            return None
        opdef = OPS[node.op]
        values = [i.attrs["value"] for i in node.inputs]
        with np.errstate(all="ignore"):
            try:
                out = opdef.kernel(node.attrs)(*values)
            except Exception:  # noqa: BLE001 - an op that fails on constants stays for the executor to report
                return None
        out_arr = np.asarray(out)
        if out_arr.size > FOLD_LIMIT:
            return None
        weak = all(i.dtype is None for i in node.inputs) and out_arr.ndim == 0 and node.inputs
        if weak:
            return const(out_arr.item())
        if node.dtype is not None and out_arr.dtype != node.dtype:
            out_arr = out_arr.astype(node.dtype)
        return const(out_arr)


def simplify_all(
    outputs: list[Symbol], assume_finite: bool = False, variables: dict[str, Symbol] | None = None
) -> list[Symbol]:
    """Simplify several outputs together (shared CSE table), replacing variables by name."""
    with NameManager():
        return Simplifier(assume_finite).run(outputs, variables)


def simplify(s: Symbol, assume_finite: bool = False, explain: bool = False) -> Any:
    """The simplified graph (and a Report of the rules that fired, with explain=True)."""
    outputs = s.outputs()
    before = len(topo_order(outputs))
    with NameManager():
        simplifier = Simplifier(assume_finite)
        new = simplifier.run(outputs)
    result = Group(new) if s.op == GROUP else new[0]
    if explain:
        simplifier.report.nodes_before = before
        simplifier.report.nodes_after = len(topo_order(new))
        return result, simplifier.report
    return result


# ---- helpers for rules ---------------------------------------------------------


def _num(node: Symbol) -> float | None:
    """The number of a 0-d constant, else None."""
    return scalar_value(node)


def _keeps_dtype(c: Symbol, x: Symbol) -> bool:
    """Combining x with constant c leaves x's dtype alone."""
    if c.dtype is None:  # weak Python scalar
        v = c.attrs["value"]
        return isinstance(v, int) or x.dtype is None or x.dtype.kind in "fc"
    return x.dtype is not None and np.result_type(c.dtype, x.dtype) == x.dtype


def _is_scalar_const(node: Symbol) -> bool:
    return node.op == CONST and node.shape == ()


def _identity_const(c: Symbol, x: Symbol, value: float) -> bool:
    """c is `value` everywhere and combining it with x changes neither shape nor dtype."""
    return is_const(c, value) and covered_by(c, x) and _keeps_dtype(c, x)


def _coef_term(node: Symbol) -> tuple[Any, Symbol]:
    """node as coefficient * term: c*t -> (c, t), -t -> (-1, t), t -> (1, t)."""
    if node.op == "multiply" and _is_scalar_const(node.inputs[0]) and node.inputs[0].dtype is None:
        return node.inputs[0].attrs["value"], node.inputs[1]
    if node.op == "negative":
        c, t = _coef_term(node.inputs[0])
        return -c, t
    return 1, node


def _product(*factors: Any, dtype: Any = None) -> Any:
    """The product of constant factors, or None where merging them would overflow to inf or
    underflow to 0 though each factor is finite and nonzero (c*(d*x) -> (c*d)*x is then wrong)."""
    value = math.prod(factors)
    return value if _stays_a_number(value, factors, product=True, dtype=dtype) else None


def _quotient(c: Any, d: Any, dtype: Any = None) -> Any:
    """c/d for a nonzero d, or None where it overflows or underflows (as _product)."""
    value = c / d
    return value if _stays_a_number(value, (c, d), product=True, dtype=dtype) else None


def _stays_a_number(value: Any, parts: Any, product: bool = False, dtype: Any = None) -> bool:
    """Merging the constants `parts` into `value` neither overflows nor underflows, in float64
    and in `dtype` when narrower (a weak constant is cast to a float32 array's dtype)."""
    try:
        if all(map(math.isfinite, parts)) and not math.isfinite(value):
            return False
        if product and value == 0 and all(p != 0 for p in parts):
            return False
    except OverflowError:  # an int too large for a float
        return False
    if dtype is None or dtype.kind != "f" or dtype.itemsize >= 8:
        return True
    with np.errstate(over="ignore", under="ignore"):
        narrow, merged = [dtype.type(p) for p in parts], dtype.type(value)
    return _stays_a_number(float(merged), [float(p) for p in narrow], product)


def _scaled(c: Any, t: Symbol) -> Symbol:
    if c == 1:
        return t
    if c == -1:
        return ew.negative(t)
    return c * t


# ---- arithmetic identities -----------------------------------------------------


def _zero_keeps_sign(c: Symbol, x: Symbol, negative: bool) -> bool:
    """Adding (negative) or subtracting (not negative) the zero constant c leaves x's zeros alone:
    -0.0 + 0.0 is +0.0, so x + 0 -> x holds for a -0.0 constant or for x without signed zeros."""
    if x.dtype is not None and x.dtype.kind in "biu":
        return True
    return bool(np.all(np.signbit(c.attrs["value"]) == negative))


@rewrites("add", needs=(CONST,))
def add_zero(node: Symbol, s: Simplifier) -> Symbol | None:
    """x + (-0.0) -> x, (-0.0) + x -> x (with +0.0 only for integer x: -0.0 + 0.0 is +0.0)"""
    a, b = node.inputs
    if _identity_const(b, a, 0) and _zero_keeps_sign(b, a, negative=True):
        return a
    if _identity_const(a, b, 0) and _zero_keeps_sign(a, b, negative=True):
        return b
    return None


@rewrites("add", needs=("negative",))
def add_negative(node: Symbol, s: Simplifier) -> Symbol | None:
    """x + (-y) -> x - y, (-x) + y -> y - x"""
    a, b = node.inputs
    if b.op == "negative":
        return a - b.inputs[0]
    if a.op == "negative":
        return b - a.inputs[0]
    return None


@rewrites("add", needs=(CONST,))
def constant_last(node: Symbol, s: Simplifier) -> Symbol | None:
    """2 + x -> x + 2 (printing order)"""
    a, b = node.inputs
    if a.op == CONST and b.op != CONST:
        return ew.add(b, a)
    return None


def _has_terms(n: Symbol) -> bool:
    """n is a sum, difference, negation or scaled term (collect_terms looks inside)."""
    return n.op in ("add", "subtract", "negative") or (n.op == "multiply" and _is_scalar_const(n.inputs[0]))


def _signed_terms(root: Symbol, canonical: set[Symbol]) -> list[tuple[Any, Symbol]]:
    """root as a list of (coefficient, term), looking through up to 16 levels of canonical sums.

    A loop, not a recursive closure: a closure that calls itself is a reference cycle,
    which would keep every rewritten graph alive until the cyclic collector runs.
    """
    terms: list[tuple[Any, Symbol]] = []
    stack = [(root, 1, 0)]
    while stack:
        n, sign, depth = stack.pop()
        if depth < 16 and n.op in ("add", "subtract") and (n is root or n in canonical):
            stack.append((n.inputs[1], sign if n.op == "add" else -sign, depth + 1))
            stack.append((n.inputs[0], sign, depth + 1))  # popped first: terms stay in order
        else:
            c, t = _coef_term(n)
            terms.append((sign * c, t))
    return terms


_NO_TERMS: frozenset = frozenset()
_SUMMARY_HEIGHT = 15  # _signed_terms looks through 16 levels: a summary holds while its sums nest this deep


def _term_summary(n: Symbol, s: Simplifier) -> tuple | None:
    """What _signed_terms(n) would find, in brief: (its non-constant term nodes as a set, their
    count, the count of weak scalar constants, how deep its sums nest); None past 16 levels.

    Each canonical sum's summary is kept and combined into its users' (two set unions), so
    collect_terms learns that a sum has nothing to collect without walking all its terms:
    it fires on fewer than one sum in a hundred.
    """
    summary = s.term_summaries.get(n, False)
    if summary is not False:
        return summary
    parts = []
    cacheable = True
    for child in n.inputs:
        if child.op in ("add", "subtract"):
            if child not in s.canonical:  # looked at as a term now, maybe through later (not kept)
                cacheable = False
            else:
                part = _term_summary(child, s)
                if part is None:
                    s.term_summaries[n] = None
                    return None
                if child not in s.term_summaries:  # not kept, as it looked at a term it may later look through
                    cacheable = False
                parts.append(part)
                continue
        c, t = _coef_term(child)
        parts.append((_NO_TERMS, 0, 1, -1) if _is_scalar_const(t) and t.dtype is None else (frozenset((t,)), 1, 0, -1))
    (ta, na, ca, ha), (tb, nb, cb, hb) = parts
    height = 1 + max(ha, hb)
    summary = None if height > _SUMMARY_HEIGHT else (ta | tb, na + nb, ca + cb, height)
    if cacheable:
        s.term_summaries[n] = summary
    return summary


@rewrites("add", "subtract")
def collect_terms(node: Symbol, s: Simplifier) -> Symbol | None:
    """x + x -> 2*x, 2*x + y + 2*x -> 4*x + y, c1 + x + c2 -> x + (c1 + c2)"""
    a, b = node.inputs
    if a is not b and not (_has_terms(a) or _has_terms(b)):
        return None  # two different terms with coefficient 1: nothing to collect
    summary = _term_summary(node, s)
    if summary is not None and len(summary[0]) == summary[1] and summary[2] < 2:
        return None  # every term once and at most one constant (as below, without listing the terms)
    terms = _signed_terms(node, s.canonical)
    term_nodes = [t for _, t in terms if not (_is_scalar_const(t) and t.dtype is None)]
    if len(set(term_nodes)) == len(term_nodes) and len(terms) - len(term_nodes) < 2:
        return None  # every term once and at most one constant: nothing to collect
    coefs: dict[Symbol, Any] = {}
    signs: dict[Symbol, set] = {}
    order: list[Symbol] = []
    constant = 0
    n_consts = 0
    for c, t in terms:
        if _is_scalar_const(t) and t.dtype is None:
            constant = constant + c * t.attrs["value"]
            n_consts += 1
            continue
        if t not in coefs:
            coefs[t] = 0
            signs[t] = set()
            order.append(t)
        coefs[t] = coefs[t] + c
        signs[t].add(None if c == 0 else c > 0)  # 0*x is NaN at inf and signs zeros: a sign of its own
    merged = len(order) + (1 if n_consts else 0) < len(terms)
    if not merged:
        return None
    numbers = [c for c, _ in terms] + [t.attrs["value"] for _, t in terms if _is_scalar_const(t) and t.dtype is None]
    if not all(_stays_a_number(v, numbers, dtype=node.dtype) for v in (constant, *coefs.values())):
        return None  # 1e308*x + 1e308*x is finite at x = 0.5, inf*x is not
    if not s.assume_finite and any(len(signs[t]) > 1 for t in order):
        return None  # x + x - x is NaN at x = inf, x is not: mixed signs merge only for finite x
    if not s.assume_finite and any(coefs[t] == 0 for t in order):
        return None  # x - x is NaN at inf: only under assume_finite
    kept = [t for t in order if coefs[t] != 0]
    if not kept:
        return None
    if not all(covers(kept[0], t) and covered_by(t, kept[0]) for t in kept[1:]) and len(kept) != len(order):
        return None  # dropping a term could change the broadcast shape
    acc = _scaled(coefs[kept[0]], kept[0])
    for t in kept[1:]:
        c = coefs[t]
        acc = acc - _scaled(-c, t) if (isinstance(c, (int, float)) and c < 0) else acc + _scaled(c, t)
    if constant != 0 or (n_consts and (not kept or math.copysign(1.0, constant) > 0)):
        # a zero constant stays unless it is -0.0: x + 0.0 is 0.0 at x = -0.0, as the sum was
        acc = acc - (-constant) if constant < 0 else acc + constant
    return acc


@rewrites("subtract", needs=(CONST, "negative"))
def subtract_identities(node: Symbol, s: Simplifier) -> Symbol | None:
    """x - 0.0 -> x, -0.0 - x -> -x, x - (-y) -> x + y (signed zeros as in add_zero)"""
    a, b = node.inputs
    if _identity_const(b, a, 0) and _zero_keeps_sign(b, a, negative=False):
        return a
    if _identity_const(a, b, 0) and _zero_keeps_sign(a, b, negative=True):
        return ew.negative(b)
    if b.op == "negative":
        return a + b.inputs[0]
    return None


@rewrites("subtract", finite=True)
def subtract_self(node: Symbol, s: Simplifier) -> Symbol | None:
    """x - x -> 0 (assume_finite: inf - inf is NaN)"""
    a, b = node.inputs
    return ew.zeros_like(a) if a is b else None


@rewrites("multiply", needs=(CONST,))
def multiply_identities(node: Symbol, s: Simplifier) -> Symbol | None:
    """1*x -> x, -1*x -> -x, x*c -> c*x"""
    a, b = node.inputs
    if _identity_const(a, b, 1):
        return b
    if _identity_const(b, a, 1):
        return a
    if _is_scalar_const(a) and _num(a) == -1 and _keeps_dtype(a, b):
        return ew.negative(b)
    if b.op == CONST and a.op != CONST:
        return ew.multiply(b, a)
    return None


@rewrites("multiply", finite=True, needs=(CONST,))
def multiply_zero(node: Symbol, s: Simplifier) -> Symbol | None:
    """0*x -> 0 (assume_finite: 0*inf is NaN)"""
    a, b = node.inputs
    if is_const(a, 0) and covered_by(a, b):
        return ew.zeros_like(b)
    return None


@rewrites("multiply", "add", "subtract", "divide", needs=(CONST,))
def weaken_scalar(node: Symbol, s: Simplifier) -> Symbol | None:
    """float32(2) * x -> 2 * x when x has that dtype already (so coefficients collect)"""
    a, b = node.inputs
    for i, (c, other) in enumerate(((a, b), (b, a))):
        if _is_scalar_const(c) and c.dtype is not None and c.dtype.kind == "f" and other.dtype == c.dtype:
            weak = const(float(c.attrs["value"]))
            return rebuild(node, (weak, b) if i == 0 else (a, weak))
    return None


@rewrites("multiply", needs=(CONST, "multiply", "negative"))
def collect_factors(node: Symbol, s: Simplifier) -> Symbol | None:
    """c*(d*x) -> (c*d)*x, (c*x)*y -> c*(x*y), c*(-x) -> (-c)*x, (-x)*(-y) -> x*y"""
    a, b = node.inputs
    ca, ta = _coef_term(a)
    cb, tb = _coef_term(b)
    if ca == 1 and cb == 1:
        return None
    if _is_scalar_const(a) and a.dtype is None:
        if cb == 1:
            return None
        c = _product(a.attrs["value"], cb, dtype=node.dtype)
        return None if c is None else _scaled(c, tb)
    if ta is a and tb is b:
        return None
    c = _product(ca, cb, dtype=node.dtype)
    return None if c is None else _scaled(c, ta * tb)


@rewrites("multiply")
def multiply_self(node: Symbol, s: Simplifier) -> Symbol | None:
    """x*x -> x**2, x*x**n -> x**(n+1), x**m*x**n -> x**(m+n) for positive integer powers"""
    a, b = node.inputs
    base_a, pa = _power_of(a)
    base_b, pb = _power_of(b)
    if base_a is base_b and pa is not None and pb is not None and pa > 0 and pb > 0:
        return base_a ** (pa + pb)
    return None


def _power_of(n: Symbol) -> tuple[Symbol, Any]:
    if n.op == "power" and _is_scalar_const(n.inputs[1]) and n.inputs[1].dtype is None:
        p = n.inputs[1].attrs["value"]
        return n.inputs[0], p if float(p).is_integer() else None
    if n.op == "square":
        return n.inputs[0], 2
    return n, 1


@rewrites("multiply", needs=("broadcast_like", "broadcast_to"))
def multiply_broadcast(node: Symbol, s: Simplifier) -> Symbol | None:
    """broadcast_like(c, y) * x -> c * x when y's shape fits in x's"""
    a, b = node.inputs
    for u, v in ((a, b), (b, a)):
        if u.op == "broadcast_like" and covered_by(u.inputs[1], v):
            return u.inputs[0] * v
        if u.op == "broadcast_to" and v.shape is not None and covered_by(u, v):
            return u.inputs[0] * v
    return None


@rewrites("multiply", needs=("divide",))
def multiply_divide(node: Symbol, s: Simplifier) -> Symbol | None:
    """c * (x / d) -> (c/d) * x, c * (d / y) -> (c*d) / y"""
    a, b = node.inputs
    if _is_scalar_const(a) and a.dtype is None and b.op == "divide":
        n, d = b.inputs
        if _is_scalar_const(d) and d.dtype is None and _num(d) != 0:
            c = _quotient(a.attrs["value"], d.attrs["value"], dtype=node.dtype)
            return None if c is None else c * n
        if _is_scalar_const(n) and n.dtype is None:
            c = _product(a.attrs["value"], n.attrs["value"], dtype=node.dtype)
            return None if c is None else c / d
    for u, v in ((a, b), (b, a)):  # (1/r) * y -> y / r
        if u.op == "divide" and _is_scalar_const(u.inputs[0]) and _num(u.inputs[0]) == 1 and u.inputs[0].dtype is None:
            if v.op != CONST:
                return v / u.inputs[1]
    return None


@rewrites("divide", needs=(CONST, "multiply", "negative"))
def divide_identities(node: Symbol, s: Simplifier) -> Symbol | None:
    """x/1 -> x, x/c -> (1/c)*x, (c*x)/y -> c*(x/y), x/(c*y) -> (1/c)*(x/y)"""
    a, b = node.inputs
    if _identity_const(b, a, 1):
        return a
    if _is_scalar_const(b) and b.dtype is None and _num(b) not in (0,) and a.op != CONST:
        c = _quotient(1, b.attrs["value"], dtype=node.dtype)  # x/1e-310 is not inf*x
        if c is not None and math.frexp(b.attrs["value"])[0] in (0.5, -0.5):
            return c * a  # 1/c is exact for c = 2**k: x/4 is 0.25*x to the last bit, x/10 is not 0.1*x
    ca, ta = _coef_term(a)
    if ca != 1 and ta is not a:
        return _scaled(ca, ta / b)
    cb, tb = _coef_term(b)
    if cb != 1 and tb is not b and cb != 0:
        c = _quotient(1, cb, dtype=node.dtype)  # x/(1e-310*y) is not inf*(x/y)
        return None if c is None else _scaled(c, a / tb)
    return None


@rewrites("divide", finite=True)
def divide_self(node: Symbol, s: Simplifier) -> Symbol | None:
    """x/x -> 1 (assume_finite and nonzero: 0/0 and inf/inf are NaN)"""
    a, b = node.inputs
    return ew.ones_like(a) if a is b else None


@rewrites("negative", needs=("negative", "multiply"))
def negative_identities(node: Symbol, s: Simplifier) -> Symbol | None:
    """--x -> x, -(c*x) -> (-c)*x (not -(x - y) -> y - x: at x == y that is 0.0, not -0.0)"""
    (x,) = node.inputs
    if x.op == "negative":
        return x.inputs[0]
    c, t = _coef_term(x)
    if c != 1:
        return _scaled(-c, t)
    return None


@rewrites("power")
def power_identities(node: Symbol, s: Simplifier) -> Symbol | None:
    """x**1 -> x, x**0 -> ones_like(x), (x**a)**b -> x**(a*b) for integers, norm(x)**2 -> sum(x*x)"""
    x, p = node.inputs
    n = _num(p) if p.dtype is None else None
    if n is None:
        return None
    if x.dtype != node.dtype:
        return None  # an integer x**1.0 is float64, as NumPy makes it, and stays so
    if n == 1:
        return x
    if n == 0:
        return ew.ones_like(x)
    if x.op == "power":
        inner = _num(x.inputs[1]) if x.inputs[1].dtype is None else None
        if inner is not None and float(inner).is_integer() and float(n).is_integer():
            return x.inputs[0] ** (inner * n)
    if n == 2 and x.op == "norm" and x.inputs[0].dtype == node.dtype:  # not for integers: sum(y*y) would wrap
        y = x.inputs[0]
        return red.sum(y * y, axis=x.attrs["axis"], keepdims=x.attrs["keepdims"])
    if n == 2 and x.op == "sqrt":
        return None
    return None


# ---- shape helpers autodiff emits ----------------------------------------------


@rewrites("sum_like")
def sum_like_noop(node: Symbol, s: Simplifier) -> Symbol | None:
    """sum_like(g, x) -> g when g already fits x"""
    g, like = node.inputs
    if covered_by(g, like):
        return g
    if g.shape is not None and like.shape is not None:
        axes = _sum_axes(g.shape, like.shape)
        out = red.sum(g, axis=axes, keepdims=True) if axes else g
        lead = len(g.shape) - len(like.shape)
        if lead > 0:
            out = shp.reshape(out, shape=out.shape[lead:])
        return out
    return None


def _sum_axes(g: tuple, like: tuple) -> tuple:
    lead = len(g) - len(like)
    return tuple(i for i in range(len(g)) if i < lead or (g[i] != 1 and like[i - lead] == 1))


@rewrites("broadcast_like")
def broadcast_like_noop(node: Symbol, s: Simplifier) -> Symbol | None:
    """broadcast_like(g, x) -> g when g already has x's shape; else broadcast_to(g, x.shape)"""
    g, like = node.inputs
    if covers(g, like):
        return g
    if node.shape is None or node.dtype is None:
        return None
    if g.dtype is None and g.op == CONST:  # a weak scalar takes the dtype it broadcasts into
        g = const(np.array(g.attrs["value"], dtype=node.dtype))
    if g.dtype == node.dtype:
        return shp.broadcast_to(g, shape=node.shape)
    return None


@rewrites("reshape_like")
def reshape_like_noop(node: Symbol, s: Simplifier) -> Symbol | None:
    """reshape_like(g, x) -> g for equal shapes, else reshape(g, x.shape)"""
    g, like = node.inputs
    if g.shape is not None and g.shape == like.shape:
        return g
    if like.shape is not None:
        return shp.reshape(g, shape=like.shape)
    return None


@rewrites("reshape")
def reshape_noop(node: Symbol, s: Simplifier) -> Symbol | None:
    """reshape(x, x.shape) -> x, reshape(reshape(x)) -> reshape(x)"""
    (x,) = node.inputs
    if x.shape is not None and x.shape == node.shape:
        return x
    if x.op == "reshape" and node.shape is not None:
        return shp.reshape(x.inputs[0], shape=node.shape)
    return None


@rewrites("cast")
def cast_noop(node: Symbol, s: Simplifier) -> Symbol | None:
    """cast(x, x.dtype) -> x"""
    (x,) = node.inputs
    return x if x.dtype is not None and x.dtype == node.dtype else None


@rewrites("broadcast_to")
def broadcast_to_noop(node: Symbol, s: Simplifier) -> Symbol | None:
    """broadcast_to(x, x.shape) -> x"""
    (x,) = node.inputs
    return x if x.shape is not None and x.shape == node.shape else None


@rewrites("transpose")
def transpose_transpose(node: Symbol, s: Simplifier) -> Symbol | None:
    """x.T.T -> x; x.T -> x for 0-d and 1-d x"""
    (x,) = node.inputs
    if node.attrs["axes"] is None:
        if x.op == "transpose" and x.attrs["axes"] is None:
            return x.inputs[0]
        if x.ndim is not None and x.ndim <= 1:
            return x
    return None


@rewrites("sum")
def sum_rules(node: Symbol, s: Simplifier) -> Symbol | None:
    """sum(c*x) -> c*sum(x), sum(broadcast_to(c, s)) -> c*size, sum of a 0-d x -> x"""
    (x,) = node.inputs
    axis, keepdims = node.attrs["axis"], node.attrs["keepdims"]
    c, t = _coef_term(x)
    if c != 1 and t is not x:
        return _scaled(c, red.sum(t, axis=axis, keepdims=keepdims))
    if x.op == "broadcast_to" and _is_scalar_const(x.inputs[0]) and axis is None and not keepdims:
        size = math.prod(x.shape)
        value = x.inputs[0].attrs["value"]
        return const(value * size) if x.inputs[0].dtype is None else None
    if x.shape == () and axis is None and x.dtype is not None and x.dtype.kind == "f":
        return x
    return None


@rewrites("reduce_size")
def reduce_size_of_leaf(node: Symbol, s: Simplifier) -> Symbol | None:
    """reduce_size(x**2) -> reduce_size(x): an elementwise expression of one array has its shape"""
    (x,) = node.inputs
    leaves = broadcast_leaves(x)
    if leaves is not None and len(leaves) == 1 and x.op not in (VAR, CONST):
        (leaf,) = leaves
        return None if leaf is x else red.reduce_size(leaf, axis=node.attrs["axis"])
    return None


@rewrites("where")
def where_same(node: Symbol, s: Simplifier) -> Symbol | None:
    """where(c, a, a) -> a when c does not widen the shape"""
    c, a, b = node.inputs
    if a is b and covered_by(c, a):
        return a
    return None


@rewrites("dot", "matmul")
def scalar_out_of_product(node: Symbol, s: Simplifier) -> Symbol | None:
    """dot(c*a, b) -> c*dot(a, b); dot(a, broadcast_to(c, s)) -> c*dot(a, ones)"""
    a, b = node.inputs
    build = la.dot if node.op == "dot" else la.matmul
    ca, ta = _coef_term(a)
    cb, tb = _coef_term(b)
    if (ca != 1 and ta is not a) or (cb != 1 and tb is not b):
        c = _product(ca, cb, dtype=node.dtype)
        if c is not None:
            return _scaled(c, build(ta, tb))
    for u, v, left in ((a, b, True), (b, a, False)):
        if u.op == "broadcast_to" and _is_scalar_const(u.inputs[0]) and u.inputs[0].dtype is None:
            c = u.inputs[0].attrs["value"]
            if c != 1:
                ones = shp.broadcast_to(1.0, shape=u.shape)
                return c * (build(ones, v) if left else build(v, ones))
    return None


@rewrites("trace")
def trace_of_product(node: Symbol, s: Simplifier) -> Symbol | None:
    """trace(dot(a, b)) -> sum(a * b.T): the same diagonal products, none of the others"""
    (x,) = node.inputs
    if x.op in ("dot", "matmul") and all(i.ndim == 2 for i in x.inputs):
        a, b = x.inputs
        return red.sum(a * la.transpose(b))
    return None


# ---- stability rewrites --------------------------------------------------------


@rewrites("log")
def log_stability(node: Symbol, s: Simplifier) -> Symbol | None:
    """log(1 + x) -> log1p(x), log(sigmoid(x)) -> -softplus(-x), log(softmax) -> log_softmax,
    log(sum(exp(x))) -> logsumexp(x)"""
    (x,) = node.inputs
    if x.op == "add":
        a, b = x.inputs
        for one, rest in ((a, b), (b, a)):
            if _identity_const(one, rest, 1):
                return ew.log1p(rest)
    if x.op == "sigmoid":
        return ew.negative(ew.softplus(ew.negative(x.inputs[0])))
    if x.op == "softmax":
        return nn.log_softmax(x.inputs[0], axis=x.attrs["axis"])
    if x.op == "sum" and x.inputs[0].op == "exp":
        return red.logsumexp(x.inputs[0].inputs[0], axis=x.attrs["axis"], keepdims=x.attrs["keepdims"])
    return None


@rewrites("subtract", needs=("exp",))
def expm1_stability(node: Symbol, s: Simplifier) -> Symbol | None:
    """exp(x) - 1 -> expm1(x)"""
    a, b = node.inputs
    if a.op == "exp" and _identity_const(b, a, 1):
        return ew.expm1(a.inputs[0])
    return None


@rewrites("add", needs=("exp",))
def expm1_stability_add(node: Symbol, s: Simplifier) -> Symbol | None:
    """exp(x) + (-1) -> expm1(x)"""
    a, b = node.inputs
    if a.op == "exp" and _identity_const(b, a, -1):
        return ew.expm1(a.inputs[0])
    return None
