"""The compile pipeline shared by the executor, Dask and eager mode: structure keys,
constants lifted as plan inputs, and the one bounded plan cache."""

from .cache import CACHE, CacheInfo, cache_info, clear_cache, set_cache_limit
from .key import lift_constants, same_values, structure_key

__all__ = [
    "CACHE",
    "CacheInfo",
    "cache_info",
    "clear_cache",
    "lift_constants",
    "same_values",
    "set_cache_limit",
    "structure_key",
]
