"""MXNet's sorting ops: sort, argsort and topk (ret_typ value, indices, mask or both), with
MXNet's defaults (indices as float32, topk's k=1 largest, sort ascending) and its order of
ties (the first occurrence first, ascending or descending). A sorted value's gradient goes
back to where the value came from: `along_axis_scatter` at the positions argsort gives.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import SymgradError
from ..graph import Symbol
from .registry import register
from .shape import _is_int, positive_axes

Shape = tuple[int, ...]
_INDEX_DTYPES = ("float16", "float32", "float64", "int32", "int64", "uint8")


def _normalize_sorting(attrs: dict) -> dict:
    axis = attrs["axis"]
    if axis is not None and not _is_int(axis):
        raise SymgradError(f"axis must be an int or None (the flattened array), got {axis!r}")
    if attrs["is_ascend"] not in (True, False, 0, 1):
        raise SymgradError(f"is_ascend must be True or False, got {attrs['is_ascend']!r}")
    out = {**attrs, "axis": None if axis is None else int(axis), "is_ascend": bool(attrs["is_ascend"])}
    if "dtype" in attrs:
        if np.dtype(attrs["dtype"]).name not in _INDEX_DTYPES:
            raise SymgradError(f"dtype must be one of {_INDEX_DTYPES} (MXNet's), got {attrs['dtype']!r}")
        out["dtype"] = np.dtype(attrs["dtype"]).name
    if "k" in attrs and not _is_int(attrs["k"]):
        raise SymgradError(f"k must be an int (k < 1: every element, sorted), got {attrs['k']!r}")
    if "ret_typ" in attrs and attrs["ret_typ"] not in ("value", "indices", "mask", "both"):
        raise SymgradError(f"ret_typ must be 'value', 'indices', 'mask' or 'both', got {attrs['ret_typ']!r}")
    if "output" in attrs and attrs["output"] not in ((0, 1) if attrs.get("ret_typ") == "both" else (0,)):
        raise SymgradError(
            f"output must be 0 or 1 with ret_typ='both' (values, indices), else 0; got {attrs['output']!r}"
        )
    return out


def _order(x: Any, axis: int | None, is_ascend: bool, k: int = 0) -> np.ndarray:
    """The positions that sort x along axis (flattened for None), the first of equal values first; the first k
    when k >= 1."""
    x = np.ravel(x) if axis is None else np.asarray(x)
    a = -1 if axis is None else axis
    if is_ascend:
        order = np.argsort(x, axis=a, kind="stable")
    else:  # stable on the reversed array, reversed back: equal values keep their first occurrence first
        n = x.shape[a]
        order = n - 1 - np.flip(np.argsort(np.flip(x, axis=a), axis=a, kind="stable"), axis=a)
    if k >= 1:
        order = np.take(order, np.arange(min(k, order.shape[a])), axis=a)
    return order


def _sorted_shape(x: Shape, axis: int | None, k: int = 0) -> Shape:
    """The shape of the first k sorted values along axis (all when k < 1)."""
    size = int(np.prod(x)) if axis is None else x[positive_axes((axis,), len(x))[0]]
    kept = min(k, size) if k >= 1 else size
    if axis is None:
        return (kept,)
    a = axis % len(x)
    return x[:a] + (kept,) + x[a + 1 :]


def _gathered(x: Any, order: np.ndarray, axis: int | None) -> np.ndarray:
    return np.take_along_axis(np.ravel(x) if axis is None else np.asarray(x), order, axis=-1 if axis is None else axis)


def _along_axis_scatter_impl(g: Any, like: Any, order: Any, axis: int | None) -> np.ndarray:
    """g added into zeros of like's shape at the positions order gives (flattened for axis None)."""
    out = np.zeros(np.size(like) if axis is None else np.shape(like), dtype=np.result_type(g))
    index = np.asarray(order).astype(np.intp)
    grid = list(np.ix_(*[np.arange(n) for n in index.shape]))  # every position of order, as NumPy indices
    grid[-1 if axis is None else axis] = index
    np.add.at(out, tuple(grid), g)  # a position given twice (multinomial's draws) gets both gradients
    return out.reshape(np.shape(like))


along_axis_scatter = register(
    "along_axis_scatter",
    _along_axis_scatter_impl,
    shape=lambda g, like, order, axis: like,
    dtype=lambda g, like, order, **_: np.result_type(g),
    grad=lambda gg, out, g, like, order, axis: [along_axis(gg, order, axis=axis), None, None],
    shape_of=1,
    arity=3,
    attrs={"axis": -1},
    elementwise=False,
    aliases=(),
    dask=False,
)
along_axis = register(
    "along_axis",
    lambda data, order, axis: _gathered(data, np.asarray(order).astype(np.intp), axis),
    shape=lambda data, order, axis: order,
    dtype=lambda data, order, **_: np.result_type(data),
    grad=lambda g, out, data, order, axis: [along_axis_scatter(g, data, order, axis=axis), None],
    arity=2,
    attrs={"axis": -1},
    elementwise=False,
    aliases=(),
)


def _sorted_grad(g: Symbol, data: Symbol, axis: int | None, is_ascend: bool, k: int = 0) -> Symbol:
    """The gradient of sorted values: g back at the positions they came from."""
    order = topk(data, axis=axis, k=k, ret_typ="indices", is_ascend=is_ascend, dtype="int64")
    return along_axis_scatter(g, data, order, axis=axis)


_SORT_ATTRS = {"axis": -1, "is_ascend": True}
sort = register(
    "sort",
    lambda x, axis, is_ascend: _gathered(x, _order(x, axis, is_ascend), axis),
    shape=lambda x, axis, is_ascend: _sorted_shape(x, axis),
    dtype=lambda x, **_: np.result_type(x),
    grad=lambda g, out, x, **attrs: [_sorted_grad(g, x, **attrs)],
    arity=1,
    attrs=_SORT_ATTRS,
    normalize=_normalize_sorting,
    elementwise=False,
    aliases=(),
)
argsort = register(
    "argsort",
    lambda x, axis, is_ascend, dtype: _order(x, axis, is_ascend).astype(dtype),
    shape=lambda x, axis, **_: _sorted_shape(x, axis),
    dtype=lambda x, dtype, **_: np.dtype(dtype),
    grad=lambda g, out, x, **_: [None],
    arity=1,
    attrs={**_SORT_ATTRS, "dtype": "float32"},
    normalize=_normalize_sorting,
    elementwise=False,
    aliases=(),
    nondiff=True,
)


def _topk_kind(ret_typ: str, output: int) -> str:
    return ("value", "indices")[output] if ret_typ == "both" else ret_typ


def _topk_impl(x: Any, axis: int | None, k: int, ret_typ: str, is_ascend: bool, dtype: str, output: int) -> Any:
    order = _order(x, axis, is_ascend, k)
    kind = _topk_kind(ret_typ, output)
    if kind == "value":
        return _gathered(x, order, axis)
    if kind == "indices":
        return order.astype(dtype)
    mask = _along_axis_scatter_impl(np.ones(order.shape, np.result_type(x)), x, order, axis)
    return mask  # 1 at the top k, 0 elsewhere, in the data's dtype


def _topk_shape(x: Shape, axis: int | None, k: int, ret_typ: str, output: int, **_: Any) -> Shape:
    return x if _topk_kind(ret_typ, output) == "mask" else _sorted_shape(x, axis, k)


def _topk_dtype(x: Any, ret_typ: str, output: int, dtype: str, **_: Any) -> Any:
    return np.dtype(dtype) if _topk_kind(ret_typ, output) == "indices" else np.result_type(x)


def _topk_grad(g: Symbol, out: Symbol, x: Symbol, ret_typ: str, output: int, **attrs: Any) -> list:
    if _topk_kind(ret_typ, output) != "value":
        return [None]  # indices and masks are piecewise constant
    return [_sorted_grad(g, x, attrs["axis"], attrs["is_ascend"], attrs["k"])]


topk = register(
    "topk",
    _topk_impl,
    shape=_topk_shape,
    dtype=_topk_dtype,
    grad=_topk_grad,
    arity=1,
    attrs={"axis": -1, "k": 1, "ret_typ": "indices", "is_ascend": False, "dtype": "float32", "output": 0},
    normalize=_normalize_sorting,
    elementwise=False,
    aliases=(),
    outputs=lambda attrs: 2 if attrs["ret_typ"] == "both" else 1,
)
