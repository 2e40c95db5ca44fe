"""Shape ops: reshape, expand_dims, squeeze, broadcast_to, concat, stack, flatten,
zeros and ones, and the shape-polymorphic helpers autodiff uses (`sum_like`,
`broadcast_like`, `reshape_like`), which take their target shape from a second input
so that gradient graphs work for whatever shapes are bound later.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy as sp

from ..errors import ShapeError, SymgradError
from .registry import broadcast_shapes, register

if TYPE_CHECKING:
    from ..graph import Symbol

Shape = tuple[int, ...]


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _axes(axis: Any) -> tuple[int, ...] | None:
    if axis is None:
        return None
    if _is_int(axis):
        return (int(axis),)
    if not isinstance(axis, (list, tuple)) or not all(map(_is_int, axis)):
        raise SymgradError(f"axis must be an int, a tuple of ints or None, got {axis!r}")
    return tuple(int(a) for a in axis)


def normalize_single_axis(attrs: dict) -> dict:
    """An op over one axis (softmax, stack, concat): the axis is an int."""
    if not _is_int(attrs["axis"]):
        raise SymgradError(f"axis must be an int, got {attrs['axis']!r}")
    return {**attrs, "axis": int(attrs["axis"])}


def normalize_axis_attr(attrs: dict) -> dict:
    """Axis attributes as tuples of ints (or None), so equal attrs compare equal; keepdims a bool."""
    if "axis" in attrs:
        attrs["axis"] = _axes(attrs["axis"])
    if "keepdims" in attrs:
        keepdims = attrs["keepdims"]
        if not isinstance(keepdims, (bool, np.bool_)) and keepdims not in (0, 1):
            raise SymgradError(f"keepdims must be True or False, got {keepdims!r}")
        attrs["keepdims"] = bool(keepdims)
    return attrs


def positive_axes(axis: tuple[int, ...] | None, ndim: int) -> tuple[int, ...]:
    """Axes in range(ndim); raises ShapeError for an axis that does not exist."""
    if axis is None:
        return tuple(range(ndim))
    out = []
    for a in axis:
        if not -ndim <= a < ndim:
            raise ShapeError(f"axis {a} is out of range for {ndim}-d input")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated axis in {axis}")
    return tuple(out)


# ---- undoing broadcasting (autodiff's helpers) --------------------------------


def sum_to_shape(g: Any, shape: Shape) -> Any:
    """Undo broadcasting: sum g down to shape (a smaller g is left to broadcast)."""
    g_shape = np.shape(g)
    if g_shape == shape:
        return g
    lead = len(g_shape) - len(shape)  # axes broadcasting added in front
    axes = tuple(i for i in range(len(g_shape)) if i < lead or (g_shape[i] != 1 and shape[i - lead] == 1))
    if not axes:
        return g
    out = np.sum(g, axis=axes, keepdims=True)
    return out.reshape(out.shape[lead:]) if lead > 0 else out


def _sum_to_shape_rule(g: Shape, like: Shape) -> Shape:
    lead = len(g) - len(like)
    return tuple(1 if like[i - lead] == 1 else d for i, d in enumerate(g) if i >= lead)


sum_like = register(
    "sum_like",
    lambda g, like: sum_to_shape(g, np.shape(like)),
    shape=_sum_to_shape_rule,
    dtype=lambda g, like: np.result_type(g),
    grad=lambda gg, out, g, like: [broadcast_like(gg, g), None],
    sympy=lambda g, like: g,
    arity=2,
    aliases=(0,),
)


def _broadcast_like_impl(g: Any, like: Any) -> np.ndarray:
    return np.broadcast_to(np.asarray(g, dtype=np.result_type(g, like)), np.shape(like))


broadcast_like = register(
    "broadcast_like",
    _broadcast_like_impl,
    shape=lambda g, like: broadcast_shapes(g, like),
    dtype=lambda g, like: np.result_type(g, like),
    grad=lambda gg, out, g, like: [sum_like(gg, g), None],
    sympy=lambda g, like: g,
    arity=2,
    elementwise=False,
    aliases=(0,),
)
reshape_like = register(
    "reshape_like",
    lambda g, like: np.reshape(g, np.shape(like)),
    shape=lambda g, like: _check_size(g, like),
    dtype=lambda g, like: np.result_type(g),
    grad=lambda gg, out, g, like: [reshape_like(gg, g), None],
    shape_of=1,
    arity=2,
    aliases=(0,),
)


def _check_size(g: Shape, like: Shape) -> Shape:
    if math.prod(g) != math.prod(like):
        raise ShapeError(f"cannot reshape {g} to {like}")
    return like


# ---- user-facing shape ops ----------------------------------------------------


def _normalize_shape_attr(attrs: dict) -> dict:
    shape = attrs["shape"]
    return {**attrs, "shape": (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)}


def _reshape_size_only(x: Shape, shape: Shape) -> Shape:
    size = math.prod(x)
    dims = list(shape)
    if dims.count(-1) > 1:
        raise ShapeError(f"can only infer one dimension of {shape}")
    if -1 in dims:
        known = math.prod(d for d in dims if d != -1)
        if known == 0 or size % known:
            raise ShapeError(f"cannot reshape {x} into {shape}")
        dims[dims.index(-1)] = size // known
    if math.prod(dims) != size:
        raise ShapeError(f"cannot reshape {x} (size {size}) into {tuple(shape)}")
    return tuple(dims)


def _numpy_reshape(node: Symbol) -> Any:
    """An ndarray's own reshape method, minus np.reshape's dispatch (the value has ndim >= 1)."""
    shape = node.attrs["shape"]
    return (lambda x: x.reshape(shape)) if node.inputs[0].shape else None


reshape = register(
    "reshape",
    lambda x, shape: np.reshape(x, shape),
    shape=_reshape_size_only,
    dtype=lambda x, **_: np.result_type(x),
    grad=lambda g, out, x, shape: [reshape_like(g, x)],
    sympy=None,
    arity=1,
    attrs={"shape": ()},
    normalize=_normalize_shape_attr,
    method=True,
    numpy_kernel=_numpy_reshape,
)


def _expand_dims_shape(x: Shape, axis: tuple[int, ...]) -> Shape:
    ndim = len(x) + len(axis)
    axes = positive_axes(axis, ndim)
    it = iter(x)
    return tuple(1 if i in axes else next(it) for i in range(ndim))


expand_dims = register(
    "expand_dims",
    lambda x, axis: np.expand_dims(x, axis),
    shape=_expand_dims_shape,
    dtype=lambda x, **_: np.result_type(x),
    grad=lambda g, out, x, axis: [reshape_like(g, x)],
    arity=1,
    attrs={"axis": 0},
    normalize=normalize_axis_attr,
    method=True,
)


def _squeeze_shape(x: Shape, axis: tuple[int, ...] | None) -> Shape:
    if axis is None:
        return tuple(d for d in x if d != 1)
    axes = positive_axes(axis, len(x))
    for a in axes:
        if x[a] != 1:
            raise ShapeError(f"cannot squeeze axis {a} of size {x[a]}")
    return tuple(d for i, d in enumerate(x) if i not in axes)


squeeze = register(
    "squeeze",
    lambda x, axis=None: np.squeeze(x, axis),
    shape=_squeeze_shape,
    dtype=lambda x, **_: np.result_type(x),
    grad=lambda g, out, x, axis: [reshape_like(g, x)],
    arity=1,
    attrs={"axis": None},
    normalize=normalize_axis_attr,
    method=True,
)


def _broadcast_to_shape(x: Shape, shape: Shape) -> Shape:
    if len(shape) < len(x) or broadcast_shapes(x, shape) != tuple(shape):
        raise ShapeError(f"cannot broadcast {x} to {tuple(shape)}")
    return tuple(shape)


broadcast_to = register(
    "broadcast_to",
    lambda x, shape: np.broadcast_to(x, shape),
    shape=_broadcast_to_shape,
    dtype=lambda x, **_: np.result_type(x),
    grad=lambda g, out, x, shape: [sum_like(g, x)],
    sympy=lambda x, shape: x,
    arity=1,
    attrs={"shape": ()},
    normalize=_normalize_shape_attr,
    elementwise=False,
    method=True,
)


def _flatten_shape(x: Shape) -> Shape:
    if len(x) == 0:
        raise ShapeError("flatten needs at least 1 dimension")
    return (x[0], math.prod(x[1:]))


flatten = register(
    "flatten",
    lambda x: np.reshape(x, (np.shape(x)[0], -1)) if np.size(x) else np.reshape(x, _flatten_shape(np.shape(x))),
    shape=_flatten_shape,
    dtype=lambda x: np.result_type(x),
    grad=lambda g, out, x: [reshape_like(g, x)],
    arity=1,
    method=True,
)
Flatten = flatten


def _normalize_concat(attrs: dict) -> dict:
    dim = attrs.pop("dim", None)
    if dim is not None:
        attrs["axis"] = dim  # MXNet's name for it
    return normalize_single_axis(attrs)


def _concat_shape(*shapes: Shape, axis: int) -> Shape:
    if not shapes:
        raise ShapeError("concat needs at least one input")
    ndim = len(shapes[0])
    (a,) = positive_axes((axis,), ndim)
    for s in shapes:
        if len(s) != ndim or any(d != e for i, (d, e) in enumerate(zip(s, shapes[0])) if i != a):
            raise ShapeError(f"concat along axis {axis}: shapes {', '.join(map(str, shapes))} differ off that axis")
    return tuple(sum(s[a] for s in shapes) if i == a else d for i, d in enumerate(shapes[0]))


def _concat_grad(g: Any, out: Any, *xs: Any, axis: int) -> list:
    return [concat_part(g, *xs, index=i, axis=axis) for i in range(len(xs))]


concat = register(
    "concat",
    lambda *xs, axis: np.concatenate(xs, axis=axis),
    shape=_concat_shape,
    dtype=lambda *d, **_: np.result_type(*d),
    grad=_concat_grad,
    arity="list",
    attrs={"axis": 0, "dim": None},
    normalize=_normalize_concat,
    aliases=(),
)
Concat = concatenate = concat


def _concat_part_impl(g: Any, *xs: Any, index: int, axis: int) -> np.ndarray:
    start = sum(np.shape(x)[axis] for x in xs[:index])
    size = np.shape(xs[index])[axis]
    key = [slice(None)] * np.ndim(g)
    key[axis] = slice(start, start + size)
    return g[tuple(key)]


concat_part = register(
    "concat_part",
    _concat_part_impl,
    shape=lambda g, *xs, index, axis: xs[index],
    dtype=lambda g, *d, **_: np.result_type(g),
    grad=lambda gg, out, g, *xs, index, axis: (
        [concat([gg if i == index else zeros_like_(x) for i, x in enumerate(xs)], axis=axis)] + [None] * len(xs)
    ),
    arity=None,
    attrs={"index": 0, "axis": 0},
    aliases=(0,),
)


def zeros_like_(x: Any) -> Any:
    from .elementwise import zeros_like

    return zeros_like(x)


def _stack_shape(*shapes: Shape, axis: int) -> Shape:
    if not shapes or any(s != shapes[0] for s in shapes):
        raise ShapeError(f"stack needs equal shapes, got {', '.join(map(str, shapes))}")
    (a,) = positive_axes((axis,), len(shapes[0]) + 1)
    return shapes[0][:a] + (len(shapes),) + shapes[0][a:]


stack = register(
    "stack",
    lambda *xs, axis: np.stack(xs, axis=axis),
    shape=_stack_shape,
    dtype=lambda *d, **_: np.result_type(*d),
    grad=lambda g, out, *xs, axis: [reshape_like(take(g, i, axis=axis), x) for i, x in enumerate(xs)],
    arity="list",
    attrs={"axis": 0},
    normalize=normalize_single_axis,
    aliases=(),
)


def _take_shape(x: Shape, index: int, axis: int) -> Shape:
    (a,) = positive_axes((axis,), len(x))
    if not -x[a] <= index < x[a]:
        raise ShapeError(f"index {index} is out of range for axis {axis} of size {x[a]}")
    return x[:a] + x[a + 1 :]


take = register(
    "take",
    lambda x, index, axis: np.take(x, index, axis=axis),
    shape=_take_shape,
    dtype=lambda x, **_: np.result_type(x),
    grad=lambda g, out, x, index, axis: [put_like(g, x, index=index, axis=axis)],
    arity=1,
    attrs={"index": 0, "axis": 0},
    aliases=(),
)


def _put_like_impl(g: Any, like: Any, index: int, axis: int) -> np.ndarray:
    out = np.zeros(np.shape(like), dtype=np.result_type(g))
    key = [slice(None)] * out.ndim
    key[axis] = index
    out[tuple(key)] = g
    return out


put_like = register(
    "put_like",
    _put_like_impl,
    shape=lambda g, like, index, axis: like,
    dtype=lambda g, like, **_: np.result_type(g),
    grad=lambda gg, out, g, like, index, axis: [take(gg, index, axis=axis), None],
    shape_of=1,
    arity=2,
    attrs={"index": 0, "axis": 0},
    aliases=(),
)


def _normalize_creation(attrs: dict) -> dict:
    shape = attrs["shape"]
    attrs["shape"] = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    attrs["dtype"] = np.dtype(attrs["dtype"] or "float32").name
    return attrs


zeros = register(
    "zeros",
    lambda shape, dtype: np.zeros(shape, dtype),
    shape=lambda shape, dtype: shape,
    dtype=lambda shape, dtype: np.dtype(dtype),
    grad=lambda g, out: [],
    sympy=lambda shape, dtype: sp.Integer(0),
    arity=0,
    attrs={"shape": (), "dtype": None},
    normalize=_normalize_creation,
)
ones = register(
    "ones",
    lambda shape, dtype: np.ones(shape, dtype),
    shape=lambda shape, dtype: shape,
    dtype=lambda shape, dtype: np.dtype(dtype),
    grad=lambda g, out: [],
    sympy=lambda shape, dtype: sp.Integer(1),
    arity=0,
    attrs={"shape": (), "dtype": None},
    normalize=_normalize_creation,
)
