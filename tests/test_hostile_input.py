"""Untrusted input: JSON graphs and CLI expressions either load or raise a SymgradError, never run code."""

import json

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import symgrad as sg
from symgrad import sym, viz
from symgrad.cli import parse_expression

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


def valid_document():
    x, y = sym.var("x"), sym.var("y")
    s = sym.Group([sym.sum(sym.exp(x[1:]) * y), sym.concat([x, y], axis=0) @ sym.ones(shape=(4,))])
    return json.loads(s.tojson())


@given(JSON_VALUES)
def test_random_json_documents_load_or_raise_graph_format_error(value):
    try:
        sym.load_json(json.dumps(value))
    except sg.SymgradError:
        pass


@given(st.text(max_size=200))
def test_random_text_loads_or_raises_graph_format_error(text):
    try:
        sym.load_json(text)
    except sg.SymgradError:
        pass


@given(st.data())
def test_mutated_valid_graphs_load_or_raise_symgrad_error(data):
    doc = valid_document()
    node = data.draw(st.sampled_from(doc["nodes"]))
    key = data.draw(st.sampled_from(["op", "name", "inputs", "attrs", "value", "shape", "dtype", "extra"]))
    node[key] = data.draw(JSON_VALUES)
    if data.draw(st.booleans()):
        doc["heads"] = data.draw(st.lists(st.integers(-3, 30), max_size=3))
    try:
        loaded = sym.load_json(json.dumps(doc))
    except sg.SymgradError:
        return
    assert isinstance(loaded, sg.Symbol)


def test_deeply_nested_json_is_rejected_cleanly():
    deep = "[" * 100_000 + "]" * 100_000
    try:
        sym.load_json(deep)
    except sg.SymgradError:
        pass


@given(st.text(max_size=80))
def test_random_expressions_parse_or_raise_expression_error(text):
    try:
        parse_expression(text)
    except sg.SymgradError:
        pass


@given(
    st.sampled_from(
        [
            "__import__('os').system('echo PWNED')",
            "x.__class__.__bases__",
            "(lambda: 1)()",
            "[c for c in ()]",
            "(y := 3)",
            "globals()",
            "sin.__globals__",
            "exp(x)[0]",
            "f'{x}'",
            "x if x else x",
        ]
    )
)
def test_code_in_expressions_is_refused(text):
    try:
        parse_expression(text)
        raise AssertionError(f"parsed {text!r}")
    except sg.ExpressionError:
        pass


NASTY = ["x'); import os; #", 'a"b\\c', "line\nbreak", "ünï€ødé", "__import__('os').system('id')", "{}[]<>", ""]


def test_hostile_variable_names_work_everywhere():
    for name in NASTY:
        x = sym.var(name)
        y = sym.sum(sym.exp(x) * x)
        g = sym.grad(y, x)
        assert name in str(g) or repr(name) in str(g)
        value = np.array([0.5, 1.5])
        ex = y.bind({name: value})
        ex.forward(is_train=True)
        ex.backward()
        np.testing.assert_allclose(ex.grad_dict[name], np.exp(value) * (1 + value))
        loaded = sym.load_json(y.tojson())
        assert loaded.list_arguments() == [name]
        lines = viz.to_dot(g).splitlines()
        assert lines[0] == "digraph symgrad {" and lines[-1] == "}"
        assert all(line.startswith("  ") for line in lines[1:-1])  # no name broke out of its quotes
