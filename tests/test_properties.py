"""Properties over random graphs (Hypothesis), float64.

Quick in CI; `python -m pytest tests/test_properties.py --hypothesis-profile=thorough`
runs 2,000 examples per property.
"""

import numpy as np
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from strategies import SHAPES, graphs, inputs, scalar_functions

from symgrad import autograd, nd, sym
from symgrad.executor import compile_program, replay


def ev(s, args):
    """Evaluate s on the arguments it has (a gradient may not depend on every input)."""
    return s.eval(**{k: v for k, v in args.items() if k in s.list_arguments()})


def central_difference(s, args, name, direction, eps=1e-6):
    up = {**args, name: args[name] + eps * direction}
    down = {**args, name: args[name] - eps * direction}
    return (float(ev(s, up)[0]) - float(ev(s, down)[0])) / (2 * eps)


@given(graphs(), st.integers(0, 2**16))
def test_gradient_matches_central_differences(case, seed):
    s, _ = case
    args = inputs(seed)
    grads = sym.grad(s, ["x", "v"])
    values = ev(sym.Group(grads), args)
    rng = np.random.default_rng(seed + 1)
    for name, g in zip(["x", "v"], values):
        direction = rng.normal(size=SHAPES[name])
        expected = central_difference(s, args, name, direction)
        assert np.isclose(np.sum(np.broadcast_to(g, SHAPES[name]) * direction), expected, rtol=1e-5, atol=1e-6)


@given(graphs(), st.integers(0, 2**16))
def test_simplify_keeps_values(case, seed):
    s, _ = case
    args = inputs(seed)
    variables = {n.name: n for n in s.get_internals() if n.op == "var"}
    raw = replay(compile_program([s], [variables["x"], variables["v"]]), [args["x"], args["v"]], False, "forward")[0]
    simplified = sym.simplify(s)
    np.testing.assert_allclose(ev(simplified, args)[0], raw, rtol=1e-10, atol=1e-12)


@given(graphs(), st.integers(0, 2**16))
def test_json_round_trip_keeps_outputs_and_gradients(case, seed):
    s, _ = case
    args = inputs(seed)
    loaded = sym.load_json(s.tojson())
    np.testing.assert_array_equal(loaded.eval(**args)[0], s.eval(**args)[0])
    for name in ("x", "v"):
        a = ev(sym.grad(s, name), args)[0]
        b = ev(sym.grad(loaded, name), args)[0]
        np.testing.assert_allclose(a, b, rtol=1e-12)


@given(st.integers(0, 5), st.integers(0, 2**16))
def test_eager_record_and_symbolic_grad_agree(which, seed):
    builders = [
        lambda m, x, v: m.sum(m.tanh(m.dot(x, v)) * 2),
        lambda m, x, v: m.sum(m.softmax(x, axis=1) * m.sin(x + v)),
        lambda m, x, v: m.sum(m.logsumexp(x, axis=0) * v),
        lambda m, x, v: m.sum(m.maximum(x, v) ** 2),
        lambda m, x, v: m.sum(x[np.array([0, 2, 2])] * v),
        lambda m, x, v: m.sum(m.sqrt(x * x + 1) / (1 + v * v)),
    ]
    build = builders[which]
    args = inputs(seed)
    xs, vs = sym.var("x"), sym.var("v")
    ex = build(sym, xs, vs).bind(args)
    ex.forward(is_train=True)
    ex.backward()
    xe, ve = nd.array(args["x"], dtype="float64"), nd.array(args["v"], dtype="float64")
    xe.attach_grad()
    ve.attach_grad()
    with autograd.record():
        y = build(nd, xe, ve)
    y.backward()
    np.testing.assert_allclose(xe.grad.asnumpy(), ex.grad_dict["x"], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ve.grad.asnumpy(), ex.grad_dict["v"], rtol=1e-12, atol=1e-14)


@given(graphs(max_steps=4), st.integers(0, 2**16))
def test_second_derivatives_match_differences_of_the_first(case, seed):
    s, _ = case
    args = inputs(seed)
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=SHAPES["v"])
    first = sym.sum(sym.grad(s, "v") * sym.var("d", shape=SHAPES["v"]))  # directional derivative
    second = sym.grad(first, "v")
    expected = central_difference(first, {**args, "d": direction}, "v", direction)
    got = float(np.sum(ev(second, {**args, "d": direction})[0] * direction))
    assert np.isclose(got, expected, rtol=1e-4, atol=1e-5)


def parse_printed(text, names):
    """SymPy expression of symgrad's printed text, temporaries ('where t0 = ...') substituted."""
    body, _, temps = text.partition("\n where\n")
    names = dict(names)
    for line in temps.splitlines():
        name, _, value = line.strip().partition(" = ")
        names[name] = sp.sympify(value, locals=names)
    return sp.sympify(body, locals=names)


@given(scalar_functions(), st.floats(-1.5, 1.5))
def test_printed_derivative_of_scalar_functions_equals_sympys(f, point):
    t = sp.Symbol("t", real=True)
    expected = sp.diff(f.to_sympy(), t)
    text = str(sym.grad(f, "t"))
    names = {"t": t, "arctan": sp.atan, "ones_like": lambda a: sp.Integer(1), "expm1": lambda a: sp.exp(a) - 1}
    printed = parse_printed(text, {**names, "log1p": lambda a: sp.log(1 + a)})
    got, want = complex(printed.subs(t, point)), complex(expected.subs(t, point))
    assert abs(got - want) <= 1e-9 * (1 + abs(want)), text
