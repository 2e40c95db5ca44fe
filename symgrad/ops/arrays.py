"""MXNet's array ops beside NumPy's: broadcast_axis (broadcast_axes), which repeats size-1 axes to
given sizes (its gradient sums them back, sum_like); eye and arange (float32 unless dtype=), and
shape_array and size_array (int64, no gradient).
"""

from __future__ import annotations

import numpy as np

from ..errors import ShapeError, SymgradError
from .registry import register
from .shape import _axes, _is_int, positive_axes, sum_like

Shape = tuple[int, ...]


def _normalize_broadcast_axis(attrs: dict) -> dict:
    axis, size = (_axes(attrs[key]) or () for key in ("axis", "size"))
    if len(axis) != len(size) or any(s < 1 for s in size):
        raise SymgradError(
            f"broadcast_axis: axis {attrs['axis']!r} and size {attrs['size']!r} must pair axes with positive sizes"
        )
    return {"axis": axis, "size": size}


def _broadcast_axis_shape(x: Shape, axis: tuple[int, ...], size: tuple[int, ...]) -> Shape:
    out = list(x)
    for a, n in zip(positive_axes(axis, len(x)), size):
        if x[a] != 1:
            raise ShapeError(f"axis {a} has size {x[a]}, not 1: broadcast_axis repeats size-1 axes only")
        out[a] = n
    return tuple(out)


broadcast_axis = register(
    "broadcast_axis",
    lambda x, axis, size: np.broadcast_to(x, _broadcast_axis_shape(np.shape(x), axis, size)),
    shape=_broadcast_axis_shape,
    dtype=lambda x, **_: np.result_type(x),
    grad=lambda g, out, x, axis, size: [sum_like(g, x)],
    arity=1,
    attrs={"axis": (), "size": ()},
    normalize=_normalize_broadcast_axis,
    elementwise=False,
    method=True,
    view=True,
)


# ---- MXNet's eye and arange (float32 unless dtype=; ctx= accepted, as everywhere), shape_array, size_array ----


def _normalize_eye(attrs: dict) -> dict:
    attrs.pop("ctx", None)
    for key in ("N", "M", "k"):
        if not _is_int(attrs[key]) or (key != "k" and attrs[key] < 0):
            raise SymgradError(
                f"eye: {key} must be {'an int' if key == 'k' else 'a non-negative int'}, got {attrs[key]!r}"
            )
        attrs[key] = int(attrs[key])
    attrs["dtype"] = np.dtype(attrs["dtype"] or "float32").name
    return attrs


eye = register(
    "eye",
    lambda N, M, k, dtype: np.eye(N, M or N, k, dtype=dtype),  # M=0 (MXNet's default): square
    shape=lambda N, M, k, dtype: (N, M or N),
    dtype=lambda dtype, **_: np.dtype(dtype),
    grad=lambda g, out: [],
    arity=0,
    attrs={"N": None, "M": 0, "k": 0, "ctx": None, "dtype": "float32"},
    normalize=_normalize_eye,
    constant=True,
)


def _normalize_arange(attrs: dict) -> dict:
    attrs.pop("ctx", None)
    attrs.pop("infer_range", None)
    for key in ("start", "stop", "step"):
        value = attrs[key]
        if (value is not None or key != "stop") and (
            isinstance(value, bool) or not isinstance(value, (int, float, np.number))
        ):
            raise SymgradError(f"arange: {key} must be a number, got {value!r}")
    if attrs["step"] == 0:
        raise SymgradError("arange: step cannot be 0")
    if not _is_int(attrs["repeat"]) or attrs["repeat"] < 1:
        raise SymgradError(f"arange: repeat must be a positive int, got {attrs['repeat']!r}")
    attrs["dtype"] = np.dtype(attrs["dtype"] or "float32").name
    return attrs


def _arange_impl(start: float, stop: float | None, step: float, repeat: int, dtype: str) -> np.ndarray:
    """MXNet's values: start + i*step in float64, then cast (np.arange in float32 accumulates otherwise)."""
    values = np.arange(start, stop, step, dtype=np.float64) if stop is not None else np.arange(start, dtype=np.float64)
    values = values.astype(dtype)
    return np.repeat(values, repeat) if repeat != 1 else values


arange = register(
    "arange",
    _arange_impl,
    shape=lambda **attrs: np.shape(_arange_impl(**attrs)),
    dtype=lambda dtype, **_: np.dtype(dtype),
    grad=lambda g, out: [],
    arity=0,
    attrs={"start": None, "stop": None, "step": 1.0, "repeat": 1, "infer_range": None, "ctx": None, "dtype": "float32"},
    normalize=_normalize_arange,
)
shape_array = register(
    "shape_array",
    lambda x: np.array(np.shape(x), dtype=np.int64),
    shape=lambda x: (len(x),),
    dtype=lambda x: np.dtype(np.int64),  # as MXNet's
    grad=lambda g, out, x: [None],
    arity=1,
    elementwise=False,
    nondiff=True,
    aliases=(),
)
size_array = register(
    "size_array",
    lambda x: np.array([np.size(x)], dtype=np.int64),
    shape=lambda x: (1,),
    dtype=lambda x: np.dtype(np.int64),
    grad=lambda g, out, x: [None],
    arity=1,
    elementwise=False,
    nondiff=True,
    aliases=(),
)
