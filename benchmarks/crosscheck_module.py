"""MXNet's Module API against MXNet 1.9.1 itself: the same program, the same starting weights.

Runs a two-layer MLP through `mx.io.NDArrayIter` (shuffled, padded last batch) and `Module.fit`
with SGD (momentum, weight decay: biases are not decayed) and then Adam, then `score` and
`predict`, in MXNet and in symgrad, and compares the trained weights, the metrics and the
predictions. MXNet 1.9 needs NumPy < 1.24, so it runs in a venv of its own:

    mx/bin/python benchmarks/crosscheck_module.py --mxnet /tmp/mod_ref.npz   # MXNet's values
    python benchmarks/crosscheck_module.py /tmp/mod_ref.npz                  # symgrad's, compared
"""

from __future__ import annotations

import argparse
import importlib

import numpy as np

RUNS = [("sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01}), ("adam", {"learning_rate": 0.01, "wd": 0.001})]


def program(mx, optimizer: str, params: dict) -> dict[str, np.ndarray]:
    """The MXNet tutorial's program; returns the trained weights, the metrics and the predictions."""
    rng = np.random.RandomState(0)
    centers = rng.normal(size=(5, 8))
    label = rng.randint(0, 5, size=150).astype("float32")
    data = (centers[label.astype(int)] + 2 * rng.normal(size=(150, 8))).astype("float32")
    start = {
        "fc1_weight": rng.uniform(-0.3, 0.3, (16, 8)), "fc1_bias": rng.uniform(-0.1, 0.1, 16),
        "fc2_weight": rng.uniform(-0.3, 0.3, (5, 16)), "fc2_bias": rng.uniform(-0.1, 0.1, 5),
    }  # fmt: skip
    np.random.seed(7)  # NDArrayIter shuffles with NumPy's global generator, in MXNet and symgrad alike
    train = mx.io.NDArrayIter(data[:110], label[:110], batch_size=16, shuffle=True)  # 110 = 6*16 + 14: padded
    val = mx.io.NDArrayIter(data[110:], label[110:], batch_size=16)
    net = mx.sym.FullyConnected(mx.sym.Variable("data"), name="fc1", num_hidden=16)
    net = mx.sym.Activation(net, act_type="tanh")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(net, name="fc2", num_hidden=5), name="softmax")
    mod = mx.mod.Module(net, context=mx.cpu())
    mod.fit(
        train, eval_data=val, optimizer=optimizer, optimizer_params=params, num_epoch=3,
        arg_params={k: mx.nd.array(v) for k, v in start.items()}, eval_metric="acc",
    )  # fmt: skip
    out = {k: v.asnumpy() for k, v in mod.get_params()[0].items()}
    out["val_acc_ce"] = np.array([v for _, v in mod.score(val, mx.metric.create(["acc", "ce"]))])
    out["predict"] = mod.predict(val).asnumpy()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--mxnet", action="store_true", help="compute MXNet's values (in a venv with mxnet)")
    options = parser.parse_args()
    mx = importlib.import_module("mxnet" if options.mxnet else "symgrad")
    results = {f"{opt}/{k}": v for opt, params in RUNS for k, v in program(mx, opt, params).items()}
    if options.mxnet:
        np.savez(options.path, **results)
        print(f"wrote {len(results)} arrays to {options.path}")
        return
    ref = np.load(options.path)
    for key, value in results.items():
        print(f"| {key} | {value.shape} | largest difference {np.abs(value - ref[key]).max():.0e} |")


if __name__ == "__main__":
    main()
