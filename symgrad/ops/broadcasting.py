"""Broadcasting of shapes, known or partly known (a rank with sizes left to bind).

`partial_shape` gives what is known of an op's output shape from what is known of its
inputs', with the op's own shape rule run on probe sizes. Below the registry, which uses it
for every node it builds.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import ShapeError, describe_origin

Shape = tuple[int, ...]


def broadcast_shapes(*shapes: Shape) -> Shape:
    """NumPy broadcasting of shapes; raises ValueError naming them."""
    first = shapes[0]
    if shapes.count(first) == len(shapes):
        return first
    ndim = max(len(s) for s in shapes)
    out = []
    for axis in range(ndim):
        size = 1
        for s in shapes:
            d = s[axis - ndim + len(s)] if axis >= ndim - len(s) else 1
            if d != 1:
                if size not in (1, d):
                    raise ValueError(f"cannot broadcast shapes {', '.join(map(str, shapes))}")
                size = d
        out.append(size)
    return tuple(out)


def broadcast_partial(*shapes: tuple) -> tuple:
    """Broadcasting of shapes with None for sizes left to bind, each assumed not to be 1 (checked
    at bind, PyTensor's static broadcastable flags): None against n is n, None against None is None."""
    ndim = max(len(s) for s in shapes)
    out = []
    for axis in range(ndim):
        size: int | None = 1
        for s in shapes:
            d = s[axis - ndim + len(s)] if axis >= ndim - len(s) else 1
            if d == 1 or d == size:
                continue
            if size == 1 or size is None:
                size = d if d is not None or size == 1 else size
            elif d is not None:
                raise ValueError(f"cannot broadcast shapes {', '.join(map(str, shapes))}")
        out.append(size)
    return tuple(out)


# Two sizes an op's shape rule cannot mistake for real ones: a size left to bind is run as each
# (every open size the same, so rules that compare sizes agree; each divisible by the small
# numbers, so rules that divide sizes accept them), and what the rule gives both times is known,
# what follows the probe is left open, anything else (a product) is not known.
_PROBES = (720_720_000, 4_324_320_000)
_REFUSED: Any = object()  # what _probed gives when the rule refuses the probes


def partial_shape(opdef: Any, partials: Sequence[Any], attrs: dict[str, Any], name: str | None, origin: Any) -> Any:
    """What is known of a node's shape from its inputs' partial shapes (see Symbol.partial_shape);
    None when its rank is not known either. A size left open is assumed not to be 1."""
    if opdef.shape is elementwise_shape:
        try:
            return broadcast_partial(*partials)
        except ValueError as exc:
            raise ShapeError(
                f"{opdef.name} {name!r}: {exc} (None: a size left to bind, assumed not 1)" + describe_origin(origin)
            ) from None
    sizes = _probed(opdef.shape, partials, attrs)
    if sizes is not _REFUSED:
        return sizes
    # A rule comparing an open size with a known one (dot's inner sizes) refuses the probe: each
    # open size in turn takes each known size; one the rule then accepts is that size, as an
    # open size is not 1.
    known = sorted({d for s in partials for d in s if d is not None and d != 1})
    for i, s in enumerate(partials):
        for axis, d in enumerate(s):
            for size in known if d is None else ():
                fixed = [*partials[:i], s[:axis] + (size,) + s[axis + 1 :], *partials[i + 1 :]]
                sizes = _probed(opdef.shape, fixed, attrs)
                if sizes is not _REFUSED:
                    return sizes
    return None


def _probed(rule: Any, partials: Sequence[Any], attrs: dict[str, Any]) -> Any:
    """The shape rule run with each open size as each probe: the sizes it gives both times are
    known, those following the probe open; None when a size follows neither, _REFUSED when the
    rule refuses the probes."""
    runs = []
    for probe in _PROBES:
        try:
            runs.append(tuple(rule(*[tuple(probe if d is None else d for d in s) for s in partials], **attrs)))
        except Exception:  # noqa: BLE001 - a rule refusing a probe size says only that the shape is not known
            return _REFUSED
    first, second = runs
    if len(first) != len(second):
        return None
    sizes = []
    for d1, d2 in zip(first, second):
        if d1 == d2:
            sizes.append(int(d1))
        elif (d1, d2) == _PROBES:
            sizes.append(None)
        else:
            return None  # a size computed from an open one (a product, a difference) may be 1
    return None if _differs_when_small(rule, partials, attrs, sizes) else tuple(sizes)


def _differs_when_small(rule: Any, partials: Sequence[Any], attrs: dict[str, Any], sizes: list) -> bool:
    """Whether a size both probes agree on is another with each open size 2, the least it may be: a
    slice of an open axis (x[-1:2] is empty for every big size, one element for 2) depends on the
    size only when it is small, and taking it as known would build a gradient for the wrong shape."""
    if not any(None in s for s in partials):
        return False
    try:
        small = tuple(rule(*[tuple(2 if d is None else d for d in s) for s in partials], **attrs))
    except Exception:  # noqa: BLE001 - a rule refusing size 2 (a window wider than that) says nothing here
        return False
    return len(small) != len(sizes) or any(d is not None and d != e for d, e in zip(sizes, small))


def partial_parameter_shapes(param_shapes: Any, data: tuple, attrs: dict[str, Any]) -> dict[str, tuple]:
    """What data's partial shape says of a layer's parameter shapes (FullyConnected's weight
    (4, 784) and label (None,) for data (None, 784)), as MXNet's infer_shape_partial gives them."""
    try:
        keys = list(param_shapes(tuple(_PROBES[0] if d is None else d for d in data), **attrs))
    except Exception:  # noqa: BLE001 - a rule refusing a probe size says only that nothing is known
        return {}
    known = {}
    for key in keys:
        sizes = _probed(lambda shape, _key=key, **kw: param_shapes(shape, **kw)[_key], [data], attrs)
        if sizes is not None and sizes is not _REFUSED:
            known[key] = sizes
    return known


def elementwise_shape(*shapes: Shape, **_: Any) -> Shape:
    return broadcast_shapes(*shapes)
