"""The op registry and every op family; `register` declares user ops."""

from . import (  # noqa: F401  (registration order)
    api,  # noqa: F401 - attaches Symbol's operators and indexing
    arrays,
    elementwise,
    layers,
    linalg,
    nn,
    rearrange,
    reduction,
    shape,
    slicing,
    sorting,
    special,
)
from .registry import OPS, OpDef, register

__all__ = ["OPS", "OpDef", "register"]
