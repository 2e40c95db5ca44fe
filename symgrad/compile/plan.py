"""A plan is data: steps over numbered slots, and which buffers each step may reuse.

A step is (kernel, input slots, output slot, slots dead after it, slot written into or
None). `Program` is a plan with what running it needs (constants, output slots, the
nodes for error messages); the ways to run one are in `backends.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..graph import Symbol
from ..ops.registry import OPS

# What one step of a kept program holds (its node with attrs, kernel and plan columns), roughly.
STEP_BYTES = 600
ALIAS_TRACKING_LIMIT = 64  # buffers one value may alias before buffer reuse gives them up (keeps bind linear)


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
    # The jit backend's hand-over of saved forward values (see vmcode.Frame): outputs from frame_from on
    # may leave as one Frame; inputs from frame_at on may arrive as one.
    frame_from: int | None = None
    frame_at: int | None = None
    jit: Any = None  # the function the jit backend runs, built on its first call
    reads_training: bool = False  # a step's op reads TRAINING (Dropout, BatchNorm): `run` sets the flag

    def __call__(self, *values: Any) -> tuple:
        return self.fn(*values)

    def nbytes(self) -> int:
        """An estimate of the memory the program holds: its steps and nodes, and its constants."""
        return STEP_BYTES * (len(self.nodes) + len(self.consts)) + sum(getattr(v, "nbytes", 0) for _, v in self.consts)

    @property
    def peak_bytes(self) -> int:
        """Planned peak of the intermediates alive at once (inputs not counted)."""
        return self.tiled_peak if self.tile else planned_peak(self.plan, self.nodes)


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


def _nbytes(node: Symbol) -> int:
    if node.shape is None or node.dtype is None:
        return 0
    return math.prod(node.shape) * node.dtype.itemsize


def planned_peak(plan: Plan, nodes: list[Symbol]) -> int:
    """Peak bytes of the step results alive at once, as the plan frees and reuses them."""
    live: dict[int, int] = {}
    total = peak = 0
    for (_, _, s, dead, into), node in zip(plan, nodes):
        if into is None:
            live[s] = _nbytes(node) if not OPS[node.op].view else 0
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
