"""`nd.random`: MXNet's sampling functions over NumPy's global generator (`nd.random.seed` seeds it).

It sits below nd: nd makes its `random` with the array type to return and its eager op call,
through which multinomial's log-probabilities go, so that autograd records them (REINFORCE).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .ops.registry import OPS


class Random:
    """nd.random: normal, uniform, randint, shuffle, multinomial and seed; shape=() gives one 0-d sample."""

    def __init__(self, array_type: type, call: Callable[..., Any]) -> None:
        self._array, self._call = array_type, call

    def normal(self, loc: float = 0.0, scale: float = 1.0, shape: Any = (), dtype: Any = "float32", **_: Any) -> Any:
        return self._array(np.asarray(np.random.normal(loc, scale, size=shape), dtype=dtype))

    def uniform(self, low: float = 0.0, high: float = 1.0, shape: Any = (), dtype: Any = "float32", **_: Any) -> Any:
        return self._array(np.asarray(np.random.uniform(low, high, size=shape), dtype=dtype))

    def randint(self, low: int, high: int, shape: Any = (), dtype: Any = "int32", **_: Any) -> Any:
        """Integers drawn uniformly from [low, high), as MXNet's."""
        return self._array(np.asarray(np.random.randint(low, high, size=shape), dtype=dtype))

    def shuffle(self, data: Any, **_: Any) -> Any:
        """A copy of data with its rows (first axis) in a random order (MXNet's returns a new array too)."""
        return self._array(np.random.permutation(np.asarray(data)))

    def multinomial(self, data: Any, shape: Any = (), get_prob: bool = False, dtype: Any = "int32", **_: Any) -> Any:
        """Class indices drawn from the distributions along data's last axis, `shape` of them per distribution;
        with get_prob, also their log-probabilities (recorded under autograd.record(), for REINFORCE)."""
        probs = np.asarray(data, dtype=np.float64)
        size = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        cdf = np.cumsum(probs, axis=-1)
        cdf = cdf.reshape(cdf.shape[:-1] + (1,) * len(size) + cdf.shape[-1:])
        draws = np.random.uniform(size=probs.shape[:-1] + size)[..., None] * cdf[..., -1:]
        picked = np.minimum(np.sum(cdf <= draws, axis=-1), probs.shape[-1] - 1)  # inverse CDF
        samples = self._array(picked.astype(dtype))
        if not get_prob:
            return samples
        index = picked.reshape(probs.shape[:-1] + (-1,))
        chosen = self._call(OPS["along_axis"], (data, index), {"axis": -1})
        log_prob = self._call(OPS["log"], (chosen,), {})
        return [samples, self._call(OPS["reshape"], (log_prob,), {"shape": picked.shape})]

    @staticmethod
    def seed(seed: int) -> None:
        np.random.seed(seed)
