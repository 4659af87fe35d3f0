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


def libc_function(name: str, opt_out_env: str) -> Callable[..., int] | None:
    """The C library's function `name` (through ctypes) on Linux; None elsewhere, where the C library
    lacks it (musl, ...), or when the environment variable `opt_out_env` is "0"."""
    if not sys.platform.startswith("linux") or os.environ.get(opt_out_env, "1") == "0":
        return None
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = libc_function("malloc_trim", "ATTN_MALLOC_TRIM")


def trim() -> None:
    """Return the heap's free pages to the OS (no-op where unsupported)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
