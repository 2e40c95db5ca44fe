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

_LEAVES: dict[int, tuple[weakref.ref, frozenset | None]] = {}  # id -> (node, leaves); Symbol == builds a node
_MAX_LEAVES = 32


def broadcast_leaves(e: Symbol) -> frozenset | None:
    """The nodes e's shape is the broadcast of (through elementwise ops), or None when too many.

    For shapes unknown until bind: e's shape fits in x's when e's leaves are among x's.
    """
    hit = _LEAVES.get(id(e))
    if hit is not None and hit[0]() is e:
        return hit[1]
    if e.shape == ():  # a 0-d value broadcasts into anything
        leaves: frozenset | None = frozenset()
    else:
        opdef = OPS.get(e.op)
        if opdef is not None and (opdef.elementwise or e.op == "broadcast_like"):
            leaves = frozenset()
            for i in e.inputs[1:] if e.op == "where" else e.inputs:
                sub = broadcast_leaves(i)
                if sub is None:
                    leaves = None
                    break
                leaves = leaves | sub
            if leaves is not None and len(leaves) > _MAX_LEAVES:
                leaves = None
            if e.op == "where" and leaves is not None:  # the condition broadcasts too
                cond = broadcast_leaves(e.inputs[0])
                leaves = None if cond is None else leaves | cond
        elif e.op == "sum_like" and covers(e.inputs[0], e.inputs[1]):
            leaves = broadcast_leaves(e.inputs[1])  # summed down to exactly like's shape
        elif opdef is not None and opdef.shape_of is not None:
            leaves = broadcast_leaves(e.inputs[opdef.shape_of])
        else:
            leaves = frozenset([e])
    if len(_LEAVES) > 100_000:
        _LEAVES.clear()
    _LEAVES[id(e)] = (weakref.ref(e), leaves)
    return leaves


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
    try:
        le, lx = broadcast_leaves(e), broadcast_leaves(x)
    except RecursionError:
        return False
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
