"""Arithmetic identities: zeros, ones, signs, collecting terms and factors, powers."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..graph import CONST, Symbol, const, is_const
from ..ops import elementwise as ew
from ..ops import reduction as red
from ..ops import shape as shp
from ..ops.registry import rebuild
from ..shapes import covered_by, covers
from .core import (
    Simplifier,
    _coef_term,
    _identity_const,
    _is_scalar_const,
    _keeps_dtype,
    _num,
    _product,
    _quotient,
    _same_side,
    _scaled,
    _stays_a_number,
    rewrites,
)

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


@rewrites("add", needs=("negative", "multiply"))
def add_negative(node: Symbol, s: Simplifier) -> Symbol | None:
    """x + (-y) -> x - y, (-x) + y -> y - x, x + (c*y) -> x - (-c)*y for c < 0 (negation is exact)"""
    a, b = node.inputs
    if b.op == "negative":
        return a - b.inputs[0]
    if a.op == "negative":
        return b - a.inputs[0]
    return _minus_scaled(ew.subtract, a, b)


def _minus_scaled(op: Callable, a: Symbol, b: Symbol) -> Symbol | None:
    """op(a, (-c)*t) for b = c*t with a weak c < 0 (a - c*t is a + (-c)*t to the bit), else None."""
    c, t = _coef_term(b)
    if b.op == "multiply" and t is not b and isinstance(c, (int, float)) and c < 0:
        return op(a, _scaled(-c, t))
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


def _ops_before(root: Symbol, s: Simplifier) -> int:
    """Op nodes the collected sum replaces: the sums and scaled terms _signed_terms looks through,
    each once, but those with other users in the graph run (they stay for them)."""
    seen: set[Symbol] = set()
    stack = [(root, 0)]
    while stack:
        n, depth = stack.pop()
        if n in seen:
            continue
        if depth < 16 and n.op in ("add", "subtract") and (n is root or n in s.canonical):
            seen.add(n)
            stack += [(n.inputs[0], depth + 1), (n.inputs[1], depth + 1)]
        elif _coef_term(n)[1] is not n:
            seen.add(n)
    return sum(n is root or not s.shared(n) for n in seen)


def _ops_after(kept: list[Symbol], coefs: dict[Symbol, Any], constant: bool) -> int:
    """Op nodes of the collected sum: one add or subtract per term after the first and for a
    constant, one multiply (or negation) per coefficient other than 1."""
    scaled = sum(coefs[t] not in (1, -1) for t in kept[1:])  # a -1 after the first is a subtraction
    return len(kept) - 1 + constant + (coefs[kept[0]] != 1) + scaled


@rewrites("add", "subtract")
def collect_terms(node: Symbol, s: Simplifier) -> Symbol | None:
    """x + x -> 2*x, 2*x + y + 2*x -> 4*x + y, c1 + x + c2 -> x + (c1 + c2)"""
    a, b = node.inputs
    if a is b and node.op == "add":
        return _scaled(2, a)  # (a + b) + (a + b) -> 2*(a + b), not 2*a + 2*b: no bigger than t + t
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
    if _ops_after(kept, coefs, constant != 0) > _ops_before(node, s):
        return None  # collecting would spell out shared sums: (x + t) + (y + t) stays, not x + y + 2*a + 2*b
    acc = _scaled(coefs[kept[0]], kept[0])
    for t in kept[1:]:
        c = coefs[t]
        acc = acc - _scaled(-c, t) if (isinstance(c, (int, float)) and c < 0) else acc + _scaled(c, t)
    if constant != 0 or (n_consts and (not kept or math.copysign(1.0, constant) > 0)):
        # a zero constant stays unless it is -0.0: x + 0.0 is 0.0 at x = -0.0, as the sum was
        acc = acc - (-constant) if constant < 0 else acc + constant
    for t in order:  # a - (a - b) is b broadcast with a, in a's dtype too
        if coefs[t] == 0 and not (covers(acc, t) and _promotes_to(t, acc)):
            acc = shp.broadcast_like(acc, t)
    return acc


def _promotes_to(x: Symbol, y: Symbol) -> bool:
    """Combining y with x leaves y's known dtype alone."""
    return x.dtype is not None and y.dtype is not None and np.result_type(x.dtype, y.dtype) == y.dtype


@rewrites("subtract", needs=(CONST, "negative", "multiply"))
def subtract_identities(node: Symbol, s: Simplifier) -> Symbol | None:
    """x - 0.0 -> x, -0.0 - x -> -x, x - (-y) -> x + y, x - c*y -> x + (-c)*y for c < 0 (signed
    zeros as in add_zero)"""
    a, b = node.inputs
    if _identity_const(b, a, 0) and _zero_keeps_sign(b, a, negative=False):
        return a
    if _identity_const(a, b, 0) and _zero_keeps_sign(a, b, negative=True):
        return ew.negative(b)
    if b.op == "negative":
        return a + b.inputs[0]
    return _minus_scaled(ew.add, a, b)


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
    if is_const(a, 0) and covered_by(a, b) and _keeps_dtype(a, b):
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
    """c*(d*x) -> (c*d)*x where |c| and |d| are on one side of 1 (see _same_side), c*(-x) -> (-c)*x (one node
    for one), and (-x)*(-y) -> x*y, -x*y -> -(x*y) unless -x has other users (taking it apart would keep it
    for them and add a node); (c*x)*y -> c*(x*y) only under assume_finite: 2*x overflows at x = 1e308 where
    2*(x*y) is 1e308 for y = 0.5"""
    a, b = node.inputs
    if _is_scalar_const(a) and a.dtype is None:
        cb, tb = _coef_term(b)
        if cb == 1 or not (s.assume_finite or _same_side(a.attrs["value"], cb)):
            return None
        c = _product(a.attrs["value"], cb, dtype=node.dtype)
        return None if c is None else _scaled(c, tb)
    ca, ta = s.coef_term(a)
    cb, tb = s.coef_term(b)
    if ca == 1 and cb == 1 or ta is a and tb is b:
        return None
    if not (s.assume_finite or abs(ca) == abs(cb) == 1):
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


@rewrites("multiply", finite=True, needs=("power",))
def multiply_power_of_self(node: Symbol, s: Simplifier) -> Symbol | None:
    """x * x**(x - 1) -> x**x, the power rule's d/dx x**x (assume_finite: at x = -inf the product is
    -inf*0 = NaN where x**x is 0, at x = 0 it is 0*inf = NaN where x**x is 1)"""
    a, b = node.inputs
    for x, p in ((a, b), (b, a)):
        if p.op == "power" and p.inputs[0] is x:
            e = p.inputs[1]
            if e.op == "subtract" and e.inputs[0] is x and is_const(e.inputs[1], 1) and e.inputs[1].dtype is None:
                new = ew.power(x, x)
                return new if new.dtype == node.dtype else None
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


def _constant_over(n: Symbol) -> bool:
    """n is d / y for a weak scalar d."""
    return n.op == "divide" and _is_scalar_const(n.inputs[0]) and n.inputs[0].dtype is None


@rewrites("multiply", needs=("divide", "multiply"))
def multiply_divide(node: Symbol, s: Simplifier) -> Symbol | None:
    """c * (x / d) -> (c/d) * x and c * (d / y) -> (c*d) / y for |c| and |d| (|1/d|) on one side of 1 (see
    _same_side), (1/r) * y -> y / r and (-1/r) * y -> -(y / r) for a count r (1/r overflows at r = 1e-310
    where y/r need not); under assume_finite all of these and c * ((d / y) * v) -> ((c*d) / y) * v"""
    a, b = node.inputs
    exact = s.assume_finite
    if exact and _is_scalar_const(a) and a.dtype is None and b.op == "multiply":
        for i, u in enumerate(b.inputs):
            if _constant_over(u):
                c = _product(a.attrs["value"], u.inputs[0].attrs["value"], dtype=node.dtype)
                if c is not None:
                    return (c / u.inputs[1]) * b.inputs[1 - i]
    if _is_scalar_const(a) and a.dtype is None and b.op == "divide":
        n, d = b.inputs
        if _is_scalar_const(d) and d.dtype is None and _num(d) != 0:
            if not (exact or _same_side(a.attrs["value"], 1 / d.attrs["value"])):
                return None
            c = _quotient(a.attrs["value"], d.attrs["value"], dtype=node.dtype)
            return None if c is None else c * n
        if _is_scalar_const(n) and n.dtype is None and (exact or _same_side(a.attrs["value"], n.attrs["value"])):
            c = _product(a.attrs["value"], n.attrs["value"], dtype=node.dtype)
            return None if c is None else c / d
    for u, v in ((a, b), (b, a)):  # (1/r) * y -> y / r, (-1/r) * y -> -(y / r)
        if not (exact or (u.op == "divide" and u.inputs[1].op == "reduce_size")):
            continue
        if u.op == "divide" and _constant_over(u) and _num(u.inputs[0]) in (1, -1) and v.op != CONST:
            return v / u.inputs[1] if _num(u.inputs[0]) == 1 else ew.negative(v / u.inputs[1])
    return None


@rewrites("divide", needs=(CONST, "multiply", "negative"))
def divide_identities(node: Symbol, s: Simplifier) -> Symbol | None:
    """x/1 -> x, x/c -> (1/c)*x for c = 2**k (exact), (-x)/y -> -(x/y), x/(-y) -> -(x/y); (c*x)/y -> c*(x/y)
    and x/(c*y) -> (1/c)*(x/y) for other c only under assume_finite: (4*x)/x is inf at x = 1e308, 4*(x/x) 4"""
    a, b = node.inputs
    if _identity_const(b, a, 1):
        return a
    if _is_scalar_const(b) and b.dtype is None and _num(b) not in (0,) and a.op != CONST:
        c = _quotient(1, b.attrs["value"], dtype=node.dtype)  # x/1e-310 is not inf*x
        if c is not None and math.frexp(b.attrs["value"])[0] in (0.5, -0.5):
            return c * a  # 1/c is exact for c = 2**k: x/4 is 0.25*x to the last bit, x/10 is not 0.1*x
    ca, ta = s.coef_term(a)
    if ca != 1 and ta is not a and (s.assume_finite or ca == -1):
        return _scaled(ca, ta / b)
    cb, tb = s.coef_term(b)
    if cb != 1 and tb is not b and cb != 0 and (s.assume_finite or cb == -1):
        c = _quotient(1, cb, dtype=node.dtype)  # x/(1e-310*y) is not inf*(x/y)
        return None if c is None else _scaled(c, a / tb)
    return None


@rewrites("divide", finite=True)
def divide_self(node: Symbol, s: Simplifier) -> Symbol | None:
    """x/x -> 1 (assume_finite and nonzero: 0/0 and inf/inf are NaN)"""
    a, b = node.inputs
    if a is not b or a.dtype is None:  # an unknown dtype may be integer, and int/int is float64
        return None
    if node.dtype is not None and a.dtype != node.dtype:
        return ew.cast(ew.ones_like(a), dtype=node.dtype)  # int32/int32 is float64
    return ew.ones_like(a)


@rewrites("negative", needs=("negative", "multiply"))
def negative_identities(node: Symbol, s: Simplifier) -> Symbol | None:
    """--x -> x, -(c*x) -> (-c)*x (not -(x - y) -> y - x: at x == y that is 0.0, not -0.0)"""
    (x,) = node.inputs
    if x.op == "negative":
        return x.inputs[0]
    c, t = _coef_term(x)
    if c != 1:
        c = _product(-1, c, dtype=node.dtype)
        return None if c is None else _scaled(c, t)
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
