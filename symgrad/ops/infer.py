"""Shape and dtype inference over a whole graph: MXNet's infer_shape and infer_type.

Each node's shape and dtype follow from its inputs' by its op's declared rules
(`registry.node_meta`); layer parameters learn their shapes from the layer's data.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ShapeError, SymgradError, describe_origin
from ..graph import CONST, GROUP, VAR, Symbol, normalize_shape, topo_order
from .broadcasting import partial_parameter_shapes
from .registry import (
    OPS,
    _dtype_or_weak,
    aux_variables,
    broadcast_shapes,
    node_meta,
    partial_shape,
)

# Heads of graphs that sym.grad or sym.simplify made while some variable's size was open (None),
# by id: the rules assumed an open size is not 1 (does not broadcast), so binding such a graph
# with a size 1 there is refused. A graph the user wrote holds no such assumption: bind
# specialises it to the real shapes, size 1 included (MXNet's `0` batch size, then one sample).
_DERIVED_ASSUMING_OPEN: weakref.WeakValueDictionary[int, Symbol] = weakref.WeakValueDictionary()


def has_open_sizes(order: Sequence[Symbol]) -> bool:
    """Some variable declares its rank with a size left open."""
    return any(n.op == VAR and n.shape is None and n.partial_shape is not None for n in order)


def mark_derived_assuming_open(order: Sequence[Symbol], heads: Sequence[Symbol]) -> None:
    """Remember the new heads made from the graph `order` if that graph has open sizes (a head
    that is a node of `order` computes what the user wrote, whatever the sizes)."""
    if has_open_sizes(order):
        written = {id(n) for n in order}
        for head in heads:
            if id(head) not in written:
                _DERIVED_ASSUMING_OPEN[id(head)] = head


def derived_assuming_open(order: Sequence[Symbol]) -> bool:
    """The graph contains a head that was derived or simplified assuming open sizes are not 1."""
    return bool(_DERIVED_ASSUMING_OPEN) and any(_DERIVED_ASSUMING_OPEN.get(id(n)) is n for n in order)


def check_declared_shape(variable: Symbol, given: tuple | None, assumed_not_one: bool = True) -> None:
    """Refuse a bound shape that differs from the one the variable was declared with; a size
    declared open (None) takes any size, but not 1 where the graph was derived assuming it does
    not broadcast (assumed_not_one)."""
    if given is None or variable.partial_shape is None:
        return
    if variable.shape is not None:
        if given != variable.shape:
            from ..errors import BindError

            raise BindError(
                f"argument {variable.name!r} has shape {given} but the variable was declared with shape"
                f" {variable.shape}" + describe_origin(variable.origin)
            )
        return
    declared = variable.partial_shape
    if len(given) != len(declared) or any(d is not None and d != n for d, n in zip(declared, given)):
        raise ShapeError(
            f"argument {variable.name!r} has shape {given} but the variable was declared with shape {declared}"
            " (None: any size)" + describe_origin(variable.origin)
        )
    if assumed_not_one and any(d is None and n == 1 for d, n in zip(declared, given)):
        raise ShapeError(
            f"argument {variable.name!r} has shape {given}, a size 1 where the variable was declared with shape"
            f" {declared}: a size left open (None) is assumed not to broadcast, and the graph was simplified"
            " assuming so; declare that size as 1, or leave the whole shape undeclared"
            + describe_origin(variable.origin)
        )


def infer_graph(
    outputs: Sequence[Symbol],
    shapes: dict[str, Any],
    dtypes: dict[str, Any] | None = None,
    strict: bool = False,
    override: bool = False,
) -> tuple[dict[int, Any], dict[int, Any]]:
    """Shapes and dtypes of every node given some variables' shapes/dtypes (by name); with
    override, a given shape replaces a declared one (MXNet's infer_shape) instead of being checked."""
    dtypes = dtypes or {}
    node_shape: dict[int, Any] = {}
    node_dtype: dict[int, Any] = {}
    order = topo_order(outputs)
    assumed = not override and derived_assuming_open(order)
    for node in order:
        if node.op == VAR:
            given = shapes.get(node.name)
            given = normalize_shape(given) if given is not None else None
            if not override:
                check_declared_shape(node, given, assumed)
            node_shape[id(node)] = given if given is not None else node.shape
            dt = dtypes.get(node.name)
            node_dtype[id(node)] = np.dtype(dt) if dt is not None else node.dtype
            if strict and node_shape[id(node)] is None:
                from ..errors import BindError

                raise BindError(f"no shape for argument {node.name!r}")
        elif node.op == CONST:
            node_shape[id(node)] = node.shape
            node_dtype[id(node)] = _dtype_or_weak(node)
        else:
            in_shapes = [node_shape[id(i)] for i in node.inputs]
            if None in in_shapes and in_shapes[0] is not None and OPS[node.op].param_shapes is not None:
                _infer_parameters(node, in_shapes, node_shape)
            in_dtypes = [node_dtype[id(i)] for i in node.inputs]
            if None in in_dtypes and in_dtypes[0] is not None and OPS[node.op].param_shapes is not None:
                for pos, i in enumerate(node.inputs):  # a layer's parameters take its data's dtype, as in MXNet
                    if in_dtypes[pos] is None and i.op == VAR:
                        in_dtypes[pos] = node_dtype[id(i)] = in_dtypes[0]
            shape, dtype = node_meta(OPS[node.op], in_shapes, in_dtypes, node.attrs, node.name, node.origin)
            node_shape[id(node)] = shape
            node_dtype[id(node)] = dtype
    return node_shape, node_dtype


def _infer_parameters(node: Symbol, in_shapes: list, node_shape: dict[int, Any]) -> None:
    """A layer's weight, bias, label... variables of unknown shape take the shapes its data implies."""
    opdef = OPS[node.op]
    try:
        implied = opdef.param_shapes(in_shapes[0], **node.attrs)
    except (ShapeError, ValueError, IndexError, TypeError) as exc:  # named as node_meta names a shape error
        detail = str(exc).removeprefix("ShapeError: ")
        raise ShapeError(
            f"{opdef.name} {node.name!r}: {detail} (data shape {in_shapes[0]})" + describe_origin(node.origin)
        ) from None
    for pos, (key, i) in enumerate(zip(opdef.inputs(node.attrs), node.inputs)):
        if in_shapes[pos] is None and i.op == VAR and key in implied:
            in_shapes[pos] = node_shape[id(i)] = tuple(implied[key])


def infer_meta(symbol: Symbol, kind: str, args: tuple, given: dict[str, Any]) -> tuple:
    """Symbol.infer_shape / infer_type: MXNet's (args, outputs, aux) triple."""
    names = symbol.list_arguments()
    if len(args) > len(names):
        raise SymgradError(f"infer_{kind}: {len(args)} positional values for arguments {names}")
    given = {**dict(zip(names, args)), **given}
    for key in given:
        if key not in names:
            raise SymgradError(f"infer_{kind}: {key!r} is not an argument; arguments: {names}")
    order = topo_order(symbol.outputs())
    while True:  # until no variable learns its shape or dtype from the ops around it
        if kind == "shape":
            table, _ = infer_graph(symbol.outputs(), given, override=True)
        else:
            _, table = infer_graph(symbol.outputs(), {}, given)
        learned = _learn_from_neighbours(order, table, given)
        if not learned:
            break
        given = {**given, **learned}
    if kind == "shape":
        _check_one_shape_per_name(order, table)
        table = _with_partial_shapes(order, table)
    by_name = {n.name: table[id(n)] for n in order if n.op == VAR}
    aux = [by_name[n] for n in aux_variables(order)]
    return [by_name[n] for n in names], [table[id(o)] for o in symbol.outputs()], aux


def _check_one_shape_per_name(order: list[Symbol], table: dict[int, Any]) -> None:
    """Variables of one name are one argument: refuse two of them that need different shapes (two
    layers given one name= share their weights; the table would list the last one's shape only)."""
    first: dict[str, Symbol] = {}
    for node in order:
        if node.op != VAR or table[id(node)] is None:
            continue
        seen = first.setdefault(node.name, node)
        if table[id(seen)] != table[id(node)]:
            raise ShapeError(
                f"infer_shape: argument {node.name!r} would need shape {table[id(seen)]} and shape"
                f" {table[id(node)]}: variables of one name are one argument (layers given one name= share their"
                " parameters); give each variable or layer its own name"
                + describe_origin(seen.origin)
                + describe_origin(node.origin)
            )


def _with_partial_shapes(order: list[Symbol], table: dict[int, Any]) -> dict[int, Any]:
    """The shapes table with what is known of each unknown shape (None for a size left to bind,
    MXNet's infer_shape_partial) from the variables declared with a rank and open sizes."""
    partial = dict(table)
    for node in order:
        if partial[id(node)] is not None or node.op in (CONST, GROUP):
            continue
        if node.op == VAR:
            partial[id(node)] = node.partial_shape
            continue
        ins = [partial[id(i)] for i in node.inputs]
        opdef = OPS[node.op]
        if None in ins and ins[0] is not None and opdef.param_shapes is not None:  # MXNet's weight (4, 784)
            implied = partial_parameter_shapes(opdef.param_shapes, ins[0], node.attrs)  # for data (0, 784)
            for pos, (key, i) in enumerate(zip(opdef.inputs(node.attrs), node.inputs)):
                if ins[pos] is None and i.op == VAR and key in implied:
                    ins[pos] = partial[id(i)] = implied[key]
        if None not in ins:
            partial[id(node)] = partial_shape(opdef, ins, node.attrs, node.name, node.origin)
    return partial


def _learn_from_neighbours(order: list[Symbol], table: dict[int, Any], given: dict[str, Any]) -> dict[str, Any]:
    """Variables of unknown shape or dtype that an elementwise op's other inputs decide, as MXNet
    infers both ways: an elementwise op's inputs share its shape (MXNet's a + b needs equal
    shapes), and any op's inputs of one float dtype share it (dot of float64 with a variable);
    constants decide neither (2 * x says nothing of x)."""
    learned: dict[str, Any] = {}
    for node in order:
        if node.op in (VAR, CONST, GROUP) or node.op not in OPS:
            continue
        unknown = [i for i in node.inputs if i.op == VAR and table[id(i)] is None and i.name not in given]
        known = [table[id(i)] for i in node.inputs if table[id(i)] is not None and i.op != CONST]
        if not unknown or not known:
            continue
        if isinstance(known[0], tuple):  # shapes
            if not OPS[node.op].elementwise:
                continue
            try:
                value: Any = broadcast_shapes(*known)
            except ValueError:
                continue
        else:
            value = np.result_type(*known)
            if value.kind != "f":
                continue
        for i in unknown:
            if isinstance(value, tuple) and not _fits_declared(value, i.partial_shape):
                continue  # a declared rank or size says otherwise: left to the shapes given at bind
            learned.setdefault(i.name, value)
    return learned


def _fits_declared(shape: tuple, declared: tuple | None) -> bool:
    """shape has the declared rank and sizes (None: any size but 1, as bind holds it), or nothing was declared."""
    if declared is None:
        return True
    return len(shape) == len(declared) and all(n != 1 if d is None else d == n for d, n in zip(declared, shape))
