"""Hypothesis strategies: random well-shaped symgrad graphs built from every op.

A drawn graph is a `Recipe`: a list of steps, each a function of an op namespace
(`sym` or `nd`) and earlier values, so the same graph can be built symbolically,
recorded eagerly, and shown step by step when Hypothesis reports a failing example.
Shapes are tracked by building the Symbol graph while drawing (static shape inference),
so every step is valid by construction; domains are kept valid by construction too:
log/sqrt only see positive expressions (x*x + 1, exp(.), sigmoid(.)), arcsin/arccos
only |.| < 1, and exp/sinh/cosh/tan only bounded arguments (tanh(.)).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from symgrad import sym

NAMES = ("x", "y", "z")

# ---- elementwise steps: (text with {a} and {b}, builder(m, a[, b])) -------------------------

SMOOTH_UNARY = [
    ("sin({a})", lambda m, a: m.sin(a)),
    ("cos({a})", lambda m, a: m.cos(a)),
    ("tanh({a})", lambda m, a: m.tanh(a)),
    ("arctan({a})", lambda m, a: m.arctan(a)),
    ("sigmoid({a})", lambda m, a: m.sigmoid(a)),
    ("softplus({a})", lambda m, a: m.softplus(a)),
    ("erf({a})", lambda m, a: m.erf(a)),
    ("square({a})", lambda m, a: m.square(a)),
    ("-{a}", lambda m, a: -a),
    ("2.5*{a}", lambda m, a: 2.5 * a),
    ("{a}/3", lambda m, a: a / 3),
    ("1 - {a}", lambda m, a: 1 - a),
    ("{a}**2", lambda m, a: a**2),
    ("{a}**3", lambda m, a: a**3),
    ("power({a}, 2)", lambda m, a: m.power(a, 2)),
    ("1/({a}*{a} + 1)", lambda m, a: 1 / (a * a + 1)),
    ("exp(tanh({a}))", lambda m, a: m.exp(m.tanh(a))),
    ("exp(-{a}*{a})", lambda m, a: m.exp(-a * a)),
    ("expm1(tanh({a}))", lambda m, a: m.expm1(m.tanh(a))),
    ("exp(tanh({a})) - 1", lambda m, a: m.exp(m.tanh(a)) - 1),  # stability rewrite: expm1
    ("sinh(tanh({a}))", lambda m, a: m.sinh(m.tanh(a))),
    ("cosh(tanh({a}))", lambda m, a: m.cosh(m.tanh(a))),
    ("tan(tanh({a}))", lambda m, a: m.tan(m.tanh(a))),
    ("arcsin(0.9*tanh({a}))", lambda m, a: m.arcsin(0.9 * m.tanh(a))),
    ("arccos(0.9*tanh({a}))", lambda m, a: m.arccos(0.9 * m.tanh(a))),
    ("log({a}*{a} + 1)", lambda m, a: m.log(a * a + 1)),
    ("log(1 + {a}*{a})", lambda m, a: m.log(1 + a * a)),  # stability rewrite: log1p
    ("log1p({a}*{a})", lambda m, a: m.log1p(a * a)),
    ("log(sigmoid({a}))", lambda m, a: m.log(m.sigmoid(a))),  # stability rewrite: -softplus(-a)
    ("log(exp(tanh({a})))", lambda m, a: m.log(m.exp(m.tanh(a)))),
    ("sqrt({a}*{a} + 1)", lambda m, a: m.sqrt(a * a + 1)),
    ("sqrt(exp(tanh({a})))", lambda m, a: m.sqrt(m.exp(m.tanh(a)))),
    ("power({a}*{a} + 1, 0.5)", lambda m, a: m.power(a * a + 1, 0.5)),
    ("{a}*ones_like({a})", lambda m, a: a * m.ones_like(a)),
    ("{a} + zeros_like({a})", lambda m, a: a + m.zeros_like(a)),
]
# Kinks and jumps: gradients follow the conventions; finite differences skip the rare point near one.
KINKED_UNARY = [
    ("abs({a})", lambda m, a: m.abs(a)),
    ("relu({a})", lambda m, a: m.relu(a)),
    ("sign({a})*{a}", lambda m, a: m.sign(a) * a),
    ("clip({a}, -0.5, None)", lambda m, a: m.clip(a, -0.5, None)),
    ("maximum({a}, 0)", lambda m, a: m.maximum(a, 0)),
    ("minimum(0.3, {a})", lambda m, a: m.minimum(0.3, a)),
    ("where({a} > 0, {a}, 0.1*{a})", lambda m, a: m.where(a > 0, a, 0.1 * a)),
]
SHAPED_UNARY = [("clip({a}, -0.5, 0.5)", lambda m, a: m.clip(a, -0.5, 0.5))]  # two comparisons: not for SymPy

BINARY = [
    ("{a} + {b}", lambda m, a, b: a + b),
    ("{a} - {b}", lambda m, a, b: a - b),
    ("{a}*{b}", lambda m, a, b: a * b),
    ("{a}/({b}*{b} + 1)", lambda m, a, b: a / (b * b + 1)),
    ("sqrt({a}*{a} + {b}*{b} + 1)", lambda m, a, b: m.sqrt(a * a + b * b + 1)),
    ("power({a}*{a} + 1, tanh({b}))", lambda m, a, b: m.power(a * a + 1, m.tanh(b))),
    ("maximum({a}, {b})", lambda m, a, b: m.maximum(a, b)),
    ("minimum({a}, {b})", lambda m, a, b: m.minimum(a, b)),
    ("where({a} > {b}, {a}*{b}, {a} + {b})", lambda m, a, b: m.where(a > b, a * b, a + b)),
    ("where({a} < {b}, sin({b}), {a})", lambda m, a, b: m.where(a < b, m.sin(b), a)),
    ("where({a} >= {b}, {a}, 0.5*{b})", lambda m, a, b: m.where(a >= b, a, 0.5 * b)),
    ("where({a} <= {b}, cos({a}), {b})", lambda m, a, b: m.where(a <= b, m.cos(a), b)),
]

REDUCTIONS = ["sum", "mean", "max", "min", "prod", "norm", "logsumexp"]


class Recipe:
    """A random graph as replayable steps over named leaves; `build` works with `sym` or `nd`."""

    def __init__(self, shapes: dict[str, tuple]):
        self.shapes = dict(shapes)
        self.steps: list[tuple[str, object, tuple[int, ...]]] = []  # (text, builder(m, *values), value positions)
        self.symbols = [sym.var(n, shape=s) for n, s in shapes.items()]
        self.labels = list(shapes)

    def add(self, text: str, builder, *positions: int) -> int:
        """Append a step ({0}, {1} in text name its inputs); the Symbol built here gives the shape."""
        self.symbols.append(builder(sym, *[self.symbols[p] for p in positions]))
        self.steps.append((text.format(*[self.labels[p] for p in positions]), builder, positions))
        self.labels.append(f"v{len(self.steps) - 1}")
        return len(self.symbols) - 1

    def shape(self, position: int) -> tuple:
        return self.symbols[position].shape

    def build(self, m, leaves: list) -> object:
        """The output (last step) built with namespace m from the leaf values (sym vars or NDArrays)."""
        values = list(leaves)
        for _, builder, positions in self.steps:
            values.append(builder(m, *[values[p] for p in positions]))
        return values[-1]

    def weights(self) -> np.ndarray:
        """Fixed weights that turn the output into a scalar loss sum(out * w)."""
        shape = self.symbols[-1].shape
        return 0.5 + np.cos(np.arange(int(np.prod(shape)), dtype=np.float64)).reshape(shape)

    def loss(self, m, leaves: list) -> object:
        return m.sum(self.build(m, leaves) * self.weights())

    def variables(self) -> list:
        """Fresh variables with the drawn names and shapes."""
        return [sym.var(n, shape=s) for n, s in self.shapes.items()]

    def symbol(self, variables: list | None = None) -> object:
        """The scalar loss as a Symbol."""
        return self.loss(sym, variables or self.variables())

    def output(self, variables: list | None = None) -> object:
        """The output before the loss, as a Symbol."""
        return self.build(sym, variables or self.variables())

    def inputs(self, seed: int, low: float = -1.5, high: float = 1.5) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        return {n: rng.uniform(low, high, s) for n, s in self.shapes.items()}

    def __repr__(self) -> str:
        leaves = ", ".join(f"{n}: {s}" for n, s in self.shapes.items())
        lines = [f"{label} = {text}" for label, (text, _, _) in zip(self.labels[len(self.shapes) :], self.steps)]
        return f"Recipe({leaves}; " + "; ".join(lines) + ")"


def _broadcastable(a: tuple, b: tuple) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


@st.composite
def _leaf_shapes(draw, scalar: bool) -> dict[str, tuple]:
    count = draw(st.integers(1, 3))
    if scalar:
        return {n: () for n in NAMES[:count]}
    # One base shape; each leaf is a suffix of it with some sizes set to 1, so most pairs broadcast.
    base = tuple(draw(st.lists(st.integers(1, 4), min_size=0, max_size=3)))
    shapes = {}
    for n in NAMES[:count]:
        ndim = draw(st.integers(0, len(base)))
        suffix = base[len(base) - ndim :]
        shapes[n] = tuple(1 if draw(st.integers(0, 4)) == 0 else d for d in suffix)
    return shapes


def _unary_step(draw, recipe: Recipe, a: int, scalar: bool) -> None:
    text, builder = draw(st.sampled_from(SMOOTH_UNARY + KINKED_UNARY + ([] if scalar else SHAPED_UNARY)))
    recipe.add(text.replace("{a}", "{0}"), builder, a)


def _binary_step(draw, recipe: Recipe, a: int) -> None:
    partners = [p for p in range(len(recipe.symbols)) if _broadcastable(recipe.shape(a), recipe.shape(p))]
    b = draw(st.sampled_from(partners))  # a itself is always a partner
    text, builder = draw(st.sampled_from(BINARY))
    recipe.add(text.replace("{a}", "{0}").replace("{b}", "{1}"), builder, a, b)


def _axis(draw, ndim: int):
    """None, one axis (maybe negative) or a tuple of distinct axes."""
    kind = draw(st.integers(0, 2))
    if kind == 0 or ndim == 0:
        return None
    if kind == 1:
        return draw(st.integers(-ndim, ndim - 1))
    return tuple(draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)))


def _reduction_step(draw, recipe: Recipe, a: int) -> None:
    op = draw(st.sampled_from(REDUCTIONS))
    axis, keepdims = _axis(draw, len(recipe.shape(a))), draw(st.booleans())
    if op == "prod":  # keep products of many factors near 1
        recipe.add(
            f"prod(tanh({{0}})*0.5 + 1, axis={axis}, keepdims={keepdims})",
            lambda m, x: m.prod(m.tanh(x) * 0.5 + 1, axis=axis, keepdims=keepdims),
            a,
        )
    elif op == "norm":  # norm is smooth away from the zero vector: shift off it
        recipe.add(
            f"norm({{0}}*{{0}} + 0.5, axis={axis}, keepdims={keepdims})",
            lambda m, x: m.norm(x * x + 0.5, axis=axis, keepdims=keepdims),
            a,
        )
    else:
        recipe.add(
            f"{op}({{0}}, axis={axis}, keepdims={keepdims})",
            lambda m, x: getattr(m, op)(x, axis=axis, keepdims=keepdims),
            a,
        )


def _softmax_step(draw, recipe: Recipe, a: int) -> None:
    ndim = len(recipe.shape(a))
    if ndim == 0:
        recipe.add("log(sum(exp(tanh({0}))))", lambda m, x: m.log(m.sum(m.exp(m.tanh(x)))), a)  # -> logsumexp
        return
    op = draw(st.sampled_from(["softmax", "log_softmax", "log(softmax)", "log(sum(exp))"]))
    axis = draw(st.integers(-ndim, ndim - 1))
    if op == "log(softmax)":  # stability rewrite: log_softmax
        recipe.add(f"log(softmax({{0}}, axis={axis}))", lambda m, x: m.log(m.softmax(x, axis=axis)), a)
    elif op == "log(sum(exp))":  # stability rewrite: logsumexp
        recipe.add(f"log(sum(exp({{0}}), axis={axis}))", lambda m, x: m.log(m.sum(m.exp(x), axis=axis)), a)
    else:
        recipe.add(f"{op}({{0}}, axis={axis})", lambda m, x: getattr(m, op)(x, axis=axis), a)


def _batch_ok(a: tuple, b: tuple) -> bool:
    return _broadcastable(a[:-2], b[:-2])


def _linalg_step(draw, recipe: Recipe, a: int) -> None:
    shape = recipe.shape(a)
    if len(shape) == 0:
        recipe.add("dot({0}, {0})", lambda m, x: m.dot(x, x), a)
        return
    n = shape[-1]
    kind = draw(st.integers(0, 3))
    if kind == 0:  # dot with a pool partner whose leading (or only) axis matches
        partners = [p for p in range(len(recipe.symbols)) if len(recipe.shape(p)) in (1, 2) and recipe.shape(p)[0] == n]
        if partners:
            recipe.add("dot({0}, {1})", lambda m, x, y: m.dot(x, y), a, draw(st.sampled_from(partners)))
            return
    if kind == 1:  # dot with a constant matrix
        cols = draw(st.integers(1, 3))
        c = np.linspace(-1, 1, n * cols).reshape(n, cols)
        recipe.add(f"dot({{0}}, C{n}x{cols})", lambda m, x: m.dot(x, c), a)
        return
    if len(shape) == 1:
        recipe.add("dot({0}, {0})", lambda m, x: m.dot(x, x), a)
        return
    axes = tuple(range(len(shape) - 2)) + (len(shape) - 1, len(shape) - 2)
    if kind == 2:  # a batched Gram matrix
        recipe.add(
            f"matmul({{0}}, transpose({{0}}, axes={axes}))", lambda m, x: m.matmul(x, m.transpose(x, axes=axes)), a
        )
        gram = len(recipe.symbols) - 1
        if len(shape) == 2:  # Gram + I is positive definite: logdet and inv are defined
            eye = np.eye(shape[0])
            matrix_op = draw(st.sampled_from(["", "trace", "logdet", "inv"]))
            if matrix_op:
                recipe.add(f"{matrix_op}({{0}} + I)", lambda m, x: getattr(m, matrix_op)(x + eye), gram)
        return
    partners = [
        p
        for p in range(len(recipe.symbols))
        if len(recipe.shape(p)) >= 2 and recipe.shape(p)[-2] == n and _batch_ok(shape, recipe.shape(p))
    ]
    if partners:
        recipe.add("{0} @ {1}", lambda m, x, y: x @ y, a, draw(st.sampled_from(partners)))
    else:
        recipe.add(f"transpose({{0}}, axes={axes}) @ {{0}}", lambda m, x: m.transpose(x, axes=axes) @ x, a)


def _concat_ok(b: tuple, a: tuple, axis: int) -> bool:
    if len(a) != len(b):
        return False
    k = axis % len(a)
    return all(x == y for i, (x, y) in enumerate(zip(a, b)) if i != k)


def _shape_step(draw, recipe: Recipe, a: int) -> None:
    shape = recipe.shape(a)
    ndim, size = len(shape), int(np.prod(shape))
    kind = draw(st.integers(0, 7))
    if kind == 0 and ndim >= 2:
        axes = tuple(draw(st.permutations(range(ndim))))
        if draw(st.booleans()):
            recipe.add(f"transpose({{0}}, axes={axes})", lambda m, x: m.transpose(x, axes=axes), a)
        else:
            recipe.add(f"swapaxes({{0}}, {axes[0]}, {axes[1]})", lambda m, x: m.swapaxes(x, axes[0], axes[1]), a)
    elif kind == 1:
        new = draw(st.sampled_from([(size,), (-1,), (1, size), shape[::-1], (size, 1), shape + (1,)]))
        recipe.add(f"reshape({{0}}, shape={new})", lambda m, x: m.reshape(x, shape=new), a)
    elif kind == 2:
        axis = draw(st.integers(-ndim - 1, ndim))
        recipe.add(f"expand_dims({{0}}, axis={axis})", lambda m, x: m.expand_dims(x, axis=axis), a)
    elif kind == 3 and 1 in shape:
        axis = draw(st.sampled_from([None] + [i for i, d in enumerate(shape) if d == 1]))
        recipe.add(f"squeeze({{0}}, axis={axis})", lambda m, x: m.squeeze(x, axis=axis), a)
    elif kind == 4:
        new = (draw(st.integers(1, 3)),) + shape
        recipe.add(f"broadcast_to({{0}}, shape={new})", lambda m, x: m.broadcast_to(x, shape=new), a)
    elif kind == 5 and ndim >= 2:
        recipe.add("flatten({0})", lambda m, x: m.flatten(x), a)
    elif kind == 6 and ndim >= 1:
        axis = draw(st.integers(-ndim, ndim - 1))
        b = draw(st.sampled_from([p for p in range(len(recipe.symbols)) if _concat_ok(recipe.shape(p), shape, axis)]))
        if draw(st.booleans()):
            recipe.add(f"concat([{{0}}, {{1}}], axis={axis})", lambda m, x, y: m.concat([x, y], axis=axis), a, b)
        else:
            recipe.add(
                f"concat([{{0}}, sin({{1}}), {{0}}], axis={axis})",
                lambda m, x, y: m.concat([x, m.sin(y), x], axis=axis),
                a,
                b,
            )
    else:
        axis = draw(st.integers(-ndim - 1, ndim))
        b = draw(st.sampled_from([p for p in range(len(recipe.symbols)) if recipe.shape(p) == shape]))
        recipe.add(f"stack([{{0}}, {{1}}], axis={axis})", lambda m, x, y: m.stack([x, y], axis=axis), a, b)


def _index_text(index) -> str:
    def one(p):
        if isinstance(p, slice):
            return ":".join("" if v is None else str(v) for v in (p.start, p.stop, p.step)).rstrip(":") or ":"
        if isinstance(p, np.ndarray):
            return f"array({p.tolist()})"
        return str(p)

    return ", ".join(one(p) for p in (index if isinstance(index, tuple) else (index,)))


def _index_step(draw, recipe: Recipe, a: int) -> None:
    """Ints, slices (steps, negative bounds) and one integer array (repeats allowed) per index."""
    shape = recipe.shape(a)
    if not shape:
        recipe.add("sin({0})", lambda m, x: m.sin(x), a)
        return
    parts: list = []
    has_array = False
    for d in shape[: draw(st.integers(1, len(shape)))]:
        kind = draw(st.integers(0, 2))
        if kind == 0:
            parts.append(draw(st.integers(-d, d - 1)))
        elif kind == 1 or has_array:
            index = slice(
                draw(st.none() | st.integers(-d, d)),
                draw(st.none() | st.integers(-d, d)),
                draw(st.sampled_from([None, 1, 2, -1, -2])),
            )
            parts.append(index if len(range(d)[index]) else slice(None))  # keep results non-empty
        else:
            parts.append(np.array(draw(st.lists(st.integers(-d, d - 1), min_size=1, max_size=4))))
            has_array = True
    index = tuple(parts) if len(parts) > 1 else parts[0]
    recipe.add(f"{{0}}[{_index_text(index)}]", lambda m, x: x[index], a)


@st.composite
def recipes(draw, max_steps: int = 10, scalar: bool = False) -> Recipe:
    """A random graph; `scalar=True`: elementwise ops over shape-() leaves only (for SymPy)."""
    recipe = Recipe(draw(_leaf_shapes(scalar)))
    steps = {
        "unary": lambda a: _unary_step(draw, recipe, a, scalar),
        "binary": lambda a: _binary_step(draw, recipe, a),
        "reduce": lambda a: _reduction_step(draw, recipe, a),
        "softmax": lambda a: _softmax_step(draw, recipe, a),
        "linalg": lambda a: _linalg_step(draw, recipe, a),
        "shape": lambda a: _shape_step(draw, recipe, a),
        "index": lambda a: _index_step(draw, recipe, a),
    }
    families = ["unary", "binary"] if scalar else list(steps)
    for _ in range(draw(st.integers(1, max_steps))):
        # Mostly build on the newest value, so graphs grow deep as well as wide.
        newest = len(recipe.symbols) - 1
        a = newest if draw(st.integers(0, 2)) else draw(st.integers(0, newest))
        steps[draw(st.sampled_from(families))](a)
        while len(recipe.shape(-1)) > 4 or int(np.prod(recipe.shape(-1))) > 200:
            # keep arrays small: sum big or high-rank results over their first axis
            recipe.add("sum({0}, axis=0)", lambda m, x: m.sum(x, axis=0), len(recipe.symbols) - 1)
    return recipe
