"""Which backend runs plans: "numpy" (the default, no compiler), "jit" (the Numba VM) or "auto".

Chosen per executor (`bind(..., backend=...)`), else globally (`symgrad.set_backend`),
else by the environment variable SYMGRAD_BACKEND when symgrad is imported. "jit" runs a
program in the VM where its values are small (`vmcode.VM_MAX_ELEMENTS`: where a NumPy
call's fixed cost dominates), else with NumPy; "auto" is "jit" when Numba is installed
and "numpy" when it is not (no error).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

from ..errors import BackendError
from .plan import Program
from .vmcode import DECLINED, numpy_function

BACKENDS = ("numpy", "jit", "auto")
INSTALL_HINT = "pip install symgrad[jit]"

_backend = ["numpy"]


def check(name: str) -> str:
    """name if it is a backend that can run here; a BackendError naming the choices or the install hint."""
    if name not in BACKENDS:
        raise BackendError(f"unknown backend {name!r}; choose one of {list(BACKENDS)}")
    if name == "jit" and not numba_installed():
        raise BackendError(f"the jit backend needs Numba, which is not installed: {INSTALL_HINT}")
    return name


@functools.cache
def numba_installed() -> bool:
    """Numba can be imported (the jit extra is installed)."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def set_backend(name: str) -> None:
    """Run plans with this backend from now on, where bind is not given one ("numpy", "jit" or "auto")."""
    _backend[0] = check(name)


def get_backend() -> str:
    """The backend plans run with where bind is not given one."""
    return _backend[0]


def resolve(name: str | None) -> str:
    """The backend a binding uses: its own, else the global one; "auto" without Numba is "numpy"."""
    name = _backend[0] if name is None else check(name)
    return "numpy" if name == "auto" and not numba_installed() else name


def program_function(program: Program, backend: str) -> Callable[..., tuple]:
    """The function that runs program with this backend (the VM's is built once, on first use)."""
    if backend == "numpy":
        return program.fn
    if program.tile or program.jit is DECLINED:
        # a jit forward may hand this program its saved values as a Frame
        return program.fn if program.frame_at is None else numpy_function(program)
    if program.jit is None:
        from . import jitvm

        program.jit = jitvm.vm_function(program)
    return program.jit


if os.environ.get("SYMGRAD_BACKEND"):
    set_backend(os.environ["SYMGRAD_BACKEND"])
