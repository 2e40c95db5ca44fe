"""MXNet's loss layers: forward a prediction, backward MXNet's fixed gradient (the head gradient is ignored).

SoftmaxOutput's gradient is `softmax(x) - one_hot(label)`, scaled by `grad_scale` and
`normalization`; the regression outputs give `out - label` (or its sign); MakeLoss passes
its input's gradient through, scaled.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ShapeError
from ..graph import Symbol
from . import elementwise as ew
from . import reduction as red
from . import shape as shp
from .layer_args import (
    ACTIVATIONS,
    check_choice,
    check_flag,
    check_number,
    known_rank,
)
from .nn import softmax
from .registry import OPS, Shape, float_dtype, register

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
    check_number(attrs, "grad_scale", "ignore_label", "smooth_alpha")
    check_flag(attrs, "multi_output", "use_ignore", "preserve_shape", "out_grad")
    check_choice(attrs, "normalization", _NORMALIZATIONS)
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
    rank = known_rank(data)
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
        check_number(a, "grad_scale")
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
        param_shapes=lambda data, **_: {"label": data[:1] if len(data) == 2 and data[1] == 1 else data},  # MXNet's
        hint=name.lower(),
    )


LinearRegressionOutput = _regression_output("LinearRegressionOutput", lambda x: x.copy(), lambda out, y: out - y)
LogisticRegressionOutput = _regression_output(
    "LogisticRegressionOutput", ACTIVATIONS["sigmoid"], lambda out, y: out - y
)
MAERegressionOutput = _regression_output("MAERegressionOutput", lambda x: x.copy(), lambda out, y: ew.sign(out - y))


def _make_loss_grad(g: Symbol, out: Symbol, data: Symbol, **attrs: Any) -> list:
    kind = attrs["normalization"]
    if kind == "batch":
        scale = attrs["grad_scale"] / _make_loss_rows(data)
    elif kind == "valid":
        scale = attrs["grad_scale"] / ew.maximum(red.sum(data > attrs["valid_thresh"]), 1)
    else:
        scale = attrs["grad_scale"]
    return [ew.ones_like(data) * scale]


def _make_loss_rows(data: Symbol) -> Any:
    """What MakeLoss's 'batch' divides by: MXNet's rows of data flattened to 2-d, all axes but the last
    (1 for a per-example loss of shape (N,) and for a 0-d one; N*C for (N, C, K))."""
    rank = known_rank(data)
    if rank is not None:
        return red.reduced_count(data, tuple(range(rank - 1)))
    return red.reduced_count(data, None) / red.reduced_count(data, (-1,))


def _make_loss_attrs(attrs: dict) -> dict:
    attrs = dict(attrs)
    check_number(attrs, "grad_scale", "valid_thresh")
    check_choice(attrs, "normalization", _NORMALIZATIONS)
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


# ---- softmax_cross_entropy: MXNet's summed cross-entropy of softmax(data) against class labels ---------


def _softmax_cross_entropy_impl(data: Any, label: Any) -> np.ndarray:
    data = np.asarray(data)
    top = data.max(axis=-1, keepdims=True)
    log_prob = data - top - np.log(np.exp(data - top).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(log_prob, np.asarray(label).astype(np.int64)[:, None], axis=-1)
    return np.array([-picked.sum()], dtype=float_dtype(data.dtype))


def _softmax_cross_entropy_shape(data: Shape, label: Shape) -> Shape:
    if len(data) != 2 or label != data[:1]:
        raise ShapeError(
            f"softmax_cross_entropy needs data (batch, classes) and label (batch,), got {data} and {label}"
        )
    return (1,)


softmax_cross_entropy = register(
    "softmax_cross_entropy",
    _softmax_cross_entropy_impl,
    shape=_softmax_cross_entropy_shape,
    dtype=lambda data, label: float_dtype(data),
    grad=lambda g, out, data, label: [g * (softmax(data) - one_hot_like(label, data, axis=-1)), None],
    arity=2,
    elementwise=False,
    aliases=(),
)
