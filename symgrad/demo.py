"""`symgrad demo`: a walk through symbols, printed derivatives, the executor and eager mode."""

from __future__ import annotations

import numpy as np

import symgrad as sg
from symgrad import autograd, nd, sym


def section(title: str) -> None:
    print(f"\n== {title} ==")


def control_flow(a: nd.NDArray) -> nd.NDArray:
    """The tutorials' function: a while loop and an if on values."""
    b = a * 2
    while b.norm() < 1000:
        b = b * 2
    if b.sum() > 0:
        c = b
    else:
        c = 100 * b
    return c


def main() -> None:
    section("Symbols (the first tutorial's cell)")
    with sg.NameManager():
        a = sym.var(name="1")
        b = sym.var(name="2")
        c = 2 * a + b
        print(">>> a, b, c")
        print((a, b, c))
    (value,) = c.eval(**{"1": np.ones((2, 1)), "2": np.ones((2, 1))})
    print(">>> c.eval(**{'1': np.ones((2, 1)), '2': np.ones((2, 1))})")
    print(value)

    section("Printed derivatives")
    x = sym.var("x", shape=(4,))
    for text, expr in [
        ("2*dot(x, x)", 2 * sym.dot(x, x)),
        ("sum(x*x)", sym.sum(x * x)),
        ("(x + 2)**2 + 3", (x + 2) ** 2 + 3),
        ("sum(sin(x)*exp(x))", sym.sum(sym.sin(x) * sym.exp(x))),
    ]:
        print(f"d/dx {text:20} = {sym.grad(expr, x)}")
    X, W, Y = sym.var("x", shape=(10, 20)), sym.var("w", shape=(20, 5)), sym.var("y", shape=(10, 5))
    print(f"d/dw mean(y - dot(x, w)) = {sym.grad(sym.mean(Y - sym.dot(X, W)), W)}")

    section("The executor")
    y = 2 * sym.dot(x, x)
    ex = y.bind({"x": np.arange(4.0)}, grad_req="write")
    print(">>> ex.forward(is_train=True)")
    print(ex.forward(is_train=True))
    ex.backward()
    print(">>> ex.backward(); ex.grad_dict['x']")
    print(ex.grad_dict["x"])

    section("Eager mode with Python control flow")
    a = nd.array([0.5, -1.5, 2.0])
    a.attach_grad()
    with autograd.record():
        d = control_flow(a)
    d.backward()
    print(">>> a.grad")
    print(a.grad)
    print(">>> d / a")
    print(d / a)
    print(f">>> autograd.get_symbol(d)\n{autograd.get_symbol(d)}")


if __name__ == "__main__":  # pragma: no cover
    main()
