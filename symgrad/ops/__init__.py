"""The op registry and every op family; `register` declares user ops."""

from . import elementwise, layers, linalg, nn, reduction, shape  # noqa: F401  (registration order)
from .registry import OPS, OpDef, register

__all__ = ["OPS", "OpDef", "register"]
