"""MXNet's array ops that d2l and MXNet's tutorials use: split/SliceChannel (several outputs), tile,
repeat, flip/reverse, batch_dot, topk, sort, argsort, softmax_cross_entropy, SoftmaxActivation,
L2Normalization, gather_nd and linspace.

Values, gradients and shapes agree with MXNet 1.9.1 itself to 1e-15 in float64 (benchmarks/
crosscheck_mxnet.py, 25 cases); here: MXNet's defaults and conventions, recorded there, and the errors.
"""

import numpy as np
import pytest

import symgrad as sg
from symgrad import autograd, nd, sym
from symgrad.testing import check_numeric_gradient

X = np.arange(12.0).reshape(3, 4)


def test_split_is_a_group_of_its_outputs_named_as_mxnet_and_a_list_in_nd():
    with sg.NameManager():
        parts = sym.split(sym.var("x"), num_outputs=2)  # MXNet's default axis is 1
    assert len(parts) == 2 and parts.list_outputs() == ["split0_output0", "split0_output1"]
    first, second = parts.eval(x=X)
    np.testing.assert_array_equal(second.asnumpy(), X[:, 2:])
    # MXNet looks a group's output up by its name; symgrad compared it with the node's name + "_output"
    np.testing.assert_array_equal(parts["split0_output1"].eval(x=X)[0].asnumpy(), X[:, 2:])
    with pytest.raises(sg.SymgradError, match=r"group has no output named 'split0_output2'; outputs: \['split0_"):
        parts["split0_output2"]
    again = sym.load_json(parts.tojson())
    assert again.list_outputs() == parts.list_outputs()
    np.testing.assert_array_equal(again.eval(x=X)[0].asnumpy(), X[:, :2])
    rows = nd.split(nd.array(X), num_outputs=3, axis=0, squeeze_axis=True)
    assert isinstance(rows, list) and [r.shape for r in rows] == [(4,), (4,), (4,)]
    whole = nd.SliceChannel(nd.array(X), num_outputs=1)  # one output: an array, as MXNet gives
    assert isinstance(whole, nd.NDArray) and whole.shape == (3, 4)


def test_the_gradient_of_split_outputs_lands_in_their_parts():
    x = nd.array(X)
    x.attach_grad()
    with autograd.record():
        left, right = nd.split(x, num_outputs=2, axis=1)
        y = (left * 2 + right * right).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), np.concatenate([np.full((3, 2), 2.0), 2 * X[:, 2:]], axis=1))
    v = sym.var("v", shape=(2, 6))
    part = sym.split(v, num_outputs=3, axis=1)[1]
    check_numeric_gradient(sym.sum(part * part * v[:, :2]), {"v": np.random.default_rng(0).normal(size=(2, 6))})


def test_topk_sort_and_argsort_have_mxnet_s_defaults_and_order_of_ties():
    # MXNet 1.9.1 on [[1, 3, 3, 2, 1, 3]]: the first of equal values comes first, ascending or descending
    x = nd.array([[1, 3, 3, 2, 1, 3]])
    top = nd.topk(x, k=3)  # indices, float32, largest first
    assert top.dtype == np.float32 and top.asnumpy().tolist() == [[1, 2, 5]]
    assert nd.topk(x, k=3, is_ascend=True).asnumpy().tolist() == [[0, 4, 3]]
    assert nd.argsort(x).asnumpy().tolist() == [[0, 4, 3, 1, 2, 5]]
    assert nd.argsort(x, is_ascend=False).asnumpy().tolist() == [[1, 2, 5, 3, 0, 4]]
    values, indices = nd.topk(x, k=0, ret_typ="both")  # k < 1: everything, sorted
    assert values.asnumpy().tolist() == [[3, 3, 3, 2, 1, 1]] and indices.asnumpy().tolist() == [[1, 2, 5, 3, 0, 4]]
    assert nd.topk(x, axis=None, k=2, ret_typ="mask").asnumpy().tolist() == [[0, 1, 1, 0, 0, 0]]
    assert nd.topk(nd.array([[1, 2], [4, 3]]), axis=None, k=2).asnumpy().tolist() == [2, 3]
    assert nd.sort(nd.array([[1, 2], [4, 3]]), axis=None).asnumpy().tolist() == [1, 2, 3, 4]
    with sg.NameManager():
        both = sym.topk(sym.var("x"), k=2, ret_typ="both")
    assert both.list_outputs() == ["topk0_output0", "topk0_output1"]


def test_the_gradient_of_sorted_values_goes_back_to_where_they_came_from():
    x = nd.array([[0.5, -1.0, 2.0, 0.0]])
    x.attach_grad()
    with autograd.record():
        y = (nd.topk(x, k=2, ret_typ="value") * nd.array([[10.0, 1.0]])).sum() + nd.sort(x, is_ascend=False)[0, 3]
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [[1.0, 1.0, 10.0, 0.0]])
    v = sym.var("v", shape=(3, 4))
    s = sym.sort(v, axis=0) * sym.topk(v, axis=0, k=3, ret_typ="value", is_ascend=True)
    check_numeric_gradient(sym.sum(s * s), {"v": np.random.default_rng(1).normal(size=(3, 4))})


def test_tile_repeat_flip_and_batch_dot_match_numpy_with_mxnet_s_arguments():
    v = nd.array(X)
    np.testing.assert_array_equal(nd.tile(v, reps=(2,)).asnumpy(), np.tile(X, 2))
    np.testing.assert_array_equal(nd.repeat(v, repeats=2).asnumpy(), np.repeat(X, 2))  # axis None: flattened
    np.testing.assert_array_equal(nd.reverse(v, axis=1).asnumpy(), X[:, ::-1])
    a, b = np.ones((2, 3, 4)), np.arange(40.0).reshape(2, 5, 4)
    np.testing.assert_array_equal(
        nd.batch_dot(nd.array(a), nd.array(b), transpose_b=True).asnumpy(), a @ b.swapaxes(1, 2)
    )
    assert str(sym.flip(sym.var("x"), axis=1)) == "flip(x, axis=1)"


def test_softmax_cross_entropy_sums_over_the_batch_as_mxnet():
    # MXNet 1.9.1: softmax_cross_entropy([[1, 2, 3], [0.5, -1, 2]], [2, 0]) = [2.1489172], shape (1,)
    data, label = nd.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]]), nd.array([2, 0])
    loss = nd.softmax_cross_entropy(data, label)
    assert loss.shape == (1,)
    np.testing.assert_allclose(loss.asnumpy(), [2.1489172], rtol=1e-7)
    d = sym.var("d", shape=(2, 3))
    check_numeric_gradient(sym.softmax_cross_entropy(d, np.array([2.0, 0.0])), {"d": data.asnumpy().astype(float)})


def test_softmax_activation_and_l2_normalization_take_the_axes_their_mode_names_as_mxnet():
    # MXNet 1.9.1: SoftmaxActivation's instance mode is a softmax over the last axis (whatever the rank),
    # channel over axis 1; L2Normalization's instance over all but the batch axis, channel over 1, spatial over 2+
    x = np.random.default_rng(2).normal(size=(2, 3, 4))
    e = np.exp(x)
    np.testing.assert_allclose(nd.SoftmaxActivation(nd.array(x)).asnumpy(), e / e.sum(-1, keepdims=True), rtol=1e-6)
    channel = nd.SoftmaxActivation(nd.array(x), mode="channel").asnumpy()
    np.testing.assert_allclose(channel, e / e.sum(1, keepdims=True), rtol=1e-6)
    for mode, axes in (("instance", (1, 2)), ("channel", (1,)), ("spatial", (2,))):
        got = nd.L2Normalization(nd.array(x, dtype="float64"), mode=mode).asnumpy()
        np.testing.assert_allclose(got, x / np.sqrt((x * x).sum(axis=axes, keepdims=True) + 1e-10), rtol=1e-12)
    np.testing.assert_array_equal(nd.L2Normalization(nd.array([1.0, 2.0])).asnumpy(), [1.0, 1.0])  # each its own
    v = sym.var("v", shape=(2, 3, 2))
    check_numeric_gradient(sym.sum(sym.L2Normalization(v, mode="channel") ** 3), {"v": x[:, :, :2]})


def test_gather_nd_and_linspace_as_mxnet():
    # MXNet 1.9.1: indices truncated to ints, a negative one wrapping; linspace float32 unless dtype= is given
    d = nd.array(X)
    assert nd.gather_nd(d, nd.array([[0, 2, -1], [1, 3, 2]])).asnumpy().tolist() == [1, 11, 10]
    assert nd.gather_nd(d, nd.array([[1.7, 2]])).asnumpy().tolist() == X[1:3].tolist()
    x = nd.array(X)
    x.attach_grad()
    with autograd.record():
        y = nd.gather_nd(x, nd.array([[0, 0, 2, -1], [1, 1, 3, 0]]))
    y.backward(nd.array([1.0, 2.0, 3.0, 4.0]))  # repeated indices add up; MXNet's backward drops the -1's 4
    assert x.grad.asnumpy().tolist() == [[0, 3, 0, 0], [0, 0, 0, 0], [4, 0, 0, 3]]
    np.testing.assert_allclose(nd.linspace(0, 1, 5, endpoint=False).asnumpy(), [0, 0.2, 0.4, 0.6, 0.8], rtol=1e-7)
    assert nd.linspace(0, 1, 5).dtype == np.float32 and sym.linspace(2, 3, 1).infer_shape()[1] == [(1,)]
    with pytest.raises(sg.ShapeError, match=r"nd.gather_nd: index 5 is out of bounds"):
        nd.gather_nd(d, nd.array([[0], [5]]))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda x: sym.split(x, num_outputs=3), r"split 'split\d+': num_outputs=3 does not divide axis 1 \(size 4\)"),
        (lambda x: sym.split(x, num_outputs=2, axis=0, squeeze_axis=True), "squeeze_axis=True needs axis 0's size"),
        (lambda x: sym.split(x), "num_outputs must be a positive int"),
        (lambda x: sym.tile(x), "reps must be a non-empty tuple of positive ints"),
        (lambda x: sym.repeat(x, repeats=-1), "repeats must be a non-negative int"),
        (lambda x: sym.flip(x), "axis must be an int or a non-empty tuple"),
        (lambda x: sym.batch_dot(x, x), r"batch_dot needs two arrays of 3 or more dimensions"),
        (lambda x: sym.topk(x, ret_typ="values"), "ret_typ must be 'value', 'indices', 'mask' or 'both'"),
        (lambda x: sym.argsort(x, dtype="int8"), "dtype must be one of"),
        (lambda x: sym.softmax_cross_entropy(x, sym.var("l", shape=(4,))), r"needs data \(batch, classes\)"),
        (lambda x: sym.SoftmaxActivation(x, mode="channel"), "mode='channel' needs data of 3 or more dimensions"),
        (lambda x: sym.gather_nd(x, sym.var("i", shape=(3, 2))), r"indices \(3, 2\) must have a first axis of 1 to 2"),
        (lambda x: sym.linspace(0, 1), "num must be a non-negative int"),
        (lambda x: sym.L2Normalization(x, mode="pixel"), r"mode must be one of \('instance', 'channel', 'spatial'\)"),
    ],
)
def test_bad_arguments_are_errors_naming_the_op_and_the_fix(build, message):
    with pytest.raises(sg.SymgradError, match=message):
        build(sym.var("x", shape=(3, 4)))


def test_nd_random_randint_shuffle_and_multinomial_as_mxnet_draws_them():
    sg.random.seed(4)
    ints = nd.random.randint(-2, 3, shape=(500,))
    assert ints.dtype == np.int32 and set(ints.asnumpy().tolist()) == {-2, -1, 0, 1, 2}  # [low, high)
    rows = nd.array(X)
    shuffled = nd.random.shuffle(rows).asnumpy()
    assert sorted(map(tuple, shuffled)) == sorted(map(tuple, X)) and rows.asnumpy().tolist() == X.tolist()
    probs = nd.array([[0.2, 0.5, 0.3], [0.0, 0.0, 1.0]])
    draws = nd.random.multinomial(probs, shape=20000)
    assert draws.shape == (2, 20000) and draws.dtype == np.int32  # MXNet's default dtype
    np.testing.assert_allclose(np.bincount(draws.asnumpy()[0], minlength=3) / 20000, [0.2, 0.5, 0.3], atol=0.02)
    assert (draws.asnumpy()[1] == 2).all()
    assert nd.random.multinomial(probs).shape == (2,)


def test_multinomial_s_log_probabilities_are_recorded_for_reinforce():
    # d/dp sum(log p[draws]) = (times each class was drawn) / p, as MXNet's get_prob=True gives
    sg.random.seed(5)
    probs = nd.array([[0.1, 0.9, 0.0], [0.5, 0.25, 0.25]])
    probs.attach_grad()
    with autograd.record():
        draws, log_prob = nd.random.multinomial(probs, shape=4, get_prob=True)
    log_prob.backward()
    counts = np.stack([np.bincount(row, minlength=3) for row in draws.asnumpy()])
    np.testing.assert_allclose(log_prob.asnumpy(), np.log(np.take_along_axis(probs.asnumpy(), draws.asnumpy(), -1)))
    nonzero = counts > 0
    np.testing.assert_allclose(probs.grad.asnumpy()[nonzero], (counts / probs.asnumpy())[nonzero], rtol=1e-6)
    assert (probs.grad.asnumpy()[~nonzero] == 0).all()
