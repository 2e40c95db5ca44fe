"""MXNet 1.x programs as users write them, run in MXNet 1.9.1 and in symgrad on the same data and weights.

Ten programs in the style of MXNet's tutorials and examples and d2l's MXNet chapters: d2l 3.2 linear
regression, 3.6 softmax regression and 4.2 MLP from scratch (nd, autograd, `take`, `pick`, NDArrayIter);
the Module tutorial's MLP through `fit` with SGD, NAG, RMSProp (plain and centered), AdaGrad and Adam,
FactorScheduler and MultiFactorScheduler, and the acc, F1, perplexity and cross-entropy metrics; a LeNet
with BatchNorm (fix_gamma True and False), pooling and Dropout trained by a hand-written simple_bind loop
with a decaying rate and new labels each step; MXNet's linear-regression tutorial (Module,
LinearRegressionOutput, label_name); the symbol tutorial; a MakeLoss hinge loss trained with an updater;
the Module tutorial's step-by-step loop (forward, update_metric, backward, update; NAG on a schedule).
MXNet 1.9 needs NumPy < 1.24, so it runs in a venv of its own:

    mx/bin/python benchmarks/crosscheck_programs.py --mxnet /tmp/programs.npz   # MXNet's values
    python benchmarks/crosscheck_programs.py /tmp/programs.npz                  # symgrad's, compared
"""

from __future__ import annotations

import argparse
import importlib
import logging
import random

import numpy as np


def d2l_linear_regression(mx):
    nd, autograd = mx.nd, mx.autograd
    rs = np.random.RandomState(0)
    true_w = nd.array([2, -3.4])
    true_b = 4.2
    features = nd.array(rs.normal(size=(1000, 2)))
    labels = nd.dot(features, true_w) + true_b
    labels += nd.array(rs.normal(scale=0.01, size=labels.shape))

    def data_iter(batch_size, features, labels):
        num_examples = len(features)
        indices = list(range(num_examples))
        random.seed(1)
        random.shuffle(indices)
        for i in range(0, num_examples, batch_size):
            j = nd.array(indices[i : min(i + batch_size, num_examples)])
            yield features.take(j), labels.take(j)

    w = nd.array(rs.normal(scale=0.01, size=(2, 1)))
    b = nd.zeros(shape=(1,))
    w.attach_grad()
    b.attach_grad()

    def linreg(X, w, b):
        return nd.dot(X, w) + b

    def squared_loss(y_hat, y):
        return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2

    def sgd(params, lr, batch_size):
        for param in params:
            param[:] = param - lr * param.grad / batch_size

    losses = []
    for epoch in range(3):
        for X, y in data_iter(10, features, labels):
            with autograd.record():
                batch_loss = squared_loss(linreg(X, w, b), y)
            batch_loss.backward()
            sgd([w, b], 0.03, 10)
        train_l = squared_loss(linreg(features, w, b), labels)
        losses.append(float(train_l.mean().asscalar()))
        print(f"epoch {epoch + 1}, loss {float(train_l.mean().asscalar()):f}")
    return {"w": w.asnumpy(), "b": b.asnumpy(), "loss": np.array(losses)}


def d2l_softmax_regression(mx):
    nd, autograd = mx.nd, mx.autograd
    rs = np.random.RandomState(1)
    num_inputs, num_outputs = 20, 5
    Xall = rs.normal(size=(256, num_inputs)).astype("float32")
    yall = rs.randint(0, num_outputs, size=256).astype("float32")
    W = nd.array(rs.normal(scale=0.01, size=(num_inputs, num_outputs)))
    b = nd.zeros(num_outputs)
    W.attach_grad()
    b.attach_grad()

    def softmax(X):
        X_exp = X.exp()
        partition = X_exp.sum(axis=1, keepdims=True)
        return X_exp / partition

    def net(X):
        return softmax(nd.dot(X.reshape((-1, num_inputs)), W) + b)

    def cross_entropy(y_hat, y):
        return -nd.pick(y_hat, y).log()

    def accuracy(y_hat, y):
        return (y_hat.argmax(axis=1) == y.astype("float32")).sum().asscalar()

    def sgd(params, lr, batch_size):
        for param in params:
            param[:] = param - lr * param.grad / batch_size

    train_iter = mx.io.NDArrayIter(Xall, yall, batch_size=32, shuffle=False)
    out = []
    for epoch in range(3):
        train_iter.reset()
        train_l_sum, train_acc_sum, n = 0.0, 0.0, 0
        for batch in train_iter:
            X, y = batch.data[0], batch.label[0]
            with autograd.record():
                y_hat = net(X)
                batch_loss = cross_entropy(y_hat, y).sum()
            batch_loss.backward()
            sgd([W, b], 0.1, 32)
            y = y.astype("float32")
            train_l_sum += batch_loss.asscalar()
            train_acc_sum += accuracy(y_hat, y)
            n += y.size
        out.append([train_l_sum / n, train_acc_sum / n])
        print(f"epoch {epoch + 1}, loss {train_l_sum / n:.4f}, train acc {train_acc_sum / n:.3f}")
    return {"W": W.asnumpy(), "b": b.asnumpy(), "curve": np.array(out)}


def d2l_mlp(mx):
    nd, autograd = mx.nd, mx.autograd
    rs = np.random.RandomState(2)
    num_inputs, num_outputs, num_hiddens = 12, 3, 16
    Xall = rs.normal(size=(90, num_inputs)).astype("float32")
    yall = (Xall[:, 0] > 0).astype("float32") + (Xall[:, 1] > 0)
    W1 = nd.array(rs.normal(scale=0.1, size=(num_inputs, num_hiddens)))
    b1 = nd.zeros(num_hiddens)
    W2 = nd.array(rs.normal(scale=0.1, size=(num_hiddens, num_outputs)))
    b2 = nd.zeros(num_outputs)
    params = [W1, b1, W2, b2]
    for param in params:
        param.attach_grad()

    def relu(X):
        return nd.maximum(X, 0)

    def net(X):
        X = X.reshape((-1, num_inputs))
        H = relu(nd.dot(X, W1) + b1)
        return nd.dot(H, W2) + b2

    def loss(y_hat, y):  # gluon's SoftmaxCrossEntropyLoss, spelled with nd
        return -nd.pick(nd.log_softmax(y_hat), y)

    losses = []
    for _epoch in range(5):
        for i in range(0, 90, 30):
            X, y = nd.array(Xall[i : i + 30]), nd.array(yall[i : i + 30])
            with autograd.record():
                batch_loss = loss(net(X), y)
            batch_loss.backward()
            for p in params:
                p[:] = p - 0.5 * p.grad / 30
            losses.append(batch_loss.mean().asscalar())
    return {"W1": W1.asnumpy(), "b2": b2.asnumpy(), "losses": np.array(losses)}


def module_fit(mx, opt, params, metric, sched):
    rs = np.random.RandomState(0)
    centers = rs.normal(size=(2, 10))
    label = rs.randint(0, 2, size=200).astype("float32")
    data = (centers[label.astype(int)] + 1.5 * rs.normal(size=(200, 10))).astype("float32")
    start = {
        "fc1_weight": rs.uniform(-0.3, 0.3, (32, 10)),
        "fc1_bias": rs.uniform(-0.1, 0.1, 32),
        "fc2_weight": rs.uniform(-0.3, 0.3, (2, 32)),
        "fc2_bias": rs.uniform(-0.1, 0.1, 2),
    }
    batch_size = 20
    np.random.seed(3)
    train_iter = mx.io.NDArrayIter(data[:160], label[:160], batch_size, shuffle=True)
    val_iter = mx.io.NDArrayIter(data[160:], label[160:], batch_size)
    net = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(net, name="fc1", num_hidden=32)
    net = mx.sym.Activation(net, name="relu1", act_type="relu")
    net = mx.sym.FullyConnected(net, name="fc2", num_hidden=2)
    net = mx.sym.SoftmaxOutput(net, name="softmax")
    mod = mx.mod.Module(symbol=net, context=mx.cpu(), data_names=["data"], label_names=["softmax_label"])
    p = dict(params)
    if sched == "factor":
        p["lr_scheduler"] = mx.lr_scheduler.FactorScheduler(step=5, factor=0.7)
    elif sched == "multi":
        p["lr_scheduler"] = mx.lr_scheduler.MultiFactorScheduler(step=[4, 9, 17], factor=0.5)
    mod.fit(
        train_iter,
        eval_data=val_iter,
        optimizer=opt,
        optimizer_params=p,
        eval_metric=metric(),
        num_epoch=3,
        arg_params={k: mx.nd.array(v) for k, v in start.items()},
    )
    out = {k: v.asnumpy() for k, v in mod.get_params()[0].items()}
    out["score"] = np.array([v for _, v in mod.score(val_iter, metric())])
    return out


def module_runs(mx):
    return [
        ("sgd", {"learning_rate": 0.1, "momentum": 0.9}, lambda: "acc", "factor"),
        ("nag", {"learning_rate": 0.05, "momentum": 0.9, "wd": 0.001}, lambda: mx.metric.F1(average="micro"), "multi"),
        ("rmsprop", {"learning_rate": 0.01, "gamma1": 0.9}, lambda: mx.metric.Perplexity(ignore_label=None), None),
        ("rmsprop", {"learning_rate": 0.01, "centered": True, "clip_weights": 0.5}, lambda: "acc", None),
        ("adagrad", {"learning_rate": 0.1, "wd": 0.01}, lambda: ["acc", "f1", "ce"], "factor"),
        ("adam", {"learning_rate": 0.01}, lambda: mx.metric.create("perplexity", ignore_label=None), "multi"),
    ]


def lenet(mx, num_classes=4):
    data = mx.symbol.Variable("data")
    conv1 = mx.symbol.Convolution(data=data, kernel=(3, 3), num_filter=6)
    bn1 = mx.symbol.BatchNorm(data=conv1, fix_gamma=True, name="bn1")
    tanh1 = mx.symbol.Activation(data=bn1, act_type="tanh")
    pool1 = mx.symbol.Pooling(data=tanh1, pool_type="max", kernel=(2, 2), stride=(2, 2))
    conv2 = mx.symbol.Convolution(data=pool1, kernel=(3, 3), num_filter=8)
    bn2 = mx.symbol.BatchNorm(data=conv2, fix_gamma=False, name="bn2")
    tanh2 = mx.symbol.Activation(data=bn2, act_type="relu")
    pool2 = mx.symbol.Pooling(data=tanh2, pool_type="avg", kernel=(2, 2), stride=(2, 2))
    flatten = mx.symbol.Flatten(data=pool2)
    fc1 = mx.symbol.FullyConnected(data=flatten, num_hidden=20)
    tanh3 = mx.symbol.Activation(data=fc1, act_type="sigmoid")
    drop = mx.symbol.Dropout(tanh3, p=0.0)
    fc2 = mx.symbol.FullyConnected(data=drop, num_hidden=num_classes)
    return mx.symbol.SoftmaxOutput(data=fc2, name="softmax")


def lenet_simple_bind_loop(mx):
    rs = np.random.RandomState(5)
    net = lenet(mx)
    batch = 8
    ex = net.simple_bind(ctx=mx.cpu(), data=(batch, 1, 14, 14), grad_req="write")
    args = net.list_arguments()
    params = [n for n in args if n not in ("data", "softmax_label")]
    arg_shapes, _, aux_shapes = net.infer_shape(data=(batch, 1, 14, 14))
    for name, shape in zip(args, arg_shapes):
        if name in params:
            ex.arg_dict[name][:] = rs.uniform(-0.3, 0.3, shape) if not name.endswith("gamma") else 1.5
    losses, accs = [], []
    for step in range(12):
        x = rs.normal(size=(batch, 1, 14, 14)).astype("float32")
        y = rs.randint(0, 4, size=batch).astype("float32")
        x[np.arange(batch), 0, (y * 3).astype(int), :] += 2.0
        ex.arg_dict["data"][:] = x
        ex.arg_dict["softmax_label"][:] = y
        out = ex.forward(is_train=True)[0].asnumpy()
        ex.backward()
        lr = 0.5 / (1 + 0.1 * step)
        for name in params:
            w, g = ex.arg_dict[name], ex.grad_dict[name]
            w[:] = w - lr / batch * g
        losses.append(-np.log(out[np.arange(batch), y.astype(int)]).mean())
        accs.append((out.argmax(1) == y).mean())
    pred = ex.forward(is_train=False, data=x)[0].asnumpy()
    res = {n: ex.arg_dict[n].asnumpy() for n in params}
    res.update({n: ex.aux_dict[n].asnumpy() for n in net.list_auxiliary_states()})
    res["losses"] = np.array(losses)
    res["pred"] = pred
    print("losses", np.round(losses, 4))
    return res


def linreg_tutorial(mx):
    rs = np.random.RandomState(0)
    train_data = rs.uniform(0, 1, [100, 2])
    train_label = np.array([train_data[i][0] + 2 * train_data[i][1] for i in range(100)])
    batch_size = 1
    eval_data = np.array([[7, 2], [6, 10], [12, 2]])
    eval_label = np.array([11, 26, 16])
    train_iter = mx.io.NDArrayIter(train_data, train_label, batch_size, shuffle=False, label_name="lin_reg_label")
    eval_iter = mx.io.NDArrayIter(eval_data, eval_label, batch_size, shuffle=False)
    X = mx.sym.Variable("data")
    Y = mx.symbol.Variable("lin_reg_label")
    fully_connected_layer = mx.sym.FullyConnected(data=X, name="fc1", num_hidden=1)
    lro = mx.sym.LinearRegressionOutput(data=fully_connected_layer, label=Y, name="lro")
    model = mx.mod.Module(symbol=lro, data_names=["data"], label_names=["lin_reg_label"])
    model.fit(
        train_iter,
        eval_iter,
        optimizer_params={"learning_rate": 0.005, "momentum": 0.9},
        num_epoch=5,
        arg_params={"fc1_weight": mx.nd.array([[0.1, -0.2]]), "fc1_bias": mx.nd.array([0.05])},
        eval_metric="mse",
        batch_end_callback=mx.callback.Speedometer(batch_size, 50),
    )
    pred = model.predict(eval_iter).asnumpy()
    metric = mx.metric.MSE()
    mse = model.score(eval_iter, metric)
    print("pred", pred.ravel(), "mse", mse)
    out = {k: v.asnumpy() for k, v in model.get_params()[0].items()}
    out["pred"] = pred
    out["mse"] = np.array([mse[0][1]])
    return out


def symbol_tutorial(mx):
    a = mx.sym.Variable("a")
    b = mx.sym.Variable("b")
    c = a + b
    d = a * b
    e = mx.sym.dot(a, b)
    f = mx.sym.reshape(d + e, shape=(1, 4))
    g = mx.sym.broadcast_to(f, shape=(2, 4))
    print(g.list_arguments(), g.list_outputs())
    arg_shapes, out_shapes, _ = g.infer_shape(a=(2, 2), b=(2, 2))
    print(arg_shapes, out_shapes)
    ex = g.bind(ctx=mx.cpu(), args={"a": mx.nd.ones((2, 2)), "b": mx.nd.array([[1, 2], [3, 4]])})
    ex.forward()
    net = mx.sym.Group([c, d, e])
    ex2 = net.bind(
        mx.cpu(),
        {"a": mx.nd.array([[1, 2], [3, 4]]), "b": mx.nd.array([[5, 6], [7, 8]])},
        args_grad={"a": mx.nd.zeros((2, 2)), "b": mx.nd.zeros((2, 2))},
    )
    ex2.forward(is_train=True)
    ex2.backward([mx.nd.ones((2, 2)), mx.nd.ones((2, 2)) * 2, mx.nd.ones((2, 2)) * 3])
    return {
        "g": ex.outputs[0].asnumpy(),
        "c": ex2.outputs[0].asnumpy(),
        "e": ex2.outputs[2].asnumpy(),
        "ga": ex2.grad_dict["a"].asnumpy(),
        "gb": ex2.grad_dict["b"].asnumpy(),
    }


def makeloss_loop(mx):
    rs = np.random.RandomState(3)
    data = mx.sym.Variable("data")
    label = mx.sym.Variable("label")
    fc = mx.sym.FullyConnected(data, num_hidden=3, name="fc")
    # a hinge-like custom loss, as MXNet's examples write them with MakeLoss
    margin = mx.sym.maximum(0, 1 - label * fc)
    loss = mx.sym.MakeLoss(mx.sym.mean(mx.sym.square(margin)), name="loss")
    out = mx.sym.Group([loss, mx.sym.BlockGrad(fc)])
    ex = out.simple_bind(mx.cpu(), data=(10, 4), label=(10, 3))
    ex.arg_dict["fc_weight"][:] = rs.normal(scale=0.3, size=(3, 4))
    ex.arg_dict["fc_bias"][:] = 0
    opt = mx.optimizer.create("sgd", learning_rate=0.2, momentum=0.5)
    updater = mx.optimizer.get_updater(opt)
    losses = []
    for _step in range(20):
        x = rs.normal(size=(10, 4))
        y = np.sign(x[:, :3] + 0.1 * rs.normal(size=(10, 3)))
        ex.forward(is_train=True, data=x, label=y)
        ex.backward()
        losses.append(ex.outputs[0].asnumpy().ravel()[0])
        for i, name in enumerate(["fc_weight", "fc_bias"]):
            updater(i, ex.grad_dict[name], ex.arg_dict[name])
    return {"losses": np.array(losses), "w": ex.arg_dict["fc_weight"].asnumpy(), "b": ex.arg_dict["fc_bias"].asnumpy()}


def module_step_loop(mx):
    """The Module tutorial's intermediate loop: bind, init_params, init_optimizer (NAG with a schedule),
    then forward, update_metric, backward and update per batch; iter_predict and score."""
    rs = np.random.RandomState(0)
    X = rs.normal(size=(100, 6)).astype("float32")
    Y = (X[:, 0] + X[:, 1] > 0).astype("float32")
    train_iter = mx.io.NDArrayIter(X, Y, 25, shuffle=False)
    net = mx.sym.Variable("data")
    net = mx.sym.FullyConnected(net, name="fc1", num_hidden=16)
    net = mx.sym.Activation(net, name="relu1", act_type="relu")
    net = mx.sym.FullyConnected(net, name="fc2", num_hidden=2)
    net = mx.sym.SoftmaxOutput(net, name="softmax")
    mod = mx.mod.Module(symbol=net, context=mx.cpu(), data_names=["data"], label_names=["softmax_label"])
    mod.bind(data_shapes=train_iter.provide_data, label_shapes=train_iter.provide_label)
    mod.init_params(initializer=mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2))
    start = {"fc1_weight": rs.uniform(-0.3, 0.3, (16, 6)), "fc1_bias": np.zeros(16),
             "fc2_weight": rs.uniform(-0.3, 0.3, (2, 16)), "fc2_bias": np.zeros(2)}  # fmt: skip
    mod.set_params({k: mx.nd.array(v) for k, v in start.items()}, {})
    schedule = mx.lr_scheduler.FactorScheduler(step=3, factor=0.5, base_lr=0.1)
    mod.init_optimizer(optimizer="nag", optimizer_params=(("momentum", 0.9), ("lr_scheduler", schedule)))
    metric = mx.metric.create(["acc", "f1"])
    curve = []
    for _epoch in range(3):
        train_iter.reset()
        metric.reset()
        for batch in train_iter:
            mod.forward(batch, is_train=True)
            mod.update_metric(metric, batch.label)
            mod.backward()
            mod.update()
        curve.append(metric.get()[1])
    out = {k: v.asnumpy() for k, v in mod.get_params()[0].items()}
    out["curve"], out["outputs"] = np.array(curve), mod.get_outputs()[0].asnumpy()
    out["iter_predict"] = next(iter(mod.iter_predict(train_iter)))[0][0].asnumpy()
    out["score"] = np.array([mod.score(train_iter, mx.metric.Accuracy())[0][1]])
    return out


def programs(mx) -> dict[str, np.ndarray]:
    """Every program's results (weights, losses, metrics, predictions) by name."""
    runs = [("d2l_linreg", d2l_linear_regression), ("d2l_softmax", d2l_softmax_regression), ("d2l_mlp", d2l_mlp),
            ("lenet_loop", lenet_simple_bind_loop), ("linreg_tutorial", linreg_tutorial),
            ("symbol_tutorial", symbol_tutorial), ("makeloss_loop", makeloss_loop),
            ("module_steps", module_step_loop)]  # fmt: skip
    runs += [
        (f"module_{i}_{run[0]}", lambda mx, run=run: module_fit(mx, *run)) for i, run in enumerate(module_runs(mx))
    ]
    return {f"{name}/{k}": np.asarray(v, np.float64) for name, program in runs for k, v in program(mx).items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--mxnet", action="store_true", help="compute MXNet's values (in a venv with mxnet)")
    options = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    mx = importlib.import_module("mxnet" if options.mxnet else "symgrad")
    results = programs(mx)
    if options.mxnet:
        np.savez(options.path, **results)
        print(f"wrote {len(results)} arrays to {options.path}")
        return
    ref = np.load(options.path)
    print("| result | shape | largest difference | relative to its largest entry |\n|---|---|---|---|")
    for key, value in results.items():
        expected = ref[key].reshape(value.shape)  # a full reduction is 0-d in symgrad, (1,) in MXNet 1.x
        diff = np.abs(value - expected).max()
        print(f"| {key} | {value.shape} | {diff:.1e} | {diff / max(np.abs(expected).max(), 1e-30):.1e} |")


if __name__ == "__main__":
    main()
