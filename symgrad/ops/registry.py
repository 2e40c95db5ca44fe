"""The op registry: one OpDef per op, holding everything symgrad knows about it.

An op is declared once, with `register`: its NumPy implementation, shape rule, dtype
rule, gradient rule (written with Symbol ops, so higher order comes free) and SymPy
form. Everything else (graph building, shape inference, autodiff, simplification,
printing, the executor, eager mode) reads the declaration from `OPS`.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from operator import is_
from typing import Any

import numpy as np

from ..errors import ShapeError, SymgradError, describe_origin, user_origin
from ..graph import CONST, GROUP, VAR, Group, NameManager, Symbol, const, shaped_var, topo_order, var
from .broadcasting import broadcast_shapes as broadcast_shapes  # re-exported: the ops import it from here
from .broadcasting import elementwise_shape, partial_shape

Shape = tuple[int, ...]


@dataclass
class OpDef:
    """Everything about one op. `grad(g, out, *inputs, **attrs)` returns one Symbol or None per input."""

    name: str
    impl: Callable[..., Any]
    shape: Callable[..., Shape]
    dtype: Callable[..., Any]
    grad: Callable[..., list] | None = None
    sympy: Callable[..., Any] | None = None
    from_sympy: Any = None  # the SymPy function whose expressions `from_sympy` turns into this op (sp.exp)
    sympy_simplify: bool = False  # its SymPy form has its values: printing may let SymPy simplify a graph of such ops
    arity: int | None = 1  # tensor inputs; None: all positional args ("list": one sequence)
    attr_defaults: dict[str, Any] = field(default_factory=dict)
    hint: str = ""
    elementwise: bool = False  # broadcasting op: autodiff sums gradients back to input shapes
    method: bool = False  # reachable as x.<name>()
    normalize: Callable[[dict], dict] | None = None  # canonical attrs (e.g. axis as a tuple)
    prepare: Callable[[dict], dict] | None = None  # attrs in the form the impl runs fastest with
    reduction: bool = False  # axis/keepdims reduction: 0-d output for axis=None whatever the input
    shape_of: int | None = None  # index of the input whose shape the output always has (shapes unknown)
    nondiff: bool = False  # gradient is zero for every input: eager mode need not record it
    scalar_output: bool = False  # always 0-d, whatever the input shapes (known before bind)
    # The inputs whose memory the output may share (it is one of them or a view of one); () for
    # an op that always returns a new array, None for any input. The executor's buffer reuse
    # follows memory through these only, so a chain of such ops is planned in linear time.
    aliases: tuple[int, ...] | None = None
    # For NumPy arrays only (the executor's own plans, not Dask): the same values with fewer
    # Python layers, chosen per node from its attrs and input shapes; None keeps `kernel`.
    numpy_kernel: Callable[[Symbol], Callable[..., Any] | None] | None = None
    # The Python operator (operator.mul) giving the op's value on NumPy scalars: a NumPy plan's
    # 0-d float steps call it (NumPy's scalar arithmetic), not the ufunc (see compile/backends.py).
    operator: Callable[..., Any] | None = None
    # Layer ops (MXNet's FullyConnected, Convolution, ...): `inputs(attrs)` names the tensor inputs,
    # which may be given by keyword; a missing one (after the first) is made by `derived`, or else
    # becomes the variable `<layer name>_<input>`, whose shape `param_shapes(first input's shape, **attrs)` gives.
    inputs: Callable[[dict], tuple[str, ...]] | None = None
    param_shapes: Callable[..., dict[str, Shape]] | None = None
    # input -> the op that makes it from the first input when not given (Dropout's mask); it gets the
    # layer's attrs it declares, and `layer`, the layer's name, so two layers' masks stay two nodes
    derived: dict[str, str] = field(default_factory=dict)
    stateful: bool = False  # reads the training flag or a random generator: never folded at compile time
    training: bool = False  # reads TRAINING (Dropout, BatchNorm): a plan running it sets the flag (implies stateful)
    aux: tuple[str, ...] = ()  # inputs that are auxiliary states (MXNet's list_auxiliary_states)
    view: bool = False  # the result is a view of its first input (no new memory in a plan's peak)
    # the gradient rule moves or broadcasts the adjoint (reshape, transpose, sum, mean): autodiff moves a
    # where-mask on the adjoint the same way, so the branch not taken stays masked through it
    relayout: bool = False
    dask: bool = True  # False: the kernel writes into an array in place, so Dask arrays cannot run it
    tiling: str | None = None  # "reduce": a full sum/mean accumulated per tile; "spread": a size-1 value broadcast
    constant: bool = False  # the result is one value everywhere, whatever the inputs (zeros_like, ones)
    cacheable: bool = True  # False: a plan holding the op holds per-call objects, so it is not cached
    reshapes: bool = False  # the result is its first input's elements in the same order: a compiled backend copies
    # shown_as(inputs, attrs): the (op, inputs, attrs) printing shows instead, or None to show the node
    # as it is (getitem_arrays whose index arrays are constants prints as getitem does: x[[0, 2]])
    shown_as: Callable[[tuple, dict], tuple[str, tuple, dict] | None] | None = None
    # Inputs (names in `inputs(attrs)`) the kernel may write into in place, as MXNet's does: BatchNorm's
    # moving statistics, and gamma under fix_gamma (the 1 it uses). A plan hands the kernel a bound
    # variable's own array, and a copy of any other value, so no other reader of that value sees the write.
    writes: tuple[str, ...] = ()
    # A multi-output op (split): how many outputs its attrs give. Building it gives a group of one node
    # per output, each with its position as attr `output` (nd: a list of arrays), as MXNet's split does.
    outputs: Callable[[dict], int] | None = None
    # MXNet keywords that stand for other ops (dot's transpose_a, a reduction's exclude, norm's ord=1):
    # unsugar(args, kwargs, construct) -> (args, kwargs) without them, or the whole result when the call
    # is other ops altogether; construct(op, inputs, **attrs) calls an op as the user would (sym: a node,
    # nd: eagerly), so graphs hold the plain ops, which the rewrites and gradients know
    unsugar: Callable[..., Any] | None = None

    def parse(self, args: Sequence[Any], kwargs: dict[str, Any]) -> tuple[list[Any], dict[str, Any], str | None]:
        """Split a builder call into (tensor inputs, attrs, name)."""
        if not kwargs and len(args) == self.arity and not self.attr_defaults and self.normalize is None:
            return list(args), {}, None  # the common call, sin(x)
        kwargs = dict(kwargs)
        name = kwargs.pop("name", None)
        if "data" in kwargs and "data" not in self.attr_defaults and self.arity not in (None, "list"):
            args = (kwargs.pop("data"), *args)  # MXNet names an op's first input `data`: sym.Flatten(data=x)
        if self.arity == "list":
            if len(args) >= 1 and isinstance(args[0], (list, tuple)):
                tensors, rest = list(args[0]), args[1:]
            else:
                tensors = [a for a in args if not _is_attr_value(a)]
                rest = args[len(tensors) :]
        elif self.arity is None:
            tensors, rest = list(args), ()
        else:
            if len(args) < self.arity:
                missing = self.arity - len(args)
                raise SymgradError(f"{self.name}: expected {self.arity} input(s), got {len(args)} ({missing} missing)")
            tensors, rest = list(args[: self.arity]), args[self.arity :]
        attrs = dict(self.attr_defaults)
        names = list(self.attr_defaults)
        if len(rest) > len(names):
            raise SymgradError(f"{self.name}: too many positional arguments {rest!r}; attributes are {names}")
        attrs.update(zip(names, rest))
        for key, value in kwargs.items():
            if self.arity is not None and key not in attrs:
                self._reject_unknown([key], ())
            attrs[key] = value
        attrs = self.normalized(attrs)
        return tensors, attrs, name

    def unsugared(self, args: tuple, kwargs: dict[str, Any], construct: Callable[..., Any]) -> Any:
        """`unsugar`'s (args, kwargs) or result (see the field), an error naming this op."""
        try:
            return self.unsugar(args, kwargs, construct)
        except SymgradError as exc:
            message = str(exc)
            raise type(exc)(message if message.startswith(self.name) else f"{self.name}: {message}") from None

    def normalized(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """attrs in canonical form (`normalize`), an error naming this op."""
        if self.normalize is None:
            return attrs
        try:
            return self.normalize(attrs)
        except SymgradError as exc:
            message = str(exc)
            raise type(exc)(message if message.startswith(self.name) else f"{self.name}: {message}") from None

    def parse_layer(
        self,
        args: Sequence[Any],
        kwargs: dict[str, Any],
        construct: Callable[..., Any],
        variable: Callable[..., Any],
        hint: str | None = None,
    ) -> tuple[list[Any], dict[str, Any], str]:
        """Split a layer call into (inputs, attrs, name); missing inputs come from `derived` or `variable`.

        construct(opdef, inputs, attrs) builds a derived input; variable(layer name, input, shape) a parameter.
        """
        kwargs = dict(kwargs)
        name = kwargs.pop("name", None)
        given = {k: kwargs.pop(k) for k in list(kwargs) if k not in self.attr_defaults}  # inputs by keyword
        attrs = {**self.attr_defaults, **kwargs}
        try:
            attrs = self.normalized(attrs)
        except SymgradError:  # a misspelt attribute (act= for act_type=) is the likelier fault: name it
            possible = [*self.inputs({**attrs, "no_bias": False}), *self.derived]
            self._reject_unknown([k for k in given if k not in possible], possible)
            raise
        names = self.inputs(attrs)
        if len(args) > len(names):
            raise SymgradError(f"{self.name}: {len(args)} inputs given, it takes {list(names)} (attributes by keyword)")
        for key, value in zip(names, args):
            if key in given:
                raise SymgradError(f"{self.name}: input {key!r} given twice")
            given[key] = value
        self._reject_unknown([k for k in given if k not in names], names)
        if names[0] not in given:
            raise SymgradError(f"{self.name}: no {names[0]!r} input given")
        name = NameManager.current().get(name, hint or self.hint)
        data = given[names[0]]
        shapes = None
        inputs = []
        for key in names:
            if key in given:
                inputs.append(given[key])
            elif key in self.derived:
                op = OPS[self.derived[key]]
                sub = {k: attrs[k] for k in op.attr_defaults if k in attrs and k != "layer"}
                inputs.append(construct(op, (data,), {**sub, "layer": name}))
            else:
                if shapes is None:
                    shape = getattr(data, "shape", None)
                    shapes = self.param_shapes(tuple(shape), **attrs) if shape is not None and self.param_shapes else {}
                inputs.append(variable(name, key, shapes.get(key)))
        return inputs, attrs, name

    def _reject_unknown(self, unknown: list[str], inputs: Iterable[str]) -> None:
        """A layer keyword that is neither an input nor an attribute, named with its likely spelling."""
        if not unknown:
            return
        known = [*inputs, *self.attr_defaults]
        close = [k for k in known if k.startswith(unknown[0])] or difflib.get_close_matches(unknown[0], known, 1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        if unknown[0] == "out":  # MXNet's nd.<op>(..., out=x), as d2l's first edition updates parameters
            hint = f" (symgrad's ops return a new array: write x[:] = nd.{self.name}(...) to update x in place)"
        inputs_text = f"inputs are {list(inputs)}, " if inputs else ""
        raise SymgradError(
            f"{self.name}: unknown argument {unknown[0]!r}{hint}; {inputs_text}attributes are"
            f" {[*self.attr_defaults, 'name']}"
        )

    def kernel(self, attrs: dict[str, Any]) -> Callable[..., Any]:
        """The implementation with attrs bound, ready to call on arrays."""
        if self.prepare is not None:
            attrs = self.prepare(attrs)
        return functools.partial(self.impl, **attrs) if attrs else self.impl

    def numpy_kernel_for(self, node: Symbol) -> Callable[..., Any]:
        """The kernel for this node when its inputs are NumPy arrays (see `numpy_kernel`), given copies
        of the computed values it `writes` into."""
        fast = self.numpy_kernel(node) if self.numpy_kernel is not None else None
        kernel = fast if fast is not None else self.kernel(node.attrs)
        if not self.writes:
            return kernel
        names = self.inputs(node.attrs) if self.inputs is not None else ()
        copied = [k for k, (key, i) in enumerate(zip(names, node.inputs)) if key in self.writes and i.op != VAR]
        return functools.partial(_with_copies, kernel, copied) if copied else kernel


def _with_copies(kernel: Callable[..., Any], copied: list[int], *arrays: Any) -> Any:
    """kernel(*arrays) with the arrays at `copied` copied first: what it writes there stays its own."""
    arrays = tuple(np.array(a, copy=True) if k in copied else a for k, a in enumerate(arrays))
    return kernel(*arrays)


def _is_attr_value(arg: Any) -> bool:
    return arg is None or isinstance(arg, (int, str, tuple)) and not isinstance(arg, bool)


OPS: dict[str, OpDef] = {}


def same_dtype(*dtypes: Any, **_: Any) -> Any:
    """NumPy's promotion of the inputs (weak Python scalars given as values)."""
    return np.result_type(*dtypes)


def float_dtype(*dtypes: Any, **_: Any) -> Any:
    """Promotion, with integers and bools going to float64 (as np.sin does)."""
    dt = np.result_type(*dtypes)
    return dt if dt.kind in "fc" else np.dtype(np.float64)


def register(
    name: str,
    impl: Callable[..., Any],
    *,
    shape: Callable[..., Shape] | None = None,
    grad: Callable[..., list] | None = None,
    sympy: Callable[..., Any] | None = None,
    from_sympy: Any = None,
    sympy_simplify: bool = False,
    dtype: Callable[..., Any] | None = None,
    arity: int | str | None = None,
    attrs: dict[str, Any] | None = None,
    hint: str | None = None,
    elementwise: bool | None = None,
    method: bool = False,
    normalize: Callable[[dict], dict] | None = None,
    prepare: Callable[[dict], dict] | None = None,
    shape_of: int | None = None,
    numpy_kernel: Callable[[Symbol], Callable[..., Any] | None] | None = None,
    operator: Callable[..., Any] | None = None,
    aliases: tuple[int, ...] | None = None,
    inputs: Callable[[dict], tuple[str, ...]] | None = None,
    param_shapes: Callable[..., dict[str, Shape]] | None = None,
    derived: dict[str, str] | None = None,
    stateful: bool = False,
    training: bool = False,
    aux: tuple[str, ...] = (),
    reduction: bool = False,
    nondiff: bool = False,
    scalar_output: bool = False,
    view: bool = False,
    relayout: bool = False,
    dask: bool = True,
    tiling: str | None = None,
    constant: bool = False,
    cacheable: bool = True,
    reshapes: bool = False,
    shown_as: Callable[[tuple, dict], tuple[str, tuple, dict] | None] | None = None,
    writes: tuple[str, ...] = (),
    outputs: Callable[[dict], int] | None = None,
    unsugar: Callable[..., Any] | None = None,
) -> Callable[..., Symbol]:
    """Declare an op once; returns its Symbol builder (also `sym.<name>` and `nd.<name>`).

    `impl(*arrays, **attrs)` is the NumPy implementation; `shape(*input_shapes, **attrs)`
    the output shape (default: broadcasting); `grad(g, out, *inputs, **attrs)` one Symbol
    or None per input; `sympy` a SymPy function for printing (a SymPy function class, sp.exp,
    is also what `from_sympy` turns back into this op, unless `from_sympy` names another);
    `sympy_simplify` that printing may let SymPy simplify it; `numpy_kernel(node)` a leaner
    function for NumPy arrays giving the same values bitwise, or None to keep `impl`; `operator`
    the Python operator giving the same values on NumPy scalars;
    `aliases` the inputs the impl's result may share memory with (None: any, except that a
    ufunc's result is always new; () when the impl always returns a new array); `training`
    that the impl reads TRAINING (only a plan holding such an op sets the flag when it runs).
    The flags after `aux` are the OpDef fields of the same names.
    """
    if tiling not in (None, "reduce", "spread"):
        raise SymgradError(f"{name}: tiling must be None, 'reduce' or 'spread', got {tiling!r}")
    if not name.isidentifier():
        raise SymgradError(f"op name must be a Python identifier, got {name!r}")
    if name in (VAR, CONST, GROUP):
        raise SymgradError(f"op name {name!r} is reserved for variables, constants and groups")
    opdef = OpDef(
        name=name,
        impl=impl,
        shape=shape or elementwise_shape,
        dtype=dtype or same_dtype,
        grad=grad,
        sympy=sympy,
        from_sympy=sympy if from_sympy is None and isinstance(sympy, type) else from_sympy,
        sympy_simplify=sympy_simplify,
        arity=arity,
        attr_defaults=dict(attrs or {}),
        hint=hint or name.lower(),  # MXNet's auto names: softmaxactivation0, l2normalization0
        elementwise=shape is None if elementwise is None else elementwise,
        method=method,
        normalize=normalize,
        prepare=prepare,
        shape_of=shape_of,
        numpy_kernel=numpy_kernel,
        operator=operator,
        aliases=() if aliases is None and isinstance(impl, np.ufunc) else aliases,
        inputs=inputs,
        param_shapes=param_shapes,
        derived=dict(derived or {}),
        stateful=stateful or training,
        training=training,
        aux=aux,
        reduction=reduction,
        nondiff=nondiff,
        scalar_output=scalar_output,
        view=view,
        relayout=relayout,
        dask=dask,
        tiling=tiling,
        constant=constant,
        cacheable=cacheable,
        reshapes=reshapes,
        shown_as=shown_as,
        writes=writes,
        outputs=outputs,
        unsugar=unsugar,
    )
    OPS[name] = opdef

    def builder(*args: Any, **kwargs: Any) -> Symbol:
        return build(opdef, args, kwargs)

    builder.__name__ = name
    builder.__qualname__ = name
    builder.__doc__ = f"Symbol op `{name}` (see the registry declaration)."
    builder.opdef = opdef  # type: ignore[attr-defined]
    add_op_method(Symbol, opdef, build)
    _publish(name, builder)
    return builder


_PUBLISHERS: list[Callable[[str, Callable], None]] = []
BUILDERS: dict[str, Callable[..., Symbol]] = {}  # op name -> its Symbol builder, as register returned it


def _publish(name: str, builder: Callable) -> None:
    BUILDERS[name] = builder
    for publish in _PUBLISHERS:  # the sym/nd namespaces learn of each op as it is registered
        publish(name, builder)


def on_register(publish: Callable[[str, Callable], None]) -> None:
    """Call publish(name, builder) for each op registered so far, and for each one registered from now on."""
    for name, builder in list(BUILDERS.items()):
        publish(name, builder)
    _PUBLISHERS.append(publish)


# Train or predict mode for the ops that differ (those registered with training=True): a plan
# holding one sets it while it runs (executor.forward(is_train=...)), as autograd.record()/
# train_mode() do for the thread or task they run in.
TRAINING: ContextVar[bool] = ContextVar("symgrad_training", default=False)

_ORIGIN: ContextVar[Any] = ContextVar("symgrad_origin", default=False)  # per thread and asyncio task


def swap_origin(origin: Any) -> Any:
    """Set the origin nodes built from now on take (False: the user's line); returns the one it replaces.

    Autodiff marks gradient nodes with their source line this way, and the simplifier gives
    the nodes a rule builds the rewritten node's origin (no context manager: these are hot loops)."""
    previous = _ORIGIN.get()
    if previous is not origin:
        _ORIGIN.set(origin)
    return previous


def as_symbol(value: Any) -> Symbol:
    """A Symbol as is; numbers and arrays become constant nodes."""
    if isinstance(value, Symbol):
        if value.op == GROUP:
            raise SymgradError(f"a group of {len(value.inputs)} outputs cannot be an op input; pick one with g[i]")
        return value
    if hasattr(value, "_is_ndarray"):
        raise SymgradError("cannot mix an eager NDArray into a Symbol graph; use x.asnumpy() for a constant")
    try:
        return const(value)
    except (TypeError, ValueError) as exc:
        raise SymgradError(f"cannot use {type(value).__name__} {value!r} as a graph input") from exc


def node_meta(
    opdef: OpDef, shapes: Sequence[Any], dtypes: Sequence[Any], attrs: dict[str, Any], name: str | None, origin: Any
) -> tuple:
    """(shape, dtype) of a node from its inputs' (None where unknown; weak scalars as values)."""
    shape = None
    if opdef.scalar_output or (opdef.reduction and attrs.get("axis") is None and not attrs.get("keepdims")):
        shape = ()  # a full reduction is 0-d even when the input's shape is unknown
    if opdef.shape is elementwise_shape and shapes and shapes[0] is not None and shapes.count(shapes[0]) == len(shapes):
        shape = shapes[0]  # the common case: inputs of one shape
    elif None not in shapes:  # shapes are tuples or None (a tuple never equals None)
        try:
            shape = tuple(opdef.shape(*shapes, **attrs))
        except (ShapeError, ValueError, IndexError, TypeError) as exc:
            detail = str(exc).removeprefix("ShapeError: ")
            raise ShapeError(
                f"{opdef.name} {name!r}: {detail} (input shapes {', '.join(map(str, shapes))})"
                + describe_origin(origin)
            ) from None
    dtype = None
    first = dtypes[0] if dtypes else None
    if (
        isinstance(first, np.dtype)
        and first.isnative
        and (len(dtypes) == 1 or (len(dtypes) == 2 and dtypes[1] is first))
        and (opdef.dtype is same_dtype or (opdef.dtype is float_dtype and first.kind == "f"))
    ):
        dtype = first  # the common case, inputs of one dtype: np.result_type would give it back
    else:
        for d in dtypes:  # a loop, not all(<generator>): a generator is a call (`None in` would ask np.dtype ==)
            if d is None:
                break
        else:
            try:
                dtype = np.dtype(opdef.dtype(*dtypes, **attrs))
            except TypeError as exc:
                raise SymgradError(f"{opdef.name} {name!r}: {exc}" + describe_origin(origin)) from None
    return shape, dtype


def _dtype_or_weak(node: Symbol) -> Any:
    if node.dtype is not None:
        return node.dtype
    if node.op == CONST:
        return node.attrs["value"]  # a weak Python scalar promotes as NumPy's rules say
    return None


def apply(
    opdef: OpDef, inputs: Sequence[Any], attrs: dict[str, Any], name: str | None = None, hint: str | None = None
) -> Symbol:
    """Build one node: constants for numbers, a name (else an auto name from hint or the op's),
    shape and dtype when known."""
    arity = len(inputs)
    if arity == 1 or arity == 2:  # nearly every node: unrolled, as a list comprehension is a call in CPython 3.11
        a = inputs[0] if type(inputs[0]) is Symbol and inputs[0].op != GROUP else as_symbol(inputs[0])
        if arity == 1:
            nodes: tuple = (a,)
            shapes, dtypes = [a.shape], [_dtype_or_weak(a)]
        else:
            b = inputs[1] if type(inputs[1]) is Symbol and inputs[1].op != GROUP else as_symbol(inputs[1])
            nodes = (a, b)
            shapes, dtypes = [a.shape, b.shape], [_dtype_or_weak(a), _dtype_or_weak(b)]
    else:
        nodes = tuple([x if type(x) is Symbol and x.op != GROUP else as_symbol(x) for x in inputs])
        shapes, dtypes = [n.shape for n in nodes], [_dtype_or_weak(n) for n in nodes]
    origin = _ORIGIN.get()
    if origin is False:
        origin = user_origin()
    name = NameManager.current().get(name, hint or opdef.hint)
    shape, dtype = node_meta(opdef, shapes, dtypes, attrs, name, origin)
    partial = None
    if shape is None and not any(n.partial_shape is None for n in nodes):  # some rank declared without sizes
        partial = partial_shape(opdef, [n.partial_shape for n in nodes], attrs, name, origin)
    return Symbol(opdef.name, nodes, attrs, name, shape, dtype, origin, partial)


def rebuild(node: Symbol, inputs: tuple[Symbol, ...]) -> Symbol:
    """The same op, attrs, name and origin over new inputs."""
    if node.op in (VAR, CONST):
        return node
    if node.op == GROUP:
        return Symbol(GROUP, tuple(inputs), name=node.name)
    if all(map(_same_meta, inputs, node.inputs)):
        shape, dtype = node.shape, node.dtype  # shape and dtype rules see what they saw before
        partial = node.partial_shape
    else:
        shapes, dtypes = [n.shape for n in inputs], [_dtype_or_weak(n) for n in inputs]
        shape, dtype = node_meta(OPS[node.op], shapes, dtypes, node.attrs, node.name, node.origin)
        partial = None
        if shape is None and not any(n.partial_shape is None for n in inputs):
            partial = partial_shape(OPS[node.op], [n.partial_shape for n in inputs], node.attrs, node.name, node.origin)
    return Symbol(node.op, tuple(inputs), node.attrs, node.name, shape, dtype, node.origin, partial)


def _same_meta(new: Symbol, old: Symbol) -> bool:
    """new has old's known shape and dtype (weak scalars promote by value, so they must be the same node)."""
    return new is old or (
        new.shape == old.shape
        and new.dtype is old.dtype
        and new.dtype is not None
        and (new.shape is not None or new.partial_shape == old.partial_shape)
    )


def substitute(symbol: Symbol, mapping: dict[str, Symbol]) -> Symbol:
    """Replace variables by name with Symbols, rebuilding what depends on them."""
    mapping = {k: as_symbol(v) for k, v in mapping.items()}
    new: dict[int, Symbol] = {}
    for node in topo_order(symbol.outputs()):
        if node.op == VAR and node.name in mapping:
            new[id(node)] = mapping[node.name]
        elif node.inputs:
            inputs = tuple(new[id(i)] for i in node.inputs)
            new[id(node)] = node if all(map(is_, inputs, node.inputs)) else rebuild(node, inputs)
        else:
            new[id(node)] = node
    if symbol.op == GROUP:
        return Symbol(GROUP, tuple(new[id(o)] for o in symbol.inputs), name=symbol.name)
    return new[id(symbol)]


def aux_variables(order: Sequence[Symbol]) -> list[str]:
    """Names of the variables that feed an auxiliary-state input (BatchNorm's moving statistics)."""
    names: dict[str, None] = {}
    for node in order:
        opdef = OPS.get(node.op)
        if opdef is not None and opdef.aux:
            for key, i in zip(opdef.inputs(node.attrs), node.inputs):
                if key in opdef.aux and i.op == VAR:
                    names[i.name] = None
    return list(names)


def build(opdef: OpDef, args: Sequence[Any], kwargs: dict[str, Any], hint: str | None = None) -> Symbol:
    """sym.<op>(*args, **kwargs): parse the call, then build the node (auto-named from hint, else the op's)."""
    if opdef.unsugar is not None and kwargs:
        plain = opdef.unsugared(tuple(args), dict(kwargs), _construct)
        if not isinstance(plain, tuple):
            return plain
        args, kwargs = plain
    if opdef.inputs is not None:  # a layer: missing weights become `<name>_weight` variables, as in MXNet
        tensors, attrs, name = opdef.parse_layer(args, kwargs, apply, _parameter, hint)
    else:
        tensors, attrs, name = opdef.parse(args, kwargs)
    if opdef.outputs is not None and "output" not in kwargs and opdef.outputs(attrs) > 1:  # split's outputs
        name = NameManager.current().get(name, hint or opdef.hint)
        return Group([apply(opdef, tensors, {**attrs, "output": i}, name) for i in range(opdef.outputs(attrs))])
    return apply(opdef, tensors, attrs, name, hint)


def _construct(op: str, inputs: Sequence[Any], **attrs: Any) -> Symbol:
    return build(OPS[op], tuple(inputs), attrs)


def _parameter(layer: str, key: str, shape: Shape | None) -> Symbol:
    return var(f"{layer}_{key}", shape=shape) if shape is None else shaped_var(f"{layer}_{key}", shape)


def add_op_method(cls: type, opdef: OpDef, call: Callable[[OpDef, tuple, dict], Any]) -> None:
    """x.<op>(...) as call(op, (x, ...), kwargs) for a method op, unless cls has that name already.

    A real method, not a __getattr__ hook: with a hook on a class, CPython 3.11 cannot
    specialise reads of its instances' attributes, which graph passes do per node. The op
    is looked up by name on each call, so registering it again takes effect.
    """
    if not opdef.method or hasattr(cls, opdef.name):
        return
    name = opdef.name

    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        return call(OPS[name], (self, *args), kwargs)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"x.{name}(...) is {name}(x, ...)."
    setattr(cls, name, method)
