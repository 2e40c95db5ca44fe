"""MXNet 1.9.1's own unit tests, ported within symgrad's ops (tests/MXNET_COVERAGE.md lists them all).

Each test is named after the MXNet test it ports (file and function); the values are
recomputed with NumPy. Where symgrad differs on purpose, the comment says how.
"""

import numpy as np
import pytest

import symgrad as sg
from symgrad import autograd, nd, sym

rng = np.random.default_rng(19)


# ---- test_symbol.py ----------------------------------------------------------------------------


def test_symbol_infer_shape_var():
    a, b = sym.var("a", shape=(2, 3)), sym.var("b")
    c = sym.elemwise_add(a, b)
    assert c.infer_shape() == ([(2, 3), (2, 3)], [(2, 3)], [])
    assert c.infer_shape(a=(5, 6)) == ([(5, 6), (5, 6)], [(5, 6)], [])


@pytest.mark.parametrize("dim", range(1, 7))
def test_symbol_magic_abs(dim):
    with sg.NameManager():
        data = sym.var("data")
        method, magic, regular = data.abs(name="abs0"), abs(data), sym.abs(data, name="abs0")
    value = rng.normal(size=tuple(rng.integers(1, 4, dim)))
    for s in (method, magic, regular):
        np.testing.assert_array_equal(s.eval(data=value)[0].asnumpy(), np.abs(value))


def test_blockgrad():
    a = sym.var("a")
    ex = sym.BlockGrad(2 * a).simple_bind(a=(10, 10))
    ex.forward(is_train=True, a=np.ones((10, 10)))
    ex.backward()
    assert np.all(ex.grad_dict["a"].asnumpy() == 0)


def test_zero_prop():
    """MXNet compares allocated megabytes in debug_str; symgrad's plan_stats say the same: no
    backward work when no gradient is asked for or when stop_gradient cuts it."""
    data = sym.var("data")
    for _ in range(10):
        data = sym.tanh(data) * data  # MXNet's data * data would simplify to one power(data, 1024) here
    big = data.simple_bind(data=(2, 3, 8, 8)).plan_stats()
    null = data.simple_bind(data=(2, 3, 8, 8), grad_req="null").plan_stats()
    stopped = sym.stop_gradient(data).simple_bind(data=(2, 3, 8, 8)).plan_stats()
    assert big["backward_steps"] >= 10
    assert "backward_steps" not in null and null["saved_for_backward"] == 0
    assert stopped["saved_for_backward"] == 0 and stopped["backward_steps"] <= 1  # at most a zeros fill


def test_symbol_infer_type():
    data, fc_weight = sym.var("data"), sym.var("fc1_weight")
    fc1 = sym.FullyConnected(data=data, weight=fc_weight, num_hidden=4, name="fc1")
    arg_types, out_types, _ = fc1.infer_type(data="float32")
    assert arg_types == [np.dtype("float32")] * 3 and out_types == [np.dtype("float32")]


def test_symbol_infer_shape():
    num_hidden, batch = 128, 64
    data = sym.var("data")
    prev = sym.var("prevstate")
    x2h = sym.FullyConnected(data=data, name="x2h", num_hidden=num_hidden)
    h2h = sym.FullyConnected(data=prev, name="h2h", num_hidden=num_hidden)
    out = sym.Activation(data=sym.elemwise_add(x2h, h2h), name="out", act_type="relu")
    arg_shapes, out_shapes, _ = out.infer_shape(data=(batch, 8), prevstate=(batch, num_hidden))
    shapes = dict(zip(out.list_arguments(), arg_shapes))
    assert shapes["x2h_weight"] == (num_hidden, 8) and shapes["h2h_weight"] == (num_hidden, num_hidden)
    assert out_shapes == [(batch, num_hidden)]
    # MXNet: with data alone, prevstate stays unknown and infer_shape gives (None, None, None)
    assert out.infer_shape(data=(batch, 8)) == (None, None, None)


# ---- test_executor.py ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "reference", "grads"),
    [
        (lambda a, b: a + b, np.add, lambda g, a, b: (g, g)),
        (lambda a, b: a - b, np.subtract, lambda g, a, b: (g, -g)),
        (lambda a, b: a * b, np.multiply, lambda g, a, b: (g * b, g * a)),
        (lambda a, b: sym.maximum(a, b), np.maximum, lambda g, a, b: (g * (a > b), g * (a <= b))),
    ],
)
def test_bind(op, reference, grads):
    lhs, rhs = sym.var("lhs"), sym.var("rhs")
    av, bv = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    ex = op(lhs, rhs).bind({"lhs": av, "rhs": bv}, args_grad={"lhs": np.zeros((3, 4)), "rhs": np.zeros((3, 4))})
    ex.forward(is_train=True)
    np.testing.assert_allclose(ex.outputs[0].asnumpy(), reference(av, bv))
    head = rng.normal(size=(3, 4))
    ex.backward(head)
    for name, expected in zip(("lhs", "rhs"), grads(head, av, bv)):
        np.testing.assert_allclose(ex.grad_dict[name].asnumpy(), expected)


def test_dot():
    for m, k, n in [(1, 1, 1), (3, 4, 5), (8, 2, 7)]:
        lhs, rhs = sym.var("lhs"), sym.var("rhs")
        av, bv = rng.normal(size=(m, k)), rng.normal(size=(k, n))
        ex = sym.dot(lhs, rhs).bind({"lhs": av, "rhs": bv})
        ex.forward(is_train=True)
        np.testing.assert_allclose(ex.outputs[0].asnumpy(), av @ bv)
        head = rng.normal(size=(m, n))
        ex.backward(head)
        np.testing.assert_allclose(ex.grad_dict["lhs"].asnumpy(), head @ bv.T)
        np.testing.assert_allclose(ex.grad_dict["rhs"].asnumpy(), av.T @ head)


def test_reshape():
    x = sym.var("x")
    y = sym.FullyConnected(x, num_hidden=4, name="fc")
    ex = y.simple_bind(x=(5, 4), grad_req="null")
    ex.arg_arrays[0][:] = 1
    ex.arg_arrays[1][:] = nd.ones((4, 4))
    ex.arg_arrays[2][:] = 0
    new = ex.reshape(x=(3, 4))
    new.forward(is_train=False)
    assert np.all(new.outputs[0].asnumpy() == 4)
    # (MXNet also checks that the old executor's outputs share the new one's memory: symgrad's
    # outputs are each forward's own arrays, so they are not shared.)
    ex.forward(is_train=False)
    assert np.all(ex.outputs[0].asnumpy() == 4)
    new = ex.reshape(allow_up_sizing=True, x=(6, 4))
    new.arg_arrays[0][:] = 0  # a bigger data array is a new one
    assert np.all(ex.arg_arrays[0].asnumpy() == 1)
    assert np.all(new.arg_arrays[1].asnumpy() == 1)  # the weight is shared


# ---- test_autograd.py ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("f", "df"),
    [
        (nd.exp, np.exp),
        (lambda x: x / 2, lambda x: np.full_like(x, 0.5)),
        (nd.square, lambda x: 2 * x),
    ],
)
def test_unary_func(f, df):
    xv = rng.uniform(size=(4, 5))
    x = nd.array(xv, dtype="float64")
    x.attach_grad()
    with autograd.record():
        y = f(x)
    head = rng.uniform(size=(4, 5))
    y.backward(nd.array(head, dtype="float64"))
    np.testing.assert_allclose(x.grad.asnumpy(), head * df(xv))


@pytest.mark.parametrize(
    ("f", "da", "db"),
    [
        (lambda a, b: a + b, lambda a, b: np.ones_like(a), lambda a, b: np.ones_like(b)),
        (lambda a, b: a * b, lambda a, b: b, lambda a, b: a),
        (lambda a, b: a / b, lambda a, b: 1 / b, lambda a, b: -a / b**2),
    ],
)
def test_binary_func(f, da, db):
    av, bv = rng.uniform(0.5, 2, (4, 5)), rng.uniform(0.5, 2, (4, 5))
    a, b = nd.array(av, dtype="float64"), nd.array(bv, dtype="float64")
    a.attach_grad()
    b.attach_grad()
    with autograd.record():
        z = f(a, b)
    z.backward()
    np.testing.assert_allclose(a.grad.asnumpy(), da(av, bv))
    np.testing.assert_allclose(b.grad.asnumpy(), db(av, bv))


def test_out_grads():
    x = nd.ones((3, 5))
    dx = nd.zeros_like(x)
    autograd.mark_variables([x], [dx])
    db, dc = nd.array([1, 2, 3, 4, 5]), nd.array([5, 4, 3, 2, 1])
    with autograd.record():
        a, b, c = x[0], x[1], x[2]  # MXNet: nd.split(x, axis=0, num_outputs=3, squeeze_axis=True)
        autograd.backward([a, b, c], [None, db, dc])
    assert dx.asnumpy().tolist() == [[1] * 5, [1, 2, 3, 4, 5], [5, 4, 3, 2, 1]]


def test_detach_updated_grad():
    x = nd.ones((2, 2))
    dx = nd.zeros_like(x)
    y = nd.ones_like(x)
    dy = nd.zeros_like(x)
    autograd.mark_variables([x, y], [dx, dy])
    with autograd.record():
        y2 = x + 2 + y
        y2.backward()
    assert (dx.asnumpy() == 1).all()
    dx[:] = 0
    with autograd.record():
        x2 = (x + 2).detach()
        y2 = x2 + y
        y2.backward()
    assert (dx.asnumpy() == 0).all() and (dy.asnumpy() == 1).all()


def test_retain_grad():
    x = nd.ones((2, 2))
    dx = nd.zeros((2, 2))
    autograd.mark_variables([x], [dx], grad_reqs="add")
    with autograd.record():
        y = x + 1
        y.backward(retain_graph=False)
    assert (dx.asnumpy() == 1).all()
    dx[:] = 0
    with autograd.record():
        y = x + 1
        y.backward(retain_graph=True)
        y.backward(retain_graph=False)
    assert (dx.asnumpy() == 2).all()
    with pytest.raises(sg.AutogradError, match="retain_graph=True"):
        with autograd.record():
            y = x + 1
            y.backward()
            y.backward()


def test_attach_grad():
    x = nd.zeros((10, 10))
    assert x.grad is None
    x.attach_grad()
    with autograd.record():
        y = x * 2
        assert y.grad is None
        y.backward(out_grad=nd.ones_like(y))
    assert (x.grad.asnumpy() == 2).all()


def test_is_train():
    x = nd.ones((10, 10))
    x.attach_grad()
    with autograd.record(train_mode=True):
        assert autograd.is_recording() and autograd.is_training()
        y = nd.Dropout(x, p=0.5)
        assert y.asnumpy().max() == 2 and y.asnumpy().min() == 0
        y.backward()
        assert (x.grad.asnumpy() == y.asnumpy()).all()
        with autograd.predict_mode():
            assert autograd.is_recording() and not autograd.is_training()
            y = nd.Dropout(x, p=0.5)
            assert (y.asnumpy() == x.asnumpy()).all()
            y.backward(train_mode=False)
            assert (x.grad.asnumpy() == x.asnumpy()).all()
    with autograd.record(train_mode=False):
        assert autograd.is_recording() and not autograd.is_training()
        y = nd.Dropout(x, p=0.5)
        assert (y.asnumpy() == x.asnumpy()).all()
    assert not autograd.is_recording() and not autograd.is_training()


def test_function1():
    class Foo(autograd.Function):
        def forward(self, X):
            return X + 1

        def backward(self, dY):
            return dY

    X = nd.zeros((3, 4))
    with autograd.record():
        Y = Foo()(X)
    np.testing.assert_array_equal(Y.asnumpy(), np.ones((3, 4)))


def test_get_symbol():
    x = nd.ones((1,))
    x.attach_grad()
    with autograd.record():
        y = x * x + 2 * x - 1
    assert len(autograd.get_symbol(y).list_arguments()) == 1
    z = nd.ones((1,))
    z.attach_grad()
    with autograd.record():
        y = x * x + 2 * z - 1
    assert len(autograd.get_symbol(y).list_arguments()) == 2


def test_gradient():
    x = nd.ones((1,))
    x.attach_grad()
    with autograd.record():
        z = nd.elemwise_add(nd.exp(x), x)
    (dx,) = autograd.grad(z, [x], create_graph=True)
    assert abs(dx.asscalar() - (np.exp(np.float32(1)) + 1)) < 1e-6
    dx.backward()
    assert abs(x.grad.asscalar() - np.exp(np.float32(1))) < 1e-6


# ---- test_infer_shape.py and test_infer_type.py ---------------------------------------------------


def test_mlp2_infer_shape():
    data = sym.var("data")
    fc1 = sym.FullyConnected(data=data, name="fc1", num_hidden=1000)
    act = sym.Activation(data=fc1, name="relu1", act_type="relu")
    out = sym.FullyConnected(data=act, name="fc2", num_hidden=10)
    arg_shapes, out_shapes, _ = out.infer_shape(data=(100, 100))
    assert dict(zip(out.list_arguments(), arg_shapes)) == {
        "data": (100, 100),
        "fc1_weight": (1000, 100),
        "fc1_bias": (1000,),
        "fc2_weight": (10, 1000),
        "fc2_bias": (10,),
    }
    assert out_shapes == [(100, 10)]


def test_mlp2_infer_error():
    data = sym.var("data")
    out = sym.FullyConnected(data=sym.FullyConnected(data=data, name="fc1", num_hidden=1000), name="fc2", num_hidden=10)
    with pytest.raises(sg.SymgradError):
        out.infer_shape(data=(100, 100), fc1_weight=(1000, 99))  # MXNet: an MXNetError


def test_incomplete_infer_elewise():
    """MXNet writes the unknown dimensions as 0 (a: (0, 10), b: (12, 0)); a symgrad shape is
    known or None, so here a is declared and b learns its shape from a + b."""
    a, b = sym.var("a", shape=(12, 10)), sym.var("b")
    assert (a + b).infer_shape()[0] == [(12, 10), (12, 10)]


def test_shape_completely_unknown():
    ret = sym.sin(sym.var("data"))
    assert ret.infer_shape_partial() == ([None], [None], [])  # MXNet with np_shape(): None


def test_fc_infer_type():
    data = sym.var("data")
    out = sym.FullyConnected(data=data, name="fc1", num_hidden=1000)
    for dtype in ("float16", "float64", "float32"):
        arg_types, out_types, _ = out.infer_type(data=dtype)
        assert arg_types == [np.dtype(dtype)] * 3 and out_types == [np.dtype(dtype)]


# ---- test_ndarray.py (the cases within symgrad's ops) ------------------------------------------------


def test_ndarray_negate_and_magic_abs():
    npy = rng.uniform(-10, 10, (2, 3, 4))
    arr = nd.array(npy, dtype="float64")
    np.testing.assert_array_equal((-arr).asnumpy(), -npy)
    np.testing.assert_array_equal(arr.asnumpy(), npy)  # negation did not change arr
    np.testing.assert_array_equal(abs(arr).asnumpy(), np.abs(npy))
    np.testing.assert_array_equal(arr.abs().asnumpy(), np.abs(npy))


def test_ndarray_flatten_squeeze_expand_dims():
    npy = rng.normal(size=(2, 3, 4, 5))
    arr = nd.array(npy, dtype="float64")
    np.testing.assert_array_equal(arr.flatten().asnumpy(), npy.reshape(2, -1))  # MXNet's flatten keeps axis 0
    ones = nd.array(rng.normal(size=(1, 3, 1, 4)), dtype="float64")
    assert ones.squeeze().shape == (3, 4) and ones.squeeze(axis=(0, 2)).shape == (3, 4)
    assert arr.expand_dims(axis=1).shape == (2, 1, 3, 4, 5)


def test_ndarray_copy_scalar_and_astype():
    x = nd.array(rng.normal(size=(3, 4)))
    y = x.copy()
    y[:] = 0
    assert x.asnumpy().any() and not y.asnumpy().any()  # a copy
    c = nd.array([2.0]) * 3 + 1
    assert c.asscalar() == 7.0 and float(c) == 7.0
    assert nd.zeros((2,), dtype="float16").astype("int32").dtype == np.int32


def test_clip():
    npy = rng.uniform(-10, 10, (10, 10))
    np.testing.assert_array_equal(nd.clip(nd.array(npy), -5, 5).asnumpy(), np.clip(npy, -5, 5).astype(np.float32))


def test_ndarray_dot():
    a, b = rng.normal(size=(3, 4)), rng.normal(size=(4, 5))
    np.testing.assert_allclose(nd.dot(nd.array(a), nd.array(b)).asnumpy(), a @ b, rtol=1e-5)


@pytest.mark.parametrize("reducer", ["sum", "max", "min", "mean", "prod"])
def test_reduce(reducer):
    npy = rng.uniform(0.5, 1.5, (3, 4, 5))
    arr = nd.array(npy, dtype="float64")
    for axis, keepdims in [(None, False), (1, False), ((0, 2), True)]:
        got = getattr(nd, reducer)(arr, axis=axis, keepdims=keepdims).asnumpy()
        np.testing.assert_allclose(got, getattr(np, reducer)(npy, axis=axis, keepdims=keepdims))


def test_ndarray_comparisons_and_nan():
    a, b = nd.array([1.0, np.nan, 3.0]), nd.array([1.0, np.nan, 2.0])
    assert (a == b).asnumpy().tolist() == [1.0, 0.0, 0.0]  # MXNet: float 0/1, NaN compares unequal
    assert (a != b).asnumpy().tolist() == [0.0, 1.0, 1.0]
    assert (a > b).asnumpy().tolist() == [0.0, 0.0, 1.0] and (a >= b).asnumpy().tolist() == [1.0, 0.0, 1.0]
    assert (a < b).asnumpy().tolist() == [0.0, 0.0, 0.0] and (a <= 2).asnumpy().tolist() == [1.0, 0.0, 0.0]


def test_bool_ambiguous_and_bool():
    with pytest.raises(sg.SymgradError, match="ambiguous"):
        bool(nd.ones((2,)))
    assert not bool(nd.zeros((1,))) and bool(nd.ones((1,)))


def test_norm():
    npy = rng.normal(size=(3, 4))
    np.testing.assert_allclose(nd.norm(nd.array(npy, dtype="float64")).asscalar(), np.linalg.norm(npy))


def test_arange_and_fill():
    np.testing.assert_array_equal(nd.arange(2, 10, 3).asnumpy(), np.arange(2, 10, 3, dtype=np.float32))
    np.testing.assert_array_equal(nd.arange(3, repeat=2).asnumpy(), [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(nd.full((2, 3), 7).asnumpy(), np.full((2, 3), 7.0))


def test_ndarray_setitem_and_assignments():
    x = nd.zeros((3, 4))
    x[:] = 1.5  # test_assign_float_value_to_ndarray
    x[1] = nd.array([1, 2, 3, 4])  # test_assign_a_row_to_ndarray
    x[2, 1:3] = 9
    assert x.asnumpy().tolist() == [[1.5] * 4, [1, 2, 3, 4], [1.5, 9, 9, 1.5]]


def test_ndarray_concatenate_and_slice():
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(4, 3))
    np.testing.assert_allclose(nd.concat(nd.array(a), nd.array(b), dim=0).asnumpy(), np.vstack([a, b]), rtol=1e-6)
    x = nd.array(np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(x[1:3].asnumpy(), np.arange(12.0).reshape(3, 4)[1:3])
    np.testing.assert_array_equal(nd.slice_axis(x, axis=1, begin=1, end=3).asnumpy(), x.asnumpy()[:, 1:3])


def test_eliminate_common_expr():
    """test_symbol.py's: equal subexpressions are computed once (symgrad's simplifier at every bind)."""
    from symgrad.graph import topo_order

    x, y = sym.var("x"), sym.var("y")
    s = sym.sin(x + y) * sym.sin(x + y) + sym.exp(x + y)
    ops = [n.op for n in topo_order([sym.simplify(s)])]
    assert ops.count("sin") == 1 and ops.count("add") <= 2  # x + y once, and the final sum
    ex = s.bind({"x": np.array([0.3]), "y": np.array([0.4])})
    np.testing.assert_allclose(ex.forward()[0].asnumpy(), np.sin(0.7) ** 2 + np.exp(0.7))
