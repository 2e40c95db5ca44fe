"""NumPy's floating-point warnings: silent for values symgrad defines, at the user's line otherwise."""

import warnings

import numpy as np
import pytest
from without import run_without

from symgrad import SymgradError, autograd, executor, nd, sym


def line_of(marker: str) -> int:
    """The line number in this file of the (unique) line that carries the marker comment."""
    with open(__file__) as source:
        for number, text in enumerate(source, 1):
            if text.rstrip().endswith(f"# {marker}"):
                return number
    raise AssertionError(marker)


def no_warnings(run):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        return run()


def test_values_symgrad_defines_on_purpose_raise_no_warning():
    x = sym.var("x")
    zero = np.zeros(3)
    (g,) = no_warnings(lambda: sym.grad(sym.norm(x), x).eval(x=zero))  # norm's gradient at 0 is 0
    np.testing.assert_array_equal(g, zero)
    masked = sym.sum(sym.where(x > 0, sym.sqrt(x), 0))  # sqrt(-1) in the branch not taken
    (g,) = no_warnings(lambda: sym.grad(masked, x).eval(x=np.array([-1.0, 4.0])))
    np.testing.assert_array_equal(g, [0.0, 0.25])
    ex = masked.simple_bind(x=(2,))
    ex.forward(is_train=True, x=np.array([-1.0, 4.0]))
    no_warnings(ex.backward)
    np.testing.assert_array_equal(ex.grad_dict["x"], [0.0, 0.25])


def test_eager_backward_through_a_masked_branch_raises_no_warning():
    a = nd.array([-1.0, 4.0], dtype="float64")
    a.attach_grad()
    with autograd.record():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the eager forward of sqrt(-1) itself is the user's value
            y = nd.where(a > 0, nd.sqrt(a), nd.zeros_like(a)).sum()
    no_warnings(y.backward)
    np.testing.assert_array_equal(a.grad.asnumpy(), [0.0, 0.25])


def test_a_nan_from_the_users_value_warns_once_at_the_users_line():
    x = sym.var("x")
    with pytest.warns(RuntimeWarning, match="invalid value encountered in the forward pass") as seen:
        (y,) = sym.log(x).eval(x=np.array([-1.0, 1.0]))  # user-log
    assert np.isnan(y[0]) and y[1] == 0
    assert len(seen) == 1
    assert (seen[0].filename, seen[0].lineno) == (__file__, line_of("user-log"))
    assert "log" in str(seen[0].message) and "NaN or Inf in output 'log" in str(seen[0].message)


def test_an_infinite_gradient_from_the_users_value_warns_at_backward():
    x = sym.var("x")
    ex = sym.sum(sym.log(x)).simple_bind(x=(2,))
    ex.forward(is_train=True, x=np.array([0.0, 2.0]))
    with pytest.warns(
        RuntimeWarning, match="encountered in the backward pass: NaN or Inf in the gradient of 'x'"
    ) as seen:
        ex.backward(out_grads=np.ones(()))  # user-backward
    assert seen[0].lineno == line_of("user-backward")
    assert ex.grad_dict["x"][0] == np.inf and ex.grad_dict["x"][1] == 0.5


@pytest.mark.parametrize("calls_before", [0, executor.CODEGEN_AFTER_CALLS])
def test_a_gradient_a_train_forward_computed_early_warns_at_backward_not_at_forward(calls_before):
    """The same before and after the executor switches to its generated train step (`calls_before`)."""
    x = sym.var("x")
    ex = sym.sum(sym.sqrt(x)).simple_bind(x=(2,), dtype="float64")
    assert ex._early  # the forward computes the gradient (1/(2 sqrt(x)), infinite at 0) too
    for _ in range(calls_before):
        ex.forward(is_train=True, x=np.array([1.0, 4.0]))
    assert ("forward" in vars(ex)) == (calls_before > 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ex.forward(is_train=True, x=np.array([0.0, 4.0]))
    with pytest.warns(RuntimeWarning, match="in the backward pass: NaN or Inf in the gradient of 'x'") as seen:
        ex.backward()  # user-early-backward
    assert len(seen) == 1 and seen[0].lineno == line_of("user-early-backward")
    assert ex.grad_dict["x"][0] == np.inf and ex.grad_dict["x"][1] == 0.25
    spoilt = "invalid value encountered in the forward pass: NaN or Inf in output"
    with pytest.warns(RuntimeWarning, match=spoilt) as seen:
        ex.forward(is_train=True, x=np.array([-1.0, 4.0]))  # user-early-forward
    assert len(seen) == 1 and (seen[0].filename, seen[0].lineno) == (__file__, line_of("user-early-forward"))


def test_the_generated_train_step_warns_as_the_methods_do_whichever_program_noted():
    """Errors noted in the forward program, the backward one, or both: the same warnings, at the
    same lines, before and after the executor's forward and backward become generated code."""
    x = sym.var("x")
    y = sym.sum(sym.sqrt(x)) + sym.sum(sym.log(x + 2.0))
    switched = y.simple_bind(x=(2,), dtype="float64")
    for _ in range(executor.CODEGEN_AFTER_CALLS):
        switched.forward(is_train=True, x=np.array([1.0, 4.0]))
    assert "forward" in vars(switched)
    inputs = {"forward only": [-1.0, 4.0], "backward only": [0.0, 4.0], "both": [0.0, -3.0], "none": [1.0, 2.0]}
    for case, value in inputs.items():
        said = []
        for ex in (y.simple_bind(x=(2,), dtype="float64"), switched):
            with warnings.catch_warnings(record=True) as seen:
                warnings.simplefilter("always")
                ex.forward(is_train=True, x=np.array(value))  # generated-forward
                ex.backward()  # generated-backward
            said.append([(str(w.message), w.filename, w.lineno) for w in seen])
            grads = ex.grad_dict["x"].asnumpy()
        assert said[0] == said[1], case
        forward_line, backward_line = line_of("generated-forward"), line_of("generated-backward")
        expected_lines = {"forward only": [forward_line], "backward only": [backward_line]}
        expected_lines.update({"both": [forward_line, backward_line], "none": []})
        assert [line for _, _, line in said[1]] == expected_lines[case], (case, said[1])
        assert all(filename == __file__ for _, filename, _ in said[1])
        with np.errstate(all="ignore"):
            v = np.array(value)
            np.testing.assert_array_equal(grads, 0.5 / np.sqrt(v) + 1 / (v + 2.0))


def test_eager_ops_and_backward_warn_at_the_users_line():
    a = nd.array([-1.0, 0.0], dtype="float64")
    with pytest.warns(
        RuntimeWarning, match="divide by zero and invalid value encountered in nd.log: NaN or Inf in the result"
    ) as seen:
        nd.log(a)  # eager-log
    assert (seen[0].filename, seen[0].lineno) == (__file__, line_of("eager-log"))
    b = nd.array([0.0, 1.0], dtype="float64")
    b.attach_grad()
    with autograd.record():
        y = nd.sqrt(b).sum()
    with pytest.warns(RuntimeWarning, match="divide by zero encountered in backward") as seen:
        y.backward()  # eager-backward
    assert seen[0].lineno == line_of("eager-backward")
    assert b.grad.asnumpy()[0] == np.inf


def test_the_users_numpy_error_state_is_restored_even_after_an_error():
    before = np.geterr()
    with np.errstate(divide="raise"):
        inside = np.geterr()
        with pytest.warns(RuntimeWarning):
            sym.log(sym.var("x")).eval(x=np.zeros(1))
        assert np.geterr() == inside
        with pytest.raises(SymgradError):
            sym.dot(sym.var("a"), sym.var("b")).eval(a=np.ones(2), b=np.ones(3))
        assert np.geterr() == inside
    assert np.geterr() == before


def test_the_public_errstate_path_works_too():
    # The fast path uses a private NumPy name; hide it, as a future NumPy might, so the fallback runs.
    out = run_without(
        set(),
        """
        import sys, types, warnings
        import numpy as np
        sys.modules["numpy._core._ufunc_config"] = types.ModuleType("numpy._core._ufunc_config")
        from symgrad import fpwarnings, sym
        assert not hasattr(fpwarnings, "_extobj")
        x = sym.var("x")
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            print(sym.log(x).eval(x=np.array([-1.0]))[0].tolist())
            print(sym.grad(sym.norm(x), x).eval(x=np.zeros(2))[0].tolist())
        print([str(w.message).split(":")[0] for w in seen], np.geterr() == {
            "divide": "warn", "over": "warn", "under": "ignore", "invalid": "warn"})
        """,
    )
    assert out.splitlines() == ["[nan]", "[0.0, 0.0]", "['invalid value encountered in the forward pass'] True"]


def test_inside_record_ops_note_and_the_users_numpy_warns_as_numpy_does():
    # record() sets NumPy's error state once for the block, not around each op (eager W6's cost)
    before = np.geterr()
    a = nd.array([-1.0, 4.0], dtype="float64")
    a.attach_grad()
    with autograd.record():
        with pytest.warns(RuntimeWarning, match="invalid value encountered in nd.log: NaN or Inf") as seen:
            y = nd.log(a)  # record-log
        assert (seen[0].filename, seen[0].lineno) == (__file__, line_of("record-log"))
        no_warnings(lambda: nd.where(a > 0, a * 2, a))  # an op without an error says nothing
        with pytest.warns(RuntimeWarning, match="divide by zero encountered") as seen:
            np.log(np.zeros(1))  # user-numpy
        assert (seen[0].filename, seen[0].lineno) == (__file__, line_of("user-numpy"))
        with pytest.warns(RuntimeWarning, match="invalid value encountered"):
            np.linalg.norm(np.array([np.inf, -np.inf]) + np.array([-np.inf, np.inf]))
    assert np.geterr() == before
    assert np.isnan(y.asnumpy()[0])
    with np.errstate(divide="raise"):  # the user's own settings hold inside record(), each op noting as before
        with autograd.record():
            with pytest.raises(FloatingPointError):
                np.log(np.zeros(1))
            with pytest.warns(RuntimeWarning, match="nd.log"):
                nd.log(a)
        assert np.geterr()["divide"] == "raise"
    assert np.geterr() == before
