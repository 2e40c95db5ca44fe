"""`symgrad.init`: MXNet's parameter initializers (Xavier, Uniform, Normal, Zero, One, Constant).

An initializer is called as `init(name, array)` and fills the array in place, choosing by
the name's suffix as MXNet does: `*_weight` gets the initializer's distribution, `*_bias`,
`*_beta` and `*_moving_mean` zeros, `*_gamma` and `*_moving_var` ones. Random draws come
from NumPy's global generator, so `nd.random.seed(n)` (or `np.random.seed(n)`) makes them
repeatable, as `mx.random.seed` does.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from .errors import SymgradError

_ZEROS = ("bias", "beta", "moving_mean", "running_mean")
_ONES = ("gamma", "moving_var", "running_var")


class Initializer(ABC):
    """Fills parameters by their names' suffixes; subclasses say how a weight is drawn."""

    def __call__(self, name: str, arr: np.ndarray) -> None:
        """Fill arr in place according to name (MXNet's `init(InitDesc(name), arr)`)."""
        name = str(name)
        if not isinstance(arr, np.ndarray) and hasattr(arr, "_is_ndarray"):
            arr = np.asarray(arr)  # the NDArray's own buffer, filled in place
        if name.endswith(_ZEROS):
            arr[...] = 0
        elif name.endswith(_ONES):
            arr[...] = 1
        elif name.endswith("weight"):
            arr[...] = self._init_weight(name, arr.shape)
        else:
            raise SymgradError(
                f"init: no initialization pattern for {name!r}; parameter names end in weight, bias, gamma, beta,"
                " moving_mean or moving_var (inputs such as data and labels are not initialized)"
            )

    @abstractmethod
    def _init_weight(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """A weight's values."""


class Zero(Initializer):
    """Every parameter 0."""

    def _init_weight(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        return np.zeros(shape)


class One(Initializer):
    """Weights 1."""

    def _init_weight(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        return np.ones(shape)


class Constant(Initializer):
    """Weights set to one value."""

    def __init__(self, value: float) -> None:
        self.value = value

    def _init_weight(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        return np.full(shape, self.value)


class Uniform(Initializer):
    """Weights uniform in [-scale, scale] (MXNet's default scale 0.07)."""

    def __init__(self, scale: float = 0.07) -> None:
        self.scale = scale

    def _init_weight(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        return np.random.uniform(-self.scale, self.scale, shape)


class Normal(Initializer):
    """Weights normal with mean 0 and standard deviation sigma (MXNet's default 0.01)."""

    def __init__(self, sigma: float = 0.01) -> None:
        self.sigma = sigma

    def _init_weight(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        return np.random.normal(0, self.sigma, shape)


class Xavier(Initializer):
    """Glorot's scaling: uniform in [-c, c] (or normal with sd c), c = sqrt(magnitude / factor),
    factor the fan in, fan out or their average, as MXNet's Xavier(rnd_type, factor_type, magnitude)."""

    def __init__(self, rnd_type: str = "uniform", factor_type: str = "avg", magnitude: float = 3) -> None:
        if rnd_type not in ("uniform", "gaussian"):
            raise SymgradError(f"Xavier: rnd_type must be 'uniform' or 'gaussian', got {rnd_type!r}")
        if factor_type not in ("avg", "in", "out"):
            raise SymgradError(f"Xavier: factor_type must be 'avg', 'in' or 'out', got {factor_type!r}")
        self.rnd_type, self.factor_type, self.magnitude = rnd_type, factor_type, float(magnitude)

    def _init_weight(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        if len(shape) < 2:
            raise SymgradError(f"Xavier: weight {name!r} of shape {shape} needs at least 2 dimensions (fan in and out)")
        receptive = math.prod(shape[2:])
        fan_in, fan_out = shape[1] * receptive, shape[0] * receptive
        factor = {"avg": (fan_in + fan_out) / 2.0, "in": fan_in, "out": fan_out}[self.factor_type]
        scale = math.sqrt(self.magnitude / factor)
        if self.rnd_type == "uniform":
            return np.random.uniform(-scale, scale, shape)
        return np.random.normal(0, scale, shape)


def initialize(init: Initializer, arrays: dict[str, Any], skip: Any = ()) -> None:
    """Fill every array in `arrays` (an executor's arg_dict or aux_dict) except the names in skip."""
    for name, arr in arrays.items():
        if name not in skip:
            init(name, arr)
