"""Tiled execution (symgrad/tiling.py) gives the untiled plan's values, NaN and Inf included."""

import tracemalloc

import numpy as np
import pytest

import symgrad
from symgrad import autograd, nd, sym, tiling

N = 3 * 2**15 + 123  # several tiles and a ragged last one


@pytest.fixture
def untiled(monkeypatch):
    """Bind with tiling switched off (the reference), then restore it."""

    def bind(symbol, args, **kw):
        monkeypatch.setattr(tiling, "TILE_MIN_SIZE", 2**62)
        symgrad.clear_cache()
        try:
            return symbol.bind(args, backend="numpy", **kw)  # the tiled program runs with NumPy's kernels too
        finally:
            monkeypatch.undo()
            symgrad.clear_cache()

    return bind


def run(ex, heads=None):
    ex.forward(is_train=True)
    ex.backward(heads)
    return [o.copy() for o in ex.outputs], {k: g.copy() for k, g in ex.grad_dict.items()}


def assert_same(tiled, reference, sum_rtol=1e-12):
    (outs, grads), (ref_outs, ref_grads) = tiled, reference
    for out, ref in zip(outs, ref_outs):
        if out.size == 1:  # a reduction: tile-wise partial sums round differently
            np.testing.assert_allclose(out, ref, rtol=sum_rtol)
        else:
            np.testing.assert_array_equal(out, ref)
    for name in ref_grads:
        np.testing.assert_array_equal(grads[name], ref_grads[name], err_msg=name)


def chain(x, z):
    t = x
    for _ in range(3):
        t = sym.exp(-sym.square(sym.tanh(sym.sin(t) * z) + z)) + sym.relu(t) - sym.sigmoid(z) * 0.5
    return t


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_fused_forward_backward_equals_the_untiled_plan_with_nan_and_inf(untiled, dtype):
    rng = np.random.default_rng(0)
    xv, zv = rng.uniform(-2, 2, N).astype(dtype), rng.uniform(-2, 2, N).astype(dtype)
    xv[[5, 70_000]] = np.nan
    xv[[6, 70_001]] = np.inf
    zv[[7, 90_000]] = -np.inf
    xv[100] = 0.0  # relu's kink
    x, z = sym.var("x"), sym.var("z")
    loss = sym.sum(chain(x, z))
    ex = loss.bind({"x": xv, "z": zv})
    stats = ex.plan_stats()
    assert stats["fused_tile"] > 0 and stats["saved_for_backward"] == 0
    assert_same(run(ex), run(untiled(loss, {"x": xv, "z": zv})))
    assert ex.grad_dict["x"].dtype == dtype and np.isnan(ex.grad_dict["x"][5])


def test_elementwise_outputs_reductions_and_broadcast_scalars(untiled):
    rng = np.random.default_rng(1)
    shape = (300, 401)
    args = {"a": rng.normal(size=shape), "b": rng.normal(size=(1, 1)), "c": np.array(1.5)}
    a, b, c = sym.var("a"), sym.var("b"), sym.var("c")
    h = sym.tanh(a * b) + c
    out = sym.Group(
        [
            h * h,  # an elementwise output of the full shape
            sym.mean(h, axis=(0, 1), keepdims=True),
            sym.sum(sym.where(a > 0, h, sym.stop_gradient(a))) * c,  # a small op after the reduction
            sym.clip(a, -1, 1),
        ]
    )
    ex = out.bind(args)
    assert ex.plan_stats()["forward_tile"] > 0
    heads = [np.ones(shape), np.ones((1, 1)), np.array(2.0), np.full(shape, 0.5)]
    tiled = run(ex, heads)
    assert_same(tiled, run(untiled(out, args), heads))
    np.testing.assert_allclose(tiled[0][1], np.mean(np.tanh(args["a"] * args["b"]) + 1.5, keepdims=True))
    assert tiled[0][1].shape == (1, 1) and tiled[0][2].shape == ()
    # b's gradient sums over every element: the broadcast reduced back to its (1, 1) shape
    assert tiled[1]["b"].shape == (1, 1)


def test_a_partial_broadcast_or_a_matrix_product_is_not_tiled_but_still_right():
    rng = np.random.default_rng(2)
    a, r = sym.var("a"), sym.var("r")
    args = {"a": rng.normal(size=(400, 300)), "r": rng.normal(size=(300,))}
    ex = sym.sum(sym.sin(a * r)).bind(args)
    assert ex.plan_stats()["forward_tile"] == 0 and "fused_tile" not in ex.plan_stats()
    ex.forward(is_train=True)
    ex.backward()
    np.testing.assert_allclose(ex.grad_dict["r"], (np.cos(args["a"] * args["r"]) * args["a"]).sum(axis=0))


def test_fused_gradients_follow_grad_req_add_repeated_backward_and_custom_heads():
    rng = np.random.default_rng(3)
    xv = rng.normal(size=N)
    x = sym.var("x")
    y = sym.sum(sym.sin(x) * x)
    want = np.cos(xv) * xv + np.sin(xv)
    ex = y.bind({"x": xv}, args_grad={"x": np.ones(N)}, grad_req="add")
    ex.forward(is_train=True)
    ex.backward()
    ex.backward()
    np.testing.assert_allclose(ex.grad_dict["x"], 1 + 2 * want, rtol=1e-12, atol=1e-14)
    ex.backward(np.array(3.0))  # a custom head gradient recomputes from the arguments
    np.testing.assert_allclose(ex.grad_dict["x"], 1 + 5 * want, rtol=1e-12, atol=1e-14)
    (out,) = ex.forward()  # inference uses the forward-only program
    np.testing.assert_allclose(out, np.sum(np.sin(xv) * xv), rtol=1e-12)


def test_check_finite_names_the_node_in_a_fused_pass():
    xv = np.linspace(0.5, 2, N)
    xv[12345] = 0.0
    x = sym.var("x")
    ex = sym.sum(sym.sqrt(x)).bind({"x": xv})
    ex.forward(is_train=True)
    with pytest.raises(Exception, match="Inf") as info:
        ex.backward(check_finite=True)
    assert "divide" in str(info.value) or "sqrt" in str(info.value)


def test_the_fused_pass_allocates_its_outputs_and_a_few_tiles_only():
    rng = np.random.default_rng(4)
    n = 2**20
    xv, zv = rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)
    ex = sym.sum(chain(sym.var("x"), sym.var("z"))).bind({"x": xv, "z": zv})
    ex.forward(is_train=True)
    ex.backward()
    tracemalloc.start()
    ex.forward(is_train=True)
    ex.backward()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    planned = ex.plan_stats()["fused_peak_bytes"]
    assert planned <= 2 * n * 8 + tiling.SCRATCH_BYTES + 2**16  # two gradients plus the scratch tiles
    assert peak <= planned * 1.25


def test_eager_backward_over_big_arrays_uses_the_same_tiled_plans():
    rng = np.random.default_rng(5)
    xv = rng.normal(size=N)
    x = nd.array(xv, dtype=xv.dtype)
    x.attach_grad()
    with autograd.record():
        y = (nd.tanh(x) * nd.exp(-x * x)).sum()
    y.backward()
    t = np.tanh(xv)
    want = (1 - t * t) * np.exp(-xv * xv) + t * np.exp(-xv * xv) * (-2 * xv)
    np.testing.assert_allclose(x.grad.asnumpy(), want, rtol=1e-12, atol=1e-300)


_UNARY = [
    lambda a: -a,
    sym.exp,
    sym.sin,
    sym.abs,
    sym.tanh,
    lambda a: a * a,
    lambda a: a**2,
    sym.relu,
    sym.sigmoid,
    sym.sqrt,
    sym.log,
    lambda a: sym.maximum(a, 0),
]
_BINARY = [
    lambda a, b: a + b,
    lambda a, b: a - b,
    lambda a, b: a * b,
    lambda a, b: a / b,
    sym.maximum,
    sym.minimum,
    lambda a, b: sym.where(a > b, a, b),
]


def _random_graph(rng, depth, leaves):
    """A random elementwise expression of the leaves (constants only beside a leaf-made operand)."""
    if depth == 0 or rng.random() < 0.2:
        return leaves[rng.randrange(len(leaves))]
    if rng.random() < 0.4:
        return _UNARY[rng.randrange(len(_UNARY))](_random_graph(rng, depth - 1, leaves))
    a = _random_graph(rng, depth - 1, leaves)
    b = _random_graph(rng, depth - 1, leaves) if rng.random() < 0.7 else rng.choice([0.5, 2.0, -1.0])
    op = _BINARY[rng.randrange(len(_BINARY))]
    return op(b, a) if rng.random() < 0.5 else op(a, b)


def test_random_elementwise_graphs_tile_to_the_untiled_values(untiled):
    import random

    rng = random.Random(0)
    values = np.random.default_rng(5).normal(size=N) * 3
    values[:8] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e308, 5e-324, -1.0]
    data = {"x": values, "z": np.random.default_rng(6).normal(size=N)}
    tiled_count = 0
    for _ in range(25):
        x, z = sym.var("x"), sym.var("z")
        e = _random_graph(rng, 4, [x, z])
        s = [sym.sum(e), sym.mean(e), sym.Group([e, sym.sum(e * z)])][rng.randrange(3)]
        args = {k: v for k, v in data.items() if k in s.list_arguments()}
        ex = s.bind(args)
        if ex.plan_stats().get("fused_tile"):
            tiled_count += 1
        with np.errstate(all="ignore"):
            assert_same(run(ex), run(untiled(s, args)), sum_rtol=1e-9)
    assert tiled_count >= 20  # the graphs did run tiled, forward and backward in one pass
