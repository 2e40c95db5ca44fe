"""MXNet's classic training loop: initializers, SGD, and the MLP and LeNet of MXNet's examples
trained on scikit-learn's bundled digits (a held-out quarter for testing)."""

import math

import numpy as np
import pytest

from symgrad import SymgradError, init, models, nd, optimizer, sym


def test_initializers_fill_by_name_suffix_as_mxnet():
    nd.random.seed(3)
    shapes = {"fc_weight": (40, 30), "fc_bias": (40,), "bn_gamma": (5,), "bn_beta": (5,)}
    shapes.update({"bn_moving_mean": (5,), "bn_moving_var": (5,)})
    arrays = {n: np.full(s, 7.0, np.float32) for n, s in shapes.items()}
    init.initialize(init.Xavier(), arrays)
    bound = math.sqrt(3 / ((40 + 30) / 2))
    w = arrays["fc_weight"]
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound and abs(w.mean()) < 0.05
    for name, value in [("fc_bias", 0), ("bn_gamma", 1), ("bn_beta", 0), ("bn_moving_mean", 0), ("bn_moving_var", 1)]:
        np.testing.assert_array_equal(arrays[name], value)
    conv = np.zeros((20, 3, 5, 5))
    init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2)("c_weight", conv)
    assert conv.std() == pytest.approx(math.sqrt(2 / 75), rel=0.1)
    u = np.zeros((100, 100))
    init.Uniform(0.5)("u_weight", u)
    assert -0.5 <= u.min() < -0.45 and 0.45 < u.max() <= 0.5
    n = np.zeros((100, 100))
    init.Normal(0.2)("n_weight", n)
    assert n.std() == pytest.approx(0.2, rel=0.05)
    z = np.ones((3, 3))
    init.Zero()("z_weight", z)
    np.testing.assert_array_equal(z, 0)
    with pytest.raises(SymgradError, match="no initialization pattern for 'data'"):
        init.Xavier()("data", np.zeros((2, 2)))


def test_sgd_with_momentum_weight_decay_and_clipping_follows_mxnet_s_update_rule():
    w, g = np.array([1.0, -2.0, 3.0]), np.array([0.5, 4.0, -1.0])
    opt = optimizer.SGD(learning_rate=0.1, momentum=0.9, wd=0.01, rescale_grad=0.5, clip_gradient=1.0)
    update = optimizer.get_updater(opt)
    weight, mom = w.copy(), np.zeros(3)
    for _ in range(3):
        step = np.clip(g * 0.5, -1, 1) + 0.01 * weight
        mom = 0.9 * mom - 0.1 * step
        expected = weight + mom
        update(0, g, w)
        np.testing.assert_allclose(w, expected, rtol=1e-15)
        weight = expected
    plain = np.array([1.0, 2.0])
    optimizer.get_updater(optimizer.SGD(learning_rate=0.5))(0, np.array([2.0, -2.0]), plain)
    np.testing.assert_array_equal(plain, [0.0, 3.0])
    with pytest.raises(SymgradError, match="momentum"):
        optimizer.SGD(momentum=1.5)


def test_adam_follows_mxnet_s_update_rule_with_its_step_count_per_weight():
    """MXNet's adam_update: weight decay joins the gradient before clipping, and the learning rate
    carries the bias corrections of step t (checked against MXNet 1.9.1 in benchmarks/crosscheck_mxnet.py)."""
    opt = optimizer.create("Adam", learning_rate=0.01, wd=0.1, rescale_grad=0.5, clip_gradient=0.3)
    assert isinstance(opt, optimizer.Adam) and (opt.beta1, opt.beta2, opt.epsilon) == (0.9, 0.999, 1e-8)
    update = optimizer.get_updater(opt)
    w, other = np.array([1.0, -2.0, 3.0]), np.array([0.5])
    weight, m, v = w.copy(), np.zeros(3), np.zeros(3)
    for t in range(1, 4):
        g = np.array([0.5, 4.0, -1.0]) * t
        step = np.clip(0.5 * g + 0.1 * weight, -0.3, 0.3)
        m, v = 0.9 * m + 0.1 * step, 0.999 * v + 0.001 * step**2
        weight = weight - 0.01 * np.sqrt(1 - 0.999**t) / (1 - 0.9**t) * m / (np.sqrt(v) + 1e-8)
        update(0, g, w)
        np.testing.assert_allclose(w, weight, rtol=1e-14)
    update(1, np.array([2.0]), other)  # a second weight starts at its own step 1: a step of exactly lr
    np.testing.assert_allclose(other, [0.5 - 0.01], rtol=1e-6)


def test_optimizers_are_created_by_mxnet_s_names_and_a_wrong_name_is_named():
    sgd = optimizer.create("sgd", learning_rate=0.5, momentum=0.9)
    assert isinstance(sgd, optimizer.SGD) and (sgd.lr, sgd.momentum) == (0.5, 0.9)
    with pytest.raises(SymgradError, match=r"unknown optimizer 'adadelta'; symgrad has \['adagrad', 'adam', 'nag',"):
        optimizer.create("adadelta")
    with pytest.raises(SymgradError, match="beta1"):
        optimizer.Adam(beta1=1.0)


def test_the_example_networks_have_mxnet_s_arguments():
    assert models.mlp().list_arguments() == [
        "data", "fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias", "fc3_weight", "fc3_bias", "softmax_label",
    ]  # fmt: skip
    args, outs, _ = models.lenet(pad=(2, 2)).infer_shape(data=(16, 1, 8, 8))
    names = models.lenet().list_arguments()
    shapes = dict(zip(names, args))
    assert shapes["conv1_weight"] == (20, 1, 5, 5) and shapes["conv2_weight"] == (50, 20, 5, 5)
    assert shapes["fc1_weight"] == (500, 200) and outs == [(16, 10)]


@pytest.fixture(scope="module")
def digits():
    datasets = pytest.importorskip("sklearn.datasets")
    model_selection = pytest.importorskip("sklearn.model_selection")
    threadpoolctl = pytest.importorskip("threadpoolctl")
    data = datasets.load_digits()
    x = (data.images / 16.0).reshape(-1, 1, 8, 8).astype(np.float32)
    y = data.target.astype(np.float32)
    split = model_selection.train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    with threadpoolctl.threadpool_limits(1):  # BLAS threads only contend on small matrices
        yield split


def batchnorm_dropout_mlp():
    """An MLP with BatchNorm (moving statistics as auxiliary states) and Dropout between its layers."""
    data = sym.Flatten(data=sym.var("data"))
    hidden = sym.FullyConnected(data=data, num_hidden=64, name="fc1")
    hidden = sym.Activation(data=sym.BatchNorm(data=hidden, name="bn1"), act_type="relu")
    hidden = sym.Dropout(data=hidden, p=0.2)
    return sym.SoftmaxOutput(data=sym.FullyConnected(data=hidden, num_hidden=10, name="fc2"), name="softmax")


@pytest.mark.parametrize(
    "build, epochs, learning_rate, target",
    [
        (models.mlp, 10, 0.1, 0.95),
        (lambda: models.lenet(pad=(2, 2)), 10, 0.05, 0.97),
        (batchnorm_dropout_mlp, 8, 0.1, 0.93),
    ],
    ids=["mlp", "lenet", "batchnorm-dropout-mlp"],
)
def test_mxnet_example_networks_learn_the_digits(digits, build, epochs, learning_rate, target):
    x_train, x_test, y_train, y_test = digits
    net = build()
    ex, losses = models.fit(net, x_train, y_train, epochs=epochs, learning_rate=learning_rate)
    accuracy = float(np.mean(models.predict(net, ex, x_test).argmax(axis=1) == y_test))
    assert accuracy >= target, (accuracy, losses)
    assert losses[-1] < 0.25 * losses[0]
