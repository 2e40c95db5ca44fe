"""Shape algebra for graphs whose shapes may be unknown until bind.

`covered_by(e, x)` (e's shape broadcasts into x's without growing it) is what autodiff
asks before summing a gradient back and what the simplifier asks before dropping a
broadcast: with shapes declared it compares them; without, it compares the sets of
nodes each shape is the broadcast of (`broadcast_leaves`). Below both autodiff and
simplify, which import it.
"""

from __future__ import annotations

import weakref

from .graph import Symbol
from .ops.registry import OPS, broadcast_shapes

_MAX_LEAVES = 32


class _NodeRef(weakref.ref):
    """A weak reference to a node that knows its key in _LEAVES, to drop the entry when the node goes."""

    __slots__ = ("key",)


# id -> (node, leaves), an entry living as long as its node (Symbol == builds a node, so ids are the keys).
# Not a bounded cache: one derivation of a 4,000-step chain asks about more nodes than a bound of 100,000
# held, and clearing it made each later question walk the chain again (quadratic).
_LEAVES: dict[int, tuple[_NodeRef, frozenset | None]] = {}
_MISSING = object()


def _forget(ref: _NodeRef, entries: dict = _LEAVES) -> None:
    """Drop a dead node's entry (entries is bound here: at exit the module's globals are gone first)."""
    if entries.get(ref.key, (None,))[0] is ref:
        del entries[ref.key]


def broadcast_leaves(e: Symbol) -> frozenset | None:
    """The nodes e's shape is the broadcast of (through elementwise ops), or None when too many.

    For shapes unknown until bind: e's shape fits in x's when e's leaves are among x's.
    An explicit stack, not recursion: a chain deeper than Python's recursion limit made
    each call give up half way with nothing kept, so deriving a chain was quadratic.
    """
    found = _cached_leaves(e)
    if found is not _MISSING:
        return found
    done: dict[Symbol, frozenset | None] = {}  # this walk's results
    stack = [e]
    while stack:
        node = stack[-1]
        if node in done:
            stack.pop()
            continue
        missing = False
        for i in _leaf_inputs(node):
            if i not in done:
                found = _cached_leaves(i)
                if found is _MISSING:
                    stack.append(i)
                    missing = True
                else:
                    done[i] = found
        if missing:
            continue
        stack.pop()
        done[node] = _leaves_from_inputs(node, done)
        ref = _NodeRef(node, _forget)
        ref.key = id(node)
        _LEAVES[ref.key] = (ref, done[node])
    return done[e]


def _cached_leaves(e: Symbol) -> object:
    hit = _LEAVES.get(id(e))
    return hit[1] if hit is not None and hit[0]() is e else _MISSING


def _leaf_inputs(e: Symbol) -> tuple[Symbol, ...]:
    """The inputs whose leaves e's leaves are made of."""
    if e.shape == ():
        return ()
    opdef = OPS.get(e.op)
    if opdef is not None and (opdef.elementwise or e.op == "broadcast_like" or e.op == "sum_like"):
        return e.inputs
    if opdef is not None and opdef.shape_of is not None:
        return (e.inputs[opdef.shape_of],)
    return ()


def _leaves_from_inputs(e: Symbol, done: dict) -> frozenset | None:
    """e's leaves, its inputs' (_leaf_inputs) being in done."""
    if e.shape == ():  # a 0-d value broadcasts into anything
        return frozenset()
    opdef = OPS.get(e.op)
    if opdef is not None and (opdef.elementwise or e.op == "broadcast_like"):
        leaves: frozenset | None = frozenset()
        for i in e.inputs[1:] if e.op == "where" else e.inputs:
            if done[i] is None:
                return None
            leaves = leaves | done[i]
        if len(leaves) > _MAX_LEAVES:
            return None
        if e.op == "where":  # the condition broadcasts too
            cond = done[e.inputs[0]]
            return None if cond is None else leaves | cond
        return leaves
    if e.op == "sum_like" and covers(e.inputs[0], e.inputs[1]):
        return done[e.inputs[1]]  # summed down to exactly like's shape
    if opdef is not None and opdef.shape_of is not None:
        return done[e.inputs[opdef.shape_of]]
    return frozenset([e])


def covered_by(e: Symbol, x: Symbol) -> bool:
    """True when e's shape provably broadcasts into x's without growing it."""
    if e is x or e.shape == () or (e.shape is not None and e.shape == x.shape):
        return True
    if e.shape is not None and x.shape is not None:
        try:
            return broadcast_shapes(e.shape, x.shape) == x.shape
        except ValueError:
            return False
    if e.partial_shape is not None and x.partial_shape is not None:
        return _fits(e.partial_shape, x.partial_shape)
    le, lx = broadcast_leaves(e), broadcast_leaves(x)
    return le is not None and lx is not None and le <= lx


def _fits(e: tuple, x: tuple) -> bool:
    """e broadcasts into x without growing it, sizes left to bind (None) assumed not 1 (checked at bind)
    and sizes of one graph agreeing where they meet (or the graph fails at bind anyway)."""
    if len(e) > len(x):
        return False
    for d, n in zip(e[::-1], x[::-1]):
        if d != 1 and (n == 1 or (d is not None and n is not None and d != n)):
            return False
    return True


def covers(e: Symbol, x: Symbol) -> bool:
    """True when e's shape provably contains x's: broadcast(e, x) has e's shape."""
    return covered_by(x, e)


def sum_axes(g: tuple, like: tuple) -> tuple:
    """The axes sum_like(g, like) sums over: those broadcasting added in front, and those like has as 1."""
    lead = len(g) - len(like)
    return tuple(i for i in range(len(g)) if i < lead or (g[i] != 1 and like[i - lead] == 1))


def same_shape_input(x: Symbol) -> Symbol | None:
    """An input of the broadcasting op x that has x's shape (the others broadcast into it), a variable first."""
    opdef = OPS.get(x.op)
    if opdef is None or not opdef.elementwise:
        return None
    fits = [u for u in x.inputs if all(v is u or covered_by(v, u) for v in x.inputs)]
    return min(fits, key=lambda u: u.op != "var", default=None)


def same_shape_leaf(x: Symbol, steps: int = 16) -> Symbol:
    """A node down x's broadcasting ops with x's shape, y for y - x @ w: the lowest within `steps` (so that
    asking for each node of a long chain stays linear)."""
    for _ in range(steps):
        u = same_shape_input(x)
        if u is None:
            break
        x = u
    return x
