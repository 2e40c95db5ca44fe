"""MXNet 1.x and d2l training programs, as users write them, run for hundreds of steps.

A small graph's executor switches to generated forward/backward closures after
CODEGEN_AFTER_CALLS calls of forward(is_train=True) (symgrad/trainstep.py); these
programs cross that switch with labels, data and constants that change every step,
and their trajectories are checked step for step against NumPy reimplementations
(float64, from the same float32 start). Each program was also run against MXNet 1.9.1
from the same start and data: the largest relative difference of weights over all
steps is noted beside it (MXNet is not a test dependency).
"""

import tracemalloc

import numpy as np

import symgrad as mx
from symgrad import autograd, nd
from symgrad.executor import CODEGEN_AFTER_CALLS

STEPS = 3 * CODEGEN_AFTER_CALLS
RTOL, ATOL = 2e-5, 1e-6  # float32 against float64 over hundreds of steps


def start(ex, skip, seed=1):
    """Uniform(-0.3, 0.3) float32 weights, written into the executor's arrays; a float64 copy."""
    rng = np.random.default_rng(seed)
    params = {}
    for name in sorted(ex.arg_dict):
        if name not in skip:
            ex.arg_dict[name][:] = rng.uniform(-0.3, 0.3, ex.arg_dict[name].shape).astype(np.float32)
            params[name] = ex.arg_dict[name].asnumpy().astype(np.float64)
    return params


def assert_params(ex, params, step):
    for name, value in params.items():
        np.testing.assert_allclose(ex.arg_dict[name].asnumpy(), value, rtol=RTOL, atol=ATOL, err_msg=f"{name} {step}")


def switched(ex):
    """Whether the executor runs its generated train step (trainstep.attach gave it its own forward)."""
    return "forward" in vars(ex)


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def mlp_softmax_grads(p, x, y, act):
    """The gradients of MXNet's SoftmaxOutput (p - onehot, normalization 'null') through a 2-layer MLP."""
    h = act(x @ p["fc1_weight"].T + p["fc1_bias"])
    prob = softmax(h @ p["fc2_weight"].T + p["fc2_bias"])
    dz = prob - np.eye(prob.shape[1])[y.astype(int)]
    dh = dz @ p["fc2_weight"]
    dh = dh * (h > 0) if act is relu else dh * (1 - h * h)
    grads = {"fc2_weight": dz.T @ h, "fc2_bias": dz.sum(0), "fc1_weight": dh.T @ x, "fc1_bias": dh.sum(0)}
    return prob, grads


def relu(a):
    return np.maximum(a, 0)


def mlp_symbol(hidden, classes, act_type):
    data, label = mx.sym.var("data"), mx.sym.var("softmax_label")
    h = mx.sym.Activation(mx.sym.FullyConnected(data, name="fc1", num_hidden=hidden), act_type=act_type)
    return mx.sym.SoftmaxOutput(mx.sym.FullyConnected(h, name="fc2", num_hidden=classes), label, name="softmax")


def test_mxnet_s_low_level_mlp_loop_follows_numpy_across_the_switch():
    """MXNet's tutorial loop: batches copied into arg_dict, forward, backward, SGD on grad_dict.
    Against MXNet 1.9.1 over 300 steps: weights within 2.8e-7, losses within 1.1e-6 (relative)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(512, 20)).astype(np.float32)
    Y = (X @ rng.normal(size=(20, 3))).argmax(axis=1).astype(np.float32)
    ex = mlp_symbol(32, 3, "relu").simple_bind(mx.cpu(), data=(64, 20), softmax_label=(64,))
    p = start(ex, ("data", "softmax_label"))
    for step in range(STEPS):
        x, y = X[step * 64 % 512 :][:64], Y[step * 64 % 512 :][:64]
        ex.arg_dict["data"][:] = x
        ex.arg_dict["softmax_label"][:] = y
        ex.forward(is_train=True)
        ex.backward()
        for name in p:
            ex.arg_dict[name][:] -= 0.5 / 64 * ex.grad_dict[name]
        prob, grads = mlp_softmax_grads(p, x.astype(np.float64), y, relu)
        np.testing.assert_allclose(ex.outputs[0].asnumpy(), prob, rtol=1e-4, atol=1e-6, err_msg=str(step))
        p = {n: v - 0.5 / 64 * grads[n] for n, v in p.items()}
        assert_params(ex, p, step)
    assert switched(ex)


def test_a_regression_fed_through_forward_s_keywords_follows_numpy_across_the_switch():
    """d2l's linear regression as an executor: nd arrays passed to forward(data=..., label=...),
    LinearRegressionOutput's gradient (pred - label). Against MXNet 1.9.1: weights within 1.6e-7."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 5)).astype(np.float32)
    Y = (X @ [2, -3.4, 1, 0.5, -1] + 4.2 + 0.01 * rng.normal(size=1000)).astype(np.float32).reshape(-1, 1)
    data, label = mx.sym.var("data"), mx.sym.var("lin_label")
    out = mx.sym.LinearRegressionOutput(mx.sym.FullyConnected(data, num_hidden=1, name="fc"), label, name="lin")
    ex = out.simple_bind(mx.cpu(), data=(10, 5), lin_label=(10, 1))
    p = start(ex, ("data", "lin_label"))
    for step in range(STEPS):
        x, y = X[step * 10 % 1000 :][:10], Y[step * 10 % 1000 :][:10]
        ex.forward(is_train=True, data=mx.nd.array(x), lin_label=mx.nd.array(y))
        ex.backward()
        for name in p:
            ex.arg_dict[name][:] = ex.arg_dict[name] - 0.03 * ex.grad_dict[name] / 10
        pred = x @ p["fc_weight"].T + p["fc_bias"]
        np.testing.assert_allclose(ex.outputs[0].asnumpy(), pred, rtol=1e-4, atol=1e-5, err_msg=str(step))
        d = pred - y
        p = {"fc_weight": p["fc_weight"] - 0.003 * d.T @ x, "fc_bias": p["fc_bias"] - 0.003 * d.sum(0)}
        assert_params(ex, p, step)
    assert switched(ex)
    np.testing.assert_allclose(p["fc_weight"].ravel(), [2, -3.4, 1, 0.5, -1], atol=2e-3)


def test_gradients_added_over_four_batches_and_zeroed_follow_numpy_across_the_switch():
    """grad_req='add' with the gradient arrays zeroed after each update every 4 steps: the
    arrays, read every step, hold the running sums of LinearRegressionOutput's (pred - label) / 2.
    Against MXNet 1.9.1: sums within 2e-7."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(480, 6)).astype(np.float32)
    Y = (X @ rng.normal(size=(6, 2))).astype(np.float32)
    data, label = mx.sym.var("data"), mx.sym.var("label")
    net = mx.sym.LinearRegressionOutput(mx.sym.FullyConnected(data, num_hidden=2, name="fc"), label, name="lro")
    reqs = {"data": "null", "label": "null", "fc_weight": "add", "fc_bias": "add"}
    ex = net.simple_bind(mx.cpu(), grad_req=reqs, data=(12, 6), label=(12, 2))
    p = start(ex, ("data", "label"))
    sums = {n: np.zeros_like(v) for n, v in p.items()}
    for name in p:
        ex.grad_dict[name][:] = 0
    for step in range(STEPS):
        x, y = X[step * 12 % 480 :][:12], Y[step * 12 % 480 :][:12]
        ex.arg_dict["data"][:] = x
        ex.arg_dict["label"][:] = y
        ex.forward(is_train=True)
        ex.backward()
        d = (x @ p["fc_weight"].T + p["fc_bias"] - y) / 2  # MXNet divides by the outputs per example
        sums = {"fc_weight": sums["fc_weight"] + d.T @ x, "fc_bias": sums["fc_bias"] + d.sum(0)}
        for name in p:
            np.testing.assert_allclose(ex.grad_dict[name].asnumpy(), sums[name], rtol=1e-4, atol=1e-4)
        if step % 4 == 3:
            for name in p:
                ex.arg_dict[name][:] -= 0.01 / 48 * ex.grad_dict[name]
                ex.grad_dict[name][:] = 0
            p = {n: v - 0.01 / 48 * sums[n] for n, v in p.items()}
            sums = {n: np.zeros_like(v) for n, v in p.items()}
        assert_params(ex, p, step)
    assert switched(ex)


def test_arrays_the_user_bound_and_updates_follow_numpy_with_a_constant_changing_every_step():
    """bind(args=..., args_grad=...) with the script's own NDArrays: it writes each batch, a
    scale constant and the SGD step into them, never into arg_dict. MakeLoss(sum(.)/15).
    Against MXNet 1.9.1: weights within 2e-7, losses within 2.4e-7."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    Y = np.sin(X.sum(1, keepdims=True)).astype(np.float32)
    w = mx.nd.array(np.random.default_rng(3).uniform(-0.5, 0.5, (4, 1)))
    b, scale, d, lab = mx.nd.zeros((1,)), mx.nd.array([1.0]), mx.nd.zeros((15, 4)), mx.nd.zeros((15, 1))
    gw, gb = mx.nd.zeros((4, 1)), mx.nd.zeros((1,))
    x, y, W, B, s = (mx.sym.var(n) for n in ("x", "y", "w", "b", "s"))
    err = mx.sym.broadcast_mul(mx.sym.broadcast_add(mx.sym.dot(x, W), B), s) - y
    net = mx.sym.MakeLoss(mx.sym.sum(mx.sym.square(err)) / 15)
    ex = net.bind(mx.cpu(), args={"x": d, "y": lab, "w": w, "b": b, "s": scale}, args_grad={"w": gw, "b": gb})
    pw, pb = w.asnumpy().astype(np.float64), 0.0
    for step in range(STEPS):
        xs, ys, sv = X[step * 15 % 300 :][:15], Y[step * 15 % 300 :][:15], 1.0 + 0.5 * np.sin(step / 10)
        d[:], lab[:], scale[:] = xs, ys, sv
        ex.forward(is_train=True)
        ex.backward()
        w[:] = w - 0.05 * gw
        b[:] = b - 0.05 * gb
        e = (xs @ pw + pb) * np.float32(sv) - ys
        np.testing.assert_allclose(ex.outputs[0].asnumpy(), (e * e).sum() / 15, rtol=1e-4, err_msg=str(step))
        pw, pb = pw - 0.05 * 2 / 15 * np.float32(sv) * xs.T @ e, pb - 0.05 * 2 / 15 * np.float32(sv) * e.sum()
        np.testing.assert_allclose(w.asnumpy(), pw, rtol=RTOL, atol=ATOL, err_msg=str(step))
        np.testing.assert_allclose(b.asnumpy(), [pb], rtol=RTOL, atol=ATOL, err_msg=str(step))
    assert switched(ex)


def test_a_per_example_loss_made_with_normalization_batch_trains_as_in_mxnet():
    """MakeLoss(-log(pick(softmax(.), label)), normalization='batch') of a (N,) loss: MXNet divides
    by the rows of the loss flattened to 2-d, one row here, so the gradient is not divided by N.
    Against MXNet 1.9.1 over 250 steps: weights within 1.1e-6 (divided by N, they were 0.99 apart)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5)).astype(np.float32)
    Y = (X @ rng.normal(size=(5, 4))).argmax(1).astype(np.float32)
    data, label = mx.sym.var("data"), mx.sym.var("label")
    prob = mx.sym.softmax(mx.sym.FullyConnected(data, num_hidden=4, name="fc"))
    loss = mx.sym.MakeLoss(-mx.sym.log(mx.sym.pick(prob, label, axis=1)), normalization="batch", grad_scale=0.5)
    ex = loss.simple_bind(mx.cpu(), data=(40, 5), label=(40,))
    p = start(ex, ("data", "label"))
    for step in range(STEPS):
        x, y = X[step * 40 % 400 :][:40], Y[step * 40 % 400 :][:40]
        ex.forward(is_train=True, data=x, label=y)
        ex.backward()
        for name in p:
            ex.arg_dict[name][:] -= 0.01 * ex.grad_dict[name]
        dz = 0.5 * (softmax(x @ p["fc_weight"].T + p["fc_bias"]) - np.eye(4)[y.astype(int)])
        p = {"fc_weight": p["fc_weight"] - 0.01 * dz.T @ x, "fc_bias": p["fc_bias"] - 0.01 * dz.sum(0)}
        assert_params(ex, p, step)
    assert switched(ex)


def test_head_gradients_computed_by_the_script_follow_numpy_across_the_switch():
    """No loss layer: the script computes 2 (out - y) / n and passes it to backward(out_grads=...).
    Against MXNet 1.9.1: weights within 5.5e-7, losses within 2.3e-6."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3)).astype(np.float32)
    Y = (X**2 @ [[1.0], [0.5], [-1]]).astype(np.float32)
    h = mx.sym.Activation(mx.sym.FullyConnected(mx.sym.var("data"), num_hidden=12, name="a"), act_type="softrelu")
    ex = mx.sym.FullyConnected(h, num_hidden=1, name="b").simple_bind(mx.cpu(), data=(25, 3))
    p = start(ex, ("data",))
    for step in range(STEPS):
        x, y = X[step * 25 % 300 :][:25], Y[step * 25 % 300 :][:25]
        out = ex.forward(is_train=True, data=x)[0]
        ex.backward(out_grads=2 * (out - mx.nd.array(y)) / 25)
        for name in p:
            ex.arg_dict[name][:] -= 0.05 * ex.grad_dict[name]
        a = x @ p["a_weight"].T + p["a_bias"]
        hv = np.logaddexp(0, a)
        head = 2 * (hv @ p["b_weight"].T + p["b_bias"] - y) / 25
        da = head @ p["b_weight"] / (1 + np.exp(-a))
        grads = {"b_weight": head.T @ hv, "b_bias": head.sum(0), "a_weight": da.T @ x, "a_bias": da.sum(0)}
        p = {n: v - 0.05 * grads[n] for n, v in p.items()}
        assert_params(ex, p, step)
    assert switched(ex)


def test_inference_forwards_between_training_steps_see_the_current_weights_and_change_no_gradient():
    """Every 25 steps a forward(is_train=False) on a fixed batch, as evaluation loops do on the
    training executor. Against MXNet 1.9.1: weights within 2.5e-7, evaluations within 3e-7."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(320, 8)).astype(np.float32)
    Y = (X[:, :3].sum(1) > X[:, 3:].sum(1)).astype(np.float32)
    ex = mlp_symbol(16, 2, "tanh").simple_bind(mx.cpu(), data=(32, 8), softmax_label=(32,))
    p = start(ex, ("data", "softmax_label"))
    for step in range(STEPS):
        x, y = X[step * 32 % 320 :][:32], Y[step * 32 % 320 :][:32]
        ex.forward(is_train=True, data=x, softmax_label=y)
        if step % 25 == 24:  # between a training forward and its backward
            ex.forward(is_train=False, data=X[:32])
            np.testing.assert_allclose(ex.outputs[0].asnumpy(), mlp_softmax_grads(p, X[:32], Y[:32], np.tanh)[0], 1e-4)
            ex.forward(is_train=True, data=x)
        ex.backward()
        for name in p:
            ex.arg_dict[name][:] -= 1.0 / 32 * ex.grad_dict[name]
        grads = mlp_softmax_grads(p, x.astype(np.float64), y, np.tanh)[1]
        p = {n: v - 1.0 / 32 * grads[n] for n, v in p.items()}
        assert_params(ex, p, step)
    assert switched(ex)


def test_a_module_trained_with_momentum_and_weight_decay_follows_mxnet_s_update_rule():
    """Module's forward/backward/update over 30 epochs of 10 batches, SGD with momentum 0.9 and
    wd 1e-3 (not on biases, rescale_grad 1/32, as MXNet's Module sets them).
    Against MXNet 1.9.1 over 300 updates: weights within 4.4e-7, losses within 1.3e-6."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(320, 10)).astype(np.float32)
    Y = (X @ rng.normal(size=(10, 4))).argmax(1).astype(np.float32)
    it = mx.io.NDArrayIter(X, Y, 32, shuffle=False)
    mod = mx.mod.Module(mlp_symbol(16, 4, "tanh"), context=mx.cpu())
    mod.bind(data_shapes=it.provide_data, label_shapes=it.provide_label)
    shapes = {"fc1_weight": (16, 10), "fc1_bias": (16,), "fc2_weight": (4, 16), "fc2_bias": (4,)}
    r = np.random.default_rng(5)
    p = {n: r.uniform(-0.3, 0.3, s).astype(np.float32).astype(np.float64) for n, s in shapes.items()}
    mod.init_params(arg_params={n: mx.nd.array(v) for n, v in p.items()}, aux_params={})
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.2, "momentum": 0.9, "wd": 1e-3})
    mom = {n: np.zeros_like(v) for n, v in p.items()}
    for epoch in range(STEPS // 10):
        it.reset()
        for batch in it:
            mod.forward(batch, is_train=True)
            mod.backward()
            mod.update()
            grads = mlp_softmax_grads(p, batch.data[0].asnumpy(), batch.label[0].asnumpy(), np.tanh)[1]
            for n in p:
                wd = 1e-3 if n.endswith("weight") else 0.0
                mom[n] = 0.9 * mom[n] - 0.2 * (grads[n] / 32 + wd * p[n])
                p[n] = p[n] + mom[n]
            got = mod.get_params()[0]
            for n in p:
                np.testing.assert_allclose(got[n].asnumpy(), p[n], rtol=1e-4, atol=1e-5, err_msg=f"{n} {epoch}")
    assert switched(mod._exec)


def test_d2l_s_from_scratch_loops_in_eager_mode_follow_numpy_for_hundreds_of_steps():
    """d2l 3.2 (linear regression) and 3.6 (softmax regression): autograd.record(), l.backward(),
    param[:] = param - lr * param.grad / batch_size. Against PyTorch 2.13 over 300 steps:
    weights within 1.5e-7 (relative), losses within 2.2e-7 (softmax)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 6)).astype(np.float32)
    Yr = (X @ rng.normal(size=(6, 1)) + 4.2 + 0.01 * rng.normal(size=(1000, 1))).astype(np.float32)
    Yc = (X @ rng.normal(size=(6, 4))).argmax(1)
    w, b = nd.array(np.full((6, 1), 0.01, np.float32)), nd.zeros(1)
    W, B = nd.zeros((6, 4)), nd.zeros(4)
    for param in (w, b, W, B):
        param.attach_grad()
    pw, pb, pW, pB = np.full((6, 1), np.float64(np.float32(0.01))), np.zeros(1), np.zeros((6, 4)), np.zeros(4)
    for step in range(STEPS):
        x, y = X[step * 10 % 1000 :][:10], Yr[step * 10 % 1000 :][:10]
        with autograd.record():
            loss = (nd.dot(nd.array(x), w) + b - nd.array(y)) ** 2 / 2
        loss.backward()
        for param in (w, b):
            param[:] = param - 0.03 * param.grad / 10
        d = x @ pw + pb - y
        np.testing.assert_allclose(loss.asnumpy(), d * d / 2, rtol=1e-4, atol=1e-6, err_msg=str(step))
        pw, pb = pw - 0.003 * x.T @ d, pb - 0.003 * d.sum(0)
        np.testing.assert_allclose(w.asnumpy(), pw, rtol=RTOL, atol=ATOL, err_msg=str(step))
        np.testing.assert_allclose(b.asnumpy(), pb, rtol=RTOL, atol=ATOL, err_msg=str(step))
        x, y = X[step * 50 % 1000 :][:50], Yc[step * 50 % 1000 :][:50]
        with autograd.record():
            e = nd.exp(nd.dot(nd.array(x), W) + B)
            loss = -nd.log(nd.pick(e / e.sum(axis=1, keepdims=True), nd.array(y), axis=1))
        loss.backward()
        for param in (W, B):
            param[:] = param - 0.1 * param.grad / 50
        prob = softmax(x @ pW + pB)
        np.testing.assert_allclose(loss.asnumpy(), -np.log(prob[np.arange(50), y]), rtol=1e-4, err_msg=str(step))
        dz = prob - np.eye(4)[y]
        pW, pB = pW - 0.002 * x.T @ dz, pB - 0.002 * dz.sum(0)
        np.testing.assert_allclose(W.asnumpy(), pW, rtol=RTOL, atol=ATOL, err_msg=str(step))


def _traced_growth(step, chunks, per_chunk):
    """Bytes traced after each chunk of steps, from a start after a warm-up chunk."""
    for _ in range(per_chunk):
        step()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        marks = []
        for _ in range(chunks):
            for _ in range(per_chunk):
                step()
            marks.append(tracemalloc.get_traced_memory()[0] - base)
    finally:
        tracemalloc.stop()
    return marks


def test_memory_stays_flat_over_two_thousand_training_steps_eager_and_executor():
    """An executor past the switch and an eager record/backward loop: what 500 steps leave
    behind does not grow (a leak of one small object per step would be 25 kB and more)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 6)).astype(np.float32)
    Y = (X @ rng.normal(size=(6, 3))).argmax(1).astype(np.float32)
    ex = mlp_symbol(8, 3, "relu").simple_bind(mx.cpu(), data=(50, 6), softmax_label=(50,))
    count = [0]

    def executor_step():
        i = count[0] * 50 % 1000
        count[0] += 1
        ex.forward(is_train=True, data=X[i : i + 50], softmax_label=Y[i : i + 50])
        ex.backward()
        ex.arg_dict["fc1_weight"][:] -= 0.01 * ex.grad_dict["fc1_weight"]

    w = nd.zeros((6, 1))
    w.attach_grad()

    def eager_step():
        i = count[0] * 10 % 1000
        count[0] += 1
        with autograd.record():
            loss = (nd.dot(nd.array(X[i : i + 10]), w) - 1.0) ** 2
        loss.backward()
        w[:] = w - 0.001 * w.grad

    for step, per_chunk in ((executor_step, 500), (eager_step, 250)):
        marks = _traced_growth(step, 4, per_chunk)
        assert marks[-1] - marks[0] < 4000, (step.__name__, marks)
    assert switched(ex)
