"""MXNet's Module API: NDArrayIter's batches, the metrics, and Module's loop against a hand-written
executor loop (the same update rules written out), as MXNet 1.x programs use them."""

import importlib.util
import logging
from pathlib import Path

import numpy as np
import pytest

import symgrad as mx
from symgrad import SymgradError

rng = np.random.default_rng(11)


def batches(it):
    return [([d.asnumpy() for d in b.data], [x.asnumpy() for x in b.label], b.pad) for b in it]


def test_ndarrayiter_pads_the_last_batch_from_the_start_and_reports_the_padding():
    data, label = np.arange(10.0).reshape(5, 2), np.arange(5.0)
    it = mx.io.NDArrayIter(data, label, batch_size=2)
    assert it.provide_data == [("data", (2, 2))] and it.provide_label[0].name == "softmax_label"
    got = batches(it)
    assert [b[2] for b in got] == [0, 0, 1]
    np.testing.assert_array_equal(got[2][0][0], [[8.0, 9.0], [0.0, 1.0]])  # row 4, then row 0 again
    np.testing.assert_array_equal(got[2][1][0], [4.0, 0.0])
    assert batches(it) == []  # exhausted until reset
    it.reset()
    assert len(batches(it)) == 3
    short = batches(mx.io.NDArrayIter(np.arange(2.0), batch_size=5))  # fewer samples than a batch
    np.testing.assert_array_equal(short[0][0][0], [0.0, 1.0, 0.0, 1.0, 0.0])
    assert short[0][2] == 3 and short[0][1] == []


def test_ndarrayiter_discard_drops_and_roll_over_carries_the_last_batch_into_the_next_epoch():
    data = np.arange(5.0)
    assert [b[0][0].tolist() for b in batches(mx.io.NDArrayIter(data, batch_size=2, last_batch_handle="discard"))] == [
        [0.0, 1.0],
        [2.0, 3.0],
    ]
    it = mx.io.NDArrayIter(data, batch_size=2, last_batch_handle="roll_over")
    assert [b[0][0].tolist() for b in batches(it)] == [[0.0, 1.0], [2.0, 3.0]]
    it.reset()
    second = batches(it)
    assert [b[0][0].tolist() for b in second] == [[4.0, 0.0], [1.0, 2.0], [3.0, 4.0]]  # sample 4 rolled over
    assert [b[2] for b in second] == [1, 0, 0]
    it.reset()
    assert [b[0][0].tolist() for b in batches(it)] == [[0.0, 1.0], [2.0, 3.0]]  # MXNet 1.9.1's sequence


def test_ndarrayiter_shuffles_with_numpys_global_generator_at_creation_and_each_reset():
    data = np.arange(6.0)
    np.random.seed(3)
    it = mx.io.NDArrayIter(data, data * 10, batch_size=3, shuffle=True)
    np.random.seed(3)
    first = np.random.permutation(6)  # the same draw as np.random.shuffle(arange(6))
    got = batches(it)
    np.testing.assert_array_equal(np.concatenate([b[0][0] for b in got]), first)
    np.testing.assert_array_equal(np.concatenate([b[1][0] for b in got]), first * 10)  # labels stay paired
    it.reset()
    assert sorted(np.concatenate([b[0][0] for b in batches(it)]).tolist()) == list(range(6))


def test_ndarrayiter_takes_lists_and_dicts_and_refuses_what_it_cannot_batch():
    it = mx.io.NDArrayIter({"b": np.ones((4,)), "a": np.zeros((4, 3))}, batch_size=2)
    assert [d.name for d in it.provide_data] == ["a", "b"] and it.provide_data[0].shape == (2, 3)
    assert it.provide_data[0].dtype == np.float32  # float64 data becomes float32, as nd.array makes it
    it = mx.io.NDArrayIter(mx.nd.array(np.zeros((4, 3)), dtype="float64"), batch_size=2)
    assert next(it).data[0].dtype == np.float64  # an NDArray keeps its dtype
    it = mx.io.NDArrayIter([np.zeros((4, 3)), np.ones((4, 1))], batch_size=4)
    assert [d.name for d in it.provide_data] == ["_0_data", "_1_data"]
    with pytest.raises(SymgradError, match="every array needs 4 samples"):
        mx.io.NDArrayIter(np.zeros((4, 3)), np.zeros(3))
    with pytest.raises(SymgradError, match="last_batch_handle must be one of"):
        mx.io.NDArrayIter(np.zeros((4, 3)), last_batch_handle="drop")
    with pytest.raises(SymgradError, match="batch_size must be a positive int"):
        mx.io.NDArrayIter(np.zeros((4, 3)), batch_size=0)


def test_metrics_average_as_mxnet_does():
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.5, 0.1, 0.4]])  # right, second best, third
    labels = np.array([0.0, 1.0, 1.0])
    acc = mx.metric.create("acc")
    acc.update([mx.nd.array(labels)], [mx.nd.array(probs)])
    acc.update([labels[:1]], [probs[:1]])
    assert acc.get() == ("accuracy", 2 / 4)
    ce = mx.metric.create("ce")
    ce.update([labels], [probs])
    assert ce.get()[1] == pytest.approx(-np.log([0.7, 0.3, 0.1]).mean())
    top2 = mx.metric.TopKAccuracy(top_k=2)
    top2.update([labels], [probs])
    assert top2.get() == ("top_k_accuracy_2", 2 / 3)
    acc.reset_local()  # what Speedometer does each time it logs: the global figure goes on
    assert np.isnan(acc.get()[1]) and acc.get_global() == ("accuracy", 2 / 4)
    mse = mx.metric.create("mse")  # a mean per batch, then a mean over batches
    mse.update([np.array([1.0, 2.0])], [np.array([[1.0], [4.0]])])
    mse.update([np.array([0.0])], [np.array([1.0])])
    assert mse.get()[1] == pytest.approx((2.0 + 1.0) / 2)
    rmse, mae = mx.metric.RMSE(), mx.metric.MAE()
    for m in (rmse, mae):
        m.update([np.array([0.0, 0.0])], [np.array([3.0, 4.0])])
    assert rmse.get()[1] == pytest.approx(np.sqrt(12.5)) and mae.get()[1] == 3.5
    loss = mx.metric.create("loss")
    loss.update(None, [np.array([1.0, 3.0])])
    assert loss.get() == ("loss", 2.0)
    both = mx.metric.create(["acc", mx.metric.np(lambda lab, p: (p.argmax(1) != lab).sum() / len(lab), "err")])
    both.update([labels], [probs])
    assert both.get_name_value() == [("accuracy", 1 / 3), ("err", pytest.approx(2 / 3))]
    both.reset()
    assert np.isnan(both.get()[1][0])

    def max_error(label, pred):
        return float(np.abs(label - pred.argmax(1)).max())

    # a function as the metric is named as MXNet names it: score(it, max_error) logs max_error=...
    assert mx.metric.create(max_error).name == "max_error" and mx.metric.np(max_error).name == "max_error"
    assert mx.metric.create(lambda lab, p: 0.0).name == "custom(<lambda>)"
    assert mx.metric.np(lambda lab, p: 0.0).name == "custom(<lambda>)"  # MXNet 1.9.1: np names as create does
    with pytest.raises(SymgradError, match="unknown metric 'f3'"):
        mx.metric.create("f3")
    with pytest.raises(SymgradError, match="2 label arrays but 1 predictions"):
        acc.update([labels, labels], [probs])


def mlp():
    net = mx.sym.FullyConnected(mx.sym.Variable("data"), name="fc1", num_hidden=6)
    net = mx.sym.FullyConnected(mx.sym.Activation(net, act_type="relu"), name="fc2", num_hidden=3)
    return mx.sym.SoftmaxOutput(net, name="softmax")


def toy_data(n=40):
    label = rng.integers(0, 3, n).astype(np.float32)
    data = (np.eye(3, 4)[label.astype(int)] * 3 + rng.normal(size=(n, 4))).astype(np.float32)
    return data, label


def test_module_steps_equal_a_hand_written_executor_loop_with_mxnets_update_rule():
    """rescale_grad defaults to 1/batch_size and weight decay skips the biases, as MXNet's Module does."""
    data, label = toy_data(24)
    net = mlp()
    start = {"fc1_weight": rng.normal(size=(6, 4)), "fc1_bias": rng.normal(size=6),
             "fc2_weight": rng.normal(size=(3, 6)), "fc2_bias": rng.normal(size=3)}  # fmt: skip
    it = mx.io.NDArrayIter(data, label, batch_size=8)
    mod = mx.mod.Module(net)
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params(arg_params=start)
    mod.init_optimizer(optimizer="sgd", optimizer_params={"learning_rate": 0.5, "momentum": 0.9, "wd": 0.1})
    for batch in it:
        mod.forward_backward(batch)
        mod.update()

    ex = net.simple_bind(data=(8, 4), softmax_label=(8,), grad_req=dict.fromkeys(start, "write"))
    weights = {k: v.astype(np.float32) for k, v in start.items()}
    moms = {k: np.zeros_like(v) for k, v in weights.items()}
    for i in range(0, 24, 8):
        ex.forward(is_train=True, data=data[i : i + 8], softmax_label=label[i : i + 8], **weights)
        ex.backward()
        for k in weights:
            step = ex.grad_dict[k].asnumpy() / 8 + (0.1 * weights[k] if k.endswith("_weight") else 0)
            moms[k] = 0.9 * moms[k] - 0.5 * step
            weights[k] = weights[k] + moms[k]
    trained, _ = mod.get_params()
    for k in weights:
        np.testing.assert_allclose(trained[k].asnumpy(), weights[k], rtol=1e-5, atol=1e-6)


def test_an_optimizer_made_without_names_decays_the_biases_too_as_in_mxnet():
    """MXNet decides which parameters are decayed when the optimizer is made: SGD(wd=...) handed to
    Module decays the biases as well (MXNet 1.9.1's weights after two epochs differed from ours by
    0.06 before), while Module's optimizer made by name skips them."""
    data, label = toy_data(8)
    start = {"fc1_weight": rng.normal(size=(6, 4)), "fc1_bias": rng.normal(size=6),
             "fc2_weight": rng.normal(size=(3, 6)), "fc2_bias": rng.normal(size=3)}  # fmt: skip
    batch = mx.io.DataBatch([mx.nd.array(data)], [mx.nd.array(label)])
    ex = mlp().simple_bind(data=(8, 4), softmax_label=(8,), grad_req=dict.fromkeys(start, "write"))
    ex.forward(is_train=True, data=data, softmax_label=label, **{k: v.astype(np.float32) for k, v in start.items()})
    ex.backward()
    for optimizer, decayed in ((mx.optimizer.SGD(learning_rate=0.5, wd=0.1, rescale_grad=1 / 8), True), ("sgd", False)):
        mod = mx.mod.Module(mlp())
        mod.bind([("data", (8, 4))], [("softmax_label", (8,))])
        mod.init_params(arg_params=start)
        mod.init_optimizer(optimizer=optimizer, optimizer_params={"learning_rate": 0.5, "wd": 0.1})
        mod.forward_backward(batch)
        mod.update()
        trained, _ = mod.get_params()
        for k, w in start.items():
            w = w.astype(np.float32)
            wd = 0.1 if decayed or k.endswith("_weight") else 0.0
            expected = w - 0.5 * (ex.grad_dict[k].asnumpy() / 8 + wd * w)
            np.testing.assert_allclose(trained[k].asnumpy(), expected, rtol=1e-5, atol=1e-6, err_msg=k)


def test_a_metric_picks_its_outputs_and_labels_by_name_in_a_multi_output_module():
    """Group([SoftmaxOutput, BlockGrad]) scored with Accuracy(output_names=['softmax_output']) raised
    '1 label arrays but 2 predictions'; MXNet's Module passes the outputs by name (update_dict)."""
    data, label = toy_data(20)
    fc = mx.sym.FullyConnected(mx.sym.Variable("data"), name="fc", num_hidden=3)
    net = mx.sym.Group([mx.sym.SoftmaxOutput(fc, name="softmax"), mx.sym.BlockGrad(fc, name="feat")])
    it = mx.io.NDArrayIter(data, label, batch_size=8)
    mod = mx.mod.Module(net)
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params(mx.init.Xavier())
    probs = mod.predict(it)[0].asnumpy()
    padded = np.concatenate([label, label[:4]])  # the last batch's 4 padded rows count, as in MXNet
    right = np.concatenate([probs, probs[:4]]).argmax(1) == padded
    pick = {"output_names": ["softmax_output"], "label_names": ["softmax_label"]}
    assert mod.score(it, mx.metric.Accuracy(**pick)) == [("accuracy", right.mean())]
    both = mx.metric.CompositeEvalMetric([mx.metric.Accuracy(**pick), mx.metric.Loss(output_names=["feat_output"])])
    feats = mod.predict(it)[1].asnumpy()
    names, values = zip(*mod.score(it, both))
    assert names == ("accuracy", "loss") and values[0] == right.mean()
    np.testing.assert_allclose(values[1], np.concatenate([feats, feats[:4]]).mean(), rtol=1e-6)
    with pytest.raises(SymgradError, match="1 label arrays but 2 predictions"):
        mod.score(it, "acc")


def test_backward_on_a_module_bound_for_prediction_is_refused():
    """bind(for_training=False) keeps no gradient: backward and update changed nothing, silently
    (MXNet asserts 're-bind with for_training=True to run backward')."""
    data, label = toy_data(8)
    mod = mx.mod.Module(mlp())
    mod.bind([("data", (8, 4))], [("softmax_label", (8,))], for_training=False)
    mod.init_params()
    mod.init_optimizer()
    mod.forward(mx.io.DataBatch([mx.nd.array(data)], [mx.nd.array(label)]), is_train=True)
    with pytest.raises(SymgradError, match=r"bound with for_training=False; bind\(\.\.\., force_rebind=True\)"):
        mod.backward()


def test_fit_after_bind_warns_at_the_users_line():
    """MXNet's fine-tuning pattern, bind then fit: the 'already bound' warning names the fit call,
    not a line inside symgrad's module.py."""
    data, label = toy_data(8)
    train = mx.io.NDArrayIter(data, label, batch_size=8)
    mod = mx.mod.Module(mlp())
    mod.bind(train.provide_data, train.provide_label)
    with pytest.warns(UserWarning, match="already bound") as caught:
        mod.fit(train, num_epoch=1)
    assert [Path(w.filename).name for w in caught] == ["test_module.py"]
    with pytest.warns(UserWarning, match="already initialized") as caught:
        mod.init_params()
    assert [Path(w.filename).name for w in caught] == ["test_module.py"]


def test_module_fit_learns_and_predict_drops_the_padding(caplog):
    data, label = toy_data(60)
    train = mx.io.NDArrayIter(data[:40], label[:40], batch_size=16, shuffle=True)  # 40 = 2*16 + 8: padded
    val = mx.io.NDArrayIter(data[40:], label[40:], batch_size=16)
    mod = mx.mod.Module(mlp(), context=mx.cpu())
    with caplog.at_level(logging.INFO):
        speed = mx.callback.Speedometer(16, frequent=1)
        mod.fit(train, eval_data=val, optimizer="adam", optimizer_params={"learning_rate": 0.05},
                initializer=mx.init.Xavier(), num_epoch=15, batch_end_callback=speed)  # fmt: skip
    assert "Epoch[14] Validation-accuracy=" in caplog.text and "samples/sec" in caplog.text
    probs = mod.predict(val)
    assert probs.shape == (20, 3)  # 20 samples in two batches of 16, the 12 padded rows dropped
    right = probs.asnumpy().argmax(1) == label[40:]
    assert right.mean() >= 0.8
    padded = np.concatenate([right, right[:12]])  # score counts the padding rows, as MXNet's does
    assert mod.score(val, "acc") == [("accuracy", pytest.approx(padded.mean()))]
    single = mod.predict(data[40:45])  # one array: a batch of 5, bound once more with the trained weights
    np.testing.assert_allclose(single.asnumpy(), probs.asnumpy()[:5], rtol=1e-5)


def test_module_parameters_move_between_modules_and_a_rebind_keeps_them():
    data, label = toy_data(16)
    it = mx.io.NDArrayIter(data, label, batch_size=8)
    mod = mx.mod.Module(mlp())
    mod.bind(it.provide_data, it.provide_label)
    mod.init_params(mx.init.Xavier())
    args, aux = mod.get_params()
    args["fc1_bias"][:] = 5.0  # a copy: the module's own is unchanged
    assert not np.any(mod.get_params()[0]["fc1_bias"].asnumpy() == 5.0)
    other = mx.mod.Module(mlp())
    other.bind(it.provide_data, it.provide_label, for_training=False)
    other.set_params(args, aux)
    np.testing.assert_array_equal(other.get_params()[0]["fc1_bias"].asnumpy(), 5.0)
    other.bind([("data", (4, 4))], [("softmax_label", (4,))], for_training=False, force_rebind=True)
    np.testing.assert_array_equal(other.get_params()[0]["fc1_bias"].asnumpy(), 5.0)
    assert other.data_shapes == [("data", (4, 4))] and other.output_shapes == [("softmax_output", (4, 3))]


def test_module_errors_say_what_to_call_or_pass():
    with pytest.raises(SymgradError, match="data name 'x' is not an argument of the symbol"):
        mx.mod.Module(mlp(), data_names=["x"])
    mod = mx.mod.Module(mlp())
    with pytest.raises(SymgradError, match=r"call bind\(...\) first"):
        mod.init_params()
    mod.bind([("data", (2, 4))], [("softmax_label", (2,))])
    with pytest.raises(SymgradError, match="no value for 'fc1_bias'; pass allow_missing=True"):
        mod.init_params(arg_params={"fc1_weight": np.zeros((6, 4))})
    mod.init_params(arg_params={"fc1_weight": np.zeros((6, 4))}, allow_missing=True)
    with pytest.raises(SymgradError, match=r"call init_optimizer\(...\) first"):
        mod.update()
    with pytest.raises(mx.ShapeError, match=r"Module.set_params: 'fc1_weight' has shape \(2, 2\), the symbol needs"):
        mod.set_params({"fc1_weight": np.zeros((2, 2))}, allow_missing=True)  # it named init_params, not called
    with pytest.raises(SymgradError, match=r"Module.set_params: no value for 'fc1_bias'"):
        mod.set_params({"fc1_weight": np.zeros((6, 4))})
    with pytest.raises(SymgradError, match="pass num_epoch="):
        mod.fit(mx.io.NDArrayIter(np.zeros((2, 4)), np.zeros(2)))
    with pytest.warns(UserWarning, match="label 'lab' is not an argument"):
        mx.mod.Module(mlp(), label_names=["softmax_label", "lab"])


def test_the_module_crosscheck_compares_a_reference_file(tmp_path, capsys):
    """benchmarks/crosscheck_module.py's symgrad side runs without MXNet; fed symgrad's own results
    as the reference, every difference is 0 (the MXNet run agreed to 3e-6 when this was written)."""
    path = Path(__file__).parent.parent / "benchmarks" / "crosscheck_module.py"
    spec = importlib.util.spec_from_file_location("crosscheck_module", path)
    crosscheck = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(crosscheck)
    ref = {f"{opt}/{k}": v for opt, params in crosscheck.RUNS for k, v in crosscheck.program(mx, opt, params).items()}
    assert ref["sgd/val_acc_ce"][0] > 0.5 and ref["adam/predict"].shape == (40, 5)
    np.savez(tmp_path / "ref.npz", **ref)
    monkey_argv = ["crosscheck_module.py", str(tmp_path / "ref.npz")]
    import sys

    old, sys.argv = sys.argv, monkey_argv
    try:
        crosscheck.main()
    finally:
        sys.argv = old
    rows = capsys.readouterr().out.strip().splitlines()
    assert len(rows) == 12 and all(row.endswith("largest difference 0e+00 |") for row in rows)


def test_checkpoints_save_and_load_the_symbol_and_parameters_and_fit_resumes(tmp_path):
    data, label = toy_data(32)
    it = mx.io.NDArrayIter(data, label, batch_size=8)
    mod = mx.mod.Module(mlp())
    prefix = str(tmp_path / "mlp")
    save = mx.callback.do_checkpoint(prefix)
    mod.fit(it, num_epoch=2, optimizer_params={"learning_rate": 0.1}, epoch_end_callback=save)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp-0001.params", "mlp-0002.params", "mlp-symbol.json"]
    with pytest.raises(SymgradError, match="does not save optimizer states; pass save_optimizer_states=False"):
        mod.save_checkpoint(prefix, 3, save_optimizer_states=True)
    symbol, args, aux = mx.model.load_checkpoint(prefix, 2)
    assert symbol.list_arguments() == mlp().list_arguments() and aux == {}
    trained = mod.get_params()[0]
    for name, value in args.items():
        np.testing.assert_array_equal(value.asnumpy(), trained[name].asnumpy())
    loaded = mx.mod.Module.load(prefix, 2)
    loaded.bind(it.provide_data, it.provide_label, for_training=False)
    assert loaded.score(it, "acc") == mod.score(it, "acc")
    resumed = mx.mod.Module.load(prefix, 1)
    with pytest.raises(SymgradError, match=r"train_data gave no batch in epoch 1.*call train_data.reset\(\)"):
        resumed.fit(it, num_epoch=2, begin_epoch=1)  # score ran the iterator to its end
    it.reset()
    resumed = mx.mod.Module.load(prefix, 1)
    resumed.fit(it, num_epoch=2, begin_epoch=1, optimizer_params={"learning_rate": 0.1})
    assert resumed.score(it, "ce")[0][1] == pytest.approx(mod.score(it, "ce")[0][1], rel=1e-5)


def test_nd_save_and_load_keep_lists_dicts_and_dtypes_and_refuse_other_files(tmp_path):
    a, b = mx.nd.array([1.0, 2.0]), mx.nd.array(np.arange(6).reshape(2, 3), dtype="int32")
    mx.nd.save(str(tmp_path / "list"), [a, b])
    mx.nd.save(str(tmp_path / "dict"), {"w": b})
    mx.nd.save(str(tmp_path / "one"), a)
    got = mx.nd.load(str(tmp_path / "list"))
    assert isinstance(got, list) and got[1].dtype == np.int32
    np.testing.assert_array_equal(got[1].asnumpy(), b.asnumpy())
    assert list(mx.nd.load(str(tmp_path / "dict"))) == ["w"] and len(mx.nd.load(str(tmp_path / "one"))) == 1
    (tmp_path / "text").write_text("not arrays")
    with pytest.raises(SymgradError, match="is not a file nd.save wrote"):
        mx.nd.load(str(tmp_path / "text"))
    np.savez(tmp_path / "plain.npz", x=np.ones(2))
    with pytest.raises(SymgradError, match="not one nd.save wrote"):
        mx.nd.load(str(tmp_path / "plain.npz"))
    with pytest.raises(SymgradError, match="dict keys must be strings"):
        mx.nd.save(str(tmp_path / "bad"), {1: a})
    with pytest.raises(SymgradError, match="'0' is a float, not an NDArray"):
        mx.nd.save(str(tmp_path / "bad"), [1.0])
