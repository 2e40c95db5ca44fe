"""MXNet's Convolution and Pooling (1-, 2- and 3-D, NCW/NCHW/NCDHW), with their adjoint ops.

Convolution copies its windows out of `sliding_window_view` with the batch last and multiplies
them with one `matmul` per call (im2col); adding window entries back onto the input (col2im) is
one strided add per kernel offset, each over every window at once. Pooling and its gradients
work a kernel offset at a time too (a max or add over strided views), with no window copy.
Their gradients are ops of their own (`conv_transpose`, `conv_weight_grad`, `pool_grad`,
`pool_pick`), each with a gradient rule, so second derivatives work.
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

# ---- windows ---------------------------------------------------------------------------------------
# The convolution kernels keep the batch as the last, contiguous axis of their window entries,
# (C, *kernel, *out, N): gathering the windows and adding them back then moves rows of
# out[-1] * N numbers rather than rows of a kernel's width, and each product is one BLAS call
# per group over the whole batch. Pooling works on (N, C, *spatial) in place, a kernel offset at a time.


def _padded(x: np.ndarray, pad: Shape, end: Shape, fill: Any) -> np.ndarray:
    """x (N, C, *spatial) padded with fill by pad on both sides of each spatial axis and end more at its end."""
    if not any(pad) and not any(end):
        return x
    return np.pad(x, [(0, 0), (0, 0)] + [(p, p + e) for p, e in zip(pad, end)], constant_values=fill)


def _offsets(kernel: Shape, dilate: Shape, stride: Shape, out: Shape) -> list[tuple[tuple, tuple]]:
    """Each kernel offset with the slices of the padded spatial axes its entries of all windows occupy."""
    return [
        (offset, tuple(slice(k * d, k * d + s * (o - 1) + 1, s) for k, d, s, o in zip(offset, dilate, stride, out)))
        for offset in np.ndindex(*kernel)
    ]


def _fold(ufunc: np.ufunc, entries: list[np.ndarray]) -> np.ndarray:
    """ufunc(ufunc(e0, e1), e2)... over a kernel's entries, into one new array (a copy for a 1-entry kernel)."""
    if len(entries) == 1:
        return entries[0].copy()
    result = ufunc(entries[0], entries[1])
    for entry in entries[2:]:
        ufunc(result, entry, out=result)
    return result


def _im2col(x: np.ndarray, kernel: Shape, stride: Shape, dilate: Shape, pad: Shape, out: Shape) -> np.ndarray:
    """x (N, C, *spatial)'s windows copied as (C, *kernel, *out, N): [c, k, o, n] is x_padded[n, c, o*s + k*d]."""
    nd = len(kernel)
    spatial = x.shape[2:]
    grid = np.zeros((x.shape[1], *(s + 2 * p for s, p in zip(spatial, pad)), x.shape[0]), dtype=x.dtype)
    grid[(slice(None), *(slice(p, p + s) for p, s in zip(pad, spatial)))] = np.moveaxis(x, 0, -1)
    extent = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilate))
    view = sliding_window_view(grid, extent, axis=tuple(range(1, 1 + nd)))  # (C, *starts, N, *extent)
    view = view[(slice(None), *(slice(None, s * (o - 1) + 1, s) for s, o in zip(stride, out)))]
    view = view[(Ellipsis, *(slice(None, None, d) for d in dilate))]
    perm = (0, *range(2 + nd, 2 + 2 * nd), *range(1, 1 + nd), 1 + nd)
    return np.ascontiguousarray(np.transpose(view, perm))


def _col2im(cols: np.ndarray, xshape: Shape, stride: Shape, dilate: Shape, pad: Shape) -> np.ndarray:
    """The adjoint of _im2col: each entry of cols (C, *kernel, *out, N) added onto its place in x (N, C, *spatial).

    One strided add per kernel offset (25 for a 5x5 kernel), each over every window and the batch at once."""
    nd = len(stride)
    kernel, out = cols.shape[1 : 1 + nd], cols.shape[1 + nd : 1 + 2 * nd]
    spatial = tuple(xshape[2:])
    grid = np.zeros((xshape[1], *(x + 2 * p for x, p in zip(spatial, pad)), xshape[0]), dtype=cols.dtype)
    for offset, target in _offsets(kernel, dilate, stride, out):
        grid[(slice(None), *target)] += cols[(slice(None), *offset)]
    inside = grid[(slice(None), *(slice(p, p + x) for p, x in zip(pad, spatial)))]
    return np.ascontiguousarray(np.moveaxis(inside, -1, 0))


def _batch_last(g: np.ndarray, groups: int) -> np.ndarray:
    """g (N, F, *out) as (groups, F/groups, out*N), the batch last as in _im2col's windows."""
    return np.ascontiguousarray(np.moveaxis(g, 0, -1)).reshape(groups, g.shape[1] // groups, -1)


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


def _conv_params(data: Shape, transposed: bool = False, **attrs: Any) -> dict[str, Shape]:
    """The weight and bias shapes: (F, C/groups, *kernel) for Convolution, (C, F/groups, *kernel) transposed."""
    kernel, groups, filters = attrs["kernel"], attrs["num_group"], attrs["num_filter"]
    if len(data) != 2 + len(kernel):
        raise ShapeError(f"data must be {_CONV_LAYOUTS[len(kernel)]} ({2 + len(kernel)}-d) for kernel {kernel}")
    if data[1] % groups or filters % groups:
        raise ShapeError(f"channels {data[1]} and num_filter {filters} must be multiples of num_group {groups}")
    weight = (data[1], filters // groups) if transposed else (filters, data[1] // groups)
    return {"weight": (*weight, *kernel), "bias": (filters,)}


def _check_params(expected: dict[str, Shape], data: Shape, weight: Shape, bias: Shape | None) -> None:
    if weight != expected["weight"]:
        raise ShapeError(f"weight has shape {weight}, expected {expected['weight']} for data {data}")
    if bias is not None and bias != expected["bias"]:
        raise ShapeError(f"bias has shape {bias}, expected {expected['bias']}")


def _plus_bias(result: np.ndarray, bias: Any) -> np.ndarray:
    """result (N, F, *spatial) plus a bias per channel, into a new contiguous array."""
    if bias is None:
        return np.ascontiguousarray(result)
    column = np.reshape(bias, (-1,) + (1,) * (result.ndim - 2))
    return np.add(result, column, out=np.empty(result.shape, np.result_type(result, column)))


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
    if attrs["num_filter"] is None:  # Deconvolution's gradient: as many filters as the weight has, shapes unknown
        attrs = {**attrs, "num_filter": weight[0]}
    _check_params(_conv_params(data, **attrs), data, weight, bias)
    return _conv_out(data, attrs)


def _conv_cols(data: np.ndarray, attrs: dict) -> np.ndarray:
    """data's windows as (groups, C/groups*kernel, out*N): the im2col matrix of each group."""
    kernel, stride, dilate, pad = _geometry(attrs)
    cols = _im2col(data, kernel, stride, dilate, pad, _conv_out(data.shape, attrs)[2:])
    return cols.reshape(attrs["num_group"], cols.shape[0] // attrs["num_group"] * math.prod(kernel), -1)


def _group_kernels(weight: Any, groups: int) -> np.ndarray:
    """weight (F, C/groups, *kernel) as (groups, F/groups, C/groups*kernel)."""
    weight = np.asarray(weight)
    return weight.reshape(groups, weight.shape[0] // groups, -1)


def _conv_impl(data: Any, weight: Any, bias: Any = None, **attrs: Any) -> np.ndarray:
    data = np.asarray(data)
    n, out = data.shape[0], (np.shape(weight)[0], *_conv_out(data.shape, attrs)[2:])
    product = np.matmul(_group_kernels(weight, attrs["num_group"]), _conv_cols(data, attrs))  # (G, F/G, out*N)
    return _plus_bias(np.moveaxis(product.reshape(*out, n), -1, 0), bias)


def _conv_transpose_impl(g: Any, weight: Any, like: Any, **attrs: Any) -> np.ndarray:
    """The gradient of Convolution for its data: every output's g times the kernel, added onto its window."""
    return _transposed(np.asarray(g), weight, np.shape(like), attrs)


def _transposed(g: np.ndarray, weight: Any, xshape: Shape, attrs: dict) -> np.ndarray:
    """The transpose of Convolution with this weight and geometry, from its output g to data of xshape."""
    kernel, stride, dilate, pad = _geometry(attrs)
    kernels = _group_kernels(weight, attrs["num_group"])  # (G, F/G, C/G*kernel)
    cols = np.matmul(np.swapaxes(kernels, 1, 2), _batch_last(g, attrs["num_group"]))  # (G, C/G*kernel, out*N)
    return _col2im(cols.reshape(xshape[1], *kernel, *g.shape[2:], g.shape[0]), xshape, stride, dilate, pad)


def _conv_weight_grad_impl(data: Any, g: Any, like: Any, **attrs: Any) -> np.ndarray:
    """The gradient of Convolution for its weight: g against data's windows, one matmul per group."""
    cols = _conv_cols(np.asarray(data), attrs)  # (G, C/G*kernel, out*N)
    grads = np.matmul(_batch_last(np.asarray(g), attrs["num_group"]), np.swapaxes(cols, 1, 2))
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


# ---- Deconvolution -----------------------------------------------------------------
# MXNet's Deconvolution is the transpose of the Convolution with the same weight, kernel, stride,
# dilate, pad and groups: data (N, C, *x), weight (C, F/groups, *kernel), out (N, F, *out) with
# out = stride*(x-1) + dilate*(kernel-1) + 1 - 2*pad + adj. Its gradients are that Convolution
# (for data) and conv_weight_grad with the roles of data and output swapped (for the weight).

_DECONV_DEFAULTS = {**_CONV_DEFAULTS, "adj": (), "target_shape": (), "no_bias": True, "workspace": 512}


def _deconv_attrs(attrs: dict) -> dict:
    attrs = _conv_attrs(attrs)
    kernel = attrs["kernel"]
    for key in ("adj", "target_shape"):
        value = attrs[key] = int_tuple(attrs[key], key)
        if value and len(value) != len(kernel):
            raise SymgradError(f"{key} {value} must have one entry per kernel dimension {kernel}")
        if value and min(value) < (0 if key == "adj" else 1):
            raise SymgradError(f"{key} must be {'non-negative' if key == 'adj' else 'positive'}, got {value}")
    stride = attrs["stride"] or (1,) * len(kernel)
    if attrs["adj"] and not attrs["target_shape"] and any(a >= s for a, s in zip(attrs["adj"], stride)):
        raise SymgradError(f"adj {attrs['adj']} must be smaller than stride {stride}, as in MXNet")
    return attrs


def _deconv_geometry(data: Shape, attrs: dict) -> tuple[Shape, Shape]:
    """The padding and output size: from pad and adj, or (target_shape) the padding that gives that size,
    as MXNet computes it (the total padding split evenly, the odd unit added back by adj)."""
    kernel, stride, dilate, pad = _geometry(attrs)
    if len(data) != 2 + len(kernel):
        raise ShapeError(f"data must be {_CONV_LAYOUTS[len(kernel)]} ({2 + len(kernel)}-d) for kernel {kernel}")
    full = tuple(s * (x - 1) + d * (k - 1) + 1 for x, k, s, d in zip(data[2:], kernel, stride, dilate))
    if attrs["target_shape"]:
        total = [f - t for f, t in zip(full, attrs["target_shape"])]
        if min(total) < 0:
            raise ShapeError(f"target_shape {attrs['target_shape']} is larger than the unpadded output {full}")
        pad, adj = tuple((t + 1) // 2 for t in total), tuple(t % 2 for t in total)
        if any(a >= s for a, s in zip(adj, stride)):
            raise ShapeError(
                f"target_shape {attrs['target_shape']} needs adj {adj}, which stride {stride} does not allow"
            )
    else:
        adj = attrs["adj"] or (0,) * len(kernel)
    out = tuple(f - 2 * p + a for f, p, a in zip(full, pad, adj))
    if min(out) < 1:
        raise ShapeError(f"pad {pad} leaves no output from data {data[2:]} (output {out})")
    return pad, out


def deconv_shape(data: Shape, weight: Shape, bias: Shape | None = None, **attrs: Any) -> Shape:
    _check_params(_conv_params(data, transposed=True, **attrs), data, weight, bias)
    return (data[0], attrs["num_filter"], *_deconv_geometry(data, attrs)[1])


def deconv_impl(data: Any, weight: Any, bias: Any = None, **attrs: Any) -> np.ndarray:
    data = np.asarray(data)
    pad, out = _deconv_geometry(data.shape, attrs)
    return _plus_bias(
        _transposed(data, weight, (data.shape[0], attrs["num_filter"], *out), {**attrs, "pad": pad}), bias
    )


def deconv_grad(g: Symbol, out: Symbol, data: Symbol, weight: Symbol, bias: Symbol | None = None, **attrs: Any):
    # <Deconvolution(x, w), g> = <x, Convolution(g, w)>, whose num_filter (None) is the weight's first axis
    if attrs["target_shape"] and data.shape is None:
        raise SymgradError(
            "Deconvolution: the gradient with target_shape needs the data's shape (the padding depends on it);"
            " declare it, sym.var('data', shape=...), or give pad and adj instead"
        )
    pad = _deconv_geometry(data.shape, attrs)[0] if attrs["target_shape"] else _geometry(attrs)[3]
    geo = {**_geometry_attrs(attrs), "pad": pad, "num_filter": None}
    grads = [
        layer_node("Convolution", g, weight, **_no_bias({**_CONV_DEFAULTS, **geo})),
        conv_weight_grad(g, data, weight, **geo),
    ]
    if bias is not None:
        grads.append(red.sum(g, axis=(0, *range(2, 2 + len(attrs["kernel"])))))
    return grads


Deconvolution = register(
    "Deconvolution",
    deconv_impl,
    shape=deconv_shape,
    dtype=lambda *dtypes, **_: np.result_type(*dtypes),
    grad=deconv_grad,
    arity=None,
    attrs=_DECONV_DEFAULTS,
    normalize=_deconv_attrs,
    elementwise=False,
    inputs=data_weight_bias,
    param_shapes=lambda data, **attrs: _conv_params(data, transposed=True, **attrs),
    hint="deconvolution",
)


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


def _lowest(dtype: np.dtype) -> Any:
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _pool_impl(data: Any, **attrs: Any) -> np.ndarray:
    data = np.asarray(data)
    kind = attrs["pool_type"]
    kernel, stride, pad, end, out = _pool_geometry(data.shape, attrs)
    padded = _padded(data, pad, end, _lowest(data.dtype) if kind == "max" else 0)
    entries = [padded[(Ellipsis, *target)] for _, target in _offsets(kernel, (1,) * len(kernel), stride, out)]
    if kind == "max":
        return _fold(np.maximum, entries)
    total = _fold(np.add, entries)
    return total / _pool_count(data.shape, attrs).astype(data.dtype) if kind == "avg" else total


def _first_max_hits(data: np.ndarray, attrs: dict) -> list[tuple[tuple, np.ndarray]]:
    """For each kernel offset, its slices of the padded data and where it holds its window's first maximum
    (where MXNet sends max pooling's gradient; a window holding NaN picks its first NaN, as argmax did)."""
    kernel, stride, pad, end, out = _pool_geometry(data.shape, attrs)
    padded = _padded(data, pad, end, _lowest(data.dtype))
    targets = [target for _, target in _offsets(kernel, (1,) * len(kernel), stride, out)]
    entries = [padded[(Ellipsis, *target)] for target in targets]
    top = _fold(np.maximum, entries)
    nan = data.dtype.kind in "fc" and bool(np.isnan(top).any())
    taken = np.zeros(top.shape, dtype=bool)
    hits = []
    for target, entry in zip(targets, entries):
        hit = entry == top
        if nan:
            hit |= np.isnan(entry)
        hit &= ~taken
        taken |= hit
        hits.append((target, hit))
    return hits


def _finite(values: np.ndarray) -> bool:
    """No inf or NaN in values (checked once per call, not per kernel offset)."""
    return values.dtype.kind not in "fc" or bool(np.isfinite(values).all())


def _only_at(hit: np.ndarray, values: np.ndarray, finite: bool) -> np.ndarray:
    """values where hit, exactly 0 elsewhere: values * hit, the fastest, unless values holds an inf or NaN
    (0 * inf is NaN, which would reach entries that are not their window's maximum)."""
    return values * hit if finite else np.where(hit, values, 0)


def _pool_grad_impl(g: Any, data: Any, **attrs: Any) -> np.ndarray:
    """Pooling's gradient for data: g sent back to each window's maximum, or spread over it (avg, sum).

    One strided add per kernel offset into the padded input, each over every window at once."""
    g, data = np.asarray(g), np.asarray(data)
    kind = attrs["pool_type"]
    if kind == "avg":
        g = g / _pool_count(data.shape, attrs).astype(g.dtype)
    kernel, stride, pad, end, out = _pool_geometry(data.shape, attrs)
    if kind == "max":
        finite = _finite(g)
        parts = [(target, _only_at(hit, g, finite)) for target, hit in _first_max_hits(data, attrs)]
    else:
        parts = [(target, g) for _, target in _offsets(kernel, (1,) * len(kernel), stride, out)]
    grid = np.zeros((*data.shape[:2], *(x + 2 * p + e for x, p, e in zip(data.shape[2:], pad, end))), dtype=g.dtype)
    for target, part in parts:
        grid[(Ellipsis, *target)] += part
    return np.ascontiguousarray(grid[(Ellipsis, *(slice(p, p + x) for p, x in zip(pad, data.shape[2:])))])


def _pool_pick_impl(h: Any, data: Any, **attrs: Any) -> np.ndarray:
    """h's entries at the maxima of data's windows (the adjoint of max pooling's gradient)."""
    h, data = np.asarray(h), np.asarray(data)
    _, _, pad, end, out = _pool_geometry(data.shape, attrs)
    padded = _padded(h, pad, end, 0)
    picked = np.zeros((*h.shape[:2], *out), dtype=h.dtype)
    finite = _finite(h)
    for target, hit in _first_max_hits(data, attrs):
        picked += _only_at(hit, padded[(Ellipsis, *target)], finite)
    return picked


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
