"""Every registered op is in the sweep: forward, gradient, JSON, printing and eager mode.

test_ops.py checks each row of opcases.CASES against NumPy and finite differences; here
each row also round-trips through JSON, prints, and runs eagerly (op by op under
autograd.record(), its gradient equal to the executor's), and a new op that no row
reaches (forward, first or second derivative) fails the coverage test.
"""

import numpy as np
import pytest
from opcases import CASES, NO_NUMERIC_GRAD, TESTED_ELSEWHERE

from symgrad import autograd, nd, sym
from symgrad.graph import CONST, VAR, topo_order
from symgrad.ops.registry import OPS

BUILTIN = set(OPS)  # before any test registers an op of its own


def variables(arrays, declared: bool = True):
    return [sym.var(f"in{i}", shape=a.shape if declared else None) for i, a in enumerate(arrays)]


def ops_reached(case) -> set[str]:
    """The ops of the row's graph and of its first and second derivatives, shapes declared or not."""
    _, build, _, arrays = case
    reached = set()
    for declared in (True, False):  # without shapes, gradients use sum_like, dot_adjoint_lhs, ...
        xs = variables(arrays, declared)
        y = sym.sum(build(*xs))
        grads = sym.grad(y, xs)
        second = sym.grad(sym.sum(grads[0] * grads[0]), xs)
        reached |= {n.op for n in topo_order([y, *grads, *second]) if n.op not in (VAR, CONST)}
    return reached


def test_every_registered_op_is_reached_by_a_row_or_listed_with_its_tests():
    reached = set().union(*(ops_reached(c) for c in CASES))
    missing = BUILTIN - reached - set(TESTED_ELSEWHERE)
    assert not missing, f"add a row to tests/opcases.py for {sorted(missing)}"
    assert set(TESTED_ELSEWHERE) <= BUILTIN  # no stale entries


def eager(symbol, values: dict) -> tuple[np.ndarray, list[np.ndarray]]:
    """The symbol's value and its sum's gradients, computed op by op in eager mode."""
    arrays = {name: nd.array(v, dtype=v.dtype) for name, v in values.items()}
    for a in arrays.values():
        a.attach_grad()
    done = {}
    with autograd.record():
        for node in topo_order([symbol]):
            if node.op == VAR:
                done[node] = arrays[node.name]
            elif node.op == CONST:
                done[node] = node.attrs["value"]
            else:
                done[node] = nd.invoke(OPS[node.op], tuple(done[i] for i in node.inputs), node.attrs)
        out = done[symbol]
    out.backward()
    return out.asnumpy(), [arrays[name].grad.asnumpy() for name in values]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_each_row_round_trips_through_json_prints_and_runs_eagerly_as_bound(case):
    name, build, _, arrays = case
    xs = variables(arrays)
    y = build(*xs)
    values = {f"in{i}": a for i, a in enumerate(arrays)}
    again = sym.load_json(y.tojson())
    np.testing.assert_array_equal(again.eval(**values)[0], y.eval(**values)[0])
    assert str(y) and str(again) == str(y)
    ex = y.bind(values)
    (expected,) = ex.forward(is_train=True)
    ex.backward()
    value, grads = eager(y, values)
    np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-12)
    if name not in NO_NUMERIC_GRAD:
        for got, want in zip(grads, (ex.grad_dict[x.name] for x in xs)):
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
