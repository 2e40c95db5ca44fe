"""Gradients at the edges: masked where, one subgradient per function, exact rewrites, user lines.

Expected values are computed by hand at the singular points; each case is checked
symbolically (sym.grad, evaluated) and eagerly (nd + autograd), first and second order.
"""

import inspect

import numpy as np
import pytest

import symgrad as sg
from symgrad import autograd, nd, sym
from symgrad.compile.backends import compile_program, replay


def symbolic(f, x0, order=1):
    """d^order f / dx^order at x0 through sym.grad (summed over elements)."""
    x = sym.var("x")
    s = f(x, sym)
    for _ in range(order):
        s = sym.grad(sym.sum(s), x)
    return np.broadcast_to(s.eval(x=np.asarray(x0, dtype=np.float64))[0], np.shape(x0))


def eager(f, x0, order=1):
    """The same through eager recording (create_graph for the second order)."""
    x = nd.array(np.asarray(x0, dtype=np.float64), dtype="float64")
    x.attach_grad()
    with autograd.record():
        y = f(x, nd).sum()
        if order == 2:
            (g,) = autograd.grad(y, [x], create_graph=True)
            y = g.sum()
    y.backward()
    return x.grad.asnumpy()


BOTH = pytest.mark.parametrize("mode", [symbolic, eager], ids=["symbolic", "eager"])
X3 = [-1.0, 0.0, 1.0]

MASKED = [
    ("sqrt", lambda x, m: m.where(x > 0, m.sqrt(x), 0), [0.0, 0.0, 0.5]),
    ("log", lambda x, m: m.where(x > 0, m.log(x), 0), [0.0, 0.0, 1.0]),
    ("reciprocal", lambda x, m: m.where(x != 0, 1 / x, 0), [-1.0, 0.0, -1.0]),
    ("pow_half", lambda x, m: m.where(x > 0, x**0.5, 0), [0.0, 0.0, 0.5]),
    ("chain", lambda x, m: m.where(x > 0, m.sin(m.sqrt(x)) * 2, 0), [0.0, 0.0, np.cos(1.0)]),
    ("nested", lambda x, m: m.where(x > 2, 1, m.where(x > 0, m.sqrt(x), 0)), [0.0, 0.0, 0.5]),
    ("nested_inner", lambda x, m: m.where(x < 0.5, m.where(x < -0.5, 0, m.sqrt(x + 0.25)), 2), [0.0, 1.0, 0.0]),
    # log(x) is one node in two branches with different conditions: each mask stays its own
    ("shared", lambda x, m: m.where(x > 0, m.log(x), 0) + m.where(x > 0.5, m.log(x) ** 2, 0), [0.0, 0.0, 1.0]),
    (
        "shared_inside_a_where",
        lambda x, m: m.where(x > -5, m.where(x > 0, m.log(x), 0) + m.where(x > 0.5, m.log(x) ** 2, 0), 0),
        [0.0, 0.0, 1.0],
    ),
]


@BOTH
@pytest.mark.parametrize("name, f, expected", MASKED, ids=[m[0] for m in MASKED])
def test_where_gradient_never_forms_nan_from_the_branch_not_taken(mode, name, f, expected):
    np.testing.assert_allclose(mode(f, X3), expected, rtol=1e-12)


@BOTH
def test_where_with_exp_overflow_in_the_untaken_branch(mode):
    f = lambda x, m: m.where(x < 100, m.exp(x), 0)  # noqa: E731
    np.testing.assert_allclose(mode(f, [1000.0, 0.0]), [0.0, 1.0])


RELU_SPELLINGS = [
    ("relu", lambda x, m: m.relu(x)),
    ("maximum(x, 0)", lambda x, m: m.maximum(x, 0)),
    ("maximum(0, x)", lambda x, m: m.maximum(0, x)),
    ("where(x > 0, x, 0)", lambda x, m: m.where(x > 0, x, 0)),
    ("clip(x, 0, None)", lambda x, m: m.clip(x, 0, None)),
    ("maximum(zeros_like(x), x)", lambda x, m: m.maximum(m.zeros_like(x), x)),
]


@BOTH
@pytest.mark.parametrize("name, f", RELU_SPELLINGS, ids=[r[0] for r in RELU_SPELLINGS])
def test_every_spelling_of_relu_has_the_same_gradient_and_zero_second_derivative(mode, name, f):
    np.testing.assert_array_equal(mode(f, X3), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(mode(f, X3, order=2), [0.0, 0.0, 0.0])


@pytest.mark.parametrize(
    "name, f", [*RELU_SPELLINGS, ("sum", lambda x, m: m.sum(x))], ids=[*(r[0] for r in RELU_SPELLINGS), "sum"]
)
def test_a_float32_variable_gets_a_float32_gradient_every_way(name, f):
    x = sym.var("x", shape=(3,), dtype="float32")
    assert sym.grad(f(x, sym), x).dtype == np.float32
    xn = nd.array(X3, dtype="float32")
    xn.attach_grad()
    for create_graph in (False, True):
        with autograd.record():
            y = f(xn, nd)
        (g,) = autograd.grad(y, [xn], create_graph=create_graph)
        assert g.dtype == np.float32, (name, create_graph)


@BOTH
def test_abs_sign_clip_maximum_at_their_kinks(mode):
    np.testing.assert_array_equal(mode(lambda x, m: m.abs(x), X3), [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(mode(lambda x, m: m.abs(x), X3, order=2), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(mode(lambda x, m: m.sign(x), X3), [0.0, 0.0, 0.0])
    clip = lambda x, m: m.clip(x, -1.0, 1.0)  # noqa: E731
    np.testing.assert_array_equal(mode(clip, [-1.0, 0.0, 1.0, 2.0]), [0.0, 1.0, 0.0, 0.0])
    np.testing.assert_array_equal(mode(clip, [-1.0, 0.0, 1.0, 2.0], order=2), [0.0, 0.0, 0.0, 0.0])
    tie = lambda x, m: m.maximum(x, x * 1)  # noqa: E731 - maximum(x, x) is x: gradient 1
    np.testing.assert_array_equal(mode(tie, X3), [1.0, 1.0, 1.0])


def test_maximum_tie_goes_to_the_second_argument():
    x, y = sym.var("x"), sym.var("y")
    gx, gy = sym.grad(sym.maximum(x, y), [x, y])
    args = {"x": np.array([1.0, 2.0, 3.0]), "y": np.array([1.0, 3.0, 2.0])}
    np.testing.assert_array_equal(gx.eval(**args)[0], [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(gy.eval(**args)[0], [1.0, 1.0, 0.0])


def test_max_reduction_splits_ties_evenly():
    x = sym.var("x")
    g = sym.grad(sym.max(x), x)
    np.testing.assert_array_equal(g.eval(x=np.array([3.0, 1.0, 3.0]))[0], [0.5, 0.0, 0.5])


@BOTH
def test_a_nan_maximum_or_minimum_sends_its_gradient_to_the_nan_entries(mode):
    np.testing.assert_array_equal(mode(lambda x, m: m.max(x), [1.0, np.nan, 3.0]), [0.0, 1.0, 0.0])
    np.testing.assert_array_equal(mode(lambda x, m: m.min(x), [np.nan, 2.0, np.nan]), [0.5, 0.0, 0.5])


@BOTH
@pytest.mark.parametrize(
    "values",
    [[0.0, 2.0, 3.0], [0.0, 0.0, 3.0], [1.5, -2.0, 3.0], [-0.0, 4.0, 0.5], [1.5, -np.inf, 0.5], [0.0, -0.5, np.inf],
     [np.nan, 2.0, 3.0], [0.0, np.nan, -0.0], [np.inf, -np.inf, 2.0], [0.0, np.inf, np.inf], [0.0, 0.0, 0.0]],
)  # fmt: skip
def test_prod_gradient_is_the_product_of_the_other_entries_zeros_infinities_and_nan_included(mode, values):
    # the fuzz against PyTorch found NaN at an inf or NaN entry whose others are finite (out/x there)
    with np.errstate(invalid="ignore"):
        others = [np.prod(np.delete(values, i)) for i in range(len(values))]
    np.testing.assert_array_equal(mode(lambda x, m: m.prod(x), values), others)


def test_prod_over_an_axis_of_one_entry_has_gradient_one_even_at_nan():
    x = sym.var("x")
    got = sym.grad(sym.prod(x, axis=-1), x).eval(x=np.array([[0.0], [2.5], [np.nan]]))[0]
    np.testing.assert_array_equal(got, [[1.0], [1.0], [1.0]])


@pytest.mark.parametrize(
    ("x0", "expected"),
    [
        ([0.0, 2.0, 3.0], [[0.0, 3.0, 2.0], [3.0, 0.0, 0.0], [2.0, 0.0, 0.0]]),
        ([0.0, 0.0, 0.0], [[0.0] * 3] * 3),
        ([0.0, 0.0, 3.0], [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]),  # the convention for two zeros
    ],
)
def test_prod_second_derivative_beside_a_zero_is_the_product_of_the_rest(x0, expected):
    x, v = sym.var("x", shape=(3,)), sym.var("v", shape=(3,))
    hessian_times_v = sym.grad(sym.sum(sym.grad(sym.prod(x), x) * v), x)
    for i in range(3):  # d2/dxi dxj = the product of the third; 0 for two zeros
        column = hessian_times_v.eval(x=np.array(x0), v=np.eye(3)[i])[0]
        np.testing.assert_array_equal(column, np.array(expected)[:, i])


@BOTH
def test_norm_at_the_zero_vector_has_gradient_zero(mode):
    f = lambda x, m: m.norm(x)  # noqa: E731
    np.testing.assert_array_equal(mode(f, [0.0, 0.0, 0.0]), [0.0, 0.0, 0.0])
    np.testing.assert_allclose(mode(f, [3.0, 0.0, 4.0]), [0.6, 0.0, 0.8])


def test_norm_squared_differentiates_and_simplifies_like_sum_of_squares():
    x = sym.var("x")
    assert str(sym.simplify(sym.norm(x) ** 2)) == str(sym.simplify(sym.sum(x * x)))
    g = sym.grad(sym.norm(x) ** 2, x)
    np.testing.assert_array_equal(g.eval(x=np.array([0.0, 0.0]))[0], [0.0, 0.0])
    np.testing.assert_array_equal(g.eval(x=np.array([1.0, -2.0]))[0], [2.0, -4.0])


@BOTH
def test_logsumexp_of_all_minus_inf(mode):
    x = sym.var("x")
    np.testing.assert_array_equal(sym.logsumexp(x).eval(x=np.full(3, -np.inf))[0], -np.inf)
    np.testing.assert_array_equal(mode(lambda x, m: m.logsumexp(x), [-np.inf] * 3), [0.0, 0.0, 0.0])


def test_power_at_zero_has_finite_gradients_where_smooth():
    x, y = sym.var("x"), sym.var("y")
    zero = {"x": np.array(0.0)}
    assert float(sym.grad(x**0, x).eval(**zero)[0]) == 0.0
    assert float(sym.grad(x**2, x).eval(**zero)[0]) == 0.0
    gx, gy = sym.grad(x**y, [x, y])
    assert float(gy.eval(x=np.array(0.0), y=np.array(2.0))[0]) == 0.0
    assert float(gx.eval(x=np.array(0.0), y=np.array(0.0))[0]) == 0.0
    assert float(gx.eval(x=np.array(0.0), y=np.array(2.0))[0]) == 0.0
    assert float(gy.eval(x=np.array(2.0), y=np.array(3.0))[0]) == pytest.approx(8 * np.log(2))


# ---- rewrites never change results -------------------------------------------------------------

REWRITE_CASES = [
    lambda x, y: x * 1 + 0,
    lambda x, y: 2 * (3 * x),
    lambda x, y: x + x + y - x,
    lambda x, y: x - x,
    lambda x, y: x * 0,
    lambda x, y: x / x,
    lambda x, y: sym.negative(-x),
    lambda x, y: sym.log(1 + x * x),
    lambda x, y: sym.exp(x) - 1,
    lambda x, y: sym.norm(x) ** 2,
    lambda x, y: x.T.T * y,
    lambda x, y: sym.where(x > 0, y, y),
    lambda x, y: sym.sum(2 * x, axis=1),
    lambda x, y: x * x * x,
    lambda x, y: (x**2) ** 3,
    lambda x, y: x / 2 * 4,
    lambda x, y: sym.log(sym.sigmoid(x)),
    lambda x, y: sym.log(sym.softmax(x)),
    lambda x, y: sym.log(sym.sum(sym.exp(x), axis=1, keepdims=True)),
    lambda x, y: sym.dot(2 * x, y.T),
    lambda x, y: x * y + y * x,
    lambda x, y: sym.broadcast_to(sym.sum(x, axis=0), shape=(3, 4)) * y,
    lambda x, y: 0 * x - x,  # 0*x is NaN at inf: its term is not merged with -x
    lambda x, y: -x + x * 0.0,
]


def seeded(rng, shape, dtype):
    a = rng.normal(size=shape).astype(dtype)
    a.flat[rng.choice(a.size, 3, replace=False)] = [np.nan, np.inf, -np.inf]
    return a


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("index", range(len(REWRITE_CASES)))
def test_simplify_keeps_values_nan_and_inf_positions_shape_and_dtype(index, dtype):
    x, y = sym.var("x", shape=(3, 4), dtype=dtype), sym.var("y", shape=(3, 4), dtype=dtype)
    s = REWRITE_CASES[index](x, y)
    rng = np.random.default_rng(index)
    for _ in range(3):
        args = {"x": seeded(rng, (3, 4), dtype), "y": seeded(rng, (3, 4), dtype)}
        args = {k: v for k, v in args.items() if k in s.list_arguments()}
        plain = s.eval(**args)[0]  # bind compiles the simplified graph; compare with the graph as built:
        raw = replay(compile_program([s], [x, y]), [args.get("x"), args.get("y")], False, "forward")[0]
        assert plain.shape == np.shape(raw) and plain.dtype == np.asarray(raw).dtype
        stable = index in (16, 17, 18)  # stability rewrites: equal where the naive form is finite
        plain, raw = np.atleast_1d(plain), np.atleast_1d(raw)
        mask = np.isfinite(raw) if stable else slice(None)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(plain[mask], raw[mask], rtol=tol, atol=tol, equal_nan=True)


def as_built(s, args):
    """s's value computed op by op from the graph as built (no simplifier)."""
    names = s.list_arguments()
    variables = {n.name: n for n in sg.graph.topo_order([s]) if n.op == "var"}
    program = compile_program([s], [variables[n] for n in names])
    return np.asarray(replay(program, [args[n] for n in names], False, "forward")[0])


def assert_same_bits(got, want):
    """Equal values, NaN where NaN, and the same sign on every zero."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    assert np.array_equal(np.signbit(got), np.signbit(want)), (got, want)


TOWARD_ZERO = np.array([1.0, -1.0])  # the terms cancel: +0.0, whatever their sign
HUGE = np.array([1e308, -1e308])
SIGNED_ZEROS = np.array([[1.0, 0.0], [-1.0, -0.0]])  # summed over axis 0: 0.0 + -0.0 and 1.0 + -1.0
SCALED_REDUCTIONS = [  # (name, build, NumPy, x, y): a constant factor on the terms of a sum
    ("sum(-2*x) cancelling", lambda x, y: sym.sum(-2 * x), lambda x, y: np.sum(-2 * x), TOWARD_ZERO, None),
    ("sum(-x) of both zeros", lambda x, y: sym.sum(-x), lambda x, y: np.sum(-x), np.array([0.0, -0.0]), None),
    ("sum(-x) empty", lambda x, y: sym.sum(-x), lambda x, y: np.sum(-x), np.zeros(0), None),
    ("sum(x/-2)", lambda x, y: sym.sum(x / -2), lambda x, y: np.sum(x / -2), TOWARD_ZERO, None),
    ("sum(-x, axis=0)", lambda x, y: sym.sum(-x, axis=0), lambda x, y: np.sum(-x, axis=0), SIGNED_ZEROS, None),
    ("sum(2*x) overflowing", lambda x, y: sym.sum(2 * x), lambda x, y: np.sum(2 * x), HUGE, None),
    ("sum(0.5*x) of huge", lambda x, y: sym.sum(0.5 * x), lambda x, y: np.sum(0.5 * x), np.array([1e308, 1e308]), None),
    ("mean(-2*x)", lambda x, y: sym.mean(-2 * x), lambda x, y: np.mean(-2 * x), TOWARD_ZERO, None),
    ("dot(-x, y)", lambda x, y: sym.dot(-x, y), lambda x, y: np.dot(-x, y), np.ones(2), TOWARD_ZERO),
    ("dot(x, 3*y)", lambda x, y: sym.dot(x, 3 * y), lambda x, y: np.dot(x, 3 * y), np.ones(2), HUGE),
    ("matmul(-x, y)", lambda x, y: sym.matmul(-x, y), lambda x, y: -x @ y, np.ones((1, 2)), TOWARD_ZERO[:, None]),
    (
        "dot(x, full(-2))",
        lambda x, y: sym.dot(x, sym.broadcast_to(-2.0, shape=(100,))),  # too big to fold into a constant
        lambda x, y: np.dot(x, np.full(100, -2.0)),
        np.tile(TOWARD_ZERO, 50),
        None,
    ),
]


@pytest.mark.parametrize("declared", [True, False], ids=["declared", "undeclared"])
@pytest.mark.parametrize("case", SCALED_REDUCTIONS, ids=[c[0] for c in SCALED_REDUCTIONS])
def test_a_constant_factor_stays_on_the_terms_of_a_sum_or_dot(case, declared):
    """sum(c*x) is not c*sum(x) in IEEE arithmetic for any c but 1: with x = (1, -1), sum(-x) is
    0.0 and -sum(x) -0.0; with x = (1e308, -1e308), sum(2*x) is inf - inf = NaN and 2*sum(x) 0.0;
    sum(0.5*x) is 1e308 at x = (1e308, 1e308) and 0.5*sum(x) inf. The same holds for dot products."""
    _, build, numpy, x0, y0 = case
    args = {"x": x0} if y0 is None else {"x": x0, "y": y0}
    v = {n: sym.var(n, shape=np.shape(a), dtype="float64") if declared else sym.var(n) for n, a in args.items()}
    s = build(v["x"], v.get("y"))
    with np.errstate(all="ignore"):
        want = np.asarray(numpy(x0, y0))
        assert_same_bits(as_built(s, args), want)
        assert_same_bits(as_built(sym.simplify(s), args), want)
        sg.clear_cache()  # a plan cached for the same structure with other constants would hide the rewrite
        assert_same_bits(s.eval(**args)[0].asnumpy(), want)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_sum_of_a_0d_negative_zero_is_positive_zero_as_numpys(dtype):
    # NumPy's sum starts from +0.0: sum(-0.0) is 0.0, so the sum of a 0-d x is not x (the fuzz's seed 64)
    x = sym.var("x", shape=(), dtype=dtype)
    v = np.array(-0.0, dtype)
    for s in (sym.sum(x), sym.sum(sym.sum(x)), sym.sum(-0.5 * sym.maximum(x, 0))):
        assert_same_bits(as_built(sym.simplify(s), {"x": v}), np.sum(v))
        sg.clear_cache()
        assert_same_bits(s.eval(x=v)[0].asnumpy(), np.sum(v))


def test_where_of_one_number_keeps_numpys_int64():
    # where(x, -2, -2) is np.where's int64 array; folded to the number -2, the square ran as float64 4.0
    x = sym.var("x", shape=(), dtype="float64")
    s = sym.square(sym.where(x, -2, -2))
    sg.clear_cache()
    assert_same_bits(s.eval(x=np.array(1.0))[0].asnumpy(), np.square(np.where(1.0, -2, -2)))


def test_a_factor_leaves_a_sum_only_where_it_is_exact_or_assumed():
    """int64 products and sums wrap alike, so 2*sum(k) is sum(2*k) to the bit; int32 products wrap
    before a sum that counts in int64, so the factor stays; for floats only assume_finite takes it out."""
    k = sym.var("k", dtype="int64")
    assert str(sym.simplify(sym.sum(2 * k))) == "2*sum(k)"
    v = np.array([2**62, 2**62, 3])
    with np.errstate(over="ignore"):
        assert_same_bits(sym.sum(2 * k).eval(k=v)[0].asnumpy(), np.sum(2 * v))
    i = sym.var("i", dtype="int32")
    assert str(sym.simplify(sym.sum(2 * i))) == "sum(2*i)"
    w = np.array([2**30, 2**30], np.int32)
    assert_same_bits(sym.sum(2 * i).eval(i=w)[0].asnumpy(), np.sum(2 * w))
    x = sym.var("x")
    assert str(sym.simplify(sym.sum(-2 * x))) == "sum(-2*x)"
    assert str(sym.simplify(sym.sum(-2 * x), assume_finite=True)) == "-2*sum(x)"
    assert str(sym.simplify(sym.dot(-x, 3 * x))) == "dot(-x, 3*x)"
    assert str(sym.simplify(sym.dot(-x, 3 * x), assume_finite=True)) == "-3*dot(x, x)"


def test_a_gradient_through_a_mean_keeps_the_sign_of_a_cancelling_zero():
    """d mean(y - x @ w)/dw is x.T @ full(-1/n): a column of x summing to 0 gets +0.0, as the graph as built
    and NumPy give it; -(x.T @ full(1/n)) gave -0.0."""
    x, y, w = sym.var("x", shape=(4, 2)), sym.var("y", shape=(4, 3)), sym.var("w", shape=(2, 3))
    loss = sym.mean(y - sym.dot(x, w))
    x0 = np.array([[1.0, 2.0], [-1.0, 2.0], [2.0, 2.0], [-2.0, 2.0]])  # column 0 sums to 0
    args = {"x": x0, "y": np.ones((4, 3)), "w": np.ones((2, 3))}
    raw = sym.grad(loss, w, simplify=False)
    want = args["x"].T @ np.full((4, 3), -1 / 12)
    assert_same_bits(as_built(raw, args), want)
    sg.clear_cache()
    assert_same_bits(sym.grad(loss, w).eval(**args)[0].asnumpy(), want)


EDGE_GRID = np.array([1e308, -1e308, 5e307, 1.7e308, 3e-308, 1e-310, 5e-324, 0.0, -0.0, 1.0, -1.0, 0.5, np.inf, np.nan])
SCALAR_CHAINS = {  # constants collected across a product or quotient: each fired before, each changed a value
    "0.5*(2*x)": lambda x, y: 0.5 * (2 * x),  # x: 1e308 where 2*x overflows to inf
    "1e-200*(1e200*x)": lambda x, y: 1e-200 * (1e200 * x),
    "(2*x)*y": lambda x, y: (2 * x) * y,  # 2*(x*y): 1e308 at (1e308, 0.5), inf as built
    "(4*x)/y": lambda x, y: (4 * x) / y,  # 4*(x/y): 4 at x = y = 1e308, inf as built
    "x/(0.5*y)": lambda x, y: x / (0.5 * y),
    "0.5*(x/0.25)": lambda x, y: 0.5 * (x / 0.25),
    "0.5*(4/y)": lambda x, y: 0.5 * (4 / y),  # 2/y: 1e308 at y = 2e-308, inf as built
    "(1/y)*x": lambda x, y: (1 / y) * x,  # x/y: 0 at (0, 1e-310), inf*0 = NaN as built
    "2*((0.5/y)*x)": lambda x, y: 2 * ((0.5 / y) * x),
}


@pytest.mark.parametrize("name", SCALAR_CHAINS)
def test_constants_are_collected_only_where_no_value_leaves_the_floats_differently(name):
    """c*(d*x) -> (c*d)*x holds where |c| and |d| are both at least 1 or both at most 1; across another
    factor or a quotient ((c*x)*y, (c*x)/y) only under assume_finite: the graph keeps its values at the
    ends of the floats (overflow, underflow, 0*inf), up to rounding."""
    x, y = sym.var("x"), sym.var("y")
    s = SCALAR_CHAINS[name](x, y)
    grid = np.meshgrid(EDGE_GRID, np.append(EDGE_GRID, [2e-308, 1e-323]), indexing="ij")
    args = {n: v.ravel() for n, v in zip("xy", grid) if n in s.list_arguments()}
    with np.errstate(all="ignore"):
        want, got = as_built(s, args), as_built(sym.simplify(s), args)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(got[np.isinf(want)], want[np.isinf(want)])
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=1e-322, equal_nan=True)  # a subnormal ulp or two
    zeros = (got == 0) & (want == 0)
    assert np.array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]))


def test_finite_only_rules_need_assume_finite():
    x = sym.var("x", dtype="float32")
    pairs = ((x - x, "zeros_like(x)"), (x * 0, "zeros_like(x)"), (x / x, "ones_like(x)"), (x * x ** (x - 1), "x**x"))
    for s, folded in pairs:
        assert str(sym.simplify(s)) != folded
        assert str(sym.simplify(s, assume_finite=True)) == folded


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_x_times_x_to_the_x_minus_1_is_x_to_the_x_wherever_it_is_finite(dtype):
    """The power rule's d/dx x**x is x*x**(x - 1): under assume_finite it folds to x**x, with the same
    values, signed zeros and dtype wherever the product has no inf inside (x = 0 and x = -inf do)."""
    x = sym.var("x", dtype=dtype.__name__)
    product = sym.where(x == 0, 0, x * x ** (x - 1))  # as in the gradient of x**x
    folded = sym.simplify(product, assume_finite=True)
    assert str(folded) == "where(x == 0, 0, x**x)"
    points = np.array([-171, -170, -3, -2, -1, -0.5, 0.5, 1, 2.5, 3, 30, 1e-30, np.nan], dtype=dtype)
    got, want = folded.eval(x=points)[0].asnumpy(), product.eval(x=points)[0].asnumpy()
    assert got.dtype == want.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == np.float32 else 1e-14, equal_nan=True)
    assert np.array_equal(np.signbit(got), np.signbit(want))
    edges = np.array([-np.inf, -0.0, 0.0, np.inf], dtype=dtype)  # without the assumption the NaN at -inf stays
    np.testing.assert_array_equal(sym.simplify(product).eval(x=edges)[0].asnumpy(), [np.nan, 0, 0, np.inf])


def test_x_over_x_is_not_folded_when_x_may_be_an_integer():
    """int/int is float64: with x's dtype unknown, ones_like(x) could be int64 (the simplifier fuzz's
    seed 11 found t/t with t = where(c, 0, 2) becoming int64 under assume_finite)."""
    c = sym.var("c")
    t = sym.where(c, 0, 2)
    simplified = sym.simplify(t / t, assume_finite=True)
    (out,) = simplified.eval(c=np.array([False, False]))
    assert out.dtype == np.float64 and out.asnumpy().tolist() == [1.0, 1.0]
    k = sym.var("k", dtype="int32")
    (out,) = sym.simplify(k / k, assume_finite=True).eval(k=np.array([3, 4], np.int32))
    assert out.dtype == np.float64 and out.asnumpy().tolist() == [1.0, 1.0]


def test_explain_reports_rules_and_counts():
    x = sym.var("x")
    simplified, report = sym.simplify(2 * (3 * x) + x * 1, explain=True)
    assert str(simplified) == "7*x"
    assert report.counts["collect_factors"] >= 1 and report.counts["multiply_identities"] >= 1
    assert report.nodes_after < report.nodes_before


# ---- errors at the user's line ------------------------------------------------------------------


def test_shape_error_at_bind_quotes_the_users_file_and_line():
    a, b = sym.var("a"), sym.var("b")
    line = inspect.currentframe().f_lineno + 1
    c = sym.exp(a) + b
    with pytest.raises(sg.ShapeError) as err:
        c.bind({"a": np.ones(3), "b": np.ones(4)})
    message = str(err.value)
    assert f"{__file__}:{line}" in message and "c = sym.exp(a) + b" in message
    assert "(3,)" in message and "(4,)" in message


def test_shape_error_at_construction_with_declared_shapes():
    a, b = sym.var("a", shape=(2, 3)), sym.var("b", shape=(4, 5))
    with pytest.raises(sg.ShapeError, match=r"dot.*\(2, 3\).*\(4, 5\)[\s\S]*test_edges.py"):
        sym.dot(a, b)


def test_origin_tracking_can_be_switched_off():
    sg.set_track_origin(False)
    try:
        a, b = sym.var("a"), sym.var("b")
        c = a + b
        with pytest.raises(sg.ShapeError) as err:
            c.bind({"a": np.ones(3), "b": np.ones(4)})
        assert "built at" not in str(err.value)
    finally:
        sg.set_track_origin(True)


def test_check_finite_names_the_first_non_finite_node_in_the_forward_part():
    x = sym.var("x")
    y = sym.log(x - 1) * 2
    ex = y.bind({"x": np.array([1.0, 2.0])})
    with pytest.raises(sg.NonFiniteError) as err:
        ex.forward(check_finite=True)
    message = str(err.value)
    assert "log" in message and "forward" in message and "test_edges.py" in message
    assert "x - 1" in message or "[0" in message


def test_check_finite_in_the_gradient_part():
    x = sym.var("x")
    ex = sym.sqrt(x).bind({"x": np.array([0.0, 4.0])})
    ex.forward(is_train=True, check_finite=True)
    with pytest.raises(sg.NonFiniteError, match="gradient"):
        ex.backward(check_finite=True)


def test_detect_anomaly_in_eager_mode():
    x = nd.array([0.0, 4.0], dtype="float64")
    x.attach_grad()
    with autograd.record():
        y = nd.sqrt(x).sum()
    with autograd.detect_anomaly(), pytest.raises(sg.NonFiniteError, match="Inf"):
        y.backward()


# ---- jacobians and Hessian-vector products ----------------------------------------------------


def test_jacobian_matches_finite_differences():
    x = sym.var("x", shape=(3,))
    a = np.array([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]])
    J = sym.jacobian(sym.tanh(sym.dot(a, x)), x)
    x0 = np.array([0.1, -0.2, 0.3])
    expected = (1 - np.tanh(a @ x0) ** 2)[:, None] * a
    np.testing.assert_allclose(J.eval(x=x0)[0], expected, rtol=1e-12)


def test_hvp_matches_differences_of_the_gradient_and_never_forms_the_hessian():
    n = 50
    x, v = sym.var("x", shape=(n,)), sym.var("v", shape=(n,))
    f = sym.sum(sym.exp(x) * sym.sin(x)) + sym.dot(x, x) ** 2
    hv = sym.hvp(f, x, v)
    from symgrad.graph import topo_order

    assert all(node.shape is None or len(node.shape) < 2 for node in topo_order([hv]))
    rng = np.random.default_rng(0)
    x0, v0 = rng.normal(size=n), rng.normal(size=n)
    g = sym.grad(f, x)
    eps = 1e-6
    numeric = (g.eval(x=x0 + eps * v0)[0] - g.eval(x=x0 - eps * v0)[0]) / (2 * eps)
    np.testing.assert_allclose(hv.eval(x=x0, v=v0)[0], numeric, rtol=1e-6)


# ---- matrix calculus prints as matrices ---------------------------------------------------------


def numeric_matrix_grad(s, X0, A0, eps=1e-6):
    grad = np.zeros_like(X0)
    for i in np.ndindex(X0.shape):
        up, down = X0.copy(), X0.copy()
        up[i] += eps
        down[i] -= eps
        args = {"A": A0} if "A" in s.list_arguments() else {}
        grad[i] = (float(s.eval(X=up, **args)[0]) - float(s.eval(X=down, **args)[0])) / (2 * eps)
    return grad


@pytest.mark.parametrize(
    "build, text",
    [
        (lambda X, A: sym.trace(sym.dot(X, A)), "A.T"),
        (lambda X, A: sym.trace(sym.dot(sym.dot(X.T, A), X)), None),
        (lambda X, A: sym.logdet(X), "inv(X).T"),
    ],
    ids=["trace(XA)", "trace(X.T A X)", "logdet(X)"],
)
def test_matrix_cookbook_identities(build, text):
    X, A = sym.var("X", shape=(3, 3)), sym.var("A", shape=(3, 3))
    rng = np.random.default_rng(5)
    X0, A0 = rng.normal(size=(3, 3)) + 3 * np.eye(3), rng.normal(size=(3, 3))
    s = build(X, A)
    g = sym.grad(s, X)
    assert g.shape == (3, 3)
    args = {k: v for k, v in {"X": X0, "A": A0}.items() if k in g.list_arguments()}
    np.testing.assert_allclose(g.eval(**args)[0], numeric_matrix_grad(s, X0, A0), rtol=1e-6, atol=1e-8)
    if text is not None:
        assert str(g) == text
    else:
        np.testing.assert_allclose(g.eval(**args)[0], (A0 + A0.T) @ X0, rtol=1e-12)
        assert "eye" not in str(g) and str(g).count("dot") <= 2, str(g)


def test_frobenius_norm_gradient_is_a_over_its_norm():
    A = sym.var("A", shape=(3, 3))
    g = sym.grad(sym.norm(A), A)
    A0 = np.arange(9.0).reshape(3, 3)
    np.testing.assert_allclose(g.eval(A=A0)[0], A0 / np.linalg.norm(A0), rtol=1e-12)
    assert "norm(A)" in str(g)


def test_negative_zero_constants_keep_their_sign_everywhere():
    """-0.0 == 0.0, but 1/-0.0 is -inf: the constant cache, CSE, the plan cache and the printer tell them apart."""
    x = sym.var("x")
    one = np.array(1.0)
    with np.errstate(divide="ignore"):
        for zero, expected in ((0.0, np.inf), (-0.0, -np.inf), (0.0, np.inf)):  # 0.0 again: the plan cache
            (out,) = (x / zero).bind({"x": one}).forward()
            assert out == expected
            assert (x / zero).eval(x=one)[0] == expected
        both = sym.simplify(1 / (x + 0.0) + 1 / (x + -0.0))  # CSE must not merge the two
        (out,) = both.eval(x=np.array(-0.0))
        assert np.isnan(out)  # 1/(-0.0 + 0.0) + 1/(-0.0 + -0.0) = inf + -inf
        a = nd.array([2.0])
        a.attach_grad()
        for zero, expected in ((0.0, np.inf), (-0.0, -np.inf)):  # the eager backward-plan cache
            with autograd.record():
                y = (a / zero).sum()
            y.backward()
            assert float(y.asnumpy()) == expected
            assert float(a.grad.asnumpy()[0]) == expected
    assert str(x / -0.0) == "x/-0.0" and str(x * -0.0) == "-0.0*x"


@pytest.mark.parametrize(
    ("build", "x0"),
    [
        (lambda x: 1e200 * (1e200 * x), 1e-300),  # (1e200*1e200)*x would be inf*x
        (lambda x: 1e-200 * (1e-200 * x), 1e300),  # ... and 0*x
        (lambda x: x / 1e-310, 1e-300),  # (1/1e-310)*x is inf*x
        (lambda x: 1e300 * (x / 1e-10), 1e-300),
        (lambda x: 1e308 * x + 1e308 * x, 0.5),  # 2e308*x is inf*x
        (lambda x: (x + 1e308) + 1e308, -1e308),  # x + 2e308 is x + inf
    ],
)
def test_collecting_constants_never_overflows_or_underflows(build, x0):
    x = sym.var("x")
    with np.errstate(all="ignore"):
        expected = build(np.float64(x0))
        (got,) = build(x).eval(x=np.array(x0))
    assert np.isfinite(expected) and expected != 0
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert "inf" not in str(sym.simplify(build(x)))  # nor does the printer merge them


@pytest.mark.parametrize(
    ("build", "x0"),
    [
        (lambda x: 1e30 * (1e30 * x), 1e-30),  # 1e60 is inf in float32
        (lambda x: 1e-30 * (1e-30 * x), 1e30),  # 1e-60 is 0 in float32
        (lambda x: 1e20 * x + 1e20 * x - 3e38 * x, 1.0),
        (lambda x: x / (1e-30 * (1e-30 * x)), 1.0),
    ],
)
def test_collecting_constants_into_a_float32_array_never_overflows_or_underflows(build, x0):
    x = sym.var("x", dtype="float32")
    with np.errstate(all="ignore"):
        expected = build(np.float32(x0))
        (got,) = build(x).eval(x=np.array(x0, np.float32))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    ("build", "reference"),
    [
        (lambda a: a**1.0, lambda v: v**1.0),  # float64, as NumPy makes it
        (lambda a: a**0.0, lambda v: v**0.0),
        (lambda a: a**1, lambda v: v**1),  # int64
        (lambda a: sym.norm(a) ** 2, lambda v: np.linalg.norm(v) ** 2),  # not sum(a*a), which wraps
    ],
)
def test_power_and_norm_rewrites_keep_numpys_dtype_and_values_for_integers(build, reference):
    v = np.array([2**32, 3])
    (got,) = build(sym.var("xi", dtype="int64")).eval(xi=v)
    assert got.dtype == np.asarray(reference(v)).dtype
    np.testing.assert_array_equal(got, reference(v))


def test_dividing_by_a_tiny_multiple_is_not_multiplying_by_inf():
    x, y = sym.var("x"), sym.var("y")
    with np.errstate(all="ignore"):
        (got,) = (x / (1e-310 * y)).eval(x=np.array(1e-20), y=np.array(1.0))
    assert got == 1e-20 / 1e-310


def test_infinite_constants_print_as_numpy_writes_them():
    x = sym.var("x")
    assert str(x * np.inf) == "inf*x"
    assert str(x - np.inf) == "x - inf"
    assert str(x * np.nan) == "nan*x"


def test_division_by_a_constant_gives_numpy_values_to_the_last_bit():
    """x/10 is not 0.1*x (3/10 is 0.3, 3*0.1 is 0.30000000000000004); only 1/2**k is exact."""
    x = sym.var("x")
    values = np.random.default_rng(3).normal(size=1000) * 100
    values[:3] = (3.0, -0.0, np.inf)
    for c in (10, 3, 7.0, 0.1, 4, 0.5):
        (got,) = (x / c).eval(x=values)
        np.testing.assert_array_equal(got, values / c)
    assert str(sym.simplify(x / 4)) == "x/4"  # as 0.25*x, printed as the division


def test_negating_a_difference_keeps_the_sign_of_its_zero():
    x, y = sym.var("x"), sym.var("y")
    (out,) = (-(x - y)).eval(x=np.array(2.0), y=np.array(2.0))
    assert out == 0 and np.signbit(out)  # -(2 - 2) is -0.0; y - x would be 0.0


def test_collecting_terms_keeps_a_zero_constant_that_decides_the_sign_of_zero():
    x = sym.var("x")
    with np.errstate(divide="ignore"):
        for build in (lambda x: x + (0.0 + x), lambda x: (x + 1) - 1, lambda x: 3 + x - 3):
            (got,) = build(x).eval(x=np.array(-0.0))
            expected = build(np.float64(-0.0))
            assert got == 0 and np.signbit(got) == np.signbit(expected)
        (g,) = sym.grad(sym.log(x + (0.0 + x)), x).eval(x=np.array(-0.0))
        assert g == np.inf  # 2/(x + (0.0 + x)) is 2/0.0, not 2/(2*-0.0)
