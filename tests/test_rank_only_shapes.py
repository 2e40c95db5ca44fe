"""Variables declared with a rank and open sizes (`shape=(None, None)`, MXNet's 0 too)."""

import json
import warnings

import numpy as np
import pytest

import symgrad as sg
from symgrad import gallery, sym
from symgrad.testing import check_numeric_gradient

rng = np.random.default_rng(21)


def test_a_variable_declares_its_rank_with_none_or_mxnets_zero_for_open_sizes():
    x = sym.var("x", shape=(None, 3))
    assert x.shape is None and x.partial_shape == (None, 3) and x.ndim == 2
    assert sym.var("y", shape=(0, 3)).partial_shape == (None, 3)
    full = sym.var("z", shape=(2, 3))
    assert full.shape == full.partial_shape == (2, 3)
    assert sym.var("u").partial_shape is None and sym.var("u").ndim is None
    assert x.list_attr() == {"__shape__": "(None, 3)"}
    with pytest.raises(sg.SymgradError, match=r"var 'v': shape must be a tuple of ints \(None or 0"):
        sym.var("v", shape=(None, -2))


def test_what_is_known_of_a_shape_follows_the_ops():
    X, w, y = sym.var("X", shape=(None, 3)), sym.var("w", shape=(3, None)), sym.var("y", shape=(None,))
    assert sym.dot(X, w).partial_shape == (None, None)
    assert sym.sum(sym.dot(X, w), axis=0).partial_shape == (None,)
    assert (X + sym.var("b", shape=(3,))).partial_shape == (None, 3)
    assert (X + sym.var("c", shape=(None, 1))).partial_shape == (None, 3)  # an open size is not 1
    assert sym.expand_dims(y, axis=1).partial_shape == (None, 1)
    assert sym.mean(X).shape == ()
    assert sym.reshape(X, shape=(-1,)).partial_shape is None  # its size is a product: it may be 1
    assert sym.reshape(sym.var("v", shape=(None, 2)), shape=(-1, 4)).partial_shape is None  # not (1, 4)
    assert sym.sum(sym.dot(X, w), axis=(0, 1)).partial_shape == ()
    assert (X + sym.var("q")).partial_shape is None  # one input of unknown rank
    with pytest.raises(sg.ShapeError, match=r"cannot broadcast shapes \(None, 3\), \(4,\)"):
        X + sym.var("d", shape=(4,))


def test_a_slice_of_an_open_size_that_only_small_sizes_change_is_not_known():
    """x[0, -1:2] is empty for every big size but one element for size 2: its size is not known,
    and the gradient through its broadcast against x is right at size 2 (it was built for 0)."""
    x = sym.var("x", shape=(1, None))
    assert x[0, -1:2].partial_shape is None
    assert x[0, 1:2].partial_shape == (1,)  # one element for every size it may be
    assert x[0, -1:].partial_shape == (1,)
    f = sym.sum(sym.sin(x) + x[0, -1:2])
    x0 = np.array([[0.3, 0.7]])
    (grad,) = sym.grad(f, x).eval(x=x0)
    np.testing.assert_allclose(grad.asnumpy(), [[np.cos(0.3), np.cos(0.7) + 2.0]], rtol=1e-15)
    check_numeric_gradient(f, {"x": x0})


def test_an_open_size_an_op_matches_with_a_known_one_takes_it():
    X, W, w = sym.var("X", shape=(None, None)), sym.var("W", shape=(3, 4)), sym.var("w", shape=(3,))
    assert sym.dot(X, W).partial_shape == (None, 4)  # X's second size must be W's first, 3
    assert sym.dot(X, w).partial_shape == (None,)
    assert sym.matmul(sym.var("B", shape=(None, None, 3)), W).partial_shape == (None, None, 4)
    f = sym.sum(sym.tanh(sym.dot(X, W)))
    assert [str(g) for g in sym.grad(f, [X, W])] == [
        "dot(1 - tanh(dot(X, W))**2, W.T)",
        "dot(X.T, 1 - tanh(dot(X, W))**2)",
    ]
    check_numeric_gradient(f, {"X": rng.normal(size=(5, 3)), "W": rng.normal(size=(3, 4))})


def test_infer_shape_partial_keeps_what_is_known():
    X, w = sym.var("X", shape=(None, None)), sym.var("w", shape=(0,))
    out = sym.dot(X, w) * 2
    assert out.infer_shape_partial() == ([(None, None), (None,)], [(None,)], [])
    assert out.infer_shape() == (None, None, None)  # MXNet's answer while a size is open
    assert out.infer_shape(X=(5, 3), w=(3,)) == ([(5, 3), (3,)], [(5,)], [])
    assert out.infer_shape_partial(X=(5, 3)) == ([(5, 3), (None,)], [(5,)], [])  # w's size is X's, 3
    b = sym.var("b", shape=(None,))
    assert (X + b).infer_shape_partial(b=(3,)) == ([(None, None), (3,)], [(None, 3)], [])
    y = sym.var("y", shape=(None, 3))
    assert (y + sym.var("z")).infer_shape_partial(z=(5, 3)) == ([(5, 3), (5, 3)], [(5, 3)], [])  # learned
    with pytest.raises(sg.ShapeError, match=r"cannot broadcast shapes \(None, 3\), \(5, 4\)"):
        (y + sym.var("z")).infer_shape_partial(z=(5, 4))  # not learned against its declaration: an error


def test_infer_shape_partial_gives_the_layer_parameters_the_data_decides():
    # data declared (0, 2): MXNet 1.9.1 reports fc's weight (4, 2), bias (4,), the label (0,) and the
    # output (0, 3); the parameters (and so every shape after the first layer) were reported unknown
    data = sym.var("data", shape=(0, 2))
    fc = sym.FullyConnected(data, num_hidden=4, name="fc")
    net = sym.SoftmaxOutput(sym.FullyConnected(sym.relu(fc), num_hidden=3, name="fc2"), name="sm")
    args, outs, _ = net.infer_shape_partial()
    expected = {"data": (None, 2), "fc_weight": (4, 2), "fc_bias": (4,), "fc2_weight": (3, 4), "fc2_bias": (3,)}
    assert dict(zip(net.list_arguments(), args)) == {**expected, "sm_label": (None,)} and outs == [(None, 3)]
    assert net.infer_shape() == (None, None, None)  # the batch size is still open
    assert net.infer_shape(data=(5, 2))[1] == [(5, 3)]
    images = sym.var("data", shape=(None, 1, 28, 28))
    conv = sym.Convolution(images, kernel=(5, 5), num_filter=20, name="c")
    lenet = sym.FullyConnected(sym.flatten(sym.Pooling(conv, kernel=(2, 2), stride=(2, 2))), num_hidden=10, name="f")
    args, outs, _ = lenet.infer_shape_partial()
    assert args[1:] == [(20, 1, 5, 5), (20,), (10, 2880), (10,)] and outs == [(None, 10)]
    flat = sym.FullyConnected(sym.var("d", shape=(None, 3, None)), num_hidden=10, name="g")
    assert flat.infer_shape_partial()[0][1:] == [None, (10,)]  # 3 * an open size may be anything: not known


def test_an_open_size_does_not_learn_a_size_one_from_a_broadcast_partner():
    # broadcast_add(Z, V) with V (1, 2): Z's open size broadcasts against V's 1, so it stays open
    # (MXNet 1.9.1: Z (0, 2), output (0, 2)); it was inferred as 1, which bind then refused
    Z, V = sym.var("Z", shape=(0, 2)), sym.var("V", shape=(1, 2))
    for f in (sym.broadcast_add(Z, V), sym.broadcast_mul(V, Z), Z + V):
        args, outs, _ = f.infer_shape_partial()
        assert dict(zip(f.list_arguments(), args)) == {"Z": (None, 2), "V": (1, 2)} and outs == [(None, 2)]
        assert f.infer_shape() == (None, None, None)
        args, outs, _ = f.infer_shape(Z=(3, 2))
        assert dict(zip(f.list_arguments(), args)) == {"Z": (3, 2), "V": (1, 2)} and outs == [(3, 2)]
        with pytest.raises(
            sg.BindError,
            match=r"the shape of argument 'Z' is only partly inferred, as \(None, 2\) from the shapes given \(none\)",
        ):
            f.simple_bind(sg.cpu())
    # an open size against a known size other than 1 is that size (it is assumed not to be 1)
    assert sym.broadcast_add(Z, sym.var("W", shape=(5, 2))).infer_shape() == ([(5, 2), (5, 2)], [(5, 2)], [])


def test_bind_refuses_a_size_one_only_where_a_derived_graph_assumed_it_does_not_broadcast():
    x, y = sym.var("x", shape=(None, None)), sym.var("y", shape=(None, 3))
    f = sym.sum(x * y)
    with pytest.raises(sg.ShapeError, match=r"'y' has shape \(4, 2\) but .* declared with shape \(None, 3\)"):
        f.eval(x=np.ones((4, 2)), y=np.ones((4, 2)))
    with pytest.raises(sg.ShapeError, match=r"'x' has shape \(4, 3, 1\) but .* \(None: any size\)"):
        f.eval(x=np.ones((4, 3, 1)), y=np.ones((4, 3, 1)))
    grad = sym.grad(f, x)  # y: the sum over x's rows was dropped, assuming x has more than one row
    vals = {"x": rng.normal(size=(4, 3)), "y": rng.normal(size=(4, 3))}
    np.testing.assert_array_equal(grad.eval(**vals)[0].asnumpy(), vals["y"])
    for derived in (grad, grad * 2, sym.simplify(sym.grad(f, x, simplify=False))):
        with pytest.raises(sg.ShapeError, match=r"'x' has shape \(1, 3\), a size 1 where .* \(None, None\)") as err:
            derived.bind({"x": np.ones((1, 3)), "y": np.ones((4, 3))})
        assert "declare that size as 1" in str(err.value) and "built at" in str(err.value)
    # the graph as written holds no such assumption: bind specialises it to the real shapes, a row of 1 included
    one = {"x": rng.normal(size=(1, 3)), "y": rng.normal(size=(4, 3))}
    ex = f.bind(one, args_grad={"x": np.zeros((1, 3)), "y": np.zeros((4, 3))})
    ex.forward(is_train=True)
    ex.backward()
    np.testing.assert_allclose(ex.outputs[0].asnumpy(), (one["x"] * one["y"]).sum(), rtol=1e-12)
    np.testing.assert_allclose(ex.grad_dict["x"].asnumpy(), one["y"].sum(axis=0, keepdims=True), rtol=1e-12)


def test_mxnets_zero_batch_size_binds_any_batch_even_one_sample():
    """MXNet programs declare the batch axis 0 and predict single samples; the review found that refused."""
    net = sg.sym.FullyConnected(sg.sym.Variable("data", shape=(0, 6)), name="fc", num_hidden=3)
    net = sg.sym.SoftmaxOutput(net, name="softmax")
    params = {"fc_weight": rng.normal(size=(3, 6)), "fc_bias": rng.normal(size=3)}
    for n in (8, 1):
        x = rng.normal(size=(n, 6))
        (out,) = net.bind({"data": x, "softmax_label": np.zeros(n), **params}).forward()
        z = x @ params["fc_weight"].T + params["fc_bias"]
        np.testing.assert_allclose(out.asnumpy(), np.exp(z) / np.exp(z).sum(axis=1, keepdims=True), rtol=1e-12)


def test_a_graph_with_open_sizes_does_not_share_a_compiled_plan_with_its_undeclared_twin():
    def f(shape):
        x = sym.var("x", shape=shape)
        return sym.sum(x * 2)

    ones = {"x": np.ones((1, 3))}
    assert f(None).eval(**ones)[0].asnumpy() == 6.0  # compiled and cached first
    assert f((None, None)).eval(**ones)[0].asnumpy() == 6.0  # as written: any size binds
    np.testing.assert_array_equal(sym.grad(f(None), "x").eval(**ones)[0].asnumpy(), [[2.0, 2.0, 2.0]])
    with pytest.raises(sg.ShapeError, match="a size 1"):  # derived assuming more than one row: not shared
        sym.grad(f((None, None)), "x").eval(**ones)
    x = sym.var("x", shape=(None, None))
    written, derived = x * 2, sym.grad(sym.sum(x * x), x)  # 2*x both: one structure, one written, one derived
    assert str(written) == str(derived) == "2*x"
    np.testing.assert_array_equal(written.eval(**ones)[0].asnumpy(), 2 * ones["x"])  # compiled and cached first
    with pytest.raises(sg.ShapeError, match="a size 1"):  # the cached plan does not skip the derived graph's check
        derived.eval(**ones)


def test_open_sizes_survive_json():
    x = sym.var("x", shape=(None, 3))
    loaded = sg.sym.load_json((sym.sum(x) + 0).tojson())
    (var,) = [n for n in sg.graph.topo_order(loaded.outputs()) if n.op == "var"]
    assert var.shape is None and var.partial_shape == (None, 3)
    assert json.loads(x.tojson())["nodes"][0]["shape"] == [None, 3]


def test_simple_bind_needs_every_size():
    x = sym.var("x", shape=(None, 3))
    with pytest.raises(sg.BindError, match=r"the shape of argument 'x' is only partly inferred, as \(None, 3\)"):
        sym.sum(x).simple_bind()
    assert sym.sum(x).simple_bind(x=(2, 3)).arg_dict["x"].shape == (2, 3)


@pytest.mark.parametrize(
    ("build", "shapes", "text"),
    [
        (lambda a, b: sym.sum(sym.dot(a, b)), {"a": (4, 3), "b": (3, 2)}, "dot(ones(shape("),
        (lambda a, b: sym.sum(sym.tanh(sym.dot(a, b))), {"a": (4, 3), "b": (3, 2)}, "dot(a.T, "),
        (lambda a, b: sym.sum(sym.tanh(sym.dot(a, b))), {"a": (4, 3), "b": (3,)}, "dot(a.T, "),
        (lambda a, b: sym.sum(sym.tanh(sym.dot(a, b))), {"a": (3,), "b": (3, 2)}, "*(1 - tanh("),
        (lambda a, b: sym.sum(sym.tanh(a @ b)), {"a": (2, 4, 3), "b": (3, 2)}, " @ b.T"),
        (lambda a, b: sym.sum(sym.tanh(a @ b)), {"a": (4, 3), "b": (3,)}, "(1 - tanh(a @ b)**2)[:, None]"),
    ],
)
def test_matrix_product_gradients_with_ranks_only_are_plain_products_and_exact(build, shapes, text):
    ranked = {n: sym.var(n, shape=(None,) * len(s)) for n, s in shapes.items()}
    full = {n: sym.var(n, shape=s) for n, s in shapes.items()}
    vals = {n: rng.normal(size=s) for n, s in shapes.items()}
    f = build(*ranked.values())
    grads = sym.grad(f, list(ranked.values()))
    expected = sym.grad(build(*full.values()), list(full.values()))
    printed = " ".join(map(str, grads))
    assert "adjoint" not in printed, printed
    assert text in printed, printed
    for g, e in zip(grads, expected):
        np.testing.assert_allclose(g.eval(**vals)[0].asnumpy(), e.eval(**vals)[0].asnumpy(), rtol=1e-12, atol=1e-14)
    check_numeric_gradient(f, vals)


def _values(case: gallery.Case, names: list[str], positive: bool) -> dict[str, np.ndarray]:
    """Inputs for a gallery case: away from kinks, or with zeros and negatives (NaN and Inf placement)."""
    out = {}
    for name in names:
        shape = case.shapes[name]
        if name == "OH":
            out[name] = np.eye(shape[1])[rng.integers(0, shape[1], shape[0])]
        elif positive:
            out[name] = rng.uniform(0.5, 1.5, shape)
        else:
            out[name] = rng.choice([-1.0, 0.0, 1.5, np.inf], size=shape)
    return out


@pytest.mark.parametrize("case", gallery.CASES, ids=[c.name for c in gallery.CASES])
def test_gallery_gradients_with_ranks_only_equal_the_full_shape_ones(case):
    ranked, full = gallery.gradient(case, "rank"), gallery.gradient(case, "full")
    for positive in (True, False):
        vals = _values(case, ranked.list_arguments(), positive)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the Inf and NaN are the point here
            got, want = ranked.eval(**vals)[0].asnumpy(), full.eval(**vals)[0].asnumpy()
        assert got.shape == want.shape and got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)  # NaN and Inf in the same places


DIFFERENTIABLE = [c for c in gallery.CASES if "stop_gradient" not in c.name]  # stop_gradient: not the derivative


@pytest.mark.parametrize("case", DIFFERENTIABLE, ids=[c.name for c in DIFFERENTIABLE])
def test_gallery_functions_with_ranks_only_match_finite_differences(case):
    made: dict = {}

    def variable(name):
        return made.setdefault(name, sym.var(name, shape=gallery.declared_shape(case, name, "rank")))

    function, wrt = case.build(variable)
    vals = _values(case, function.list_arguments(), True)
    check_numeric_gradient(function, vals, grad_nodes=[wrt.name])


def test_summing_a_gradient_back_with_ranks_only_names_the_axes_and_keeps_values():
    def build(shape_of):
        x, y, b = (sym.var(n, shape=shape_of(n)) for n in ("x", "y", "b"))
        return sym.sum(sym.sin(x * y + b)), [x, y, b]

    full_shapes = {"x": (4, 1), "y": (4, 3), "b": (3,)}
    ranked = {"x": (None, 1), "y": (None, None), "b": (None,)}
    f, wrt = build(ranked.get)
    grads = sym.grad(f, wrt)
    assert str(grads[0]) == "sum(cos(x*y + b)*y, axis=1, keepdims=True)"
    assert str(grads[2]) == "sum(cos(x*y + b), axis=0)"
    assert "sum_like" not in str(grads[1])
    expected = sym.grad(build(full_shapes.get)[0], [n.name for n in wrt])
    vals = {n: rng.choice([-1.0, 0.5, np.inf, np.nan], size=s) for n, s in full_shapes.items()}
    for g, e in zip(grads, expected):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got, want = g.eval(**vals)[0].asnumpy(), e.eval(**vals)[0].asnumpy()
        assert np.isnan(got).any()
        np.testing.assert_array_equal(got, want)  # NaN and Inf in the same places


def test_indexing_keeps_what_is_known_and_never_takes_an_index_arrays_size_for_an_open_one():
    z = sym.var("z", shape=(None, None))
    assert z[:, np.array([0, 0])].partial_shape == (None, 2)  # was (2, 2): the index's size taken for z's
    assert z[np.array([[1], [0]]), :].partial_shape == (2, 1, None)
    assert z[0, None, :].partial_shape == (1, None)
    zv = np.arange(12.0).reshape(4, 3)
    y = sym.sum(sym.sin(z[:, np.array([0, 0])]) ** 2)
    check_numeric_gradient(y, {"z": zv})
    np.testing.assert_allclose(sym.grad(y, z).eval(z=zv)[0].asnumpy()[:, 0], 2 * np.sin(2 * zv[:, 0]), rtol=1e-12)


def test_the_indexing_shape_rule_is_numpys_without_making_an_array_of_the_shape():
    """x[index]'s shape is worked out from x's shape (open sizes are probed with sizes too big to
    allocate); 20,000 random NumPy indices over small shapes give NumPy's shape or its IndexError."""
    from symgrad.ops.indexing import _getitem_shape

    pick = np.random.default_rng(5)

    def item(size):
        r = pick.random()
        if r < 0.2:
            return int(pick.integers(-size - 1, size + 1))
        if r < 0.4:
            return slice(*(pick.choice([None, -3, 0, 1, 2, 5, 9]) for _ in range(2)), pick.choice([None, 1, 2, -1, 3]))
        if r < 0.5:
            return None
        if r < 0.55:
            return Ellipsis
        shape = [(2,), (3,), (1,), (2, 1), (1, 3), (0,), ()][pick.integers(7)]
        return pick.integers(-size - 1, size + 1, size=shape).astype(np.intp)

    for _ in range(20_000):
        x = tuple(int(d) for d in pick.integers(0, 5, size=pick.integers(0, 4)))
        index = tuple(item(x[pick.integers(len(x))] if x else 1) for _ in range(pick.integers(0, 5)))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                expected = np.empty(x, np.int8)[index].shape
            except (IndexError, ValueError, DeprecationWarning):
                expected = None
        try:
            got = _getitem_shape(x, index)
        except sg.ShapeError:
            got = None
        assert got == expected, (x, index)
    assert _getitem_shape((4_324_320_000,) * 3, (slice(None), np.array([0, 1]))) == (4_324_320_000, 2, 4_324_320_000)


def test_simple_bind_names_the_argument_it_cannot_infer_and_the_shapes_given():
    y = sym.dot(sym.var("x"), sym.var("w")) + sym.var("b")
    with pytest.raises(sg.BindError, match=r"'w' cannot be inferred from the shapes given \(x=\(2, 3\), b=\(4,\)\)"):
        y.simple_bind(x=(2, 3), b=(4,))
