"""Each optional dependency's path is tested with the package and without it.

SciPy (erf), Dask (bigger than memory) and Graphviz's `dot` (pictures) are optional:
a new user who installs only `symgrad` runs the fallbacks, so they are tested here by
blocking the import in a fresh interpreter (or hiding the program from PATH).
"""

import json
import math
import os
import stat

import numpy as np
import pytest
from without import run_without

from symgrad import nd, sym, viz
from symgrad.ops.elementwise import erf_without_scipy

ERF_POINTS = [0.0, -0.0, 0.5, -1.25, 3.0, 6.0, -np.inf, np.inf, np.nan]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(), (9,), (3, 3)])
def test_erf_fallback_keeps_shape_and_float_dtype(dtype, shape):
    x = np.array(ERF_POINTS, dtype=dtype)[: int(np.prod(shape))].reshape(shape)
    got = erf_without_scipy(x)
    assert type(got) is np.ndarray and got.shape == shape and got.dtype == dtype
    want = np.array([math.erf(v) for v in x.astype(np.float64).ravel()]).astype(dtype).reshape(shape)
    np.testing.assert_array_equal(got, want)  # NaN in place of NaN, ±1 at ±inf, -0.0 kept
    assert np.array_equal(np.signbit(got), np.signbit(want))


def test_erf_fallback_sends_integers_to_float64():
    got = erf_without_scipy(np.array([0, 1, -2]))
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, [0.0, math.erf(1), math.erf(-2)])


def test_erf_uses_scipy_when_installed_and_agrees_with_the_fallback():
    special = pytest.importorskip("scipy.special")
    from symgrad.ops import elementwise

    assert elementwise._erf_impl is special.erf
    x = np.linspace(-6, 6, 10001)
    np.testing.assert_allclose(special.erf(x), erf_without_scipy(x), rtol=4e-16, atol=1e-300)


def test_erf_without_scipy_runs_every_way_for_0d_1d_float32_and_float64():
    out = run_without(
        {"scipy"},
        """
        import json, math
        import numpy as np
        from symgrad import autograd, nd, sym
        from symgrad.ops import elementwise
        assert elementwise._erf_impl is elementwise.erf_without_scipy
        x = sym.var("x")
        rows = []
        for dtype in ("float32", "float64"):
            for value in (0.5, [0.5, -1.0]):
                a = np.array(value, dtype=dtype)
                (y,) = sym.erf(x).eval(x=a)
                (g,) = sym.grad(sym.sum(sym.erf(x)), x).eval(x=a)
                e = nd.array(a, dtype=dtype)
                e.attach_grad()
                with autograd.record():
                    z = nd.erf(e)
                z.backward()
                rows.append([str(y.dtype), y.shape, y.tolist(), str(g.dtype), g.tolist(),
                             str(z.dtype), z.asnumpy().tolist(), e.grad.asnumpy().tolist()])
        print(json.dumps(rows))
        """,
    )
    rows = json.loads(out)
    cases = [(d, v) for d in ("float32", "float64") for v in (0.5, [0.5, -1.0])]
    for (dtype, value), (y_dtype, y_shape, y, g_dtype, g, z_dtype, z, eager_grad) in zip(cases, rows):
        a = np.array(value, dtype=np.float64)
        want = np.vectorize(math.erf)(a)
        want_grad = 2 / math.sqrt(math.pi) * np.exp(-a * a)
        tol = 1e-6 if dtype == "float32" else 1e-15
        assert y_dtype == g_dtype == z_dtype == dtype and tuple(y_shape) == a.shape
        np.testing.assert_allclose(y, want, rtol=tol)
        np.testing.assert_allclose(z, want, rtol=tol)
        np.testing.assert_allclose(g, want_grad, rtol=tol)
        np.testing.assert_allclose(eager_grad, want_grad, rtol=tol)


def test_symgrad_imports_and_runs_without_dask_and_says_how_to_get_it():
    out = run_without(
        {"dask", "distributed"},
        """
        import numpy as np
        import symgrad
        from symgrad import sym
        from symgrad import dask as sgdask
        x = sym.var("x")
        print(sym.grad(sym.sum(x * x), x).eval(x=np.array([1.0, 2.0]))[0].tolist())
        for call in (sgdask.require_dask,
                     lambda: sgdask.grad_over(sym.sum(x * x), "x", {}, {"x": np.ones(2)}),
                     lambda: sgdask.DaskExecutor(x * 2, {"x": np.ones(2)})):
            try:
                call()
            except symgrad.SymgradError as exc:
                print(type(exc).__name__, exc)
            else:
                print("no error")
        """,
    )
    lines = out.splitlines()
    assert lines[0] == "[2.0, 4.0]"
    assert lines[1:] == ["SymgradError symgrad's Dask support needs Dask: pip install 'symgrad[dask]'"] * 3


def _fake_dot(folder, svg: str) -> None:
    """A `dot` that answers -Tsvg with the DOT text it was given wrapped in svg."""
    program = folder / "dot"
    program.write_text(f'#!/bin/sh\n[ "$1" = "-Tsvg" ] || exit 3\nprintf "{svg}"; cat\n')
    program.chmod(program.stat().st_mode | stat.S_IEXEC)


def test_plot_network_renders_through_graphviz_dot_when_installed(tmp_path, monkeypatch):
    _fake_dot(tmp_path, "<svg>")
    monkeypatch.setenv("PATH", str(tmp_path) + os.pathsep + os.environ.get("PATH", ""))
    picture = viz.plot_network(sym.sin(sym.var("x")))
    assert picture._repr_svg_() == "<svg>" + picture.dot  # the DOT text went in on stdin


def test_plot_network_with_the_real_graphviz_gives_svg():
    import shutil

    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot is not installed here (the fake-dot and no-dot tests cover symgrad's side)")
    svg = viz.plot_network(sym.sin(sym.var("x")))._repr_svg_()
    assert svg is not None and "<svg" in svg and "sin" in svg


def test_plot_network_without_graphviz_still_shows_the_graph(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no dot
    picture = viz.plot_network(sym.sin(sym.var("x")))
    shown = picture._repr_svg_() or picture._repr_markdown_()
    assert shown and "sin" in shown


def test_nd_erf_of_a_0d_array_is_a_0d_float_array():
    out = nd.erf(nd.array(0.5, dtype="float64"))
    assert out.shape == () and out.dtype == np.float64
    assert float(out.asnumpy()) == pytest.approx(math.erf(0.5), rel=1e-15)


def test_layers_init_optimizer_and_models_run_without_scikit_learn_and_matplotlib():
    # the digits notebook and training test use both; the core's layers and training loop need neither
    out = run_without(
        {"sklearn", "matplotlib", "threadpoolctl"},
        """
        import numpy as np
        from symgrad import models
        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 1, 8, 8)).astype(np.float32)
        y = (x.reshape(64, -1).sum(axis=1) > 0).astype(np.float32)
        net = models.lenet(num_classes=2, pad=(2, 2))
        ex, losses = models.fit(net, x, y, epochs=3, batch_size=16, learning_rate=0.05)
        print(len(losses), losses[-1] < losses[0], models.predict(net, ex, x).shape)
        """,
    )
    assert out.split() == ["3", "True", "(64,", "2)"]


def _mpmath_table() -> dict:
    """The special functions at a few points, from mpmath (SymPy's own numerics, always installed)."""
    import mpmath

    return {
        "gamma": (lambda v: float(mpmath.gamma(v)), [0.3, 1.0, 4.5, -1.5, 30.0]),
        "gammaln": (lambda v: float(mpmath.log(abs(mpmath.gamma(v)))), [0.3, 1.0, 4.5, -1.5, 30.0]),
        "erfinv": (lambda v: float(mpmath.erfinv(v)), [0.0, 0.3, -0.9, 0.999999, -1 + 1e-12]),
        "digamma": (lambda v: float(mpmath.digamma(v)), [0.3, 1.0, 4.5, -1.5, 30.0]),
        "trigamma": (lambda v: float(mpmath.polygamma(1, v)), [0.3, 1.0, 4.5, -1.5, 30.0]),
    }


def test_special_functions_without_scipy_match_mpmath_and_scipy_where_installed():
    from symgrad.ops import special

    fallback = {
        "gamma": special.gamma_without_scipy,
        "gammaln": special.gammaln_without_scipy,
        "erfinv": special.erfinv_without_scipy,
        "digamma": lambda x: special.polygamma_without_scipy(0, x),
        "trigamma": lambda x: special.polygamma_without_scipy(1, x),
    }
    for name, (exact, points) in _mpmath_table().items():
        x = np.array(points)
        np.testing.assert_allclose(fallback[name](x), [exact(v) for v in points], rtol=2e-14, err_msg=name)
    # at the poles and the ends, SciPy's conventions
    assert special.gamma_without_scipy(np.array([0.0, -0.0, -2.0, 200.0])).tolist()[:2] == [np.inf, -np.inf]
    assert special.erfinv_without_scipy(np.array([1.0, -1.0])).tolist() == [np.inf, -np.inf]
    assert np.isnan(special.erfinv_without_scipy(np.array([1.5]))).all()
    assert special.erfinv_without_scipy(np.array([0.5], dtype=np.float32)).dtype == np.float32
    scipy_special = pytest.importorskip("scipy.special")
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(0.05, 40, 500), rng.uniform(-20, -0.05, 500)])
    for n in (0, 1, 2):
        want = scipy_special.polygamma(n, x)
        np.testing.assert_allclose(special.polygamma_without_scipy(n, x), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(special.gamma_without_scipy(x), scipy_special.gamma(x), rtol=1e-14)
    y = rng.uniform(-1, 1, 1000)
    np.testing.assert_allclose(special.erfinv_without_scipy(y), scipy_special.erfinv(y), rtol=1e-14, atol=1e-300)


def test_gamma_gammaln_erfinv_and_their_gradients_run_without_scipy():
    out = run_without(
        {"scipy"},
        """
        import json
        import numpy as np
        from symgrad import sym
        from symgrad.ops import special
        assert special._gamma is special.gamma_without_scipy
        x = sym.var("x")
        rows = {}
        for name, at in (("gamma", [0.3, 4.5]), ("gammaln", [0.3, 4.5]), ("erfinv", [0.3, -0.9])):
            y = getattr(sym, name)(x)
            value = y.eval(x=np.array(at))[0].asnumpy().tolist()
            first = sym.grad(sym.sum(y), x).eval(x=np.array(at))[0].asnumpy().tolist()
            second = sym.grad(sym.sum(sym.grad(sym.sum(y), x)), x).eval(x=np.array(at))[0].asnumpy().tolist()
            rows[name] = [value, first, second]
        print(json.dumps(rows))
        """,
    )
    import mpmath

    exact = {
        "gamma": (mpmath.gamma, [0.3, 4.5]),
        "gammaln": (lambda v: mpmath.log(mpmath.gamma(v)), [0.3, 4.5]),
        "erfinv": (mpmath.erfinv, [0.3, -0.9]),
    }
    for name, (value, first, second) in json.loads(out).items():
        function, at = exact[name]
        for got, order in ((value, 0), (first, 1), (second, 2)):
            want = [float(mpmath.diff(function, v, order)) for v in at]
            np.testing.assert_allclose(got, want, rtol=1e-9, err_msg=f"{name} order {order}")
