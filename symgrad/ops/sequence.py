"""MXNet's SequenceMask, SequenceLast and SequenceReverse over padded batches of sequences.

data is (T, B, ...) for axis=0 or (B, T, ...) for axis=1; with use_sequence_length=True the
input sequence_length (B,) gives each sequence's length (truncated to an int, as MXNet reads it),
else every sequence is T long. The kernels work on the (T, B, ...) layout.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ShapeError, SymgradError
from ..graph import Symbol
from .layer_args import check_flag, check_number, layer_node
from .registry import Shape, register


def _sequence_attrs(attrs: dict) -> dict:
    attrs = dict(attrs)
    check_flag(attrs, "use_sequence_length")
    if "value" in attrs:
        check_number(attrs, "value")
    if attrs["axis"] not in (0, 1) or isinstance(attrs["axis"], bool):
        raise SymgradError(f"axis must be 0 (data (T, B, ...)) or 1 (data (B, T, ...)), got {attrs['axis']!r}")
    attrs["axis"] = int(attrs["axis"])
    return attrs


def _inputs(attrs: dict) -> tuple[str, ...]:
    return ("data", "sequence_length") if attrs["use_sequence_length"] else ("data",)


def _batch(data: Shape, axis: int) -> int:
    if len(data) < 2:
        raise ShapeError(f"data must have a time and a batch axis (2-d or more), got {len(data)}-d")
    return data[1 - axis]


def _check(data: Shape, length: tuple[Shape, ...], axis: int) -> None:
    if length and length[0] != (_batch(data, axis),):
        raise ShapeError(f"sequence_length has shape {length[0]}, expected ({_batch(data, axis)},): one per sequence")


def _params(data: Shape, axis: int, **_: Any) -> dict[str, Shape]:
    return {"sequence_length": (_batch(data, axis),)}


def _time_first(x: Any, axis: int) -> np.ndarray:
    """x as (T, B, ...) (a view)."""
    return np.moveaxis(np.asarray(x), axis, 0)


def _lengths(length: tuple, steps: int, batch: int) -> np.ndarray:
    """Each sequence's length as an int (truncated, as MXNet reads them), T for every one when none are given."""
    return np.asarray(length[0]).astype(np.int64) if length else np.full(batch, steps)


def _column(v: np.ndarray, ndim: int) -> np.ndarray:
    """A (T, B) array shaped to broadcast against (T, B, ...) data."""
    return v.reshape(v.shape + (1,) * (ndim - 2))


def _sequence_op(name: str, impl: Any, shape: Any, grad: Any, attrs: dict, **more: Any) -> Any:
    """register(...) for a Sequence* layer: MXNet's inputs, attribute checks, the data's dtype."""
    return register(
        name,
        impl,
        shape=shape,
        dtype=lambda data, *_, **__: np.result_type(data),
        grad=grad,
        arity=None,
        attrs=attrs,
        normalize=_sequence_attrs,
        elementwise=False,
        inputs=_inputs,
        param_shapes=_params,
        hint=name.lower(),
        **more,
    )


# ---- SequenceMask -------------------------------------------------------------------------------------


def _mask_impl(data: Any, *length: Any, use_sequence_length: bool, value: float, axis: int) -> np.ndarray:
    x = _time_first(data, axis)
    steps, batch = x.shape[:2]
    keep = np.arange(steps)[:, None] < _lengths(length, steps, batch)[None, :]
    out = np.where(_column(keep, x.ndim), x, np.asarray(value).astype(x.dtype))
    return np.ascontiguousarray(np.moveaxis(out, 0, axis))


def _mask_shape(data: Shape, *length: Shape, axis: int, **_: Any) -> Shape:
    _check(data, length, axis)
    return data


_MASK_DEFAULTS = {"use_sequence_length": False, "value": 0.0, "axis": 0}
SequenceMask = _sequence_op(
    "SequenceMask",
    _mask_impl,
    _mask_shape,
    # the masked entries get exactly 0, whatever g holds there (a where, never g * mask)
    lambda g, out, data, *length, **attrs: (
        [layer_node("SequenceMask", g, *length, **{**attrs, "value": 0.0})] + [None] * len(length)
    ),
    _MASK_DEFAULTS,
    shape_of=0,
)


# ---- SequenceLast -------------------------------------------------------------------------------------


def _last_steps(x: np.ndarray, length: tuple) -> np.ndarray:
    """The index of each sequence's last step, checked to be inside the data (MXNet reads past it)."""
    steps, batch = x.shape[:2]
    lengths = _lengths(length, steps, batch)
    bad = (lengths < 1) | (lengths > steps)
    if bad.any():
        raise SymgradError(f"SequenceLast: sequence_length {lengths[bad][0]} is outside 1..{steps} (the time axis)")
    return lengths - 1


def _last_impl(data: Any, *length: Any, use_sequence_length: bool, axis: int) -> np.ndarray:
    x = _time_first(data, axis)
    return x[_last_steps(x, length), np.arange(x.shape[1])]


def _last_shape(data: Shape, *length: Shape, axis: int, **_: Any) -> Shape:
    _check(data, length, axis)
    return tuple(n for a, n in enumerate(data) if a != axis)


def _last_scatter_impl(g: Any, data: Any, *length: Any, use_sequence_length: bool, axis: int) -> np.ndarray:
    """SequenceLast's gradient: g at each sequence's last step, 0 elsewhere."""
    x = _time_first(data, axis)
    out = np.zeros(x.shape, dtype=np.result_type(g))
    out[_last_steps(x, length), np.arange(x.shape[1])] = g
    return np.ascontiguousarray(np.moveaxis(out, 0, axis))


def _last_grad(g: Symbol, out: Symbol, data: Symbol, *length: Symbol, **attrs: Any) -> list:
    return [sequence_last_scatter(g, data, *length, **attrs)] + [None] * len(length)


_LAST_DEFAULTS = {"use_sequence_length": False, "axis": 0}
SequenceLast = _sequence_op("SequenceLast", _last_impl, _last_shape, _last_grad, _LAST_DEFAULTS)
sequence_last_scatter = register(
    "sequence_last_scatter",
    _last_scatter_impl,
    shape=lambda g, data, *length, **_: data,
    dtype=lambda g, *_, **__: np.result_type(g),
    grad=lambda h, out, g, data, *length, **attrs: (
        [layer_node("SequenceLast", h, *length, **attrs), None] + [None] * len(length)
    ),
    arity=None,
    attrs=_LAST_DEFAULTS,
    elementwise=False,
    shape_of=1,
)


# ---- SequenceReverse ----------------------------------------------------------------------------------


def _reverse_impl(data: Any, *length: Any, use_sequence_length: bool, axis: int) -> np.ndarray:
    """Each sequence's first `length` steps in reverse order; the padding after them stays in place."""
    x = _time_first(data, axis)
    steps, batch = x.shape[:2]
    lengths = np.minimum(_lengths(length, steps, batch), steps)[None, :]
    t = np.arange(steps)[:, None]
    source = np.where(t < lengths, lengths - 1 - t, t)  # (T, B)
    out = x[source, np.arange(batch)[None, :]]
    return np.ascontiguousarray(np.moveaxis(out, 0, axis))


SequenceReverse = _sequence_op(
    "SequenceReverse",
    _reverse_impl,
    _mask_shape,
    # a permutation that is its own inverse, so its own transpose
    lambda g, out, data, *length, **attrs: [layer_node("SequenceReverse", g, *length, **attrs)] + [None] * len(length),
    _LAST_DEFAULTS,
    shape_of=0,
)
