"""Issue #20: training loops whose constants or index arrays change every step.

1. Per-step time of an eager step with a fixed scalar against a changing one, and with a
   fixed index array against a changing one (the cross-entropy's y_hat[arange(n), y]);
   the loops are interleaved and repeated, and each ratio is a median of per-round ratios.
2. Memory growth (tracemalloc) over 10,000 such steps, and over 10,000 binds of a graph
   whose constant changes each time.
3. d2l's softmax regression from scratch (Fashion-MNIST-shaped synthetic data, 60,000
   images of 784 pixels, batch 256, 784 -> 10): symgrad's eager nd + autograd against
   PyTorch eager, when installed (`pip install torch==2.13.0`), time per epoch.

    python benchmarks/bench_cache.py [--rounds 5] [--steps 10000]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import tracemalloc  # noqa: E402

import numpy as np  # noqa: E402

import symgrad  # noqa: E402
from symgrad import autograd, nd, sym  # noqa: E402

try:
    import torch

    torch.set_num_threads(1)
except ImportError:
    torch = None


# ---- 1 and 2: changing constants and index arrays ----------------------------------------------


def scalar_step(x, w, changing: bool):
    """One eager step with the issue's `* (1 + 1e-4*i)`: i is the step number, or 1 when fixed."""
    counter = [0]

    def step():
        counter[0] += 1
        scale = 1 + 1e-4 * (counter[0] if changing else 1)
        with autograd.record():
            loss = (nd.dot(x, w) * scale).sum()
        loss.backward()

    return step


def index_step(x, w, labels, changing: bool):
    """One cross-entropy step, its labels a new array every step or the same array each time."""
    n = x.shape[0]
    rows = np.arange(n)
    fresh = [labels[i % len(labels)] for i in range(len(labels))]

    def step():
        y = fresh[step.count % len(fresh)] if changing else labels[0]
        step.count += 1
        with autograd.record():
            loss = -nd.log(nd.softmax(nd.dot(x, w))[rows, y]).sum()
        loss.backward()

    step.count = 0
    return step


def per_step(fn, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - start) / steps


def compare(fixed, changing, rounds: int, steps: int = 2000) -> tuple[float, float, float]:
    """Median per-step seconds of each loop and the median per-round ratio, interleaved."""
    for fn in (fixed, changing):
        per_step(fn, 200)  # warm up: compile, and switch to generated code
    times = {"fixed": [], "changing": []}
    for _ in range(rounds):
        times["fixed"].append(per_step(fixed, steps))
        times["changing"].append(per_step(changing, steps))
    ratio = statistics.median(c / f for c, f in zip(times["changing"], times["fixed"]))
    return statistics.median(times["fixed"]), statistics.median(times["changing"]), ratio


def growth_mib(fn, steps: int) -> float:
    """Traced memory after `steps` calls minus after a warm-up, in MiB."""
    for _ in range(200):
        fn()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(steps):
        fn()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / 2**20


def rebind(changing: bool):
    x = sym.var("x")
    xv = np.linspace(0, 1, 16)
    counter = [0]

    def bind():
        counter[0] += 1
        ex = (sym.sum(sym.tanh(x) * (1 + 1e-4 * counter[0] if changing else 2.0))).bind({"x": xv})
        ex.forward(is_train=True)
        ex.backward()

    return bind


# ---- 3: d2l softmax regression from scratch ----------------------------------------------------

N_TRAIN, PIXELS, CLASSES, BATCH, LR = 60_000, 784, 10, 256, 0.1


def fashion_mnist_shaped(seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Synthetic images in [0, 1) (float32) and labels 0-9, in shuffled batches of 256."""
    rng = np.random.default_rng(seed)
    images = rng.random((N_TRAIN, 1, 28, 28), dtype=np.float32)
    labels = rng.integers(0, CLASSES, N_TRAIN)
    order = rng.permutation(N_TRAIN)
    return [(images[order[i : i + BATCH]], labels[order[i : i + BATCH]]) for i in range(0, N_TRAIN, BATCH)]


def symgrad_epoch(batches):
    """d2l 3.6 (MXNet edition) as written: softmax, cross_entropy, sgd, one epoch."""
    W = nd.random.normal(scale=0.01, shape=(PIXELS, CLASSES))
    b = nd.zeros(CLASSES)
    W.attach_grad()
    b.attach_grad()

    def softmax(X):
        X_exp = nd.exp(X)
        partition = X_exp.sum(axis=1, keepdims=True)
        return X_exp / partition

    def net(X):
        return softmax(nd.dot(X.reshape((-1, PIXELS)), W) + b)

    def cross_entropy(y_hat, y):
        return -nd.log(y_hat[np.arange(len(y_hat)), y])

    def epoch():
        total = 0.0
        for X, y in batches:
            with autograd.record():
                loss = cross_entropy(net(X), y)
            loss.backward()
            for param in (W, b):
                param[:] = param - LR * param.grad / BATCH
            total += float(loss.sum().asscalar())
        return total

    return epoch


def torch_epoch(batches):
    """d2l 3.6 (PyTorch edition) as written."""
    W = torch.normal(0, 0.01, size=(PIXELS, CLASSES), requires_grad=True)
    b = torch.zeros(CLASSES, requires_grad=True)

    def softmax(X):
        X_exp = torch.exp(X)
        partition = X_exp.sum(1, keepdim=True)
        return X_exp / partition

    def net(X):
        return softmax(torch.matmul(X.reshape((-1, PIXELS)), W) + b)

    def cross_entropy(y_hat, y):
        return -torch.log(y_hat[range(len(y_hat)), y])

    def epoch():
        total = 0.0
        for X, y in batches:
            loss = cross_entropy(net(X), y)
            loss.sum().backward()
            with torch.no_grad():
                for param in (W, b):
                    param -= LR * param.grad / BATCH
                    param.grad.zero_()
            total += float(loss.detach().sum())
        return total

    return epoch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = nd.array(rng.normal(size=(64, 20)))
    w = nd.array(rng.normal(size=(20, 10)) * 0.1)
    w.attach_grad()
    labels = [rng.integers(0, 10, 64) for _ in range(64)]
    print(f"Memory growth over {args.steps:,} steps after a warm-up (target <= 2 MiB):")
    print(f"- changing scalar: {growth_mib(scalar_step(x, w, True), args.steps):.2f} MiB")
    print(f"- changing index:  {growth_mib(index_step(x, w, labels, True), args.steps):.2f} MiB")
    print(f"- binds with a changing constant: {growth_mib(rebind(True), args.steps):.2f} MiB")
    print("\n| loop | fixed | changing | ratio (target <= 1.2x) |\n|---|---|---|---|")
    for name, fixed, changing in (
        ("scalar `* (1 + 1e-4*i)`", scalar_step(x, w, False), scalar_step(x, w, True)),
        ("index `y_hat[arange(n), y]`", index_step(x, w, labels, False), index_step(x, w, labels, True)),
        ("rebind `sum(tanh(x) * c)`", rebind(False), rebind(True)),
    ):
        f, c, r = compare(fixed, changing, args.rounds, steps=500 if name.startswith("rebind") else 2000)
        print(f"| {name} | {f * 1e6:.1f} us | {c * 1e6:.1f} us | {r:.2f}x |")
    info = symgrad.cache_info()
    mib = info.currbytes / 2**20
    print(f"- plan cache: {info.currsize} plans, {mib:.2f} MiB (limit {info.maxbytes / 2**20:.0f} MiB)")

    batches = fashion_mnist_shaped()
    nd_batches = [(nd.array(X), y) for X, y in batches]
    systems = {"symgrad": symgrad_epoch(nd_batches)}
    if torch is not None:
        systems["torch"] = torch_epoch([(torch.from_numpy(X), torch.from_numpy(y)) for X, y in batches])
    for epoch in systems.values():
        epoch()  # warm up
    times: dict[str, list[float]] = {name: [] for name in systems}
    for _ in range(args.rounds):
        for name, epoch in systems.items():
            start = time.perf_counter()
            epoch()
            times[name].append(time.perf_counter() - start)
    print(f"\nd2l softmax regression, one epoch ({len(batches)} batches of {BATCH}), median of {args.rounds}:")
    for name, t in times.items():
        epoch_s = statistics.median(t)
        print(f"- {name}: {epoch_s * 1e3:.0f} ms ({epoch_s / len(batches) * 1e6:.0f} us a step)")
    if torch is not None:
        ratio = statistics.median(a / b for a, b in zip(times["symgrad"], times["torch"]))
        print(f"- symgrad / PyTorch: {ratio:.2f}x (target <= 1.0x)")


if __name__ == "__main__":
    main()
