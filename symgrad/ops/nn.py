"""Neural-network ops with numerically stable implementations: softmax, log_softmax."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ShapeError, SymgradError
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


def _temperature(args: tuple, kwargs: dict, construct: Any) -> tuple[tuple, dict]:
    """MXNet's softmax(x, temperature=t): softmax(x / t); None or 1 leaves x as it is."""
    t = kwargs.pop("temperature", None)
    if t is None or t == 1 or not args:
        return args, kwargs
    if isinstance(t, bool) or not isinstance(t, (int, float, np.number)) or not t > 0:
        raise SymgradError(f"temperature must be a positive number, got {t!r}")
    return (construct("divide", (args[0], float(t))), *args[1:]), kwargs


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
    unsugar=_temperature,
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
    unsugar=_temperature,
)


# ---- MXNet's SoftmaxActivation and L2Normalization: a softmax or an L2 norm over the axes a mode names ----

_MODE_AXES = {"instance": (-1,), "channel": (1,)}  # SoftmaxActivation: MXNet 1.9.1 takes instance over the last axis


def _normalize_mode(modes: tuple[str, ...]) -> Any:
    def normalize(attrs: dict) -> dict:
        if attrs["mode"] not in modes:
            raise SymgradError(f"mode must be one of {modes}, got {attrs['mode']!r}")
        if "eps" in attrs and (isinstance(attrs["eps"], bool) or not isinstance(attrs["eps"], (int, float))):
            raise SymgradError(f"eps must be a number, got {attrs['eps']!r}")
        return attrs

    return normalize


def _softmax_activation_axis(ndim: int, mode: str) -> int:
    if mode == "channel" and ndim < 3:
        raise ShapeError(f"mode='channel' needs data of 3 or more dimensions (batch, channel, ...), got {ndim}-d")
    return _MODE_AXES[mode][0]


def _softmax_activation_grad(g: Symbol, out: Symbol, x: Symbol, mode: str) -> list:
    return _softmax_grad(g, out, x, _MODE_AXES[mode][0])


SoftmaxActivation = register(
    "SoftmaxActivation",
    lambda x, mode: _softmax_impl(x, _softmax_activation_axis(np.ndim(x), mode)),
    shape=lambda x, mode: _axis_shape(x, _softmax_activation_axis(len(x), mode)),
    dtype=lambda x, **_: float_dtype(x),
    grad=_softmax_activation_grad,
    shape_of=0,
    arity=1,
    attrs={"mode": "instance"},
    normalize=_normalize_mode(("instance", "channel")),
    elementwise=False,
    aliases=(),
)


def _l2_axes(ndim: int, mode: str) -> tuple[int, ...]:
    """The axes each L2 norm runs over: all but the batch axis (instance), the channel axis, or the spatial axes."""
    if mode != "instance" and ndim < 3:
        raise ShapeError(f"mode={mode!r} needs data of 3 or more dimensions (batch, channel, ...), got {ndim}-d")
    return {"instance": tuple(range(1, ndim)), "channel": (1,), "spatial": tuple(range(2, ndim))}[mode]


def _l2_shape(x: tuple, eps: float, mode: str) -> tuple:
    _l2_axes(len(x), mode)  # a mode the rank has no axes for is an error
    return x


def _l2_impl(x: Any, eps: float, mode: str) -> np.ndarray:
    x = np.asarray(x)
    axes = _l2_axes(x.ndim, mode)
    return x / np.sqrt(np.sum(x * x, axis=axes, keepdims=True) + eps)


def _mode_sum_impl(x: Any, mode: str) -> np.ndarray:
    x = np.asarray(x)
    return np.array(np.broadcast_to(np.sum(x, axis=_l2_axes(x.ndim, mode), keepdims=True), x.shape))


# The sum over the axes an L2Normalization mode names, spread back over them: its own adjoint, so the
# gradient below needs no shapes (and its derivatives are this op again).
_mode_sum = register(
    "_mode_sum",
    _mode_sum_impl,
    shape=lambda x, mode: x,
    dtype=lambda x, **_: np.result_type(x),
    grad=lambda g, out, x, mode: [_mode_sum(g, mode=mode)],
    shape_of=0,
    arity=1,
    attrs={"mode": "instance"},
    elementwise=False,
    aliases=(),
)


def _l2_grad(g: Symbol, out: Symbol, x: Symbol, eps: float, mode: str) -> list:
    """y = x / n with n = sqrt(sum(x*x) + eps) over the mode's axes: dx = (g - y * sum(g*y)) / n."""
    norm = ew.sqrt(_mode_sum(x * x, mode=mode) + eps)
    return [(g - out * _mode_sum(g * out, mode=mode)) / norm]


L2Normalization = register(
    "L2Normalization",
    _l2_impl,
    shape=_l2_shape,
    dtype=lambda x, **_: float_dtype(x),
    grad=_l2_grad,
    shape_of=0,
    arity=1,
    attrs={"eps": 1e-10, "mode": "instance"},
    normalize=_normalize_mode(("instance", "channel", "spatial")),
    elementwise=False,
    aliases=(),
)
