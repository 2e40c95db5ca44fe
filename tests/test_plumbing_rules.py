"""Each rule that removes shape plumbing fires, and keeps values, NaN/Inf/-0.0 placement, shape and dtype."""

import numpy as np
import pytest

from symgrad import sym
from symgrad.graph import CONST, VAR, topo_order
from symgrad.ops import reduction as red
from symgrad.ops import shape as shp
from symgrad.ops.registry import OPS


def run_as_built(s, args):
    """The graph's value from the ops' declared kernels, node by node: no rewrites at all."""
    values = {}
    for node in topo_order([s]):
        if node.op == VAR:
            values[node] = args[node.name]
        elif node.op == CONST:
            values[node] = node.attrs["value"]
        else:
            values[node] = OPS[node.op].kernel(node.attrs)(*[values[i] for i in node.inputs])
    return np.asarray(values[s])


SPECIAL = np.array([1.5, -0.0, 0.0, np.nan, np.inf, -np.inf, -2.0, 0.25])


def arrays(shape, seed):
    """Values that include NaN, +-Inf and both zeros, in every position across variables."""
    rng = np.random.default_rng(seed)
    return rng.choice(SPECIAL, size=shape) * rng.choice([1.0, 3.0], size=shape)


x, y = sym.var("x"), sym.var("y")
x5, y5 = sym.var("x", shape=(5,)), sym.var("y", shape=(5,))
m = sym.var("m", shape=(5, 3))

CASES = [  # (rule, expression, shapes bound, printed form after simplify or None)
    ("fill_to_scalar", sym.ones_like(y) * (x * y), {"x": (5,), "y": (5,)}, None),
    ("fill_to_scalar", sym.ones((5,)) * x5, {"x": (5,)}, "x"),
    ("fill_to_scalar", 0.5 * sym.ones((5,)) + x5, {"x": (5,)}, None),
    ("fill_to_scalar", np.full((5,), 0.25) + x5, {"x": (5,)}, None),
    ("fill_to_scalar", sym.where(x5 > 0, sym.ones((5,)), y5), {"x": (5,), "y": (5,)}, "where(x > 0, 1, y)"),
    ("fill_to_scalar", shp.broadcast_like(2.0, y) / (x * y), {"x": (5,), "y": (5,)}, "2/(x*y)"),
    ("outer_product_of_ones", sym.expand_dims(x5, axis=1) * sym.ones((1, 3)), {"x": (5,)}, None),
    ("outer_product_of_ones", sym.expand_dims(x5, axis=1) * np.full((1, 3), -2.0), {"x": (5,)}, None),
    ("merge_wheres", sym.where(x > 0, x, 1) + sym.where(x > 0, 2, y), {"x": (5,), "y": (5,)}, None),
    ("merge_wheres", sym.where(x5 > 0, 1, 0) - sym.where(x5 > 0, 0, 0.1), {"x": (5,)}, "where(x > 0, 1, -0.1)"),
    ("sum_like_of_sum_like", shp.sum_like(shp.sum_like(m, x * y), x), {"x": (1, 3), "y": (5, 1), "m": (5, 3)}, None),
    ("broadcast_like_noop", shp.broadcast_like(shp.sum_like(x * y, y), y), {"x": (4, 3), "y": (3,)}, None),
    ("reshape_like_noop", shp.reshape_like(x * y, y * x), {"x": (4, 3), "y": (3,)}, "x*y"),
    ("multiply_divide", 2 * (3 / y), {"y": (5,)}, "6/y"),  # not 2*((0.5/y)*x) -> x/y: NaN at x = 0, y = 1e-310
    ("add_negative", x + (-3.0) * y, {"x": (5,), "y": (5,)}, "x - 3*y"),
    ("subtract_identities", x - (-3.0) * y, {"x": (5,), "y": (5,)}, "x + 3*y"),
    ("reduce_size_of_leaf", sym.sum(x) / red.reduce_size((x + y) ** 2), {"x": (4, 3), "y": (3,)}, None),
    ("reshaped_fill", sym.expand_dims(sym.ones_like(x), axis=0) * sym.expand_dims(x, axis=0), {"x": (5,)}, None),
]


@pytest.mark.parametrize("index", range(len(CASES)))
def test_plumbing_rule_fires_and_keeps_values(index):
    rule, expression, shapes, printed = CASES[index]
    simplified, report = sym.simplify(expression, explain=True)
    assert report.counts[rule] > 0, (rule, str(report))
    if printed is not None:
        assert str(simplified) == printed
    assert "ones" not in str(simplified) and "broadcast_like" not in str(simplified)
    for seed in range(20):
        args = {name: arrays(shape, seed * 7 + k) for k, (name, shape) in enumerate(sorted(shapes.items()))}
        want, got = run_as_built(expression, args), run_as_built(simplified, args)
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=0, equal_nan=True)
        numbers = ~np.isnan(want)
        assert np.array_equal(np.signbit(got)[numbers], np.signbit(want)[numbers]), (got, want)  # -0.0 stays


def test_issue_gradients_lose_their_plumbing():
    assert str(sym.grad(sym.sum(x * y + sym.exp(x * y)), y)) == "sum_like((exp(x*y) + 1)*x, y)"
    assert str(sym.grad(sym.sum(x5 * y5 + sym.exp(x5 * y5)), y5)) in ("x*(exp(x*y) + 1)", "(exp(x*y) + 1)*x")
    assert str(sym.grad(sym.sum(sym.where(x5 > 0, x5, 0.1 * x5)), x5)) == "where(x > 0, 1, 0.1)"
    # 0.5 and 2 stay apart: x/sqrt(...) is 0.0 at x = (1e308, ...), where 2*x overflows and the gradient is NaN
    assert str(sym.grad(sym.sqrt(sym.sum(x5**2) + 1), x5)) == "1/(2*sqrt(sum(x**2) + 1))*2*x"
    assert str(sym.grad(sym.sum(sym.log(sym.cos(x5) + 2)), x5)) == "-sin(x)/(cos(x) + 2)"
    v, w = sym.var("v", shape=(2,)), sym.var("w", shape=(2, 3))
    assert "ones((" not in str(sym.grad(sym.sum(v @ w), w))


@pytest.mark.parametrize("scale", [1.0, -2.0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_outer_product_gradient_with_ranks_only_broadcasts_to_its_variables_shape(scale, dtype):
    # broadcast_to_gradient_shape: cast_like(expand_dims(x)*ones_like(e), y) -> cast_like(broadcast_like(..., y), y)
    v, w = sym.var("v", shape=(None,)), sym.var("w", shape=(None, None))
    f = sym.sum(scale * (v @ w))
    grad, plain = sym.grad(f, w), sym.grad(f, w, simplify=False)
    factor = "" if scale == 1 else "-2*"
    assert str(grad) == f"broadcast_to({factor}v[:, None], shape(w))"
    assert "matmul" not in {n.op for n in topo_order([grad])}  # smaller: the product is not computed
    for seed in range(20):
        args = {"v": arrays((4,), seed).astype(dtype), "w": arrays((4, 3), seed + 100).astype(dtype)}
        want, got = run_as_built(plain, args), run_as_built(grad, args)
        assert got.shape == want.shape == (4, 3) and got.dtype == want.dtype == dtype
        np.testing.assert_array_equal(got, want)  # NaN where NaN, each inf in place
        numbers = ~np.isnan(want)
        assert np.array_equal(np.signbit(got)[numbers], np.signbit(want)[numbers]), (got, want)  # -0.0 stays
