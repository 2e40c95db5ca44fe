"""Indexing ops: getitem and its gradient scatter_like, setitem, and getitem_arrays /
scatter_arrays, whose index arrays are inputs (eager mode's `x[np.arange(n), y]`); MXNet's
slice_axis, pick and one_hot.

An index is kept as data (`encode_index`): hashable, JSON-able, never evaluated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ShapeError, SymgradError
from ..graph import CONST, Symbol
from .registry import broadcast_shapes, register
from .shape import (
    _is_int,
    index_in_range,
    indexed_axis,
    normalize_single_axis,
    positive_axes,
    shown_with_index_values,
    sum_like,
)

Shape = tuple[int, ...]


def index_array(item: Any, of: Any) -> np.ndarray:
    """An index list or array as a NumPy array; a ragged list is a ShapeError naming `of`, what it indexes."""
    try:
        return np.asarray(item)
    except ValueError:  # NumPy refuses rows of different lengths
        subject = repr(of.name) if isinstance(of, Symbol) else f"an array of shape {getattr(of, 'shape', None)}"
        raise ShapeError(
            f"indexing {subject}: the index list {item!r} is ragged (its rows differ in length), so it is not"
            " an index array; give rows of one length, or one list per axis as in x[[0, 1], [2, 2]]"
        ) from None


def plain_index(index: Any, of: Any) -> Any:
    """An eager index with NDArrays as intp arrays and lists as arrays (a ragged one named as indexing `of`)."""
    if isinstance(index, tuple):
        return tuple(_plain_item(item, of) for item in index)
    return _plain_item(index, of)


def _plain_item(item: Any, of: Any) -> Any:
    if hasattr(item, "_is_ndarray"):
        return np.asarray(item).astype(np.intp)
    return index_array(item, of) if isinstance(item, list) else item


def encode_index(index: Any, of: Any = None) -> tuple:
    """A NumPy index as hashable, JSON-able data: ints, None, '...', ('slice', a, b, c), ('array', nested);
    `of` is what it indexes, named by the errors."""
    items = index if isinstance(index, tuple) else (index,)
    out: list[Any] = []
    for item in items:
        if item is None or item is Ellipsis:
            out.append(None if item is None else "...")
        elif isinstance(item, slice):
            out.append(("slice", _opt_int(item.start), _opt_int(item.stop), _opt_int(item.step)))
        elif isinstance(item, (bool, np.bool_)):
            raise ShapeError("indexing with a Python bool is not supported; use an array of indices")
        elif isinstance(item, (int, np.integer)):
            out.append(int(item))
        elif isinstance(item, (list, tuple, np.ndarray)) or hasattr(item, "_is_ndarray"):
            arr = index_array(item, of)
            if arr.dtype == bool:
                arr = np.nonzero(arr)[0] if arr.ndim == 1 else None
                if arr is None:
                    raise ShapeError("only 1-d boolean masks can be used as indices")
            if arr.dtype.kind not in "iu":
                raise ShapeError(f"index arrays must hold integers, got dtype {arr.dtype}")
            out.append(("array", _to_tuple(arr.tolist())))
        else:
            raise ShapeError(f"unsupported index {item!r}: use ints, slices, None, ... or integer arrays")
    return tuple(out)


def _opt_int(v: Any) -> int | None:
    if v is None:
        return None
    if not isinstance(v, (int, np.integer)):
        raise ShapeError(f"slice bounds must be ints, got {v!r}")
    return int(v)


def _to_tuple(v: Any) -> Any:
    return tuple(_to_tuple(x) for x in v) if isinstance(v, list) else v


def decode_index(key: tuple) -> tuple:
    """encode_index's data back to a NumPy index."""
    out: list[Any] = []
    for item in key:
        if item == "...":
            out.append(Ellipsis)
        elif isinstance(item, (tuple, list)) and item and item[0] == "slice":
            out.append(slice(*item[1:]))
        elif isinstance(item, (tuple, list)) and item and item[0] == "array":
            out.append(np.array(item[1], dtype=np.intp))
        else:
            out.append(item)
    return tuple(out)


def _normalize_index(attrs: dict) -> dict:
    attrs["index"] = canonical_index(attrs["index"])
    return attrs


def canonical_index(key: Any) -> tuple:
    """encode_index's data (or its JSON lists) checked and as tuples; rejects anything else."""
    if not isinstance(key, (list, tuple)):
        raise ShapeError(f"an index must be a list of items, got {type(key).__name__}")
    out: list[Any] = []
    for item in key:
        if item is None or item == "..." or (isinstance(item, int) and not isinstance(item, bool)):
            out.append(item)
        elif isinstance(item, (list, tuple)) and len(item) == 4 and item[0] == "slice":
            out.append(("slice", *(_opt_int(v) for v in item[1:])))
        elif isinstance(item, (list, tuple)) and len(item) == 2 and item[0] == "array":
            arr = np.asarray(item[1])
            if arr.dtype.kind not in "iu" and arr.size:
                raise ShapeError(f"index arrays must hold integers, got {item[1]!r}")
            out.append(("array", _to_tuple(arr.astype(np.intp).tolist())))
        else:
            raise ShapeError(f"unsupported index item {item!r}")
    return tuple(out)


def _getitem_shape(x: Shape, index: tuple, shown: str | None = None) -> Shape:
    """NumPy's shape of x[index] from the shape alone: no array of shape x is made, as the sizes
    partial shapes probe with may be too big for one. An index out of range is a ShapeError, naming
    the index as `shown` (default its repr)."""
    shown = repr(index) if shown is None else shown
    used = sum(1 for item in index if item is not None and item is not Ellipsis)
    if used > len(x) or sum(1 for item in index if item is Ellipsis) > 1:
        raise ShapeError(f"index {shown} does not fit shape {x}: too many indices, or more than one '...'")
    with_arrays = any(isinstance(item, np.ndarray) and item.ndim for item in index)
    out: list[int] = []
    advanced: list[tuple[np.ndarray, int, int]] = []  # arrays, and ints beside them: (values, size, axis)
    first = 0
    positions: list[int] = []  # of the advanced items in the index ('...' is one item, even if empty)
    axis = 0
    for k, item in enumerate(index):
        if item is None:
            out.append(1)
        elif item is Ellipsis:
            out.extend(x[axis : axis + len(x) - used])
            axis += len(x) - used
        elif isinstance(item, slice):
            out.append(len(range(*item.indices(x[axis]))))
            axis += 1
        else:
            values = np.asarray(item)
            if not values.ndim:  # an int is checked whatever else the index holds
                _check_bounds(values, x[axis], axis, x, shown)
            if with_arrays:
                first = first if positions else len(out)
                positions.append(k)
                advanced.append((values, x[axis], axis))
            axis += 1
    out.extend(x[axis:])
    if positions:
        try:
            shape = broadcast_shapes(*(values.shape for values, _, _ in advanced))
        except ValueError:
            raise ShapeError(f"index {shown}: its index arrays do not broadcast together") from None
        if math.prod(shape):  # NumPy reads no index array when the result is empty, so checks none
            for values, size, at in advanced:
                _check_bounds(values, size, at, x, shown)
        place = first if positions == list(range(positions[0], positions[-1] + 1)) else 0
        out[place:place] = shape  # NumPy puts the indexed axes first when others part them
    return tuple(out)


def _check_bounds(values: np.ndarray, size: int, axis: int, x: Shape, shown: str) -> None:
    if values.size and (int(values.max()) >= size or int(values.min()) < -size):
        raise ShapeError(f"index {shown} does not fit shape {x}: out of bounds for axis {axis} (size {size})")


def _scatter_add_impl(g: Any, like: Any, index: tuple) -> np.ndarray:
    out = np.zeros(np.shape(like), dtype=np.result_type(g))
    np.add.at(out, index, g)  # repeated indices add up, as the chain rule says
    return out


_INDEX = {"index": ()}
_prepare_index = lambda a: {"index": decode_index(a["index"])}  # noqa: E731

getitem = register(
    "getitem",
    lambda x, index: np.asarray(x)[index],
    shape=lambda x, index: _getitem_shape(x, decode_index(index)),
    dtype=lambda x, **_: np.result_type(x),
    grad=lambda g, out, x, index: [scatter_like(g, x, index=index)],
    arity=1,
    attrs=_INDEX,
    normalize=_normalize_index,
    prepare=_prepare_index,
    hint="slice",
)
scatter_like = register(
    "scatter_like",
    _scatter_add_impl,
    shape=lambda g, like, index: like,
    dtype=lambda g, like, **_: np.result_type(g),
    grad=lambda gg, out, g, like, index: [getitem(gg, index=index), None],
    shape_of=1,
    arity=2,
    attrs=_INDEX,
    normalize=_normalize_index,
    prepare=_prepare_index,
    aliases=(),
    dask=False,
)


# ---- indexing with index arrays as inputs (eager mode's x[np.arange(n), y]) -------------------
# The index arrays are op inputs, not attributes: a loop whose index changes every step records
# one structure, so autograd reuses one backward plan. `index` is encode_index's data with an
# ('input', k) item where the k-th index array goes.


def split_index(items: tuple, of: Any = None) -> tuple[tuple, list[np.ndarray]]:
    """A NumPy index as (template with ('input', k) items, the integer index arrays); `of` as encode_index's."""
    template: list[Any] = []
    arrays: list[np.ndarray] = []
    for item in items:
        if isinstance(item, (list, np.ndarray)):
            arr = index_array(item, of)
            if arr.dtype == bool:
                if arr.ndim != 1:
                    raise ShapeError("only 1-d boolean masks can be used as indices")
                arr = np.nonzero(arr)[0]
            if arr.dtype.kind not in "iu" and arr.size:
                raise ShapeError(f"index arrays must hold integers, got dtype {arr.dtype}")
            template.append(("input", len(arrays)))
            arrays.append(arr.astype(np.intp, copy=False))
        else:
            template.extend(encode_index((item,), of))
    return tuple(template), arrays


def _with_arrays(template: tuple, arrays: Sequence[Any]) -> tuple:
    """The NumPy index: the template decoded, with its ('input', k) items replaced by arrays[k]."""
    return tuple(
        arrays[item[1]] if isinstance(item, tuple) and item[0] == "input" else decoded
        for item, decoded in zip(template, decode_index(template))
    )


def _shown_with_index(op: str, kept: int) -> Any:
    """shown_as for an op whose inputs after the first `kept` are index arrays: as `op` with them in
    its index attribute, when all are constants (as x[np.array([0, 2])] builds them)."""

    def shown(inputs: tuple, attrs: dict) -> tuple[str, tuple, dict] | None:
        arrays = inputs[kept:]
        if not all(a.op == CONST for a in arrays):
            return None
        index = encode_index(_with_arrays(attrs["index"], [a.attrs["value"] for a in arrays]))
        return op, inputs[:kept], {"index": index}

    return shown


def _normalize_template(attrs: dict) -> dict:
    key = attrs["index"]
    if not isinstance(key, (list, tuple)):
        raise ShapeError(f"an index must be a list of items, got {type(key).__name__}")
    out: list[Any] = []
    for item in key:
        is_input = isinstance(item, (list, tuple)) and len(item) == 2 and item[0] == "input"
        if is_input and isinstance(item[1], int) and not isinstance(item[1], bool) and item[1] >= 0:
            out.append(("input", item[1]))
        else:
            out.extend(canonical_index([item]))
    attrs["index"] = tuple(out)
    return attrs


def _gather_shape(x: Shape, *array_shapes: Shape, index: tuple) -> Shape:
    """The shape rule sees the index arrays' shapes only: it probes with zeros, and names them by shape."""
    probes = [np.broadcast_to(np.intp(0), s) for s in array_shapes]
    items = _with_arrays(index, [f"<index array of shape {s}>" for s in array_shapes])
    shown = "(" + ", ".join(item if isinstance(item, str) else repr(item) for item in items) + ")"
    return _getitem_shape(x, _with_arrays(index, probes), shown=shown)


def check_index(name: str, shape: Shape | None, template: tuple, arrays: Sequence[np.ndarray]) -> None:
    """A ShapeError naming the indexed symbol now, while the graph is built, when known index arrays
    do not fit its known shape (the shape rule sees only the arrays' shapes: it could not tell)."""
    if shape is not None:
        try:
            _getitem_shape(shape, _with_arrays(template, arrays))
        except ShapeError as exc:
            raise ShapeError(f"indexing {name!r}: {exc}") from None


def _scatter_arrays_impl(g: Any, like: Any, *arrays: Any, index: tuple) -> np.ndarray:
    out = np.zeros(np.shape(like), dtype=np.result_type(g))
    np.add.at(out, _with_arrays(index, arrays), g)  # repeated indices add up, as the chain rule says
    return out


getitem_arrays = register(
    "getitem_arrays",
    lambda x, *arrays, index: np.asarray(x)[_with_arrays(index, arrays)],
    shape=_gather_shape,
    dtype=lambda x, *_, **__: np.result_type(x),
    grad=lambda g, out, x, *arrays, index: [scatter_arrays(g, x, *arrays, index=index)] + [None] * len(arrays),
    arity=None,
    attrs=_INDEX,
    normalize=_normalize_template,
    hint="slice",
    aliases=(),  # an index array makes NumPy copy
    shown_as=_shown_with_index("getitem", 1),
)
scatter_arrays = register(
    "scatter_arrays",
    _scatter_arrays_impl,
    shape=lambda g, like, *arrays, index: like,
    dtype=lambda g, like, *_, **__: np.result_type(g),
    grad=lambda gg, out, g, like, *arrays, index: (
        [getitem_arrays(gg, *arrays, index=index), None] + [None] * len(arrays)
    ),
    shape_of=1,
    arity=None,
    attrs=_INDEX,
    normalize=_normalize_template,
    aliases=(),
    dask=False,
    shown_as=_shown_with_index("scatter_like", 2),
)


def _setitem_impl(x: Any, value: Any, index: tuple) -> np.ndarray:
    out = np.array(x, dtype=np.result_type(x, value), copy=True)
    out[index] = value
    return out


def _setitem_shape(x: Shape, value: Shape, index: tuple) -> Shape:
    target = _getitem_shape(x, decode_index(index))
    try:
        broadcast_to_check = broadcast_shapes(value, target)
    except ValueError:
        raise ShapeError(f"cannot assign shape {value} to the indexed part of shape {target}") from None
    if broadcast_to_check != target:
        raise ShapeError(f"cannot assign shape {value} to the indexed part of shape {target}")
    return x


setitem = register(
    "setitem",
    _setitem_impl,
    shape=_setitem_shape,
    dtype=lambda x, value, **_: np.result_type(x, value),
    grad=lambda g, out, x, value, index: [
        setitem(g, 0, index=index),
        sum_like(getitem(g, index=index), value),
    ],
    shape_of=0,
    arity=2,
    attrs=_INDEX,
    normalize=_normalize_index,
    prepare=_prepare_index,
    aliases=(),
    dask=False,
)


# ---- MXNet's indexing ops: slice_axis, pick, one_hot ------------------------------


def _axis_slice(axis: int, begin: int, end: int | None) -> tuple:
    """The index data of x[..., begin:end, ...] on `axis` (a negative axis counts from the right)."""
    part = ("slice", begin, end, None)
    full = ("slice", None, None, None)
    return (full,) * axis + (part,) if axis >= 0 else ("...", part) + (full,) * (-axis - 1)


def _slice_axis_shape(x: Shape, axis: int, begin: int, end: int | None) -> Shape:
    (a,) = positive_axes((axis,), len(x))
    size = x[a]
    start = begin + size if begin < 0 else begin
    stop = size if end is None else end + size if end < 0 else end
    if not 0 <= start < stop <= size:
        raise ShapeError(f"begin={begin}, end={end} is not a slice of axis {axis} (size {size}); need begin < end")
    return x[:a] + (stop - start,) + x[a + 1 :]


def _slice_axis_impl(x: Any, axis: int, begin: int, end: int | None) -> Any:
    _slice_axis_shape(np.shape(x), axis, begin, end)  # MXNet refuses a slice NumPy would clip
    return x[decode_index(_axis_slice(axis, begin, end))]


def _normalize_slice_axis(attrs: dict) -> dict:
    attrs = normalize_single_axis(attrs)
    for key in ("begin", "end"):
        if attrs[key] is not None and not _is_int(attrs[key]):
            raise SymgradError(f"{key} must be an int or None, got {attrs[key]!r}")
    if attrs["begin"] is None:
        attrs["begin"] = 0  # MXNet accepts None for begin as the start
    return attrs


slice_axis = register(
    "slice_axis",
    _slice_axis_impl,
    shape=_slice_axis_shape,
    dtype=lambda x, **_: np.result_type(x),
    grad=lambda g, out, x, axis, begin, end: [scatter_like(g, x, index=_axis_slice(axis, begin, end))],
    arity=1,
    attrs={"axis": 0, "begin": 0, "end": None},
    normalize=_normalize_slice_axis,
    method=True,
    aliases=(0,),
)


def _pick_positions(data: Any, index: Any, axis: int, mode: str) -> np.ndarray:
    a = indexed_axis(np.ndim(data), axis)
    idx = index_in_range(index, np.shape(data)[a], mode)
    return idx.reshape(np.shape(data)[:a] + (1,) + np.shape(data)[a + 1 :])


def _pick_impl(data: Any, index: Any, axis: int, keepdims: bool, mode: str) -> np.ndarray:
    out = np.take_along_axis(np.asarray(data), _pick_positions(data, index, axis, mode), axis=axis)
    return out if keepdims else np.squeeze(out, axis=axis)


def _pick_shape(data: Shape, index: Shape, axis: int, keepdims: bool, mode: str) -> Shape:
    a = indexed_axis(len(data), axis)
    kept = data[:a] + (1,) + data[a + 1 :]
    if math.prod(index) != math.prod(kept) or tuple(d for d in index if d != 1) != tuple(d for d in kept if d != 1):
        raise ShapeError(f"index of shape {index} does not fit data {data} picked along axis {axis}")
    return kept if keepdims else data[:a] + data[a + 1 :]


def _normalize_pick(attrs: dict) -> dict:
    if attrs["mode"] not in ("clip", "wrap"):
        raise SymgradError(f"mode must be 'clip' or 'wrap', got {attrs['mode']!r}")
    if not isinstance(attrs["keepdims"], (bool, np.bool_)) and attrs["keepdims"] not in (0, 1):
        raise SymgradError(f"keepdims must be True or False, got {attrs['keepdims']!r}")
    return {**normalize_single_axis(attrs), "keepdims": bool(attrs["keepdims"])}


def _pick_scatter_impl(g: Any, data: Any, index: Any, axis: int, keepdims: bool, mode: str) -> np.ndarray:
    out = np.zeros(np.shape(data), dtype=np.result_type(g))
    positions = _pick_positions(data, index, axis, mode)
    np.put_along_axis(out, positions, np.reshape(g, positions.shape), axis=axis)
    return out


_PICK_ATTRS = {"axis": -1, "keepdims": False, "mode": "clip"}
pick = register(
    "pick",
    _pick_impl,
    shape=_pick_shape,
    dtype=lambda data, index, **_: np.result_type(data),
    grad=lambda g, out, data, index, **attrs: [pick_scatter(g, data, index, **attrs), None],
    arity=2,
    attrs=_PICK_ATTRS,
    normalize=_normalize_pick,
    elementwise=False,
    aliases=(),
    shown_as=shown_with_index_values("pick", "index", 1),
)
pick_scatter = register(
    "pick_scatter",
    _pick_scatter_impl,
    shape=lambda g, data, index, **_: data,
    dtype=lambda g, data, index, **_: np.result_type(g),
    grad=lambda gg, out, g, data, index, **attrs: [pick(gg, index, **attrs), None, None],
    shape_of=1,
    arity=3,
    attrs=_PICK_ATTRS,
    normalize=_normalize_pick,
    elementwise=False,
    aliases=(),
    shown_as=shown_with_index_values("pick_scatter", "index", 2),
)


def _one_hot_impl(indices: Any, depth: int, on_value: float, off_value: float, dtype: str) -> np.ndarray:
    idx = np.asarray(indices).astype(np.int64)[..., None]
    return np.where(idx == np.arange(depth), on_value, off_value).astype(dtype)  # out of range: all off_value


def _normalize_one_hot(attrs: dict) -> dict:
    if not _is_int(attrs["depth"]) or attrs["depth"] < 0:
        raise SymgradError(f"depth must be a non-negative int, got {attrs['depth']!r}")
    for key in ("on_value", "off_value"):
        if isinstance(attrs[key], bool) or not isinstance(attrs[key], (int, float, np.number)):
            raise SymgradError(f"{key} must be a number, got {attrs[key]!r}")
    attrs["depth"] = int(attrs["depth"])
    attrs["dtype"] = np.dtype(attrs["dtype"]).name
    return attrs


one_hot = register(
    "one_hot",
    _one_hot_impl,
    shape=lambda indices, depth, **_: indices + (depth,),
    dtype=lambda indices, dtype, **_: np.dtype(dtype),
    grad=lambda g, out, indices, **_: [None],
    arity=1,
    attrs={"depth": 0, "on_value": 1.0, "off_value": 0.0, "dtype": "float32"},
    normalize=_normalize_one_hot,
    elementwise=False,
    aliases=(),
    nondiff=True,
)


# ---- MXNet's gather_nd: indices' first axis indexes data's leading axes ---------------------------


def _gather_nd_index(indices: Any) -> tuple:
    """The NumPy index of gather_nd: indices (M, ...) truncated to ints, row k for data's axis k."""
    return tuple(np.asarray(indices).astype(np.int64))


def _gather_nd_shape(data: Shape, indices: Shape) -> Shape:
    if not indices or not 1 <= indices[0] <= len(data):
        raise ShapeError(f"indices {indices} must have a first axis of 1 to {len(data)} (data's leading axes)")
    return indices[1:] + data[indices[0] :]


def _gather_nd_scatter_impl(g: Any, like: Any, indices: Any) -> np.ndarray:
    out = np.zeros(np.shape(like), dtype=np.result_type(g))
    np.add.at(out, _gather_nd_index(indices), g)  # an element gathered twice gets both gradients
    return out


gather_nd = register(
    "gather_nd",
    lambda data, indices: np.asarray(data)[_gather_nd_index(indices)],
    shape=_gather_nd_shape,
    dtype=lambda data, indices: np.result_type(data),
    grad=lambda g, out, data, indices: [gather_nd_scatter(g, data, indices), None],
    arity=2,
    elementwise=False,
    aliases=(),
)
gather_nd_scatter = register(
    "gather_nd_scatter",
    _gather_nd_scatter_impl,
    shape=lambda g, like, indices: like,
    dtype=lambda g, like, indices: np.result_type(g),
    grad=lambda gg, out, g, like, indices: [gather_nd(gg, indices), None, None],
    shape_of=1,
    arity=3,
    elementwise=False,
    aliases=(),
    dask=False,
)
