"""MXNet's ops that rearrange or repeat elements: tile, repeat, flip (MXNet's reverse too), split
(SliceChannel too; several outputs), cumsum and diag, and its batched products batch_dot, linalg_gemm2 and
linalg_gemm. Their gradients sum the copies back (tile_sum, repeat_sum) or rearrange the adjoint the same way.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ShapeError, SymgradError
from ..graph import Symbol
from .registry import register, same_dtype
from .shape import _is_int, normalize_single_axis, positive_axes, reshape_like

Shape = tuple[int, ...]


# ---- tile: np.tile, and its gradient summing the tiles back -----------------------------------


def _normalize_reps(attrs: dict) -> dict:
    reps = (attrs["reps"],) if _is_int(attrs["reps"]) else attrs["reps"]
    if not isinstance(reps, (list, tuple)) or not reps or not all(_is_int(r) and r > 0 for r in reps):
        raise SymgradError(
            f"reps must be a non-empty tuple of positive ints (MXNet requires it), got {attrs['reps']!r}"
        )
    return {**attrs, "reps": tuple(int(r) for r in reps)}


def _tile_layout(x: Shape, reps: Shape) -> tuple[Shape, Shape]:
    """x's shape and reps at one length (MXNet and NumPy pad the shorter with leading 1s)."""
    n = max(len(x), len(reps))
    return (1,) * (n - len(x)) + tuple(x), (1,) * (n - len(reps)) + tuple(reps)


def _tile_shape(x: Shape, reps: Shape) -> Shape:
    shape, reps = _tile_layout(x, reps)
    return tuple(d * r for d, r in zip(shape, reps))


def _tile_sum_impl(g: Any, like: Any, reps: Shape) -> np.ndarray:
    """The gradient of tile: g as (r0, d0, r1, d1, ...) blocks, the r axes summed."""
    shape, reps = _tile_layout(np.shape(like), reps)
    blocks = np.reshape(g, [v for pair in zip(reps, shape) for v in pair])
    return np.sum(blocks, axis=tuple(range(0, 2 * len(shape), 2))).reshape(np.shape(like))


tile = register(
    "tile",
    lambda x, reps: np.tile(x, reps),
    shape=_tile_shape,
    dtype=lambda x, **_: np.result_type(x),
    grad=lambda g, out, x, reps: [tile_sum(g, x, reps=reps)],
    arity=1,
    attrs={"reps": None},
    normalize=_normalize_reps,
    aliases=(),
)
tile_sum = register(
    "tile_sum",
    _tile_sum_impl,
    shape=lambda g, like, reps: like,
    dtype=lambda g, like, **_: np.result_type(g),
    grad=lambda gg, out, g, like, reps: [tile(gg, reps=reps), None],
    shape_of=1,
    arity=2,
    attrs={"reps": None},
    normalize=_normalize_reps,
    aliases=(),
)


# ---- repeat: np.repeat with one count, MXNet's axis=None flattening ------------------------------


def _normalize_repeat(attrs: dict) -> dict:
    if not _is_int(attrs["repeats"]) or attrs["repeats"] < 0:
        raise SymgradError(f"repeats must be a non-negative int (MXNet requires it), got {attrs['repeats']!r}")
    axis = attrs["axis"]
    if axis is not None and not _is_int(axis):
        raise SymgradError(f"axis must be an int or None, got {axis!r}")
    return {**attrs, "repeats": int(attrs["repeats"]), "axis": None if axis is None else int(axis)}


def _repeat_shape(x: Shape, repeats: int, axis: int | None) -> Shape:
    if axis is None:
        return (math.prod(x) * repeats,)
    (a,) = positive_axes((axis,), len(x))
    return x[:a] + (x[a] * repeats,) + x[a + 1 :]


def _repeat_sum_impl(g: Any, like: Any, repeats: int, axis: int | None) -> np.ndarray:
    """The gradient of repeat: the `repeats` copies of each element summed."""
    shape = np.shape(like)
    if axis is None:
        return np.sum(np.reshape(g, (-1, repeats)), axis=1).reshape(shape)
    a = axis % len(shape)
    return np.sum(np.reshape(g, shape[: a + 1] + (repeats,) + shape[a + 1 :]), axis=a + 1)


_REPEAT_ATTRS = {"repeats": None, "axis": None}
repeat = register(
    "repeat",
    lambda x, repeats, axis: np.repeat(x, repeats, axis=axis),
    shape=_repeat_shape,
    dtype=lambda x, **_: np.result_type(x),
    grad=lambda g, out, x, **attrs: [repeat_sum(g, x, **attrs)],
    arity=1,
    attrs=_REPEAT_ATTRS,
    normalize=_normalize_repeat,
    aliases=(),
)
repeat_sum = register(
    "repeat_sum",
    _repeat_sum_impl,
    shape=lambda g, like, **_: like,
    dtype=lambda g, like, **_: np.result_type(g),
    grad=lambda gg, out, g, like, **attrs: [repeat(gg, **attrs), None],
    shape_of=1,
    arity=2,
    attrs=_REPEAT_ATTRS,
    normalize=_normalize_repeat,
    aliases=(),
)


# ---- flip (MXNet's reverse): its own gradient --------------------------------------------------


def _normalize_flip(attrs: dict) -> dict:
    axis = (attrs["axis"],) if _is_int(attrs["axis"]) else attrs["axis"]
    if not isinstance(axis, (list, tuple)) or not axis or not all(map(_is_int, axis)):
        raise SymgradError(f"axis must be an int or a non-empty tuple of ints (MXNet requires it), got {axis!r}")
    return {"axis": tuple(int(a) for a in axis)}


def _flip_shape(x: Shape, axis: tuple[int, ...]) -> Shape:
    positive_axes(axis, len(x))
    return x


flip = register(
    "flip",
    lambda x, axis: np.flip(x, axis),
    shape=_flip_shape,
    dtype=lambda x, **_: np.result_type(x),
    grad=lambda g, out, x, axis: [flip(g, axis=axis)],
    arity=1,
    attrs={"axis": None},
    normalize=_normalize_flip,
    aliases=(0,),  # a view with negative strides
    relayout=True,
)


# ---- split (MXNet's SliceChannel): one node per output, a group of them ------------------------


def _normalize_split(attrs: dict) -> dict:
    attrs = normalize_single_axis(attrs)
    n, output = attrs["num_outputs"], attrs["output"]
    if not _is_int(n) or n < 1:
        raise SymgradError(f"num_outputs must be a positive int (MXNet requires it), got {n!r}")
    if not _is_int(output) or not 0 <= output < n:
        raise SymgradError(f"output must be an int in [0, {n}), got {output!r}")
    return {**attrs, "num_outputs": int(n), "output": int(output), "squeeze_axis": bool(attrs["squeeze_axis"])}


def _split_shape(x: Shape, num_outputs: int, axis: int, squeeze_axis: bool, output: int) -> Shape:
    (a,) = positive_axes((axis,), len(x))
    if x[a] % num_outputs:
        raise ShapeError(f"num_outputs={num_outputs} does not divide axis {axis} (size {x[a]}) evenly")
    if squeeze_axis and x[a] != num_outputs:
        raise ShapeError(f"squeeze_axis=True needs axis {axis}'s size ({x[a]}) to equal num_outputs={num_outputs}")
    return x[:a] + (() if squeeze_axis else (x[a] // num_outputs,)) + x[a + 1 :]


def _split_index(ndim: int, num_outputs: int, axis: int, squeeze_axis: bool, output: int, size: int) -> tuple:
    """The NumPy index of output `output` (an int on the axis when squeezed)."""
    a = axis % ndim
    part = size // num_outputs
    item = output if squeeze_axis else slice(output * part, (output + 1) * part)
    return (slice(None),) * a + (item,)


def _split_impl(x: Any, **attrs: Any) -> Any:
    _split_shape(np.shape(x), **attrs)  # NumPy would slice an uneven split silently
    return x[_split_index(np.ndim(x), size=np.shape(x)[attrs["axis"]], **attrs)]


def _split_scatter_impl(g: Any, like: Any, **attrs: Any) -> np.ndarray:
    out = np.zeros(np.shape(like), dtype=np.result_type(g))
    out[_split_index(np.ndim(like), size=np.shape(like)[attrs["axis"]], **attrs)] = g
    return out


_SPLIT_ATTRS = {"num_outputs": None, "axis": 1, "squeeze_axis": False, "output": 0}
split = register(
    "split",
    _split_impl,
    shape=_split_shape,
    dtype=lambda x, **_: np.result_type(x),
    grad=lambda g, out, x, **attrs: [split_scatter(g, x, **attrs)],
    arity=1,
    attrs=_SPLIT_ATTRS,
    normalize=_normalize_split,
    aliases=(0,),
    outputs=lambda attrs: attrs["num_outputs"],
)
split_scatter = register(
    "split_scatter",
    _split_scatter_impl,
    shape=lambda g, like, **_: like,
    dtype=lambda g, like, **_: np.result_type(g),
    grad=lambda gg, out, g, like, **attrs: [split(gg, **attrs), None],
    shape_of=1,
    arity=2,
    attrs=_SPLIT_ATTRS,
    normalize=_normalize_split,
    aliases=(),
    dask=False,
)


# ---- batch_dot: matrix products over a batch axis, either side transposed ------------------------


def _normalize_batch_dot(attrs: dict) -> dict:
    for key in ("transpose_a", "transpose_b"):
        if attrs[key] not in (True, False, 0, 1):
            raise SymgradError(f"{key} must be True or False, got {attrs[key]!r}")
    return {key: bool(value) for key, value in attrs.items()}


def _batch_dot_shape(a: Shape, b: Shape, transpose_a: bool, transpose_b: bool) -> Shape:
    if len(a) < 3 or len(a) != len(b) or a[:-2] != b[:-2]:
        raise ShapeError(
            f"batch_dot needs two arrays of 3 or more dimensions with the same batch axes, got {a} and {b}"
        )
    m, k = a[-1:-3:-1] if transpose_a else a[-2:]
    k2, n = b[-1:-3:-1] if transpose_b else b[-2:]
    if k != k2:
        raise ShapeError(f"batch_dot: inner sizes differ ({k} vs {k2}) for {a} and {b}")
    return a[:-2] + (m, n)


def _batch_dot_impl(a: Any, b: Any, transpose_a: bool, transpose_b: bool) -> np.ndarray:
    return np.matmul(np.swapaxes(a, -1, -2) if transpose_a else a, np.swapaxes(b, -1, -2) if transpose_b else b)


def product_adjoints(product: Any, g: Symbol, a: Symbol, b: Symbol, transpose_a: bool, transpose_b: bool) -> list:
    """C = op(A) op(B) (batch_dot, linalg_gemm2): the adjoints are products of g with the other side,
    transposed to match, each built by `product(x, y, transpose_a, transpose_b)`."""
    ga = product(b, g, transpose_b, True) if transpose_a else product(g, b, False, not transpose_b)
    gb = product(g, a, True, transpose_a) if transpose_b else product(a, g, not transpose_a, False)
    return [ga, gb]


def _batch_dot_grad(g: Symbol, out: Symbol, a: Symbol, b: Symbol, transpose_a: bool, transpose_b: bool) -> list:
    def product(x: Symbol, y: Symbol, ta: bool, tb: bool) -> Symbol:
        return batch_dot(x, y, transpose_a=ta, transpose_b=tb)

    return product_adjoints(product, g, a, b, transpose_a, transpose_b)


batch_dot = register(
    "batch_dot",
    _batch_dot_impl,
    shape=_batch_dot_shape,
    dtype=same_dtype,
    grad=_batch_dot_grad,
    arity=2,
    attrs={"transpose_a": False, "transpose_b": False},
    normalize=_normalize_batch_dot,
    elementwise=False,
    aliases=(),
)


# ---- MXNet's linalg_gemm2 (alpha*op(A) op(B)) and linalg_gemm (+ beta*C), matrices in the last two axes ----


def _normalize_gemm(attrs: dict) -> dict:
    attrs = _normalize_batch_dot({k: attrs[k] for k in ("transpose_a", "transpose_b")}) | {
        k: v for k, v in attrs.items() if k not in ("transpose_a", "transpose_b")
    }
    for key in ("alpha", "beta"):
        if key in attrs and (isinstance(attrs[key], bool) or not isinstance(attrs[key], (int, float, np.number))):
            raise SymgradError(f"{key} must be a number, got {attrs[key]!r}")
    if not _is_int(attrs["axis"]) or attrs["axis"] not in (-2,):
        raise SymgradError(f"axis must be -2 (the matrices in the last two axes), got {attrs['axis']!r}")
    return {**attrs, "alpha": float(attrs["alpha"]), **({"beta": float(attrs["beta"])} if "beta" in attrs else {})}


def _gemm2_shape(a: Shape, b: Shape, transpose_a: bool, transpose_b: bool, alpha: float, axis: int) -> Shape:
    if len(a) < 2 or len(a) != len(b) or a[:-2] != b[:-2]:
        raise ShapeError(f"needs two arrays of 2 or more dimensions with the same leading axes, got {a} and {b}")
    m, k = a[-1:-3:-1] if transpose_a else a[-2:]
    k2, n = b[-1:-3:-1] if transpose_b else b[-2:]
    if k != k2:
        raise ShapeError(f"inner sizes differ ({k} vs {k2}) for {a} and {b}")
    return a[:-2] + (m, n)


def _gemm2_impl(a: Any, b: Any, transpose_a: bool, transpose_b: bool, alpha: float, axis: int) -> np.ndarray:
    return alpha * _batch_dot_impl(a, b, transpose_a, transpose_b)


def _gemm2_grad(g: Symbol, out: Symbol, a: Symbol, b: Symbol, alpha: float, **flags: Any) -> list:
    def product(x: Symbol, y: Symbol, ta: bool, tb: bool) -> Symbol:
        return linalg_gemm2(x, y, transpose_a=ta, transpose_b=tb, alpha=alpha)

    return product_adjoints(product, g, a, b, flags["transpose_a"], flags["transpose_b"])


_GEMM2_ATTRS = {"transpose_a": False, "transpose_b": False, "alpha": 1.0, "axis": -2}
linalg_gemm2 = register(
    "linalg_gemm2",
    _gemm2_impl,
    shape=_gemm2_shape,
    dtype=same_dtype,
    grad=_gemm2_grad,
    arity=2,
    attrs=_GEMM2_ATTRS,
    normalize=_normalize_gemm,
    elementwise=False,
    aliases=(),
)


def _gemm_shape(a: Shape, b: Shape, c: Shape, beta: float, **attrs: Any) -> Shape:
    out = _gemm2_shape(a, b, **attrs)
    if c != out:
        raise ShapeError(f"C has shape {c}, not the product's {out} (MXNet does not broadcast it)")
    return out


def _gemm_grad(g: Symbol, out: Symbol, a: Symbol, b: Symbol, c: Symbol, beta: float, **attrs: Any) -> list:
    return [*_gemm2_grad(g, out, a, b, **attrs), g * beta]


linalg_gemm = register(
    "linalg_gemm",
    lambda a, b, c, beta, **attrs: _gemm2_impl(a, b, **attrs) + beta * np.asarray(c),
    shape=_gemm_shape,
    dtype=same_dtype,
    grad=_gemm_grad,
    arity=3,
    attrs={"transpose_a": False, "transpose_b": False, "alpha": 1.0, "beta": 1.0, "axis": -2},  # MXNet's order
    normalize=_normalize_gemm,
    elementwise=False,
    aliases=(),
)


# ---- cumsum (MXNet's: axis=None flattens; the input's dtype unless dtype=) and diag ---------------------


def _normalize_cumsum(attrs: dict) -> dict:
    if attrs["axis"] is not None and not _is_int(attrs["axis"]):
        raise SymgradError(f"axis must be an int or None, got {attrs['axis']!r}")
    dtype = attrs["dtype"]
    return {
        "axis": None if attrs["axis"] is None else int(attrs["axis"]),
        "dtype": None if dtype is None else np.dtype(dtype).name,
    }


def _cumsum_shape(x: Shape, axis: int | None, dtype: str | None) -> Shape:
    if axis is None:
        return (math.prod(x),)
    positive_axes((axis,), len(x))
    return x


def _cumsum_grad(g: Symbol, out: Symbol, x: Symbol, axis: int | None, dtype: str | None) -> list:
    """Each entry feeds every later sum: the adjoint summed from the end (a cumsum of the flipped g)."""
    along = 0 if axis is None else axis
    back = flip(cumsum(flip(g, axis=along), axis=along), axis=along)
    return [reshape_like(back, x) if axis is None else back]


cumsum = register(
    "cumsum",
    lambda x, axis, dtype: np.cumsum(x, axis=axis, dtype=dtype or np.result_type(x)),
    shape=_cumsum_shape,
    dtype=lambda x, axis, dtype: np.dtype(dtype) if dtype else np.result_type(x),
    grad=_cumsum_grad,
    arity=1,
    attrs={"axis": None, "dtype": None},
    normalize=_normalize_cumsum,
    elementwise=False,
    method=True,
    aliases=(),
)


def _normalize_diag(attrs: dict) -> dict:
    for key in ("k", "axis1", "axis2"):
        if not _is_int(attrs[key]):
            raise SymgradError(f"{key} must be an int, got {attrs[key]!r}")
    return {key: int(value) for key, value in attrs.items()}


def _diag_shape(x: Shape, k: int, axis1: int, axis2: int) -> Shape:
    if len(x) == 1:
        return (x[0] + abs(k),) * 2
    if not x:
        raise ShapeError("diag needs an array of at least 1 dimension")
    i, j = positive_axes((axis1, axis2), len(x))
    rest = tuple(d for a, d in enumerate(x) if a not in (i, j))
    return rest + (max(0, min(x[i], x[j] - k) if k >= 0 else min(x[i] + k, x[j])),)


def _diag_impl(x: Any, k: int, axis1: int, axis2: int) -> np.ndarray:
    """MXNet's diag: a vector becomes the matrix with it on diagonal k; otherwise diagonal k of axes axis1, axis2."""
    x = np.asarray(x)
    return np.diag(x, k) if x.ndim == 1 else np.diagonal(x, k, axis1, axis2).copy()


def _diag_adjoint_impl(g: Any, x: Any, k: int, axis1: int, axis2: int) -> np.ndarray:
    """diag's gradient: g's diagonal k when x was a vector, else g put on diagonal k of zeros of x's shape."""
    if np.ndim(x) == 1:
        return np.diagonal(g, k).copy()
    out = np.zeros(np.shape(x), dtype=np.result_type(g))
    view = np.moveaxis(out, (axis1, axis2), (-2, -1))  # a view: writing it writes out
    n = np.shape(g)[-1]
    rows, cols = np.arange(n) + max(-k, 0), np.arange(n) + max(k, 0)
    view[..., rows, cols] = g
    return out


_DIAG_ATTRS = {"k": 0, "axis1": 0, "axis2": 1}
diag = register(
    "diag",
    _diag_impl,
    shape=_diag_shape,
    dtype=lambda x, **_: np.result_type(x),
    grad=lambda g, out, x, **attrs: [diag_adjoint(g, x, **attrs)],
    arity=1,
    attrs=_DIAG_ATTRS,
    normalize=_normalize_diag,
    elementwise=False,
    aliases=(),
)
diag_adjoint = register(
    "diag_adjoint",
    _diag_adjoint_impl,
    shape=lambda g, x, **_: x,
    dtype=lambda g, x, **_: np.result_type(g),
    grad=lambda gg, out, g, x, **attrs: [diag(gg, **attrs), None],  # diag is linear: its adjoint's adjoint
    shape_of=1,
    arity=2,
    attrs=_DIAG_ATTRS,
    normalize=_normalize_diag,
    elementwise=False,
    aliases=(),
    dask=False,
)
