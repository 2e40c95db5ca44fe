"""The compile pipeline: specialise -> derive -> simplify -> plan, cached in the one plan cache.

`compile_binding` serves `Executor` and `DaskExecutor`; `compile_backward` serves eager
`autograd.backward`. Both key the cache by structure, shapes and dtypes
(`key.structure_key`) and lift constants to plan inputs when a structure comes back
with other values (`cache.PlanCache.lookup`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import tiling
from ..autodiff import derive_simplified
from ..autodiff import grad as derive
from ..graph import CONST, VAR, Group, NameManager, Symbol, const, gc_paused, shaped_var, topo_order, variable_names
from ..ops.infer import check_declared_shape, derived_assuming_open
from ..ops.registry import OPS
from ..simplify import simplify_all
from .backends import compile_program
from .cache import CACHE
from .key import lift_constants, structure_key
from .plan import Program


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
    # per output and gradient kinds: the maker of an executor's generated forward and backward
    # (`symgrad/trainstep.py`), or False where they cannot be
    step: dict = field(default_factory=dict)
    _with_heads: Program | None = None

    def nbytes(self) -> int:
        """An estimate of the memory this binding's programs hold (for the plan cache's bound)."""
        programs = [p for p in (self.forward, self.backward, self.train) if p is not None]
        return sum(p.nbytes() for p in programs)

    def backward_with_heads(self) -> Program:
        """Backward for given head gradients: inputs are the heads, the saved forward values, then the
        arguments (built on first use). Reading the saved values, not recomputing them, keeps what a
        random or train-mode op drew in the forward (Dropout's mask)."""
        if self._with_heads is None:
            heads = [
                shaped_var(f"_head_grad{i}", s, d) for i, (s, d) in enumerate(zip(self.out_shapes, self.out_dtypes))
            ]
            wrt = [t for t in self.targets if t.name in self.grad_names]  # in grad_names' order
            with NameManager():
                grads = derive_simplified(self.special, wrt, heads).grads
            self._with_heads = compile_program(grads, heads + self.saved + self.targets, self.reuse_buffers)
            self._with_heads.frame_at = len(heads) if self.saved else None
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
    assumed = derived_assuming_open(order)  # part of the key: such a graph's plan is made after its size check
    key = (
        structure,
        tuple(sorted(shapes.items())),
        tuple(sorted((k, str(v)) for k, v in dtypes.items())),
        tuple(grad_names),
        reuse_buffers,
        assumed,
    )

    def compile_with(lift: bool) -> Callable[[], tuple[Compiled, int]]:
        def run() -> tuple[Compiled, int]:
            with gc_paused():
                compiled = _compile_binding(order, outputs, shapes, dtypes, grad_names, reuse_buffers, lift, assumed)
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
    assumed: bool,
) -> Compiled:
    arg_names = variable_names(order)
    shaped = {n: shaped_var(n, shapes[n], dtypes[n]) for n in arg_names}
    for node in order:
        if node.op == VAR:
            check_declared_shape(node, shapes[node.name], assumed)
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
        # Forward values that some backward-only node reads, or that are a gradient themselves, are
        # kept from forward to backward (never recomputed: Dropout's mask must be the one drawn).
        read = {i for b in bwd_nodes if b not in fwd_nodes for i in b.inputs}
        read.update(grads)
        saved = [n for n in bwd_nodes if n in fwd_nodes and n.op not in (VAR, CONST) and n in read]
        train = _fused_train(fwd_outputs, grads, arg_inputs, reuse_buffers)
        if train is not None:  # one tiled pass computes outputs and gradients; nothing is saved
            saved = []
            forward = compile_program(fwd_outputs, arg_inputs, reuse_buffers, order=fwd_order)
        else:
            forward = compile_program(fwd_outputs + saved, arg_inputs, reuse_buffers, order=fwd_order)
            backward = compile_program(grads, saved + arg_inputs, reuse_buffers, write_into=reuse_buffers)
            if saved:  # the jit backend hands the saved values over as one Frame (vmcode.py)
                forward.frame_from, backward.frame_at = len(fwd_outputs), 0
    else:
        forward = compile_program(fwd_outputs, arg_inputs, reuse_buffers)
    compiled = Compiled(forward, backward, saved, grad_names, out_shapes, out_dtypes, arg_names)
    compiled.train = train
    compiled.grad_dtypes = [g.dtype for g in grads] if grad_names else []
    compiled.special, compiled.targets, compiled.reuse_buffers = fwd_outputs, arg_inputs, reuse_buffers
    return compiled


@dataclass
class EagerBackward:
    """The backward program of a recorded eager graph, and where its inputs come from."""

    program: Program
    feed_positions: list[int]  # positions in the recorded topological order of the program's inputs
    n_heads: int

    def nbytes(self) -> int:
        return self.program.nbytes()


def compile_backward(
    order: list[Symbol], heads: list[Symbol], targets: list[Symbol], head_grads: list, lift: bool
) -> tuple[EagerBackward, int]:
    """The backward program of a recorded graph; with lift, its constants are inputs after the fed values."""
    head_vars = [
        None if hg is None else shaped_var(f"_head_grad{i}", h.shape, h.dtype)
        for i, (h, hg) in enumerate(zip(heads, head_grads))
    ]
    seeds = [const(1.0) if hv is None else hv for hv in head_vars]
    params: list[Symbol] = []
    position = {n: i for i, n in enumerate(order)}
    if lift:
        new, params = lift_constants(order)
        position = {new[n]: i for n, i in position.items() if n.op != CONST}
        heads = [new[h] for h in heads]
        targets = [new[t] for t in targets]
    grads = derive(Group(heads), targets, head_grads=seeds)
    feed = [n for n in topo_order(grads) if n in position and n.op != CONST]
    inputs = feed + params + [hv for hv in head_vars if hv is not None]
    compiled = EagerBackward(compile_program(grads, inputs), [position[n] for n in feed], len(inputs) - len(feed))
    return compiled, compiled.nbytes()


def backward_plan(
    order: list[Symbol], heads: list[Symbol], targets: list[Symbol], head_grads: list
) -> tuple[EagerBackward, Sequence[Any]]:
    """The cached backward program of a recorded graph, and the constant values to pass it.

    `order` is topo_order(heads); head_grads holds None for a head whose gradient is the
    default (ones). A custom Function's plan holds that instance (and what it saved): each
    call makes a new one, so such plans are not kept, or the cache would hold every call's tensors.
    """
    structure, constants = structure_key(heads, order, named=False)
    position = {n: i for i, n in enumerate(order)}
    key = (structure, tuple(g is not None for g in head_grads), tuple(position[t] for t in targets))
    keep = all(n.op not in OPS or OPS[n.op].cacheable for n in order)
    return CACHE.lookup(
        key,
        constants,
        lambda: compile_backward(order, heads, targets, head_grads, False),
        lambda: compile_backward(order, heads, targets, head_grads, True),
        keep,
    )
