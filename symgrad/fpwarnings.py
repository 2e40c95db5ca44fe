"""NumPy's floating-point warnings, reported once per run at the user's line.

A compiled plan or an eager op runs with NumPy's warnings silenced and only noted. A
NaN or Inf that symgrad makes on purpose and then masks (a `where` branch not taken,
the gradient of `norm` at 0) never reaches an output, so nothing is said. A value the
user's own input causes (the log of a negative number they gave) reaches an output,
so one RuntimeWarning names the event and the outputs, pointing at the user's line
rather than at a line inside symgrad.

Inside `autograd.record()`, when the user left NumPy's error state as NumPy starts, the
noting state is set once for the block (`enter_section`) rather than around each eager
op: switching it costs as much as the op itself (a 0-d multiply). A floating-point error
that the user's own NumPy code makes there is warned at their line as NumPy would warn
(`_section_note`); np.geterr() inside the block shows the 'call' modes.
"""

from __future__ import annotations

import contextvars
import functools
import os
import sys
import threading
import warnings
from collections.abc import Iterable
from typing import Any

import numpy as np

from .errors import NonFiniteError, describe_origin, origin_name, user_frame_depth


class _Noted(threading.local):
    kinds: list[str] | None = None  # the NumPy error kinds noted in this thread's current run


_noted = _Noted()
# Bumped by every thread on every note: a run reads it before and after, and only when it
# moved looks up its own thread's kinds (a thread-local read costs as much as a small step).
NOTES = [0]


def _note(kind: str, _flag: int) -> None:
    NOTES[0] += 1
    kinds = _noted.kinds
    if kinds is None:
        _noted.kinds = [kind]
    elif kind not in kinds:
        kinds.append(kind)


def take_noted() -> str | None:
    """The kinds of error noted since `start` ('invalid value', ...), cleared, or None."""
    kinds = _noted.kinds
    if kinds is None:
        return None
    _noted.kinds = None
    return " and ".join(kinds)


_NUMPY_DIR = os.path.dirname(np.__file__) + os.sep
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _section_note(kind: str, flag: int) -> None:
    """An error inside record(): noted if a symgrad op made it, else warned at the user's line as NumPy does."""
    frame = sys._getframe(1)  # the Python frame that called the ufunc
    while frame is not None and frame.f_code.co_filename.startswith(_NUMPY_DIR):
        frame = frame.f_back  # a NumPy function in Python (np.linalg.norm): its caller decides
    if frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        _note(kind, flag)
    else:
        warnings.warn(f"{kind} encountered", RuntimeWarning, stacklevel=2)


def _make_noting_state(callback: Any) -> Any:
    with np.errstate(all="call", under="ignore", call=callback):  # underflow to 0 is never worth a word
        return _extobj.get()


# `start()` notes NumPy's floating-point errors instead of warning, until `restore(token)`;
# then, if NOTES[0] moved meanwhile, `take_noted()` says what was noted. They run once per
# plan run and per eager op, so on NumPy 2 start and restore are the C calls of its
# error-state context variable (0.1 us each, where np.errstate's context manager costs
# 1.3 us), and a run that noted nothing calls no Python function.
try:
    from numpy._core._ufunc_config import _extobj_contextvar as _extobj

    _NOTING = _make_noting_state(_note)
    start = functools.partial(_extobj.set, _NOTING)
    restore = _extobj.reset
    SECTION = _make_noting_state(_section_note)  # the state inside record(): eager ops leave it as it is
    state = _extobj.get
    _DEFAULT = contextvars.Context().run(_extobj.get)  # NumPy's own state, as a fresh context has it

    def enter_section() -> Any:
        """Set the noting state for a record() block if NumPy's state is its default; the token for leave_section."""
        previous = _extobj.get()
        if previous is not _DEFAULT:  # the user's own settings (np.seterr, np.errstate) or an outer block
            return None
        _extobj.set(SECTION)
        return previous

    def leave_section(previous: Any) -> None:
        """Restore NumPy's state after a record() block (unless the user's code inside set its own)."""
        if previous is not None and _extobj.get() is SECTION:
            _extobj.set(previous)

    def noting_context() -> contextvars.Context:
        """A context whose `run(f)` runs f in the noting state, as start() and restore() around it do, for
        a third of their cost (the state is set once, in the context, not per run). Each holder needs its
        own: a context cannot be entered twice at once (a second thread's run raises RuntimeError)."""
        context = contextvars.Context()
        context.run(_extobj.set, _NOTING)
        return context

except ImportError:  # a NumPy that moved this private name: the public context manager, entered by hand

    def start() -> Any:
        """Note NumPy's floating-point errors instead of warning, until `restore(token)`."""
        state = np.errstate(all="call", under="ignore", call=_note)
        state.__enter__()
        return state

    def restore(token: Any) -> None:
        """Restore NumPy's error state as it was before `start`."""
        token.__exit__(None, None, None)

    SECTION = object()  # never NumPy's state: every eager op sets and restores it

    class _NotingRun:
        """run(f): f between start() and restore(), as a noting context runs it."""

        def run(self, f: Any) -> Any:
            token = start()
            try:
                return f()
            finally:
                restore(token)

    def noting_context() -> Any:
        """Something whose `run(f)` runs f in the noting state (see the other noting_context)."""
        return _NotingRun()

    def state() -> None:
        """NumPy's error state: unknown without the private name."""

    def enter_section() -> None:
        """No record() section without the private name: each eager op sets the state."""

    def leave_section(previous: Any) -> None:
        """Nothing to restore (see enter_section)."""


def warn_if_spoilt(kind: str, outputs: Iterable[tuple[str, Any]], where: str) -> None:
    """One RuntimeWarning at the user's line if the noted error left NaN or Inf in an output."""
    spoilt = [name for name, value in outputs if _has_non_finite(value)]
    if spoilt:
        warnings.warn(
            f"{kind} encountered in {where}: NaN or Inf in {', '.join(spoilt)}",
            RuntimeWarning,
            stacklevel=user_frame_depth(),
        )


def _has_non_finite(value: Any) -> bool:
    array = np.asarray(value)
    return array.dtype.kind in "fc" and not np.isfinite(array).all()


def check_made_finite(op: str, inputs: tuple, values: list, out: np.ndarray, origin: Any) -> None:
    """detect_anomaly's check of a recorded op: NaN/Inf made from finite inputs raises, naming the
    inputs as the user's lines name them (`y` from `y = x * 2`, `x` from `x.attach_grad()`)."""
    finite = [np.isfinite(v).all() for v in values if np.asarray(v).dtype.kind == "f"]
    if out.dtype.kind != "f" or np.isfinite(out).all() or not all(finite):
        return
    kinds = "/".join(k for k, test in (("NaN", np.isnan), ("Inf", np.isinf)) if test(out).any())
    names = [_user_name(x) for x in inputs]
    ranges = ", ".join(
        f"{n} {np.shape(v)} in [{np.min(v):.4g}, {np.max(v):.4g}]" for n, v in zip(names, values) if np.size(v)
    )
    raise NonFiniteError(
        f"{op}({', '.join(names)}) produced {kinds} from finite inputs in the forward pass\n  inputs: {ranges}"
        + describe_origin(origin)
    )


def _user_name(value: Any) -> str:
    """What the user calls an op input: the name its line gave it, else what it is."""
    if not hasattr(value, "_is_ndarray"):
        return repr(value)
    node = value._node
    name = origin_name(getattr(node, "origin", None)) if node is not None else None
    return name or f"an array of shape {value.shape}"
