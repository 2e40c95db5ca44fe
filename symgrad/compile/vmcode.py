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
import math
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
F64 = np.dtype(np.float64)
DECLINED = "declined"  # a program's `jit` once its translation found nothing worth running in the VM


@dataclass
class VMProgram:
    """A program as segments: int64 code arrays run by the VM, and NumPy steps between them."""

    segments: list[Any]  # a code array, or a NumPy step (kernel, input slots, output slot, arena view or None)
    arena: np.ndarray
    views: dict[int, np.ndarray]  # slot -> its arena view (shaped)
    loads: list[tuple[int, np.ndarray, tuple]]  # (input position, arena view, shape) copied in per call
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


def _row(node: Symbol, kernel: Any, ins: tuple[int, ...], shape_of: dict) -> list[int] | None:
    """The code row of a step, with slots where offsets go (filled in by `translate`), or None."""
    out = node.shape
    for s in ins:
        if s not in shape_of:
            return None
    size = math.prod(out)
    shapes = [shape_of[s] for s in ins]
    opdef = OPS[node.op]
    if kernel in UNARY or opdef.reshapes:
        if math.prod(shapes[0]) != size:
            return None
        return [COPY if opdef.reshapes else UNARY[kernel], -1, ins[0], ins[0], 1, size, 0, 0, 0, 0]
    if kernel in BINARY or kernel is np.power or opdef.tiling == "spread":
        op = LEFT if opdef.tiling == "spread" else POW if kernel is np.power else BINARY[kernel]
        a, b = (ins[0], ins[0]) if op == LEFT else ins
        if op == LEFT and math.prod(shape_of[a]) == size:
            return [COPY, -1, a, a, 1, size, 0, 0, 0, 0]
        folded = _fold(out, _strides(shape_of[a], out), _strides(shape_of[b], out))
        if folded is None:
            return None
        (rows, cols), ((ars, acs), (brs, bcs)) = folded
        return [op, -1, a, b, rows, cols, ars, acs, brs, bcs]
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


def translate(program: Program, inputs: list[Any], frame_from: int | None, frame_at: int | None) -> VMProgram | None:
    """The VM form of a program for inputs like these (their dtypes and shapes); None if no step runs
    in the VM, or a value is too big for the VM to pay (VM_MAX_ELEMENTS).

    One pass over the steps (a 10,000-node plan has 18,000; this is part of the first call):
    every float64 value of known shape gets an arena block, taken from the blocks of its size
    that died before it (never one a NumPy step read: a view of it may live on).
    """
    plan = program.plan
    shape_of: dict[int, tuple] = {}  # slots in the arena: float64 of known shape
    offset: dict[int, int] = {}
    size_of: dict[int, int] = {}
    free: dict[int, list[int]] = {}  # size -> dead blocks
    top = 0
    for j, v in enumerate(inputs):  # inputs first, in order, so a Frame lands in one copy
        if type(v) is not np.ndarray:
            continue
        if v.size > VM_MAX_ELEMENTS:
            return None
        if v.dtype == F64:
            shape_of[j], offset[j], size_of[j] = v.shape, top, v.size
            top += max(v.size, 1)
    consts = {}
    for s, value in program.consts:
        as_float = _as_arena_value(value)
        if as_float is not None:
            shape_of[s], offset[s], size_of[s], consts[s] = as_float.shape, top, as_float.size, as_float
            top += max(as_float.size, 1)
    n_inputs = len(inputs)
    pinned = set(program.out_slots) | set(consts)  # blocks never reused
    segments: list[Any] = []
    code: list[int] = []  # rows of WIDTH, flat
    dead: dict[int, tuple[int, ...]] = {}
    in_python = set(consts)  # slots whose arena views the NumPy steps see
    other = plan.other
    any_row = False
    for node, kernel, a, b, s, dying in zip(
        program.nodes, plan.kernels, plan.first, plan.second, plan.out_slots, plan.dead
    ):
        ins = (a, b) if b >= 0 else (a,) if a >= 0 else other[s]
        out = node.shape
        row = None
        if out is not None and node.dtype == F64:
            size = math.prod(out)
            if size > VM_MAX_ELEMENTS:
                return None
            op = (BINARY if b >= 0 else UNARY).get(kernel)  # the common steps inline: same-shape ufuncs
            if op is not None and a >= 0 and shape_of.get(a) == out == shape_of.get(ins[-1]):
                row = [op, -1, a, ins[-1], 1, size, 0, 1, 0, 1]
            else:
                row = _row(node, kernel, ins, shape_of)
            blocks = free.get(size)
            if blocks:
                offset[s] = blocks.pop()
            else:
                offset[s] = top
                top += max(size, 1)
            shape_of[s], size_of[s] = out, size
        elif out is not None and len(out) and math.prod(out) > VM_MAX_ELEMENTS:
            return None
        if row is not None:
            row[1], row[2], row[3] = offset[s], offset[row[2]], offset[row[3]]
            code += row
            any_row = True
        else:
            if code:
                segments.append(np.array(code, dtype=np.int64).reshape(-1, WIDTH))
                code = []
            dead[len(segments)] = tuple(j for j in dying if j not in offset)
            segments.append((kernel, ins, s, s in offset))
            pinned.update(ins)
            in_python.update(ins)
            in_python.add(s)
        for j in dying:
            if j >= n_inputs and j in offset and j not in pinned:
                free.setdefault(size_of[j], []).append(offset[j])
    if not any_row:
        return None
    n_out = len(program.out_slots)
    if frame_from is not None and not all(program.out_slots[j] in offset for j in range(frame_from, n_out)):
        frame_from = None
    outputs: list[tuple[int, Any]] = []
    gathered = 0
    for j, s in enumerate(program.out_slots):
        if s in offset:
            n = size_of[s]
            checked = int(frame_from is None or j < frame_from)  # results, not values saved for the backward
            code += [GATHER, gathered, offset[s], 0, 1, n, checked, 0, 0, 0]
            outputs.append((gathered, shape_of[s]))
            gathered += n
        else:
            outputs.append((-1, s))
    if code:
        segments.append(np.array(code, dtype=np.int64).reshape(-1, WIDTH))
    memory = np.zeros(max(top, 1))
    wanted = [s for s in (*range(n_inputs), *in_python) if s in offset]
    views = {s: memory[offset[s] : offset[s] + size_of[s]].reshape(shape_of[s]) for s in wanted}
    for s, value in consts.items():
        memory[offset[s] : offset[s] + size_of[s]] = np.ravel(value)
    loads = [(j, views[j], shape_of[j]) for j in range(n_inputs) if j in views]
    constants = {s: v for s, v in program.consts}
    frame_offset = offset.get(frame_at, -1) if frame_at is not None else -1
    return VMProgram(
        segments, memory, views, loads, outputs, gathered, frame_from, frame_at, frame_offset, constants, dead
    )
