"""Checks for users' own graphs: gradients against finite differences, forward and backward values."""

from __future__ import annotations

from typing import Any

import numpy as np

from .graph import Symbol


def assert_almost_equal(a: Any, b: Any, rtol: float = 1e-5, atol: float = 1e-8, names: tuple = ("a", "b")) -> None:
    """Raise AssertionError showing the worst mismatch (index, both values, tolerance)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise AssertionError(f"shapes differ: {names[0]} {a.shape} vs {names[1]} {b.shape}")
    if a.size == 0:
        return
    bad = ~np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)
    if not bad.any():
        return
    error = np.where(bad, np.abs(a - b) - (atol + rtol * np.abs(b)), -np.inf)
    error = np.where(np.isnan(error), np.inf, error)
    index = np.unravel_index(int(np.argmax(error)), a.shape)
    raise AssertionError(
        f"{int(bad.sum())} of {a.size} values differ; worst at index {tuple(int(i) for i in index)}: "
        f"{names[0]}={a[index].item()!r}, {names[1]}={b[index].item()!r} (rtol={rtol}, atol={atol})"
    )


def _location(sym: Symbol, location: Any) -> dict[str, np.ndarray]:
    names = sym.list_arguments()
    if isinstance(location, dict):
        return {k: np.asarray(v, dtype=np.float64) for k, v in location.items()}
    return {k: np.asarray(v, dtype=np.float64) for k, v in zip(names, location)}


def numeric_grad(
    sym: Symbol, location: dict[str, np.ndarray], heads: list[np.ndarray], eps: float, aux_states: Any = None
) -> dict:
    """Central differences of sum(outputs * heads) with respect to every argument."""
    ex = sym.bind({k: v.copy() for k, v in location.items()}, grad_req="null", aux_states=_copies(aux_states))

    def objective() -> float:
        return float(sum(np.sum(np.asarray(o) * h) for o, h in zip(ex.forward(), heads)))

    grads = {}
    for name, value in location.items():
        grad = np.zeros_like(value)
        flat = np.asarray(ex.arg_dict[name]).reshape(-1)  # the bound array itself
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + eps
            up = objective()
            flat[i] = old - eps
            down = objective()
            flat[i] = old
            grad.reshape(-1)[i] = (up - down) / (2 * eps)
        grads[name] = grad
    return grads


def _copies(aux_states: Any) -> dict[str, np.ndarray] | None:
    """Auxiliary states (BatchNorm's moving statistics) copied, as a forward(is_train=True) updates them."""
    return None if aux_states is None else {k: np.array(v, dtype=np.float64) for k, v in aux_states.items()}


def check_numeric_gradient(
    sym: Symbol,
    location: Any,
    aux_states: Any = None,
    numeric_eps: float = 1e-4,
    rtol: float = 1e-2,
    atol: float | None = None,
    grad_nodes: Any = None,
    seed: int = 0,
) -> None:
    """Compare the executor's gradients with central differences (float64, random head gradients)."""
    location = _location(sym, location)
    names = list(grad_nodes) if grad_nodes is not None else sym.list_arguments()
    ex = sym.bind(
        {k: v.copy() for k, v in location.items()}, grad_req={n: "write" for n in names}, aux_states=_copies(aux_states)
    )
    outputs = ex.forward(is_train=True)
    rng = np.random.default_rng(seed)
    heads = [rng.uniform(0.5, 1.5, np.shape(o)) for o in outputs]
    ex.backward(heads)
    expected = numeric_grad(sym, location, heads, numeric_eps, aux_states)
    for name in names:
        assert_almost_equal(
            ex.grad_dict[name], expected[name], rtol=rtol, atol=1e-6 if atol is None else atol,
            names=(f"symbolic d/d{name}", f"numeric d/d{name}"),
        )  # fmt: skip


def check_symbolic_forward(sym: Symbol, location: Any, expected: Any, rtol: float = 1e-5, atol: float = 1e-8) -> None:
    """The outputs on location equal expected (a list, one array per output)."""
    outputs = sym.bind(_location(sym, location), grad_req="null").forward()
    expected = expected if isinstance(expected, (list, tuple)) else [expected]
    if len(outputs) != len(expected):
        raise AssertionError(f"{len(outputs)} outputs but {len(expected)} expected arrays")
    for i, (out, exp) in enumerate(zip(outputs, expected)):
        assert_almost_equal(out, exp, rtol, atol, names=(f"output {i}", "expected"))


def check_symbolic_backward(
    sym: Symbol,
    location: Any,
    out_grads: Any,
    expected: Any,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    grad_req: Any = "write",
) -> None:
    """The gradients for the given head gradients equal expected (dict by name, or list)."""
    location = _location(sym, location)
    ex = sym.bind(location, grad_req=grad_req)
    ex.forward(is_train=True)
    ex.backward(out_grads)
    if not isinstance(expected, dict):
        expected = dict(zip(sym.list_arguments(), expected))
    for name, exp in expected.items():
        assert_almost_equal(ex.grad_dict[name], exp, rtol, atol, names=(f"d/d{name}", "expected"))
