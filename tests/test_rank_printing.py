"""Gradients of variables declared by rank or dtype print as matrix calculus, with the graph's values.

Each case: the printed text with ranks only (sizes open), with ranks and float32, and with full shapes;
the gradient's values against central finite differences of the function, and (on inputs holding NaN,
+-inf and signed zeros) against the gradient as reverse mode builds it, before any rewrite.
"""

import numpy as np
import pytest

from symgrad import sym
from symgrad.printing import GraphPrinter
from tests.test_plumbing_rules import arrays, run_as_built

rng = np.random.default_rng(21)


def declared(shapes, kind):
    """Variables of the given full shapes, declared by rank only, by rank and float32, or fully."""
    dtype = "float32" if kind == "rank+float32" else None
    return {n: sym.var(n, shape=s if kind == "full" else (None,) * len(s), dtype=dtype) for n, s in shapes.items()}


def finite_differences(f, values, name, eps=1e-6):
    """d f / d values[name] by central differences, f evaluated in float64 from the ops' kernels."""
    x = values[name]
    out = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        out[i] = (run_as_built(f, {**values, name: up}) - run_as_built(f, {**values, name: down})) / (2 * eps)
    return out


def printed(ranks, full=None):
    """The expected text with ranks only (float64 and float32 alike) and, where given, with full shapes."""
    return {"rank": ranks, "rank+float32": ranks} | ({"full": full} if full else {})


MEAN_LOSS = lambda v: sym.mean(v["y"] - v["x"] @ v["w"])  # noqa: E731 - the PyTorch tutorial's loss
SOFTMAX_LOSS = lambda v: -sym.mean(sym.sum(v["OH"] * sym.log_softmax(sym.dot(v["X"], v["W"]), axis=-1), axis=1))  # noqa: E731
LINEAR_LOSS = lambda v: sym.mean((sym.dot(v["X"], v["w"]) + v["b"] - v["y"]) ** 2)  # noqa: E731

CASES = [  # (function, shapes, by, {declaration: printed gradient})
    (lambda v: sym.sum(v["x"] @ v["y"]), {"x": (2,), "y": (2, 3)}, "y",
     printed("broadcast_to(x[:, None], shape(y))", "broadcast_to(x[:, None], shape=(2, 3))")),
    (lambda v: sym.sum(v["x"] @ v["y"]), {"x": (2, 3), "y": (3, 4)}, "y",
     printed("x.T @ ones(shape(x @ y))", "x.T @ ones((2, 4))")),
    (lambda v: sym.sum(v["y"].T @ v["x"]), {"x": (3, 4), "y": (3, 2)}, "y",
     printed("x @ ones(shape(x.T @ y))", "x @ ones((4, 2))")),
    (lambda v: sym.sum(v["y"].T @ v["x"]), {"x": (3,), "y": (3, 2)}, "y",
     printed("broadcast_to(x[:, None], shape(y))", "broadcast_to(x[:, None], shape=(3, 2))")),
    (lambda v: sym.sum(v["y"] @ v["x"]), {"x": (3,), "y": (2, 3)}, "y",
     printed("broadcast_to(x, shape(y))", "broadcast_to(x, shape=(2, 3))")),
    # the ones of mean(y - matmul(x, w)) have y's shape, and are named by y
    (MEAN_LOSS, {"x": (4, 6), "y": (4, 3), "w": (6, 3)}, "y", printed("ones(shape(y))/size(y)", "full((4, 3), 1/12)")),
    (MEAN_LOSS, {"x": (4, 6), "y": (4, 3), "w": (6, 3)}, "w",
     printed("x.T @ (-ones(shape(y))/size(y))", "x.T @ -full((4, 3), 1/12)")),
    (lambda v: sym.trace(v["x"] @ v["x"]), {"x": (3, 3)}, "x", printed("2*x.T", "2*x.T")),
    # softmax regression: (softmax times the one-hot row sums - the one-hot labels) / rows
    (SOFTMAX_LOSS, {"X": (5, 3), "OH": (5, 4), "W": (3, 4)}, "W",
     printed("dot(X.T, t0 - exp(log_softmax(dot(X, W)))*sum(t0, axis=-1, keepdims=True))\n"
             " where\n  t0 = -OH/size(OH, axis=0)")),
    # the scalar bias of linear regression: a sum, not reshape(sum(..., keepdims=True))
    (LINEAR_LOSS, {"X": (5, 3), "w": (3,), "b": (), "y": (5,)}, "b",
     printed("sum(2*(dot(X, w) + b - y)/size(y), axis=0)", "sum(2*(dot(X, w) + b - y)/5, axis=0)")),
]  # fmt: skip


@pytest.mark.parametrize("case", range(len(CASES)))
def test_rank_and_dtype_declared_gradients_print_as_matrix_calculus(case):
    f, shapes, by, texts = CASES[case]
    for kind, text in texts.items():
        v = declared(shapes, kind)
        assert str(sym.grad(f(v), v[by])) == text, kind


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("kind", ["rank", "rank+float32", "full"])
def test_those_gradients_match_finite_differences(case, kind):
    f, shapes, by, _ = CASES[case]
    values = {n: rng.uniform(0.5, 2.0, s) for n, s in shapes.items()}
    if "OH" in values:
        values["OH"] = np.eye(4)[rng.integers(0, 4, 5)]
    v = declared(shapes, kind)
    g = sym.grad(f(v), v[by])
    dtype = np.float32 if kind == "rank+float32" else np.float64
    got = run_as_built(g, {n: a.astype(dtype) for n, a in values.items()})
    assert got.dtype == dtype and got.shape == shapes[by]
    want = finite_differences(f(declared(shapes, "full")), values, by)
    np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-7, atol=1e-6)


@pytest.mark.parametrize("case", range(len(CASES)))
def test_those_gradients_keep_nan_and_inf_where_reverse_mode_puts_them(case):
    f, shapes, by, _ = CASES[case]
    v = declared(shapes, "rank")
    forward = sym.simplify(f(v))  # trace(x @ x) is sum(x*x.T) before it is differentiated, in each form
    printed, plain = sym.grad(f(v), v[by]), sym.grad(forward, v[by], simplify=False)
    for seed in range(10):
        values = {n: arrays(s, seed * 10 + k) for k, (n, s) in enumerate(shapes.items())}
        with np.errstate(all="ignore"):
            got, want = run_as_built(printed, values), run_as_built(plain, values)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, equal_nan=True)


def test_a_float32_constant_prints_as_float32_reads_it():
    x = sym.var("x", shape=(5,), dtype="float32")
    assert str(sym.grad(sym.mean(x), x)) == "full((5,), 0.2)"  # not 0.20000000298023224
    X, w, y = (sym.var(n, shape=s, dtype="float32") for n, s in (("X", (50, 3)), ("w", (3,)), ("y", (50,))))
    assert str(sym.grad(sym.sum((sym.dot(X, w) - y) ** 2 / 2) / 50, w)) == "dot(X.T, 2*(dot(X, w) - y)/100)"
    rounded = float(np.float32(0.3))  # 0.30000001192092896: float32(0.3)*x is what NumPy computes for 0.3*x
    assert str(rounded * x) == str(0.3 * sym.var("x", shape=(5,))) == "3*x/10"
    assert str(rounded * sym.var("z", shape=(5,), dtype="float64")) == "0.30000001192092896*z"  # not in float64


MATRICES = {n: rng.normal(size=(3, 3)) for n in "abc"}


@pytest.mark.parametrize(
    ("build", "text"),
    [
        (lambda a, b, c: c * (a @ b), "c*(a @ b)"),
        (lambda a, b, c: (a @ b) / c, "(a @ b)/c"),
        (lambda a, b, c: a @ b + c, "a @ b + c"),
        (lambda a, b, c: c - a @ b, "c - a @ b"),
        (lambda a, b, c: -(a @ b), "-(a @ b)"),
        (lambda a, b, c: (a * b) @ c, "(a*b) @ c"),
        (lambda a, b, c: a @ (b @ c), "a @ (b @ c)"),
        (lambda a, b, c: (a @ b).T, "(a @ b).T"),
        (lambda a, b, c: (a @ b) ** 2, "(a @ b)**2"),
        (lambda a, b, c: sym.expand_dims(sym.sum(a, axis=0), axis=-1) * b, "sum(a, axis=0)[:, None]*b"),
        (lambda a, b, c: sym.expand_dims(a, axis=0) + b, "a[None] + b"),
        (lambda a, b, c: sym.expand_dims(a, axis=-1) * sym.expand_dims(b, axis=1), "a[..., None]*b[:, None]"),
    ],
)
def test_matmul_prints_as_at_and_a_new_axis_as_an_index_and_reads_back_as_numpy_reads_it(build, text):
    variables = [sym.var(n, shape=(3, 3)) for n in "abc"]
    s = build(*variables)
    printed = GraphPrinter([s]).result([s])
    assert printed == text
    read_back = eval(printed, {"sum": np.sum}, dict(MATRICES))  # noqa: S307 - our own printed text, NumPy names
    np.testing.assert_allclose(read_back, run_as_built(s, MATRICES), rtol=1e-12)


def test_a_size_follows_the_leaf_only_where_its_dtype_is_the_same():
    xi, xf = sym.var("xi", shape=(None,), dtype="int8"), sym.var("xf", shape=(None,), dtype="float32")
    from symgrad.ops import reduction as red

    for e in (xi - xf, xf - xi, sym.softplus(xf) * xi):
        size = sym.simplify(red.reduce_size(e))
        assert size.dtype == red.reduce_size(e).dtype == np.float32, str(size)
    assert str(red.reduce_size(sym.softplus(xf) - xf)) == "size(xf)"
