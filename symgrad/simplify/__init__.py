"""Graph simplification: small local rewrite rules to a fixed point, with CSE.

Each rule is a small function keyed by op that returns a replacement Symbol or None.
A rule fires only when it keeps values (up to rounding), shape, dtype, and where NaN
and Inf appear; rules that hold only for finite values (`x*0 -> 0`, `x - x -> 0`,
`x/x -> 1`) are marked `finite=True` and run only under `assume_finite=True`.
Stability rewrites (`log(1 + x) -> log1p(x)`, ...) run by default: they agree with
the naive form wherever it is finite and accurate.

The pass visits each node once bottom-up; rewritten nodes are normalised again, and
every result is interned by (op, attrs, inputs) so equal subexpressions become one
node (CSE). A work budget keeps the cost linear in graph size.

Modules: `core` (the rule table, the fixed-point pass with CSE, helpers for rules),
then one per rule family, tried in this order: `arithmetic`, `plumbing` (the shape
helpers autodiff emits), `stability`.
"""

from . import arithmetic, plumbing, stability  # noqa: F401 - registering their rules is the point
from .core import RULES, Report, Rule, Simplifier, rewrites, simplify, simplify_all

__all__ = ["RULES", "Report", "Rule", "Simplifier", "rewrites", "simplify", "simplify_all"]
