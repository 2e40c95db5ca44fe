"""MXNet 1.x's update ops on arrays, in place: `nd.sgd_update(w, g, lr=..., out=w)` and the others.

They are `symgrad.nd`'s (this module sits below it, so `from symgrad.nd import sgd_update` works)
and the rules `symgrad.optimizer`'s optimizers run. `lazy_update` is accepted where MXNet has it:
in MXNet it changes only updates with a row_sparse gradient (rows whose gradient is zero are
skipped); symgrad's arrays are dense, and for dense arrays MXNet 1.9.1 gives the same result
with lazy_update True or False, as these do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import ShapeError


def _rescaled(weight: np.ndarray, grad: Any, wd: float, rescale_grad: float, clip: float, decay_first: bool) -> Any:
    """rescale_grad * grad clipped to [-clip, clip] (clip < 0: no clipping), with wd * weight added before the
    clip (Adam, RMSProp) or after it (SGD, NAG), as MXNet's kernels do."""
    step = np.asarray(grad) * rescale_grad
    if wd and decay_first:
        step += wd * weight
    if clip is not None and clip >= 0:
        np.clip(step, -clip, clip, out=step)
    if wd and not decay_first:
        step += wd * weight
    return step


def _written(op: str, out: Any, weight: Any, **others: Any) -> tuple[Any, np.ndarray]:
    """(what to return, the array to write): out itself, or when out is None a new array of the weight's
    kind (an NDArray for an NDArray). The gradient, the states and out must have the weight's shape, as
    MXNet's kernels require: another shape would broadcast silently, or fail halfway with a state changed."""
    if out is not None:
        others["out"] = out
    w = np.asarray(weight)
    wrong = {name: np.shape(a) for name, a in others.items() if np.shape(a) != w.shape}
    if wrong:
        found = ", ".join(f"{name} {shape}" for name, shape in wrong.items())
        raise ShapeError(
            f"nd.{op}: weight has shape {w.shape} but {found}; {', '.join(others)} must have the weight's"
            " shape (MXNet's update ops do not broadcast)"
        )
    if out is None:
        out = type(weight)(np.empty_like(w)) if hasattr(weight, "_is_ndarray") else np.empty_like(w)
    return out, np.asarray(out)  # an NDArray's own buffer, so out changes in place


def sgd_update(
    weight: Any,
    grad: Any,
    lr: float,
    wd: float = 0.0,
    rescale_grad: float = 1.0,
    clip_gradient: float = -1.0,
    out: Any = None,
    lazy_update: bool = True,
) -> Any:
    """MXNet's nd.sgd_update: weight - lr * (clip(rescale_grad * grad) + wd * weight), into out
    (lazy_update: see the module's docstring)."""
    w = np.asarray(weight)
    out, target = _written("sgd_update", out, weight, grad=grad)
    np.subtract(w, lr * _rescaled(w, grad, wd, rescale_grad, clip_gradient, False), out=target)
    return out


def sgd_mom_update(
    weight: Any,
    grad: Any,
    mom: Any,
    lr: float,
    momentum: float = 0.0,
    wd: float = 0.0,
    rescale_grad: float = 1.0,
    clip_gradient: float = -1.0,
    out: Any = None,
    lazy_update: bool = True,
) -> Any:
    """MXNet's nd.sgd_mom_update: mom = momentum * mom - lr * (clip(rescale_grad * grad) + wd * weight), in
    place; weight + mom into out (lazy_update: see the module's docstring)."""
    w, m = np.asarray(weight), np.asarray(mom)
    out, target = _written("sgd_mom_update", out, weight, grad=grad, mom=m)
    step = _rescaled(w, grad, wd, rescale_grad, clip_gradient, False)
    m *= momentum
    m -= lr * step
    np.add(w, m, out=target)
    return out


def nag_mom_update(
    weight: Any,
    grad: Any,
    mom: Any,
    lr: float,
    momentum: float = 0.0,
    wd: float = 0.0,
    rescale_grad: float = 1.0,
    clip_gradient: float = -1.0,
    out: Any = None,
) -> Any:
    """MXNet's nd.nag_mom_update: with m' = momentum * mom and g = clip(rescale_grad * grad), out =
    weight + momentum * m' - (1 + momentum) * lr * (g + wd * weight), then mom = m' - lr * (g + wd * weight)
    reading weight again: the new weight when out is weight, as MXNet's kernel does."""
    w, m = np.asarray(weight), np.asarray(mom)
    out, target = _written("nag_mom_update", out, weight, grad=grad, mom=m)
    step = _rescaled(w, grad, 0.0, rescale_grad, clip_gradient, False)
    m *= momentum
    np.add(w, momentum * m - (1 + momentum) * lr * (step + wd * w), out=target)
    m -= lr * (step + wd * w)
    return out


def adam_update(
    weight: Any,
    grad: Any,
    mean: Any,
    var: Any,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    epsilon: float = 1e-8,
    wd: float = 0.0,
    rescale_grad: float = 1.0,
    clip_gradient: float = -1.0,
    out: Any = None,
    lazy_update: bool = True,
) -> Any:
    """MXNet's nd.adam_update: g = clip(rescale_grad * grad + wd * weight), moments mean and var updated in
    place, weight - lr * mean / (sqrt(var) + epsilon) into out (the bias correction is the caller's lr;
    lazy_update: see the module's docstring)."""
    w, m, v = np.asarray(weight), np.asarray(mean), np.asarray(var)
    out, target = _written("adam_update", out, weight, grad=grad, mean=m, var=v)
    step = _rescaled(w, grad, wd, rescale_grad, clip_gradient, True)
    m *= beta1
    m += (1 - beta1) * step
    v *= beta2
    v += (1 - beta2) * step * step
    np.subtract(w, lr * m / (np.sqrt(v) + epsilon), out=target)
    return out


def _clip_weights(target: np.ndarray, clip_weights: float | None) -> None:
    if clip_weights is not None and clip_weights >= 0:
        np.clip(target, -clip_weights, clip_weights, out=target)


def rmsprop_update(
    weight: Any,
    grad: Any,
    n: Any,
    lr: float,
    gamma1: float = 0.95,
    epsilon: float = 1e-8,
    wd: float = 0.0,
    rescale_grad: float = 1.0,
    clip_gradient: float = -1.0,
    clip_weights: float = -1.0,
    out: Any = None,
) -> Any:
    """MXNet's nd.rmsprop_update (Tieleman and Hinton): g = clip(rescale_grad * grad + wd * weight),
    n = (1 - gamma1) * g*g + gamma1 * n in place, weight - lr * g / sqrt(n + epsilon) into out."""
    w, mean_square = np.asarray(weight), np.asarray(n)
    out, target = _written("rmsprop_update", out, weight, grad=grad, n=mean_square)
    step = _rescaled(w, grad, wd, rescale_grad, clip_gradient, True)
    mean_square *= gamma1
    mean_square += (1 - gamma1) * step * step
    np.subtract(w, lr * step / np.sqrt(mean_square + epsilon), out=target)
    _clip_weights(target, clip_weights)
    return out


def rmspropalex_update(
    weight: Any,
    grad: Any,
    n: Any,
    g: Any,
    delta: Any,
    lr: float,
    gamma1: float = 0.95,
    gamma2: float = 0.9,
    epsilon: float = 1e-8,
    wd: float = 0.0,
    rescale_grad: float = 1.0,
    clip_gradient: float = -1.0,
    clip_weights: float = -1.0,
    out: Any = None,
) -> Any:
    """MXNet's nd.rmspropalex_update (Graves's centered RMSProp): n and g average g*g and g, delta =
    gamma2 * delta - lr * g / sqrt(n - g*g + epsilon), all in place; weight + delta into out."""
    w, mean_square, mean, step_delta = np.asarray(weight), np.asarray(n), np.asarray(g), np.asarray(delta)
    out, target = _written("rmspropalex_update", out, weight, grad=grad, n=mean_square, g=mean, delta=step_delta)
    step = _rescaled(w, grad, wd, rescale_grad, clip_gradient, True)
    mean_square *= gamma1
    mean_square += (1 - gamma1) * step * step
    mean *= gamma1
    mean += (1 - gamma1) * step
    step_delta *= gamma2
    step_delta -= lr * step / np.sqrt(mean_square - mean * mean + epsilon)
    np.add(w, step_delta, out=target)
    _clip_weights(target, clip_weights)
    return out
