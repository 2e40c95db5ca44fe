"""Untrusted input: JSON graphs and CLI expressions either load or raise a SymgradError,
never another exception, and never run code; hostile variable names work everywhere."""

import contextlib
import copy
import json
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import recipes

import symgrad as sg
from symgrad import executor, sym, viz
from symgrad.cli import parse_expression

# Audit events that would mean input text was run as code or reached the OS.
CODE_EVENTS = {"exec", "os.system", "subprocess.Popen", "os.posix_spawn", "os.exec", "os.fork", "ctypes.dlopen"}
_WATCH: list = []  # the active watch list, or empty when not watching


def _audit(event, args):
    if _WATCH and event in CODE_EVENTS:
        filename = getattr(args[0], "co_filename", "<?>") if event == "exec" else "<?>"
        if filename.startswith("<") and not filename.startswith("<frozen"):  # not a module being imported
            _WATCH[-1].append((event, args))


sys.addaudithook(_audit)  # hooks cannot be removed; it only records while a `runs_no_code` block is open


@contextlib.contextmanager
def runs_no_code():
    events: list = []
    _WATCH.append(events)
    try:
        yield
    finally:
        _WATCH.pop()
    assert not events, f"input ran code: {events}"


def loads_or_refuses(text):
    """load_json(text) returns a Symbol or raises a SymgradError, and runs nothing."""
    with runs_no_code():
        try:
            loaded = sym.load_json(text)
        except sg.SymgradError:
            return None
    assert isinstance(loaded, sg.Symbol)
    json.loads(loaded.tojson())  # whatever loads can be written back
    return loaded


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**62, max_value=2**70)
    | st.floats(allow_nan=False)
    | st.sampled_from([1e308, -1e308, 5e-324, 10**400, -(2**63), "nan", "inf", "-inf", "float64", "int8", "bool"])
    | st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
NODE_KEYS = ["op", "name", "inputs", "attrs", "value", "shape", "dtype", "extra"]


def valid_document():
    x, y = sym.var("x", shape=(3,)), sym.var("y")
    s = sym.Group([sym.sum(sym.exp(x[1:]) * y), sym.concat([x, y], axis=0) @ sym.ones(shape=(4,))])
    return json.loads(s.tojson())


@given(JSON_VALUES)
def test_random_json_documents_load_or_raise_a_symgrad_error(value):
    loads_or_refuses(json.dumps(value))


@given(st.text(max_size=200) | st.binary(max_size=100))
def test_random_text_and_bytes_load_or_raise_a_symgrad_error(text):
    loads_or_refuses(text)


@given(st.sampled_from([None, 3, 2.5, [], {}, object(), b"\xff\xfe", bytearray(b"{}")]))
def test_non_text_arguments_raise_a_graph_format_error(value):
    with pytest.raises(sg.GraphFormatError):
        sym.load_json(value)


@st.composite
def mutated_documents(draw):
    """tojson() of a random graph (or a fixed one), then several random edits of its nodes."""
    doc = json.loads(draw(recipes(max_steps=4)).symbol().tojson()) if draw(st.booleans()) else valid_document()
    for _ in range(draw(st.integers(1, 4))):
        node = draw(st.sampled_from(doc["nodes"]))
        edit = draw(st.integers(0, 5))
        key = draw(st.sampled_from(NODE_KEYS))
        if edit == 0:
            node[key] = draw(JSON_VALUES)
        elif edit == 1:
            node.pop(key, None)
        elif edit == 2 and isinstance(node.get("inputs"), list) and node["inputs"]:  # point an input anywhere
            node["inputs"][draw(st.integers(0, len(node["inputs"]) - 1))] = draw(st.integers(-3, len(doc["nodes"]) + 3))
        elif edit == 3 and isinstance(node.get("attrs"), dict) and node["attrs"]:
            attr = draw(st.sampled_from(sorted(node["attrs"])))
            node["attrs"][attr] = draw(JSON_VALUES)
        elif edit == 4:  # swap two nodes: inputs that pointed back may now point forward
            i, j = draw(st.integers(0, len(doc["nodes"]) - 1)), draw(st.integers(0, len(doc["nodes"]) - 1))
            doc["nodes"][i], doc["nodes"][j] = doc["nodes"][j], doc["nodes"][i]
        else:
            doc["heads"] = draw(st.lists(st.integers(-3, len(doc["nodes"]) + 3) | JSON_SCALARS, max_size=3))
    return doc


@given(mutated_documents())
def test_mutated_valid_graphs_load_or_raise_a_symgrad_error(doc):
    loads_or_refuses(json.dumps(doc))


@pytest.mark.parametrize("depth", [100, 900, 5_000, 100_000])
def test_deeply_nested_json_is_refused_cleanly(depth):
    loads_or_refuses("[" * depth + "]" * depth)
    loads_or_refuses('{"a":' * depth + "1" + "}" * depth)
    doc = valid_document()
    attrs = json.dumps({"axis": None, "keepdims": False})
    text = json.dumps(doc).replace(attrs, '{"axis": ' + "[" * depth + "0" + "]" * depth + ', "keepdims": false}', 1)
    loads_or_refuses(text)


@pytest.mark.parametrize(
    "value",
    [
        "1" + "0" * 5000,  # a 5,000-digit integer
        "1e999",
        "-1e999",
        "NaN",
        '{"dtype": "float16", "shape": [1], "data": [1e300]}',
        '{"dtype": "uint8", "shape": [1], "data": [-1]}',
        '{"dtype": "int64", "shape": [1], "data": [1e300]}',
        '{"dtype": "float64", "shape": [4611686018427387904, 4611686018427387904], "data": []}',
        '{"dtype": "float64", "shape": [100000000000000000000], "data": [1]}',
        '{"dtype": "float64", "shape": [-1], "data": [1]}',
    ],
)
def test_huge_numbers_and_shapes_are_refused_cleanly(value):
    loads_or_refuses('{"nodes": [{"op": "const", "name": "c", "value": ' + value + "}], " + '"heads": [0]}')
    doc = valid_document()
    doc["nodes"][0]["shape"] = [int(v) for v in [2**62, 2**62]]
    loads_or_refuses(json.dumps(doc))


@pytest.mark.parametrize("index", [2**63, -(2**63) - 1, 10**30])
def test_an_index_beyond_int64_is_a_shape_error_built_or_loaded(index):
    """Hypothesis found a getitem index of 2**63 in loaded JSON raising OverflowError (Python's,
    from NumPy's indexing); an index of 2**62 was already a ShapeError."""
    with pytest.raises(sg.ShapeError, match="does not fit shape"):
        sym.var("x", shape=(3,))[index]
    doc = {
        "nodes": [
            {"op": "null", "name": "x", "inputs": [], "shape": [3]},
            {"op": "getitem", "name": "g", "inputs": [0], "attrs": {"index": [index]}},
        ],
        "heads": [1],
    }
    assert loads_or_refuses(json.dumps(doc)) is None
    with pytest.raises(sg.ShapeError, match="nd.getitem"):
        sg.nd.array([1.0, 2.0, 3.0])[index]  # eager indexing too


@pytest.mark.parametrize(
    ("op", "attrs", "message"),
    [
        ("sum", {"axis": None, "keepdims": "yes"}, "keepdims must be True or False"),
        ("sum", {"axis": "1", "keepdims": False}, "axis must be an int"),
        ("sum", {"axis": [0, 1.5], "keepdims": False}, "axis must be an int"),
        ("clip", {"a_min": "0", "a_max": None}, "a_min must be a number"),
    ],
)
def test_attributes_of_the_wrong_type_are_refused_at_load(op, attrs, message):
    doc = {"nodes": [{"op": "null", "name": "x"}, {"op": op, "name": "y", "inputs": [0], "attrs": attrs}], "heads": [1]}
    with pytest.raises(sg.GraphFormatError, match=message):
        sym.load_json(json.dumps(doc))


# ---- the CLI expression parser ------------------------------------------------------------

ATOMS = st.sampled_from(
    [
        "x", "y", "t", "sin", "exp", "sum", "dot", "__import__", "os", "eval", "exec", "open", "globals",
        "__class__", "__builtins__", "self", "1", "0", "2.5", "1e999", "9**9**9", "10**400", "-0", "nan", "inf",
        "'text'", "b'x'", "None", "True", "...",
    ]
)  # fmt: skip


def _compound(inner):
    pair = st.tuples(inner, inner)
    return st.one_of(
        pair.map(lambda p: f"({p[0]} + {p[1]})"),
        pair.map(lambda p: f"({p[0]} * {p[1]})"),
        pair.map(lambda p: f"({p[0]} ** {p[1]})"),
        pair.map(lambda p: f"({p[0]} / {p[1]})"),
        pair.map(lambda p: f"({p[0]} @ {p[1]})"),
        pair.map(lambda p: f"({p[0]} // {p[1]})"),
        pair.map(lambda p: f"({p[0]} and {p[1]})"),
        pair.map(lambda p: f"({p[0]} if {p[1]} else {p[0]})"),
        pair.map(lambda p: f"{p[0]}({p[1]})"),
        pair.map(lambda p: f"sin({p[0]}, {p[1]})"),
        pair.map(lambda p: f"sum({p[0]}, axis={p[1]})"),
        pair.map(lambda p: f"{p[0]}[{p[1]}]"),
        pair.map(lambda p: f"[{p[0]}, {p[1]}]"),
        inner.map(lambda a: f"-{a}"),
        inner.map(lambda a: f"{a}.__class__"),
        inner.map(lambda a: f"(lambda: {a})()"),
        inner.map(lambda a: f"[c for c in {a}]"),
        inner.map(lambda a: f"(w := {a})"),
        inner.map(lambda a: f"f'{{{a}}}'"),
        inner.map(lambda a: f"exp(*{a})"),
        inner.map(lambda a: f"sin(x, **{a})"),
        inner.map(lambda a: f"reshape({a}, shape=(2, -1))"),
    )


EXPRESSIONS = st.recursive(ATOMS, _compound, max_leaves=8)


def parses_or_refuses(text):
    with runs_no_code():
        try:
            result = parse_expression(text)
        except sg.SymgradError:
            return None
    expression, variables = result
    assert isinstance(expression, sg.Symbol)
    assert all(isinstance(v, sg.Symbol) for v in variables.values())
    return result


@given(st.text(max_size=80))
def test_random_text_parses_or_raises_a_symgrad_error(text):
    parses_or_refuses(text)


@given(EXPRESSIONS)
def test_random_python_expressions_parse_or_raise_a_symgrad_error(text):
    parses_or_refuses(text)


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('echo PWNED')",
        "x.__class__.__bases__",
        "(lambda: 1)()",
        "[c for c in ()]",
        "{c: c for c in x}",
        "(y := 3)",
        "globals()",
        "sin.__globals__",
        "exp(x)[0]",
        "f'{x}'",
        "x if x else x",
        "open('/etc/passwd')",
        "sin(*x)",
        "sin(x, name='a')",
        "eval('1')",
        "9**9**9",
        "x + 10**400",
        "0/0",
    ],
)
def test_code_and_bombs_in_expressions_are_refused(text):
    with runs_no_code(), pytest.raises(sg.ExpressionError):
        parse_expression(text)


# ---- hostile variable names ---------------------------------------------------------------

NASTY = [
    "x'); import os; #",
    'a"b\\c',
    "line\nbreak",
    "tab\there",
    "ünï€ødé λ",
    "__import__('os').system('id')",
    "{}[]<>&;|",
    "",
    "} digraph evil {",
    "a}\\href{http://x}{b",  # LaTeX markup
    "$\\input{/etc/passwd}$",
    "v0",  # the generated plan's own local names
    "k3",
]


@pytest.mark.parametrize("name", NASTY)
def test_hostile_variable_names_work_everywhere(name):
    x = sym.var(name)
    y = sym.sum(sym.exp(x) * x)
    g = sym.grad(y, x)
    assert y.list_arguments() == [name]
    assert repr(x) == f"<Symbol {name}>"
    for text in (str(y), str(g)):  # printing shows the name, quoted when it is not an identifier
        assert (name if name.isidentifier() else repr(name)) in text
    value = np.array([0.5, 1.5])
    ex = y.bind({name: value})  # bind by that name
    ex.forward(is_train=True)
    ex.backward()
    np.testing.assert_allclose(ex.grad_dict[name], np.exp(value) * (1 + value))
    np.testing.assert_allclose(ex.outputs[0], np.sum(np.exp(value) * value))
    loaded = sym.load_json(y.tojson())
    assert loaded.list_arguments() == [name]
    np.testing.assert_allclose(loaded.eval(**{name: value})[0], ex.outputs[0])
    lines = viz.to_dot(g).splitlines()
    assert lines[0] == "digraph symgrad {" and lines[-1] == "}"
    assert all(line.startswith("  ") for line in lines[1:-1])  # no name broke out of its quotes
    graph = viz.to_networkx(g)
    assert any(data.get("label", "") == name or name in str(data) for _, data in graph.nodes(data=True))
    latex = y._repr_latex_()  # LaTeX holds the name as escaped text: its braces balance, no command of its own
    body = latex.removeprefix("$\\displaystyle ").removesuffix("$")
    unescaped = body.replace("\\{", "").replace("\\}", "")
    assert unescaped.count("{") == unescaped.count("}") and "$" not in body.replace("\\$", "")
    assert "\\href" not in latex and "\\input" not in latex


def test_hostile_names_never_reach_the_generated_plan_source():
    sources: list = []
    recording = [False]

    def capture(event, args):
        if recording[0] and event == "compile" and isinstance(args[0], (str, bytes)):
            sources.append(args[0] if isinstance(args[0], str) else args[0].decode("utf-8", "replace"))

    sys.addaudithook(capture)
    names = [n for n in NASTY if n]
    xs = [sym.var(n) for n in names]
    y = sym.sum(sym.Group(xs)[0] * 0)
    for v in xs:
        y = y + sym.sum(sym.tanh(v) * 2)
    args = {n: np.arange(3.0) + i for i, n in enumerate(names)}
    recording[0] = True
    try:  # after its first calls the plan is generated Python, compiled from slot numbers only
        ex = y.bind(args, backend="numpy")  # the NumPy backend is the one that generates source
        for _ in range(executor.CODEGEN_AFTER_CALLS):
            ex.forward(is_train=True)
            ex.backward()
    finally:
        recording[0] = False
    for n in names:
        np.testing.assert_allclose(ex.grad_dict[n], 2 * (1 - np.tanh(args[n]) ** 2))
    plan_sources = [s for s in sources if "def program" in s]
    assert plan_sources, "the executor compiled no plan"
    for source in plan_sources:
        for n in names:
            if len(n) > 3:  # short names such as 'v0' are the plan's own locals
                assert n not in source


def test_copies_of_a_document_with_hostile_names_round_trip():
    doc = valid_document()
    for node in doc["nodes"]:
        node["name"] = copy.copy(NASTY[0]) + node["name"]
    loaded = loads_or_refuses(json.dumps(doc))
    assert loaded is not None and all(n.startswith(NASTY[0]) for n in loaded.list_arguments())
