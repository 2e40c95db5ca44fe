"""Issue #10: a mean-squared-error linear model's gradient over a chunked float64 data set.

NumPy in memory (the whole data bound at once) vs `symgrad.dask.grad_over` on Dask's
threads vs on a `LocalCluster` of 2 worker processes (127.0.0.1), with time and peak
memory, and how the threads figure scales with the number of chunks. The data is
generated chunk by chunk from a seed, so the Dask runs never hold all of it.

    python benchmarks/bench_dask.py [--rows 2000000] [--features 32]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from symgrad import sym
from symgrad.dask import grad_over, require_dask


def loss_symbol():
    x, y, w = sym.var("x"), sym.var("y"), sym.var("w")
    return sym.mean((sym.dot(x, w) - y) ** 2)


def make_data(da, rows: int, features: int, chunk_rows: int):
    """Dask arrays x (rows, features) and y (rows, 1), generated per block from a seed.

    The blocks are always the same 64 (so the data does not depend on chunk_rows) and
    then merged into chunks of chunk_rows rows.
    """
    state = da.random.RandomState(0)
    base = max(1, rows // 64)
    x = state.normal(size=(rows, features), chunks=(base, features))
    w_true = np.linspace(-1, 1, features)[:, None]
    y = x @ w_true + 0.1 * state.normal(size=(rows, 1), chunks=(base, 1))
    return x.rechunk((chunk_rows, features)), y.rechunk((chunk_rows, 1))


def timed(fn):
    tracemalloc.start()
    start = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return result, elapsed, peak / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--features", type=int, default=32)
    args = parser.parse_args()
    da = require_dask()
    import distributed

    rows, features = args.rows, args.features
    s = loss_symbol()
    w = np.zeros((features, 1))
    data_mib = rows * (features + 1) * 8 / 2**20
    print(f"data: {rows} rows x {features + 1} float64 columns = {data_mib:.0f} MiB")

    x, y = make_data(da, rows, features, rows // 8)
    in_memory = {"x": x.compute(), "y": y.compute(), "w": w}

    def numpy_run():
        ex = s.bind(in_memory, grad_req={"x": "null", "y": "null", "w": "write"})
        (loss,) = ex.forward(is_train=True)
        ex.backward()
        return float(loss), ex.grad_dict["w"].copy()

    (ref_loss, ref_grad), t_np, m_np = timed(numpy_run)
    rows_out = [("NumPy in memory", 1, t_np, m_np)]
    in_memory.clear()

    for n_chunks in (4, 8, 16, 32):
        x, y = make_data(da, rows, features, rows // n_chunks)
        (loss, grads), t, m = timed(lambda: grad_over(s, "w", data={"x": x, "y": y}, params={"w": w}))
        np.testing.assert_allclose(grads["w"], ref_grad, rtol=1e-9)
        rows_out.append((f"Dask threads, {n_chunks} chunks", n_chunks, t, m))

    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        for n_chunks in (8, 16):
            x, y = make_data(da, rows, features, rows // n_chunks)
            (loss, grads), t, _ = timed(
                lambda: grad_over(s, "w", data={"x": x, "y": y}, params={"w": w}, client=client)
            )
            peak = max(client.run(_peak_rss).values())
            np.testing.assert_allclose(grads["w"], ref_grad, rtol=1e-9)
            rows_out.append((f"LocalCluster 2 procs, {n_chunks} chunks", n_chunks, t, peak / 2**20))

    print(f"{'system':38} {'time (s)':>9} {'peak MiB':>9}")
    for name, _, t, m in rows_out:
        print(f"{name:38} {t:9.3f} {m:9.1f}")
    print("NumPy times the gradient of data already in memory; the Dask rows include generating each chunk.")
    print("Peak MiB: traced Python allocations (NumPy, threads); a worker process's peak resident set (LocalCluster).")


def _peak_rss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


if __name__ == "__main__":
    main()
