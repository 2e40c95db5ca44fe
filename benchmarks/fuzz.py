"""Differential fuzz of symgrad against PyTorch (or NumPy finite differences), issue #22.

    python -m benchmarks.fuzz --cases 20000 --seed 0 --reference torch
    python -m benchmarks.fuzz --cases 300 --seed 0 --reference numpy      # no PyTorch needed
    python -m benchmarks.fuzz --simplifier 10000 --seed 0                # rewrite soundness only

Each case is a random graph over the registered ops (the generator reads `OPS`: an op
registered later is fuzzed without edits; layer ops, declared with `inputs=`, are left to
benchmarks/crosscheck_mxnet.py, which checks them against MXNet itself, and autodiff's
helpers without a public name to autodiff, which alone feeds them). Its
leaves are declared or undeclared, float32 or float64, of broadcasting shapes, holding
ties, zeros, -0.0, +-inf and NaN. The case is run every way symgrad runs a graph:
symbolic (`.eval`, `sym.grad(...).eval`, second order), executor (bind/forward/backward)
and eager (nd + autograd.record), and simplified with assume_finite both ways. Values,
first and second derivatives are compared with the reference, and every way's shape and
dtype with NumPy's. The reference is PyTorch (float64 for float64 cases, float32 for
float32) when an op has a PyTorch form below, else the op's NumPy impl with central
finite differences.

The documented conventions (API.md section 6, README "Gradients at the edges") are part
of the reference, not skips: maximum/minimum give a tie to the second argument (a constant
or zero-gradient first argument moved second), clip's gradient flows strictly inside its
bounds, max/min reductions split a tie evenly and send a NaN result's gradient to the NaN
entries, prod's gradient is the product of the others (zeros, inf and NaN included; two
such entries' mixed second derivative 0), and where (maximum, clip, trace, ...) masks the
branch not taken (a gradient entry the reference makes NaN through a masked branch, or NaN
or inf at a norm at 0, a logsumexp of all -inf or a power at 0, may be a number in symgrad:
that is the convention). Each convention met is counted. Where PyTorch and the ops' NumPy
impls disagree inside a graph (softmax of inf), the NumPy reference is used. A failing case
is shrunk to a minimal graph and printed as a runnable snippet.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import functools
import math
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from symgrad import autograd, clear_cache, nd, sym
from symgrad.compile.backends import compile_program, replay
from symgrad.graph import VAR, topo_order
from symgrad.ops.registry import OPS, build
from symgrad.simplify import stability
from symgrad.simplify.core import RULES

SHAPES = [(), (3,), (2, 3), (3, 1), (1, 3), (2, 1, 3), (3, 3)]
SPECIALS = [0.0, -0.0, np.inf, -np.inf, np.nan]
CONVENTIONS: collections.Counter = collections.Counter()


@dataclass
class Step:
    """One node of a case: an op over earlier nodes (leaves first)."""

    op: str
    inputs: tuple[int, ...]
    attrs: dict[str, Any]


@dataclass
class Case:
    """A random graph: leaves (shape, declared?) with values, steps, and the output node."""

    dtype: Any
    leaves: list[tuple[tuple[int, ...], bool]]
    values: list[np.ndarray]
    steps: list[Step]
    output: int
    weights: np.ndarray | None = None  # the head is sum(output * weights)
    notes: list[str] = field(default_factory=list)


# ---- which ops, and their attributes ----------------------------------------------


# Ops autodiff emits for itself, fed only the shapes and dtypes it derives: with undeclared dtypes
# the simplifier takes broadcast_like(g, x) of g's shape to be g, which holds for what autodiff gives it.
AUTODIFF_HELPERS = ("sum_like", "broadcast_like", "reshape_like", "cast_like", "concat_part", "take_scatter",
                    "scatter_like", "reduce_size", "one_hot_like", "tile_sum", "repeat_sum", "split_scatter",
                    "along_axis", "along_axis_scatter", "pad_grad", "sequence_last_scatter",
                    "corner_scatter", "diag_adjoint")  # fmt: skip
# MXNet layers without weights (no `inputs`), checked against MXNet itself as the others are
WEIGHTLESS_LAYERS = ("Dropout", "Pad", "LRN")


def fuzzable_ops() -> list[str]:
    """Every registered op a user writes (sym.<name> and the comparison operators) but autodiff's
    helpers, layers (benchmarks/crosscheck_mxnet.py checks them against MXNet itself) and random ones."""
    return [
        name
        for name, opdef in OPS.items()
        if opdef.inputs is None
        and (hasattr(sym, name) or (opdef.nondiff and opdef.elementwise))  # comparisons are written x > y
        and name not in ("custom_function", *WEIGHTLESS_LAYERS, *AUTODIFF_HELPERS)
        and "_adjoint_" not in name
    ]


def _axis(rng: np.random.Generator, ndim: int, many: bool) -> Any:
    if ndim == 0:
        return None if rng.random() < 0.7 else ()
    choice = rng.random()
    if choice < 0.3:
        return None
    if choice < 0.7 or not many:
        return int(rng.integers(-ndim, ndim))
    k = int(rng.integers(1, ndim + 1))
    return tuple(int(a) for a in rng.choice(ndim, size=k, replace=False))


def sample_attrs(rng: np.random.Generator, name: str, shape: tuple[int, ...] | None) -> dict[str, Any]:
    """Attributes by name (any op's `axis`, `keepdims`, `shape`, ...); unknown ones keep their defaults."""
    defaults = OPS[name].attr_defaults
    ndim = len(shape) if shape is not None else 2
    attrs: dict[str, Any] = {}
    for key in defaults:
        if key == "axis":
            attrs[key] = _axis(rng, ndim + (name in ("expand_dims", "stack")), OPS[name].reduction)
            if attrs[key] is None and name in ("expand_dims", "take", "take_scatter", "concat", "stack", "softmax"):
                attrs[key] = 0
        elif key == "keepdims":
            attrs[key] = bool(rng.random() < 0.4)
        elif key in ("a_min", "a_max"):
            attrs[key] = [None, -1.0, 0.0, 0.5, 1.0][int(rng.integers(5))]
        elif key == "dtype" and name == "cast":
            attrs[key] = ["float32", "float64", "float64", "int32"][int(rng.integers(4))]
        elif key == "axes" and shape is not None and rng.random() < 0.5:
            attrs[key] = tuple(int(a) for a in rng.permutation(ndim))
        elif key in ("axis1", "axis2") and ndim:
            attrs[key] = int(rng.integers(-ndim, ndim))
        elif key == "shape" and shape is not None:
            size = math.prod(shape)
            options = [(size,), (1, size), tuple(reversed(shape)), (2, *shape), shape]
            attrs[key] = options[int(rng.integers(len(options)))]
    attrs.update(_sample_mxnet_attrs(rng, defaults, shape))
    if "a_min" in attrs and attrs["a_min"] is not None and attrs["a_max"] is not None:
        attrs["a_min"], attrs["a_max"] = sorted((attrs["a_min"], attrs["a_max"]))
    return attrs


def _sample_mxnet_attrs(rng: np.random.Generator, defaults: dict, shape: tuple[int, ...] | None) -> dict[str, Any]:
    """MXNet's array ops' attributes: tile's reps, repeat's repeats, topk's k and ret_typ (an output of
    'both'), sort's order, batch_dot's transposes, and a split of an axis it divides (one output of it)."""
    attrs: dict[str, Any] = {}
    if "reps" in defaults:
        attrs["reps"] = tuple(int(r) for r in rng.integers(1, 3, size=int(rng.integers(1, 3))))
    if "repeats" in defaults:
        attrs["repeats"] = int(rng.integers(1, 4))
    if "ret_typ" in defaults:
        attrs.update(k=int(rng.integers(0, 4)), ret_typ=["value", "indices", "mask", "both"][int(rng.integers(4))])
        attrs["output"] = int(rng.integers(2)) if attrs["ret_typ"] == "both" else 0
    for key in ("is_ascend", "transpose_a", "transpose_b"):
        if key in defaults:
            attrs[key] = bool(rng.random() < 0.5)
    if "num_outputs" in defaults and shape:
        axis = int(rng.integers(-len(shape), len(shape)))
        divisors = [d for d in range(1, shape[axis] + 1) if shape[axis] % d == 0] or [1]
        n = divisors[int(rng.integers(len(divisors)))]
        squeeze = bool(n == shape[axis] and rng.random() < 0.5)
        attrs.update(axis=axis, num_outputs=n, output=int(rng.integers(n)), squeeze_axis=squeeze)
    return attrs


# ---- generation ---------------------------------------------------------------------


def random_values(rng: np.random.Generator, shape: tuple[int, ...], dtype: Any, specials: bool) -> np.ndarray:
    """Normal values with ties and zeros, and (with specials) -0.0, +-inf and NaN."""
    v = rng.normal(0, 1.5, shape)
    flat = v.reshape(-1)
    if flat.size > 1 and rng.random() < 0.3:  # a tie
        flat[int(rng.integers(flat.size))] = flat[int(rng.integers(flat.size))]
    if flat.size and rng.random() < 0.2:
        flat[int(rng.integers(flat.size))] = 0.0
    if specials and flat.size:
        for _ in range(int(rng.integers(1, 3))):
            flat[int(rng.integers(flat.size))] = SPECIALS[int(rng.integers(len(SPECIALS)))]
    return np.asarray(v, dtype=dtype)


def symbolic(case: Case, declared: bool | None = None) -> list[sym.Symbol]:
    """The case's nodes as Symbols (leaves declared as the case says, or all/none)."""
    nodes: list[sym.Symbol] = []
    for i, (shape, decl) in enumerate(case.leaves):
        decl = decl if declared is None else declared
        nodes.append(sym.var(f"x{i}", shape=shape if decl else None, dtype=case.dtype if decl else None))
    for step in case.steps:
        nodes.append(_apply(sym, OPS[step.op], [nodes[i] for i in step.inputs], step.attrs))
    return nodes


def _apply(namespace: Any, opdef: Any, args: list, attrs: dict) -> Any:
    """opdef applied as a user writes it: sym.<op> or nd.<op> (maximum(0, x)'s swap included)."""
    public = getattr(namespace, opdef.name, None)
    if public is None:  # an op without a public name (an autodiff helper)
        return (build if namespace is sym else nd.call)(
            opdef, (args,) if opdef.arity == "list" else tuple(args), dict(attrs)
        )
    return public(args, **attrs) if opdef.arity == "list" else public(*args, **attrs)


def generate(rng: np.random.Generator, ops: list[str]) -> Case:
    """A random case of 1-3 leaves and 1-5 steps whose shapes fit (the shape rules decide)."""
    dtype = np.dtype(np.float32 if rng.random() < 0.35 else np.float64)
    n_leaves = int(rng.integers(1, 4))
    specials = rng.random() < 0.3
    leaves = [(SHAPES[int(rng.integers(len(SHAPES)))], bool(rng.random() < 0.5)) for _ in range(n_leaves)]
    values = [random_values(rng, shape, dtype, specials) for shape, _ in leaves]
    case = Case(dtype, leaves, values, [], 0)
    nodes = symbolic(case, declared=True)
    for _ in range(int(rng.integers(1, 6))):
        for _attempt in range(30):
            name = ops[int(rng.integers(len(ops)))]
            opdef = OPS[name]
            arity = opdef.arity if isinstance(opdef.arity, int) else int(rng.integers(1, 4))
            recent = len(nodes)
            picks = tuple(int(max(0, recent - 1 - rng.geometric(0.5) + 1)) for _ in range(arity))
            attrs = sample_attrs(rng, name, nodes[picks[0]].shape if picks else None)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    node = _apply(sym, opdef, [nodes[i] for i in picks], attrs)
                if node.shape is None or math.prod(node.shape) > 64:
                    continue
                vals = reference_forward(case, extra=Step(name, picks, attrs))  # the impl accepts it
                if name in ("inv", "logdet") and not np.linalg.cond(np.asarray(vals[picks[0]], np.float64)) < 1e6:
                    continue  # a singular matrix: NumPy raises in inv, so its gradient has none to compare
            except Exception:  # noqa: BLE001 - a random op or attr the rules refuse: draw again
                continue
            case.steps.append(Step(name, picks, attrs))
            nodes.append(node)
            break
    case.output = len(nodes) - 1
    out = nodes[case.output]
    case.weights = np.asarray(rng.normal(0, 1, out.shape), dtype=dtype) if out.shape is not None else None
    return case


# ---- the NumPy reference --------------------------------------------------------------


def reference_forward(
    case: Case, values: list | None = None, extra: Step | None = None, dtype: Any = None, held: list | None = None
) -> list:
    """Every node's value from the ops' own NumPy impls (no graph machinery), in dtype (default the case's).

    With `held` (every node's unperturbed value), an op whose gradient rule gives no gradient
    to any input (stop_gradient, comparisons) keeps its held value: finite differences then
    see what the op declares."""
    dtype = case.dtype if dtype is None else dtype
    vals = [np.asarray(v, dtype=dtype) for v in (case.values if values is None else values)]
    with np.errstate(all="ignore"):
        for step in case.steps + ([extra] if extra else []):
            if held is not None and _no_gradient(step):
                vals.append(held[len(vals)])
                continue
            attrs = dict(step.attrs)
            if held is not None and np.dtype(attrs.get("dtype") or "int8").kind == "f":
                attrs["dtype"] = (
                    "float64"  # finite differences in float64 throughout (a float32 cast would round them away)
                )
            out = OPS[step.op].kernel(attrs)(*[vals[i] for i in step.inputs])
            vals.append(np.asarray(out))
    return vals


def _no_gradient(step: Step) -> bool:
    """The op's gradient rule gives None for every input (asked with placeholder Symbols)."""
    opdef = OPS[step.op]
    if opdef.nondiff:
        return True
    inputs = [sym.var(f"_probe{i}") for i in range(len(step.inputs))]
    try:
        rule = opdef.grad(sym.var("_g"), sym.var("_out"), *inputs, **step.attrs)
    except Exception:  # noqa: BLE001 - a rule that needs shapes: it has gradients
        return False
    return all(r is None for r in rule)


def _head(case: Case, vals: list) -> float:
    out = vals[case.output]
    return float(np.sum(np.asarray(out, np.float64) * case.weights))


def _mod_piece(vals: list, step: Step) -> np.ndarray:
    """Which piece of mod(a, b) = a - b*floor(a/b) the inputs are on: its value jumps between pieces."""
    a, b = (np.asarray(vals[i], np.float64) for i in step.inputs)
    with np.errstate(all="ignore"):
        return np.floor(a / b)


def _branch_flips(case: Case, vals: list, held: list) -> bool:
    """A where's condition, mod's piece, or the output of an op without gradient, differs from its held value."""
    n = len(case.leaves)
    for k, s in enumerate(case.steps):
        if s.op == "where" and not np.array_equal(vals[s.inputs[0]] != 0, held[s.inputs[0]] != 0):
            return True
        if s.op == "mod" and not np.array_equal(_mod_piece(vals, s), _mod_piece(held, s), equal_nan=True):
            return True
        moved = not np.array_equal(vals[n + k], held[n + k], equal_nan=True)
        if moved and _no_gradient(s) and s.op != "stop_gradient":  # stop_gradient's value may move: its rule says 0
            return True
    return False


def numeric_gradient(case: Case, values: list, step: float = 1e-6) -> list[np.ndarray] | None:
    """Central differences of the float64 head; None where the head is not smooth and finite there."""
    held = reference_forward(case, values, dtype=np.float64)
    grads = []
    for k, v in enumerate(values):
        g = np.zeros(v.shape)
        for idx in np.ndindex(v.shape):
            parts = []
            for h in (step, -step, 0.0, step / 10, -step / 10):
                shifted = [np.array(w, np.float64) for w in values]
                shifted[k][idx] += h
                if _branch_flips(case, reference_forward(case, shifted, dtype=np.float64), held):
                    return None  # a where's condition or a comparison changes within the step: a kink
                parts.append(_head(case, reference_forward(case, shifted, dtype=np.float64, held=held)))
            right, left, centre, near_right, near_left = parts
            slope_right, slope_left = (right - centre) / step, (centre - left) / step
            d1 = (right - left) / (2 * step)
            if not math.isfinite(d1) or abs(slope_right - slope_left) > 1e-3 * (1 + abs(d1)):
                return None  # a kink or a jump at the point: finite differences cannot see the gradient
            if abs((near_right - near_left) / (0.2 * step) - d1) > 1e-3 * (1 + abs(d1)):
                return None  # the slope grows as the step shrinks ((x*x)**x at 0): no derivative there
            g[idx] = d1
        grads.append(g)
    return grads


# ---- the PyTorch reference --------------------------------------------------------------


def _torch_table() -> dict[str, Any]:
    import torch

    def value_with_grad_of(value: Any, smooth: Any) -> Any:
        """value's numbers (signed zeros too) with smooth's derivatives (to any order)."""
        same = (value == smooth) & (torch.signbit(value) == torch.signbit(smooth))
        # value - (0 - smooth's derivatives): adding a 0 would turn a -0.0 value into +0.0
        return torch.where(same, smooth, value.detach() - (smooth.detach() - smooth))

    def second_takes_ties(a: Any, b: Any) -> tuple:
        # a tie's gradient goes to the second argument (torch_reference has moved a constant-valued
        # first argument second, as symgrad's builders do)
        CONVENTIONS["maximum/minimum tie: gradient to the second argument"] += bool((a == b).any())
        return a, b

    def maximum(a: Any, b: Any) -> Any:
        a, b = second_takes_ties(a, b)
        return value_with_grad_of(torch.maximum(a, b), torch.where(a > b, a, b))

    def minimum(a: Any, b: Any) -> Any:
        a, b = second_takes_ties(a, b)
        return value_with_grad_of(torch.minimum(a, b), torch.where(a < b, a, b))

    def clip(x: Any, a_min: Any = None, a_max: Any = None) -> Any:
        inside = torch.ones_like(x, dtype=torch.bool)
        if a_min is not None:
            inside &= x > a_min
        if a_max is not None:
            inside &= x < a_max
        at_bound = (a_min is not None and bool((x == a_min).any())) or (a_max is not None and bool((x == a_max).any()))
        CONVENTIONS["clip at a bound: gradient 0"] += at_bound
        if a_min is None and a_max is None:
            return x.clone()
        return value_with_grad_of(torch.clamp(x, a_min, a_max), torch.where(inside, x, torch.zeros_like(x)))

    def extreme(pick: Any) -> Any:
        def reduce(x: Any, axis: Any = None, keepdims: bool = False) -> Any:
            dims = tuple(range(x.ndim)) if axis is None else tuple(a % x.ndim for a in axis) if x.ndim else ()
            if not dims:
                return x.clone()
            out = pick(x, dim=dims, keepdim=True)
            mask = ((x == out) | (torch.isnan(x) & torch.isnan(out))).detach()
            count = mask.sum(dim=dims, keepdim=True)
            CONVENTIONS["max/min tie split evenly, NaN result to the NaN entries"] += bool((count > 1).any()) or bool(
                torch.isnan(out).any()
            )
            smooth = torch.where(mask, x, torch.zeros_like(x)).sum(dim=dims, keepdim=True) / count
            result = value_with_grad_of(out, smooth)
            return result if keepdims else result.squeeze(dims) if dims else result

        return reduce

    def reduction(fn: Any) -> Any:
        def reduce(x: Any, axis: Any = None, keepdims: bool = False, **_: Any) -> Any:
            dims = tuple(range(x.ndim)) if axis is None else tuple(a % x.ndim for a in axis) if x.ndim else ()
            if not dims:
                return fn(x.unsqueeze(0), dim=(0,), keepdim=False)
            return fn(x, dim=dims, keepdim=keepdims)

        return reduce

    class SpecialProduct(torch.autograd.Function):
        """The product of factors whose gradient is the product of the others, held constant: the
        mixed second derivative of two zero, inf or NaN entries is 0 (README's convention)."""

        @staticmethod
        def forward(ctx: Any, *factors: Any) -> Any:
            ctx.save_for_backward(*factors)
            return functools.reduce(torch.mul, factors)

        @staticmethod
        def backward(ctx: Any, g: Any) -> tuple:
            held = [f.detach() for f in ctx.saved_tensors]
            ones = torch.ones_like(held[0])
            return tuple(g * functools.reduce(torch.mul, held[:i] + held[i + 1 :], ones) for i in range(len(held)))

    def prod(x: Any, dim: Any, keepdim: bool) -> Any:
        # the regular (finite, nonzero) factors as a chain of multiplications, so autograd gives the
        # product of the others at every order (PyTorch's own out/x rule is NaN at an inf or NaN entry)
        moved = torch.movedim(x, dim, tuple(range(len(dim))))
        factors = moved.reshape(-1, *moved.shape[len(dim) :]).unbind(0)
        special = [~torch.isfinite(f) | (f == 0) for f in factors]
        count = functools.reduce(torch.add, [s.long() for s in special])
        CONVENTIONS["prod at zeros, inf or NaN: the product of the others"] += bool((count > 0).any())
        CONVENTIONS["prod at two zeros/infs/NaNs: their mixed second derivative 0"] += bool((count > 1).any())
        one = torch.ones((), dtype=x.dtype)
        regular = functools.reduce(torch.mul, [torch.where(s, one, f) for f, s in zip(factors, special)])
        out = regular * SpecialProduct.apply(*[torch.where(s, f, one) for f, s in zip(factors, special)])
        for d in sorted(dim) if keepdim else ():
            out = out.unsqueeze(d)
        return out

    def norm(x: Any, dim: Any, keepdim: bool) -> Any:
        out = torch.linalg.vector_norm(x, dim=dim, keepdim=keepdim)
        CONVENTIONS["norm at the zero vector: gradient 0"] += bool((out == 0).any())
        return out

    def logsumexp(x: Any, dim: Any, keepdim: bool) -> Any:
        return torch.logsumexp(x, dim=dim, keepdim=keepdim)

    def nan_sign(x: Any) -> Any:
        return torch.where(torch.isnan(x), x, torch.sign(x))  # NumPy's sign(NaN) is NaN

    def relu(x: Any) -> Any:
        # one convention for every spelling: relu(x) differentiates as where(x > 0, x, 0), so at NaN as at 0
        CONVENTIONS["relu at 0 or NaN: gradient 0, as where(x > 0, x, 0)"] += bool((~(x > 0) & (x != x)).any())
        return value_with_grad_of(torch.relu(x), torch.where(x > 0, x, torch.zeros_like(x)))

    def where(c: Any, a: Any, b: Any) -> Any:
        CONVENTIONS["where: the branch not taken is masked"] += 1
        return torch.where(c != 0, a, b)

    def compare(fn: Any) -> Any:
        return lambda a, b: fn(a, b).to(torch.promote_types(a.dtype, b.dtype))

    def power(a: Any, b: Any) -> Any:
        CONVENTIONS["power at 0"] += bool((a == 0).any())
        return torch.pow(a, b)

    def cast(x: Any, dtype: str) -> Any:
        return x.to(getattr(torch, dtype))

    def softmax(fn: Any) -> Any:
        return lambda x, axis=-1: fn(x, dim=axis)

    table = {
        "add": torch.add,
        "subtract": torch.sub,
        "multiply": torch.mul,
        "divide": torch.div,
        "power": power,
        "negative": torch.neg,
        "exp": torch.exp,
        "log": torch.log,
        "log1p": torch.log1p,
        "expm1": torch.expm1,
        "sqrt": torch.sqrt,
        "square": torch.square,
        "abs": lambda x: value_with_grad_of(torch.abs(x), x * nan_sign(x).detach()),  # abs' = sign, NaN at NaN
        "sign": lambda x: nan_sign(x.detach()),  # gradient 0 everywhere: nothing flows back through it
        "sin": torch.sin,
        "cos": torch.cos,
        "tan": torch.tan,
        "tanh": torch.tanh,
        "sinh": torch.sinh,
        "cosh": torch.cosh,
        "arcsin": torch.asin,
        "arccos": torch.acos,
        "arctan": torch.atan,
        "sigmoid": torch.sigmoid,
        "softplus": lambda x: torch.logaddexp(torch.zeros_like(x), x),
        "relu": relu,
        "erf": torch.erf,
        "where": where,
        "maximum": maximum,
        "minimum": minimum,
        "clip": clip,
        "cast": cast,
        "stop_gradient": lambda x: x.detach(),
        "greater": compare(torch.gt),
        "greater_equal": compare(torch.ge),
        "less": compare(torch.lt),
        "less_equal": compare(torch.le),
        "equal": compare(torch.eq),
        "not_equal": compare(torch.ne),
        "zeros_like": lambda x: torch.zeros_like(x),
        "ones_like": lambda x: torch.ones_like(x),
        "sum": reduction(torch.sum),
        "mean": reduction(torch.mean),
        "prod": reduction(prod),
        "max": extreme(torch.amax),
        "min": extreme(torch.amin),
        "norm": reduction(norm),
        "logsumexp": reduction(logsumexp),
        "reshape": lambda x, shape: torch.reshape(x, shape),
        "expand_dims": lambda x, axis: torch.unsqueeze(x, axis[0] if isinstance(axis, tuple) else axis),
        "transpose": lambda x, axes=None: x.permute(tuple(reversed(range(x.ndim))) if axes is None else axes),
        "swapaxes": lambda x, axis1, axis2: torch.swapaxes(x, axis1, axis2),
        "softmax": softmax(torch.softmax),
        "log_softmax": softmax(torch.log_softmax),
        "matmul": torch.matmul,
        "trace": torch.trace,
        "inv": torch.linalg.inv,
        "logdet": lambda x: torch.linalg.slogdet(x)[1],
        "broadcast_to": lambda x, shape: torch.broadcast_to(x, shape),
    }
    return table


TORCH: dict[str, Any] | None = None


def torch_reference(case: Case, order: int) -> tuple[list, list | None, list | None] | None:
    """(node values, first and second derivatives of the head) by PyTorch, or None if an op has no form."""
    global TORCH
    import torch

    if TORCH is None:
        TORCH = _torch_table()
    if any(s.op not in TORCH for s in case.steps):
        return None
    tdtype = torch.float64 if case.dtype == np.float64 else torch.float32
    leaves = [torch.tensor(np.array(v), dtype=tdtype, requires_grad=True) for v in case.values]
    vals: list = list(leaves)
    constant_valued = set()  # README: maximum(c, x) with c constant (zeros_like, ones) or without gradient (x > y,
    for k, s in enumerate(case.steps):  # sign(x)) is built as maximum(x, c), so a tie's gradient goes to c
        if OPS[s.op].constant or OPS[s.op].nondiff:
            constant_valued.add(len(case.leaves) + k)
        inputs = s.inputs
        if s.op in ("maximum", "minimum") and inputs[0] in constant_valued and inputs[1] not in constant_valued:
            inputs = inputs[::-1]
            CONVENTIONS["maximum/minimum: a constant-valued first argument moved second"] += 1
        attrs = dict(s.attrs)
        if s.op in ("sum", "mean", "prod", "max", "min", "norm", "logsumexp") and isinstance(attrs.get("axis"), int):
            attrs["axis"] = (attrs["axis"],)
        attrs = {k: v for k, v in attrs.items() if not (k in ("ord", "p") and v is None)}
        vals.append(TORCH[s.op](*[vals[i] for i in inputs], **attrs))
    out = vals[case.output]
    values = [v.detach().numpy(force=True) for v in vals]
    if not out.dtype.is_floating_point or not out.requires_grad:
        return values, None, None
    head = (out * torch.tensor(case.weights, dtype=out.dtype)).sum()
    first = torch.autograd.grad(head, leaves, create_graph=order > 1, allow_unused=True)
    first = [torch.zeros_like(lf) if g is None else g for g, lf in zip(first, leaves)]
    second = None
    if order > 1:
        probe = sum((g * torch.tensor(w, dtype=g.dtype)).sum() for g, w in zip(first, _probes(case)))
        if probe.requires_grad:
            second = torch.autograd.grad(probe, leaves, allow_unused=True)
            second = [
                np.zeros(lf.shape) if g is None else g.detach().numpy(force=True) for g, lf in zip(second, leaves)
            ]
        else:
            second = [np.zeros(lf.shape) for lf in leaves]
    return values, [g.detach().numpy(force=True) for g in first], second


def _probes(case: Case) -> list[np.ndarray]:
    """Fixed weights for the second-order head sum_i <grad_i, probe_i>."""
    rng = np.random.default_rng(len(case.steps) * 7919 + len(case.leaves))
    return [np.asarray(rng.normal(0, 1, v.shape), dtype=case.dtype) for v in case.values]


# ---- running symgrad every way ---------------------------------------------------------


def run_symgrad(case: Case, order: int) -> dict[str, Any]:
    """Values and gradients from every way of running the case (errors as strings)."""
    results: dict[str, Any] = {}
    nodes = symbolic(case)
    out = nodes[case.output]
    args = {f"x{i}": v for i, v in enumerate(case.values)}
    names = list(args)
    leaves = nodes[: len(case.leaves)]

    def attempt(key: str, fn: Any) -> None:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with np.errstate(all="ignore"):
                    results[key] = fn()
        except Exception as exc:  # noqa: BLE001 - an error is a finding, reported with its type
            results[key] = f"{type(exc).__name__}: {exc}"

    def evaluate(s: sym.Symbol) -> list:
        used = set(s.list_arguments())
        return [np.asarray(v) for v in s.eval(**{k: v for k, v in args.items() if k in used})]

    attempt("value", lambda: evaluate(out)[0])
    for assume_finite in (False, True):
        attempt(f"simplified{int(assume_finite)}", lambda af=assume_finite: evaluate(sym.simplify(out, af))[0])
    value = results.get("value")
    if not isinstance(value, np.ndarray) or value.dtype.kind != "f":
        return results
    head = sym.sum(out * case.weights)
    attempt("grad", lambda: evaluate(sym.Group(sym.grad(head, leaves))))
    if order > 1:
        probes = _probes(case)

        def second() -> list:
            probe = sum(sym.sum(g * p) for g, p in zip(sym.grad(head, leaves), probes))
            return evaluate(sym.Group(sym.grad(probe, leaves)))

        attempt("second", second)

    def executor() -> list:
        used = head.list_arguments()
        ex = head.bind(
            args={k: args[k] for k in used}, args_grad={k: np.zeros_like(args[k]) for k in used}, grad_req="write"
        )
        ex.forward(is_train=True)
        ex.backward()
        return [np.asarray(ex.grad_dict[k]) if k in ex.grad_dict else np.zeros_like(args[k]) for k in names]

    attempt("executor", executor)

    def eager() -> list:
        arrays = [nd.array(v, dtype=case.dtype) for v in case.values]
        for a in arrays:
            a.attach_grad()
        with autograd.record():
            vals: list = list(arrays)
            for s in case.steps:
                vals.append(_apply(nd, OPS[s.op], [vals[i] for i in s.inputs], s.attrs))
            h = (vals[case.output] * nd.array(case.weights)).sum()
        h.backward()
        return [np.asarray(a.grad.asnumpy()) for a in arrays] + [np.asarray(vals[case.output].asnumpy())]

    attempt("eager", eager)
    return results


# ---- comparison -----------------------------------------------------------------------------


def _precision(case: Case) -> Any:
    """The narrowest float dtype the case computes in (a float32 cast inside a float64 graph counts)."""
    casts = [np.dtype(s.attrs["dtype"]) for s in case.steps if np.dtype(s.attrs.get("dtype") or "int8").kind == "f"]
    return min([case.dtype, *casts], key=lambda d: d.itemsize)


def _tolerance(dtype: Any, order: int = 0) -> tuple[float, float]:
    if np.dtype(dtype) == np.float32:
        return 2e-3 * (10**order), 1e-3 * (10**order)
    return 1e-6 * (10**order), 1e-8 * (10**order)


def same_values(
    got: Any,
    want: Any,
    dtype: Any,
    order: int = 0,
    exact_specials: bool = True,
    masked: bool = False,
    skip: Any = None,
) -> str | None:
    """None when got matches want (values to tolerance, NaN/inf placement, shape) outside `skip`; else why not."""
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape:
        return f"shape {got.shape} != {want.shape}"
    g64, w64 = got.astype(np.float64), want.astype(np.float64)
    if skip is not None:
        g64, w64 = np.where(skip, 0.0, g64), np.where(skip, 0.0, w64)
    both = np.isfinite(g64) & np.isfinite(w64)
    scale = max(1.0, float(np.max(np.abs(w64[both]), initial=0.0)))
    rtol, atol = _tolerance(dtype, order)
    if not np.all(np.abs(g64[both] - w64[both]) <= atol * scale + rtol * np.abs(w64[both])):
        return f"values differ: {g64.tolist()} vs {w64.tolist()}"
    if exact_specials:
        # masked: a branch not taken makes the reference NaN (0*nan, 0*inf) whatever the taken one
        # adds to that entry, or inf where symgrad's convention gives a number (a norm at 0)
        free = (np.isnan(w64) | (~np.isfinite(w64) & np.isfinite(g64))) if masked else np.zeros(w64.shape, bool)
        differs = free & ~((np.isnan(g64) & np.isnan(w64)) | (g64 == w64))
        CONVENTIONS["masked: a NaN/inf the reference forms in a branch not taken"] += bool(differs.any())
        for kind, test in (("NaN", np.isnan), ("inf", np.isposinf), ("-inf", np.isneginf)):
            if not np.array_equal(test(g64)[~free], test(w64)[~free]):
                return f"{kind} placement: {g64.tolist()} vs {w64.tolist()}"
    return None


def _unresolved_in_float32(case: Case, ref: tuple, order: int) -> tuple[list, list | None] | None:
    """Per derivative, the entries float32 cannot resolve: PyTorch in float32 and in float64 differ there
    beyond float32's tolerance (an ill-conditioned second derivative near overflow). Those are not compared."""
    wide = Case(np.dtype(np.float64), case.leaves, [v.astype(np.float64) for v in case.values], case.steps, case.output)
    wide.weights = None if case.weights is None else case.weights.astype(np.float64)
    counted = CONVENTIONS.copy()  # the float64 rerun meets the same conventions: count them once
    ref64 = torch_reference(wide, order) if ref[1] is not None else None
    CONVENTIONS.clear()
    CONVENTIONS.update(counted)
    if ref64 is None or ref64[1] is None:
        return None

    def differ(narrow: list, exact: list, k: int) -> list:
        masks = []
        for a, b in zip(narrow, exact):
            a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
            rtol, atol = _tolerance(np.float32, k)
            scale = max(1.0, float(np.max(np.abs(b[np.isfinite(b)]), initial=0.0)))
            with np.errstate(invalid="ignore"):  # inf - inf: told apart by a == b
                close = (np.abs(a - b) <= atol * scale + rtol * np.abs(b)) | (a == b) | (np.isnan(a) & np.isnan(b))
            masks.append(~close)
        CONVENTIONS["(float32 cannot resolve: PyTorch float32 and float64 differ there, not compared)"] += any(
            m.any() for m in masks
        )
        return masks

    second = differ(ref[2], ref64[2], 2) if ref[2] is not None and ref64[2] is not None else None
    return differ(ref[1], ref64[1], 1), second


def _masking_site(case: Case) -> bool:
    """The case meets a convention that may make a reference derivative NaN/inf where symgrad's is finite."""
    sites = "where trace norm logsumexp power maximum minimum clip max min prod relu abs sqrt divide log softmax"
    return any(s.op in (*sites.split(), "log_softmax") for s in case.steps)


def check(case: Case, reference: str, order: int = 2) -> list[str]:
    """Every mismatch of symgrad against the reference and against itself, as text."""
    problems: list[str] = []
    got = run_symgrad(case, order)
    numpy_vals = reference_forward(case)
    want_value = numpy_vals[case.output]
    try:
        ref = torch_reference(case, order) if reference == "torch" else None
    except RuntimeError:  # an op PyTorch does not have for these dtypes (integer matmul): NumPy's reference
        ref = None
    precision = _precision(case)
    if ref is not None and any(
        np.shape(t) == np.shape(n) and np.asarray(n).dtype.kind == "f" and same_values(t, n, precision) is not None
        for t, n in zip(ref[0], numpy_vals)
    ):  # softmax([0.4, inf]) is [0, nan] in NumPy, [nan, nan] in PyTorch: its gradient is of another function
        CONVENTIONS["(PyTorch and the NumPy impls differ inside the graph: NumPy reference)"] += 1
        ref = None
    unresolved = _unresolved_in_float32(case, ref, order) if ref is not None and case.dtype == np.float32 else None
    if ref is not None:
        CONVENTIONS["(cases with a PyTorch reference)"] += 1
    else:
        CONVENTIONS["(cases with the NumPy reference)"] += 1
    value = got["value"]
    if isinstance(value, str):
        return [f"value: {value}"]
    if value.dtype != want_value.dtype:
        problems.append(f"value dtype {value.dtype} != NumPy's {want_value.dtype}")
    why = same_values(value, want_value, precision)  # PyTorch's values, where it is the reference, agree with these
    if why:
        problems.append(f"value vs the NumPy impls: {why}")
    for af in (0, 1):
        simplified = got[f"simplified{af}"]
        if isinstance(simplified, str):
            problems.append(f"simplify(assume_finite={bool(af)}): {simplified}")
            continue
        if simplified.shape != value.shape or simplified.dtype != value.dtype:
            problems.append(f"simplify(assume_finite={bool(af)}) changed {value.shape}/{value.dtype} "
                            f"to {simplified.shape}/{simplified.dtype}")  # fmt: skip
        elif not af:
            why = same_values(simplified, value, precision)
            zeros = (simplified == 0) & (value == 0)
            if why is None and not np.array_equal(np.signbit(simplified[zeros]), np.signbit(value[zeros])):
                why = "signed zeros differ"
            if why:
                problems.append(f"simplify changed the result: {why}")
    if value.dtype.kind != "f" or case.weights is None:
        return problems
    grads = got["grad"]
    if isinstance(grads, str):
        return problems + [f"sym.grad: {grads}"]
    for g, v in zip(grads, case.values):
        if g.dtype != v.dtype or g.shape != v.shape:
            problems.append(f"sym.grad gives {g.shape}/{g.dtype} for a {v.shape}/{v.dtype} variable")
    masked = _masking_site(case)
    if ref is not None and ref[1] is not None:
        want_grads, specials = ref[1], True
    else:
        finite = all(np.all(np.isfinite(v)) for v in numpy_vals)
        want_grads = numeric_gradient(case, case.values) if finite else None
        specials = False
        if want_grads is None:
            CONVENTIONS["(gradients compared across symgrad's ways only: a kink or non-finite value)"] += 1
    if want_grads is not None:
        for i, (g, w) in enumerate(zip(grads, want_grads)):
            skip = unresolved[0][i] if unresolved is not None and specials else None
            why = same_values(g, w, precision, 1 if specials else 2, exact_specials=specials, masked=masked, skip=skip)
            if why:
                problems.append(f"d/dx{i}: {why}")
    for way in ("executor", "eager"):
        other = got[way]
        if isinstance(other, str):
            problems.append(f"{way}: {other}")
            continue
        for i, (g, h) in enumerate(zip(grads, other)):
            if h.dtype != g.dtype:
                problems.append(f"{way} d/dx{i} dtype {h.dtype} != sym.grad's {g.dtype}")
            why = same_values(h, g, precision, order=1)
            if why:
                problems.append(f"{way} d/dx{i} vs sym.grad: {why}")
        if way == "eager":
            why = same_values(other[-1], value, precision)
            if why or other[-1].dtype != value.dtype:
                problems.append(f"eager value: {why or other[-1].dtype}")
    if order > 1:
        second = got.get("second")
        if isinstance(second, str):
            problems.append(f"second order: {second}")
        elif ref is not None and ref[2] is not None:
            # the probe <grad, p> sums every first derivative: one that is NaN/inf makes the second
            # derivative there a matter of how each system orders 0*inf, so only finite entries compare
            through_nonfinite = not all(np.all(np.isfinite(g)) for g in ref[1])
            CONVENTIONS["(second order through a non-finite first derivative: finite entries compared)"] += (
                through_nonfinite
            )
            for i, (g, w) in enumerate(zip(second, ref[2])):
                skip = unresolved[1][i] if unresolved is not None and unresolved[1] is not None else None
                why = same_values(g, w, precision, 2, exact_specials=not through_nonfinite, masked=True, skip=skip)
                if why:
                    problems.append(f"d2/dx{i}: {why}")
    return problems


# ---- shrinking and printing ------------------------------------------------------------------


def _subcase(case: Case, keep_output: int) -> Case:
    """The case cut down to the nodes keep_output needs (leaves renumbered)."""
    n_leaves = len(case.leaves)
    needed: set[int] = set()
    stack = [keep_output]
    while stack:
        k = stack.pop()
        if k in needed:
            continue
        needed.add(k)
        if k >= n_leaves:
            stack.extend(case.steps[k - n_leaves].inputs)
    leaf_ids = [k for k in range(n_leaves) if k in needed]
    step_ids = [k for k in range(n_leaves, n_leaves + len(case.steps)) if k in needed]
    renumber = {k: i for i, k in enumerate(leaf_ids + step_ids)}
    old_steps = [case.steps[k - n_leaves] for k in step_ids]
    steps = [Step(s.op, tuple(renumber[i] for i in s.inputs), s.attrs) for s in old_steps]
    out = Case(
        case.dtype, [case.leaves[k] for k in leaf_ids], [case.values[k] for k in leaf_ids], steps, renumber[keep_output]
    )
    shape = reference_forward(out)[out.output].shape
    out.weights = (
        case.weights if case.weights is not None and case.weights.shape == shape else np.ones(shape, case.dtype)
    )
    return out


def _with_leaf(case: Case, node: int) -> Case | None:
    """The case with node's value made a new leaf (the steps that made it dropped)."""
    vals = reference_forward(case)
    value = np.asarray(vals[node], dtype=case.dtype)
    if value.dtype.kind != "f":
        return None
    n = len(case.leaves)
    steps = [Step(s.op, tuple(n if i == node else i + (i >= n) for i in s.inputs), s.attrs) for s in case.steps]
    new = Case(case.dtype, case.leaves + [(value.shape, True)], case.values + [value], steps, case.output + 1)
    new.weights = case.weights
    return _subcase(new, new.output)


def shrink(case: Case, reference: str) -> Case:
    """A smaller case that still fails: the smallest failing subgraph, then inner nodes made leaves."""

    def fails(c: Case) -> bool:
        try:
            return bool(check(c, reference))
        except Exception:  # noqa: BLE001
            return True

    best = case
    for k in range(len(case.leaves), len(case.leaves) + len(case.steps)):
        sub = _subcase(case, k)
        if len(sub.steps) < len(best.steps) and fails(sub):
            best = sub
            break
    changed = True
    while changed:
        changed = False
        for k in range(len(best.leaves), len(best.leaves) + len(best.steps) - 1):
            smaller = _with_leaf(best, k)
            if smaller is not None and len(smaller.steps) < len(best.steps) and fails(smaller):
                best, changed = smaller, True
                break
    return best


def snippet(case: Case) -> str:
    """A runnable Python snippet that rebuilds the case and prints symgrad's results."""
    lines = ["import numpy as np", "from symgrad import sym", "from symgrad.ops.registry import OPS, build", ""]
    for i, (shape, decl) in enumerate(case.leaves):
        decl_text = f", shape={shape}, dtype='{case.dtype}'" if decl else ""
        lines.append(f"x{i} = sym.var('x{i}'{decl_text})")
    n = len(case.leaves)
    for k, s in enumerate(case.steps):
        ins = [f"{'x' if i < n else 'v'}{i if i < n else i - n}" for i in s.inputs]
        args = f"[{', '.join(ins)}]" if OPS[s.op].arity == "list" else ", ".join(ins)
        attrs = "".join(f", {key}={val!r}" for key, val in s.attrs.items())
        call = f"sym.{s.op}({args}{attrs})" if hasattr(sym, s.op) else f"build(OPS[{s.op!r}], ({args},), {s.attrs!r})"
        lines.append(f"v{k} = {call}")
    out = f"{'x' if case.output < n else 'v'}{case.output if case.output < n else case.output - n}"
    vals = ", ".join(f"x{i}=np.array({v.tolist()!r}, dtype='{case.dtype}')" for i, v in enumerate(case.values))
    lines.append(f"args = dict({vals})".replace("nan", "np.nan").replace("inf", "np.inf"))
    lines.append(f"print({out}.eval(**args))")
    if case.weights is not None:
        lines.append(f"head = sym.sum({out} * np.array({case.weights.tolist()!r}, dtype='{case.dtype}'))")
        lines.append(f"print(sym.Group(sym.grad(head, [{', '.join(f'x{i}' for i in range(n))}])).eval(**args))")
    return "\n".join(lines)


# ---- the simplifier soundness run --------------------------------------------------------------


# leaf values: NaN, +-inf, zeros of both signs (x + y cancelling to +0.0 where -(x - y) is -0.0), and
# values whose double (1e308, 3e38 in float32) or half (5e-324) leaves the floats: sum(2*x) is inf - inf
# at x = (1e308, -1e308) where 2*sum(x) is 0.0, sum(0.5*x) 1e308 at (1e308, 1e308) where 0.5*sum(x) is inf
SIMPLIFIER_VALUES = [0.0, -0.0, 1.0, -1.0, 2.5, -3.0, np.inf, -np.inf, np.nan, 1e30, 1e308, -1e308, 3e38, -3e38, 5e-324]
SIMPLIFIER_CONSTANTS = [0, 1, -1, 2, 0.0, -0.0, 0.5, -2, -0.5, 3]  # x*0, x + 0.0, 0*(-x), sum(-2*x)


def as_built(s: sym.Symbol, args: dict[str, np.ndarray]) -> np.ndarray:
    """s's value from the graph as built, op by op with the ops' kernels (no simplifier on the way)."""
    variables = {n.name: n for n in topo_order([s]) if n.op == VAR}
    names = s.list_arguments()
    with np.errstate(all="ignore"):
        return np.asarray(
            replay(compile_program([s], [variables[n] for n in names]), [args[n] for n in names], False, "forward")[0]
        )


def _rewrite_changes(got: np.ndarray, want: np.ndarray, exact: bool, stable: bool = False) -> list[str]:
    """How got differs from want beyond rounding: shape and dtype, and (exact) NaN and inf placement,
    the sign of a zero, or a finite value off by more than rounding. A stability rewrite (stable) need
    agree only where the graph as built is finite, and there be finite (API.md section 6): logsumexp(x)
    is 1e308 at x = (1e308, 0), where log(sum(exp(x))) is inf, and log1p(x) is accurate where log(1 + x) is not."""
    kinds = []
    if got.shape != want.shape:
        kinds.append("shape")
    if got.dtype != want.dtype:
        kinds.append("dtype")
    if not exact or kinds:
        return kinds
    if stable:
        return ["not finite where the graph as built is"] if not np.all(np.isfinite(got[np.isfinite(want)])) else []
    if not np.array_equal(np.isnan(got), np.isnan(want)):
        kinds.append("NaN placement")
    if not (
        np.array_equal(np.isposinf(got), np.isposinf(want)) and np.array_equal(np.isneginf(got), np.isneginf(want))
    ):
        kinds.append("inf placement")
    zeros = (got == 0) & (want == 0)
    if not np.array_equal(np.signbit(got[zeros]), np.signbit(want[zeros])):
        kinds.append("signed zero")
    finite = np.isfinite(got) & np.isfinite(want)
    if got.dtype.kind == "f":  # to rounding: relative, or a few ulps of the subnormals (0.5*x + 0.5*x at 5e-324)
        info = np.finfo(got.dtype)
        rtol, atol = (1e-5 if got.dtype == np.float32 else 1e-12), 4 * info.smallest_subnormal
        if not np.allclose(got[finite], want[finite], rtol=rtol, atol=atol):
            kinds.append("value")
    return kinds


STABILITY_RULES = {r.name for rules in RULES.values() for r in rules if r.fn.__module__ == stability.__name__}


def _stabilised(s: sym.Symbol) -> bool:
    """simplify rewrites s for stability (log(sum(exp(x))) -> logsumexp(x), log(1 + x) -> log1p(x))."""
    _, report = sym.simplify(s, explain=True)
    return not STABILITY_RULES.isdisjoint(report.counts)


def simplifier_cases(n: int, seed: int) -> tuple[int, collections.Counter, list[str]]:
    """n random elementwise/broadcast/reduction expressions on inputs holding NaN, +-inf, +-0 and values
    at the ends of the floats: count the changes simplify makes (shape, dtype, signed zero, NaN/inf
    placement, values beyond rounding) against the graph as built, computed op by op."""
    rng = np.random.default_rng(seed)
    names = "add subtract multiply divide negative maximum minimum exp log sqrt abs square power where sum mean dot"
    names += " sin tanh"
    ops = [o for o in names.split() if o in OPS]
    changes: collections.Counter = collections.Counter()
    failures: list[str] = []
    for _ in range(n * 4):
        case = Case(np.dtype(np.float64 if rng.random() < 0.6 else np.float32), [], [], [], 0)
        for _ in range(int(rng.integers(1, 4))):
            shape = SHAPES[int(rng.integers(5))]
            case.leaves.append((shape, bool(rng.random() < 0.5)))
            v = rng.choice(SIMPLIFIER_VALUES, size=shape)
            with np.errstate(over="ignore"):
                case.values.append(np.asarray(v, dtype=case.dtype))
        nodes = symbolic(case, declared=True)
        for _ in range(int(rng.integers(2, 7))):
            name = ops[int(rng.integers(len(ops)))]
            arity = OPS[name].arity
            pool = list(range(len(nodes)))
            inputs = []
            for _ in range(arity):
                if rng.random() < 0.25 and name != "dot":  # a constant: x*0, x + 0.0, 0*(-x) (np.dot(x, 2) is float64)
                    const_value = SIMPLIFIER_CONSTANTS[int(rng.integers(len(SIMPLIFIER_CONSTANTS)))]
                    case.leaves.append(((), False))
                    inputs.append(("const", const_value))
                else:
                    inputs.append(("node", int(rng.choice(pool[-3:]))))
            case.steps.append(Step(name, tuple(), {"_inputs": inputs}))
            nodes.append(None)
        case.leaves = case.leaves[: len(case.values)]
        exprs = _expressions(case)
        if exprs is None:
            continue
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            args = {f"x{i}": v for i, v in enumerate(case.values)}
            for out in exprs:
                try:
                    want = as_built(out, args)
                except Exception:  # noqa: BLE001 - a graph whose shapes do not fit: not a case
                    continue
                changes["cases"] += 1

                def run(s: sym.Symbol) -> Any:
                    return s.eval(**{a: args[a] for a in s.list_arguments()})[0]

                clear_cache()  # the plan a structure is first compiled to (its constants folded in) is run
                ways = [
                    ("executor", lambda o=out: run(o), False),
                    ("assume_finite=False", lambda o=out: as_built(sym.simplify(o), args), False),  # op by op
                    # run by bind, which settles broadcast_like(g, x) of a g wider than x
                    ("assume_finite=True", lambda o=out: run(sym.simplify(o, assume_finite=True)), True),
                ]
                for way, compute, af in ways:
                    try:
                        got = np.asarray(compute())
                    except Exception as exc:  # noqa: BLE001
                        changes[f"error ({way})"] += 1
                        failures.append(f"{out} [{way}]: {type(exc).__name__}: {exc} with {args}")
                        continue
                    kinds = _rewrite_changes(got, want, exact=not af, stable=_stabilised(out))
                    for kind in kinds:
                        changes[f"{kind} ({way})"] += 1
                    if kinds:
                        failures.append(f"{out} [{', '.join(kinds)}, {way}] with {args}: {got} for {want}")
        if changes["cases"] >= n:
            break
    return changes["cases"], changes, failures


def _expressions(case: Case) -> list | None:
    """The simplifier case as Symbols, with declared and undeclared leaves."""
    out = []
    for declared in (True, False):
        nodes = symbolic(Case(case.dtype, case.leaves, case.values, [], 0), declared=declared)
        try:
            for step in case.steps:
                ins = [v if kind == "const" else nodes[v] for kind, v in step.attrs["_inputs"]]
                if all(not isinstance(i, sym.Symbol) for i in ins):
                    ins[0] = nodes[-1]
                nodes.append(_apply(sym, OPS[step.op], ins, {}))
        except Exception:  # noqa: BLE001 - shapes that do not broadcast
            return None
        out.append(nodes[-1])
    return out


# ---- the command -------------------------------------------------------------------------------


def fuzz(cases: int, seed: int, reference: str, order: int = 2, out: Any = sys.stdout) -> tuple[int, int]:
    """Run `cases` random graphs; print each failure (shrunk) and the summary line; return (passed, failed)."""
    rng = np.random.default_rng(seed)
    ops = fuzzable_ops()
    passed = failed = 0
    for k in range(cases):
        case = generate(rng, ops)
        try:
            problems = check(case, reference, order)
        except Exception:  # noqa: BLE001 - a crash of the harness is a failure too
            problems = [traceback.format_exc(limit=3)]
        if not problems:
            passed += 1
            continue
        failed += 1
        small = shrink(case, reference)
        print(f"--- failure {failed} (case {k} of seed {seed}):", file=out)
        try:
            problems = check(small, reference, order) or problems
        except Exception:  # noqa: BLE001
            problems.append(traceback.format_exc(limit=3))
        for p in problems:
            print(f"  {p}", file=out)
        print(snippet(small), file=out)
    return passed, failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference", choices=("torch", "numpy"), default="torch")
    parser.add_argument("--order", type=int, choices=(1, 2), default=2)
    parser.add_argument("--simplifier", type=int, default=0, help="also run this many simplifier soundness cases")
    opts = parser.parse_args(argv)
    if opts.reference == "torch":
        try:
            import torch  # noqa: F401
        except ImportError:
            print("PyTorch is not installed (pip install torch); use --reference numpy", file=sys.stderr)
            return 2
    start = time.perf_counter()
    passed, failed = fuzz(opts.cases, opts.seed, opts.reference, opts.order) if opts.cases else (0, 0)
    seconds = time.perf_counter() - start
    print(f"{passed} passed, {failed} failed")
    print(f"({opts.cases} graphs, reference {opts.reference}, seed {opts.seed}, {seconds:.0f} s)")
    for name, count in sorted(CONVENTIONS.items()):
        print(f"  {name}: {count}")
    if opts.simplifier:
        n, changes, failures = simplifier_cases(opts.simplifier, opts.seed)
        for f in failures[:20]:
            print(f"  simplifier: {f}")
        print(f"simplifier soundness: {n} cases; changes: {dict(changes) if len(changes) > 1 else 'none'}")
        failed += len(failures)
    return 1 if failed else 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
