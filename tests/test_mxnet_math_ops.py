"""MXNet's elementwise and shape ops that its users' scripts call: rounding (zero gradient), reciprocals,
inverse hyperbolics, log10, degrees/radians, softsign, hard_sigmoid, smooth_l1, logical_not, mod (`%`),
identity, slice, slice_like, broadcast_axis, and MXNet's other spellings (Reshape, SwapAxis, fix, ...).

tests/opcases.py sweeps their values, gradients and eager mode; benchmarks/crosscheck_mxnet.py checks them
against MXNet 1.9.1 itself. Here: derivatives against SymPy's, MXNet's conventions, and the errors.
"""

import numpy as np
import pytest
import sympy as sp

import symgrad as sg
from symgrad import autograd, nd, sym
from symgrad.ops.registry import OPS
from symgrad.testing import check_numeric_gradient

t = sp.Symbol("t", real=True)

# op, attrs, points inside its domain and away from its kinks
SMOOTH = [
    ("arcsinh", {}, [-2.0, -0.3, 0.7, 3.0]),
    ("arccosh", {}, [1.2, 2.0, 5.0]),
    ("arctanh", {}, [-0.8, 0.1, 0.6]),
    ("log10", {}, [0.2, 1.0, 7.5]),
    ("degrees", {}, [-1.0, 0.5]),
    ("radians", {}, [-90.0, 30.0]),
    ("reciprocal", {}, [-2.0, -0.4, 0.3, 3.0]),
    ("rsqrt", {}, [0.2, 1.0, 4.0]),
    ("rcbrt", {}, [-8.0, -0.5, 0.3, 27.0]),
    ("softsign", {}, [-3.0, -0.2, 0.4, 2.0]),
    ("hard_sigmoid", {"alpha": 0.3, "beta": 0.4}, [-1.0, 0.5, 1.5]),
    ("smooth_l1", {"scalar": 2.0}, [-1.0, -0.1, 0.2, 0.9]),
    ("gamma", {}, [0.3, 1.0, 4.5, -1.5]),
    ("gammaln", {}, [0.3, 1.0, 4.5]),
    ("erfinv", {}, [-0.9, 0.0, 0.4, 0.99]),
    ("polygamma", {"n": 1}, [0.3, 2.0, -1.5]),
]


@pytest.mark.parametrize("op, attrs, points", SMOOTH, ids=[c[0] for c in SMOOTH])
def test_first_and_second_derivatives_equal_sympy_diff_of_the_registered_form(op, attrs, points):
    expr = OPS[op].sympy(t, **attrs)
    x = sym.var("x")
    y = getattr(sym, op)(x, **attrs)
    first = sym.grad(y, x)
    second = sym.grad(first, x)
    at = np.array(points)
    for got, want in ((y, expr), (first, sp.diff(expr, t)), (second, sp.diff(expr, t, 2))):
        expected = [float(want.subs(t, p)) for p in points]
        np.testing.assert_allclose(got.eval(x=at)[0].asnumpy(), expected, rtol=1e-12, atol=1e-12, err_msg=op)


def test_rounding_follows_mxnet_at_ties_and_has_zero_gradient():
    ties = nd.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 2.7, -2.7])
    # MXNet 1.9.1's values on these points
    assert nd.round(ties).asnumpy().tolist() == [-3, -2, -1, 1, 2, 3, 3, -3]  # halves away from zero
    assert nd.rint(ties).asnumpy().tolist() == [-3, -2, -1, 0, 1, 2, 3, -3]  # a tie goes to floor
    assert nd.fix(ties).asnumpy().tolist() == nd.trunc(ties).asnumpy().tolist() == [-2, -1, -0, 0, 1, 2, 2, -2]
    assert nd.floor(ties).asnumpy().tolist() == [-3, -2, -1, 0, 1, 2, 2, -3]
    assert nd.ceil(ties).asnumpy().tolist() == [-2, -1, -0, 1, 2, 3, 3, -2]
    whole = nd.array([3, -4], dtype="int32")  # integers stay integers of their dtype, as MXNet's
    assert all(
        f(whole).dtype == np.int32 and f(whole).asnumpy().tolist() == [3, -4] for f in (nd.round, nd.floor, nd.fix)
    )
    x = nd.array([0.3, 1.7, -2.2])
    x.attach_grad()
    with autograd.record():
        y = (nd.round(x) + nd.rint(x) + nd.floor(x) + nd.ceil(x) + nd.fix(x) + x * nd.logical_not(nd.floor(x))).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [1.0, 0.0, 0.0])  # only x*logical_not(floor(x)) at 0.3
    v = sym.var("v")
    assert str(sym.grad(sym.sum(sym.round(v) * sym.ceil(v)), v)) == "zeros_like(v)"


def test_logical_not_keeps_the_dtype_as_mxnet():
    assert nd.logical_not(nd.array([0, 2, -1], dtype="int32")).asnumpy().tolist() == [1, 0, 0]
    assert nd.logical_not(nd.array([0, 2], dtype="int32")).dtype == np.int32


def test_mod_is_mxnets_remainder_with_the_divisors_sign_and_zero_for_a_zero_divisor():
    a, b = nd.array([-5, 5, -5, 5, 3]), nd.array([3, 3, -3, -3, 0])
    assert (a % b).asnumpy().tolist() == [1, 2, -2, -1, 0]  # MXNet 1.9.1's values
    assert (nd.array([5.5]) % 2).asnumpy().tolist() == [1.5] and (7 % nd.array([3.0])).asnumpy().tolist() == [1.0]
    assert nd.broadcast_mod(nd.array([[4.0], [-4.0]]), nd.array([3.0, -3.0])).asnumpy().tolist() == [
        [1, -2],
        [2, -1],
    ]
    with sg.NameManager():
        a_, b_ = sym.var("a"), sym.var("b")
        assert (a_ % b_).name == "_mod0" and (a_ % 2).name == "_modscalar0" and (2 % a_).name == "_rmodscalar0"
    rng = np.random.default_rng(1)
    check_numeric_gradient(sym.sum(a_ % b_), {"a": rng.uniform(-3, 3, (3, 4)), "b": rng.uniform(0.5, 2, (3, 4))})


def test_slice_takes_none_and_negative_steps_and_clips_as_mxnet():
    x = np.arange(12.0).reshape(3, 4)
    cases = [
        ({"begin": (None, 1), "end": (None, None)}, x[:, 1:]),
        ({"begin": (None,), "end": (None,), "step": (-2,)}, x[::-2]),
        ({"begin": (2, -1), "end": (None, 0), "step": (-1, -2)}, x[2::-1, -1:0:-2]),
        ({"begin": (5,), "end": (None,)}, x[5:]),  # empty, as MXNet's
        ({"begin": (1, 1), "end": (3, -1), "step": (1, 2)}, x[1:3, 1:-1:2]),
    ]
    v = sym.var("v", shape=(3, 4))
    for attrs, want in cases:
        np.testing.assert_array_equal(sym.slice(v, **attrs).eval(v=x)[0].asnumpy(), want)
        np.testing.assert_array_equal(nd.slice(nd.array(x), **attrs).asnumpy(), want)
        np.testing.assert_array_equal(nd.array(x).slice(**attrs).asnumpy(), want)
    check_numeric_gradient(sym.sum(sym.slice(v, begin=(2, None), end=(0, None), step=(-1, 2)) ** 2), {"v": x})


def test_slice_like_and_broadcast_axis_shapes_and_gradients():
    x, like = sym.var("x", shape=(3, 4)), sym.var("y", shape=(2, 3))
    assert sym.slice_like(x, like).shape == (2, 3) and sym.slice_like(x, like, axes=(-1,)).shape == (3, 3)
    rng = np.random.default_rng(2)
    values = {"x": rng.normal(size=(3, 4)), "y": rng.normal(size=(2, 3))}
    check_numeric_gradient(sym.sum(sym.slice_like(x, like, axes=(0,)) ** 2 * 3), values)
    z = sym.var("z", shape=(2, 1, 3))
    assert sym.broadcast_axis(z, axis=1, size=4).shape == (2, 4, 3)
    assert sym.broadcast_axes(sym.var("w", shape=(1, 1, 3)), axis=(0, 1), size=(2, 5)).shape == (2, 5, 3)
    check_numeric_gradient(sym.sum(sym.broadcast_axis(z, axis=-2, size=3) ** 2), {"z": rng.normal(size=(2, 1, 3))})


@pytest.mark.parametrize(
    "build, error, words",
    [
        (lambda x: sym.slice(x, begin=(0,), end=(2,), step=(0,)), sg.SymgradError, ["slice", "step"]),
        (lambda x: sym.slice(x, begin=(0,), end=(1, 1)), sg.SymgradError, ["slice", "begin", "end"]),
        (lambda x: sym.slice(x, begin=(0, 0, 0), end=(1, 1, 1)), sg.ShapeError, ["slice", "begin", "(3, 4)"]),
        (lambda x: sym.slice_like(x, sym.var("y", shape=(5, 3))), sg.ShapeError, ["slice_like", "(5, 3)", "(3, 4)"]),
        (lambda x: sym.slice_like(x, sym.var("y", shape=(2,))), sg.ShapeError, ["slice_like", "(2,)", "rank"]),
        (lambda x: sym.broadcast_axis(x, axis=1, size=3), sg.ShapeError, ["broadcast_axis", "axis 1", "size 4"]),
        (lambda x: sym.broadcast_axis(x, axis=(0, 1), size=3), sg.SymgradError, ["broadcast_axis", "axis", "size"]),
        (lambda x: sym.smooth_l1(x, scalar=0), sg.SymgradError, ["smooth_l1", "scalar"]),
        (lambda x: sym.hard_sigmoid(x, alpha="a"), sg.SymgradError, ["hard_sigmoid", "alpha"]),
        (lambda x: sym.SwapAxis(x, dim1="a"), sg.SymgradError, ["swapaxes", "axis1"]),
    ],
)
def test_a_bad_argument_names_the_op_the_argument_and_the_shapes(build, error, words):
    with pytest.raises(error) as caught:
        build(sym.var("x", shape=(3, 4)))
    for word in words:
        assert word in str(caught.value)


def test_an_eager_slice_out_of_range_names_begin_and_end_not_numpy_s_index():
    with pytest.raises(sg.ShapeError, match=r"nd.slice: .*begin=\(0, 0, 0\)"):
        nd.slice(nd.ones((3, 4)), begin=(0, 0, 0), end=(1, 1, 1))
    with pytest.raises(sg.ShapeError, match="broadcast_axis.*axis 2 has size 3"):
        nd.broadcast_axis(nd.ones((2, 1, 3)), axis=2, size=4)


def test_mxnets_other_spellings_build_the_op_with_mxnets_auto_names():
    with sg.NameManager():
        x = sym.var("x")
        built = [
            sym.Reshape(x, shape=(0, -1)),
            sym.SwapAxis(x, dim1=0, dim2=2),
            sym.make_loss(x),
            sym.sum_axis(x, axis=1),
            sym.fix(x),
            sym.identity(x),
            sym.broadcast_axes(x, axis=0, size=2),
            sym.Flatten(x),
            sym.Cast(x, dtype="float64"),
        ]
    assert [s.name for s in built] == [
        "reshape0",
        "swapaxis0",
        "make_loss0",
        "sum_axis0",
        "fix0",
        "identity0",
        "broadcast_axes0",
        "flatten0",
        "cast0",
    ]  # MXNet 1.9.1's names for these calls
    assert [s.op for s in built] == [
        "reshape",
        "swapaxes",
        "MakeLoss",
        "sum",
        "trunc",
        "identity",
        "broadcast_axis",
        "flatten",
        "cast",
    ]
    a = nd.array(np.arange(24.0).reshape(2, 3, 4))
    assert nd.Reshape(a, shape=(-3, -2)).shape == (6, 4) and nd.Reshape(a, shape=(-1, 0), reverse=True).shape == (6, 4)
    assert nd.SwapAxis(a, dim1=0, dim2=2).shape == (4, 3, 2) and nd.swapaxes(a, dim1=1, dim2=2).shape == (2, 4, 3)
    assert nd.Flatten(a).shape == (2, 12) and nd.Cast(a, dtype="float64").dtype == np.float64
    np.testing.assert_array_equal(nd.sum_axis(a, axis=1).asnumpy(), a.asnumpy().sum(axis=1))


def test_eye_and_arange_are_float32_unless_told_and_take_mxnet_s_ctx():
    assert nd.eye(3, 4, k=1, ctx=sg.cpu()).asnumpy().tolist() == np.eye(3, 4, 1).tolist()
    assert nd.eye(2).dtype == np.float32 and sym.eye(2, dtype="float64").dtype == np.float64
    assert nd.arange(0, 5, 2, repeat=2, ctx=sg.cpu()).asnumpy().tolist() == [0, 0, 2, 2, 4, 4]
    assert nd.arange(3).dtype == np.float32 and nd.arange(3, dtype="int32").dtype == np.int32
    # start + i*step in float64, then cast (MXNet's kernel), not float32 steps added up
    np.testing.assert_array_equal(nd.arange(1, 2, 0.1).asnumpy(), (1 + np.arange(10) * 0.1).astype(np.float32))
    assert sym.arange(1, 4, 0.5).shape == (6,) and sym.arange(5).eval()[0].asnumpy().tolist() == [0, 1, 2, 3, 4]
    for bad, words in ((lambda: sym.arange(0, 3, 0), "step"), (lambda: sym.eye(-1), "N")):
        with pytest.raises(sg.SymgradError, match=words):
            bad()


def test_shape_array_and_size_array_are_int64_without_gradient():
    x = nd.ones((2, 3))
    assert nd.shape_array(x).asnumpy().tolist() == [2, 3] and nd.shape_array(x).dtype == np.int64
    assert nd.size_array(x).asnumpy().tolist() == [6] and nd.size_array(x).dtype == np.int64
    v = sym.var("v", shape=(2, 3))
    assert sym.shape_array(v).shape == (2,) and sym.size_array(v).shape == (1,)
    assert str(sym.grad(sym.sum(sym.cast(sym.shape_array(v), dtype="float64") * 1.0) + sym.sum(v), v)) == "ones((2, 3))"


def test_linalg_gemm2_and_gemm_are_alpha_op_a_op_b_plus_beta_c():
    rng = np.random.default_rng(3)
    a, b, c = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 5, 4)), rng.normal(size=(2, 3, 5))
    want = 0.5 * np.swapaxes(a, -1, -2) @ np.swapaxes(b, -1, -2)
    got = nd.linalg_gemm2(nd.array(a), nd.array(b), transpose_a=True, transpose_b=True, alpha=0.5)
    np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-5, atol=1e-6)  # float32
    a64, b64, c64 = (nd.array(v, dtype="float64") for v in (a, b, c))
    got = nd.linalg_gemm(a64, b64, c64, True, True, 0.5, -2.0)  # MXNet's positional order
    np.testing.assert_allclose(got.asnumpy(), want - 2 * c, rtol=1e-12)
    va, vb, vc = sym.var("a"), sym.var("b"), sym.var("c")
    y = sym.sum(sym.linalg_gemm(va, vb, vc, transpose_a=True, transpose_b=True, alpha=0.5, beta=-2.0) ** 2)
    check_numeric_gradient(y, {"a": a, "b": b, "c": c})
    with pytest.raises(sg.ShapeError, match=r"linalg_gemm .*C has shape \(3, 5\)"):
        sym.linalg_gemm(sym.var("p", shape=(3, 4)), sym.var("q", shape=(4, 2)), sym.var("r", shape=(3, 5)))
    with pytest.raises(sg.ShapeError, match=r"linalg_gemm2 .*inner sizes differ \(4 vs 3\)"):
        sym.linalg_gemm2(sym.var("p", shape=(3, 4)), sym.var("q", shape=(3, 2)))
    with pytest.raises(sg.SymgradError, match="linalg_gemm2: axis must be -2"):
        sym.linalg_gemm2(va, vb, axis=0)


def test_cumsum_and_diag_values_gradients_and_their_adjoints_adjoint():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 4))
    assert nd.cumsum(nd.array(x, dtype="float64"), axis=0).asnumpy().tolist() == np.cumsum(x, 0).tolist()
    assert nd.cumsum(nd.ones((2, 3), dtype="int32")).dtype == np.int32  # MXNet keeps int32 (NumPy: int64)
    v = sym.var("v")
    for build, value in (
        (lambda s: sym.cumsum(s, axis=-1), x),
        (lambda s: sym.cumsum(s), x),
        (lambda s: sym.diag(s, k=-1), x[0]),
        (lambda s: sym.diag(s, k=2), x),
        (lambda s: sym.diag(s, k=-1, axis1=2, axis2=0), rng.normal(size=(3, 2, 4))),
    ):
        y = sym.sum(build(v) ** 3)
        check_numeric_gradient(y, {"v": value})  # first order
        check_numeric_gradient(sym.sum(sym.grad(y, v) ** 2), {"v": value})  # through the adjoint's adjoint
    with pytest.raises(sg.ShapeError, match=r"diag 'diag\d+': axis 3 is out of range"):
        sym.diag(sym.var("w", shape=(2, 3)), axis2=3)


def test_nansum_and_nanprod_skip_nan_and_give_it_no_gradient_as_mxnet():
    y = nd.array([[1, np.nan, 2], [np.nan, np.nan, 3]])
    y.attach_grad()
    with autograd.record():
        total = (nd.nansum(y, axis=1) + nd.nanprod(y, axis=1)).sum()
    total.backward()
    assert float(total.asscalar()) == 11.0  # (3 + 2) + (3 + 3)
    assert y.grad.asnumpy().tolist() == [[3, 0, 2], [0, 0, 2]]  # MXNet 1.9.1: nansum's 1, nanprod's 2 and 1
    assert nd.argmax_channel(nd.array([[1, 3, 2], [5, 4, 0]])).asnumpy().tolist() == [1, 0]


def test_mxnet_keywords_that_are_other_ops_build_those_ops():
    a, b = sym.var("a", shape=(4, 3)), sym.var("b", shape=(5, 4))
    assert str(sym.dot(a, b, transpose_a=True, transpose_b=True)) == "dot(a.T, b.T)"
    x = sym.var("x", shape=(2, 3, 4))
    assert sym.sum(x, axis=1, exclude=True).attrs["axis"] == (0, 2)
    assert x.mean(axis=(0, -1), exclude=True, keepdims=True).shape == (2, 1, 4)
    assert sym.sum(x, 1, exclude=False).shape == (2, 4)
    assert str(sym.norm(x, ord=1, axis=1)) == "sum(abs(x), axis=1)"
    assert str(sym.softmax(x, temperature=2.0)) == "softmax(0.5*x)"
    arr = nd.array(np.arange(24.0).reshape(2, 3, 4))
    np.testing.assert_array_equal(nd.sum(arr, axis=(1,), exclude=True).asnumpy(), arr.asnumpy().sum(axis=(0, 2)))
    assert arr.sum(axis=2, exclude=True).shape == (4,)
    np.testing.assert_allclose(nd.norm(arr, ord=1).asnumpy(), 276.0)
    np.testing.assert_array_equal(
        nd.dot(arr[0], arr[1], transpose_b=True).asnumpy(), arr.asnumpy()[0] @ arr.asnumpy()[1].T
    )
    with pytest.raises(sg.ShapeError, match="sum: exclude=True needs the input's number of dimensions"):
        sym.sum(sym.var("free"), axis=1, exclude=True)
    with pytest.raises(sg.SymgradError, match="dot: transpose_a must be True or False"):
        sym.dot(a, b, transpose_a="yes")
    with pytest.raises(sg.SymgradError, match="softmax: temperature must be a positive number"):
        nd.softmax(arr, temperature=0)


def test_python_data_binds_as_float32_as_mxnet_s_nd_array_unless_the_variable_declares_a_dtype():
    x = sym.var("x")
    ex = (x * 2).bind({"x": [1, 2, 3]})  # was int64, and asking for its gradient a BindError
    assert ex.arg_dict["x"].dtype == np.float32
    ex.forward(is_train=True)
    ex.backward()
    assert ex.grad_dict["x"].asnumpy().tolist() == [2, 2, 2]
    assert (sym.var("y", dtype="float64") * 2).eval(y=[1, 2])[0].dtype == np.float64
    assert (x * 2).eval(x=np.array([1, 2]))[0].dtype == np.int64  # a NumPy array keeps its dtype
