"""One table of op cases shared by the forward, gradient and property sweeps.

Each case: (name, builder over Symbols, NumPy reference over arrays, input arrays).
Inputs are float64 and inside each op's domain; broadcasting, axes and keepdims
appear where the op has them.
"""

import math

import mpmath
import numpy as np

from symgrad import sym

rng = np.random.default_rng(42)


def pos(*shape):
    return rng.uniform(0.5, 2.0, shape)


def unit(*shape):
    return rng.uniform(-0.8, 0.8, shape)


def any_(*shape):
    return rng.normal(size=shape)


def above1(*shape):
    return rng.uniform(1.2, 3.0, shape)


def softmax_np(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def logsumexp_np(x, axis=None, keepdims=False):
    m = x.max(axis=axis, keepdims=True)
    out = np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis) if axis is not None else out.reshape(())


def deconv_np(x, w, stride, pad, dilate, adj, groups):
    """MXNet's Deconvolution with loops: each input entry times its group's kernel, added onto the output
    at input position * stride + kernel offset * dilate, less the padding."""
    n, c, *size = x.shape
    kernel, per_group = w.shape[2:], w.shape[1]
    full = [s * (i - 1) + d * (k - 1) + 1 + a for i, k, s, d, a in zip(size, kernel, stride, dilate, adj)]
    out = np.zeros((n, per_group * groups, *full))
    for channel in range(c):
        group = channel // (c // groups)
        for at in np.ndindex(*size):
            for offset in np.ndindex(*kernel):
                target = tuple(i * s + o * d for i, o, s, d in zip(at, offset, stride, dilate))
                filters = slice(group * per_group, (group + 1) * per_group)
                out[(slice(None), filters, *target)] += (
                    x[(slice(None), channel, *at)][:, None] * w[(channel, slice(None), *offset)]
                )
    inside = tuple(slice(p, f - p) for p, f in zip(pad, full))
    return out[(slice(None), slice(None), *inside)]


def standardized_np(x, axis, eps):
    mean = x.mean(axis=axis, keepdims=True)
    return (
        (x - mean) / np.sqrt(x.var(axis=axis, keepdims=True) + eps),
        mean,
        np.sqrt(x.var(axis=axis, keepdims=True) + eps),
    )


def sequence_np(x, lengths, kind):
    """SequenceMask (value -1), SequenceLast and SequenceReverse of (T, B, ...) data, a sequence at a time."""
    out = np.full(x.shape, -1.0) if kind == "mask" else x.copy()
    last = np.zeros(x.shape[1:])
    for b, length in enumerate(lengths.astype(int)):
        out[:length, b] = x[:length, b] if kind == "mask" else x[:length, b][::-1]
        last[b] = x[length - 1, b]
    return last if kind == "last" else out


def lrn_np(x, nsize, alpha, beta, knorm):
    half, channels = nsize // 2, x.shape[1]
    total = np.stack([(x**2)[:, max(0, c - half) : c + half + 1].sum(axis=1) for c in range(channels)], axis=1)
    return x / (knorm + alpha / nsize * total) ** beta


PAD_WIDTH = (0, 0, 0, 0, 2, 1, 1, 3)
PAD_PAIRS = [(0, 0), (0, 0), (2, 1), (1, 3)]


# The reference is libm's erf whether or not SciPy (symgrad's faster path) is installed.
erf_np = np.vectorize(math.erf, otypes=[float])

UNARY = [
    ("exp", sym.exp, np.exp, any_),
    ("log", sym.log, np.log, pos),
    ("log2", sym.log2, np.log2, pos),
    ("log1p", sym.log1p, np.log1p, pos),
    ("expm1", sym.expm1, np.expm1, any_),
    ("cbrt", sym.cbrt, np.cbrt, pos),
    ("sqrt", sym.sqrt, np.sqrt, pos),
    ("square", sym.square, np.square, any_),
    ("abs", sym.abs, np.abs, pos),
    ("sin", sym.sin, np.sin, any_),
    ("cos", sym.cos, np.cos, any_),
    ("tan", sym.tan, np.tan, unit),
    ("tanh", sym.tanh, np.tanh, any_),
    ("sinh", sym.sinh, np.sinh, any_),
    ("cosh", sym.cosh, np.cosh, any_),
    ("arcsin", sym.arcsin, np.arcsin, unit),
    ("arccos", sym.arccos, np.arccos, unit),
    ("arctan", sym.arctan, np.arctan, any_),
    ("sigmoid", sym.sigmoid, lambda x: 1 / (1 + np.exp(-x)), any_),
    ("relu", sym.relu, lambda x: np.maximum(x, 0), pos),
    ("softplus", sym.softplus, lambda x: np.log1p(np.exp(x)), any_),
    ("erf", sym.erf, erf_np, any_),
    ("negative", lambda x: -x, np.negative, any_),
    # MXNet's further unary math (benchmarks/crosscheck_mxnet.py checks them against MXNet 1.9.1)
    ("arcsinh", sym.arcsinh, np.arcsinh, any_),
    ("arccosh", sym.arccosh, np.arccosh, above1),
    ("arctanh", sym.arctanh, np.arctanh, unit),
    ("log10", sym.log10, np.log10, pos),
    ("degrees", sym.degrees, np.degrees, any_),
    ("radians", sym.radians, np.radians, any_),
    ("reciprocal", sym.reciprocal, np.reciprocal, pos),
    ("rsqrt", sym.rsqrt, lambda x: 1 / np.sqrt(x), pos),
    ("rcbrt", sym.rcbrt, lambda x: 1 / np.cbrt(x), pos),
    ("softsign", sym.softsign, lambda x: x / (1 + np.abs(x)), any_),
    ("identity", sym.identity, lambda x: x, any_),
    ("gamma", sym.gamma, np.vectorize(math.gamma, otypes=[float]), pos),
    ("gammaln", sym.gammaln, np.vectorize(math.lgamma, otypes=[float]), pos),
    ("erfinv", sym.erfinv, np.vectorize(lambda v: float(mpmath.erfinv(v)), otypes=[float]), unit),
    (
        "polygamma",
        lambda x: sym.polygamma(x, n=1),
        np.vectorize(lambda v: float(mpmath.psi(1, v)), otypes=[float]),
        pos,
    ),
]

# (name, builder, reference, [arrays])
CASES = [(n, b, r, [f(3, 4)]) for n, b, r, f in UNARY] + [
    ("add_broadcast", lambda a, b: a + b, np.add, [any_(3, 1), any_(1, 4)]),
    ("subtract_broadcast", lambda a, b: a - b, np.subtract, [any_(4), any_(3, 4)]),
    ("multiply_broadcast", lambda a, b: a * b, np.multiply, [any_(3, 4), any_(4)]),
    ("divide", lambda a, b: a / b, np.divide, [any_(3, 4), pos(3, 4)]),
    ("power", lambda a, b: a**b, np.power, [pos(3, 4), any_(3, 4)]),
    ("power_scalar", lambda a: a**3, lambda a: a**3, [any_(3, 4)]),
    ("rpower_scalar", lambda a: 2.0**a, lambda a: 2.0**a, [any_(3, 4)]),
    ("maximum", sym.maximum, np.maximum, [any_(3, 4), any_(3, 4)]),
    ("minimum", sym.minimum, np.minimum, [any_(3, 4), any_(4)]),
    (
        "where",
        lambda c, a, b: sym.where(c > 0, a, b),
        lambda c, a, b: np.where(c > 0, a, b),
        [any_(3, 4), any_(3, 4), any_(4)],
    ),
    ("clip", lambda x: sym.clip(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5), [any_(3, 4)]),
    ("sum", sym.sum, np.sum, [any_(3, 4)]),
    ("sum_axis", lambda x: sym.sum(x, axis=1), lambda x: np.sum(x, axis=1), [any_(3, 4)]),
    (
        "sum_keepdims",
        lambda x: sym.sum(x, axis=(0, 2), keepdims=True),
        lambda x: np.sum(x, axis=(0, 2), keepdims=True),
        [any_(2, 3, 4)],
    ),
    ("mean_axis", lambda x: sym.mean(x, axis=0), lambda x: np.mean(x, axis=0), [any_(3, 4)]),
    ("max_axis", lambda x: sym.max(x, axis=-1), lambda x: np.max(x, axis=-1), [any_(3, 4)]),
    ("min", sym.min, np.min, [any_(3, 4)]),
    (
        "prod_axis",
        lambda x: sym.prod(x, axis=1, keepdims=True),
        lambda x: np.prod(x, axis=1, keepdims=True),
        [pos(3, 4)],
    ),
    ("norm", sym.norm, np.linalg.norm, [any_(3, 4)]),
    ("norm_axis", lambda x: sym.norm(x, axis=1), lambda x: np.linalg.norm(x, axis=1), [any_(3, 4)]),
    ("logsumexp", sym.logsumexp, logsumexp_np, [any_(3, 4)]),
    (
        "logsumexp_axis",
        lambda x: sym.logsumexp(x, axis=1, keepdims=True),
        lambda x: logsumexp_np(x, 1, True),
        [any_(3, 4)],
    ),
    ("softmax", sym.softmax, softmax_np, [any_(3, 4)]),
    ("log_softmax_axis0", lambda x: sym.log_softmax(x, axis=0), lambda x: np.log(softmax_np(x, 0)), [any_(3, 4)]),
    ("dot_matrix", sym.dot, np.dot, [any_(3, 4), any_(4, 2)]),
    ("dot_vector", sym.dot, np.dot, [any_(4), any_(4)]),
    ("dot_matrix_vector", sym.dot, np.dot, [any_(3, 4), any_(4)]),
    ("dot_vector_matrix", sym.dot, np.dot, [any_(4), any_(4, 2)]),
    ("matmul_batched", sym.matmul, np.matmul, [any_(2, 3, 4), any_(4, 5)]),
    ("matmul_broadcast_batch", lambda a, b: a @ b, np.matmul, [any_(2, 1, 3, 4), any_(3, 4, 2)]),
    ("matmul_vector", sym.matmul, np.matmul, [any_(2, 3, 4), any_(4)]),
    ("transpose", lambda x: x.T, np.transpose, [any_(3, 4)]),
    (
        "transpose_axes",
        lambda x: sym.transpose(x, axes=(1, 2, 0)),
        lambda x: np.transpose(x, (1, 2, 0)),
        [any_(2, 3, 4)],
    ),
    ("reshape", lambda x: sym.reshape(x, shape=(4, -1)), lambda x: x.reshape(4, -1), [any_(3, 4)]),
    ("expand_dims", lambda x: sym.expand_dims(x, axis=1), lambda x: np.expand_dims(x, 1), [any_(3, 4)]),
    ("squeeze", lambda x: sym.squeeze(x, axis=1), lambda x: np.squeeze(x, 1), [any_(3, 1, 4)]),
    (
        "broadcast_to",
        lambda x: sym.broadcast_to(x, shape=(2, 3, 4)),
        lambda x: np.broadcast_to(x, (2, 3, 4)),
        [any_(3, 1)],
    ),
    (
        "concat",
        lambda a, b: sym.concat([a, b], axis=1),
        lambda a, b: np.concatenate([a, b], 1),
        [any_(3, 2), any_(3, 4)],
    ),
    ("stack", lambda a, b: sym.stack([a, b], axis=1), lambda a, b: np.stack([a, b], 1), [any_(3, 4), any_(3, 4)]),
    ("flatten", sym.flatten, lambda x: x.reshape(x.shape[0], -1), [any_(2, 3, 4)]),
    ("index_slice", lambda x: x[1:, ::2], lambda x: x[1:, ::2], [any_(3, 4)]),
    ("index_int", lambda x: x[1], lambda x: x[1], [any_(3, 4)]),
    ("index_repeated", lambda x: x[np.array([0, 2, 0, 0])], lambda x: x[np.array([0, 2, 0, 0])], [any_(3, 4)]),
    ("index_mixed", lambda x: x[np.array([1, 1]), 2:], lambda x: x[np.array([1, 1]), 2:], [any_(3, 4)]),
    ("trace", sym.trace, np.trace, [any_(3, 3)]),
    ("inv", sym.inv, np.linalg.inv, [any_(3, 3) + 3 * np.eye(3)]),
    ("logdet", sym.logdet, lambda x: np.linalg.slogdet(x)[1], [any_(3, 3) + 3 * np.eye(3)]),
    ("stop_gradient", sym.stop_gradient, lambda x: x, [any_(3, 4)]),
    ("zeros_like", sym.zeros_like, np.zeros_like, [any_(3, 4)]),
    ("ones_like", sym.ones_like, np.ones_like, [any_(3, 4)]),
    ("zeros_ones", lambda x: x * sym.ones((3, 4)) + sym.zeros((4,)), lambda x: x * 1.0 + 0.0, [any_(3, 4)]),
    (
        "where_greater_equal_less_equal",
        lambda c, a: sym.where(c >= 0, a, 0.0) + sym.where(c <= 0.5, 2 * a, 0.0),
        lambda c, a: np.where(c >= 0, a, 0.0) + np.where(c <= 0.5, 2 * a, 0.0),
        [any_(3, 4), any_(3, 4)],
    ),
    ("take", lambda x: sym.take(x, 2, axis=1), lambda x: np.take(x, 2, axis=1), [any_(3, 4)]),
    (
        "getitem_arrays",
        lambda x: sym.getitem_arrays(x, np.array([2, 0, 2]), index=(("input", 0), ("slice", 1, None, None))),
        lambda x: x[[2, 0, 2], 1:],
        [any_(3, 4)],
    ),
    ("cast", lambda x: x + sym.cast(x, dtype="float16") * 0, lambda x: x + 0, [any_(3, 4)]),
    ("slice_axis", lambda x: sym.slice_axis(x, axis=1, begin=1, end=3), lambda x: x[:, 1:3], [any_(3, 4)]),
    (
        "pick",
        lambda x: sym.pick(x, np.array([0.0, 2.0, 1.0]), axis=1),
        lambda x: x[np.arange(3), [0, 2, 1]],
        [any_(3, 4)],
    ),
    (
        "take_array",
        lambda x: sym.take(x, np.array([[2.0, 0.0], [2.0, 5.0]]), axis=1),
        lambda x: x[:, [[2, 0], [2, 3]]],
        [any_(3, 4)],
    ),
    (
        "argmax_argmin",
        lambda x: x + sym.argmax(x, axis=1, keepdims=True) - sym.argmin(x, axis=0),
        lambda x: x + np.argmax(x, axis=1)[:, None] - np.argmin(x, axis=0),
        [any_(3, 4)],
    ),
    (
        "one_hot",
        lambda x: x * sym.one_hot(np.array([0.0, 3.0, 1.0]), depth=4),
        lambda x: x * np.eye(4)[[0, 3, 1]],
        [any_(3, 4)],
    ),
    # MXNet's array ops (benchmarks/crosscheck_mxnet.py checks them against MXNet 1.9.1 itself)
    ("tile", lambda x: sym.tile(x, reps=(2, 1, 2)) ** 2, lambda x: np.tile(x, (2, 1, 2)) ** 2, [any_(3, 4)]),
    ("repeat_axis", lambda x: sym.repeat(x, repeats=2, axis=0) ** 2, lambda x: np.repeat(x, 2, 0) ** 2, [any_(3, 4)]),
    ("repeat_flat", lambda x: sym.repeat(x, repeats=3) ** 2, lambda x: np.repeat(x, 3) ** 2, [any_(3, 4)]),
    ("flip", lambda x: sym.flip(x, axis=(0, 1)) * x, lambda x: np.flip(x, (0, 1)) * x, [any_(3, 4)]),
    (
        "split",
        lambda x: sym.split(x, num_outputs=2, axis=1)[1] * sym.SliceChannel(x, num_outputs=2, axis=1)[0],
        lambda x: x[:, 2:] * x[:, :2],
        [any_(3, 4)],
    ),
    (
        "split_squeeze",
        lambda x: sym.split(x, num_outputs=3, axis=0, squeeze_axis=True)[2] ** 2,
        lambda x: x[2] ** 2,
        [any_(3, 4)],
    ),
    (
        "batch_dot_tb",
        lambda a, b: sym.batch_dot(a, b, transpose_b=True) ** 2,
        lambda a, b: (a @ np.swapaxes(b, -1, -2)) ** 2,
        [any_(2, 3, 4), any_(2, 5, 4)],
    ),
    (
        "batch_dot_ta",
        lambda a, b: sym.batch_dot(a, b, transpose_a=True),
        lambda a, b: np.swapaxes(a, -1, -2) @ b,
        [any_(2, 4, 3), any_(2, 4, 5)],
    ),
    (
        "topk_both",
        lambda x: (lambda top: top[0] ** 2 * top[1])(sym.topk(x, k=2, ret_typ="both")),
        lambda x: -(np.sort(-x, axis=-1)[:, :2] ** 2) * np.argsort(-x, axis=-1)[:, :2] * -1,
        [any_(3, 4)],
    ),
    (
        "topk_mask_flat",
        lambda x: sym.topk(x, axis=None, k=3, ret_typ="mask", is_ascend=True) * x**2,
        lambda x: (x <= np.sort(x, axis=None)[2]) * x**2,
        [any_(3, 4)],
    ),
    ("sort", lambda x: sym.sort(x, axis=0, is_ascend=False) ** 2, lambda x: np.sort(x, 0)[::-1] ** 2, [any_(3, 4)]),
    ("argsort", lambda x: sym.argsort(x) * x, lambda x: np.argsort(x, -1) * x, [any_(3, 4)]),
    (
        "softmax_activation",
        lambda x: sym.SoftmaxActivation(x) * sym.SoftmaxActivation(x, mode="channel"),
        lambda x: softmax_np(x, -1) * softmax_np(x, 1),
        [any_(2, 3, 4)],
    ),
    (
        "l2_normalization",
        lambda x: sym.L2Normalization(x) * sym.L2Normalization(x, mode="spatial", eps=0.1),
        lambda x: (
            x
            / np.sqrt((x * x).sum(axis=(1, 2), keepdims=True) + 1e-10)
            * (x / np.sqrt((x * x).sum(axis=2, keepdims=True) + 0.1))
        ),
        [any_(2, 3, 4)],
    ),
    (
        "gather_nd",
        lambda x: sym.gather_nd(x, np.array([[0.0, 2.0, 2.0], [1.0, 3.0, 3.0]])) ** 2,
        lambda x: x[[0, 2, 2], [1, 3, 3]] ** 2,
        [any_(3, 4)],
    ),
    (
        "linspace",
        lambda x: x * sym.linspace(0, 1, 4),
        lambda x: x * np.linspace(0, 1, 4, dtype="float32"),
        [any_(3, 4)],
    ),
    # MXNet's rounding ops: zero gradient, so each row multiplies by x to carry one
    (
        "rounding",
        lambda x: (sym.round(x) + sym.rint(x) + sym.floor(x) + sym.ceil(x) + sym.trunc(x) + sym.fix(x)) * x,
        lambda x: (
            (np.sign(x) * np.floor(np.abs(x) + 0.5) + np.ceil(x - 0.5) + np.floor(x) + np.ceil(x) + 2 * np.trunc(x)) * x
        ),
        [3 * any_(3, 4)],
    ),
    (
        "logical_not",
        lambda x: sym.logical_not(sym.floor(x)) * x,
        lambda x: (np.floor(x) == 0) * x,
        [any_(3, 4)],
    ),
    (
        "mod",
        lambda a, b: a % b + sym.broadcast_mod(b, 0.7),
        lambda a, b: np.mod(a, b) + np.mod(b, 0.7),
        [3 * any_(3, 4), pos(4)],
    ),
    (
        "hard_sigmoid",
        lambda x: sym.hard_sigmoid(x) + sym.hard_sigmoid(x, alpha=0.5, beta=0.1),
        lambda x: np.clip(0.2 * x + 0.5, 0, 1) + np.clip(0.5 * x + 0.1, 0, 1),
        [3 * any_(3, 4)],
    ),
    (
        "smooth_l1",
        lambda x: sym.smooth_l1(x) + sym.smooth_l1(x, scalar=2.0),
        lambda x: (
            np.where(np.abs(x) <= 1, 0.5 * x * x, np.abs(x) - 0.5)
            + np.where(np.abs(x) <= 0.25, 2 * x * x, np.abs(x) - 0.125)
        ),
        [any_(3, 4)],
    ),
    (
        "slice",
        lambda x: (
            sym.slice(x, begin=(None, 1), end=(None, 3)) * sym.slice(x, begin=(2, -2), end=(None, 0), step=(-1, -1))
        ),
        lambda x: x[:, 1:3] * x[2::-1, -2:0:-1],
        [any_(3, 4)],
    ),
    (
        "slice_like",
        lambda x, y: sym.slice_like(x, y) ** 2 + sym.slice_like(x, y, axes=(1,))[:2],
        lambda x, y: x[:2, :3] ** 2 + x[:2, :3],
        [any_(3, 4), any_(2, 3)],
    ),
    (
        "broadcast_axis",
        lambda x: sym.broadcast_axis(x, axis=1, size=3) * sym.broadcast_axes(x, axis=(0, 1), size=(2, 3)),
        lambda x: np.broadcast_to(x, (2, 3, 4)) ** 2,
        [any_(1, 1, 4)],
    ),
    (
        "eye_arange",
        lambda x: x * sym.eye(3, 4, k=1) + sym.arange(0, 4, 1.5, repeat=2)[:4] * sym.eye(3, 4, dtype="float32"),
        lambda x: x * np.eye(3, 4, 1, dtype="float32") + np.array([0.0, 0.0, 1.5, 1.5]) * np.eye(3, 4),
        [any_(3, 4)],
    ),
    (
        "shape_size_array",
        lambda x: x * sym.cast(sym.shape_array(x)[1], dtype="float32") + sym.cast(sym.size_array(x), dtype="float16"),
        lambda x: x * 4 + 12.0,
        [any_(3, 4)],
    ),
    (
        "linalg_gemm2",
        lambda a, b: sym.linalg_gemm2(a, b, transpose_b=True, alpha=0.5) ** 2,
        lambda a, b: (0.5 * a @ np.swapaxes(b, -1, -2)) ** 2,
        [any_(2, 3, 4), any_(2, 5, 4)],
    ),
    (
        "linalg_gemm",
        lambda a, b, c: sym.linalg_gemm(a, b, c, transpose_a=True, alpha=2.0, beta=-0.5) ** 2,
        lambda a, b, c: (2 * a.T @ b - 0.5 * c) ** 2,
        [any_(4, 3), any_(4, 2), any_(3, 2)],
    ),
    (
        "cumsum",
        lambda x: sym.cumsum(x, axis=1) ** 2 + sym.cumsum(x).reshape((3, 4)),
        lambda x: np.cumsum(x, axis=1) ** 2 + np.cumsum(x).reshape(3, 4),
        [any_(3, 4)],
    ),
    (
        "diag",
        lambda x, v: sym.diag(x, k=1) ** 2 + sym.diag(sym.diag(v, k=-1) ** 2, k=-1),
        lambda x, v: np.diag(x, 1) ** 2 + v**2,
        [any_(3, 4), any_(3)],
    ),
    (
        "diag_axes",
        lambda x: sym.diag(x, k=-1, axis1=2, axis2=0) ** 2,
        lambda x: np.diagonal(x, -1, 2, 0) ** 2,
        [any_(3, 2, 4)],
    ),
    (
        "nansum_nanprod",
        lambda x: sym.nansum(x, axis=1) * sym.nanprod(x, axis=0, keepdims=True).T[:, 0][:3],
        lambda x: np.nansum(x, axis=1) * np.nanprod(x, axis=0)[:3],
        [pos(3, 4)],
    ),
    (
        "argmax_channel",
        lambda x: x * sym.expand_dims(sym.argmax_channel(x), axis=1),
        lambda x: x * np.argmax(x, axis=1)[:, None],
        [any_(3, 4)],
    ),
    (
        "softmax_cross_entropy",
        lambda x: sym.softmax_cross_entropy(x, np.array([0.0, 3.0, 1.0])),
        lambda x: -np.log(softmax_np(x))[[0, 1, 2], [0, 3, 1]].sum(keepdims=True),
        [any_(3, 4)],
    ),
]

CASES += [
    (
        "Deconvolution",
        lambda x, w: sym.Deconvolution(
            x, w, kernel=(3, 2), stride=(2, 1), pad=(1, 0), adj=(1, 0), dilate=(1, 2), num_group=2, num_filter=4
        ),
        lambda x, w: deconv_np(x, w, (2, 1), (1, 0), (1, 2), (1, 0), 2),
        [any_(2, 4, 3, 3), any_(4, 2, 3, 2)],
    ),
    (
        "LayerNorm",
        lambda x, g, b: sym.LayerNorm(x, g, b, axis=-2, eps=0.1),
        lambda x, g, b: standardized_np(x, -2, 0.1)[0] * g[:, None] + b[:, None],
        [any_(2, 3, 4), pos(3), any_(3)],
    ),
    (
        "LayerNorm_mean_std",
        lambda x: (lambda ln: ln[0] + ln[1] * ln[2])(sym.LayerNorm(x, np.ones(4), np.zeros(4), output_mean_var=True)),
        lambda x: (lambda z, m, s: z + m * s)(*standardized_np(x, -1, 1e-5)),
        [any_(3, 4)],
    ),
    (
        "InstanceNorm",
        lambda x, g, b: sym.InstanceNorm(x, g, b, eps=0.01),
        lambda x, g, b: standardized_np(x, (2, 3), 0.01)[0] * g[:, None, None] + b[:, None, None],
        [any_(2, 3, 2, 3), pos(3), any_(3)],
    ),
    (
        "Pad",
        lambda x: (
            sym.Pad(x, mode="reflect", pad_width=PAD_WIDTH)
            * sym.pad(x, mode="edge", pad_width=PAD_WIDTH)
            * sym.Pad(x, mode="constant", pad_width=PAD_WIDTH, constant_value=2.5)
        ),
        lambda x: (
            np.pad(x, PAD_PAIRS, mode="reflect")
            * np.pad(x, PAD_PAIRS, mode="edge")
            * np.pad(x, PAD_PAIRS, constant_values=2.5)
        ),
        [any_(2, 2, 3, 4)],
    ),
    (
        "UpSampling",
        lambda x: sym.UpSampling(x, scale=2, sample_type="nearest"),
        lambda x: x.repeat(2, axis=2).repeat(2, axis=3),
        [any_(2, 2, 3, 2)],
    ),
    (
        "UpSampling_bilinear",
        lambda x, w: sym.UpSampling(x, w, scale=2, sample_type="bilinear", num_filter=2),
        lambda x, w: deconv_np(x, w, (2, 2), (1, 1), (1, 1), (0, 0), 2),
        [any_(2, 2, 3, 2), any_(2, 1, 4, 4)],
    ),
    (
        "LRN",
        lambda x: sym.LRN(x, nsize=3, alpha=0.5, beta=0.75, knorm=1.5),
        lambda x: lrn_np(x, 3, 0.5, 0.75, 1.5),
        [any_(2, 5, 2)],
    ),
    (
        "SequenceMask",
        lambda x: sym.SequenceMask(x, np.array([2.0, 4.0, 1.0]), use_sequence_length=True, value=-1.0),
        lambda x: sequence_np(x, np.array([2.0, 4.0, 1.0]), "mask"),
        [any_(4, 3, 2)],
    ),
    (
        "SequenceLast",
        lambda x: sym.SequenceLast(x, np.array([2.0, 4.0, 1.0]), use_sequence_length=True),
        lambda x: sequence_np(x, np.array([2.0, 4.0, 1.0]), "last"),
        [any_(4, 3, 2)],
    ),
    (
        "SequenceReverse",
        lambda x: sym.SequenceReverse(x, np.array([2.0, 4.0, 3.0]), use_sequence_length=True),
        lambda x: sequence_np(x, np.array([2.0, 4.0, 3.0]), "reverse"),
        [any_(4, 3, 2)],
    ),
]

# Registered ops that the rows above do not reach, and the tests that sweep them instead.
TESTED_ELSEWHERE = {
    **dict.fromkeys(
        [
            "Activation",
            "BatchNorm",
            "Convolution",
            "Dropout",
            "Embedding",
            "FullyConnected",
            "LeakyReLU",
            "LinearRegressionOutput",
            "LogisticRegressionOutput",
            "MAERegressionOutput",
            "MakeLoss",
            "Pooling",
            "SoftmaxOutput",
            "_dropout_mask",
            "_rrelu_slopes",
            "conv_transpose",
            "conv_weight_grad",
            "embedding_grad",
            "one_hot_like",
            "pool_grad",
            "pool_pick",
        ],
        "tests/test_layers.py (MXNet's layers, against loop references and finite differences)",
    ),
    "custom_function": "tests/test_eager.py (autograd.Function)",
    "custom_function_grad": "tests/test_eager.py (autograd.Function)",
    "setitem": "tests/test_eager.py (x[...] = value under record())",
}

# The gradient of these is zero or absent by definition; finite differences would say otherwise.
NO_NUMERIC_GRAD = {"stop_gradient"}
