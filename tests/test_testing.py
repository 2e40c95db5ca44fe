"""The testing helpers pass on right gradients and name the worst mismatch on wrong ones."""

import numpy as np
import pytest

from symgrad import ops, sym
from symgrad.testing import (
    assert_almost_equal,
    check_numeric_gradient,
    check_symbolic_backward,
    check_symbolic_forward,
)

rng = np.random.default_rng(1)


def test_checks_pass_on_right_gradients():
    x, w = sym.var("x"), sym.var("w")
    s = sym.tanh(sym.dot(x, w))
    location = {"x": rng.normal(size=(3, 4)), "w": rng.normal(size=(4, 2))}
    check_numeric_gradient(s, location)
    check_symbolic_forward(s, location, [np.tanh(location["x"] @ location["w"])])
    heads = np.ones((3, 2))
    t = np.tanh(location["x"] @ location["w"])
    check_symbolic_backward(s, location, [heads], {"w": location["x"].T @ (1 - t**2)})


def test_wrong_gradient_rule_is_caught_with_the_worst_mismatch():
    wrong_square = ops.register(
        "wrong_square_for_testing",
        lambda x: x * x,
        grad=lambda g, out, x: [g * x],  # should be 2*g*x
    )
    s = wrong_square(sym.var("x"))
    with pytest.raises(AssertionError, match=r"worst at index .*symbolic d/dx=.*numeric d/dx="):
        check_numeric_gradient(s, {"x": np.array([1.0, 2.0, 3.0])})


def test_assert_almost_equal_reports_index_and_values():
    with pytest.raises(AssertionError, match=r"1 of 3 values differ; worst at index \(1,\): a=2.5, b=2.0"):
        assert_almost_equal([1.0, 2.5, 3.0], [1.0, 2.0, 3.0])
    assert_almost_equal([np.nan, 1.0], [np.nan, 1.0])
