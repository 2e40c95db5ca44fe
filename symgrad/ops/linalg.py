"""Linear algebra: dot (NumPy's), batched matmul, transpose, swapaxes, trace, inv, logdet.

When operand ranks are known at `sym.grad` time the gradient uses plain forms
(`dot(g, b.T)`, `g*b`, ...); otherwise it uses `dot_adjoint_lhs/rhs`, which work out
the rank cases when they run and whose own gradients close under differentiation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from ..errors import ShapeError, SymgradError
from ..graph import Symbol
from . import elementwise as ew
from . import shape as shp
from .registry import OPS, apply, register, same_dtype

Shape = tuple[int, ...]


def _dot_shape(a: Shape, b: Shape) -> Shape:
    if not a or not b:
        return a or b
    k_b = b[0] if len(b) == 1 else b[-2]
    if a[-1] != k_b:
        raise ShapeError(f"dot: inner sizes differ ({a[-1]} vs {k_b})")
    return a[:-1] + (b[:-2] + b[-1:] if len(b) > 1 else ())


def _dot_grad(g: Symbol, out: Symbol, a: Symbol, b: Symbol) -> list:
    ranks = (a.ndim, b.ndim)
    if None in ranks or max(ranks) > 2:
        return [dot_adjoint_lhs(g, a, b), dot_adjoint_rhs(g, a, b)]
    if 0 in ranks:
        return [shp.sum_like(g * b, a), shp.sum_like(g * a, b)]
    if ranks == (1, 1):
        return [g * b, g * a]
    if ranks == (2, 2):
        return [dot(g, transpose(b)), dot(transpose(a), g)]
    if ranks == (2, 1):
        return [shp.expand_dims(g, axis=-1) * b, dot(transpose(a), g)]
    return [dot(b, g), shp.expand_dims(a, axis=-1) * g]  # (1, 2)


def _dot_transposes(args: tuple, kwargs: dict, construct: Any) -> tuple[tuple, dict]:
    """MXNet's dot(a, b, transpose_a=True, transpose_b=True): the dot of the transposes (all axes reversed)."""
    args = list(args)
    for k, key in enumerate(("transpose_a", "transpose_b")):
        flag = kwargs.pop(key, False)
        if flag not in (True, False, 0, 1):
            raise SymgradError(f"dot: {key} must be True or False, got {flag!r}")
        if flag and k < len(args):
            args[k] = construct("transpose", (args[k],))
    return tuple(args), kwargs


dot = register(
    "dot",
    np.dot,
    shape=_dot_shape,
    dtype=same_dtype,
    grad=_dot_grad,
    arity=2,
    method=True,
    aliases=(),
    unsugar=_dot_transposes,
)


def _dot_lhs_impl(g: Any, a: Any, b: Any) -> np.ndarray:
    """d<g, dot(a, b)>/da for any ranks."""
    a_nd, b_nd = np.ndim(a), np.ndim(b)
    if a_nd == 0 or b_nd == 0:
        return shp.sum_to_shape(np.multiply(g, b), np.shape(a))
    if b_nd == 1:
        return np.multiply.outer(g, b)
    g_axes = list(range(a_nd - 1, a_nd - 1 + b_nd - 1))
    b_axes = [i for i in range(b_nd) if i != b_nd - 2]
    return np.tensordot(g, b, axes=(g_axes, b_axes))


def _dot_rhs_impl(g: Any, a: Any, b: Any) -> np.ndarray:
    """d<g, dot(a, b)>/db for any ranks."""
    a_nd, b_nd = np.ndim(a), np.ndim(b)
    if a_nd == 0 or b_nd == 0:
        return shp.sum_to_shape(np.multiply(g, a), np.shape(b))
    lead = list(range(a_nd - 1))
    if b_nd == 1:
        return np.tensordot(g, a, axes=(lead, lead)) if lead else np.multiply(g, a)
    if a_nd == 1:
        return np.moveaxis(np.multiply.outer(a, g), 0, -2)
    return np.moveaxis(np.tensordot(a, g, axes=(lead, lead)), 0, -2)


def _adjoint_pair(forward: str, lhs_impl: Any, rhs_impl: Any) -> tuple:
    """Rank-generic adjoints of a bilinear product p(a, b) (dot or matmul).

    L(g, a, b) = d<g, p(a, b)>/da and R(g, a, b) = d<g, p(a, b)>/db. Since
    <G, L(g, a, b)> = <p(G, b), g>, their gradients are again p, L and R, so
    higher order closes.
    """
    product = OPS[forward]

    def checked(result: int) -> Any:
        def shape(g: Shape, a: Shape, b: Shape) -> Shape:
            expected = product.shape(a, b)
            if tuple(g) != tuple(expected):
                raise ShapeError(f"the adjoint g has shape {g}, not the {forward}(a, b) shape {expected}")
            return (a, b)[result]

        return shape

    lhs = register(
        f"{forward}_adjoint_lhs",
        lhs_impl,
        shape=checked(0),
        dtype=lambda g, a, b: same_dtype(g, b),
        grad=lambda G, out, g, a, b: [apply(product, (G, b), {}), None, rhs(g, G, b)],
        shape_of=1,
        arity=3,
        aliases=(),
    )
    rhs = register(
        f"{forward}_adjoint_rhs",
        rhs_impl,
        shape=checked(1),
        dtype=lambda g, a, b: same_dtype(g, a),
        grad=lambda G, out, g, a, b: [apply(product, (a, G), {}), lhs(g, a, G), None],
        shape_of=2,
        arity=3,
        aliases=(),
    )
    return lhs, rhs


dot_adjoint_lhs, dot_adjoint_rhs = _adjoint_pair("dot", _dot_lhs_impl, _dot_rhs_impl)


def _matmul_shape(a: Shape, b: Shape) -> Shape:
    if not a or not b:
        raise ShapeError("matmul: operands must have at least 1 dimension (use * for scalars)")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise ShapeError(f"matmul: inner sizes differ ({a2[-1]} vs {b2[-2]})")
    from .registry import broadcast_shapes

    batch = broadcast_shapes(a2[:-2], b2[:-2])
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


def matrix_transpose(x: Symbol) -> Symbol:
    """Swap the last two axes (x.T for matrices)."""
    return transpose(x) if x.ndim == 2 else swapaxes(x, axis1=-1, axis2=-2)


def _matmul_lhs_impl(g: Any, a: Any, b: Any) -> np.ndarray:
    """d<g, matmul(a, b)>/da for any ranks (batch broadcasting summed back)."""
    if np.ndim(b) == 1:
        grad = np.expand_dims(g, -1) * b if np.ndim(a) > 1 else np.multiply(g, b)
    elif np.ndim(a) == 1:
        grad = np.sum(np.expand_dims(g, -2) * b, axis=-1)
    else:
        grad = np.matmul(g, np.swapaxes(b, -1, -2))
    return shp.sum_to_shape(grad, np.shape(a))


def _matmul_rhs_impl(g: Any, a: Any, b: Any) -> np.ndarray:
    """d<g, matmul(a, b)>/db for any ranks (batch broadcasting summed back)."""
    if np.ndim(a) == 1:
        grad = np.multiply(g, a) if np.ndim(b) == 1 else np.expand_dims(a, -1) * np.expand_dims(g, -2)
    elif np.ndim(b) == 1:
        grad = a * np.expand_dims(g, -1)
    else:
        grad = np.matmul(np.swapaxes(a, -1, -2), g)
    return shp.sum_to_shape(grad, np.shape(b))


def _matmul_grad(g: Symbol, out: Symbol, a: Symbol, b: Symbol) -> list:
    from .reduction import sum as reduce_sum

    if a.ndim is None or b.ndim is None:
        return [matmul_adjoint_lhs(g, a, b), matmul_adjoint_rhs(g, a, b)]
    if a.ndim == 1 and b.ndim == 1:
        return [g * b, g * a]
    if b.ndim == 1:  # out[..., i] = sum_k a[..., i, k] b[k]
        ga = shp.expand_dims(g, axis=-1) * b
        gb = a * shp.expand_dims(g, axis=-1)
    elif a.ndim == 1:  # out[..., j] = sum_k a[k] b[..., k, j]
        ga = reduce_sum(shp.expand_dims(g, axis=-2) * b, axis=-1)
        gb = shp.expand_dims(a, axis=-1) * shp.expand_dims(g, axis=-2)
    else:
        ga = matmul(g, matrix_transpose(b))
        gb = matmul(matrix_transpose(a), g)
    return [shp.sum_like(ga, a), shp.sum_like(gb, b)]  # undo batch broadcasting


matmul = register("matmul", np.matmul, shape=_matmul_shape, dtype=same_dtype, grad=_matmul_grad, arity=2)
matmul_adjoint_lhs, matmul_adjoint_rhs = _adjoint_pair("matmul", _matmul_lhs_impl, _matmul_rhs_impl)


def _transpose_shape(x: Shape, axes: tuple[int, ...] | None) -> Shape:
    if axes is None:
        return x[::-1]
    if sorted(shp.positive_axes(axes, len(x))) != list(range(len(x))):
        raise ShapeError(f"transpose: axes {axes} are not a permutation of {len(x)} axes")
    return tuple(x[a] for a in axes)


def _transpose_grad(g: Symbol, out: Symbol, x: Symbol, axes: Any) -> list:
    if axes is None:
        return [transpose(g)]
    return [transpose(g, axes=tuple(int(i) for i in np.argsort([a % len(axes) for a in axes])))]


def _numpy_transpose(node: Symbol) -> Any:
    """An ndarray's own transpose method (the value has ndim >= 1, so it is an ndarray)."""
    if not node.inputs[0].shape:
        return None
    axes = node.attrs["axes"]
    return np.ndarray.transpose if axes is None else lambda x: x.transpose(axes)


transpose = register(
    "transpose",
    lambda x, axes=None: np.transpose(x, axes),
    shape=_transpose_shape,
    dtype=lambda x, **_: same_dtype(x),
    grad=_transpose_grad,
    sympy=None,
    arity=1,
    attrs={"axes": None},
    normalize=lambda a: {"axes": None if a["axes"] is None else tuple(int(i) for i in a["axes"])},
    method=True,
    numpy_kernel=_numpy_transpose,
    view=True,
    relayout=True,
)


def _swapaxes_shape(x: Shape, axis1: int, axis2: int) -> Shape:
    i, j = shp.positive_axes((axis1, axis2), len(x)) if axis1 % max(len(x), 1) != axis2 % max(len(x), 1) else (0, 0)
    dims = list(x)
    dims[i], dims[j] = dims[j], dims[i]
    return tuple(dims)


def _normalize_swapaxes(attrs: dict) -> dict:
    """MXNet's names dim1 and dim2 (its swapaxes and SwapAxis) for axis1 and axis2; ints."""
    for mxnet_key, key in (("dim1", "axis1"), ("dim2", "axis2")):
        given = attrs.pop(mxnet_key, None)
        if given is not None:
            attrs[key] = given
        if not shp._is_int(attrs[key]):
            raise SymgradError(f"{key} must be an int, got {attrs[key]!r}")
        attrs[key] = int(attrs[key])
    return attrs


swapaxes = register(
    "swapaxes",
    lambda x, axis1, axis2: np.swapaxes(x, axis1, axis2),
    shape=_swapaxes_shape,
    dtype=lambda x, **_: same_dtype(x),
    grad=lambda g, out, x, axis1, axis2: [swapaxes(g, axis1=axis1, axis2=axis2)],
    arity=1,
    attrs={"axis1": 0, "axis2": 1, "dim1": None, "dim2": None},
    normalize=_normalize_swapaxes,
    method=True,
    view=True,
    relayout=True,
)


def _square_matrix(x: Shape, op: str) -> Shape:
    if len(x) != 2 or x[0] != x[1]:
        raise ShapeError(f"{op} needs a square matrix, got shape {x}")
    return x


def _matrix(x: Shape, op: str) -> Shape:
    if len(x) != 2:
        raise ShapeError(f"{op} needs a matrix, got shape {x}")
    return x


eye_like = register(
    "eye_like",
    lambda x: np.eye(*np.shape(x), dtype=np.result_type(x)),
    shape=lambda x: _matrix(x, "eye_like"),
    dtype=lambda x: same_dtype(x),
    grad=lambda g, out, x: [None],
    shape_of=0,
    arity=1,
    aliases=(),
)


def _trace_shape(x: Shape) -> Shape:
    _matrix(x, "trace")
    return ()


trace = register(
    "trace",
    np.trace,
    shape=_trace_shape,
    dtype=lambda x: np.trace(np.zeros((1, 1), dtype=x)).dtype,  # integers accumulate as np.trace's (int32 -> int64)
    grad=lambda g, out, x: [ew.where(eye_like(x), g, 0)],  # not g*eye: off the diagonal inf*0 is NaN
    sympy=lambda x: sp.Trace(x),
    arity=1,
    aliases=(),
    scalar_output=True,
)
inv = register(
    "inv",
    np.linalg.inv,
    shape=lambda x: _square_matrix(x, "inv"),
    dtype=lambda x: same_dtype(x),
    grad=lambda g, out, x: [ew.negative(dot(transpose(out), dot(g, transpose(out))))],
    arity=1,
    aliases=(),
)
logdet = register(
    "logdet",
    lambda x: np.linalg.slogdet(x)[1],
    shape=lambda x: (_square_matrix(x, "logdet"), ())[1],
    dtype=lambda x: same_dtype(x),
    grad=lambda g, out, x: [g * transpose(inv(x))],
    arity=1,
    aliases=(),
    scalar_output=True,
)
