"""`symgrad.io`: MXNet's NDArrayIter, DataBatch and DataDesc, the data side of `Module.fit`.

Arrays become NDArrays as `nd.array` makes them (float32 unless already an NDArray), as in MXNet.
The iterator follows MXNet 1.x exactly, so a seeded program sees the same batches: shuffling
permutes the arrays with NumPy's global generator at creation and on every `reset()`, and the
last incomplete batch is padded from the start (`'pad'`, with `batch.pad` rows to ignore),
dropped (`'discard'`) or carried into the next epoch (`'roll_over'`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .errors import SymgradError
from .nd import NDArray
from .nd import array as nd_array

LAST_BATCH = ("pad", "discard", "roll_over")


class DataDesc(tuple):
    """(name, shape) of one input, with its dtype and layout (MXNet's DataDesc unpacks as a pair)."""

    def __new__(cls, name: str, shape: Any, dtype: Any = np.float32, layout: str = "NCHW") -> DataDesc:
        desc = super().__new__(cls, (name, tuple(int(s) for s in shape)))
        desc.dtype, desc.layout = np.dtype(dtype), layout
        return desc

    @property
    def name(self) -> str:
        return self[0]

    @property
    def shape(self) -> tuple[int, ...]:
        return self[1]

    def __repr__(self) -> str:
        return f"DataDesc[{self.name},{self.shape},{self.dtype},{self.layout}]"


class DataBatch:
    """One batch: lists of data and label arrays; `pad` trailing rows repeat earlier samples."""

    def __init__(
        self,
        data: list[Any],
        label: list[Any] | None = None,
        pad: int = 0,
        index: Any = None,
        provide_data: list[DataDesc] | None = None,
        provide_label: list[DataDesc] | None = None,
    ) -> None:
        if not isinstance(data, (list, tuple)):
            raise SymgradError(f"DataBatch: data must be a list of arrays, got {type(data).__name__}")
        self.data, self.label, self.pad, self.index = list(data), label, pad, index
        self.provide_data, self.provide_label = provide_data, provide_label

    def __repr__(self) -> str:
        shapes = [tuple(np.shape(d)) for d in self.data]
        labels = [tuple(np.shape(lab)) for lab in self.label or []]
        return f"DataBatch: data shapes: {shapes} label shapes: {labels} pad: {self.pad}"


class DataIter:
    """Base of data iterators: `for batch in it`, `reset()`, `provide_data`, `provide_label`."""

    def __init__(self, batch_size: int = 0) -> None:
        self.batch_size = batch_size

    def __iter__(self) -> Iterator[DataBatch]:
        return self

    def __next__(self) -> DataBatch:
        return self.next()

    def next(self) -> DataBatch:
        raise NotImplementedError  # each iterator says how it makes a batch

    def reset(self) -> None:
        """Back to the first batch (a subclass with state overrides it)."""


def _named_arrays(data: Any, default_name: str, what: str) -> list[tuple[str, np.ndarray]]:
    """MXNet's data arguments (an array, a list of arrays or a dict of them) as (name, array) pairs."""
    if data is None:
        return []
    if isinstance(data, dict):
        pairs = sorted(data.items())  # MXNet orders named inputs by name
    elif isinstance(data, (list, tuple)) and data and not np.isscalar(data[0]):
        names = [default_name] if len(data) == 1 else [f"_{i}_{default_name}" for i in range(len(data))]
        pairs = list(zip(names, data))
    else:
        pairs = [(default_name, data)]
    out = []
    for name, array in pairs:
        array = (array if isinstance(array, NDArray) else nd_array(array)).asnumpy()  # MXNet: float32 unless an NDArray
        if array.ndim == 0:
            raise SymgradError(f"NDArrayIter: {what} {name!r} is a scalar; it needs a first (batch) axis")
        out.append((name, array))
    return out


class NDArrayIter(DataIter):
    """Batches of in-memory arrays along their first axis (MXNet's NDArrayIter)."""

    def __init__(
        self,
        data: Any,
        label: Any = None,
        batch_size: int = 1,
        shuffle: bool = False,
        last_batch_handle: str = "pad",
        data_name: str = "data",
        label_name: str = "softmax_label",
    ) -> None:
        super().__init__(batch_size)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise SymgradError(f"NDArrayIter: batch_size must be a positive int, got {batch_size!r}")
        if last_batch_handle not in LAST_BATCH:
            raise SymgradError(f"NDArrayIter: last_batch_handle must be one of {LAST_BATCH}, got {last_batch_handle!r}")
        self.data = _named_arrays(data, data_name, "data")
        if not self.data:
            raise SymgradError("NDArrayIter: no data given")
        self.label = _named_arrays(label, label_name, "label")
        self.num_data = len(self.data[0][1])
        wrong = [(n, a.shape) for n, a in self.data + self.label if len(a) != self.num_data]
        if wrong:
            raise SymgradError(
                f"NDArrayIter: every array needs {self.num_data} samples along axis 0 (as {self.data[0][0]!r});"
                f" {wrong[0][0]!r} has shape {wrong[0][1]}"
            )
        self.idx = np.arange(self.num_data)
        self.shuffle, self.last_batch_handle = shuffle, last_batch_handle
        self.cursor = -batch_size
        self._cache: dict[str, list[np.ndarray]] = {}  # roll_over: the last incomplete batch, for the next epoch
        self.reset()

    @property
    def provide_data(self) -> list[DataDesc]:
        return [DataDesc(n, (self.batch_size, *a.shape[1:]), a.dtype) for n, a in self.data]

    @property
    def provide_label(self) -> list[DataDesc]:
        return [DataDesc(n, (self.batch_size, *a.shape[1:]), a.dtype) for n, a in self.label]

    def hard_reset(self) -> None:
        """To the start, dropping any rolled-over samples."""
        if self.shuffle:
            self._shuffle()
        self.cursor = -self.batch_size
        self._cache = {}

    def reset(self) -> None:
        if self.shuffle:
            self._shuffle()
        n, size = self.num_data, self.batch_size
        if self.last_batch_handle == "roll_over" and n - size < self.cursor < n:
            self.cursor = self.cursor - n - size  # the next batch starts with the rolled-over samples
        else:
            self.cursor = -size

    def iter_next(self) -> bool:
        self.cursor += self.batch_size
        return self.cursor < self.num_data

    def next(self) -> DataBatch:
        if not self.iter_next():
            raise StopIteration
        data, label = self._batch(self.data, "data"), self._batch(self.label, "label")
        if len(data[0]) != self.batch_size:  # an incomplete last batch: kept for roll_over, never given
            self._cache = {"data": data, "label": label}
            raise StopIteration
        return DataBatch([NDArray(d) for d in data], [NDArray(x) for x in label], pad=self.getpad())

    def getpad(self) -> int:
        size, n = self.batch_size, self.num_data
        if self.last_batch_handle == "pad" and self.cursor + size > n:
            return self.cursor + size - n
        if self.last_batch_handle == "roll_over" and -size < self.cursor < 0:
            return -self.cursor
        return 0

    def _batch(self, source: list[tuple[str, np.ndarray]], kind: str) -> list[np.ndarray]:
        start, size, n = self.cursor, self.batch_size, self.num_data
        if self.last_batch_handle == "roll_over" and -size < start < 0 and kind in self._cache:
            rolled = self._cache.pop(kind)
            return [np.concatenate([r, a[: start + size]]) for r, (_, a) in zip(rolled, source)]
        if self.last_batch_handle == "pad" and start + size > n:
            refill = np.arange(start + size - n) % n  # from the start, repeated if the data is short
            return [np.concatenate([a[start:], a[refill]]) for _, a in source]
        return [a[max(start, 0) : min(start + size, n)] for _, a in source]

    def _shuffle(self) -> None:
        np.random.shuffle(self.idx)  # MXNet's order of calls, so np.random.seed(n) repeats its batches
        self.data = [(n, a[self.idx]) for n, a in self.data]
        self.label = [(n, a[self.idx]) for n, a in self.label]
