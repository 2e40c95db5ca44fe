"""Defects found by the differential fuzz of issue 22 (benchmarks/fuzz.py), one test each."""

from __future__ import annotations

import numpy as np
import pytest

from symgrad import autograd, nd, sym
from symgrad.errors import AutogradError
from symgrad.ops import shape as shape_ops


@pytest.mark.parametrize("declared", [True, False])
@pytest.mark.parametrize("build", [lambda a, b: a - (a - b), lambda a, b: b + a - a], ids=["a-(a-b)", "b+a-a"])
def test_cancelling_a_term_under_assume_finite_keeps_the_broadcast_shape_and_dtype(build, declared):
    # assume_finite may assume finite values, never change a shape (b alone is (3,), the sum (2, 3))
    a = sym.var("a", shape=(2, 3) if declared else None, dtype="float64" if declared else None)
    b = sym.var("b", shape=(3,) if declared else None, dtype="float32" if declared else None)
    args = {"a": np.full((2, 3), 5.0), "b": np.arange(3, dtype=np.float32)}
    expected = build(args["a"], args["b"])
    simplified = sym.simplify(build(a, b), assume_finite=True)
    (out,) = simplified.eval(**args)
    assert out.shape == expected.shape == (2, 3) and out.dtype == expected.dtype == np.float64
    np.testing.assert_array_equal(out, expected)
    if declared:
        assert simplified.shape == (2, 3) and simplified.dtype == np.float64


NEGATED_ZERO_PRODUCTS = {
    "(-x)*0": lambda x: (-x) * 0,
    "0*(-x)": lambda x: 0 * (-x),
    "-(x*0)": lambda x: -(x * 0),
    "(x*-1)*0": lambda x: (x * -1) * 0,
    "-(sin(x))*0": lambda x: -sym.sin(x) * 0 if isinstance(x, sym.Symbol) else -np.sin(x) * 0,
    "-(0*x)/y": lambda x: -(0 * x) / 2.0,
}


@pytest.mark.parametrize("assume_finite", [False, True])
@pytest.mark.parametrize("name", NEGATED_ZERO_PRODUCTS)
def test_a_negation_folded_into_an_integer_zero_keeps_the_sign_of_zero(name, assume_finite):
    build = NEGATED_ZERO_PRODUCTS[name]
    x0 = np.array([1.0, 2.0, -3.0])
    expected = build(x0)
    x = sym.var("x")
    for s in (build(x), sym.simplify(build(x), assume_finite=assume_finite)):
        (out,) = s.eval(x=x0)
        if not assume_finite:  # assume_finite may drop the product altogether, never its dtype
            np.testing.assert_array_equal(np.signbit(out), np.signbit(expected))
            np.testing.assert_array_equal(1 / out, 1 / expected)  # -inf where NumPy has -0.0
        assert out.dtype == expected.dtype and out.shape == expected.shape


def test_an_integer_zero_times_a_negated_integer_stays_an_integer():
    x = sym.var("x", dtype="int32")
    (out,) = ((-x) * 0).eval(x=np.array([1, 2], np.int32))
    assert out.dtype == np.int32 and list(out) == [0, 0]


@pytest.mark.parametrize(
    "build",
    [
        lambda x, y: sym.sum(sym.stack([x, y]) * 2),
        lambda x, y: sym.sum(sym.stack([x, y], axis=1) ** 2),
        lambda x, y: sym.sum(sym.concat([x, y]) ** 2),
        lambda x, y: sym.sum(sym.concat([x, x, y]) * sym.concat([y, y, x])),
    ],
    ids=["stack", "stack-axis1", "concat", "concat3"],
)
def test_gradients_of_stack_and_concat_print(build):
    # take, put_like and concat_part hold an integer index; printing formatted it as a slice
    x, y = sym.var("x", shape=(3,)), sym.var("y", shape=(3,))
    for wrt in (x, y):
        g = sym.grad(build(x, y), wrt)
        assert str(g).startswith(("take(", "concat_part(")) and g._repr_latex_().startswith("$")


def test_an_integer_index_prints_as_written():
    x = sym.var("x", shape=(2, 3))
    assert str(shape_ops.take(x, 1, axis=1)) == "take(x, index=1, axis=1)"
    assert str(x[1:, 0]) == "x[1:, 0]"


DTYPE_DRIFTING = {
    "where(x > 0, 1, 0)*x": lambda x: sym.sum(sym.where(x > 0, 1, 0) * x),
    "maximum(x, 0)": lambda x: sym.sum(sym.maximum(x, 0)),
    "clip(x, 0, 2)": lambda x: sym.clip(x, 0, 2),  # a non-scalar head
    "relu(x)": lambda x: sym.relu(x),
    "where(x > 1, x, 2*x)": lambda x: sym.where(x > 1, x, 2 * x),
    "sign(x)": lambda x: sym.sign(x),
    "sum(sign(x))": lambda x: sym.sum(sym.sign(x)),
}


@pytest.mark.parametrize("shape", [None, (3,)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", DTYPE_DRIFTING)
def test_a_gradient_has_its_variables_dtype_when_that_is_declared_only_by_the_value(name, dtype, shape):
    x = sym.var("x", shape=shape)
    head = DTYPE_DRIFTING[name](x)
    value = np.array([-1.0, 0.5, 3.0], dtype)
    (symbolic,) = sym.grad(head, x).eval(x=value)
    ex = head.bind(args={"x": value}, args_grad={"x": np.zeros(3, dtype)})
    (out,) = ex.forward(is_train=True)
    ex.backward(np.ones(out.shape, out.dtype))
    assert symbolic.dtype == ex.grad_dict["x"].dtype == dtype
    np.testing.assert_array_equal(symbolic, ex.grad_dict["x"])


def test_cast_like_gradients_print_and_differentiate_as_their_input():
    t = sym.var("t")
    d1 = sym.grad(t**4, t)
    assert (str(d1), str(sym.grad(d1, t)), str(sym.grad(sym.grad(d1, t), t))) == ("4*t**3", "12*t**2", "24*t")
    x = sym.var("x")
    assert str(sym.grad(sym.sum(sym.dot(x, x)), x)).startswith("dot_adjoint_lhs(")


def test_a_comparison_used_as_an_input_is_still_a_backward_head():
    # c's history became a plain data leaf once c fed c*x, so backward([y, c]) said
    # "no recorded history"; a zero-gradient head adds nothing, used or not.
    x = nd.array([1.0, -2.0])
    x.attach_grad()
    with autograd.record():
        c = x > 0
        (c * x).sum()
        y = (x * x).sum()
    autograd.backward([y, c])
    np.testing.assert_array_equal(x.grad.asnumpy(), [2.0, -4.0])
    with autograd.record():
        c = x > 0
        z = (c * x).sum()
    (gx,) = autograd.grad([z, c], [x])
    np.testing.assert_array_equal(gx.asnumpy(), [1.0, 0.0])
    (gx,) = autograd.grad([c], [x])
    np.testing.assert_array_equal(gx.asnumpy(), [0.0, 0.0])
    with pytest.raises(AutogradError, match="no recorded history"):
        autograd.backward([nd.array([1.0]) > 0])  # outside record(): still refused


@pytest.mark.parametrize("shape", [None, (3,)])
def test_the_second_derivative_of_norm_at_the_zero_vector_is_zero(shape):
    # norm's gradient is where(norm == 0, 0, x/norm); its mask must hold at second order
    # with undeclared shapes too (it gave NaN from sym.grad, 0 with declared shapes).
    x = sym.var("x", shape=shape)
    g = sym.grad(sym.norm(x), x)
    w = np.array([1.0, 2.0, 3.0])
    for h in (sym.grad(sym.sum(g * w), x), sym.grad(g, x), sym.grad(2 * sym.sum(sym.norm(x, axis=0)), x)):
        with np.errstate(all="ignore"):
            (out,) = h.eval(x=np.zeros(3))
        np.testing.assert_array_equal(out, np.zeros(3))
