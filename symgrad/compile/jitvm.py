"""The Numba virtual machine: one interpreter, compiled once, that runs every plan's known steps.

A plan's steps become rows of an int64 code array (`vmcode.py`); values live at fixed
offsets of one float64 arena. Nothing is compiled per graph: Numba compiles `interpret`
once per machine and caches it on disk (`cache=True`), so a new graph costs only its
translation to code rows. Imported only when the jit backend is asked for (Numba is the
optional `symgrad[jit]` extra).

Values: + - * / negative square abs sqrt maximum minimum and the copies are IEEE
operations, bitwise equal to NumPy's; sums add in NumPy's pairwise order (bitwise for
contiguous rows); transcendental functions call the C library through LLVM, within 2
ulp of NumPy's SIMD versions (tests/test_jit.py measures the bound).
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
from numba import njit

from . import vmcode as vc
from .plan import Program

# Constants Numba folds into the interpreter (module globals are frozen at compile time).
NEG, SQUARE, ABS, SQRT, EXP, LOG, SIN, COS, TAN, TANH = (
    vc.NEG, vc.SQUARE, vc.ABS, vc.SQRT, vc.EXP, vc.LOG, vc.SIN, vc.COS, vc.TAN, vc.TANH,
)  # fmt: skip
EXPM1, LOG1P, SINH, COSH, ARCSIN, ARCCOS, ARCTAN, COPY = (
    vc.EXPM1, vc.LOG1P, vc.SINH, vc.COSH, vc.ARCSIN, vc.ARCCOS, vc.ARCTAN, vc.COPY,
)  # fmt: skip
ADD, SUB, MUL, DIV, MAX2, MIN2, POW, LEFT = vc.ADD, vc.SUB, vc.MUL, vc.DIV, vc.MAX2, vc.MIN2, vc.POW, vc.LEFT
SUM, RMAX, RMIN, MATMUL, GATHER = vc.SUM, vc.RMAX, vc.RMIN, vc.MATMUL, vc.GATHER
UNARY_END, BINARY_END = vc.UNARY_END, vc.BINARY_END
F64 = vc.F64
PAIRWISE_BLOCK = 128  # NumPy's pairwise summation block (numpy/_core/src/umath/loops_utils.h.src)
MAX_THREADS = 16  # runners (arenas) kept per program; more threads than this start again


@njit(cache=True, error_model="numpy")
def _unary(op: int, x: float) -> float:
    if op == NEG:
        return -x
    if op == SQUARE:
        return x * x
    if op == ABS:
        return abs(x)
    if op == SQRT:
        return math.sqrt(x)
    if op == EXP:
        return math.exp(x)
    if op == LOG:
        return math.log(x) if x > 0.0 else (-math.inf if x == 0.0 else math.nan)
    if op == SIN:
        return math.sin(x)
    if op == COS:
        return math.cos(x)
    if op == TAN:
        return math.tan(x)
    if op == TANH:
        return math.tanh(x)
    if op == EXPM1:
        return math.expm1(x)
    if op == LOG1P:
        return math.log1p(x) if x > -1.0 else (-math.inf if x == -1.0 else math.nan)
    if op == SINH:
        return math.sinh(x)
    if op == COSH:
        return math.cosh(x)
    if op == ARCSIN:
        return math.asin(x) if -1.0 <= x <= 1.0 else math.nan
    if op == ARCCOS:
        return math.acos(x) if -1.0 <= x <= 1.0 else math.nan
    if op == ARCTAN:
        return math.atan(x)
    return x  # COPY


@njit(cache=True, error_model="numpy")
def _binary(op: int, x: float, y: float) -> float:
    if op == ADD:
        return x + y
    if op == SUB:
        return x - y
    if op == MUL:
        return x * y
    if op == DIV:
        return x / y
    if op == MAX2:  # NumPy's maximum: the first NaN wins, a tie keeps the first argument
        return x if x >= y or x != x else y
    if op == MIN2:
        return x if x <= y or x != x else y
    if op == POW:
        return x**y
    return x  # LEFT: broadcast the first argument


@njit(cache=True, error_model="numpy")
def _binary_flat(op: int, arena: np.ndarray, o: int, a: int, b: int, n: int) -> None:
    """A binary step on two whole operands: one loop per op, so the compiler vectorises + - * /."""
    if op == ADD:
        for i in range(n):
            arena[o + i] = arena[a + i] + arena[b + i]
    elif op == SUB:
        for i in range(n):
            arena[o + i] = arena[a + i] - arena[b + i]
    elif op == MUL:
        for i in range(n):
            arena[o + i] = arena[a + i] * arena[b + i]
    elif op == DIV:
        for i in range(n):
            arena[o + i] = arena[a + i] / arena[b + i]
    else:
        for i in range(n):
            arena[o + i] = _binary(op, arena[a + i], arena[b + i])


@njit(cache=True, error_model="numpy")
def _pairwise_sum(arena: np.ndarray, start: int, n: int) -> float:
    """NumPy's pairwise summation of arena[start:start+n], in its order (so the same bits)."""
    if n < 8:
        total = -0.0
        for i in range(n):
            total += arena[start + i]
        return total
    if n <= PAIRWISE_BLOCK:
        r0, r1, r2, r3 = arena[start], arena[start + 1], arena[start + 2], arena[start + 3]
        r4, r5, r6, r7 = arena[start + 4], arena[start + 5], arena[start + 6], arena[start + 7]
        i = 8
        while i < n - n % 8:
            r0 += arena[start + i]
            r1 += arena[start + i + 1]
            r2 += arena[start + i + 2]
            r3 += arena[start + i + 3]
            r4 += arena[start + i + 4]
            r5 += arena[start + i + 5]
            r6 += arena[start + i + 6]
            r7 += arena[start + i + 7]
            i += 8
        total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
        while i < n:
            total += arena[start + i]
            i += 1
        return total
    half = n // 2
    half -= half % 8
    return _pairwise_sum(arena, start, half) + _pairwise_sum(arena, start + half, n - half)


@njit(cache=True, error_model="numpy")
def _reduce(op: int, arena: np.ndarray, o: int, a: int, outer: int, size: int, inner: int) -> None:
    """Reduce arena[a:] viewed as (outer, size, inner) over its middle axis into arena[o:] (outer, inner)."""
    for i in range(outer):
        base = a + i * size * inner
        if op == SUM and inner == 1:
            arena[o + i] = 0.0 + _pairwise_sum(arena, base, size)
            continue
        for j in range(inner):
            acc = arena[base + j] if op != SUM else 0.0 + arena[base + j]
            for r in range(1, size):
                x = arena[base + r * inner + j]
                if op == SUM:
                    acc += x
                elif op == RMAX:
                    acc = acc if acc >= x or acc != acc else x
                else:
                    acc = acc if acc <= x or acc != acc else x
            arena[o + i * inner + j] = acc


@njit(cache=True, error_model="numpy")
def interpret(code: np.ndarray, arena: np.ndarray, out: np.ndarray) -> int:
    """Run code rows (op, out, a, b, rows, cols, a row step, a col step, b row step, b col step) on arena.

    Returns how many values the checked GATHER rows (column 6 set) found NaN or infinite."""
    bad = 0
    for k in range(code.shape[0]):
        op = code[k, 0]
        o = code[k, 1]
        a = code[k, 2]
        b = code[k, 3]
        rows = code[k, 4]
        cols = code[k, 5]
        if op < UNARY_END:
            for i in range(rows * cols):
                arena[o + i] = _unary(op, arena[a + i])
        elif op < BINARY_END:
            ars, acs, brs, bcs = code[k, 6], code[k, 7], code[k, 8], code[k, 9]
            if rows == 1 and acs == 1 and bcs == 1:
                _binary_flat(op, arena, o, a, b, cols)
                continue
            for r in range(rows):
                for c in range(cols):
                    arena[o + r * cols + c] = _binary(op, arena[a + r * ars + c * acs], arena[b + r * brs + c * bcs])
        elif op == MATMUL:  # (rows, inner) @ (inner, cols), inner in column 6
            inner = code[k, 6]
            for r in range(rows):
                for c in range(cols):
                    acc = 0.0
                    for p in range(inner):
                        acc += arena[a + r * inner + p] * arena[b + p * cols + c]
                    arena[o + r * cols + c] = acc
        elif op == GATHER:  # an output leaves the arena: out[o:o+n] = arena[a:a+n]
            for i in range(rows * cols):
                out[o + i] = arena[a + i]
                if code[k, 6] and not math.isfinite(arena[a + i]):
                    bad += 1
        else:  # a reduction: (rows, cols, code[k, 6]) = (outer, reduced, inner)
            _reduce(op, arena, o, a, rows, cols, code[k, 6])
    return bad


def vm_function(program: Program) -> Callable[..., tuple]:
    """program's function run by the VM: translated on a thread's first call (from the inputs' dtypes
    and shapes), then each call copies the inputs into the arena, runs the segments and gathers the outputs.

    Every call of a program runs the same code, so a call's values never depend on how often it
    ran before. Each thread has its own arena (a cached plan is shared by every executor of its
    structure). Inputs unlike the translated call's (another dtype or shape) run with NumPy. The
    program is held weakly: it holds this function, and a cycle would outlive a dropped graph.
    """
    runners: dict[int, Callable[..., tuple]] = {}  # thread id -> its runner
    program_ref = weakref.ref(program)

    def fallback(*values: Any) -> tuple:
        return program_ref().fn(*vc.unpack(values))

    def translate_then_run(*values: Any) -> tuple:
        owner = program_ref()
        n_in = len(values) - (len(owner.out_slots) if owner.writes_into else 0)
        small = len(owner.plan.kernels) < vc.VM_MIN_STEPS
        vm = None if small else vc.translate(owner, values[:n_in], owner.frame_from, owner.frame_at)
        if vm is None:  # from now on `choice.program_function` gives the NumPy backend's function
            owner.jit = vc.DECLINED
            return fallback(*values)
        if len(runners) >= MAX_THREADS:
            runners.clear()
        runners[threading.get_ident()] = runner = _runner(vm, n_in, fallback)
        return runner(*values)

    def call(*values: Any) -> tuple:
        return runners.get(threading.get_ident(), translate_then_run)(*values)

    return call


def _runner(vm: vc.VMProgram, n_in: int, fallback: Callable[..., tuple]) -> Callable[..., tuple]:
    """The per-call loop over a translated program's segments."""
    segments, arena, views, dead = vm.segments, vm.arena, vm.views, vm.dead
    frame_at, frame_from, frame_start = vm.frame_at, vm.frame_from, vm.frame_offset
    n_results = len(vm.outputs) if frame_from is None else frame_from
    # per result: (start, end, shape) in the gathered buffer, or (-1, slot, None) for a NumPy step's value
    results_at = [(off, off + math.prod(ref), ref) if off >= 0 else (-1, ref, None) for off, ref in vm.outputs]
    results_at = results_at[:n_results]
    frame_shapes = tuple(ref for _, ref in vm.outputs[frame_from:]) if frame_from is not None else ()
    placeholders = (None,) * (len(frame_shapes) - 1)
    in_python = any(type(seg) is tuple for seg in segments) or any(off < 0 for off, _, _ in results_at)
    slots = [*views, *vm.constants, n_in - 1, *(s for seg in segments if type(seg) is tuple for s in seg[1:3])]
    n_slots = max(max(s) if isinstance(s, tuple) else s for s in slots) + 1
    # the inputs copied one by one (arena view, shape), by where the Frame that came ends (-1: none came)
    loads_by_frame: dict[int, list[tuple[int, np.ndarray, tuple]]] = {}

    def run(*values: Any) -> tuple:
        skip = -1
        if frame_start >= 0 and type(values[frame_at]) is vc.Frame:
            frame = values[frame_at]
            arena[frame_start : frame_start + frame.data.size] = frame.data
            skip = frame_at + len(frame.shapes)
        loads = loads_by_frame.get(skip)
        if loads is None:
            loads = loads_by_frame[skip] = [
                (j, arena[lo:hi].reshape(shape), shape)
                for j, lo, hi, shape in vm.loads
                if skip < 0 or not frame_at <= j < skip
            ]
        for j, view, shape in loads:
            v = values[j]
            if type(v) is not np.ndarray or v.shape != shape or (v.dtype is not F64 and v.dtype != F64):
                return fallback(*values)
            view[...] = v
        gathered = np.empty(vm.gathered)
        vals: list = []
        if in_python:
            vals = [None] * n_slots
            vals[:n_in] = vc.unpack(values[:n_in]) if skip >= 0 else values[:n_in]
            for s, value in vm.constants.items():
                vals[s] = value
            for s, view in views.items():
                if s >= n_in:
                    vals[s] = view
        for k, seg in enumerate(segments):
            if type(seg) is np.ndarray:
                if interpret(seg, arena, gathered):
                    # NaN or Inf in an output: the NumPy run notes the floating-point errors that made
                    # it, which fpwarnings names (the VM's loops raise no NumPy error flags)
                    return fallback(*values)
                continue
            kernel, ins, s, to_arena = seg
            result = kernel(*[vals[j] for j in ins])
            if to_arena:
                views[s][...] = result
            else:
                vals[s] = result
            for j in dead[k]:
                vals[j] = None
        results = [
            gathered[lo:hi].reshape(shape) if lo >= 0 else _unshared(vals[hi], arena) for lo, hi, shape in results_at
        ]
        if in_python and not all(map(_finite, results)):  # as above, for a NumPy step's output
            return fallback(*values)
        if frame_from is None:
            return tuple(results)
        lo = vm.outputs[frame_from][0]
        return (*results, vc.Frame(gathered[lo:], frame_shapes), *placeholders)

    return run


def _finite(value: Any) -> bool:
    return type(value) is not np.ndarray or value.dtype.kind != "f" or bool(np.isfinite(value).all())


def _unshared(value: Any, arena: np.ndarray) -> Any:
    """A NumPy step's output as returned: copied if it is a view of the arena (overwritten next call)."""
    return value.copy() if type(value) is np.ndarray and np.may_share_memory(value, arena) else value
