"""The structure key of a graph, and its constants lifted out as plan inputs.

The key holds ops, attributes, wiring and leaf shapes and dtypes, but not the values
of constants: a loop whose scalar or index array changes from step to step has one
key, so it reuses one plan. The values come out alongside the key, one per use of a
constant as an op input, in the order `lift_constants` turns those uses into inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..graph import CONST, VAR, Symbol, scalar_key, topo_order
from ..ops.registry import OPS, rebuild


def structure_key(
    outputs: Sequence[Symbol], order: Sequence[Symbol] | None = None, named: bool = True
) -> tuple[tuple, list]:
    """(key, constant values): a hashable description of the graph's structure, and its constants.

    One flat tuple (a kept plan's key is not thousands of small tuples for the cyclic
    collector to walk), read one way only: each variable is VAR and three fields (its name
    unless named=False, declared shape or rank (partial_shape), dtype); each op node its op (a
    string), attrs, input count and inputs, each an earlier node's position or, for a constant,
    its Python type's name or its (dtype, shape). Constants are described per use, so whether two uses share a
    node (equal scalars are one node) is not part of the structure. Then the outputs'
    positions and count; a constant that is an output is not lifted: its value is in the key.
    """
    index: dict[Symbol, int] = {}
    parts: list[Any] = []
    values: list[Any] = []
    add = parts.append
    for node in topo_order(outputs) if order is None else order:
        op = node.op
        if op == CONST:
            continue
        index[node] = len(index)
        if op == VAR:
            dtype = node.dtype
            parts += (VAR, node.name if named else None, node.partial_shape, None if dtype is None else dtype.str)
            continue
        add(op)
        add(_attrs_key(node.attrs) if node.attrs else "")
        add(len(node.inputs))
        for i in node.inputs:
            if i.op != CONST:
                add(index[i])
                continue
            v = i.attrs["value"]
            add((v.dtype.str, v.shape) if isinstance(v, np.ndarray) else type(v).__name__)
            values.append(v)
    for o in outputs:
        add(("const", value_key(o.attrs["value"])) if o.op == CONST else index[o])
    add(len(outputs))
    return tuple(parts), values


def _attrs_key(attrs: dict) -> Any:
    """Attrs as a key: their items with each value's type (clip's bound 0 is not 0.0); repr if unhashable."""
    key = (tuple(attrs.items()), tuple(map(type, attrs.values())))
    try:
        hash(key)
    except TypeError:
        return repr(sorted(attrs.items()))
    return key


def value_key(v: Any) -> tuple:
    """A constant's value as a hashable key that tells -0.0 from 0.0 (NaNs all alike)."""
    if isinstance(v, np.ndarray):
        return (v.dtype.str, v.shape, v.tobytes())
    return scalar_key(v)


def same_values(a: list, b: list) -> bool:
    """Whether two lists of constants hold the same values bitwise (scalars: by type, sign of zero)."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x is y:
            continue
        if isinstance(x, np.ndarray) != isinstance(y, np.ndarray) or value_key(x) != value_key(y):
            return False
    return True


LIFTED = "_const"  # the name prefix of a lifted constant's variable


def is_lifted(node: Symbol) -> bool:
    """node is a constant lifted to a plan input: its value may be a Python number, not a NumPy value."""
    return node.op == VAR and node.name.startswith(LIFTED)


def lift_constants(
    order: Sequence[Symbol], variables: dict[str, Symbol] | None = None
) -> tuple[dict[Symbol, Symbol], list[Symbol]]:
    """Rebuild the graph with each use of a constant as an op input made a variable (a plan input).

    Returns the new node of each node of `order` and the new variables, in the order of
    `structure_key`'s values. `variables` replaces variables by name on the way (the
    executor's bound shapes and dtypes). A weak Python scalar's variable has the dtype
    of that op's result (`float32_x * 0.5` computes in float32, `int_x / 2` in float64),
    and its value is passed as the Python number, so results match the specialised plan's.
    """
    new: dict[Symbol, Symbol] = {}
    params: list[Symbol] = []
    for node in order:
        op = node.op
        if op == VAR:
            new[node] = node if variables is None else variables.get(node.name, node)
            continue
        if op == CONST:
            new[node] = node  # stays only where it is an output
            continue
        inputs = []
        for i in node.inputs:
            if i.op != CONST:
                inputs.append(new[i])
                continue
            v = i.attrs["value"]
            if isinstance(v, np.ndarray):
                shape, dtype = v.shape, v.dtype
            else:
                shape, dtype = (), _weak_dtype(node, new)
            p = Symbol(VAR, name=f"{LIFTED}{len(params)}", shape=shape, dtype=dtype, origin=node.origin)
            params.append(p)
            inputs.append(p)
        new[node] = rebuild(node, tuple(inputs))
    return new, params


def _weak_dtype(node: Symbol, new: dict[Symbol, Symbol]) -> np.dtype:
    """The dtype of node's result, by its op's dtype rule with weak scalars given as values."""
    dtypes = []
    for i in node.inputs:
        if i.op == CONST:
            v = i.attrs["value"]
            dtypes.append(v.dtype if isinstance(v, np.ndarray) else v)
        else:
            dtypes.append(new[i].dtype)
    known = [d for d in dtypes if d is not None]
    try:
        return np.dtype(OPS[node.op].dtype(*dtypes, **node.attrs))
    except (TypeError, ValueError, OverflowError):  # an input's dtype is unknown, or the rule refuses
        return np.result_type(*known)
