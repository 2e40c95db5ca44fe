"""`symgrad.autograd`: record eager ops as a Symbol graph, differentiate it with sym.grad.

`backward` hands what was recorded to the compile pipeline (`compile.pipeline.backward_plan`:
derive with `sym.grad`, simplify, plan) and runs the program on the values recorded
during the forward computation. The program is cached by the recorded graph's
structure, shapes and dtypes (not its constants' values), so a loop that records the
same structure again pays derivation once.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from . import fpwarnings
from .autodiff import grad as derive
from .compile.backends import run
from .compile.choice import resolve
from .compile.pipeline import backward_plan
from .errors import AutogradError, SymgradError
from .graph import CONST, VAR, Group, Symbol, const, shaped_var, topo_order
from .nd import FREED, STATE, NDArray, invoke, record_value, zero_gradient
from .ops.registry import OPS, register, substitute

# ---- recording state -------------------------------------------------------------------


def is_recording() -> bool:
    return STATE.recording


def is_training() -> bool:
    return STATE.training


def set_recording(is_recording: bool) -> bool:
    previous, STATE.recording = STATE.recording, bool(is_recording)
    return previous


def set_training(train_mode: bool) -> bool:
    previous, STATE.training = STATE.training, bool(train_mode)
    return previous


@contextmanager
def _scope(recording: bool | None, training: bool | None):
    previous = (STATE.recording, STATE.training)
    if recording is not None:
        STATE.recording = recording
    if training is not None:
        STATE.training = training
    section = fpwarnings.enter_section() if recording else None  # NumPy's error state once per record() block
    try:
        yield
    finally:
        STATE.recording, STATE.training = previous
        fpwarnings.leave_section(section)


def record(train_mode: bool = True):
    """Record eager operations on arrays with history (attach_grad) inside the block."""
    return _scope(True, train_mode)


def pause(train_mode: bool = False):
    """Stop recording inside the block."""
    return _scope(False, train_mode)


def train_mode():
    return _scope(None, True)


def predict_mode():
    return _scope(None, False)


@contextmanager
def detect_anomaly():
    """Inside, a recorded op or a backward that turns finite values into NaN/Inf raises
    NonFiniteError naming the op, the user's names for its inputs and the line (as PyTorch's)."""
    previous = STATE.anomaly
    STATE.anomaly = True
    try:
        yield
    finally:
        STATE.anomaly = previous


def mark_variables(variables: Any, gradients: Any, grad_reqs: Any = "write") -> None:
    """MXNet's mark_variables: attach the given gradient buffers to the variables."""
    variables = variables if isinstance(variables, (list, tuple)) else [variables]
    gradients = gradients if isinstance(gradients, (list, tuple)) else [gradients]
    reqs = grad_reqs if isinstance(grad_reqs, (list, tuple)) else [grad_reqs] * len(variables)
    for v, g, r in zip(variables, gradients, reqs):
        v.attach_grad(r)
        v._grad = g


# ---- backward ------------------------------------------------------------------------------------


def _run_backward(
    heads: Sequence[NDArray], head_grads: Any, variables: Sequence[NDArray] | None, retain_graph: bool
) -> tuple[list[np.ndarray], list[Symbol]]:
    """Gradients of the heads w.r.t. variables (default: every attached leaf reached)."""
    head_nodes = []
    for h in heads:
        if not isinstance(h, NDArray):
            raise AutogradError(f"backward: heads must be NDArrays, got {type(h).__name__}")
        if h._node is None or h._node.op == VAR and h._grad is None and h._node.name.startswith("_data"):
            raise AutogradError(
                "backward: this array has no recorded history; compute it inside `with autograd.record():` "
                "from arrays that called attach_grad()"
            )
        head_nodes.append(h._node)
    grads_in = _head_grads(heads, head_grads)
    if any(map(zero_gradient, head_nodes)):  # a comparison or sign(x): its gradient is zero, so it adds nothing
        live = [i for i, n in enumerate(head_nodes) if not zero_gradient(n)]
        head_nodes, grads_in = [head_nodes[i] for i in live], [grads_in[i] for i in live]
    order = topo_order(head_nodes)
    for node in order:
        if node.value is FREED:
            raise AutogradError(
                "backward: the recorded graph was already freed by an earlier backward; "
                "pass retain_graph=True to that first backward to backpropagate through it again"
            )
    if variables is None:
        targets = [n for n in order if n.op == VAR and n.name.startswith("var")]
    else:
        targets = []
        for v in variables:
            if not isinstance(v, NDArray) or v._node is None:
                raise AutogradError("grad: each variable must be an NDArray with attach_grad() or recorded history")
            targets.append(v._node)
    position = {id(n): i for i, n in enumerate(order)}
    if not head_nodes:
        return [np.zeros_like(t.value) for t in targets], targets
    unreached = [i for i, t in enumerate(targets) if id(t) not in position]
    if unreached:
        i = unreached[0]
        raise AutogradError(
            f"grad: variables[{i}] (shape {targets[i].shape}) is not part of the recorded computation of the heads;"
            " compute the heads from it inside `with autograd.record():`, or leave it out of variables"
        )
    compiled, constants = backward_plan(order, head_nodes, targets, list(grads_in))
    values = [order[p].value for p in compiled.feed_positions]
    values += constants
    values += [g for g in grads_in if g is not None]
    results, noted = run(compiled.program, values, STATE.anomaly, "backward", backend=resolve(None))
    if noted is not None:
        fpwarnings.warn_if_spoilt(noted, [("a gradient", r) for r in results], "backward")
    if not retain_graph:
        for node in order:
            if node.op not in (VAR, CONST):
                node.value = FREED
    return [np.asarray(r) for r in results], targets


def _head_grads(heads: Sequence[NDArray], head_grads: Any) -> list[np.ndarray | None]:
    if head_grads is None:
        return [None] * len(heads)
    if not isinstance(head_grads, (list, tuple)):
        head_grads = [head_grads]
    if len(head_grads) != len(heads):
        raise AutogradError(f"backward: {len(head_grads)} head gradients for {len(heads)} heads")
    out = []
    for h, g in zip(heads, head_grads):
        if g is None:
            out.append(None)
            continue
        arr = np.asarray(g._data if isinstance(g, NDArray) else g, dtype=h.dtype)
        if arr.shape == (1,) and h.shape == ():  # MXNet's full reductions are (1,): its scripts pass nd.ones(1)
            arr = arr.reshape(())
        if arr.shape != h.shape:
            raise AutogradError(f"backward: head gradient of shape {arr.shape} for an output of shape {h.shape}")
        out.append(arr)
    return out


def backward(heads: Any, head_grads: Any = None, retain_graph: bool = False, train_mode: bool = True) -> None:
    """Write the gradients of heads (sum of each) into every attached variable's .grad.

    A variable attached with 'write' that the heads do not reach gets zeros, never a
    gradient left from an earlier backward; 'add' adds (zeros included).
    """
    heads = heads if isinstance(heads, (list, tuple)) else [heads]
    grads, targets = _run_backward(heads, head_grads, None, retain_graph)
    reached = {id(t): g for t, g in zip(targets, grads)}
    for ref in list(STATE.attached.values()):
        array = ref()
        if array is None or array._grad is None or array._node is None:
            continue
        g = reached.get(id(array._node))
        buffer = array._grad._data
        if array._grad_req == "add":
            if g is not None:
                buffer += g
        elif g is None:
            buffer[...] = 0
        else:
            np.copyto(buffer, g)


def grad(
    heads: Any,
    variables: Any,
    head_grads: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    train_mode: bool = True,
) -> list[NDArray]:
    """Gradients of heads w.r.t. variables, returned (not written into .grad).

    With create_graph=True the gradients are recorded too, so they can be differentiated again.
    """
    heads = heads if isinstance(heads, (list, tuple)) else [heads]
    single = not isinstance(variables, (list, tuple))
    variables = [variables] if single else list(variables)
    if retain_graph is None:
        retain_graph = create_graph
    if not create_graph:
        grads, _ = _run_backward(heads, head_grads, variables, retain_graph)
        return [NDArray(g) for g in grads]
    return _recorded_grad(heads, head_grads, variables, retain_graph)


def _recorded_grad(heads: list, head_grads: Any, variables: list, retain_graph: bool) -> list[NDArray]:
    """Differentiate symbolically and run the gradient graph as recorded eager ops."""
    for h in heads:
        if h._node is None:
            raise AutogradError("grad: a head has no recorded history")
    grads_in = _head_grads(heads, head_grads)
    seeds = [const(1.0) if g is None else NDArray(g) for g in grads_in]
    head_nodes = [h._node for h in heads]
    for node in topo_order(head_nodes):
        if node.value is FREED:
            raise AutogradError("grad: the recorded graph was already freed; pass retain_graph=True earlier")
    seed_vars = [shaped_var(f"_seed{i}", h.shape, h.dtype) for i, h in enumerate(heads)]
    gsyms = derive(Group(head_nodes), [v._node for v in variables], head_grads=seed_vars)
    feed: dict[int, Any] = {}
    for sv, seed, h in zip(seed_vars, seeds, heads):
        # ones in the head's dtype (a Python 1.0 would make a float32 head's gradients float64)
        feed[id(sv)] = (
            np.asarray(1.0, h.dtype if h.dtype.kind == "f" else np.float64) if isinstance(seed, Symbol) else seed
        )
    recorded = {id(n) for n in topo_order(head_nodes)}
    previous, STATE.record_all = STATE.record_all, True  # masks like x > 0 must stay in the history
    try:
        with record():
            return _interpret(gsyms, feed, recorded)
    finally:
        STATE.record_all = previous


def _interpret(outputs: list[Symbol], feed: dict[int, Any], recorded: set[int]) -> list[NDArray]:
    """Evaluate Symbols with eager (recorded) ops; recorded nodes stand for their own values."""
    done: dict[int, Any] = dict(feed)
    for node in topo_order(outputs):
        if id(node) in done:
            continue
        if node.op == CONST:
            done[id(node)] = node.attrs["value"]
        elif id(node) in recorded or node.op == VAR:
            done[id(node)] = NDArray(node.value, node)
        else:
            done[id(node)] = invoke(OPS[node.op], tuple(done[id(i)] for i in node.inputs), node.attrs)
    out = []
    for o in outputs:
        value = done[id(o)]
        out.append(value if isinstance(value, NDArray) else NDArray(np.asarray(value)))
    return out


def get_symbol(x: NDArray) -> Symbol:
    """The recorded history of x as a Symbol: attached arrays are variables, other data constants."""
    if not isinstance(x, NDArray) or x._node is None:
        raise AutogradError("get_symbol: this array has no recorded history")
    order = topo_order([x._node])
    mapping = {
        n.name: const(n.value) for n in order if n.op == VAR and not n.name.startswith("var") and n.value is not None
    }
    return substitute(x._node, mapping)


# ---- custom functions ------------------------------------------------------------------------------


class Function:
    """A custom op: subclass with forward(*inputs) and backward(*output_grads) on NDArrays.

    Call an instance on NDArrays inside `record()`; backward's gradients flow to the inputs.
    """

    def __init__(self) -> None:
        self.saved_tensors: tuple = ()
        self._outputs: list[tuple] = []  # (shape, dtype) of each forward output
        self._memo: tuple | None = None  # the last (output, head, backward's gradients)

    def save_for_backward(self, *arrays: NDArray) -> None:
        self.saved_tensors = arrays

    def forward(self, *inputs: NDArray) -> NDArray:
        raise SymgradError(f"{type(self).__name__} must define forward(self, *inputs)")

    def backward(self, *output_grads: NDArray) -> Any:
        raise SymgradError(f"{type(self).__name__} must define backward(self, *output_grads)")

    def __call__(self, *inputs: NDArray) -> Any:
        """forward's output (or tuple of outputs), recorded so backward's gradients reach the inputs."""
        with pause(train_mode=STATE.training):
            out = self.forward(*inputs)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        if not outs or not all(isinstance(o, NDArray) for o in outs):
            raise SymgradError(f"{type(self).__name__}.forward must return an NDArray or a tuple of NDArrays")
        if not (STATE.recording and any(isinstance(i, NDArray) and i._node is not None for i in inputs)):
            return out
        self._outputs = [(o.shape, o.dtype) for o in outs]
        recorded = tuple(
            record_value(OPS["custom_function"], tuple(inputs), {"fn": self, "output": k}, o._data)
            for k, o in enumerate(outs)
        )
        return recorded if isinstance(out, (tuple, list)) else recorded[0]

    def _run_backward(self, g: np.ndarray, index: int, output: int) -> np.ndarray:
        """backward's gradient for input `index`, given head g for output `output` (zeros for the
        others: backward is a vector-Jacobian product, so contributions per output add up)."""
        memo = self._memo
        if memo is None or memo[0] != output or memo[1] is not g:
            heads = [
                NDArray(np.asarray(g) if k == output else np.zeros(shape, dtype))
                for k, (shape, dtype) in enumerate(self._outputs)
            ]
            with pause():
                grads = self.backward(*heads)
            memo = self._memo = (output, g, grads if isinstance(grads, (list, tuple)) else (grads,))
        chosen = memo[2][index]
        return chosen._data if isinstance(chosen, NDArray) else np.asarray(chosen)


def _custom_impl(*arrays: np.ndarray, fn: Function, output: int) -> np.ndarray:
    with pause():
        out = fn.forward(*(NDArray(a) for a in arrays))
    return (out[output] if isinstance(out, (tuple, list)) else out)._data


register(
    "custom_function",
    _custom_impl,
    shape=lambda *shapes, fn, output: fn._outputs[output][0],
    dtype=lambda *dtypes, fn, output: fn._outputs[output][1],
    grad=lambda g, out, *inputs, fn, output: [
        custom_function_grad(g, *inputs, fn=fn, index=i, output=output) for i in range(len(inputs))
    ],
    elementwise=False,
    dask=False,
    cacheable=False,
)
custom_function_grad = register(
    "custom_function_grad",
    lambda g, *inputs, fn, index, output: fn._run_backward(g, index, output),
    shape=lambda g, *shapes, fn, index, output: shapes[index],
    dtype=lambda g, *dtypes, fn, index, output: np.result_type(g),
    grad=None,
    elementwise=False,
    dask=False,
    cacheable=False,
)


def _ndarray_backward(
    self: NDArray, out_grad: Any = None, retain_graph: bool = False, train_mode: bool = True, gradient: Any = None
) -> None:
    """Gradients of this array (of sum(self) without out_grad) into every attached variable;
    `gradient=` is PyTorch's name for out_grad."""
    if gradient is not None:
        if out_grad is not None:
            raise AutogradError("backward: give out_grad or PyTorch's gradient=, not both")
        out_grad = gradient
    backward([self], None if out_grad is None else [out_grad], retain_graph=retain_graph, train_mode=train_mode)


NDArray.backward = _ndarray_backward  # attached here: nd.py imports nothing above it
