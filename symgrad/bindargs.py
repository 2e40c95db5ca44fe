"""What `bind` accepts, checked once for the Executor and the DaskExecutor."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import BindError


def as_array(value: Any, name: str, python_dtype: Any = None) -> np.ndarray:
    """The NumPy array bound as argument `name` (an NDArray's own, by reference as MXNet binds it),
    refusing what is not real numbers; Python data (lists, numbers) in python_dtype when given."""
    if hasattr(value, "_is_ndarray"):
        value = value._data
    dtype = python_dtype if isinstance(value, (list, tuple, int, float)) and not isinstance(value, bool) else None
    try:
        arr = np.asarray(value, dtype=dtype)
    except ValueError as exc:  # a ragged list
        raise BindError(f"argument {name!r} is not a rectangular array: {exc}") from None
    if arr.dtype.kind == "c":
        raise BindError(f"argument {name!r} is complex ({arr.dtype}); symgrad computes with real arrays")
    if arr.dtype.kind not in "biuf":
        raise BindError(f"argument {name!r} has dtype {arr.dtype}; give a real numeric array")
    return arr


def per_arg(value: Any, names: list[str], what: str) -> dict[str, Any]:
    """A dict or a list of values per argument as {name: value}, refusing names that are not arguments."""
    if value is None:
        return {}
    if isinstance(value, dict):
        extra = [k for k in value if k not in names]
        if extra:
            raise BindError(f"{what}: {extra[0]!r} is not an argument of the symbol; arguments: {names}")
        return dict(value)
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise BindError(f"{what}: {len(value)} arrays for {len(names)} arguments {names}")
        return dict(zip(names, value))
    raise BindError(f"{what} must be a dict or a list, got {type(value).__name__}")


def bound_args(args: Any, names: list[str]) -> dict[str, Any]:
    """bind's arguments as {name: value}, one for each of the symbol's arguments."""
    given = per_arg(args, names, "bind")
    missing = [n for n in names if n not in given]
    if missing:
        raise BindError(f"bind: no array for argument {missing[0]!r}; expected {names}")
    return given
