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
    # take (a constant index), take_scatter and concat_part hold an integer index; printing formatted it as a slice
    x, y = sym.var("x", shape=(3,)), sym.var("y", shape=(3,))
    for wrt in (x, y):
        g = sym.grad(build(x, y), wrt)
        assert str(g).startswith(("take(", "concat_part(")) and g._repr_latex_().startswith("$")


def test_an_integer_index_prints_as_written():
    x = sym.var("x", shape=(2, 3))
    assert str(shape_ops.take(x, 1, axis=1)) == "take(x, 1, axis=1)"
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


# ---- found by benchmarks/fuzz.py itself ------------------------------------------------


def test_a_cast_to_an_integer_dtype_passes_no_gradient_whatever_the_input_dtype():
    x = sym.var("x")  # undeclared dtype: the rule passed the gradient straight through
    g = sym.grad(sym.sum(sym.maximum(sym.cast(x, dtype="int32"), 1.0) * 2.0), x)
    (out,) = g.eval(x=np.array([0.0, 3.5, -2.0]))
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.0])


def test_reduce_size_computes_in_the_float_dtype_its_rule_declares():
    from symgrad.ops import reduction

    x = sym.var("x", shape=(2, 3), dtype="int32")
    (out,) = reduction.reduce_size(x, axis=None).eval(x=np.ones((2, 3), np.int32))
    assert out.dtype == np.float64 and out == 6


def test_folding_a_cast_of_a_number_keeps_the_cast_dtype():
    x = sym.var("x", shape=(), dtype="float32")
    g = sym.grad(sym.sum(shape_ops.sum_like(x, x) * np.array(-0.96, np.float32)), x)
    (out,) = g.eval()
    assert out.dtype == np.float32 and out == np.float32(-0.96)


def test_an_adjoint_op_refuses_a_g_that_is_not_the_products_shape():
    from symgrad.errors import ShapeError
    from symgrad.ops import linalg

    x = sym.var("x", shape=(3,))
    with pytest.raises(ShapeError, match="adjoint g has shape"):
        linalg.matmul_adjoint_lhs(x, x, x)  # matmul of two vectors is 0-d
    with pytest.raises(ShapeError, match="eye_like needs a matrix"):
        linalg.eye_like(sym.var("y", shape=(2, 1, 3)))


def test_the_gradient_of_trace_is_zero_off_the_diagonal_even_with_an_infinite_adjoint():
    x = sym.var("x", shape=(3, 3))
    (g,) = sym.grad(sym.sqrt(sym.trace(x)), x).eval(x=np.zeros((3, 3)))
    np.testing.assert_array_equal(g, np.where(np.eye(3) > 0, np.inf, 0.0))


@pytest.mark.parametrize("op", ["sign", "abs", "square"])
def test_sign_abs_and_square_keep_integer_dtypes_as_numpy_does(op):
    x = sym.var("x", shape=(3,), dtype="int32")
    value = np.array([-2, 0, 3], np.int32)
    (out,) = getattr(sym, op)(x).eval(x=value)
    expected = getattr(np, op)(value)
    assert out.dtype == expected.dtype == np.int32
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("declared", [True, False])
def test_a_where_mask_holds_through_broadcasting_at_first_order(declared):
    # the mask varies along the axes summed back to x: an entry is masked where every term was
    x = sym.var("x", shape=(3, 1) if declared else None)
    y = sym.var("y", shape=(1, 3) if declared else None)
    f = sym.sum(sym.where(x > y, sym.sqrt(x), 0))
    (g,) = sym.grad(f, x).eval(x=np.array([[-1.0], [0.5], [4.0]]), y=np.array([[0.0, 1.0, 2.0]]))
    np.testing.assert_allclose(np.asarray(g).ravel(), [0.0, 0.5 / np.sqrt(0.5), 3 * 0.25])
    a = sym.var("a")
    h = sym.sum(sym.maximum(sym.arccos(a), sym.var("b", shape=(2, 1, 3))))
    v = np.array([[[3.45, 1.73, -2.42]], [[1.14, -1.32, 2.12]]])  # arccos is NaN at all of them
    (ga,) = sym.grad(h, a).eval(a=v, b=v)
    np.testing.assert_array_equal(ga, np.zeros_like(v))


def test_a_tie_with_a_comparison_or_sign_goes_to_it_in_both_modes():
    # eager mode cannot tell a zero-gradient output from a constant, so both modes move it second
    a0, a1 = np.array([1.2, np.nan, -0.0]), np.array([1.0, np.nan, 0.0])
    x0, x1 = sym.var("x0"), sym.var("x1")
    head = sym.sum(sym.minimum(sym.sign(x1), x0) * np.array([1.0, 2.0, 3.0]))
    (symbolic,) = sym.grad(head, [x0])
    e0, e1 = nd.array(a0), nd.array(a1)
    e0.attach_grad()
    with autograd.record():
        y = (nd.minimum(nd.sign(e1), e0) * nd.array([1.0, 2.0, 3.0])).sum()
    y.backward()
    np.testing.assert_array_equal(symbolic.eval(x0=a0, x1=a1)[0], e0.grad.asnumpy())
    np.testing.assert_array_equal(e0.grad.asnumpy(), [0.0, 0.0, 0.0])


def test_multiplying_by_a_wider_zero_under_assume_finite_keeps_the_dtype():
    x = sym.var("x", shape=(3,), dtype="float32")
    e = sym.cast(x, dtype="float32") * sym.zeros_like(sym.var("y", shape=(3,), dtype="float64"))
    s = sym.simplify(e, assume_finite=True)
    assert s.dtype == e.dtype == np.float64


def test_broadcast_like_of_the_same_shape_keeps_the_wider_dtype():
    x = sym.var("x", shape=(), dtype="float32")
    e = shape_ops.broadcast_like(x, sym.var("y", shape=(), dtype="float64"))
    (out,) = sym.simplify(e).eval(x=np.float32(2.0))
    assert e.dtype == np.asarray(out).dtype == np.float64


def test_the_sum_of_a_weak_number_has_a_dtype():
    # the simplifier can fold ones_like(x)*array(-0.6) to the Python number -0.6 before it is summed
    x = sym.var("x", shape=(), dtype="float64")
    (g,) = sym.grad(sym.sum(sym.ones_like(x) * np.array(-0.6)), [x])
    assert float(np.asarray(g.eval()[0])) == 0.0


@pytest.mark.parametrize("dtype", ["int32", "float32", "bool"])
def test_relu_keeps_the_dtype_numpy_gives_it(dtype):
    # relu(cast(x, 'int32')) claimed float64 while np.maximum(x, 0) (and eager relu) keep int32
    x = sym.var("x", shape=(3,), dtype="float64")
    values = np.array([-2.5, 0.5, 7.0])
    expected = np.maximum(values.astype(dtype), 0)
    y = sym.relu(sym.cast(x, dtype=dtype))
    (out,) = y.eval(x=values)
    assert y.dtype == out.dtype == expected.dtype == nd.relu(nd.array(values, dtype=dtype)).dtype
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("bounds", [(0.0, 1.0), (None, -1.0), (0, 3)])
@pytest.mark.parametrize("declared", [True, False])
def test_clip_of_integers_by_float_bounds_is_float_as_numpy_and_eager_make_it(bounds, declared):
    # clip(cast(x, 'int32'), 0.0, 1.0) claimed int32 while np.clip (and nd.clip) give float64
    x = sym.var("x", shape=(3,) if declared else None, dtype="float64" if declared else None)
    values = np.array([-2.5, 0.5, 7.0])
    expected = np.clip(values.astype(np.int32), *bounds)
    clipped = sym.clip(sym.cast(x, dtype="int32"), *bounds)
    (out,) = clipped.eval(x=values)
    assert out.dtype == expected.dtype == nd.clip(nd.array(values, dtype="int32"), *bounds).dtype
    np.testing.assert_array_equal(out, expected)
    if declared:
        assert clipped.dtype == expected.dtype


@pytest.mark.parametrize(
    "build",
    [
        lambda x, c: sym.where(c, sym.ones_like(x), sym.ones_like(x)),
        lambda x, c: sym.where(c, x / x, 0),
        lambda x, c: sym.minimum(sym.where(x - x, x - x, 1), 2),
        lambda x, c: sym.sin(sym.where(abs(x) + 1, 0, -0.0 * x)),
        lambda x, c: sym.zeros_like(sym.sum(x)) + sym.zeros_like(sym.sum(x)),
        lambda x, c: sym.ones_like(sym.prod(x)) + sym.prod(x) / sym.prod(x),
    ],
    ids=[
        "where(c, ones_like(x), ones_like(x))",
        "where(c, x/x, 0)",
        "where(x-x, x-x, 1)",
        "where(c, 0, -0.0*x)",
        "2*zeros_like(sum(x))",
        "ones_like(prod(x)) + 1",
    ],
)
@pytest.mark.parametrize("assume_finite", [False, True])
def test_filling_in_a_number_for_an_array_of_one_value_keeps_an_undeclared_dtype(build, assume_finite):
    # with x's dtype unknown the fill was taken to have the dtype of what it meets: here only numbers (int64)
    x, c = sym.var("x"), sym.var("c", shape=(3, 1), dtype="float32")
    args = {"x": np.array([[0.5, -1.0, 2.0]], np.float32), "c": np.array([[1.0], [0.0], [1.0]], np.float32)}
    expr = build(x, c)
    expected = expr.eval(**{k: v for k, v in args.items() if k in expr.list_arguments()})[0]
    simplified = sym.simplify(expr, assume_finite=assume_finite)
    (out,) = simplified.eval(**{k: v for k, v in args.items() if k in simplified.list_arguments()})
    assert expected.dtype == np.float32 and out.dtype == np.float32 and out.shape == expected.shape


def test_dividing_an_integer_by_itself_under_assume_finite_stays_float64():
    x = sym.var("x", shape=(3,), dtype="float64")
    ratio = sym.cast(x, dtype="int32") / sym.cast(x, dtype="int32")
    (out,) = sym.simplify(ratio, assume_finite=True).eval(x=np.array([-3.7, 2.0, 1.5]))
    assert out.dtype == np.float64 and list(out) == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("reduce", [sym.max, sym.prod, lambda v: sym.sum(v * sym.var("w"))], ids=["max", "prod", "sum"])
def test_a_where_mask_holds_with_undeclared_shapes_under_a_full_size_adjoint(reduce):
    # sym.grad gave NaN where bind gives 0: the mask of minimum's untaken side was summed into a
    # sum_like of the same shape (not provable without shapes) and arccos' NaN slope multiplied its 0
    x0, x1 = sym.var("x0"), sym.var("x1")
    y = reduce(sym.minimum(sym.abs(sym.arccos(sym.maximum(x1, x0))), x0))
    args = {"x0": np.array([0.0, -1.4, 2.6]), "x1": np.array([[2.8, 1.2, -0.3], [-2.2, 2.8, -0.75]])}
    args = {**args, "w": np.ones((2, 3))} if "w" in y.list_arguments() else args
    (got,) = sym.grad(y, x1).eval(**args)
    ex = y.bind(args, args_grad={"x1": np.zeros((2, 3))}, grad_req={k: "write" if k == "x1" else "null" for k in args})
    ex.forward(is_train=True)
    ex.backward()
    np.testing.assert_array_equal(got, np.asarray(ex.grad_dict["x1"]))
    np.testing.assert_array_equal(got, np.zeros((2, 3)))


CARRIED_MASKS = {  # a where over a rearranged log, and the weight its x = 2 entry gets
    "reshape": (lambda x: sym.where(sym.reshape(x, shape=(3,)) > 0, sym.reshape(sym.log(x), shape=(3,)), 0), 1.0),
    "transpose": (lambda x: sym.where(sym.transpose(x) > 0, sym.transpose(sym.log(x)), 0), 1.0),
    "flatten": (lambda x: sym.where(sym.reshape(x, shape=(3,)) > 0, sym.flatten(sym.log(x)).reshape((3,)), 0), 1.0),
    "weighted": (
        lambda x: sym.sum(
            sym.where(sym.reshape(x, shape=(3,)) > 0, sym.reshape(sym.log(x), shape=(3,)), 0) * [1, 2, 3]
        ),
        2.0,
    ),
}


@pytest.mark.parametrize("declared", [True, False])
@pytest.mark.parametrize("name", CARRIED_MASKS)
def test_a_where_mask_is_carried_through_a_reshape_or_transpose(name, declared):
    # sym.grad gave NaN at log's pole where bind gave 0 (with shapes known a no-op flatten went away)
    build, weight = CARRIED_MASKS[name]
    x = sym.var("x", shape=(3, 1) if declared else None)
    x0 = np.array([[-1.0], [2.0], [0.0]])
    first = sym.grad(build(x), x)
    np.testing.assert_array_equal(first.eval(x=x0)[0], [[0.0], [0.5 * weight], [0.0]])
    np.testing.assert_array_equal(sym.grad(sym.sum(first), x).eval(x=x0)[0], [[0.0], [-0.25 * weight], [0.0]])


@pytest.mark.parametrize("first", ["sign(x)", "array"])
def test_an_eager_constant_first_argument_is_moved_second_after_it_was_used_too(first):
    # eager minimum(sign(x), x) at NaN gave sym.grad's tie to x (NaN) once sign(x) had fed another op:
    # being an input had turned its zero-gradient history into a leaf the swap did not recognise
    x = nd.array(np.array([np.nan, 2.0, -1.0]), dtype="float64")
    x.attach_grad()
    with autograd.record():
        c = nd.sign(x) if first == "sign(x)" else nd.array([0.5, 0.5, 0.5], dtype="float64")
        unused = c * x  # c is an input of a recorded op first
        y = nd.log(nd.minimum(c, x) + 2).sum()
    y.backward()
    xs = sym.var("x")
    cs = sym.sign(xs) if first == "sign(x)" else np.array([0.5, 0.5, 0.5])
    expected = sym.grad(sym.sum(sym.log(sym.minimum(cs, xs) + 2)), xs).eval(x=x.asnumpy())[0]
    np.testing.assert_array_equal(x.grad.asnumpy(), expected.asnumpy())
    assert unused.shape == (3,)


def test_the_derivative_of_a_power_of_zero_in_its_exponent_is_zero_only_where_flat():
    # d/dy 0**y is 0 for y >= 0 (as PyTorch); for y < 0 it is 0**y*log(0) = -inf (it was 0, so (x**y)**2 gave NaN)
    x, y = sym.var("x"), sym.var("y")
    with np.errstate(all="ignore"):
        got = sym.grad(sym.sum(x**y), y).eval(x=np.zeros(3), y=np.array([-0.5, 0.0, 0.5]))[0]
    np.testing.assert_array_equal(got, [-np.inf, 0.0, 0.0])


def test_the_derivative_of_a_power_is_masked_where_it_is_constant():
    # arccos(x**y) at y = 0 is arccos(1): d/dx is 0, not arccos'(1)*0 = -inf*0 = NaN (PyTorch gives 0 too)
    x, y = sym.var("x"), sym.var("y")
    with np.errstate(all="ignore"):
        got = sym.grad(sym.sum(sym.arccos(x**y)), x).eval(x=np.array([2.7, -1.9, 0.0]), y=np.array([-0.0, 0.0, 0.0]))
    np.testing.assert_array_equal(got[0], [0.0, 0.0, 0.0])


@pytest.mark.parametrize("declared", [True, False])
def test_a_mask_not_provably_of_the_inputs_shape_still_holds_through_a_unary_op(declared):
    # max(relu(arccos(x))) at NaN: relu's mask and max's (made from a reduction, so its shape is not
    # provable without declared shapes) went into a sum_like, and arccos' NaN slope times 0 gave NaN
    x = sym.var("x", shape=(2,) if declared else None)
    y = sym.max(sym.relu(sym.arccos(x)), keepdims=True)
    with np.errstate(invalid="ignore"):
        (got,) = sym.grad(y, x).eval(x=np.array([np.nan, 0.5]))
    np.testing.assert_array_equal(got, [0.0, 0.0])  # the NaN maximum takes it all; relu masks it at NaN


def test_a_declared_float64_variable_gets_a_float64_gradient_through_a_part_of_unknown_dtype():
    # the gradient's dtype was unknown (None), and np.dtype('float64') == None is True: no cast was added
    x0, x1 = sym.var("x0", shape=(), dtype="float64"), sym.var("x1")
    y = sym.sum(sym.cast(sym.where(x0, x0, sym.zeros_like(x1)), dtype="float32"))
    g0, _ = sym.Group(sym.grad(y, [x0, x1])).eval(x0=np.float64(1.0), x1=np.float64(-0.9))
    assert g0.dtype == np.float64 and float(g0) == 1.0


def test_trace_of_integers_accumulates_as_numpy_does():
    x = sym.var("x", shape=(2, 2), dtype="float32")
    t = sym.trace(sym.cast(x, dtype="int32"))
    expected = np.trace(np.array([[1, 2], [3, 4]], np.int32))
    (out,) = t.eval(x=np.array([[1, 2], [3, 4]], np.float32))
    assert t.dtype == out.dtype == expected.dtype and int(out) == 5


@pytest.mark.parametrize("shapes", [((1, 3), (3, 3)), ((3, 2), (2, 3)), ((2, 3), (3, 2))])
def test_trace_of_a_product_is_rewritten_only_when_the_product_is_square(shapes):
    # trace(dot(x1, x0)) of a (1, 3) product was rewritten to sum(x1 * x0.T), the sum of every product
    rng = np.random.default_rng(0)
    a0, b0 = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    a, b = sym.var("a", shape=shapes[0]), sym.var("b", shape=shapes[1])
    for t in (sym.trace(sym.dot(a, b)), sym.simplify(sym.trace(sym.dot(a, b)))):
        np.testing.assert_allclose(t.eval(a=a0, b=b0)[0], np.trace(a0 @ b0), rtol=1e-12)


def _gradients_every_way(build, args: dict, wrt: str) -> list[np.ndarray]:
    """d build(...)/d wrt from sym.grad (shapes declared and not), bind/backward and eager mode."""
    grads = []
    for declared in (True, False):
        xs = {
            k: sym.var(k, shape=v.shape if declared else None, dtype=v.dtype if declared else None)
            for k, v in args.items()
        }
        g = sym.grad(build(sym, **xs), xs[wrt])
        grads.append(g.eval(**{k: args[k] for k in g.list_arguments()})[0].asnumpy())  # may fold to a constant
    xs = {k: sym.var(k) for k in args}
    ex = build(sym, **xs).bind(
        args, args_grad={wrt: np.zeros_like(args[wrt])}, grad_req={k: "write" if k == wrt else "null" for k in args}
    )
    ex.forward(is_train=True)
    ex.backward()
    grads.append(np.asarray(ex.grad_dict[wrt]))
    arrays = {k: nd.array(v, dtype=v.dtype) for k, v in args.items()}
    for array in arrays.values():  # variables, as in the symbolic graph (a plain array is a constant)
        array.attach_grad()
    with autograd.record():
        head = build(nd, **arrays)
    head.backward()
    grads.append(arrays[wrt].grad.asnumpy())
    return grads


SUMS_THAT_ARE_THE_IDENTITY = {  # clip at NaN masks the gradient; the sum in between changes nothing
    "axis=()": lambda ns, x: ns.clip(ns.sum(ns.log(x), axis=(), keepdims=True), a_min=None, a_max=0.5),
    "sum of a 0-d x": lambda ns, x: ns.clip(ns.sum(ns.arcsin(x)), a_min=-1.0, a_max=0.5),
    "mean of a 0-d x": lambda ns, x: ns.clip(ns.mean(ns.arcsin(x)), a_min=-1.0, a_max=0.5),
}


@pytest.mark.parametrize("name", SUMS_THAT_ARE_THE_IDENTITY)
def test_a_where_mask_holds_through_a_sum_that_is_the_identity(name):
    # sym.grad gave 0 where eager gave NaN (and NaN where bind gave 0 without declared shapes): bind
    # simplifies the sum away, so log's NaN slope met the mask there, and 0 * NaN where the sum stood
    build = SUMS_THAT_ARE_THE_IDENTITY[name]
    with np.errstate(invalid="ignore"):
        for got in _gradients_every_way(build, {"x": np.array(np.nan)}, "x"):
            np.testing.assert_array_equal(got, 0.0)


def test_a_where_mask_through_a_sum_is_broadcast_with_the_adjoint():
    # sum's gradient broadcasts the adjoint: where(c, h, 0) broadcast is where(c, broadcast(h), 0)
    def build(ns, x):
        return ns.sum(ns.maximum(ns.sum(ns.sqrt(x), axis=1), 1.0))

    x0 = np.array([[-1.0, 4.0], [1.0, 4.0]])  # row 0's sum is NaN: maximum gives its gradient to 1.0
    with np.errstate(invalid="ignore"):
        for got in _gradients_every_way(build, {"x": x0}, "x"):
            np.testing.assert_array_equal(got, [[0.0, 0.0], [0.5, 0.25]])


def test_a_masked_adjoint_that_cancels_to_zero_keeps_its_mask():
    # maximum(x1, x0**2 - x0**2): x0**2's adjoint where(c, 0, W) + where(c, 0, -W) folds to
    # where(c, 0, 0.0), which was read as masking the other branch: bind gave 0 at x0 = inf where
    # the branch is taken and W*2*x0 - W*2*x0 is inf - inf (NaN, as sym.grad without shapes gives)
    def build(ns, x0, x1):
        v = ns.square(x0)
        return ns.sum(ns.maximum(x1, v - v) * np.array([1.5, -0.5, 2.0]))

    args = {"x0": np.array([np.inf, 2.0, -np.inf]), "x1": np.array([np.inf, 1.0, -1.0])}
    with np.errstate(invalid="ignore"):
        for got in _gradients_every_way(build, args, "x0"):
            np.testing.assert_array_equal(got, [np.nan, 0.0, np.nan])  # x1 > NaN is False: x0**2 taken


def test_dividing_by_a_broadcast_zero_sums_the_infinite_terms_of_the_gradient():
    # x0/zeros_like(x1) was rewritten to broadcast(x0/0), whose gradient is sum(W)/0 = inf; the
    # gradient of the division is sum(W/0), +inf and -inf terms: NaN (as PyTorch and eager give)
    def build(ns, x0, x1):
        return ns.sum(ns.divide(x0, ns.zeros_like(x1)) * np.array([0.5, -0.25, 1.0]))

    args = {"x0": np.array(np.inf), "x1": np.array([1.0, 2.0, 3.0])}
    with np.errstate(divide="ignore", invalid="ignore"):
        for got in _gradients_every_way(build, args, "x0"):
            np.testing.assert_array_equal(got, np.nan)


SCALED_SUMS = {  # c*x summed: NumPy's value at x = (1, -2) is NaN for c = inf and 0.0 for c = 0
    "sum(inf*x)": (lambda x: sym.sum(np.inf * x), lambda v: np.sum(np.inf * v)),
    "sum(0*x)": (lambda x: sym.sum(0 * x), lambda v: np.sum(0 * v)),
    "dot(inf*x, x*x)": (lambda x: sym.dot(np.inf * x, x * x), lambda v: np.dot(np.inf * v, v * v)),
}


@pytest.mark.parametrize("name", SCALED_SUMS)
def test_an_infinite_or_zero_factor_is_not_taken_out_of_a_sum(name):
    # sum(inf*x) was built as inf*sum(x): -inf where the terms inf and -inf sum to NaN
    build, numpy = SCALED_SUMS[name]
    v = np.array([1.0, -2.0])
    x = sym.var("x")
    with np.errstate(invalid="ignore"):
        expected = numpy(v)
        for s in (build(x), sym.simplify(build(x))):
            (out,) = s.eval(x=v)
            np.testing.assert_array_equal(out, expected)
            assert np.signbit(out) == np.signbit(expected)


@pytest.mark.parametrize("dtype", [None, "float64"])
def test_a_broadcast_zero_over_a_0d_variable_simplifies_without_error(dtype):
    # 0*x/x under assume_finite meets zeros_like(x)/x for a 0-d x: the check of x's gradient looked
    # a variable up among the ops (KeyError: 'var'; the simplifier fuzz's seed 61)
    x = sym.var("x", shape=(), dtype=dtype)
    (out,) = sym.simplify(0 * x / x, assume_finite=True).eval(x=np.float64(2.0))
    assert float(out) == 0.0
