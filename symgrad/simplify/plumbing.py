"""Shape plumbing autodiff emits (sum_like, broadcast_like, reshape_like, ...) and matrix ops."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..graph import CONST, VAR, Symbol, const, scalar_value
from ..ops import elementwise as ew
from ..ops import linalg as la
from ..ops import reduction as red
from ..ops import shape as shp
from ..ops.registry import OPS, rebuild
from ..shapes import broadcast_leaves, covered_by, covers, same_shape_input, sum_axes
from .core import (
    Simplifier,
    _factors_out,
    _is_scalar_const,
    _product,
    _scaled,
    rewrites,
)

# ---- shape helpers autodiff emits ----------------------------------------------


@rewrites("sum_like")
def sum_like_noop(node: Symbol, s: Simplifier) -> Symbol | None:
    """sum_like(g, x) -> g when g already fits x; else a sum over the axes x was broadcast along (ranks known):
    the leading ones dropped by the sum itself, so a scalar b's gradient is sum(g, axis=0), not reshape(sum(...))"""
    g, like = node.inputs
    if covered_by(g, like):
        return g
    if g.partial_shape is not None and like.partial_shape is not None:  # ranks known (sizes too, or some open)
        axes = sum_axes(g.partial_shape, like.partial_shape)  # an open size is not 1 (checked at bind)
        lead = len(g.partial_shape) - len(like.partial_shape)
        kept = tuple(a for a in axes if a >= lead)
        out = red.sum(g, axis=kept, keepdims=True) if kept else g
        return red.sum(out, axis=tuple(range(lead))) if lead > 0 else out
    return None


@rewrites("broadcast_like")
def broadcast_like_noop(node: Symbol, s: Simplifier) -> Symbol | None:
    """broadcast_like(g, x) -> g when g already has x's shape; else broadcast_to(g, x.shape)"""
    g, like = node.inputs
    if g.op == CONST and g.dtype is None and not s.outputs_cast:  # a number takes like's dtype:
        if node.dtype is None:  # 2*zeros_like(x) is not a float64 0
            return None
        g = const(np.array(g.attrs["value"], dtype=node.dtype))
    if covers(g, like):  # in like's dtype when that is wider: broadcast_like(float32, float64) is float64
        widened = g.dtype is not None and node.dtype is not None and g.dtype != node.dtype
        return ew.cast(g, dtype=node.dtype.name) if widened else g
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
    if (g.shape is not None and g.shape == like.shape) or (covers(g, like) and covered_by(g, like)):
        return g  # the same shape: known, or the broadcast of the same nodes
    if like.shape is not None and 0 not in like.shape:  # reshape_to keeps reshape_like for a 0 size
        return shp.reshape_to(g, like.shape)
    return None


@rewrites("reshape")
def reshape_noop(node: Symbol, s: Simplifier) -> Symbol | None:
    """reshape(x, x.shape) -> x, reshape(reshape(x)) -> reshape(x)"""
    (x,) = node.inputs
    if x.shape is not None and x.shape == node.shape:
        return x
    if x.op == "reshape" and node.shape is not None:
        return shp.reshape_to(x.inputs[0], node.shape)
    if x.op == "sum" and x.attrs["keepdims"] and x.attrs["axis"] is not None and node.shape is not None:
        dropped = red.sum(x.inputs[0], axis=x.attrs["axis"])  # reshape(sum(g, 0, keepdims=True), (4,))
        if dropped.shape == node.shape:
            return dropped
    return None


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
    """sum(c*x) -> c*sum(x) (int64, or assume_finite: see _factors_out), sum(broadcast_to(c, s)) -> c*size
    (not sum of a 0-d x -> x: NumPy's sum starts from +0.0, so it is 0.0 at x = -0.0)"""
    (x,) = node.inputs
    axis, keepdims = node.attrs["axis"], node.attrs["keepdims"]
    c, t = s.coef_term(x)
    if c != 1 and t is not x and _factors_out(s, (x.dtype,), c):
        return _scaled(c, red.sum(t, axis=axis, keepdims=keepdims))
    constant = _row_constant(node, s)
    if constant is not None and constant.op == CONST and node.shape is not None:
        new = constant if node.shape == () else shp.broadcast_to(constant, shape=node.shape)
        if _same_meta(new, node):
            return new
    if x.op == "broadcast_to" and _is_scalar_const(x.inputs[0]) and axis is None and not keepdims:
        size = math.prod(x.shape)
        value = x.inputs[0].attrs["value"]
        return const(value * size) if x.inputs[0].dtype is None else None
    return None


@rewrites("reduce_size")
def reduce_size_of_leaf(node: Symbol, s: Simplifier) -> Symbol | None:
    """reduce_size(x**2) -> reduce_size(x): an elementwise expression of one array has its shape; so has
    a broadcasting op whose other inputs broadcast into one of them (a variable taken first); and
    size(sum(u, axis=1)) is size(u, axis=0) for a matrix u (the count is in the dtype it was: float32 or not)"""
    (x,) = node.inputs
    axis = node.attrs["axis"]
    leaves = broadcast_leaves(x)
    if x.op == "sum" and axis is None and x.attrs["axis"] is not None and x.inputs[0].ndim is not None:
        summed = set(shp.positive_axes(x.attrs["axis"], x.inputs[0].ndim))
        kept = tuple(a for a in range(x.inputs[0].ndim) if a not in summed)
        new = red.reduce_size(x.inputs[0], axis=kept) if kept else None
    elif leaves is not None and len(leaves) == 1 and x.op not in (VAR, CONST):
        (leaf,) = leaves
        new = None if leaf is x else red.reduce_size(leaf, axis=axis)
    else:
        u = same_shape_input(x)  # (a + b)**2 has a + b's shape, softplus(t) t's, y - x @ w y's
        new = None if u is None else red.reduce_size(u, axis=axis)
    return new if new is not None and new.dtype == node.dtype else None


@rewrites("where")
def where_same(node: Symbol, s: Simplifier) -> Symbol | None:
    """where(c, a, a) -> a when c does not widen the shape (not for a number a: where(c, -2, -2) is int64)"""
    c, a, b = node.inputs
    if a is b and covered_by(c, a) and not (a.op == CONST and a.dtype is None):
        return a
    return None


@rewrites("dot", "matmul")
def scalar_out_of_product(node: Symbol, s: Simplifier) -> Symbol | None:
    """dot(c*a, b) -> c*dot(a, b); dot(a, broadcast_to(c, s)) -> c*dot(a, ones) (int64, or assume_finite:
    a dot product is a sum of products, see _factors_out)"""
    a, b = node.inputs
    build = la.dot if node.op == "dot" else la.matmul
    ca, ta = s.coef_term(a)
    cb, tb = s.coef_term(b)
    if ((ca != 1 and ta is not a) or (cb != 1 and tb is not b)) and _factors_out(s, (a.dtype, b.dtype), ca, cb):
        c = _product(ca, cb, dtype=node.dtype)
        if c is not None:
            return _scaled(c, build(ta, tb))
    for u, v, left in ((a, b, True), (b, a, False)):
        if u.op == "broadcast_to" and _is_scalar_const(u.inputs[0]) and u.inputs[0].dtype is None:
            c = u.inputs[0].attrs["value"]
            if c != 1 and _factors_out(s, (a.dtype, b.dtype), c):
                ones = shp.broadcast_to(1.0, shape=u.shape)
                return c * (build(ones, v) if left else build(v, ones))
    return None


@rewrites("trace")
def trace_of_product(node: Symbol, s: Simplifier) -> Symbol | None:
    """trace(dot(a, b)) -> sum(a * b.T): the same diagonal products, none of the others"""
    (x,) = node.inputs
    if x.op in ("dot", "matmul") and all(i.ndim == 2 for i in x.inputs):
        a, b = x.inputs
        square = a is b or not (a.shape is None or b.shape is None or a.shape != b.shape[::-1])  # x @ x: x is square
        if not square:
            return None  # only a square product: trace(dot(x1, x0)) of a (1, 3) product is its [0, 0] entry
        return red.sum(a * la.transpose(b))
    return None


# ---- arrays of one value that only broadcast -------------------------------------

_FILLS = (CONST, "broadcast_to", "broadcast_like", "ones_like", "zeros_like")


def _fill_scalar(u: Symbol) -> Symbol | None:
    """A 0-d constant of u's one value and dtype, when u is an array of one value (not NaN)."""
    if u.op == CONST:
        v = u.attrs["value"]
        if not isinstance(v, np.ndarray) or v.ndim == 0 or v.size == 0:
            return None
        first = v.flat[0]
        if not (np.all(v == first) and np.all(np.signbit(v) == np.signbit(first))):
            return None  # NaN, or zeros of both signs
        value: object = first.item()
    elif u.op in ("broadcast_to", "broadcast_like") and _is_scalar_const(u.inputs[0]):
        value = u.inputs[0].attrs["value"]
        value = value.item() if isinstance(value, np.ndarray) else value
    elif u.op in ("ones_like", "zeros_like"):
        value = 1 if u.op == "ones_like" else 0
    else:
        return None
    return const(value) if u.dtype is None else const(np.array(value, dtype=u.dtype))


def _same_meta(new: Symbol, old: Symbol) -> bool:
    """new has old's dtype and (where known) shape."""
    return new.dtype == old.dtype and (old.shape is None or new.shape == old.shape)


@rewrites("add", "subtract", "multiply", "divide", "power", "maximum", "minimum", "where", needs=_FILLS)
def fill_to_scalar(node: Symbol, s: Simplifier) -> Symbol | None:
    """ones_like(e)*a -> 1*a, ones((n,))*a -> 1*a, full(s, c) + a -> c + a where the other inputs
    alone give the output its shape (the array only broadcasts a scalar)"""
    inputs = node.inputs
    first = 1 if node.op == "where" else 0  # not where's condition
    for i in range(first, len(inputs)):
        u = inputs[i]
        if u.op not in _FILLS or u.shape == ():
            continue
        others = inputs[:i] + inputs[i + 1 :]
        if not any(covered_by(u, o) for o in others):
            continue
        if (
            u.dtype is None
            and not s.outputs_cast
            and all(_is_scalar_const(o) and o.dtype is None for o in others[first:])
        ):
            continue  # u's dtype, unknown until bind, is the only one: where(c, ones_like(x), 0) is not int64
        scalar = _fill_scalar(u)
        if scalar is not None:
            new = rebuild(node, inputs[:i] + (scalar,) + inputs[i + 1 :])
            if _same_meta(new, node):
                return new
    return None


@rewrites("multiply", needs=_FILLS)
def outer_product_of_ones(node: Symbol, s: Simplifier) -> Symbol | None:
    """u * ones(s) -> broadcast_to(u, shape) where the ones widen u (and c * u for a fill of c)"""
    a, b = node.inputs
    if node.shape is None:
        return None
    for u, fill in ((a, b), (b, a)):
        scalar = _fill_scalar(fill) if fill.op in _FILLS and fill.shape != () else None
        if scalar is not None and u.op not in _FILLS:
            value = scalar.attrs["value"]
            scaled = u if value == 1 else rebuild(node, (scalar, u) if fill is a else (u, scalar))
            if scaled.dtype == node.dtype and len(scaled.shape or ()) <= len(node.shape):
                return shp.broadcast_to(scaled, shape=node.shape)
    return None


@rewrites("cast_like", needs=("multiply",))
def broadcast_to_gradient_shape(node: Symbol, s: Simplifier) -> Symbol | None:
    """cast_like(u * ones_like(e), y) -> cast_like(broadcast_like(u, y), y) where the product has y's shape
    (ranks only: sizes open, so outer_product_of_ones' broadcast_to(u, shape) has no shape to name)"""
    product, like = node.inputs
    if product.op != "multiply" or product.shape is not None or not s.outputs_cast:
        return None  # a gradient, cast to its variable's float dtype: the ones take the dtype they meet
    if not (covered_by(product, like) and covered_by(like, product)):
        return None
    a, b = product.inputs
    for u, fill in ((a, b), (b, a)):
        scalar = _fill_scalar(fill) if fill.op in _FILLS and fill.shape != () else None
        if scalar is None or u.op in _FILLS or not covered_by(u, like):
            continue
        value = scalar.attrs["value"]
        scaled = u if value == 1 else rebuild(product, (scalar, u) if fill is a else (u, scalar))
        return rebuild(node, (shp.broadcast_like(scaled, like), like))
    return None


@rewrites("cast", "cast_like")  # after broadcast_to_gradient_shape, which reads the variable's shape off it
def cast_noop(node: Symbol, s: Simplifier) -> Symbol | None:
    """cast(x, x.dtype) -> x, cast_like(x, y) -> x when x has y's dtype"""
    x = node.inputs[0]
    return x if x.dtype is not None and x.dtype == node.dtype else None


def _transposed_to(u: Symbol, ndim: int) -> Symbol:
    """u.T as it broadcasts in the transpose of an ndim-d array u broadcasts into (u's ndim known):
    a 1-d u (along the last axis) becomes u[:, None] (along the first)."""
    k = u.ndim
    if k == 0:
        return u
    t = la.transpose(u) if k > 1 else u
    return shp.expand_dims(t, axis=tuple(range(k, ndim))) if k < ndim else t


@rewrites("transpose", needs=("multiply", "broadcast_to"))
def transpose_of_fill_product(node: Symbol, s: Simplifier) -> Symbol | None:
    """(u*ones_like(e)).T -> u'*ones_like(e).T and broadcast_to(u, s).T -> broadcast_to(u', s[::-1]) for u' the
    transposed u (x[:, None] for a vector): the ones take the transpose, so the product still only spreads u"""
    (x,) = node.inputs
    n = node.ndim
    if node.attrs["axes"] is not None or n is None or n < 2:
        return None
    if x.op == "broadcast_to" and x.inputs[0].ndim is not None:
        return shp.broadcast_to(_transposed_to(x.inputs[0], n), shape=tuple(reversed(x.attrs["shape"])))
    if x.op != "multiply" or s.shared(x):
        return None
    a, b = x.inputs
    if not any(v.op in _FILLS and v.op != CONST for v in (a, b)) or a.ndim is None or b.ndim is None:
        return None
    new = _transposed_to(a, n) * _transposed_to(b, n)
    return new if _same_meta(new, node) else None


def _free_transpose(v: Symbol) -> bool:
    """v.T costs no transpose node: v is one (v.T.T is v), an array of one value, or has at most 1 axis."""
    return (v.op == "transpose" and v.attrs["axes"] is None) or v.op in _FILLS or (v.ndim is not None and v.ndim < 2)


@rewrites("transpose", needs=("dot", "matmul"))
def transpose_of_product(node: Symbol, s: Simplifier) -> Symbol | None:
    """(a @ b).T -> b.T @ a.T for matrices when that leaves fewer transposes: (ones @ x.T).T -> x @ ones.T,
    (y.T @ x).T -> x.T @ y (the same products, each summed over the same k)"""
    (x,) = node.inputs
    if node.attrs["axes"] is not None or x.op not in ("dot", "matmul") or s.shared(x):
        return None
    a, b = x.inputs
    if a.ndim != 2 or b.ndim != 2:
        return None
    before = 1 + sum(v.op == "transpose" and v.attrs["axes"] is None for v in (a, b))
    if sum(not _free_transpose(v) for v in (a, b)) >= before:
        return None
    new = rebuild(x, (la.transpose(b), la.transpose(a)))
    return new if _same_meta(new, node) else None


@rewrites("add", "subtract", needs=("where",))
def merge_wheres(node: Symbol, s: Simplifier) -> Symbol | None:
    """where(c, a, b) + where(c, d, e) -> where(c, a + d, b + e) (the same for -)"""
    u, v = node.inputs
    if u.op != "where" or v.op != "where" or u.inputs[0] is not v.inputs[0]:
        return None
    c, a, b = u.inputs
    _, d, e = v.inputs
    op = ew.add if node.op == "add" else ew.subtract
    new = ew.where(c, op(a, d), op(b, e))
    return new if _same_meta(new, node) else None


@rewrites("sum_like", needs=("sum_like",))
def sum_like_of_sum_like(node: Symbol, s: Simplifier) -> Symbol | None:
    """sum_like(sum_like(g, a), b) -> sum_like(g, b) when b's shape fits in a's"""
    inner, like = node.inputs
    if inner.op == "sum_like" and covered_by(like, inner.inputs[1]):
        return shp.sum_like(inner.inputs[0], like)
    return None


@rewrites("expand_dims", "reshape", "transpose", needs=("broadcast_like", "ones_like", "zeros_like"))
def reshaped_fill(node: Symbol, s: Simplifier) -> Symbol | None:
    """expand_dims(broadcast_like(c, m)) -> broadcast_like(c, expand_dims(m)): still one value, now
    of the new shape (so it can broadcast away); the same for reshape, transpose, ones_like"""
    (u,) = node.inputs
    if u.op == "broadcast_like" and u.inputs[0].shape == () and u.inputs[1].op != CONST:
        return shp.broadcast_like(u.inputs[0], rebuild(node, (u.inputs[1],)))
    if u.op in ("ones_like", "zeros_like") and u.inputs[0].op != CONST:
        return rebuild(u, (rebuild(node, u.inputs),))
    return None


def _same_gradient(op: str, d: Any, c: Symbol, d_over_c: bool) -> bool:
    """c's gradient through broadcast(c op d) (d times the summed adjoint) is the sum of its entries'
    (the adjoint times d, each) only when d's factor is finite: sum(g/0) over g = (1, -2) is NaN, sum(g)/0 inf."""
    if d_over_c:  # d/c's derivative -d/c**2 is inf at c = 0 unless c carries no gradient
        return c.op == CONST or (c.op in OPS and OPS[c.op].nondiff)  # a variable (not in OPS) has one
    if d is None or not math.isfinite(d):
        return False
    return op == "multiply" or d != 0


@rewrites("multiply", "divide", needs=_FILLS)
def scale_fill(node: Symbol, s: Simplifier) -> Symbol | None:
    """c * broadcast_like(d, e) -> broadcast_like(c*d, e) for a 0-d c and constant d (still one value,
    so it can broadcast away); the same for broadcast_to, ones_like and zeros_like, and for d / c"""
    a, b = node.inputs
    for fill, c in ((b, a), (a, b)):
        if fill.op not in _FILLS or fill.op == CONST or c.shape != () or (fill is a and node.op != "divide"):
            continue
        if fill.op in ("ones_like", "zeros_like"):
            value, base = const(1 if fill.op == "ones_like" else 0), fill.inputs[0]
        elif _is_scalar_const(fill.inputs[0]):
            value, base = fill.inputs[0], fill.inputs[-1]
        else:
            continue
        if not _same_gradient(node.op, scalar_value(value), c, fill is a):
            continue
        scalar = rebuild(node, (c, value) if fill is b else (value, c))
        new = shp.broadcast_like(scalar, base) if fill.op != "broadcast_to" else rebuild(fill, (scalar,))
        if _same_meta(new, node):
            return new
    return None


# ---- sums whose every entry is one known value ------------------------------------


def _exact_multiple(c: float, n: int | None, dtype: np.dtype | None) -> bool:
    """Adding n copies of c (in any order) gives exactly c*n in dtype: every partial sum k*c is a
    float of it (c's odd mantissa times n fits); a weak c counts in float16, the narrowest float it can
    meet. For n unknown until bind (None): exact for an axis of up to 2**(nmant + 1) / |c's mantissa|
    entries (2,048 ones in float16, 16.7M in float32); beyond, c*n is the correctly rounded sum and
    NumPy's pairwise sum a few ulps from it."""
    if dtype is not None and dtype.kind != "f":
        return False
    if not math.isfinite(c):  # inf*0 is NaN where an empty sum is 0
        return False
    info = np.finfo(np.float16 if dtype is None else dtype)
    mantissa = abs(float(c).as_integer_ratio()[0])
    if n is None:
        return mantissa <= 2**info.nmant
    return 0 < n and mantissa * n <= 2 ** (info.nmant + 1) and abs(c) * n <= float(info.max)


def _fill_like(fill: Symbol) -> Symbol | None:
    """The node whose shape a fill of unknown shape has (broadcast_like's like, ones_like's input)."""
    if fill.op == "broadcast_like":
        return fill.inputs[1]
    return fill.inputs[0] if fill.op in ("ones_like", "zeros_like") else None


def _same_axes(axis: tuple[int, ...], pick_axis: int, ndim: int | None) -> bool:
    """axis is (pick_axis,): equal once counted from 0, or written alike (both from the end) for an
    unknown rank."""
    if ndim is None:
        return len(axis) == 1 and (axis[0] < 0) == (pick_axis < 0) and axis[0] == pick_axis
    return shp.positive_axes(axis, ndim) == shp.positive_axes((pick_axis,), ndim)


def _row_constant(total: Symbol, s: Simplifier) -> Symbol | None:
    """The 0-d value every entry of total = sum(v, axis) has, where it is exact: c times the summed
    size for a fill v of c (a count from reduce_size where sizes are open), and c for
    v = pick_scatter(fill of c, data, index) summed along pick's axis (clip and wrap both put each
    row's one c among zeros; a -0.0 would come out +0.0)."""
    (v,) = total.inputs
    axis = total.attrs["axis"]
    if v.op in _FILLS:
        scalar = _fill_scalar(v)
        if scalar is None or (scalar.dtype is None and not s.outputs_cast):
            return None  # a weak c takes its dtype at bind: only where the gradient is cast to its variable's
        c = scalar_value(scalar)
        if v.shape is not None:
            n = math.prod(v.shape[a] for a in shp.positive_axes(axis, len(v.shape)))
            if not _exact_multiple(c, n, scalar.dtype):
                return None
            value = c * n
            return const(value) if scalar.dtype is None else const(np.array(value, dtype=scalar.dtype))
        like = _fill_like(v)
        if like is None or not _exact_multiple(c, None, scalar.dtype):
            return None
        return _scaled(c, red.reduce_size(like, axis=axis))
    if v.op == "pick_scatter" and v.inputs[0].op in _FILLS and axis is not None:
        scalar = _fill_scalar(v.inputs[0])
        if scalar is None or not _same_axes(axis, v.attrs["axis"], v.ndim):
            return None
        c = scalar_value(scalar)
        return None if c == 0 and math.copysign(1.0, c) < 0 else scalar
    return None


@rewrites("add", "subtract", "multiply", "divide", "maximum", "minimum", needs=("sum",))
def row_constant_to_scalar(node: Symbol, s: Simplifier) -> Symbol | None:
    """a * sum(ones_like(a), axis=-1, keepdims=True) -> a * size(a, axis=-1), and
    a * sum(pick_scatter(full(s, c), a, i), axis=-1, keepdims=True) -> a * c: a keepdims sum of
    an array that broadcasts into a's shape does too, so the scalar gives the same entries (shapes left to bind)"""
    inputs = node.inputs
    for i, u in enumerate(inputs):
        if u.op != "sum" or not u.attrs["keepdims"] or u.shape is not None:
            continue
        others = inputs[:i] + inputs[i + 1 :]
        if not any(covered_by(u.inputs[0], o) for o in others):
            continue  # an axis summed to 1 broadcasts back to its size (0 included: the result is then empty)
        scalar = _row_constant(u, s)
        if scalar is not None:
            new = rebuild(node, inputs[:i] + (scalar,) + inputs[i + 1 :])
            if _same_meta(new, node):
                return new
    return None
