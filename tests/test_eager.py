"""Eager mode: NDArray basics, recording, backward errors, grad_req, higher order, get_symbol, Function."""

import threading

import numpy as np
import pytest

import symgrad as sg
from symgrad import autograd, executor, nd


def test_python_data_defaults_to_float32_and_prints_like_mxnet():
    x = nd.array([[1, 2]])
    assert x.dtype == np.float32
    assert repr(x) == "\n[[1. 2.]]\n<NDArray 1x2 @cpu(0)>"
    assert x.shape == (1, 2) and x.size == 2 and x.ndim == 2
    assert x.T.shape == (2, 1)
    assert float(nd.array([3.5])) == 3.5
    np.testing.assert_array_equal(np.asarray(x), [[1, 2]])


def test_every_registered_op_is_an_nd_function_with_the_same_result_as_numpy():
    x = nd.array([[0.5, 1.5], [2.0, 3.0]])
    np.testing.assert_allclose(nd.exp(x).asnumpy(), np.exp(x.asnumpy()))
    np.testing.assert_allclose(x.sum(axis=0).asnumpy(), [2.5, 4.5])
    np.testing.assert_allclose(nd.norm(x).asscalar(), np.linalg.norm(x.asnumpy()), rtol=1e-6)
    np.testing.assert_array_equal((x > 1).asnumpy(), [[0, 1], [1, 1]])
    assert (x > 1).dtype == np.float32


def test_second_backward_without_retain_graph_says_to_pass_retain_graph():
    x = nd.array([1.0, 2.0])
    x.attach_grad()
    with autograd.record():
        y = (x * x).sum()
    y.backward()
    with pytest.raises(sg.AutogradError, match="retain_graph=True"):
        y.backward()


def test_backward_on_array_without_history_says_so():
    with pytest.raises(sg.AutogradError, match="no recorded history"):
        nd.array([1.0]).backward()
    x = nd.array([1.0])
    x.attach_grad()
    y = x * 2  # not recorded
    with pytest.raises(sg.AutogradError, match="no recorded history"):
        y.backward()


def test_grad_req_add_accumulates_what_write_overwrites():
    def run(req):
        x = nd.array([1.0, 2.0, 3.0])
        x.attach_grad(grad_req=req)
        for _ in range(3):
            with autograd.record():
                y = (x * x).sum()
            y.backward()
        return x.grad.asnumpy()

    np.testing.assert_array_equal(run("write"), [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(run("add"), [6.0, 12.0, 18.0])


def test_write_variable_not_reached_by_backward_gets_zeros_not_a_stale_gradient():
    a = nd.array([1.0, 2.0])
    b = nd.array([3.0])
    a.attach_grad()
    b.attach_grad()
    with autograd.record():
        y = (a * b).sum()
    y.backward()
    np.testing.assert_array_equal(b.grad.asnumpy(), [3.0])
    with autograd.record():
        z = (a * a).sum()
    z.backward()
    np.testing.assert_array_equal(b.grad.asnumpy(), [0.0])
    np.testing.assert_array_equal(a.grad.asnumpy(), [2.0, 4.0])


@pytest.mark.parametrize("identity", [lambda a: a * 1, lambda a: a + 0, lambda a: 1 * a - 0])
def test_identity_ops_pass_gradients_through(identity):
    a = nd.array([1.0, -2.0])
    a.attach_grad()
    with autograd.record():
        b = identity(a)
        y = (b * b).sum()
    y.backward()
    np.testing.assert_array_equal(a.grad.asnumpy(), [2.0, -4.0])


def test_create_graph_gives_second_derivatives():
    x = nd.array([0.5, 1.0, 2.0], dtype="float64")
    x.attach_grad()
    with autograd.record():
        y = nd.sin(x) * x
        (g,) = autograd.grad(y, [x], create_graph=True)
        total = g.sum()
    total.backward()
    xv = x.asnumpy()
    np.testing.assert_allclose(g.asnumpy(), np.cos(xv) * xv + np.sin(xv), rtol=1e-12)
    np.testing.assert_allclose(x.grad.asnumpy(), -np.sin(xv) * xv + 2 * np.cos(xv), rtol=1e-12)


def test_autograd_grad_returns_gradients_without_writing_grad():
    x = nd.array([1.0, 2.0])
    x.attach_grad()
    with autograd.record():
        y = (x**3).sum()
    (g,) = autograd.grad(y, [x])
    np.testing.assert_allclose(g.asnumpy(), [3.0, 12.0])
    np.testing.assert_array_equal(x.grad.asnumpy(), [0.0, 0.0])


def test_autograd_backward_with_several_heads_and_head_grads():
    x = nd.array([1.0, 2.0])
    x.attach_grad()
    with autograd.record():
        y1 = x * 2
        y2 = x * x
    autograd.backward([y1, y2], [nd.array([1.0, 1.0]), nd.array([10.0, 10.0])])
    np.testing.assert_allclose(x.grad.asnumpy(), [2 + 20, 2 + 40])


def test_get_symbol_reproduces_value_and_gradient():
    x = nd.array([0.3, 0.7, 1.1], dtype="float64")
    x.attach_grad()
    with autograd.record():
        y = nd.exp(x) * nd.sin(x) + x
    y.backward()
    s = autograd.get_symbol(y)
    (name,) = s.list_arguments()
    ex = s.bind({name: x.asnumpy()})
    (out,) = ex.forward(is_train=True)
    ex.backward()
    np.testing.assert_allclose(out, y.asnumpy(), rtol=1e-12)
    np.testing.assert_allclose(ex.grad_dict[name], x.grad.asnumpy(), rtol=1e-12)
    assert "sin" in str(s) and "exp" in str(s)


def test_indexed_assignment_sends_gradient_to_the_value_not_the_overwritten_entries():
    m = nd.array([[2.0, 3.0]])
    m.attach_grad()
    base = nd.array([[5.0, 7.0]])
    base.attach_grad()
    with autograd.record():
        n = base * 1
        n[0, 0] = m[0, 0] ** 2
    n.backward(nd.ones_like(n))
    np.testing.assert_array_equal(m.grad.asnumpy(), [[4.0, 0.0]])
    np.testing.assert_array_equal(base.grad.asnumpy(), [[0.0, 1.0]])


@pytest.mark.parametrize("paused", [False, True])
def test_an_optimizer_step_updates_the_variable_in_place_and_it_stays_attached(paused):
    w = nd.array([1.0, 2.0])
    w.attach_grad()
    data = w._data
    for _ in range(3):
        with autograd.record():
            loss = (w * w).sum()
        loss.backward()
        expected = 2 * w.asnumpy()
        np.testing.assert_array_equal(w.grad.asnumpy(), expected)  # the gradient at the updated w
        if paused:
            with autograd.pause():
                w -= 0.25 * w.grad
        else:
            w -= 0.25 * w.grad
    np.testing.assert_allclose(w.asnumpy(), [0.125, 0.25])
    assert w._data is data and w.dtype == np.float32  # in place, dtype kept (float64 step, float32 array)


@pytest.mark.parametrize(
    "update",
    [lambda x: x.__iadd__(1), lambda x: x.__imul__(2), lambda x: x.__setitem__(0, 5.0)],
    ids=["+=", "*=", "[]="],
)
def test_updating_an_attached_variable_in_place_while_recording_is_refused(update):
    x = nd.array([1.0, 2.0])
    x.attach_grad()
    with autograd.record():
        with pytest.raises(sg.SymgradError, match="attach_grad.*while recording.*outside record"):
            update(x)
        y = (x * x).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [2.0, 4.0])  # x is untouched and still attached


def test_in_place_updates_keep_the_shape_and_dtype_as_numpy_does():
    y = nd.ones((3, 1))
    with pytest.raises(sg.ShapeError, match=r"would change x's shape from \(3, 1\) to \(3, 4\)"):
        y += nd.ones((3, 4))
    i = nd.array([1, 2], dtype="int32")
    with pytest.raises(sg.SymgradError, match="does not cast back to x's int32"):
        i += 0.5
    x = nd.array([1.0, 2.0], dtype="float32")
    x.attach_grad()
    with autograd.record():
        z = x * 1
        z += np.array([0.5, 0.5])  # a float64 array: z stays float32 and recorded, as in PyTorch
        loss = (z * z).sum()
    assert z.dtype == np.float32
    loss.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [3.0, 5.0])


@pytest.mark.parametrize("convert", [lambda x: x.astype("float64"), lambda x: x.copy()], ids=["astype", "copy"])
def test_astype_and_copy_are_recorded_and_send_gradients_back_in_the_variables_dtype(convert):
    x = nd.array([1.0, 2.0], dtype="float32")
    x.attach_grad()
    with autograd.record():
        c = convert(x)
        y = (c * x).sum()
    assert c._data is not x._data
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [2.0, 4.0])
    assert x.grad.dtype == np.float32


def test_backward_of_a_comparison_or_sign_gives_zero_gradients():
    x = nd.array([1.0, -2.0])
    x.attach_grad()
    with autograd.record():
        c = x > 0
        loss = (x * x).sum()
        s = nd.sign(x)
    c.backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad.asnumpy(), [0.0, 0.0])
    autograd.backward([loss, s])
    np.testing.assert_array_equal(x.grad.asnumpy(), [2.0, -4.0])
    np.testing.assert_array_equal(autograd.grad(c, [x])[0].asnumpy(), [0.0, 0.0])


def test_writing_into_a_recorded_array_before_backward_leaves_the_recorded_values_alone():
    x = nd.array([1.0, 2.0], dtype="float64")
    x.attach_grad()
    w, c = nd.array([3.0]), nd.array([5.0])
    w.attach_grad()
    with autograd.record():
        y = nd.exp(x)
        loss = (y * y).sum() + (w * c).sum()
    y[:] = 0  # an intermediate and a plain input, both held by the recorded graph
    c[:] = 0
    loss.backward()
    np.testing.assert_allclose(x.grad.asnumpy(), 2 * np.exp(2 * np.array([1.0, 2.0])), rtol=1e-15)
    np.testing.assert_array_equal(w.grad.asnumpy(), [5.0])
    np.testing.assert_array_equal(y.asnumpy(), [0.0, 0.0])
    np.testing.assert_array_equal(c.asnumpy(), [0.0])


class Square(autograd.Function):
    def forward(self, x):
        self.save_for_backward(x)
        return x * x

    def backward(self, dy):
        (x,) = self.saved_tensors
        return 2 * x * dy


def test_custom_function_forward_and_backward():
    x = nd.array([1.0, -3.0])
    x.attach_grad()
    with autograd.record():
        y = Square()(x) * 3
    np.testing.assert_array_equal(y.asnumpy(), [3.0, 27.0])
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [6.0, -18.0])


def test_custom_function_calls_in_a_loop_do_not_pile_up_in_the_plan_cache():
    x = nd.array([1.0, -3.0])
    x.attach_grad()
    before = sg.cache_info().currsize
    for _ in range(5):
        with autograd.record():
            y = Square()(x) * 3
        y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [6.0, -18.0])
    assert sg.cache_info().currsize == before


def test_recording_state_flags():
    assert not autograd.is_recording()
    with autograd.record():
        assert autograd.is_recording() and autograd.is_training()
        with autograd.pause():
            assert not autograd.is_recording()
    with autograd.predict_mode():
        assert not autograd.is_training()


def test_a_loop_recording_the_same_structure_reuses_the_backward_plan():
    x = nd.array([1.0, 2.0])
    x.attach_grad()
    before = sg.cache_info()
    for _ in range(5):
        with autograd.record():
            y = (nd.tanh(x) * x).sum()
        y.backward()
    assert sg.cache_info().hits - before.hits >= 4


def run_in_threads(work, scales):
    """Run work(scale) in one thread per scale; re-raise the first failure here."""
    errors = []

    def guarded(scale):
        try:
            work(scale)
        except Exception as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(s,)) for s in scales]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_two_threads_record_and_backward_without_mixing_tapes():
    def work(scale):
        x = nd.array([1.0, 2.0, 3.0], dtype="float64")
        x.attach_grad()
        for _ in range(executor.CODEGEN_AFTER_CALLS + 20):  # the plan turns into generated code meanwhile
            with autograd.record():
                y = (x * x * scale).sum()
            y.backward()
            np.testing.assert_allclose(x.grad.asnumpy(), 2 * scale * x.asnumpy())

    run_in_threads(work, (1.0, 5.0))


def test_two_threads_run_executors_of_the_same_structure_without_mixing_buffers():
    from symgrad import sym

    def work(scale):
        x = sym.var("x")
        s = sym.sum(sym.sin(x) * x)
        xv = np.linspace(0, 1, 50) * scale
        ex = s.bind({"x": xv})
        for _ in range(executor.CODEGEN_AFTER_CALLS + 20):  # the plan turns into generated code meanwhile
            (out,) = ex.forward(is_train=True)
            ex.backward()
            np.testing.assert_allclose(out, np.sum(np.sin(xv) * xv))
            np.testing.assert_allclose(ex.grad_dict["x"], np.cos(xv) * xv + np.sin(xv))

    run_in_threads(work, (1.0, 3.0))


def test_complex_data_is_refused_not_silently_truncated():
    import symgrad as sg

    with pytest.raises(sg.SymgradError, match="complex"):
        nd.array(np.array([1j]))
