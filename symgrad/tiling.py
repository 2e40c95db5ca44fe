"""Tiled execution of elementwise programs: one pass through memory for a whole chain.

A program whose big values all share one shape, made by elementwise ops (size-1
values broadcast), with full sums or means as its only way back to small values,
runs tile by tile: each ufunc writes into a scratch tile that stays in cache, so a
long chain, or a fused forward-and-backward pass, reads its inputs once, writes its
outputs once and allocates nothing else of the full size. Each element goes through
the very same ufuncs as in the untiled plan, so values, NaN and Inf included, are the
same; only a reduction's summation order differs (partial sums per tile, by ulps).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .graph import CONST, Symbol
from .ops.registry import OPS

# Below this many elements, the per-tile Python costs more than cache locality saves.
TILE_MIN_SIZE = 1 << 16
# The scratch tiles of one pass stay in cache (on W4, 1 MiB of tiles ran 82 ms, 4 MiB 78 ms:
# longer tiles pay less Python per element); tiles of 2k to 32k elements.
SCRATCH_BYTES = 1 << 22
_TILE_BOUNDS = (1 << 11, 1 << 15)


def _size(shape: tuple | None) -> int:
    return -1 if shape is None else math.prod(shape)


def _covers_all_axes(node: Symbol, ndim: int) -> bool:
    axis = node.attrs.get("axis")
    if axis is None:
        return True
    axes = {a % ndim for a in (axis if isinstance(axis, tuple) else (axis,))}
    return axes == set(range(ndim))


def _const_shape(node: Symbol) -> tuple:
    return np.shape(node.attrs["value"])


def classify(order: Sequence[Symbol], inputs: Sequence[Symbol]) -> tuple[tuple, dict[Symbol, str]] | None:
    """The tiled shape and each node's part: 'big' (tiled), 'small' (before the loop),
    'reduce' (accumulated per tile) or 'late' (after the loop); None if the program can't be tiled."""
    shapes = [n.shape for n in inputs] + [_const_shape(n) if n.op == CONST else n.shape for n in order]
    if not shapes or any(s is None for s in shapes):
        return None
    big_shape = max(shapes, key=_size)
    if _size(big_shape) < TILE_MIN_SIZE:
        return None
    part: dict[Symbol, str] = {}
    for node in inputs:
        part[node] = "big" if node.shape == big_shape else "small"
    for node in order:
        shape = _const_shape(node) if node.op == CONST else node.shape
        kinds = [part[i] for i in node.inputs]
        if node.op == CONST:
            part[node] = "big" if shape == big_shape else "small"
        elif shape == big_shape:
            opdef = OPS.get(node.op)
            if node.dtype is None or node.dtype.kind != "f":
                return None
            spread = (
                opdef is not None
                and opdef.tiling == "spread"
                and kinds[:1] == ["small"]
                and _size(node.inputs[0].shape) == 1
            )
            if not (spread or opdef is not None and opdef.elementwise):
                return None
            if "late" in kinds or "reduce" in kinds:
                return None  # would need a second pass
            if any(
                k == "small" and _size(i.shape if i.op != CONST else _const_shape(i)) != 1
                for k, i in zip(kinds, node.inputs)
            ):
                return None  # a partial broadcast (a row against a matrix) is not tiled
            part[node] = "big"
        elif "big" in kinds:
            if OPS[node.op].tiling != "reduce" or len(kinds) != 1 or not _covers_all_axes(node, len(big_shape)):
                return None
            if node.dtype is None or node.dtype.kind != "f":
                return None
            part[node] = "reduce"
        else:
            part[node] = "late" if {"late", "reduce"} & set(kinds) else "small"
    if not any(part[n] == "big" for n in order if n.op != CONST):
        return None
    return big_shape, part


def _aliasing_roots(body: list[Symbol], buffered: set[Symbol]) -> dict[Symbol, frozenset]:
    """The scratch buffers each body value may share memory with (a non-ufunc may return a view)."""
    roots: dict[Symbol, frozenset] = {}
    for node in body:
        if node in buffered:
            roots[node] = frozenset([node])
        else:
            roots[node] = frozenset().union(*(roots.get(i, frozenset()) for i in node.inputs))
    return roots


def compile_tiled(
    order: Sequence[Symbol],
    inputs: Sequence[Symbol],
    outputs: Sequence[Symbol],
    slot: dict[Symbol, int],
    namespace: dict[str, Any],
) -> tuple[list[str], int, int] | None:
    """The body lines of a tiled program over numbered slots (kernels and constants go into
    `namespace`, never into the source), its tile length and its scratch bytes; None if it can't be tiled."""
    found = classify(order, inputs)
    if found is None:
        return None
    big_shape, part = found
    n_elems = int(_size(big_shape))  # an int in the generated source, whatever the shape held
    output_set = set(outputs)
    body = [n for n in order if part[n] == "big" and n.op != CONST]
    body_pos = {n: p for p, n in enumerate(body)}
    reductions = [n for n in order if part[n] == "reduce"]
    reduce_after = {r: body_pos[r.inputs[0]] if r.inputs[0] in body_pos else -1 for r in reductions}

    def is_ufunc(node: Symbol) -> bool:
        return isinstance(OPS[node.op].impl, np.ufunc) and OPS[node.op].prepare is None and not node.attrs

    buffered = {n for n in body if is_ufunc(n) and n not in output_set}
    roots = _aliasing_roots(body, buffered)
    last_use: dict[Symbol, int] = {}
    for pos, node in enumerate(body):
        for i in node.inputs:
            for r in roots.get(i, ()):
                last_use[r] = pos
    for r in reductions:  # a reduction reads its input right after that input is made
        for root in roots.get(r.inputs[0], ()):
            last_use[root] = max(last_use.get(root, -1), reduce_after[r])

    # Give each buffered step a scratch tile, reusing tiles whose values are dead.
    buffer_of: dict[Symbol, int] = {}
    buffer_dtypes: list[np.dtype] = []
    free: dict[np.dtype, list[int]] = {}
    dying: dict[int, list[Symbol]] = {}
    for root, pos in last_use.items():
        if root in buffered:
            dying.setdefault(pos, []).append(root)
    for pos, node in enumerate(body):
        for root in dying.get(pos, ()):
            if root in buffer_of and body_pos[root] < pos:
                free.setdefault(root.dtype, []).append(buffer_of[root])
        if node in buffered:
            pool = free.get(node.dtype)
            if pool:
                buffer_of[node] = pool.pop()
            else:
                buffer_of[node] = len(buffer_dtypes)
                buffer_dtypes.append(node.dtype)
        for root in dying.get(pos, ()):
            if root is node and root in buffer_of:  # made and never read: free it at once
                free.setdefault(node.dtype, []).append(buffer_of[root])
    widest = max((d.itemsize for d in buffer_dtypes), default=8)
    tile = int(
        np.clip(1 << int(np.log2(max(SCRATCH_BYTES // (widest * max(len(buffer_dtypes), 1)), 1))), *_TILE_BOUNDS)
    )

    lines: list[str] = []
    emit = lines.append
    for node in inputs:
        if part[node] == "big":
            emit(f"    f{slot[node]} = v{slot[node]}.reshape(-1)")
    for node in order:
        s = slot[node]
        if node.op == CONST:
            namespace[f"c{s}"] = node.attrs["value"]
            emit(f"    v{s} = c{s}")
            if part[node] == "big":
                emit(f"    f{s} = v{s}.reshape(-1)")
        elif part[node] == "small":
            namespace[f"k{s}"] = OPS[node.op].numpy_kernel_for(node)
            emit(f"    v{s} = k{s}({', '.join(f'v{slot[i]}' for i in node.inputs)})")
    small_in_body = {i for n in body for i in n.inputs if part[i] == "small"}
    for node in [*inputs, *order]:
        if node in small_in_body:
            emit(f"    t{slot[node]} = scalar(v{slot[node]})")
    for node in body:
        if node in output_set:
            namespace[f"d{slot[node]}"] = node.dtype
            emit(f"    o{slot[node]} = empty({n_elems}, d{slot[node]})")
    for r in reductions:
        namespace[f"z{slot[r]}"] = r.dtype.type(0)
        emit(f"    a{slot[r]} = z{slot[r]}")
    for b, dtype in enumerate(buffer_dtypes):
        namespace[f"d_b{b}"] = dtype
        emit(f"    b{b} = empty({tile}, d_b{b})")
    namespace.update(empty=np.empty, asarray=np.asarray, scalar=_scalar, add_reduce=np.add.reduce)
    emit(f"    for lo in range(0, {n_elems}, {tile}):")
    emit(f"        hi = lo + {tile}")
    emit(f"        if hi > {n_elems}:")
    emit(f"            hi = {n_elems}")
    for b in range(len(buffer_dtypes)):
        emit(f"            b{b} = b{b}[:hi - lo]")
    tiled_leaves = {i for n in body for i in n.inputs if part[i] == "big" and i not in body_pos}
    tiled_leaves |= {r.inputs[0] for r in reductions if r.inputs[0] not in body_pos}
    for node in [*inputs, *order]:
        if node in tiled_leaves:
            emit(f"        t{slot[node]} = f{slot[node]}[lo:hi]")
    pending = sorted(reductions, key=lambda r: reduce_after[r])
    while pending and reduce_after[pending[0]] < 0:
        emit(_accumulate(pending.pop(0), slot))
    for pos, node in enumerate(body):
        s = slot[node]
        namespace[f"k{s}"] = OPS[node.op].numpy_kernel_for(node)
        args = ", ".join(f"t{slot[i]}" for i in node.inputs)
        if OPS[node.op].tiling == "spread":  # a size-1 value: every tile is that value
            namespace[f"d{s}"] = node.dtype
            emit(f"        t{s} = asarray(t{slot[node.inputs[0]]}, d{s})")
            if node in output_set:
                emit(f"        o{s}[lo:hi] = t{s}")
        elif node in buffered:
            emit(f"        t{s} = k{s}({args}, out=b{buffer_of[node]})")
        elif node in output_set and is_ufunc(node):
            emit(f"        t{s} = k{s}({args}, out=o{s}[lo:hi])")
        else:
            emit(f"        t{s} = k{s}({args})")
            if node in output_set:
                emit(f"        o{s}[lo:hi] = t{s}")
        while pending and reduce_after[pending[0]] == pos:
            emit(_accumulate(pending.pop(0), slot))
    for node in body:
        if node in output_set:
            namespace[f"shape{slot[node]}"] = big_shape
            emit(f"    v{slot[node]} = o{slot[node]}.reshape(shape{slot[node]})")
    for r in reductions:
        s = slot[r]
        namespace[f"fin{s}"] = _finisher(r, n_elems)
        emit(f"    v{s} = fin{s}(a{s})")
    for node in order:
        if part[node] == "late":
            s = slot[node]
            namespace[f"k{s}"] = OPS[node.op].numpy_kernel_for(node)
            emit(f"    v{s} = k{s}({', '.join(f'v{slot[i]}' for i in node.inputs)})")
    return lines, tile, tile * sum(d.itemsize for d in buffer_dtypes)


def _accumulate(reduction: Symbol, slot: dict[Symbol, int]) -> str:
    s = slot[reduction]
    return f"        a{s} = a{s} + add_reduce(t{slot[reduction.inputs[0]]})"


def _finisher(reduction: Symbol, n_elems: int) -> Callable[[Any], Any]:
    """Turn a tile-summed accumulator into what np.sum / np.mean would have returned."""
    shape, dtype = reduction.shape, reduction.dtype
    if reduction.op == "mean":
        return lambda acc: np.reshape(np.true_divide(acc, n_elems), shape) if shape else dtype.type(acc / n_elems)
    return lambda acc: np.reshape(acc, shape) if shape else acc


def _scalar(value: Any) -> Any:
    """A size-1 value as 0-d, so it broadcasts against a flat tile whatever its rank."""
    return value.reshape(()) if getattr(value, "ndim", 0) else value
