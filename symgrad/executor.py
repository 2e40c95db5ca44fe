"""The executor: a symbol bound to arrays, run forward and backward (MXNet's Executor).

A thin client of the compile pipeline (`symgrad/compile/`): at bind the graph is
specialised to the bound shapes and dtypes, differentiated, simplified and planned
(`compile_binding`, cached), and `forward`/`backward` run the programs with
`backends.run`. This module checks what is bound and writes gradients where asked.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import fpwarnings, trainstep
from .bindargs import as_array, bound_args, per_arg
from .compile.backends import CODEGEN_AFTER_CALLS as CODEGEN_AFTER_CALLS  # where tests and benchmarks read it
from .compile.backends import run, run_train
from .compile.cache import clear_cache as clear_cache  # executor.clear_cache(), as before the one cache
from .compile.choice import resolve
from .compile.pipeline import compile_binding
from .compile.vmcode import DECLINED
from .context import Context
from .dask import DaskExecutor, is_dask_array
from .errors import BindError, SymgradError, UnknownNameError
from .graph import VAR, Symbol, topo_order, variable_names
from .ops.registry import aux_variables

GRAD_REQS = ("write", "add", "null")
# A forward(is_train=True) of a forward and backward program this small computes the gradients too
# (see `Executor.forward`): a run's fixed cost (NumPy's error state switched and restored, the calls
# around the generated code) is then paid once per training step, and is most of a small graph's time.
EARLY_GRADS_MAX_STEPS = 32


# ---- the Executor -------------------------------------------------------------------


class NameDict(dict):
    """An executor's arg_dict, grad_dict or aux_dict: a name it lacks is an error naming the names it has."""

    def __init__(self, what: str, items: dict[str, Any]) -> None:
        super().__init__(items)
        self.what = what

    def __missing__(self, name: str) -> Any:
        close = difflib.get_close_matches(str(name), [str(k) for k in self], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UnknownNameError(f"{self.what}: no entry {name!r}; {hint}the names are {list(self)}")


class Executor:
    """A symbol bound to arrays: forward, backward, and MXNet's views of the arrays."""

    def __init__(
        self,
        symbol: Symbol,
        args: Any,
        args_grad: Any = None,
        grad_req: Any = "write",
        aux_states: Any = None,
        ctx: Any = None,  # MXNet's device arguments: symgrad runs on the CPU, so they change nothing
        group2ctx: Any = None,
        shared_exec: Any = None,
        backend: str | None = None,
    ) -> None:
        self._backend = resolve(backend)  # "numpy", "jit" or "auto" (compile/choice.py)
        if grad_req is None:
            raise BindError(f"bind: grad_req must be one of {GRAD_REQS}, or a dict or list of them, not None")
        self._symbol = symbol
        if not symbol.outputs():
            raise BindError("bind: the symbol has no outputs (an empty Group); nothing to compute")
        order = topo_order(symbol.outputs())
        every = variable_names(order)  # the compiled program's inputs: arguments and auxiliary states
        aux_names = aux_variables(order)
        names = [n for n in every if n not in aux_names]
        given = bound_args(args, names)
        # Python data binds as nd.array makes it: float32 (MXNet's default), or the variable's declared dtype
        declared = {v.name: v.dtype for v in order if v.op == VAR and v.dtype is not None}
        args = {n: as_array(given[n], n, declared.get(n, np.float32)) for n in names}
        aux = per_arg(aux_states, aux_names, "aux_states")
        missing = [n for n in aux_names if n not in aux]
        if missing:
            raise BindError(
                f"bind: no array for auxiliary state {missing[0]!r}; pass aux_states={{...}} for {aux_names}"
            )
        aux_arrays = {n: as_array(aux[n], n) for n in aux_names}  # kept by reference: BatchNorm updates them
        grads = per_arg(args_grad, names, "args_grad")
        if isinstance(grad_req, str):
            reqs = dict.fromkeys(names, grad_req)
            if args_grad is not None:  # MXNet: given gradient arrays, only those arguments get gradients
                reqs.update({n: "null" for n in names if grads.get(n) is None})
        else:
            reqs = {n: "null" for n in names}
            reqs.update(per_arg(grad_req, names, "grad_req"))
        for n, r in reqs.items():
            if r not in GRAD_REQS:
                raise BindError(f"grad_req for {n!r} is {r!r}; use one of {GRAD_REQS}")
        self._grad_req = reqs
        grad_arrays: dict[str, np.ndarray] = {}
        for n in names:
            if reqs[n] == "null":
                continue
            arr = args[n]
            if arr.dtype.kind != "f":
                raise BindError(
                    f"argument {n!r} has integer dtype {arr.dtype} but its gradient is requested; "
                    "pass a float array or grad_req='null' for it"
                )
            if n in grads and grads[n] is not None:
                g = np.asarray(grads[n])
                if g.shape != arr.shape:
                    raise BindError(f"args_grad[{n!r}] has shape {g.shape}, argument has shape {arr.shape}")
                if g.dtype.kind != "f" or not g.flags.writeable:
                    raise BindError(
                        f"args_grad[{n!r}] must be a writeable float array (gradients are written into it),"
                        f" got {'a read-only ' if not g.flags.writeable else ''}{g.dtype} array"
                    )
                grad_arrays[n] = g
            else:
                grad_arrays[n] = np.zeros_like(arr)
        self._names = names
        values = {**args, **aux_arrays}
        shapes = {n: a.shape for n, a in values.items()}
        dtypes = {n: a.dtype for n, a in values.items()}
        grad_names = [n for n in names if reqs[n] != "null"]
        self._compiled, constants = compile_binding(symbol, shapes, dtypes, grad_names, order=order)
        self._args = args
        self._arg_list = [values[n] for n in every] + list(constants)  # the plan's inputs
        self._writes = [(grad_arrays[n], reqs[n] == "add") for n in grad_names]
        self._targets = self._write_targets(grad_names, reqs, grad_arrays)
        self._saved: tuple | None = None
        self._fused = False  # the last forward(is_train=True) computed the gradients too
        c = self._compiled
        self._early = (
            c.backward is not None
            and c.train is None
            and len(c.forward.plan) + len(c.backward.plan) <= EARLY_GRADS_MAX_STEPS
        )
        # the backward program's write-into arrays when it runs early: none (backward() writes the gradients)
        self._no_targets = (None,) * len(grad_names) if self._early and c.backward.writes_into else ()
        # After CODEGEN_AFTER_CALLS early runs, this executor's forward and backward become
        # generated functions (`trainstep.attach`), which call these methods for anything else
        self._train_calls = 0
        self._grads: tuple | None = None  # the gradients the last forward(is_train=True) computed early
        self._grads_noted: str | None = None  # and the floating-point errors noted meanwhile
        self._n_out = len(self._compiled.out_shapes)
        self._out_dtypes = self._compiled.out_dtypes
        self._outs: list[tuple] | None = None  # see `_output_specs`, made on the first forward
        # MXNet's views, as NDArrays made once here: each shares memory with the bound array, and
        # each output's array is the one the plan returned (no copy per call)
        from .nd import NDArray

        self.arg_dict: dict[str, NDArray] = NameDict("arg_dict", {n: NDArray(a) for n, a in args.items()})
        self.aux_dict: dict[str, NDArray] = NameDict("aux_dict", {n: NDArray(a) for n, a in aux_arrays.items()})
        self.grad_dict: dict[str, NDArray | None] = NameDict(
            "grad_dict", {n: NDArray(grad_arrays[n]) if n in grad_arrays else None for n in names}
        )
        self.outputs: list[NDArray] = [
            NDArray(np.zeros(shape, dtype)) for shape, dtype in zip(self._compiled.out_shapes, self._out_dtypes)
        ]

    def __getstate__(self) -> dict[str, Any]:
        """What copy.copy/deepcopy copy: not the generated forward/backward (`trainstep.attach`), which
        run the executor they were made for; a copy gets its own after as many calls of its own."""
        state = dict(vars(self))
        if state.pop("forward", None) is not None:
            del state["backward"]
            state["_train_calls"] = 0
        return state

    @property
    def arg_arrays(self) -> list[Any]:
        return [self.arg_dict[n] for n in self._names]

    @property
    def grad_arrays(self) -> list[Any]:
        return [self.grad_dict[n] for n in self._names]

    @property
    def output_dict(self) -> dict[str, Any]:
        return dict(zip(self._symbol.list_outputs(), self.outputs))

    @property
    def aux_arrays(self) -> list[Any]:
        return list(self.aux_dict.values())

    def copy_params_from(
        self, arg_params: dict[str, Any], aux_params: dict[str, Any] | None = None, allow_extra_params: bool = False
    ) -> None:
        """Copy values into the bound arguments and auxiliary states (MXNet's copy_params_from)."""
        for params, bound, what in ((arg_params, self._args, "arguments"), (aux_params or {}, self.aux_dict, "states")):
            for name, value in params.items():
                if name not in bound:
                    if allow_extra_params:
                        continue
                    raise BindError(
                        f"copy_params_from: {name!r} is not among the {what} {list(bound)};"
                        " pass allow_extra_params=True to skip it"
                    )
                target = np.asarray(bound[name])
                value = as_array(value, name)
                if value.shape != target.shape:
                    raise BindError(
                        f"copy_params_from: {name!r} has shape {value.shape}, the bound array {target.shape}"
                    )
                np.copyto(target, value, casting="unsafe")  # MXNet: value.astype(dst.dtype).copyto(dst)

    def reshape(self, partial_shaping: bool = False, allow_up_sizing: bool = False, **shapes: Any) -> Executor:
        """A new executor for new argument shapes, sharing memory with this one (MXNet's reshape).

        An argument keeping its shape is the same array; a smaller one is a view of the start of
        the old buffer; a bigger one needs allow_up_sizing=True (a new array). An argument not
        given keeps its shape unless inference changes it, which needs partial_shaping=True.
        """
        names = self._names
        arg_shapes, _, _ = self._symbol.infer_shape_partial(**shapes)
        new: dict[str, dict[str, np.ndarray]] = {"args": {}, "grads": {}}
        for name, shape in zip(names, arg_shapes):
            old = self._args[name]
            if shape is None or None in shape or (name not in shapes and _unit_axes_apart(shape, old.shape)):
                shape = old.shape
            if name not in shapes and shape != old.shape and not partial_shaping:
                raise BindError(
                    f"reshape: the shape of {name!r}, not given, changes from {old.shape} to {shape};"
                    " pass partial_shaping=True if that is intended"
                )
            for kind, array in (("args", old), ("grads", self.grad_dict[name])):
                if array is not None:
                    new[kind][name] = _resized(np.asarray(array), shape, name, allow_up_sizing)
        return Executor(
            self._symbol,
            new["args"],
            new["grads"],
            self._grad_req,
            aux_states={n: np.asarray(a) for n, a in self.aux_dict.items()},
            backend=self._backend,
        )

    def plan_stats(self) -> dict[str, int]:
        """Steps, reused buffers and planned peak bytes of the compiled programs (and tile length if tiled)."""
        c = self._compiled
        stats = {
            "forward_steps": len(c.forward.nodes),
            "forward_buffers_reused": c.forward.reused,
            "forward_peak_bytes": c.forward.peak_bytes,
            "forward_tile": c.forward.tile,
            "saved_for_backward": len(c.saved),
        }
        if c.train is not None:
            stats["fused_steps"] = len(c.train.nodes)
            stats["fused_peak_bytes"] = c.train.peak_bytes
            stats["fused_tile"] = c.train.tile
        if c.backward is not None:
            stats["backward_steps"] = len(c.backward.nodes)
            stats["backward_buffers_reused"] = c.backward.reused
            stats["backward_peak_bytes"] = c.backward.peak_bytes
        return stats

    def forward(self, is_train: bool = False, check_finite: bool = False, **new_args: Any) -> list[Any]:
        """Run the forward program; new_args are copied into the bound arrays first.

        Returns `outputs`, the same NDArrays each call, now holding this call's results (a 0-d
        output's array is written in place). With is_train, a small graph's forward computes
        the gradients for default head gradients too, which backward() then writes: they are
        the gradients at the values this forward ran with, as a big graph's saved forward values are.
        """
        if new_args:
            self._copy_in(new_args)
        if is_train and self._early and not check_finite:
            c = self._compiled
            ran = run_train(c.forward, c.backward, self._arg_list, self._n_out, self._no_targets, self._backend)
            results, self._grads, noted, self._grads_noted = ran
            self._store_outputs(results)
            self._saved = results[self._n_out :]
            self._fused = False
            if noted is not None:
                self._warn_forward(noted)
            self._train_calls += 1
            if (
                self._train_calls == CODEGEN_AFTER_CALLS
                and self._methods_are_executors()
                and (self._backend == "numpy" or (c.forward.jit is DECLINED and c.backward.jit is DECLINED))
            ):
                trainstep.attach(self)  # where the backend runs both programs as the NumPy backend does
            return self.outputs
        self._grads = None
        train = self._compiled.train if is_train else None
        program = train or self._compiled.forward
        results, noted = run(program, self._arg_list, check_finite, "forward", (), self._backend, bool(is_train))
        self._store_outputs(results)
        self._saved = results[self._n_out :] if is_train else None
        self._fused = train is not None
        if noted is not None:  # a fused pass computed the gradients as well
            fused = () if train is None else zip(self._compiled.grad_names, self._saved)
            self._warn_forward(noted, [(f"the gradient of {n!r}", g) for n, g in fused])
        return self.outputs

    def _methods_are_executors(self) -> bool:
        """Whether forward/backward are Executor's own: generated ones would shadow a subclass's."""
        cls = type(self)
        return cls.forward is Executor.forward and cls.backward is Executor.backward

    def _warn_forward(self, noted: str, gradients: Sequence[tuple[str, Any]] = ()) -> None:
        named = [(f"output {n!r}", o._data) for n, o in zip(self._symbol.list_outputs(), self.outputs)]
        fpwarnings.warn_if_spoilt(noted, [*named, *gradients], "the forward pass")

    def _store_outputs(self, results: Sequence[Any]) -> None:
        """Each output's array into its NDArray: one plain loop, as this runs on every forward of
        what may be a two-step plan (a comprehension is a call of its own in CPython 3.11)."""
        outs = self._outs
        if outs is None:
            outs = self._outs = self._output_specs(results)
        for (d, copy, zero_d), wrapper, r in zip(outs, self.outputs, results):
            if zero_d is not None:  # often a NumPy scalar: into the output's own 0-d array
                zero_d[()] = r
                wrapper._data = zero_d
            elif type(r) is not np.ndarray or (r.dtype is not d and r.dtype != d):
                wrapper._data = np.array(r, dtype=d)
            else:
                wrapper._data = r.copy() if copy else r

    def _output_specs(self, results: Sequence[Any]) -> list[tuple]:
        """Per output: its dtype, whether it is copied on each forward (it may share memory with an
        argument or an earlier output, so that writing into an output changes no argument and no
        other output), and for a 0-d output the 0-d array of its own that each result is written into."""
        outputs = [np.asarray(r, dtype=d) for r, d in zip(results, self._out_dtypes)]
        return [
            (
                d,
                any(np.may_share_memory(o, a) for a in (*self._arg_list, *outputs[:i])),
                np.zeros((), d) if o.shape == () else None,
            )
            for i, (o, d) in enumerate(zip(outputs, self._out_dtypes))
        ]

    def _copy_in(self, new_args: dict[str, Any]) -> None:
        for name, value in new_args.items():
            target = self._args.get(name)
            if target is None:
                raise BindError(f"forward: {name!r} is not an argument; arguments: {self._names}")
            value = as_array(value, name)
            if value.shape != target.shape:
                raise BindError(
                    f"forward: argument {name!r} has shape {value.shape} but was bound with {target.shape};"
                    " bind again for new shapes"
                )
            if not target.flags.writeable or not np.can_cast(value.dtype, target.dtype, "same_kind"):
                bound_to = "a read-only" if not target.flags.writeable else "an"
                raise BindError(
                    f"forward: cannot copy a {value.dtype} array into argument {name!r}: it is bound to"
                    f" {bound_to} array of {target.dtype}; bind again instead"
                )
            np.copyto(target, value)

    def backward(self, out_grads: Any = None, check_finite: bool = False) -> None:
        """Fill the gradient arrays (grad_req 'write' or 'add') from the last forward(is_train=True)."""
        grads = self._grads
        if grads is not None and out_grads is None and not check_finite:  # forward computed them
            self._write_grads(grads)
            if self._grads_noted is not None:
                self._warn_backward(self._grads_noted)
            return
        saved = self._saved
        if saved is None:
            raise SymgradError("backward needs the values of a forward(is_train=True) call first")
        program = self._compiled.backward
        if out_grads is None and self._fused:  # the fused forward pass computed them
            if check_finite:
                saved = run(self._compiled.train, self._arg_list, True, "backward", (), self._backend)[0][self._n_out :]
            self._write_grads(saved)
            return
        if program is None and out_grads is None:
            return
        targets = self._targets
        if out_grads is None:
            values = (*saved, *self._arg_list)
        else:
            program = self._compiled.backward_with_heads()
            kept = () if self._fused else saved  # a fused pass saved gradients, not forward values
            values, targets = (*self._head_grads(out_grads), *kept, *self._arg_list), []
        grads, noted = run(program, values, check_finite, "backward", targets, self._backend)
        self._write_grads(grads)
        if noted is not None:
            self._warn_backward(noted)

    def _warn_backward(self, noted: str) -> None:
        named = ((f"the gradient of {n!r}", g) for n, (g, _) in zip(self._compiled.grad_names, self._writes))
        fpwarnings.warn_if_spoilt(noted, named, "the backward pass")

    def _write_targets(
        self, grad_names: list[str], reqs: dict[str, str], grad_arrays: dict[str, np.ndarray]
    ) -> list[np.ndarray | None]:
        """The gradient arrays the backward program may write into directly ('write' only).

        Its steps write with `out=`, which needs a C-contiguous array of the gradient's
        exact dtype that shares no memory with an argument or another gradient array
        (those are copied into, in order, as before).
        """
        program = self._compiled.backward
        if program is None or not program.writes_into:
            return []
        arrays = [grad_arrays[n] for n in grad_names]
        targets: list[np.ndarray | None] = []
        for i, (n, g) in enumerate(zip(grad_names, self._compiled.grad_dtypes)):
            t = arrays[i]
            ok = reqs[n] == "write" and type(t) is np.ndarray and t.flags.c_contiguous and t.dtype == g
            others = self._arg_list + arrays[:i] + arrays[i + 1 :]
            targets.append(t if ok and not any(np.shares_memory(t, a) for a in others) else None)
        return targets

    def _write_grads(self, grads: Sequence[Any]) -> None:
        for (target, add), g in zip(self._writes, grads):
            if add:
                target += g
            elif g is not target:
                target[...] = g  # np.copyto's work at half its cost on a small array

    def _head_grads(self, out_grads: Any) -> list[np.ndarray]:
        if not isinstance(out_grads, (list, tuple)):
            out_grads = [out_grads]
        c = self._compiled
        if len(out_grads) != len(c.out_shapes):
            raise BindError(f"backward: {len(out_grads)} head gradients for {len(c.out_shapes)} outputs")
        heads = []
        for i, (g, shape, dtype) in enumerate(zip(out_grads, c.out_shapes, c.out_dtypes)):
            if g is None:  # this output's default head, as in autograd.backward
                heads.append(np.ones(shape, dtype))
                continue
            g = as_array(g, f"out_grads[{i}]")
            if g.shape == (1,) and shape == ():  # MXNet's full reductions are (1,): its scripts pass nd.ones(1)
                g = g.reshape(())
            if g.shape != shape:
                raise BindError(f"backward: head gradient {i} has shape {g.shape}, output {i} has shape {shape}")
            heads.append(g.astype(dtype, copy=False))
        return heads


def _unit_axes_apart(inferred: tuple, bound: tuple) -> bool:
    """The shapes differ only by axes of size 1: a (1,) argument bound beside a 0-d full reduction,
    which inference shares as (), as MXNet's (1,) reductions would share (1,)."""
    return [n for n in inferred if n != 1] == [n for n in bound if n != 1]


def _resized(array: np.ndarray, shape: tuple, name: str, allow_up_sizing: bool) -> np.ndarray:
    """array itself for the same shape, a view of its first elements for a smaller one, else a new array."""
    if shape == array.shape:
        return array
    size = math.prod(shape)
    if size <= array.size and array.flags.c_contiguous:
        return array.reshape(-1)[:size].reshape(shape)
    if not allow_up_sizing:
        raise BindError(
            f"reshape: the new shape {shape} of {name!r} is larger than {array.shape}; pass allow_up_sizing=True"
            " (making a big executor first and reshaping it down shares memory instead)"
        )
    return np.zeros(shape, array.dtype)


def simple_bind(
    symbol: Symbol, grad_req: Any, type_dict: Any, shapes: dict[str, Any], dtype: Any = None, backend: str | None = None
) -> Executor:
    """Bind zero arrays of the given shapes (other shapes inferred where declared).

    Each array's dtype, as MXNet chooses it: type_dict's, else the declared or inferred one
    (a float64 variable, or one beside it, is float64), else `dtype` (symgrad's; default float32).
    """
    names = symbol.list_arguments()
    type_dict = dict(type_dict or {})
    for name, value in [*type_dict.items(), ("dtype", dtype)]:
        try:
            type_dict[name] = None if value is None else np.dtype(value)
        except TypeError:
            what = "dtype" if name == "dtype" and value is dtype else f"type_dict[{name!r}]"
            raise BindError(f"simple_bind: {what} = {value!r} is not a NumPy dtype") from None
    default = type_dict.pop("dtype", None) or np.dtype(np.float32)
    arg_shapes, _, aux_shapes = symbol.infer_shape_partial(**shapes)
    arg_types, _, aux_types = symbol.infer_type_partial(**{n: t for n, t in type_dict.items() if n in names})
    aux_names = symbol.list_auxiliary_states()
    arrays: dict[str, np.ndarray] = {}
    for name, shape, inferred in [*zip(names, arg_shapes, arg_types), *zip(aux_names, aux_shapes, aux_types)]:
        if shape is None or None in shape:  # unknown, or a rank with sizes left open
            given = ", ".join(f"{n}={s}" for n, s in shapes.items()) or "none"
            known = "cannot be inferred" if shape is None else f"is only partly inferred, as {shape}"
            raise BindError(
                f"simple_bind: the shape of argument {name!r} {known} from the shapes given ({given}); "
                f"pass {name}=(...)"
            )
        try:
            arrays[name] = np.zeros(shape, dtype=type_dict.get(name) or inferred or default)
        except MemoryError:
            raise BindError(f"simple_bind: argument {name!r} of shape {shape} does not fit in memory") from None
    args = {n: arrays.pop(n) for n in names}
    return Executor(symbol, args, None, grad_req, aux_states=arrays, backend=backend)  # arrays left: aux states


# ---- Symbol's binding methods (attached here: graph.py imports nothing above it) ----

# MXNet's other bind arguments: aux_states, device arguments accepted and unused (symgrad runs on the CPU),
# and symgrad's backend ("numpy", "jit", "auto"; compile/choice.py)
_BIND_KEYWORDS = frozenset({"aux_states", "ctx", "group2ctx", "shared_exec", "backend"})


def _bind(self: Symbol, *positional: Any, **kwargs: Any) -> Any:
    """bind(args, args_grad=None, grad_req='write'), or MXNet's bind(ctx, args, ...) with a context first."""
    if positional and isinstance(positional[0], Context):
        kwargs["ctx"], positional = positional[0], positional[1:]
    return _bind_arrays(self, *positional, **kwargs)


def _bind_arrays(self: Symbol, args: Any, args_grad: Any = None, grad_req: Any = "write", **kwargs: Any) -> Any:
    """An executor over these arrays; Dask arrays give a DaskExecutor with lazy results."""
    unknown = sorted(set(kwargs) - _BIND_KEYWORDS)
    if unknown:
        close = difflib.get_close_matches(unknown[0], ["args", "args_grad", "grad_req", *_BIND_KEYWORDS], 1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise BindError(f"bind: unknown keyword argument {unknown[0]!r}{hint}")
    values = args.values() if isinstance(args, dict) else args if isinstance(args, (list, tuple)) else ()
    if any(is_dask_array(v) for v in values):
        return DaskExecutor(self, args, grad_req)
    return Executor(self, args, args_grad, grad_req, **kwargs)


def _simple_bind(self: Symbol, *positional: Any, **kwargs: Any) -> Any:
    """Bind zero arrays of the given shapes: simple_bind(grad_req='write', ...) or MXNet's simple_bind(ctx, ...)."""
    if positional and isinstance(positional[0], Context):
        kwargs["ctx"], positional = positional[0], positional[1:]
    return _simple_bind_shapes(self, *positional, **kwargs)


def _simple_bind_shapes(
    self: Symbol,
    grad_req: Any = "write",
    type_dict: Any = None,
    ctx: Any = None,
    dtype: Any = None,
    backend: str | None = None,
    **shapes: Any,
) -> Any:
    """`dtype` (symgrad's) for the arguments with no dtype given, declared or inferred (default float32)."""
    return simple_bind(self, grad_req, type_dict, shapes, dtype, backend)


def _eval(self: Symbol, ctx: Any = None, **args: Any) -> list[np.ndarray]:
    """Evaluate every output on the given arrays."""
    return self.bind(args, grad_req="null").forward()


Symbol.bind = _bind
Symbol.simple_bind = _simple_bind
Symbol.eval = _eval
