"""MXNet's Convolution and Pooling (1-, 2- and 3-D, NCW/NCHW/NCDHW), with their adjoint ops.

They run on windows from `sliding_window_view` with one `matmul` per call (im2col); adding
window entries back onto the input (col2im) is one strided add per kernel offset, each over
every window at once. Their gradients are ops of their own (`conv_transpose`,
`conv_weight_grad`, `pool_grad`, `pool_pick`), each with a gradient rule, so second
derivatives work.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ShapeError, SymgradError
from ..graph import Symbol
from . import reduction as red
from .layer_args import (
    check_choice,
    check_flag,
    check_positive_int,
    data_weight_bias,
    int_tuple,
    layer_node,
)
from .registry import Shape, register

# ---- windows: im2col by sliding_window_view, col2im by strided adds -----------------------------


def _windows(x: np.ndarray, kernel: Shape, stride: Shape, dilate: Shape, pad: Shape, end: Shape, fill: Any) -> Any:
    """(N, C, *out, *kernel) view of x's windows, x padded by pad on both sides and end more at the end."""
    nd = len(kernel)
    if any(pad) or any(end):
        widths = [(0, 0), (0, 0)] + [(p, p + e) for p, e in zip(pad, end)]
        x = np.pad(x, widths, constant_values=fill)
    extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilate))
    view = sliding_window_view(x, extent, axis=tuple(range(2, 2 + nd)))
    return view[
        (slice(None), slice(None), *(slice(None, None, s) for s in stride), *(slice(None, None, d) for d in dilate))
    ]


def _col2im(cols: np.ndarray, xshape: Shape, kernel: Shape, stride: Shape, dilate: Shape, pad: Shape, end: Shape):
    """The adjoint of _windows: each window entry of cols (N, C, *out, *kernel) added onto x's position.

    One strided add per kernel offset (25 for a 5x5 kernel), each over every window at once; batch
    and channels go last first, so each add runs over long contiguous rows."""
    nd = len(kernel)
    spatial = tuple(xshape[2:])
    padded = tuple(x + 2 * p + e for x, p, e in zip(spatial, pad, end))
    out = cols.shape[2 : 2 + nd]
    last = np.ascontiguousarray(np.moveaxis(cols, (0, 1), (-2, -1)))  # (*out, *kernel, N, C)
    grid = np.zeros((*padded, *xshape[:2]), dtype=cols.dtype)
    for offset in np.ndindex(*kernel):
        target = tuple(slice(k * d, k * d + s * (o - 1) + 1, s) for k, d, s, o in zip(offset, dilate, stride, out))
        grid[target] += last[(slice(None),) * nd + offset]
    inside = grid[tuple(slice(p, p + x) for p, x in zip(pad, spatial))]
    return np.ascontiguousarray(np.moveaxis(inside, (-2, -1), (0, 1)))


def _group_cols(win: Any, groups: int) -> np.ndarray:
    """Windows (N, C, *out, *kernel) as (groups, N*out, C/groups*kernel): the im2col matrix per group."""
    n, c = win.shape[:2]
    nd = (win.ndim - 2) // 2
    split = win.reshape(n, groups, c // groups, *win.shape[2:])
    perm = (1, 0, *range(3, 3 + nd), 2, *range(3 + nd, 3 + 2 * nd))
    rows = n * math.prod(win.shape[2 : 2 + nd])
    return np.ascontiguousarray(np.transpose(split, perm)).reshape(groups, rows, -1)


def _group_out(mat: np.ndarray, n: int, out: Shape) -> np.ndarray:
    """(groups, N*out, F/groups) as (N, F, *out)."""
    groups, _, per_group = mat.shape
    grid = mat.reshape(groups, n, *out, per_group)
    nd = len(out)
    return np.transpose(grid, (1, 0, 2 + nd, *range(2, 2 + nd))).reshape(n, groups * per_group, *out)


def _by_group(g: np.ndarray, groups: int) -> np.ndarray:
    """(N, F, *out) as (groups, N*out, F/groups)."""
    n, f = g.shape[:2]
    nd = g.ndim - 2
    split = g.reshape(n, groups, f // groups, *g.shape[2:])
    return np.transpose(split, (1, 0, *range(3, 3 + nd), 2)).reshape(groups, -1, f // groups)


# ---- Convolution ---------------------------------------------------------------------

_CONV_LAYOUTS = {1: "NCW", 2: "NCHW", 3: "NCDHW"}
_CONV_DEFAULTS = {
    "kernel": None,
    "stride": (),
    "dilate": (),
    "pad": (),
    "num_filter": None,
    "num_group": 1,
    "no_bias": False,
    "layout": None,
    "workspace": 1024,  # MXNet's memory hints, accepted and unused (NumPy on the CPU)
    "cudnn_tune": None,
    "cudnn_off": False,
}
_GEOMETRY = ("kernel", "stride", "dilate", "pad", "num_filter", "num_group", "layout")


def _conv_attrs(attrs: dict) -> dict:
    attrs = dict(attrs)
    if attrs["kernel"] is None:
        raise SymgradError("kernel is required, e.g. kernel=(5, 5)")
    if attrs["num_filter"] is None:
        raise SymgradError("num_filter is required (the number of output channels)")
    kernel = attrs["kernel"] = int_tuple(attrs["kernel"], "kernel")
    if len(kernel) not in _CONV_LAYOUTS or min(kernel) < 1:
        raise SymgradError(f"kernel must have 1 to 3 positive sizes, got {kernel}")
    for key in ("stride", "dilate", "pad"):
        value = attrs[key] = int_tuple(attrs[key], key)
        if value and len(value) != len(kernel):
            raise SymgradError(f"{key} {value} must have one entry per kernel dimension {kernel}")
        if value and min(value) < (0 if key == "pad" else 1):
            raise SymgradError(f"{key} must be {'non-negative' if key == 'pad' else 'positive'}, got {value}")
    check_positive_int(attrs, "num_filter")
    check_positive_int(attrs, "num_group")
    check_flag(attrs, "no_bias")
    if attrs["layout"] not in (None, _CONV_LAYOUTS[len(kernel)]):
        raise SymgradError(f"layout must be {_CONV_LAYOUTS[len(kernel)]!r} for a {len(kernel)}-d kernel")
    return attrs


def _geometry(attrs: dict) -> tuple[Shape, Shape, Shape, Shape]:
    """kernel, stride, dilate, pad with MXNet's defaults (1, 1, 0) filled in."""
    kernel = attrs["kernel"]
    ones = (1,) * len(kernel)
    return kernel, attrs["stride"] or ones, attrs["dilate"] or ones, attrs["pad"] or (0,) * len(kernel)


def _conv_params(data: Shape, **attrs: Any) -> dict[str, Shape]:
    kernel, groups, filters = attrs["kernel"], attrs["num_group"], attrs["num_filter"]
    if len(data) != 2 + len(kernel):
        raise ShapeError(f"data must be {_CONV_LAYOUTS[len(kernel)]} ({2 + len(kernel)}-d) for kernel {kernel}")
    if data[1] % groups or filters % groups:
        raise ShapeError(f"channels {data[1]} and num_filter {filters} must be multiples of num_group {groups}")
    return {"weight": (filters, data[1] // groups, *kernel), "bias": (filters,)}


def _conv_out(data: Shape, attrs: dict) -> Shape:
    kernel, stride, dilate, pad = _geometry(attrs)
    out = []
    for x, k, s, d, p in zip(data[2:], kernel, stride, dilate, pad):
        size = (x + 2 * p - d * (k - 1) - 1) // s + 1
        if size < 1:
            raise ShapeError(f"kernel {kernel} (dilate {dilate}) is larger than the padded input {data[2:]}")
        out.append(size)
    return (data[0], attrs["num_filter"], *out)


def _conv_shape(data: Shape, weight: Shape, bias: Shape | None = None, **attrs: Any) -> Shape:
    expected = _conv_params(data, **attrs)
    if weight != expected["weight"]:
        raise ShapeError(f"weight has shape {weight}, expected {expected['weight']} for data {data}")
    if bias is not None and bias != expected["bias"]:
        raise ShapeError(f"bias has shape {bias}, expected {expected['bias']}")
    return _conv_out(data, attrs)


def _conv_cols(data: np.ndarray, attrs: dict) -> np.ndarray:
    kernel, stride, dilate, pad = _geometry(attrs)
    win = _windows(np.asarray(data), kernel, stride, dilate, pad, (0,) * len(kernel), 0)
    return _group_cols(win, attrs["num_group"])


def _conv_impl(data: Any, weight: Any, bias: Any = None, **attrs: Any) -> np.ndarray:
    data, weight = np.asarray(data), np.asarray(weight)
    groups = attrs["num_group"]
    cols = _conv_cols(data, attrs)
    kernels = weight.reshape(groups, weight.shape[0] // groups, -1).transpose(0, 2, 1)
    out = _group_out(np.matmul(cols, kernels), data.shape[0], _conv_out(data.shape, attrs)[2:])
    if bias is not None:
        out += np.reshape(bias, (-1,) + (1,) * (data.ndim - 2))
    return out


def _conv_transpose_impl(g: Any, weight: Any, like: Any, **attrs: Any) -> np.ndarray:
    """The gradient of Convolution for its data: every output's g times the kernel, added onto its window."""
    g, weight = np.asarray(g), np.asarray(weight)
    groups = attrs["num_group"]
    kernel, stride, dilate, pad = _geometry(attrs)
    xshape = np.shape(like)
    kernels = weight.reshape(groups, weight.shape[0] // groups, -1)  # (G, F/G, C/G*kernel)
    cols = np.matmul(_by_group(g, groups), kernels)  # (G, N*out, C/G*kernel)
    n, out = g.shape[0], g.shape[2:]
    grid = cols.reshape(groups, n, *out, xshape[1] // groups, *kernel)
    nd = len(kernel)
    perm = (1, 0, 2 + nd, *range(2, 2 + nd), *range(3 + nd, 3 + 2 * nd))
    cols = np.transpose(grid, perm).reshape(n, xshape[1], *out, *kernel)
    return _col2im(cols, xshape, kernel, stride, dilate, pad, (0,) * nd)


def _conv_weight_grad_impl(data: Any, g: Any, like: Any, **attrs: Any) -> np.ndarray:
    """The gradient of Convolution for its weight: g against data's windows, one matmul per call."""
    g = np.asarray(g)
    groups = attrs["num_group"]
    cols = _conv_cols(data, attrs)  # (G, N*out, C/G*kernel)
    grads = np.matmul(np.swapaxes(_by_group(g, groups), 1, 2), cols)  # (G, F/G, C/G*kernel)
    return grads.reshape(np.shape(like))


def _geometry_attrs(attrs: dict) -> dict:
    return {k: attrs[k] for k in _GEOMETRY}


def _conv_grad(g: Symbol, out: Symbol, data: Symbol, weight: Symbol, bias: Symbol | None = None, **attrs: Any):
    geo = _geometry_attrs(attrs)
    grads = [conv_transpose(g, weight, data, **geo), conv_weight_grad(data, g, weight, **geo)]
    if bias is not None:
        grads.append(red.sum(g, axis=(0, *range(2, 2 + len(attrs["kernel"])))))
    return grads


def _no_bias(attrs: dict) -> dict:
    return {**attrs, "no_bias": True}


def _conv_transpose_grad(h: Symbol, out: Symbol, g: Symbol, weight: Symbol, like: Symbol, **geo: Any) -> list:
    # conv_transpose(g, w) is bilinear: <conv_transpose(g, w), h> = <g, Convolution(h, w)>
    full = _no_bias({**_CONV_DEFAULTS, **geo})
    return [layer_node("Convolution", h, weight, **full), conv_weight_grad(h, g, weight, **geo), None]


def _conv_weight_grad_grad(k: Symbol, out: Symbol, data: Symbol, g: Symbol, like: Symbol, **geo: Any) -> list:
    # <conv_weight_grad(x, g), k> = <g, Convolution(x, k)>
    full = _no_bias({**_CONV_DEFAULTS, **geo})
    return [conv_transpose(g, k, data, **geo), layer_node("Convolution", data, k, **full), None]


Convolution = register(
    "Convolution",
    _conv_impl,
    shape=_conv_shape,
    dtype=lambda *dtypes, **_: np.result_type(*dtypes),
    grad=_conv_grad,
    arity=None,
    attrs=_CONV_DEFAULTS,
    normalize=_conv_attrs,
    elementwise=False,
    inputs=data_weight_bias,
    param_shapes=_conv_params,
    hint="convolution",
)
_GEOMETRY_DEFAULTS = {k: _CONV_DEFAULTS[k] for k in _GEOMETRY}


def _conv_adjoint(name: str, impl: Any, grad: Any) -> Any:
    """conv_transpose and conv_weight_grad: linear in two inputs, the shape of the third."""
    return register(
        name,
        impl,
        shape=lambda a, b, like, **_: like,
        dtype=lambda a, b, like, **_: np.result_type(a, b),
        grad=grad,
        arity=3,
        attrs=_GEOMETRY_DEFAULTS,
        elementwise=False,
        shape_of=2,
    )


conv_transpose = _conv_adjoint("conv_transpose", _conv_transpose_impl, _conv_transpose_grad)
conv_weight_grad = _conv_adjoint("conv_weight_grad", _conv_weight_grad_impl, _conv_weight_grad_grad)


# ---- Pooling ------------------------------------------------------------------------

_POOL_DEFAULTS = {
    "kernel": (),
    "pool_type": "max",
    "global_pool": False,
    "pooling_convention": "valid",
    "stride": (),
    "pad": (),
    "count_include_pad": True,
    "layout": None,
    "cudnn_off": False,
    "p_value": None,
}


def _pool_attrs(attrs: dict) -> dict:
    attrs = dict(attrs)
    check_choice(attrs, "pool_type", ("max", "avg", "sum"))
    check_choice(attrs, "pooling_convention", ("valid", "full"))
    check_flag(attrs, "global_pool", "count_include_pad")
    for key in ("kernel", "stride", "pad"):
        attrs[key] = int_tuple(attrs[key], key)
    kernel = attrs["kernel"]
    if not attrs["global_pool"]:
        if len(kernel) not in _CONV_LAYOUTS or min(kernel) < 1:
            raise SymgradError(f"kernel must have 1 to 3 positive sizes (or global_pool=True), got {kernel}")
        for key in ("stride", "pad"):
            value = attrs[key]
            if value and (len(value) != len(kernel) or min(value) < (0 if key == "pad" else 1)):
                raise SymgradError(
                    f"{key} {value} must have one {'non-negative' if key == 'pad' else 'positive'}"
                    f" entry per kernel dimension {kernel}"
                )
    layouts = (_CONV_LAYOUTS[len(kernel)],) if kernel else tuple(_CONV_LAYOUTS.values())
    if attrs["layout"] not in (None, *layouts):  # channels first only: NHWC data would pool the wrong axes
        raise SymgradError(f"layout must be {' or '.join(map(repr, layouts))}, got {attrs['layout']!r}")
    return attrs


def _pool_geometry(xshape: Shape, attrs: dict) -> tuple[Shape, Shape, Shape, Shape, Shape]:
    """kernel, stride, pad, extra padding at the end (pooling_convention='full'), output size."""
    spatial = tuple(xshape[2:])
    if attrs["global_pool"]:
        kernel, stride, pad = spatial, (1,) * len(spatial), (0,) * len(spatial)
    else:
        kernel = attrs["kernel"]
        if len(spatial) != len(kernel):
            raise ShapeError(f"data must be {_CONV_LAYOUTS[len(kernel)]} ({2 + len(kernel)}-d) for kernel {kernel}")
        stride, pad = attrs["stride"] or (1,) * len(kernel), attrs["pad"] or (0,) * len(kernel)
    full = attrs["pooling_convention"] == "full"
    out, end = [], []
    for x, k, s, p in zip(spatial, kernel, stride, pad):
        if x + 2 * p < k:
            raise ShapeError(f"kernel {kernel} is larger than the padded input {spatial}")
        size = (-(-(x + 2 * p - k) // s) if full else (x + 2 * p - k) // s) + 1
        out.append(size)
        end.append((size - 1) * s + k - (x + 2 * p))
    return kernel, stride, pad, tuple(max(e, 0) for e in end), tuple(out)


def _pool_shape(data: Shape, **attrs: Any) -> Shape:
    if len(data) < 3:
        raise ShapeError(f"data must be NCW, NCHW or NCDHW, got {len(data)}-d")
    return (*data[:2], *_pool_geometry(data, attrs)[4])


def _pool_count(xshape: Shape, attrs: dict) -> np.ndarray:
    """How many entries each output averages: MXNet counts the padding (count_include_pad) but not
    what pooling_convention='full' adds past it."""
    kernel, stride, pad, _, out = _pool_geometry(xshape, attrs)
    count = np.ones(())
    for x, k, s, p, o in zip(xshape[2:], kernel, stride, pad, out):
        start = np.arange(o) * s - p
        stop = np.minimum(start + k, x + p)
        if not attrs["count_include_pad"]:
            start, stop = np.maximum(start, 0), np.minimum(stop, x)
        count = np.multiply.outer(count, stop - start)
    return count


def _pool_windows(data: np.ndarray, attrs: dict, fill: Any) -> tuple[Any, tuple]:
    kernel, stride, pad, end, _ = _pool_geometry(data.shape, attrs)
    return _windows(data, kernel, stride, (1,) * len(kernel), pad, end, fill), (kernel, stride, pad, end)


def _lowest(dtype: np.dtype) -> Any:
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _pool_impl(data: Any, **attrs: Any) -> np.ndarray:
    data = np.asarray(data)
    kind = attrs["pool_type"]
    win, (kernel, *_) = _pool_windows(data, attrs, _lowest(data.dtype) if kind == "max" else 0)
    axes = tuple(range(-len(kernel), 0))
    if kind == "max":
        return win.max(axis=axes)
    total = win.sum(axis=axes, dtype=data.dtype)
    return total / _pool_count(data.shape, attrs).astype(data.dtype) if kind == "avg" else total


def _argmax_onehot(data: np.ndarray, attrs: dict) -> tuple[np.ndarray, tuple]:
    """(N, C, *out, *kernel) mask of each window's first maximum (where MXNet sends max pooling's gradient)."""
    win, geometry = _pool_windows(data, attrs, _lowest(data.dtype))
    nd = len(geometry[0])
    flat = win.reshape(*win.shape[: 2 + nd], -1)
    first = np.argmax(flat, axis=-1)
    mask = np.arange(flat.shape[-1]) == first[..., None]
    return mask.reshape(win.shape), geometry


def _pool_grad_impl(g: Any, data: Any, **attrs: Any) -> np.ndarray:
    """Pooling's gradient for data: g sent back to each window's maximum, or spread over it (avg, sum)."""
    g, data = np.asarray(g), np.asarray(data)
    kind = attrs["pool_type"]
    if kind == "avg":
        g = g / _pool_count(data.shape, attrs).astype(g.dtype)
    if kind == "max":
        mask, geometry = _argmax_onehot(data, attrs)
        cols = mask * g[(...,) + (None,) * len(geometry[0])]
    else:
        kernel, stride, pad, end, _ = _pool_geometry(data.shape, attrs)
        geometry = (kernel, stride, pad, end)
        cols = np.broadcast_to(g[(...,) + (None,) * len(kernel)], (*g.shape, *kernel))
    kernel, stride, pad, end = geometry
    return _col2im(cols, data.shape, kernel, stride, (1,) * len(kernel), pad, end).astype(g.dtype, copy=False)


def _pool_pick_impl(h: Any, data: Any, **attrs: Any) -> np.ndarray:
    """h's entries at the maxima of data's windows (the adjoint of max pooling's gradient)."""
    h, data = np.asarray(h), np.asarray(data)
    mask, _ = _argmax_onehot(data, attrs)
    win, (kernel, *_) = _pool_windows(h, attrs, 0)
    return np.sum(win * mask, axis=tuple(range(-len(kernel), 0)), dtype=h.dtype)


def _pool_grad_grad(h: Symbol, out: Symbol, g: Symbol, data: Symbol, **attrs: Any) -> list:
    # pool_grad is linear in g: its adjoint is average or sum pooling, or picking at the maxima
    if attrs["pool_type"] == "max":
        return [pool_pick(h, data, **attrs), None]
    return [layer_node("Pooling", h, **attrs), None]


Pooling = register(
    "Pooling",
    _pool_impl,
    shape=_pool_shape,
    dtype=lambda x, **_: np.result_type(x),
    grad=lambda g, out, data, **attrs: [pool_grad(g, data, **attrs)],
    arity=1,
    attrs=_POOL_DEFAULTS,
    normalize=_pool_attrs,
    elementwise=False,
    inputs=lambda attrs: ("data",),
    hint="pooling",
)
pool_grad = register(
    "pool_grad",
    _pool_grad_impl,
    shape=lambda g, data, **_: data,
    dtype=lambda g, data, **_: np.result_type(g),
    grad=_pool_grad_grad,
    arity=2,
    attrs=_POOL_DEFAULTS,
    elementwise=False,
    shape_of=1,
)
pool_pick = register(
    "pool_pick",
    _pool_pick_impl,
    shape=lambda h, data, **attrs: _pool_shape(data, **attrs),
    dtype=lambda h, data, **_: np.result_type(h),
    grad=lambda k, out, h, data, **attrs: [pool_grad(k, data, **attrs), None],
    arity=2,
    attrs=_POOL_DEFAULTS,
    elementwise=False,
)
