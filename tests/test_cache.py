"""The one plan cache: constants and index arrays are plan inputs, entries are bounded (LRU)."""

import tracemalloc

import numpy as np
import pytest

import symgrad as sg
from symgrad import autograd, nd, sym
from symgrad.testing import check_numeric_gradient


@pytest.fixture
def small_cache():
    """A cache of 3 plans for the test, then the default limits back."""
    before = sg.set_cache_limit(entries=3)
    try:
        yield
    finally:
        sg.set_cache_limit(entries=before.maxsize, nbytes=before.maxbytes)


def misses_of(fn) -> int:
    before = sg.cache_info().misses
    fn()
    return sg.cache_info().misses - before


def test_an_eager_loop_whose_scalar_changes_compiles_twice_and_gets_every_gradient_right():
    rng = np.random.default_rng(0)
    xv, wv = rng.normal(size=(4, 3)), rng.normal(size=(3, 2))
    x, w = nd.array(xv, dtype="float64"), nd.array(wv, dtype="float64")
    w.attach_grad()

    def loop():
        for i in range(20):
            scale = 1 + 0.25 * i
            with autograd.record():
                loss = (nd.dot(x, w) * scale + scale**2 * w.sum()).sum()
            loss.backward()
            expected = scale * xv.sum(axis=0)[:, None] + scale**2 * xv.shape[0] * 2
            np.testing.assert_allclose(w.grad.asnumpy(), np.broadcast_to(expected, (3, 2)), rtol=1e-12)

    assert misses_of(loop) == 2  # specialised to the first scale, then one plan taking it as an input


def test_a_changing_index_array_is_an_input_of_one_backward_plan():
    rng = np.random.default_rng(1)
    logits = nd.array(rng.normal(size=(6, 4)), dtype="float64")
    logits.attach_grad()

    def loop():
        for _ in range(10):
            y = rng.integers(0, 4, 6)
            with autograd.record():
                loss = -nd.log(nd.softmax(logits)[np.arange(6), y]).sum()
            loss.backward()
            p = np.exp(logits.asnumpy())
            p /= p.sum(axis=1, keepdims=True)
            np.testing.assert_allclose(logits.grad.asnumpy(), p - np.eye(4)[y], rtol=1e-12, atol=1e-15)

    assert misses_of(loop) == 1  # index arrays are inputs from the start: one plan


def test_indexing_by_arrays_has_numpy_values_and_a_summing_gradient_for_repeats():
    x = nd.array(np.arange(12.0).reshape(3, 4), dtype="float64")
    x.attach_grad()
    index = (np.array([0, 2, 2]), np.array([True, True, False, True]))
    with autograd.record():
        y = x[[0, 2, 2], :, None][..., 0] * 2
        z = x[np.array([0, 2, 2])][:, np.array([1, 3])]
        loss = y.sum() + z.sum()
    np.testing.assert_array_equal(z.asnumpy(), np.arange(12.0).reshape(3, 4)[[0, 2, 2]][:, [1, 3]])
    loss.backward()
    expected = np.zeros((3, 4))
    np.add.at(expected, [0, 2, 2], 2.0)
    np.add.at(expected, (np.array([[0], [2], [2]]), np.array([1, 3])), 1.0)
    np.testing.assert_array_equal(x.grad.asnumpy(), expected)
    with pytest.raises(sg.ShapeError, match="boolean masks"):
        x[np.ones((3, 4), bool)]
    assert index  # the mixed index above is a plain NumPy index too
    np.testing.assert_array_equal(x[index].asnumpy(), np.arange(12.0).reshape(3, 4)[index])


def test_getitem_arrays_and_its_gradient_match_finite_differences_and_round_trip_through_json():
    x = sym.var("x", shape=(3, 4))
    y = sym.getitem_arrays(sym.sin(x), np.array([2, 0, 2]), index=(("input", 0), ("slice", 1, None, None)))
    xv = np.random.default_rng(2).normal(size=(3, 4))
    check_numeric_gradient(sym.sum(y * y), {"x": xv})
    again = sym.load_json(y.tojson())
    np.testing.assert_array_equal(again.eval(x=xv)[0], np.sin(xv)[[2, 0, 2], 1:])


def test_a_symbol_indexed_by_a_new_array_each_step_binds_to_one_plan_and_prints_its_index():
    rng = np.random.default_rng(3)
    xv = rng.normal(size=(5, 3))
    x = sym.var("x")

    def loop():
        for _ in range(8):
            rows = rng.integers(0, 5, 4)  # repeats add up in the gradient
            loss = sym.sum(sym.sin(x[rows, 1:]) ** 2)
            ex = loss.bind({"x": xv}, grad_req="write")
            (out,) = ex.forward(is_train=True)
            ex.backward()
            np.testing.assert_allclose(out, np.sum(np.sin(xv[rows, 1:]) ** 2), rtol=1e-13)
            expected = np.zeros_like(xv)
            np.add.at(expected, (rows, slice(1, None)), np.sin(2 * xv[rows, 1:]))
            np.testing.assert_allclose(ex.grad_dict["x"].asnumpy(), expected, rtol=1e-13)

    assert misses_of(loop) == 2  # specialised to the first index, then one plan taking it as an input
    y = sym.sum(x[np.array([0, 2, 2])] ** 2)
    assert str(y) == "sum(x[[0, 2, 2]]**2)"
    assert str(sym.grad(y, x)) == "scatter_like(2*x[[0, 2, 2]], x, index=[[0, 2, 2]])"
    assert r"x\left[0, 2, 2\right]" in sym.grad(y, x)._repr_latex_()
    check_numeric_gradient(y, {"x": xv[:, 0]})


def test_an_index_array_that_does_not_fit_is_named_by_its_shape_not_by_the_zeros_probing_it():
    # the shape rule sees index arrays' shapes only; its message showed the zeros it probed with,
    # (array([0]), array([0])), for z[[2], [1]] (x[...] itself checks the arrays it is given first)
    z = sym.var("z", shape=(3,))
    both = (("input", 0), ("input", 1))
    with pytest.raises(sg.ShapeError, match=r"index \(<index array of shape \(1,\)>, <index array of shape \(1,\)>\)"):
        sym.getitem_arrays(z, np.array([2]), np.array([1]), index=both)
    with pytest.raises(sg.ShapeError, match=r"indexing 'z': index \(array\(\[2\]\), array\(\[1\]\)\) does not fit"):
        z[np.array([2]), np.array([1])]
    zz = sym.var("zz", shape=(3, 2))
    with pytest.raises(
        sg.ShapeError, match=r"\(<index array of shape \(2,\)>, slice\(1, None, None\), <index array of shape"
    ):
        sym.getitem_arrays(
            zz, np.array([2, 1]), np.array([1, 0, 1]), index=(("input", 0), ("slice", 1, None, None), ("input", 1))
        )
    with pytest.raises(sg.ShapeError, match=r"index \(0, 5\) does not fit shape \(3, 2\): out of bounds for axis 1"):
        zz[0, 5]


def bind_and_run(symbol, xv):
    ex = symbol.bind({"x": xv}, grad_req="write")
    (out,) = ex.forward(is_train=True)
    ex.backward()
    return out, ex.grad_dict["x"]


def test_binds_with_a_changing_constant_reuse_one_plan_with_the_specialised_plans_values():
    x = sym.var("x")
    xv = np.array([-1.0, -0.25, 0.0, 0.5, 2.0], dtype=np.float32)
    build = lambda c: x * c + sym.log(sym.abs(x * c) + 1) + x ** (c + 1)  # noqa: E731
    constants = (2.0, 3.0, -0.0, 0.5, float("nan"), -1.5)
    results = []
    assert misses_of(lambda: results.extend(bind_and_run(build(c), xv) for c in constants)) == 2
    for c, (out, grad) in zip(constants, results):
        assert out.dtype == np.float32 and grad.dtype == np.float32
        sg.clear_cache()  # the plan specialised to c is the reference
        ref_out, ref_grad = bind_and_run(build(c), xv)
        np.testing.assert_allclose(out, ref_out, rtol=1e-6, equal_nan=True)
        np.testing.assert_allclose(grad, ref_grad, rtol=1e-6, equal_nan=True)


def test_a_weak_scalar_input_keeps_numpy_promotion_for_integer_arrays_too():
    x = sym.var("x")
    for c in (3, 4):
        (out,) = (x * c + x / c).bind({"x": np.arange(4, dtype=np.int32)}, grad_req="null").forward()
        expected = np.arange(4, dtype=np.int32) * c + np.arange(4, dtype=np.int32) / c
        assert out.dtype == expected.dtype
        np.testing.assert_array_equal(out, expected)


def test_a_constant_array_that_changes_is_an_input_too():
    x = sym.var("x", shape=(3,))
    for k in range(4):
        c = np.arange(3.0) + k
        ex = sym.sum(x * c).bind({"x": np.ones(3)})
        ex.forward(is_train=True)
        ex.backward()
        np.testing.assert_array_equal(ex.grad_dict["x"], c)


def test_the_cache_keeps_the_most_recently_used_plans_within_its_limits(small_cache):
    x = sym.var("x")
    graphs = [sym.sin(x), sym.cos(x), sym.tanh(x), sym.exp(x)]
    for g in graphs:
        g.eval(x=np.ones(2))
    info = sg.cache_info()
    assert info.currsize == 3 and info.maxsize == 3 and info.currbytes > 0
    assert misses_of(lambda: sym.exp(x).eval(x=np.ones(2))) == 0  # most recent: kept
    assert misses_of(lambda: sym.sin(x).eval(x=np.ones(2))) == 1  # least recent: evicted
    sg.set_cache_limit(nbytes=0)
    assert sg.cache_info().currsize == 0
    sg.clear_cache()


def test_set_cache_limit_refuses_what_is_not_a_size():
    for bad in (-1, 2.5, True, "10"):
        with pytest.raises(sg.SymgradError, match="non-negative int"):
            sg.set_cache_limit(entries=bad)


def test_ten_thousand_binds_with_changing_constants_stay_within_the_cache_limit():
    x = sym.var("x")
    xv = np.ones(8)
    (x * 0.5).eval(x=xv)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(10_000):
            (sym.tanh(x) * (1 + 1e-4 * i)).eval(x=xv)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 2 * 2**20, grown


def test_an_index_array_that_does_not_fit_a_declared_shape_is_refused_where_the_graph_is_built():
    z = sym.var("z", shape=(3,))
    with pytest.raises(sg.ShapeError, match=r"indexing 'z': index \(array\(\[3\]\),\) does not fit shape \(3,\)"):
        z[np.array([3])]
    assert str(z[np.array([2, -3])]) == "z[[2, -3]]"
    assert sym.var("u")[np.array([3])].shape is None  # a shape left to bind is checked at bind
