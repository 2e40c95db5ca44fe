"""Pictures of graphs: networkx DiGraphs, DOT text, and SVG in Jupyter when Graphviz is installed."""

from __future__ import annotations

import math
import shutil
import subprocess
from typing import Any

import networkx as nx

from .graph import CONST, VAR, Symbol, topo_order
from .ops.infer import infer_graph
from .printing import format_const

_STYLE = {VAR: "ellipse", CONST: "plaintext"}


def _label(node: Symbol) -> str:
    if node.op == VAR:
        return node.name or "?"
    if node.op == CONST:
        return format_const(node.attrs["value"])
    return node.op


def to_networkx(s: Symbol) -> nx.DiGraph:
    """One node per variable, constant and op (keyed n0, n1, ... in graph order); edges input -> consumer."""
    graph = nx.DiGraph()
    key: dict[int, str] = {}
    for node in topo_order(s.outputs()):
        key[id(node)] = f"n{len(key)}"
        graph.add_node(
            key[id(node)],
            op=node.op,
            name=node.name or "",
            shape=node.shape,
            label=_label(node),
        )
        for position, inp in enumerate(node.inputs):
            graph.add_edge(key[id(inp)], key[id(node)], position=position)
    return graph


def _quote(text: str) -> str:
    """A DOT double-quoted string: backslashes, quotes and newlines escaped."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def to_dot(s: Symbol, title: str | None = None) -> str:
    """The graph as DOT text (every label quoted and escaped)."""
    graph = to_networkx(s)
    lines = ["digraph symgrad {", "  rankdir=BT;", '  node [fontname="Helvetica"];']
    if title:
        lines.append(f"  label={_quote(title)};")
    for key, data in graph.nodes(data=True):
        label = data["label"] if data["op"] in (VAR, CONST) else f"{data['label']}\n{data['name']}"
        if data["shape"] is not None:
            label += f"\n{data['shape']}"
        shape = _STYLE.get(data["op"], "box")
        lines.append(f"  {key} [label={_quote(label)}, shape={shape}];")
    for a, b in graph.edges():
        lines.append(f"  {a} -> {b};")
    lines.append("}")
    return "\n".join(lines) + "\n"


class GraphPicture:
    """Renders as SVG in Jupyter when Graphviz's `dot` is installed; otherwise shows the DOT text."""

    def __init__(self, dot: str) -> None:
        self.dot = dot
        self.svg = _render_svg(dot)

    def _repr_svg_(self) -> str | None:
        return self.svg

    def _repr_markdown_(self) -> str | None:
        if self.svg is not None:
            return None
        return (
            "Graphviz's `dot` is not installed, so here is the DOT text "
            "(install it with `apt-get install graphviz` or `conda install graphviz` for a picture):\n\n"
            f"```dot\n{self.dot}```"
        )

    def __repr__(self) -> str:
        return self.dot


def _render_svg(dot: str) -> str | None:
    binary = shutil.which("dot")
    if binary is None:
        return None
    done = subprocess.run([binary, "-Tsvg"], input=dot, capture_output=True, text=True, timeout=60, check=False)
    return done.stdout if done.returncode == 0 else None


def plot_network(s: Symbol, title: str | None = None, save_format: str = "svg", **_: Any) -> GraphPicture:
    """A picture of the graph for Jupyter (MXNet's name); the DOT text is always available as `.dot`."""
    return GraphPicture(to_dot(s, title))


def print_summary(
    symbol: Symbol, shape: dict[str, Any] | None = None, line_length: int = 120, positions: Any = None
) -> None:
    """MXNet's viz.print_summary: one row per input and op, with output shape (batch axis dropped),
    parameter count (its variable inputs not given in `shape`) and the layers it reads."""
    shape = dict(shape or {})
    node_shapes, _ = infer_graph(symbol.outputs(), shape, override=True)
    columns = [int(line_length * p) for p in (positions or (0.44, 0.64, 0.74, 1.0))]
    rows = [("Layer (type)", "Output Shape", "Param #", "Previous Layer")]
    total = 0
    for node in topo_order(symbol.outputs()):
        if node.op == CONST or (node.op == VAR and node.name not in shape):
            continue
        out = node_shapes[id(node)]
        if node.op == VAR:
            rows.append((f"{node.name}(null)", _dims(out), "0", ""))
            continue
        params = [i for i in node.inputs if i.op == VAR and i.name not in shape]
        count = sum(math.prod(node_shapes[id(p)]) for p in params if node_shapes[id(p)] is not None)
        total += count
        previous = [i.name for i in node.inputs if i.op != CONST and all(i is not p for p in params)]
        rows.append((f"{node.name}({node.op})", _dims(out), str(count), ", ".join(previous)))
    print("_" * line_length)
    for k, row in enumerate(rows):
        line = ""
        for text, end in zip(row, columns):
            line = (line + text)[: end - 1].ljust(end)
        print(line.rstrip())
        print(("=" if k in (0, len(rows) - 1) else "_") * line_length)
    print(f"Total params: {total}")
    print("_" * line_length)


def _dims(shape: tuple | None) -> str:
    """An output shape without its batch axis, as MXNet prints it ('?' when unknown)."""
    if shape is None:
        return "?"
    return "x".join(map(str, shape[1:])) or "scalar"
