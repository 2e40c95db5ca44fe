"""The SymgradError tree and the user-line bookkeeping every error quotes."""

from __future__ import annotations

import linecache
import os
import re
import sys

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

# Capturing the user's line costs well under a microsecond per op; users may switch it off.
TRACK_ORIGIN = [os.environ.get("SYMGRAD_TRACK_ORIGIN", "1") != "0"]


def set_track_origin(enabled: bool) -> None:
    """Turn on or off remembering the file and line that built each Symbol."""
    TRACK_ORIGIN[0] = bool(enabled)


_INSIDE: dict = {}  # file name -> whether it belongs to symgrad (checked once per file; a str caches its
# hash where a code object's is recomputed on every lookup, which cost eager W6 ~2% per recorded op)


def user_origin() -> tuple[str, int] | None:
    """(file, line) of the innermost caller outside the symgrad package (called from inside it)."""
    if not TRACK_ORIGIN[0]:
        return None
    try:
        frame = sys._getframe(2)  # frame 1 is symgrad's own caller
    except ValueError:  # called from the top of the stack
        return None
    inside = _INSIDE
    while frame is not None:
        filename = frame.f_code.co_filename
        known = inside.get(filename)
        if known is None:
            known = inside[filename] = filename.startswith(_PACKAGE_DIR)
        if not known:
            return (filename, frame.f_lineno)
        frame = frame.f_back
    return None


def user_frame_depth() -> int:
    """The `stacklevel` for warnings.warn, called by its caller, that names the user's line."""
    frame = sys._getframe(1)  # the function about to call warnings.warn: stacklevel 1
    level = 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level if frame is not None else 1


def describe_origin(origin: tuple[str, int] | None) -> str:
    """'built at file:line: <source>' for messages ('In [3], line 4' in a notebook), or '' when unknown."""
    if not origin:
        return ""
    filename, lineno = origin[0], origin[1]  # gradient nodes carry (file, line, order)
    source = linecache.getline(filename, lineno).strip()
    cell = _notebook_cell(filename)
    where = f"{filename}:{lineno}" if cell is None else f"In [{cell}], line {lineno}"
    return f"\n  built at {where}" + (f": {source}" if source else "")


def _notebook_cell(filename: str) -> int | None:
    """The execution count of the IPython cell compiled as filename (IPython's own map), else None."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    cells = getattr(getattr(shell, "compile", None), "_filename_map", None)
    return cells.get(filename) if isinstance(cells, dict) else None


def origin_name(origin: tuple[str, int] | None) -> str | None:
    """The name the user's line gives a value: `y` in `y = nd.log(x)`, `x` in `x.attach_grad()`."""
    if not origin:
        return None
    match = _NAMED.match(linecache.getline(origin[0], origin[1]))
    return match.group(1) if match else None


_NAMED = re.compile(r"\s*([A-Za-z_]\w*)\s*(?:\.attach_grad\(|=(?!=))")


class SymgradError(Exception):
    """Base class of every error symgrad raises on purpose."""


class ShapeError(SymgradError, ValueError):
    """Input shapes that an op cannot combine."""


class BindError(SymgradError, ValueError):
    """A missing, extra or ill-shaped argument given to bind or forward."""


class UnknownNameError(SymgradError, KeyError):
    """A name that is not a key of an executor's arg_dict, grad_dict or aux_dict (a KeyError too, as in MXNet)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""  # a KeyError would print its message quoted


class GraphFormatError(SymgradError, ValueError):
    """Malformed or untrusted graph text (JSON) that cannot be loaded."""


class AutogradError(SymgradError, RuntimeError):
    """Misuse of eager recording and backward."""


class NonFiniteError(SymgradError, FloatingPointError):
    """A node turned finite inputs into NaN or Inf while checking was on."""


class ExpressionError(SymgradError, ValueError):
    """Text that is not a symgrad expression (the CLI parser)."""


class BackendError(SymgradError, ValueError):
    """An unknown backend name, or the jit backend asked for without Numba installed."""
