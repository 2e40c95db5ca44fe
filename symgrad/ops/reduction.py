"""Reductions with NumPy's (axis=None, keepdims=False): sum mean max min prod norm logsumexp.

Edge conventions: max/min split a tie's gradient evenly among the tied elements;
norm at the zero vector has gradient 0; logsumexp of all -inf is -inf with gradient 0.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from ..errors import ShapeError
from ..graph import Symbol
from . import elementwise as ew
from . import shape as shp
from .registry import float_dtype, register, same_dtype

REDUCE_ATTRS = {"axis": None, "keepdims": False}


def reduce_shape(x: tuple[int, ...], axis: tuple[int, ...] | None = None, keepdims: bool = False, **_: Any) -> tuple:
    axes = shp.positive_axes(axis, len(x))
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(x))
    return tuple(d for i, d in enumerate(x) if i not in axes)


def unreduce(g: Symbol, axis: tuple[int, ...] | None, keepdims: bool) -> Symbol:
    """g in keepdims form, so it broadcasts against the reduced input."""
    if axis is None or keepdims or g.shape == ():
        return g  # a 0-d g broadcasts against anything already
    return shp.expand_dims(g, axis=axis)


def reduced_count(x: Symbol, axis: tuple[int, ...] | None) -> Any:
    """Number of elements each output of the reduction averages (a constant when known)."""
    if x.shape is not None:
        axes = shp.positive_axes(axis, len(x.shape))
        return math.prod(x.shape[a] for a in axes)
    return reduce_size(x, axis=axis)


reduce_size = register(
    "reduce_size",
    lambda x, axis: np.array(
        np.prod([np.shape(x)[a] for a in (range(np.ndim(x)) if axis is None else axis)]),
        dtype=float_dtype(np.result_type(x)),  # as the dtype rule says: a count for dividing floats
    ),
    shape=lambda x, axis: (),
    dtype=lambda x, **_: float_dtype(x),
    grad=lambda g, out, x, axis: [None],
    arity=1,
    attrs={"axis": None},
    normalize=shp.normalize_axis_attr,
    aliases=(),
    scalar_output=True,
)


def exclude_axes(args: tuple, kwargs: dict, construct: Any) -> tuple[tuple, dict]:
    """MXNet's exclude=True: reduce over the axes *not* named (a reduction's unsugar; needs x's rank)."""
    if not kwargs.pop("exclude", False):
        return args, kwargs
    x = args[0] if args else kwargs.get("data")
    if len(args) > 1:  # sum(x, 1, exclude=True): the axis given positionally
        kwargs["axis"], args = args[1], args[:1] + args[2:]
    ndim = getattr(x, "ndim", None)
    if ndim is None:
        raise ShapeError(
            "exclude=True needs the input's number of dimensions when the graph is built: declare it"
            " (sym.var('x', shape=(2, 3)), or shape=(0, 0) for sizes left to bind), or name the axes to reduce"
        )
    named = shp.positive_axes(shp.normalize_axis_attr({"axis": kwargs.get("axis")})["axis"] or (), ndim)
    kwargs["axis"] = tuple(a for a in range(ndim) if a not in named)
    return args, kwargs


def _reduction(
    name: str,
    impl: Any,
    grad: Any,
    dtype: Any = same_dtype,
    extra: dict | None = None,
    numpy_kernel: Any = None,
    tiling: str | None = None,
    relayout: bool = False,
) -> Any:
    builder = register(
        name,
        impl,
        shape=reduce_shape,
        dtype=lambda x, **_: dtype(x),
        grad=grad,
        arity=1,
        attrs={**REDUCE_ATTRS, **(extra or {})},
        normalize=shp.normalize_axis_attr,
        elementwise=False,
        method=True,
        numpy_kernel=numpy_kernel,
        aliases=(),
        reduction=True,
        tiling=tiling,
        relayout=relayout,
        unsugar=exclude_axes,
    )
    return builder


def _sum_grad(g: Symbol, out: Symbol, x: Symbol, axis: Any, keepdims: bool) -> list:
    return [shp.broadcast_like(unreduce(g, axis, keepdims), x)]


def _mean_grad(g: Symbol, out: Symbol, x: Symbol, axis: Any, keepdims: bool) -> list:
    return [shp.broadcast_like(unreduce(g, axis, keepdims) / reduced_count(x, axis), x)]


def _extreme_grad(g: Symbol, out: Symbol, x: Symbol, axis: Any, keepdims: bool) -> list:
    extreme = unreduce(out, axis, keepdims)
    # A NaN maximum came from the NaN entries: they share its gradient (NaN == NaN is false).
    hit = ew.where(extreme != extreme, x != x, x == extreme)
    ties = sum(hit, axis=axis, keepdims=True)
    return [ew.where(hit, unreduce(g, axis, keepdims) / ties, 0)]


def _prod_grad(g: Symbol, out: Symbol, x: Symbol, axis: Any, keepdims: bool) -> list:
    """The product of the other entries, exactly, where x holds zeros, infinities or NaN too (out/x
    is NaN there; PyTorch and JAX give the product of the others at zeros). Entries that are finite
    and nonzero ("regular") get (product of the regular entries)/x times the product of the special
    ones; a special entry gets the regular product times the other specials' product, told apart by
    counting zeros, infinities and NaNs (so the mixed second derivative of two specials is 0)."""
    regular = ew.where(abs(x) > 0, abs(x) < np.inf, 0)  # 0 at zeros, +-inf and NaN
    regular_prod = prod(ew.where(regular, x, 1), axis=axis, keepdims=True)
    special_prod = prod(ew.where(regular, 1, x), axis=axis, keepdims=True)  # 1, 0, +-inf or NaN
    is_zero, is_inf, is_nan = x == 0, abs(x) == np.inf, x != x

    def others(flags: Symbol) -> Symbol:  # how many of the other entries are flagged
        return sum(flags, axis=axis, keepdims=True) - flags

    zeros, infs = others(is_zero), others(is_inf)
    inf_sign = ew.where(is_inf, ew.sign(x), 1)
    infs_signed = prod(inf_sign, axis=axis, keepdims=True) * inf_sign * np.inf  # the other infinities' product
    other_specials = ew.where(others(is_nan) + zeros * infs, np.nan, ew.where(zeros, 0, ew.where(infs, infs_signed, 1)))
    from_regular = regular_prod / ew.where(regular, x, 1) * special_prod
    return [unreduce(g, axis, keepdims) * ew.where(regular, from_regular, regular_prod * other_specials)]


def _norm_impl(x: Any, axis: Any = None, keepdims: bool = False, ord: Any = None) -> Any:
    x = np.asarray(x)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)  # as np.linalg.norm: an integer x*x would wrap around
    if axis is None and not keepdims:
        return np.sqrt(np.vdot(x, x))  # one pass, no temporary
    return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))


def _norm_grad(g: Symbol, out: Symbol, x: Symbol, ord: Any, axis: Any, keepdims: bool) -> list:
    # At the zero vector the norm has no derivative; 0 is its minimal-norm subgradient.
    norm_k = unreduce(out, axis, keepdims)
    return [unreduce(g, axis, keepdims) * ew.where(norm_k == 0, 0, x / norm_k)]


def _logsumexp_impl(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
    x = np.asarray(x)
    peak = np.max(x, axis=axis, keepdims=True) if x.size else np.zeros((1,) * x.ndim, x.dtype)
    peak = np.where(np.isfinite(peak), peak, 0)  # all -inf (or an inf) stays exact
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - peak), axis=axis, keepdims=True)) + peak
    return out if keepdims else np.squeeze(out, axis=axis)


def _logsumexp_grad(g: Symbol, out: Symbol, x: Symbol, axis: Any, keepdims: bool) -> list:
    lse = unreduce(out, axis, keepdims)
    finite_lse = ew.where(lse == -np.inf, 0, lse)  # all -inf: exp(-inf - 0) = 0, not NaN
    return [unreduce(g, axis, keepdims) * ew.exp(x - finite_lse)]


def _one_norm(args: tuple, kwargs: dict, construct: Any) -> Any:
    """norm(x, ord=1) (MXNet's ord=1) is sum(abs(x)): abs's gradient, 0 at 0 as MXNet's."""
    order = kwargs.get("ord", kwargs.get("p"))
    if isinstance(order, bool) or order != 1 or len(args) != 1:
        return args, kwargs
    rest = {k: v for k, v in kwargs.items() if k not in ("ord", "p")}
    return construct("sum", (construct("abs", args),), **rest)


def _check_ord(attrs: dict) -> dict:
    attrs = shp.normalize_axis_attr(attrs)
    p = attrs.pop("p", None)
    if p is not None:
        attrs["ord"] = p
    if attrs.get("ord") not in (None, 2, "fro"):
        raise ShapeError(f"norm supports ord=1 and the 2-norm (ord=None, 2 or 'fro'), got ord={attrs['ord']!r}")
    attrs["ord"] = None
    return attrs


@functools.lru_cache(maxsize=64)
def _reduced_dtype(ufunc: np.ufunc, dtype: np.dtype) -> np.dtype:
    """NumPy's result dtype of ufunc.reduce: bools and small integers accumulate in int64/uint64."""
    return ufunc.reduce(np.zeros(1, dtype)).dtype


def _ufunc_reduction(
    name: str,
    numpy_function: Any,
    ufunc: np.ufunc,
    grad: Any,
    accumulates: bool = False,
    tiling: str | None = None,
    relayout: bool = False,
) -> Any:
    """A reduction whose impl is numpy_function (Dask arrays dispatch on it); on NumPy arrays it is
    exactly ufunc.reduce, which the executor calls without np.sum's two dispatch layers."""
    return _reduction(
        name,
        lambda x, axis=None, keepdims=False: numpy_function(x, axis=axis, keepdims=keepdims),
        grad,
        (lambda d: _reduced_dtype(ufunc, np.result_type(d))) if accumulates else same_dtype,  # d may be a weak number
        numpy_kernel=lambda node: functools.partial(
            ufunc.reduce, axis=node.attrs["axis"], keepdims=node.attrs["keepdims"]
        ),
        tiling=tiling,
        relayout=relayout,
    )


def _numpy_mean(node: Symbol) -> Any:
    """np.mean of float32/float64 is add.reduce divided by the count, which is known at bind.

    Divided with `/`: on an array that is np.true_divide, and on the NumPy scalar a full
    reduction gives, NumPy's scalar division (the same value, at a tenth of a ufunc call)."""
    x = node.inputs[0]
    if x.shape is None or x.dtype not in (np.float32, np.float64) or not math.prod(x.shape):
        return None
    count, axis, keepdims = reduced_count(x, node.attrs["axis"]), node.attrs["axis"], node.attrs["keepdims"]
    return lambda v: np.add.reduce(v, axis=axis, keepdims=keepdims) / count


# sum's and mean's gradients broadcast the adjoint (divided by the count): a where-mask on it is
# broadcast with it (relayout), so sum(where(c, log(x), 0)) over a 0-d x or axis=() stays masked
sum = _ufunc_reduction("sum", np.sum, np.add, _sum_grad, accumulates=True, tiling="reduce", relayout=True)  # noqa: A001
mean = _reduction(
    "mean",
    lambda x, axis=None, keepdims=False: np.mean(x, axis=axis, keepdims=keepdims),
    _mean_grad,
    float_dtype,
    numpy_kernel=_numpy_mean,
    tiling="reduce",
    relayout=True,
)
max = _ufunc_reduction("max", np.max, np.maximum, _extreme_grad)  # noqa: A001
min = _ufunc_reduction("min", np.min, np.minimum, _extreme_grad)  # noqa: A001
prod = _ufunc_reduction("prod", np.prod, np.multiply, _prod_grad, accumulates=True)

logsumexp = _reduction("logsumexp", _logsumexp_impl, _logsumexp_grad, float_dtype)
norm = register(
    "norm",
    _norm_impl,
    shape=reduce_shape,
    dtype=lambda x, **_: float_dtype(x),
    grad=_norm_grad,
    arity=1,
    attrs={"ord": None, **REDUCE_ATTRS, "p": None},
    normalize=_check_ord,
    elementwise=False,
    method=True,
    aliases=(),
    reduction=True,
    unsugar=_one_norm,
)


def _arg_extreme(name: str, numpy_function: Any) -> Any:
    """argmax/argmin as MXNet: indices in the input's dtype (float32 in, float32 out), no gradient."""
    builder = register(
        name,
        lambda x, axis=None, keepdims=False: np.asarray(
            numpy_function(x, axis=None if axis is None else axis[0], keepdims=keepdims), dtype=np.result_type(x)
        ),
        shape=reduce_shape,
        dtype=lambda x, **_: np.result_type(x),
        grad=lambda g, out, x, axis, keepdims: [None],
        arity=1,
        attrs=dict(REDUCE_ATTRS),
        normalize=_one_axis,
        elementwise=False,
        method=True,
        aliases=(),
        reduction=True,
        nondiff=True,
    )
    return builder


def _one_axis(attrs: dict) -> dict:
    attrs = shp.normalize_axis_attr(attrs)
    if attrs["axis"] is not None and len(attrs["axis"]) != 1:
        raise ShapeError(f"axis must be one int or None, got {attrs['axis']!r}")
    return attrs


argmax = _arg_extreme("argmax", np.argmax)
argmin = _arg_extreme("argmin", np.argmin)
argmax_channel = register(
    "argmax_channel",
    lambda x: np.asarray(np.argmax(x, axis=1), dtype=np.result_type(x)),  # MXNet's: axis 1, the channels
    shape=lambda x: reduce_shape(x, (1,)),
    dtype=lambda x: np.result_type(x),
    grad=lambda g, out, x: [None],
    arity=1,
    elementwise=False,
    aliases=(),
    nondiff=True,
)


# ---- nansum, nanprod: NaN entries count as 0 (sum) or 1 (prod), and get no gradient ---------------


def _nansum_grad(g: Symbol, out: Symbol, x: Symbol, axis: Any, keepdims: bool) -> list:
    return [ew.where(x != x, 0, shp.broadcast_like(unreduce(g, axis, keepdims), x))]


def _nanprod_grad(g: Symbol, out: Symbol, x: Symbol, axis: Any, keepdims: bool) -> list:
    (grad,) = _prod_grad(g, out, ew.where(x != x, 1, x), axis, keepdims)  # prod's, with NaN as 1
    return [ew.where(x != x, 0, grad)]


nansum = _reduction(
    "nansum", lambda x, axis=None, keepdims=False: np.nansum(x, axis=axis, keepdims=keepdims), _nansum_grad
)
nanprod = _reduction(
    "nanprod", lambda x, axis=None, keepdims=False: np.nanprod(x, axis=axis, keepdims=keepdims), _nanprod_grad
)
