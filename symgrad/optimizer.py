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


class Optimizer:
    """What MXNet's optimizers share: learning rate, weight decay, gradient rescaling and clipping.

    Given `param_idx2name` (Module passes it), weight decay applies only to parameters named
    `*_weight` or `*_gamma`, as in MXNet: biases and BatchNorm's beta are not decayed. As in MXNet,
    that is decided here: an optimizer made without the names (`SGD(...)` handed to `Module.fit`)
    decays every parameter, though Module gives it the names afterwards.
    """

    def __init__(
        self,
        learning_rate: float,
        wd: float = 0.0,
        rescale_grad: float = 1.0,
        clip_gradient: float | None = None,
        param_idx2name: dict[Any, str] | None = None,
    ) -> None:
        if learning_rate <= 0 or wd < 0:
            raise SymgradError(f"{type(self).__name__}: needs learning_rate > 0 and wd >= 0; got {learning_rate}, {wd}")
        self.lr, self.wd, self.rescale_grad, self.clip_gradient = learning_rate, wd, rescale_grad, clip_gradient
        self.idx2name = dict(param_idx2name or {})
        self.wd_mult = {n: 0.0 for n in self.idx2name.values() if not n.endswith(("_weight", "_gamma"))}

    def wd_for(self, index: Any) -> float:
        """The weight decay of one parameter (0 for a parameter named at creation that is not a weight or gamma)."""
        return self.wd * self.wd_mult.get(self.idx2name.get(index), 1.0)

    def clipped(self, step: np.ndarray) -> np.ndarray:
        if self.clip_gradient is not None:
            np.clip(step, -self.clip_gradient, self.clip_gradient, out=step)
        return step


class SGD(Optimizer):
    """w -= lr * (rescale_grad * g + wd * w), through a momentum buffer when momentum > 0 (MXNet's rule)."""

    def __init__(self, learning_rate: float = 0.01, momentum: float = 0.0, **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        if not 0 <= momentum < 1:
            raise SymgradError(f"SGD: needs 0 <= momentum < 1, got {momentum}")
        self.momentum = momentum

    def create_state(self, index: Any, weight: np.ndarray) -> np.ndarray | None:
        """The momentum buffer of one weight (None without momentum)."""
        return np.zeros_like(weight) if self.momentum else None

    def update(self, index: Any, weight: np.ndarray, grad: np.ndarray, state: np.ndarray | None) -> None:
        """One step on weight, in place."""
        weight, grad = np.asarray(weight), np.asarray(grad)  # an NDArray's own buffer, so weight changes in place
        step = self.clipped(grad * self.rescale_grad)
        wd = self.wd_for(index)
        if wd:
            step += wd * weight
        if state is None:
            weight -= self.lr * step
        else:
            state *= self.momentum
            state -= self.lr * step
            weight += state


class Adam(Optimizer):
    """MXNet's Adam: g = clip(rescale_grad * grad + wd * w), moments m and v, and
    w -= lr * sqrt(1 - beta2**t) / (1 - beta1**t) * m / (sqrt(v) + epsilon), t counted per weight."""

    def __init__(
        self,
        learning_rate: float = 0.001,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1) or epsilon <= 0:
            raise SymgradError(f"Adam: needs 0 <= beta1, beta2 < 1 and epsilon > 0; got {beta1}, {beta2}, {epsilon}")
        self.beta1, self.beta2, self.epsilon = beta1, beta2, epsilon
        self.steps: dict[Any, int] = {}

    def create_state(self, index: Any, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The first and second moment buffers of one weight."""
        return np.zeros_like(weight), np.zeros_like(weight)

    def update(self, index: Any, weight: np.ndarray, grad: np.ndarray, state: tuple[np.ndarray, np.ndarray]) -> None:
        """One step on weight, in place."""
        weight, grad = np.asarray(weight), np.asarray(grad)
        t = self.steps[index] = self.steps.get(index, 0) + 1
        step = self.clipped(grad * self.rescale_grad + self.wd_for(index) * weight)
        mean, var = state
        mean *= self.beta1
        mean += (1 - self.beta1) * step
        var *= self.beta2
        var += (1 - self.beta2) * step * step
        lr = self.lr * math.sqrt(1 - self.beta2**t) / (1 - self.beta1**t)
        weight -= lr * mean / (np.sqrt(var) + self.epsilon)


_OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam}


def create(name: str, **kwargs: Any) -> Optimizer:
    """An optimizer by MXNet's name (`"sgd"`, `"adam"`, any case), as `mx.optimizer.create`."""
    key = name.lower() if isinstance(name, str) else name
    if key not in _OPTIMIZERS:
        raise SymgradError(f"optimizer.create: unknown optimizer {name!r}; symgrad has {sorted(_OPTIMIZERS)}")
    return _OPTIMIZERS[key](**kwargs)


def get_updater(optimizer: Optimizer) -> Callable[[Any, np.ndarray, np.ndarray], None]:
    """MXNet's updater(index, grad, weight): keeps one optimizer state per index."""
    states: dict[Any, Any] = {}

    def updater(index: Any, grad: np.ndarray, weight: np.ndarray) -> None:
        if index not in states:
            states[index] = optimizer.create_state(index, weight)
        optimizer.update(index, weight, grad, states[index])

    return updater
