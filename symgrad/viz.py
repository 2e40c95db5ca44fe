"""Pictures of graphs: networkx DiGraphs, DOT text, and SVG in Jupyter (Graphviz's layout when it is
installed, else a layered layout drawn here, so a fresh machine with only pip packages shows a picture)."""

from __future__ import annotations

import html
import math
import shutil
import subprocess
from typing import Any

import networkx as nx

from .graph import CONST, VAR, Symbol, topo_order
from .ops.infer import infer_graph
from .ops.registry import OPS
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
    """Renders as SVG in Jupyter: Graphviz's layout when `dot` is installed, else symgrad's own."""

    def __init__(self, dot: str, graph: nx.DiGraph | None = None, title: str | None = None) -> None:
        self.dot = dot
        self.svg = _render_svg(dot)
        if self.svg is None and graph is not None:
            self.svg = layered_svg(graph, title)

    def _repr_svg_(self) -> str | None:
        return self.svg

    def _repr_markdown_(self) -> str | None:
        if self.svg is not None:
            return None
        return f"```dot\n{self.dot}```"

    def __repr__(self) -> str:
        return self.dot


def _render_svg(dot: str) -> str | None:
    binary = shutil.which("dot")
    if binary is None:
        return None
    done = subprocess.run([binary, "-Tsvg"], input=dot, capture_output=True, text=True, timeout=60, check=False)
    return done.stdout if done.returncode == 0 else None


_CHAR, _LINE, _GAP_X, _GAP_Y, _PAD = 7.2, 15, 24, 46, 10  # px: a Helvetica 12px character, a text line


def _lines(data: dict) -> list[str]:
    lines = [data["label"]] if data["op"] in (VAR, CONST) else [data["label"], data["name"]]
    return lines + ([str(data["shape"])] if data["shape"] is not None else [])


def layered_svg(graph: nx.DiGraph, title: str | None = None) -> str:
    """SVG of a DAG in layers (inputs at the bottom, as rankdir=BT): a node's layer is its longest
    path from an input, nodes of a layer side by side in graph order, edges drawn as arrows."""
    layer: dict[str, int] = {}
    for key in nx.topological_sort(graph):
        layer[key] = max((layer[p] + 1 for p in graph.predecessors(key)), default=0)
    size = {
        k: (max(len(t) for t in _lines(d)) * _CHAR + 2 * _PAD, len(_lines(d)) * _LINE + _PAD)
        for k, d in graph.nodes(data=True)
    }
    rows: dict[int, list[str]] = {}
    for key in graph.nodes:
        rows.setdefault(layer[key], []).append(key)
    row_height = {r: max(size[k][1] for k in keys) for r, keys in rows.items()}
    width = max(sum(size[k][0] for k in keys) + _GAP_X * (len(keys) + 1) for keys in rows.values())
    top = 30 if title else 10
    height = top + sum(row_height.values()) + _GAP_Y * len(rows)
    centre: dict[str, tuple[float, float]] = {}
    y = height - _GAP_Y / 2
    for r in sorted(rows):
        keys = rows[r]
        x = (width - sum(size[k][0] for k in keys) - _GAP_X * (len(keys) - 1)) / 2
        for k in keys:
            centre[k] = (x + size[k][0] / 2, y - row_height[r] / 2)
            x += size[k][0] + _GAP_X
        y -= row_height[r] + _GAP_Y
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="Helvetica, Arial, sans-serif" font-size="12">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z"/></marker></defs>',
    ]
    if title:
        parts.append(f'<text x="{width / 2:.0f}" y="18" text-anchor="middle">{html.escape(title)}</text>')
    for a, b in graph.edges():
        (xa, ya), (xb, yb) = centre[a], centre[b]
        parts.append(
            f'<line x1="{xa:.1f}" y1="{ya - size[a][1] / 2:.1f}" x2="{xb:.1f}" y2="{yb + size[b][1] / 2:.1f}" '
            'stroke="#555" marker-end="url(#arrow)"/>'
        )
    for key, data in graph.nodes(data=True):
        (cx, cy), (w, h) = centre[key], size[key]
        if data["op"] == VAR:
            parts.append(
                f'<ellipse cx="{cx:.1f}" cy="{cy:.1f}" rx="{w / 2:.1f}" ry="{h / 2:.1f}" fill="#eef" stroke="#333"/>'
            )
        elif data["op"] != CONST:
            parts.append(
                f'<rect x="{cx - w / 2:.1f}" y="{cy - h / 2:.1f}" width="{w:.1f}" height="{h:.1f}" rx="3" '
                'fill="#fff" stroke="#333"/>'
            )
        lines = _lines(data)
        for i, text in enumerate(lines):
            ty = cy + (i - (len(lines) - 1) / 2) * _LINE + 4
            parts.append(f'<text x="{cx:.1f}" y="{ty:.1f}" text-anchor="middle">{html.escape(text)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def plot_network(s: Symbol, title: str | None = None, save_format: str = "svg", **_: Any) -> GraphPicture:
    """A picture of the graph for Jupyter (MXNet's name); the DOT text is always available as `.dot`."""
    return GraphPicture(to_dot(s, title), to_networkx(s), title)


def print_summary(
    symbol: Symbol, shape: dict[str, Any] | None = None, line_length: int = 120, positions: Any = None
) -> None:
    """MXNet's viz.print_summary: one row per input and op, with output shape (batch axis dropped),
    parameter count (its variable inputs not given in `shape`, labels and auxiliary states aside)
    and the layers it reads."""
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
        params = [i for i in _parameters(node) if i.name not in shape]
        count = sum(math.prod(node_shapes[id(p)]) for p in params if node_shapes[id(p)] is not None)
        total += count
        previous = [i.name for i in node.inputs if i.op != CONST and (i.op != VAR or i.name in shape)]
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


def _parameters(node: Symbol) -> list[Symbol]:
    """A layer's variable inputs that training learns: not a loss layer's label (data) nor an
    auxiliary state (BatchNorm's moving statistics), which MXNet's print_summary does not count."""
    opdef = OPS.get(node.op)
    names = opdef.inputs(node.attrs) if opdef is not None and opdef.inputs is not None else ()
    skip = {"label", *opdef.aux} if opdef is not None else set()
    return [i for k, i in enumerate(node.inputs) if i.op == VAR and (k >= len(names) or names[k] not in skip)]


def _dims(shape: tuple | None) -> str:
    """An output shape without its batch axis, as MXNet prints it ('?' when unknown)."""
    if shape is None:
        return "?"
    return "x".join(map(str, shape[1:])) or "scalar"
