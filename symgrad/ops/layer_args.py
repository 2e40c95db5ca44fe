"""Checks and helpers the layer ops share: attribute validation, input lists, ranks, activation kernels."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SymgradError
from ..graph import Symbol
from .registry import OPS, apply


def layer_node(name: str, *inputs: Any, **attrs: Any) -> Symbol:
    """A node of a registered op from its inputs and full attrs (what gradient rules build)."""
    return apply(OPS[name], inputs, attrs)


def check_choice(attrs: dict, key: str, allowed: tuple) -> None:
    if attrs[key] not in allowed:
        raise SymgradError(f"{key} must be one of {allowed}, got {attrs[key]!r}")


def int_tuple(value: Any, key: str) -> tuple[int, ...]:
    """MXNet's shape-like attrs: an int, a tuple or list of ints, or () for the default."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),)
    if not isinstance(value, (tuple, list)) or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value
    ):
        raise SymgradError(f"{key} must be a tuple of ints, got {value!r}")
    return tuple(int(v) for v in value)


def check_positive_int(attrs: dict, key: str) -> None:
    value = attrs[key]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise SymgradError(f"{key} must be a positive int, got {value!r}")
    attrs[key] = int(value)


def check_number(attrs: dict, *keys: str) -> None:
    for key in keys:
        if isinstance(attrs[key], bool) or not isinstance(attrs[key], (int, float, np.number)):
            raise SymgradError(f"{key} must be a number, got {attrs[key]!r}")
        attrs[key] = float(attrs[key])


def check_flag(attrs: dict, *keys: str) -> None:
    for key in keys:
        if not isinstance(attrs[key], (bool, np.bool_)):
            raise SymgradError(f"{key} must be True or False, got {attrs[key]!r}")
        attrs[key] = bool(attrs[key])


def known_rank(x: Symbol) -> int | None:
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


def data_weight_bias(attrs: dict) -> tuple[str, ...]:
    return ("data", "weight") if attrs["no_bias"] else ("data", "weight", "bias")


# The kernels of Activation, also LogisticRegressionOutput's sigmoid.
ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: OPS["sigmoid"].impl(x),
    "tanh": np.tanh,
    "softrelu": lambda x: np.logaddexp(0, x),
    "softsign": lambda x: x / (1 + np.abs(x)),
}
