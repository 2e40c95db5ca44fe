"""Graph pictures: networkx structure and escaped DOT text."""

import re

import networkx as nx

from symgrad import sym, viz


def test_to_networkx_has_a_node_per_variable_constant_and_op():
    a, b = sym.var("a"), sym.var("b")
    graph = viz.to_networkx(2 * a + b)
    ops = sorted(d["op"] for _, d in graph.nodes(data=True))
    assert ops == ["add", "const", "multiply", "var", "var"]
    assert graph.number_of_edges() == 4
    assert nx.is_directed_acyclic_graph(graph)
    sinks = [n for n in graph if graph.out_degree(n) == 0]
    assert [graph.nodes[n]["op"] for n in sinks] == ["add"]


def test_to_dot_is_well_formed_and_escapes_names():
    name = 'we"ird\\name\nwith "quotes" and ünïcode'
    x = sym.var(name, shape=(3,))
    dot = viz.to_dot(sym.sum(sym.exp(x) * x), title='a "title"')
    lines = dot.strip().splitlines()
    assert lines[0] == "digraph symgrad {" and lines[-1] == "}"
    assert dot.count("{") == dot.count("}") == 1
    for line in lines[1:-1]:
        assert re.fullmatch(
            r'  (n\d+ \[label="(?:[^"\\]|\\.)*", shape=\w+\];|n\d+ -> n\d+;|rankdir=BT;|node \[.*\];|label="(?:[^"\\]|\\.)*";)',
            line,
        ), line
    assert '\\"quotes\\"' in dot and "\\\\name" in dot and "\\n" in dot
    try:
        import pydot  # noqa: F401
    except ImportError:
        return
    parsed = nx.drawing.nx_pydot.from_pydot(__import__("pydot").graph_from_dot_data(dot)[0])
    assert parsed.number_of_nodes() >= 4


def test_plot_network_always_gives_dot_text_and_a_picture():
    picture = viz.plot_network(sym.var("x") * 2)
    assert picture.dot.startswith("digraph")
    assert picture._repr_svg_().lstrip().startswith(("<svg", "<?xml")) and picture._repr_markdown_() is None


def test_without_graphviz_the_picture_is_drawn_in_layers(monkeypatch):
    import xml.etree.ElementTree as ElementTree

    monkeypatch.setattr(viz.shutil, "which", lambda name: None)  # a fresh machine: pip packages only
    x, w = sym.var("x", shape=(2, 3)), sym.var("w<&>", shape=(3,))
    picture = viz.plot_network(sym.sum(sym.dot(x, w) * 2), title="a & b")
    root = ElementTree.fromstring(picture._repr_svg_())  # well-formed XML: names are escaped
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert {"x", "w<&>", "dot", "sum", "a & b", "(2, 3)"} <= set(texts), texts
    assert len(list(root.iter("{http://www.w3.org/2000/svg}line"))) == len(
        viz.to_networkx(sym.sum(sym.dot(x, w) * 2)).edges
    )
    heights = {t.text: float(t.attrib["y"]) for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert heights["x"] > heights["dot"] > heights["sum"]  # inputs at the bottom, as rankdir=BT


def test_committed_notebooks_show_pictures_of_graphs_not_dot_text():
    import json
    import pathlib

    cells = 0
    for path in sorted((pathlib.Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] == "code" and "plot_network" in "".join(cell["source"]):
                cells += 1
                kinds = {kind for output in cell["outputs"] for kind in output.get("data", {})}
                assert "image/svg+xml" in kinds and "text/markdown" not in kinds, (path.name, kinds)
    assert cells >= 2
