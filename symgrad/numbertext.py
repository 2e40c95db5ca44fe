"""Numbers as printed text: 4, 0.5, 2/3, x/50, and a float32 as float32 reads it (0.2, not 0.2000000029...)."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np

from .graph import CONST, Symbol


def format_number(v: Any) -> str:
    """Compact text for a number: 4, 0.5, -0.02, inf, nan; a float32 as float32 reads it (0.2, not 0.2000000029...)."""
    if isinstance(v, (bool, np.bool_)):
        return str(int(v))
    kind = type(v) if isinstance(v, np.floating) and v.dtype.itemsize < 8 else float  # the float the value is
    v = v.item() if isinstance(v, np.generic) else v
    if isinstance(v, float):
        if v != v:
            return "nan"
        if v in (float("inf"), float("-inf")):
            return "inf" if v > 0 else "-inf"
        if v == 0 and math.copysign(1.0, v) < 0:
            return "-0.0"  # not "0": x/-0.0 is -inf
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        fraction = small_fraction(v, kind=kind)
        text = repr(v) if kind is float else str(kind(v))  # NumPy's shortest text that reads back as that float32
        return f"{fraction[0]}/{fraction[1]}" if fraction and len(text) > 8 else text  # 2/3, not 0.666...
    return str(v)


def small_fraction(v: float, largest: int = 1000, kind: type = float) -> tuple[int, int] | None:
    """(p, q) with q <= largest when v is the `kind` float (double, float32) nearest p/q (0.02 is 1/50), else None."""
    if not math.isfinite(v) or v == 0:
        return None
    fraction = Fraction(float(str(kind(v))) if kind is not float else v).limit_denominator(largest)
    p, q = fraction.numerator, fraction.denominator
    return (p, q) if q > 1 and abs(p) < largest * q and kind(p / q) == kind(v) else None


def format_const(value: Any) -> str:
    if not isinstance(value, np.ndarray):
        return format_number(value)
    if value.ndim == 0:
        return format_number(value.item())
    if value.size and np.all(value == value.flat[0]):
        v = value.flat[0]  # a NumPy scalar: a float32 prints as float32 reads it
        if v == 1:
            return f"ones({value.shape})"
        if v == 0:
            return f"zeros({value.shape})"
        return f"full({value.shape}, {format_number(v)})"
    if value.size <= 8:
        return f"array({np.array2string(value, separator=', ')})"
    return f"array<{value.shape}, {value.dtype}>"


def narrow_number(node: Symbol, within: Symbol | None) -> np.floating | None:
    """node's value as a float32 (or float16) when node is a Python float `within` a node of that dtype:
    NumPy computes with it rounded so (0.02*x for a float32 x is float32(0.02)*x, printed 0.02, not 0.0199999995...)."""
    if within is None or within.dtype is None or within.dtype.kind != "f" or within.dtype.itemsize >= 8:
        return None
    if node.op != CONST or node.dtype is not None or not isinstance(node.attrs["value"], float):
        return None
    return within.dtype.type(node.attrs["value"])


def reciprocal(node: Symbol, within: Symbol | None = None) -> int | None:
    """n when node is the weak scalar constant 1/n for an integer |n| > 1 that is not a power of 2
    (0.02 is 1/50, 0.5 stays 0.5: a binary fraction reads as well as a decimal), as float32 within a float32 node."""
    if node.op != CONST or node.dtype is not None or not isinstance(node.attrs["value"], float):
        return None
    narrow = narrow_number(node, within)
    kind = float if narrow is None else type(narrow)
    fraction = small_fraction(node.attrs["value"], largest=10**6, kind=kind)
    if not fraction or abs(fraction[0]) != 1 or fraction[1] & (fraction[1] - 1) == 0:
        return None
    return fraction[1] * fraction[0]
