"""Stability rewrites: the accurate form where the naive one overflows, underflows or cancels."""

import numpy as np
import pytest

from symgrad import sym


def value_and_grad(s, x0, dtype):
    ex = s.bind({"x": np.asarray(x0, dtype=dtype)})
    (out,) = ex.forward(is_train=True)
    ex.backward()
    return out, ex.grad_dict["x"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_sigmoid_becomes_minus_softplus(dtype):
    x = sym.var("x")
    assert str(sym.simplify(sym.log(sym.sigmoid(x)))) == "-softplus(-x)"
    out, grad = value_and_grad(sym.log(sym.sigmoid(x)), [-800.0, 0.0, 800.0], dtype)
    np.testing.assert_allclose(out, [-800.0, -np.log(2), 0.0], rtol=1e-6)
    np.testing.assert_allclose(grad, [1.0, 0.5, 0.0], atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_one_plus_x_becomes_log1p(dtype):
    x = sym.var("x")
    assert str(sym.simplify(sym.log(1 + x), explain=True)[1]).count("log_stability") == 1
    out, grad = value_and_grad(sym.log(1 + x), [1e-12, 1.0], dtype)
    np.testing.assert_allclose(out, [1e-12, np.log(2)], rtol=1e-6)
    np.testing.assert_allclose(grad, [1.0, 0.5], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_exp_minus_one_becomes_expm1(dtype):
    x = sym.var("x")
    assert str(sym.simplify(sym.exp(x) - 1)) == "expm1(x)"
    out, grad = value_and_grad(sym.exp(x) - 1, [1e-12, 0.0], dtype)
    np.testing.assert_allclose(out, [1e-12, 0.0], rtol=1e-6)
    np.testing.assert_allclose(grad, [1.0, 1.0], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log_softmax_and_logsumexp_at_plus_minus_800(dtype):
    x = sym.var("x")
    assert str(sym.simplify(sym.log(sym.softmax(x)))) == "log_softmax(x)"
    assert str(sym.simplify(sym.log(sym.sum(sym.exp(x))))) == "logsumexp(x)"
    x0 = [-800.0, 0.0, 800.0]
    out, grad = value_and_grad(sym.sum(sym.log(sym.softmax(x)) * np.array([1.0, 0.0, 0.0])), x0, dtype)
    assert np.isfinite(out) and out == pytest.approx(-1600.0)
    np.testing.assert_allclose(grad, [1.0, 0.0, -1.0], atol=1e-6)
    out, grad = value_and_grad(sym.log(sym.sum(sym.exp(x))), x0, dtype)
    assert out == pytest.approx(800.0)
    np.testing.assert_allclose(grad, [0.0, 0.0, 1.0], atol=1e-6)


def test_softplus_and_sigmoid_are_stable_alone():
    x = sym.var("x")
    out, grad = value_and_grad(sym.softplus(x), [-800.0, 800.0], np.float64)
    np.testing.assert_allclose(out, [0.0, 800.0])
    np.testing.assert_allclose(grad, [0.0, 1.0])
