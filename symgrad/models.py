"""MXNet's example networks (example/image-classification/symbols/mlp.py, lenet.py), written with
symgrad's layer ops, and MXNet's classic low-level training loop over an executor."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from . import init as initializers
from . import optimizer as optimizers
from . import sym
from .graph import Symbol


def mlp(num_classes: int = 10, data_shape: tuple[int, ...] | None = None) -> Symbol:
    """Three fully connected layers with ReLU, as MXNet's mlp.py (data_shape declares the input's shape)."""
    data = sym.var("data", shape=data_shape)
    data = sym.Flatten(data=data)
    fc1 = sym.FullyConnected(data=data, name="fc1", num_hidden=128)
    act1 = sym.Activation(data=fc1, name="relu1", act_type="relu")
    fc2 = sym.FullyConnected(data=act1, name="fc2", num_hidden=64)
    act2 = sym.Activation(data=fc2, name="relu2", act_type="relu")
    fc3 = sym.FullyConnected(data=act2, name="fc3", num_hidden=num_classes)
    return sym.SoftmaxOutput(data=fc3, name="softmax")


def lenet(num_classes: int = 10, pad: tuple[int, int] = (0, 0), data_shape: tuple[int, ...] | None = None) -> Symbol:
    """LeNet as MXNet's lenet.py (pad=(2, 2) keeps an 8x8 image 8x8 through the 5x5 kernels)."""
    data = sym.var("data", shape=data_shape)
    conv1 = sym.Convolution(data=data, kernel=(5, 5), pad=pad, num_filter=20, name="conv1")
    tanh1 = sym.Activation(data=conv1, act_type="tanh", name="tanh1")
    pool1 = sym.Pooling(data=tanh1, pool_type="max", kernel=(2, 2), stride=(2, 2), name="pool1")
    conv2 = sym.Convolution(data=pool1, kernel=(5, 5), pad=pad, num_filter=50, name="conv2")
    tanh2 = sym.Activation(data=conv2, act_type="tanh", name="tanh2")
    pool2 = sym.Pooling(data=tanh2, pool_type="max", kernel=(2, 2), stride=(2, 2), name="pool2")
    flatten = sym.Flatten(data=pool2, name="flatten")
    fc1 = sym.FullyConnected(data=flatten, num_hidden=500, name="fc1")
    tanh3 = sym.Activation(data=fc1, act_type="tanh", name="tanh3")
    fc2 = sym.FullyConnected(data=tanh3, num_hidden=num_classes, name="fc2")
    return sym.SoftmaxOutput(data=fc2, name="softmax")


INPUTS = ("data", "softmax_label")


def fit(
    net: Symbol,
    x: np.ndarray,
    y: np.ndarray,
    epochs: int = 10,
    batch_size: int = 32,
    learning_rate: float = 0.1,
    momentum: float = 0.9,
    wd: float = 1e-4,
    seed: int = 0,
    dtype: str = "float32",
    epoch_seconds: list[float] | None = None,
) -> tuple[Any, list[float]]:
    """Train net's parameters with MXNet's loop; returns the executor and each epoch's mean cross-entropy.

    simple_bind, Xavier initialization, then per batch: copy the batch in, forward(is_train=True),
    backward, and one SGD step per parameter. Batches are reshuffled each epoch (a seeded
    generator); the last partial batch is dropped. Each epoch's wall time is appended to
    epoch_seconds when given (the benchmark's figure).
    """
    np.random.seed(seed)
    order_rng = np.random.default_rng(seed)
    params = [n for n in net.list_arguments() if n not in INPUTS]
    ex = net.simple_bind(
        grad_req={n: "null" if n in INPUTS else "write" for n in net.list_arguments()},
        type_dict=dict.fromkeys(net.list_arguments(), dtype),
        data=(batch_size, *x.shape[1:]),
        softmax_label=(batch_size,),
    )
    initializers.initialize(initializers.Xavier(), {**ex.arg_dict, **ex.aux_dict}, skip=INPUTS)
    updater = optimizers.get_updater(
        optimizers.SGD(learning_rate=learning_rate, momentum=momentum, wd=wd, rescale_grad=1.0 / batch_size)
    )
    losses = []
    for _ in range(epochs):
        start_time = time.perf_counter()
        order = order_rng.permutation(len(x))
        total, count = 0.0, 0
        for start in range(0, len(x) - batch_size + 1, batch_size):
            batch = order[start : start + batch_size]
            (prob,) = ex.forward(is_train=True, data=x[batch], softmax_label=y[batch])
            ex.backward()
            for i, name in enumerate(params):
                updater(i, ex.grad_dict[name], ex.arg_dict[name])
            total -= float(np.log(np.maximum(prob[np.arange(batch_size), y[batch].astype(int)], 1e-12)).sum())
            count += batch_size
        losses.append(total / count)
        if epoch_seconds is not None:
            epoch_seconds.append(time.perf_counter() - start_time)
    return ex, losses


def predict(net: Symbol, ex: Any, x: np.ndarray) -> np.ndarray:
    """Class probabilities for x with the trained executor's parameters and moving statistics (predict mode)."""
    args = {n: a for n, a in ex.arg_dict.items() if n not in INPUTS}
    args["data"] = x.astype(ex.arg_dict["data"].dtype)
    args["softmax_label"] = np.zeros(len(x), ex.arg_dict["softmax_label"].dtype)
    return net.bind(args, grad_req="null", aux_states=ex.aux_dict).forward()[0]
