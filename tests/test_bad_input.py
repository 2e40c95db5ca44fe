"""The bad-input table (README "Errors"): one test per row, each with its error class and message."""

import numpy as np
import pytest

import symgrad as sg
from symgrad import autograd, nd, sym


@pytest.fixture
def bound():
    x, w = sym.var("x", shape=(3,)), sym.var("w")
    return sym.sum(x * w), {"x": np.ones(3), "w": np.ones(3)}


def test_shape_differs_from_declared_shape_at_bind(bound):
    s, _ = bound
    with pytest.raises(sg.BindError, match=r"'x' has shape \(4,\) but the variable was declared with shape \(3,\)"):
        s.bind({"x": np.ones(4), "w": np.ones(4)})


def test_shapes_an_op_cannot_combine_at_bind():
    a, b = sym.var("a"), sym.var("b")
    c = a * b
    with pytest.raises(
        sg.ShapeError, match=r"multiply '_mul\d+': cannot broadcast shapes \(3,\), \(4,\)[\s\S]*c = a \* b"
    ):
        c.bind({"a": np.ones(3), "b": np.ones(4)})


def test_wrong_shape_at_forward(bound):
    s, args = bound
    ex = s.bind(args)
    with pytest.raises(sg.BindError, match=r"forward: argument 'w' has shape \(5,\) but was bound with \(3,\)"):
        ex.forward(w=np.ones(5))


def test_integer_array_where_a_gradient_is_asked(bound):
    s, _ = bound
    with pytest.raises(sg.BindError, match=r"'w' has integer dtype int64 but its gradient is requested"):
        s.bind({"x": np.ones(3), "w": np.arange(3)})
    s.bind({"x": np.ones(3), "w": np.arange(3)}, grad_req={"x": "write", "w": "null"})  # fine without
    with pytest.raises(sg.SymgradError, match="attach_grad needs a floating-point array, got dtype int64"):
        nd.array([1, 2], dtype="int64").attach_grad()


def test_forward_cannot_copy_into_a_read_only_or_narrower_argument(bound):
    s, _ = bound
    frozen = np.ones(3)
    frozen.setflags(write=False)
    ex = s.bind({"x": frozen, "w": np.ones(3)}, grad_req="null")
    with pytest.raises(
        sg.BindError,
        match=r"cannot copy a float64 array into argument 'x': it is bound to a read-only array of float64",
    ):
        ex.forward(x=np.zeros(3))
    ex = s.bind({"x": np.arange(3), "w": np.ones(3)}, grad_req="null")
    with pytest.raises(
        sg.BindError, match=r"cannot copy a float64 array into argument 'x': it is bound to an array of int64"
    ):
        ex.forward(x=np.full(3, 0.5))
    assert ex.forward(x=np.arange(3) * 2)[0] == 6.0  # int into int is fine: sum([0, 2, 4] * 1)


def test_gradient_arrays_that_cannot_take_a_gradient(bound):
    s, _ = bound
    frozen = np.zeros(3)
    frozen.setflags(write=False)
    args = {"x": np.ones(3), "w": np.ones(3)}
    with pytest.raises(sg.BindError, match=r"args_grad\['w'\] must be a writeable float array .* read-only float64"):
        s.bind(args, args_grad={"w": frozen})
    with pytest.raises(sg.BindError, match=r"args_grad\['w'\] must be a writeable float array .* got int64 array"):
        s.bind(args, args_grad={"w": np.zeros(3, dtype=np.int64)})


def test_complex_array(bound):
    s, _ = bound
    with pytest.raises(sg.BindError, match="'w' is complex"):
        s.bind({"x": np.ones(3), "w": np.ones(3, dtype=complex)})


def test_ragged_list_bad_dtype_or_shape_and_an_allocation_too_big():
    x = sym.var("x")
    with pytest.raises(sg.BindError, match="argument 'x' is not a rectangular array"):
        (x * 2).bind({"x": [[1.0, 2.0], [3.0]]})
    with pytest.raises(sg.SymgradError, match="var 'y': dtype 'banana' is not a NumPy dtype"):
        sym.var("y", dtype="banana")
    with pytest.raises(sg.SymgradError, match="shape must be a tuple of ints, got 'abc'"):
        sym.var("y", shape="abc")
    with pytest.raises(sg.BindError, match="does not fit in memory"):
        (x * 2).simple_bind(x=(10**9, 10**9))


def test_a_ragged_index_list_names_what_it_indexes_and_the_fix():
    x = sym.var("x", shape=(3, 4))
    with pytest.raises(
        sg.ShapeError, match=r"indexing 'x': the index list \[\[0, 1\], \[2\]\] is ragged.*one list per axis"
    ):
        x[[[0, 1], [2]]]
    with pytest.raises(sg.ShapeError, match=r"indexing 'x': the index list \[\[0\], \[1, 2\]\] is ragged"):
        x[1:, [[0], [1, 2]]]
    a = nd.ones((3, 4))
    for index in ([[0, 1], [2]], ([[0, 1], [2]], 0)):
        with pytest.raises(sg.ShapeError, match=r"indexing an array of shape \(3, 4\): the index list .* is ragged"):
            a[index]
        with pytest.raises(sg.ShapeError, match=r"indexing an array of shape \(3, 4\).* is ragged"):
            a[index] = 0.0
    np.testing.assert_array_equal(a.asnumpy(), np.ones((3, 4)))  # nothing written


def test_take_and_pick_on_0d_data_or_an_empty_axis_say_so():
    # NumPy's "integer modulo by zero" came out of the axis arithmetic; MXNet 1.9.1 refuses 0-d data too
    # ("Axis should be in the range of [-r, r-1]")
    scalar = nd.array(np.array(3.0))
    with pytest.raises(sg.ShapeError, match=r"nd.take: data is 0-d, so it has no axis to index.*reshape"):
        nd.take(scalar, nd.array([0]))
    with pytest.raises(sg.ShapeError, match=r"nd.pick: data is 0-d"):
        nd.pick(scalar, nd.array(np.array(0)))
    with pytest.raises(sg.ShapeError, match=r"take 'take0': data is 0-d"):
        with sg.NameManager():
            sym.take(sym.var("x", shape=()), np.array([0]))
    with pytest.raises(sg.ShapeError, match=r"nd.take: the axis indexed has size 0"):
        nd.take(nd.zeros((0, 3)), nd.array([0]))


def test_writing_a_value_that_does_not_fit_into_an_ndarray_names_index_shapes_and_fix():
    # NumPy's "could not broadcast input array from shape (4,) into shape (2,3)" came out of __setitem__,
    # e.g. a label batch of the wrong size written into an executor's arg_dict
    ex = (sym.var("x") * 2).bind({"x": np.zeros((2, 3), np.float32)})
    label = ex.arg_dict["x"]
    with pytest.raises(
        sg.ShapeError,
        match=r"NDArray\[:\] = value: a value of shape \(4,\) does not broadcast"
        r" to the selection's shape \(2, 3\) \(the NDArray has shape \(2, 3\) and dtype float32\)",
    ):
        label[:] = np.ones(4)
    with pytest.raises(sg.ShapeError, match=r"NDArray\[:, 1\] = value: a value of shape \(3, 2\) .* shape \(2,\)"):
        label[:, 1] = np.ones((3, 2))
    with pytest.raises(sg.ShapeError, match=r"NDArray\[5\] = value: index 5 is out of bounds for axis 0 with size 2"):
        label[5] = 1.0
    with pytest.raises(sg.ShapeError, match=r"cannot store 'abc' in an NDArray of float32"):
        label[:] = "abc"
    np.testing.assert_array_equal(label.asnumpy(), np.zeros((2, 3)))  # nothing written by the refused stores
    label[:, 1] = np.arange(2.0)
    label[nd.array([1])] = 7.0
    np.testing.assert_array_equal(ex.forward()[0].asnumpy(), [[0, 0, 0], [14, 14, 14]])


def test_missing_argument(bound):
    s, _ = bound
    with pytest.raises(sg.BindError, match=r"no array for argument 'w'; expected \['x', 'w'\]"):
        s.bind({"x": np.ones(3)})


def test_extra_argument(bound):
    s, args = bound
    with pytest.raises(sg.BindError, match="'z' is not an argument of the symbol"):
        s.bind({**args, "z": np.ones(3)})


def test_bad_grad_req(bound):
    s, args = bound
    with pytest.raises(sg.BindError, match="grad_req for 'x' is 'sometimes'"):
        s.bind(args, grad_req="sometimes")


def test_unknown_bind_keyword_or_no_grad_req(bound):
    s, args = bound
    with pytest.raises(sg.BindError, match="unknown keyword argument 'grad_reqs'; did you mean 'grad_req'"):
        s.bind(args, grad_reqs="null")
    with pytest.raises(sg.BindError, match="grad_req must be one of"):
        s.bind(args, grad_req=None)
    s.bind(args, ctx="cpu(0)", shared_exec=None)  # MXNet's device arguments change nothing on the CPU


def test_head_gradient_of_the_wrong_shape(bound):
    s, args = bound
    ex = s.bind(args)
    ex.forward(is_train=True)
    with pytest.raises(sg.BindError, match=r"head gradient 0 has shape \(3,\), output 0 has shape \(\)"):
        ex.backward(np.ones(3))
    x = nd.array([1.0, 2.0])
    x.attach_grad()
    with autograd.record():
        y = x * 2
    with pytest.raises(sg.AutogradError, match=r"head gradient of shape \(3,\) for an output of shape \(2,\)"):
        y.backward(nd.ones((3,)))


def test_backward_before_forward_is_train(bound):
    s, args = bound
    with pytest.raises(sg.SymgradError, match=r"forward\(is_train=True\)"):
        s.bind(args).backward()


def test_backward_twice_without_retain_graph():
    x = nd.array([1.0])
    x.attach_grad()
    with autograd.record():
        y = x * x
    y.backward()
    with pytest.raises(sg.AutogradError, match="retain_graph=True"):
        y.backward()


def test_autograd_grad_by_a_variable_the_heads_do_not_reach():
    x, z = nd.ones(3), nd.ones((2, 2))
    x.attach_grad()
    z.attach_grad()
    with autograd.record():
        y = (x * 2).sum()
    # MXNet 1.9.1: "Cannot differentiate with respect to the 2-th variable because it is unreachable"
    with pytest.raises(sg.AutogradError, match=r"grad: variables\[1\] \(shape \(2, 2\)\) is not part of the recorded"):
        autograd.grad(y, [x, z])


def test_in_place_update_of_an_attached_array_while_recording():
    x = nd.array([1.0])
    x.attach_grad()
    with autograd.record(), pytest.raises(sg.SymgradError) as info:
        x += 1
    assert str(info.value).startswith("`x += ...` on an array with attach_grad() while recording")
    assert "autograd.pause()" in str(info.value)


def test_backward_on_something_not_recorded():
    with pytest.raises(sg.AutogradError, match="no recorded history"):
        (nd.array([1.0]) * 2).backward()


def test_nan_and_inf_inputs_propagate_and_never_crash():
    x = sym.var("x")
    s = sym.sum(sym.exp(x) * 2)
    ex = s.bind({"x": np.array([np.nan, np.inf, 1.0])})
    (out,) = ex.forward(is_train=True)
    ex.backward()
    assert np.isnan(out)
    np.testing.assert_array_equal(ex.grad_dict["x"], [np.nan, np.inf, 2 * np.e])
    a = nd.array([np.nan, np.inf, 1.0], dtype="float64")
    a.attach_grad()
    with autograd.record():
        b = nd.sum(nd.exp(a) * 2)
    b.backward()
    assert np.isnan(b.asscalar())
    np.testing.assert_array_equal(a.grad.asnumpy(), [np.nan, np.inf, 2 * np.e])


def test_a_cycle_cannot_be_built_or_loaded():
    x = sym.var("x")
    y = x + 1
    z = y(x=y)  # substitution into an immutable graph: (x + 1) + 1, never a cycle
    assert z.op == "add" and z.inputs[0].op == "add" and z.inputs[0].inputs[0] is x
    assert z.list_arguments() == ["x"] and str(z) == "x + 2"
    assert y.inputs[0] is x  # y itself is unchanged
    np.testing.assert_array_equal(z.eval(x=np.array(1.0))[0], 3.0)
    cyclic = '{"nodes": [{"op": "sin", "name": "a", "inputs": [1]}, {"op": "sin", "name": "b", "inputs": [0]}], "heads": [1]}'
    with pytest.raises(sg.GraphFormatError, match="earlier node"):
        sym.load_json(cyclic)


def test_an_empty_graph():
    with pytest.raises(sg.GraphFormatError, match="no outputs"):
        sym.load_json('{"nodes": [], "heads": []}')
    with pytest.raises(sg.BindError, match="no outputs"):
        sym.Group([]).bind({})


def test_zero_size_arrays_run_forward_and_backward():
    x, w = sym.var("x"), sym.var("w")
    s = sym.sum(sym.tanh(sym.dot(x, w)))
    ex = s.bind({"x": np.zeros((0, 3)), "w": np.ones((3, 2))})
    (out,) = ex.forward(is_train=True)
    ex.backward()
    assert out == 0.0 and ex.grad_dict["x"].shape == (0, 3)
    np.testing.assert_array_equal(ex.grad_dict["w"], np.zeros((3, 2)))
    v = sym.var("v")
    ex = (sym.sin(v) * v).bind({"v": np.zeros((0,))})
    (out,) = ex.forward(is_train=True)
    ex.backward()
    assert out.shape == (0,) and ex.grad_dict["v"].shape == (0,)
    a = nd.zeros((0, 3), dtype="float64")
    a.attach_grad()
    with autograd.record():
        b = nd.sum(nd.exp(a), axis=1)
    b.backward()
    assert b.shape == (0,) and a.grad.shape == (0, 3)


def test_truth_value_of_a_symbol():
    x = sym.var("x")
    with pytest.raises(sg.SymgradError, match=r"use sym\.where"):
        bool(x > 0)


def test_malformed_json():
    with pytest.raises(sg.GraphFormatError, match="not valid JSON"):
        sym.load_json("{oops")
    with pytest.raises(sg.GraphFormatError, match="unknown op 'system'"):
        sym.load_json('{"nodes": [{"op": "system", "name": "rm -rf /"}], "heads": [0]}')
