"""MXNet's layer ops: forward against NumPy written with loops, gradients against finite
differences in float64 (second order too), and the behaviours MXNet 1.9's test_operator.py
checks for each layer, with the expected values recomputed here with NumPy."""

import importlib.util
import itertools
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import symgrad as sg
from symgrad import ShapeError, SymgradError, autograd, nd, sym
from symgrad.testing import check_numeric_gradient

rng = np.random.default_rng(24)


def fd_check(s, location, **kwargs):
    check_numeric_gradient(s, location, numeric_eps=1e-6, rtol=1e-5, atol=1e-7, **kwargs)


def grad_values(s, location, wrt):
    ex = s.bind({k: np.array(v, dtype=np.float64) for k, v in location.items()}, grad_req=dict.fromkeys(wrt, "write"))
    ex.forward(is_train=True)
    ex.backward()
    return [ex.grad_dict[n] for n in wrt]


# ---- NumPy references, written with loops over outputs (slow and obvious) ----------------------------


def conv_ref(x, w, b, stride, pad, dilate, groups):
    n, c = x.shape[:2]
    f, kernel = w.shape[0], w.shape[2:]
    nd_ = len(kernel)
    xp = np.pad(x, [(0, 0), (0, 0)] + [(p, p) for p in pad])
    out_size = [(xp.shape[2 + a] - dilate[a] * (kernel[a] - 1) - 1) // stride[a] + 1 for a in range(nd_)]
    out = np.zeros((n, f, *out_size))
    cg, fg = c // groups, f // groups
    for i, j in itertools.product(range(n), range(f)):
        g = j // fg
        for o in itertools.product(*map(range, out_size)):
            window = tuple(
                slice(o[a] * stride[a], o[a] * stride[a] + dilate[a] * (kernel[a] - 1) + 1, dilate[a])
                for a in range(nd_)
            )
            out[(i, j, *o)] = np.sum(xp[(i, slice(g * cg, (g + 1) * cg), *window)] * w[j])
            out[(i, j, *o)] += 0 if b is None else b[j]
    return out


def pool_ref(x, kernel, stride, pad, pool_type, full=False, count_include_pad=True):
    n, c, *spatial = x.shape
    size = []
    for xs, k, s, p in zip(spatial, kernel, stride, pad):
        span = xs + 2 * p - k
        size.append((math.ceil(span / s) if full else span // s) + 1)
    out = np.zeros((n, c, *size))
    for o in itertools.product(*map(range, size)):
        lo = [o[a] * stride[a] - pad[a] for a in range(len(kernel))]
        hi_pad = [min(lo[a] + kernel[a], spatial[a] + pad[a]) for a in range(len(kernel))]
        clo = [max(v, 0) for v in lo]
        chi = [min(h, s) for h, s in zip(hi_pad, spatial)]
        window = x[(slice(None), slice(None), *(slice(a, b) for a, b in zip(clo, chi)))]
        if pool_type == "max":
            value = window.max(axis=tuple(range(2, x.ndim)))
        else:
            value = window.sum(axis=tuple(range(2, x.ndim)))
            if pool_type == "avg":
                count = math.prod(h - lw for h, lw in zip(hi_pad, lo)) if count_include_pad else window[0, 0].size
                value = value / count
        out[(slice(None), slice(None), *o)] = value
    return out


def softmax_np(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ---- FullyConnected ------------------------------------------------------------------------


def test_fully_connected_creates_its_weights_infers_their_shapes_and_matches_numpy():
    data = sym.var("data")
    fc = sym.FullyConnected(data=data, num_hidden=5, name="fc1")
    assert fc.list_arguments() == ["data", "fc1_weight", "fc1_bias"]
    args, outs, aux = fc.infer_shape(data=(4, 2, 3))
    assert args == [(4, 2, 3), (5, 6), (5,)] and outs == [(4, 5)] and aux == []
    x, w, b = rng.normal(size=(4, 2, 3)), rng.normal(size=(5, 6)), rng.normal(size=5)
    (out,) = fc.eval(data=x, fc1_weight=w, fc1_bias=b)
    np.testing.assert_allclose(out, x.reshape(4, 6) @ w.T + b, rtol=1e-12)
    fd_check(sym.tanh(fc), {"data": x, "fc1_weight": w, "fc1_bias": b})


def test_layer_parameters_take_the_data_s_dtype_in_infer_type():
    net = sym.SoftmaxOutput(sym.FullyConnected(sym.var("data"), num_hidden=3, name="fc"), name="softmax")
    args, outs, _ = net.infer_type(data="float32")
    assert args == [np.dtype("float32")] * 4 and outs == [np.dtype("float32")]


def test_fully_connected_without_flatten_and_bias_acts_on_the_last_axis():
    fc = sym.FullyConnected(sym.var("data"), num_hidden=4, no_bias=True, flatten=False, name="fc")
    assert fc.list_arguments() == ["data", "fc_weight"]
    assert fc.infer_shape(data=(2, 3, 5))[1] == [(2, 3, 4)]
    x, w = rng.normal(size=(2, 3, 5)), rng.normal(size=(4, 5))
    np.testing.assert_allclose(fc.eval(data=x, fc_weight=w)[0], x @ w.T, rtol=1e-12)
    fd_check(sym.sin(fc), {"data": x, "fc_weight": w})


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda x: sym.Activation(x, act="relu"), "unknown argument 'act' (did you mean 'act_type'?)"),
        (lambda x: sym.FullyConnected(x, num_hiden=4), "unknown argument 'num_hiden' (did you mean 'num_hidden'?)"),
        (lambda x: sym.Convolution(x, kernal=(3, 3), num_filter=2), "unknown argument 'kernal' (did you mean 'kernel'"),
        (lambda x: sym.FullyConnected(x, num_hidden=4, wieght=x), "unknown argument 'wieght' (did you mean 'weight'?)"),
        (lambda x: sym.sum(x, axs=1), "unknown argument 'axs' (did you mean 'axis'?)"),
    ],
)
def test_a_misspelt_keyword_is_named_with_its_likely_spelling(build, message):
    """A misspelt required attribute (act= for act_type=) used to report the attribute as missing."""
    with pytest.raises(SymgradError, match=re.escape(message)):
        build(sym.var("x"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"shap": (0, 784)}, "var 'x': unknown argument 'shap' (did you mean 'shape'?)"),
        ({"dtyp": "float64"}, "var 'x': unknown argument 'dtyp' (did you mean 'dtype'?)"),
        ({"lr_mult": 0.0}, "lr_mult= is not read by symgrad (MXNet trains with it); for lr_mult=0 pass Module("),
        ({"init": sg.init.Zero()}, "init= is not read by symgrad (MXNet trains with it); give its value in"),
        ({"stype": "csr"}, "stype='csr': symgrad arrays are dense"),
    ],
)
def test_a_variable_keyword_symgrad_would_ignore_is_refused(kwargs, message):
    """mx.sym.Variable('x', shap=(0, 784)) declared nothing and init=/lr_mult= changed no training,
    silently (MXNet 1.9.1 refuses the misspelling and trains with init and lr_mult)."""
    with pytest.raises(SymgradError, match=re.escape(message)):
        sym.Variable("x", **kwargs)
    inert = sym.var("x", shape=(2,), attr={"__layout__": "N"}, stype="default", profiler_scope="s", __layout__="N")
    assert inert.shape == (2,)


def test_layers_get_mxnet_auto_names_and_explicit_weights_are_used():
    x, w = sym.var("x"), sym.var("w")
    fc = sym.FullyConnected(x, w, num_hidden=3, no_bias=True)
    assert fc.list_arguments() == ["x", "w"] and fc.name.startswith("fullyconnected")
    conv = sym.Convolution(data=x, kernel=(3, 3), num_filter=2)
    assert conv.list_arguments() == ["x", f"{conv.name}_weight", f"{conv.name}_bias"]
    assert conv.name.startswith("convolution")


def test_layer_second_derivatives_match_differences_of_the_first():
    data = sym.var("data", shape=(3, 4))
    fc = sym.FullyConnected(data=data, num_hidden=2, name="fc")
    loss = sym.sum(sym.Activation(fc, act_type="tanh") ** 2)
    grad = sym.grad(loss, "fc_weight")
    x, w, b = rng.normal(size=(3, 4)), rng.normal(size=(2, 4)), rng.normal(size=2)
    fd_check(grad, {"data": x, "fc_weight": w, "fc_bias": b})


# ---- Convolution ---------------------------------------------------------------------------

CONV_CASES = [  # data shape, kernel, stride, pad, dilate, groups, filters
    ((2, 3, 9), (3,), (2,), (1,), (2,), 1, 2),
    ((2, 4, 7, 6), (3, 2), (2, 1), (1, 0), (1, 2), 2, 4),
    ((1, 2, 5, 5), (5, 5), (1, 1), (2, 2), (1, 1), 1, 3),
    ((2, 2, 6, 5), (2, 2), (3, 2), (0, 1), (1, 1), 2, 2),
    ((1, 2, 4, 5, 4), (2, 3, 2), (1, 2, 1), (1, 0, 1), (1, 1, 2), 1, 2),  # NCDHW
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{len(c[1])}d-g{c[5]}")
def test_convolution_matches_a_loop_reference_and_finite_differences(case):
    shape, kernel, stride, pad, dilate, groups, filters = case
    x = rng.normal(size=shape)
    w, b = rng.normal(size=(filters, shape[1] // groups, *kernel)), rng.normal(size=filters)
    conv = sym.Convolution(
        data=sym.var("d"), kernel=kernel, stride=stride, pad=pad, dilate=dilate, num_group=groups,
        num_filter=filters, name="c",
    )  # fmt: skip
    assert conv.infer_shape(d=shape)[0][1:] == [w.shape, b.shape]
    (out,) = conv.eval(d=x, c_weight=w, c_bias=b)
    np.testing.assert_allclose(out, conv_ref(x, w, b, stride, pad, dilate, groups), rtol=1e-10, atol=1e-12)
    fd_check(sym.tanh(conv), {"d": x, "c_weight": w, "c_bias": b})


def conv_grads_ref(x, w, g, stride, pad, dilate, groups):
    """Convolution's gradients for data and weight with loops: each output's g times the kernel
    added onto its window, and times its window added onto the kernel."""
    n, c = x.shape[:2]
    f, kernel = w.shape[0], w.shape[2:]
    xp = np.pad(x.astype(np.float64), [(0, 0), (0, 0)] + [(p, p) for p in pad])
    dxp, dw = np.zeros_like(xp), np.zeros(w.shape)
    cg, fg = c // groups, f // groups
    for i, j in itertools.product(range(n), range(f)):
        channels = slice(j // fg * cg, (j // fg + 1) * cg)
        for o in itertools.product(*map(range, g.shape[2:])):
            window = tuple(
                slice(o[a] * stride[a], o[a] * stride[a] + dilate[a] * (kernel[a] - 1) + 1, dilate[a])
                for a in range(len(kernel))
            )
            dxp[(i, channels, *window)] += g[(i, j, *o)] * w[j]
            dw[j] += g[(i, j, *o)] * xp[(i, channels, *window)]
    inside = tuple(slice(p, p + s) for p, s in zip(pad, x.shape[2:]))
    return dxp[(slice(None), slice(None), *inside)], dw


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"{len(c[1])}d-g{c[5]}")
def test_convolution_kernels_match_loop_references_in_float32_and_float64(case, dtype):
    """The forward and both gradients (im2col, col2im with the batch last) against loops, in the data's dtype."""
    shape, kernel, stride, pad, dilate, groups, filters = case
    x = rng.normal(size=shape).astype(dtype)
    w, b = rng.normal(size=(filters, shape[1] // groups, *kernel)).astype(dtype), rng.normal(size=filters).astype(dtype)
    conv = sym.Convolution(
        data=sym.var("d"), kernel=kernel, stride=stride, pad=pad, dilate=dilate, num_group=groups,
        num_filter=filters, name="c",
    )  # fmt: skip
    ex = conv.bind({"d": x, "c_weight": w, "c_bias": b}, grad_req="write")
    (out,) = ex.forward(is_train=True)
    g = rng.normal(size=out.shape).astype(dtype)
    ex.backward(g)
    dx, dw = conv_grads_ref(x, w, g, stride, pad, dilate, groups)
    tolerance = {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}
    for ours, reference in [
        (out, conv_ref(x, w, b, stride, pad, dilate, groups)),
        (ex.grad_dict["d"], dx),
        (ex.grad_dict["c_weight"], dw),
        (ex.grad_dict["c_bias"], g.sum(axis=(0, *range(2, g.ndim)), dtype=np.float64)),
    ]:
        assert ours.dtype == dtype
        np.testing.assert_allclose(ours, reference, **tolerance)


def test_convolution_second_order_matches_finite_differences_of_its_gradient():
    d = sym.var("d", shape=(2, 2, 5, 4))
    conv = sym.Convolution(data=d, kernel=(2, 2), stride=(2, 1), pad=(1, 0), num_filter=2, num_group=2, name="c")
    gw, gx = sym.grad(sym.sum(sym.tanh(conv) ** 2), ["c_weight", "d"])
    location = {"d": rng.normal(size=(2, 2, 5, 4)), "c_weight": rng.normal(size=(2, 1, 2, 2)), "c_bias": np.ones(2)}
    fd_check(sym.Group([gw, gx]), location)


def test_convolution_1d_stride_leaves_trailing_inputs_unused_with_zero_gradient():
    # MXNet's output size floor((x + 2p - d(k-1) - 1)/s) + 1: with x=6, k=2, s=3 the last column is skipped
    conv = sym.Convolution(data=sym.var("d"), kernel=(2,), stride=(3,), num_filter=1, no_bias=True, name="c")
    x, w = rng.normal(size=(1, 1, 6)), rng.normal(size=(1, 1, 2))
    (gx,) = grad_values(conv, {"d": x, "c_weight": w}, ["d"])
    np.testing.assert_array_equal(gx[0, 0], [w[0, 0, 0], w[0, 0, 1], 0, w[0, 0, 0], w[0, 0, 1], 0])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_filter": 2}, "kernel is required"),
        ({"kernel": (3, 3)}, "num_filter is required"),
        ({"kernel": (3, 3), "num_filter": 2, "stride": (1,)}, "one entry per kernel"),
        ({"kernel": (3, 3), "num_filter": 3, "num_group": 2}, None),
    ],
)
def test_convolution_refuses_bad_attributes_naming_them(kwargs, message):
    if message is None:  # 3 filters in 2 groups: found once the data's shape is known
        conv = sym.Convolution(data=sym.var("d"), **kwargs)
        with pytest.raises(SymgradError, match="multiples of num_group"):
            conv.infer_shape(d=(1, 4, 5, 5))
        return
    with pytest.raises(SymgradError, match=f"Convolution: .*{message}"):
        sym.Convolution(data=sym.var("d"), **kwargs)


def test_a_layer_whose_weights_are_inferred_names_itself_and_the_users_line_in_shape_errors():
    """infer_shape and simple_bind infer the weights' shapes first; an error there must say which
    layer and where it was built, as the same error at bind does."""
    data = sym.var("data")
    conv = sym.Convolution(data=data, kernel=(3, 3), num_filter=2, name="c1")  # conv-built
    bn = sym.BatchNorm(data=data, name="bn1")  # bn-built
    for call in (lambda: conv.infer_shape(data=(4, 6)), lambda: conv.simple_bind(data=(4, 6))):
        with pytest.raises(ShapeError) as info:
            call()
        message = str(info.value)
        assert message.startswith("Convolution 'c1': data must be NCHW (4-d) for kernel (3, 3) (data shape (4, 6))")
        assert "test_layers.py" in message and "# conv-built" in message
    bn_error = r"^BatchNorm 'bn1': axis 1 is out of range for 1-d data \(data shape \(4,\)\)"
    with pytest.raises(ShapeError, match=bn_error):
        bn.simple_bind(data=(4,))


def test_eager_layers_check_their_inputs_shapes_with_the_layers_own_rule():
    """A wrong label passed silently in eager mode (the forward never reads it), and a wrong
    weight was reported in NumPy's words (matmul's gufunc signature)."""
    x = nd.ones((4, 6))
    with pytest.raises(ShapeError, match=r"^nd.SoftmaxOutput: label has shape \(5,\), expected \(4,\)"):
        nd.SoftmaxOutput(x, nd.ones(5))
    with pytest.raises(ShapeError, match=r"^nd.FullyConnected: weight has shape \(3, 5\), expected \(3, 6\)"):
        nd.FullyConnected(x, nd.ones((3, 5)), nd.zeros(3), num_hidden=3)
    with pytest.raises(ShapeError, match=r"^nd.Convolution: weight has shape \(2, 1, 3\), expected \(2, 1, 3, 3\)"):
        nd.Convolution(nd.ones((1, 1, 5, 5)), nd.ones((2, 1, 3)), nd.zeros(2), kernel=(3, 3), num_filter=2)
    assert nd.SoftmaxOutput(x, nd.array([0, 1, 5, 2])).shape == (4, 6)


# ---- Pooling ---------------------------------------------------------------------------------

POOL_CASES = [  # shape, kernel, stride, pad, convention
    ((2, 3, 7, 6), (2, 2), (2, 2), (0, 0), "valid"),
    ((2, 3, 7, 6), (3, 2), (2, 2), (1, 1), "full"),
    ((1, 2, 9), (3,), (2,), (1,), "valid"),
    ((1, 2, 8), (3,), (2,), (0,), "full"),
    ((1, 2, 5, 4, 6), (2, 2, 3), (2, 1, 2), (0, 0, 1), "full"),  # NCDHW
]


def test_pooling_refuses_a_channels_last_layout_as_convolution_does():
    """Pooling(layout='NHWC') pooled the H and W of NCHW anyway: (1, 8, 8, 3) gave (1, 8, 7, 2), silently."""
    data = sym.var("data")
    with pytest.raises(SymgradError, match="^Pooling: layout must be 'NCHW', got 'NHWC'"):
        sym.Pooling(data=data, kernel=(2, 2), pool_type="max", layout="NHWC")
    with pytest.raises(SymgradError, match="^Pooling: layout must be 'NCW' or 'NCHW' or 'NCDHW', got 'NWC'"):
        sym.Pooling(data=data, global_pool=True, layout="NWC")
    pooled = sym.Pooling(data=data, kernel=(2, 2), stride=(2, 2), pool_type="max", layout="NCHW")
    assert pooled.infer_shape(data=(1, 3, 8, 8))[1] == [(1, 3, 4, 4)]


@pytest.mark.parametrize("pool_type", ["max", "avg", "sum"])
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"{len(c[1])}d-{c[4]}-pad{c[3][0]}")
def test_pooling_matches_a_loop_reference_and_finite_differences(case, pool_type):
    shape, kernel, stride, pad, convention = case
    x = rng.permutation(np.arange(math.prod(shape), dtype=np.float64)).reshape(shape) / 7  # no ties for max
    pool = sym.Pooling(
        data=sym.var("x"), kernel=kernel, stride=stride, pad=pad, pool_type=pool_type, pooling_convention=convention
    )
    (out,) = pool.eval(x=x)
    np.testing.assert_allclose(out, pool_ref(x, kernel, stride, pad, pool_type, convention == "full"), rtol=1e-12)
    fd_check(pool * pool, {"x": x})


def test_avg_pooling_without_the_padding_counts_only_real_entries():
    x = rng.normal(size=(1, 1, 5, 5))
    pool = sym.Pooling(sym.var("x"), kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="avg", count_include_pad=False)
    expected = pool_ref(x, (3, 3), (2, 2), (1, 1), "avg", count_include_pad=False)
    np.testing.assert_allclose(pool.eval(x=x)[0], expected, rtol=1e-12)
    fd_check(pool, {"x": x})


def test_global_pooling_reduces_every_spatial_axis_whatever_the_kernel():
    x = rng.normal(size=(2, 3, 4, 5))
    for pool_type, reduce in (("max", np.max), ("avg", np.mean), ("sum", np.sum)):
        pool = sym.Pooling(sym.var("x"), kernel=(1, 1), global_pool=True, pool_type=pool_type)
        (out,) = pool.eval(x=x)
        np.testing.assert_allclose(out, reduce(x, axis=(2, 3), keepdims=True), rtol=1e-12)


def test_max_pooling_sends_a_tied_window_s_gradient_to_its_first_maximum_as_mxnet():
    x = np.array([[[[1.0, 3.0], [3.0, 2.0]]]])
    pool = sym.Pooling(sym.var("x"), kernel=(2, 2), pool_type="max")
    (gx,) = grad_values(pool, {"x": x}, ["x"])
    np.testing.assert_array_equal(gx, [[[[0.0, 1.0], [0.0, 0.0]]]])


def max_pool_grads_ref(x, g, h, kernel, stride, pad, full):
    """Max pooling's gradient (g to each window's first maximum, or first NaN, as argmax) and its
    adjoint (h picked there), with loops over the windows of x padded with -inf."""
    spatial = x.shape[2:]
    size = g.shape[2:]
    end = [max((o - 1) * s + k - (xs + 2 * p), 0) for o, s, k, xs, p in zip(size, stride, kernel, spatial, pad)]
    widths = [(0, 0), (0, 0)] + [(p, p + e) for p, e in zip(pad, end)]
    xp, hp = np.pad(x, widths, constant_values=-np.inf), np.pad(h, widths)
    dxp, picked = np.zeros(xp.shape), np.zeros(g.shape)
    for i, j in itertools.product(*map(range, x.shape[:2])):
        for o in itertools.product(*map(range, size)):
            window = tuple(slice(o[a] * stride[a], o[a] * stride[a] + kernel[a]) for a in range(len(kernel)))
            at = np.unravel_index(np.argmax(xp[(i, j, *window)]), kernel)
            position = (i, j, *(w.start + a for w, a in zip(window, at)))
            dxp[position] += g[(i, j, *o)]
            picked[(i, j, *o)] = hp[position]
    inside = tuple(slice(p, p + s) for p, s in zip(pad, spatial))
    return dxp[(slice(None), slice(None), *inside)], picked


@pytest.mark.parametrize("heads", ["finite", "inf-nan"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"{len(c[1])}d-{c[4]}-pad{c[3][0]}")
def test_max_pooling_gradient_and_its_adjoint_match_loops_with_ties_and_nan(case, dtype, heads):
    """pool_grad sends g to each window's first maximum (first NaN in a window holding one), and
    pool_pick (its adjoint, in second derivatives) reads h there; data full of ties, in both dtypes.
    An infinite or NaN g (or h) reaches those entries only: g * mask spread NaN (0 * inf) to the rest."""
    shape, kernel, stride, pad, convention = case
    x = rng.integers(0, 3, shape).astype(dtype)  # many ties
    x.flat[rng.choice(x.size, 3, replace=False)] = [np.nan, -np.inf, np.inf]
    pool = sym.Pooling(sym.var("x"), kernel=kernel, stride=stride, pad=pad, pooling_convention=convention)
    (out,) = pool.eval(x=x)
    g, h = rng.normal(size=out.shape).astype(dtype), rng.normal(size=shape).astype(dtype)
    if heads == "inf-nan":
        g.flat[rng.choice(g.size, 3, replace=False)] = [np.inf, -np.inf, np.nan]
        h.flat[rng.choice(h.size, 3, replace=False)] = [np.inf, -np.inf, np.nan]
    # d/dx <grad of <pool(x), gv>, hv> is zero for max pooling; h's picks are the gradient's gradient for gv
    gv, hv = sym.var("gv", shape=out.shape), sym.var("hv", shape=shape)
    (dx,) = sym.grad(sym.sum(pool * gv), ["x"])
    (dg,) = sym.grad(sym.sum(dx * hv), ["gv"])
    ours_dx, ours_picked = sym.Group([dx, dg]).eval(x=x, gv=g, hv=h)
    reference_dx, reference_picked = max_pool_grads_ref(x.astype(np.float64), g, h, kernel, stride, pad,
                                                        convention == "full")  # fmt: skip
    tolerance = {"rtol": 1e-6} if dtype == np.float32 else {"rtol": 1e-14}
    for ours, reference in [(ours_dx, reference_dx), (ours_picked, reference_picked)]:
        assert ours.dtype == dtype and ours.shape == reference.shape
        np.testing.assert_allclose(ours, reference, **tolerance)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("pool_type", ["avg", "sum"])
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: f"{len(c[1])}d-{c[4]}-pad{c[3][0]}")
def test_avg_and_sum_pooling_gradients_spread_g_over_each_window_as_loops(case, pool_type, dtype):
    shape, kernel, stride, pad, convention = case
    x = rng.normal(size=shape).astype(dtype)
    pool = sym.Pooling(sym.var("x"), kernel=kernel, stride=stride, pad=pad, pool_type=pool_type,
                       pooling_convention=convention)  # fmt: skip
    ex = pool.bind({"x": x}, grad_req="write")
    (out,) = ex.forward(is_train=True)
    g = rng.normal(size=out.shape).astype(dtype)
    ex.backward(g)
    # the gradient is the transpose of the (linear) pooling: <pool(e_k), g> for each unit input e_k
    reference = np.zeros(x.size)
    for k in range(x.size):
        unit = np.zeros(x.size)
        unit[k] = 1
        reference[k] = np.sum(pool_ref(unit.reshape(shape), kernel, stride, pad, pool_type, convention == "full") * g)
    assert ex.grad_dict["x"].dtype == dtype
    tolerance = {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-14}
    np.testing.assert_allclose(ex.grad_dict["x"], reference.reshape(shape), **tolerance)


def test_pooling_second_order_matches_finite_differences_of_its_gradient():
    for pool_type in ("max", "avg"):
        x = sym.var("x", shape=(1, 2, 5, 5))
        pool = sym.Pooling(x, kernel=(2, 2), stride=(2, 2), pool_type=pool_type, pooling_convention="full")
        g = sym.grad(sym.sum(sym.sin(pool) * pool), x)
        xv = rng.permutation(np.arange(50.0)).reshape(1, 2, 5, 5) / 20
        fd_check(g, {"x": xv})


# ---- Activation, LeakyReLU -----------------------------------------------------------------------

ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0),
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "softrelu": lambda x: np.log1p(np.exp(x)),
    "softsign": lambda x: x / (1 + np.abs(x)),
}


@pytest.mark.parametrize("act_type", ACTIVATIONS)
def test_activation_matches_numpy_and_finite_differences(act_type):
    x = rng.normal(size=(3, 4))
    x[np.abs(x) < 1e-3] = 0.5  # away from relu's kink
    act = sym.Activation(data=sym.var("x"), act_type=act_type)
    np.testing.assert_allclose(act.eval(x=x)[0], ACTIVATIONS[act_type](x), rtol=1e-12)
    fd_check(act, {"x": x})
    fd_check(sym.grad(sym.sum(act * act), "x"), {"x": x})


SELU = (1.0507009873554804934193349852946, 1.6732632423543772848170429916717)
LEAKY = {
    "leaky": lambda x: np.where(x > 0, x, 0.1 * x),
    "elu": lambda x: np.where(x > 0, x, 0.1 * (np.exp(x) - 1)),
    "selu": lambda x: SELU[0] * np.where(x > 0, x, SELU[1] * (np.exp(x) - 1)),
    "gelu": lambda x: x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2))),
}


@pytest.mark.parametrize("act_type", LEAKY)
def test_leaky_relu_matches_numpy_and_finite_differences(act_type):
    x = rng.normal(size=(3, 4))
    act = sym.LeakyReLU(data=sym.var("x"), act_type=act_type, slope=0.1)
    np.testing.assert_allclose(act.eval(x=x)[0], LEAKY[act_type](x), rtol=1e-12)
    fd_check(act, {"x": x})


def test_activation_names_an_unknown_act_type():
    with pytest.raises(SymgradError, match="Activation: act_type must be one of"):
        sym.Activation(sym.var("x"), act_type="swish")
    with pytest.raises(SymgradError, match="LeakyReLU: needs 0 <= lower_bound <= upper_bound"):
        sym.LeakyReLU(sym.var("x"), act_type="rrelu", lower_bound=0.5, upper_bound=0.1)


def test_rrelu_draws_a_slope_per_entry_when_training_and_uses_their_mean_to_predict():
    x = sym.var("x")
    act = sym.LeakyReLU(data=x, act_type="rrelu", lower_bound=0.1, upper_bound=0.3, name="r")
    assert act.list_arguments() == ["x"]
    xv = -rng.uniform(1, 2, size=(50, 40))
    ex = act.bind({"x": xv})
    nd.random.seed(4)
    (out,) = ex.forward(is_train=True)
    slopes = out / xv
    assert 0.1 <= slopes.min() < 0.11 and 0.29 < slopes.max() <= 0.3
    ex.backward(np.full(xv.shape, 2.0))  # a given head gradient: the backward reads the forward's slopes
    np.testing.assert_allclose(ex.grad_dict["x"], 2 * slopes, rtol=1e-12)
    np.testing.assert_allclose(ex.forward()[0], 0.2 * xv, rtol=1e-12)
    np.testing.assert_array_equal(act.eval(x=-xv)[0], -xv)


def test_prelu_learns_one_slope_per_channel():
    act = sym.LeakyReLU(data=sym.var("x"), act_type="prelu", name="act")
    assert act.list_arguments() == ["x", "act_gamma"]
    assert act.infer_shape(x=(2, 3, 4))[0] == [(2, 3, 4), (3,)]
    x, gamma = rng.normal(size=(2, 3, 4)), rng.uniform(0.1, 0.5, 3)
    expected = np.where(x > 0, x, gamma[None, :, None] * x)
    np.testing.assert_allclose(act.eval(x=x, act_gamma=gamma)[0], expected, rtol=1e-12)
    shaped = sym.LeakyReLU(data=sym.var("x", shape=(2, 3, 4)), act_type="prelu", name="act")
    fd_check(sym.sin(shaped), {"x": x, "act_gamma": gamma})
    fd_check(sym.grad(sym.sum(sym.sin(shaped)), "act_gamma"), {"x": x, "act_gamma": gamma})


# ---- loss layers ---------------------------------------------------------------------------------


def loss_grad_by_differences(loss, x, eps=1e-6):
    """d loss / d x by central differences, loss a Python function of a NumPy array."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        grad[i] = (loss(up) - loss(down)) / (2 * eps)
    return grad


def cross_entropy(x, label, axis=-1):
    logp = np.log(softmax_np(x, axis))
    picked = np.take_along_axis(logp, np.expand_dims(label.astype(int), axis), axis)
    return -np.sum(picked)


def test_softmax_output_forward_is_softmax_and_backward_is_softmax_minus_one_hot_ignoring_the_head():
    x, label = rng.normal(size=(4, 5)), np.array([0.0, 3.0, 4.0, 1.0])
    out = sym.SoftmaxOutput(data=sym.var("x"), name="softmax")
    assert out.list_arguments() == ["x", "softmax_label"]
    assert out.infer_shape(x=(4, 5))[0] == [(4, 5), (4,)]
    ex = out.bind({"x": x, "softmax_label": label}, grad_req={"x": "write"})
    (y,) = ex.forward(is_train=True)
    np.testing.assert_allclose(y, softmax_np(x), rtol=1e-12)
    ex.backward(out_grads=np.full((4, 5), 7.0))  # the head gradient is ignored, as in MXNet
    expected = softmax_np(x) - np.eye(5)[label.astype(int)]
    np.testing.assert_allclose(ex.grad_dict["x"], expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(
        ex.grad_dict["x"], loss_grad_by_differences(lambda v: cross_entropy(v, label), x), rtol=1e-6, atol=1e-8
    )


def test_softmax_output_with_out_grad_multiplies_by_the_head_gradient_as_documented():
    """MXNet documents out_grad=True as scaling by the head gradient (its 1.9.1 executor scales by the
    output instead; the README says symgrad does not copy that)."""
    x, label, head = rng.normal(size=(3, 4)), np.array([1.0, 0.0, 3.0]), rng.uniform(0.5, 2.0, size=(3, 4))
    out = sym.SoftmaxOutput(data=sym.var("x"), out_grad=True, name="softmax")
    ex = out.bind({"x": x, "softmax_label": label}, grad_req={"x": "write"})
    ex.forward(is_train=True)
    ex.backward(out_grads=head)
    expected = (softmax_np(x) - np.eye(4)[label.astype(int)]) * head
    np.testing.assert_allclose(ex.grad_dict["x"], expected, rtol=1e-12, atol=1e-15)


def test_softmax_output_gradient_prints_as_softmax_minus_one_hot():
    x = sym.var("x", shape=(4, 5))
    out = sym.SoftmaxOutput(data=x, name="softmax")
    assert str(sym.grad(out, x)) == "softmax(x) - one_hot_like(softmax_label, x)"
    scaled = sym.SoftmaxOutput(data=x, name="softmax", grad_scale=2.0, normalization="batch")
    assert str(sym.grad(scaled, x)) == "0.5*(softmax(x) - one_hot_like(softmax_label, x))"


@pytest.mark.parametrize("normalization", ["null", "batch", "valid"])
def test_softmax_output_ignore_label_grad_scale_and_normalization(normalization):
    x, label = rng.normal(size=(5, 3)), np.array([0.0, -1.0, 2.0, -1.0, 1.0])
    out = sym.SoftmaxOutput(
        data=sym.var("x"), label=sym.var("y"), grad_scale=3.0, use_ignore=True, ignore_label=-1,
        normalization=normalization,
    )  # fmt: skip
    (g,) = grad_values(out, {"x": x, "y": label}, ["x"])
    keep = label != -1
    expected = (softmax_np(x) - np.eye(3)[np.where(keep, label, 0).astype(int)]) * keep[:, None]
    divisor = {"null": 1, "batch": 5, "valid": keep.sum()}[normalization]
    np.testing.assert_allclose(g, 3.0 * expected / divisor, rtol=1e-12, atol=1e-15)


def test_softmax_output_multi_output_takes_the_softmax_over_axis_1_and_divides_by_the_spatial_size():
    x, label = rng.normal(size=(2, 3, 4)), rng.integers(0, 3, (2, 4)).astype(float)
    out = sym.SoftmaxOutput(data=sym.var("x"), label=sym.var("y"), multi_output=True)
    assert out.infer_shape(x=(2, 3, 4))[0][1] == (2, 4)
    np.testing.assert_allclose(out.eval(x=x, y=label)[0], softmax_np(x, axis=1), rtol=1e-12)
    (g,) = grad_values(out, {"x": x, "y": label}, ["x"])
    expected = softmax_np(x, axis=1) - np.moveaxis(np.eye(3)[label.astype(int)], -1, 1)
    np.testing.assert_allclose(g, expected / 4, rtol=1e-12, atol=1e-15)
    assert cross_entropy(x, label, axis=1) > 0
    np.testing.assert_allclose(
        g, loss_grad_by_differences(lambda v: cross_entropy(v, label, axis=1) / 4, x), rtol=1e-6, atol=1e-8
    )


def test_softmax_output_of_4d_data_flattens_after_the_batch_axis_and_preserve_shape_keeps_the_last():
    x = rng.normal(size=(2, 2, 3))
    flat = sym.SoftmaxOutput(data=sym.var("x"), label=sym.var("y"))
    np.testing.assert_allclose(flat.eval(x=x, y=np.array([0.0, 5.0]))[0], softmax_np(x.reshape(2, 6)).reshape(x.shape))
    (g,) = grad_values(flat, {"x": x, "y": np.array([0.0, 5.0])}, ["x"])
    expected = (softmax_np(x.reshape(2, 6)) - np.eye(6)[[0, 5]]).reshape(x.shape)
    np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-15)
    kept = sym.SoftmaxOutput(data=sym.var("x"), label=sym.var("y"), preserve_shape=True)
    np.testing.assert_allclose(kept.eval(x=x, y=np.zeros((2, 2)))[0], softmax_np(x), rtol=1e-12)


def test_softmax_output_with_probability_labels_and_label_smoothing():
    x = rng.normal(size=(3, 4))
    probs = softmax_np(rng.normal(size=(3, 4)))
    out = sym.SoftmaxOutput(data=sym.var("x", shape=(3, 4)), label=sym.var("y", shape=(3, 4)))
    (g,) = grad_values(out, {"x": x, "y": probs}, ["x"])
    np.testing.assert_allclose(g, softmax_np(x) - probs, rtol=1e-12)
    label = np.array([1.0, 0.0, 3.0])
    smooth = sym.SoftmaxOutput(data=sym.var("x"), label=sym.var("y"), smooth_alpha=0.3)
    (g,) = grad_values(smooth, {"x": x, "y": label}, ["x"])
    target = np.where(np.eye(4)[label.astype(int)] == 1, 0.7, 0.1)
    np.testing.assert_allclose(g, softmax_np(x) - target, rtol=1e-12)


def test_regression_outputs_forward_and_backward_as_mxnet():
    x, y = rng.normal(size=(4, 3)), rng.uniform(0, 1, size=(4, 3))
    for op, forward, loss in (
        (sym.LinearRegressionOutput, lambda v: v, lambda v: 0.5 * np.sum((v - y) ** 2)),
        (
            sym.LogisticRegressionOutput,
            lambda v: 1 / (1 + np.exp(-v)),
            lambda v: -np.sum(y * np.log(1 / (1 + np.exp(-v))) + (1 - y) * np.log(1 - 1 / (1 + np.exp(-v)))),
        ),
        (sym.MAERegressionOutput, lambda v: v, lambda v: np.sum(np.abs(v - y))),
    ):
        out = op(data=sym.var("x"), name="lro", grad_scale=2.0)
        assert out.list_arguments() == ["x", "lro_label"]
        np.testing.assert_allclose(out.eval(x=x, lro_label=y)[0], forward(x), rtol=1e-12)
        (g,) = grad_values(out, {"x": x, "lro_label": y}, ["x"])
        # MXNet divides by the outputs per example (3 here)
        np.testing.assert_allclose(g, 2.0 / 3 * loss_grad_by_differences(loss, x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("shape, rows", [((4, 3), 4), ((5,), 1), ((2, 3, 4), 6), ((), 1)])
def test_make_loss_passes_data_forward_and_sends_back_grad_scale_whatever_the_head(shape, rows):
    """normalization='batch' divides by the rows of the loss flattened to 2-d, all axes but the
    last, as MXNet's MakeLoss (a per-example loss of shape (N,) is one row: not divided by N)."""
    x = rng.normal(size=shape)
    for normalization, divisor in (("null", 1), ("batch", rows), ("valid", max(np.sum(x > 0.1), 1))):
        loss = sym.MakeLoss(sym.var("x"), grad_scale=0.5, normalization=normalization, valid_thresh=0.1)
        ex = loss.bind({"x": x})
        np.testing.assert_array_equal(ex.forward(is_train=True)[0], x)
        ex.backward(out_grads=np.full(shape, 9.0))
        np.testing.assert_allclose(ex.grad_dict["x"], np.full(shape, 0.5 / divisor), rtol=1e-12)
        declared = sym.MakeLoss(sym.var("x", shape=shape), grad_scale=0.5, normalization=normalization)
        undeclared = sym.MakeLoss(sym.var("x"), grad_scale=0.5, normalization=normalization, valid_thresh=0.1)
        for loss in (declared, undeclared) if normalization == "batch" else ():
            (g,) = grad_values(loss, {"x": x}, ["x"])
            np.testing.assert_allclose(g, np.full(shape, 0.5 / rows), rtol=1e-12)


def test_block_grad_and_flatten_as_layers():
    x = sym.var("x")
    y = sym.sum(sym.BlockGrad(x) * x) + sym.sum(sym.Flatten(x))
    xv = rng.normal(size=(2, 3, 2))
    (g,) = grad_values(y, {"x": xv}, ["x"])
    np.testing.assert_allclose(g, xv + 1, rtol=1e-12)


def test_eager_layers_take_their_weights_as_arrays_and_record_for_backward():
    x, w, b = nd.array(rng.normal(size=(2, 1, 5, 5))), nd.array(rng.normal(size=(3, 1, 3, 3))), nd.zeros((3,))
    w.attach_grad()
    with autograd.record():
        y = nd.Convolution(x, w, b, kernel=(3, 3), num_filter=3)
        z = nd.sum(nd.Pooling(y, kernel=(3, 3), pool_type="avg") ** 2)
    z.backward()
    ref = conv_ref(x.asnumpy().astype(np.float64), w.asnumpy().astype(np.float64), None, (1, 1), (0, 0), (1, 1), 1)
    np.testing.assert_allclose(y.asnumpy(), ref, rtol=1e-5, atol=1e-5)
    symbolic = sym.sum(
        sym.Pooling(sym.Convolution(sym.var("x"), sym.var("w"), sym.var("b"), kernel=(3, 3), num_filter=3),
                    kernel=(3, 3), pool_type="avg") ** 2
    )  # fmt: skip
    (gw,) = grad_values(symbolic, {"x": x.asnumpy(), "w": w.asnumpy(), "b": np.zeros(3)}, ["w"])
    np.testing.assert_allclose(w.grad.asnumpy(), gw, rtol=1e-4)
    with pytest.raises(SymgradError, match="no array for input 'weight'"):
        nd.FullyConnected(x, num_hidden=3)


# ---- Dropout, Embedding ----------------------------------------------------------------------------


def test_dropout_drops_a_fraction_p_and_rescales_in_training_only():
    x = sym.var("x")
    drop = sym.Dropout(data=x, p=0.3, name="drop")
    assert drop.list_arguments() == ["x"]
    xv = rng.uniform(1, 2, size=(200, 100))
    ex = sym.sum(drop * drop).bind({"x": xv})
    nd.random.seed(0)
    ex.forward(is_train=True)
    ex.backward()
    kept = ex.grad_dict["x"].asnumpy() != 0
    assert abs(kept.mean() - 0.7) < 0.01
    # the gradient of sum(d*d) is 2*d*mask: the backward uses the forward's own mask
    np.testing.assert_allclose(ex.grad_dict["x"].asnumpy()[kept], 2 * xv[kept] / 0.7**2, rtol=1e-12)
    (predicted,) = drop.bind({"x": xv}).forward()  # predict mode: the identity
    np.testing.assert_array_equal(predicted, xv)
    always = sym.Dropout(data=x, p=0.3, mode="always").eval(x=xv)[0].asnumpy()
    assert abs(np.mean(always == 0) - 0.3) < 0.01
    np.testing.assert_allclose(always[always != 0], xv[always != 0] / 0.7, rtol=1e-12)


def test_dropout_backward_uses_the_forward_s_mask_with_given_or_default_heads():
    drop = sym.Dropout(data=sym.var("x"), p=0.5)
    ex = drop.bind({"x": np.ones((30, 30))})
    (out,) = ex.forward(is_train=True)
    head = rng.uniform(1, 2, size=(30, 30))
    ex.backward(head)
    np.testing.assert_array_equal(ex.grad_dict["x"], head * out)  # out is the mask (x is ones)
    ex.backward()  # the default head: the gradient is the mask node itself, kept, not drawn again
    np.testing.assert_array_equal(ex.grad_dict["x"], out)


def test_dropout_axes_share_one_draw_and_two_layers_draw_separately():
    x = sym.var("x")
    xv = np.ones((50, 4, 30))
    nd.random.seed(1)
    (shared,) = sym.Dropout(data=x, p=0.5, axes=(1,), mode="always").eval(x=xv)
    assert np.all(shared == shared[:, :1, :]) and 0.4 < np.mean(shared == 0) < 0.6
    a, b = sym.Dropout(x, p=0.5, mode="always"), sym.Dropout(x, p=0.5, mode="always")
    first, second = sym.Group([a, b]).eval(x=xv)
    assert not np.array_equal(first, second)  # two layers are two masks, not one shared by CSE


def test_dropout_follows_autograd_train_mode_in_eager_mode():
    x = nd.array(np.ones((100, 100)))
    x.attach_grad()
    nd.random.seed(2)
    with autograd.record():
        y = nd.Dropout(x, p=0.5)
    y.backward()
    np.testing.assert_array_equal(x.grad.asnumpy(), y.asnumpy())  # gradient = mask = y / x
    assert 0.45 < float((y == 0).mean().asscalar()) < 0.55
    with autograd.record(train_mode=False):
        np.testing.assert_array_equal(nd.Dropout(x, p=0.5).asnumpy(), x.asnumpy())
    with autograd.train_mode():
        assert float((nd.Dropout(x, p=0.5) == 0).mean().asscalar()) > 0.4
    np.testing.assert_array_equal(nd.Dropout(x, p=0.5).asnumpy(), x.asnumpy())  # predict by default


def test_embedding_looks_up_rows_clips_indices_and_adds_up_repeated_rows_gradients():
    idx = np.array([[0.0, 2.0, 2.0], [5.0, -1.0, 1.0]])  # 5 and -1 are clipped to 3 and 0, as MXNet
    emb = sym.Embedding(data=sym.var("idx"), input_dim=4, output_dim=3, name="emb")
    assert emb.list_arguments() == ["idx", "emb_weight"]
    assert emb.infer_shape(idx=(2, 3)) == ([(2, 3), (4, 3)], [(2, 3, 3)], [])
    w = rng.normal(size=(4, 3))
    rows = np.clip(idx.astype(int), 0, 3)
    np.testing.assert_array_equal(emb.eval(idx=idx, emb_weight=w)[0], w[rows])
    head = rng.normal(size=(2, 3, 3))
    ex = emb.bind({"idx": idx, "emb_weight": w}, grad_req={"emb_weight": "write"})
    ex.forward(is_train=True)
    ex.backward(head)
    expected = np.zeros((4, 3))
    np.add.at(expected, rows.ravel(), head.reshape(-1, 3))
    np.testing.assert_allclose(ex.grad_dict["emb_weight"], expected, rtol=1e-12)
    fd_check(sym.sin(emb), {"idx": idx, "emb_weight": w}, grad_nodes=["emb_weight"])
    fd_check(sym.grad(sym.sum(sym.sin(emb)), "emb_weight"), {"idx": idx, "emb_weight": w}, grad_nodes=["emb_weight"])


# ---- BatchNorm ---------------------------------------------------------------------------------


def batchnorm_np(x, gamma, beta, eps, axis=1):
    axes = tuple(a for a in range(x.ndim) if a != axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma.reshape(shape) + beta.reshape(shape)


def train_mode_differences(s, location, name, eps=1e-6):
    """Central differences of sum(out * head) in train mode (BatchNorm's batch statistics)."""
    ex = s.bind({k: v.copy() for k, v in location.items() if k in s.list_arguments()}, grad_req="null",
                aux_states={k: v.copy() for k, v in location.items() if k in s.list_auxiliary_states()})  # fmt: skip
    head = np.random.default_rng(5).uniform(0.5, 1.5, ex.forward()[0].shape)
    grad = np.zeros_like(location[name])
    target = ex.arg_dict[name].reshape(-1)
    for i in range(target.size):
        old = target[i]
        target[i] = old + eps
        up = np.sum(ex.forward(is_train=True)[0] * head)
        target[i] = old - eps
        down = np.sum(ex.forward(is_train=True)[0] * head)
        target[i] = old
        grad.reshape(-1)[i] = (up - down) / (2 * eps)
    return grad, head


def test_batchnorm_has_moving_statistics_as_auxiliary_states_and_infers_their_shapes():
    bn = sym.BatchNorm(data=sym.var("data"), name="bn")
    assert bn.list_arguments() == ["data", "bn_gamma", "bn_beta"]
    assert bn.list_auxiliary_states() == ["bn_moving_mean", "bn_moving_var"]
    assert bn.list_inputs() == bn.list_arguments() + bn.list_auxiliary_states()
    assert bn.infer_shape(data=(2, 3, 4)) == ([(2, 3, 4), (3,), (3,)], [(2, 3, 4)], [(3,), (3,)])
    ex = bn.simple_bind(data=(2, 3, 4))
    assert list(ex.aux_dict) == ["bn_moving_mean", "bn_moving_var"] and len(ex.aux_arrays) == 2
    with pytest.raises(SymgradError, match="no array for auxiliary state 'bn_moving_mean'"):
        bn.bind({"data": np.ones((2, 3, 4)), "bn_gamma": np.ones(3), "bn_beta": np.zeros(3)})


@pytest.mark.parametrize("fix_gamma", [True, False])
@pytest.mark.parametrize("axis", [1, -1])
def test_batchnorm_trains_on_batch_statistics_updates_the_moving_ones_and_predicts_with_them(fix_gamma, axis):
    x = rng.normal(2.0, 3.0, size=(6, 3, 4))
    c = x.shape[axis]
    gamma, beta = rng.uniform(0.5, 2, c), rng.normal(size=c)
    mm, mv = rng.normal(size=c), rng.uniform(0.5, 2, c)
    bn = sym.BatchNorm(data=sym.var("x"), name="bn", fix_gamma=fix_gamma, axis=axis, eps=1e-5, momentum=0.8)
    ex = bn.bind({"x": x, "bn_gamma": gamma, "bn_beta": beta},
                 aux_states={"bn_moving_mean": mm.copy(), "bn_moving_var": mv.copy()})  # fmt: skip
    (out,) = ex.forward(is_train=True)
    scale = np.ones(c) if fix_gamma else gamma
    np.testing.assert_allclose(out, batchnorm_np(x, scale, beta, 1e-5, axis % 3), rtol=1e-10, atol=1e-12)
    axes = tuple(a for a in range(3) if a != axis % 3)
    np.testing.assert_allclose(ex.aux_dict["bn_moving_mean"], 0.8 * mm + 0.2 * x.mean(axis=axes), rtol=1e-12)
    np.testing.assert_allclose(ex.aux_dict["bn_moving_var"], 0.8 * mv + 0.2 * x.var(axis=axes), rtol=1e-12)
    moving_mean, moving_var = ex.aux_dict["bn_moving_mean"].copy(), ex.aux_dict["bn_moving_var"].copy()
    (predicted,) = ex.forward()  # predict mode: the moving statistics, which stay as they are
    shape = [1, 1, 1]
    shape[axis % 3] = -1
    expected = (x - moving_mean.reshape(shape)) / np.sqrt(moving_var.reshape(shape) + 1e-5) * scale.reshape(
        shape
    ) + beta.reshape(shape)
    np.testing.assert_allclose(predicted, expected, rtol=1e-10)
    np.testing.assert_array_equal(ex.aux_dict["bn_moving_mean"], moving_mean)


@pytest.mark.parametrize("fix_gamma", [True, False])
def test_batchnorm_training_gradient_matches_finite_differences_through_the_batch_statistics(fix_gamma):
    location = {
        "x": rng.normal(size=(5, 2, 3)), "bn_gamma": rng.uniform(0.5, 2, 2), "bn_beta": rng.normal(size=2),
        "bn_moving_mean": np.zeros(2), "bn_moving_var": np.ones(2),
    }  # fmt: skip
    bn = sym.BatchNorm(data=sym.var("x", shape=(5, 2, 3)), name="bn", fix_gamma=fix_gamma, eps=1e-4)
    for name in ("x", "bn_gamma", "bn_beta"):
        numeric, head = train_mode_differences(bn, location, name)
        ex = bn.bind({k: location[k] for k in bn.list_arguments()},
                     aux_states={k: location[k].copy() for k in bn.list_auxiliary_states()})  # fmt: skip
        ex.forward(is_train=True)
        ex.backward(head)
        expected = np.zeros(2) if (name == "bn_gamma" and fix_gamma) else numeric
        np.testing.assert_allclose(ex.grad_dict[name], expected, rtol=1e-5, atol=1e-7, err_msg=name)


def test_batchnorm_with_global_statistics_differentiates_through_the_moving_ones():
    bn = sym.BatchNorm(data=sym.var("x", shape=(4, 3)), name="bn", use_global_stats=True, fix_gamma=False)
    location = {"x": rng.normal(size=(4, 3)), "bn_gamma": rng.uniform(0.5, 2, 3), "bn_beta": rng.normal(size=3)}
    aux = {"bn_moving_mean": rng.normal(size=3), "bn_moving_var": rng.uniform(0.5, 2, 3)}
    ex = bn.bind(location, aux_states=aux)
    (out,) = ex.forward(is_train=True)
    expected = (location["x"] - aux["bn_moving_mean"]) / np.sqrt(aux["bn_moving_var"] + 1e-3) * location["bn_gamma"]
    np.testing.assert_allclose(out, expected + location["bn_beta"], rtol=1e-12)
    check_numeric_gradient(bn, location, aux_states=aux, numeric_eps=1e-6, rtol=1e-5, atol=1e-7)


def test_eager_batchnorm_updates_the_moving_statistics_it_is_given_when_recording():
    x = nd.array(rng.normal(1.0, 2.0, size=(8, 3)), dtype="float64")
    gamma, beta = nd.ones((3,), dtype="float64"), nd.zeros((3,), dtype="float64")
    mean, var = nd.zeros((3,), dtype="float64"), nd.ones((3,), dtype="float64")
    x.attach_grad()
    with autograd.record():
        y = nd.BatchNorm(x, gamma, beta, mean, var, momentum=0.5)
    y.backward(nd.array(rng.normal(size=(8, 3)), dtype="float64"))
    np.testing.assert_allclose(mean.asnumpy(), 0.5 * x.asnumpy().mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(var.asnumpy(), 0.5 + 0.5 * x.asnumpy().var(axis=0), rtol=1e-12)
    np.testing.assert_allclose(y.asnumpy().mean(axis=0), 0, atol=1e-12)
    assert np.abs(x.grad.asnumpy().sum(axis=0)).max() < 1e-12  # the batch mean's gradient cancels
    predicted = nd.BatchNorm(x, gamma, beta, mean, var).asnumpy()  # predict mode: the moving statistics
    expected = (x.asnumpy() - mean.asnumpy()) / np.sqrt(var.asnumpy() + 1e-3)
    np.testing.assert_allclose(predicted, expected, rtol=1e-12)


def test_the_mxnet_crosscheck_compares_a_reference_file(tmp_path, capsys, monkeypatch):
    """benchmarks/crosscheck_mxnet.py's symgrad side runs without MXNet (it crashed formatting the
    NDArrays that grad_dict holds); fed symgrad's own values as the reference, every difference is 0."""
    path = Path(__file__).parent.parent / "benchmarks" / "crosscheck_mxnet.py"
    spec = importlib.util.spec_from_file_location("crosscheck_mxnet", path)
    crosscheck = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(crosscheck)
    name, build, args, aux = crosscheck.CASES[0]  # a grouped, dilated convolution
    monkeypatch.setattr(crosscheck, "CASES", [crosscheck.CASES[0]])
    ex = build(sym).bind({k: v.copy() for k, v in args.items()})
    (y,) = ex.forward(is_train=True)
    head = rng.uniform(0.5, 1.5, y.shape)
    ex.backward(head)
    ref = {f"{name}/out": y.asnumpy(), f"{name}/head": head, f"{name}/predict": ex.forward()[0].asnumpy()}
    ref.update({f"{name}/grad/{k}": ex.grad_dict[k].asnumpy() for k in args})
    opt_name, opt_args = crosscheck.OPTIMIZERS[1]  # Adam
    monkeypatch.setattr(crosscheck, "OPTIMIZERS", [crosscheck.OPTIMIZERS[1]])
    ref["optimizer0"] = crosscheck.optimizer_steps(sg, np.array, opt_name, opt_args)
    assert np.abs(ref["optimizer0"] - crosscheck.OPTIMIZER_WEIGHT).max() > 1e-2  # five steps moved the weight
    np.savez(tmp_path / "ref.npz", **ref)
    crosscheck.compare(str(tmp_path / "ref.npz"))
    rows = capsys.readouterr().out.strip().splitlines()
    assert rows == [
        f"| {name} | out 0e+00, dx 0e+00, dc_weight 0e+00, dc_bias 0e+00, predict 0e+00 |",
        f"| optimizer adam {opt_args} | weight 0e+00 |",
    ]


def test_the_lenet_step_benchmark_runs_symgrad_alone_with_the_loss_numpy_gives():
    """benchmarks/bench_lenet_step.py for symgrad alone: a row whose first loss is LeNet's
    cross-entropy written with NumPy (einsum over the windows) on the same weights and batch."""
    path = Path(__file__).parent.parent / "benchmarks" / "bench_lenet_step.py"
    spec = importlib.util.spec_from_file_location("bench_lenet_step", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    weights, data, labels = bench.problem()
    w = {k: v.astype(np.float64) for k, v in weights.items()}

    def conv_tanh_pool(x, layer):
        windows = sliding_window_view(x, (5, 5), axis=(2, 3))
        y = np.tanh(np.einsum("nchwij,fcij->nfhw", windows, w[f"{layer}_weight"]) + w[f"{layer}_bias"][:, None, None])
        n, f, height, width = y.shape
        return y.reshape(n, f, height // 2, 2, width // 2, 2).max(axis=(3, 5))

    hidden = conv_tanh_pool(conv_tanh_pool(data[0].astype(np.float64), "conv1"), "conv2").reshape(len(data[0]), -1)
    logits = np.tanh(hidden @ w["fc1_weight"].T + w["fc1_bias"]) @ w["fc2_weight"].T + w["fc2_bias"]
    log_prob = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    expected = -log_prob[np.arange(len(logits)), labels[0].astype(int)].mean()
    args = [sys.executable, str(path), "--rounds", "1", "--steps", "2", "--systems", "symgrad"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    (row,) = [line for line in out.splitlines() if line.startswith("| symgrad |")]
    minimum, median, first, loss = (float(cell) for cell in row.split("|")[2:6])
    assert 0 < minimum <= median and first > 0
    assert loss == pytest.approx(expected, abs=2e-6)


# ---- Deconvolution, LayerNorm, InstanceNorm, Pad, UpSampling, Sequence* (values and first derivatives:
# tests/opcases.py rows; here MXNet's attributes, second derivatives and errors) --------------------------

DECONV_CASES = [  # data shape, kernel, stride, pad, dilate, adj, groups, filters
    ((2, 3, 5), (3,), (2,), (1,), (1,), (1,), 1, 2),
    ((1, 4, 3, 4), (2, 3), (2, 2), (0, 1), (2, 1), (1, 0), 2, 6),
    ((1, 2, 2, 3, 2), (2, 2, 3), (1, 2, 1), (0, 1, 1), (1, 1, 1), (0, 1, 0), 1, 2),  # NCDHW
]


@pytest.mark.parametrize("case", DECONV_CASES, ids=lambda c: f"{len(c[1])}d-g{c[6]}")
def test_deconvolution_is_the_transpose_of_convolution_and_matches_a_loop_reference(case):
    """<Deconvolution(x, w), y> = <x, Convolution(y, w)> for every y; values against loops; bias only with
    no_bias=False (MXNet's Deconvolution defaults to no bias)."""
    from opcases import deconv_np

    shape, kernel, stride, pad, dilate, adj, groups, filters = case
    x, w = rng.normal(size=shape), rng.normal(size=(shape[1], filters // groups, *kernel))
    geometry = {"kernel": kernel, "stride": stride, "pad": pad, "dilate": dilate, "num_group": groups}
    deconv = sym.Deconvolution(data=sym.var("x"), adj=adj, num_filter=filters, name="d", **geometry)
    assert deconv.list_arguments() == ["x", "d_weight"] and deconv.infer_shape(x=shape)[0][1] == w.shape
    (out,) = deconv.eval(x=x, d_weight=w)
    np.testing.assert_allclose(out, deconv_np(x, w, stride, pad, dilate, adj, groups), rtol=1e-12, atol=1e-12)
    y = rng.normal(size=out.shape)
    conv = sym.Convolution(data=sym.var("y"), weight=sym.var("w"), num_filter=shape[1], no_bias=True, **geometry)
    (back,) = conv.eval(y=y, w=w)
    assert np.sum(out.asnumpy() * y) == pytest.approx(np.sum(x * back.asnumpy()), rel=1e-12)
    biased = sym.Deconvolution(data=sym.var("x"), adj=adj, num_filter=filters, no_bias=False, name="b", **geometry)
    b = rng.normal(size=filters)
    (with_bias,) = biased.eval(x=x, b_weight=w, b_bias=b)
    np.testing.assert_allclose(with_bias, out.asnumpy() + b.reshape(-1, *[1] * len(kernel)), rtol=1e-12)
    fd_check(sym.tanh(biased), {"x": x, "b_weight": w, "b_bias": b})


def test_deconvolution_target_shape_picks_mxnet_s_padding_and_second_derivatives_match_differences():
    x = sym.var("x", shape=(1, 2, 4, 3))
    deconv = sym.Deconvolution(data=x, kernel=(3, 3), stride=(2, 2), target_shape=(8, 6), num_filter=2, name="d")
    assert deconv.infer_shape()[1] == [(1, 2, 8, 6)]  # full sizes (9, 7): padding 1 each side, adj 1
    location = {"x": rng.normal(size=(1, 2, 4, 3)), "d_weight": rng.normal(size=(2, 2, 3, 3))}
    from opcases import deconv_np

    (out,) = deconv.eval(**location)
    np.testing.assert_allclose(out, deconv_np(location["x"], location["d_weight"], (2, 2), (1, 1), (1, 1), (1, 1), 1))
    fd_check(sym.Group(sym.grad(sym.sum(sym.tanh(deconv) ** 2), ["x", "d_weight"])), location)
    free = sym.Deconvolution(data=sym.var("free"), kernel=(3, 3), stride=(2, 2), target_shape=(8, 6), num_filter=2)
    with pytest.raises(SymgradError, match=r"^Deconvolution: the gradient with target_shape needs the data's shape"):
        sym.grad(sym.sum(free), "free")


@pytest.mark.parametrize(
    "kwargs, shape, message",
    [
        ({"adj": (2, 0), "stride": (2, 1)}, None, r"adj \(2, 0\) must be smaller than stride \(2, 1\)"),
        ({"target_shape": (3,)}, None, r"target_shape \(3,\) must have one entry per kernel dimension"),
        (
            {"target_shape": (12, 6)},
            (1, 2, 4, 3),
            r"target_shape \(12, 6\) is larger than the unpadded output \(6, 5\)",
        ),
        (
            {"target_shape": (5, 5)},
            (1, 2, 4, 3),
            r"target_shape \(5, 5\) needs adj \(1, 0\), which stride \(1, 1\) does not allow",
        ),
        ({"num_group": 2}, (1, 3, 4, 3), "channels 3 and num_filter 2 must be multiples of num_group 2"),
    ],
)
def test_deconvolution_refuses_bad_attributes_and_shapes_naming_them(kwargs, shape, message):
    def build():
        return sym.Deconvolution(data=sym.var("x"), kernel=(3, 3), num_filter=2, name="dc", **kwargs)

    if shape is None:
        with pytest.raises(SymgradError, match=f"^Deconvolution: {message}"):
            build()
        return
    with pytest.raises(
        ShapeError, match=f"^Deconvolution 'dc': {message} \\((input shapes|data shape) {re.escape(str(shape))}"
    ):
        build().infer_shape(x=shape)


def test_deconvolution_weight_of_the_wrong_shape_is_named_with_the_expected_one():
    x, w = nd.ones((1, 4, 3, 3)), nd.ones((2, 4, 3, 3))
    with pytest.raises(
        ShapeError, match=r"^nd.Deconvolution: weight has shape \(2, 4, 3, 3\), expected \(4, 2, 3, 3\)"
    ):
        nd.Deconvolution(x, w, kernel=(3, 3), num_filter=2)


def test_layernorm_on_a_leading_axis_with_its_mean_and_std_outputs():
    """axis=1 (needs the rank, declared); output_mean_var=True gives out, mean and std = sqrt(var + eps) as MXNet,
    the mean and std keeping the axis, all three differentiable (MXNet's backward ignores the last two heads)."""
    x = sym.var("x", shape=(2, 3, 4))
    ln = sym.LayerNorm(x, axis=1, eps=0.1, output_mean_var=True, name="ln")
    assert len(ln) == 3 and ln.infer_shape()[1] == [(2, 3, 4), (2, 1, 4), (2, 1, 4)]
    assert ln.list_arguments() == ["x", "ln_gamma", "ln_beta"]
    xv, gamma, beta = rng.normal(size=(2, 3, 4)), rng.uniform(0.5, 2, 3), rng.normal(size=3)
    out, mean, std = ln.eval(x=xv, ln_gamma=gamma, ln_beta=beta)
    np.testing.assert_allclose(mean, xv.mean(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(std, np.sqrt(xv.var(axis=1, keepdims=True) + 0.1), rtol=1e-12)
    np.testing.assert_allclose(out, (xv - mean) / std * gamma[:, None] + beta[:, None], rtol=1e-12)
    location = {"x": xv, "ln_gamma": gamma, "ln_beta": beta}
    fd_check(sym.sum(ln[0] ** 3) + sym.sum(sym.sin(ln[1])) + sym.sum(ln[2] ** 2), location)
    fd_check(sym.grad(sym.sum(sym.tanh(ln[0]) * ln[2]), "x"), location)  # second order
    with pytest.raises(SymgradError, match=r"^LayerNorm: the gradient for axis=1 needs the data's rank"):
        sym.grad(sym.sum(sym.LayerNorm(sym.var("free"), axis=1)), "free")


def test_normalization_layers_name_bad_parameters_and_attributes():
    with pytest.raises(ShapeError, match=r"^LayerNorm 'ln': gamma has shape \(4,\), expected \(3,\) \(axis 1 of data"):
        sym.LayerNorm(sym.var("x", shape=(2, 3, 4)), sym.var("g", shape=(4,)), axis=1, name="ln")
    with pytest.raises(ShapeError, match=r"^InstanceNorm 'in': data must have a batch, a channel and spatial axes"):
        sym.InstanceNorm(sym.var("x"), name="in").infer_shape(x=(2, 3))
    with pytest.raises(SymgradError, match=r"^LayerNorm: output 1 does not exist \(output_mean_var=False\)"):
        sym.LayerNorm(sym.var("x"), output=1)
    with pytest.raises(SymgradError, match=r"^LRN: nsize must be a positive odd int, got 4"):
        sym.LRN(sym.var("x"), nsize=4)
    with pytest.raises(SymgradError, match=r"^LRN: nsize is required"):
        sym.LRN(sym.var("x"))


def test_instancenorm_second_derivatives_match_differences_without_declared_shapes():
    x, gamma, beta = sym.var("x"), sym.var("g"), sym.var("b")
    grads = sym.grad(sym.sum(sym.sin(sym.InstanceNorm(x, gamma, beta)) ** 2), [x, gamma])
    location = {"x": rng.normal(size=(2, 2, 3, 2)), "g": rng.uniform(0.5, 2, 2), "b": rng.normal(size=2)}
    fd_check(sym.Group(grads), location)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_pad_second_derivatives_and_pads_wider_than_the_data_as_numpy(mode):
    """Pad is NumPy's pad on any axes (MXNet pads only the spatial axes of 4-d/5-d data, reflect less than the size)."""
    x = rng.normal(size=(2, 3))
    padded = sym.Pad(sym.var("x"), mode=mode, pad_width=(1, 0, 4, 5), constant_value=-2.0)
    kw = {"constant_values": -2.0} if mode == "constant" else {}
    np.testing.assert_array_equal(padded.eval(x=x)[0], np.pad(x, [(1, 0), (4, 5)], mode=mode, **kw))
    fd_check(sym.grad(sym.sum(sym.sin(padded) * padded), "x"), {"x": x})


def test_pad_upsampling_and_sequence_ops_refuse_bad_attributes_and_shapes_naming_them():
    x = sym.var("x")
    with pytest.raises(ShapeError, match=r"^Pad 'p': pad_width \(1, 1\) must have 2 entries per axis of 2-d data"):
        sym.Pad(x, mode="edge", pad_width=(1, 1), name="p").infer_shape(x=(2, 3))
    with pytest.raises(SymgradError, match=r"^Pad: mode must be one of \('constant', 'edge', 'reflect'\)"):
        sym.Pad(x, mode="wrap", pad_width=(1, 1))
    with pytest.raises(ShapeError, match=r"^UpSampling 'u': data must be NCHW \(4-d\), got 3-d"):
        sym.UpSampling(x, scale=2, sample_type="nearest", name="u").infer_shape(x=(1, 2, 3))
    with pytest.raises(SymgradError, match=r"^UpSampling: num_args=2: symgrad upsamples one input"):
        sym.UpSampling(x, scale=2, sample_type="nearest", num_args=2)
    with pytest.raises(SymgradError, match=r"^UpSampling: scale and sample_type .* are required"):
        sym.UpSampling(x, scale=2)
    length = sym.var("n")
    with pytest.raises(ShapeError, match=r"^SequenceMask 'm': sequence_length has shape \(4,\), expected \(3,\)"):
        sym.SequenceMask(x, length, use_sequence_length=True, name="m").infer_shape(x=(5, 3, 2), n=(4,))
    with pytest.raises(SymgradError, match=r"^SequenceReverse: axis must be 0 .* or 1 .*, got 2"):
        sym.SequenceReverse(x, axis=2)
    last = sym.SequenceLast(x, length, use_sequence_length=True)
    with pytest.raises(SymgradError, match=r"SequenceLast: sequence_length 0 is outside 1\.\.5 \(the time axis\)"):
        last.eval(x=np.ones((5, 3)), n=np.array([2.0, 0.0, 5.0]))


def test_sequence_mask_gradient_is_exactly_zero_at_masked_steps_whatever_the_head():
    """The masked steps do not reach the output: their gradient is 0 even for an infinite or NaN head
    (a where, never g * mask), as max pooling's non-maxima."""
    mask = sym.SequenceMask(sym.var("x"), np.array([1.0, 2.0]), use_sequence_length=True, value=7.0)
    ex = mask.bind({"x": np.ones((3, 2))})
    ex.forward(is_train=True)
    head = np.array([[np.inf, np.nan], [-np.inf, np.inf], [np.nan, 1.0]])
    ex.backward(head)
    np.testing.assert_array_equal(ex.grad_dict["x"], [[np.inf, np.nan], [0.0, np.inf], [0.0, 0.0]])


def test_eager_layernorm_with_output_mean_var_gives_three_arrays_recorded_for_backward():
    """nd.LayerNorm(..., output_mean_var=True) is a list, as nd.split gives (a layer returned its first output)."""
    x = nd.array(rng.normal(size=(2, 3, 4)), dtype=np.float64)
    x.attach_grad()
    with autograd.record():
        out, mean, std = nd.LayerNorm(x, nd.ones(4), nd.zeros(4), output_mean_var=True)
        loss = mean.sum() + (std * std).sum()
    assert out.shape == (2, 3, 4) and mean.shape == std.shape == (2, 3, 1)
    loss.backward()
    xv = x.asnumpy()  # d/dx of sum(mean) + sum(var + eps): 1/4 + 2 (x - mean) / 4 per entry
    np.testing.assert_allclose(x.grad.asnumpy(), 0.25 + (xv - xv.mean(axis=-1, keepdims=True)) / 2, rtol=1e-12)
