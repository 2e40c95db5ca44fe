"""The executor: bind arrays, compile a flat plan once, run forward and backward.

At bind the graph is specialised to the bound shapes and dtypes, differentiated
(`sym.grad` with head-gradient variables), simplified, and compiled into two Python
functions generated from the plan: statements over numbered locals that call each
op's pre-resolved kernel. Only slot numbers appear in the generated source: names,
attributes and constants are passed in through the namespace, never printed into it.
Each intermediate is deleted after its last use. When a run fails, or finite checks
are on, the same plan is replayed node by node to name the node at fault.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import fpwarnings, tiling
from .compile.cache import CACHE
from .compile.cache import clear_cache as clear_cache  # executor.clear_cache(), as before the one cache
from .compile.key import lift_constants, structure_key
from .errors import BindError, NonFiniteError, SymgradError, describe_origin
from .graph import CONST, GROUP, VAR, NameManager, Symbol, gc_paused, topo_order, var, variable_names
from .ops.registry import OPS, TRAINING, aux_variables, check_declared_shape

GRAD_REQS = ("write", "add", "null")


# ---- programs ------------------------------------------------------------------


class Plan:
    """A program's steps, stored by column: iterating gives one tuple per step,
    (kernel, input slots, output slot, slots dead after it, slot written into or None).

    Columns, not a tuple per step: a kept plan's objects are walked by the cyclic
    collector, and a 20,000-node graph's plans have 36,000 steps. The input slots of a
    unary or binary step (nearly all) are two int columns, -1 where absent, which the
    step loop reads without building a tuple; other steps keep theirs in `other`.
    """

    __slots__ = ("kernels", "first", "second", "other", "out_slots", "dead", "into")

    def __init__(self) -> None:
        self.kernels: list[Any] = []
        self.first: list[int] = []
        self.second: list[int] = []
        self.other: dict[int, tuple[int, ...]] = {}  # output slot -> input slots, for arities 0 and 3+
        self.out_slots: list[int] = []
        self.dead: list[tuple[int, ...]] = []
        self.into: list[int | None] = []

    def append(
        self, kernel: Any, in_slots: Sequence[int], out_slot: int, dead: tuple[int, ...], into: int | None
    ) -> None:
        n = len(in_slots)
        if n == 1 or n == 2:
            self.first.append(in_slots[0])
            self.second.append(in_slots[1] if n == 2 else -1)
        else:
            self.other[out_slot] = tuple(in_slots)
            self.first.append(-1)
            self.second.append(-1)
        self.kernels.append(kernel)
        self.out_slots.append(out_slot)
        self.dead.append(dead)
        self.into.append(into)

    def in_slots(self, pos: int) -> tuple[int, ...]:
        """The input slots of step pos."""
        a, b = self.first[pos], self.second[pos]
        return self.other[self.out_slots[pos]] if a < 0 else (a,) if b < 0 else (a, b)

    def __iter__(self) -> Iterator[tuple]:
        return zip(self.kernels, map(self.in_slots, range(len(self.kernels))), self.out_slots, self.dead, self.into)

    def __len__(self) -> int:
        return len(self.kernels)


@dataclass
class Program:
    """A compiled straight-line function from input values to output (and kept) values."""

    fn: Callable[..., tuple]
    nodes: list[Symbol]  # the node each step computes
    plan: Plan
    consts: list[tuple[int, Any]]
    out_slots: list[int]
    n_slots: int
    reused: int = 0  # steps that write into a dead input's buffer
    tile: int = 0  # elements per tile when the program runs tiled (see tiling.py), else 0
    writes_into: bool = False  # takes an array (or None) per output to write it into
    tiled_peak: int = 0  # a tiled program's scratch and output bytes

    def __call__(self, *values: Any) -> tuple:
        return self.fn(*values)

    def nbytes(self) -> int:
        """An estimate of the memory the program holds: its steps and nodes, and its constants."""
        return STEP_BYTES * (len(self.nodes) + len(self.consts)) + sum(getattr(v, "nbytes", 0) for _, v in self.consts)

    @property
    def peak_bytes(self) -> int:
        """Planned peak of the intermediates alive at once (inputs not counted)."""
        return self.tiled_peak if self.tile else planned_peak(self.plan, self.nodes)


# What one step of a kept program holds (its node with attrs, kernel and plan columns), roughly.
STEP_BYTES = 600
# Tiled programs exist only as generated code, so tiling is tried up to this many steps.
TILING_STEP_LIMIT = 2_000
ALIAS_TRACKING_LIMIT = 64  # buffers one value may alias before buffer reuse gives them up (keeps bind linear)
# A plan's first calls loop over its steps; then it is compiled to Python source. The loop
# costs 0.1-0.3 us more per step and call (2.5 us more per call on a 2-step plan), compiling
# 14-23 us per step once (120-210 us for a 2-step plan): measured plans break even after 47
# to 154 calls, and switching after 100 keeps each one's total within 1.84x of the better
# choice made in hindsight (ski rental; 24 calls, tuned for a slower loop, gave 4.5x).
CODEGEN_AFTER_CALLS = 100


def compile_program(
    outputs: Sequence[Symbol],
    inputs: Sequence[Symbol],
    reuse_buffers: bool = True,
    write_into: bool = False,
    order: Sequence[Symbol] | None = None,
) -> Program:
    """Compile the straight-line function computing outputs from the given input nodes' values.

    With reuse_buffers (the NumPy path) the plan may also write into dead buffers, run
    tiled, and call NumPy-only kernels; without it (Dask arrays) it calls the ops' impls.
    With write_into the function takes one more argument per output after the inputs:
    an array that the output's step writes into (`out=`), or None (see `_writes_into`).

    A plan first runs as a loop over pre-resolved (kernel, input slots, output slot)
    steps, and once it has been called often enough as generated Python (numbered
    locals, kernels passed in by name). Either way each intermediate is dropped after
    its last use. `order`, when the caller has it, is a topological order of exactly the
    nodes the outputs need (the inputs among them are skipped).
    """
    input_slots = {n: i for i, n in enumerate(inputs)}
    order = [n for n in (topo_order(outputs, input_slots) if order is None else order) if n not in input_slots]
    slot: dict[Symbol, int] = dict(input_slots)
    for node in order:
        slot[node] = len(slot)
    last_use: dict[Symbol, int] = {}
    for pos, node in enumerate(order):
        for i in node.inputs:
            last_use[i] = pos
    pinned = {*outputs, *inputs}
    dying: dict[int, list[int]] = {}  # step position -> slots whose last reader it is
    for node, pos in last_use.items():
        if node not in pinned:
            dying.setdefault(pos, []).append(slot[node])
    reuse = plan_buffer_reuse(order, outputs, last_use) if reuse_buffers else {}
    kernel_of = (lambda n: OPS[n.op].numpy_kernel_for(n)) if reuse_buffers else (lambda n: OPS[n.op].kernel(n.attrs))
    # An op with no attrs, no `prepare` and no NumPy-only kernel runs its impl as is.
    plain = {name: opdef.impl for name, opdef in OPS.items() if opdef.prepare is None and opdef.numpy_kernel is None}
    nodes: list[Symbol] = []
    consts: list[tuple[int, Any]] = []
    plan = Plan()
    for pos, node in enumerate(order):
        s = slot[node]
        if node.op == CONST:
            consts.append((s, node.attrs["value"]))
            continue
        if node.op == VAR:
            raise SymgradError(f"no value for variable {node.name!r}")
        if node.op == GROUP:
            raise SymgradError("a group cannot be an op input")
        nodes.append(node)
        dead = dying.get(pos)
        target = reuse.get(node)
        kernel = plain.get(node.op) if not node.attrs else None
        plan.append(
            kernel_of(node) if kernel is None else kernel,
            [slot[i] for i in node.inputs],
            s,
            () if dead is None else tuple(dead),
            None if target is None else slot[target],
        )
    out_slots = [slot[o] for o in outputs]
    n_slots = len(slot)
    if reuse_buffers and len(plan) <= TILING_STEP_LIMIT:
        namespace: dict[str, Any] = {}
        tiled = tiling.compile_tiled(order, inputs, outputs, slot, namespace)
        if tiled is not None:
            lines, tile, scratch = tiled
            fn = _function(lines, namespace, list(range(len(inputs))), out_slots)
            out_bytes = sum(_nbytes(o) for o in outputs if o not in input_slots and o.op != CONST)
            return Program(
                fn, nodes, plan, consts, out_slots, n_slots, len(reuse), tile, tiled_peak=scratch + out_bytes
            )
    if write_into:
        _writes_into(plan, nodes, out_slots, n_slots)
    program = Program(None, nodes, plan, consts, out_slots, n_slots, len(reuse), writes_into=write_into)
    arg_slots = list(range(len(inputs))) + ([n_slots + j for j in range(len(outputs))] if write_into else [])
    program.fn = _tiered(program, plan, consts, arg_slots, out_slots, n_slots + len(outputs) * write_into)
    return program


def _writes_into(plan: Plan, nodes: list[Symbol], out_slots: list[int], n_slots: int) -> None:
    """Make each output's step write into slot n_slots + (its output index), in place.

    Only steps whose kernel takes `out=` (ufuncs, np.dot) and whose result has at least
    one axis; an output listed twice is written into its first target only.
    """
    target = {}
    for j, s in enumerate(out_slots):
        target.setdefault(s, n_slots + j)
    for pos, (kernel, _, s, _, _) in enumerate(plan):
        if s in target and nodes[pos].shape and (isinstance(kernel, np.ufunc) or kernel is np.dot):
            plan.into[pos] = target[s]


def _tiered(
    program: Program, plan: Plan, consts: list, arg_slots: list[int], out_slots: list[int], n_slots: int
) -> Any:
    """The step loop for the first CODEGEN_AFTER_CALLS calls, then generated code in its place.

    It holds the program weakly: program.fn holds it, and a cycle would keep a dropped
    graph alive until the cyclic collector ran (slowing the next graph build by 5x).
    """
    looped = _looped(plan, consts, arg_slots, out_slots, n_slots)
    program_ref = weakref.ref(program)
    calls = [0]

    def first_calls(*values: Any) -> tuple:
        calls[0] += 1
        if calls[0] >= CODEGEN_AFTER_CALLS and (owner := program_ref()) is not None:
            owner.fn = _generated(plan, consts, arg_slots, out_slots)
        return looped(*values)

    return first_calls


def _nbytes(node: Symbol) -> int:
    if node.shape is None or node.dtype is None:
        return 0
    return math.prod(node.shape) * node.dtype.itemsize


_VIEWS = {"transpose", "reshape", "reshape_like", "expand_dims", "squeeze", "swapaxes", "broadcast_to"}


def planned_peak(plan: Plan, nodes: list[Symbol]) -> int:
    """Peak bytes of the step results alive at once, as the plan frees and reuses them."""
    live: dict[int, int] = {}
    total = peak = 0
    for (_, _, s, dead, into), node in zip(plan, nodes):
        if into is None:
            live[s] = _nbytes(node) if node.op not in _VIEWS else 0
            total += live[s]
        else:
            live[s] = live.pop(into, 0)
        peak = max(peak, total)
        for j in dead:
            total -= live.pop(j, 0)
    return peak


def plan_buffer_reuse(
    order: list[Symbol], outputs: Sequence[Symbol], last_use: dict[Symbol, int]
) -> dict[Symbol, Symbol]:
    """Which ufunc steps may write into the buffer of an input that dies at that step.

    Only buffers a ufunc step created are reused (never arguments, constants or saved
    values), only with the same shape and dtype, and only once every node that may
    alias the buffer (views such as reshape or transpose, identities such as
    stop_gradient) is dead too. `last_use` maps each node to the position in order of
    its last reader. Returns {node: the input whose buffer it takes}.
    """
    ufunc_ops = {name for name, opdef in OPS.items() if isinstance(opdef.impl, np.ufunc)}
    fresh = {n for n in order if n.op in ufunc_ops and n.shape}
    shares: dict[Symbol, frozenset] = {}  # for other nodes: the fresh buffers their value may share memory with
    never: set[Symbol] = set()  # buffers that may be aliased too widely to follow: never reused

    def roots(n: Symbol) -> Any:
        return (n,) if n in fresh else shares.get(n, ())

    for n in order:
        opdef = OPS.get(n.op)
        if n not in fresh and n.inputs and (opdef is None or opdef.aliases != ()):
            sources = n.inputs if opdef is None or opdef.aliases is None else [n.inputs[k] for k in opdef.aliases]
            shared = frozenset().union(*(roots(i) for i in sources))
            if len(shared) > ALIAS_TRACKING_LIMIT:  # a chain of aliasing multi-input ops: sets would grow with it
                never.update(shared)
                shared = frozenset()
            shares[n] = shared
    read_through: dict[Symbol, int] = {}  # a fresh buffer -> the last read of a value that may alias it
    for n, roots_of_n in shares.items():
        for r in roots_of_n:
            read_through[r] = max(read_through.get(r, -1), last_use.get(n, -1))
    kept = never.union(*(roots(o) for o in outputs))
    reuse: dict[Symbol, Symbol] = {}
    taken: set[Symbol] = set()
    for pos, n in enumerate(order):
        if n not in fresh:
            continue
        for i in n.inputs:
            if (
                i in fresh
                and i not in kept
                and i not in taken
                and last_use[i] == pos
                and read_through.get(i, -1) <= pos
                and i.shape == n.shape
                and i.dtype == n.dtype
                and i.dtype is not None
            ):
                reuse[n] = i
                taken.add(i)
                break
    return reuse


def _generated(plan: Plan, consts: list, arg_slots: list[int], out_slots: list[int]) -> Callable[..., tuple]:
    """Python source over numbered locals; only slot numbers appear in it, never user text."""
    namespace: dict[str, Any] = {}
    lines = []
    for s, value in consts:
        namespace[f"c{s}"] = value
        lines.append(f"    v{s} = c{s}")
    for kernel, in_slots, s, dead, into in plan:
        namespace[f"k{s}"] = kernel
        out = "" if into is None else f", out=v{into}"
        lines.append(f"    v{s} = k{s}({', '.join(f'v{j}' for j in in_slots)}{out})")
        if dead:
            lines.append(f"    del {', '.join(f'v{j}' for j in dead)}")
    return _function(lines, namespace, arg_slots, out_slots)


def _function(
    lines: list[str], namespace: dict[str, Any], arg_slots: list[int], out_slots: list[int]
) -> Callable[..., tuple]:
    """Compile `def program(v0, v1, ...)` from body lines that mention slot numbers only."""
    args = ", ".join(f"v{i}" for i in arg_slots)
    result = ", ".join(f"v{j}" for j in out_slots)
    source = f"def program({args}):\n" + "\n".join(lines) + f"\n    return ({result}{',' if out_slots else ''})\n"
    exec(compile(source, "<symgrad plan>", "exec"), namespace)  # noqa: S102 - source holds slot numbers only
    return namespace["program"]


def _looped(plan: Plan, consts: list, arg_slots: list[int], out_slots: list[int], n_slots: int) -> Callable[..., tuple]:
    """The same plan as a loop over its steps (no compile cost); unary and binary steps,
    nearly all, call their kernel without building an argument list."""
    other = plan.other

    def program(*values: Any) -> tuple:
        vals: list[Any] = [None] * n_slots
        for j, value in zip(arg_slots, values):
            vals[j] = value
        for s, value in consts:
            vals[s] = value
        for kernel, a, b, s, dead, into in zip(
            plan.kernels, plan.first, plan.second, plan.out_slots, plan.dead, plan.into
        ):
            if b >= 0:
                if into is None:
                    vals[s] = kernel(vals[a], vals[b])
                else:
                    vals[s] = kernel(vals[a], vals[b], out=vals[into])
            elif a >= 0:
                if into is None:
                    vals[s] = kernel(vals[a])
                else:
                    vals[s] = kernel(vals[a], out=vals[into])
            elif into is None:
                vals[s] = kernel(*[vals[j] for j in other[s]])
            else:
                vals[s] = kernel(*[vals[j] for j in other[s]], out=vals[into])
            for j in dead:
                vals[j] = None
        return tuple([vals[j] for j in out_slots])

    return program


def replay(program: Program, values: Sequence[Any], check_finite: bool, part: str) -> tuple:
    """Run a program node by node: names the failing node, or the first one to go non-finite."""
    vals: list[Any] = [None] * program.n_slots
    vals[: len(values)] = values
    for const_slot, value in program.consts:
        vals[const_slot] = value
    for node, (_, in_slots, out_slot, _, _) in zip(program.nodes, program.plan):
        args = [vals[j] for j in in_slots]
        try:
            with np.errstate(all="ignore"):
                out = OPS[node.op].kernel(node.attrs)(*args)
        except Exception as exc:  # noqa: BLE001 - re-raised with the node named
            raise SymgradError(
                f"{node.op} {node.name!r} failed in the {part} pass: {exc}"
                f" (input shapes {', '.join(str(np.shape(a)) for a in args)})" + describe_origin(node.origin)
            ) from exc
        if check_finite and not _all_finite(out) and all(_all_finite(a) for a in args):
            raise NonFiniteError(_non_finite_message(node, args, out, part))
        vals[out_slot] = out
    return tuple(vals[j] for j in program.out_slots)


def _all_finite(value: Any) -> bool:
    arr = np.asarray(value)
    return arr.dtype.kind not in "fc" or bool(np.isfinite(arr).all())


def _non_finite_message(node: Symbol, args: list, out: Any, part: str) -> str:
    from .printing import GraphPrinter

    order = node.origin[2] if node.origin and len(node.origin) > 2 else int(part == "backward")
    where = {0: "forward", 1: "first-order gradient"}.get(order, f"order-{order} gradient")
    expr = GraphPrinter([node]).result([node])
    ranges = ", ".join(
        f"{np.shape(a)} in [{np.nanmin(a):.4g}, {np.nanmax(a):.4g}]" if np.size(a) else f"{np.shape(a)} empty"
        for a in args
    )
    bad = np.asarray(out)
    kinds = [k for k, test in (("NaN", np.isnan), ("Inf", np.isinf)) if test(bad).any()]
    return (
        f"{node.op} {node.name!r} produced {'/'.join(kinds)} from finite inputs in the {where} part: {expr}\n"
        f"  inputs: {ranges}" + describe_origin(node.origin[:2] if node.origin else None)
    )


# ---- compiled bindings ------------------------------------------------------------


@dataclass
class Compiled:
    forward: Program
    backward: Program | None  # for the default head gradient (ones), folded into the graph
    saved: list[Symbol]  # forward nodes the backward program reads
    grad_names: list[str]
    out_shapes: list[tuple]
    out_dtypes: list[np.dtype]
    arg_names: list[str]
    special: list[Symbol] | None = None  # the forward graph specialised to the bound shapes, simplified
    targets: list[Symbol] | None = None
    reuse_buffers: bool = True
    train: Program | None = None  # forward(is_train=True) computing the gradients too (tiled graphs)
    grad_dtypes: list[np.dtype] | None = None
    _with_heads: Program | None = None

    def nbytes(self) -> int:
        """An estimate of the memory this binding's programs hold (for the plan cache's bound)."""
        programs = [p for p in (self.forward, self.backward, self.train) if p is not None]
        return sum(p.nbytes() for p in programs)

    def backward_with_heads(self) -> Program:
        """Backward for given head gradients: inputs are the heads then the arguments (built on first use)."""
        if self._with_heads is None:
            from .autodiff import derive_simplified

            heads = [
                var(f"_head_grad{i}", shape=s, dtype=d)
                for i, (s, d) in enumerate(zip(self.out_shapes, self.out_dtypes))
            ]
            wrt = [t for t in self.targets if t.name in self.grad_names]  # in grad_names' order
            with NameManager():
                grads = derive_simplified(self.special, wrt, heads).grads
            self._with_heads = compile_program(grads, heads + self.targets, self.reuse_buffers)
        return self._with_heads


def _fused_train(outputs: list[Symbol], grads: list[Symbol], args: list[Symbol], reuse: bool) -> Program | None:
    """Outputs and default-head gradients in one tiled pass, when the whole graph tiles.

    Tiled, the backward recomputes nothing and keeps no forward values: each tile's
    forward intermediates are still in cache when its gradient needs them.
    """
    if not reuse or max((math.prod(a.shape) for a in args if a.shape is not None), default=0) < tiling.TILE_MIN_SIZE:
        return None
    program = compile_program(outputs + grads, args, reuse)
    return program if program.tile else None


def compile_binding(
    symbol: Symbol,
    shapes: dict,
    dtypes: dict,
    grad_names: list[str],
    reuse_buffers: bool = True,
    order: list[Symbol] | None = None,
) -> tuple[Compiled, Sequence[Any]]:
    """Specialise, differentiate, simplify and compile; cached by structure, shapes, dtypes.

    Returns the compiled programs and the constant values to pass after the arguments
    (none for a plan specialised to the graph's constants; see `PlanCache.lookup`).
    Raises BindError or ShapeError (naming the op and the user's line) when the shapes
    do not fit the graph; a cache hit needs no check, its key holds every shape.
    `order` is topo_order(symbol.outputs()) when the caller has it already.
    """
    outputs = symbol.outputs()
    order = topo_order(outputs) if order is None else order
    structure, values = structure_key(outputs, order)
    key = (
        structure,
        tuple(sorted(shapes.items())),
        tuple(sorted((k, str(v)) for k, v in dtypes.items())),
        tuple(grad_names),
        reuse_buffers,
    )

    def compile_with(lift: bool) -> Callable[[], tuple[Compiled, int]]:
        def run() -> tuple[Compiled, int]:
            with gc_paused():
                compiled = _compile_binding(order, outputs, shapes, dtypes, grad_names, reuse_buffers, lift)
            return compiled, compiled.nbytes()

        return run

    return CACHE.lookup(key, values, compile_with(False), compile_with(True))


def _compile_binding(
    order: list[Symbol],
    outputs: list[Symbol],
    shapes: dict,
    dtypes: dict,
    grad_names: list[str],
    reuse_buffers: bool,
    lift: bool,
) -> Compiled:
    from .autodiff import derive_simplified
    from .simplify import simplify_all

    arg_names = variable_names(order)
    shaped = {n: var(n, shape=shapes[n], dtype=dtypes[n]) for n in arg_names}
    for node in order:
        if node.op == VAR:
            check_declared_shape(node, shapes[node.name])
            shaped[node.name].origin = node.origin  # for error messages
    params: list[Symbol] = []
    variables: dict[str, Symbol] | None = shaped
    if lift:  # constants become inputs after the arguments, in structure_key's order
        new, params = lift_constants(order, shaped)
        outputs = [new[o] for o in outputs]
        order, variables = topo_order(outputs), None  # the bound variables are in place already
    # The variables are replaced by the bound ones while the forward graph is simplified;
    # rebuilding each node on the way checks its shapes (a ShapeError names the op and line).
    if grad_names:
        with NameManager():  # default head gradient: ones, folded into the graph (4*x, not 4*(h*x))
            fwd_outputs, fwd_order, grads = derive_simplified(
                outputs, [shaped[n] for n in grad_names], variables=variables, order=order
            )
    else:
        fwd_outputs = simplify_all(outputs, variables=variables)
    out_shapes = [o.shape for o in fwd_outputs]
    out_dtypes = [o.dtype or np.dtype(np.float64) for o in fwd_outputs]
    arg_inputs = [shaped[n] for n in arg_names] + params
    forward = None
    backward = train = None
    saved: list[Symbol] = []
    if grad_names:
        fwd_nodes = set(fwd_order)
        # The backward-only nodes, and the forward nodes where the walk stops (see `topo_order`).
        bwd_nodes = topo_order(grads, fwd_nodes)
        # Forward values that some backward-only node reads are kept from forward to backward.
        read = {i for b in bwd_nodes if b not in fwd_nodes for i in b.inputs}
        saved = [n for n in bwd_nodes if n in fwd_nodes and n.op not in (VAR, CONST) and n in read]
        train = _fused_train(fwd_outputs, grads, arg_inputs, reuse_buffers)
        if train is not None:  # one tiled pass computes outputs and gradients; nothing is saved
            saved = []
            forward = compile_program(fwd_outputs, arg_inputs, reuse_buffers, order=fwd_order)
        else:
            forward = compile_program(fwd_outputs + saved, arg_inputs, reuse_buffers, order=fwd_order)
            backward = compile_program(grads, saved + arg_inputs, reuse_buffers, write_into=reuse_buffers)
    else:
        forward = compile_program(fwd_outputs, arg_inputs, reuse_buffers)
    compiled = Compiled(forward, backward, saved, grad_names, out_shapes, out_dtypes, arg_names)
    compiled.train = train
    compiled.grad_dtypes = [g.dtype for g in grads] if grad_names else []
    compiled.special, compiled.targets, compiled.reuse_buffers = fwd_outputs, arg_inputs, reuse_buffers
    return compiled


# ---- the Executor -------------------------------------------------------------------


def _as_array(value: Any, name: str) -> np.ndarray:
    if hasattr(value, "_is_ndarray"):
        value = value.asnumpy()
    try:
        arr = np.asarray(value)
    except ValueError as exc:  # a ragged list
        raise BindError(f"argument {name!r} is not a rectangular array: {exc}") from None
    if arr.dtype.kind == "c":
        raise BindError(f"argument {name!r} is complex ({arr.dtype}); symgrad computes with real arrays")
    if arr.dtype.kind not in "biuf":
        raise BindError(f"argument {name!r} has dtype {arr.dtype}; give a real numeric array")
    return arr


def _per_arg(value: Any, names: list[str], what: str) -> dict[str, Any]:
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


class Executor:
    """A symbol bound to arrays: forward, backward, and MXNet's views of the arrays."""

    def __init__(
        self,
        symbol: Symbol,
        args: Any,
        args_grad: Any = None,
        grad_req: Any = "write",
        aux_states: Any = None,
        ctx: Any = None,  # MXNet's device arguments: symgrad runs on the CPU, so they change nothing
        group2ctx: Any = None,
        shared_exec: Any = None,
    ) -> None:
        if grad_req is None:
            raise BindError(f"bind: grad_req must be one of {GRAD_REQS}, or a dict or list of them, not None")
        self._symbol = symbol
        if not symbol.outputs():
            raise BindError("bind: the symbol has no outputs (an empty Group); nothing to compute")
        order = topo_order(symbol.outputs())
        every = variable_names(order)  # the compiled program's inputs: arguments and auxiliary states
        aux_names = aux_variables(order)
        names = [n for n in every if n not in aux_names]
        given = _per_arg(args, names, "bind")
        missing = [n for n in names if n not in given]
        if missing:
            raise BindError(f"bind: no array for argument {missing[0]!r}; expected {names}")
        self.arg_dict = {n: _as_array(given[n], n) for n in names}
        aux = _per_arg(aux_states, aux_names, "aux_states")
        missing = [n for n in aux_names if n not in aux]
        if missing:
            raise BindError(
                f"bind: no array for auxiliary state {missing[0]!r}; pass aux_states={{...}} for {aux_names}"
            )
        self.aux_dict = {n: _as_array(aux[n], n) for n in aux_names}  # kept by reference: BatchNorm updates them
        if isinstance(grad_req, str):
            reqs = dict.fromkeys(names, grad_req)
        else:
            reqs = {n: "null" for n in names}
            reqs.update(_per_arg(grad_req, names, "grad_req"))
        for n, r in reqs.items():
            if r not in GRAD_REQS:
                raise BindError(f"grad_req for {n!r} is {r!r}; use one of {GRAD_REQS}")
        self._grad_req = reqs
        grads = _per_arg(args_grad, names, "args_grad")
        self.grad_dict: dict[str, np.ndarray] = {}
        for n in names:
            if reqs[n] == "null":
                continue
            arr = self.arg_dict[n]
            if arr.dtype.kind != "f":
                raise BindError(
                    f"argument {n!r} has integer dtype {arr.dtype} but its gradient is requested; "
                    "pass a float array or grad_req='null' for it"
                )
            if n in grads and grads[n] is not None:
                g = np.asarray(grads[n])
                if g.shape != arr.shape:
                    raise BindError(f"args_grad[{n!r}] has shape {g.shape}, argument has shape {arr.shape}")
                if g.dtype.kind != "f" or not g.flags.writeable:
                    raise BindError(
                        f"args_grad[{n!r}] must be a writeable float array (gradients are written into it),"
                        f" got {'a read-only ' if not g.flags.writeable else ''}{g.dtype} array"
                    )
                self.grad_dict[n] = g
            else:
                self.grad_dict[n] = np.zeros_like(arr)
        self._names = names
        values = {**self.arg_dict, **self.aux_dict}
        shapes = {n: a.shape for n, a in values.items()}
        dtypes = {n: a.dtype for n, a in values.items()}
        grad_names = [n for n in names if reqs[n] != "null"]
        self._compiled, constants = compile_binding(symbol, shapes, dtypes, grad_names, order=order)
        self._arg_list = [values[n] for n in every] + list(constants)  # the plan's inputs
        self._writes = [(self.grad_dict[n], reqs[n] == "add") for n in grad_names]
        self._targets = self._write_targets(grad_names, reqs)
        self._saved: tuple | None = None
        self._fused = False  # the last forward(is_train=True) computed the gradients too
        self._n_out = len(self._compiled.out_shapes)
        self._out_dtypes = self._compiled.out_dtypes
        self.outputs: list[np.ndarray] = []
        self._aliased: list[int] | None = None

    # MXNet's views
    @property
    def arg_arrays(self) -> list[np.ndarray]:
        return [self.arg_dict[n] for n in self._names]

    @property
    def grad_arrays(self) -> list[np.ndarray | None]:
        return [self.grad_dict.get(n) for n in self._names]

    @property
    def output_dict(self) -> dict[str, np.ndarray]:
        return dict(zip(self._symbol.list_outputs(), self.outputs))

    @property
    def aux_arrays(self) -> list[np.ndarray]:
        return list(self.aux_dict.values())

    def plan_stats(self) -> dict[str, int]:
        """Steps, reused buffers and planned peak bytes of the compiled programs (and tile length if tiled)."""
        c = self._compiled
        stats = {
            "forward_steps": len(c.forward.nodes),
            "forward_buffers_reused": c.forward.reused,
            "forward_peak_bytes": c.forward.peak_bytes,
            "forward_tile": c.forward.tile,
            "saved_for_backward": len(c.saved),
        }
        if c.train is not None:
            stats["fused_steps"] = len(c.train.nodes)
            stats["fused_peak_bytes"] = c.train.peak_bytes
            stats["fused_tile"] = c.train.tile
        if c.backward is not None:
            stats["backward_steps"] = len(c.backward.nodes)
            stats["backward_buffers_reused"] = c.backward.reused
            stats["backward_peak_bytes"] = c.backward.peak_bytes
        return stats

    def forward(self, is_train: bool = False, check_finite: bool = False, **new_args: Any) -> list[np.ndarray]:
        """Run the forward program; new_args are copied into the bound arrays first."""
        if new_args:
            self._copy_in(new_args)
        train = self._compiled.train if is_train else None
        program = train or self._compiled.forward
        noting = fpwarnings.start()
        mode = TRAINING.set(bool(is_train))  # Dropout draws its mask only when training
        try:
            if check_finite:
                results = replay(program, self._arg_list, True, "forward")
            else:
                try:
                    results = program.fn(*self._arg_list)
                except Exception:  # noqa: BLE001 - replay names the node at fault
                    results = replay(program, self._arg_list, False, "forward")
        finally:
            noted = fpwarnings.stop(noting)
            TRAINING.reset(mode)
        n_out = self._n_out
        self.outputs = outputs = [
            r if type(r) is np.ndarray and r.dtype == d else np.asarray(r, dtype=d)
            for r, d in zip(results[:n_out], self._out_dtypes)
        ]
        if self._aliased is None:  # outputs that are an argument, a view of one, or an earlier output
            self._aliased = [
                i
                for i, o in enumerate(outputs)
                if any(np.may_share_memory(o, a) for a in (*self._arg_list, *outputs[:i]))
            ]
        for i in self._aliased:  # so writing into an output changes no argument and no other output
            outputs[i] = outputs[i].copy()
        self._saved = results[n_out:] if is_train else None
        self._fused = train is not None
        if noted is not None:
            named = [(f"output {n!r}", o) for n, o in zip(self._symbol.list_outputs(), outputs)]
            if train is not None:  # the fused pass computed the gradients as well
                named += [(f"the gradient of {n!r}", g) for n, g in zip(self.grad_dict, self._saved)]
            fpwarnings.warn_if_spoilt(noted, named, "the forward pass")
        return outputs

    def _copy_in(self, new_args: dict[str, Any]) -> None:
        for name, value in new_args.items():
            target = self.arg_dict.get(name)
            if target is None:
                raise BindError(f"forward: {name!r} is not an argument; arguments: {self._names}")
            value = _as_array(value, name)
            if value.shape != target.shape:
                raise BindError(
                    f"forward: argument {name!r} has shape {value.shape} but was bound with {target.shape};"
                    " bind again for new shapes"
                )
            if not target.flags.writeable or not np.can_cast(value.dtype, target.dtype, "same_kind"):
                bound_to = "a read-only" if not target.flags.writeable else "an"
                raise BindError(
                    f"forward: cannot copy a {value.dtype} array into argument {name!r}: it is bound to"
                    f" {bound_to} array of {target.dtype}; bind again instead"
                )
            np.copyto(target, value)

    def backward(self, out_grads: Any = None, check_finite: bool = False) -> None:
        """Fill the gradient arrays (grad_req 'write' or 'add') from the last forward(is_train=True)."""
        saved = self._saved
        if saved is None:
            raise SymgradError("backward needs the values of a forward(is_train=True) call first")
        program = self._compiled.backward
        if out_grads is None and self._fused:  # the fused forward pass computed them
            if check_finite:
                saved = replay(self._compiled.train, self._arg_list, True, "backward")[self._n_out :]
            self._write_grads(saved)
            return
        if program is None and out_grads is None:
            return
        targets = self._targets
        if out_grads is None:
            values = (*saved, *self._arg_list)
        else:
            program = self._compiled.backward_with_heads()
            values, targets = (*self._head_grads(out_grads), *self._arg_list), []
        noting = fpwarnings.start()
        try:
            if check_finite:
                grads = replay(program, values, True, "backward")
            else:
                try:
                    grads = program.fn(*values, *targets)
                except Exception:  # noqa: BLE001 - replay names the node at fault
                    grads = replay(program, values, False, "backward")
        finally:
            noted = fpwarnings.stop(noting)
        self._write_grads(grads)
        if noted is not None:
            named = ((f"the gradient of {n!r}", g) for n, g in self.grad_dict.items())
            fpwarnings.warn_if_spoilt(noted, named, "the backward pass")

    def _write_targets(self, grad_names: list[str], reqs: dict[str, str]) -> list[np.ndarray | None]:
        """The gradient arrays the backward program may write into directly ('write' only).

        Its steps write with `out=`, which needs a C-contiguous array of the gradient's
        exact dtype that shares no memory with an argument or another gradient array
        (those are copied into, in order, as before).
        """
        program = self._compiled.backward
        if program is None or not program.writes_into:
            return []
        arrays = [self.grad_dict[n] for n in grad_names]
        targets: list[np.ndarray | None] = []
        for i, (n, g) in enumerate(zip(grad_names, self._compiled.grad_dtypes)):
            t = arrays[i]
            ok = reqs[n] == "write" and type(t) is np.ndarray and t.flags.c_contiguous and t.dtype == g
            others = self._arg_list + arrays[:i] + arrays[i + 1 :]
            targets.append(t if ok and not any(np.shares_memory(t, a) for a in others) else None)
        return targets

    def _write_grads(self, grads: Sequence[Any]) -> None:
        for (target, add), g in zip(self._writes, grads):
            if add:
                target += g
            elif g is not target:
                np.copyto(target, g)

    def _head_grads(self, out_grads: Any) -> list[np.ndarray]:
        if not isinstance(out_grads, (list, tuple)):
            out_grads = [out_grads]
        c = self._compiled
        if len(out_grads) != len(c.out_shapes):
            raise BindError(f"backward: {len(out_grads)} head gradients for {len(c.out_shapes)} outputs")
        heads = []
        for i, (g, shape, dtype) in enumerate(zip(out_grads, c.out_shapes, c.out_dtypes)):
            if g is None:  # this output's default head, as in autograd.backward
                heads.append(np.ones(shape, dtype))
                continue
            g = _as_array(g, f"out_grads[{i}]")
            if g.shape != shape:
                raise BindError(f"backward: head gradient {i} has shape {g.shape}, output {i} has shape {shape}")
            heads.append(g.astype(dtype, copy=False))
        return heads


def simple_bind(symbol: Symbol, grad_req: Any, type_dict: Any, shapes: dict[str, Any]) -> Executor:
    """Bind zero arrays of the given shapes (other shapes inferred where declared)."""
    names = symbol.list_arguments()
    arg_shapes, _, aux_shapes = symbol.infer_shape(**shapes)
    arrays: dict[str, np.ndarray] = {}
    for name, shape in [*zip(names, arg_shapes), *zip(symbol.list_auxiliary_states(), aux_shapes)]:
        if shape is None:
            raise BindError(f"simple_bind: no shape for argument {name!r}; pass {name}=(...)")
        dtype = (type_dict or {}).get(name, "float32")
        try:
            arrays[name] = np.zeros(shape, dtype=dtype)
        except MemoryError:
            raise BindError(f"simple_bind: argument {name!r} of shape {shape} does not fit in memory") from None
        except TypeError:
            raise BindError(f"simple_bind: type_dict[{name!r}] = {dtype!r} is not a NumPy dtype") from None
    args = {n: arrays.pop(n) for n in names}
    return Executor(symbol, args, None, grad_req, aux_states=arrays)  # what is left: the auxiliary states
