"""MXNet's device contexts: symgrad computes with NumPy on the CPU, so a context names where, and changes nothing.

MXNet code passes one everywhere (`c.bind(mx.cpu(), args)`, `simple_bind(ctx, ...)`,
`nd.array(x, ctx=ctx)`); these accept it so that the code runs as written.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import numpy as np

from .errors import SymgradError

DEVICE_TYPES = ("cpu", "gpu", "cpu_pinned", "cpu_shared")  # MXNet's names


class Context:
    """A device: `cpu(0)`, or `gpu(i)`, which symgrad accepts and runs on the CPU as well."""

    __slots__ = ("device_type", "device_id", "_tokens")

    def __init__(self, device_type: str | Context = "cpu", device_id: int = 0) -> None:
        if isinstance(device_type, Context):
            device_type, device_id = device_type.device_type, device_type.device_id
        if device_type not in DEVICE_TYPES:
            raise SymgradError(f"Context: unknown device type {device_type!r}; use one of {DEVICE_TYPES}")
        self.device_type = device_type
        self.device_id = device_id
        self._tokens: list[Any] = []

    def __enter__(self) -> Context:
        """`with mx.gpu(0):` makes this the default context inside the block, as in MXNet."""
        self._tokens.append(_CURRENT.set(self))
        return self

    def __exit__(self, *exc: object) -> None:
        _CURRENT.reset(self._tokens.pop())

    def __repr__(self) -> str:
        return f"{self.device_type}({self.device_id})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Context) and (self.device_type, self.device_id) == (
            other.device_type,
            other.device_id,
        )

    def __hash__(self) -> int:
        return hash((self.device_type, self.device_id))


_CURRENT: ContextVar[Context | None] = ContextVar("symgrad_context", default=None)  # None: the CPU


def cpu(device_id: int = 0) -> Context:
    """The CPU context, where symgrad computes."""
    return Context("cpu", device_id)


def gpu(device_id: int = 0) -> Context:
    """A GPU context as MXNet names one; symgrad has no GPU backend, so arrays stay on the CPU."""
    return Context("gpu", device_id)


def current_context() -> Context:
    """The default context: the CPU, or the innermost `with context:` block's."""
    return _CURRENT.get() or Context("cpu", 0)


def num_gpus() -> int:
    """GPUs symgrad can use: none (so `mx.gpu() if mx.context.num_gpus() else mx.cpu()` picks the CPU)."""
    return 0


def creation_dtype(name: str, ctx: Any, dtype: Any, stype: Any) -> Any:
    """nd.zeros/ones/full's dtype (None: float32, as MXNet); a ctx or stype that MXNet refuses is refused."""
    if ctx is not None and not isinstance(ctx, (Context, str)):
        raise SymgradError(f"nd.{name}: ctx={ctx!r} is not a context (mx.cpu()); a shape of 2+ axes is a tuple")
    if stype not in (None, "default"):
        raise SymgradError(f"nd.{name}: stype={stype!r}: symgrad's arrays are dense; leave stype out")
    return np.float32 if dtype is None else dtype
