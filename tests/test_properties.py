"""Properties over random graphs from every op (Hypothesis), in float64.

Quick in CI; `python -m pytest tests/test_properties.py --hypothesis-profile=thorough`
runs 2,000 examples per property. A failing example prints as its recipe, step by step.
"""

import cmath
import threading

import numpy as np
import sympy as sp
from hypothesis import assume, given, note, reject
from hypothesis import strategies as st
from strategies import recipes

from symgrad import autograd, executor, nd, sym
from symgrad.compile.backends import compile_program
from symgrad.graph import topo_order

SEEDS = st.integers(0, 2**32 - 1)


def present(s, args):
    """The arguments s has (a gradient need not depend on every input)."""
    names = s.list_arguments()
    return {k: v for k, v in args.items() if k in names}


def ev(s, args):
    return s.eval(**present(s, args))


def run_unsimplified(outputs, variables, args):
    """Evaluate graphs exactly as built: no simplify pass, no stability rewrites."""
    return compile_program(outputs, variables)(*[args[v.name] for v in variables])


def directional_derivative(f, h=1e-4):
    """f'(0) by Richardson-extrapolated central differences, and whether f looks smooth on [-h, h]."""
    values = {t: f(t) for t in (-h, -h / 2, h / 2, h)}
    d1 = (values[h] - values[-h]) / (2 * h)
    d2 = (values[h / 2] - values[-h / 2]) / h
    finite = all(np.isfinite(v) for v in values.values())
    # Away from kinks the two estimates agree to O(h^2); a kink or jump inside [-h, h] breaks that.
    smooth = finite and abs(d1 - d2) <= 1e-4 * (1 + abs(d2))
    scale = max((abs(v) for v in values.values()), default=0.0) if finite else np.inf
    return (4 * d2 - d1) / 3, smooth, scale


def loss_along(symbol, args, directions):
    """t -> loss(args + t * directions), through one executor rebound by forward(**new)."""
    present_args = {n: v.copy() for n, v in present(symbol, args).items()}
    ex = symbol.bind({n: v.copy() for n, v in present_args.items()}, grad_req="null")  # bind keeps the arrays

    def f(t):
        return float(ex.forward(**{n: present_args[n] + t * directions[n] for n in present_args})[0])

    return f


def random_directions(args, seed):
    rng = np.random.default_rng(seed)
    return {n: rng.normal(size=v.shape) for n, v in args.items()}


def close(got, want, scale, rtol=1e-6):
    return abs(got - want) <= rtol * (abs(got) + abs(want)) + 1e-9 * (1 + scale)


@given(recipes(), SEEDS)
def test_gradient_matches_central_differences(recipe, seed):
    variables = recipe.variables()
    s = recipe.symbol(variables)
    args = recipe.inputs(seed)
    ex = s.bind(present(s, args))
    ex.forward(is_train=True)
    ex.backward()
    directions = random_directions(args, seed + 1)
    want, smooth, scale = directional_derivative(loss_along(s, args, directions))
    assume(smooth)  # a kink within h of this point: finite differences say nothing there
    got = sum(float(np.sum(ex.grad_dict[n] * directions[n])) for n in ex.grad_dict)
    note(f"symbolic {got!r}, finite differences {want!r}")
    assert close(got, want, scale)
    for v in variables:
        if v.name not in ex.grad_dict:  # a variable the loss does not use: a zeros gradient
            np.testing.assert_array_equal(ev(sym.grad(s, v), args)[0], np.zeros(args[v.name].shape))


_COMPARISONS = {"greater", "greater_equal", "less", "less_equal", "equal", "not_equal"}


def near_tie(outputs, variables, args):
    """Whether a comparison (or sign) in the graphs sees two sides equal to 1e-9.

    There the stability rewrites' last-ulp differences (logsumexp(x) is x exactly, log(sum(exp(x)))
    may be an ulp below) can flip a branch: where(x > log(sum(exp(x))), x*x, 2*x) is either.
    """
    nodes = [n for n in topo_order(outputs) if n.op in _COMPARISONS or n.op == "sign"]
    if not nodes:
        return False
    values = iter(run_unsimplified([i for n in nodes for i in n.inputs], variables, args))
    for n in nodes:
        a, b = (next(values), 0.0) if n.op == "sign" else (next(values), next(values))
        with np.errstate(invalid="ignore"):
            if np.any(np.isclose(a, b, rtol=1e-9, atol=1e-12)):
                return True
    return False


@given(recipes(), SEEDS)
def test_simplify_keeps_values(recipe, seed):
    """Up to the stability rewrites' rounding, away from comparisons at a tie."""
    variables = recipe.variables()
    s = recipe.symbol(variables)
    args = recipe.inputs(seed)
    outputs = [recipe.output(variables), s] + sym.grad(s, variables, simplify=False)
    assume(not near_tie(outputs, variables, args))
    raw = run_unsimplified(outputs, variables, args)
    simplified = run_unsimplified([sym.simplify(o) for o in outputs], variables, args)
    scale = 1 + max(float(np.max(np.abs(r), initial=0)) for r in raw)
    for r, v in zip(raw, simplified):
        np.testing.assert_equal(np.shape(v), np.shape(r))
        np.testing.assert_allclose(v, r, rtol=1e-7, atol=1e-9 * scale, equal_nan=True)


@given(recipes(), SEEDS)
def test_json_round_trip_keeps_outputs_and_gradients(recipe, seed):
    s = recipe.symbol()
    args = recipe.inputs(seed)
    text = s.tojson()
    loaded = sym.load_json(text)
    assert loaded.tojson() == text
    assert loaded.list_arguments() == s.list_arguments()
    np.testing.assert_array_equal(ev(loaded, args)[0], ev(s, args)[0])
    for name in present(s, args):
        np.testing.assert_array_equal(ev(sym.grad(loaded, name), args)[0], ev(sym.grad(s, name), args)[0])


@given(recipes(), SEEDS)
def test_eager_record_and_symbolic_grad_agree(recipe, seed):
    variables = recipe.variables()
    s = recipe.symbol(variables)
    args = recipe.inputs(seed)
    names = list(args)
    leaves = [nd.array(args[n], dtype="float64") for n in names]
    for leaf in leaves:
        leaf.attach_grad()
    with autograd.record():
        y = recipe.loss(nd, leaves)
    y.backward()
    eager = [leaf.grad.asnumpy() for leaf in leaves]
    # The graph as built (same arithmetic as eager): values and gradients agree to rounding.
    raw = run_unsimplified([s] + sym.grad(s, variables, simplify=False), variables, args)
    np.testing.assert_allclose(y.asnumpy(), raw[0], rtol=1e-12, atol=1e-12)
    for name, g, e in zip(names, raw[1:], eager):
        scale = 1 + float(np.max(np.abs(g), initial=0))
        np.testing.assert_allclose(e, np.broadcast_to(g, args[name].shape), rtol=1e-9, atol=1e-12 * scale)
    # The simplified, compiled executor path: the same, unless a rewrite moved a value by an ulp
    # across a where/comparison tie (log(sum(exp(z))) over one element is exactly z once rewritten).
    if not np.allclose(ev(s, args)[0], raw[0], rtol=1e-12, atol=1e-12):
        reject()
    ex = s.bind(present(s, args))
    ex.forward(is_train=True)
    ex.backward()
    for name, e in zip(names, eager):
        if name in ex.grad_dict:
            scale = 1 + float(np.max(np.abs(e), initial=0))
            np.testing.assert_allclose(e, ex.grad_dict[name], rtol=1e-9, atol=1e-12 * scale)


@given(recipes(max_steps=6), SEEDS)
def test_second_derivatives_match_differences_of_the_first(recipe, seed):
    variables = recipe.variables()
    s = recipe.symbol(variables)
    args = recipe.inputs(seed)
    names = list(args)
    u, v = random_directions(args, seed + 1), random_directions(args, seed + 2)
    # first(args) = <grad loss, u>; its gradient is the Hessian times u, checked along v.
    terms = [sym.sum(g * u[n]) for n, g in zip(names, sym.grad(s, variables))]
    first = terms[0]
    for term in terms[1:]:
        first = first + term
    hessian_u = sym.grad(first, variables)
    want, smooth, scale = directional_derivative(loss_along(first, args, v))
    assume(smooth)
    got = sum(
        float(np.sum(np.broadcast_to(g, args[n].shape) * v[n])) for n, g in zip(names, ev(sym.Group(hessian_u), args))
    )
    note(f"symbolic {got!r}, finite differences {want!r}")
    assert close(got, want, scale, rtol=1e-5)


# ---- printed derivatives of scalar elementwise graphs vs SymPy -----------------------------

PRINTED_NAMES = {
    "arctan": sp.atan,
    "arcsin": sp.asin,
    "arccos": sp.acos,
    "abs": sp.Abs,
    "sign": sp.sign,
    "sigmoid": lambda a: 1 / (1 + sp.exp(-a)),
    "softplus": lambda a: sp.log(1 + sp.exp(a)),
    "relu": lambda a: sp.Max(a, 0),
    "expm1": lambda a: sp.exp(a) - 1,
    "log1p": lambda a: sp.log(1 + a),
    "square": lambda a: a**2,
    "power": lambda a, b: a**b,
    "maximum": sp.Max,
    "minimum": sp.Min,
    "where": lambda c, a, b: sp.Piecewise((a, c), (b, True)),
    "clip": lambda a, a_min=None, a_max=None: (
        sp.Min(sp.Max(a, a_min), a_max) if a_max is not None else sp.Max(a, a_min)
    ),
    "ones_like": lambda a: sp.Integer(1),
    "zeros_like": lambda a: sp.Integer(0),
}


def parse_printed(text, symbols):
    """SymPy expression of symgrad's printed text, temporaries ('where t0 = ...') substituted."""
    body, _, temps = text.partition("\n where\n")
    names = {**PRINTED_NAMES, **symbols}
    for line in temps.splitlines():
        name, _, value = line.strip().partition(" = ")
        names[name] = sp.sympify(value, locals=names)
    return sp.sympify(body, locals=names)


def numeric(expr, point):
    try:
        return complex(sp.N(expr.xreplace(point), 30))
    except RecursionError:  # SymPy's own diff of a deep composition can outgrow its recursive evaluator
        reject()


@given(recipes(max_steps=4, scalar=True), SEEDS)
def test_printed_derivative_of_scalar_functions_equals_sympys(recipe, seed):
    f = recipe.output()
    symbols = {n: sp.Symbol(n, real=True) for n in recipe.shapes}
    expr = f.to_sympy()
    rng = np.random.default_rng(seed)
    points = [{symbols[n]: sp.Float(rng.uniform(-1.5, 1.5)) for n in symbols} for _ in range(2)]
    for name in f.list_arguments():
        g = sym.grad(f, name)
        text = str(g)
        note(f"d/d{name}: printed {text!r}")
        want = sp.diff(expr, symbols[name])
        # sign' = 0 away from 0 (SymPy leaves d/dx sign(u) unevaluated when it cannot tell u is real)
        want = want.replace(lambda e: isinstance(e, sp.Derivative) and e.expr.func == sp.sign, lambda e: sp.Integer(0))
        want = want.replace(sp.DiracDelta, lambda *a: sp.Integer(0))
        for derived in (parse_printed(text, symbols), g.to_sympy()):
            for point in points:
                got, expected = numeric(derived, point), numeric(want, point)
                if cmath.isnan(expected):
                    # SymPy's formula is 0/0 at a kink it cannot see past (|u|' as sign(u)/u*...
                    # with u == 0 exactly), where symgrad's documented convention gives sign(0) = 0.
                    continue
                assert abs(got - expected) <= 1e-9 * (1 + abs(expected)), (text, derived, want, point)


# ---- concurrency -------------------------------------------------------------------------


@given(recipes(max_steps=4), SEEDS)
def test_two_threads_bind_and_run_executors_of_one_structure_without_mixing(recipe, seed):
    s = recipe.symbol()
    runs = [present(s, recipe.inputs(seed + k)) for k in range(2)]
    expected = []
    for args in runs:
        ex = s.bind(args)
        out = ex.forward(is_train=True)[0].copy()
        ex.backward()
        expected.append((out, {n: g.copy() for n, g in ex.grad_dict.items()}))
    failures = []
    barrier = threading.Barrier(2)

    def work(k):
        try:
            barrier.wait()
            # same structure: both threads share one compiled plan, which turns into
            # generated code while they run it
            for _ in range(executor.CODEGEN_AFTER_CALLS // 2 + 10):
                ex = s.bind(runs[k])
                out = ex.forward(is_train=True)[0]
                ex.backward()
                np.testing.assert_array_equal(out, expected[k][0])
                for n, g in ex.grad_dict.items():
                    np.testing.assert_array_equal(g, expected[k][1][n])
        except Exception as exc:  # noqa: BLE001 - reported to the main thread
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[0]


@st.composite
def sums(draw):
    """Nested sums, differences, negations and scaled terms over three variables, sharing subterms,
    some nested deeper than the 16 levels collect_terms looks through."""
    pool = [sym.var(n, shape=(2,)) for n in "xyz"]
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(st.integers(0, 6))
        a = draw(st.sampled_from(pool[-8:] if draw(st.booleans()) else pool))
        b = draw(st.sampled_from(pool))
        if kind == 6:  # a chain of distinct terms, 10 to 24 sums deep
            for i in range(draw(st.integers(10, 24))):
                a = a + sym.sin(b * (i + 2)) if i % 3 else a - sym.cos(b * (i + 2))
            pool.append(a)
            continue
        pool.append([a + b, a - b, -a, 2.5 * a, a + draw(st.sampled_from([1, 0.5, -2])), sym.sin(a) * b][kind])
    return pool[-1]


@given(sums())
def test_the_term_summaries_say_what_listing_the_terms_would(expression):
    from symgrad.simplify import Simplifier
    from symgrad.simplify.arithmetic import _signed_terms, _term_summary
    from symgrad.simplify.core import _coef_term, _is_scalar_const

    simplifier = Simplifier(assume_finite=False)
    simplifier.run([expression])
    checked = 0
    for node in list(simplifier.canonical):
        if node.op not in ("add", "subtract"):
            continue
        summary = _term_summary(node, simplifier)
        terms = [t for _, t in _signed_terms(node, simplifier.canonical)]
        weak = [t for t in terms if _is_scalar_const(t) and t.dtype is None]
        others = [t for t in terms if not (_is_scalar_const(t) and t.dtype is None)]
        if summary is None:  # nested past the walk's depth
            continue
        assert summary[:3] == (frozenset(others), len(others), len(weak))
        assert all(_coef_term(t)[1] is t for t in others)
        checked += 1
    note(f"{checked} sums checked")


def _op_count(outputs):
    return sum(node.op not in ("var", "const") for node in topo_order(outputs))


def test_collecting_terms_never_spells_out_a_shared_sum():
    from symgrad.simplify import Simplifier

    a, b, c, x, y = (sym.var(n, shape=(2,)) for n in "abcxy")
    for expression in [(a + b) + (a + b), (a + b + c) + (a + b + c), (x + (a + b)) + (y + (a + b)), x + 2 * x + 3]:
        plain = Simplifier(assume_finite=False)
        plain.rules = {}  # interning (CSE) and constant folding only
        cse_only = plain.run([expression])
        assert _op_count([sym.simplify(expression)]) <= _op_count(cse_only), str(expression)
    assert _op_count([sym.simplify((a + b) + (a + b))]) == 2  # 2*(a + b), not 2*a + 2*b
    x = sym.var("x", shape=(2,))
    assert _op_count([sym.simplify(2 * x * sym.sin(2 * x))]) == 3  # not 2*(x*sin(2*x)) beside sin's 2*x


_UNARY = [sym.sin, sym.exp, lambda a: -a, lambda a: 2 * a, lambda a: a * 0.5, lambda a: a**2, lambda a: 3 - a]
_BINARY = [lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b]


@st.composite
def small_elementwise_expressions(draw):
    """A few elementwise steps over x and y, each drawing its operands from everything built so far
    (so subexpressions are shared: 2*x*sin(2*x), (x + y) - (x + (x + y)))."""
    pool = [sym.var("x", shape=(3,)), sym.var("y", shape=(3,))]
    for _ in range(draw(st.integers(1, 6))):
        if draw(st.booleans()):
            pool.append(draw(st.sampled_from(_UNARY))(draw(st.sampled_from(pool))))
        else:
            pool.append(draw(st.sampled_from(_BINARY))(draw(st.sampled_from(pool)), draw(st.sampled_from(pool))))
    return pool[-1]


@given(small_elementwise_expressions())
def test_simplify_never_leaves_more_ops_than_cse_alone_and_keeps_values(expression):
    from symgrad.simplify import Simplifier

    plain = Simplifier(assume_finite=False)
    plain.rules = {}  # interning (CSE) and constant folding only
    (cse_only,) = plain.run([expression])
    simplified = sym.simplify(expression)
    note(f"{expression} -> {simplified}")
    assert _op_count([simplified]) <= _op_count([cse_only])
    args = {"x": np.array([0.7, 0.0, np.inf]), "y": np.array([-1.3, 2.0, 1.5])}
    with np.errstate(all="ignore"):
        want = run_unsimplified([expression], [v for v in topo_order([expression]) if v.op == "var"], args)[0]
        got = ev(simplified, args)[0].asnumpy() if simplified.op != "const" else simplified.attrs["value"]
    np.testing.assert_allclose(got, np.broadcast_to(want, np.shape(got)), rtol=1e-12)  # NaN, Inf alike


@given(recipes())
def test_gradients_with_ranks_only_equal_the_full_shape_ones(recipe):
    """Each variable declared with its rank and open sizes (a size 1 kept: an open size is not 1)."""
    ranked = [sym.var(n, shape=tuple(d if d == 1 else None for d in s)) for n, s in recipe.shapes.items()]
    loss, full_loss = recipe.symbol(ranked), recipe.symbol()
    names = full_loss.list_arguments()
    args = {n: np.random.default_rng(0).uniform(0.5, 1.5, s) for n, s in recipe.shapes.items()}
    for got, want in zip(sym.grad(loss, names), sym.grad(full_loss, names)):
        note(str(got))
        got, want = ev(got, args)[0].asnumpy(), ev(want, args)[0].asnumpy()
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
