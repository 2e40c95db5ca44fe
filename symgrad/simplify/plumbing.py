"""Shape plumbing autodiff emits (sum_like, broadcast_like, reshape_like, ...) and matrix ops."""

from __future__ import annotations

import math

import numpy as np

from ..graph import CONST, VAR, Symbol, const
from ..ops import linalg as la
from ..ops import reduction as red
from ..ops import shape as shp
from ..shapes import broadcast_leaves, covered_by, covers, sum_axes
from .core import (
    Simplifier,
    _coef_term,
    _is_scalar_const,
    _product,
    _scaled,
    rewrites,
)

# ---- shape helpers autodiff emits ----------------------------------------------


@rewrites("sum_like")
def sum_like_noop(node: Symbol, s: Simplifier) -> Symbol | None:
    """sum_like(g, x) -> g when g already fits x"""
    g, like = node.inputs
    if covered_by(g, like):
        return g
    if g.shape is not None and like.shape is not None:
        axes = sum_axes(g.shape, like.shape)
        out = red.sum(g, axis=axes, keepdims=True) if axes else g
        lead = len(g.shape) - len(like.shape)
        if lead > 0:
            out = shp.reshape(out, shape=out.shape[lead:])
        return out
    return None


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
