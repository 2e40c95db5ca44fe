"""`symgrad.sym`: the define-then-run namespace (mxnet.sym style)."""

from __future__ import annotations

from typing import Any

from .autodiff import grad, hvp, jacobian
from .graph import Group, Symbol, Variable, var
from .ops import api as _api
from .ops import registry as _registry
from .ops.api import *  # noqa: F403 - the public spellings (maximum's constant-first swap, Concat, ...)
from .ops.api import binary_operator as _binary_operator  # noqa: F401
from .printing import from_sympy
from .serialization import load, load_json
from .simplify import simplify

__all__ = [
    "Group",
    "Symbol",
    "Variable",
    "var",
    "grad",
    "hvp",
    "jacobian",
    "simplify",
    "from_sympy",
    "load",
    "load_json",
]


def _publish(name: str, builder: Any) -> None:
    """sym.<name> for every registered op (api.py's spelling wins where it has one)."""
    if not name.startswith("_") and not hasattr(_api, name):
        globals()[name] = builder


_registry.on_register(_publish)  # every op, and user ops registered later, appear as sym.<name>
