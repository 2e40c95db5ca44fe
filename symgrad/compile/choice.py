"""Which backend runs plans: "numpy" (the default, no compiler), "jit" (the Numba VM) or "auto".

Chosen per executor (`bind(..., backend=...)`), else globally (`symgrad.set_backend`),
else by the environment variable SYMGRAD_BACKEND when symgrad is imported. "auto" runs a
program in the VM when Numba is installed and its values are small (where the VM wins:
a NumPy call costs about a microsecond whatever the size), else with NumPy.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable

from ..errors import BackendError
from .plan import Program
from .vmcode import numpy_function

BACKENDS = ("numpy", "jit", "auto")
INSTALL_HINT = "pip install symgrad[jit]"
# "auto" uses the VM for a program whose values all have at most this many elements: W5's
# 16-element steps run 9x faster in the VM, W2's 2,048-element ones as fast as with NumPy
# (benchmarks/RESULTS.md); above that NumPy's SIMD loops and BLAS win.
AUTO_MAX_ELEMENTS = 2_048

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
    if program.tile or (backend == "auto" and not _small(program)):
        # a jit forward may hand this program its saved values as a Frame
        return program.fn if program.frame_at is None else numpy_function(program)
    if program.jit is None:
        from . import jitvm

        program.jit = jitvm.vm_function(program)
    return program.jit


def _small(program: Program) -> bool:
    return all(n.shape is not None and math.prod(n.shape) <= AUTO_MAX_ELEMENTS for n in program.nodes)


if os.environ.get("SYMGRAD_BACKEND"):
    set_backend(os.environ["SYMGRAD_BACKEND"])
