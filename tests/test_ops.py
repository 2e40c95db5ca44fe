"""Every op: forward against NumPy in float32 and float64, gradients against finite differences."""

import numpy as np
import pytest
from opcases import CASES, NO_NUMERIC_GRAD

from symgrad import SymgradError, autograd, nd, sym
from symgrad.graph import topo_order

IDS = [c[0] for c in CASES]


def variables(arrays, dtype=None):
    return [sym.var(f"in{i}", shape=a.shape, dtype=dtype) for i, a in enumerate(arrays)]


def feed(arrays, dtype=np.float64):
    return {f"in{i}": a.astype(dtype) for i, a in enumerate(arrays)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_forward_matches_numpy(case, dtype):
    name, build, reference, arrays = case
    s = build(*variables(arrays))
    (out,) = s.eval(**feed(arrays, dtype))
    expected = reference(*[a.astype(dtype) for a in arrays])
    assert out.shape == np.shape(expected)
    assert out.dtype == dtype, f"{name}: {out.dtype}"
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol)


def numeric_gradient(s, arrays, heads, eps=1e-6):
    ex = s.bind(feed(arrays), grad_req="null")
    grads = []
    for i, a in enumerate(arrays):
        g = np.zeros_like(a)
        target = np.asarray(ex.arg_dict[f"in{i}"]).reshape(-1)
        for j in range(a.size):
            old = target[j]
            target[j] = old + eps
            up = np.sum(ex.forward()[0].asnumpy() * heads)
            target[j] = old - eps
            down = np.sum(ex.forward()[0].asnumpy() * heads)
            target[j] = old
            g.reshape(-1)[j] = (up - down) / (2 * eps)
        grads.append(g)
    return grads


@pytest.mark.parametrize("case", [c for c in CASES if c[0] not in NO_NUMERIC_GRAD], ids=lambda c: c[0])
def test_gradient_matches_central_differences(case):
    name, build, _, arrays = case
    s = build(*variables(arrays))
    ex = s.bind(feed(arrays))
    (out,) = ex.forward(is_train=True)
    heads = np.random.default_rng(7).uniform(0.5, 1.5, out.shape)
    ex.backward(heads)
    for i, expected in enumerate(numeric_gradient(s, arrays, heads)):
        np.testing.assert_allclose(ex.grad_dict[f"in{i}"], expected, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("case", [c for c in CASES if c[0] not in NO_NUMERIC_GRAD], ids=lambda c: c[0])
def test_gradient_without_declared_shapes_matches_declared(case):
    """Shape-polymorphic gradient graphs (no shapes at sym.grad time) give the same numbers."""
    name, build, _, arrays = case
    free = [sym.var(f"in{i}") for i in range(len(arrays))]
    s = sym.sum(build(*free) * 1.5)
    grads = sym.grad(s, free)
    values = sym.Group(grads).eval(**feed(arrays))
    shaped = build(*variables(arrays))
    ex = shaped.bind(feed(arrays))
    ex.forward(is_train=True)
    ex.backward(np.full(ex.outputs[0].shape, 1.5))
    for i, v in enumerate(values):
        np.testing.assert_allclose(
            np.broadcast_to(v, arrays[i].shape), ex.grad_dict[f"in{i}"], rtol=1e-10, atol=1e-12, err_msg=name
        )


@pytest.mark.parametrize(
    "f, x0",
    [(lambda x: sym.sin(x) * x, 0.7), (lambda x: sym.exp(x) / (1 + x * x), 0.3), (lambda x: sym.tanh(x) ** 2, -0.4)],
)
def test_second_and_third_derivatives_match_differences_of_the_lower_order(f, x0):
    x = sym.var("x")
    d1 = sym.grad(f(x), x)
    d2 = sym.grad(d1, x)
    d3 = sym.grad(d2, x)
    eps = 1e-5

    def at(s, v):
        return float(s.eval(x=np.array(v))[0])

    for lower, higher in ((d1, d2), (d2, d3)):
        numeric = (at(lower, x0 + eps) - at(lower, x0 - eps)) / (2 * eps)
        assert at(higher, x0) == pytest.approx(numeric, rel=1e-6, abs=1e-8)


def test_disconnected_variable_gets_zeros_of_its_shape_and_repeated_use_adds_up():
    x, y = sym.var("x", shape=(3,)), sym.var("y", shape=(2, 2))
    gx, gy = sym.grad(sym.sum(x * x + x), [x, y])
    xv = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(gy.eval()[0], np.zeros((2, 2)))
    np.testing.assert_array_equal(gx.eval(x=xv)[0], 2 * xv + 1)


def test_head_gradients_weight_the_outputs():
    x = sym.var("x", shape=(3,))
    g = sym.grad(x * x, x, head_grads=sym.var("h", shape=(3,)))
    xv, hv = np.array([1.0, 2.0, 3.0]), np.array([1.0, 0.0, -2.0])
    np.testing.assert_array_equal(g.eval(x=xv, h=hv)[0], 2 * xv * hv)


def test_grad_req_write_add_null():
    x, w = sym.var("x"), sym.var("w")
    s = sym.sum(x * w)
    xv, wv = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    ex = s.bind({"x": xv, "w": wv}, grad_req={"x": "add", "w": "write"})
    for _ in range(2):
        ex.forward(is_train=True)
        ex.backward()
    np.testing.assert_array_equal(ex.grad_dict["x"], 2 * wv)
    np.testing.assert_array_equal(ex.grad_dict["w"], xv)
    ex_null = s.bind({"x": xv, "w": wv}, grad_req={"x": "null", "w": "write"})
    assert ex_null.grad_dict["x"] is None and ex_null.grad_arrays[0] is None  # as MXNet


@pytest.mark.parametrize("dask", [False, True])
def test_head_gradients_land_on_their_own_argument_when_an_earlier_one_is_null(dask):
    a, b, c = sym.var("a"), sym.var("b"), sym.var("c")
    av, bv, cv = np.array([2.0, 3.0]), np.array([5.0, 7.0]), np.array([-1.0, 4.0])
    args = {"a": av, "b": bv, "c": cv}
    if dask:
        da = pytest.importorskip("dask.array")
        args = {k: da.from_array(v, chunks=1) for k, v in args.items()}
    ex = (a * b * c).bind(args, grad_req={"a": "null", "b": "write", "c": "add"})
    head = np.array([1.0, -2.0])
    ex.forward(is_train=True)
    ex.backward(out_grads=head)
    np.testing.assert_array_equal(np.asarray(ex.grad_dict["b"]), head * av * cv)
    np.testing.assert_array_equal(np.asarray(ex.grad_dict["c"]), head * av * bv)
    assert ex.grad_dict["a"] is None  # as MXNet


@pytest.mark.parametrize("declared", [True, False])
def test_gradient_of_a_non_scalar_output_sums_over_the_axes_an_input_was_broadcast_along(declared):
    # The default head is ones of the output's shape: x of shape (3, 1) and s of shape () are
    # broadcast along 4 and 12 entries of x + y, so d sum(x*x + y + s) / dx = 4*2x, and 12 for s.
    shapes = {"x": (3, 1), "y": (4,), "s": ()} if declared else {"x": None, "y": None, "s": None}
    x, y, s = (sym.var(n, shape=shapes[n]) for n in ("x", "y", "s"))
    out = x * x + y + s
    xv, yv, sv = np.array([[1.0], [2.0], [3.0]]), np.arange(4.0), np.array(0.5)
    expected = {"x": 8 * xv, "y": np.full(4, 3.0), "s": np.array(12.0)}
    ex = out.bind({"x": xv, "y": yv, "s": sv})
    ex.forward(is_train=True)
    ex.backward()
    feed = {"x": xv, "y": yv, "s": sv}
    grads = [g.eval(**{n: feed[n] for n in g.list_arguments()})[0] for g in sym.grad(out, [x, y, s])]
    for name, g in zip(("x", "y", "s"), grads):
        np.testing.assert_array_equal(ex.grad_dict[name], expected[name])
        np.testing.assert_array_equal(g, expected[name])
    if declared:
        assert str(sym.grad(x * x + y, x)) == "8*x"
    xn, yn = nd.array(xv), nd.array(yv)
    xn.attach_grad()
    with autograd.record():
        z = xn * xn + yn
    z.backward()
    np.testing.assert_array_equal(xn.grad.asnumpy(), 8 * xv)


@pytest.mark.parametrize("dtype", ["bool", "int8", "uint8", "float16"])
@pytest.mark.parametrize("op", ["sum", "prod"])
def test_sum_and_prod_accumulate_small_integers_as_numpy_does(op, dtype):
    a = np.array([1, 1, 1] if dtype == "bool" else [100] * 5, dtype=dtype)
    expected = getattr(np, op)(a)  # bool and int8 accumulate in int64, uint8 in uint64
    x = sym.var("x", dtype=dtype)
    (got,) = getattr(sym, op)(x).eval(x=a)
    eager = getattr(nd, op)(nd.array(a, dtype=a.dtype)).asnumpy()
    for value in (got, eager):
        assert value.dtype == expected.dtype and value == expected
    assert getattr(sym, op)(x).dtype == expected.dtype


def test_outputs_never_share_memory_with_the_arguments_and_bound_arrays_are_kept_by_reference():
    x = sym.var("x")
    xv = np.array([1.0, 2.0])
    ex = sym.Group([x, sym.reshape(x, shape=(2, 1)), sym.stop_gradient(x), x * 2, x * 2]).bind({"x": xv})
    first = ex.forward()
    first[3][...] = 99  # the same value twice is two arrays
    assert first[4].tolist() == [2.0, 4.0]
    for out in first:
        out[...] = 99  # writing into outputs changes neither the argument nor the next forward
    np.testing.assert_array_equal(xv, [1.0, 2.0])
    np.testing.assert_array_equal(ex.forward()[1], [[1.0], [2.0]])
    ex.forward(x=np.array([3.0, 4.0]))  # as MXNet: the bound array is the argument, so it is updated
    np.testing.assert_array_equal(xv, [3.0, 4.0])
    assert np.asarray(ex.arg_dict["x"]) is xv


def _sum_to(a, shape):
    """NumPy's reverse of broadcasting: a summed down to shape."""
    a = a.sum(axis=tuple(range(a.ndim - len(shape))))
    return a.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True).reshape(shape)


@pytest.mark.parametrize(
    ("build", "shapes", "partial"),
    [  # partial: d out / d v elementwise (broadcast to out's shape), for the variable v
        (lambda v, y, w: (v + y) * w, [(3, 1), (2, 1, 4), (4,)], lambda v, y, w: w),
        (lambda v, y, w: sym.where(y > 0, w, v), [(), (1,), (3,)], lambda v, y, w: (y <= 0) * 1.0),
        (lambda v, y, w: v * y + w, [(2, 1), (1, 3), (2, 1)], lambda v, y, w: y),
        (lambda v, y, w: sym.exp(v - y) * w, [(1, 4), (3, 1), ()], lambda v, y, w: np.exp(v - y) * w),
    ],
)
def test_default_and_explicit_heads_sum_gradients_over_every_broadcast_axis(build, shapes, partial):
    v, y, w = (sym.var(n, shape=s) for n, s in zip("vyw", shapes))
    rng = np.random.default_rng(3)
    vals = {n: rng.uniform(-1, 1, s) for n, s in zip("vyw", shapes)}
    out = build(v, y, w)
    full = np.broadcast_to(partial(*vals.values()), out.shape)
    expected = _sum_to(full, shapes[0])
    ex = out.bind(vals, grad_req={"v": "write", "y": "null", "w": "null"})
    ex.forward(is_train=True)
    ex.backward()
    np.testing.assert_allclose(ex.grad_dict["v"], expected, rtol=1e-12)
    ex.backward(out_grads=np.ones(out.shape))
    np.testing.assert_allclose(ex.grad_dict["v"], expected, rtol=1e-12)
    g = sym.grad(out, v)
    np.testing.assert_allclose(g.eval(**{n: vals[n] for n in g.list_arguments()})[0], expected, rtol=1e-12)


def test_cast_converts_values_and_sends_gradients_back_in_the_input_dtype():
    x = sym.var("x", dtype="float32")
    y = sym.sum(x.astype("float64") * sym.cast(x, dtype="float64"))
    xv = np.array([0.1, 2.0], np.float32)
    ex = y.bind({"x": xv})
    (out,) = ex.forward(is_train=True)
    ex.backward()
    assert out.dtype == np.float64 and out == np.sum(xv.astype(np.float64) ** 2)
    assert ex.grad_dict["x"].dtype == np.float32
    np.testing.assert_array_equal(ex.grad_dict["x"], (2 * xv.astype(np.float64)).astype(np.float32))
    assert str(sym.simplify(sym.cast(x, dtype=np.float32))) == "x"  # a cast to the same dtype is x
    rebuilt = sym.load_json(y.tojson())
    np.testing.assert_array_equal(rebuilt.eval(x=xv)[0], out)
    for dtype in ("bool", "int8", "uint16", "uint32", "uint64", "float16"):  # every cast saves and loads
        c = sym.load_json(sym.cast(x, dtype=dtype).tojson())
        assert c.eval(x=xv)[0].dtype == np.dtype(dtype)
    for bad in (None, "banana", "complex64"):
        with pytest.raises(SymgradError, match="cast"):
            sym.cast(x, dtype=bad)


def test_a_none_head_gradient_means_ones_for_that_output():
    x = sym.var("x")
    xv = np.array([1.0, 2.0])
    ex = sym.Group([x * x, 3 * x]).bind({"x": xv})
    ex.forward(is_train=True)
    ex.backward(out_grads=[np.array([1.0, -1.0]), None])
    np.testing.assert_array_equal(ex.grad_dict["x"], 2 * xv * [1.0, -1.0] + 3)


def test_backward_twice_after_one_forward_and_before_any_forward():
    x = sym.var("x")
    ex = (x * x).bind({"x": np.array([3.0])})
    with pytest.raises(Exception, match="forward\\(is_train=True\\)"):
        ex.backward()
    ex.forward(is_train=True)
    ex.backward()
    ex.backward()
    np.testing.assert_array_equal(ex.grad_dict["x"], [6.0])


def test_mlp_gradient_graph_is_at_most_three_times_the_forward_graph():
    x, labels = sym.var("x", shape=(64, 784)), sym.var("labels", shape=(64, 10))
    w1, b1 = sym.var("w1", shape=(784, 256)), sym.var("b1", shape=(256,))
    w2, b2 = sym.var("w2", shape=(256, 10)), sym.var("b2", shape=(10,))
    logits = sym.dot(sym.tanh(sym.dot(x, w1) + b1), w2) + b2
    loss = -sym.mean(sym.sum(labels * sym.log_softmax(logits), axis=1))
    grads = sym.grad(loss, [w1, b1, w2, b2])
    forward_nodes = len(topo_order([loss]))
    gradient_nodes = len(topo_order(grads))
    assert gradient_nodes <= 3 * forward_nodes, (gradient_nodes, forward_nodes)


@pytest.mark.parametrize("product", [sym.dot, sym.matmul])
@pytest.mark.parametrize("shapes", [((3, 4), (4, 2)), ((4,), (4, 2)), ((3, 4), (4,)), ((4,), (4,))])
def test_rank_generic_product_adjoints_differentiate_again(product, shapes):
    """With no shapes declared, second derivatives of dot/matmul go through their adjoint ops."""
    rng = np.random.default_rng(3)
    x, w, v = sym.var("x"), sym.var("w"), sym.var("v")
    f = sym.sum(sym.tanh(product(x, w)))
    hv = sym.hvp(f, x, v)
    xv, wv, vv = rng.normal(size=shapes[0]), rng.normal(size=shapes[1]), rng.normal(size=shapes[0])
    g = sym.grad(f, x)
    eps = 1e-6
    numeric = (g.eval(x=xv + eps * vv, w=wv)[0] - g.eval(x=xv - eps * vv, w=wv)[0]) / (2 * eps)
    np.testing.assert_allclose(hv.eval(x=xv, w=wv, v=vv)[0], numeric, rtol=1e-6, atol=1e-8)
