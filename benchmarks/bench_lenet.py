"""Issue #24: LeNet on scikit-learn's digits, one training epoch, symgrad's executor vs PyTorch eager.

The same architecture (MXNet's lenet.py with pad=(2, 2) for 8x8 images: two 5x5 convolutions
of 20 and 50 filters with tanh and 2x2 max pooling, a 500-unit tanh layer, 10 outputs), float32,
batches of 32, SGD with momentum; one thread each (threadpoolctl for NumPy's BLAS,
torch.set_num_threads(1)). Epochs alternate between the two systems, and the medians are
compared. Before timing, both compute the gradients of one batch from the same weights,
and the largest relative difference is reported (convolution and pooling gradients against PyTorch's).

    python benchmarks/bench_lenet.py [--epochs 5]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from symgrad import models

BATCH, LR, MOMENTUM, WD = 32, 0.05, 0.9, 1e-4
RESULTS = pathlib.Path(__file__).resolve().parent / "RESULTS_lenet.md"


def digits() -> tuple[np.ndarray, np.ndarray]:
    data = load_digits()
    x = (data.images / 16.0).reshape(-1, 1, 8, 8).astype(np.float32)
    y = data.target.astype(np.float32)
    x_train, _, y_train, _ = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    return x_train, y_train


def torch_lenet(torch):
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 20, 5, padding=2), nn.Tanh(), nn.MaxPool2d(2, 2),
        nn.Conv2d(20, 50, 5, padding=2), nn.Tanh(), nn.MaxPool2d(2, 2),
        nn.Flatten(), nn.Linear(200, 500), nn.Tanh(), nn.Linear(500, 10),
    )  # fmt: skip


PAIRS = [("conv1", 0), ("conv2", 3), ("fc1", 7), ("fc2", 9)]  # symgrad layer name, torch module index


def gradient_difference(torch, ex, model, x, y) -> float:
    """Largest |symgrad - torch| / max|torch| over every parameter's gradient for one batch, same weights."""
    with torch.no_grad():
        for name, index in PAIRS:
            model[index].weight.copy_(torch.from_numpy(ex.arg_dict[f"{name}_weight"]))
            model[index].bias.copy_(torch.from_numpy(ex.arg_dict[f"{name}_bias"]))
    ex.forward(is_train=True, data=x, softmax_label=y)
    ex.backward()
    model.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y).long(), reduction="sum")
    loss.backward()
    worst = 0.0
    for name, index in PAIRS:
        for part in ("weight", "bias"):
            ours = ex.grad_dict[f"{name}_{part}"]
            theirs = getattr(model[index], part).grad.numpy()
            worst = max(worst, float(np.abs(ours - theirs).max() / np.abs(theirs).max()))
    return worst


def torch_epoch(torch, model, opt, x, y, rng) -> float:
    import time

    start = time.perf_counter()
    order = rng.permutation(len(x))
    for i in range(0, len(x) - BATCH + 1, BATCH):
        batch = order[i : i + BATCH]
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(x[batch])), torch.from_numpy(y[batch]).long())
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    epochs = parser.parse_args().epochs
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    x, y = digits()
    net = models.lenet(pad=(2, 2))
    model = torch_lenet(torch)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WD)
    rng = np.random.default_rng(0)
    with threadpool_limits(1):
        ex, _ = models.fit(net, x, y, epochs=1, batch_size=BATCH, learning_rate=LR)  # compiles the plans
        difference = gradient_difference(torch, ex, model, x[:BATCH], y[:BATCH])
        torch_epoch(torch, model, opt, x, y, rng)  # warm-up
        ours, theirs = [], []
        for _ in range(epochs):  # one epoch each in turn, so both see the same host load
            seconds: list[float] = []
            models.fit(net, x, y, epochs=1, batch_size=BATCH, learning_rate=LR, epoch_seconds=seconds)
            ours.append(seconds[0])
            theirs.append(torch_epoch(torch, model, opt, x, y, rng))
    ours_s, theirs_s = statistics.median(ours), statistics.median(theirs)
    batches = len(x) // BATCH
    rows = [
        "| workload | symgrad executor | PyTorch eager | ratio | max gradient difference |",
        "|---|---|---|---|---|",
        f"| LeNet epoch on the digits ({batches} batches of {BATCH}, float32, 1 thread) | {ours_s * 1e3:.0f} ms"
        f" | {theirs_s * 1e3:.0f} ms | {ours_s / theirs_s:.2f}x | {difference:.1e} |",
    ]
    text = "\n".join(rows)
    print(text)
    print(f"(median of {epochs} interleaved epochs; symgrad {sorted(round(t * 1e3) for t in ours)} ms,"
          f" PyTorch {sorted(round(t * 1e3) for t in theirs)} ms)")  # fmt: skip
    RESULTS.write_text(
        "# LeNet epoch benchmark (issue #24)\n\n`python benchmarks/bench_lenet.py`\n\n" + text
        + f"\n\nMedian of {epochs} interleaved epochs; symgrad {sorted(round(t * 1e3) for t in ours)} ms, "
        f"PyTorch {sorted(round(t * 1e3) for t in theirs)} ms.\n"
    )  # fmt: skip


if __name__ == "__main__":
    main()
