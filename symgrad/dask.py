"""Beyond one machine's memory: the same compiled graph on Dask arrays.

The executor's plan calls NumPy functions (`np.add`, `np.dot`, `np.sum`, ...). Dask
arrays implement NumPy's dispatch protocols (`__array_ufunc__`, `__array_function__`),
so the very same compiled program, run on Dask arrays, builds a Dask graph instead of
computing: Dask then schedules it out of core or on a cluster. NumPy's fast path is
untouched. Ops whose kernels mutate arrays in place (scatter-add, item assignment)
have no Dask form; binding a graph that needs one fails at bind time, naming it.

`grad_over` evaluates a loss that is a mean or sum over a batch axis, and its
parameter gradients, chunk by chunk with the NumPy plan, reducing the partial
results as a tree; it runs on Dask's threads or on a `dask.distributed` Client.

Needs the optional extra: `pip install symgrad[dask]`.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .bindargs import bound_args
from .compile.pipeline import Compiled, compile_binding
from .errors import BindError, SymgradError
from .graph import Symbol
from .ops.registry import OPS

INSTALL_HINT = "symgrad's Dask support needs Dask: pip install 'symgrad[dask]'"


def require_dask() -> Any:
    """The dask.array module, or a SymgradError saying how to install it."""
    try:
        import dask.array as da
    except ImportError as exc:  # tested with the import blocked (tests/test_optional_deps.py)
        raise SymgradError(INSTALL_HINT) from exc
    return da


def is_dask_array(value: Any) -> bool:
    return type(value).__module__.startswith("dask.array")


def _check_dask_forms(compiled: Compiled) -> None:
    programs = [compiled.forward] + ([compiled.backward] if compiled.backward else [])
    for program in programs:
        for node in program.nodes:
            if not OPS[node.op].dask:  # its kernel writes into an array in place, or calls back into Python
                raise BindError(
                    f"op {node.op!r} ({node.name!r}) has no Dask form: its kernel writes into an array in place. "
                    "Bind NumPy arrays for this graph, or avoid integer-array indexing in the differentiated part"
                )


class DaskExecutor:
    """A symbol bound to Dask (or mixed NumPy) arrays: outputs and gradients are lazy Dask arrays."""

    def __init__(self, symbol: Symbol, args: Any, grad_req: Any = "write") -> None:
        require_dask()
        names = symbol.list_arguments()
        given = bound_args(args, names)
        self.arg_dict = {n: given[n] if is_dask_array(given[n]) else np.asarray(given[n]) for n in names}
        reqs = (
            dict.fromkeys(names, grad_req) if isinstance(grad_req, str) else {n: grad_req.get(n, "null") for n in names}
        )
        self._names = names
        self._symbol = symbol
        self._grad_names = [n for n in names if reqs[n] != "null"]
        self._add = {n: reqs[n] == "add" for n in self._grad_names}
        shapes = {n: tuple(a.shape) for n, a in self.arg_dict.items()}
        dtypes = {n: np.dtype(a.dtype) for n, a in self.arg_dict.items()}
        # Dask arrays are immutable: no writing into dead buffers (out=) on this path.
        self._compiled, self._constants = compile_binding(symbol, shapes, dtypes, self._grad_names, reuse_buffers=False)
        _check_dask_forms(self._compiled)
        self.grad_dict: dict[str, Any] = {  # None for grad_req="null", as MXNet
            n: np.zeros(shapes[n], dtypes[n]) if n in self._add else None for n in names
        }
        self.outputs: list[Any] = []
        self._saved: tuple | None = None

    def forward(self, is_train: bool = False, **new_args: Any) -> list[Any]:
        """Build the outputs as Dask arrays (call .compute() on them, or dask.compute)."""
        for name, value in new_args.items():
            if name not in self.arg_dict:
                raise BindError(f"forward: {name!r} is not an argument; arguments: {self._names}")
            if tuple(value.shape) != tuple(self.arg_dict[name].shape):
                raise BindError(
                    f"forward: argument {name!r} has shape {value.shape}, bound with {self.arg_dict[name].shape}"
                )
            self.arg_dict[name] = value
        results = self._compiled.forward.fn(*(self.arg_dict[n] for n in self._names), *self._constants)
        n_out = len(self._compiled.out_shapes)
        self.outputs = [_lazy(r) for r in results[:n_out]]
        self._saved = results[n_out:] if is_train else None
        return self.outputs

    def backward(self, out_grads: Any = None) -> None:
        """Set grad_dict to lazy Dask gradients ('add' adds to what is there)."""
        c = self._compiled
        if self._saved is None:
            raise SymgradError("backward needs the values of a forward(is_train=True) call first")
        if c.backward is None:
            return
        args = [self.arg_dict[n] for n in self._names] + list(self._constants)
        if out_grads is None:
            grads = c.backward.fn(*self._saved, *args)
        else:
            heads = list(out_grads) if isinstance(out_grads, (list, tuple)) else [out_grads]
            grads = c.backward_with_heads().fn(*heads, *self._saved, *args)
        for name, g in zip(self._grad_names, grads):
            self.grad_dict[name] = _lazy(self.grad_dict[name] + g if self._add[name] else g)


def _lazy(value: Any) -> Any:
    """A Dask array (constant-folded results come back as NumPy)."""
    return value if is_dask_array(value) else require_dask().asarray(np.asarray(value))


# ---- batch-parallel gradients ------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def _load(graph_json: str) -> Symbol:
    from .serialization import load_json

    return load_json(graph_json)


def _chunk_partial(graph_json: str, wrt: tuple, params: dict, block: dict, weight: float) -> tuple:
    """(weight*loss, [weight*grad]) of one chunk, with the compiled NumPy plan (runs on a worker)."""
    symbol = _load(graph_json)
    args = {**params, **block}
    ex = symbol.bind(args, grad_req={n: ("write" if n in wrt else "null") for n in symbol.list_arguments()})
    (loss,) = ex.forward(is_train=True)
    ex.backward()
    return float(loss) * weight, [np.asarray(ex.grad_dict[n]) * weight for n in wrt]


def _add_partials(a: tuple, b: tuple) -> tuple:
    return a[0] + b[0], [x + y for x, y in zip(a[1], b[1])]


def grad_over(
    s: Symbol,
    wrt: Any,
    data: dict[str, Any],
    params: dict[str, Any],
    chunks: int | None = None,
    reduction: str = "mean",
    client: Any = None,
) -> tuple[float, dict[str, np.ndarray]]:
    """Loss and parameter gradients of s over a data set split along axis 0.

    `s` is the loss of one batch, a mean (reduction='mean') or sum ('sum') over axis 0
    of the `data` arrays (NumPy or Dask; NumPy is split into `chunks` rows each).
    Partial results are weighted by chunk size and summed as a tree. With `client`
    (a dask.distributed Client) the chunks run on its workers, else on Dask's threads.
    """
    da = require_dask()
    import dask  # present: require_dask found dask.array

    if reduction not in ("mean", "sum"):
        raise SymgradError(f"grad_over: reduction must be 'mean' or 'sum', got {reduction!r}")
    wrt = (wrt,) if isinstance(wrt, str) else tuple(w if isinstance(w, str) else w.name for w in wrt)
    names = s.list_arguments()
    for name in (*data, *params):
        if name not in names:
            raise SymgradError(f"grad_over: {name!r} is not an argument of the loss; arguments: {names}")
    missing = [n for n in names if n not in data and n not in params]
    if missing:
        raise SymgradError(f"grad_over: no data or parameter array for {missing}")
    arrays = {}
    for name, value in data.items():
        arrays[name] = (
            value if is_dask_array(value) else da.from_array(np.asarray(value), chunks=_row_chunks(value, chunks))
        )
    first = next(iter(arrays.values()))
    splits = first.chunks[0]
    total = sum(splits)
    for name, arr in arrays.items():
        if arr.shape[0] != total:
            raise SymgradError(f"grad_over: {name!r} has {arr.shape[0]} rows, expected {total} like the other data")
        arrays[name] = arr.rechunk({0: splits})
    graph_json = s.tojson()
    params = {k: np.asarray(v) for k, v in params.items()}
    partials = []
    delayed_chunk = dask.delayed(_chunk_partial, pure=True)
    blocks = {name: arr.to_delayed().ravel() for name, arr in arrays.items()}
    for i, rows in enumerate(splits):
        weight = rows / total if reduction == "mean" else 1.0
        block = {name: blocks[name][i] for name in arrays}
        partials.append(delayed_chunk(graph_json, wrt, params, block, weight))
    while len(partials) > 1:  # pairwise tree reduction of the partial results
        partials = [
            dask.delayed(_add_partials)(partials[i], partials[i + 1]) if i + 1 < len(partials) else partials[i]
            for i in range(0, len(partials), 2)
        ]
    result = client.compute(partials[0]).result() if client is not None else partials[0].compute(scheduler="threads")
    loss, grads = result
    return loss, dict(zip(wrt, grads))


def _row_chunks(value: Any, chunks: int | None) -> tuple:
    rows = np.shape(value)[0]
    size = chunks or max(1, rows // 4)
    return (size,) + tuple(-1 for _ in np.shape(value)[1:])
