"""Shape and dtype inference over a whole graph: MXNet's infer_shape and infer_type.

Each node's shape and dtype follow from its inputs' by its op's declared rules
(`registry.node_meta`); layer parameters learn their shapes from the layer's data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import ShapeError, SymgradError, describe_origin
from ..graph import CONST, GROUP, VAR, Symbol, normalize_shape, topo_order
from .registry import OPS, _dtype_or_weak, aux_variables, broadcast_shapes, check_declared_shape, node_meta


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
    for node in topo_order(outputs):
        if node.op == VAR:
            given = shapes.get(node.name)
            given = normalize_shape(given) if given is not None else None
            if not override:
                check_declared_shape(node, given)
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
    by_name = {n.name: table[id(n)] for n in order if n.op == VAR}
    aux = [by_name[n] for n in aux_variables(order)]
    return [by_name[n] for n in names], [table[id(o)] for o in symbol.outputs()], aux


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
            learned.setdefault(i.name, value)
    return learned
