"""Shape ops: reshape, expand_dims, squeeze, broadcast_to, concat, stack, flatten,
zeros and ones, and the shape-polymorphic helpers autodiff uses (`sum_like`,
`broadcast_like`, `reshape_like`), which take their target shape from a second input
so that gradient graphs work for whatever shapes are bound later.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import sympy as sp

from ..errors import ShapeError, SymgradError
from ..graph import CONST, Symbol
from .registry import broadcast_shapes, build, register

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
    tiling="spread",
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
    view=True,
    reshapes=True,
    relayout=True,
)


def _check_size(g: Shape, like: Shape) -> Shape:
    if math.prod(g) != math.prod(like):
        raise ShapeError(f"cannot reshape {g} to {like}")
    return like


# ---- user-facing shape ops ----------------------------------------------------


def _normalize_shape_attr(attrs: dict) -> dict:
    shape = attrs["shape"]
    if isinstance(shape, (str, bytes)) or not (_is_int(shape) or all(map(_is_int, shape))):
        raise SymgradError(f"shape must be a tuple of ints, got {shape!r}")
    return {**attrs, "shape": (int(shape),) if _is_int(shape) else tuple(int(d) for d in shape)}


def _normalize_reshape(attrs: dict) -> dict:
    if not isinstance(attrs["reverse"], (bool, np.bool_)):
        raise SymgradError(f"reverse must be True or False, got {attrs['reverse']!r}")
    return {**_normalize_shape_attr(attrs), "reverse": bool(attrs["reverse"])}


def mxnet_reshape(x: Shape, shape: Shape, reverse: bool = False) -> Shape:
    """The shape MXNet's reshape gives: 0 copies a dimension, -1 infers one, -2 copies the rest,
    -3 merges two, -4 splits one into the next two values; reverse=True reads both from the right."""
    src, spec = (x[::-1], shape[::-1]) if reverse else (x, shape)
    if reverse:  # -4's two sizes follow it, so they are swapped back when read from the right
        spec = _swap_split_sizes(spec)
    out: list[int] = []
    infer = -1
    i = j = 0  # position in spec, in src

    def take() -> int:
        nonlocal j
        if j >= len(src):
            raise ShapeError(f"cannot reshape {x} into {shape}: the special values use more dimensions than it has")
        j += 1
        return src[j - 1]

    while i < len(spec):
        d = spec[i]
        if d == 0:
            out.append(take())
        elif d == -1:
            if infer >= 0 or (i and spec[i - 1] == -2):
                why = "only one dimension can be -1" if infer >= 0 else "-1 cannot follow -2"
                raise ShapeError(f"cannot reshape {x} into {shape}: {why}")
            infer = len(out)
            out.append(1)
            j += 1
        elif d == -2:
            out.extend(src[j:])
            j = len(src)
        elif d == -3:
            out.append(take() * take())
        elif d == -4:
            if i + 2 >= len(spec):
                raise ShapeError(f"cannot reshape {x} into {shape}: -4 must be followed by two sizes")
            whole, a, b = take(), spec[i + 1], spec[i + 2]
            if a == -1 and b == -1:
                raise ShapeError(f"cannot reshape {x} into {shape}: -4's two sizes cannot both be -1")
            a = whole // b if a == -1 and b else a
            b = whole // a if b == -1 and a else b
            if a * b != whole or a < 0 or b < 0:
                raise ShapeError(f"cannot reshape {x} into {shape}: -4 cannot split {whole} into {a} and {b}")
            out += [a, b]
            i += 2
        elif d > 0:
            out.append(d)
            j += 1
        else:
            raise ShapeError(f"cannot reshape {x} into {shape}: {d} is not a size or a special value (0, -1 to -4)")
        i += 1
    size = math.prod(x)
    if infer >= 0:
        known = math.prod(out)
        if known == 0 or size % known:
            raise ShapeError(f"cannot reshape {x} (size {size}) into {shape}")
        out[infer] = size // known
    if math.prod(out) != size:
        raise ShapeError(f"cannot reshape {x} (size {size}) into {shape}")
    return tuple(out[::-1]) if reverse else tuple(out)


def _swap_split_sizes(spec: Shape) -> Shape:
    """A reversed spec with each -4's two sizes put after it again (they precede it once reversed)."""
    out = list(spec)
    for k in range(len(out) - 1, 1, -1):
        if out[k] == -4:
            out[k - 2], out[k - 1], out[k] = -4, out[k - 1], out[k - 2]
    return tuple(out)


def _numpy_reshape(node: Symbol) -> Any:
    """An ndarray's own reshape method to the resolved shape, minus np.reshape's dispatch (ndim >= 1)."""
    shape = node.shape
    return (lambda x: x.reshape(shape)) if node.inputs[0].shape and shape is not None else None


reshape = register(
    "reshape",
    lambda x, shape, reverse: np.reshape(x, mxnet_reshape(np.shape(x), shape, reverse)),
    shape=mxnet_reshape,
    dtype=lambda x, **_: np.result_type(x),
    grad=lambda g, out, x, shape, reverse: [reshape_like(g, x)],
    sympy=None,
    arity=1,
    attrs={"shape": (), "reverse": False},
    normalize=_normalize_reshape,
    numpy_kernel=_numpy_reshape,
    view=True,
    reshapes=True,
    relayout=True,
)


def reshape_to(x: Any, shape: Shape) -> Any:
    """reshape to a literal shape (a 0 there is a size: MXNet's reshape reads it as 'copy')."""
    if 0 in shape:
        return reshape_like(x, zeros(shape=shape))
    return reshape(x, shape=shape)


def shape_method(cls: type, call: Any) -> None:
    """x.reshape(2, 3) and x.reshape((2, 3)), with MXNet's special values and reverse=, on cls."""

    def method(self: Any, *shape: Any, **kwargs: Any) -> Any:
        if len(shape) == 1 and not _is_int(shape[0]):
            shape = shape[0]
        if shape:
            if "shape" in kwargs:
                raise SymgradError("reshape: give the shape positionally or as shape=, not both")
            kwargs["shape"] = shape
        return call(reshape.opdef, (self,), kwargs)

    method.__name__ = method.__qualname__ = "reshape"
    method.__doc__ = "x.reshape(2, 3) or x.reshape((2, 3)): MXNet's reshape (0, -1, -2, -3, -4, reverse=)."
    cls.reshape = method


shape_method(Symbol, build)


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
    view=True,
    reshapes=True,
    relayout=True,
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
    view=True,
    reshapes=True,
    relayout=True,
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
    view=True,
    tiling="spread",
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
    reshapes=True,
    relayout=True,
)


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
    grad=lambda g, out, *xs, axis: [reshape_like(take(g, np.array(i), axis=axis), x) for i, x in enumerate(xs)],
    arity="list",
    attrs={"axis": 0},
    normalize=normalize_single_axis,
    aliases=(),
)


def index_in_range(index: Any, size: int, mode: str) -> np.ndarray:
    """MXNet's index values (take, pick): float indices truncated, then clipped into range or wrapped."""
    idx = np.asarray(index).astype(np.int64)
    if not size and idx.size:
        raise ShapeError("the axis indexed has size 0: there is no element to take or pick")
    return np.clip(idx, 0, size - 1) if mode == "clip" else np.mod(idx, size)


def indexed_axis(ndim: int, axis: int) -> int:
    """The axis take and pick index, in range(ndim); a ShapeError for 0-d data (as MXNet: no axis to index)."""
    if not ndim:
        raise ShapeError(
            "data is 0-d, so it has no axis to index; give data of at least one dimension (x.reshape((1,)))"
        )
    (a,) = positive_axes((axis,), ndim)
    return a


def _take_positions(data: Any, indices: Any, axis: int, mode: str) -> tuple:
    a = indexed_axis(np.ndim(data), axis)
    return (slice(None),) * a + (index_in_range(indices, np.shape(data)[a], mode),)


def _take_shape(data: Shape, indices: Shape, axis: int, mode: str) -> Shape:
    a = indexed_axis(len(data), axis)
    return data[:a] + indices + data[a + 1 :]


def _normalize_take(attrs: dict) -> dict:
    if attrs["mode"] not in ("clip", "wrap"):
        raise SymgradError(f"mode must be 'clip' or 'wrap' (symgrad has no 'raise'), got {attrs['mode']!r}")
    return normalize_single_axis(attrs)


def _take_scatter_impl(g: Any, data: Any, indices: Any, axis: int, mode: str) -> np.ndarray:
    out = np.zeros(np.shape(data), dtype=np.result_type(g))
    np.add.at(out, _take_positions(data, indices, axis, mode), g)  # an entry taken twice gets both gradients
    return out


def shown_with_index_values(op: str, key: str, at: int) -> Any:
    """shown_as for an op whose input `at` is an index array: a constant one (up to 8 entries) is shown by
    its values as the keyword MXNet names it, take(x, indices=[1, 1]), not as a constant (ones((2,)))."""

    def shown(inputs: tuple, attrs: dict) -> tuple[str, tuple, dict] | None:
        index = inputs[at]
        value = index.attrs["value"] if index.op == CONST else None
        if not isinstance(value, np.ndarray) or not 0 < value.ndim or value.size > 8:
            return None
        return op, inputs[:at] + inputs[at + 1 :], {key: value.tolist(), **attrs}

    return shown


_TAKE_ATTRS = {"axis": 0, "mode": "clip"}
take = register(
    "take",
    lambda data, indices, axis, mode: data[_take_positions(data, indices, axis, mode)],
    shape=_take_shape,
    dtype=lambda data, indices, **_: np.result_type(data),
    grad=lambda g, out, data, indices, **attrs: [take_scatter(g, data, indices, **attrs), None],
    arity=2,
    attrs=_TAKE_ATTRS,
    normalize=_normalize_take,
    elementwise=False,
    method=True,
    aliases=(),  # an index array makes NumPy copy
    shown_as=shown_with_index_values("take", "indices", 1),
)
take_scatter = register(
    "take_scatter",
    _take_scatter_impl,
    shape=lambda g, data, indices, **_: data,
    dtype=lambda g, data, indices, **_: np.result_type(g),
    grad=lambda gg, out, g, data, indices, **attrs: [take(gg, indices, **attrs), None, None],
    shape_of=1,
    arity=3,
    attrs=_TAKE_ATTRS,
    normalize=_normalize_take,
    elementwise=False,
    aliases=(),
    dask=False,
    shown_as=shown_with_index_values("take_scatter", "indices", 2),
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
    constant=True,
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
    constant=True,
)


def _normalize_linspace(attrs: dict) -> dict:
    for key in ("start", "stop"):
        if isinstance(attrs[key], bool) or not isinstance(attrs[key], (int, float, np.number)):
            raise SymgradError(f"{key} must be a number (MXNet requires it), got {attrs[key]!r}")
    if not _is_int(attrs["num"]) or attrs["num"] < 0:
        raise SymgradError(f"num must be a non-negative int (MXNet requires it), got {attrs['num']!r}")
    attrs["endpoint"] = bool(attrs["endpoint"])
    attrs["dtype"] = np.dtype(attrs["dtype"] or "float32").name
    return attrs


linspace = register(
    "linspace",
    lambda start, stop, num, endpoint, dtype: np.linspace(start, stop, num, endpoint=endpoint).astype(dtype),
    shape=lambda start, stop, num, **_: (num,),
    dtype=lambda dtype, **_: np.dtype(dtype),
    grad=lambda g, out: [],
    arity=0,
    attrs={"start": None, "stop": None, "num": None, "endpoint": True, "dtype": "float32"},
    normalize=_normalize_linspace,
)
