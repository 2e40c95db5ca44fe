"""MXNet's contexts: code that passes mx.cpu() everywhere runs as written."""

import numpy as np
import pytest
from without import run_without

import symgrad as mx


def test_contexts_print_compare_and_count_as_mxnet_does():
    assert str(mx.cpu()) == "cpu(0)" and repr(mx.gpu(1)) == "gpu(1)"
    assert mx.cpu() == mx.cpu(0) == mx.current_context() != mx.gpu(0)
    assert mx.Context(mx.gpu(2)) == mx.gpu(2) and len({mx.cpu(), mx.cpu(0)}) == 1
    assert mx.context.num_gpus() == 0


def test_bind_and_simple_bind_take_a_context_first_as_mxnet_code_passes_it():
    a, b = mx.sym.var("a"), mx.sym.var("b")
    c = a * b
    args = {"a": mx.nd.array([1.0, 2.0]), "b": mx.nd.array([3.0, 4.0])}
    for ex in (c.bind(mx.cpu(), args), c.bind(ctx=mx.cpu(), args=args), c.bind(args)):
        np.testing.assert_array_equal(ex.forward()[0].asnumpy(), [3.0, 8.0])
    ex = c.bind(mx.cpu(), args, None, "null")  # positional args_grad and grad_req after the context
    assert ex.grad_dict == {"a": None, "b": None}
    ex = c.simple_bind(mx.cpu(), "null", a=(2,), b=(2,))
    assert ex.grad_dict == {"a": None, "b": None} and ex.forward()[0].shape == (2,)
    ex = c.simple_bind(mx.cpu(), a=(3,), b=(3,))
    ex.forward(is_train=True, a=np.ones(3), b=np.full(3, 2.0))
    ex.backward(np.ones(3))
    np.testing.assert_array_equal(ex.grad_dict["a"].asnumpy(), [2.0, 2.0, 2.0])


def test_the_classic_mxnet_training_loop_matches_numpy_step_for_step():
    """MXNet's low-level loop as tutorials write it: no shapes declared, labels new each step."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(256, 20)).astype("float32")
    Y = (X @ rng.normal(size=(20, 3))).argmax(axis=1).astype("float32")
    data, label = mx.sym.var("data"), mx.sym.var("softmax_label")
    fc1 = mx.sym.FullyConnected(data=data, name="fc1", num_hidden=16)
    act = mx.sym.Activation(data=fc1, name="relu1", act_type="relu")
    fc2 = mx.sym.FullyConnected(data=act, name="fc2", num_hidden=3)
    net = mx.sym.SoftmaxOutput(data=fc2, label=label, name="softmax")
    assert net.list_arguments() == ["data", "fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias", "softmax_label"]
    batch, lr = 32, 0.5
    ex = net.simple_bind(mx.cpu(), data=(batch, 20), softmax_label=(batch,))
    init = np.random.default_rng(1)
    params = {}
    for name, arr in ex.arg_dict.items():
        if name.endswith("weight"):
            arr[:] = init.uniform(-0.1, 0.1, size=arr.shape)
        elif name.endswith("bias"):
            arr[:] = 0
        params[name] = arr.asnumpy().copy()
    for _ in range(3):
        for i in range(0, len(X), batch):
            x, y = X[i : i + batch], Y[i : i + batch]
            ex.arg_dict["data"][:] = x
            ex.arg_dict["softmax_label"][:] = y
            ex.forward(is_train=True)
            ex.backward()
            for name in ("fc1_weight", "fc1_bias", "fc2_weight", "fc2_bias"):
                ex.arg_dict[name][:] -= lr / batch * ex.grad_dict[name]
            # The same step in NumPy: SoftmaxOutput's gradient is softmax - one_hot (normalization 'null').
            h = np.maximum(x @ params["fc1_weight"].T + params["fc1_bias"], 0)
            z = h @ params["fc2_weight"].T + params["fc2_bias"]
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            np.testing.assert_allclose(ex.outputs[0].asnumpy(), p, rtol=1e-4, atol=1e-6)
            dz = p - np.eye(3, dtype="float32")[y.astype(int)]
            dh = (dz @ params["fc2_weight"]) * (h > 0)
            grads = {"fc2_weight": dz.T @ h, "fc2_bias": dz.sum(0), "fc1_weight": dh.T @ x, "fc1_bias": dh.sum(0)}
            for name, g in grads.items():
                params[name] -= lr / batch * g
    for name in grads:
        np.testing.assert_allclose(ex.arg_dict[name].asnumpy(), params[name], rtol=1e-3, atol=1e-5)
    correct = (ex.forward(data=X[:batch])[0].asnumpy().argmax(axis=1) == Y[:batch]).mean()
    assert correct > 0.8


@pytest.mark.parametrize("make", [mx.cpu, mx.gpu])
def test_nd_arrays_accept_a_context_and_stay_on_the_cpu(make):
    a = mx.nd.array([1.0, 2.0], ctx=make())
    assert str(a.context) == "cpu(0)"
    np.testing.assert_array_equal(a.as_in_context(make()).asnumpy(), [1.0, 2.0])


def test_mxnet_example_scripts_run_as_written_after_import_symgrad_as_mx():
    """MXNet's mlp.py starts `data = mx.symbol.Variable('data')` and its loops use mx.init and
    mx.optimizer without importing them: a fresh interpreter, so nothing imported them earlier."""
    out = run_without(
        set(),
        """
        import numpy as np
        import symgrad as mx
        data = mx.symbol.Variable('data')
        data = mx.sym.Flatten(data=data)
        fc1 = mx.symbol.FullyConnected(data=data, name='fc1', num_hidden=4)
        net = mx.symbol.SoftmaxOutput(data=fc1, name='softmax')
        ex = net.simple_bind(ctx=mx.cpu(), data=(2, 1, 2, 3))
        mx.init.Xavier()('fc1_weight', ex.arg_dict['fc1_weight'])
        update = mx.optimizer.get_updater(mx.optimizer.SGD(learning_rate=0.1))
        ex.forward(is_train=True, data=mx.nd.ones((2, 1, 2, 3)), softmax_label=mx.nd.array([0, 3]))
        ex.backward()
        update(0, ex.grad_dict['fc1_weight'], ex.arg_dict['fc1_weight'])
        print(ex.arg_dict['fc1_weight'].shape, float(abs(ex.arg_dict['fc1_weight'].asnumpy()).max()) > 0)
        """,
    )
    assert out.split() == ["(4,", "6)", "True"]


def test_bind_with_args_grad_computes_only_the_gradients_given_arrays_as_mxnet():
    """MXNet's bind(ctx, args, args_grad={...}) computes gradients for the arrays given and no
    others: the labels and data of a training loop get none (symgrad computed them all, and an
    integer label passed beside float weights' gradient arrays raised a BindError)."""
    data = mx.sym.var("data")
    net = mx.sym.SoftmaxOutput(mx.sym.FullyConnected(data, num_hidden=3, name="fc"), name="sm")
    args = {
        "data": mx.nd.ones((4, 5)),
        "fc_weight": mx.nd.ones((3, 5)),
        "fc_bias": mx.nd.zeros(3),
        "sm_label": np.array([0, 1, 2, 1]),
    }
    grads = {"fc_weight": mx.nd.zeros((3, 5)), "fc_bias": mx.nd.zeros(3)}
    for args_grad in (grads, [None, grads["fc_weight"], grads["fc_bias"], None]):
        ex = net.bind(mx.cpu(), args, args_grad=args_grad)
        ex.forward(is_train=True)
        ex.backward()
        assert ex.grad_dict["data"] is None and ex.grad_dict["sm_label"] is None
        np.testing.assert_allclose(grads["fc_bias"].asnumpy(), [1 / 3, -2 / 3, 1 / 3], rtol=1e-6)  # MXNet 1.9.1's
    ex = net.bind(mx.cpu(), args, args_grad=grads, grad_req={"fc_weight": "write", "data": "write"})
    assert ex.grad_dict["data"] is not None and ex.grad_dict["fc_bias"] is None  # a grad_req dict is explicit


def test_with_a_context_and_an_arrays_context_behave_as_in_mxnet():
    """`with mx.gpu(1):` raised TypeError (no context manager protocol), and an array's context was
    the string 'cpu(0)': `x.context.device_type` failed and `x.context == mx.cpu()` was False."""
    with mx.gpu(1) as ctx:
        assert ctx == mx.gpu(1) and mx.current_context() == mx.gpu(1)
        with mx.cpu():
            assert mx.current_context() == mx.cpu()
        assert mx.current_context() == mx.gpu(1)
    assert mx.current_context() == mx.cpu(0)
    x = mx.nd.array([1.0, 2.0], ctx=mx.gpu(0))
    assert x.context == x.ctx == mx.cpu() and x.context.device_type == "cpu" and x.context.device_id == 0
    assert repr(x).endswith("@cpu(0)>")
    with pytest.raises(mx.SymgradError, match="unknown device type 'banana'"):
        mx.Context("banana")
