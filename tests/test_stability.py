"""Stability rewrites: the accurate form where the naive one overflows, underflows or cancels.

Each rewrite is checked by its printed form, then by values and gradients through
bind/forward/backward at inputs where the naive formula fails (x = ±800, x = 1e-12),
against closed forms, in float32 and float64.
"""

import numpy as np
import pytest

from symgrad import sym

DTYPES = [np.float32, np.float64]


def value_and_grad(s, x0, dtype):
    ex = s.bind({"x": np.asarray(x0, dtype=dtype)})
    out = ex.forward(is_train=True)[0].asnumpy()
    ex.backward()
    grad = ex.grad_dict["x"].asnumpy()
    assert out.dtype == dtype and grad.dtype == dtype  # no silent promotion
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(grad))
    return out, grad


def rtol(dtype, magnitude=1.0):
    """A few ulps of the inputs: at |x| = 800 an ulp is 800 eps, and exp(x - logsumexp(x)) inherits it."""
    return float(8 * np.finfo(dtype).eps * max(1.0, magnitude))  # a Python float: pytest.approx refuses NumPy scalars


def test_the_rewrites_print_as_the_stable_forms():
    x = sym.var("x")
    assert str(sym.simplify(sym.log(sym.sigmoid(x)))) == "-softplus(-x)"
    assert str(sym.simplify(sym.log(1 - sym.sigmoid(x)))) == "-softplus(x)"
    assert str(sym.simplify(sym.log(1 + x))) == "log1p(x)"
    assert str(sym.simplify(sym.log(x + 1))) == "log1p(x)"
    assert str(sym.simplify(sym.exp(x) - 1)) == "expm1(x)"
    assert str(sym.simplify(sym.log(sym.softmax(x)))) == "log_softmax(x)"
    assert str(sym.simplify(sym.log(sym.sum(sym.exp(x))))) == "logsumexp(x)"
    rewritten = sym.simplify(sym.log(sym.sum(sym.exp(x), axis=1, keepdims=True)))
    assert rewritten.op == "logsumexp" and rewritten.attrs["axis"] in (1, (1,)) and rewritten.attrs["keepdims"] is True
    rewritten = sym.simplify(sym.log(sym.softmax(x, axis=0)))
    assert rewritten.op == "log_softmax" and rewritten.attrs["axis"] in (0, (0,))
    _, report = sym.simplify(sym.log(1 + x), explain=True)
    assert "log" in str(report)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_sigmoid_at_plus_minus_800(dtype):
    x = sym.var("x")
    out, grad = value_and_grad(sym.log(sym.sigmoid(x)), [-800.0, 0.0, 800.0], dtype)
    # log sigmoid(x) = -log(1 + exp(-x)); d/dx = 1 - sigmoid(x)
    np.testing.assert_allclose(out, [-800.0, -np.log(2), 0.0], rtol=rtol(dtype, 800))
    np.testing.assert_allclose(grad, [1.0, 0.5, 0.0], rtol=rtol(dtype, 800), atol=1e-30)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_one_minus_sigmoid_at_plus_minus_800(dtype):
    x = sym.var("x")
    out, grad = value_and_grad(sym.log(1 - sym.sigmoid(x)), [-800.0, 0.0, 800.0], dtype)
    # log(1 - sigmoid(x)) = -log(1 + exp(x)); d/dx = -sigmoid(x)
    np.testing.assert_allclose(out, [0.0, -np.log(2), -800.0], rtol=rtol(dtype, 800))
    np.testing.assert_allclose(grad, [0.0, -0.5, -1.0], rtol=rtol(dtype, 800), atol=1e-30)


def test_binary_cross_entropy_written_out_stays_finite_at_large_logits():
    """The textbook BCE, -mean(y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))), at logits where
    float32's sigmoid(z) rounds to 1: the loss is the mean softplus, its gradient (sigmoid(z) - y)/n."""
    z, y = sym.var("z"), sym.var("y")
    loss = -sym.mean(y * sym.log(sym.sigmoid(z)) + (1 - y) * sym.log(1 - sym.sigmoid(z)))
    z0 = np.array([40.0, -40.0, 40.0, 0.0], dtype=np.float32)
    y0 = np.array([1.0, 1.0, 0.0, 1.0], dtype=np.float32)
    ex = loss.bind({"z": z0, "y": y0}, grad_req={"z": "write", "y": "null"})
    out = ex.forward(is_train=True)[0].asnumpy()
    ex.backward()
    assert out == pytest.approx((0.0 + 40.0 + 40.0 + np.log(2)) / 4, rel=1e-6)
    np.testing.assert_allclose(ex.grad_dict["z"].asnumpy(), [0.0, -0.25, 0.25, -0.125], atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_one_plus_x_at_tiny_and_large_x(dtype):
    x = sym.var("x")
    x0 = np.array([1e-12, -1e-12, 1.0, 800.0], dtype=dtype)
    out, grad = value_and_grad(sym.log(1 + x), x0, dtype)
    # log1p(x) = x - x**2/2 + ... near 0: the naive log(1 + 1e-12) is off by 1e-4 relative in float64, 100% in float32
    expected = np.log1p(x0.astype(np.float64))
    np.testing.assert_allclose(out, expected, rtol=rtol(dtype))
    np.testing.assert_allclose(grad, 1 / (1 + x0.astype(np.float64)), rtol=rtol(dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_exp_minus_one_at_tiny_x_and_minus_800(dtype):
    x = sym.var("x")
    x0 = np.array([1e-12, -1e-12, 0.0, -800.0], dtype=dtype)
    out, grad = value_and_grad(sym.exp(x) - 1, x0, dtype)
    np.testing.assert_allclose(out, np.expm1(x0.astype(np.float64)), rtol=rtol(dtype))
    np.testing.assert_allclose(grad, np.exp(x0.astype(np.float64)), rtol=rtol(dtype), atol=1e-300)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_softmax_at_plus_minus_800(dtype):
    x = sym.var("x")
    x0 = [-800.0, 0.0, 800.0]
    w = np.array([1.0, 0.0, 0.0], dtype=dtype)
    out, grad = value_and_grad(sym.sum(sym.log(sym.softmax(x)) * w), x0, dtype)
    # log_softmax(x)_0 = x_0 - logsumexp(x) = -800 - 800; d/dx = w - softmax(x) * sum(w)
    assert out == pytest.approx(-1600.0, rel=rtol(dtype, 800))
    np.testing.assert_allclose(grad, [1.0, 0.0, -1.0], atol=rtol(dtype, 800))
    out, grad = value_and_grad(sym.sum(sym.log(sym.softmax(x, axis=0)) * w[:, None]), [[-800.0, 800.0]] * 3, dtype)
    np.testing.assert_allclose(grad, [[2 / 3, 2 / 3], [-1 / 3, -1 / 3], [-1 / 3, -1 / 3]], rtol=rtol(dtype, 800))


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_sum_exp_at_plus_minus_800(dtype):
    x = sym.var("x")
    out, grad = value_and_grad(sym.log(sym.sum(sym.exp(x))), [-800.0, 0.0, 800.0], dtype)
    assert out == pytest.approx(800.0, rel=rtol(dtype, 800))
    np.testing.assert_allclose(grad, [0.0, 0.0, 1.0], atol=rtol(dtype, 800))  # softmax(x)
    out, grad = value_and_grad(sym.log(sym.sum(sym.exp(x))), [-800.0, -800.0], dtype)
    assert out == pytest.approx(-800.0 + np.log(2), rel=rtol(dtype, 800))
    np.testing.assert_allclose(grad, [0.5, 0.5], rtol=rtol(dtype, 800))
    out, grad = value_and_grad(sym.sum(sym.log(sym.sum(sym.exp(x), axis=1))), [[800.0, 800.0], [-800.0, 0.0]], dtype)
    np.testing.assert_allclose(out, 800.0 + np.log(2) + 0.0, rtol=rtol(dtype, 800))
    np.testing.assert_allclose(grad, [[0.5, 0.5], [0.0, 1.0]], atol=rtol(dtype, 800))


def test_softplus_and_sigmoid_are_stable_alone():
    x = sym.var("x")
    out, grad = value_and_grad(sym.softplus(x), [-800.0, 800.0], np.float64)
    np.testing.assert_allclose(out, [0.0, 800.0])
    np.testing.assert_allclose(grad, [0.0, 1.0])
    out, grad = value_and_grad(sym.sigmoid(x), [-800.0, 800.0], np.float32)
    np.testing.assert_allclose(out, [0.0, 1.0])
    np.testing.assert_allclose(grad, [0.0, 0.0])


def test_the_naive_forms_would_fail_here():
    """Why the rewrites matter: NumPy's naive formulas at the same inputs."""
    with np.errstate(all="ignore"):
        assert np.log(1 / (1 + np.exp(800.0))) == -np.inf  # log(sigmoid(-800))
        assert np.log(np.sum(np.exp([800.0, 0.0]))) == np.inf
        assert np.log(np.float32(1) + np.float32(1e-12)) == 0.0
        assert abs(np.log(1 + 1e-12) - 1e-12) > 1e-17
