"""MXNet's Pad (alias pad) and UpSampling: ops that resize the spatial axes of NCHW data.

Pad is NumPy's pad (constant, edge, reflect), its gradient `pad_grad` adds each padded entry's
gradient back onto the entry it copies. UpSampling 'nearest' repeats each pixel scale x scale
times (its gradient sums each block), 'bilinear' is MXNet's: a Deconvolution, one channel per
group, with the weight given (MXNet initializes it to the bilinear kernel).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ShapeError, SymgradError
from ..graph import Symbol
from . import reduction as red
from . import shape as shp
from .conv import Deconvolution, deconv_grad, deconv_impl, deconv_shape
from .layer_args import check_choice, check_number, check_positive_int, int_tuple, layer_node
from .registry import Shape, register

# ---- Pad ------------------------------------------------------------------------------------------

_PAD_MODES = ("constant", "edge", "reflect")


def _pad_attrs(attrs: dict) -> dict:
    attrs = dict(attrs)
    check_choice(attrs, "mode", _PAD_MODES)
    check_number(attrs, "constant_value")
    width = attrs["pad_width"] = int_tuple(attrs["pad_width"], "pad_width")
    if not width or len(width) % 2 or min(width) < 0:
        raise SymgradError(f"pad_width must be non-negative (before, after) pairs, one per axis, got {width}")
    return attrs


def _widths(ndim: int, pad_width: Shape) -> list[tuple[int, int]]:
    if len(pad_width) != 2 * ndim:
        raise ShapeError(f"pad_width {pad_width} must have 2 entries per axis of {ndim}-d data ({2 * ndim})")
    return [(pad_width[2 * a], pad_width[2 * a + 1]) for a in range(ndim)]


def _pad_shape(data: Shape, *, mode: str, pad_width: Shape, **_: Any) -> Shape:
    widths = _widths(len(data), pad_width)
    for n, (before, after) in zip(data, widths):
        if mode != "constant" and n == 0 and before + after:
            raise ShapeError(f"mode {mode!r} cannot pad an empty axis of data {data}")
    return tuple(n + before + after for n, (before, after) in zip(data, widths))


def _pad_impl(data: Any, *, mode: str, pad_width: Shape, constant_value: float) -> np.ndarray:
    data = np.asarray(data)
    widths = _widths(data.ndim, pad_width)
    if mode == "constant":
        return np.pad(data, widths, mode="constant", constant_values=constant_value)
    return np.pad(data, widths, mode=mode)


def _pad_grad_impl(g: Any, *, mode: str, pad_width: Shape, **_: Any) -> np.ndarray:
    """Each entry of g added onto the data entry Pad copied it from (dropped for a constant); an axis at a time,
    as NumPy pads: the positions come from padding the indices 0..n-1 the same way."""
    g = np.asarray(g)
    for axis, (before, after) in enumerate(_widths(g.ndim, pad_width)):
        if not before and not after:
            continue
        size = g.shape[axis] - before - after
        source = np.pad(
            np.arange(size), (before, after), mode=mode, **({"constant_values": -1} if mode == "constant" else {})
        )
        moved = np.moveaxis(g, axis, 0)
        summed = np.zeros((size, *moved.shape[1:]), dtype=g.dtype)
        kept = source >= 0
        np.add.at(summed, source[kept], moved[kept])  # adds, never multiplies: an inf stays where it was
        g = np.moveaxis(summed, 0, axis)
    return np.ascontiguousarray(g)


def _pad_grad_shape(g: Shape, *, pad_width: Shape, **_: Any) -> Shape:
    sizes = tuple(n - before - after for n, (before, after) in zip(g, _widths(len(g), pad_width)))
    if min(sizes, default=0) < 0:
        raise ShapeError(f"pad_width {pad_width} is wider than {g}")
    return sizes


_PAD_DEFAULTS = {"mode": "constant", "pad_width": (), "constant_value": 0.0}
Pad = register(
    "Pad",
    _pad_impl,
    shape=_pad_shape,
    dtype=lambda x, **_: np.result_type(x),
    grad=lambda g, out, x, **attrs: [pad_grad(g, **attrs)],
    arity=1,
    attrs=_PAD_DEFAULTS,
    normalize=_pad_attrs,
    elementwise=False,
    hint="pad",
)
pad_grad = register(
    "pad_grad",
    _pad_grad_impl,
    shape=_pad_grad_shape,
    dtype=lambda g, **_: np.result_type(g),
    grad=lambda h, out, g, **attrs: [layer_node("Pad", h, **{**attrs, "constant_value": 0.0})],  # pad_grad is linear
    arity=1,
    attrs=_PAD_DEFAULTS,
    elementwise=False,
)


# ---- UpSampling -------------------------------------------------------------------------------------


def _upsampling_attrs(attrs: dict) -> dict:
    attrs = dict(attrs)
    if attrs["scale"] is None or attrs["sample_type"] is None:
        raise SymgradError("scale and sample_type ('nearest' or 'bilinear') are required")
    check_positive_int(attrs, "scale")
    check_choice(attrs, "sample_type", ("nearest", "bilinear"))
    check_choice(attrs, "multi_input_mode", ("concat", "sum"))
    check_positive_int(attrs, "num_args")
    if attrs["num_args"] != 1:
        raise SymgradError(f"num_args={attrs['num_args']}: symgrad upsamples one input (concat or add the results)")
    if attrs["sample_type"] == "bilinear":
        check_positive_int(attrs, "num_filter")
    return attrs


def _bilinear_deconv(attrs: dict) -> dict:
    """MXNet's bilinear UpSampling as the Deconvolution it runs: one channel per group, kernel 2s - s % 2."""
    scale = attrs["scale"]
    kernel = 2 * scale - scale % 2
    geometry = {"kernel": (kernel, kernel), "stride": (scale, scale), "pad": (math.ceil((scale - 1) / 2),) * 2}
    return dict(
        Deconvolution.opdef.normalized(
            {
                **Deconvolution.opdef.attr_defaults,
                **geometry,
                "num_filter": attrs["num_filter"],
                "num_group": attrs["num_filter"],
            }
        )
    )


def _upsampling_shape(data: Shape, *weight: Shape, scale: int, sample_type: str, **attrs: Any) -> Shape:
    if len(data) != 4:
        raise ShapeError(f"data must be NCHW (4-d), got {len(data)}-d")
    if sample_type == "bilinear":
        return deconv_shape(data, *weight, **_bilinear_deconv({**attrs, "scale": scale}))
    return (*data[:2], data[2] * scale, data[3] * scale)


def _upsampling_impl(data: Any, *weight: Any, scale: int, sample_type: str, **attrs: Any) -> np.ndarray:
    data = np.asarray(data)
    if sample_type == "bilinear":
        return deconv_impl(data, *weight, **_bilinear_deconv({**attrs, "scale": scale}))
    n, c, h, w = data.shape
    blocks = np.broadcast_to(data[:, :, :, None, :, None], (n, c, h, scale, w, scale))
    return blocks.reshape(n, c, h * scale, w * scale)


def _upsampling_grad(g: Symbol, out: Symbol, data: Symbol, *weight: Symbol, **attrs: Any) -> list:
    if attrs["sample_type"] == "bilinear":
        return deconv_grad(g, out, data, *weight, **_bilinear_deconv(attrs))
    scale = attrs["scale"]  # each pixel's gradient: the sum of its scale x scale block of g
    blocks = shp.reshape(g, shape=(0, 0, -4, -1, scale, -4, -1, scale))
    return [red.sum(blocks, axis=(3, 5))]


_UPSAMPLING_DEFAULTS = {
    "scale": None,
    "num_filter": 0,
    "sample_type": None,
    "multi_input_mode": "concat",
    "num_args": 1,
    "workspace": 512,  # MXNet's memory hint for bilinear's deconvolution, accepted and unused
}
UpSampling = register(
    "UpSampling",
    _upsampling_impl,
    shape=_upsampling_shape,
    dtype=lambda *dtypes, **_: np.result_type(*dtypes),
    grad=_upsampling_grad,
    arity=None,
    attrs=_UPSAMPLING_DEFAULTS,
    normalize=_upsampling_attrs,
    elementwise=False,
    inputs=lambda attrs: ("data", "weight") if attrs["sample_type"] == "bilinear" else ("data",),
    param_shapes=lambda data, **attrs: {"weight": (data[1], 1, *_bilinear_deconv(attrs)["kernel"])},
    hint="upsampling",
)
