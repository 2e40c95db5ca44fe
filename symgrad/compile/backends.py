"""The ways to run a plan, behind one `run(program, values)`.

A program first runs as a loop over its steps (no compile cost); after
CODEGEN_AFTER_CALLS calls it is compiled to straight-line Python over numbered locals
(only slot numbers appear in the source, never user text). An elementwise program whose
big values share one shape runs tiled instead (`tiling.py`, generated code too). When a
run fails, or finite checks are on, `replay` runs the same plan node by node and names
the node at fault. The jit backend (`jitvm.py`) runs the same plan in a Numba VM.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .. import fpwarnings, tiling
from ..errors import NonFiniteError, SymgradError, describe_origin, origin_name
from ..graph import CONST, GROUP, VAR, Symbol, topo_order
from ..ops.registry import OPS, TRAINING
from ..printing import GraphPrinter
from .choice import program_function
from .key import is_lifted
from .plan import Plan, Program, _nbytes, _writes_into, plan_buffer_reuse
from .vmcode import unpack

# Tiled programs exist only as generated code, so tiling is tried up to this many steps.
TILING_STEP_LIMIT = 2_000
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
        if reuse_buffers and node.shape == ():
            kernel = _scalar_operator(node) or kernel
        plan.append(
            kernel_of(node) if kernel is None else kernel,
            [slot[i] for i in node.inputs],
            s,
            () if dead is None else tuple(dead),
            None if target is None else slot[target],
        )
    out_slots = [slot[o] for o in outputs]
    n_slots = len(slot)
    reads_training = any(OPS[n.op].training for n in nodes)
    if reuse_buffers and len(plan) <= TILING_STEP_LIMIT:
        namespace: dict[str, Any] = {}
        tiled = tiling.compile_tiled(order, inputs, outputs, slot, namespace)
        if tiled is not None:
            lines, tile, scratch = tiled
            fn = _function(lines, namespace, list(range(len(inputs))), out_slots)
            out_bytes = sum(_nbytes(o) for o in outputs if o not in input_slots and o.op != CONST)
            return Program(
                fn,
                nodes,
                plan,
                consts,
                out_slots,
                n_slots,
                len(reuse),
                tile,
                tiled_peak=scratch + out_bytes,
                reads_training=reads_training,
            )
    if write_into:
        _writes_into(plan, nodes, out_slots, n_slots)
    program = Program(
        None, nodes, plan, consts, out_slots, n_slots, len(reuse), writes_into=write_into, reads_training=reads_training
    )
    arg_slots = list(range(len(inputs))) + ([n_slots + j for j in range(len(outputs))] if write_into else [])
    program.fn = _tiered(program, plan, consts, arg_slots, out_slots, n_slots + len(outputs) * write_into)
    return program


_SCALAR_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _scalar_operator(node: Symbol) -> Any:
    """The op's Python operator for a 0-d float step whose operands are 0-d values of its dtype or
    Python numbers, one at least a NumPy value at run time; else None.

    NumPy's scalar arithmetic costs a twentieth of a ufunc call, which makes arrays of its
    operands and a scalar of its result: a small plan's 0-d steps (W1's 2*dot(x, x), eager
    W6's gradients) are mostly that. The values, dtypes and floating-point error reports
    are the ufunc's (a Python number promotes the same way, NEP 50); two Python numbers
    would give a Python float (weak in what follows), so a lifted constant, which may be
    one, does not count as the NumPy operand.
    """
    op = OPS[node.op].operator
    if op is None or node.dtype not in _SCALAR_DTYPES:
        return None
    numpy_operand = False
    for i in node.inputs:
        if i.op == CONST:
            value = i.attrs["value"]
            if not (type(value) is float or (type(value) is int and abs(value) <= 2**53)):
                return None
        elif i.shape != () or i.dtype != node.dtype:
            return None
        elif not is_lifted(i):
            numpy_operand = True
    return op if numpy_operand else None


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


def run(
    program: Program,
    values: Sequence[Any],
    check_finite: bool = False,
    part: str = "forward",
    into: Sequence[Any] = (),
    backend: str = "numpy",
    training: bool | None = None,
) -> tuple[tuple, str | None]:
    """Run a program on its input values (then `into`, the arrays a write_into program writes outputs into).

    backend is "numpy", or "jit"/"auto" (`choice.program_function`). Returns the results, and
    the kinds of NumPy floating-point error noted (not warned) while it ran, or None: the
    caller warns if a NaN or Inf reached a result (`fpwarnings`). With check_finite, or when
    the fast run raises, the plan is replayed node by node so the error names the node, op,
    shapes and the user's line. `training` is the train-mode flag for the ops that read it;
    only a plan holding one (`reads_training`) sets it, since setting a context variable on
    every run of a small plan costs as much as one of its steps.
    """
    notes = fpwarnings.NOTES[0]
    noting = fpwarnings.start()
    mode = TRAINING.set(training) if training is not None and program.reads_training else None
    try:
        if check_finite:
            results = replay(program, unpack(values), True, part)
        else:
            try:
                results = (program.fn if backend == "numpy" else program_function(program, backend))(*values, *into)
            except NonFiniteError:
                raise
            except Exception:  # noqa: BLE001 - replay names the node at fault
                results = replay(program, unpack(values), False, part)
    finally:
        fpwarnings.restore(noting)
        if mode is not None:
            TRAINING.reset(mode)
        noted = None if fpwarnings.NOTES[0] == notes else fpwarnings.take_noted()
    return results, noted


def run_train(
    forward: Program, backward: Program, values: Sequence[Any], n_out: int, into: tuple, backend: str
) -> tuple[tuple, tuple, str | None, str | None]:
    """forward in train mode, then backward on its saved values (results from n_out on) and the same
    values, in one window of NumPy's noting error state: `run` twice switches it twice, which costs
    as much as a small program's own steps. Returns both results and the kinds noted in each part
    (see `run`); a part that raises is replayed node by node, as in `run`."""
    notes = fpwarnings.NOTES[0]
    noting = fpwarnings.start()
    try:
        mode = TRAINING.set(True) if forward.reads_training else None
        try:
            results = (forward.fn if backend == "numpy" else program_function(forward, backend))(*values)
        except NonFiniteError:
            raise
        except Exception:  # noqa: BLE001 - replay names the node at fault
            results = replay(forward, unpack(values), False, "forward")
        finally:
            if mode is not None:
                TRAINING.reset(mode)
        noted = None if fpwarnings.NOTES[0] == notes else fpwarnings.take_noted()
        notes = fpwarnings.NOTES[0]
        saved = results[n_out:]
        try:
            grads = (backward.fn if backend == "numpy" else program_function(backward, backend))(*saved, *values, *into)
        except NonFiniteError:
            raise
        except Exception:  # noqa: BLE001 - replay names the node at fault
            grads = replay(backward, unpack((*saved, *values)), False, "backward")
    finally:
        fpwarnings.restore(noting)
        noted_backward = None if fpwarnings.NOTES[0] == notes else fpwarnings.take_noted()
    return results, grads, noted, noted_backward


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


def _with_user_names(expr: str, node: Symbol) -> str:
    """expr with each eager leaf (var3, _data1) named as the user's line names it (x from x.attach_grad())."""
    for leaf in topo_order([node]):
        if leaf.op == VAR and leaf.value is not None and _EAGER_LEAF.fullmatch(leaf.name or ""):
            name = origin_name(leaf.origin)
            if name:
                expr = re.sub(rf"\b{leaf.name}\b", name, expr)
    return expr


_EAGER_LEAF = re.compile(r"(var|_data)\d+")


def _non_finite_message(node: Symbol, args: list, out: Any, part: str) -> str:
    order = node.origin[2] if node.origin and len(node.origin) > 2 else int(part == "backward")
    where = {0: "forward", 1: "first-order gradient"}.get(order, f"order-{order} gradient")
    expr = _with_user_names(GraphPrinter([node]).result([node]), node)
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
