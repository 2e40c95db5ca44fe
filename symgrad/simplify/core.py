"""The simplifier's engine: the rule table, the fixed-point pass with CSE, helpers for rules."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import is_
from typing import Any

import numpy as np

from ..graph import CONST, GROUP, VAR, Group, NameManager, Symbol, const, is_const, scalar_key, scalar_value, topo_order
from ..ops import elementwise as ew
from ..ops.infer import mark_derived_assuming_open
from ..ops.registry import OPS, rebuild, swap_origin
from ..shapes import covered_by

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

    def __init__(self, assume_finite: bool, per_node: int = 20, base: int = 1000, outputs_cast: bool = False) -> None:
        self.assume_finite = assume_finite
        # the caller casts what it gets to the variables' dtypes (gradients do): an array of one value
        # whose dtype is unknown until bind may then become a number even where it meets only numbers
        self.outputs_cast = outputs_cast
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
        self.users: dict[Symbol, int] = {}  # normal form -> users its nodes had in the graphs run

    def shared(self, node: Symbol) -> bool:
        """node had several users in the graph run: a rule taking it apart keeps it for the others,
        so the graph would only grow (2*x*sin(2*x) stays, not 2*(x*sin(2*x)) beside sin's 2*x)."""
        return self.users.get(node, 0) > 1

    def coef_term(self, node: Symbol) -> tuple[Any, Symbol]:
        """node as coefficient * term, as _coef_term, but (1, node) when node is shared."""
        return (1, node) if self.users.get(node, 0) > 1 else _coef_term(node)

    def run(
        self, outputs: list[Symbol], variables: dict[str, Symbol] | None = None, order: list[Symbol] | None = None
    ) -> list[Symbol]:
        """The outputs simplified, with variables replaced by name on the way (as `substitute` does).

        `order` is topo_order(outputs) when the caller has it already."""
        memo: dict[Symbol, Symbol] = {}
        order = topo_order(outputs) if order is None else order
        self.budget += self.per_node * len(order)
        users = dict.fromkeys(outputs, 1)
        for node in order:
            for i in node.inputs:
                users[i] = users.get(i, 0) + 1
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
            memo[node] = normal = self.normalize(new)
            self.users[normal] = self.users.get(normal, 0) + users.get(node, 0)
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
        if opdef.stateful:  # its value depends on train mode or a random draw at run time
            return None
        values = [i.attrs["value"] for i in node.inputs]
        with np.errstate(all="ignore"):
            try:
                out = opdef.kernel(node.attrs)(*values)
            except Exception:  # noqa: BLE001 - an op that fails on constants stays for the executor to report
                return None
        out_arr = np.asarray(out)
        if out_arr.size > FOLD_LIMIT:
            return None
        # weak in, weak out (2.0 + 3.0), unless a dtype attribute says the output's (cast(2.0, 'float32'))
        weak = (
            all(i.dtype is None for i in node.inputs)
            and out_arr.ndim == 0
            and node.inputs
            and "dtype" not in node.attrs
        )
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
    order = topo_order(outputs)
    before = len(order)
    with NameManager():
        simplifier = Simplifier(assume_finite)
        new = simplifier.run(outputs)
    mark_derived_assuming_open(order, new)
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
        if c == 0 and not isinstance(c, float):
            return 1, node  # -(0*t): negating an integer 0 would lose the sign of the zeros it makes
        return -c, t
    return 1, node


def _product(*factors: Any, dtype: Any = None) -> Any:
    """The product of constant factors, or None where merging them would overflow to inf or
    underflow to 0 though each factor is finite and nonzero (c*(d*x) -> (c*d)*x is then wrong),
    or lose the sign of a zero (0*(-x) is -0.0 at x = 1, but 0*-1 is the integer 0)."""
    value = math.prod(factors)
    if value == 0 and sum(math.copysign(1.0, f) < 0 for f in factors) % 2 != (math.copysign(1.0, value) < 0):
        if dtype is None or dtype.kind != "f":
            return None  # a weak -0.0 would make an integer product float
        value = -0.0
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


def _factors_out(s: Simplifier, dtypes: tuple, *factors: Any) -> bool:
    """sum(c*t) may become c*sum(t) (and dot(c*a, b) c*dot(a, b)) for arrays of these dtypes: for
    64-bit integers, whose wrapping products and sums distribute exactly; for floats only under
    assume_finite, as no factor but 1 keeps the result there: sum(-x) is 0.0 at x = [1, -1] and
    -sum(x) -0.0, sum(2*x) is inf - inf = NaN at x = [1e308, -1e308] and 2*sum(x) 0.0, sum(0.5*x) is
    1e308 at x = [1e308, 1e308] and 0.5*sum(x) inf (and inf*(1 - 2) is -inf where inf*1 + inf*-2 is NaN)."""
    try:
        if not all(math.isfinite(c) and c != 0 for c in factors):
            return False
    except OverflowError:  # an int too large for a float
        return False
    if all(d is not None and d.kind in "iu" for d in dtypes):  # int32 products wrap, their sum is int64
        return all(d == np.int64 for d in dtypes) and all(isinstance(c, int) for c in factors)
    return s.assume_finite and not any(d is not None and d.kind in "biu" for d in dtypes)


def _same_side(*factors: Any) -> bool:
    """Scaling by each factor in turn leaves the floats where scaling once by their product does: c*(d*x)
    is (c*d)*x up to rounding when |c| and |d| are both at least 1 (d*x overflows only where the product
    does), both at most 1 (underflows likewise), or one is +-1 (exact); 0.5*(2*x) is inf at x = 1e308
    where x is not."""
    sizes = [abs(c) for c in factors]
    return any(v == 1 for v in sizes) or all(v >= 1 for v in sizes) or all(v <= 1 for v in sizes)


def _scaled(c: Any, t: Symbol) -> Symbol:
    if c == 1:
        return t
    if c == -1:
        return ew.negative(t)
    return c * t
