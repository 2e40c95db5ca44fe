"""Pictures of graphs: networkx DiGraphs, DOT text, and SVG in Jupyter when Graphviz is installed."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import networkx as nx

from .graph import CONST, VAR, Symbol, topo_order
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
