"""Give the heap's free memory back to the OS after a forward pass (glibc only; a no-op elsewhere).

A forward pass allocates and frees many 1–30 MB buffers. glibc serves most of them from its heap and
rarely returns freed heap space, so the process's resident memory would stay near the pass's worst moment
while the trace's logits and the app's figures are allocated on top. `trim()` after each pass hands the
free space back (malloc_trim; a few milliseconds). Measured with bench/engine.py's worker at 2048 tokens:
see README. (A fixed low mmap threshold gave the same memory but made traces ~20 % and the overview's
pooling 2.5× slower, every buffer then being fresh zeroed pages: not used.)
Set ATTN_MALLOC_TRIM=0 to skip it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Callable


def _load_trim() -> Callable[[], None] | None:
    if not sys.platform.startswith("linux") or os.environ.get("ATTN_MALLOC_TRIM", "1") == "0":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        malloc_trim = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to trim
        return None
    return lambda: malloc_trim(0)


_TRIM = _load_trim()


def trim() -> None:
    """Return the heap's free pages to the OS (no-op where unsupported)."""
    if _TRIM is not None:
        _TRIM()
