"""Elementwise ops: arithmetic, comparisons, math functions, where, clip, maximum.

Conventions at the edges (the README's table): abs'(0) = 0, sign' = 0, relu'(0) = 0,
maximum/minimum send a tie's gradient to the second argument (a constant operand is
moved second, so `maximum(0, x)` and `maximum(x, 0)` agree with relu), clip passes
gradient strictly inside its bounds, and x**y has finite gradients at x = 0 where the
function is smooth. `where` gradients are masked by autodiff (see autodiff.py).
"""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np
import sympy as sp

from ..errors import SymgradError
from ..graph import Symbol, is_const, scalar_value
from .layer_args import check_number
from .registry import OPS, apply, float_dtype, register, same_dtype


def _sym_where(c: Any, a: Any, b: Any) -> Any:
    pieces = c.args if isinstance(c, sp.Piecewise) else ()
    if len(pieces) == 2 and pieces[0].expr == 1 and pieces[1] == (0, sp.true):
        return sp.Piecewise((a, pieces[0].cond), (b, True))  # a comparison's 0/1: SymPy fails on Ne(Piecewise, 0)
    return sp.Piecewise((a, sp.Ne(c, 0)), (b, True))


def _compare(ufunc: np.ufunc):
    def impl(a: Any, b: Any) -> np.ndarray:
        dtype = getattr(a, "dtype", None)
        if dtype is None or dtype.kind != "f" or getattr(b, "dtype", dtype) != dtype:
            dtype = float_dtype(np.result_type(a, b))  # the common case above skips this lookup
        return np.asarray(ufunc(a, b), dtype=dtype)

    return impl


def _compare_sympy(relation: Any):
    return lambda a, b: sp.Piecewise((1, relation(a, b)), (0, True))


# ---- arithmetic --------------------------------------------------------------
add = register(
    "add",
    np.add,
    grad=lambda g, out, a, b: [g, g],
    sympy=lambda a, b: a + b,
    dtype=same_dtype,
    arity=2,
    hint="_plus",
    operator=operator.add,
    sympy_simplify=True,
)
subtract = register(
    "subtract",
    np.subtract,
    grad=lambda g, out, a, b: [g, negative(g)],
    sympy=lambda a, b: a - b,
    arity=2,
    hint="_minus",
    operator=operator.sub,
    sympy_simplify=True,
)
multiply = register(
    "multiply",
    np.multiply,
    grad=lambda g, out, a, b: [g * b, g * a],
    sympy=lambda a, b: a * b,
    arity=2,
    hint="_mul",
    operator=operator.mul,
    sympy_simplify=True,
)
divide = register(
    "divide",
    np.true_divide,
    grad=lambda g, out, a, b: [g / b, negative(g * out / b)],
    sympy=lambda a, b: a / b,
    dtype=float_dtype,
    arity=2,
    hint="_div",
    operator=operator.truediv,
    sympy_simplify=True,
)


def _mod_impl(a: Any, b: Any) -> np.ndarray:
    """MXNet's mod (its `%`): the remainder with the divisor's sign, as np.mod, and 0 where b is 0 (not NaN)."""
    zero = np.equal(b, 0)
    return np.where(zero, 0, np.mod(a, np.where(zero, 1, b))).astype(np.result_type(a, b), copy=False)


mod = register(
    "mod",
    _mod_impl,
    grad=lambda g, out, a, b: [g, negative(g * floor(a / b))],  # a - b*floor(a/b), floor's jumps aside
    sympy=lambda a, b: sp.Mod(a, b),  # not from_sympy: SymPy's Mod(a, 0) is NaN, MXNet's mod 0
    arity=2,
    hint="_mod",
    aliases=(),
)


def _power_grad(g: Symbol, out: Symbol, a: Symbol, b: Symbol) -> list:
    c = scalar_value(b)
    if c is not None:
        # d/da a**c = c*a**(c-1); for c == 0 the function is constant (and 0*0**-1 would be NaN).
        return [None if c == 0 else g * (c * a ** (c - 1) if c != 1 else 1), None]
    # masked as where is (0 whatever g holds, as PyTorch): a**0 is constant in a, and 0**y is flat in y for
    # y >= 0 (y < 0 gives 0**y*log(0) = -inf)
    return [where(b == 0, 0, g * (b * a ** (b - 1))), where(where(a == 0, b >= 0, 0), 0, g * (out * log(a)))]


def _square(x: Any, _two: Any, out: Any = None) -> Any:
    return np.square(x, out=out)


def _numpy_square(node: Symbol) -> Any:
    """power(x, 2) of a float array as np.square: x*x, the same values at a third of pow's cost."""
    x, e = node.inputs
    if scalar_value(e) != 2 or node.dtype is None or node.dtype.kind != "f" or x.dtype != node.dtype:
        return None
    return _square


power = register(
    "power",
    np.power,
    grad=_power_grad,
    sympy=lambda a, b: a**b,
    dtype=same_dtype,
    arity=2,
    hint="_power",
    numpy_kernel=_numpy_square,
    sympy_simplify=True,
)

negative = register(
    "negative",
    np.negative,
    grad=lambda g, out, x: [negative(g)],
    sympy=lambda x: -x,
    arity=1,
    operator=operator.neg,
    sympy_simplify=True,
)

# ---- comparisons (0/1 values in the inputs' float dtype, no gradient) ---------
_COMPARISONS = {
    "greater": (np.greater, sp.StrictGreaterThan),
    "greater_equal": (np.greater_equal, sp.GreaterThan),
    "less": (np.less, sp.StrictLessThan),
    "less_equal": (np.less_equal, sp.LessThan),
    "equal": (np.equal, sp.Eq),
    "not_equal": (np.not_equal, sp.Ne),
}
for _name, (_ufunc, _relation) in _COMPARISONS.items():
    _comparison = register(
        _name,
        _compare(_ufunc),
        grad=lambda g, out, a, b: [None, None],
        sympy=_compare_sympy(_relation),
        dtype=lambda a, b: float_dtype(a, b),
        arity=2,
        aliases=(),
        nondiff=True,
    )

# ---- unary math ---------------------------------------------------------------


def _unary(
    name: str, impl: Any, grad: Any, sympy: Any, hint: str | None = None, dtype: Any = float_dtype, **fields: Any
) -> Any:
    """A unary math op: float results (unless dtype says), x.<name>(), a new array; fields are more register() flags."""
    return register(
        name, impl, grad=grad, sympy=sympy, dtype=dtype, arity=1, method=True, hint=hint, aliases=(), **fields
    )


exp = _unary("exp", np.exp, lambda g, out, x: [g * out], sp.exp, sympy_simplify=True)
log = _unary("log", np.log, lambda g, out, x: [g / x], sp.log, sympy_simplify=True)
log2 = _unary("log2", np.log2, lambda g, out, x: [g / (x * math.log(2))], lambda x: sp.log(x, 2))
log1p = _unary("log1p", np.log1p, lambda g, out, x: [g / (1 + x)], lambda x: sp.log(1 + x))
expm1 = _unary("expm1", np.expm1, lambda g, out, x: [g * exp(x)], lambda x: sp.exp(x) - 1)
cbrt = _unary(
    "cbrt", np.cbrt, lambda g, out, x: [g / (3 * out * out)], lambda x: sp.sign(x) * sp.Abs(x) ** sp.Rational(1, 3)
)
sqrt = _unary("sqrt", np.sqrt, lambda g, out, x: [g / (2 * out)], sp.sqrt, sympy_simplify=True)
# square, abs and sign keep integer dtypes, as NumPy does (np.sign(int32) is int32)
square = _unary(
    "square", np.square, lambda g, out, x: [g * (2 * x)], lambda x: x**2, dtype=same_dtype, sympy_simplify=True
)
abs = _unary("abs", np.abs, lambda g, out, x: [g * sign(x)], sp.Abs, dtype=same_dtype, sympy_simplify=True)  # noqa: A001 - the op's name
sign = _unary("sign", np.sign, lambda g, out, x: [None], sp.sign, dtype=same_dtype, nondiff=True, sympy_simplify=True)
sin = _unary("sin", np.sin, lambda g, out, x: [g * cos(x)], sp.sin, sympy_simplify=True)
cos = _unary("cos", np.cos, lambda g, out, x: [negative(g * sin(x))], sp.cos, sympy_simplify=True)
tan = _unary("tan", np.tan, lambda g, out, x: [g * (1 + out**2)], sp.tan, sympy_simplify=True)
tanh = _unary("tanh", np.tanh, lambda g, out, x: [g * (1 - out**2)], sp.tanh, sympy_simplify=True)
sinh = _unary("sinh", np.sinh, lambda g, out, x: [g * cosh(x)], sp.sinh, sympy_simplify=True)
cosh = _unary("cosh", np.cosh, lambda g, out, x: [g * sinh(x)], sp.cosh, sympy_simplify=True)
arcsin = _unary("arcsin", np.arcsin, lambda g, out, x: [g / sqrt(1 - x * x)], sp.asin, sympy_simplify=True)
arccos = _unary("arccos", np.arccos, lambda g, out, x: [negative(g / sqrt(1 - x * x))], sp.acos, sympy_simplify=True)
arctan = _unary("arctan", np.arctan, lambda g, out, x: [g / (1 + x * x)], sp.atan, sympy_simplify=True)

arcsinh = _unary("arcsinh", np.arcsinh, lambda g, out, x: [g / sqrt(x * x + 1)], sp.asinh, sympy_simplify=True)
arccosh = _unary("arccosh", np.arccosh, lambda g, out, x: [g / sqrt(x * x - 1)], sp.acosh, sympy_simplify=True)
arctanh = _unary("arctanh", np.arctanh, lambda g, out, x: [g / (1 - x * x)], sp.atanh, sympy_simplify=True)
log10 = _unary("log10", np.log10, lambda g, out, x: [g / (x * math.log(10))], lambda x: sp.log(x, 10))
degrees = _unary("degrees", np.degrees, lambda g, out, x: [g * (180 / math.pi)], lambda x: x * 180 / sp.pi)
radians = _unary("radians", np.radians, lambda g, out, x: [g * (math.pi / 180)], lambda x: x * sp.pi / 180)
# MXNet's reciprocals; 1/x as a division, so an integer input gives floats (np.reciprocal of 2 is 0)
reciprocal = _unary(
    "reciprocal", lambda x: np.true_divide(1, x), lambda g, out, x: [negative(g * out * out)], lambda x: 1 / x
)
rsqrt = _unary("rsqrt", lambda x: 1 / np.sqrt(x), lambda g, out, x: [g * (-0.5 * out**3)], lambda x: 1 / sp.sqrt(x))
rcbrt = _unary(
    "rcbrt",
    lambda x: 1 / np.cbrt(x),
    lambda g, out, x: [negative(g * out**4) / 3],
    lambda x: 1 / (sp.sign(x) * sp.Abs(x) ** sp.Rational(1, 3)),
)
softsign = _unary(
    "softsign", lambda x: x / (1 + np.abs(x)), lambda g, out, x: [g / square(1 + abs(x))], lambda x: x / (1 + sp.Abs(x))
)


def _round_half_away(x: Any) -> np.ndarray:
    """MXNet's round (C's round): halves away from zero, 2.5 -> 3 and -0.5 -> -1 (NumPy's rounds to even)."""
    whole = np.trunc(x)
    return np.where(np.abs(x - whole) >= 0.5, whole + np.sign(x), whole)  # x - trunc(x) is exact


def _rint_half_down(x: Any) -> np.ndarray:
    """MXNet's rint: the nearer of floor and ceil, a tie to floor (2.5 -> 2, -2.5 -> -3), not NumPy's to even."""
    low, high = np.floor(x), np.ceil(x)
    return np.where(x - low <= high - x, low, high)


def _rounding(name: str, impl: Any, sympy: Any) -> Any:
    """A rounding op: piecewise constant, so no gradient (MXNet's is zero too); integers stay as they are
    (MXNet keeps the dtype; NumPy 1's floor of an int array is float64)."""

    def kernel(x: Any) -> np.ndarray:
        x = np.asarray(x)
        return x.copy() if x.dtype.kind in "biu" else impl(x)

    return _unary(name, kernel, lambda g, out, x: [None], sympy, dtype=same_dtype, nondiff=True)


round = _rounding("round", _round_half_away, lambda x: sp.sign(x) * sp.floor(sp.Abs(x) + sp.Rational(1, 2)))  # noqa: A001
rint = _rounding(
    "rint",
    _rint_half_down,
    lambda x: sp.Piecewise((sp.floor(x), x - sp.floor(x) <= sp.ceiling(x) - x), (sp.ceiling(x), True)),
)
floor = _rounding("floor", np.floor, sp.floor)
ceil = _rounding("ceil", np.ceil, sp.ceiling)
trunc = _rounding("trunc", np.trunc, lambda x: sp.sign(x) * sp.floor(sp.Abs(x)))  # MXNet's fix too
logical_not = _unary(
    "logical_not",
    lambda x: np.asarray(np.equal(x, 0), dtype=np.result_type(x)),
    lambda g, out, x: [None],
    lambda x: sp.Piecewise((1, sp.Eq(x, 0)), (0, True)),
    dtype=same_dtype,  # as MXNet: 0/1 in the input's dtype
    nondiff=True,
)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # exp(-log(1 + exp(-x))) never overflows: logaddexp is stable at both ends.
    return np.exp(-np.logaddexp(0, -x))


sigmoid = _unary("sigmoid", _sigmoid, lambda g, out, x: [g * (out * (1 - out))], lambda x: 1 / (1 + sp.exp(-x)))
softplus = _unary(
    "softplus", lambda x: np.logaddexp(0, x), lambda g, out, x: [g * sigmoid(x)], lambda x: sp.log(1 + sp.exp(x))
)
relu = _unary(
    "relu",
    lambda x: np.maximum(x, 0),
    lambda g, out, x: [where(x > 0, g, 0)],
    lambda x: sp.Max(x, 0),
    dtype=lambda x: same_dtype(x, 0),  # as np.maximum(x, 0): relu of int32 is int32
)

_erf_per_element = np.frompyfunc(math.erf, 1, 1)


def erf_without_scipy(x: Any) -> np.ndarray:
    """erf through math.erf element by element: libm's accuracy, any shape, the input's float dtype."""
    x = np.asarray(x)
    # frompyfunc gives an object array (a bare float for 0-d input), so convert explicitly.
    return np.asarray(_erf_per_element(x), dtype=float_dtype(x.dtype))


try:  # SciPy is optional: its erf is vectorised C, about 30x faster than the per-element fallback.
    from scipy.special import erf as _erf_impl
except ImportError:
    _erf_impl = erf_without_scipy


erf = _unary(
    "erf",
    _erf_impl,
    lambda g, out, x: [g * (2 / math.sqrt(math.pi)) * exp(negative(x * x))],
    sp.erf,
    sympy_simplify=True,
)

# ---- selection ----------------------------------------------------------------


def _where_impl(c: Any, a: Any, b: Any) -> np.ndarray:
    return np.where(c, a, b)


where = register(
    "where",
    _where_impl,
    grad=lambda g, out, c, a, b: [None, where(c, g, 0), where(c, 0, g)],
    sympy=_sym_where,
    dtype=lambda c, a, b: same_dtype(a, b),
    arity=3,
    aliases=(),
)


def _constant_valued(node: Symbol) -> bool:
    """A constant, an array of one value whatever the inputs (zeros_like(x), broadcast_to(0, s)), or
    an output with no gradient (x > 0, sign(x)): eager mode cannot tell those from constants."""
    opdef = OPS.get(node.op)
    if is_const(node) or (opdef is not None and (opdef.constant or opdef.nondiff)):
        return True
    return opdef is not None and opdef.tiling == "spread" and is_const(node.inputs[0])


def _swap_constant_first(opdef_builder: Any):
    # maximum(0, x) is built as maximum(x, 0): a tie's gradient goes to the second
    # argument, so every spelling of relu gets relu's convention.
    def builder(a: Any, b: Any, name: str | None = None) -> Symbol:
        if not isinstance(a, Symbol) or (_constant_valued(a) and isinstance(b, Symbol) and not _constant_valued(b)):
            a, b = b, a
        return apply(opdef_builder.opdef, (a, b), {}, name)

    builder.__name__ = opdef_builder.__name__
    builder.opdef = opdef_builder.opdef
    builder.__doc__ = opdef_builder.__doc__
    return builder


maximum = _swap_constant_first(
    register(
        "maximum",
        np.maximum,
        grad=lambda g, out, a, b: [where(a > b, g, 0), where(a > b, 0, g)],
        sympy=sp.Max,
        arity=2,
    )
)
minimum = _swap_constant_first(
    register(
        "minimum",
        np.minimum,
        grad=lambda g, out, a, b: [where(a < b, g, 0), where(a < b, 0, g)],
        sympy=sp.Min,
        arity=2,
    )
)


def _clip_grad(g: Symbol, out: Symbol, x: Symbol, a_min: Any = None, a_max: Any = None) -> list:
    inside = None
    if a_min is not None:
        inside = x > a_min
    if a_max is not None:
        below = x < a_max
        inside = below if inside is None else inside * below
    return [g if inside is None else where(inside, g, 0)]


def _clip_sympy(x: Any, a_min: Any = None, a_max: Any = None) -> Any:
    if a_min is not None:
        x = sp.Max(x, a_min)
    if a_max is not None:
        x = sp.Min(x, a_max)
    return x


def _clip_attrs(attrs: dict) -> dict:
    for key in ("a_min", "a_max"):
        bound = attrs[key]
        if bound is not None and (
            isinstance(bound, (bool, np.bool_)) or not isinstance(bound, (int, float, np.number))
        ):
            raise SymgradError(f"clip: {key} must be a number or None, got {bound!r}")
    return attrs


clip = register(
    "clip",
    lambda x, a_min=None, a_max=None: np.clip(x, a_min, a_max) if (a_min, a_max) != (None, None) else np.array(x),
    grad=_clip_grad,
    sympy=_clip_sympy,
    dtype=lambda x, a_min=None, a_max=None: same_dtype(x, *[b for b in (a_min, a_max) if b is not None]),  # as np.clip
    arity=1,
    attrs={"a_min": None, "a_max": None},
    normalize=_clip_attrs,
    elementwise=True,
    method=True,
    aliases=(),
)


# ---- MXNet's hard_sigmoid and smooth_l1: piecewise, with attributes ------------------------------


def _hard_sigmoid_attrs(attrs: dict) -> dict:
    check_number(attrs, "alpha", "beta")
    return attrs


def _hard_sigmoid_grad(g: Symbol, out: Symbol, x: Symbol, alpha: float, beta: float) -> list:
    line = alpha * x + beta  # the gradient is alpha strictly inside (0, 1), as MXNet's
    return [where(where(line > 0, line < 1, 0), g * alpha, 0)]


hard_sigmoid = register(
    "hard_sigmoid",
    lambda x, alpha, beta: np.clip(alpha * x + beta, 0, 1),
    grad=_hard_sigmoid_grad,
    sympy=lambda x, alpha, beta: sp.Min(sp.Max(alpha * x + beta, 0), 1),
    dtype=lambda x, **_: float_dtype(x),
    arity=1,
    attrs={"alpha": 0.2, "beta": 0.5},
    normalize=_hard_sigmoid_attrs,
    elementwise=True,
    method=True,
    aliases=(),
)


def _smooth_l1_attrs(attrs: dict) -> dict:
    check_number(attrs, "scalar")
    if attrs["scalar"] <= 0:
        raise SymgradError(f"smooth_l1: scalar (sigma) must be positive, got {attrs['scalar']!r}")
    return attrs


def _smooth_l1_impl(x: Any, scalar: float) -> np.ndarray:
    s2 = scalar * scalar
    quadratic = np.abs(x) <= 1 / s2  # MXNet's: |x| - 0.5/s2 only where |x| > 1/s2
    return np.where(quadratic, 0.5 * s2 * np.square(x), np.abs(x) - 0.5 / s2)


def _smooth_l1_grad(g: Symbol, out: Symbol, x: Symbol, scalar: float) -> list:
    s2 = scalar * scalar
    return [where(abs(x) <= 1 / s2, g * (s2 * x), g * sign(x))]


smooth_l1 = register(
    "smooth_l1",
    _smooth_l1_impl,
    grad=_smooth_l1_grad,
    sympy=lambda x, scalar: sp.Piecewise(
        (scalar**2 * x**2 / 2, sp.Abs(x) <= 1 / scalar**2), (sp.Abs(x) - 1 / (2 * scalar**2), True)
    ),
    dtype=lambda x, **_: float_dtype(x),
    arity=1,
    attrs={"scalar": 1.0},
    normalize=_smooth_l1_attrs,
    elementwise=True,
    method=True,
    aliases=(),
)


def _cast_attrs(attrs: dict) -> dict:
    """dtype as its NumPy name (JSON-safe, one spelling per dtype); real dtypes only."""
    if attrs["dtype"] is None:
        raise SymgradError("cast needs a dtype, as in cast(x, dtype='float32')")
    try:
        dtype = np.dtype(attrs["dtype"])
    except TypeError:
        raise SymgradError(f"cast: {attrs['dtype']!r} is not a NumPy dtype") from None
    if dtype.kind not in "biuf":
        raise SymgradError(f"cast: symgrad computes with bool, integer and float arrays, not {dtype}")
    return {"dtype": dtype.name}


def _cast_grad(g: Symbol, out: Symbol, x: Symbol, dtype: str) -> list:
    if np.dtype(dtype).kind != "f":
        return [None]  # integer or bool values carry no gradient, whatever x's dtype
    if x.dtype is None:
        return [g]
    return [cast(g, dtype=x.dtype.name)] if x.dtype.kind == "f" else [None]


cast = register(
    "cast",
    lambda x, dtype: np.asarray(x).astype(dtype),
    grad=_cast_grad,
    sympy=lambda x, dtype: x,
    dtype=lambda x, dtype: np.dtype(dtype),
    arity=1,
    attrs={"dtype": None},
    normalize=_cast_attrs,
    hint="cast",
    aliases=(),
)


def _cast_like_impl(g: Any, like: Any) -> np.ndarray:
    dtype = np.result_type(like)
    return np.asarray(g).astype(dtype, copy=False) if dtype.kind == "f" else np.asarray(g)


cast_like = register(
    "cast_like",
    _cast_like_impl,
    shape=lambda g, like: g,
    dtype=lambda g, like: np.result_type(like) if np.result_type(like).kind == "f" else np.result_type(g),
    grad=lambda gg, out, g, like: [gg, None],  # the dtype is set where a gradient reaches its variable
    sympy=lambda g, like: g,
    shape_of=0,
    arity=2,
    elementwise=True,
    aliases=(0,),
    hint="cast",
    sympy_simplify=True,
)  # g in like's float dtype: a gradient keeps its variable's dtype when that is known only at bind


def _astype(x: Symbol, dtype: Any) -> Symbol:
    """x.astype(dtype) is cast(x, dtype=dtype), as in MXNet."""
    return cast(x, dtype=dtype)


Symbol.astype = _astype

stop_gradient = register(
    "stop_gradient",
    lambda x: x,
    grad=lambda g, out, x: [None],
    sympy=sp.Function("stop_gradient"),
    arity=1,
    method=True,
)
identity = register(
    "identity",
    lambda x: np.array(x, copy=True),  # MXNet's identity (_copy): a new array with x's values
    grad=lambda g, out, x: [g],
    sympy=lambda x: x,
    arity=1,
    aliases=(),
    sympy_simplify=True,
)
zeros_like = register(
    "zeros_like",
    np.zeros_like,
    grad=lambda g, out, x: [None],
    sympy=lambda x: sp.Integer(0) * x,
    arity=1,
    aliases=(),
    nondiff=True,  # eager mode need not record it
    constant=True,
)
ones_like = register(
    "ones_like",
    np.ones_like,
    grad=lambda g, out, x: [None],
    sympy=lambda x: sp.Integer(0) * x + 1,
    arity=1,
    aliases=(),
    nondiff=True,  # eager mode need not record it
    constant=True,
)
