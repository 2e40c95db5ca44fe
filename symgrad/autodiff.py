"""Reverse-mode differentiation as a graph transform: Symbols in, gradient Symbols out.

Nodes are visited once in reverse topological order; each op's gradient rule (from
its one declaration) emits Symbol nodes, so the result can be differentiated again.
Cost is linear in graph size. Adjoints may be smaller than their node (a scalar seed
stands for ones): elementwise rules broadcast them, and they are materialised only
where a non-elementwise rule or a final gradient needs the full shape.

Masked gradients: when a node's adjoint is `where(c, h, 0)` (it lies in the branch of
a `where` that c selects) its elementwise gradient is computed from h and masked
again, so the branch not taken never forms 0 * inf or 0 * nan (the "double where"
JAX users write by hand); a relayout (reshape, transpose) rearranges the mask with h.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

from .errors import SymgradError
from .graph import CONST, GROUP, VAR, NameManager, Symbol, gc_paused, is_const, topo_order
from .ops import elementwise as ew
from .ops import reduction as red
from .ops import shape as shp
from .ops.infer import mark_derived_assuming_open
from .ops.registry import OPS, as_symbol, broadcast_shapes, swap_origin
from .shapes import covered_by, covers
from .simplify import Simplifier


def sum_back(g: Symbol, x: Symbol, out: Symbol) -> Symbol:
    """Undo broadcasting: the adjoint g of `out` (standing for g broadcast to out's shape,
    as a scalar seed stands for ones) summed down to the input x's shape."""
    if covers(x, out):
        return g if covered_by(g, x) else shp.sum_like(g, x)  # x was not broadcast into out
    if covers(g, out):
        return shp.sum_like(g, x)  # g is full size: sum it over the axes x was broadcast along
    if covered_by(g, x) and x.shape is not None and out.shape is not None:
        # g is constant along the axes x was broadcast along: the sum is g times their size
        count = math.prod(out.shape) // math.prod(x.shape) if math.prod(x.shape) else 0
        return full_shape(g * count, x)
    return shp.sum_like(full_shape(g, out), x)


def full_shape(g: Symbol, x: Symbol) -> Symbol:
    """g broadcast up to x's shape (a scalar seed becomes an array of x's shape)."""
    return g if covers(g, x) else shp.broadcast_like(g, x)


def _mask_of(g: Symbol) -> tuple[Symbol, Symbol, bool] | None:
    """(c, h, taken) when g is where(c, h, 0) (taken) or where(c, 0, h)."""
    if g.op != "where":
        return None
    c, a, b = g.inputs
    # the mask's 0 is a Python 0 (_remask, the where/maximum rules); a masked sum that folds to 0
    # (W + -W) is a typed 0: where(c, 0, array(0.)) masks the first branch, not the second
    mask_b, mask_a = _is_mask_zero(b), _is_mask_zero(a)
    if mask_b and (mask_b >= mask_a):
        return c, a, True
    if mask_a:
        return c, b, False
    return None


def _is_mask_zero(node: Symbol) -> int:
    """2 for a Python 0 (the zero a mask is built with), 1 for another 0-d zero, 0 otherwise."""
    if not (is_const(node, 0) and node.shape == ()):
        return 0
    return 2 if node.dtype is None else 1


def _remask(c: Symbol, value: Symbol, taken: bool) -> Symbol:
    return ew.where(c, value, 0) if taken else ew.where(c, 0, value)


def _add_up(contribs: list[Symbol]) -> Symbol:
    if len(contribs) == 1:
        return contribs[0]
    masks = [_mask_of(g) for g in contribs]
    if all(masks) and all(m[0] is masks[0][0] and m[2] == masks[0][2] for m in masks):
        return _remask(masks[0][0], _add_up([m[1] for m in masks]), masks[0][2])
    total = contribs[0]
    for g in contribs[1:]:
        total = total + g
    return total


def _grad_origin(node: Symbol) -> tuple | None:
    if not node.origin:
        return None
    order = node.origin[2] if len(node.origin) > 2 else 0
    return (node.origin[0], node.origin[1], order + 1)


def _masks_of(g: Symbol) -> tuple[list[tuple[Symbol, bool]], Symbol]:
    """The masks g is wrapped in, outermost first, and what they wrap: nested wheres give several
    (up to _MAX_MASK_DEPTH, so each node's rule costs a bounded number of wheres)."""
    masks = []
    mask = _mask_of(g)
    while mask is not None and len(masks) < _MAX_MASK_DEPTH:
        masks.append((mask[0], mask[2]))
        g = mask[1]
        mask = _mask_of(g)
    return masks, g


def _mask_groups(contribs: list[Symbol]) -> list[list[Symbol]] | None:
    """Contributions to one adjoint grouped by their chain of masks, when chains differ (a node used
    in two wheres): the rule then runs per group, so no branch's 0 multiplies another's inf."""
    groups: dict[tuple, list[Symbol]] = {}
    for g in contribs:
        groups.setdefault(tuple(_masks_of(g)[0]), []).append(g)
    if len(groups) < 2 or len(groups) > _MAX_MASK_GROUPS or list(groups) == [()]:
        return None
    return list(groups.values())


_MAX_MASK_GROUPS = 4  # more would apply a rule that many times per node
_MAX_MASK_DEPTH = 4  # nested wheres peeled per node: derivation stays linear in graph size


def _input_grads(node: Symbol, g: Symbol) -> list[Symbol | None]:
    opdef = OPS[node.op]
    if opdef.grad is None:
        raise SymgradError(f"op {node.op!r} ({node.name!r}) has no gradient rule; register one with grad=...")
    masks, h = _masks_of(g) if opdef.elementwise or opdef.relayout else ([], g)
    if masks and opdef.elementwise:
        raw = opdef.grad(h, node, *node.inputs, **node.attrs)
        for c, taken in reversed(masks):  # the innermost mask first, as they were applied
            raw = [None if r is None else _remask(c, as_symbol(r), taken) for r in raw]
    elif masks:  # reshape, transpose: the mask is rearranged as the adjoint is
        raw = opdef.grad(full_shape(h, node), node, *node.inputs, **node.attrs)
        for c, taken in reversed(masks):
            selected = full_shape(ew.where(c, 1, 0) if taken else ew.where(c, 0, 1), node)
            moved = opdef.grad(selected, node, *node.inputs, **node.attrs)[0]
            raw = [None if r is None else _remask(moved, as_symbol(r), True) for r in raw]
    else:
        if not opdef.elementwise:
            g = full_shape(g, node)
        raw = opdef.grad(g, node, *node.inputs, **node.attrs)
    if len(raw) != len(node.inputs):
        raise SymgradError(f"gradient rule of {node.op!r} returned {len(raw)} values for {len(node.inputs)} inputs")
    out: list[Symbol | None] = []
    for inp, r in zip(node.inputs, raw):
        if r is None:
            out.append(None)
            continue
        r = as_symbol(r)
        out.append(_masked_sum_back(r, inp, node) if opdef.elementwise else r)
    return out


def _masked_sum_back(r: Symbol, inp: Symbol, node: Symbol) -> Symbol:
    """sum_back with r's masks kept outside the sum when they do not vary along the summed axes
    (sum(where(c, h, 0)) is where(c, sum(h), 0) then), so the next rule still sees them."""
    masks, h = _masks_of(r)
    if not masks or inp.op not in OPS or not (OPS[inp.op].elementwise or OPS[inp.op].relayout):
        return sum_back(r, inp, node)  # only elementwise and relayout rules peel masks (and could form inf*0)
    # inp has node's shape (then every mask on node's adjoint fits it, provably or not: a sum_like of
    # the same shape, undeclared) or each mask fits inp: the sum is taken inside the masks
    if covers(inp, node) or all(covered_by(c, inp) for c, _ in masks):
        summed = sum_back(h, inp, node)
        for c, taken in reversed(masks):
            summed = _remask(c, summed, taken)
        return summed
    # The masks vary along the summed axes: an entry of the sum is masked where every term was,
    # which is where the count of selected terms is 0 (so inf*0 from the rule after never forms).
    selected = None
    for c, taken in masks:
        chosen = ew.where(c, 1.0, 0.0) if taken else ew.where(c, 0.0, 1.0)
        selected = chosen if selected is None else selected * chosen
    return ew.where(sum_back(selected, inp, node), sum_back(r, inp, node), 0)


def _as_built(node: Symbol) -> Symbol:
    return node


def reverse_mode(
    heads: list[Symbol],
    targets: list[Symbol],
    seeds: list[Symbol],
    normal: Callable[[Symbol], Symbol] = _as_built,
    order: list[Symbol] | None = None,
) -> list[Symbol]:
    """Gradients of sum_i <seed_i, head_i> with respect to each target node.

    `normal` is applied to each gradient expression as it is built (a simplifier's
    `normalize_built`), so later rules see simplified adjoints and nothing is rebuilt.
    `order` is topo_order(heads) when the caller has it already.
    """
    order = topo_order(heads) if order is None else order
    depends: set[Symbol] = set(targets)
    for node in order:
        if not depends.isdisjoint(node.inputs):
            depends.add(node)
    adjoints: dict[Symbol, list[Symbol]] = {}
    for head, seed in zip(heads, seeds):
        if head in depends:
            adjoints.setdefault(head, []).append(normal(seed))
    grad_origins: dict[Any, tuple | None] = {}  # node origin -> its gradient nodes' origin (one tuple per line)
    outer = swap_origin(None)
    try:
        for node in reversed(order):
            if node.op in (VAR, CONST) or node not in adjoints:
                continue
            origin = grad_origins.get(node.origin, False)
            if origin is False:
                origin = grad_origins[node.origin] = _grad_origin(node)
            swap_origin(origin)  # gradient nodes point at the line that built node
            contribs = adjoints[node]
            groups = _mask_groups(contribs) if len(contribs) > 1 and OPS[node.op].elementwise else None
            for group in groups or [contribs]:
                input_grads = _input_grads(node, normal(_add_up(group)))
                for inp, gi in zip(node.inputs, input_grads):
                    if gi is not None and inp in depends:
                        adjoints.setdefault(inp, []).append(normal(gi))
    finally:
        swap_origin(outer)
    results = []
    in_graph: set[Symbol] | None = None  # the graph's nodes, when some target gets no gradient
    for target in targets:
        contribs = adjoints.get(target)
        if not contribs:
            in_graph = in_graph if in_graph is not None else set(order)
            results.append(normal(_zeros_of(target, target in in_graph)))
        else:
            g = full_shape(_add_up(contribs), target)
            # a float32 x gets a float32 gradient (weak 1.0 seeds, where(x > 0, 1, 0) is int64)
            if target.dtype is None or (target.shape is None and target.dtype.kind == "f"):
                # the dtype is known only at bind; with sizes open too, this names the variable whose
                # shape the gradient has (the simplifier spreads u*ones_like(e) as broadcast_to(u, shape(x)))
                g = ew.cast_like(g, target)
            elif target.dtype.kind == "f" and (g.dtype is None or g.dtype != target.dtype):  # (None == float64)
                g = ew.cast(g, dtype=target.dtype)
            results.append(normal(g))
    return results


def _zeros_of(x: Symbol, in_graph: bool) -> Symbol:
    """The gradient of a variable nothing flows back to: zeros of its shape and dtype."""
    if x.shape is not None and (x.dtype is not None or not in_graph):
        return shp.zeros(shape=x.shape, dtype=x.dtype or "float32")  # a variable not in the graph: no dtype to follow
    return ew.zeros_like(x)  # in x's dtype, known only at bind


def _one_node_per_name(heads: list[Symbol]) -> list[Symbol]:
    """Variables are identified by name (as at bind): merge same-named variable nodes."""
    first: dict[str, Symbol] = {}
    duplicated = False
    for node in topo_order(heads):
        if node.op == VAR:
            duplicated |= first.setdefault(node.name, node) is not node
    if not duplicated:
        return heads
    from .ops.registry import substitute

    return [substitute(h, first) for h in heads]


def _resolve_targets(heads: list[Symbol], wrt: list[Any], order: list[Symbol] | None = None) -> list[Symbol]:
    order = topo_order(heads) if order is None else order
    by_name: dict[str, Symbol] = {}
    for node in order:
        if node.op == VAR:
            by_name.setdefault(node.name, node)
    members: set[Symbol] | None = None
    targets = []
    for w in wrt:
        if isinstance(w, str):
            if w not in by_name:
                raise SymgradError(f"grad: {w!r} is not an argument of the graph; arguments: {list(by_name)}")
            targets.append(by_name[w])
        elif isinstance(w, Symbol) and w.op == VAR:
            targets.append(by_name.get(w.name, w))  # the graph's variable of that name
        elif isinstance(w, Symbol) and w.op != GROUP:
            members = set(order) if members is None else members
            if w not in members:
                raise SymgradError(
                    f"grad: {w.op} {w.name!r} is not a node of the graph being differentiated (a new node such as"
                    " w*2 is not the w*2 inside it); differentiate with respect to a variable, or pass the node"
                    " object the graph was built from"
                )
            targets.append(w)
        else:
            raise SymgradError(f"grad: wrt must be a variable Symbol or its name, got {w!r}")
    return targets


def _seeds(heads: list[Symbol], head_grads: Any) -> list[Symbol]:
    if head_grads is None:
        return [as_symbol(1.0) for _ in heads]
    if isinstance(head_grads, Symbol) and head_grads.op == GROUP:
        head_grads = list(head_grads.inputs)
    if not isinstance(head_grads, (list, tuple)):
        head_grads = [head_grads]
    if len(head_grads) != len(heads):
        raise SymgradError(f"grad: {len(head_grads)} head gradients for {len(heads)} outputs")
    seeds = []
    for head, hg in zip(heads, head_grads):
        seed = as_symbol(1.0 if hg is None else hg)
        if seed.shape is not None and head.shape is not None and seed.shape != head.shape:
            if broadcast_shapes(seed.shape, head.shape) != head.shape:
                from .errors import ShapeError

                raise ShapeError(
                    f"grad: head gradient of shape {seed.shape} does not match output {head.name!r}"
                    f" of shape {head.shape}"
                )
        seeds.append(seed)
    return seeds


def grad(y: Symbol, wrt: Any, head_grads: Any = None, simplify: bool = True) -> Any:
    """Gradient graph(s) of y (of sum(y) for non-scalar y) with respect to wrt.

    `wrt` is a variable, a name, or a list of them (a list is returned then). A
    variable y does not depend on gets zeros of its shape.
    """
    if not isinstance(y, Symbol):
        raise SymgradError(f"grad: y must be a Symbol, got {type(y).__name__}")
    heads = _one_node_per_name(y.outputs())
    single = not isinstance(wrt, (list, tuple))
    wrt_list = [wrt] if single else list(wrt)
    order = topo_order(heads)
    # internal nodes do not use up the user's auto-name counters, nor take a name y's graph uses
    with NameManager().reserve(node.name for node in order), gc_paused():
        targets = _resolve_targets(heads, wrt_list, order)
        if simplify:
            grads = derive_simplified(heads, targets, head_grads).grads
        else:
            grads = reverse_mode(heads, targets, _seeds(heads, head_grads))
    mark_derived_assuming_open(order, grads)
    return grads[0] if single else grads


class Derived(NamedTuple):
    """What derive_simplified returns: the simplified heads, their topological order, the gradients."""

    heads: list[Symbol]
    order: list[Symbol]
    grads: list[Symbol]


def derive_simplified(
    heads: list[Symbol],
    targets: list[Symbol],
    head_grads: Any = None,
    variables: dict[str, Symbol] | None = None,
    order: list[Symbol] | None = None,
) -> Derived:
    """The simplified heads and gradients, sharing one simplifier so the forward part is done once.

    The heads are simplified first (stability rewrites such as log(sigmoid(x)) ->
    -softplus(-x)) so gradients are derived from the accurate form. `variables`
    replaces the heads' variables by name on the way (the executor's bound shapes);
    `order` is topo_order(heads) when the caller has it already.
    """
    simplifier = Simplifier(assume_finite=False, per_node=40, base=2000)
    if all(t.op == VAR for t in targets):  # variables survive simplification as they are
        heads = simplifier.run(heads, variables, order)
    elif variables is not None:
        raise SymgradError("derive_simplified: variables can be replaced only when every target is a variable")
    new_order = topo_order(heads)
    simplifier.outputs_cast = True  # reverse_mode casts each gradient to its variable's dtype
    grads = reverse_mode(heads, targets, _seeds(heads, head_grads), simplifier.normalize_built, new_order)
    return Derived(heads, new_order, grads)


def hvp(y: Symbol, x: Any, v: Any, simplify: bool = True) -> Symbol:
    """Hessian-vector product H(y) v by reverse-over-reverse; the Hessian is never formed."""
    g = grad(y, x, simplify=simplify)
    return grad(red.sum(g * v), x, simplify=simplify)


def jacobian(y: Symbol, x: Any, simplify: bool = True) -> Symbol:
    """d y / d x as a Symbol of shape y.shape + x.shape (y's shape must be known)."""
    if y.shape is None:
        raise SymgradError(
            "jacobian: the output's shape must be known; give the variables shapes with sym.var(..., shape=...)"
        )
    (target,) = _resolve_targets([y], [x])
    if target.shape is None:
        raise SymgradError("jacobian: the variable's shape must be known")
    size = 1
    for d in y.shape:
        size *= d
    flat = shp.reshape_to(y, (size,))
    rows = [grad(flat[i], target, simplify=simplify) for i in range(size)]
    return shp.reshape_to(shp.stack(rows, axis=0), y.shape + target.shape)
