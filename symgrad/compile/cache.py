"""The one plan cache: least recently used, bounded in entries and in bytes.

Bound executors, Dask executors and eager `backward` all keep their compiled plans
here, keyed by structure, shapes and dtypes (`key.structure_key`). A graph's constants
are not part of the key: an entry holds the plan specialised to the constants it was
first compiled with and, once the same structure comes back with other values, a
generic plan that takes them as inputs (see `lookup`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from ..errors import SymgradError
from .key import same_values

DEFAULT_MAX_ENTRIES = 512
DEFAULT_MAX_BYTES = 256 * 2**20


class CacheInfo(NamedTuple):
    """Hit and miss counts and sizes of the plan cache, as functools.lru_cache's cache_info()."""

    hits: int
    misses: int
    maxsize: int
    currsize: int
    maxbytes: int
    currbytes: int


class Entry:
    """The plans of one structure: specialised to `values`, and generic once values changed."""

    __slots__ = ("values", "specialised", "generic", "nbytes")

    def __init__(self, values: list, specialised: Any, nbytes: int) -> None:
        self.values = values
        self.specialised = specialised
        self.generic: Any = None
        self.nbytes = nbytes


class PlanCache:
    """An LRU map from structure keys to Entries, within max_entries and max_bytes."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self._entries: OrderedDict[tuple, Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.hits = 0
        self.misses = 0

    def lookup(
        self,
        key: tuple,
        values: list,
        specialise: Callable[[], tuple[Any, int]],
        generalise: Callable[[], tuple[Any, int]],
        keep: bool = True,
    ) -> tuple[Any, Sequence[Any]]:
        """(plan, the constant values to pass it): the cached plan for key, compiled on a miss.

        A new structure compiles `specialise()` (constants folded in as the simplifier
        likes: `2*dot(x, x)` differentiates to `4*x`); that plan serves only those very
        values. When the structure comes back with other values, `generalise()` compiles
        a plan taking the constants as inputs, which serves every value from then on (so
        a loop whose scalar or index changes each step compiles twice in all). Each
        callable returns (plan, estimated bytes it holds). keep=False compiles without
        caching (a plan holding per-call objects).
        """
        with self._lock:
            entry = self._entries.get(key) if keep else None
            if entry is not None:
                self._entries.move_to_end(key)
        if entry is not None:
            if entry.generic is not None:
                self.hits += 1
                return entry.generic, values
            if same_values(entry.values, values):
                self.hits += 1
                return entry.specialised, ()
            self.misses += 1
            plan, nbytes = generalise()
            with self._lock:
                if entry.generic is None:
                    entry.generic = plan
                    entry.values = []  # the specialised plan stays for nothing else; its constants go
                    self._resize(entry, entry.nbytes + nbytes)
            return plan, values
        self.misses += 1
        plan, nbytes = specialise()
        if keep:
            with self._lock:
                old = self._entries.pop(key, None)
                if old is not None:
                    self.nbytes -= old.nbytes
                entry = Entry(values, plan, 0)
                self._entries[key] = entry
                self._resize(entry, nbytes + _values_bytes(values) + 16 * len(key))
        return plan, ()

    def _resize(self, entry: Entry, nbytes: int) -> None:
        """Set entry's size and evict the least recently used entries beyond the limits (lock held)."""
        self.nbytes += nbytes - entry.nbytes
        entry.nbytes = nbytes
        entries = self._entries
        while entries and (len(entries) > self.max_entries or self.nbytes > self.max_bytes):
            _, evicted = entries.popitem(last=False)
            self.nbytes -= evicted.nbytes

    def clear(self) -> None:
        """Forget every plan (hit and miss counts stay)."""
        with self._lock:
            self._entries.clear()
            self.nbytes = 0

    def info(self) -> CacheInfo:
        return CacheInfo(self.hits, self.misses, self.max_entries, len(self._entries), self.max_bytes, self.nbytes)

    def set_limit(self, entries: int | None = None, nbytes: int | None = None) -> None:
        with self._lock:
            if entries is not None:
                self.max_entries = entries
            if nbytes is not None:
                self.max_bytes = nbytes
            if self._entries:
                first = next(iter(self._entries.values()))
                self._resize(first, first.nbytes)


def _values_bytes(values: list) -> int:
    return sum(getattr(v, "nbytes", 0) + 32 for v in values)


CACHE = PlanCache()


def cache_info() -> CacheInfo:
    """Hits, misses, entries and estimated bytes of the plan cache (and their limits)."""
    return CACHE.info()


def set_cache_limit(entries: int | None = None, nbytes: int | None = None) -> CacheInfo:
    """Bound the plan cache to `entries` plans and about `nbytes` bytes (least recently used go first).

    Returns the cache's info before the change. `entries=0` keeps no plan at all.
    """
    for name, limit in (("entries", entries), ("nbytes", nbytes)):
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 0):
            raise SymgradError(f"set_cache_limit: {name} must be a non-negative int, got {limit!r}")
    before = CACHE.info()
    CACHE.set_limit(entries, nbytes)
    return before


def clear_cache() -> None:
    """Forget every compiled plan (the next bind or backward of any structure compiles afresh)."""
    CACHE.clear()
