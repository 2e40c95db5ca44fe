"""Neural-network ops with numerically stable implementations: softmax, log_softmax."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..graph import Symbol
from . import elementwise as ew
from . import reduction as red
from . import shape as shp
from .registry import float_dtype, register


def _softmax_impl(x: Any, axis: int = -1) -> np.ndarray:
    x = np.asarray(x)
    peak = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - np.where(np.isfinite(peak), peak, 0))
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax_impl(x: Any, axis: int = -1) -> np.ndarray:
    x = np.asarray(x)
    peak = np.max(x, axis=axis, keepdims=True)
    shifted = x - np.where(np.isfinite(peak), peak, 0)
    with np.errstate(divide="ignore"):
        return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _softmax_grad(g: Symbol, out: Symbol, x: Symbol, axis: int) -> list:
    return [out * (g - red.sum(g * out, axis=axis, keepdims=True))]


def _log_softmax_grad(g: Symbol, out: Symbol, x: Symbol, axis: int) -> list:
    return [g - ew.exp(out) * red.sum(g, axis=axis, keepdims=True)]


def _axis_shape(x: tuple, axis: int) -> tuple:
    from .shape import positive_axes

    positive_axes((axis,), len(x))
    return x


def _numpy_log_softmax(node: Symbol) -> Any:
    """log_softmax of a float array: the impl's ufuncs, without its guards when every row's max is finite."""
    x = node.inputs[0]
    if not x.shape or x.dtype is None or x.dtype.kind != "f":
        return None
    axis = node.attrs["axis"]

    def kernel(x: np.ndarray) -> np.ndarray:
        peak = np.maximum.reduce(x, axis=axis, keepdims=True)
        if not math.isfinite(np.add.reduce(peak, axis=None)):  # an Inf or NaN max (or a huge sum): guarded
            return _log_softmax_impl(x, axis)
        shifted = np.subtract(x, peak)  # its row max is 0, so each row's sum below is at least 1
        total = np.add.reduce(np.exp(shifted), axis=axis, keepdims=True)
        return np.subtract(shifted, np.log(total, out=total), out=shifted)

    return kernel


softmax = register(
    "softmax",
    _softmax_impl,
    shape=_axis_shape,
    dtype=lambda x, **_: float_dtype(x),
    grad=_softmax_grad,
    shape_of=0,
    arity=1,
    attrs={"axis": -1},
    normalize=shp.normalize_single_axis,
    elementwise=False,
    method=True,
    aliases=(),
)
log_softmax = register(
    "log_softmax",
    _log_softmax_impl,
    shape=_axis_shape,
    dtype=lambda x, **_: float_dtype(x),
    grad=_log_softmax_grad,
    shape_of=0,
    arity=1,
    attrs={"axis": -1},
    normalize=shp.normalize_single_axis,
    elementwise=False,
    method=True,
    numpy_kernel=_numpy_log_softmax,
    aliases=(),
)
