"""MXNet 1.9 code runs as written (#23): each convention with the value or error MXNet 1.9.1 gives.

The expected values were taken from MXNet 1.9.1 (numpy 1.23) run on the same inputs, and are
recomputed here with NumPy wherever they are numbers; tests/MXNET_COVERAGE.md lists which of
MXNet's own unit tests these cover.
"""

import json
import pathlib

import numpy as np
import pytest

import symgrad as sg
from symgrad import autograd, nd, sym, viz

rng = np.random.default_rng(23)


# ---- dtypes ----------------------------------------------------------------------------------


def test_simple_bind_of_a_declared_float64_variable_computes_in_float64():
    a, b = sym.var("a", dtype="float64"), sym.var("b", dtype="float64")
    ex = sym.dot(a, b).simple_bind(a=(2, 3), b=(3, 2))
    assert [x.dtype for x in ex.arg_arrays] == [np.float64, np.float64]  # MXNet: float64 arrays
    av, bv = rng.normal(size=(2, 3)), rng.normal(size=(3, 2))
    (out,) = ex.forward(a=av, b=bv)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out.asnumpy(), av @ bv)  # float32 storage lost 1e-7 here


def test_simple_bind_gives_a_variable_beside_a_float64_one_its_dtype_and_type_dict_wins():
    a = sym.var("a", dtype="float64")
    ex = (a * 2).simple_bind(a=(2, 3))
    assert ex.arg_dict["a"].dtype == np.float64 and ex.outputs[0].dtype == np.float64  # as MXNet
    ex = sym.dot(a, sym.var("b")).simple_bind(a=(2, 3), b=(3, 2))
    assert ex.arg_dict["b"].dtype == np.float64  # MXNet's infer_type says float64 for b too
    p = sym.var("p")
    assert (p * 2).simple_bind(p=(2,)).arg_dict["p"].dtype == np.float32  # MXNet's default
    assert (p * 2).simple_bind(type_dict={"p": "float64"}, p=(2,)).arg_dict["p"].dtype == np.float64
    assert (p * 2).simple_bind(dtype="float64", p=(2,)).arg_dict["p"].dtype == np.float64  # symgrad's keyword
    with pytest.raises(sg.BindError, match="dtype = 'banana' is not a NumPy dtype"):
        (p * 2).simple_bind(dtype="banana", p=(2,))


def test_infer_type_propagates_through_the_graph_both_ways():
    a, b = sym.var("a"), sym.var("b")
    f64 = np.dtype("float64")
    # MXNet 1.9.1: ([float64, float64], [float64], []) for both
    assert sym.dot(a, b).infer_type(a="float64") == ([f64, f64], [f64], [])
    assert (a + b).infer_type(a="float64") == ([f64, f64], [f64], [])
    declared = sym.dot(sym.var("a", dtype="float64"), b)
    assert declared.infer_type() == ([f64, f64], [f64], [])
    assert (a * 2).infer_type() == (None, None, None)  # nothing known: MXNet's (None, None, None)
    assert (a * 2).infer_type_partial() == ([None], [None], [])


def test_nd_array_of_numpy_data_is_float32_unless_dtype_is_given():
    assert nd.array(np.ones(3)).dtype == np.float32  # MXNet: float32 for float64 data
    assert nd.array(np.ones(3, dtype=np.int64)).dtype == np.float32  # and for integer data
    assert nd.array([1, 2]).dtype == np.float32
    assert nd.array(np.ones(3), dtype="float64").dtype == np.float64
    x64 = nd.array(np.ones(3), dtype="float64")
    assert nd.array(x64).dtype == np.float64  # an NDArray keeps its dtype


def test_binding_a_float64_array_to_a_float32_variable_runs_in_float64():
    x = sym.var("x", dtype="float32")
    xv = rng.normal(size=3)
    (out,) = (x * 3).eval(x=xv)  # MXNet 1.9 runs it in float64 too
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out.asnumpy(), xv * 3)


# ---- shapes ----------------------------------------------------------------------------------

RESHAPES = json.loads((pathlib.Path(__file__).parent / "data" / "mxnet19_reshape.json").read_text())


def test_reshape_special_values_agree_with_mxnet():
    """240 (shape, spec, reverse) cases recorded from mx.nd.ones(shape).reshape(spec, reverse=...)."""
    mismatched = []
    for shape, spec, reverse, expected in RESHAPES:
        try:
            got = list(nd.ones(tuple(shape)).reshape(tuple(spec), reverse=reverse).shape)
        except sg.ShapeError:
            got = None
        if got != expected:
            mismatched.append((shape, spec, reverse, expected, got))
    # the one case: -1 right after -2, read from the right; MXNet refuses that order in 9 other cases
    assert mismatched == [([1, 6], [-1, -2], True, [1, 1, 6], None)]


def test_reshape_values_positional_sizes_and_gradients():
    x = nd.ones((2, 3, 4))
    assert x.reshape((0, -1)).shape == (2, 12)  # raised "cannot reshape (2, 3, 4) into (0, -1)"
    assert nd.arange(30).reshape(2, 3, 5).shape == (2, 3, 5)  # positional sizes
    assert nd.ones((10, 5, 4)).reshape((-1, 0), reverse=True).shape == (50, 4)
    data = rng.normal(size=(2, 3, 4))
    v = sym.var("v")
    s = sym.sum(v.reshape((-4, 1, 2, -2)) ** 2)
    assert s.infer_shape(v=(2, 3, 4))[1] == [()]
    ex = s.bind({"v": data})
    ex.forward(is_train=True)
    ex.backward()
    np.testing.assert_allclose(ex.grad_dict["v"].asnumpy(), 2 * data)
    assert sym.reshape(v, shape=(-3, 0)).infer_shape(v=(2, 3, 4))[1] == [(6, 4)]
    with pytest.raises(sg.ShapeError, match="cannot reshape"):
        nd.ones((2, 3)).reshape((4, -1))


def test_infer_shape_overrides_declared_shapes_and_is_none_when_partial():
    a = sym.var("a", shape=(2, 3))
    assert (a * 2).infer_shape(a=(5, 6)) == ([(5, 6)], [(5, 6)], [])  # MXNet 1.9.1
    x, w = sym.var("x"), sym.var("w")
    assert sym.dot(x, w).infer_shape(x=(2, 3)) == (None, None, None)  # MXNet 1.9.1
    assert sym.dot(x, w).infer_shape_partial(x=(2, 3)) == ([(2, 3), None], [None], [])
    # elementwise inputs share a shape, so MXNet infers b from a
    assert (x + w).infer_shape(x=(2, 3)) == ([(2, 3), (2, 3)], [(2, 3)], [])
    assert sym.broadcast_add(x, w).infer_shape(x=(2, 3), w=(1, 3)) == ([(2, 3), (1, 3)], [(2, 3)], [])
    assert (x * 2).infer_shape_partial() == ([None], [None], [])  # a constant says nothing of x


# ---- autograd.Function with several outputs ------------------------------------------------------


class DivMul(autograd.Function):
    """MXNet's test_autograd.py test_function: two outputs, two inputs."""

    def forward(self, x, y):
        self.save_for_backward(x, y)
        return x / y, x * y

    def backward(self, dm, dn):
        x, y = self.saved_tensors
        return dm / y + dn * y, dn * x - dm * x / y / y


def test_function_with_two_outputs_as_mxnets_test_function():
    xv, yv = rng.uniform(0.5, 2, 10), rng.uniform(0.5, 2, 10)
    x, y = nd.array(xv, dtype="float64"), nd.array(yv, dtype="float64")
    x.attach_grad()
    y.attach_grad()
    with autograd.record():
        m, n = DivMul()(x, y)
    np.testing.assert_allclose(m.asnumpy(), xv / yv)
    np.testing.assert_allclose(n.asnumpy(), xv * yv)
    autograd.backward([m, n])
    np.testing.assert_allclose(x.grad.asnumpy(), 1 / yv + yv)
    np.testing.assert_allclose(y.grad.asnumpy(), xv - xv / yv**2)
    with autograd.record():
        m, n = DivMul()(x, y)
    m.backward()  # the other output's head is zero
    np.testing.assert_allclose(x.grad.asnumpy(), 1 / yv)
    np.testing.assert_allclose(y.grad.asnumpy(), -xv / yv**2)


def test_function_forward_runs_once_per_call():
    calls = []

    class Square(autograd.Function):
        def forward(self, x):
            calls.append(1)
            self.save_for_backward(x)
            return x * x

        def backward(self, dy):
            (x,) = self.saved_tensors
            return 2 * x * dy

    x = nd.array([1.0, 2.0, 3.0])
    x.attach_grad()
    with autograd.record():
        y = Square()(x)
    y.backward()
    assert len(calls) == 1
    np.testing.assert_allclose(x.grad.asnumpy(), [2.0, 4.0, 6.0])


# ---- the executor ----------------------------------------------------------------------------------


def test_executor_arrays_are_ndarrays_sharing_memory_with_the_plan():
    a, b = sym.var("a"), sym.var("b")
    ex = (a * b).simple_bind(grad_req={"a": "write", "b": "null"}, a=(2, 3), b=(2, 3))
    assert isinstance(ex.outputs[0], nd.NDArray) and isinstance(ex.arg_dict["a"], nd.NDArray)
    assert ex.grad_dict["b"] is None and ex.grad_arrays[1] is None  # MXNet: None for 'null'
    first = ex.outputs[0]
    result = ex.forward(is_train=True, a=np.ones((2, 3)), b=np.full((2, 3), 2.0))
    assert result is ex.outputs and result[0] is first  # made once at bind, as MXNet's handles
    np.testing.assert_array_equal(first.asnumpy(), np.full((2, 3), 2.0))
    ex.forward(a=np.full((2, 3), 3.0))
    assert first.asnumpy()[0, 0] == 6.0  # the same NDArray, holding the new call's values
    raw = np.asarray(ex.outputs[0])
    assert raw is np.asarray(ex.outputs[0])  # np.asarray shares the plan's array, no copy
    ex.arg_dict["a"][:] = 5.0  # writes into the bound array
    ex.forward(is_train=True)
    np.testing.assert_array_equal(ex.outputs[0].asnumpy(), np.full((2, 3), 10.0))
    ex.backward()
    np.testing.assert_array_equal(ex.grad_dict["a"].asnumpy(), np.full((2, 3), 2.0))
    assert list(ex.output_dict.values()) == [first] and list(ex.output_dict)[0].endswith("_output")


def test_copy_params_from_as_mxnet():
    a, b = sym.var("a"), sym.var("b")
    ex = (a * b).simple_bind(a=(2, 3), b=(2, 3))
    with pytest.raises(sg.BindError, match="'z' is not among the arguments"):
        ex.copy_params_from({"a": nd.ones((2, 3)) * 5, "z": nd.ones(1)})  # MXNet: ValueError naming z
    ex.copy_params_from({"a": nd.ones((2, 3)) * 5, "z": nd.ones(1)}, allow_extra_params=True)
    assert ex.arg_dict["a"].asnumpy().tolist() == [[5.0] * 3] * 2
    with pytest.raises(sg.BindError, match=r"shape \(3, 3\)"):
        ex.copy_params_from({"a": nd.ones((3, 3))})  # MXNet: an MXNetError
    ex.copy_params_from({"b": np.full((2, 3), 7.0)})
    assert ex.arg_dict["b"].asnumpy()[1, 2] == 7.0


def test_executor_reshape_as_mxnet():
    a, b = sym.var("a"), sym.var("b")
    ex = (a * b).simple_bind(grad_req={"a": "write", "b": "null"}, a=(2, 3), b=(2, 3))
    small = ex.reshape(a=(1, 3), b=(1, 3))
    assert [x.shape for x in small.arg_arrays] == [(1, 3), (1, 3)] and small.grad_dict["b"] is None
    small.arg_dict["a"][:] = 42.0  # a smaller array is a view of the old buffer's start, as MXNet
    assert ex.arg_dict["a"].asnumpy()[0].tolist() == [42.0] * 3 and ex.arg_dict["a"].asnumpy()[1, 0] == 0
    with pytest.raises(sg.BindError, match="larger than"):
        ex.reshape(a=(4, 3), b=(4, 3))  # MXNet: "New shape of arg: a is larger than original"
    assert [x.shape for x in ex.reshape(allow_up_sizing=True, a=(4, 3), b=(4, 3)).arg_arrays] == [(4, 3)] * 2
    with pytest.raises(sg.BindError, match="partial_shaping=True"):
        ex.reshape(a=(1, 3))  # MXNet: "Shape of unspecifie arg: b changed"
    same = ex.reshape(partial_shaping=True, a=(2, 3))
    assert np.asarray(same.arg_dict["a"]) is np.asarray(ex.arg_dict["a"])


def test_attr_name_attr_dict_and_debug_str():
    a, b = sym.var("a", shape=(2, 3)), sym.var("b")
    with sg.NameManager():
        c = a + b
    assert c.attr("name") == "_plus0" and a.attr("name") == "a"  # MXNet 1.9.1
    assert a.attr("__shape__") == "(2, 3)" and b.attr("__shape__") is None
    fc = sym.FullyConnected(sym.var("v"), num_hidden=3, name="fc")
    assert fc.attr_dict()["fc"]["num_hidden"] == "3"  # MXNet: {'fc': {'num_hidden': '3', ...}}
    text = c.debug_str()
    assert text.startswith("Symbol Outputs:\n\toutput[0]=_plus0(0)\nVariable:a\nVariable:b\n")
    assert "Name=_plus0\nInputs:\n\targ[0]=a(0) version=0\n\targ[1]=b(0) version=0" in text


def test_print_summary_as_mxnet(capsys):
    net = sym.FullyConnected(sym.var("data"), num_hidden=4, name="fc1")
    viz.print_summary(net, shape={"data": (2, 3)})
    lines = [line.rstrip() for line in capsys.readouterr().out.splitlines()]
    # MXNet 1.9.1's rows for the same network
    assert lines[1].split() == ["Layer", "(type)", "Output", "Shape", "Param", "#", "Previous", "Layer"]
    assert lines[3].split() == ["data(null)", "3", "0"]
    assert lines[5].split() == ["fc1(FullyConnected)", "4", "16", "data"]
    assert lines[7] == "Total params: 16"


def test_print_summary_counts_neither_labels_nor_moving_statistics(capsys):
    data = sym.var("data")
    bn = sym.BatchNorm(sym.Convolution(data, kernel=(3, 3), num_filter=4, name="conv"), name="bn")
    fc = sym.FullyConnected(bn, num_hidden=1, name="fc")
    for loss, label in [(sym.SoftmaxOutput(fc, name="sm"), "sm_label"), (sym.LinearRegressionOutput(fc), "")]:
        viz.print_summary(loss, shape={"data": (2, 1, 5, 5)})
        rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines() if "(" in line}
        # MXNet 1.9.1: BatchNorm has 2 * 4 parameters (gamma, beta), a loss layer none (its label is data)
        assert rows["bn(BatchNorm)"] == ["4x3x3", "8", "conv"]
        assert rows[f"{loss.name}({loss.op})"] == ["1", "0", "fc"]
        assert label == "" or not any(label in row for row in rows.values())
    viz.print_summary(sym.SoftmaxOutput(fc, name="sm"), shape={"data": (2, 1, 5, 5), "sm_label": (2,)})
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines() if "(" in line}
    assert rows["sm(SoftmaxOutput)"] == ["1", "0", "fc,", "sm_label"]
    assert rows["sm_label(null)"] == ["scalar", "0"]


# ---- names MXNet code uses daily --------------------------------------------------------------------


def test_slice_axis_values_gradient_and_errors():
    xv = np.arange(1.0, 7.0).reshape(2, 3)
    x = nd.array(xv)
    np.testing.assert_array_equal(nd.slice_axis(x, axis=1, begin=1, end=None).asnumpy(), xv[:, 1:])
    np.testing.assert_array_equal(nd.slice_axis(x, axis=0, begin=-1, end=None).asnumpy(), xv[-1:])
    np.testing.assert_array_equal(x.slice_axis(axis=-1, begin=-2, end=-1).asnumpy(), xv[:, -2:-1])
    assert sym.slice_axis(sym.var("s"), axis=1, begin=0, end=2).infer_shape(s=(2, 3))[1] == [(2, 2)]
    with pytest.raises(sg.ShapeError, match="need begin < end"):
        nd.slice_axis(x, axis=1, begin=2, end=1)  # MXNet: Invalid begin, end
    with pytest.raises(sg.ShapeError, match="need begin < end"):
        nd.slice_axis(x, axis=1, begin=1, end=7)  # MXNet: Invalid end for end=7 as axis_size is 3
    s = sym.var("s")
    sg.testing.check_numeric_gradient(sym.slice_axis(s, axis=1, begin=1, end=3) ** 2, {"s": rng.normal(size=(2, 4))})


def test_pick_one_hot_argmax_argmin():
    xv = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    x = nd.array(xv)
    idx = np.array([0, 2])
    np.testing.assert_array_equal(nd.pick(x, nd.array(idx), axis=1).asnumpy(), xv[[0, 1], idx])
    np.testing.assert_array_equal(nd.pick(x, nd.array([0, 5]), axis=1, mode="wrap").asnumpy(), [1.0, 6.0])
    np.testing.assert_array_equal(nd.pick(x, nd.array([-1, 4]), axis=1).asnumpy(), [1.0, 6.0])  # clipped
    assert nd.pick(x, nd.array(idx), axis=1, keepdims=True).shape == (2, 1)
    np.testing.assert_array_equal(nd.one_hot(nd.array([1, 0, 2]), 3).asnumpy(), np.eye(3)[[1, 0, 2]])
    hot = nd.one_hot(nd.array([1, 0, 5]), 3, on_value=2, off_value=-1, dtype="int32")
    assert hot.dtype == np.int32 and hot.asnumpy().tolist() == [[-1, 2, -1], [2, -1, -1], [-1, -1, -1]]
    assert nd.argmax(x, axis=1).asnumpy().tolist() == [2.0, 2.0] and nd.argmax(x, axis=1).dtype == np.float32
    assert nd.argmin(x, axis=0, keepdims=True).asnumpy().tolist() == [[0.0, 0.0, 0.0]]
    assert nd.argmax(nd.array([np.nan, 1.0, 2.0]), axis=0).asscalar() == 0  # NaN first, as MXNet and NumPy
    w = sym.var("w")
    data = rng.normal(size=(3, 4))
    picked = sym.pick(w, sym.var("i"), axis=1) * np.array([1.0, 2.0, 3.0])
    ex = sym.sum(picked).bind({"w": data, "i": np.array([3, 0, 1])}, grad_req={"w": "write", "i": "null"})
    ex.forward(is_train=True)
    ex.backward()
    expected = np.zeros((3, 4))
    expected[[0, 1, 2], [3, 0, 1]] = [1.0, 2.0, 3.0]
    np.testing.assert_array_equal(ex.grad_dict["w"].asnumpy(), expected)


@pytest.mark.parametrize(
    ("name", "reference"),
    [
        ("broadcast_add", np.add),
        ("broadcast_sub", np.subtract),
        ("broadcast_mul", np.multiply),
        ("broadcast_div", np.divide),
        ("broadcast_power", np.power),
        ("broadcast_maximum", np.maximum),
        ("broadcast_minimum", np.minimum),
        ("broadcast_equal", np.equal),
        ("broadcast_not_equal", np.not_equal),
        ("broadcast_greater", np.greater),
        ("broadcast_greater_equal", np.greater_equal),
        ("broadcast_lesser", np.less),
        ("broadcast_lesser_equal", np.less_equal),
        ("elemwise_add", np.add),
    ],
)
def test_broadcast_names(name, reference):
    av, bv = rng.uniform(0.5, 2, (2, 3)), rng.uniform(0.5, 2, (1, 3))
    bv[0, 0] = av[0, 0]  # a tie for the comparisons
    expected = reference(av, bv).astype(np.float64)  # comparisons give 0/1 in the inputs' dtype, as MXNet
    (got,) = getattr(sym, name)(sym.var("a"), sym.var("b")).eval(a=av, b=bv)
    np.testing.assert_allclose(got.asnumpy(), expected)
    np.testing.assert_allclose(getattr(nd, name)(nd.array(av), nd.array(bv)).asnumpy(), expected, rtol=1e-6)
    with sg.NameManager():
        assert getattr(sym, name)(sym.var("a"), sym.var("b")).name == f"{name}0"  # MXNet's auto name


def test_asscalar_is_a_numpy_scalar_of_the_dtype_and_item_a_python_number():
    # d2l prints asscalar(): MXNet 1.9.1 shows a float32 as 13.036259; a Python float showed 13.036258697509766
    w = nd.array([13.036258697509766])
    assert type(w.asscalar()) is np.float32 and str(w.asscalar()) == "13.036259"
    assert type(nd.array([2.0], dtype="float64").asscalar()) is np.float64
    assert type(w.item()) is float and w.item() == float(np.float32(13.036258697509766))


def test_creation_functions_refuse_what_mxnet_refuses():
    assert nd.zeros(3, dtype=None).dtype == np.float32 and nd.full((2,), 3, ctx="cpu(0)").dtype == np.float32
    assert nd.ones((2, 2), sg.cpu(), "float64").dtype == np.float64
    with pytest.raises(sg.SymgradError, match=r"nd.zeros: ctx=4 is not a context .* a shape of 2\+ axes is a tuple"):
        nd.zeros(3, 4)  # it made 3 zeros, taking 4 as the context
    with pytest.raises(TypeError, match="dytpe"):
        nd.ones((2,), dytpe="float64")  # the misspelt keyword was dropped: float32 silently
    with pytest.raises(sg.SymgradError, match="stype='csr': symgrad's arrays are dense"):
        nd.full((2,), 1.0, stype="csr")


def test_ndarray_helpers_mxnet_and_pytorch_names():
    x = nd.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert x.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]] and x[0, 1].asscalar() == 2.0
    assert x.zeros_like().asnumpy().tolist() == [[0.0] * 3] * 2 and x.as_in_context("cpu(0)") is x
    y = nd.zeros((2, 3))
    assert x.copyto(y) is y and y.asnumpy().tolist() == x.tolist()  # MXNet: returns the target
    z = x.copyto("cpu(0)")
    assert z is not x and z.tolist() == x.tolist()
    with pytest.raises(sg.ShapeError):
        x.copyto(nd.zeros((3, 2)))
    assert nd.waitall() is None
    assert x.numpy() is np.asarray(x)  # PyTorch's .numpy(): shares memory
    w = nd.array([1.0, 2.0])
    w.attach_grad()
    with autograd.record():
        v = w * w
    v.backward(gradient=nd.array([1.0, 10.0]))  # PyTorch's keyword; MXNet's is out_grad
    assert w.grad.asnumpy().tolist() == [2.0, 40.0]
    assert w.grad.zero_() is w.grad and w.grad.asnumpy().tolist() == [0.0, 0.0]
    with pytest.raises(sg.AutogradError, match="not both"):
        with autograd.record():
            v = w * 2
        v.backward(out_grad=nd.ones(2), gradient=nd.ones(2))
    assert [row.tolist() for row in x] == x.tolist()  # iterating gives the rows, as MXNet
    assert float(np.sum(x)) == 21.0 and np.isnan(nd.array([np.nan])).tolist() == [True]


# ---- anomaly detection and origins -----------------------------------------------------------


def test_detect_anomaly_flags_a_nan_made_in_the_forward_pass_naming_the_users_variables():
    x = nd.array([-1.0, 4.0])
    x.attach_grad()
    with autograd.detect_anomaly(), autograd.record():
        y = x * 2
        with pytest.raises(sg.NonFiniteError) as err:
            nd.sqrt(y)  # PyTorch flags this; the message used to name an internal var3
        message = str(err.value)
        assert message.startswith("sqrt(y) produced NaN from finite inputs in the forward pass")
        assert "y (2,) in [-2, 8]" in message and "nd.sqrt(y)  # PyTorch flags this" in message
        with pytest.raises(sg.NonFiniteError, match=r"^log\(x\) produced NaN"):
            nd.log(x)
        finite_in_nan_out = nd.array([np.nan]) * y[0]  # NaN in, NaN out: not an anomaly
        assert np.isnan(finite_in_nan_out.asscalar())
    with autograd.record():
        assert np.isnan(nd.sqrt(x * 2).asnumpy()[0])  # outside detect_anomaly: NaN propagates


def test_detect_anomaly_in_the_backward_pass_names_the_users_variable():
    x = nd.array([0.0, 4.0])
    x.attach_grad()
    with autograd.detect_anomaly():
        with autograd.record():
            y = nd.sqrt(x)
        with pytest.raises(sg.NonFiniteError) as err:
            y.backward()  # d sqrt(x)/dx = 1/(2*sqrt(x)) is Inf at 0
    assert "first-order gradient part: 1/(2*sqrt(x))" in str(err.value)  # it said sqrt(var0)


def test_origins_in_a_notebook_name_the_cell():
    interactiveshell = pytest.importorskip("IPython.core.interactiveshell")
    shell = interactiveshell.InteractiveShell.instance()
    shell.run_cell("from symgrad import sym", store_history=True)
    result = shell.run_cell("x = sym.var('x', shape=(2,))\ny = sym.var('y', shape=(3,))\nz = x * y", store_history=True)
    count = shell.execution_count - 1
    assert isinstance(result.error_in_exec, sg.ShapeError)
    assert f"built at In [{count}], line 3: z = x * y" in str(result.error_in_exec)


def test_the_command_lines_error_message_has_no_built_at(capsys):
    from symgrad.cli import main

    assert main(["diff", "dot(x, y)", "--wrt", "x", "--at", "x=1,2", "--at", "y=1,2,3"]) == 2
    err = capsys.readouterr().err
    assert "inner sizes differ" in err and "built at" not in err  # it named the symgrad script
    assert sg.errors.TRACK_ORIGIN[0]  # origins are tracked again after the command


def test_a_head_gradient_of_shape_1_is_taken_for_a_full_reduction_as_mxnet_scripts_pass_it():
    """MXNet's sum(x) has shape (1,), so its scripts pass nd.ones(1) or nd.array([c]) as its head
    gradient; symgrad's is 0-d, and took only a 0-d head gradient."""
    x = sym.var("x")
    ex = sym.Group([sym.sum(x * x), sym.exp(x)]).bind({"x": np.array([1.0, 2.0])})
    ex.forward(is_train=True)
    ex.backward([nd.array([10.0]), nd.array([1.0, 2.0])])
    np.testing.assert_allclose(ex.grad_dict["x"].asnumpy(), 10 * 2 * np.array([1.0, 2.0]) + [1, 2] * np.exp([1.0, 2.0]))
    with pytest.raises(sg.BindError, match=r"head gradient 0 has shape \(2,\), output 0 has shape \(\)"):
        ex.backward([nd.ones(2), nd.ones(2)])
    v = nd.array([1.0, 2.0])
    v.attach_grad()
    with autograd.record():
        y = (v * v).sum()
    y.backward(nd.array([3.0]))
    np.testing.assert_allclose(v.grad.asnumpy(), [6.0, 12.0])
    with autograd.record():
        y = (v * v).sum()
    with pytest.raises(sg.AutogradError, match=r"head gradient of shape \(2,\) for an output of shape \(\)"):
        y.backward(nd.ones(2))


def test_executor_reshape_keeps_a_1_shaped_argument_beside_a_full_reduction():
    """A training loop's scale c, bound as nd.ones(1) beside mean(...) (0-d here, (1,) in MXNet):
    reshape to a new batch size inferred c as () and refused to change it without partial_shaping."""
    x, y, c = sym.var("x"), sym.var("y"), sym.var("c")
    loss = sym.mean(sym.square(sym.sum(x, axis=1) - y)) * c
    ex = loss.bind({"x": np.zeros((8, 3)), "y": np.zeros(8), "c": np.ones(1)}, grad_req="null")
    small = ex.reshape(x=(4, 3), y=(4,))
    assert small.arg_dict["c"].shape == (1,)
    (out,) = small.forward(x=np.ones((4, 3)), y=np.arange(4.0), c=np.array([0.5]))
    np.testing.assert_allclose(out.asnumpy(), [0.5 * np.mean((3 - np.arange(4.0)) ** 2)])
    with pytest.raises(sg.BindError, match="the shape of 'y', not given, changes from"):
        ex.reshape(x=(4, 3))  # y's size changes: as MXNet, only with partial_shaping=True


def test_two_layers_given_one_name_that_need_different_weight_shapes_are_named_as_the_fault():
    """name='fc' twice makes one fc_weight for both layers: infer_shape listed the second layer's
    (3, 3) only, and simple_bind then blamed the first layer's weight, which the user never shaped."""
    data = sym.var("data")
    net = sym.FullyConnected(sym.FullyConnected(data, num_hidden=3, name="fc"), num_hidden=3, name="fc")
    assert net.list_arguments() == ["data", "fc_weight", "fc_bias"]
    assert net.infer_shape(data=(2, 3))[0] == [(2, 3), (3, 3), (3,)]  # shared weights that fit: allowed
    message = r"'fc_weight' would need shape \(3, 4\) and shape \(3, 3\).*own name(.|\n)*name=.fc.(.|\n)*name=.fc."
    with pytest.raises(sg.ShapeError, match=message):
        net.infer_shape(data=(2, 4))
    with pytest.raises(sg.ShapeError, match="'fc_weight' would need shape"):
        net.simple_bind(data=(2, 4))


def test_executor_reshape_names_a_not_given_argument_whose_shape_would_turn():
    """An argument not given whose inferred shape has its bound sizes in another order is refused
    with the BindError, not kept as a size-1-axes variant (and not a NumPy broadcasting error)."""
    a, b = sym.var("a"), sym.var("b")
    ex = (a + b).bind({"a": np.zeros((2, 3)), "b": np.zeros((2, 3))}, grad_req="null")
    with pytest.raises(sg.BindError, match="the shape of 'b', not given, changes from \\(2, 3\\) to \\(3, 2\\)"):
        ex.reshape(allow_up_sizing=True, a=(3, 2))
