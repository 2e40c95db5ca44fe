"""`symgrad.optimizer`: MXNet's SGD (momentum, weight decay) and Adam for executor parameters.

Enough for MXNet's classic loop: `opt = optimizer.create("sgd", learning_rate=0.1)`, `simple_bind`,
`forward(is_train=True)`, `backward`, then `updater(i, ex.grad_dict[name], ex.arg_dict[name])` for
each parameter, in place. The update rules are MXNet 1.x's `sgd_update`/`sgd_mom_update`/`adam_update`.
"""

from __future__ import annotations

import math
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


class Adam:
    """MXNet's Adam: g = clip(rescale_grad * grad + wd * w), moments m and v, and
    w -= lr * sqrt(1 - beta2**t) / (1 - beta1**t) * m / (sqrt(v) + epsilon), t counted per weight."""

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        wd: float = 0.0,
        rescale_grad: float = 1.0,
        clip_gradient: float | None = None,
    ) -> None:
        if learning_rate <= 0 or not (0 <= beta1 < 1 and 0 <= beta2 < 1) or epsilon <= 0 or wd < 0:
            raise SymgradError(
                "Adam: needs learning_rate > 0, 0 <= beta1, beta2 < 1, epsilon > 0, wd >= 0;"
                f" got {learning_rate}, {beta1}, {beta2}, {epsilon}, {wd}"
            )
        self.lr, self.beta1, self.beta2, self.epsilon, self.wd = learning_rate, beta1, beta2, epsilon, wd
        self.rescale_grad, self.clip_gradient = rescale_grad, clip_gradient
        self.steps: dict[Any, int] = {}

    def create_state(self, index: Any, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The first and second moment buffers of one weight."""
        return np.zeros_like(weight), np.zeros_like(weight)

    def update(self, index: Any, weight: np.ndarray, grad: np.ndarray, state: tuple[np.ndarray, np.ndarray]) -> None:
        """One step on weight, in place."""
        weight, grad = np.asarray(weight), np.asarray(grad)
        t = self.steps[index] = self.steps.get(index, 0) + 1
        step = grad * self.rescale_grad + self.wd * weight
        if self.clip_gradient is not None:
            np.clip(step, -self.clip_gradient, self.clip_gradient, out=step)
        mean, var = state
        mean *= self.beta1
        mean += (1 - self.beta1) * step
        var *= self.beta2
        var += (1 - self.beta2) * step * step
        lr = self.lr * math.sqrt(1 - self.beta2**t) / (1 - self.beta1**t)
        weight -= lr * mean / (np.sqrt(var) + self.epsilon)


_OPTIMIZERS: dict[str, type] = {"sgd": SGD, "adam": Adam}


def create(name: str, **kwargs: Any) -> SGD | Adam:
    """An optimizer by MXNet's name (`"sgd"`, `"adam"`, any case), as `mx.optimizer.create`."""
    key = name.lower() if isinstance(name, str) else name
    if key not in _OPTIMIZERS:
        raise SymgradError(f"optimizer.create: unknown optimizer {name!r}; symgrad has {sorted(_OPTIMIZERS)}")
    return _OPTIMIZERS[key](**kwargs)


def get_updater(optimizer: SGD | Adam) -> Callable[[Any, np.ndarray, np.ndarray], None]:
    """MXNet's updater(index, grad, weight): keeps one optimizer state per index."""
    states: dict[Any, Any] = {}

    def updater(index: Any, grad: np.ndarray, weight: np.ndarray) -> None:
        if index not in states:
            states[index] = optimizer.create_state(index, weight)
        optimizer.update(index, weight, grad, states[index])

    return updater
