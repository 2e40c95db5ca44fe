"""Special functions MXNet has: gamma, gammaln, erfinv, and the polygamma functions their gradients need
(digamma is polygamma(x, n=0)). SciPy's vectorised versions when it is installed; otherwise forms
built on the math module and NumPy alone, accurate to a few ulps (tests/test_optional_deps.py).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import sympy as sp

from ..errors import SymgradError
from .elementwise import _unary, erf_without_scipy, exp, square
from .registry import float_dtype, register
from .shape import _is_int


def _per_element(function: Any, at_pole: Any) -> Any:
    """A math-module function of one float applied to every element, at_pole(x) where it raises."""

    def safe(x: float) -> float:
        try:
            return function(x)
        except (ValueError, OverflowError):
            return at_pole(x)

    vectorised = np.frompyfunc(safe, 1, 1)
    return lambda x: np.asarray(vectorised(np.asarray(x)), dtype=float_dtype(np.result_type(x)))


def _gamma_pole(x: float) -> float:
    """C's tgamma where math.gamma raises: +-inf at zero (the sign of the zero) and past 171.6, NaN at -1, -2, ..."""
    if x == 0:
        return math.copysign(math.inf, x)
    return math.inf if x > 0 else math.nan


gamma_without_scipy = _per_element(math.gamma, _gamma_pole)
gammaln_without_scipy = _per_element(math.lgamma, lambda x: math.inf)  # lgamma's poles: +inf, as C's

# The Bernoulli numbers B_2, B_4, ..., B_16 of the polygamma functions' asymptotic series
_BERNOULLI = [1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510]


def polygamma_without_scipy(n: int, x: Any) -> np.ndarray:
    """The n-th derivative of digamma: recurrence up to x >= 12, then the asymptotic series (about 1e-15)."""
    x = np.asarray(x, dtype=np.float64)
    sign, fact = (-1.0) ** (n + 1), math.factorial(n)
    total = np.zeros_like(x)
    poles = (x <= 0) & (x == np.floor(x))
    y = np.where(poles | ~np.isfinite(x), 20.0, x)
    while True:  # psi_n(y) = psi_n(y + 1) - (-1)**n n! / y**(n+1)
        low = y < 12
        if not low.any():
            break
        total = np.where(low, total - (-1.0) ** n * fact / y ** (n + 1), total)
        y = np.where(low, y + 1, y)
    if n == 0:
        series = np.log(y) - 0.5 / y
    else:
        series = sign * (math.factorial(n - 1) / y**n + fact / (2 * y ** (n + 1)))
    for k, b in enumerate(_BERNOULLI, start=1):
        # d^n/dy^n of -B_2k/(2k y^2k) = ... = sign * B_2k (2k+n-1)!/(2k)! / y^(2k+n)
        coefficient = b * math.factorial(2 * k + n - 1) / math.factorial(2 * k)
        series = series - coefficient / y ** (2 * k) if n == 0 else series + sign * coefficient / y ** (2 * k + n)
    out = series + total
    if n == 0:  # SciPy's values at the poles: -inf at +0, +inf at -0, NaN at -1, -2, ...
        pole = np.where(x == 0, np.where(np.signbit(x), np.inf, -np.inf), np.nan)
    else:
        pole = np.inf if n % 2 else -np.inf
    out = np.where(poles, pole, out)
    out = np.where(x == np.inf, np.inf if n == 0 else 0.0, out)
    return np.where(np.isnan(x) | (x == -np.inf), np.nan, out)


_erfc = _per_element(math.erfc, lambda x: math.nan)


def erfinv_without_scipy(y: Any) -> np.ndarray:
    """erf's inverse: Giles' single-precision approximation, then Newton steps on libm's erf."""
    y = np.asarray(y)
    dtype = float_dtype(y.dtype)
    y = y.astype(np.float64)
    inside = np.abs(y) < 1
    w = -np.log(np.where(inside, (1 - y) * (1 + y), 1.0))
    central, tail = w - 2.5, np.sqrt(w) - 3.0
    p_central = np.polyval(
        [2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
         -0.00417768164, 0.246640727, 1.50140941], central,
    )  # fmt: skip
    p_tail = np.polyval(
        [-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
         0.00943887047, 1.00167406, 2.83297682], tail,
    )  # fmt: skip
    x = np.where(w < 5, p_central, p_tail) * y
    slope = 2 / math.sqrt(math.pi)  # erf'(x) = slope*exp(-x^2)
    tails = inside & (np.abs(y) > 0.5)
    for _ in range(3):  # Newton on erf(x) = y near 0
        x = np.where(inside & ~tails, x - (erf_without_scipy(x) - y) / (slope * np.exp(-x * x)), x)
    # Near +-1, Newton on log(erfc(|x|)) = log(1 - |y|): 1 - |y| is exact there, erf(x) near +-1 is not,
    # and erfc is nearly exp(-x^2), so its log is nearly a parabola (quadratic convergence from Giles' start)
    far, target = np.abs(x), np.log(np.where(tails, 1 - np.abs(y), 1.0))
    for _ in range(6):
        rest = _erfc(far)
        far = np.where(tails, far + (np.log(rest) - target) * rest / (slope * np.exp(-far * far)), far)
    x = np.where(tails, np.sign(y) * far, x)
    edge = np.where(y == 1, np.inf, np.where(y == -1, -np.inf, np.nan))
    return np.where(inside, x, edge).astype(dtype)


try:  # SciPy is optional: vectorised C, far faster than the per-element fallbacks
    from scipy import special as _scipy_special
except ImportError:
    _scipy_special = None

if _scipy_special is not None:
    _gamma, _gammaln, _erfinv = _scipy_special.gamma, _scipy_special.gammaln, _scipy_special.erfinv

    def _polygamma(x: Any, n: int) -> np.ndarray:
        return np.asarray(_scipy_special.polygamma(n, x), dtype=float_dtype(np.result_type(x)))
else:
    _gamma, _gammaln, _erfinv = gamma_without_scipy, gammaln_without_scipy, erfinv_without_scipy

    def _polygamma(x: Any, n: int) -> np.ndarray:
        return polygamma_without_scipy(n, x).astype(float_dtype(np.result_type(x)))


def _normalize_order(attrs: dict) -> dict:
    if not _is_int(attrs["n"]) or attrs["n"] < 0:
        raise SymgradError(f"n must be a non-negative int (the derivative's order), got {attrs['n']!r}")
    return {"n": int(attrs["n"])}


polygamma = register(
    "polygamma",
    _polygamma,
    grad=lambda g, out, x, n: [g * polygamma(x, n=n + 1)],
    sympy=lambda x, n: sp.polygamma(n, x),
    dtype=lambda x, **_: float_dtype(x),
    arity=1,
    attrs={"n": 0},
    normalize=_normalize_order,
    elementwise=True,
    method=True,
    aliases=(),
)
gamma = _unary("gamma", _gamma, lambda g, out, x: [g * out * polygamma(x)], sp.gamma)
gammaln = _unary("gammaln", _gammaln, lambda g, out, x: [g * polygamma(x)], sp.loggamma)
erfinv = _unary("erfinv", _erfinv, lambda g, out, x: [g * (math.sqrt(math.pi) / 2) * exp(square(out))], sp.erfinv)
