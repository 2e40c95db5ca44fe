"""MXNet's slice (begin, end and step per axis, None for the default; Python's clipping, as MXNet's)
and slice_like (x cut to another array's shape on some or all axes). slice's gradient is getitem's,
scatter_like; slice_like's puts the adjoint in the leading corner of zeros (corner_scatter).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ShapeError, SymgradError
from .indexing import _getitem_shape, decode_index, scatter_like
from .registry import register
from .shape import _axes as _axes_attr
from .shape import _is_int, positive_axes

Shape = tuple[int, ...]


def _normalize_slice(attrs: dict) -> dict:
    """begin, end and step as tuples of ints or None; step () means 1 on every sliced axis."""
    out = {}
    for key in ("begin", "end", "step"):
        value = attrs[key]
        value = (value,) if value is None or _is_int(value) else value
        if not isinstance(value, (list, tuple)) or not all(v is None or _is_int(v) for v in value):
            raise SymgradError(f"slice: {key} must be a tuple of ints or None, got {attrs[key]!r}")
        out[key] = tuple(None if v is None else int(v) for v in value)
    if len(out["begin"]) != len(out["end"]) or len(out["step"]) not in (0, len(out["begin"])):
        raise SymgradError(
            f"slice: begin {out['begin']}, end {out['end']} and step {out['step']} must have one entry per sliced axis"
        )
    if 0 in out["step"]:
        raise SymgradError(f"slice: a step cannot be 0, got step={out['step']}")
    return out


def _shown_slice(attrs: dict) -> str:
    return ", ".join(f"{key}={value}" for key, value in attrs.items())


def _slice_key(begin: tuple, end: tuple, step: tuple) -> tuple:
    """encode_index's data of x[begin[0]:end[0]:step[0], ...] (Python's clipping, as MXNet's slice)."""
    return tuple(("slice", b, e, s) for b, e, s in zip(begin, end, step or (None,) * len(begin)))


def _slice_shape(x: Shape, **attrs: Any) -> Shape:
    return _getitem_shape(x, decode_index(_slice_key(**attrs)), _shown_slice(attrs))


def _slice_impl(x: Any, **attrs: Any) -> Any:
    _slice_shape(np.shape(x), **attrs)  # the error names begin, end and step, not NumPy's index
    return np.asarray(x)[decode_index(_slice_key(**attrs))]


slice_op = register(  # sym.slice and nd.slice (a module-level `slice` would hide Python's here)
    "slice",
    _slice_impl,
    shape=_slice_shape,
    dtype=lambda x, **_: np.result_type(x),
    grad=lambda g, out, x, **attrs: [scatter_like(g, x, index=_slice_key(**attrs))],
    arity=1,
    attrs={"begin": (), "end": (), "step": ()},
    normalize=_normalize_slice,
    method=True,
    aliases=(0,),
)


def _slice_like_axes(ndim: int, axes: tuple[int, ...] | None) -> tuple[int, ...]:
    return tuple(range(ndim)) if not axes else positive_axes(axes, ndim)


def _slice_like_shape(x: Shape, like: Shape, axes: tuple[int, ...] | None) -> Shape:
    chosen = _slice_like_axes(len(x), axes)
    if not axes and len(like) != len(x):
        raise ShapeError(f"slice_like without axes needs shape_like of x's rank, got {x} and {like}")
    out = list(x)
    for a in chosen:
        if a >= len(like) or like[a] > x[a]:
            raise ShapeError(f"axis {a} of shape_like {like} is missing or larger than x's {x}")
        out[a] = like[a]
    return tuple(out)


def _slice_like_impl(x: Any, like: Any, axes: tuple[int, ...] | None) -> Any:
    target = _slice_like_shape(np.shape(x), np.shape(like), axes)
    return np.asarray(x)[tuple(np.s_[:d] for d in target)]


def _corner_scatter_impl(g: Any, like: Any) -> np.ndarray:
    """slice_like's gradient: g in the leading corner of zeros of like's shape."""
    out = np.zeros(np.shape(like), dtype=np.result_type(g))
    out[tuple(np.s_[:d] for d in np.shape(g))] = g
    return out


slice_like = register(
    "slice_like",
    _slice_like_impl,
    shape=_slice_like_shape,
    dtype=lambda x, like, **_: np.result_type(x),
    grad=lambda g, out, x, like, axes: [corner_scatter(g, x), None],
    arity=2,
    attrs={"axes": None},
    normalize=lambda attrs: {"axes": _axes_attr(attrs["axes"])},
    elementwise=False,
    aliases=(0,),
)
corner_scatter = register(
    "corner_scatter",
    _corner_scatter_impl,
    shape=lambda g, like: like,
    dtype=lambda g, like: np.result_type(g),
    grad=lambda gg, out, g, like: [slice_like(gg, g), None],
    shape_of=1,
    arity=2,
    elementwise=False,
    aliases=(),
    dask=False,
)
