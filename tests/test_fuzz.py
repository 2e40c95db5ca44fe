"""A fixed-seed slice of the differential fuzz (benchmarks/fuzz.py): NumPy finite differences
as the reference, so PyTorch is not needed; the full run is `python -m benchmarks.fuzz`."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_a_fixed_seed_slice_of_the_fuzz_passes_without_pytorch():
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.fuzz",
            "--cases",
            "300",
            "--seed",
            "22",
            "--reference",
            "numpy",
            "--simplifier",
            "300",
        ],  # fmt: skip
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "300 passed, 0 failed" in run.stdout.splitlines(), run.stdout[-3000:] + run.stderr[-2000:]
    assert "simplifier soundness: 300 cases; changes: none" in run.stdout, run.stdout[-3000:]
    assert run.returncode == 0


def test_the_fuzz_prints_each_failure_shrunk_to_a_runnable_snippet():
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from benchmarks import fuzz

    case = fuzz.Case(
        np.dtype(np.float64),
        [((3,), True)],
        [np.array([1.0, -2.0, 0.5])],
        [fuzz.Step("sin", (0,), {}), fuzz.Step("exp", (1,), {}), fuzz.Step("sum", (2,), {"axis": None})],
        3,
        np.array(1.0),
    )
    assert fuzz.check(case, "numpy") == []
    snippet = fuzz.snippet(fuzz._subcase(case, 2))
    namespace: dict = {}
    exec(compile(snippet, "<snippet>", "exec"), namespace)  # the snippet runs as printed
    assert "v1 = sym.exp(v0)" in snippet and "sum" not in snippet.split("args =")[0]


def test_the_pytorch_reference_keeps_a_minimum_of_negative_zero():
    # the reference gave min's value the tie-splitting gradient by adding 0 to it, which made a -0.0
    # minimum +0.0: log(min(x)) then had derivative -inf where PyTorch's own amin gives +inf
    torch = pytest.importorskip("torch")
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from benchmarks import fuzz

    x0 = np.array([[np.inf, 1.5, -0.0]])
    case = fuzz.Case(
        np.dtype(np.float64),
        [((1, 3), True)],
        [x0],
        [fuzz.Step("min", (0,), {"axis": (0, 1), "keepdims": False}), fuzz.Step("log", (1,), {})],
        2,
        np.array(-0.5),
    )
    _, (first,), _ = fuzz.torch_reference(case, order=2)
    x = torch.tensor(x0, requires_grad=True)
    (torch.log(torch.amin(x)) * -0.5).backward()
    assert first[0, 2] == x.grad[0, 2] == np.inf
    assert fuzz.check(case, "torch") == []
