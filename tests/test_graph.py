"""Symbols: auto names, arguments and outputs, shape inference, JSON, bind errors."""

import itertools

import numpy as np
import pytest

import symgrad as sg
from symgrad import sym

NAMED = [
    (lambda a, b: a + b, "_plus0"),
    (lambda a, b: a + 2, "_plusscalar0"),
    (lambda a, b: 2 + a, "_plusscalar0"),
    (lambda a, b: a - b, "_minus0"),
    (lambda a, b: a - 2, "_minusscalar0"),
    (lambda a, b: 1 - a, "_rminusscalar0"),
    (lambda a, b: a * b, "_mul0"),
    (lambda a, b: 2 * a, "_mulscalar0"),
    (lambda a, b: a / b, "_div0"),
    (lambda a, b: a / 2, "_divscalar0"),
    (lambda a, b: 2 / a, "_rdivscalar0"),
    (lambda a, b: a**b, "_power0"),
    (lambda a, b: a**2, "_powerscalar0"),
    (lambda a, b: 2**a, "_rpowerscalar0"),
    (lambda a, b: -a, "negative0"),
    (lambda a, b: abs(a), "abs0"),
    (lambda a, b: a > b, "_greater0"),
    (lambda a, b: a < 1, "_lesserscalar0"),
    (lambda a, b: sym.sin(a), "sin0"),
    (lambda a, b: sym.dot(a, b), "dot0"),
    (lambda a, b: a @ b, "matmul0"),
    (lambda a, b: sym.sum(a, axis=0), "sum0"),
    (lambda a, b: a[0], "slice0"),
    # MXNet 1.9.1 names a node by the lowercased name it was called by (mx.sym.BlockGrad(x).name)
    (lambda a, b: sym.BlockGrad(a), "blockgrad0"),
    (lambda a, b: sym.stop_gradient(a), "stop_gradient0"),
    (lambda a, b: sym.SoftmaxActivation(a), "softmaxactivation0"),
    (lambda a, b: sym.L2Normalization(a), "l2normalization0"),
    (lambda a, b: sym.FullyConnected(a, num_hidden=2), "fullyconnected0"),
    (lambda a, b: sym.broadcast_add(a, b), "broadcast_add0"),
]


@pytest.mark.parametrize("build, name", NAMED, ids=[n for _, n in NAMED])
def test_auto_name_of_every_operator_form(build, name):
    with sg.NameManager():
        a, b = sym.var("a"), sym.var("b")
        assert build(a, b).name == name


def test_counters_are_per_hint_and_name_overrides():
    with sg.NameManager():
        a = sym.var("a")
        assert [(a + 1).name, (a + 1).name, (a * a).name] == ["_plusscalar0", "_plusscalar1", "_mul0"]
        assert sym.exp(a, name="e").name == "e"
        assert repr(a + a) == "<Symbol _plus0>"


def test_arguments_outputs_groups_and_internals():
    with sg.NameManager():
        x, w, b = sym.var("x"), sym.var("w"), sym.var("b")
        y = sym.dot(x, w) + b
        assert y.list_arguments() == ["x", "w", "b"]
        assert y.list_outputs() == ["_plus0_output"]
        g = sym.Group([y, sym.exp(x)])
        assert len(g) == 2 and g[1].name == "exp0"
        assert g.list_outputs() == ["_plus0_output", "exp0_output"]
        assert g[1:].list_outputs() == ["exp0_output"] and g[::-1].list_outputs() == ["exp0_output", "_plus0_output"]
        assert sym.Group([x, y]).list_outputs() == ["x", "_plus0_output"]  # a variable's own name, as MXNet
        assert [s.name for s in y.get_internals()] == ["x", "w", "dot0", "b", "_plus0"]


def test_composition_substitutes_variables():
    x, y = sym.var("x"), sym.var("y")
    f = x * 2 + 1
    g = f(x=sym.sin(y))
    assert g.list_arguments() == ["y"]
    np.testing.assert_allclose(g.eval(y=np.array(0.5))[0], np.sin(0.5) * 2 + 1)
    h = f(x=f)  # substitution, never a cycle: (x*2 + 1)*2 + 1
    np.testing.assert_allclose(h.eval(x=np.array(1.0))[0], 7.0)


def test_truth_value_of_a_symbol_says_to_use_where_or_record():
    x = sym.var("x")
    with pytest.raises(sg.SymgradError, match=r"sym\.where.*autograd\.record"):
        if x > 0:
            pass


def test_infer_shape_full_partial_and_mismatch():
    with sg.NameManager():
        x, w, b = sym.var("x"), sym.var("w"), sym.var("b")
        y = sym.dot(x, w) + b
        assert y.infer_shape(x=(5, 3), w=(3, 2), b=(2,)) == ([(5, 3), (3, 2), (2,)], [(5, 2)], [])
        assert y.infer_shape(x=(5, 3)) == (None, None, None)  # as MXNet when a shape stays unknown
        assert y.infer_shape_partial(x=(5, 3)) == ([(5, 3), None, None], [None], [])
        with pytest.raises(sg.ShapeError) as err:
            y.infer_shape(x=(5, 3), w=(4, 2), b=(2,))
        message = str(err.value)
        assert "dot" in message and "'dot0'" in message and "(5, 3)" in message and "(4, 2)" in message


def test_infer_type():
    x, y = sym.var("x"), sym.var("y")
    assert (x * y).infer_type(x="float32", y="float32")[1] == [np.dtype("float32")]
    assert (x * y).infer_type(x="float32", y="float64")[1] == [np.dtype("float64")]


def test_node_dtypes_follow_numpy_promotion_for_every_input_mix():
    """Node dtypes (fast paths included) are NumPy's: dtype inputs and weak Python scalars, NEP 50."""
    kinds = [
        "bool",
        "uint8",
        "int32",
        "int64",
        "float16",
        "float32",
        "float64",
        "complex64",
        "complex128",
        ">f8",
        ">i4",
    ]
    weak = [2, -3, 2.5, 1e300, True]  # constants are real
    operands = [("dtype", k) for k in kinds] + [("weak", w) for w in weak]
    for (ka, a), (kb, b) in itertools.product(operands, repeat=2):
        if ka == kb == "weak":
            continue
        x = sym.var("x", dtype=a) if ka == "dtype" else a
        y = sym.var("y", dtype=b) if kb == "dtype" else b
        expected = np.result_type(np.dtype(a) if ka == "dtype" else a, np.dtype(b) if kb == "dtype" else b)
        assert (x + y).dtype == expected, (a, b)
        if ka == "dtype":
            assert (x * x).dtype == np.result_type(np.dtype(a), np.dtype(a)), a
        if ka == "dtype" and a != "bool":  # NumPy has no negative of bools
            assert sym.negative(x).dtype == np.negative(np.zeros(1, a)).dtype, a
            if np.dtype(a).kind in "fc":
                assert sym.sin(x).dtype == np.sin(np.zeros(1, a)).dtype, a


def test_json_round_trip_gives_identical_outputs_and_gradients():
    name = "we'ird \"name\"\nwith __import__('os') and ünïcode"
    x, y = sym.var(name), sym.var("y")
    s = sym.sum(sym.log1p(sym.exp(x[np.array([0, 2, 2])])) * y) / 3 + sym.sum(sym.maximum(x[1:], 0.5) * np.inf)
    s = sym.Group([s, sym.where(x > 0, x, -x) * np.nan])
    text = s.tojson()
    loaded = sym.load_json(text)
    assert loaded.list_arguments() == s.list_arguments()
    args = {name: np.array([0.5, -1.0, 2.0]), "y": np.array([1.0, 2.0, 3.0])}
    for a, b in zip(s.eval(**args), loaded.eval(**args)):
        np.testing.assert_array_equal(a, b)
    grads = [sym.Group(sym.grad(t[0], [name, "y"])).eval(**args) for t in (s, loaded)]
    for a, b in zip(*grads):
        np.testing.assert_array_equal(a, b)


def test_save_and_load(tmp_path):
    x = sym.var("x", shape=(2,))
    path = tmp_path / "graph.json"
    (sym.exp(x) * 2).save(str(path))
    np.testing.assert_allclose(sym.load(str(path)).eval(x=np.zeros(2))[0], [2.0, 2.0])


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        "[]",
        '{"nodes": [], "heads": []}',
        '{"nodes": [{"op": "exec", "name": "a", "inputs": []}], "heads": [0]}',
        '{"nodes": [{"op": "null", "name": "a"}, {"op": "sin", "name": "s", "inputs": [2]}], "heads": [1]}',
        '{"nodes": [{"op": "null", "name": "a"}, {"op": "sum", "name": "s", "inputs": [0], "attrs": {"bogus": 1}}], "heads": [1]}',
        '{"nodes": [{"op": "null", "name": "a"}, {"op": "sum", "name": "s", "inputs": [0], "attrs": {"axis": {"x": 1}}}], "heads": [1]}',
        '{"nodes": [{"op": "_const", "name": "c", "value": "__import__"}], "heads": [0]}',
        '{"nodes": [{"op": "null", "name": "a"}], "heads": [5]}',
    ],
)
def test_malformed_json_raises_graph_format_error(text):
    with pytest.raises(sg.GraphFormatError):
        sym.load_json(text)


def test_mxnets_symbol_json_is_named_as_such():
    """MXNet 1.9.1's own checkpoint JSON (as mx.model.save_checkpoint writes it) was refused with
    'node 1: input [0, 0, 0] is not an earlier node (no cycles)', which sent users looking for a cycle."""
    mxnet_json = """{"nodes": [{"op": "null", "name": "data", "inputs": []},
        {"op": "Activation", "name": "relu0", "attrs": {"act_type": "relu"}, "inputs": [[0, 0, 0]]}],
      "arg_nodes": [0], "node_row_ptr": [0, 1, 2], "heads": [[1, 0, 0]], "attrs": {"mxnet_version": ["int", 10901]}}"""
    with pytest.raises(sg.GraphFormatError, match="this is MXNet's symbol JSON .* symgrad reads only the JSON its own"):
        sym.load_json(mxnet_json)


def test_ops_registered_later_become_methods_of_symbols_and_ndarrays():
    from symgrad import nd, ops

    ops.register("triple_for_method_test", lambda x: 3 * x, grad=lambda g, out, x: [3 * g], method=True)
    x = sym.var("x", shape=(2,))
    y = x.triple_for_method_test()
    assert y.op == "triple_for_method_test" and y.inputs == (x,)
    np.testing.assert_array_equal(y.eval(x=np.array([1.0, 2.0]))[0], [3.0, 6.0])
    np.testing.assert_array_equal(nd.array([1.0, 2.0]).triple_for_method_test().asnumpy(), [3.0, 6.0])
    assert x.shape == (2,) and x.sum().op == "sum"  # op names never shadow a Symbol's own attributes
    with pytest.raises(AttributeError, match="no_such_op"):
        x.no_such_op()


def test_auto_names_and_origins_are_per_thread():
    import threading

    from symgrad.ops.registry import swap_origin

    barrier = threading.Barrier(2, timeout=10)
    names, origins, errors = {}, {}, []

    def work(key):
        try:
            with sg.NameManager():
                a = sym.var("a")
                names[key] = []
                outer = swap_origin(("elsewhere.py", 1)) if key == 0 else None
                for _ in range(3):
                    barrier.wait()  # the threads take turns, so shared counters or origins would mix
                    names[key].append((a + 1).name)
                    origins[key] = (a * 2).origin
                if key == 0:
                    swap_origin(outer)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert names == {k: ["_plusscalar0", "_plusscalar1", "_plusscalar2"] for k in range(2)}
    assert origins[0] == ("elsewhere.py", 1)  # thread 0 set an origin for the nodes it builds
    assert origins[1][0] == __file__  # thread 1's nodes still point at the user's line


def test_name_manager_blocks_are_per_asyncio_task():
    import asyncio

    async def work():
        with sg.NameManager():
            a = sym.var("a")
            out = []
            for _ in range(3):
                out.append((a + 1).name)
                await asyncio.sleep(0)  # the other task runs here, inside its own block
            return out

    async def both():
        return await asyncio.gather(work(), work())

    assert asyncio.run(both()) == [["_plusscalar0", "_plusscalar1", "_plusscalar2"]] * 2


def test_op_names_of_variables_constants_and_groups_are_reserved():
    from symgrad import ops

    for name in ("var", "const", "_group"):
        with pytest.raises(sg.SymgradError, match="reserved"):
            ops.register(name, lambda x: x)


def test_a_method_op_registered_again_takes_effect_in_the_method():
    from symgrad import nd, ops

    ops.register("scaled_for_reregister_test", lambda x: 2 * x, grad=lambda g, out, x: [2 * g], method=True)
    ops.register("scaled_for_reregister_test", lambda x: 5 * x, grad=lambda g, out, x: [5 * g], method=True)
    x = sym.var("x", shape=(1,))
    np.testing.assert_array_equal(x.scaled_for_reregister_test().eval(x=np.array([1.0]))[0], [5.0])
    np.testing.assert_array_equal(nd.array([1.0]).scaled_for_reregister_test().asnumpy(), [5.0])
