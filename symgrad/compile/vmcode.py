"""A plan as virtual-machine code: opcode rows over one float64 arena, and NumPy steps between them.

The opcode of a step comes from its kernel, the NumPy function the plan already holds
(np.sin, np.add, np.add.reduce, np.dot), so an op declared with `impl=np.sin` runs in the
VM with nothing said about it here; a `register(..., reshapes=True)` op is a copy, a
`tiling="spread"` op a broadcast. A step the VM does not know (another kernel, a dtype
other than float64, a broadcast that does not fold to two axes, a big matrix product that
BLAS does better) stays a NumPy call: the code is cut there into segments.
This module holds no Numba: it is plain data, tested without the compiler.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..graph import Symbol
from ..ops.elementwise import _square
from ..ops.registry import OPS
from .plan import Program

# Unary opcodes (one element in, one out), then binary (two inputs broadcast by strides), then the rest.
NEG, SQUARE, ABS, SQRT, EXP, LOG, SIN, COS, TAN, TANH, EXPM1, LOG1P, SINH, COSH, ARCSIN, ARCCOS, ARCTAN, COPY = range(
    18
)
UNARY_END = 18
ADD, SUB, MUL, DIV, MAX2, MIN2, POW, LEFT = range(18, 26)
BINARY_END = 26
SUM, RMAX, RMIN, MATMUL, GATHER = range(26, 31)
WIDTH = 10  # int64 columns per code row

# Keyed by the NumPy function a plan step calls: facts about NumPy's functions, none about an op.
UNARY = {
    np.negative: NEG, np.square: SQUARE, _square: SQUARE, np.absolute: ABS, np.sqrt: SQRT, np.exp: EXP,
    np.log: LOG, np.sin: SIN, np.cos: COS, np.tan: TAN, np.tanh: TANH, np.expm1: EXPM1, np.log1p: LOG1P,
    np.sinh: SINH, np.cosh: COSH, np.arcsin: ARCSIN, np.arccos: ARCCOS, np.arctan: ARCTAN,
}  # fmt: skip
BINARY = {np.add: ADD, np.subtract: SUB, np.multiply: MUL, np.divide: DIV, np.maximum: MAX2, np.minimum: MIN2}
REDUCE = {np.add.reduce: SUM, np.maximum.reduce: RMAX, np.minimum.reduce: RMIN}
PRODUCTS = (np.dot, np.matmul)
MATMUL_VM_LIMIT = 4_096  # multiply-adds: above this BLAS (the NumPy step) is faster than the VM's loop
# A program with a value bigger than this runs with NumPy: its calls' fixed cost (about a microsecond)
# no longer dominates, its SIMD loops (tanh, exp, + - * /) beat the VM's scalar ones, and BLAS the
# VM's products. W5's 16-element values run 5-10x faster in the VM; W2's 2,048-element ones 2.6x slower.
VM_MAX_ELEMENTS = 1_024
# A program of fewer steps than this runs with NumPy: the VM's fixed cost per call (copying inputs into
# its arena, Numba's dispatch, gathering outputs) is about that many NumPy calls on small values.
# W1 (2*dot(x, x) on 4 numbers, a 2-step forward and a 1-step backward) took 100,000 instructions per
# forward+backward in the VM and 34,000 with the NumPy backend's generated code (callgrind).
VM_MIN_STEPS = 8
F64 = np.dtype(np.float64)
DECLINED = "declined"  # a program's `jit` once its translation found nothing worth running in the VM


@dataclass
class VMProgram:
    """A program as segments: int64 code arrays run by the VM, and NumPy steps between them."""

    segments: list[Any]  # a code array, or a NumPy step (kernel, input slots, output slot, arena view or None)
    arena: np.ndarray
    views: dict[int, np.ndarray]  # slot -> its arena view (shaped), for the values NumPy steps read or make
    loads: list[tuple[int, int, int, tuple]]  # (input position, arena start, end, shape) copied in per call
    outputs: list[tuple[int, Any]]  # per output: (offset in the gather buffer, shape) or (-1, slot)
    gathered: int  # float64 elements gathered per call
    frame_from: int | None  # outputs from here on leave as one Frame
    frame_at: int | None  # a Frame may arrive at this input position
    frame_offset: int = -1  # where in the arena an arriving Frame is copied (-1: it is unpacked)
    constants: dict[int, Any] = field(default_factory=dict)
    dead: dict[int, tuple[int, ...]] = field(default_factory=dict)  # NumPy step position -> Python values to drop


class Frame:
    """Saved forward values travelling to the backward program as one float64 buffer (one copy each way)."""

    __slots__ = ("data", "shapes")

    def __init__(self, data: np.ndarray, shapes: tuple) -> None:
        self.data, self.shapes = data, shapes

    def values(self) -> list[np.ndarray]:
        """The saved values one by one (for the NumPy backend and replays)."""
        sizes = [math.prod(s) for s in self.shapes]
        starts = np.cumsum([0, *sizes])
        return [self.data[lo : lo + n].reshape(s) for lo, n, s in zip(starts, sizes, self.shapes)]


def unpack(values: Any) -> list:
    """values with each Frame replaced by the values it carries (its placeholders dropped)."""
    result: list = []
    skip = 0
    for v in values:
        if skip:
            skip -= 1
        elif type(v) is Frame:
            result += v.values()
            skip = len(v.shapes) - 1
        else:
            result.append(v)
    return result


def numpy_function(program: Program) -> Callable[..., tuple]:
    """program's NumPy function, taking Frames too (a jit forward's saved values, where the VM does not run)."""
    return lambda *values: program.fn(*unpack(values))


def _as_arena_value(value: Any) -> np.ndarray | None:
    """A constant as float64 when that is exact (weak ints, floats, float64 arrays), else None."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, (int, float)) and float(value) == value or isinstance(value, float):
        return np.asarray(float(value))
    if isinstance(value, np.ndarray) and value.dtype == F64:
        return value
    return None


def _strides(shape: tuple, out: tuple) -> list[int]:
    """Element strides of a C-contiguous array of shape, broadcast to out (0 on broadcast axes)."""
    strides, step = [], 1
    for d in reversed(shape):
        strides.append(step if d != 1 else 0)
        step *= d
    strides.reverse()
    return [0] * (len(out) - len(shape)) + strides


def _fold(out: tuple, *operands: list[int]) -> tuple[list[int], list[list[int]]] | None:
    """Merge adjacent axes that every operand walks contiguously; None if more than two axes remain."""
    dims = [d for d in out if d != 1]
    strides = [[s for s, d in zip(st, out) if d != 1] for st in operands]
    i = len(dims) - 1
    while i > 0:
        if all(st[i - 1] == st[i] * dims[i] for st in strides):
            dims[i - 1 : i + 1] = [dims[i - 1] * dims[i]]
            for st in strides:
                st[i - 1 : i + 1] = [st[i]]
        i -= 1
    if len(dims) > 2:
        return None
    pad = 2 - len(dims)
    return [1] * pad + dims, [[0] * pad + st for st in strides]


def _reduce_row(kernel: Any, in_shape: tuple) -> tuple[int, int, int, int] | None:
    """(opcode, outer, size, inner) of a ufunc reduction whose axes are one block, else None."""
    if not isinstance(kernel, functools.partial) or kernel.args:
        return None
    op = REDUCE.get(kernel.func) if getattr(kernel.func, "__name__", "") == "reduce" else None
    if op is None or set(kernel.keywords) - {"axis", "keepdims"} or not math.prod(in_shape):
        return None
    axis = kernel.keywords.get("axis")
    ndim = len(in_shape)
    axes = sorted(range(ndim) if axis is None else [a % ndim for a in ((axis,) if isinstance(axis, int) else axis)])
    if axes and axes != list(range(axes[0], axes[-1] + 1)):
        return None
    if not axes:
        return None
    outer = math.prod(in_shape[: axes[0]])
    return op, outer, math.prod(in_shape[axes[0] : axes[-1] + 1]), math.prod(in_shape[axes[-1] + 1 :])


def _row(node: Symbol, kernel: Any, ins: tuple[int, ...], shapes: list[tuple | None]) -> list[int] | None:
    """The code row of a step whose inputs have these shapes (None: not in the arena), with slots
    where offsets go (filled in by `translate`), or None."""
    if None in shapes:
        return None
    out = node.shape
    size = math.prod(out)
    opdef = OPS[node.op]
    if kernel in UNARY or opdef.reshapes:
        if math.prod(shapes[0]) != size:
            return None
        return [COPY if opdef.reshapes else UNARY[kernel], -1, ins[0], ins[0], 1, size, 0, 0, 0, 0]
    if kernel in BINARY or kernel is np.power or opdef.tiling == "spread":
        op = LEFT if opdef.tiling == "spread" else POW if kernel is np.power else BINARY[kernel]
        if op == LEFT:
            ins, shapes = (ins[0], ins[0]), [shapes[0], shapes[0]]
            if math.prod(shapes[0]) == size:
                return [COPY, -1, ins[0], ins[0], 1, size, 0, 0, 0, 0]
        folded = _fold(out, _strides(shapes[0], out), _strides(shapes[1], out))
        if folded is None:
            return None
        (rows, cols), ((ars, acs), (brs, bcs)) = folded
        return [op, -1, ins[0], ins[1], rows, cols, ars, acs, brs, bcs]
    if kernel in PRODUCTS:
        (sa, sb) = shapes
        if not (1 <= len(sa) <= 2 and 1 <= len(sb) <= 2) or sa[-1] != sb[0]:
            return None
        rows, inner, cols = (sa[0] if len(sa) == 2 else 1), sa[-1], (sb[1] if len(sb) == 2 else 1)
        if rows * inner * cols > MATMUL_VM_LIMIT:
            return None
        return [MATMUL, -1, ins[0], ins[1], rows, cols, inner, 0, 0, 0]
    reduce = _reduce_row(kernel, shapes[0]) if len(ins) == 1 else None
    if reduce is None:
        return None
    op, outer, n, inner = reduce
    return [op, -1, ins[0], ins[0], outer, n, inner, 0, 0, 0]


@dataclass
class _Values:
    """Which slots' values live in the arena: a shape id per slot (-1: not float64 of known shape,
    so NumPy steps hold it), the shapes and sizes by id, and the constants as float64."""

    shape_id: np.ndarray  # per slot, one entry more (-1) so that slot -1 (no input) reads as not in the arena
    shapes: list[tuple]
    sizes: np.ndarray  # per shape id: elements; one entry more (-1), which id -1 reads
    consts: dict[int, np.ndarray]

    def size(self, slots: np.ndarray) -> np.ndarray:
        """Elements of each slot's value, -1 where it is not in the arena."""
        return self.sizes[self.shape_id[slots]]


_SHAPE, _DTYPE = operator.attrgetter("shape"), operator.attrgetter("dtype")


def _values(program: Program, inputs: list[Any], out: np.ndarray) -> _Values | None:
    """The arena's values for inputs like these (a Frame stands for float64 values of its shapes);
    None if one is too big for the VM to pay. out: the plan's output slots."""
    ids: dict[tuple | None, int] = {None: -1}  # shape -> its id, -1 for a value the arena does not hold
    per_input: list[tuple | None] = []
    skip = 0
    for v in inputs:
        if skip:  # a Frame's placeholders
            skip -= 1
        elif type(v) is Frame:
            per_input += v.shapes
            skip = len(v.shapes) - 1
        elif type(v) is np.ndarray:
            if v.size > VM_MAX_ELEMENTS:
                return None
            per_input.append(v.shape if v.dtype is F64 or v.dtype == F64 else None)
        else:
            per_input.append(None)
    n = len(program.nodes)
    node_shapes = list(map(_SHAPE, program.nodes))
    for shape in dict.fromkeys(node_shapes):
        ids.setdefault(shape, len(ids) - 1)
    if any(shape is not None and math.prod(shape) > VM_MAX_ELEMENTS for shape in ids):
        return None
    for shape in dict.fromkeys(per_input):
        ids.setdefault(shape, len(ids) - 1)
    shape_id = np.full(program.n_slots + 1, -1)
    shape_id[: len(per_input)] = list(map(ids.__getitem__, per_input))
    node_ids = np.fromiter(map(ids.__getitem__, node_shapes), np.int64, n)
    dtypes = list(map(_DTYPE, program.nodes))
    float64 = np.fromiter(map(operator.is_, dtypes, itertools.repeat(F64)), bool, n)
    if not float64.all():  # an equal dtype that is another object (rare)
        float64 = np.fromiter(map(F64.__eq__, dtypes), bool, n)
    shape_id[out] = np.where(float64, node_ids, -1)
    consts = {}
    for s, value in program.consts:
        as_float = _as_arena_value(value)
        if as_float is not None:
            consts[s] = as_float
            shape_id[s] = ids.setdefault(as_float.shape, len(ids) - 1)
    shapes = list(ids)[1:]
    sizes = np.array([*map(math.prod, shapes), -1], dtype=np.int64)
    return _Values(shape_id, shapes, sizes, consts)


# Same-shape elementwise steps, nearly all of them, are translated as columns, without a call per step.
ELEMENTWISE = {**UNARY, **BINARY, np.power: POW}


def _code(program: Program, values: _Values, out: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(which steps the VM runs, their code rows with slots in the offset columns 1-3); None if none.

    Elementwise steps whose operands have the result's shape, or one of them a single
    element, are rows built column-wise; the others ask `_row`.
    """
    plan = program.plan
    n = len(plan)
    op = np.fromiter(map(ELEMENTWISE.get, plan.kernels, itertools.repeat(-1)), np.int64, n)
    a = np.fromiter(plan.first, np.int64, n)
    b = np.fromiter(plan.second, np.int64, n)
    out_id, a_id, b_id = values.shape_id[out], values.shape_id[a], values.shape_id[b]
    out_size, a_size, b_size = values.size(out), values.size(a), values.size(b)
    in_arena = out_id >= 0
    unary = in_arena & (op >= 0) & (op < UNARY_END) & (a_size == out_size)  # np.square(x) for x**2 too
    binary = in_arena & (op >= UNARY_END) & (b >= 0)
    a_same, b_same = a_id == out_id, b_id == out_id
    a_one, b_one = binary & (a_size == 1) & b_same, binary & a_same & (b_size == 1)  # a number beside a vector
    in_vm = unary | binary & a_same & b_same | a_one | b_one  # the column-wise rows; `_row` adds others
    rows = np.zeros((n, WIDTH), dtype=np.int64)
    rows[:, 0], rows[:, 2], rows[:, 4], rows[:, 5] = op, a, 1, out_size
    rows[:, 3] = np.where(unary, a, b)
    rows[:, 7] = ~(a_one & ~a_same)  # column steps: 0 where a number is broadcast
    rows[:, 9] = ~(b_one & ~b_same)
    for p in np.flatnonzero(in_arena & ~in_vm):
        node = program.nodes[p]
        ins = plan.in_slots(p)
        row = _row(
            node, plan.kernels[p], ins, [values.shapes[i] if i >= 0 else None for i in values.shape_id[list(ins)]]
        )
        if row is not None:
            rows[p] = row
            in_vm[p] = True
    if not in_vm.any():
        return None
    rows[:, 1] = out
    return in_vm, rows


def _allocate(births: np.ndarray, born_at: np.ndarray, deaths: np.ndarray, dead_at: np.ndarray, n: int) -> np.ndarray:
    """Block numbers for values of one size: a value born at step born_at[i] takes the block of the value
    freed longest ago (deaths in the order they die, dead_at their steps; a value freed at a step is not
    reused by that step's own result), else a new block. n: slots. Column-wise, no loop over values.

    The i-th birth finds a freed block if fewer than i + 1 - (deaths before it) blocks exist, so the
    blocks needed so far are the running maximum of that count; a birth that needs no new block takes
    the k-th freed one, k = births before it that took one, whose block is found by pointer jumping.
    """
    count = len(births)
    index = np.arange(count)
    needed = np.maximum.accumulate(index + 1 - np.searchsorted(dead_at, born_at, side="left"))
    fresh = needed > np.concatenate(([0], needed[:-1]))
    birth_of = np.zeros(n, dtype=np.int64)
    birth_of[births] = index
    taken = np.clip(index - needed, 0, max(len(deaths) - 1, 0))
    parent = np.where(fresh, index, birth_of[deaths[taken]] if len(deaths) else index)
    while True:
        grand = parent[parent]
        if np.array_equal(grand, parent):
            return (needed - 1)[parent]
        parent = grand


def translate(program: Program, inputs: list[Any], frame_from: int | None, frame_at: int | None) -> VMProgram | None:
    """The VM form of a program for inputs like these (their dtypes and shapes; a Frame stands for the
    values it carries); None if no step runs in the VM, or a value is too big for the VM to pay
    (VM_MAX_ELEMENTS).

    This is part of a plan's first call (a 10,000-node plan has 18,000 steps), so it works on the
    plan's columns as arrays. Every float64 value of known shape gets an arena block: the inputs
    first, in order (so a Frame lands in one copy), then the constants, then each step's result in
    a block of its size that died before it (never one a NumPy step read: a view of it may live on).
    """
    plan = program.plan
    out = np.fromiter(plan.out_slots, np.int64, len(plan))
    values = _values(program, inputs, out)
    if values is None:
        return None
    code = _code(program, values, out)
    if code is None:
        return None
    in_vm, rows = code
    n_inputs, n = len(inputs), len(plan)
    size = values.size(np.arange(program.n_slots + 1))
    block = np.maximum(size, 1)  # an empty value still takes an element, so offsets stay distinct
    offset = np.full(program.n_slots + 1, -1)
    fixed = np.array([*range(n_inputs), *values.consts], dtype=np.int64)  # inputs, then constants
    fixed = fixed[size[fixed] >= 0]
    ends = np.cumsum(block[fixed])
    offset[fixed] = ends - block[fixed]
    top = int(ends[-1]) if len(ends) else 0
    numpy_steps = np.flatnonzero(~in_vm)
    pinned = np.zeros(program.n_slots + 1, dtype=bool)  # blocks never reused
    results = np.fromiter(program.out_slots, np.int64, len(program.out_slots))
    pinned[results] = True
    pinned[list(values.consts)] = True
    in_python = [*values.consts]  # slots whose arena views the NumPy steps see
    for p in numpy_steps:
        ins = plan.in_slots(p)
        pinned[list(ins)] = True
        in_python += [*ins, plan.out_slots[p]]
    born = np.flatnonzero(size[out] >= 0)
    dead_counts = np.fromiter(map(len, plan.dead), np.int64, n)
    dying = np.fromiter(itertools.chain.from_iterable(plan.dead), np.int64, int(dead_counts.sum()))
    dead_at = np.repeat(np.arange(n), dead_counts)
    freed = (dying >= n_inputs) & (size[dying] >= 0) & ~pinned[dying]
    dying, dead_at = dying[freed], dead_at[freed]
    for width in np.flatnonzero(np.bincount(block[out[born]])):  # the block sizes, without sorting
        births = born[block[out[born]] == width]
        deaths = block[dying] == width
        blocks = _allocate(out[births], births, dying[deaths], dead_at[deaths], program.n_slots + 1)
        offset[out[births]] = top + blocks * width
        top += int(blocks.max() + 1) * int(width)
    rows = rows[in_vm]
    rows[:, 1:4] = offset[rows[:, 1:4]]
    segments: list[Any] = []
    dead: dict[int, tuple[int, ...]] = {}
    start = 0
    for k, p in enumerate(numpy_steps):  # the code is cut at each NumPy step
        if p - k > start:
            segments.append(rows[start : p - k])
            start = p - k
        dead[len(segments)] = tuple(j for j in plan.dead[p] if offset[j] < 0)
        s = plan.out_slots[p]
        segments.append((plan.kernels[p], plan.in_slots(p), s, bool(offset[s] >= 0)))
    n_out = len(program.out_slots)
    out_offset = offset[results]
    if frame_from is not None and (out_offset[frame_from:] < 0).any():
        frame_from = None
    out_size = np.where(out_offset >= 0, size[results], 0)
    gathered_at = np.cumsum(out_size) - out_size
    leaving = np.flatnonzero(out_offset >= 0)
    gather = np.zeros((len(leaving), WIDTH), dtype=np.int64)
    gather[:, 0], gather[:, 1], gather[:, 2] = GATHER, gathered_at[leaving], out_offset[leaving]
    gather[:, 4], gather[:, 5] = 1, out_size[leaving]
    gather[:, 6] = leaving < (n_out if frame_from is None else frame_from)  # results, not values saved for the backward
    if start < len(rows) or len(gather):
        segments.append(np.concatenate([rows[start:], gather]))
    outputs = [
        (at, values.shapes[i]) if i >= 0 else (-1, s)
        for at, i, s in zip(gathered_at.tolist(), values.shape_id[results].tolist(), program.out_slots)
    ]
    memory = np.zeros(max(top, 1))
    views = {
        int(s): memory[offset[s] : offset[s] + size[s]].reshape(values.shapes[values.shape_id[s]])
        for s in dict.fromkeys(in_python)
        if s >= n_inputs and offset[s] >= 0
    }
    for s, value in values.consts.items():
        memory[offset[s] : offset[s] + size[s]] = np.ravel(value)
    loaded = np.flatnonzero(offset[:n_inputs] >= 0)
    starts, shape_ids = offset[loaded], values.shape_id[loaded]
    loads = list(
        zip(
            loaded.tolist(),
            starts.tolist(),
            (starts + size[loaded]).tolist(),
            map(values.shapes.__getitem__, shape_ids.tolist()),
        )
    )
    constants = {s: v for s, v in program.consts}
    frame_offset = int(offset[frame_at]) if frame_at is not None else -1
    return VMProgram(
        segments,
        memory,
        views,
        loads,
        outputs,
        int(out_size.sum()),
        frame_from,
        frame_at,
        frame_offset,
        constants,
        dead,
    )
