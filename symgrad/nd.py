"""`symgrad.nd`: eager NDArrays over NumPy, recording onto Symbol graphs.

An eager op runs the op's one declared NumPy implementation at once. While
`autograd.record()` is on and an input has history, the op is also recorded as a
Symbol node holding its value, so what `record()` captures is a Symbol graph that
`sym.grad`, the simplifier and the executor's compiler differentiate.
"""

from __future__ import annotations

import functools
import itertools
import threading
import weakref
from typing import Any

import numpy as np

from . import fpwarnings
from .context import Context, cpu, creation_dtype
from .errors import ShapeError, SymgradError, user_origin
from .fpwarnings import NOTES, SECTION, restore, start, state
from .graph import VAR, Symbol, const
from .ndrandom import Random
from .ops import registry as _registry
from .ops.api import MXNET_ALIASES
from .ops.indexing import encode_index, plain_index, split_index
from .ops.indextext import setitem_error
from .ops.registry import OPS, OpDef
from .ops.shape import shape_method
from .updates import (  # noqa: F401 - MXNet's update ops are nd's: nd.sgd_update(w, g, lr=0.1, out=w)
    adam_update,
    nag_mom_update,
    rmsprop_update,
    rmspropalex_update,
    sgd_mom_update,
    sgd_update,
)

FREED = "freed"  # node.value after a backward without retain_graph
# History of an output with zero gradient (a comparison under record()): backward gives zeros.
NONDIFF = Symbol(VAR, name="_nondiff", shape=None)


class _State(threading.local):
    """Recording flags and attached variables, per thread."""

    def __init__(self) -> None:
        self.recording = False
        self.record_all = False  # record ops with zero gradient too (create_graph's gradient graphs)
        self.anomaly = False  # autograd.detect_anomaly(): recorded ops check their results
        # id -> weak reference (NDArray's == builds an array, so no WeakSet)
        self.attached: dict[int, weakref.ref] = {}

    @property
    def training(self) -> bool:
        """Train mode (autograd.record, train_mode): the ops' flag, which the executor sets too."""
        return _registry.TRAINING.get()

    @training.setter
    def training(self, value: bool) -> None:
        _registry.TRAINING.set(bool(value))


STATE = _State()
_leaf_ids = itertools.count()


def zero_gradient(node: Symbol | None) -> bool:
    """node is the history of a zero-gradient op's output under record() (used as an input or not)."""
    return node is NONDIFF or node is not None and node.op == VAR and node.name.startswith("_nondiff")


def _leaf(data: np.ndarray, attached: bool, recorded: bool = False) -> Symbol:
    """A variable node standing for an array's current value in a recorded graph
    (`recorded`: an output of a zero-gradient op under record(), still a valid backward head)."""
    prefix = "var" if attached else "_nondiff" if recorded else "_data"
    node = Symbol(VAR, name=f"{prefix}{next(_leaf_ids)}", shape=data.shape, dtype=data.dtype)
    node.value = data
    return node


class NDArray:
    """An n-dimensional array (a NumPy array inside) that autograd can record."""

    __slots__ = ("_data", "_node", "_grad", "_grad_req", "__weakref__")
    __hash__ = object.__hash__
    _is_ndarray = True

    def __init__(self, data: Any, node: Symbol | None = None) -> None:
        self._data = data
        self._node = node
        self._grad: NDArray | None = None
        self._grad_req = "null"

    # ---- basics -----------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    @property
    def dtype(self) -> np.dtype:
        return self._data.dtype

    @property
    def size(self) -> int:
        return self._data.size

    @property
    def ndim(self) -> int:
        return self._data.ndim

    @property
    def context(self) -> Context:
        """cpu(0): symgrad's arrays are NumPy arrays (a Context, so ctx.device_type works as in MXNet)."""
        return cpu()

    ctx = context

    @property
    def T(self) -> NDArray:
        return invoke(OPS["transpose"], (self,), {"axes": None})

    @property
    def grad(self) -> NDArray | None:
        return self._grad

    def asnumpy(self) -> np.ndarray:
        return self._data.copy()

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        return self._data if dtype is None else self._data.astype(dtype)

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        """NumPy ufuncs on NDArrays: one that is a symgrad op (`2.0 * x` with a NumPy scalar on the left,
        np.exp(x)) runs as that op, recorded; any other (np.isnan(x), out=, .reduce) computes on the
        arrays inside and gives NumPy's result."""
        op = _ufunc_ops().get(ufunc) if method == "__call__" and not kwargs else None
        if op is not None:
            return call(OPS[op], inputs, {})
        if "out" in kwargs:
            kwargs["out"] = tuple(o._data if isinstance(o, NDArray) else o for o in kwargs["out"])
        return getattr(ufunc, method)(*(x._data if isinstance(x, NDArray) else x for x in inputs), **kwargs)

    def asscalar(self) -> Any:
        """The one value as a NumPy scalar of the array's dtype, as MXNet's (a float32 prints 13.036259)."""
        if self._data.size != 1:
            raise SymgradError(f"asscalar needs an array of size 1, got shape {self.shape}")
        return self._data.reshape(-1)[0]

    def item(self) -> Any:
        """The one value as a Python number, as PyTorch's and NumPy's item()."""
        return self.asscalar().item()

    def __float__(self) -> float:
        return float(self.asscalar())

    def __int__(self) -> int:
        return int(self.asscalar())

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise SymgradError(
                f"the truth value of an NDArray of shape {self.shape} is ambiguous; use .sum(), .max() or .min()"
            )
        return bool(self._data.item())

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Any:
        """The rows x[0], x[1], ... (as MXNet iterates an NDArray)."""
        return (self[i] for i in range(len(self._data)))

    def __repr__(self) -> str:
        dims = "x".join(str(d) for d in self.shape) or "scalar"
        return f"\n{self._data}\n<NDArray {dims} @cpu(0)>"

    __str__ = __repr__

    def astype(self, dtype: Any) -> NDArray:
        """A copy as `dtype`; recorded (as `cast`), so gradients flow back in this array's dtype."""
        return call(OPS["cast"], (self,), {"dtype": dtype})

    def copy(self) -> NDArray:
        """A copy; recorded, so gradients flow through it (MXNet's copy, PyTorch's clone)."""
        return call(OPS["cast"], (self,), {"dtype": self._data.dtype})

    def detach(self) -> NDArray:
        """The same values with no history: gradients stop here."""
        return NDArray(self._data)

    def zeros_like(self) -> NDArray:
        return NDArray(np.zeros_like(self._data))

    def tolist(self) -> Any:
        """The values as nested Python lists (NumPy's tolist)."""
        return self._data.tolist()

    def numpy(self) -> np.ndarray:
        """PyTorch's name: the NumPy array itself, sharing memory (asnumpy() copies)."""
        return self._data

    def copyto(self, other: Any) -> NDArray:
        """Copy the values into the NDArray other (returned), or to a new array for a context."""
        if not isinstance(other, NDArray):
            return NDArray(self._data.copy())  # other is a context: symgrad has one, the CPU
        if other.shape != self.shape:
            raise ShapeError(f"copyto: cannot copy an array of shape {self.shape} into one of shape {other.shape}")
        other[...] = self._data
        return other

    def as_in_context(self, context: Any) -> NDArray:
        """This array: symgrad runs on the CPU only, so every array is in its context already."""
        return self

    def zero_(self) -> NDArray:
        """PyTorch's in-place reset (x.grad.zero_()): fill with zeros, return self."""
        self._data[...] = 0
        return self

    # ---- autograd -----------------------------------------------------------------
    def attach_grad(self, grad_req: str = "write", stype: Any = None) -> None:
        """Make this array a variable: allocate .grad (zeros); 'add' accumulates across backwards."""
        if grad_req not in ("write", "add", "null"):
            raise SymgradError(f"attach_grad: grad_req must be 'write', 'add' or 'null', got {grad_req!r}")
        if self._data.dtype.kind != "f":
            raise SymgradError(
                f"attach_grad needs a floating-point array, got dtype {self.dtype}; use .astype('float32')"
            )
        self._grad = NDArray(np.zeros_like(self._data))
        self._grad_req = grad_req
        self._node = _leaf(self._data, attached=True) if grad_req != "null" else None
        if self._node is not None:
            self._node.origin = user_origin()  # the attach_grad line: anomaly messages take x from it
        attached = STATE.attached
        key = id(self)
        if grad_req != "null":
            attached[key] = weakref.ref(self, lambda _ref: attached.pop(key, None))
        else:
            attached.pop(key, None)

    # ---- indexing -------------------------------------------------------------------
    def __getitem__(self, index: Any) -> NDArray:
        index = plain_index(index, self)
        items = index if isinstance(index, tuple) else (index,)
        for item in items:
            if isinstance(item, (np.ndarray, list)):  # index arrays are inputs: a new index reuses the plan
                template, arrays = split_index(items, self)
                return invoke(OPS["getitem_arrays"], (self, *arrays), {"index": template})
        return invoke(OPS["getitem"], (self,), {"index": encode_index(index, self)})

    def __setitem__(self, index: Any, value: Any) -> None:
        index = plain_index(index, self)
        value_data = value._data if isinstance(value, NDArray) else value
        tracked = STATE.recording and (
            self._node is not None or (isinstance(value, NDArray) and value._node is not None)
        )
        if not tracked:
            if self._node is not None and not self._is_attached_leaf():
                # A recorded graph holds this buffer as its value: write into a copy, so a later
                # backward still sees the values it recorded, and drop the stale history.
                self._data, self._node = self._data.copy(), None
            try:
                self._data[index] = value_data  # an attached variable stays one, with new values
            except (ValueError, IndexError, TypeError) as exc:
                raise setitem_error(self._data, index, value_data, exc) from None
            return
        # Functional update: recorded nodes keep the old values; gradients flow to `value`.
        self._refuse_while_recording("x[...] = value")
        result = invoke(OPS["setitem"], (self, value), {"index": encode_index(index, self)})
        self._data, self._node = result._data, result._node

    # ---- operators ---------------------------------------------------------------------
    def __neg__(self) -> NDArray:
        return invoke(OPS["negative"], (self,), {})

    def __pos__(self) -> NDArray:
        return self

    def __abs__(self) -> NDArray:
        return invoke(OPS["abs"], (self,), {})

    def __add__(self, other: Any) -> NDArray:
        return invoke(OPS["add"], (self, other), {})

    def __radd__(self, other: Any) -> NDArray:
        return invoke(OPS["add"], (other, self), {})

    def __sub__(self, other: Any) -> NDArray:
        return invoke(OPS["subtract"], (self, other), {})

    def __rsub__(self, other: Any) -> NDArray:
        return invoke(OPS["subtract"], (other, self), {})

    def __mul__(self, other: Any) -> NDArray:
        return invoke(OPS["multiply"], (self, other), {})

    def __rmul__(self, other: Any) -> NDArray:
        return invoke(OPS["multiply"], (other, self), {})

    def __truediv__(self, other: Any) -> NDArray:
        return invoke(OPS["divide"], (self, other), {})

    def __rtruediv__(self, other: Any) -> NDArray:
        return invoke(OPS["divide"], (other, self), {})

    def __mod__(self, other: Any) -> NDArray:
        return invoke(OPS["mod"], (self, other), {})

    def __rmod__(self, other: Any) -> NDArray:
        return invoke(OPS["mod"], (other, self), {})

    def __pow__(self, other: Any) -> NDArray:
        return invoke(OPS["power"], (self, other), {})

    def __rpow__(self, other: Any) -> NDArray:
        return invoke(OPS["power"], (other, self), {})

    def __matmul__(self, other: Any) -> NDArray:
        return invoke(OPS["matmul"], (self, other), {})

    def __rmatmul__(self, other: Any) -> NDArray:
        return invoke(OPS["matmul"], (other, self), {})

    def __lt__(self, other: Any) -> NDArray:
        return invoke(OPS["less"], (self, other), {})

    def __le__(self, other: Any) -> NDArray:
        return invoke(OPS["less_equal"], (self, other), {})

    def __gt__(self, other: Any) -> NDArray:
        return invoke(OPS["greater"], (self, other), {})

    def __ge__(self, other: Any) -> NDArray:
        return invoke(OPS["greater_equal"], (self, other), {})

    def __eq__(self, other: Any) -> NDArray:  # type: ignore[override]
        return invoke(OPS["equal"], (self, other), {})

    def __ne__(self, other: Any) -> NDArray:  # type: ignore[override]
        return invoke(OPS["not_equal"], (self, other), {})

    def __iadd__(self, other: Any) -> NDArray:
        return self._inplace("add", other)

    def __isub__(self, other: Any) -> NDArray:
        return self._inplace("subtract", other)

    def __imul__(self, other: Any) -> NDArray:
        return self._inplace("multiply", other)

    def __itruediv__(self, other: Any) -> NDArray:
        return self._inplace("divide", other)

    def _inplace(self, op: str, other: Any) -> NDArray:
        if STATE.recording:
            self._refuse_while_recording(f"x {_INPLACE_SYMBOLS[op]}= ...")
        result = invoke(OPS[op], (self, other), {})
        statement = f"`x {_INPLACE_SYMBOLS[op]}= ...`"
        if result.shape != self.shape:  # as NumPy: an in-place update keeps x's shape and dtype
            raise ShapeError(f"{statement} would change x's shape from {self.shape} to {result.shape}")
        if result.dtype != self.dtype:
            if not np.can_cast(result.dtype, self.dtype, "same_kind"):
                raise SymgradError(
                    f"{statement} gives {result.dtype}, which NumPy does not cast back to x's {self.dtype} in place;"
                    f" write `x = x {_INPLACE_SYMBOLS[op]} ...` for a new {result.dtype} array"
                )
            result = call(OPS["cast"], (result,), {"dtype": self.dtype})  # recorded when result has history
        if self._is_attached_leaf():
            self._data[...] = result._data  # an optimizer step (w -= lr*w.grad): w stays the same variable
        elif self._node is None and result._node is None:
            self._data[...] = result._data  # no history: update in place, as NumPy does
        else:
            self._data, self._node = result._data, result._node
        return self

    def _is_attached_leaf(self) -> bool:
        return self._grad_req != "null" and self._node is not None and self._node.op == VAR

    def _refuse_while_recording(self, statement: str) -> None:
        """An attached variable can't change inside record(): its gradient would be for the new array."""
        if self._is_attached_leaf():
            raise SymgradError(
                f"`{statement}` on an array with attach_grad() while recording: its gradient would be lost."
                " Write `y = x + ...` (a new array) inside record(), or update x outside record()"
                " or under autograd.pause(), as an optimizer step does."
            )


_INPLACE_SYMBOLS = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/"}
_COMPARISON_UFUNCS = {
    np.greater: "greater",
    np.greater_equal: "greater_equal",
    np.less: "less",
    np.less_equal: "less_equal",
    np.equal: "equal",
    np.not_equal: "not_equal",
}


@functools.cache
def _ufunc_ops() -> dict[np.ufunc, str]:
    """The ops whose implementation is a NumPy ufunc, by ufunc (the comparisons wrap theirs)."""
    ops = {opdef.impl: name for name, opdef in OPS.items() if isinstance(opdef.impl, np.ufunc) and opdef.arity}
    return {**ops, **_COMPARISON_UFUNCS}


def _to_input(value: Any) -> Any:
    """The NumPy value of an op input (NDArrays unwrapped, numbers as weak scalars)."""
    if isinstance(value, NDArray):
        return value._data
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (int, float, bool, np.ndarray)):
        return value
    if isinstance(value, Symbol):
        raise SymgradError("cannot mix a Symbol into eager nd code; use sym ops for graphs")
    return np.asarray(value)


def _graph_input(value: Any) -> Symbol:
    """The node standing for an op input in the recorded graph."""
    if type(value) is NDArray:
        if value._node is None or value._node is NONDIFF:
            value._node = _leaf(value._data, attached=False, recorded=value._node is NONDIFF)
        return value._node
    if isinstance(value, np.ndarray):
        return _leaf(value, attached=False)
    return const(value)


_PLAIN = (float, int)  # Python numbers pass to NumPy as they are (weakly typed)


def invoke(opdef: OpDef, inputs: tuple, attrs: dict[str, Any]) -> NDArray:
    """Run an op eagerly; record it when recording and some input has history."""
    values = []  # a loop, not a comprehension: in CPython 3.11 that is a function made and called per op
    for x in inputs:
        values.append(x._data if type(x) is NDArray else x if type(x) in _PLAIN else _to_input(x))
    notes, noting = NOTES[0], start() if state() is not SECTION else None  # record() sets NumPy's per block
    try:
        if opdef.inputs is not None:  # a layer: its shape rule names a wrong weight or label, which the kernel
            opdef.shape(*[np.shape(v) for v in values], **attrs)  # may not notice (a label only backward reads)
        if opdef.prepare is None:
            out = opdef.impl(*values, **attrs)
        else:
            out = opdef.impl(*values, **opdef.prepare(attrs))
    except Exception as exc:  # noqa: BLE001 - re-raised naming the op and shapes
        shapes = ", ".join(str(np.shape(v)) for v in values)
        raise _shape_or_symgrad(exc)(f"nd.{opdef.name}: {exc} (input shapes {shapes})") from None
    finally:
        if noting is not None:
            restore(noting)
        noted = None if NOTES[0] == notes else fpwarnings.take_noted()
    out = out if type(out) is np.ndarray else np.asarray(out)
    if noted is not None:
        fpwarnings.warn_if_spoilt(noted, [("the result", out)], f"nd.{opdef.name}")
    if not STATE.recording:
        return NDArray(out)
    for x in inputs:
        if type(x) is NDArray and x._node is not None:
            break
    else:
        return NDArray(out)
    if STATE.anomaly:
        fpwarnings.check_made_finite(opdef.name, inputs, values, out, user_origin())
    if opdef.nondiff and not STATE.record_all:
        # Zero gradient: mark it as computed under record(); a leaf is made only if it is used.
        return NDArray(out, NONDIFF)
    node = Symbol(opdef.name, tuple(map(_graph_input, inputs)), attrs, opdef.name, out.shape, out.dtype, user_origin())
    node.value = out
    return NDArray(out, node)


def record_value(opdef: OpDef, inputs: tuple, attrs: dict[str, Any], out: np.ndarray) -> NDArray:
    """An op's output computed elsewhere (a custom Function's forward), recorded as invoke would."""
    node = Symbol(opdef.name, tuple(map(_graph_input, inputs)), attrs, opdef.name, out.shape, out.dtype, user_origin())
    node.value = out
    return NDArray(out, node)


def _shape_or_symgrad(exc: Exception) -> type:
    """NumPy's complaints about shapes and indices (an index beyond int64 overflows) are ShapeErrors."""
    return ShapeError if isinstance(exc, (ValueError, IndexError, OverflowError)) else SymgradError


_DEFAULT_ATTRS: dict[str, dict] = {}


def _construct(op: str, inputs: tuple, **attrs: Any) -> NDArray:
    return call(OPS[op], tuple(inputs), attrs)


def call(opdef: OpDef, args: tuple, kwargs: dict[str, Any]) -> NDArray:
    """nd.<op>(...) with the same signature as sym.<op>(...)."""
    if opdef.unsugar is not None and kwargs:
        plain = opdef.unsugared(tuple(args), dict(kwargs), _construct)
        if not isinstance(plain, tuple):
            return plain
        args, kwargs = plain
    if opdef.inputs is not None:  # a layer: its weights are arrays the caller gives
        tensors, attrs, _ = opdef.parse_layer(args, kwargs, invoke, _missing_array(opdef))
    elif not kwargs and len(args) == opdef.arity:  # x.sum(), x.norm(): default attributes, parsed once
        attrs = _DEFAULT_ATTRS.get(opdef.name)
        if attrs is None:
            attrs = _DEFAULT_ATTRS[opdef.name] = opdef.parse(args, kwargs)[1]
        tensors = list(args)
    else:
        if kwargs.get("out", 0) is None or (kwargs.get("dtype", 0) is None and "dtype" not in opdef.attr_defaults):
            # np.sum(x), np.mean(x): NumPy calls x.sum(axis=..., dtype=None, out=None)
            drop = {"out", "dtype"} - set(opdef.attr_defaults)
            kwargs = {k: v for k, v in kwargs.items() if not (k in drop and v is None)}
        tensors, attrs, _ = opdef.parse(args, kwargs)
    if opdef.outputs is not None and "output" not in kwargs and opdef.outputs(attrs) > 1:  # split, LayerNorm: a list
        return [invoke(opdef, tuple(tensors), {**attrs, "output": i}) for i in range(opdef.outputs(attrs))]
    if opdef.name in ("maximum", "minimum") and _no_gradient(tensors[0]) and not _no_gradient(tensors[1]):
        tensors = [tensors[1], tensors[0]]  # same tie convention as the symbolic builder
    return invoke(opdef, tuple(tensors), attrs)


def _missing_array(opdef: OpDef) -> Any:
    def missing(layer: str, key: str, shape: Any) -> None:
        raise SymgradError(
            f"nd.{opdef.name}: no array for input {key!r}; eager layers take every input"
            f" (inputs: {list(opdef.inputs(opdef.attr_defaults))})"
        )

    return missing


def _no_gradient(value: Any) -> bool:
    """A number, or an array without history or with a zero-gradient one (a leaf once used: sign(x) twice)."""
    return (node := getattr(value, "_node", None)) is None or zero_gradient(node) or node.name.startswith("_data")


def _make_eager(opdef: OpDef) -> Any:
    def eager(*args: Any, **kwargs: Any) -> NDArray:
        return call(opdef, args, kwargs)

    eager.__name__ = opdef.name
    eager.__doc__ = f"Eager op `{opdef.name}` on NDArrays (recorded under autograd.record())."
    return eager


def _publish(name: str, builder: Any) -> None:
    """nd.<name>, and x.<name>() for a method op, for every registered op (user ops too)."""
    globals()[name] = _make_eager(builder.opdef)
    _registry.add_op_method(NDArray, builder.opdef, call)


shape_method(NDArray, call)
_registry.on_register(_publish)
for _name, _op in MXNET_ALIASES.items():
    globals()[_name] = _make_eager(OPS[_op])
Concat = concatenate = globals()["concat"]


# ---- creation ---------------------------------------------------------------------


def _default_dtype(data: Any, dtype: Any) -> Any:
    if dtype is not None:
        return np.dtype(dtype)
    if isinstance(data, NDArray):
        return data.dtype
    return np.dtype(np.float32)  # as MXNet: float32 unless dtype= is given, NumPy arrays of any dtype too


def array(data: Any, ctx: Any = None, dtype: Any = None) -> NDArray:
    """An NDArray from Python or NumPy data (a copy); float32 unless dtype= is given (as MXNet)."""
    raw = data._data if isinstance(data, NDArray) else data
    if np.iscomplexobj(raw):
        raise SymgradError("nd.array: complex data is not supported; symgrad computes with real arrays")
    return NDArray(np.array(raw, dtype=_default_dtype(data, dtype)))


def waitall() -> None:
    """MXNet's barrier for its asynchronous engine: symgrad computes eagerly, so nothing is pending."""


def zeros(shape: Any, ctx: Any = None, dtype: Any = None, stype: Any = None) -> NDArray:
    return NDArray(np.zeros(shape, dtype=creation_dtype("zeros", ctx, dtype, stype)))


def ones(shape: Any, ctx: Any = None, dtype: Any = None, stype: Any = None) -> NDArray:
    return NDArray(np.ones(shape, dtype=creation_dtype("ones", ctx, dtype, stype)))


def full(shape: Any, val: Any, ctx: Any = None, dtype: Any = None, stype: Any = None) -> NDArray:
    return NDArray(np.full(shape, val, dtype=creation_dtype("full", ctx, dtype, stype)))


empty = zeros  # MXNet's uninitialised array; zeros here


random = Random(NDArray, call)  # nd.random.normal/uniform/randint/shuffle/multinomial/seed
random_normal, random_uniform = random.normal, random.uniform  # MXNet 0.x names used by older tutorials
