"""Choosing the backend (issue #25): names, the environment variable, and a clear error without Numba."""

import os
import subprocess
import sys

import numpy as np
import pytest

import symgrad
from symgrad import BackendError, sym
from tests.without import run_without


def test_unknown_backend_names_are_refused():
    with pytest.raises(BackendError, match="unknown backend 'numba'.*'numpy', 'jit', 'auto'"):
        sym.var("x").bind({"x": np.ones(2)}, backend="numba")
    with pytest.raises(BackendError):
        symgrad.set_backend("fast")


def test_the_environment_variable_sets_the_backend_and_refuses_unknown_names():
    def backend_with(value):
        env = {**os.environ, "SYMGRAD_BACKEND": value}
        code = "import symgrad; print(symgrad.get_backend())"
        return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)

    assert backend_with("auto").stdout.strip() == "auto"
    refused = backend_with("fastest")
    assert refused.returncode != 0 and "BackendError: unknown backend 'fastest'" in refused.stderr


def test_without_numba_jit_is_a_clear_error_and_numpy_and_auto_still_run():
    out = run_without(
        {"numba"},
        """
        import os
        os.environ.pop("SYMGRAD_BACKEND", None)  # this test's own choices, whatever the suite runs with
        import numpy as np, symgrad
        from symgrad import sym
        x = sym.var("x")
        try:
            (x * 2).bind({"x": np.ones(3)}, backend="jit")
        except symgrad.BackendError as exc:
            print("refused:", exc)
        try:
            symgrad.set_backend("jit")
        except symgrad.BackendError:
            print("set_backend refused")
        symgrad.set_backend("auto")
        ex = sym.sum(sym.sin(x) * 2).bind({"x": np.ones(3)})
        ex.forward(is_train=True)
        ex.backward()
        print("auto ran:", ex._backend, ex.grad_dict["x"].asnumpy().round(6).tolist())
        """,
    )
    assert "refused: the jit backend needs Numba, which is not installed: pip install symgrad[jit]" in out
    assert "set_backend refused" in out
    assert f"auto ran: numpy {[round(2 * float(np.cos(1.0)), 6)] * 3}" in out


def test_asking_for_jit_in_the_environment_without_numba_fails_at_import_with_the_install_hint():
    out = run_without(
        {"numba"},
        """
        import os
        os.environ["SYMGRAD_BACKEND"] = "jit"
        try:
            import symgrad
        except Exception as exc:
            print(type(exc).__name__, exc)
        """,
    )
    assert out.strip() == "BackendError the jit backend needs Numba, which is not installed: pip install symgrad[jit]"
