"""`symgrad.model`: MXNet's checkpoints, a symbol's JSON beside a file of its parameters.

`save_checkpoint(prefix, epoch, symbol, arg_params, aux_params)` writes `prefix-symbol.json` and
`prefix-%04d.params` (the parameters keyed `arg:<name>` and `aux:<name>`, as MXNet names them);
`load_checkpoint(prefix, epoch)` gives the three back. `nd.save(fname, data)` and `nd.load(fname)`
(attached to `nd` here) write and read NDArrays, a list or a dict of them. The files are NumPy's
npz format read without pickles, so a file cannot run code; MXNet's binary files do not load.
"""

from __future__ import annotations

import zipfile
from typing import Any

import numpy as np

from . import nd
from .errors import SymgradError
from .graph import Symbol
from .nd import NDArray
from .serialization import load as load_symbol

_KIND = "__symgrad_kind__"  # the npz entry saying whether the file holds a list or a dict


def save(fname: str, data: Any) -> None:
    """Write an NDArray, a list of them or a dict of them (str keys) to fname (MXNet's nd.save)."""
    if isinstance(data, (NDArray, np.ndarray)):
        data = [data]
    if isinstance(data, dict):
        bad = [k for k in data if not isinstance(k, str) or k == _KIND]
        if bad:
            raise SymgradError(f"nd.save: dict keys must be strings (and not {_KIND!r}), got {bad[0]!r}")
        kind, arrays = "dict", dict(data)
    elif isinstance(data, (list, tuple)):
        kind, arrays = "list", {str(i): a for i, a in enumerate(data)}
    else:
        raise SymgradError(f"nd.save: data must be an NDArray, a list or a dict of them, got {type(data).__name__}")
    plain = {}
    for key, value in arrays.items():
        if not isinstance(value, (NDArray, np.ndarray)):
            raise SymgradError(f"nd.save: {key!r} is a {type(value).__name__}, not an NDArray")
        plain[key] = value.asnumpy() if isinstance(value, NDArray) else value
    with open(fname, "wb") as file:  # a file object, so NumPy adds no .npz to the name
        np.savez(file, **{_KIND: np.array(kind)}, **plain)


def load(fname: str) -> list[NDArray] | dict[str, NDArray]:
    """What nd.save wrote: a list or a dict of NDArrays (MXNet's nd.load)."""
    try:
        with np.load(fname, allow_pickle=False) as stored:
            kind = str(stored[_KIND]) if _KIND in stored.files else None
            arrays = {k: NDArray(stored[k]) for k in stored.files if k != _KIND}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise SymgradError(f"nd.load: {fname!r} is not a file nd.save wrote ({exc})") from None
    if kind == "list":
        return [arrays[str(i)] for i in range(len(arrays))]
    if kind == "dict":
        return arrays
    raise SymgradError(f"nd.load: {fname!r} is an npz file but not one nd.save wrote (no {_KIND!r} entry)")


nd.save, nd.load = save, load


def save_checkpoint(
    prefix: str, epoch: int, symbol: Symbol, arg_params: dict[str, Any], aux_params: dict[str, Any]
) -> None:
    """prefix-symbol.json and prefix-<epoch>.params, as MXNet's model.save_checkpoint."""
    if symbol is not None:
        symbol.save(f"{prefix}-symbol.json")
    params = {f"arg:{k}": v for k, v in arg_params.items()}
    params.update({f"aux:{k}": v for k, v in aux_params.items()})
    save(f"{prefix}-{epoch:04d}.params", params)


def load_params(fname: str) -> tuple[dict[str, NDArray], dict[str, NDArray]]:
    """(arg_params, aux_params) of a .params file save_checkpoint wrote."""
    stored = load(fname)
    if not isinstance(stored, dict) or any(not k.startswith(("arg:", "aux:")) for k in stored):
        raise SymgradError(f"load_params: {fname!r} holds no 'arg:'/'aux:' parameters")
    args = {k[4:]: v for k, v in stored.items() if k.startswith("arg:")}
    return args, {k[4:]: v for k, v in stored.items() if k.startswith("aux:")}


def load_checkpoint(prefix: str, epoch: int) -> tuple[Symbol, dict[str, NDArray], dict[str, NDArray]]:
    """(symbol, arg_params, aux_params) that save_checkpoint wrote."""
    return (load_symbol(f"{prefix}-symbol.json"), *load_params(f"{prefix}-{epoch:04d}.params"))
