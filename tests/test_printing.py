"""Printed derivatives: exact texts, and as short as SymPy's simplified ones."""

import numpy as np
import pytest
import sympy as sp

from symgrad import sym
from symgrad.ops import shape as shp

x_sp = sp.Symbol("x", real=True)


def test_printed_derivatives_of_the_contract():
    x = sym.var("x", shape=(4,))
    assert str(sym.grad(2 * sym.dot(x, x), x)) == "4*x"
    assert str(sym.grad(sym.sum(x * x), x)) == "2*x"
    assert str(sym.grad(sym.sum(sym.var("v") * sym.var("v")), "v")) == "2*v"
    assert str(sym.grad((x + 2) ** 2 + 3, x)) in ("2*x + 4", "2*(x + 2)")
    assert str(sym.simplify(2 * (2 * x))) == "4*x"
    assert str(sym.simplify(x + x)) == "2*x"


def test_matrix_gradient_prints_as_a_short_matrix_expression():
    x, y, w = sym.var("x", shape=(10, 20)), sym.var("y", shape=(10, 5)), sym.var("w", shape=(20, 5))
    text = str(sym.grad(sym.mean(y - sym.dot(x, w)), w))
    assert text == "dot(x.T, -full((10, 5), 0.02))"  # not -dot(...): -0.0 where a column cancels
    assert str(sym.grad(sym.sum(sym.dot(x, w)), x)).startswith("dot(")


def test_infix_printing_uses_minimal_parentheses():
    a, b, c = sym.var("a"), sym.var("b"), sym.var("c")
    assert str(sym.simplify((a + b) * c)) in ("c*(a + b)", "(a + b)*c")
    assert str(sym.simplify(a - (b - c))) in ("a - b + c", "a + c - b", "a - (b - c)")
    assert str(sym.simplify(sym.sum(sym.dot(a, b), axis=0))) == "sum(dot(a, b), axis=0)"


FUNCTIONS = [
    (lambda x: sym.sin(x) * sym.exp(x), sp.sin(x_sp) * sp.exp(x_sp)),
    (lambda x: sym.log(1 + x * x), sp.log(1 + x_sp**2)),
    (lambda x: x**3 - 2 * x, x_sp**3 - 2 * x_sp),
    (lambda x: sym.tanh(x), sp.tanh(x_sp)),
    (lambda x: sym.sqrt(x * x + 1), sp.sqrt(x_sp**2 + 1)),
    (lambda x: sym.exp(-x * x), sp.exp(-(x_sp**2))),
    (lambda x: x / (1 + x * x), x_sp / (1 + x_sp**2)),
    (lambda x: sym.cos(x) ** 2, sp.cos(x_sp) ** 2),
    (lambda x: sym.arctan(x) * x, sp.atan(x_sp) * x_sp),
    (lambda x: sym.sin(x) / x, sp.sin(x_sp) / x_sp),
    (lambda x: (x + 1) ** 5, (x_sp + 1) ** 5),
    (lambda x: sym.exp(sym.sin(x)), sp.exp(sp.sin(x_sp))),
    (lambda x: sym.log(sym.cosh(x)), sp.log(sp.cosh(x_sp))),
    (lambda x: x * sym.exp(2 * x), x_sp * sp.exp(2 * x_sp)),
    (lambda x: 1 / (1 + sym.exp(-x)), 1 / (1 + sp.exp(-x_sp))),
    (lambda x: sym.sqrt(x) * sym.log(x), sp.sqrt(x_sp) * sp.log(x_sp)),
    (lambda x: sym.sinh(x) * sym.cosh(x), sp.sinh(x_sp) * sp.cosh(x_sp)),
]


@pytest.mark.parametrize("index", range(len(FUNCTIONS)))
def test_printed_derivative_equals_sympy_and_is_no_longer(index):
    build, expr = FUNCTIONS[index]
    x = sym.var("x")
    ours = sym.grad(build(x), x)
    text = str(ours)
    parsed = sp.sympify(text, locals={"x": x_sp, "arctan": sp.atan, "arcsin": sp.asin, "arccos": sp.acos})
    reference = sp.diff(expr, x_sp)
    if sp.simplify(parsed - reference) != 0:  # SymPy cannot always prove it; check at points instead
        for point in (0.3, 0.7, 1.9):
            assert float(parsed.subs(x_sp, point)) == pytest.approx(float(reference.subs(x_sp, point)), rel=1e-12)
    graph = ours.eval(x=EDGES)[0].asnumpy()
    np.testing.assert_allclose(at_edges(as_written(text)), graph, rtol=1e-6, atol=1e-12, err_msg=text)
    shortest = sp.simplify(reference)
    if sp.count_ops(parsed) > sp.count_ops(shortest):  # longer only where SymPy's form has other values at the edges
        assert not np.allclose(at_edges(shortest), graph, rtol=1e-6, atol=1e-12, equal_nan=True), (text, shortest)
    value = ours.eval(x=np.array(0.7))[0]
    assert float(value) == pytest.approx(float(reference.subs(x_sp, 0.7)), rel=1e-12)


EDGES = np.array([-np.inf, -1e3, -3.5, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0, 3.5, 1e3, np.inf, np.nan])


def at_edges(expr):
    """A SymPy expression's values at EDGES, as NumPy computes them (lambdify: an evaluation printing does not use)."""
    with np.errstate(all="ignore"):
        return np.broadcast_to(sp.lambdify(x_sp, expr, "numpy")(EDGES), EDGES.shape).astype(float)


def as_written(text):
    """Printed text as SymPy reads it without evaluating (which would take exp(log(x)) to x again)."""
    return sp.sympify(text, locals={"x": x_sp, "arctan": sp.atan}, evaluate=False)


# SymPy simplifies as algebra on the reals; printed text must have the graph's values, NaN and inf included
IDENTITIES_NOT_AT_THE_EDGES = [
    (lambda x: sym.sin(x) ** 2 + sym.cos(x) ** 2, "1"),  # NaN at +-inf and NaN
    (lambda x: sym.exp(sym.log(x)), "x"),  # NaN for x < 0
    (lambda x: x * x ** (x - 1), "x**x"),  # at x = -inf: -inf*0 = NaN, (-inf)**(-inf) = 0
    (lambda x: x / x + x, "x + 1"),  # NaN at 0 and +-inf
    (lambda x: sym.sinh(x) / sym.cosh(x), "tanh(x)"),  # NaN at +-inf
    (lambda x: sym.sqrt(x) ** 2, "x"),  # NaN for x < 0
    (lambda x: sym.log(sym.exp(x)), "x"),  # inf at x = 1000 (exp overflows)
    (lambda x: sym.exp(x) * sym.exp(-x), "1"),  # NaN at x = 1000: inf*0
]


@pytest.mark.parametrize("index", range(len(IDENTITIES_NOT_AT_THE_EDGES)))
def test_printing_keeps_no_identity_that_fails_at_inf_or_nan(index):
    build, wrong = IDENTITIES_NOT_AT_THE_EDGES[index]
    x = sym.var("x")
    graph = build(x)
    text = str(graph)
    assert text != wrong
    edges = graph.eval(x=EDGES)[0].asnumpy()
    np.testing.assert_allclose(at_edges(as_written(text)), edges, rtol=1e-6, atol=1e-12, err_msg=text)
    assert graph._repr_latex_() != f"$\\displaystyle {sp.latex(sp.sympify(wrong, locals={'x': x_sp}))}$"


def test_printing_keeps_identities_that_hold_at_inf_and_nan():
    x, y = sym.var("x"), sym.var("y")
    assert str(sym.cos(x) ** 2 * 2 - 1) == "cos(2*x)"  # 2cos^2 - 1 is cos(2x) at every edge value (NaN at +-inf)
    assert str(sym.exp(x) * sym.exp(y + 1)) == "exp(x)*exp(y + 1)"  # exp(x + y + 1) is 1 at x = -1000, y = 999
    assert str(x * y + x * y) == "2*x*y"
    assert str(sym.sqrt(x * x)) == "abs(x)"


def test_latex_and_sympy_bridge():
    x = sym.var("x")
    s = sym.sin(x) * x
    assert s._repr_latex_().startswith("$") and "\\sin" in s._repr_latex_()
    assert sp.simplify(s.to_sympy() - sp.sin(sp.Symbol("x", real=True)) * sp.Symbol("x", real=True)) == 0
    back = sym.from_sympy(sp.exp(x_sp) * sp.cos(x_sp) + x_sp**2, [x])
    np.testing.assert_allclose(back.eval(x=np.array(0.3))[0], np.exp(0.3) * np.cos(0.3) + 0.09)


def test_a_deep_chain_gradient_prints_with_temporaries_not_as_a_swollen_tree():
    def printed(depth):
        x, z = sym.var("x", shape=(5,)), sym.var("z", shape=(5,))
        t = x
        for _ in range(depth):
            t = sym.exp(-((sym.tanh(sym.sin(t) * z) + z) ** 2))
        return str(sym.grad(sym.sum(t), x))

    two, four, eight = printed(2), printed(4), printed(8)
    assert "\n where\n" in four and "t0 = tanh(sin(x)*z)" in four
    assert len(eight) < 2.5 * len(four) < 6.25 * len(two)  # grows with the depth, not exponentially
    x = sym.var("x")
    assert str(sym.grad(sym.exp(sym.sin(x)) * sym.sin(x), x)) == "(sin(x) + 1)*exp(sin(x))*cos(x)"


def test_exact_small_fractions_print_as_fractions():
    X, w = sym.var("X", shape=(50, 3)), sym.var("w", shape=(3, 10))
    assert str(sym.simplify(0.02 * X)) == "X/50"
    assert str(sym.simplify(-0.02 * X)) == "-X/50"
    assert str(sym.simplify((2 / 3) * sym.dot(X, w))) == "2/3*dot(X, w)"
    assert str(sym.simplify(X ** (2 / 3))) == "X**(2/3)"
    assert str(sym.simplify(0.5 * sym.dot(X, w))) == "0.5*dot(X, w)"  # a binary fraction reads well as it is
    assert str(sym.simplify(0.1234 * X)) == "0.1234*X"  # not a small fraction: as written
    value = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(sym.simplify(0.02 * sym.var("v")).eval(v=value)[0], 0.02 * value)


def test_sizes_print_as_size_and_the_mean_gradient_as_ones_over_size():
    z = sym.var("z")
    assert str(sym.grad(sym.mean(z), z)) == "ones(shape(z))/size(z)"
    X, w, b, y = sym.var("X"), sym.var("w"), sym.var("b"), sym.var("y")
    text = str(sym.grad(sym.mean((sym.dot(X, w) + b - y) ** 2), w))
    assert "size(t0)" in text and "reduce_size" not in text and "broadcast_like" not in text, text


def test_subtracting_a_negative_multiple_prints_as_adding_it():
    OH, X, w = sym.var("OH", shape=(50, 10)), sym.var("X", shape=(50, 3)), sym.var("w", shape=(3, 10))
    text = str(sym.grad(-sym.mean(sym.sum(OH * sym.log_softmax(sym.dot(X, w), axis=-1), axis=1)), w))
    assert "- -" not in text and "+ -" not in text and "0.02" not in text, text


def test_latex_names_ops_attributes_and_constants_as_str_does():
    x, rate = sym.var("x"), sym.var("learning_rate")
    assert r"\operatorname{log\_softmax}_{\text{axis=1}}\left(x\right)" in sym.log_softmax(x, axis=1)._repr_latex_()
    assert r"\operatorname{sum}_{\text{axis=1}}" in sym.sum(x, axis=1)._repr_latex_()
    sliced = (x[0:2] * rate)._repr_latex_()
    assert r"x\left[0:2\right]" in sliced and r"\mathrm{learning\_rate}" in sliced and "slice" not in sliced
    assert "1e+200" in (1e200 * (1e200 * x))._repr_latex_() and "400" not in (1e200 * (1e200 * x))._repr_latex_()
    assert r"\alpha" in (sym.var("alpha") * x)._repr_latex_()  # plain names keep SymPy's own LaTeX


def test_the_sympy_forms_both_ways_are_fields_of_each_ops_registration():
    from symgrad.ops.registry import OPS
    from symgrad.printing import from_sympy_ops

    x = sym.var("x")
    back = from_sympy_ops()
    assert {name for name, opdef in OPS.items() if opdef.from_sympy is not None} == {b.__name__ for b in back.values()}
    for name, opdef in OPS.items():
        if opdef.from_sympy is None or name in ("maximum", "minimum"):
            continue
        expr = getattr(sym, name)(x).to_sympy()
        assert type(expr) is opdef.from_sympy and sym.from_sympy(expr, [x]).op == name
    # sp.Max maps to the public maximum, which moves a constant first argument second (relu's tie rule)
    assert sym.from_sympy(sp.Max(0, sp.Symbol("x", real=True)), [x]).inputs[0] is x
    # printing hands a graph to SymPy only when each op has sympy_simplify (cbrt's form is not x**(1/3))
    assert OPS["sin"].sympy_simplify and not OPS["cbrt"].sympy_simplify
    assert str(sym.sin(x) * sym.exp(x) * sym.sin(x)) == "exp(x)*sin(x)**2"  # SymPy collected the product
    assert str(sym.cbrt(x) * sym.exp(x) * sym.cbrt(x)) == "cbrt(x)*exp(x)*cbrt(x)"  # the graph as built


def test_a_broadcast_to_a_shape_known_only_at_bind_prints_as_broadcast_to_with_the_shape_named():
    a, b = sym.var("a"), sym.var("b")
    assert str(shp.broadcast_like(a, b)) == "broadcast_to(a, shape(b))"
    assert str(shp.broadcast_like(2.0, b)) == "full(shape(b), 2)"
    assert str(sym.grad(sym.sum(b), b)) == "ones(shape(b))"
    x, y = sym.var("x", shape=(3, 1)), sym.var("y", shape=(3, 4))
    assert str(shp.broadcast_like(x, y)) == "broadcast_to(x, shape=(3, 4))"  # as broadcast_to(x, shape=(3, 4)) prints


def test_latex_of_a_graph_too_deep_for_sympy_is_its_text_with_temporaries_not_a_recursion_error():
    x = sym.var("x")
    y = x
    for k in range(300):  # SymPy's recursive printers failed from about 100 nested steps
        y = sym.sin(y) if k % 2 else y * 1.5 + x
    latex = y._repr_latex_()
    assert latex.startswith(r"$\displaystyle \texttt{sin(") and latex.count("sin(") == 150
    grad = sym.grad(y, x)._repr_latex_()
    lines = grad[len(r"$\displaystyle \begin{array}{l}") : -len(r"\end{array}$")].split(r" \\ ")
    assert lines[1] == r"\texttt{where}" and all(line.startswith(r"\texttt{t") for line in lines[2:])
    assert len(lines) - 2 == str(sym.grad(y, x)).count("\n") - 1  # one line per temporary, as str has
    assert r"\sin{\left(x \right)}" in sym.sin(x)._repr_latex_()  # small graphs still go through SymPy


def test_a_constant_index_of_take_and_pick_prints_its_values_as_the_keyword_mxnet_names_it():
    x = sym.var("x")
    taken = sym.take(x, np.array([1, 1]))
    assert str(taken) == "take(x, indices=[1, 1])"  # it printed take(x, ones((2,)))
    assert str(sym.grad(sym.sum(taken**2), x)) == "take_scatter(2*take(x, indices=[1, 1]), x, indices=[1, 1])"
    assert str(sym.take(x, np.array([2.0, 0.0]), axis=1)) == "take(x, indices=[2.0, 0.0], axis=1)"
    assert str(sym.take(x, 1, axis=1)) == "take(x, 1, axis=1)"  # a scalar index stays an argument
    picked = sym.pick(x, np.array([0, 0, 0]), axis=1)
    assert str(picked) == "pick(x, index=[0, 0, 0], axis=1)"
    assert str(sym.load_json(picked.tojson())) == str(picked)
    assert "zeros((3,))" not in str(sym.grad(picked, x))


def test_a_negated_quotient_as_a_matmul_operand_keeps_its_parentheses():
    # -b/c is a quotient ((-b)/c): a @ -b/c would read as (a @ -b)/c
    a, b, c = (sym.var(n, shape=(2, 2)) for n in "abc")
    assert str(sym.matmul(a, -(b / c))) == "a @ (-b/c)"
    assert str(sym.matmul(a, -b)) == "a @ -b"


def test_a_negative_term_prints_as_a_subtraction_and_declared_broadcasts_as_numbers():
    # the review met `a + -sum(...)*ones(shape(x))` for a softmax's gradient with x declared (3,)
    from symgrad.ops import elementwise as ew
    from symgrad.printing import GraphPrinter

    x, y = sym.var("x"), sym.var("y")
    for built, text in ((ew.add(x, ew.negative(y * 2)), "x - y*2"), (ew.subtract(x, ew.negative(y)), "x + y")):
        assert GraphPrinter([built]).result([built]) == text
    xs = sym.var("x", shape=(3,))
    printed = str(sym.grad(sym.exp(xs) / sym.sum(sym.exp(xs)) * xs, xs))
    assert "+ -" not in printed and "ones((3,))" in printed and "shape(x)" not in printed
    at = np.array([0.5, -1.0, 2.0])
    body, temps = printed.split("\n where\n")
    names = {"sum": np.sum, "exp": np.exp, "ones": np.ones, "x": at}
    for line in temps.splitlines():
        name, text = line.strip().split(" = ")
        names[name] = eval(text, names)  # noqa: S307 - symgrad's own printed text
    soft = np.exp(at) / np.exp(at).sum()
    np.testing.assert_allclose(eval(body, names), soft + soft * at - soft * (soft * at).sum(), rtol=1e-12)  # noqa: S307
