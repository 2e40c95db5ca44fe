"""The immutable Symbol graph: nodes, variables, constants, groups, names, traversal.

A Symbol is one node of a DAG. It never changes after construction; rewrites build
new nodes. Hashing is by identity (``==`` builds a comparison Symbol), so nodes can
key dicts and sets. This module imports nothing of symgrad but errors: the methods that
need a higher layer are attached by that layer when symgrad is imported, so imports flow
one way. The op registry attaches `replace`, `compose`, `list_arguments`,
`list_auxiliary_states`, `infer_shape`, `infer_type` and a method per method op (`x.sum()`);
`ops/api.py` the operators (`+`, `*`, `==`, `@`, ...), `T` and indexing; `printing.py`
`__str__`, `_repr_latex_` and `to_sympy`; `serialization.py` `tojson` and `save`;
`executor.py` `bind`, `simple_bind` and `eval`.
"""

from __future__ import annotations

import contextlib
import difflib
import gc
import math
import threading
from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from contextvars import ContextVar, Token
from typing import Any

import numpy as np

from .errors import SymgradError, describe_origin, user_origin

VAR = "var"
CONST = "const"
GROUP = "_group"


class NameManager:
    """MXNet-style auto names: one counter per hint (`_plus0`, `_plus1`, `sin0`).

    ``with sg.NameManager():`` starts fresh counters for the block, in the current thread
    or asyncio task only (a ContextVar; reading one costs a quarter of a threading.local
    read, and each node built reads it). Outside any block, each thread has a default.
    """

    def __init__(self) -> None:
        self._counters: dict[str, int] = {}
        self._tokens: list[Token] = []  # one per active `with` of this manager

    def get(self, name: str | None, hint: str) -> str:
        """The given name, or the next auto name for hint."""
        if name is not None:
            return name
        count = self._counters.get(hint, 0)
        self._counters[hint] = count + 1
        return f"{hint}{count}"

    def reserve(self, names: Iterable[str | None]) -> NameManager:
        """Count past the given names (sum0 taken: the next sum is sum1), so new nodes never share one."""
        for name in names:
            if name:
                hint = name.rstrip("0123456789")
                digits = name[len(hint) :]
                if digits and (len(digits) == 1 or digits[0] != "0"):
                    self._counters[hint] = max(self._counters.get(hint, 0), int(digits) + 1)
        return self

    def __enter__(self) -> NameManager:
        self._tokens.append(_ACTIVE_NAMES.set(self))
        return self

    def __exit__(self, *exc: object) -> None:
        _ACTIVE_NAMES.reset(self._tokens.pop())

    @staticmethod
    def current() -> NameManager:
        """The manager of the innermost active `with` block, else this thread's default."""
        manager = _ACTIVE_NAMES.get()
        if manager is None:
            manager = getattr(_THREAD_NAMES, "default", None)
            if manager is None:
                manager = _THREAD_NAMES.default = NameManager()
        return manager


_ACTIVE_NAMES: ContextVar[NameManager | None] = ContextVar("symgrad_name_manager", default=None)
_THREAD_NAMES = threading.local()


class Symbol:
    """One node of a computation graph; build with `var`, operators and ops.

    Operators, printing, binding and the registry's methods are attached by their own
    layers (see the module docstring).
    """

    __slots__ = ("op", "inputs", "attrs", "name", "shape", "dtype", "origin", "value", "partial_shape", "__weakref__")
    __array_ufunc__ = None  # NumPy scalars on the left defer to our reflected operators
    __hash__ = object.__hash__

    def __init__(
        self,
        op: str,
        inputs: tuple[Symbol, ...] = (),
        attrs: dict[str, Any] | None = None,
        name: str | None = None,
        shape: tuple[int, ...] | None = None,
        dtype: np.dtype | None = None,
        origin: tuple[str, int] | None = None,
        partial_shape: tuple[int | None, ...] | None = None,
    ) -> None:
        self.op = op
        self.inputs = inputs
        self.attrs = attrs if attrs is not None else {}
        self.name = name
        self.shape = shape
        self.dtype = dtype
        self.origin = origin
        self.value = None  # eager mode keeps the recorded forward value here
        # What is known of the shape: the shape itself when known, else the rank with None for
        # each size left to bind (sym.var("X", shape=(None, None))), else None (rank unknown too)
        self.partial_shape = shape if partial_shape is None else partial_shape

    # ---- inspection -------------------------------------------------------
    @property
    def ndim(self) -> int | None:
        """The rank, known with the shape or declared alone (shape=(None, None)); else None."""
        return None if self.partial_shape is None else len(self.partial_shape)

    def __repr__(self) -> str:
        if self.op == GROUP:
            return f"<Symbol group [{', '.join(s.name or '?' for s in self.inputs)}]>"
        return f"<Symbol {self.name}>"

    def outputs(self) -> list[Symbol]:
        """The output nodes: the members of a group, else this node."""
        return list(self.inputs) if self.op == GROUP else [self]

    def list_inputs(self) -> list[str]:
        """Every variable, auxiliary states included, in graph order."""
        return variable_names(topo_order(self.outputs()))

    def list_outputs(self) -> list[str]:
        """MXNet's output names: `<name>_output` for an op, `<name>_output<i>` for output i of a multi-output
        op (split's nodes, attr `output`), the variable's own name for a variable."""
        return [
            node.name if node.op == VAR else f"{node.name}_output{node.attrs.get('output', '')}"
            for node in self.outputs()
        ]

    def get_internals(self) -> Symbol:
        """A group of every variable and op node, in graph order."""
        return Group([n for n in topo_order(self.outputs()) if n.op != CONST])

    def get_children(self) -> Symbol | None:
        """A group of this node's inputs (None for a variable)."""
        return Group(list(self.inputs)) if self.inputs else None

    def attr(self, key: str) -> Any:
        """An attribute of this node as MXNet's string, 'name' its name; None when it has none."""
        if key == "name":
            return self.name
        return self.list_attr().get(key)

    def list_attr(self) -> dict[str, str]:
        """This node's attributes as strings (a variable's declared shape, None for an open size, and dtype
        as __shape__, __dtype__)."""
        if self.op == VAR:
            declared = {"__shape__": self.partial_shape, "__dtype__": None if self.dtype is None else self.dtype.name}
            return {k: str(v) for k, v in declared.items() if v is not None}
        if self.op in (CONST, GROUP):
            return {}
        return {k: str(v) for k, v in self.attrs.items() if not k.startswith("_") and k != "fn"}

    def attr_dict(self) -> dict[str, dict[str, str]]:
        """{node name: its list_attr()} for every node with attributes (MXNet's attr_dict)."""
        nodes = topo_order(self.outputs())
        return {n.name: attrs for n in nodes if (attrs := n.list_attr())}

    def debug_str(self) -> str:
        """MXNet's text listing of the graph: outputs, variables, then each op with its inputs and attributes."""
        lines = ["Symbol Outputs:"]
        lines += [f"\toutput[{i}]={o.name}(0)" for i, o in enumerate(self.outputs())]
        for node in topo_order(self.outputs()):
            if node.op == VAR:
                lines.append(f"Variable:{node.name}")
            elif node.op != CONST:
                lines += ["--------------------", f"Op:{node.op}, Name={node.name}", "Inputs:"]
                lines += [
                    f"\targ[{k}]={'const' if i.op == CONST else i.name}(0) version=0" for k, i in enumerate(node.inputs)
                ]
                attrs = node.list_attr()
                if attrs:
                    lines += ["Attrs:"] + [f"\t{k}={v}" for k, v in attrs.items()]
        return "\n".join(lines) + "\n"

    # ---- groups -----------------------------------------------------------
    def __len__(self) -> int:
        return len(self.inputs) if self.op == GROUP else 1

    def __iter__(self) -> Iterator[Symbol]:
        return iter(self.outputs())

    def __bool__(self) -> bool:
        raise SymgradError(
            f"the truth value of Symbol {self.name!r} is unknown until the graph runs; "
            "use sym.where(cond, a, b) for a data-dependent choice, or eager mode "
            "(nd arrays under autograd.record()) for Python if/while on values" + describe_origin(self.origin)
        )

    # ---- composition ------------------------------------------------------
    def __call__(self, *args: Symbol, **kwargs: Symbol) -> Symbol:
        return self.compose(*args, **kwargs)


def normalize_shape(shape: Any) -> tuple[int, ...] | None:
    """A shape as a tuple of ints (an int means a vector); None stays unknown."""
    if shape is None:
        return None
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    if isinstance(shape, (str, bytes)) or not all(isinstance(d, (int, np.integer)) for d in shape):
        raise SymgradError(f"shape must be a tuple of ints, got {shape!r}")
    dims = tuple(int(d) for d in shape)
    if any(d < 0 for d in dims):
        raise SymgradError(f"shape must not have negative sizes, got {shape!r}")
    return dims


# MXNet's var keywords that change nothing here; a keyword MXNet trains with is refused, not ignored
_VAR_INERT = ("attr", "profiler_scope", "stype")
_VAR_UNREAD = {
    "lr_mult": "for lr_mult=0 pass Module(..., fixed_param_names=[{name!r}])",
    "wd_mult": "weight decay skips parameters not named *_weight or *_gamma, as MXNet's default",
    "init": "give its value in Module.init_params(arg_params={{{name!r}: ...}}) or bind's args",
}


def _check_var_keywords(name: str, kwargs: dict[str, Any]) -> None:
    """Refuse a var keyword symgrad would ignore: a misspelt shape or dtype, or one MXNet trains with."""
    for key, value in kwargs.items():
        if key == "stype" and value not in (None, "default"):
            raise SymgradError(f"var {name!r}: stype={value!r}: symgrad arrays are dense ('default')")
        if key in _VAR_INERT or (key.startswith("__") and key.endswith("__")):
            continue
        if key in _VAR_UNREAD:
            fix = _VAR_UNREAD[key].format(name=name)
            raise SymgradError(f"var {name!r}: {key}= is not read by symgrad (MXNet trains with it); {fix}")
        close = difflib.get_close_matches(key, ["shape", "dtype", *_VAR_INERT, *_VAR_UNREAD], 1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SymgradError(f"var {name!r}: unknown argument {key!r}{hint}; arguments are shape and dtype")


def var(name: str, shape: Any = None, dtype: Any = None, **mxnet_kwargs: Any) -> Symbol:
    """A placeholder variable; `shape` and `dtype` are optional and checked at bind.

    A size may be left open, None or MXNet's 0 (shape=(None, 3)): the rank is then known
    before bind, and an open size is assumed not to be 1 (not to broadcast), which bind checks.
    """
    if not isinstance(name, str):
        raise SymgradError(f"variable name must be a string, got {name!r}")
    _check_var_keywords(name, mxnet_kwargs)
    try:
        dtype = None if dtype is None else np.dtype(dtype)
    except TypeError:
        raise SymgradError(f"var {name!r}: dtype {dtype!r} is not a NumPy dtype (try 'float32' or 'float64')") from None
    partial = _declared_sizes(name, shape)
    full = None if partial is None or None in partial else partial
    return Symbol(VAR, name=name, shape=full, dtype=dtype, origin=user_origin(), partial_shape=partial)


def shaped_var(name: str, shape: Any, dtype: Any = None) -> Symbol:
    """A variable of a known shape, a size 0 meaning 0 (bind's arrays, head gradients, layer parameters)."""
    dtype = None if dtype is None else np.dtype(dtype)
    return Symbol(VAR, name=name, shape=normalize_shape(shape), dtype=dtype, origin=user_origin())


def _declared_sizes(name: str, shape: Any) -> tuple[int | None, ...] | None:
    """A variable's declared shape with None for each open size (None or MXNet's 0)."""
    if shape is None or isinstance(shape, (int, np.integer)) or isinstance(shape, (str, bytes)):
        return normalize_shape(shape)
    try:
        normalize_shape([d for d in shape if d is not None])  # ints, none negative
    except (SymgradError, TypeError):
        raise SymgradError(
            f"var {name!r}: shape must be a tuple of ints (None or 0 for a size left to bind), got {shape!r}"
        ) from None
    return tuple(None if d is None or d == 0 else int(d) for d in shape)


Variable = var


_SCALAR_CONSTS: dict[tuple, Symbol] = {}


def scalar_key(value: bool | int | float) -> tuple:
    """A Python scalar as a key that tells -0.0 from 0.0 (equal, but 1/-0.0 is -inf); NaNs all alike."""
    if value and value == value:  # the common case: a nonzero number
        return (type(value), value)
    return (type(value), value if value == value else "nan", math.copysign(1.0, value))


def const(value: Any) -> Symbol:
    """A constant node. Python scalars stay weakly typed, as NumPy treats them.

    Scalar constants are shared (nodes are immutable), so eager loops do not rebuild them.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (bool, int, float)):
        key = scalar_key(value)
        node = _SCALAR_CONSTS.get(key)
        if node is not None:
            return node
        if len(_SCALAR_CONSTS) < 1_000:  # a loop whose scalar changes each step fills it once, bounded
            node = _SCALAR_CONSTS[key] = Symbol(CONST, attrs={"value": value}, shape=(), dtype=None)
            return node
        dtype = None  # weak: takes the dtype of what it meets
        shape: tuple[int, ...] = ()
    else:
        value = np.array(value)
        if value.dtype.kind not in "biuf":
            raise SymgradError(f"constants must be real numbers, got dtype {value.dtype}")
        value.setflags(write=False)
        shape, dtype = value.shape, value.dtype
    return Symbol(CONST, attrs={"value": value}, shape=shape, dtype=dtype)


def is_const(node: Symbol, value: float | None = None) -> bool:
    """True for a constant node (holding exactly `value`, everywhere, when given)."""
    if node.op != CONST:
        return False
    if value is None:
        return True
    v = node.attrs["value"]
    if isinstance(v, np.ndarray):
        return v.size > 0 and bool(np.all(v == value))
    return v == value


def scalar_value(node: Symbol) -> float | None:
    """The Python number of a 0-d constant node (weak or strong), else None."""
    if node.op != CONST:
        return None
    v = node.attrs["value"]
    if isinstance(v, np.ndarray):
        return v.item() if v.ndim == 0 else None
    return v


def Group(symbols: Iterable[Symbol]) -> Symbol:
    """One symbol with several outputs; nested groups are flattened."""
    members: list[Symbol] = []
    for s in symbols:
        if not isinstance(s, Symbol):
            raise SymgradError(f"Group takes Symbols, got {type(s).__name__}")
        members.extend(s.outputs())
    return Symbol(GROUP, tuple(members), name="group")


def topo_order(
    outputs: Iterable[Symbol], stop: AbstractSet[Symbol] | Mapping[Symbol, Any] = frozenset()
) -> list[Symbol]:
    """Every node reachable from outputs, inputs before users (iterative post-order DFS).

    Nodes in `stop` (a set or dict) are listed but not looked through (a program's inputs).
    The hot passes (this walk, simplify, autodiff, the executor's planning) key sets and
    dicts by the nodes themselves (hashed by identity), not by id(node): a call of id()
    costs more than the lookup it feeds.
    """
    order: list[Symbol] = []
    seen: set[Symbol] = set()
    mark = seen.add  # bound methods: this loop runs several times per bind over every node
    for root in outputs:
        if root in seen:
            continue
        mark(root)
        stack = [(root, iter(() if root in stop else root.inputs))]
        push = stack.append
        while stack:
            node, children = stack[-1]
            for child in children:
                if child not in seen:
                    mark(child)
                    push((child, iter(() if child in stop else child.inputs)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


def variable_names(order: Iterable[Symbol]) -> list[str]:
    """The variables' names among the nodes, first occurrence first, each once."""
    return list(dict.fromkeys(node.name for node in order if node.op == VAR))


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause CPython's cyclic collector while a graph pass runs.

    Passes allocate nodes by the thousand, none of them garbage cycles, and each
    allocation burst would trigger full-heap collections (a quarter of a 10,000-node bind).
    A pass that leaves many new objects (a compiled graph) moves the young generations to
    the oldest (see `_promote_young`).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            _promote_young()
            gc.enable()


# A pause that leaves this many times the first generation's threshold of new objects
# promotes them; below it the first collection after the pause is cheap anyway.
PROMOTE_AFTER = 10
# At most this many promotions between two full collections; the next runs one instead.
PROMOTIONS_PER_FULL_COLLECTION = 8
_promotions = {"since_full": 0, "full_collections": -1}


def _promote_young() -> None:
    """Move every object of the two young generations into the oldest, without traversing them.

    Else the first allocation after the pause makes the collector walk each object the pass
    left (a compiled 10,000-node graph's: 30-40 ms of its bind) and then walk them again in
    the middle generation, though a compiled graph is long-lived: where they end up anyway.
    freeze + unfreeze splices the generation lists in O(1).

    The user's young objects move too, and freeze resets every generation's counter, so
    cyclic garbage among them waits for a full collection that CPython would now not
    schedule; hence after PROMOTIONS_PER_FULL_COLLECTION promotions with no full collection
    in between, the next such pause runs one instead. Nothing moves when the program froze
    objects itself (unfreeze would thaw them; a thread freezing objects during a compile's
    last instructions is not guarded against) or turned automatic collection off.
    """
    threshold = gc.get_threshold()[0]
    if not threshold or gc.get_count()[0] <= PROMOTE_AFTER * threshold or gc.get_freeze_count():
        return
    full_collections = gc.get_stats()[-1]["collections"]
    if full_collections != _promotions["full_collections"]:  # one ran since the last promotion
        _promotions["since_full"] = 0
    if _promotions["since_full"] >= PROMOTIONS_PER_FULL_COLLECTION:
        gc.collect()
        _promotions["since_full"] = 0
    else:
        gc.freeze()
        gc.unfreeze()
        _promotions["since_full"] += 1
    _promotions["full_collections"] = gc.get_stats()[-1]["collections"]
