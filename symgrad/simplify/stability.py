"""Stability rewrites: log1p, expm1, softplus, log_softmax, logsumexp (on by default)."""

from __future__ import annotations

from ..graph import Symbol
from ..ops import elementwise as ew
from ..ops import indexing as idx
from ..ops import nn
from ..ops import reduction as red
from .core import (
    Simplifier,
    _identity_const,
    rewrites,
)


@rewrites("log")
def log_stability(node: Symbol, s: Simplifier) -> Symbol | None:
    """log(1 + x) -> log1p(x), log(sigmoid(x)) -> -softplus(-x), log(1 - sigmoid(x)) -> -softplus(x),
    log(softmax) -> log_softmax (picked entries too: pick only selects, so log(pick(s, i)) is
    pick(log(s), i)), log(sum(exp(x))) -> logsumexp(x)"""
    (x,) = node.inputs
    if x.op == "add":
        a, b = x.inputs
        for one, rest in ((a, b), (b, a)):
            if _identity_const(one, rest, 1):
                return ew.log1p(rest)
    if x.op == "sigmoid":
        return ew.negative(ew.softplus(ew.negative(x.inputs[0])))
    if x.op == "subtract" and x.inputs[1].op == "sigmoid" and _identity_const(x.inputs[0], x.inputs[1], 1):
        # binary cross-entropy's other half: 1 - sigmoid(x) = sigmoid(-x), which is 0 in float32 from x = 17
        return ew.negative(ew.softplus(x.inputs[1].inputs[0]))
    if x.op == "softmax":
        return nn.log_softmax(x.inputs[0], axis=x.attrs["axis"])
    if x.op == "pick" and x.inputs[0].op == "softmax":
        probabilities, index = x.inputs
        return idx.pick(nn.log_softmax(probabilities.inputs[0], axis=probabilities.attrs["axis"]), index, **x.attrs)
    if x.op == "sum" and x.inputs[0].op == "exp":
        return red.logsumexp(x.inputs[0].inputs[0], axis=x.attrs["axis"], keepdims=x.attrs["keepdims"])
    return None


@rewrites("subtract", needs=("exp",))
def expm1_stability(node: Symbol, s: Simplifier) -> Symbol | None:
    """exp(x) - 1 -> expm1(x)"""
    a, b = node.inputs
    if a.op == "exp" and _identity_const(b, a, 1):
        return ew.expm1(a.inputs[0])
    return None


@rewrites("add", needs=("exp",))
def expm1_stability_add(node: Symbol, s: Simplifier) -> Symbol | None:
    """exp(x) + (-1) -> expm1(x)"""
    a, b = node.inputs
    if a.op == "exp" and _identity_const(b, a, -1):
        return ew.expm1(a.inputs[0])
    return None
