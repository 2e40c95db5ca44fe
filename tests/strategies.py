"""Hypothesis strategies: random well-shaped symgrad graphs over two inputs, x (3, 4) and v (4,)."""

import numpy as np
from hypothesis import strategies as st

from symgrad import sym

SHAPES = {"x": (3, 4), "v": (4,)}

# Unary ops that are smooth everywhere on the reals (or made so), keeping FD checks meaningful.
UNARY = [
    sym.sin,
    sym.cos,
    sym.tanh,
    sym.sigmoid,
    sym.softplus,
    sym.arctan,
    sym.erf,
    lambda a: sym.exp(sym.tanh(a)),
    lambda a: sym.log(a * a + 1),
    lambda a: sym.sqrt(a * a + 1),
    lambda a: sym.log1p(sym.exp(a)),
    lambda a: a * a,
    lambda a: -a,
    lambda a: 2.5 * a,
    lambda a: a / 3,
]
BINARY = [
    lambda a, b: a + b,
    lambda a, b: a - b,
    lambda a, b: a * b,
    lambda a, b: a / (b * b + 1),
    lambda a, b: sym.where(a > b, a * b, a + b),
    lambda a, b: sym.maximum(a, b) + sym.minimum(a, b),
]


def _reduce_or_shape(a, draw):
    """A shape-changing step that keeps a (3, 4)-broadcastable result."""
    choice = draw(st.integers(0, 12))
    if choice == 8:
        return sym.norm(a, axis=1, keepdims=True)
    if choice == 9:
        return sym.max(a, axis=0, keepdims=True) + sym.min(a, axis=1, keepdims=True)
    if choice == 10:
        return sym.sum(sym.stack([a, a * 2], axis=0), axis=0)
    if choice == 11:
        return sym.clip(a, -0.5, 0.5) + sym.prod(a * 0.1 + 1, axis=1, keepdims=True)
    if choice == 12:
        return sym.expand_dims(sym.squeeze(sym.reshape(a, shape=(3, 1, 4)), axis=1), axis=0)[0]
    if choice == 0:
        return sym.sum(a, axis=0, keepdims=True)
    if choice == 1:
        return sym.mean(a, axis=1, keepdims=True)
    if choice == 2:
        return sym.softmax(a, axis=draw(st.sampled_from([0, 1])))
    if choice == 3:
        return sym.log_softmax(a, axis=1)
    if choice == 4:
        return sym.logsumexp(a, axis=0)
    if choice == 5:
        return sym.reshape(sym.transpose(sym.reshape(a, shape=(4, 3))), shape=(3, 4))
    if choice == 6:
        return a[np.array([0, 2, 2])][np.array([1, 0, 2])]
    return sym.concat([a[:, :2], a[:, 2:]], axis=1)


@st.composite
def graphs(draw, max_steps=6):
    """(scalar loss Symbol, elementwise-only flag) built from x (3, 4) and v (4,)."""
    x, v = sym.var("x", shape=SHAPES["x"]), sym.var("v", shape=SHAPES["v"])
    pool = [x, v, sym.dot(x, v), sym.matmul(x, sym.reshape(v, shape=(4, 1)))]
    elementwise = True
    for _ in range(draw(st.integers(1, max_steps))):
        kind = draw(st.integers(0, 2))
        a = draw(st.sampled_from(pool))
        if kind == 0:
            pool.append(draw(st.sampled_from(UNARY))(a))
        elif kind == 1:
            b = draw(st.sampled_from(pool))
            try:
                pool.append(draw(st.sampled_from(BINARY))(a, b))
            except Exception:  # noqa: BLE001 - shapes that do not broadcast: skip this step
                continue
        elif a.shape == SHAPES["x"]:
            pool.append(_reduce_or_shape(a, draw))
            elementwise = False
    out = pool[-1]
    return sym.sum(out * out) + sym.sum(x) * 0.1 + sym.sum(v * v) * 0.1, elementwise


@st.composite
def scalar_functions(draw, max_steps=4):
    """A scalar elementwise expression of t, for comparisons with SymPy's diff."""
    t = sym.var("t")
    pool = [t]
    smooth = [sym.sin, sym.cos, sym.exp, sym.tanh, sym.arctan, lambda a: a * a, lambda a: 3 * a, lambda a: a + 2]
    for _ in range(draw(st.integers(1, max_steps))):
        if draw(st.booleans()) or len(pool) == 1:
            pool.append(draw(st.sampled_from(smooth))(draw(st.sampled_from(pool))))
        else:
            a, b = draw(st.sampled_from(pool)), draw(st.sampled_from(pool))
            pool.append(draw(st.sampled_from([lambda p, q: p + q, lambda p, q: p * q, lambda p, q: p - q]))(a, b))
    return pool[-1]


def inputs(seed):
    rng = np.random.default_rng(seed)
    return {name: rng.uniform(-1.5, 1.5, shape) for name, shape in SHAPES.items()}
