"""Issue #4: time to derive and simplify the gradient of random elementwise DAGs (sym.grad only).

python benchmarks/bench_compile.py
"""

from __future__ import annotations

import time

from run import build_dag, random_dag

from symgrad import sym
from symgrad.graph import topo_order


def main() -> None:
    print(f"{'nodes':>7} {'sym.grad + simplify (s)':>24} {'forward nodes':>14} {'gradient nodes':>15}")
    times = {}
    for n in (1_000, 10_000, 20_000):
        loss = build_dag(random_dag(n))
        start = time.perf_counter()
        grads = sym.grad(loss, ["x0", "x1", "x2"])
        times[n] = time.perf_counter() - start
        print(f"{n:>7} {times[n]:>24.3f} {len(topo_order([loss])):>14} {len(topo_order(grads)):>15}")
    print(f"20,000 / 10,000 = {times[20_000] / times[10_000]:.2f}x (linear would be 2x)")


if __name__ == "__main__":
    main()
