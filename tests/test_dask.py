"""The same compiled graph on Dask arrays: lazy outputs and gradients equal NumPy's."""

import numpy as np
import pytest

from symgrad import BindError, NameManager, sym

da = pytest.importorskip("dask.array")
sgdask = pytest.importorskip("symgrad.dask")
rng = np.random.default_rng(0)


def numpy_and_dask(s, arrays, chunks, grad_req="write"):
    """(outputs, grads) from binding NumPy arrays and from binding their Dask versions."""
    ex = s.bind(arrays, grad_req=grad_req)
    outs = [o.copy() for o in ex.forward(is_train=True)]
    ex.backward()
    grads = {k: v.copy() for k, v in ex.grad_dict.items()}
    lazy = {k: da.from_array(v, chunks=chunks.get(k, v.shape)) for k, v in arrays.items()}
    dex = s.bind(lazy, grad_req=grad_req)
    douts = dex.forward(is_train=True)
    dex.backward()
    assert all(type(o).__module__.startswith("dask") for o in douts)
    return (
        outs,
        grads,
        [np.asarray(o.compute()) for o in douts],
        {k: np.asarray(v.compute()) for k, v in dex.grad_dict.items()},
    )


def tutorial_graphs():
    x, y, w = sym.var("x"), sym.var("y"), sym.var("w")
    return [
        (2 * sym.dot(x, x), {"x": np.arange(4.0)}, {"x": (2,)}),
        ((x + 2) ** 2 + 3, {"x": np.array([2.0, 5.0])}, {"x": (1,)}),
        (
            sym.mean(y - sym.matmul(x, w)),
            {"x": rng.normal(size=(10, 20)), "y": rng.normal(size=(10, 5)), "w": rng.normal(size=(20, 5))},
            {"x": (5, 20), "y": (5, 5)},
        ),
    ]


@pytest.mark.parametrize("case", range(3))
def test_tutorial_graphs_on_dask_equal_numpy(case):
    s, arrays, chunks = tutorial_graphs()[case]
    outs, grads, douts, dgrads = numpy_and_dask(s, arrays, chunks)
    for a, b in zip(outs, douts):
        np.testing.assert_allclose(b, a, rtol=1e-12)
    for k in grads:
        np.testing.assert_allclose(dgrads[k], grads[k], rtol=1e-12)


def mlp_loss():
    x, labels = sym.var("x"), sym.var("labels")
    w1, b1, w2, b2 = sym.var("w1"), sym.var("b1"), sym.var("w2"), sym.var("b2")
    hidden = sym.tanh(sym.dot(x, w1) + b1)
    logits = sym.dot(hidden, w2) + b2
    return -sym.mean(sym.sum(labels * sym.log_softmax(logits), axis=1))


def mlp_arrays(n=64):
    return {
        "x": rng.normal(size=(n, 12)),
        "labels": np.eye(3)[rng.integers(0, 3, n)],
        "w1": rng.normal(size=(12, 16)) * 0.3,
        "b1": np.zeros(16),
        "w2": rng.normal(size=(16, 3)) * 0.3,
        "b2": np.zeros(3),
    }


def test_mlp_outputs_and_gradients_on_dask_equal_numpy():
    outs, grads, douts, dgrads = numpy_and_dask(mlp_loss(), mlp_arrays(), {"x": (16, 12), "labels": (16, 3)})
    np.testing.assert_allclose(douts[0], outs[0], rtol=1e-12)
    for k in grads:
        np.testing.assert_allclose(dgrads[k], grads[k], rtol=1e-10, atol=1e-14)


def test_op_without_dask_form_fails_at_bind_naming_it():
    with NameManager():
        x = sym.var("x")
        s = sym.sum(x[np.array([0, 0, 1])] ** 2)
    with pytest.raises(BindError, match="scatter_arrays.*no Dask form"):
        s.bind({"x": da.from_array(np.arange(3.0), chunks=2)})


def test_grad_over_threads_matches_numpy_on_concatenated_data():
    arrays = mlp_arrays(200)
    params = {k: arrays[k] for k in ("w1", "b1", "w2", "b2")}
    data = {k: arrays[k] for k in ("x", "labels")}
    ex = mlp_loss().bind(arrays, grad_req={k: "write" for k in params} | {"x": "null", "labels": "null"})
    (loss,) = ex.forward(is_train=True)
    ex.backward()
    got_loss, got = sgdask.grad_over(mlp_loss(), list(params), data=data, params=params, chunks=48)
    assert got_loss == pytest.approx(float(loss), rel=1e-12)
    for k in params:
        np.testing.assert_allclose(got[k], ex.grad_dict[k], rtol=1e-10, atol=1e-14)


def test_grad_over_local_cluster_with_two_worker_processes():
    distributed = pytest.importorskip("distributed")
    x, y, w = sym.var("x"), sym.var("y"), sym.var("w")
    loss = sym.mean((sym.dot(x, w) - y) ** 2)
    xs, ys, ws = rng.normal(size=(400, 6)), rng.normal(size=(400, 1)), rng.normal(size=(6, 1))
    expected = 2 * xs.T @ (xs @ ws - ys) / 400
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        got_loss, got = sgdask.grad_over(
            loss, "w", data={"x": xs, "y": ys}, params={"w": ws}, chunks=100, client=client
        )
    assert got_loss == pytest.approx(np.mean((xs @ ws - ys) ** 2), rel=1e-12)
    np.testing.assert_allclose(got["w"], expected, rtol=1e-12)
