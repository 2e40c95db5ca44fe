"""The gradients of softmax cross-entropy losses print short (a row sum of a fill is c times its size, the
row sum of a pick_scatter of a fill c is c) and keep their values, NaN/Inf/-0.0 and out-of-range labels
included, for declared, rank-only and undeclared shapes."""

import numpy as np
import pytest

from symgrad import sym
from symgrad.ops import shape as shp
from symgrad.testing import check_numeric_gradient
from tests.test_plumbing_rules import SPECIAL, run_as_built

SHAPES = {"declared": ((4, 3), (4,)), "rank-only": ((None, None), (None,)), "undeclared": (None, None)}


def variables(kind):
    x_shape, label_shape = SHAPES[kind]
    return sym.var("x", shape=x_shape), sym.var("label", shape=label_shape)


def losses(x, label):
    """(name, loss) of the losses MXNet and d2l users derive most (the stability rewrite makes
    sum_log_of_softmax the first and mean_log_pick_softmax mean_pick_log_softmax: STABLE)."""
    return [
        ("sum_log_softmax", sym.sum(sym.log_softmax(x))),
        ("sum_log_of_softmax", sym.sum(sym.log(sym.softmax(x)))),
        ("pick_log_softmax", -sym.sum(sym.pick(sym.log_softmax(x), label, axis=-1))),
        ("pick_log_softmax_wrap", -sym.sum(sym.pick(sym.log_softmax(x), label, axis=-1, mode="wrap"))),
        ("pick_log_softmax_axis1", -sym.sum(sym.pick(sym.log_softmax(x), label, axis=1))),
        ("mean_pick_log_softmax", -sym.mean(sym.pick(sym.log_softmax(x), label, axis=-1))),
        ("mean_log_pick_softmax", -sym.mean(sym.log(sym.pick(sym.softmax(x), label)))),
        ("one_hot", -sym.sum(sym.one_hot(label, depth=3) * sym.log_softmax(x))),
    ]


STABLE = {"sum_log_of_softmax": "sum_log_softmax", "mean_log_pick_softmax": "mean_pick_log_softmax"}

PRINTED = {
    "declared": {
        "sum_log_softmax": "1 - 3*exp(log_softmax(x))",
        "sum_log_of_softmax": "1 - 3*exp(log_softmax(x))",
        "pick_log_softmax": "pick_scatter(full((4,), -1), t0, label) + exp(t0)\n where\n  t0 = log_softmax(x)",
        "mean_pick_log_softmax": "pick_scatter(full((4,), -0.25), t0, label) + 0.25*exp(t0)\n where\n"
        "  t0 = log_softmax(x)",
        "mean_log_pick_softmax": "pick_scatter(full((4,), -0.25), t0, label) + 0.25*exp(t0)\n where\n"
        "  t0 = log_softmax(x)",
    },
    "rank-only": {
        "sum_log_softmax": "1 - exp(log_softmax(x))*size(x, axis=-1)",
        "pick_log_softmax": "pick_scatter(full(shape(pick(t0, label)), -1), t0, label) + exp(t0)\n where\n"
        "  t0 = log_softmax(x)",
    },
    "undeclared": {
        "sum_log_softmax": "1 - exp(log_softmax(x))*size(x, axis=-1)",
        "sum_log_of_softmax": "1 - exp(log_softmax(x))*size(x, axis=-1)",
        "pick_log_softmax": "pick_scatter(full(shape(pick(t0, label)), -1), t0, label) + exp(t0)\n where\n"
        "  t0 = log_softmax(x)",
    },
}


@pytest.mark.parametrize("kind", list(SHAPES))
def test_softmax_cross_entropy_gradients_print_short(kind):
    x, label = variables(kind)
    for name, loss in losses(x, label):
        if name in PRINTED[kind]:
            assert str(sym.grad(loss, x)) == PRINTED[kind][name], name


def data(seed, dtype):
    """Logits with NaN, +-Inf and both zeros among finite values; labels in range, negative and too large."""
    rng = np.random.default_rng(seed)
    logits = rng.choice(SPECIAL, size=(4, 3)) if seed % 2 else rng.normal(0, 3, size=(4, 3))
    labels = rng.choice([0.0, 1.0, 2.0, -1.0, 3.0, 7.0, 2.9], size=(4,))
    return {"x": logits.astype(dtype), "label": labels.astype(dtype)}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", list(SHAPES))
def test_softmax_cross_entropy_gradients_keep_their_values(kind, dtype):
    x, label = variables(kind)
    written = dict(losses(x, label))
    for name, loss in written.items():
        short, plain = sym.grad(loss, x), sym.grad(written[STABLE.get(name, name)], x, simplify=False)
        for seed in range(12):
            args = data(seed, dtype)
            want, got = run_as_built(plain, args), run_as_built(short, args)
            assert got.shape == want.shape == (4, 3) and got.dtype == want.dtype == dtype, name
            tol = 1e-6 if dtype == np.float32 else 1e-14
            np.testing.assert_allclose(got, want, rtol=tol, atol=tol, equal_nan=True, err_msg=name)
            numbers = ~np.isnan(want)
            if name == "one_hot":  # main's simplifier gives +0.0 where an out-of-range label's row is -0.0
                numbers &= want != 0
            assert np.array_equal(np.signbit(got)[numbers], np.signbit(want)[numbers]), (name, got, want)


def numpy_softmax(logits):
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("mode", ["clip", "wrap"])
@pytest.mark.parametrize("kind", list(SHAPES))
def test_pick_cross_entropy_gradient_is_softmax_minus_one_hot(kind, mode):
    x, label = variables(kind)
    grad = sym.grad(-sym.sum(sym.pick(sym.log_softmax(x), label, axis=-1, mode=mode)), x)
    for seed in range(0, 12, 2):  # finite logits
        args = data(seed, np.float64)
        index = args["label"].astype(np.int64)
        index = np.clip(index, 0, 2) if mode == "clip" else np.mod(index, 3)
        want = numpy_softmax(args["x"]) - np.eye(3)[index]
        np.testing.assert_allclose(run_as_built(grad, args), want, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(grad.eval(**args)[0], want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind", list(SHAPES))
def test_softmax_cross_entropy_gradients_match_finite_differences(kind):
    x, label = variables(kind)
    for _, loss in losses(x, label):
        args = {"x": np.random.default_rng(3).normal(0, 2, (4, 3)), "label": np.array([0.0, 2.0, 5.0, -1.0])}
        args = {k: v for k, v in args.items() if k in loss.list_arguments()}
        check_numeric_gradient(loss, args, grad_nodes=["x"], rtol=1e-4)
        check_numeric_gradient(sym.grad(loss, x), args, grad_nodes=["x"], rtol=1e-3)  # second order


def test_a_row_sum_of_ones_is_the_row_size_only_where_float_sums_are_exact():
    ones32 = np.array(1, np.float32)
    assert str(sym.simplify(sym.sum(shp.broadcast_to(ones32, shape=(2**24, 3)), axis=0))) == "full((3,), 16777216)"
    summed = sym.simplify(sym.sum(shp.broadcast_to(ones32, shape=(2**24 + 1, 3)), axis=0))
    assert "sum(" in str(summed)  # 2**24 + 1 is not a float32: the float32 sum of that many ones rounds
    tenth = sym.simplify(sym.sum(shp.broadcast_to(np.array(0.1, np.float32), shape=(2**20, 3)), axis=0))
    assert "sum(" in str(tenth)  # 0.1 + 0.1 + ... rounds at each step, 0.1*n once (too big to fold)
    quarter = sym.simplify(sym.sum(shp.broadcast_to(np.array(-0.25, np.float32), shape=(2**20, 3)), axis=0))
    assert str(quarter) == "full((3,), -262144)"
    assert quarter.dtype == np.float32 and quarter.shape == (3,)


def test_a_row_sum_of_a_pick_scatter_is_its_fill_but_not_a_negative_zero():
    x, label = sym.var("x", shape=(4, 3), dtype="float32"), sym.var("label", shape=(4,), dtype="float32")
    fill = shp.broadcast_to(np.array(-2.0, np.float32), shape=(4,))
    row_sum = sym.simplify(sym.sum(sym.pick_scatter(fill, x, label), axis=-1, keepdims=True))
    assert str(row_sum) == "full((4, 1), -2)" and row_sum.dtype == np.float32
    other_axis = sym.simplify(sym.sum(sym.pick_scatter(shp.broadcast_to(-2.0, shape=(3,)), x, label, axis=0), axis=-1))
    assert "pick_scatter" in str(other_axis)  # along another axis than pick's: no single entry per row
    zero = shp.broadcast_to(np.array(-0.0), shape=(4,))
    kept = sym.simplify(sym.sum(sym.pick_scatter(zero, x, label), axis=-1, keepdims=True))
    assert "pick_scatter" in str(kept)  # -0.0 among +0.0 zeros sums to +0.0
    value = kept.eval(x=np.ones((4, 3), np.float32), label=np.zeros(4, np.float32))[0]
    assert not np.signbit(value).any()


def test_log_of_a_picked_softmax_is_the_picked_log_softmax():
    x, label = sym.var("x", shape=(4, 3)), sym.var("label", shape=(4,))
    loss = -sym.mean(sym.log(sym.pick(sym.softmax(x), label, mode="wrap")))
    assert str(sym.simplify(loss)) == "-mean(pick(log_softmax(x), label, mode=wrap))"
    args = {"x": np.array([[800.0, 0.0, -800.0]] * 4), "label": np.array([0.0, 1.0, 2.0, 5.0])}
    value = sym.simplify(loss).eval(**args)[0]
    assert value == (0.0 + 800.0 + 1600.0 + 1600.0) / 4  # log(softmax) is -inf at 2 and at 5 % 3 = 2
    with np.errstate(divide="ignore"):
        naive = -np.log(numpy_softmax(args["x"])[np.arange(4), [0, 1, 2, 2]]).mean()
    assert naive == np.inf  # softmax underflows to 0 at -800 against 800
