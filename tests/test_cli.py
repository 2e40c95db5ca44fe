"""The command line: printed derivatives, values, and hostile input that runs nothing."""

import os
import subprocess
import sys
import warnings

import pytest

from symgrad import ExpressionError
from symgrad.cli import main, parse_expression


def run(*argv):
    return subprocess.run([sys.executable, "-m", "symgrad", *argv], capture_output=True, text=True, timeout=120)


def test_diff_prints_the_simplified_derivative():
    done = run("diff", "2*dot(x, x)", "--wrt", "x")
    assert done.returncode == 0
    assert done.stdout.strip() == "4*x"


def test_diff_at_a_point_prints_the_values(capsys):
    assert main(["diff", "2*dot(x, x)", "--wrt", "x", "--at", "x=0,1,2,3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "4*x"
    assert "[ 0.,  4.,  8., 12.]" in out[1]


def test_a_value_that_is_inf_or_nan_is_named_in_the_users_terms_not_at_the_launcher(capsys):
    """The CLI user's code is the expression and the point: the warning names those (it named
    the installed launcher script's line and an internal node, 'cast0_output')."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning may escape to Python's warning machinery
        assert main(["diff", "sqrt(x)", "--wrt", "x", "--at", "x=0"]) == 0
        assert main(["diff", "log(x)", "--wrt", "x", "--at", "x=2"]) == 0  # finite: nothing said
    out, err = capsys.readouterr()
    assert out.splitlines()[1] == "  at x=0: inf"
    warned = "symgrad: warning: divide by zero encountered in d/dx = 1/(2*sqrt(x)) at x=0: the value has Inf or NaN\n"
    assert err == warned
    done = run("diff", "1/x", "--wrt", "x", "--at", "x=-1,0")
    assert done.returncode == 0 and done.stdout.splitlines()[1] == "  at x=-1,0: [ -1., -inf]"
    assert done.stderr == (
        "symgrad: warning: divide by zero encountered in d/dx = -1/x**2 at x=-1,0: the value has Inf or NaN\n"
    )


def test_diff_with_two_variables(capsys):
    assert main(["diff", "sin(x)*y", "--wrt", "x", "--wrt", "y", "--at", "x=0", "--at", "y=2"]) == 0
    out = capsys.readouterr().out
    assert "d/dx = y*cos(x)" in out and "d/dy = sin(x)" in out
    assert "2." in out


def test_diff_of_an_op_with_keyword_arguments(capsys):
    assert main(["diff", "sum(x*x, axis=0)", "--wrt", "x", "--shape", "x=3"]) == 0
    assert capsys.readouterr().out.strip() == "2*x"


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('touch PWNED')",
        "().__class__",
        "x.__class__",
        "open('PWNED', 'w')",
        "lambda: 1",
        "[x for x in y]",
        "'text'",
        "(y := 1)",
        "exp(x)[0]",
        "sum(x, name='a')",
        "eval('1')",
    ],
)
def test_hostile_expressions_exit_2_and_run_nothing(text, tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "symgrad", "diff", text, "--wrt", "x"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("symgrad: error:") and done.stderr.count("\n") == 1
    assert not os.path.exists(tmp_path / "PWNED")


def test_a_caret_is_not_a_power_and_the_error_says_to_write_two_stars():
    with pytest.raises(ExpressionError, match=r"x \^ 2 .*\^ is Python's exclusive or: write \*\* for a power"):
        parse_expression("x^2")


def test_parse_expression_raises_expression_error_for_non_expressions():
    with pytest.raises(ExpressionError):
        parse_expression("import os")
    expr, variables = parse_expression("x + 2*y")
    assert sorted(variables) == ["x", "y"]


def test_help_and_demo():
    assert "diff" in run("--help").stdout
    assert "--wrt" in run("diff", "--help").stdout
    demo = run("demo")
    assert demo.returncode == 0, demo.stderr
    assert "(<Symbol 1>, <Symbol 2>, <Symbol _plus0>)" in demo.stdout
    assert "[[3.]\n [3.]]" in demo.stdout
    assert "4*x" in demo.stdout
    for line in demo.stdout.splitlines():  # what the demo shows as typed can be copied into Python
        if line.startswith(">>> "):
            compile(line[4:], "demo", "exec")


def test_every_variable_defaults_to_a_scalar_not_only_the_one_differentiated(capsys):
    assert main(["diff", "x*y", "--wrt", "y"]) == 0
    assert capsys.readouterr().out.strip() == "x"  # was sum_like(x, y): x's shape was left undeclared
    assert main(["diff", "sum(x*y)", "--wrt", "y", "--shape", "x=3", "--shape", "y=3"]) == 0
    assert capsys.readouterr().out.strip() == "x"


def test_a_shape_error_from_a_variable_left_a_scalar_says_how_to_declare_its_shape(capsys):
    assert main(["diff", "sum(log(softmax(x)))", "--wrt", "x"]) == 2
    err = capsys.readouterr().err
    assert "axis -1 is out of range for 0-d input" in err
    assert err.strip().endswith("; x: a scalar here, declare a shape with --shape x=3")
    assert main(["diff", "sum(softmax(x)*y)", "--wrt", "x", "--shape", "y=3"]) == 2
    assert capsys.readouterr().err.strip().endswith("; x: a scalar here, declare a shape with --shape x=3")
    assert main(["diff", "sum(log(softmax(x)))", "--wrt", "x", "--shape", "x=3", "--at", "x=0,0,0"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "  at x=0,0,0: [0., 0., 0.]"
