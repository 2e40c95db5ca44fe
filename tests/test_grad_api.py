"""sym.grad answers honestly: a target outside the graph is an error, and gradient nodes have their own names."""

import numpy as np
import pytest

from symgrad import SymgradError, sym
from symgrad.graph import CONST, topo_order


def test_grad_with_respect_to_a_new_node_is_an_error_not_zeros():
    x, w = sym.var("x", shape=(3,)), sym.var("w", shape=(3,))
    scaled = w * 2
    y = sym.sum(x * scaled)
    with pytest.raises(SymgradError, match="not a node of the graph"):
        sym.grad(y, w * 2)  # a new node, not the one inside y (PyTorch raises the same way)
    assert str(sym.grad(y, scaled)) == "x"  # the node object itself is a fine target
    unused = sym.grad(y, sym.var("unused", shape=(2,))).eval()[0]  # a variable y does not use: zeros
    np.testing.assert_array_equal(unused, np.zeros(2))


def test_gradient_nodes_do_not_take_names_the_graph_uses():
    x, w = sym.var("x", shape=(3,)), sym.var("w", shape=(2, 3))
    y = sym.sum(x * w, axis=1) + sym.sum(sym.exp(w), axis=1)
    grads = sym.grad(sym.sum(y), [x, w])
    nodes = [n for n in topo_order([y, *grads]) if n.op != CONST]
    names = [n.name for n in nodes]
    assert len(names) == len(set(names)), sorted(names)
    group = sym.Group([y, *grads])
    ex = group.bind({"x": np.ones(3), "w": np.ones((2, 3))}, grad_req="null")
    ex.forward()
    assert len(ex.output_dict) == 3  # two nodes named sum0 lost an output here
    np.testing.assert_allclose(ex.output_dict[group.list_outputs()[1]], [2.0, 2.0, 2.0])
