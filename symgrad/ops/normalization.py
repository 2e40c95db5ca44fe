"""MXNet's LayerNorm, InstanceNorm (x standardized over some axes, scaled by gamma, shifted by beta) and LRN.

LayerNorm standardizes along one axis (the last by default) with gamma and beta along it;
InstanceNorm standardizes each (sample, channel) over its spatial axes, gamma and beta per channel.
Both have gradients written with public ops and needing no shapes: LayerNorm's axis is taken
from the right, InstanceNorm's spatial axes are merged into one by reshape(0, 0, -1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ShapeError, SymgradError
from ..graph import Symbol
from . import elementwise as ew
from . import reduction as red
from . import shape as shp
from .layer_args import check_flag, check_number, known_rank
from .layers import standardized_grad
from .registry import Shape, float_dtype, register


def _standardized(x: np.ndarray, axes: Any, eps: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x - mean) / std over axes, the mean and std = sqrt(var + eps), these two keeping their axes."""
    mean = x.mean(axis=axes, keepdims=True)
    centred = x - mean
    std = np.sqrt(np.mean(centred * centred, axis=axes, keepdims=True) + eps)
    return centred / std, mean, std


def _along(v: Any, axis: int, ndim: int) -> np.ndarray:
    """A vector shaped to broadcast along axis of an ndim-d array."""
    shape = [1] * ndim
    shape[axis] = -1
    return np.reshape(v, shape)


def _check_params(data: Shape, params: tuple[Shape, ...], expected: Shape, where: str) -> None:
    for key, shape in zip(("gamma", "beta"), params):
        if shape != expected:
            raise ShapeError(f"{key} has shape {shape}, expected {expected} ({where} of data {data})")


# ---- LayerNorm ----------------------------------------------------------------------------------


def _layernorm_attrs(attrs: dict) -> dict:
    attrs = dict(attrs)
    check_number(attrs, "eps")
    check_flag(attrs, "output_mean_var")
    for key in ("axis", "output"):
        if isinstance(attrs[key], bool) or not isinstance(attrs[key], (int, np.integer)):
            raise SymgradError(f"{key} must be an int, got {attrs[key]!r}")
        attrs[key] = int(attrs[key])
    if attrs["output"] not in ((0, 1, 2) if attrs["output_mean_var"] else (0,)):
        raise SymgradError(f"output {attrs['output']} does not exist (output_mean_var={attrs['output_mean_var']})")
    return attrs


def _layernorm_params(data: Shape, axis: int, **_: Any) -> dict[str, Shape]:
    if not -len(data) <= axis < len(data):
        raise ShapeError(f"axis {axis} is out of range for {len(data)}-d data")
    return dict.fromkeys(("gamma", "beta"), (data[axis],))


def _layernorm_shape(data: Shape, *params: Shape, axis: int, output: int, **_: Any) -> Shape:
    _check_params(data, params, _layernorm_params(data, axis)["gamma"], f"axis {axis}")
    if output == 0:
        return data
    return tuple(1 if a == axis % len(data) else n for a, n in enumerate(data))  # the mean and std keep the axis


def _layernorm_impl(data: Any, gamma: Any, beta: Any, *, axis: int, eps: float, output: int, **_: Any) -> np.ndarray:
    data = np.asarray(data)
    dtype = float_dtype(data.dtype)
    xhat, mean, std = _standardized(data.astype(dtype, copy=False), axis, eps)
    if output:
        return (mean, std)[output - 1]
    return xhat * _along(gamma, axis, data.ndim) + _along(beta, axis, data.ndim)


def _layernorm_grad(g: Symbol, out: Symbol, data: Symbol, gamma: Symbol, beta: Symbol, **attrs: Any) -> list:
    axis = attrs["axis"]
    if axis >= 0:  # counted from the right, the axis needs no rank: gamma broadcasts with trailing 1s
        rank = known_rank(data)
        if rank is None:
            raise SymgradError(f"LayerNorm: the gradient for axis={axis} needs the data's rank; declare its shape")
        axis -= rank
    trailing = tuple(range(axis + 1, 0))

    def column(v: Symbol) -> Symbol:
        return shp.expand_dims(v, axis=trailing) if trailing else v

    if attrs["output"] == 0:
        dx, xhat = standardized_grad(g * column(gamma), data, axis, attrs["eps"])
        return [
            dx,
            shp.reshape_like(shp.sum_like(g * xhat, column(gamma)), gamma),
            shp.reshape_like(shp.sum_like(g, column(beta)), beta),
        ]
    # the mean's gradient is g / n on every entry, the std's g * xhat / n (std = sqrt(var + eps))
    ones = ew.ones_like(data)
    share = g / red.sum(ones, axis=axis, keepdims=True)
    if attrs["output"] == 1:
        return [ones * share, None, None]
    centred = data - red.mean(data, axis=axis, keepdims=True)
    return [
        centred * (share / ew.sqrt(red.mean(centred * centred, axis=axis, keepdims=True) + attrs["eps"])),
        None,
        None,
    ]


LayerNorm = register(
    "LayerNorm",
    _layernorm_impl,
    shape=_layernorm_shape,
    dtype=lambda data, *_, **__: float_dtype(data),
    grad=_layernorm_grad,
    arity=3,
    attrs={"axis": -1, "eps": 1e-5, "output_mean_var": False, "output": 0},
    normalize=_layernorm_attrs,
    elementwise=False,
    inputs=lambda attrs: ("data", "gamma", "beta"),
    param_shapes=_layernorm_params,
    outputs=lambda attrs: 3 if attrs["output_mean_var"] else 1,
    hint="layernorm",
)


# ---- InstanceNorm -------------------------------------------------------------------------------


def _instancenorm_params(data: Shape, **_: Any) -> dict[str, Shape]:
    if len(data) < 3:
        raise ShapeError(f"data must have a batch, a channel and spatial axes (3-d or more), got {len(data)}-d")
    return dict.fromkeys(("gamma", "beta"), (data[1],))


def _instancenorm_shape(data: Shape, *params: Shape, **_: Any) -> Shape:
    _check_params(data, params, _instancenorm_params(data)["gamma"], "channel axis 1")
    return data


def _instancenorm_impl(data: Any, gamma: Any, beta: Any, *, eps: float) -> np.ndarray:
    data = np.asarray(data)
    flat = data.reshape(*data.shape[:2], -1).astype(float_dtype(data.dtype), copy=False)
    xhat = _standardized(flat, -1, eps)[0]
    return (xhat * _along(gamma, 1, 3) + _along(beta, 1, 3)).reshape(data.shape)


def _instancenorm_grad(g: Symbol, out: Symbol, data: Symbol, gamma: Symbol, beta: Symbol, eps: float) -> list:
    # each (sample, channel) is LayerNorm's case over its spatial entries, merged into one last axis
    flat, g_flat = shp.reshape(data, shape=(0, 0, -1)), shp.reshape(g, shape=(0, 0, -1))
    dx, xhat = standardized_grad(g_flat * shp.expand_dims(gamma, axis=-1), flat, -1, eps)
    return [shp.reshape_like(dx, data), red.sum(g_flat * xhat, axis=(0, 2)), red.sum(g_flat, axis=(0, 2))]


def _instancenorm_attrs(attrs: dict) -> dict:
    attrs = dict(attrs)
    check_number(attrs, "eps")
    return attrs


InstanceNorm = register(
    "InstanceNorm",
    _instancenorm_impl,
    shape=_instancenorm_shape,
    dtype=lambda data, *_, **__: float_dtype(data),
    grad=_instancenorm_grad,
    arity=3,
    attrs={"eps": 1e-3},
    normalize=_instancenorm_attrs,
    elementwise=False,
    inputs=lambda attrs: ("data", "gamma", "beta"),
    param_shapes=_instancenorm_params,
    hint="instancenorm",
)


# ---- LRN ----------------------------------------------------------------------------------------
# out = x / (knorm + alpha/nsize * s)**beta, s the sum of x**2 over the nsize channels centred on each one
# (fewer at the edges). That window sum is linear and symmetric, so it is its own transpose.


def _window_sum_impl(v: Any, *, nsize: int) -> np.ndarray:
    """Each channel's sum of v over channels c - nsize//2 .. c + nsize//2 (axis 1, clipped at the ends)."""
    v = np.asarray(v)
    half, channels = nsize // 2, v.shape[1]
    total = np.cumsum(np.pad(v, [(0, 0), (1, 0)] + [(0, 0)] * (v.ndim - 2)), axis=1)  # total[:, c]: v[:, :c] summed
    ends = np.minimum(np.arange(channels) + half + 1, channels)
    starts = np.maximum(np.arange(channels) - half, 0)
    return total[:, ends] - total[:, starts]


_channel_window_sum = register(
    "_channel_window_sum",
    _window_sum_impl,
    shape=lambda v, **_: v,
    dtype=lambda v, **_: np.result_type(v),
    grad=lambda g, out, v, nsize: [_channel_window_sum(g, nsize=nsize)],
    arity=1,
    attrs={"nsize": 1},
    elementwise=False,
    shape_of=0,
)


def _lrn_attrs(attrs: dict) -> dict:
    attrs = dict(attrs)
    check_number(attrs, "alpha", "beta", "knorm")
    if attrs["nsize"] is None:
        raise SymgradError("nsize is required (the odd number of channels each window sums)")
    if isinstance(attrs["nsize"], bool) or not isinstance(attrs["nsize"], (int, np.integer)) or attrs["nsize"] % 2 != 1:
        raise SymgradError(f"nsize must be a positive odd int, got {attrs['nsize']!r}")
    attrs["nsize"] = int(attrs["nsize"])
    return attrs


def _lrn_impl(data: Any, *, alpha: float, beta: float, knorm: float, nsize: int) -> np.ndarray:
    data = np.asarray(data)
    return data / (knorm + alpha / nsize * _window_sum_impl(data * data, nsize=nsize)) ** beta


def _lrn_grad(g: Symbol, out: Symbol, x: Symbol, *, alpha: float, beta: float, knorm: float, nsize: int) -> list:
    # d/dx of x * s**-beta, s = knorm + alpha/nsize * W(x**2), W symmetric:
    # g * s**-beta - 2 * alpha * beta / nsize * x * W(g * x * s**(-beta - 1))
    scale = knorm + alpha / nsize * _channel_window_sum(x * x, nsize=nsize)
    spread = _channel_window_sum(g * x * scale ** (-beta - 1), nsize=nsize)
    return [g * scale**-beta - (2 * alpha * beta / nsize) * x * spread]


def _lrn_shape(data: Shape, **_: Any) -> Shape:
    if len(data) < 2:
        raise ShapeError(f"data must have a batch and a channel axis (2-d or more), got {len(data)}-d")
    return data


LRN = register(
    "LRN",
    _lrn_impl,
    shape=_lrn_shape,
    dtype=lambda data, **_: float_dtype(data),
    grad=_lrn_grad,
    arity=1,
    attrs={"alpha": 1e-4, "beta": 0.75, "knorm": 2.0, "nsize": None},
    normalize=_lrn_attrs,
    elementwise=False,
    shape_of=0,
    hint="lrn",
)
