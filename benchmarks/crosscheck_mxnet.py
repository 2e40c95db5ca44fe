"""Issue #24: symgrad's layer ops against MXNet 1.9.1 itself, forward, backward and moving statistics.

MXNet 1.9 needs NumPy < 1.24, so it runs in a venv of its own and writes its results to a file:

    python -m venv mx && mx/bin/pip install mxnet==1.9.1 "numpy<1.24"
    mx/bin/python benchmarks/crosscheck_mxnet.py --mxnet /tmp/mx_ref.npz   # MXNet's values
    python benchmarks/crosscheck_mxnet.py /tmp/mx_ref.npz                  # symgrad's, compared

Each case is built by the same code from `mx.sym` and from `symgrad.sym` (the layer names and
arguments are MXNet's), bound in float64, run forward(is_train=True), backward with a random
head gradient, and forward again in predict mode.
"""

from __future__ import annotations

import argparse

import numpy as np

rng = np.random.default_rng(7)


def R(*shape):  # noqa: N802 - short names keep the case table readable
    return rng.normal(size=shape)


def U(lo, hi, *shape):  # noqa: N802
    return rng.uniform(lo, hi, size=shape)


# name, builder(sym namespace), arguments, auxiliary states
CASES = [
    (
        "conv2d_group_dilate",
        lambda S: S.Convolution(
            data=S.var("x"),
            kernel=(3, 2),
            stride=(2, 1),
            pad=(1, 0),
            dilate=(1, 2),
            num_group=2,
            num_filter=4,
            name="c",
        ),
        {"x": R(2, 4, 7, 6), "c_weight": R(4, 2, 3, 2), "c_bias": R(4)},
        {},
    ),
    (
        "conv1d",
        lambda S: S.Convolution(
            data=S.var("x"), kernel=(3,), stride=(2,), pad=(1,), dilate=(2,), num_filter=2, name="c"
        ),
        {"x": R(2, 3, 9), "c_weight": R(2, 3, 3), "c_bias": R(2)},
        {},
    ),
    (
        "pool_max_full",
        lambda S: S.Pooling(
            data=S.var("x"), kernel=(3, 2), stride=(2, 2), pad=(1, 1), pool_type="max", pooling_convention="full"
        ),
        {"x": R(2, 3, 7, 6)},
        {},
    ),
    (
        "pool_avg_full_pad",
        lambda S: S.Pooling(
            data=S.var("x"), kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="avg", pooling_convention="full"
        ),
        {"x": R(2, 3, 7, 6)},
        {},
    ),
    (
        "pool_avg_nopad_count",
        lambda S: S.Pooling(
            data=S.var("x"), kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="avg", count_include_pad=False
        ),
        {"x": R(2, 3, 7, 6)},
        {},
    ),
    (
        "pool_sum_1d",
        lambda S: S.Pooling(data=S.var("x"), kernel=(3,), stride=(2,), pool_type="sum", pooling_convention="full"),
        {"x": R(2, 2, 8)},
        {},
    ),
    (
        "pool_max_nonfinite_head",
        lambda S: S.Pooling(data=S.var("x"), kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="max"),
        {"x": R(2, 2, 6, 5)},
        {},
    ),
    (
        "pool_global_avg",
        lambda S: S.Pooling(data=S.var("x"), kernel=(2, 2), global_pool=True, pool_type="avg"),
        {"x": R(2, 3, 4, 5)},
        {},
    ),
    (
        "fc_noflatten",
        lambda S: S.FullyConnected(data=S.var("x"), num_hidden=4, flatten=False, name="f"),
        {"x": R(2, 3, 5), "f_weight": R(4, 5), "f_bias": R(4)},
        {},
    ),
    (
        "fc_flatten",
        lambda S: S.FullyConnected(data=S.var("x"), num_hidden=4, name="f"),
        {"x": R(2, 3, 5), "f_weight": R(4, 15), "f_bias": R(4)},
        {},
    ),
    (
        "softmax_output_valid_ignore",
        lambda S: S.SoftmaxOutput(
            data=S.var("x"), label=S.var("y"), grad_scale=3.0, use_ignore=True, ignore_label=-1, normalization="valid"
        ),
        {"x": R(5, 3), "y": np.array([0.0, -1.0, 2.0, -1.0, 1.0])},
        {},
    ),
    (
        "softmax_output_batch",
        lambda S: S.SoftmaxOutput(data=S.var("x"), label=S.var("y"), normalization="batch"),
        {"x": R(5, 3), "y": np.array([0.0, 1.0, 2.0, 2.0, 1.0])},
        {},
    ),
    (
        "softmax_output_multi_null",
        lambda S: S.SoftmaxOutput(data=S.var("x"), label=S.var("y"), multi_output=True),
        {"x": R(2, 3, 4), "y": np.array([[0.0, 1.0, 2.0, 1.0], [2.0, 2.0, 0.0, 1.0]])},
        {},
    ),
    (
        "softmax_output_multi_batch",
        lambda S: S.SoftmaxOutput(data=S.var("x"), label=S.var("y"), multi_output=True, normalization="batch"),
        {"x": R(2, 3, 4), "y": np.array([[0.0, 1.0, 2.0, 1.0], [2.0, 2.0, 0.0, 1.0]])},
        {},
    ),
    (
        "softmax_output_4d_flat",
        lambda S: S.SoftmaxOutput(data=S.var("x"), label=S.var("y")),
        {"x": R(2, 2, 3), "y": np.array([[0.0, 2.0], [1.0, 1.0]])},
        {},
    ),  # MXNet reads 2 of the 4 labels
    (
        "softmax_output_preserve",
        lambda S: S.SoftmaxOutput(data=S.var("x"), label=S.var("y"), preserve_shape=True),
        {"x": R(2, 2, 3), "y": np.array([[0.0, 2.0], [1.0, 1.0]])},
        {},
    ),  # MXNet reads 2 of the 4 labels
    (
        "softmax_output_smooth",
        lambda S: S.SoftmaxOutput(data=S.var("x"), label=S.var("y"), smooth_alpha=0.3),
        {"x": R(3, 4), "y": np.array([1.0, 0.0, 3.0])},
        {},
    ),
    (
        "softmax_output_prob_labels",
        lambda S: S.SoftmaxOutput(data=S.var("x"), label=S.var("y")),
        {"x": R(3, 4), "y": U(0, 1, 3, 4)},
        {},
    ),
    (
        "linear_regression",
        lambda S: S.LinearRegressionOutput(data=S.var("x"), label=S.var("y"), grad_scale=2.0),
        {"x": R(4, 3), "y": R(4, 3)},
        {},
    ),
    (
        "logistic_regression",
        lambda S: S.LogisticRegressionOutput(data=S.var("x"), label=S.var("y"), grad_scale=2.0),
        {"x": R(4, 3), "y": U(0, 1, 4, 3)},
        {},
    ),
    (
        "mae_regression",
        lambda S: S.MAERegressionOutput(data=S.var("x"), label=S.var("y")),
        {"x": R(4, 3), "y": R(4, 3)},
        {},
    ),
    (
        "make_loss_valid",
        lambda S: S.MakeLoss(S.var("x"), grad_scale=0.5, normalization="valid", valid_thresh=0.1),
        {"x": R(4, 3)},
        {},
    ),
    ("make_loss_batch", lambda S: S.MakeLoss(S.var("x"), grad_scale=0.5, normalization="batch"), {"x": R(4, 3)}, {}),
    # MXNet divides by the rows of x flattened to 2-d: 1 for a per-example loss (N,), 6 for (2, 3, 4)
    ("make_loss_batch_1d", lambda S: S.MakeLoss(S.var("x"), grad_scale=0.5, normalization="batch"), {"x": R(5)}, {}),
    ("make_loss_batch_3d", lambda S: S.MakeLoss(S.var("x"), normalization="batch"), {"x": R(2, 3, 4)}, {}),
    ("activation_softsign", lambda S: S.Activation(data=S.var("x"), act_type="softsign"), {"x": R(3, 4)}, {}),
    ("activation_softrelu", lambda S: S.Activation(data=S.var("x"), act_type="softrelu"), {"x": R(3, 4)}, {}),
    ("leaky_elu", lambda S: S.LeakyReLU(data=S.var("x"), act_type="elu", slope=0.3), {"x": R(3, 4)}, {}),
    ("leaky_selu", lambda S: S.LeakyReLU(data=S.var("x"), act_type="selu"), {"x": R(3, 4)}, {}),
    ("leaky_gelu", lambda S: S.LeakyReLU(data=S.var("x"), act_type="gelu"), {"x": R(3, 4)}, {}),
    ("leaky_leaky", lambda S: S.LeakyReLU(data=S.var("x"), act_type="leaky", slope=0.1), {"x": R(3, 4)}, {}),
    (
        "leaky_prelu",
        lambda S: S.LeakyReLU(data=S.var("x"), act_type="prelu", name="p"),
        {"x": R(2, 3, 4), "p_gamma": U(0.1, 0.5, 3)},
        {},
    ),
    (
        "embedding_clip",
        lambda S: S.Embedding(data=S.var("i"), input_dim=4, output_dim=3, name="e"),
        {"i": np.array([[0.0, 2.0, 2.0], [5.0, -1.0, 1.0]]), "e_weight": R(4, 3)},
        {},
    ),
    (
        "batchnorm_train",
        lambda S: S.BatchNorm(data=S.var("x"), fix_gamma=False, eps=1e-5, momentum=0.8, name="bn"),
        {"x": R(6, 3, 4), "bn_gamma": U(0.5, 2, 3), "bn_beta": R(3)},
        {"bn_moving_mean": R(3), "bn_moving_var": U(0.5, 2, 3)},
    ),
    (
        "batchnorm_fixgamma_axis_last",
        lambda S: S.BatchNorm(data=S.var("x"), axis=-1, name="bn"),
        {"x": R(6, 3, 4), "bn_gamma": U(0.5, 2, 4), "bn_beta": R(4)},
        {"bn_moving_mean": R(4), "bn_moving_var": U(0.5, 2, 4)},
    ),
    (
        "batchnorm_global",
        lambda S: S.BatchNorm(data=S.var("x"), fix_gamma=False, use_global_stats=True, name="bn"),
        {"x": R(6, 3), "bn_gamma": U(0.5, 2, 3), "bn_beta": R(3)},
        {"bn_moving_mean": R(3), "bn_moving_var": U(0.5, 2, 3)},
    ),
    # MXNet's layer ops added with issue #26's layers work: transposed convolution, normalization, resizing, sequences
    (
        "deconv2d_group_adj_bias",
        lambda S: S.Deconvolution(
            data=S.var("x"),
            kernel=(3, 2),
            stride=(2, 1),
            pad=(1, 0),
            adj=(1, 0),
            dilate=(1, 2),
            num_group=2,
            num_filter=6,
            no_bias=False,
            name="d",
        ),
        {"x": R(2, 4, 5, 4), "d_weight": R(4, 3, 3, 2), "d_bias": R(6)},
        {},
    ),
    (
        "deconv1d_target_shape",
        lambda S: S.Deconvolution(
            data=S.var("x"), kernel=(3,), stride=(2,), target_shape=(10,), num_filter=2, name="d"
        ),
        {"x": R(2, 3, 5), "d_weight": R(3, 2, 3)},
        {},
    ),
    (
        "layernorm_last_axis",
        lambda S: S.LayerNorm(data=S.var("x"), name="ln"),
        {"x": R(3, 2, 5), "ln_gamma": U(0.5, 2, 5), "ln_beta": R(5)},
        {},
    ),
    (
        "layernorm_axis1_eps",
        lambda S: S.LayerNorm(data=S.var("x"), axis=1, eps=0.1, name="ln"),
        {"x": R(3, 4, 2), "ln_gamma": U(0.5, 2, 4), "ln_beta": R(4)},
        {},
    ),
    (
        "instancenorm",
        lambda S: S.InstanceNorm(data=S.var("x"), eps=0.01, name="in"),
        {"x": R(2, 3, 4, 2), "in_gamma": U(0.5, 2, 3), "in_beta": R(3)},
        {},
    ),
    ("lrn", lambda S: S.LRN(S.var("x"), nsize=3, alpha=0.5, beta=0.75, knorm=1.5), {"x": R(2, 5, 3, 2)}, {}),
    (
        "pad_constant",
        lambda S: S.Pad(S.var("x"), mode="constant", pad_width=(0, 0, 0, 0, 1, 2, 2, 1), constant_value=-1.5),
        {"x": R(2, 3, 4, 3)},
        {},
    ),
    (
        "pad_edge",
        lambda S: S.pad(S.var("x"), mode="edge", pad_width=(0, 0, 0, 0, 3, 1, 0, 2)),
        {"x": R(2, 2, 3, 3)},
        {},
    ),
    (
        "pad_reflect_5d",
        lambda S: S.Pad(S.var("x"), mode="reflect", pad_width=(0, 0, 0, 0, 1, 1, 2, 0, 1, 2)),
        {"x": R(1, 2, 3, 4, 3)},
        {},
    ),
    (
        "upsampling_nearest",
        lambda S: S.UpSampling(S.var("x"), scale=3, sample_type="nearest"),
        {"x": R(2, 2, 3, 2)},
        {},
    ),
    (
        "upsampling_bilinear",
        lambda S: S.UpSampling(S.var("x"), scale=2, sample_type="bilinear", num_filter=3, name="up"),
        {"x": R(2, 3, 3, 4), "up_weight": R(3, 1, 4, 4)},
        {},
    ),
    (
        "sequence_mask",
        lambda S: S.SequenceMask(S.var("x"), S.var("i"), use_sequence_length=True, value=-2.0),
        {"x": R(4, 3, 2), "i": np.array([1.0, 4.0, 2.0])},
        {},
    ),
    (
        "sequence_mask_axis1",
        lambda S: S.SequenceMask(S.var("x"), S.var("i"), use_sequence_length=True, axis=1),
        {"x": R(3, 4, 2), "i": np.array([3.0, 0.0, 2.0])},
        {},
    ),
    (
        "sequence_last",
        lambda S: S.SequenceLast(S.var("x"), S.var("i"), use_sequence_length=True),
        {"x": R(4, 3, 2), "i": np.array([1.0, 4.0, 2.0])},
        {},
    ),
    (
        "sequence_last_axis1",
        lambda S: S.SequenceLast(S.var("x"), S.var("i"), use_sequence_length=True, axis=1),
        {"x": R(3, 4, 2), "i": np.array([2.0, 4.0, 1.0])},
        {},
    ),
    ("sequence_last_whole", lambda S: S.SequenceLast(S.var("x")), {"x": R(4, 3, 2)}, {}),
    (
        "sequence_reverse",
        lambda S: S.SequenceReverse(S.var("x"), S.var("i"), use_sequence_length=True),
        {"x": R(4, 3, 2), "i": np.array([1.0, 4.0, 3.0])},
        {},
    ),
    # MXNet's array ops d2l and MXNet's tutorials use (an output of a multi-output op picked with [i])
    ("tile", lambda S: S.tile(S.var("x"), reps=(2, 3)), {"x": R(2, 3)}, {}),
    ("tile_promoted", lambda S: S.tile(S.var("x"), reps=(2, 1, 2)), {"x": R(3, 2)}, {}),
    ("repeat_axis", lambda S: S.repeat(S.var("x"), repeats=3, axis=1), {"x": R(2, 3)}, {}),
    ("repeat_flat", lambda S: S.repeat(S.var("x"), repeats=2), {"x": R(2, 3)}, {}),
    ("flip", lambda S: S.flip(S.var("x"), axis=1), {"x": R(2, 3, 4)}, {}),
    ("reverse_two_axes", lambda S: S.reverse(S.var("x"), axis=(0, 2)), {"x": R(2, 3, 4)}, {}),
    ("split_part", lambda S: S.split(S.var("x"), num_outputs=3, axis=1)[1], {"x": R(2, 6, 2)}, {}),
    (
        "slicechannel_squeeze",
        lambda S: S.SliceChannel(S.var("x"), num_outputs=3, axis=1, squeeze_axis=True)[2],
        {"x": R(2, 3, 4)},
        {},
    ),
    ("batch_dot", lambda S: S.batch_dot(S.var("a"), S.var("b")), {"a": R(2, 3, 4), "b": R(2, 4, 5)}, {}),
    (
        "batch_dot_ta",
        lambda S: S.batch_dot(S.var("a"), S.var("b"), transpose_a=True),
        {"a": R(2, 4, 3), "b": R(2, 4, 5)},
        {},
    ),
    (
        "batch_dot_tb",
        lambda S: S.batch_dot(S.var("a"), S.var("b"), transpose_b=True),
        {"a": R(2, 3, 4), "b": R(2, 5, 4)},
        {},
    ),
    (
        "batch_dot_ta_tb",
        lambda S: S.batch_dot(S.var("a"), S.var("b"), transpose_a=True, transpose_b=True),
        {"a": R(2, 4, 3), "b": R(2, 5, 4)},
        {},
    ),
    ("topk_value", lambda S: S.topk(S.var("x"), k=2, ret_typ="value"), {"x": R(3, 5)}, {}),
    (
        "topk_both_ascending",
        lambda S: S.topk(S.var("x"), axis=0, k=2, ret_typ="both", is_ascend=True)[0],
        {"x": R(3, 5)},
        {},
    ),
    ("topk_indices", lambda S: S.topk(S.var("x"), k=3, dtype="float64"), {"x": R(3, 5)}, {}),
    ("topk_mask_flat", lambda S: S.topk(S.var("x"), axis=None, k=4, ret_typ="mask") * S.var("x"), {"x": R(3, 5)}, {}),
    ("sort", lambda S: S.sort(S.var("x"), axis=0), {"x": R(3, 5)}, {}),
    ("sort_descending", lambda S: S.sort(S.var("x"), axis=-1, is_ascend=False), {"x": R(3, 5)}, {}),
    ("argsort", lambda S: S.argsort(S.var("x"), is_ascend=False, dtype="float64") * S.var("x"), {"x": R(3, 5)}, {}),
    ("l2_normalization", lambda S: S.L2Normalization(S.var("x")), {"x": R(2, 3, 4)}, {}),
    ("l2_normalization_channel", lambda S: S.L2Normalization(S.var("x"), mode="channel"), {"x": R(2, 3, 4)}, {}),
    (
        "l2_normalization_spatial",
        lambda S: S.L2Normalization(S.var("x"), mode="spatial", eps=1e-3),
        {"x": R(2, 3, 2, 2)},
        {},
    ),
    (
        "gather_nd",
        lambda S: S.gather_nd(S.var("x"), S.var("i")),
        {"x": R(3, 4), "i": np.array([[0.0, 2.0, 2.0, 1.0], [1.0, 3.0, 3.0, 0.0]])},
        {},
    ),
    ("linspace", lambda S: S.linspace(-1, 2, 4, endpoint=False, dtype="float64") * S.var("x"), {"x": R(4)}, {}),
    (
        "softmax_cross_entropy",
        lambda S: S.softmax_cross_entropy(S.var("x"), S.var("i")),
        {"x": R(4, 3), "i": np.array([0.0, 2.0, 1.0, 2.0])},
        {},
    ),
    # MXNet's elementwise, shape and linear-algebra ops its users' scripts call (ties at .5 for the rounding ops)
    ("slice", lambda S: S.slice(S.var("x"), begin=(None, 1), end=(None, None)), {"x": R(3, 4)}, {}),
    ("slice_step", lambda S: S.slice(S.var("x"), begin=(2, -1), end=(None, 0), step=(-2, -1)), {"x": R(3, 4)}, {}),
    ("slice_like_axes", lambda S: S.slice_like(S.var("x"), S.var("y"), axes=(1,)), {"x": R(3, 4), "y": R(2, 3)}, {}),
    ("slice_like", lambda S: S.slice_like(S.var("x"), S.var("y")), {"x": R(3, 4), "y": R(2, 3)}, {}),
    ("broadcast_axis", lambda S: S.broadcast_axis(S.var("x"), axis=1, size=3), {"x": R(2, 1, 4)}, {}),
    ("broadcast_axes", lambda S: S.broadcast_axes(S.var("x"), axis=(0, 2), size=(2, 3)), {"x": R(1, 4, 1)}, {}),
    *[
        (op, lambda S, op=op: getattr(S, op)(S.var("x")), {"x": np.append(np.arange(-2.5, 3), R(6) * 3)}, {})
        for op in ("round", "rint", "floor", "ceil", "fix", "trunc")
    ],
    ("rsqrt", lambda S: S.rsqrt(S.var("x")), {"x": U(0.5, 2, 3, 4)}, {}),
    ("rcbrt", lambda S: S.rcbrt(S.var("x")), {"x": U(0.5, 2, 3, 4)}, {}),
    ("reciprocal", lambda S: S.reciprocal(S.var("x")), {"x": U(0.5, 2, 3, 4) * np.sign(R(3, 4))}, {}),
    ("log10", lambda S: S.log10(S.var("x")), {"x": U(0.5, 2, 3, 4)}, {}),
    ("degrees", lambda S: S.degrees(S.var("x")), {"x": R(3, 4)}, {}),
    ("radians", lambda S: S.radians(S.var("x")), {"x": R(3, 4)}, {}),
    ("arcsinh", lambda S: S.arcsinh(S.var("x")), {"x": R(3, 4)}, {}),
    ("arccosh", lambda S: S.arccosh(S.var("x")), {"x": U(1.2, 3, 3, 4)}, {}),
    ("arctanh", lambda S: S.arctanh(S.var("x")), {"x": U(-0.8, 0.8, 3, 4)}, {}),
    ("softsign", lambda S: S.softsign(S.var("x")), {"x": R(3, 4)}, {}),
    ("logical_not", lambda S: S.logical_not(S.var("x")), {"x": np.array([0.0, 1.0, -2.0, 0.0, 0.5])}, {}),
    ("hard_sigmoid", lambda S: S.hard_sigmoid(S.var("x"), alpha=0.3, beta=0.4), {"x": R(3, 4) * 3}, {}),
    ("smooth_l1", lambda S: S.smooth_l1(S.var("x"), scalar=1.5), {"x": R(3, 4)}, {}),
    ("identity", lambda S: S.identity(S.var("x")), {"x": R(3, 4)}, {}),
    ("make_loss", lambda S: S.make_loss(S.square(S.var("x"))), {"x": R(3, 4)}, {}),
    ("sum_axis", lambda S: S.sum_axis(S.var("x"), axis=1), {"x": R(3, 4)}, {}),
    ("mod", lambda S: S.var("a") % S.var("b"), {"a": R(3, 4) * 3, "b": U(0.5, 2, 3, 4) * np.sign(R(3, 4))}, {}),
    ("broadcast_mod", lambda S: S.broadcast_mod(S.var("a"), S.var("b")), {"a": R(3, 4) * 3, "b": U(0.5, 2, 4)}, {}),
    ("mod_scalar", lambda S: S.var("a") % 1.5 + 2.5 % S.var("b"), {"a": R(3, 4) * 3, "b": U(0.5, 2, 3, 4)}, {}),
    ("reshape_codes", lambda S: S.Reshape(S.var("x"), shape=(0, -3, -2)), {"x": R(2, 3, 4, 2)}, {}),
    ("reshape_split", lambda S: S.Reshape(S.var("x"), shape=(-4, 1, -1, -2)), {"x": R(2, 3, 4)}, {}),
    ("reshape_keep_infer", lambda S: S.Reshape(S.var("x"), shape=(0, -1)), {"x": R(2, 3, 4)}, {}),
    ("reshape_reverse", lambda S: S.Reshape(S.var("x"), shape=(-1, 0), reverse=True), {"x": R(2, 3, 4)}, {}),
    ("swapaxis", lambda S: S.SwapAxis(S.var("x"), dim1=0, dim2=2), {"x": R(2, 3, 4)}, {}),
    ("swapaxes_dims", lambda S: S.swapaxes(S.var("x"), dim1=1, dim2=2), {"x": R(2, 3, 4)}, {}),
    ("eye", lambda S: S.eye(3, 4, k=1, dtype="float64") * S.var("x"), {"x": R(3, 4)}, {}),
    ("arange", lambda S: S.arange(1, 4, 0.5, repeat=2, dtype="float64") * S.var("x"), {"x": R(12)}, {}),
    ("linalg_gemm2", lambda S: S.linalg_gemm2(S.var("a"), S.var("b"), alpha=0.5), {"a": R(2, 3), "b": R(3, 4)}, {}),
    (
        "linalg_gemm2_batch_t",
        lambda S: S.linalg_gemm2(S.var("a"), S.var("b"), transpose_a=True, transpose_b=True, alpha=-2.0),
        {"a": R(2, 4, 3), "b": R(2, 5, 4)},
        {},
    ),
    (
        "linalg_gemm",
        lambda S: S.linalg_gemm(S.var("a"), S.var("b"), S.var("c"), transpose_b=True, alpha=2.0, beta=0.5),
        {"a": R(2, 3, 4), "b": R(2, 5, 4), "c": R(2, 3, 5)},
        {},
    ),
    ("cumsum_axis", lambda S: S.cumsum(S.var("x"), axis=1), {"x": R(3, 4)}, {}),
    ("cumsum_flat", lambda S: S.cumsum(S.var("x")), {"x": R(3, 4)}, {}),
    ("diag_vector", lambda S: S.diag(S.var("x"), k=-1), {"x": R(3)}, {}),
    ("diag_matrix", lambda S: S.diag(S.var("x"), k=1), {"x": R(3, 4)}, {}),
    ("diag_axes", lambda S: S.diag(S.var("x"), k=-1, axis1=2, axis2=0), {"x": R(3, 2, 4)}, {}),
    (
        "nansum",
        lambda S: S.nansum(S.var("x"), axis=1),
        {"x": np.where(np.eye(3, 4) > 0, np.nan, U(0.5, 1.5, 3, 4))},
        {},
    ),
    (
        "nanprod",
        lambda S: S.nanprod(S.var("x"), axis=0),
        {"x": np.where(np.eye(3, 4) > 0, np.nan, U(0.5, 1.5, 3, 4))},
        {},
    ),
    (
        "argmax_channel",
        lambda S: S.BlockGrad(S.argmax_channel(S.var("i"))) * S.var("x"),  # MXNet's argmax_channel has no gradient
        {"i": R(2, 3, 4), "x": R(2, 4)},
        {},
    ),
    (
        "dot_transposes",
        lambda S: S.dot(S.var("a"), S.var("b"), transpose_a=True, transpose_b=True),
        {"a": R(4, 3), "b": R(5, 4)},
        {},
    ),
    ("sum_exclude", lambda S: S.sum(S.var("x", shape=(2, 3, 4)), axis=1, exclude=True), {"x": R(2, 3, 4)}, {}),
    (
        "mean_exclude_keepdims",
        lambda S: S.mean(S.var("x", shape=(2, 3, 4)), axis=(0, 2), exclude=True, keepdims=True),
        {"x": R(2, 3, 4)},
        {},
    ),
    ("norm_ord1", lambda S: S.norm(S.var("x"), ord=1, axis=1), {"x": R(3, 4)}, {}),
    ("softmax_temperature", lambda S: S.softmax(S.var("x"), temperature=2.5), {"x": R(3, 4)}, {}),
    ("log_softmax_temperature", lambda S: S.log_softmax(S.var("x"), axis=0, temperature=0.5), {"x": R(3, 4)}, {}),
    ("gamma", lambda S: S.gamma(S.var("x")), {"x": np.append(U(0.2, 5, 8), [-1.5, -0.3])}, {}),
    ("gammaln", lambda S: S.gammaln(S.var("x")), {"x": np.append(U(0.2, 30, 8), [-1.5, -0.3])}, {}),
    ("erfinv", lambda S: S.erfinv(S.var("x")), {"x": np.append(U(-0.99, 0.99, 8), [0.0, 0.999999])}, {}),
]

# cases whose head gradient is not the default uniform(0.5, 1.5): max pooling's gradient with an infinite
# or NaN head reaches each window's maximum only (windows of 3 with stride 2 overlap, so some entries add two)
HEADS = {"pool_max_nonfinite_head": np.array([np.inf, -np.inf, np.nan, 1.0] * 9).reshape(2, 2, 3, 3)}

# cases MXNet 1.9.1 runs in float32 only (its InstanceNorm and LRN refuse float64): symgrad (float64) differs by ~1e-7
FLOAT32_ONLY = {"instancenorm", "lrn"}

INDEX_INPUTS = ("i",)  # Embedding's indices: MXNet computes no gradient for them

# optimizer.create(name, **kwargs), five updates of one weight with these gradients
OPTIMIZERS = [
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "wd": 0.01, "rescale_grad": 0.5, "clip_gradient": 1.0}),
    ("adam", {"learning_rate": 0.01, "wd": 0.1, "rescale_grad": 0.5, "clip_gradient": 0.3}),
    ("adam", {"learning_rate": 0.05, "beta1": 0.5, "beta2": 0.9, "epsilon": 1e-3}),
]
OPTIMIZER_WEIGHT, OPTIMIZER_GRADS = R(6), [R(6) * 3 for _ in range(5)]


def optimizer_steps(module, as_array, name: str, kwargs: dict) -> np.ndarray:
    """The weight after five updates by `module.optimizer` (MXNet's or symgrad's, same calls)."""
    update = module.optimizer.get_updater(module.optimizer.create(name, **kwargs))
    weight = as_array(OPTIMIZER_WEIGHT)
    for g in OPTIMIZER_GRADS:
        update(0, as_array(g), weight)
    return np.asarray(weight.asnumpy() if hasattr(weight, "asnumpy") else weight)


def run_mxnet(path: str) -> None:
    import mxnet as mx

    out = {}
    for name, build, args, aux in CASES:
        s = build(mx.sym)
        dtype = "float32" if name in FLOAT32_ONLY else "float64"
        arrays = {k: mx.nd.array(v, dtype=dtype) for k, v in args.items()}
        grads = {k: mx.nd.zeros(v.shape, dtype=dtype) for k, v in args.items()}
        states = {k: mx.nd.array(v, dtype=dtype) for k, v in aux.items()}
        req = {k: "null" if k in INDEX_INPUTS else "write" for k in args}
        ex = s.bind(mx.cpu(), arrays, args_grad=grads, grad_req=req, aux_states=states)
        (y,) = ex.forward(is_train=True)
        head = HEADS.get(name, np.random.default_rng(3).uniform(0.5, 1.5, y.shape))
        ex.backward([mx.nd.array(head, dtype=dtype)])
        out[f"{name}/out"], out[f"{name}/head"] = y.asnumpy(), head
        out.update({f"{name}/grad/{k}": grads[k].asnumpy() for k in args if k not in INDEX_INPUTS})
        out.update({f"{name}/aux/{k}": states[k].asnumpy() for k in aux})
        out[f"{name}/predict"] = ex.forward(is_train=False)[0].asnumpy()
    for i, (name, kwargs) in enumerate(OPTIMIZERS):
        out[f"optimizer{i}"] = optimizer_steps(mx, lambda a: mx.nd.array(a, dtype="float64"), name, kwargs)
    np.savez(path, **out)
    print(f"wrote {len(CASES)} cases and {len(OPTIMIZERS)} optimizers to {path}")


def max_difference(ours, theirs) -> float:
    """The largest |ours - theirs|, 0 where both hold the same inf or both NaN (NaN where only one does)."""
    ours, theirs = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    same = (ours == theirs) | (np.isnan(ours) & np.isnan(theirs))
    with np.errstate(invalid="ignore"):  # inf - inf where both are inf: masked by same
        return float(np.where(same, 0.0, np.abs(ours - theirs)).max())


def compare(path: str) -> None:
    import symgrad
    from symgrad import sym

    ref = np.load(path)
    for name, build, args, aux in CASES:
        s = build(sym)
        try:
            req = {k: "null" if k in INDEX_INPUTS else "write" for k in args}
            ex = s.bind(
                {k: v.copy() for k, v in args.items()}, grad_req=req, aux_states={k: v.copy() for k, v in aux.items()}
            )
            (y,) = ex.forward(is_train=True)
            ex.backward(ref[f"{name}/head"])
        except Exception as exc:  # noqa: BLE001 - reported as a row
            print(f"| {name} | refused: {str(exc).splitlines()[0]} |")
            continue
        diffs = {"out": max_difference(y, ref[f"{name}/out"])}
        diffs.update(
            {f"d{k}": max_difference(ex.grad_dict[k], ref[f"{name}/grad/{k}"]) for k in req if req[k] == "write"}
        )
        diffs.update({k: max_difference(ex.aux_dict[k], ref[f"{name}/aux/{k}"]) for k in aux})
        diffs["predict"] = max_difference(ex.forward()[0], ref[f"{name}/predict"])
        print(f"| {name} | " + ", ".join(f"{k} {v:.0e}" for k, v in diffs.items()) + " |")
    for i, (name, kwargs) in enumerate(OPTIMIZERS):
        weight = optimizer_steps(symgrad, lambda a: np.array(a, dtype="float64"), name, kwargs)
        print(f"| optimizer {name} {kwargs} | weight {np.abs(weight - ref[f'optimizer{i}']).max():.0e} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("--mxnet", action="store_true", help="compute MXNet's values (in a venv with mxnet)")
    options = parser.parse_args()
    (run_mxnet if options.mxnet else compare)(options.path)


if __name__ == "__main__":
    main()
