"""MXNet 1.x's training pieces that d2l and MXNet's examples use: take, NAG/RMSProp/AdaGrad,
lr_scheduler, the F1 and perplexity metrics, BatchNorm's fix_gamma writing its 1 into gamma.

Reference numbers were recorded once from MXNet 1.9.1 (pip mxnet==1.9.1, NumPy 1.23) by running
the same calls there, in float64 where MXNet allows it; each block says which calls.
"""

import ast
import logging
import pathlib

import numpy as np
import pytest

import symgrad as mx
from symgrad import SymgradError, autograd, nd
from symgrad.testing import check_numeric_gradient

W0 = np.array([1.0, -2.0, 3.0, 0.25])
GRADS = [np.array([0.5, 4.0, -1.0, 0.0]) * t for t in (1, 2, 3)] + [np.array([-0.3, 0.2, 0.1, 5.0])]


def test_take_gathers_rows_clips_or_wraps_and_its_gradient_adds_repeated_rows():
    data = np.arange(12.0).reshape(4, 3)
    np.testing.assert_array_equal(nd.take(nd.array(data), nd.array([3, 0, 3])).asnumpy(), data[[3, 0, 3]])
    np.testing.assert_array_equal(nd.array(data).take(nd.array([[5.7, -1]])).asnumpy(), data[[[3, 0]]])  # clip
    wrapped = nd.take(nd.array(data), nd.array([4, -1]), axis=0, mode="wrap").asnumpy()
    np.testing.assert_array_equal(wrapped, data[[0, 3]])
    np.testing.assert_array_equal(nd.take(nd.array(data), nd.array([2, 2]), axis=1).asnumpy(), data[:, [2, 2]])
    x = nd.array(data)
    x.attach_grad()
    with autograd.record():
        y = (x.take(nd.array([1, 1, 2])) * nd.array([1.0, 2.0, 3.0])).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), [[0, 0, 0], [2, 4, 6], [1, 2, 3], [0, 0, 0]])
    v = mx.sym.var("v")
    check_numeric_gradient(mx.sym.take(v, np.array([[2, 0], [2, 1]]), axis=1) ** 2, {"v": data / 10})
    with pytest.raises(SymgradError, match="mode must be 'clip' or 'wrap'"):
        nd.take(x, nd.array([0]), mode="raise")


def _train(name: str, dtype: str = "float64", **kwargs) -> np.ndarray:
    opt = mx.optimizer.create(name, **kwargs)
    update, weight = mx.optimizer.get_updater(opt), W0.astype(dtype)
    for g in GRADS:
        update(0, g.astype(dtype), weight)
    return weight


# MXNet's update kernels take lr, wd, momentum, rescale_grad and the clips as float32 attributes (AdaGrad's
# Python update keeps them float64), so only AdaGrad agrees to rounding.
RTOL = {"nag": 1e-7, "rmsprop": 1e-7, "adagrad": 1e-14}


# Recorded from MXNet 1.9.1: opt = mx.optimizer.create(name, **kwargs); w = mx.nd.array(W0, dtype='float64');
# st = opt.create_state(0, w) cast to float64; then opt.update(0, w, mx.nd.array(g, dtype='float64'), st) per g.
@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("nag", dict(learning_rate=0.1, momentum=0.9, wd=0.01, rescale_grad=0.5, clip_gradient=1.5),
         [0.540562294578183, -3.524610816975015, 3.9058818036230707, -0.03802468103716836]),
        ("nag", dict(learning_rate=0.1, wd=0.01), [0.726505742061125, -4.408014027692435, 3.5770184967763736,
                                                  -0.2509985084429023]),
        ("rmsprop", dict(learning_rate=0.01, gamma1=0.8, wd=0.1, rescale_grad=0.5, clip_gradient=1.0, clip_weights=2.5),
         [0.9409748195262161, -2.0516612416869395, 2.494048556198834, 0.17601843635897413]),
        ("rmsprop", dict(learning_rate=0.01, gamma1=0.8, gamma2=0.7, centered=True, wd=0.1, rescale_grad=0.5),
         [0.8436841098541007, -2.159795472611938, 3.1549999784710354, 0.08907382969990357]),
        ("adagrad", dict(learning_rate=0.1, wd=0.1, rescale_grad=0.5, clip_gradient=1.0, eps=1e-6),
         [0.7123610596084156, -2.150446960126382, 3.1291490129151636, 0.1401490524999625]),
    ],
)  # fmt: skip
def test_nag_rmsprop_and_adagrad_give_mxnet_s_weights(name, kwargs, expected):
    np.testing.assert_allclose(_train(name, **kwargs), expected, rtol=RTOL[name])


def test_a_learning_rate_schedule_sets_each_update_s_rate_as_in_mxnet():
    # MXNet 1.9.1: the same loop with lr_scheduler=FactorScheduler(step=2, factor=0.5, base_lr=0.2) for SGD with
    # momentum=0.9, and MultiFactorScheduler(step=[1, 3], factor=0.1, base_lr=0.05) for Adam (whose default
    # learning_rate=0.001 then replaces base_lr, with a warning). MXNet keeps lr in float32: hence rtol 1e-7.
    sgd = _train("sgd", momentum=0.9, lr_scheduler=mx.lr_scheduler.FactorScheduler(step=2, factor=0.5, base_lr=0.2))
    np.testing.assert_allclose(sgd, [-0.14089998760372385, -11.387199904704092, 5.3317999759525065, -0.25], rtol=1e-7)
    with pytest.warns(UserWarning, match="learning_rate=0.001 replaces the lr_scheduler's base_lr=0.05"):
        adam = _train("adam", lr_scheduler=mx.lr_scheduler.MultiFactorScheduler(step=[1, 3], factor=0.1, base_lr=0.05))
    np.testing.assert_allclose(adam, [0.9988008468984669, -2.001200250597962, 3.0012000151652116, 0.2499941886781228])


def test_schedulers_give_mxnet_s_rates_with_floor_and_warm_up(caplog):
    # MXNet 1.9.1: [s(n) for n in ...] for each scheduler below.
    factor = mx.lr_scheduler.FactorScheduler(step=3, factor=0.5, base_lr=1.0, stop_factor_lr=0.1)
    with caplog.at_level(logging.INFO):
        rates = [factor(n) for n in range(1, 16)]
    assert rates == [1.0] * 3 + [0.5] * 3 + [0.25] * 3 + [0.125] * 3 + [0.1] * 3
    assert "Update[4]: Change learning rate to 5.00000e-01" in caplog.text
    assert "Update[13]: now learning rate arrived at 1.00000e-01, will not change in the future" in caplog.text
    multi = mx.lr_scheduler.MultiFactorScheduler(
        step=[2, 5], factor=0.1, base_lr=1.0, warmup_steps=1, warmup_begin_lr=0.5
    )
    assert [multi(n) for n in range(8)] == [0.5, 1.0, 1.0, 0.1, 0.1, 0.1, 0.010000000000000002, 0.010000000000000002]
    warm = mx.lr_scheduler.FactorScheduler(step=2, factor=0.5, base_lr=1.0, warmup_steps=4, warmup_begin_lr=0.2)
    assert [warm(n) for n in range(9)] == [0.2, 0.4, 0.6000000000000001, 0.8, 0.5, 0.25, 0.25, 0.125, 0.125]
    with pytest.raises(SymgradError, match=r"MultiFactorScheduler: step must increase, got \[5, 2\]"):
        mx.lr_scheduler.MultiFactorScheduler(step=[5, 2])
    with pytest.raises(SymgradError, match="factor must be in"):
        mx.lr_scheduler.FactorScheduler(step=2, factor=2)


PREDS = [np.array([[0.3, 0.7], [0.9, 0.1], [0.4, 0.6], [0.8, 0.2]]), np.array([[0.2, 0.8], [0.3, 0.7], [0.1, 0.9]])]
LABELS = [np.array([0.0, 1, 1, 0]), np.array([1.0, 1, 0])]


@pytest.mark.parametrize(
    ("average", "after_both", "after_reset_local"),
    [("macro", (0.65, 0.65), (0.5, 0.6)), ("micro", (2 / 3, 2 / 3), (0.5, 0.6153846153846153))],
)
def test_f1_averages_batches_or_samples_as_mxnet(average, after_both, after_reset_local):
    # MXNet 1.9.1: f = mx.metric.F1(average=...); f.update([l], [p]) per batch; get(), get_global();
    # then f.reset_local(); f.update on the first batch again.
    f1 = mx.metric.F1(average=average)
    for label, pred in zip(LABELS, PREDS):
        f1.update([nd.array(label)], [nd.array(pred)])
    assert (f1.get()[1], f1.get_global()[1]) == pytest.approx(after_both, rel=1e-15)
    f1.reset_local()
    f1.update([nd.array(LABELS[0])], [nd.array(PREDS[0])])
    assert (f1.get()[1], f1.get_global()[1]) == pytest.approx(after_reset_local, rel=1e-15)
    assert mx.metric.create("f1").name == "f1"
    with pytest.raises(SymgradError, match="F1 scores a binary classification"):
        f1.update([nd.array([0, 1, 2])], [nd.array(np.eye(3))])


def test_perplexity_is_mxnet_s_with_and_without_an_ignored_label():
    # MXNet 1.9.1: p = mx.metric.Perplexity(ignore_label=...); p.update(labels, preds); p.get()
    # (its arithmetic in float32, hence rtol 1e-7)
    perplexity = mx.metric.Perplexity(ignore_label=None)
    perplexity.update([nd.array(x) for x in LABELS], [nd.array(x) for x in PREDS])
    assert perplexity.get() == ("perplexity", pytest.approx(2.7664406717235632, rel=1e-7))
    ignoring = mx.metric.create("perplexity", ignore_label=1)
    ignoring.update([nd.array(x) for x in LABELS], [nd.array(x) for x in PREDS])
    assert ignoring.get()[1] == pytest.approx(3.466806453082441, rel=1e-7)
    with pytest.raises(SymgradError, match=r"labels of shape \(3,\) do not fit predictions of shape \(4, 2\)"):
        perplexity.update([nd.array([0, 1, 1])], [nd.array(PREDS[0])])


def test_batchnorm_with_fix_gamma_writes_1_into_gamma_as_mxnet_so_weight_decay_acts_on_1():
    x = mx.sym.var("data")
    for train in (False, True):
        ex = mx.sym.BatchNorm(x, name="bn", fix_gamma=True).simple_bind(data=(4, 3))
        ex.arg_dict["data"][:] = np.arange(12.0).reshape(4, 3) ** 2
        ex.arg_dict["bn_gamma"][:] = 2.0
        out = ex.forward(is_train=train)[0].asnumpy()
        np.testing.assert_array_equal(ex.arg_dict["bn_gamma"].asnumpy(), [1, 1, 1])
        if train:
            ex.backward(np.ones(out.shape))
            np.testing.assert_array_equal(ex.grad_dict["bn_gamma"].asnumpy(), [0, 0, 0])
    gamma = nd.array([3.0, 3.0, 3.0])
    nd.BatchNorm(nd.ones((4, 3)), gamma, nd.zeros(3), nd.zeros(3), nd.ones(3), fix_gamma=True)
    np.testing.assert_array_equal(gamma.asnumpy(), [1, 1, 1])
    # MXNet 1.9.1: Module(SoftmaxOutput(FullyConnected(BatchNorm(data, fix_gamma=True)))), set_params with
    # bn_gamma = 3, init_optimizer(learning_rate=0.1, wd=0.1), one forward/backward/update: bn_gamma is 0.99.
    net = mx.sym.FullyConnected(mx.sym.BatchNorm(x, name="bn", fix_gamma=True), num_hidden=2, name="fc")
    mod = mx.mod.Module(mx.sym.SoftmaxOutput(net, name="softmax"))
    mod.bind(data_shapes=[("data", (4, 3))], label_shapes=[("softmax_label", (4,))])
    mod.init_params(mx.init.Uniform(0.5))
    arg, aux = mod.get_params()
    mod.set_params({**arg, "bn_gamma": nd.array([3.0, 3.0, 3.0])}, aux)
    mod.init_optimizer(optimizer_params={"learning_rate": 0.1, "wd": 0.1})
    mod.forward(mx.io.DataBatch([nd.ones((4, 3))], [nd.zeros(4)]), is_train=True)
    mod.backward()
    mod.update()
    np.testing.assert_allclose(mod.get_params()[0]["bn_gamma"].asnumpy(), [0.99, 0.99, 0.99], rtol=1e-7)


def test_batchnorm_writes_only_into_bound_variables_as_its_register_declares():
    # the kernel wrote fix_gamma's 1 (and the moving statistics) into whatever array it was given: a computed
    # gamma, 2*w, was overwritten in its buffer, so another output reading 2*w gave 1 instead of 10
    assert mx.ops.OPS["BatchNorm"].writes == ("gamma", "moving_mean", "moving_var")
    x, w = mx.sym.var("x", shape=(4, 3)), mx.sym.var("w", shape=(3,))
    doubled, stats = w * 2.0, {k: mx.sym.var(k, shape=(3,)) for k in ("beta", "mm", "mv")}
    bn = mx.sym.BatchNorm(x, doubled, stats["beta"], stats["mm"], 2 * stats["mv"], fix_gamma=True, name="bn")
    for at in (0, 1):  # whichever the plan runs first
        ex = mx.sym.Group([doubled, bn] if at == 0 else [bn, doubled]).bind(
            {"x": np.arange(12.0).reshape(4, 3), "w": np.full(3, 5.0), "beta": np.zeros(3), "mv": np.ones(3)},
            aux_states={"mm": np.zeros(3)},
        )
        values = ex.forward(is_train=True)
        np.testing.assert_array_equal(values[at].asnumpy(), [10.0, 10.0, 10.0])
        np.testing.assert_array_equal(ex.arg_dict["w"].asnumpy(), [5.0, 5.0, 5.0])
        np.testing.assert_allclose(ex.aux_dict["mm"].asnumpy(), [0.45, 0.55, 0.65])  # (1 - 0.9) * the column means
        np.testing.assert_array_equal(ex.arg_dict["mv"].asnumpy(), [1.0, 1.0, 1.0])  # 2*mv is a copy


def _mlp() -> mx.sym.Symbol:
    net = mx.sym.FullyConnected(mx.sym.Variable("data"), name="fc1", num_hidden=8)
    return mx.sym.SoftmaxOutput(mx.sym.FullyConnected(net, name="fc2", num_hidden=3), name="softmax")


def test_a_module_refuses_batches_whose_samples_need_other_parameter_shapes():
    """score/predict on data of 7 features after training on 5 resized the weights to zeros and scored
    them silently (accuracy 0.0); MXNet 1.9.1 raises 'Shape of unspecifie arg: fc1_weight changed'."""
    rng = np.random.default_rng(0)
    mod = mx.mod.Module(_mlp())
    mod.fit(mx.io.NDArrayIter(rng.random((20, 5)), rng.integers(0, 3, 20), 5), num_epoch=1)
    with pytest.raises(
        mx.ShapeError, match=r"needs parameter 'fc1_weight' of shape \(8, 7\), but the module's is \(8, 5\)"
    ):
        mod.score(mx.io.NDArrayIter(np.ones((10, 7)), np.zeros(10), 5), "acc")
    assert mod.predict(mx.io.NDArrayIter(np.ones((4, 5)), np.zeros(4), 3)).shape == (4, 3)  # another batch size binds


def test_mistakes_in_mxnet_programs_are_named_with_their_fix():
    x, y = np.ones((20, 5)), np.zeros(20)
    with pytest.raises(mx.BindError, match=r"the input 'lbl' .* NDArrayIter\(\.\.\., label_name='softmax_label'\)"):
        mx.mod.Module(_mlp()).fit(mx.io.NDArrayIter(x, y, 5, label_name="lbl"), num_epoch=1)
    lro = mx.sym.LinearRegressionOutput(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=1), name="lro")
    with pytest.warns(UserWarning, match="label 'softmax_label' is not an argument"):
        mod = mx.mod.Module(lro)
    with pytest.raises(
        mx.BindError, match=r"the symbol's label is 'lro_label': Module\(net, label_names=\['lro_label'\]\)"
    ):
        mod.fit(mx.io.NDArrayIter(x, y, 5), num_epoch=1)
    with pytest.raises(SymgradError, match=r"unknown parameter 'learning_rat'; did you mean 'learning_rate'\?"):
        mx.mod.Module(_mlp()).fit(mx.io.NDArrayIter(x, y, 5), num_epoch=1, optimizer_params={"learning_rat": 0.1})
    with pytest.raises(SymgradError, match=r"lr_scheduler must be a scheduler made with its arguments"):
        mx.optimizer.create("sgd", lr_scheduler=mx.lr_scheduler.FactorScheduler)
    # an iterator without labels trained against the label array's zeros (MXNet 1.9.1: an AssertionError in fit)
    with pytest.raises(mx.BindError, match=r"no shape for label 'softmax_label', which training reads; give the"):
        mx.mod.Module(_mlp()).fit(mx.io.NDArrayIter(x, batch_size=5), num_epoch=1)
    predicting = mx.mod.Module(_mlp())
    predicting.bind(data_shapes=[("data", (5, 5))], for_training=False)
    predicting.init_params()
    assert predicting.predict(mx.io.NDArrayIter(x, batch_size=5)).shape == (20, 3)
    ex = _mlp().simple_bind(data=(4, 5))
    with pytest.raises(KeyError, match=r"arg_dict: no entry 'fc1_weights'; did you mean 'fc1_weight'\?") as caught:
        ex.arg_dict["fc1_weights"][:] = 1
    assert isinstance(caught.value, mx.UnknownNameError) and isinstance(caught.value, SymgradError)


def test_a_regression_output_s_label_is_a_vector_for_one_output_as_in_mxnet():
    # MXNet 1.9.1: LinearRegressionOutput(FullyConnected(data, num_hidden=1)).infer_shape(data=(5, 2)) gives the
    # label (5,), and forward(lro_label=<shape (5,)>) then backward gives fc_bias's gradient -10 for the data below
    lro = mx.sym.LinearRegressionOutput(
        mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=1, name="fc"), name="lro"
    )
    arg_shapes, _, _ = lro.infer_shape(data=(5, 2))
    assert dict(zip(lro.list_arguments(), arg_shapes))["lro_label"] == (5,)
    ex = lro.simple_bind(data=(5, 2))
    ex.forward(is_train=True, data=np.ones((5, 2)), lro_label=np.arange(5.0))
    ex.backward()
    np.testing.assert_allclose(ex.grad_dict["fc_bias"].asnumpy(), [-10.0])
    three = mx.sym.LinearRegressionOutput(mx.sym.FullyConnected(mx.sym.Variable("data"), num_hidden=3), name="lro")
    assert three.infer_shape(data=(5, 2))[0][-1] == (5, 3)


# Recorded from MXNet 1.9.1 with float64 NDArrays: mx.nd.<op>(w, g, *states, **kwargs, out=w) (or without out),
# w = W0, g = [0.5, 4, -1, 0], the states from S0 = [0.1, -0.2, 0.3, 0.05] as below; MXNet passes lr, wd,
# momentum, the betas, gammas and clips to its kernels as float32, hence rtol 1e-7 (5e-7 for the states).
S0 = np.array([0.1, -0.2, 0.3, 0.05])
UPDATE_CASES = [
    ("sgd_update", [], dict(lr=0.1, wd=0.01, rescale_grad=0.5, clip_gradient=1.5),
     [0.9739999996349216, -2.1480000022500754, 3.04700000076741, 0.24975000000186265], []),
    ("sgd_mom_update", [S0], dict(lr=0.1, momentum=0.9, wd=0.01, rescale_grad=0.5, clip_gradient=1.5),
     [1.0639999972507357, -2.3279999974817036, 3.3169999936148526, 0.29474999880976976],
     [[0.06399999725073577, -0.3279999974817038, 0.3169999936148524, 0.04474999880976975]]),
    ("nag_mom_update", [S0], dict(lr=0.1, momentum=0.9, wd=0.01, rescale_grad=0.5),
     [1.0315999956347048, -2.5381999923869967, 3.332299987462908, 0.2900249978637323],
     [[0.0639683972553365, -0.37746179823838477, 0.31666769362986535, 0.04470997381220423]]),
    ("adam_update", [S0, np.abs(S0)], dict(lr=0.01, wd=0.1, rescale_grad=0.5, clip_gradient=1.0),
     [0.9960475975594926, -1.998214713301717, 2.9954336666010843, 0.24787468596941575],
     [[0.12500000610947615, -0.07999997138977052, 0.249999988526106, 0.04749999944120647],
      [0.1000224997113645, 0.2007999897003174, 0.29974000334560874, 0.04995062563570217]]),
    ("rmsprop_update", [np.abs(S0)], dict(lr=0.01, wd=0.1, clip_weights=2.5),
     [0.9821510778769871, -2.03979111647042, 2.5, 0.2488532985951579],
     [[0.11300000318884852, 0.9120001686215398, 0.309500001952052, 0.04753124941233546]]),
    ("rmspropalex_update", [np.abs(S0), S0 / 10, S0], dict(lr=0.01, wd=0.1),
     [1.072026559835455, -2.2204447744893767, 3.282583373588518, 0.2938528629024949],
     [[0.11300000318884852, 0.9120001686215398, 0.309500001952052, 0.04753124941233546],
      [0.03950000710785391, 0.17100004538893696, -0.00650000847876067, 0.00600000025704504],
      [0.07202655983545508, -0.22044477448937666, 0.2825833735885182, 0.0438528629024949]]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "states", "kwargs", "weight", "updated"), UPDATE_CASES, ids=[c[0] for c in UPDATE_CASES]
)
def test_mxnet_s_update_ops_write_the_weight_and_their_states_in_place(name, states, kwargs, weight, updated):
    w, held = nd.array(W0, dtype="float64"), [nd.array(s, dtype="float64") for s in states]
    assert getattr(nd, name)(w, nd.array(GRADS[0], dtype="float64"), *held, out=w, **kwargs) is w
    np.testing.assert_allclose(w.asnumpy(), weight, rtol=1e-7)
    for state, expected in zip(held, updated):  # MXNet's float32 beta1/gamma1: Adam's -0.18 + 0.1 is 3e-8 off
        np.testing.assert_allclose(state.asnumpy(), expected, rtol=5e-7, atol=5e-8)


def test_nag_without_out_leaves_the_weight_and_decays_with_the_old_one():
    # MXNet 1.9.1: r = mx.nd.nag_mom_update(w, g, m, lr=0.1, momentum=0.9, wd=0.01, rescale_grad=0.5), no out=
    w, mom = nd.array(W0, dtype="float64"), nd.array(S0, dtype="float64")
    new = nd.nag_mom_update(
        w, nd.array(GRADS[0], dtype="float64"), mom, lr=0.1, momentum=0.9, wd=0.01, rescale_grad=0.5
    )
    np.testing.assert_allclose(new.asnumpy(), UPDATE_CASES[2][3], rtol=1e-7)
    np.testing.assert_array_equal(w.asnumpy(), W0)
    np.testing.assert_allclose(mom.asnumpy(), [0.06399999725073577, -0.37799999822676184, 0.3169999936148524,
                                               0.04474999880976975], rtol=1e-7)  # fmt: skip


@pytest.mark.parametrize(
    ("name", "states", "kwargs", "weight", "updated"), UPDATE_CASES, ids=[c[0] for c in UPDATE_CASES]
)
def test_update_ops_refuse_arrays_of_another_shape_before_changing_anything(name, states, kwargs, weight, updated):
    # MXNet stops with "Incompatible shapes"; NumPy would broadcast a (1,) gradient over the weight silently,
    # or fail after a state had been changed in place
    for wrong in ("grad", *range(len(states)), "out"):
        w, held = nd.array(W0, dtype="float64"), [nd.array(s, dtype="float64") for s in states]
        grad = nd.array(GRADS[0][:1] if wrong == "grad" else GRADS[0], dtype="float64")
        if wrong not in ("grad", "out"):
            held[wrong] = nd.array(states[wrong][:3], dtype="float64")
        out = nd.zeros((4, 1), dtype="float64") if wrong == "out" else w
        with pytest.raises(mx.ShapeError, match=rf"nd\.{name}: weight has shape \(4,\) but \w+ \((1|3|4, 1)"):
            getattr(nd, name)(w, grad, *held, out=out, **kwargs)
        np.testing.assert_array_equal(w.asnumpy(), W0)
        for state, before in zip(held, states):
            np.testing.assert_array_equal(state.asnumpy(), before[: state.size])


def test_the_update_ops_are_nd_s_own_names_so_from_symgrad_nd_import_finds_them():
    # symgrad/__init__.py set them on nd from above: IDEs, type checkers and a module imported before
    # optimizer did not see nd.sgd_update; nd.py now imports them from symgrad.updates, below it
    tree = ast.parse(pathlib.Path(nd.__file__).read_text())
    imported = {a.asname or a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for a in node.names}
    assert {c[0] for c in UPDATE_CASES} <= imported


@pytest.mark.parametrize("case", [c for c in UPDATE_CASES if c[0] in ("sgd_update", "sgd_mom_update", "adam_update")])
@pytest.mark.parametrize("lazy_update", [True, False])
def test_lazy_update_gives_mxnet_s_dense_result_either_way(case, lazy_update):
    # MXNet 1.9.1 skips zero-gradient rows only for a row_sparse gradient; for dense arrays lazy_update=True
    # and False give the same weights (checked there), the values UPDATE_CASES recorded
    name, states, kwargs, weight, _ = case
    w, held = nd.array(W0, dtype="float64"), [nd.array(s, dtype="float64") for s in states]
    getattr(nd, name)(w, nd.array(GRADS[0], dtype="float64"), *held, out=w, lazy_update=lazy_update, **kwargs)
    np.testing.assert_allclose(w.asnumpy(), weight, rtol=1e-7)
