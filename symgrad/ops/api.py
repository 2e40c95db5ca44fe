"""Every op builder in one namespace (what `sym` re-exports), plus the operator helpers."""

from __future__ import annotations

from typing import Any

import numpy as _np

from ..errors import SymgradError as _SymgradError
from ..graph import GROUP as _GROUP
from ..graph import Group as _Group
from ..graph import Symbol
from ..graph import topo_order as _topo_order
from ..graph import variable_names as _variable_names
from .arrays import broadcast_axis  # noqa: F401
from .conv import Convolution, Deconvolution, Pooling  # noqa: F401
from .elementwise import (  # noqa: F401
    abs,
    add,
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctanh,
    cast,
    ceil,
    clip,
    cos,
    cosh,
    divide,
    erf,
    exp,
    expm1,
    floor,
    log,
    log1p,
    maximum,
    minimum,
    multiply,
    negative,
    ones_like,
    power,
    relu,
    sigmoid,
    sign,
    sin,
    sinh,
    softplus,
    sqrt,
    square,
    stop_gradient,
    subtract,
    tan,
    tanh,
    where,
    zeros_like,
)
from .indexing import check_index as _check_index
from .indexing import encode_index as _encode_index
from .indexing import getitem, getitem_arrays, one_hot, pick, scatter_arrays, slice_axis  # noqa: F401
from .indexing import split_index as _split_index
from .infer import infer_meta as _infer_meta
from .layers import Activation, BatchNorm, Dropout, Embedding, FullyConnected, LeakyReLU  # noqa: F401
from .linalg import dot, inv, logdet, matmul, swapaxes, trace, transpose  # noqa: F401
from .losses import (  # noqa: F401
    LinearRegressionOutput,
    LogisticRegressionOutput,
    MAERegressionOutput,
    MakeLoss,
    Softmax,
    SoftmaxOutput,
    one_hot_like,
)
from .nn import log_softmax, softmax  # noqa: F401
from .normalization import LRN, InstanceNorm, LayerNorm  # noqa: F401
from .rearrange import batch_dot, flip, repeat, split, tile  # noqa: F401
from .reduction import argmax, argmin, logsumexp, max, mean, min, norm, prod, sum  # noqa: F401
from .registry import OPS, OpDef, apply
from .registry import aux_variables as _aux_variables
from .registry import build as _build
from .registry import rebuild as _rebuild
from .registry import substitute as _substitute
from .resampling import Pad, UpSampling  # noqa: F401
from .sequence import SequenceLast, SequenceMask, SequenceReverse  # noqa: F401
from .shape import (  # noqa: F401
    Concat,
    broadcast_to,
    concat,
    concatenate,
    expand_dims,
    flatten,
    ones,
    reshape,
    squeeze,
    stack,
    zeros,
)
from .slicing import slice_like  # noqa: F401
from .sorting import argsort, sort, topk  # noqa: F401
from .special import erfinv, gamma, gammaln  # noqa: F401


def binary_operator(op: str, left: Any, right: Any, hint: str, scalar_hint: str) -> Symbol:
    """`a + b` and friends: MXNet names `_plus0` for two Symbols, `_plusscalar0` with a number."""
    both = isinstance(left, Symbol) and isinstance(right, Symbol)
    return apply(OPS[op], (left, right), {}, hint=hint if both else scalar_hint)


# ---- Symbol's operators and indexing (attached here: graph.py imports nothing above it) ----
# name: (op, hint with two Symbols, hint with a number, reflected); the hints are MXNet's names
_OPERATORS = {
    "__add__": ("add", "_plus", "_plusscalar", False),
    "__radd__": ("add", "_plus", "_plusscalar", True),
    "__sub__": ("subtract", "_minus", "_minusscalar", False),
    "__rsub__": ("subtract", "_minus", "_rminusscalar", True),
    "__mul__": ("multiply", "_mul", "_mulscalar", False),
    "__rmul__": ("multiply", "_mul", "_mulscalar", True),
    "__truediv__": ("divide", "_div", "_divscalar", False),
    "__rtruediv__": ("divide", "_div", "_rdivscalar", True),
    "__pow__": ("power", "_power", "_powerscalar", False),
    "__rpow__": ("power", "_power", "_rpowerscalar", True),
    "__mod__": ("mod", "_mod", "_modscalar", False),
    "__rmod__": ("mod", "_mod", "_rmodscalar", True),
    "__lt__": ("less", "_lesser", "_lesserscalar", False),
    "__le__": ("less_equal", "_lesser_equal", "_lesser_equalscalar", False),
    "__gt__": ("greater", "_greater", "_greaterscalar", False),
    "__ge__": ("greater_equal", "_greater_equal", "_greater_equalscalar", False),
    "__eq__": ("equal", "_equal", "_equalscalar", False),
    "__ne__": ("not_equal", "_not_equal", "_not_equalscalar", False),
}


def _operator(op: str, hint: str, scalar_hint: str, reflected: bool) -> Any:
    opdef = OPS[op]
    if reflected:

        def method(self: Symbol, other: Any) -> Symbol:
            both = isinstance(other, Symbol)
            return apply(opdef, (other, self), {}, hint=hint if both else scalar_hint)

    else:

        def method(self: Symbol, other: Any) -> Symbol:
            both = isinstance(other, Symbol)
            return apply(opdef, (self, other), {}, hint=hint if both else scalar_hint)

    return method


def _getitem(self: Symbol, index: Any) -> Symbol:
    """A group's output by position or name; otherwise NumPy indexing, as a getitem node.

    Index arrays become constant inputs of getitem_arrays, not attributes: a graph rebuilt
    with a new index array each step has one structure, so it binds to one cached plan.
    """
    if self.op == _GROUP:
        if isinstance(index, str):  # an output's name (split0_output1), or its node's (exp0)
            outputs = self.list_outputs()
            found = [i for i, name in enumerate(outputs) if name == index]
            found = found or [i for i, node in enumerate(self.inputs) if node.name == index]
            if len(found) != 1:
                problem = "no output named" if not found else f"{len(found)} outputs named"
                raise _SymgradError(f"group has {problem} {index!r}; outputs: {outputs}")
            return self.inputs[found[0]]
        if isinstance(index, slice):  # MXNet's g[1:] is a group of those outputs
            return _Group(self.inputs[index])
        return self.inputs[index]
    items = index if isinstance(index, tuple) else (index,)
    if any(isinstance(item, (list, _np.ndarray)) for item in items):
        template, arrays = _split_index(items, self)
        _check_index(self.name, self.shape, template, arrays)
        return getitem_arrays(self, *arrays, index=template)
    return getitem(self, index=_encode_index(index, self))


for _name, _spec in _OPERATORS.items():
    setattr(Symbol, _name, _operator(*_spec))
Symbol.__getitem__ = _getitem
Symbol.__neg__ = lambda self: negative(self)
Symbol.__pos__ = lambda self: self
Symbol.__abs__ = lambda self: abs(self)
Symbol.__matmul__ = lambda self, other: matmul(self, other)
Symbol.__rmatmul__ = lambda self, other: matmul(other, self)
Symbol.T = property(lambda self: transpose(self), doc="The transpose (all axes reversed).")


# ---- Symbol's methods that need the registry (attached here: graph.py imports nothing above it) ----


def _list_arguments(self: Symbol) -> list[str]:
    """Variable names in graph order (variables of the same name are one argument, as in MXNet),
    auxiliary states (BatchNorm's moving statistics) aside."""
    order = _topo_order(self.outputs())
    aux = _aux_variables(order)
    names = _variable_names(order)
    return [n for n in names if n not in aux] if aux else names


def _list_auxiliary_states(self: Symbol) -> list[str]:
    """The variables that are auxiliary states: bound through aux_states, never differentiated."""
    return _aux_variables(_topo_order(self.outputs()))


def _infer_shape(self: Symbol, *args: Any, **shapes: Any) -> tuple:
    """MXNet's triple (arg_shapes, out_shapes, aux_shapes); given shapes override declared ones;
    (None, None, None) when some shape stays unknown, as MXNet (see infer_shape_partial)."""
    return _complete(_infer_meta(self, "shape", args, shapes))


def _infer_shape_partial(self: Symbol, *args: Any, **shapes: Any) -> tuple:
    """infer_shape's triple with None for each shape that stays unknown."""
    return _infer_meta(self, "shape", args, shapes)


def _infer_type(self: Symbol, *args: Any, **dtypes: Any) -> tuple:
    """MXNet's triple (arg_types, out_types, aux_types) of NumPy dtypes; (None, None, None) when
    some dtype stays unknown, as MXNet (see infer_type_partial)."""
    return _complete(_infer_meta(self, "dtype", args, dtypes))


def _infer_type_partial(self: Symbol, *args: Any, **dtypes: Any) -> tuple:
    """infer_type's triple with None for each dtype that stays unknown."""
    return _infer_meta(self, "dtype", args, dtypes)


def _complete(triple: tuple) -> tuple:
    """The triple when every shape or dtype in it is known (a partial shape is not), else MXNet's Nones."""
    known = all(v is not None and not (isinstance(v, tuple) and None in v) for part in triple for v in part)
    return triple if known else (None, None, None)


def _compose(self: Symbol, *args: Symbol, name: str | None = None, **kwargs: Symbol) -> Symbol:
    """Substitute variables (by position in list_arguments, or by name) with Symbols."""
    names = self.list_arguments()
    if len(args) > len(names):
        raise _SymgradError(f"compose: {len(args)} positional symbols for {len(names)} arguments {names}")
    mapping = dict(zip(names, args))
    for key in kwargs:
        if key not in names:
            raise _SymgradError(f"compose: {key!r} is not an argument of {self!r}; arguments: {names}")
    mapping.update(kwargs)
    return _substitute(self, mapping)


def _replace(self: Symbol, inputs: tuple[Symbol, ...]) -> Symbol:
    """The same op, attrs and name over new inputs (shape re-derived by the registry)."""
    return _rebuild(self, inputs)


Symbol.list_arguments = _list_arguments
Symbol.list_auxiliary_states = _list_auxiliary_states
Symbol.infer_shape = _infer_shape
Symbol.infer_shape_partial = _infer_shape_partial
Symbol.infer_type = _infer_type
Symbol.infer_type_partial = _infer_type_partial
Symbol.compose = _compose
Symbol.replace = _replace


# MXNet's names for ops symgrad spells the NumPy way; symgrad's ops broadcast as NumPy does,
# so the broadcast_ and elemwise_ forms are one op each (nodes get MXNet's auto names).
# An alias builds as its op does (SliceChannel gives a group of its outputs, make_loss makes MakeLoss).
MXNET_ALIASES = {
    **dict.fromkeys(["broadcast_add", "broadcast_plus", "elemwise_add"], "add"),
    **dict.fromkeys(["broadcast_sub", "broadcast_minus", "elemwise_sub"], "subtract"),
    **dict.fromkeys(["broadcast_mul", "elemwise_mul"], "multiply"),
    **dict.fromkeys(["broadcast_div", "elemwise_div"], "divide"),
    "broadcast_power": "power",
    "broadcast_mod": "mod",
    "broadcast_maximum": "maximum",
    "broadcast_minimum": "minimum",
    "broadcast_equal": "equal",
    "broadcast_not_equal": "not_equal",
    "broadcast_greater": "greater",
    "broadcast_greater_equal": "greater_equal",
    "broadcast_lesser": "less",
    "broadcast_lesser_equal": "less_equal",
    "SliceChannel": "split",
    "reverse": "flip",
    "BlockGrad": "stop_gradient",
    "pad": "Pad",
    # MXNet's other spellings of one op (its auto names are the spelling in lower case: reshape0, swapaxis0)
    "Reshape": "reshape",
    "Flatten": "flatten",
    "Cast": "cast",
    "SwapAxis": "swapaxes",
    "fix": "trunc",
    "sum_axis": "sum",
    "make_loss": "MakeLoss",
    "broadcast_axes": "broadcast_axis",
}


def _alias(alias: str, opdef: OpDef) -> Any:
    def builder(*args: Any, **kwargs: Any) -> Symbol:
        return _build(opdef, args, kwargs, hint=alias.lower())  # MXNet's auto name: broadcast_add0, reshape0

    builder.__name__ = builder.__qualname__ = alias
    builder.__doc__ = f"MXNet's `{alias}`: symgrad's `{opdef.name}`."
    builder.opdef = opdef  # type: ignore[attr-defined]
    return builder


for _alias_name, _op in MXNET_ALIASES.items():
    globals()[_alias_name] = _alias(_alias_name, OPS[_op])
