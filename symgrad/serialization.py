"""JSON round trip of Symbol graphs. Loading treats the text as data only.

Format: {"format": "symgrad", "version": 1, "nodes": [...], "heads": [...]} where each
node is {"op", "name", "inputs": [indices of earlier nodes], "attrs", ...}. Variables
use MXNet's op name "null". Inputs may only point backwards, so a loaded graph can
have no cycle. Any malformed or unknown content raises GraphFormatError.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np

from .errors import GraphFormatError, SymgradError
from .graph import CONST, GROUP, VAR, Group, Symbol, const, normalize_shape, topo_order
from .ops.registry import OPS, apply

FORMAT = "symgrad"
VERSION = 1
_DTYPES = {
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
}


def _is_dtype(value: Any) -> bool:
    return isinstance(value, str) and value in _DTYPES


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _encode_number(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)  # 'nan', 'inf', '-inf'
    return v


def tojson(symbol: Symbol) -> str:
    """The graph as JSON text."""
    outputs = symbol.outputs()
    index: dict[int, int] = {}
    nodes = []
    for node in topo_order(outputs):
        index[id(node)] = len(nodes)
        entry: dict[str, Any] = {"op": "null" if node.op == VAR else node.op, "name": node.name or "", "inputs": []}
        if node.op == VAR:
            entry["shape"] = None if node.partial_shape is None else list(node.partial_shape)  # null: a size left open
            entry["dtype"] = None if node.dtype is None else node.dtype.name
        elif node.op == CONST:
            v = node.attrs["value"]
            if isinstance(v, np.ndarray):
                entry["value"] = {
                    "dtype": v.dtype.name,
                    "shape": list(v.shape),
                    "data": [_encode_number(x) for x in v.ravel().tolist()],
                }
            else:
                entry["value"] = _encode_number(v)
        else:
            entry["inputs"] = [index[id(i)] for i in node.inputs]
            entry["attrs"] = {k: _jsonable(v) for k, v in node.attrs.items()}
        nodes.append(entry)
    return json.dumps({"format": FORMAT, "version": VERSION, "nodes": nodes, "heads": [index[id(o)] for o in outputs]})


def save(symbol: Symbol, path: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(tojson(symbol))


def load(path: str) -> Symbol:
    with open(path, encoding="utf-8") as f:
        return load_json(f.read())


def _number(v: Any, where: str) -> Any:
    if isinstance(v, str) and v in ("nan", "inf", "-inf"):
        return float(v)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise GraphFormatError(f"{where}: expected a number, got {v!r}")
    return v


def _const_node(value: Any, where: str) -> Symbol:
    if isinstance(value, dict):
        dtype = value.get("dtype")
        if not _is_dtype(dtype):
            raise GraphFormatError(f"{where}: unsupported dtype {dtype!r}")
        shape = _shape(value.get("shape"), where)
        data = value.get("data")
        if not isinstance(data, list) or shape is None or len(data) != math.prod(shape):  # exact, no int64 wrap
            raise GraphFormatError(f"{where}: constant data does not match its shape {shape}")
        try:
            arr = np.array([_number(x, where) for x in data], dtype=dtype).reshape(shape)
        except (ValueError, OverflowError) as exc:  # 1e300 into float16, -1 into uint8, ...
            raise GraphFormatError(f"{where}: constant data does not fit {dtype}: {exc}") from None
        return const(arr)
    return const(_number(value, where))


def _shape(value: Any, where: str) -> tuple[int, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(d, int) and not isinstance(d, bool) for d in value):
        raise GraphFormatError(f"{where}: a shape must be a list of ints, got {value!r}")
    try:
        return normalize_shape(value)
    except SymgradError as exc:
        raise GraphFormatError(f"{where}: {exc}") from None


def _attr_value(v: Any, where: str) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, list):
        return tuple(_attr_value(x, where) for x in v)
    raise GraphFormatError(f"{where}: attribute values must be JSON numbers, strings or lists, got {type(v).__name__}")


def load_json(text: Any) -> Symbol:
    """Rebuild a graph from tojson's text; never evaluates any of it."""
    if not isinstance(text, (str, bytes)):
        raise GraphFormatError(f"load_json takes JSON text, got {type(text).__name__}")
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise GraphFormatError(f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list) or not isinstance(doc.get("heads"), list):
        raise GraphFormatError("expected an object with 'nodes' and 'heads' lists (symgrad's tojson format)")
    if "format" not in doc and ("arg_nodes" in doc or "node_row_ptr" in doc):  # MXNet's -symbol.json
        raise GraphFormatError(
            "this is MXNet's symbol JSON (arg_nodes, inputs as [node, output, version]); symgrad reads only"
            " the JSON its own tojson/save writes: build the net with symgrad's sym layers under the same"
            " names and give its parameters as arrays (MXNet's .params files do not load either)"
        )
    built: list[Symbol] = []
    for i, entry in enumerate(doc["nodes"]):
        where = f"node {i}"
        if not isinstance(entry, dict):
            raise GraphFormatError(f"{where}: expected an object, got {type(entry).__name__}")
        try:
            built.append(_load_node(entry, built, where))
        except RecursionError:  # attributes nested hundreds deep
            raise GraphFormatError(f"{where}: attributes are nested too deeply") from None
    heads = doc["heads"]
    if not heads:
        raise GraphFormatError("the graph has no outputs ('heads' is empty)")
    outputs = []
    for h in heads:
        if not isinstance(h, int) or isinstance(h, bool) or not 0 <= h < len(built):
            raise GraphFormatError(f"head {h!r} does not name a node")
        outputs.append(built[h])
    return outputs[0] if len(outputs) == 1 else Group(outputs)


def _load_node(entry: dict, built: list[Symbol], where: str) -> Symbol:
    op = entry.get("op")
    name = entry.get("name", "")
    if not isinstance(op, str) or not isinstance(name, str):
        raise GraphFormatError(f"{where}: 'op' and 'name' must be strings")
    if op == "null":
        dtype = entry.get("dtype")
        if dtype is not None and not _is_dtype(dtype):
            raise GraphFormatError(f"{where}: unsupported dtype {dtype!r}")
        shape = entry.get("shape")
        open_sizes = isinstance(shape, list) and None in shape  # a rank declared, sizes left to bind
        known = _shape([d for d in shape if d is not None] if open_sizes else shape, where)
        partial = tuple(shape) if open_sizes else known
        dtype = None if dtype is None else np.dtype(dtype)
        return Symbol(VAR, name=name, shape=None if open_sizes else known, dtype=dtype, partial_shape=partial)
    if op == CONST:
        return _const_node(entry.get("value"), where)
    if op == GROUP or op not in OPS:
        raise GraphFormatError(f"{where}: unknown op {op!r}")
    opdef = OPS[op]
    inputs = entry.get("inputs", [])
    if not isinstance(inputs, list):
        raise GraphFormatError(f"{where}: 'inputs' must be a list")
    nodes = []
    for j in inputs:
        if not isinstance(j, int) or isinstance(j, bool) or not 0 <= j < len(built):
            raise GraphFormatError(
                f"{where}: input {j!r} is not an earlier node (inputs may only point back; no cycles)"
            )
        nodes.append(built[j])
    if isinstance(opdef.arity, int) and len(nodes) != opdef.arity:
        raise GraphFormatError(f"{where}: op {op!r} takes {opdef.arity} inputs, got {len(nodes)}")
    raw_attrs = entry.get("attrs", {})
    if not isinstance(raw_attrs, dict):
        raise GraphFormatError(f"{where}: 'attrs' must be an object")
    attrs = dict(opdef.attr_defaults)
    for key, value in raw_attrs.items():
        if opdef.arity is not None and key not in opdef.attr_defaults:
            raise GraphFormatError(f"{where}: op {op!r} has no attribute {key!r}")
        if key == "dtype" and value is not None and not _is_dtype(value):
            raise GraphFormatError(f"{where}: unsupported dtype {value!r}")
        attrs[key] = _attr_value(value, where)
    try:
        if opdef.normalize is not None:
            attrs = opdef.normalize(attrs)
        return apply(opdef, nodes, attrs, name or None)
    except GraphFormatError:
        raise
    except (SymgradError, TypeError, ValueError, IndexError, KeyError) as exc:
        raise GraphFormatError(f"{where}: op {op!r} rejects its inputs or attributes: {exc}") from None


# Symbol's serialization methods (attached here: graph.py imports nothing above it)
Symbol.tojson = tojson
Symbol.save = save
