"""Return big tensor buffers to the OS when they are freed (glibc only; a no-op elsewhere).

glibc serves an allocation from its heap unless it is larger than the mmap threshold, and raises that
threshold (up to 32 MiB) each time a large mmap-ed block is freed. A trace allocates and frees many
1–20 MB buffers, so after the first few they all come from the heap, whose freed space glibc rarely gives
back: the process's resident memory then stays near its worst moment. A fixed 1 MiB threshold keeps such
buffers in their own mappings, released on free. Measured with bench/engine.py's worker at 2048 tokens:
peak RSS 1.77–1.79 GiB with it against 1.90–2.13 GiB without, at the same speed within noise.
Set ATTN_MALLOC_TUNING=0 to leave glibc's defaults.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
THRESHOLD_BYTES = 1 << 20


def tune() -> bool:
    """Set the fixed mmap threshold; True if glibc accepted it."""
    if not sys.platform.startswith("linux") or os.environ.get("ATTN_MALLOC_TUNING", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, THRESHOLD_BYTES))
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        return False
