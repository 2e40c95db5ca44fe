"""MXNet's classic LeNet training step on 28x28 images: symgrad against MXNet 1.x and PyTorch.

The network of MXNet's lenet.py (Convolution 5x5 of 20 filters, tanh, 2x2 max pooling, Convolution
5x5 of 50, tanh, pooling, Flatten, FullyConnected 500, tanh, FullyConnected 10, SoftmaxOutput),
float32, batches of 64, bound once (simple_bind) and then per step: a new batch and new labels,
forward(is_train=True), backward, and each library's SGD updater on every parameter.

Each system runs in a process of its own (a worker: this script with --worker), one thread each
(OMP_NUM_THREADS, threadpoolctl, torch.set_num_threads), from the same weights and batches. The
workers take turns, a block of steps each, so all see the same host load; the report is the
minimum and median ms per step over all blocks, the first step's time (bind and compile
included), and each system's first loss (they must agree). MXNet and PyTorch run when importable,
or with the interpreter given by --mxnet-python or --torch-python (e.g. a venv holding mxnet 1.9.1).

    python benchmarks/bench_lenet_step.py [--rounds 8] [--steps 10] [--act tanh] [--mxnet-python PATH]
                                          [--torch-python PATH] [--systems symgrad mxnet torch]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

BATCH, LR, POOL = 64, 0.1, 8  # POOL: distinct batches, cycled
PARAMS = [  # name, shape: MXNet's names and layouts (PyTorch's are the same)
    ("conv1_weight", (20, 1, 5, 5)), ("conv1_bias", (20,)),
    ("conv2_weight", (50, 20, 5, 5)), ("conv2_bias", (50,)),
    ("fc1_weight", (500, 800)), ("fc1_bias", (500,)),
    ("fc2_weight", (10, 500)), ("fc2_bias", (10,)),
]  # fmt: skip


def problem() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """The same weights (Xavier-uniform scale) and batches for every system, from one seed."""
    rng = np.random.default_rng(0)
    weights = {}
    for name, shape in PARAMS:
        fan_in, fan_out = int(np.prod(shape[1:])) if len(shape) > 1 else 1, shape[0]
        scale = np.sqrt(6 / (fan_in + fan_out)) if len(shape) > 1 else 0.1
        weights[name] = rng.uniform(-scale, scale, shape).astype(np.float32)
    data = rng.random((POOL, BATCH, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, 10, (POOL, BATCH)).astype(np.float32)
    return weights, data, labels


def mean_cross_entropy(prob: np.ndarray, label: np.ndarray) -> float:
    return float(-np.log(prob[np.arange(len(label)), label.astype(int)]).mean())


def symgrad_step(act: str):
    """symgrad: models.lenet, simple_bind, its SGD updater."""
    from symgrad import models, optimizer

    weights, data, labels = problem()
    net = models.lenet() if act == "tanh" else _symgrad_lenet(act)
    names = net.list_arguments()
    ex = net.simple_bind(
        grad_req={n: "null" if n in models.INPUTS else "write" for n in names},
        type_dict=dict.fromkeys(names, "float32"),
        data=(BATCH, 1, 28, 28),
        softmax_label=(BATCH,),
    )
    for name, value in weights.items():
        ex.arg_dict[name][...] = value
    updater = optimizer.get_updater(optimizer.SGD(learning_rate=LR, rescale_grad=1 / BATCH))
    params = [n for n in names if n not in models.INPUTS]

    def step(i: int) -> float:
        (prob,) = ex.forward(is_train=True, data=data[i % POOL], softmax_label=labels[i % POOL])
        ex.backward()
        for index, name in enumerate(params):
            updater(index, ex.grad_dict[name], ex.arg_dict[name])
        return mean_cross_entropy(prob, labels[i % POOL])

    return step


def _symgrad_lenet(act: str):
    from symgrad import sym

    x = sym.var("data")
    for i, filters in ((1, 20), (2, 50)):
        x = sym.Convolution(data=x, kernel=(5, 5), num_filter=filters, name=f"conv{i}")
        x = sym.Pooling(data=sym.Activation(data=x, act_type=act), pool_type="max", kernel=(2, 2), stride=(2, 2))
    x = sym.Activation(data=sym.FullyConnected(data=sym.Flatten(data=x), num_hidden=500, name="fc1"), act_type=act)
    return sym.SoftmaxOutput(data=sym.FullyConnected(data=x, num_hidden=10, name="fc2"), name="softmax")


def mxnet_step(act: str):
    """MXNet 1.x: the same symbol with mx.sym, simple_bind, mx.optimizer's SGD updater."""
    import mxnet as mx

    weights, data, labels = problem()
    x = mx.sym.var("data")
    for i, filters in ((1, 20), (2, 50)):
        x = mx.sym.Convolution(data=x, kernel=(5, 5), num_filter=filters, name=f"conv{i}")
        x = mx.sym.Pooling(data=mx.sym.Activation(data=x, act_type=act), pool_type="max", kernel=(2, 2), stride=(2, 2))
    x = mx.sym.Activation(
        data=mx.sym.FullyConnected(data=mx.sym.Flatten(data=x), num_hidden=500, name="fc1"), act_type=act
    )
    net = mx.sym.SoftmaxOutput(data=mx.sym.FullyConnected(data=x, num_hidden=10, name="fc2"), name="softmax")
    inputs = ("data", "softmax_label")
    grad_req = {n: "null" if n in inputs else "write" for n in net.list_arguments()}
    ex = net.simple_bind(mx.cpu(), grad_req=grad_req, data=(BATCH, 1, 28, 28), softmax_label=(BATCH,))
    for name, value in weights.items():
        ex.arg_dict[name][:] = value
    updater = mx.optimizer.get_updater(mx.optimizer.SGD(learning_rate=LR, rescale_grad=1 / BATCH))
    params = [n for n in net.list_arguments() if n not in inputs]

    def step(i: int) -> float:
        ex.arg_dict["data"][:] = data[i % POOL]
        ex.arg_dict["softmax_label"][:] = labels[i % POOL]
        ex.forward(is_train=True)
        ex.backward()
        for index, name in enumerate(params):
            updater(index, ex.grad_dict[name], ex.arg_dict[name])
        prob = ex.outputs[0].asnumpy()
        mx.nd.waitall()
        return mean_cross_entropy(prob, labels[i % POOL])

    return step


def torch_step(act: str):
    """PyTorch eager: the same layers, cross-entropy on the logits, torch.optim.SGD."""
    import torch

    torch.set_num_threads(1)
    weights, data, labels = problem()
    nn = torch.nn
    activation = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}[act]
    model = nn.Sequential(
        nn.Conv2d(1, 20, 5), activation(), nn.MaxPool2d(2, 2), nn.Conv2d(20, 50, 5), activation(), nn.MaxPool2d(2, 2),
        nn.Flatten(), nn.Linear(800, 500), activation(), nn.Linear(500, 10),
    )  # fmt: skip
    layers = [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        for layer, i in zip(layers, range(0, len(PARAMS), 2)):
            layer.weight.copy_(torch.from_numpy(weights[PARAMS[i][0]]))
            layer.bias.copy_(torch.from_numpy(weights[PARAMS[i + 1][0]]))
    # SoftmaxOutput's gradient is summed over the batch, and the updaters rescale it by 1/BATCH: the mean
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    x, y = torch.from_numpy(data), torch.from_numpy(labels).long()

    def step(i: int) -> float:
        opt.zero_grad()
        logits = model(x[i % POOL])
        loss = torch.nn.functional.cross_entropy(logits, y[i % POOL])
        loss.backward()
        opt.step()
        return float(loss)

    return step


SYSTEMS = {"symgrad": symgrad_step, "mxnet": mxnet_step, "torch": torch_step}


def worker(system: str, act: str) -> None:
    """Build, time the first step, then run blocks of steps as asked on stdin, one JSON line each."""
    importlib.import_module(system)  # the import is not part of the first step
    if importlib.util.find_spec("threadpoolctl"):
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    start = time.perf_counter()
    step = SYSTEMS[system](act)
    loss = step(0)
    print(json.dumps({"first_ms": (time.perf_counter() - start) * 1e3, "loss": loss}), flush=True)
    done = 1
    for line in sys.stdin:
        times = []
        for _ in range(int(line)):
            begin = time.perf_counter()
            step(done)
            times.append((time.perf_counter() - begin) * 1e3)
            done += 1
        print(json.dumps(times), flush=True)


def start_worker(python: str, system: str, act: str) -> tuple[subprocess.Popen, dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    args = [python, os.path.abspath(__file__), "--worker", system, "--act", act]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"the {system} worker ({python}) exited before its first step; run it by hand: {args}")
    return proc, json.loads(line)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10, help="steps per block")
    parser.add_argument("--act", default="tanh", choices=("tanh", "relu", "sigmoid"))
    parser.add_argument("--mxnet-python", help="an interpreter that can import mxnet (when this one cannot)")
    parser.add_argument("--torch-python", help="an interpreter that can import torch (when this one cannot)")
    parser.add_argument("--systems", nargs="+", choices=tuple(SYSTEMS), default=tuple(SYSTEMS), help="those to run")
    parser.add_argument("--worker", choices=tuple(SYSTEMS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.act)
        return
    pythons = {"symgrad": sys.executable}
    if importlib.util.find_spec("mxnet") or args.mxnet_python:
        pythons["mxnet"] = args.mxnet_python or sys.executable
    if importlib.util.find_spec("torch") or args.torch_python:
        pythons["torch"] = args.torch_python or sys.executable
    workers = {name: start_worker(python, name, args.act) for name, python in pythons.items() if name in args.systems}
    times: dict[str, list[float]] = {name: [] for name in workers}
    for _ in range(args.rounds):  # a block each in turn, so all see the same host load
        for name, (proc, _) in workers.items():
            proc.stdin.write(f"{args.steps}\n")
            proc.stdin.flush()
            times[name] += json.loads(proc.stdout.readline())
    for proc, _ in workers.values():
        proc.stdin.close()
        proc.wait()
    print(f"LeNet training step ({args.act}), batch {BATCH} of 1x28x28, float32, 1 thread each;")
    print(f"{args.rounds} interleaved blocks of {args.steps} steps\n")
    print("| system | min ms/step | median ms/step | first step (bind, compile) ms | first loss |")
    print("|---|---|---|---|---|")
    for name, (_, first) in workers.items():
        ms = times[name]
        print(
            f"| {name} | {min(ms):.1f} | {statistics.median(ms):.1f} | {first['first_ms']:.0f} | {first['loss']:.6f} |"
        )


if __name__ == "__main__":
    main()
