"""Giving freed memory back to the operating system between the phases of a load."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache

import pyarrow as pa


@cache
def _malloc_trim() -> ctypes._CFuncPtr | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has no malloc_trim)
        return None


def release_freed_memory() -> None:
    """Return the memory extraction freed to the OS: pyarrow's pool and glibc's malloc
    (connectorx, drivers) keep freed pages for reuse, and DuckDB, which allocates on its own,
    would stack its buffer pool on top of them (about 90 MB of a 2,000,000-row extraction's
    were still held when its load began)."""
    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
