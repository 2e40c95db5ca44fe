"""A small graph's training step as two generated functions: the executor's own forward and backward.

A training step of a few small steps is mostly fixed cost: the calls around the two
programs, the outputs stored into their NDArrays, the gradients copied at backward.
Once an executor has run `forward(is_train=True)` CODEGEN_AFTER_CALLS times, its
`forward` and `backward` become generated closures (`attach`): the forward program's
steps, then the backward's reading the saved values as locals, run in the executor's own
noting context (`fpwarnings.noting_context`: NumPy's error state set once, not switched and
restored on each call, which was a third of W1's overhead); each output stored as its
spec says; the gradients kept for `backward`, which copies (or adds) them into the
gradient arrays. They do what `Executor.forward`/`backward` do on their early-gradients
path and call those methods for anything else (inference, check_finite, head gradients)
and when a step raises (its replay names the node). Only slot numbers appear in the source, never user text.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from . import fpwarnings
from .compile.plan import Program
from .errors import SymgradError
from .ops.registry import OPS

# The generated code's file name is inside the package, so a warning it raises names the user's line.
_SOURCE_NAME = __file__ + "<generated train step>"


def attach(executor: Any) -> bool:
    """Give executor generated `forward`/`backward` attributes where its programs allow; whether it did.

    They hold the executor weakly: an executor holding functions that hold it would be a
    cycle, kept alive (arrays and all) until the cyclic collector ran.
    """
    c = executor._compiled
    outs, writes = executor._outs, executor._writes
    zero_d = tuple(zero is not None for _, _, zero in outs)
    key = (zero_d, tuple(copy for _, copy, _ in outs), tuple(add for _, add in writes))
    factory = c.step.get(key)
    if factory is None:
        factory = c.step[key] = _factory(c.forward, c.backward, executor._n_out, outs, writes) or False
    if not factory:
        return False
    buffers = [np.empty(*spec) for spec in train_buffers(c.backward) if spec is not None]
    cls = type(executor)
    forward, backward = factory(
        weakref.ref(executor),
        cls.forward,
        cls.backward,
        executor.outputs,
        fpwarnings.noting_context().run,  # the executor's own: a context is entered by one thread at a time
        *executor._arg_list,
        *buffers,
        *executor.outputs,
        *(zero for _, _, zero in outs),
        *executor._out_dtypes,
        *(target for target, _ in writes),
    )
    executor.forward = _like(forward, cls.forward)
    executor.backward = _like(backward, cls.backward)
    return True


def _like(function: Callable, method: Callable) -> Callable:
    """function named and documented as method, with its own signature: the bound method's (no self)."""
    functools.update_wrapper(function, method)
    del function.__wrapped__  # inspect.signature (and help) would follow it to the method's, self first
    return function


def _factory(
    forward: Program, backward: Program, n_out: int, outs: list[tuple], writes: list[tuple]
) -> Callable[..., tuple] | None:
    """The function making an executor's forward and backward closures, or None where it cannot be.

    Not for tiled programs, nor for ops that read a random generator or write into their
    inputs (a step that raised is run again by `Executor.forward`).
    """
    programs = (forward, backward)
    if any(p.tile or any(OPS[n.op].stateful or OPS[n.op].writes for n in p.nodes) for p in programs):
        return None
    n_in = forward.n_slots - len(forward.plan) - len(forward.consts)
    names = {s: f"v{s}" for s in range(n_in)}
    body = _step_lines(forward, "v", "c", "k", names)
    body.append("        mid = NOTES[0]")
    saved = forward.out_slots[n_out:]  # the backward's inputs: the saved values, then the forward's inputs
    back_names = {j: names.get(s, f"v{s}") for j, s in enumerate(saved)}
    back_names.update({len(saved) + s: f"v{s}" for s in range(n_in)})
    buffers = [j for j, shape in enumerate(train_buffers(backward)) if shape is not None]
    back_names.update({backward.n_slots + j: f"t{j}" for j in buffers})
    body += _step_lines(backward, "w", "d", "b", back_names)
    results = [names.get(s, f"v{s}") for s in forward.out_slots]
    grads = [back_names.get(s, f"w{s}") for s in backward.out_slots]
    copies = [f"        T{i} += g{i}" if add else f"        T{i}[...] = g{i}" for i, (_, add) in enumerate(writes)]
    added = [f"T{i}" for i, (_, add) in enumerate(writes) if add]
    adds = [f"        nonlocal {', '.join(added)}  # += rebinds: to the same array"] if added else []
    kept = list(dict.fromkeys(results + grads))  # what the steps give the forward, each once
    got = {name: f"r{j}" for j, name in enumerate(kept)}
    results, grads = [got[r] for r in results], [got[g] for g in grads]
    stores = [_store_line(i, r, copy, zero is not None) for i, (r, (_, copy, zero)) in enumerate(zip(results, outs))]
    params = [
        "ref, slow_forward, slow_backward, outputs, run",
        *(f"v{s}" for s in range(n_in)),
        *(f"t{j}" for j in buffers),
        *(f"o{i}" for i in range(len(outs))),
        *(f"z{i}" for i in range(len(outs))),
        *(f"D{i}" for i in range(len(outs))),
        *(f"T{i}" for i in range(len(writes))),
    ]
    source = "\n".join(
        [
            f"def make({', '.join(params)}):",
            "    def steps():",
            *body,
            f"        return {''.join(k + ', ' for k in kept)}mid",
            "",
            "    def forward(is_train=False, check_finite=False, **new_args):",
            "        ex = ref()",
            "        if ex is None or not is_train or check_finite:",
            "            return slow_forward(alive(ref), is_train, check_finite, **new_args)",
            "        if new_args:",
            "            ex._copy_in(new_args)",
            "        notes = NOTES[0]",
            "        try:",
            f"            {''.join(r + ', ' for r in got.values())}mid = run(steps)  # in the noting state",
            "        except Exception:  # a step raised (or another thread runs this executor's steps)",
            "            notes = None",
            "        if NOTES[0] == notes:",
            "            noted = grads_noted = None",
            "        elif notes is not None and mid == notes:  # noted in the backward program only",
            "            noted, grads_noted = None, take_noted()",
            "        elif notes is not None and NOTES[0] == mid:  # in the forward program only",
            "            noted, grads_noted = take_noted(), None",
            "        else:  # a step raised, or both noted: Executor.forward runs them again, naming a failing node",
            "            take_noted()",
            "            return slow_forward(ex, is_train)",
            *stores,
            f"        ex._saved = ({''.join(r + ', ' for r in results[n_out:])})",
            f"        ex._grads = ({''.join(g + ', ' for g in grads)})",
            "        ex._grads_noted = grads_noted",
            "        if noted is not None:",
            "            ex._warn_forward(noted)",
            "        return outputs",
            "",
            "    def backward(out_grads=None, check_finite=False):",
            "        ex = ref()",
            "        grads = None if ex is None else ex._grads",
            "        if grads is None or out_grads is not None or check_finite:",
            "            return slow_backward(alive(ref), out_grads, check_finite)",
            *adds,
            f"        {''.join(f'g{i}, ' for i in range(len(writes)))}= grads",
            *copies,
            "        if ex._grads_noted is not None:",
            "            ex._warn_backward(ex._grads_noted)",
            "",
            "    return forward, backward",
            "",
        ]
    )
    namespace: dict[str, Any] = {"NOTES": fpwarnings.NOTES, "alive": _alive}
    namespace.update(take_noted=fpwarnings.take_noted, conform=_conform)
    for const, kernel, program in (("c", "k", forward), ("d", "b", backward)):
        namespace.update({f"{const}{s}": value for s, value in program.consts})
        namespace.update({f"{kernel}{s}": k for k, s in zip(program.plan.kernels, program.plan.out_slots)})
    exec(compile(source, _SOURCE_NAME, "exec"), namespace)  # noqa: S102 - source holds slot numbers only
    return namespace["make"]


def _store_line(i: int, result: str, copy: bool, zero_d: bool) -> str:
    """Output i's store as the NDArray o{i}'s data: a 0-d result in its own 0-d array z{i} (o{i}'s data
    again, as the user may have given o{i} other data meanwhile), an array as it is."""
    if zero_d:
        return f"        z{i}[()] = {result}\n        o{i}._data = z{i}"
    value = f"{result}.copy()" if copy else result
    return f"        o{i}._data = {value} if {result}.dtype is D{i} else conform({result}, D{i})"


def _conform(value: Any, dtype: np.dtype) -> np.ndarray:
    """A result whose dtype is not its output's, as the output's (a new array)."""
    return np.array(value, dtype=dtype)


def _alive(ref: weakref.ref) -> Any:
    executor = ref()
    if executor is None:
        raise SymgradError(
            "this forward/backward belongs to an executor that was freed; keep the executor"
            " (ex = y.bind(...)) and call ex.forward(...)"
        )
    return executor


def _step_lines(program: Program, local: str, const: str, kernel: str, names: dict[int, str]) -> list[str]:
    """A program's steps as body lines: slot s is names[s] (inputs, write-into arrays), its
    constant, or the local {local}{s}; a write-into slot not in names gets no `out=`."""
    names.update({s: f"{const}{s}" for s, _ in program.consts})
    lines = []
    for _, in_slots, s, dead, into in program.plan:
        args = ", ".join(names.get(j, f"{local}{j}") for j in in_slots)
        if into is not None and (into < program.n_slots or into in names):
            args += f", out={names.get(into, f'{local}{into}')}"
        lines.append(f"        {local}{s} = {kernel}{s}({args})")
        dying = [f"{local}{j}" for j in dead if j not in names]  # constants are not locals
        if dying:
            lines.append(f"        del {', '.join(dying)}")
    return lines


def train_buffers(backward: Program) -> list[tuple[tuple, np.dtype] | None]:
    """Per gradient: (shape, dtype) of the array the generated backward step writes it into, or None."""
    made = dict(zip(backward.plan.out_slots, backward.nodes))
    buffers: list[tuple[tuple, np.dtype] | None] = [None] * len(backward.out_slots)
    for into in backward.plan.into:
        if into is not None and into >= backward.n_slots:
            node = made[backward.out_slots[into - backward.n_slots]]
            buffers[into - backward.n_slots] = (node.shape, node.dtype)
    return buffers
