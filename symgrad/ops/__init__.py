"""The op registry and every op family; `register` declares user ops."""

from . import (  # noqa: F401  (registration order)
    api,  # noqa: F401 - attaches Symbol's operators and indexing
    elementwise,
    layers,
    linalg,
    nn,
    rearrange,
    reduction,
    shape,
    sorting,
)
from .registry import OPS, OpDef, register

__all__ = ["OPS", "OpDef", "register"]
