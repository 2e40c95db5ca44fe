"""An index written back as the user wrote it, for printed graphs and for errors about indexing."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ShapeError, SymgradError
from .indexing import decode_index, encode_index


def format_index(key: tuple) -> str:
    """An encoded index as the user writes it: `:, 1`, `[0, 2]`, `None`."""
    parts = []
    for item in decode_index(key):
        if item is None:
            parts.append("None")
        elif item is Ellipsis:
            parts.append("...")
        elif isinstance(item, slice):
            text = ":".join("" if v is None else str(v) for v in (item.start, item.stop))
            parts.append(text + (f":{item.step}" if item.step is not None else ""))
        elif isinstance(item, np.ndarray):
            parts.append(str(item.tolist()))
        else:
            parts.append(str(item))
    return ", ".join(parts)


def setitem_error(data: np.ndarray, index: Any, value: Any, exc: Exception) -> ShapeError:
    """x[index] = value refused by NumPy, said in the user's terms: the index, shapes and dtypes at fault."""
    try:
        where = f"NDArray[{format_index(encode_index(index, data))}] = value"
    except SymgradError:
        where = "NDArray[...] = value"
    about = f"the NDArray has shape {data.shape} and dtype {data.dtype}"
    if isinstance(exc, IndexError):
        return ShapeError(f"{where}: {exc} ({about})")
    if isinstance(value, str) or np.asarray(value).dtype.kind not in "biufcm":
        return ShapeError(f"{where}: cannot store {value!r} in an NDArray of {data.dtype} ({about})")
    selected = np.shape(data[index])
    return ShapeError(
        f"{where}: a value of shape {np.shape(value)} does not broadcast to the selection's shape {selected}"
        f" ({about}); give a value of shape {selected}, or one that broadcasts to it"
    )
