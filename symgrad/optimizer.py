"""`symgrad.optimizer`: MXNet 1.x's SGD, NAG, Adam, AdaGrad and RMSProp for executor parameters.

Enough for MXNet's classic loop: `opt = optimizer.create("sgd", learning_rate=0.1)`, `simple_bind`,
`forward(is_train=True)`, `backward`, then `updater(i, ex.grad_dict[name], ex.arg_dict[name])` for
each parameter, in place. The update rules are MXNet 1.x's `sgd_update`/`sgd_mom_update`/
`nag_mom_update`/`adam_update`/`rmsprop_update`/`rmspropalex_update` (`symgrad.updates`, also
`nd.sgd_update(w, g, lr=..., out=w)` and the others for hand-written loops) and its Python AdaGrad,
and an `lr_scheduler=` (`symgrad.lr_scheduler`) sets the rate of each update as in MXNet.
"""

from __future__ import annotations

import difflib
import inspect
import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import SymgradError, user_frame_depth
from .updates import adam_update, nag_mom_update, rmsprop_update, rmspropalex_update, sgd_mom_update, sgd_update


class Optimizer:
    """What MXNet's optimizers share: learning rate (or its scheduler), weight decay, gradient rescaling and clipping.

    Given `param_idx2name` (Module passes it), weight decay applies only to parameters named
    `*_weight` or `*_gamma`, as in MXNet: biases and BatchNorm's beta are not decayed. As in MXNet,
    that is decided here: an optimizer made without the names (`SGD(...)` handed to `Module.fit`)
    decays every parameter, though Module gives it the names afterwards. Each update counts the
    weight's updates; `num_update`, the largest count, is what `lr_scheduler` is asked about.
    """

    def __init__(
        self,
        learning_rate: float | None = None,
        wd: float = 0.0,
        rescale_grad: float = 1.0,
        clip_gradient: float | None = None,
        param_idx2name: dict[Any, str] | None = None,
        lr_scheduler: Any = None,
        begin_num_update: int = 0,
    ) -> None:
        name = type(self).__name__
        if lr_scheduler is not None and (isinstance(lr_scheduler, type) or not hasattr(lr_scheduler, "base_lr")):
            raise SymgradError(
                f"{name}: lr_scheduler must be a scheduler made with its arguments, such as"
                f" lr_scheduler.FactorScheduler(step=100, factor=0.9); got {lr_scheduler!r}"
            )
        if lr_scheduler is None and learning_rate is None:
            learning_rate = 0.01  # MXNet's default when neither is given
        if (learning_rate is not None and learning_rate <= 0) or wd < 0:
            raise SymgradError(f"{name}: needs learning_rate > 0 and wd >= 0; got {learning_rate}, {wd}")
        if lr_scheduler is not None and learning_rate is not None and lr_scheduler.base_lr != learning_rate:
            warnings.warn(
                f"{name}: learning_rate={learning_rate} replaces the lr_scheduler's base_lr={lr_scheduler.base_lr}"
                " (as in MXNet); leave learning_rate out to start from base_lr",
                stacklevel=user_frame_depth(),
            )
            lr_scheduler.base_lr = learning_rate
        self.lr, self.lr_scheduler = learning_rate, lr_scheduler
        self.wd, self.rescale_grad, self.clip_gradient = wd, rescale_grad, clip_gradient
        self.begin_num_update = self.num_update = begin_num_update
        self.update_counts: dict[Any, int] = {}
        self.idx2name = dict(param_idx2name or {})
        self.wd_mult = {n: 0.0 for n in self.idx2name.values() if not n.endswith(("_weight", "_gamma"))}

    @property
    def learning_rate(self) -> float:
        """The rate of the current update: the scheduler's at num_update, else the fixed one."""
        return self.lr_scheduler(self.num_update) if self.lr_scheduler is not None else self.lr

    def set_learning_rate(self, lr: float) -> None:
        """A new fixed rate (refused while a scheduler sets it, as in MXNet)."""
        if self.lr_scheduler is not None:
            raise SymgradError(f"{type(self).__name__}: the lr_scheduler sets the rate; set its base_lr instead")
        self.lr = lr

    def count_update(self, index: Any) -> int:
        """Count one more update of a weight; returns its count (Adam's t)."""
        count = self.update_counts[index] = self.update_counts.get(index, self.begin_num_update) + 1
        self.num_update = max(self.num_update, count)
        return count

    def wd_for(self, index: Any) -> float:
        """The weight decay of one parameter (0 for a parameter named at creation that is not a weight or gamma)."""
        return self.wd * self.wd_mult.get(self.idx2name.get(index), 1.0)

    def clipped(self, step: np.ndarray) -> np.ndarray:
        if self.clip_gradient is not None:
            np.clip(step, -self.clip_gradient, self.clip_gradient, out=step)
        return step

    def kernel_args(self, index: Any) -> dict[str, Any]:
        """Count this update; the learning rate, weight decay, rescaling and clipping MXNet's update ops take."""
        self.count_update(index)
        clip = -1.0 if self.clip_gradient is None else self.clip_gradient
        return {"lr": self.learning_rate, "wd": self.wd_for(index), "rescale_grad": self.rescale_grad,
                "clip_gradient": clip}  # fmt: skip


class SGD(Optimizer):
    """w -= lr * (rescale_grad * g + wd * w), through a momentum buffer when momentum > 0 (MXNet's rule)."""

    def __init__(self, learning_rate: float | None = None, momentum: float = 0.0, **kwargs: Any) -> None:
        super().__init__(learning_rate, **kwargs)
        if not 0 <= momentum < 1:
            raise SymgradError(f"SGD: needs 0 <= momentum < 1, got {momentum}")
        self.momentum = momentum

    def create_state(self, index: Any, weight: np.ndarray) -> np.ndarray | None:
        """The momentum buffer of one weight (None without momentum)."""
        return np.zeros_like(weight) if self.momentum else None

    def update(self, index: Any, weight: np.ndarray, grad: np.ndarray, state: np.ndarray | None) -> None:
        """One step on weight, in place."""
        if state is None:
            sgd_update(weight, grad, out=weight, **self.kernel_args(index))
        else:
            sgd_mom_update(weight, grad, state, momentum=self.momentum, out=weight, **self.kernel_args(index))


class NAG(SGD):
    """Nesterov momentum, MXNet's nag_mom_update (plain SGD without momentum)."""

    def update(self, index: Any, weight: np.ndarray, grad: np.ndarray, state: np.ndarray | None) -> None:
        """One step on weight, in place."""
        if state is None:
            return super().update(index, weight, grad, state)
        nag_mom_update(weight, grad, state, momentum=self.momentum, out=weight, **self.kernel_args(index))


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

    def create_state(self, index: Any, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The first and second moment buffers of one weight."""
        return np.zeros_like(weight), np.zeros_like(weight)

    def update(self, index: Any, weight: np.ndarray, grad: np.ndarray, state: tuple[np.ndarray, np.ndarray]) -> None:
        """One step on weight, in place."""
        args = self.kernel_args(index)
        t = self.update_counts[index]
        args["lr"] *= math.sqrt(1 - self.beta2**t) / (1 - self.beta1**t)
        adam_update(weight, grad, *state, beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon, out=weight, **args)


class AdaGrad(Optimizer):
    """MXNet's AdaGrad: g = clip(rescale_grad * grad), history += g*g,
    w -= lr * (g / sqrt(history + eps) + wd * w); the decay stays out of the history."""

    def __init__(self, eps: float = 1e-7, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.float_stable_eps = eps

    def create_state(self, index: Any, weight: np.ndarray) -> np.ndarray:
        """The sum of squared gradients of one weight."""
        return np.zeros_like(weight)

    def update(self, index: Any, weight: np.ndarray, grad: np.ndarray, state: np.ndarray) -> None:
        """One step on weight, in place."""
        weight, grad = np.asarray(weight), np.asarray(grad)
        self.count_update(index)
        lr, step = self.learning_rate, self.clipped(grad * self.rescale_grad)
        state += step * step
        weight -= lr * (step / np.sqrt(state + self.float_stable_eps) + self.wd_for(index) * weight)


class RMSProp(Optimizer):
    """MXNet's RMSProp: g = clip(rescale_grad * grad + wd * w), n = (1 - gamma1) * g*g + gamma1 * n and
    w -= lr * g / sqrt(n + epsilon) (Tieleman and Hinton); with centered=True Graves's form, which
    also averages g and steps through a momentum delta (gamma2). clip_weights bounds the weights."""

    def __init__(
        self,
        learning_rate: float = 0.001,
        gamma1: float = 0.9,
        gamma2: float = 0.9,
        epsilon: float = 1e-8,
        centered: bool = False,
        clip_weights: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(learning_rate, **kwargs)
        if not (0 <= gamma1 < 1 and 0 <= gamma2 < 1) or epsilon <= 0:
            raise SymgradError(
                f"RMSProp: needs 0 <= gamma1, gamma2 < 1 and epsilon > 0; got {gamma1}, {gamma2}, {epsilon}"
            )
        self.gamma1, self.gamma2, self.epsilon, self.centered = gamma1, gamma2, epsilon, centered
        self.clip_weights = clip_weights

    def create_state(self, index: Any, weight: np.ndarray) -> tuple[np.ndarray, ...]:
        """n, and for centered the mean gradient and the delta, of one weight."""
        return tuple(np.zeros_like(weight) for _ in range(3 if self.centered else 1))

    def update(self, index: Any, weight: np.ndarray, grad: np.ndarray, state: tuple[np.ndarray, ...]) -> None:
        """One step on weight, in place."""
        args = self.kernel_args(index)
        clip_weights = -1.0 if not self.clip_weights else self.clip_weights
        if self.centered:
            rmspropalex_update(weight, grad, *state, gamma1=self.gamma1, gamma2=self.gamma2, epsilon=self.epsilon,
                               clip_weights=clip_weights, out=weight, **args)  # fmt: skip
        else:
            rmsprop_update(weight, grad, *state, gamma1=self.gamma1, epsilon=self.epsilon, clip_weights=clip_weights,
                           out=weight, **args)  # fmt: skip


_OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "nag": NAG, "adam": Adam, "adagrad": AdaGrad, "rmsprop": RMSProp}


def create(name: str, **kwargs: Any) -> Optimizer:
    """An optimizer by MXNet's name (`"sgd"`, `"nag"`, `"adam"`, `"adagrad"`, `"rmsprop"`, any case), as MXNet's."""
    key = name.lower() if isinstance(name, str) else name
    if key not in _OPTIMIZERS:
        raise SymgradError(f"optimizer.create: unknown optimizer {name!r}; symgrad has {sorted(_OPTIMIZERS)}")
    cls = _OPTIMIZERS[key]
    known = {p for klass in cls.__mro__[:-1] for p in inspect.signature(klass.__init__).parameters} - {"self", "kwargs"}
    for keyword in kwargs:
        if keyword not in known:
            close = difflib.get_close_matches(keyword, known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise SymgradError(f"optimizer {name!r}: unknown parameter {keyword!r}; {hint}it takes {sorted(known)}")
    return cls(**kwargs)


def get_updater(optimizer: Optimizer) -> Callable[[Any, np.ndarray, np.ndarray], None]:
    """MXNet's updater(index, grad, weight): keeps one optimizer state per index."""
    states: dict[Any, Any] = {}

    def updater(index: Any, grad: np.ndarray, weight: np.ndarray) -> None:
        if index not in states:
            states[index] = optimizer.create_state(index, weight)
        optimizer.update(index, weight, grad, states[index])

    return updater
