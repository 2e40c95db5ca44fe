"""The compiled plan: cache hits, the step loop then generated code, user text never in generated code."""

import numpy as np
import pytest

import symgrad
from symgrad import executor, sym
from symgrad.compile.backends import compile_program
from symgrad.compile.key import structure_key
from symgrad.errors import SymgradError


def test_a_second_bind_of_the_same_structure_hits_the_cache():
    def build():
        x, w = sym.var("x"), sym.var("w")
        return sym.sum(sym.tanh(sym.dot(x, w)))

    args = {"x": np.ones((2, 3)), "w": np.ones((3, 4))}
    build().bind(args)
    hits = symgrad.cache_info().hits
    ex = build().bind({k: v * 2 for k, v in args.items()})
    assert symgrad.cache_info().hits == hits + 1
    (out,) = ex.forward()
    assert out == np.tanh(12.0) * 8


def test_structure_keys_tell_apart_graphs_that_differ_only_in_wiring_types_or_names():
    x, y = sym.var("x"), sym.var("y")
    graphs = [
        x * y,
        y * x,
        x * x,
        x * 2,
        x * 2.0,
        x * np.array([2.0]),
        x * np.array([2.0], dtype=np.float32),
        x * np.array([2.0, 3.0]),
        sym.sum(x, axis=0),
        sym.sum(x, axis=1),
        sym.clip(x, 0, 1),
        sym.clip(x, 0.0, 1.0),
        sym.var("z") * y,
        sym.Group([x, y]),
        sym.Group([y, x]),
        sym.Group([x * y, x]),
    ]
    keys = [structure_key(g.outputs())[0] for g in graphs]
    assert len(set(keys)) == len(keys)
    assert structure_key((sym.var("x") * sym.var("y")).outputs())[0] == keys[0]  # new nodes, same structure


def test_constant_values_are_not_in_the_key_but_come_out_beside_it_once_per_use():
    x = sym.var("x")
    keyed = [structure_key((x * c + c).outputs()) for c in (2.0, -0.0, float("nan"))]
    assert len({key for key, _ in keyed}) == 1
    assert [values[0] for _, values in keyed[:2]] == [2.0, -0.0] and all(len(v) == 2 for _, v in keyed)
    (key, values) = structure_key(sym.Group([x * 1.0, x * np.array([1.0, 2.0])]).outputs())
    assert values[0] == 1.0 and values[1].tolist() == [1.0, 2.0]


def test_a_plan_loops_over_its_steps_first_then_runs_generated_code_with_the_same_values():
    x = sym.var("x")
    y = x
    for i in range(300):
        y = sym.sin(y) + 0.001 * i
    xv = np.linspace(-1, 1, 5)
    ex = sym.sum(y).bind({"x": xv}, backend="numpy")  # the NumPy backend's step loop and generated code
    forward = ex._compiled.forward
    assert ex.plan_stats()["forward_steps"] > 300
    first = None
    for call in range(executor.CODEGEN_AFTER_CALLS + 2):
        looping = forward.fn.__name__ == "first_calls"
        assert looping == (call < executor.CODEGEN_AFTER_CALLS), call
        ex.forward(is_train=True)
        ex.backward()
        if first is None:
            first = ex.outputs[0].copy(), ex.grad_dict["x"].copy()
    value, grad = xv.copy(), np.ones_like(xv)
    for i in range(300):
        grad = grad * np.cos(value)
        value = np.sin(value) + 0.001 * i
    np.testing.assert_allclose(first[0], value.sum(), rtol=1e-12)
    np.testing.assert_allclose(first[1], grad, rtol=1e-10)
    np.testing.assert_array_equal(ex.outputs[0], first[0])  # the same kernels in the same order
    np.testing.assert_array_equal(ex.grad_dict["x"], first[1])


def test_the_step_loop_and_generated_code_agree_on_steps_of_every_arity():
    """Unary and binary steps take the loop's column path; where (3 inputs), concat (a list)
    and ones (no inputs) take its general path; the values are bitwise equal either way."""
    x, z = sym.var("x"), sym.var("z")
    big = sym.ones(shape=(2000,))  # too big to fold: a step with no inputs
    w = sym.where(x > z, sym.sin(x) * z, sym.exp(-z))
    c = sym.concat([w, x, z * 2.0], axis=0)
    y = sym.sum(c * sym.tanh(c)) + sym.sum(big) * sym.sum(sym.clip(x, -0.5, 0.5))
    xv, zv = np.linspace(-1, 1, 7), np.linspace(1, -1, 7) ** 3
    ex = y.bind({"x": xv, "z": zv}, backend="numpy")
    runs = []
    for _ in range(executor.CODEGEN_AFTER_CALLS + 1):
        ex.forward(is_train=True)
        ex.backward()
        runs.append((ex.outputs[0].copy(), ex.grad_dict["x"].copy(), ex.grad_dict["z"].copy()))
    assert ex._compiled.forward.fn.__name__ == "program"  # the last call ran generated code
    for looped, generated in zip(runs[0], runs[-1]):
        np.testing.assert_array_equal(looped, generated)
    wv = np.where(xv > zv, np.sin(xv) * zv, np.exp(-zv))
    cv = np.concatenate([wv, xv, zv * 2.0])
    np.testing.assert_allclose(runs[0][0], np.sum(cv * np.tanh(cv)) + 2000 * np.clip(xv, -0.5, 0.5).sum(), rtol=1e-12)


def test_hostile_names_and_constants_never_reach_the_generated_source():
    name = "x); __import__('os').system('echo PWNED'); (x"
    x = sym.var(name)
    s = sym.sum(sym.exp(x) * 3.5)
    ex = s.bind({name: np.array([0.0, 1.0])})
    ex.forward(is_train=True)
    ex.backward()
    np.testing.assert_allclose(ex.grad_dict[name], 3.5 * np.exp([0.0, 1.0]))
    source_consts = compile_program([s], [x]).consts
    assert all(not isinstance(v, str) for _, v in source_consts)


def test_an_elementwise_chain_reuses_a_few_buffers():
    import tracemalloc

    x, z = sym.var("x"), sym.var("z")
    t = x
    for _ in range(4):
        t = sym.exp(-sym.tanh(sym.sin(t) * z) * 0.5) + z
    n = 200_000
    ex = t.bind({"x": np.linspace(-1, 1, n), "z": np.linspace(1, 2, n)}, grad_req="null")
    stats = ex.plan_stats()
    assert stats["forward_buffers_reused"] >= stats["forward_steps"] - 6
    assert stats["forward_peak_bytes"] <= 3 * n * 8  # planned: a few arrays, not 24
    ex.forward()
    tracemalloc.start()
    ex.forward()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak <= 3 * n * 8  # a small multiple of one array, not one array per op


def test_numpy_only_kernels_give_the_generic_kernels_values_bitwise():
    from symgrad.ops.registry import OPS

    rng = np.random.default_rng(0)
    for dtype in ("float32", "float64"):
        a = rng.normal(size=(3, 4, 5)).astype(dtype)
        a[0, 1, 2] = np.nan
        x = sym.var("x", shape=a.shape, dtype=dtype)
        nodes = [sym.transpose(x), sym.transpose(x, axes=(1, 0, 2))]
        for op in ("sum", "mean", "max", "min", "prod"):
            for axis in (None, 0, (0, 2), (-1,)):
                for keepdims in (False, True):
                    nodes.append(getattr(sym, op)(x, axis=axis, keepdims=keepdims))
        for node in nodes:
            opdef = OPS[node.op]
            assert opdef.numpy_kernel is not None
            fast, generic = opdef.numpy_kernel_for(node)(a), opdef.kernel(node.attrs)(a)
            assert type(fast) is type(generic) and np.asarray(fast).dtype == np.asarray(generic).dtype, node.op
            np.testing.assert_array_equal(fast, generic, err_msg=f"{node.op} {node.attrs}")


def test_numpy_only_kernels_of_elementwise_and_nn_ops_match_at_the_edges():
    from symgrad.ops.registry import OPS

    rng = np.random.default_rng(1)
    for dtype in ("float32", "float64"):
        a = rng.normal(size=(6, 5)).astype(dtype) * 30
        a[1, :] = -np.inf  # a row of -inf: log_softmax is NaN there, quietly
        a[2, 3], a[3, 0], a[4, 4] = np.inf, np.nan, -0.0
        x = sym.var("x", shape=a.shape, dtype=dtype)
        nodes = [sym.log_softmax(x), sym.log_softmax(x, axis=0), x**2, sym.reshape(x, shape=(5, 6))]
        for node in nodes:
            opdef = OPS[node.op]
            assert opdef.numpy_kernel(node) is not None, node.op
            values = [a] + [i.attrs["value"] for i in node.inputs[1:]]
            with np.errstate(all="ignore"):
                fast, generic = opdef.numpy_kernel_for(node)(*values), opdef.kernel(node.attrs)(*values)
            assert fast.dtype == generic.dtype and fast.shape == generic.shape
            np.testing.assert_array_equal(fast, generic, err_msg=node.op)
        finite = a[[0, 5]]
        with np.errstate(all="raise"):  # the fast path of log_softmax warns of nothing
            OPS["log_softmax"].numpy_kernel_for(sym.log_softmax(sym.var("y", shape=finite.shape, dtype=dtype)))(finite)


def test_scalar_steps_call_the_python_operator_with_the_ufuncs_values_dtypes_and_warnings():
    import warnings

    from symgrad.compile.backends import _scalar_operator
    from symgrad.ops.registry import OPS

    def kinds(caught: list) -> list[str]:
        return sorted(k for w in caught for k in str(w.message).split(" encountered")[0].split(" and "))

    edges = [0.0, -0.0, 1.5, -2.25, 3e38, 1e-310, np.inf, -np.inf, np.nan]
    for dtype in (np.float32, np.float64):
        a, b = sym.var("a", shape=(), dtype=dtype), sym.var("b", shape=(), dtype=dtype)
        for graph in (a + b, a - b, a * b, a / b, -a, a * 2, 0.1 * a, a / 3, 2 - a):
            assert _scalar_operator(graph) is not None, graph
            names = graph.list_arguments()
            ex = graph.bind({n: np.zeros((), dtype) for n in names}, grad_req="null")
            assert ex._compiled.forward.plan.kernels == [OPS[graph.op].operator]
            for x in edges:
                for y in edges:
                    given = {"a": np.array(x, dtype), "b": np.array(y, dtype)}
                    with warnings.catch_warnings(record=True) as seen:
                        warnings.simplefilter("always")
                        out = ex.forward(**{n: given[n] for n in names})[0].asnumpy()
                    values = [given[i.name] if i.op == "var" else i.attrs["value"] for i in graph.inputs]
                    with warnings.catch_warnings(record=True) as expected:
                        warnings.simplefilter("always")
                        reference = np.asarray(OPS[graph.op].impl(*values))
                    assert out.dtype == reference.dtype == np.dtype(dtype), (graph, x, y)
                    np.testing.assert_array_equal(out, reference)
                    assert np.signbit(out) == np.signbit(reference), (graph, x, y)
                    assert kinds(seen) == kinds(expected), (graph, x, y)
    x = sym.var("x", shape=(), dtype=np.float64)
    lifted = sym.var("_const0", shape=(), dtype=np.float64)  # a lifted constant: maybe a Python number
    assert _scalar_operator(x * lifted) is not None and _scalar_operator(lifted * lifted) is None
    assert _scalar_operator(sym.var("i", shape=(), dtype=np.int64) * 2) is None  # int scalars warn on overflow
    assert _scalar_operator(sym.var("v", shape=(3,), dtype=np.float64) * 2) is None


def test_only_a_plan_with_an_op_that_reads_the_training_flag_sets_it():
    from symgrad.ops.registry import OPS, TRAINING

    assert {name for name, opdef in OPS.items() if opdef.training} == {"_dropout_mask", "_rrelu_slopes", "BatchNorm"}
    x = sym.var("x")
    plain = (2 * sym.dot(x, x)).bind({"x": np.arange(4.0)})
    dropout = sym.sum(sym.Dropout(x, p=0.5)).bind({"x": np.ones(1000)})
    assert not plain._compiled.forward.reads_training and dropout._compiled.forward.reads_training
    np.random.seed(0)
    assert dropout.forward(is_train=False)[0].asnumpy() == 1000  # predict mode: nothing dropped
    kept = dropout.forward(is_train=True)[0].asnumpy()
    assert 800 < kept < 1200 and kept % 2 == 0  # kept entries are 1/(1-p) = 2
    assert TRAINING.get() is False  # the flag is back as it was


def test_backward_writes_into_the_bound_gradient_arrays_in_place():
    rng = np.random.default_rng(2)
    xv, wv = rng.normal(size=(5, 4)), rng.normal(size=(4, 3))
    x, w = sym.var("x"), sym.var("w")
    loss = sym.sum(sym.tanh(sym.dot(x, w)) ** 2)
    expected = None
    for layout in ("bound", "strided", "add"):
        w_grad = np.zeros((3, 4)).T if layout == "strided" else np.zeros((4, 3))  # a transposed view: copied into
        ex = loss.bind(
            {"x": xv, "w": wv},
            args_grad={"w": w_grad},
            grad_req={"x": "null", "w": "add" if layout == "add" else "write"},
        )
        for _ in range(2):
            ex.forward(is_train=True)
            ex.backward()
        assert np.asarray(ex.grad_dict["w"]) is w_grad
        assert ex._targets[0] is (w_grad if layout == "bound" else None)  # written with out=, or copied into
        got = w_grad / 2 if layout == "add" else w_grad
        if expected is None:
            expected = got.copy()
            h = np.tanh(xv @ wv)
            np.testing.assert_allclose(expected, xv.T @ (2 * h * (1 - h * h)), rtol=1e-12)
        np.testing.assert_array_equal(got, expected)


def test_gradient_arrays_that_share_memory_are_copied_into_in_order():
    x, y = sym.var("x"), sym.var("y")
    shared = np.zeros(3)
    ex = sym.sum(x * 2 + y * 3).bind({"x": np.ones(3), "y": np.ones(3)}, args_grad={"x": shared, "y": shared})
    ex.forward(is_train=True)
    ex.backward()
    assert ex._targets == [None, None]
    np.testing.assert_array_equal(shared, [3.0, 3.0, 3.0])  # y's gradient, written last, as before


@pytest.mark.parametrize("calls_before", [0, executor.CODEGEN_AFTER_CALLS])
def test_a_small_graphs_train_forward_computes_the_gradients_that_backward_then_writes(calls_before):
    """The same before and after the executor switches to its generated train step (`calls_before`)."""
    x = sym.var("x")
    x0 = np.array([0.5, -1.0, 2.0])
    for req in ("write", "add"):
        grad = np.zeros(3)
        ex = sym.sum(sym.sin(x) * x).bind({"x": x0.copy()}, args_grad={"x": grad}, grad_req=req)
        assert ex._early
        for _ in range(calls_before):
            ex.forward(is_train=True)
        assert ("forward" in vars(ex)) == (calls_before > 0)
        expected = np.sin(x0) + x0 * np.cos(x0)
        ex.forward(is_train=True)
        np.testing.assert_array_equal(grad, 0.0)  # the gradient arrays change at backward(), not before
        ex.arg_dict["x"][:] = 7.0  # changed after the forward: backward gives the forward's gradient
        grad[:] = 5.0
        ex.backward()
        np.testing.assert_allclose(grad, expected + (5.0 if req == "add" else 0.0), rtol=1e-15)
        ex.backward()  # again, without a forward: the same gradient, written (or added) again
        np.testing.assert_allclose(grad, expected * (2 if req == "add" else 1) + (5.0 if req == "add" else 0.0))
        ex.forward(is_train=True)
        ex.backward(out_grads=np.array(2.0))  # a head gradient: the backward program runs on the saved values
        seven = np.sin(7.0) + 7.0 * np.cos(7.0)
        np.testing.assert_allclose(grad[-1], 2 * seven + (grad[-1] - 2 * seven if req == "add" else 0.0))
        ex.forward(is_train=False)
        with pytest.raises(SymgradError, match="forward\\(is_train=True\\) call first"):
            ex.backward()  # an inference forward leaves no gradients from an earlier train forward


def _raises_at_13(x):
    if (x == 13).any():
        raise ValueError("13 is unlucky")
    return x * 3


unlucky = symgrad.ops.register("unlucky_for_train_step_test", _raises_at_13, grad=lambda g, out, x: [3 * g])


def test_a_generated_train_step_that_raises_falls_back_to_the_replay_naming_the_node():
    x = sym.var("x")
    ex = sym.sum(unlucky(x) * x).bind({"x": np.ones(3)})
    for _ in range(executor.CODEGEN_AFTER_CALLS):
        ex.forward(is_train=True)
    assert "forward" in vars(ex)
    ex.arg_dict["x"][:] = [1.0, 13.0, 2.0]
    with pytest.raises(SymgradError, match="unlucky_for_train_step_test .* failed in the forward pass: 13 is unlucky"):
        ex.forward(is_train=True)
    ex.arg_dict["x"][:] = [1.0, 2.0, 3.0]
    assert float(ex.forward(is_train=True)[0].asnumpy()) == 42.0
    ex.backward()
    np.testing.assert_array_equal(ex.grad_dict["x"].asnumpy(), [6.0, 12.0, 18.0])


def _trained(ex, calls, **new_args):
    for _ in range(calls):
        ex.forward(is_train=True, **new_args)
        ex.backward()
    return ex


def test_the_generated_forward_and_backward_give_what_the_methods_give_for_every_output_and_request_kind():
    """Outputs 0-d and not, one that is an argument (copied), float32; gradients written and added;
    arguments given to forward: the same values before and after the switch, call for call."""
    x, w = sym.var("x"), sym.var("w")
    y = sym.Group([sym.sum(sym.tanh(x * w)), x, w * 3.0])
    x0, w0 = np.array([0.5, -1.0, 2.0], np.float32), np.array([1.5, 0.25, -2.0], np.float32)

    def bind():
        return y.bind({"x": x0.copy(), "w": w0.copy()}, grad_req={"x": "add", "w": "write"})

    switched = _trained(bind(), executor.CODEGEN_AFTER_CALLS)
    assert "forward" in vars(switched) and "backward" in vars(switched)
    fresh = bind()
    for ex in (fresh, switched):
        ex.grad_dict["x"][:] = 0.0
    for step in range(3):
        xs = x0 + step
        for ex in (fresh, switched):
            outs = ex.forward(is_train=True, x=xs)
            assert outs is ex.outputs
            ex.backward()
        for a, b in zip(fresh.outputs, switched.outputs):
            assert a.dtype == b.dtype == np.float32
            np.testing.assert_array_equal(a.asnumpy(), b.asnumpy())
        for name in ("x", "w"):
            np.testing.assert_array_equal(fresh.grad_dict[name].asnumpy(), switched.grad_dict[name].asnumpy())
    switched.outputs[1][:] = 99.0  # the output that is the argument x is a copy of it
    np.testing.assert_array_equal(switched.arg_dict["x"].asnumpy(), x0 + 2)
    np.testing.assert_allclose(switched.outputs[0].asnumpy(), np.tanh((x0 + 2) * w0).sum(), rtol=1e-6)
    np.testing.assert_allclose(switched.grad_dict["w"].asnumpy(), (x0 + 2) / np.cosh((x0 + 2) * w0) ** 2 + 3, rtol=1e-5)


def test_the_generated_methods_fall_back_for_inference_head_gradients_and_finite_checks():
    x = sym.var("x")
    ex = _trained(sym.sum(sym.exp(x)).bind({"x": np.zeros(2)}), executor.CODEGEN_AFTER_CALLS)
    assert "forward" in vars(ex)
    assert float(ex.forward(x=np.ones(2))[0].asnumpy()) == pytest.approx(2 * np.e)
    with pytest.raises(SymgradError, match="forward\\(is_train=True\\) call first"):
        ex.backward()
    ex.forward(is_train=True, x=np.array([0.0, 1.0]))
    ex.backward(out_grads=np.array(3.0))
    np.testing.assert_allclose(ex.grad_dict["x"].asnumpy(), 3 * np.exp([0.0, 1.0]))
    ex.forward(is_train=True, check_finite=True)
    ex.backward()
    np.testing.assert_allclose(ex.grad_dict["x"].asnumpy(), np.exp([0.0, 1.0]))


def test_an_executor_with_generated_methods_is_freed_without_the_cyclic_collector():
    import gc
    import weakref

    x = sym.var("x")
    ex = _trained(sym.sum(x * x).bind({"x": np.ones(3)}), executor.CODEGEN_AFTER_CALLS)
    forward, gone = ex.forward, weakref.ref(ex)
    assert "forward" in vars(ex)
    gc.disable()
    try:
        del ex
        assert gone() is None
    finally:
        gc.enable()
    with pytest.raises(SymgradError, match="executor that was freed; keep the executor"):
        forward(is_train=True)


def test_the_generated_methods_have_the_signatures_and_docstrings_of_the_bound_methods():
    """inspect.signature (and so help()) showed `self` first once forward/backward were generated."""
    import inspect

    x = sym.var("x")
    fresh = sym.sum(x * x).bind({"x": np.ones(3)})
    switched = _trained(sym.sum(x * x).bind({"x": np.ones(3)}), executor.CODEGEN_AFTER_CALLS)
    assert "forward" in vars(switched)
    for name in ("forward", "backward"):
        method, generated = getattr(fresh, name), getattr(switched, name)
        assert str(inspect.signature(generated)) == str(inspect.signature(method))
        assert "self" not in inspect.signature(generated).parameters
        assert generated.__doc__ == method.__doc__ and generated.__name__ == name


def test_a_subclass_overriding_forward_and_backward_keeps_its_methods_past_the_switch():
    """The generated methods shadowed a subclass's forward/backward (a hook counting the steps)
    once CODEGEN_AFTER_CALLS training steps had run: it stopped being called, silently."""

    class Counting(executor.Executor):
        steps = 0

        def forward(self, is_train=False, check_finite=False, **new_args):
            self.steps += 1
            return super().forward(is_train, check_finite, **new_args)

        def backward(self, out_grads=None, check_finite=False):
            self.steps += 1
            super().backward(out_grads, check_finite)

    x = sym.var("x")
    ex = _trained(Counting(sym.sum(x * x), {"x": np.arange(3.0)}), executor.CODEGEN_AFTER_CALLS + 5)
    assert ex.steps == 2 * (executor.CODEGEN_AFTER_CALLS + 5)
    np.testing.assert_array_equal(ex.grad_dict["x"].asnumpy(), [0.0, 2.0, 4.0])


@pytest.mark.parametrize("calls", [0, executor.CODEGEN_AFTER_CALLS])
def test_a_deep_copy_of_an_executor_computes_with_its_own_arrays_before_and_after_the_switch(calls):
    """The generated methods hold the executor they were made for: a copy's forward ran the
    original's arrays into the original's outputs, leaving the copy's as they were."""
    import copy

    x, w = sym.var("x"), sym.var("w")
    original = _trained(sym.sum(sym.tanh(x * w)).bind({"x": np.arange(3.0), "w": np.ones(3)}), calls)
    twin = copy.deepcopy(original)
    twin.forward(is_train=True, x=np.full(3, 0.5))
    twin.backward()
    assert float(twin.outputs[0].asnumpy()) == pytest.approx(3 * np.tanh(0.5), rel=1e-15)
    np.testing.assert_allclose(twin.grad_dict["w"].asnumpy(), np.full(3, 0.5) / np.cosh(0.5) ** 2, rtol=1e-15)
    original.forward()
    assert float(original.outputs[0].asnumpy()) == pytest.approx(np.tanh(1.0) + np.tanh(2.0), rel=1e-15)
    _trained(twin, executor.CODEGEN_AFTER_CALLS)  # the copy switches after its own calls
    assert "forward" in vars(twin)
    assert float(twin.forward(is_train=True, x=np.ones(3))[0].asnumpy()) == pytest.approx(3 * np.tanh(1.0), rel=1e-15)


def test_a_0d_output_whose_ndarray_was_given_other_data_shows_each_new_forward_after_the_switch():
    """x[...] = value while recording gives the NDArray new data (a functional update): the
    generated forward wrote the next results into the old array only, so the output stayed stale."""
    from symgrad import autograd, nd

    x = sym.var("x")
    y = sym.Group([sym.sum(x * x), 2 * x])
    for calls in (1, executor.CODEGEN_AFTER_CALLS):
        ex = _trained(y.bind({"x": np.arange(3.0)}), calls)
        assert ("forward" in vars(ex)) == (calls > 1)
        for out in ex.outputs:
            value = nd.ones(out.shape, dtype=out.dtype)
            value.attach_grad()
            with autograd.record():
                out[...] = 7 * value
        ex.forward(is_train=True, x=np.array([1.0, 2.0, 3.0]))
        assert float(ex.outputs[0].asnumpy()) == 14.0
        np.testing.assert_array_equal(ex.outputs[1].asnumpy(), [2.0, 4.0, 6.0])


_meeting: list = []  # a threading.Barrier while the test below wants both threads inside a step at once


def _meet_then_triple(x):
    if _meeting:
        _meeting[0].wait(timeout=10)
    return x * 3


meeting_op = symgrad.ops.register("meet_for_train_step_test", _meet_then_triple, grad=lambda g, out, x: [3 * g])


def test_two_threads_in_one_executors_generated_forward_at_once_both_get_its_values():
    """The generated forward runs its steps in the executor's own noting context, which one thread
    at a time may enter: the second thread, refused it, runs Executor.forward's path instead."""
    import threading

    x = sym.var("x")
    ex = _trained(sym.sum(meeting_op(x) * x).bind({"x": np.arange(3.0)}), executor.CODEGEN_AFTER_CALLS)
    assert "forward" in vars(ex)
    _meeting.append(threading.Barrier(2))
    got, failed = [], []

    def train():
        try:
            got.append(float(ex.forward(is_train=True)[0].asnumpy()))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            failed.append(exc)

    threads = [threading.Thread(target=train) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
    finally:
        _meeting.clear()
    assert not failed and got == [15.0, 15.0]  # 3 * (0 + 1 + 4)
    ex.backward()
    np.testing.assert_array_equal(ex.grad_dict["x"].asnumpy(), [0.0, 6.0, 12.0])


def test_a_0d_output_is_written_into_its_own_array_each_call():
    x = sym.var("x")
    ex = (2 * sym.dot(x, x)).bind({"x": np.arange(4.0)})
    first = ex.forward(is_train=True)[0]
    kept = first.asnumpy()
    array = np.asarray(first)
    assert array.shape == () and array.dtype == np.float64 and not np.shares_memory(array, ex.arg_dict["x"]._data)
    ex.forward(x=np.ones(4))
    assert ex.outputs[0] is first and np.asarray(first) is array
    assert float(array) == 8.0 and float(kept) == 28.0


def test_a_dropped_executor_leaves_no_reference_cycles():
    """Dropped graphs are freed at once (by reference counts), not by the cyclic collector later."""
    import gc

    from symgrad.compile.plan import Program
    from symgrad.graph import Symbol

    gc.collect()
    x, z = sym.var("x"), sym.var("z")
    y = sym.sum(sym.sin(x) * z + sym.sin(x) * z + (x + 1) - 1 + z * x * 2)  # collect_terms fires
    ex = y.bind({"x": np.linspace(0, 1, 5), "z": np.ones(5)})
    for _ in range(executor.CODEGEN_AFTER_CALLS + 1):  # the plan switches to generated code
        ex.forward(is_train=True)
        ex.backward()
    del ex, y
    symgrad.clear_cache()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        gc.collect()
        leaked = [o for o in gc.garbage if isinstance(o, (Symbol, Program))]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert leaked == []


def _chain(n: int):
    x = sym.var("x")
    y = x
    for i in range(n):
        y = sym.sin(y) * (i + 2) + x
    return sym.sum(y)


def test_a_pause_that_leaves_many_objects_moves_the_young_generations_to_the_oldest():
    """Then no young collection walks them (see graph._promote_young)."""
    import gc

    from symgrad import graph

    gc.collect()
    cycle = [[] for _ in range(50)]  # the user's young cyclic garbage
    cycle.append(cycle)
    with graph.gc_paused():
        made = [[] for _ in range(graph.PROMOTE_AFTER * gc.get_threshold()[0] + 1000)]  # a compile's worth
    starts = []
    gc.callbacks.append(record := lambda phase, info: starts.append(info["generation"]) if phase == "start" else None)
    try:
        later = [[] for _ in range(100)]
    finally:
        gc.callbacks.remove(record)
    assert starts == []  # without the promotion, these allocations start a collection of all `made`
    oldest = gc.get_objects(generation=2)
    assert any(o is made for o in oldest) and any(o is cycle for o in oldest)
    del cycle, oldest
    assert gc.collect() >= 51  # the promoted garbage goes at the next full collection
    assert len(made) > len(later)


def test_cyclic_garbage_still_goes_when_every_pause_promotes():
    """freeze resets the collector's counters, so a loop of big compiles would never reach a
    full collection on its own: every few promotions run one instead (no gc.collect() here)."""
    import gc
    import weakref

    from symgrad import graph

    class Cycle:
        def __init__(self) -> None:
            self.me = self

    gc.collect()
    refs = []
    kept = []  # each pause leaves many objects alive, as a compile does
    for _ in range(3 * (graph.PROMOTIONS_PER_FULL_COLLECTION + 1)):
        cycle = Cycle()
        refs.append(weakref.ref(cycle))
        del cycle  # garbage only a collection frees; a young one cannot after the promotion
        with graph.gc_paused():
            kept.append([[] for _ in range(graph.PROMOTE_AFTER * gc.get_threshold()[0] + 1000)])
    freed = sum(ref() is None for ref in refs)
    assert freed >= 2 * (graph.PROMOTIONS_PER_FULL_COLLECTION + 1), freed


def test_a_pause_with_the_collector_off_promotes_nothing():
    import gc

    from symgrad import graph

    gc.collect()
    gc.disable()
    try:
        with graph.gc_paused():
            made = [[] for _ in range(graph.PROMOTE_AFTER * gc.get_threshold()[0] + 1000)]
        assert any(o is made for o in gc.get_objects(generation=0))
    finally:
        gc.enable()


def test_objects_the_program_froze_stay_frozen_through_a_big_compile():
    import gc

    gc.collect()
    symgrad.clear_cache()
    held = [[]]
    gc.freeze()
    try:
        _chain(400).bind({"x": np.linspace(0, 1, 3)})
        assert not any(o is held for o in gc.get_objects())  # still in the permanent generation
    finally:
        gc.unfreeze()
    assert any(o is held for o in gc.get_objects())
