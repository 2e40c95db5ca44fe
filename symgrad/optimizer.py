"""`symgrad.optimizer`: MXNet's SGD (with momentum and weight decay) for executor parameters.

Enough for MXNet's classic loop: `simple_bind`, `forward(is_train=True)`, `backward`, then
`updater(i, ex.grad_dict[name], ex.arg_dict[name])` for each parameter, in place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import SymgradError


class SGD:
    """w -= lr * (rescale_grad * g + wd * w), through a momentum buffer when momentum > 0 (MXNet's rule)."""

    def __init__(
        self,
        learning_rate: float = 0.01,
        momentum: float = 0.0,
        wd: float = 0.0,
        rescale_grad: float = 1.0,
        clip_gradient: float | None = None,
    ) -> None:
        if learning_rate <= 0 or not 0 <= momentum < 1 or wd < 0:
            raise SymgradError(
                f"SGD: needs learning_rate > 0, 0 <= momentum < 1, wd >= 0; got {learning_rate}, {momentum}, {wd}"
            )
        self.lr, self.momentum, self.wd = learning_rate, momentum, wd
        self.rescale_grad, self.clip_gradient = rescale_grad, clip_gradient

    def create_state(self, index: Any, weight: np.ndarray) -> np.ndarray | None:
        """The momentum buffer of one weight (None without momentum)."""
        return np.zeros_like(weight) if self.momentum else None

    def update(self, index: Any, weight: np.ndarray, grad: np.ndarray, state: np.ndarray | None) -> None:
        """One step on weight, in place."""
        weight, grad = np.asarray(weight), np.asarray(grad)  # an NDArray's own buffer, so weight changes in place
        step = grad * self.rescale_grad
        if self.clip_gradient is not None:
            np.clip(step, -self.clip_gradient, self.clip_gradient, out=step)
        if self.wd:
            step += self.wd * weight
        if state is None:
            weight -= self.lr * step
        else:
            state *= self.momentum
            state -= self.lr * step
            weight += state


def get_updater(optimizer: SGD) -> Callable[[Any, np.ndarray, np.ndarray], None]:
    """MXNet's updater(index, grad, weight): keeps one optimizer state per index."""
    states: dict[Any, Any] = {}

    def updater(index: Any, grad: np.ndarray, weight: np.ndarray) -> None:
        if index not in states:
            states[index] = optimizer.create_state(index, weight)
        optimizer.update(index, weight, grad, states[index])

    return updater
