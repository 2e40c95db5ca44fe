"""The jit backend (issue #25): a Numba VM that runs any plan, with the NumPy backend's values."""

import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import symgrad
from symgrad import autograd, nd, sym
from symgrad.compile import vmcode
from symgrad.compile.vmcode import MATMUL

numba = pytest.importorskip("numba")
from symgrad.compile import jitvm  # noqa: E402 - needs Numba

rng = np.random.default_rng(25)


DEFAULT_MIN_STEPS = vmcode.VM_MIN_STEPS


@pytest.fixture(autouse=True)
def vm_for_small_programs(monkeypatch):
    """These tests compare the VM's values with NumPy's on small graphs: run them in the VM, however few their
    steps (by default a program under vmcode.VM_MIN_STEPS runs with NumPy; the test that checks it sets it back)."""
    monkeypatch.setattr(vmcode, "VM_MIN_STEPS", 0)


def ulps(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in units in the last place between float64 arrays (0 for the same bits)."""
    a, b = (np.where(v.view(np.int64) < 0, np.int64(-(2**63)) - v.view(np.int64), v.view(np.int64)) for v in (a, b))
    return np.abs(a - b)


def both(symbol, args, **kw):
    """(NumPy backend executor, jit backend executor) over copies of args, forward and backward run
    twice (the second call reuses the translated program and its arena)."""
    pair = []
    for backend in ("numpy", "jit"):
        given = {k: v.copy() for k, v in args.items() if k in symbol.list_arguments()}
        ex = symbol.bind(given, backend=backend, **kw)
        for _ in range(2):
            ex.forward(is_train=kw.get("grad_req") != "null")
            if kw.get("grad_req") != "null":
                ex.backward()
        pair.append(ex)
    return pair


def in_vm(ex) -> bool:
    """The executor's forward program has VM code (it is not all NumPy steps)."""
    vm = vmcode.translate(ex._compiled.forward, list(ex._arg_list), None, None)
    return vm is not None and any(type(seg) is np.ndarray and len(seg) > 1 for seg in vm.segments)


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    assert np.array_equal(
        a.view(np.int64) if a.dtype == np.float64 else a, b.view(np.int64) if b.dtype == np.float64 else b
    )


SPECIAL = np.array([0.0, -0.0, 1.5, -2.25, np.inf, -np.inf, np.nan, 1e308, -1e-308, 5e-324, 3.0, -7.0])


@pytest.mark.parametrize(
    "build",
    [
        lambda x, y: x + y,
        lambda x, y: x - y,
        lambda x, y: x * y,
        lambda x, y: x / y,
        lambda x, y: -x,
        lambda x, y: sym.square(x),
        lambda x, y: x**2,
        lambda x, y: sym.abs(x),
        lambda x, y: sym.sqrt(x),
        lambda x, y: sym.maximum(x, y),
        lambda x, y: sym.minimum(x, y),
        lambda x, y: sym.reshape(x, shape=(3, 4)) * 2,
        lambda x, y: sym.expand_dims(x, axis=0) - 1.5,
    ],
)
def test_arithmetic_is_bitwise_the_numpy_backends_with_nan_inf_and_signed_zeros(build):
    x, y = sym.var("x"), sym.var("y")
    args = {"x": SPECIAL.copy(), "y": rng.permutation(SPECIAL)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref, jit = both(build(x, y), args, grad_req="null")
    same_bits(jit.outputs[0].asnumpy(), ref.outputs[0].asnumpy())
    assert in_vm(jit)


@pytest.mark.parametrize(
    ("xshape", "yshape"), [((3, 4), (4,)), ((3, 4), (3, 1)), ((2, 3, 4), (1, 3, 1)), ((5,), ()), ((2, 1), (1, 6))]
)
def test_broadcasting_by_strides_matches_numpy_bitwise(xshape, yshape):
    x, y = sym.var("x"), sym.var("y")
    args = {"x": rng.normal(size=xshape), "y": rng.normal(size=yshape)}
    ref, jit = both(sym.sum(x * y - y / (x + 3)), args)
    for name in "xy":
        np.testing.assert_allclose(jit.grad_dict[name].asnumpy(), ref.grad_dict[name].asnumpy(), rtol=1e-13)
    same_bits((jit.arg_dict["x"] * 0).asnumpy(), (ref.arg_dict["x"] * 0).asnumpy())


@pytest.mark.parametrize("n", [1, 5, 8, 9, 100, 128, 129, 1000, 3001])
def test_sums_add_in_numpys_pairwise_order(n):
    x = sym.var("x")
    values = rng.normal(size=n) * 10.0 ** rng.integers(-8, 8, n)
    for symbol in (sym.sum(x), sym.sum(sym.reshape(x, shape=(1, n)), axis=1), sym.mean(x), sym.max(x), sym.min(x)):
        ref, jit = both(symbol, {"x": values}, grad_req="null")
        same_bits(jit.outputs[0].asnumpy(), ref.outputs[0].asnumpy())


def test_reductions_over_leading_or_middle_axes_match_numpy():
    x = sym.var("x")
    values = rng.normal(size=(4, 5, 6))
    for axis in (0, 1, 2, (0, 1), (1, 2)):
        for op in (sym.sum, sym.max, sym.min):
            ref, jit = both(op(x, axis=axis), {"x": values}, grad_req="null")
            same_bits(jit.outputs[0].asnumpy(), ref.outputs[0].asnumpy())


TRANSCENDENTAL = {
    "sin": (-1e3, 1e3), "cos": (-1e3, 1e3), "tan": (-10, 10), "tanh": (-20, 20), "exp": (-700, 700),
    "log": (1e-5, 1e5), "expm1": (-40, 700), "log1p": (-0.999, 1e10), "sinh": (-700, 700),
    "cosh": (-700, 700), "arcsin": (-1, 1), "arccos": (-1, 1), "arctan": (-1e5, 1e5),
}  # fmt: skip
ULP_BOUND = 2  # the C library's functions (the VM's) against NumPy's SIMD ones


@pytest.mark.parametrize("name", sorted(TRANSCENDENTAL))
def test_transcendental_functions_are_within_two_ulp_of_numpys(name):
    lo, hi = TRANSCENDENTAL[name]
    x = sym.var("x")
    n = vmcode.VM_MAX_ELEMENTS  # the VM runs it
    ref = getattr(sym, name)(x).bind({"x": np.zeros(n)}, grad_req="null", backend="numpy")
    jit = getattr(sym, name)(x).bind({"x": np.zeros(n)}, grad_req="null", backend="jit")
    worst = 0
    for _ in range(100_000 // n + 1):  # 100,000 points
        values = rng.uniform(lo, hi, n)
        worst = max(worst, int(ulps(jit.forward(x=values)[0].asnumpy(), ref.forward(x=values)[0].asnumpy()).max()))
    assert worst <= ULP_BOUND, (name, worst)
    assert in_vm(jit)


def test_small_matrix_products_run_in_the_vm_and_programs_with_large_values_with_numpy():
    a, b, v = sym.var("a"), sym.var("b"), sym.var("v")
    for shapes, in_vm in (
        ({"a": (3, 4), "b": (4, 5), "v": (5,)}, True),
        ({"a": (64, 64), "b": (64, 64), "v": (64,)}, False),
    ):
        args = {k: rng.normal(size=s) for k, s in shapes.items()}
        ref, jit = both(sym.sum(sym.dot(sym.matmul(a, b), v) * 2), args)
        for name in "abv":
            np.testing.assert_allclose(jit.grad_dict[name].asnumpy(), ref.grad_dict[name].asnumpy(), rtol=1e-12)
        vm = vmcode.translate(jit._compiled.forward, list(jit._arg_list), None, None)
        assert (vm is None) != in_vm and (
            not in_vm or any(MATMUL in seg[:, 0] for seg in vm.segments if type(seg) is np.ndarray)
        )


def test_ops_the_vm_does_not_know_run_as_numpy_steps_between_vm_segments():
    x = sym.var("x")
    y = sym.sum(sym.log_softmax(sym.sin(x) * 2, axis=1) + sym.sigmoid(x) * sym.cos(x))
    args = {"x": rng.normal(size=(3, 5))}
    ref, jit = both(y, args)
    np.testing.assert_allclose(jit.outputs[0].asnumpy(), ref.outputs[0].asnumpy(), rtol=1e-14)
    np.testing.assert_allclose(jit.grad_dict["x"].asnumpy(), ref.grad_dict["x"].asnumpy(), rtol=1e-13)
    vm = vmcode.translate(jit._compiled.forward, list(jit._arg_list), None, None)
    kinds = [type(seg) for seg in vm.segments]
    assert tuple in kinds and np.ndarray in kinds


def test_float32_and_integer_graphs_run_with_numpys_kernels_and_values():
    x, k = sym.var("x"), sym.var("k")
    args = {"x": rng.normal(size=(4, 3)).astype(np.float32), "k": np.arange(3)}
    ref, jit = both(sym.sum(sym.tanh(x) * k), args, grad_req={"x": "write", "k": "null"})
    same_bits(jit.outputs[0].asnumpy(), ref.outputs[0].asnumpy())
    same_bits(jit.grad_dict["x"].asnumpy(), ref.grad_dict["x"].asnumpy())


def w5_like(n: int = 200):
    xs = [sym.var(f"x{i}", shape=(16,)) for i in range(3)]
    nodes = list(xs)
    for i in range(n):
        a, b = nodes[int(rng.integers(len(nodes)))], nodes[int(rng.integers(len(nodes)))]
        nodes.append([sym.sin(a), sym.tanh(b), a * b, a - b][i % 4])
    y = sym.sum(nodes[-1] + nodes[-2])
    return y, {name: rng.uniform(-1, 1, 16) for name in y.list_arguments()}


def test_saved_values_travel_to_the_backward_as_one_frame_and_executors_sharing_a_plan_do_not_mix():
    y, args = w5_like()
    other = {k: v + 0.5 for k, v in args.items()}
    ref = [y.bind({k: v.copy() for k, v in a.items()}, backend="numpy") for a in (args, other)]
    jit = [y.bind({k: v.copy() for k, v in a.items()}, backend="jit") for a in (args, other)]
    assert jit[0]._compiled is jit[1]._compiled  # one cached plan, one arena
    for ex in ref + jit:
        ex.forward(is_train=True)
        ex.backward()
    for ex in ref + jit:
        ex.forward(is_train=True)  # both forwards before either backward
    assert type(jit[0]._saved[0]) is vmcode.Frame
    for ex in ref + jit:
        ex.backward()
    for r, j in zip(ref, jit):
        np.testing.assert_allclose(j.outputs[0].asnumpy(), r.outputs[0].asnumpy(), rtol=1e-12)
        for name in args:
            np.testing.assert_allclose(j.grad_dict[name].asnumpy(), r.grad_dict[name].asnumpy(), rtol=1e-10)


def test_head_gradients_and_finite_checks_read_the_frame_too():
    y, args = w5_like(60)
    ex = y.bind(args, backend="jit")
    ref = y.bind({k: v.copy() for k, v in args.items()}, backend="numpy")
    for e in (ex, ref):
        for _ in range(2):
            e.forward(is_train=True)
            e.backward(out_grads=nd.array(np.array(3.0)))
    for name in args:
        np.testing.assert_allclose(ex.grad_dict[name].asnumpy(), ref.grad_dict[name].asnumpy(), rtol=1e-10)
    ex.forward(is_train=True)
    ex.backward(check_finite=True)  # replays the plan node by node from the Frame's values
    first = next(iter(args))
    np.testing.assert_allclose(ex.grad_dict[first].asnumpy(), ref.grad_dict[first].asnumpy() / 3, rtol=1e-10)


def test_two_threads_run_one_cached_plan_in_their_own_arenas():
    y, args = w5_like(100)
    runs = [{k: v * (1 + t) for k, v in args.items()} for t in range(2)]
    first = next(iter(args))
    expected = []
    for a in runs:
        ex = y.bind(a, backend="jit")
        ex.forward(is_train=True)
        ex.backward()
        expected.append(ex.grad_dict[first].asnumpy().copy())
    barrier = threading.Barrier(2)

    def work(t):  # both threads call the one cached program at once
        ex = y.bind(runs[t], backend="jit")
        barrier.wait()
        grads = []
        for _ in range(200):
            ex.forward(is_train=True)
            ex.backward()
            grads.append(ex.grad_dict[first].asnumpy().copy())
        return grads

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(work, range(2)))
    for t, grads in enumerate(results):
        assert all(np.array_equal(g, expected[t]) for g in grads), t


def test_a_nan_made_in_the_vm_warns_as_with_numpy():
    x = sym.var("x")
    ex = sym.log(x).bind({"x": np.array([1.0, 0.0, -1.0])}, grad_req="null", backend="jit")
    with pytest.warns(RuntimeWarning, match="divide by zero|invalid value"):
        out = ex.forward()[0].asnumpy()
    assert out[0] == 0 and out[1] == -np.inf and np.isnan(out[2])


def test_eager_backward_runs_with_the_chosen_backend():
    before = symgrad.get_backend()
    values = rng.uniform(0.5, 2, 8)
    grads = {}
    try:
        for backend in ("numpy", "jit"):
            symgrad.set_backend(backend)
            for _ in range(2):  # the second backward reuses the cached plan
                a = nd.array(values.copy(), dtype="float64")
                a.attach_grad()
                with autograd.record():
                    b = nd.sum(nd.sin(a) * nd.exp(a) / (a + 1))
                b.backward()
            grads[backend] = a.grad.asnumpy()
    finally:
        symgrad.set_backend(before)
    np.testing.assert_allclose(grads["jit"], grads["numpy"], rtol=1e-14)


def test_the_interpreter_is_compiled_once_not_per_graph():
    for n in (10, 30, 50):
        y, args = w5_like(n)
        ex = y.bind(args, backend="jit")
        ex.forward(is_train=True)
        ex.backward()
    assert len(jitvm.interpret.signatures) == 1


def test_inputs_unlike_the_first_calls_run_with_numpy():
    x = sym.var("x")
    ex = (sym.sin(x) * 2).bind({"x": np.linspace(0, 1, 4)}, grad_req="null", backend="jit")
    ex.forward()  # translated for float64 inputs of shape (4,)
    program = ex._compiled.forward
    (f32,) = program.jit(np.linspace(0, 1, 4, dtype=np.float32))
    assert f32.dtype == np.float32  # NumPy's kernels ran it: the sine of float32 stays float32
    (longer,) = program.jit(np.linspace(0, 1, 6))
    np.testing.assert_array_equal(longer, np.sin(np.linspace(0, 1, 6)) * 2)


def test_a_program_of_few_steps_runs_with_numpy_and_the_same_values(monkeypatch):
    # W1: the VM's fixed cost per call is several NumPy steps' worth, so a 2-step forward runs with NumPy
    monkeypatch.setattr(vmcode, "VM_MIN_STEPS", DEFAULT_MIN_STEPS)
    x = sym.var("x")
    ref, jit = both(2 * sym.dot(x, x), {"x": np.arange(4.0)})
    assert jit._compiled.forward.jit is vmcode.DECLINED
    same_bits(jit.outputs[0].asnumpy(), ref.outputs[0].asnumpy())
    same_bits(jit.grad_dict["x"].asnumpy(), ref.grad_dict["x"].asnumpy())
    chain = x
    for _ in range(vmcode.VM_MIN_STEPS):
        chain = sym.sin(chain) * 1.5
    ref, jit = both(sym.sum(chain), {"x": rng.normal(size=16)})
    assert callable(jit._compiled.forward.jit) and in_vm(jit)
    np.testing.assert_allclose(jit.grad_dict["x"].asnumpy(), ref.grad_dict["x"].asnumpy(), rtol=1e-13)
