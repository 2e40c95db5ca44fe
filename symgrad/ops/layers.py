"""MXNet's layer ops: FullyConnected, Convolution, Pooling, Activation, the loss layers and friends.

Names, keyword arguments and semantics are MXNet 1.9's. A layer called without its weights
makes the variables `<name>_weight`, `<name>_bias` (`<name>_label` for a loss layer), and
`infer_shape(data=...)` gives their shapes (the registry's `inputs` and `param_shapes`).

Convolution and pooling run on windows from `sliding_window_view` with one `matmul` per
call (im2col); adding window entries back onto the input (col2im) is one strided add per
kernel offset, each over every window at once.
Their gradients are ops of their own (`conv_transpose`, `conv_weight_grad`, `pool_grad`),
each with a gradient rule, so second derivatives work. Loss layers follow MXNet's backward:
the head gradient is ignored (SoftmaxOutput's gradient is `softmax(x) - one_hot(label)`,
scaled by `grad_scale` and `normalization`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..errors import ShapeError, SymgradError
from ..graph import Symbol
from . import elementwise as ew
from . import reduction as red
from . import shape as shp
from .linalg import dot, matmul, swapaxes
from .nn import softmax
from .registry import OPS, TRAINING, Shape, apply, float_dtype, register

# ---- helpers -------------------------------------------------------------------------


def _op(name: str, *inputs: Any, **attrs: Any) -> Symbol:
    """A node of a registered op from its inputs and full attrs (what gradient rules build)."""
    return apply(OPS[name], inputs, attrs)


def _choice(attrs: dict, key: str, allowed: tuple) -> None:
    if attrs[key] not in allowed:
        raise SymgradError(f"{key} must be one of {allowed}, got {attrs[key]!r}")


def _int_tuple(value: Any, key: str) -> tuple[int, ...]:
    """MXNet's shape-like attrs: an int, a tuple or list of ints, or () for the default."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),)
    if not isinstance(value, (tuple, list)) or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value
    ):
        raise SymgradError(f"{key} must be a tuple of ints, got {value!r}")
    return tuple(int(v) for v in value)


def _positive_int(attrs: dict, key: str) -> None:
    value = attrs[key]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise SymgradError(f"{key} must be a positive int, got {value!r}")
    attrs[key] = int(value)


def _number(attrs: dict, *keys: str) -> None:
    for key in keys:
        if isinstance(attrs[key], bool) or not isinstance(attrs[key], (int, float, np.number)):
            raise SymgradError(f"{key} must be a number, got {attrs[key]!r}")
        attrs[key] = float(attrs[key])


def _flag(attrs: dict, *keys: str) -> None:
    for key in keys:
        if not isinstance(attrs[key], (bool, np.bool_)):
            raise SymgradError(f"{key} must be True or False, got {attrs[key]!r}")
        attrs[key] = bool(attrs[key])


def _rank(x: Symbol) -> int | None:
    """x's number of dimensions, known from its shape or, when shapes are not declared, from the
    ops that make it (FullyConnected and flatten give 2-d; elementwise ops keep their input's rank)."""
    while x.ndim is None:
        opdef = OPS.get(x.op)
        if opdef is None:
            return None
        if x.op == "flatten" or (x.op == "FullyConnected" and x.attrs["flatten"]):
            return 2
        if opdef.shape_of is not None:
            x = x.inputs[opdef.shape_of]
        elif opdef.elementwise and len(x.inputs) == 1:
            x = x.inputs[0]
        else:
            return None
    return x.ndim


# ---- FullyConnected ------------------------------------------------------------------


def _fc_attrs(attrs: dict) -> dict:
    attrs = dict(attrs)
    if attrs["num_hidden"] is None:
        raise SymgradError("num_hidden is required (the number of output units)")
    _positive_int(attrs, "num_hidden")
    _flag(attrs, "no_bias", "flatten")
    return attrs


def _fc_inputs(attrs: dict) -> tuple[str, ...]:
    return ("data", "weight") if attrs["no_bias"] else ("data", "weight", "bias")


def _fc_in_units(data: Shape, flatten: bool) -> int:
    if len(data) == 0:
        raise ShapeError("data must have at least 1 dimension")
    return math.prod(data[1:]) if flatten else data[-1]


def _fc_params(data: Shape, num_hidden: int, flatten: bool, **_: Any) -> dict[str, Shape]:
    return {"weight": (num_hidden, _fc_in_units(data, flatten)), "bias": (num_hidden,)}


def _fc_shape(data: Shape, weight: Shape, bias: Shape | None = None, **attrs: Any) -> Shape:
    expected = _fc_params(data, **attrs)
    if weight != expected["weight"]:
        raise ShapeError(f"weight has shape {weight}, expected {expected['weight']} for data {data}")
    if bias is not None and bias != expected["bias"]:
        raise ShapeError(f"bias has shape {bias}, expected {expected['bias']}")
    lead = data[:1] if attrs["flatten"] else data[:-1]
    return (*lead, attrs["num_hidden"])


def _fc_impl(data: Any, weight: Any, bias: Any = None, *, num_hidden: int, no_bias: bool, flatten: bool) -> Any:
    data = np.asarray(data)
    if flatten:
        out = np.dot(data.reshape(data.shape[0], -1), np.transpose(weight))
    else:
        out = np.matmul(data, np.transpose(weight))
    if bias is not None:
        out += bias
    return out


def _fc_grad(g: Symbol, out: Symbol, data: Symbol, weight: Symbol, bias: Symbol | None = None, **attrs: Any) -> list:
    if attrs["flatten"]:
        if _rank(data) == 2:  # nothing to flatten
            grads = [dot(g, weight), dot(g.T, data)]
        else:
            grads = [shp.reshape_like(dot(g, weight), data), dot(g.T, shp.flatten(data))]
        bias_grad = red.sum(g, axis=0)
    else:  # data (..., in_units): the products over every leading axis are summed
        grads = [matmul(g, weight), shp.sum_like(matmul(swapaxes(g, axis1=-1, axis2=-2), data), weight)]
        bias_grad = shp.sum_like(g, bias) if bias is not None else None
    return grads + ([bias_grad] if bias is not None else [])


FullyConnected = register(
    "FullyConnected",
    _fc_impl,
    shape=_fc_shape,
    dtype=lambda *dtypes, **_: np.result_type(*dtypes),
    grad=_fc_grad,
    arity=None,
    attrs={"num_hidden": None, "no_bias": False, "flatten": True},
    normalize=_fc_attrs,
    elementwise=False,
    inputs=_fc_inputs,
    param_shapes=_fc_params,
    hint="fullyconnected",
)


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
    kernel = attrs["kernel"] = _int_tuple(attrs["kernel"], "kernel")
    if len(kernel) not in _CONV_LAYOUTS or min(kernel) < 1:
        raise SymgradError(f"kernel must have 1 to 3 positive sizes, got {kernel}")
    for key in ("stride", "dilate", "pad"):
        value = attrs[key] = _int_tuple(attrs[key], key)
        if value and len(value) != len(kernel):
            raise SymgradError(f"{key} {value} must have one entry per kernel dimension {kernel}")
        if value and min(value) < (0 if key == "pad" else 1):
            raise SymgradError(f"{key} must be {'non-negative' if key == 'pad' else 'positive'}, got {value}")
    _positive_int(attrs, "num_filter")
    _positive_int(attrs, "num_group")
    _flag(attrs, "no_bias")
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
    return [_op("Convolution", h, weight, **full), conv_weight_grad(h, g, weight, **geo), None]


def _conv_weight_grad_grad(k: Symbol, out: Symbol, data: Symbol, g: Symbol, like: Symbol, **geo: Any) -> list:
    # <conv_weight_grad(x, g), k> = <g, Convolution(x, k)>
    full = _no_bias({**_CONV_DEFAULTS, **geo})
    return [conv_transpose(g, k, data, **geo), _op("Convolution", data, k, **full), None]


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
    inputs=_fc_inputs,
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
    _choice(attrs, "pool_type", ("max", "avg", "sum"))
    _choice(attrs, "pooling_convention", ("valid", "full"))
    _flag(attrs, "global_pool", "count_include_pad")
    for key in ("kernel", "stride", "pad"):
        attrs[key] = _int_tuple(attrs[key], key)
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
    return [_op("Pooling", h, **attrs), None]


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


# ---- Activation, LeakyReLU ------------------------------------------------------------

_ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: OPS["sigmoid"].impl(x),
    "tanh": np.tanh,
    "softrelu": lambda x: np.logaddexp(0, x),
    "softsign": lambda x: x / (1 + np.abs(x)),
}


def _activation_grad(g: Symbol, out: Symbol, x: Symbol, act_type: str) -> list:
    if act_type == "relu":
        return [ew.where(x > 0, g, 0)]
    if act_type == "sigmoid":
        return [g * (out * (1 - out))]
    if act_type == "tanh":
        return [g * (1 - out * out)]
    if act_type == "softrelu":
        return [g * ew.sigmoid(x)]
    return [g / ew.square(1 + ew.abs(x))]


def _activation_attrs(attrs: dict) -> dict:
    _choice(attrs, "act_type", tuple(_ACTIVATIONS))
    return attrs


Activation = register(
    "Activation",
    lambda x, act_type: _ACTIVATIONS[act_type](np.asarray(x)),
    dtype=lambda x, **_: float_dtype(x),
    grad=_activation_grad,
    arity=1,
    attrs={"act_type": None},
    normalize=_activation_attrs,
    inputs=lambda attrs: ("data",),
    hint="activation",
)

_SELU_SCALE, _SELU_ALPHA = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717


def _channel_column(gamma: Any, ndim: int) -> np.ndarray:
    """A per-channel vector shaped to broadcast along axis 1 of an ndim-d array."""
    return np.reshape(gamma, (1, -1) + (1,) * (ndim - 2)) if ndim >= 2 else np.asarray(gamma)


def _leaky_impl(x: Any, gamma: Any = None, *, act_type: str, slope: float, **_: Any) -> np.ndarray:
    x = np.asarray(x)
    if act_type == "leaky":
        return np.where(x > 0, x, slope * x)
    if act_type == "prelu":  # a learned slope per channel (axis 1)
        return np.where(x > 0, x, _channel_column(gamma, x.ndim) * x)
    if act_type == "rrelu":  # gamma: the slopes _rrelu_slopes drew
        return np.where(x > 0, x, gamma * x)
    if act_type == "elu":
        return np.where(x > 0, x, slope * np.expm1(np.minimum(x, 0)))
    if act_type == "selu":
        return _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(x, 0)))
    return 0.5 * x * (1 + OPS["erf"].impl(x / math.sqrt(2)))  # gelu


def _leaky_grad(g: Symbol, out: Symbol, x: Symbol, gamma: Symbol | None = None, **attrs: Any) -> list:
    act_type, slope = attrs["act_type"], attrs["slope"]
    if act_type == "leaky":
        return [ew.where(x > 0, g, g * slope)]
    if act_type == "prelu":
        rank = _rank(x)
        if rank is None:
            raise SymgradError("LeakyReLU: prelu's gradient needs the data's number of dimensions; declare its shape")
        others = tuple(a for a in range(rank) if a != 1)
        column = shp.expand_dims(gamma, axis=others) if rank >= 2 else gamma
        return [ew.where(x > 0, g, g * column), red.sum(ew.where(x > 0, 0, g * x), axis=others)]
    if act_type == "rrelu":
        return [ew.where(x > 0, g, g * gamma), None]
    if act_type == "elu":
        return [ew.where(x > 0, g, g * (slope * ew.exp(x)))]
    if act_type == "selu":
        return [ew.where(x > 0, g * _SELU_SCALE, g * (_SELU_SCALE * _SELU_ALPHA * ew.exp(x)))]
    cdf = 0.5 * (1 + ew.erf(x * (1 / math.sqrt(2))))
    return [g * (cdf + x * ew.exp(-0.5 * ew.square(x)) * (1 / math.sqrt(2 * math.pi)))]


def _leaky_attrs(attrs: dict) -> dict:
    attrs = dict(attrs)
    _choice(attrs, "act_type", ("leaky", "prelu", "rrelu", "elu", "selu", "gelu"))
    _number(attrs, "slope", "lower_bound", "upper_bound")
    if not 0 <= attrs["lower_bound"] <= attrs["upper_bound"]:
        raise SymgradError(f"needs 0 <= lower_bound <= upper_bound, got {attrs['lower_bound']}, {attrs['upper_bound']}")
    return attrs


def _rrelu_slopes_impl(data: Any, lower_bound: float, upper_bound: float, layer: str) -> np.ndarray:
    """rrelu's slopes: uniform in [lower_bound, upper_bound] per entry when training (NumPy's global
    generator), their mean (lower_bound + upper_bound) / 2 in predict mode, as MXNet."""
    data = np.asarray(data)
    dtype = float_dtype(data.dtype)
    if TRAINING.get():
        return np.random.uniform(lower_bound, upper_bound, data.shape).astype(dtype)
    return np.full(data.shape, (lower_bound + upper_bound) / 2, dtype)


_rrelu_slopes = register(
    "_rrelu_slopes",
    _rrelu_slopes_impl,
    shape=lambda data, **_: data,
    dtype=lambda data, **_: float_dtype(data),
    grad=lambda g, out, data, **_: [None],
    arity=1,
    attrs={"lower_bound": 0.125, "upper_bound": 0.334, "layer": ""},
    elementwise=False,
    stateful=True,
    nondiff=True,
)


def _leaky_inputs(attrs: dict) -> tuple[str, ...]:
    return {"prelu": ("data", "gamma"), "rrelu": ("data", "slopes")}.get(attrs["act_type"], ("data",))


def _leaky_shape(x: Shape, gamma: Shape | None = None, *, act_type: str, **_: Any) -> Shape:
    if act_type == "prelu" and gamma != (x[1] if len(x) >= 2 else 1,):
        raise ShapeError(f"gamma has shape {gamma}, expected one slope per channel of data {x}")
    return x


LeakyReLU = register(
    "LeakyReLU",
    _leaky_impl,
    shape=_leaky_shape,
    dtype=lambda x, *gamma, **_: float_dtype(x),
    grad=_leaky_grad,
    arity=None,
    attrs={"act_type": "leaky", "slope": 0.25, "lower_bound": 0.125, "upper_bound": 0.334},
    normalize=_leaky_attrs,
    elementwise=False,
    shape_of=0,
    inputs=_leaky_inputs,
    derived={"slopes": "_rrelu_slopes"},
    param_shapes=lambda data, **_: {"gamma": (data[1] if len(data) >= 2 else 1,)},
    hint="leakyrelu",
)


# ---- loss layers: forward a prediction, backward MXNet's fixed gradient (the head is ignored) ---------


def _one_hot_impl(label: Any, like: Any, axis: int) -> np.ndarray:
    like = np.asarray(like)
    classes = np.arange(like.shape[axis]).reshape((-1,) + (1,) * (like.ndim - 1 - axis % like.ndim))
    index = np.expand_dims(np.asarray(label).astype(np.int64), axis)
    return np.asarray(index == classes, dtype=float_dtype(like.dtype))


def _one_hot_shape(label: Shape, like: Shape, axis: int) -> Shape:
    expected = like[: axis % len(like)] + like[axis % len(like) + 1 :]
    if math.prod(label) != math.prod(expected):
        raise ShapeError(f"label shape {label} does not fit {like} without its axis {axis}")
    return like


one_hot_like = register(
    "one_hot_like",
    _one_hot_impl,
    shape=_one_hot_shape,
    dtype=lambda label, like, **_: float_dtype(like),
    grad=lambda g, out, label, like, axis: [None, None],
    arity=2,
    attrs={"axis": -1},
    elementwise=False,
    shape_of=1,
    nondiff=True,
)

_NORMALIZATIONS = ("null", "batch", "valid")
_SOFTMAX_OUTPUT_DEFAULTS = {
    "grad_scale": 1.0,
    "ignore_label": -1.0,
    "multi_output": False,
    "use_ignore": False,
    "preserve_shape": False,
    "normalization": "null",
    "out_grad": False,
    "smooth_alpha": 0.0,
}


def _softmax_output_attrs(attrs: dict) -> dict:
    attrs = dict(attrs)
    _number(attrs, "grad_scale", "ignore_label", "smooth_alpha")
    _flag(attrs, "multi_output", "use_ignore", "preserve_shape", "out_grad")
    _choice(attrs, "normalization", _NORMALIZATIONS)
    return attrs


def _softmax_output_axis(attrs: dict) -> int:
    return 1 if attrs["multi_output"] else -1


def _softmax_output_params(data: Shape, **attrs: Any) -> dict[str, Shape]:
    if not data:
        raise ShapeError("data must have at least 1 dimension")
    if attrs["multi_output"]:
        return {"label": (data[0], *data[2:])}
    return {"label": data[:-1] if attrs["preserve_shape"] or len(data) < 3 else data[:1]}


def _softmax_output_shape(data: Shape, label: Shape, **attrs: Any) -> Shape:
    expected = _softmax_output_params(data, **attrs)["label"]
    if label != data and math.prod(label) != math.prod(expected):
        raise ShapeError(f"label has shape {label}, expected {expected} (class indices) or {data} (probabilities)")
    return data


def _softmax_output_impl(data: Any, label: Any, **attrs: Any) -> np.ndarray:
    data = np.asarray(data)
    if attrs["multi_output"] or attrs["preserve_shape"] or data.ndim < 3:
        return OPS["softmax"].impl(data, axis=_softmax_output_axis(attrs))
    return OPS["softmax"].impl(data.reshape(data.shape[0], -1), axis=-1).reshape(data.shape)


def _softmax_output_grad(g: Symbol, out: Symbol, data: Symbol, label: Symbol, **attrs: Any) -> list:
    axis = _softmax_output_axis(attrs)
    rank = _rank(data)
    flat = not (attrs["multi_output"] or attrs["preserve_shape"]) and (rank is None or rank >= 3)
    x = shp.flatten(data) if flat else data  # the default softmax runs over everything after the batch axis
    prob = softmax(x, axis=axis)
    if label.shape is not None and label.shape == data.shape:  # probabilities as labels
        grad = prob - label
    else:
        target = one_hot_like(label, x, axis=axis)
        if attrs["smooth_alpha"]:
            alpha = attrs["smooth_alpha"]
            rest = alpha / (red.reduced_count(x, (axis,)) - 1)
            target = target * (1 - alpha) + (1 - target) * rest
        grad = prob - target
        if attrs["use_ignore"]:
            grad = grad * shp.expand_dims(label != attrs["ignore_label"], axis=axis)
    scale = attrs["grad_scale"] / _softmax_output_norm(data, label, attrs)
    if isinstance(scale, Symbol) or scale != 1:
        grad = grad * scale
    if flat:
        grad = shp.reshape_like(grad, data)
    return [grad * g if attrs["out_grad"] else grad, None]


def _softmax_output_norm(data: Symbol, label: Symbol, attrs: dict) -> Any:
    """What MXNet divides the gradient by: 1, the batch size, or the number of labels not ignored."""
    kind = attrs["normalization"]
    labels = red.reduced_count(label, None)
    spatial = labels / red.reduced_count(data, (0,)) if attrs["multi_output"] else 1  # label is (N, *spatial)
    if kind == "batch":
        return red.reduced_count(data, (0,)) * spatial if attrs["multi_output"] else labels
    if kind == "valid":
        if not attrs["use_ignore"]:
            return labels
        return ew.maximum(red.sum(label != attrs["ignore_label"]), 1)
    return spatial


SoftmaxOutput = register(
    "SoftmaxOutput",
    _softmax_output_impl,
    shape=_softmax_output_shape,
    dtype=lambda data, label, **_: float_dtype(data),
    grad=_softmax_output_grad,
    arity=2,
    attrs=_SOFTMAX_OUTPUT_DEFAULTS,
    normalize=_softmax_output_attrs,
    elementwise=False,
    inputs=lambda attrs: ("data", "label"),
    param_shapes=_softmax_output_params,
    hint="softmaxoutput",
)
Softmax = SoftmaxOutput  # MXNet's older name


def _regression_output(name: str, forward: Any, residual: Any) -> Any:
    """MXNet's regression outputs: gradient residual(out, label) * grad_scale / (outputs per example)."""

    def grad(g: Symbol, out: Symbol, data: Symbol, label: Symbol, grad_scale: float) -> list:
        per_example = red.reduced_count(data, tuple(range(1, data.ndim))) if data.ndim is not None else None
        if per_example is None:
            per_example = red.reduce_size(data) / red.reduce_size(data, axis=(0,))
        return [residual(out, shp.reshape_like(label, data)) * (grad_scale / per_example), None]

    def attrs(a: dict) -> dict:
        a = dict(a)
        _number(a, "grad_scale")
        return a

    def shape(data: Shape, label: Shape, **_: Any) -> Shape:
        if math.prod(label) != math.prod(data):
            raise ShapeError(f"label has shape {label}, expected {data}")
        return data

    return register(
        name,
        lambda data, label, grad_scale: forward(np.asarray(data)),
        shape=shape,
        dtype=lambda data, label, **_: float_dtype(data),
        grad=grad,
        arity=2,
        attrs={"grad_scale": 1.0},
        normalize=attrs,
        elementwise=False,
        inputs=lambda a: ("data", "label"),
        param_shapes=lambda data, **_: {"label": data},
        hint=name.lower(),
    )


LinearRegressionOutput = _regression_output("LinearRegressionOutput", lambda x: x.copy(), lambda out, y: out - y)
LogisticRegressionOutput = _regression_output(
    "LogisticRegressionOutput", _ACTIVATIONS["sigmoid"], lambda out, y: out - y
)
MAERegressionOutput = _regression_output("MAERegressionOutput", lambda x: x.copy(), lambda out, y: ew.sign(out - y))


def _make_loss_grad(g: Symbol, out: Symbol, data: Symbol, **attrs: Any) -> list:
    kind = attrs["normalization"]
    if kind == "batch":
        scale = attrs["grad_scale"] / red.reduced_count(data, (0,))
    elif kind == "valid":
        scale = attrs["grad_scale"] / ew.maximum(red.sum(data > attrs["valid_thresh"]), 1)
    else:
        scale = attrs["grad_scale"]
    return [ew.ones_like(data) * scale]


def _make_loss_attrs(attrs: dict) -> dict:
    attrs = dict(attrs)
    _number(attrs, "grad_scale", "valid_thresh")
    _choice(attrs, "normalization", _NORMALIZATIONS)
    return attrs


MakeLoss = register(
    "MakeLoss",
    lambda data, **_: np.array(data, copy=True),
    dtype=lambda x, **_: np.result_type(x),
    grad=_make_loss_grad,
    arity=1,
    attrs={"grad_scale": 1.0, "valid_thresh": 0.0, "normalization": "null"},
    normalize=_make_loss_attrs,
    elementwise=False,
    shape=lambda x, **_: x,
    shape_of=0,
    inputs=lambda attrs: ("data",),
    hint="makeloss",
)


# ---- Dropout ---------------------------------------------------------------------------


def _dropout_attrs(attrs: dict) -> dict:
    attrs = dict(attrs)
    _number(attrs, "p")
    if not 0 <= attrs["p"] < 1:
        raise SymgradError(f"p must be in [0, 1), got {attrs['p']}")
    _choice(attrs, "mode", ("training", "always"))
    attrs["axes"] = _int_tuple(attrs["axes"], "axes")
    return attrs


def _mask_shape(data: Shape, axes: Shape) -> Shape:
    shared = {a % max(len(data), 1) for a in axes}
    return tuple(1 if a in shared else n for a, n in enumerate(data))


def _dropout_mask_impl(data: Any, p: float, mode: str, axes: Shape, layer: str) -> np.ndarray:
    """1/(1-p) where an entry is kept, 0 where dropped, drawn from NumPy's global generator when training
    (or mode='always'); ones in predict mode. Axes listed share one draw (MXNet's variational dropout)."""
    data = np.asarray(data)
    dtype = float_dtype(data.dtype)
    shape = _mask_shape(data.shape, axes)
    if p == 0 or not (TRAINING.get() or mode == "always"):
        return np.ones(shape, dtype)
    return np.asarray((np.random.random_sample(shape) >= p) / (1 - p), dtype=dtype)


_dropout_mask = register(
    "_dropout_mask",
    _dropout_mask_impl,
    shape=lambda data, axes, **_: _mask_shape(data, axes),
    dtype=lambda data, **_: float_dtype(data),
    grad=lambda g, out, data, **_: [None],
    arity=1,
    attrs={"p": 0.5, "mode": "training", "axes": (), "layer": ""},
    elementwise=False,
    stateful=True,
    nondiff=True,
)

Dropout = register(
    "Dropout",
    lambda data, mask, **_: np.multiply(data, mask),
    shape=lambda data, mask, **_: data,
    dtype=lambda data, mask, **_: np.result_type(data),
    grad=lambda g, out, data, mask, **_: [g * mask, None],
    arity=2,
    attrs={"p": 0.5, "mode": "training", "axes": (), "cudnn_off": False},
    normalize=_dropout_attrs,
    elementwise=False,
    shape_of=0,
    inputs=lambda attrs: ("data", "mask"),
    derived={"mask": "_dropout_mask"},
    hint="dropout",
)


# ---- Embedding --------------------------------------------------------------------------


def _embedding_attrs(attrs: dict) -> dict:
    attrs = dict(attrs)
    for key in ("input_dim", "output_dim"):
        if attrs[key] is None:
            raise SymgradError(f"{key} is required")
        _positive_int(attrs, key)
    _flag(attrs, "sparse_grad")
    return attrs


def _embedding_rows(data: Any, input_dim: int) -> np.ndarray:
    """Row indices: data's values as ints, clipped into [0, input_dim) as MXNet's Embedding does."""
    return np.clip(np.asarray(data).astype(np.int64), 0, input_dim - 1)


def _embedding_impl(data: Any, weight: Any, input_dim: int, **_: Any) -> np.ndarray:
    return np.asarray(weight)[_embedding_rows(data, input_dim)]


def _embedding_grad_impl(g: Any, data: Any, like: Any, input_dim: int, **_: Any) -> np.ndarray:
    """Each row of the weight gets the sum of g over the positions that looked it up."""
    g = np.asarray(g)
    out = np.zeros(np.shape(like), dtype=g.dtype)
    np.add.at(out, _embedding_rows(data, input_dim).ravel(), g.reshape(-1, out.shape[1]))
    return out


def _embedding_shape(data: Shape, weight: Shape, input_dim: int, output_dim: int, **_: Any) -> Shape:
    if weight != (input_dim, output_dim):
        raise ShapeError(f"weight has shape {weight}, expected {(input_dim, output_dim)}")
    return (*data, output_dim)


_EMBEDDING_DEFAULTS = {"input_dim": None, "output_dim": None, "dtype": "float32", "sparse_grad": False}
Embedding = register(
    "Embedding",
    _embedding_impl,
    shape=_embedding_shape,
    dtype=lambda data, weight, **_: np.result_type(weight),
    grad=lambda g, out, data, weight, **attrs: [None, embedding_grad(g, data, weight, **attrs)],
    arity=2,
    attrs=_EMBEDDING_DEFAULTS,
    normalize=_embedding_attrs,
    elementwise=False,
    inputs=lambda attrs: ("data", "weight"),
    param_shapes=lambda data, input_dim, output_dim, **_: {"weight": (input_dim, output_dim)},
    hint="embedding",
)
embedding_grad = register(
    "embedding_grad",
    _embedding_grad_impl,
    shape=lambda g, data, like, **_: like,
    dtype=lambda g, data, like, **_: np.result_type(g),
    grad=lambda k, out, g, data, like, **attrs: [_op("Embedding", data, k, **attrs), None, None],
    arity=3,
    attrs=_EMBEDDING_DEFAULTS,
    elementwise=False,
    shape_of=2,
    dask=False,
)


# ---- BatchNorm ---------------------------------------------------------------------------

_BATCHNORM_DEFAULTS = {
    "eps": 1e-3,
    "momentum": 0.9,
    "fix_gamma": True,
    "use_global_stats": False,
    "output_mean_var": False,
    "axis": 1,
    "cudnn_off": False,
}


def _batchnorm_attrs(attrs: dict) -> dict:
    attrs = dict(attrs)
    _number(attrs, "eps", "momentum")
    _flag(attrs, "fix_gamma", "use_global_stats", "output_mean_var", "cudnn_off")
    if attrs["output_mean_var"]:
        raise SymgradError("output_mean_var=True is not supported (symgrad ops have one output)")
    if isinstance(attrs["axis"], bool) or not isinstance(attrs["axis"], (int, np.integer)):
        raise SymgradError(f"axis must be an int, got {attrs['axis']!r}")
    attrs["axis"] = int(attrs["axis"])
    return attrs


def _batchnorm_params(data: Shape, axis: int, **_: Any) -> dict[str, Shape]:
    if not -len(data) <= axis < len(data):
        raise ShapeError(f"axis {axis} is out of range for {len(data)}-d data")
    channels = (data[axis],)
    return dict.fromkeys(("gamma", "beta", "moving_mean", "moving_var"), channels)


def _batchnorm_shape(data: Shape, *params: Shape, axis: int, **_: Any) -> Shape:
    expected = _batchnorm_params(data, axis)["gamma"]
    for key, shape in zip(("gamma", "beta", "moving_mean", "moving_var"), params):
        if shape != expected:
            raise ShapeError(f"{key} has shape {shape}, expected {expected} (data's axis {axis})")
    return data


def _batchnorm_impl(data: Any, gamma: Any, beta: Any, moving_mean: Any, moving_var: Any, **attrs: Any) -> Any:
    """Batch statistics when training (and the moving statistics updated in place, as MXNet), else the moving ones."""
    data = np.asarray(data)
    axis = attrs["axis"] % data.ndim
    axes = tuple(a for a in range(data.ndim) if a != axis)
    column = [1] * data.ndim
    column[axis] = -1
    if TRAINING.get() and not attrs["use_global_stats"]:
        mean, var = data.mean(axis=axes), data.var(axis=axes)
        momentum = attrs["momentum"]
        for stat, batch in ((moving_mean, mean), (moving_var, var)):
            if isinstance(stat, np.ndarray) and stat.flags.writeable:
                stat *= momentum
                stat += (1 - momentum) * batch
    else:
        mean, var = np.asarray(moving_mean), np.asarray(moving_var)
    scale = (1.0 if attrs["fix_gamma"] else np.asarray(gamma)) / np.sqrt(var + attrs["eps"])
    shift = np.asarray(beta) - mean * scale
    return (data * np.reshape(scale, column) + np.reshape(shift, column)).astype(data.dtype, copy=False)


def _batchnorm_grad(g: Symbol, out: Symbol, data: Symbol, gamma: Symbol, beta: Symbol, mm: Symbol, mv: Symbol, **a):
    """Training mode's gradient (through the batch statistics), or the moving statistics' with use_global_stats."""
    rank = _rank(data)
    if rank is None:
        raise SymgradError("BatchNorm: its gradient needs the data's number of dimensions; declare its shape")
    axis = a["axis"] % rank
    axes = tuple(i for i in range(rank) if i != axis)

    def column(v: Symbol) -> Symbol:
        return shp.expand_dims(v, axis=axes)

    if a["use_global_stats"]:
        inv = column(1 / ew.sqrt(mv + a["eps"]))
        xhat = (data - column(mm)) * inv
        dx = g * inv
    else:
        centred = data - red.mean(data, axis=axes, keepdims=True)
        inv = 1 / ew.sqrt(red.mean(centred * centred, axis=axes, keepdims=True) + a["eps"])
        xhat = centred * inv
        dx = inv * (g - red.mean(g, axis=axes, keepdims=True) - xhat * red.mean(g * xhat, axis=axes, keepdims=True))
    if not a["fix_gamma"]:
        dx = dx * column(gamma)
    gamma_grad = None if a["fix_gamma"] else red.sum(g * xhat, axis=axes)
    return [dx, gamma_grad, red.sum(g, axis=axes), None, None]


BatchNorm = register(
    "BatchNorm",
    _batchnorm_impl,
    shape=_batchnorm_shape,
    dtype=lambda data, *_, **__: float_dtype(data),
    grad=_batchnorm_grad,
    arity=5,
    attrs=_BATCHNORM_DEFAULTS,
    normalize=_batchnorm_attrs,
    elementwise=False,
    shape_of=0,
    inputs=lambda attrs: ("data", "gamma", "beta", "moving_mean", "moving_var"),
    param_shapes=_batchnorm_params,
    aux=("moving_mean", "moving_var"),
    stateful=True,
    hint="batchnorm",
)
