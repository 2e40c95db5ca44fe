"""MXNet's layer ops: FullyConnected, Activation, LeakyReLU, Dropout, Embedding, BatchNorm.

Names, keyword arguments and semantics are MXNet 1.9's. A layer called without its weights
makes the variables `<name>_weight`, `<name>_bias` (`<name>_label` for a loss layer), and
`infer_shape(data=...)` gives their shapes (the registry's `inputs` and `param_shapes`).
Convolution and Pooling are in `conv.py`, the loss layers in `losses.py`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ShapeError, SymgradError
from ..graph import Symbol
from . import elementwise as ew
from . import reduction as red
from . import shape as shp
from .layer_args import (
    ACTIVATIONS,
    check_choice,
    check_flag,
    check_number,
    check_positive_int,
    data_weight_bias,
    int_tuple,
    known_rank,
    layer_node,
)
from .linalg import dot, matmul, swapaxes
from .registry import OPS, TRAINING, Shape, float_dtype, register

# ---- FullyConnected ------------------------------------------------------------------


def _fc_attrs(attrs: dict) -> dict:
    attrs = dict(attrs)
    if attrs["num_hidden"] is None:
        raise SymgradError("num_hidden is required (the number of output units)")
    check_positive_int(attrs, "num_hidden")
    check_flag(attrs, "no_bias", "flatten")
    return attrs


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
        if known_rank(data) == 2:  # nothing to flatten
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
    inputs=data_weight_bias,
    param_shapes=_fc_params,
    hint="fullyconnected",
)


# ---- Activation, LeakyReLU ------------------------------------------------------------


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
    check_choice(attrs, "act_type", tuple(ACTIVATIONS))
    return attrs


Activation = register(
    "Activation",
    lambda x, act_type: ACTIVATIONS[act_type](np.asarray(x)),
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
        rank = known_rank(x)
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
    check_choice(attrs, "act_type", ("leaky", "prelu", "rrelu", "elu", "selu", "gelu"))
    check_number(attrs, "slope", "lower_bound", "upper_bound")
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
    training=True,
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


# ---- Dropout ---------------------------------------------------------------------------


def _dropout_attrs(attrs: dict) -> dict:
    attrs = dict(attrs)
    check_number(attrs, "p")
    if not 0 <= attrs["p"] < 1:
        raise SymgradError(f"p must be in [0, 1), got {attrs['p']}")
    check_choice(attrs, "mode", ("training", "always"))
    attrs["axes"] = int_tuple(attrs["axes"], "axes")
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
    training=True,
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
        check_positive_int(attrs, key)
    check_flag(attrs, "sparse_grad")
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
    grad=lambda k, out, g, data, like, **attrs: [layer_node("Embedding", data, k, **attrs), None, None],
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
    check_number(attrs, "eps", "momentum")
    check_flag(attrs, "fix_gamma", "use_global_stats", "output_mean_var", "cudnn_off")
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
    """Batch statistics when training (and the moving statistics updated in place, as MXNet), else the moving ones;
    with fix_gamma the scale is 1, also written into the stored gamma, as MXNet does."""
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
    if attrs["fix_gamma"] and isinstance(gamma, np.ndarray) and gamma.flags.writeable:
        gamma[...] = 1  # MXNet writes the 1 it uses into the stored gamma, so weight decay acts on 1
    scale = (1.0 if attrs["fix_gamma"] else np.asarray(gamma)) / np.sqrt(var + attrs["eps"])
    shift = np.asarray(beta) - mean * scale
    return (data * np.reshape(scale, column) + np.reshape(shift, column)).astype(data.dtype, copy=False)


def standardized_grad(g: Symbol, x: Symbol, axes: Any, eps: float) -> tuple[Symbol, Symbol]:
    """The gradient for x of xhat = (x - mean) / sqrt(var + eps) over axes, for head g, and xhat
    (BatchNorm's, LayerNorm's and InstanceNorm's, through their statistics)."""
    centred = x - red.mean(x, axis=axes, keepdims=True)
    inv = 1 / ew.sqrt(red.mean(centred * centred, axis=axes, keepdims=True) + eps)
    xhat = centred * inv
    return inv * (g - red.mean(g, axis=axes, keepdims=True) - xhat * red.mean(g * xhat, axis=axes, keepdims=True)), xhat


def _batchnorm_grad(g: Symbol, out: Symbol, data: Symbol, gamma: Symbol, beta: Symbol, mm: Symbol, mv: Symbol, **a):
    """Training mode's gradient (through the batch statistics), or the moving statistics' with use_global_stats."""
    rank = known_rank(data)
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
        dx, xhat = standardized_grad(g, data, axes, a["eps"])
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
    writes=("gamma", "moving_mean", "moving_var"),  # training updates the moving statistics; fix_gamma writes 1
    training=True,
    hint="batchnorm",
)
