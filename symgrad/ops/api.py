"""Every op builder in one namespace (what `sym` re-exports), plus the operator helpers."""

from __future__ import annotations

from typing import Any

from ..graph import Symbol
from .elementwise import (  # noqa: F401
    BlockGrad,
    Cast,
    abs,
    add,
    arccos,
    arcsin,
    arctan,
    cast,
    clip,
    cos,
    cosh,
    divide,
    erf,
    exp,
    expm1,
    log,
    log1p,
    maximum,
    minimum,
    multiply,
    negative,
    ones_like,
    power,
    relu,
    sigmoid,
    sign,
    sin,
    sinh,
    softplus,
    sqrt,
    square,
    stop_gradient,
    subtract,
    tan,
    tanh,
    where,
    zeros_like,
)
from .layers import (  # noqa: F401
    Activation,
    BatchNorm,
    Convolution,
    Dropout,
    Embedding,
    FullyConnected,
    LeakyReLU,
    LinearRegressionOutput,
    LogisticRegressionOutput,
    MAERegressionOutput,
    MakeLoss,
    Pooling,
    Softmax,
    SoftmaxOutput,
    one_hot_like,
)
from .linalg import dot, inv, logdet, matmul, swapaxes, trace, transpose  # noqa: F401
from .nn import log_softmax, softmax  # noqa: F401
from .reduction import logsumexp, max, mean, min, norm, prod, sum  # noqa: F401
from .registry import OPS, apply
from .shape import (  # noqa: F401
    Concat,
    Flatten,
    broadcast_to,
    concat,
    concatenate,
    expand_dims,
    flatten,
    getitem,
    getitem_arrays,
    ones,
    reshape,
    scatter_arrays,
    squeeze,
    stack,
    zeros,
)


def binary_operator(op: str, left: Any, right: Any, hint: str, scalar_hint: str) -> Symbol:
    """`a + b` and friends: MXNet names `_plus0` for two Symbols, `_plusscalar0` with a number."""
    both = isinstance(left, Symbol) and isinstance(right, Symbol)
    return apply(OPS[op], (left, right), {}, hint=hint if both else scalar_hint)
