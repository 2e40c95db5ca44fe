"""Bind, derive and simplify stay linear in graph size: a chain of 4,000 ops costs about
twice a chain of 2,000 (the bound is a generous ratio measured in one test, never seconds)."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

import numpy as np

from symgrad import executor, sym

RATIO_BOUND = 2.5  # linear is 2; quadratic is 4


def _seconds(work: Callable[[], object]) -> float:
    executor.clear_cache()  # bind's plans are cached by structure: time the compile each time
    gc.collect()
    gc.disable()  # the cyclic collector's passes grow with everything alive, not with the work
    try:
        start = time.process_time()  # CPU time: waiting while other processes run is not counted
        work()
        return time.process_time() - start
    finally:
        gc.enable()


def _growth(build: Callable[[int], Callable[[], object]], small: int = 2000, repeats: int = 5) -> float:
    """Time of the work on a chain of 2*small over the time on a chain of small: the median
    of `repeats` ratios, each of two runs in a row (graphs built untimed), so that load from
    other processes falls on both sizes alike."""
    works = (build(small), build(2 * small))
    ratios = sorted(_seconds(works[1]) / _seconds(works[0]) for _ in range(repeats))
    return ratios[repeats // 2]


def test_binding_a_forward_only_chain_of_wheres_is_linear():
    # where's output is a new array, so buffer reuse need not follow memory through it;
    # it did, and the sets of buffers each node may alias grew along the chain (issue 22).
    def build(n: int) -> Callable[[], object]:
        x, a, b = (sym.var(name, shape=(3,)) for name in "xab")
        y = x
        for _ in range(n):
            y = sym.where(y > 0, y * a, y * b)
        args = {name: np.ones(3) for name in "xab"}
        return lambda: y.bind(args=args, grad_req="null")

    assert _growth(build) < RATIO_BOUND


def test_binding_a_chain_of_ops_that_may_alias_any_input_is_linear_and_right():
    # A user op declares nothing about memory, so its result may be any of its inputs:
    # buffer reuse follows a bounded number of buffers through it, then gives them up.
    from symgrad import ops

    first = ops.register("first_of_two_for_alias_test", lambda a, b: a, grad=lambda g, out, a, b: [g, None], arity=2)

    def chain(n: int) -> sym.Symbol:
        x, w = sym.var("x", shape=(3,)), sym.var("w", shape=(3,))
        y = x + 1
        for k in range(n):
            y = first(y, sym.sin(w * k))
        return sym.exp(y * 2) * y  # the exp step must not write into y's buffer

    def build(n: int) -> Callable[[], object]:
        y = chain(n)
        return lambda: y.bind(args={"x": np.zeros(3), "w": np.ones(3)}, grad_req="null")

    assert _growth(build) < RATIO_BOUND
    executor.clear_cache()
    out = chain(100).bind(args={"x": np.zeros(3), "w": np.ones(3)}, grad_req="null").forward()[0]
    np.testing.assert_array_equal(out, np.full(3, np.exp(2.0)))
