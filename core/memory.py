"""Give memory that is no longer used back to the operating system between steps.

A whole `npd run` does stage, validate, link and load in one process. What a step freed
is not always returned: Arrow's allocator (mimalloc or jemalloc) and glibc's malloc keep
freed pages for reuse, so the next step's DuckDB buffers would be counted on top of the
last step's peak. Releasing them takes well under a millisecond. (No gc.collect: what a
step frees goes by reference counting, and a full collection with Great Expectations
loaded takes about half a second.)
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache


@cache
def _malloc_trim():
    """glibc's malloc_trim, or None (musl, macOS: nothing to trim this way)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_unused() -> None:
    """Hand back the free pages Arrow's memory pool and malloc hold."""
    if "pyarrow" in sys.modules:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
