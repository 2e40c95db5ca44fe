"""Neural-network ops with numerically stable implementations: softmax, log_softmax."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..graph import Symbol
from . import elementwise as ew
from . import reduction as red
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


softmax = register(
    "softmax",
    _softmax_impl,
    shape=_axis_shape,
    dtype=lambda x, **_: float_dtype(x),
    grad=_softmax_grad,
    shape_of=0,
    arity=1,
    attrs={"axis": -1},
    elementwise=False,
    method=True,
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
    elementwise=False,
    method=True,
)
