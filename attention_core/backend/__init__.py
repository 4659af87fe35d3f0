"""The CPU-only speed tricks, behind one interface; the rest of the engine imports only this module.

    prepare_pass_weights   what the forward pass reads: fused projections, packed for oneDNN on the CPU
    release_pages          drop the mapped weight file's pages once the pass reads packed copies instead
    trim_heap              give freed heap back to the OS after a long pass (glibc)
    set_threads_for        torch's thread count for a request of n tokens
    packing_available      whether this PyTorch build packs matrices for oneDNN

Inside: onednn.py (packing), memory_pages.py (madvise), heap.py (malloc_trim), threads.py (thread policy).
Every trick is a no-op where unsupported, so the numbers never depend on which ones are on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

from ..config import ModelConfig
from . import heap, memory_pages, onednn
from .threads import SMALL_WORK_TOKENS, set_threads_for


def packing_available() -> bool:
    """True where this PyTorch build packs matrices for oneDNN and the packed product is right."""
    return onednn.available()


def packs_on(device: torch.device, dtype: torch.dtype = torch.float32) -> bool:
    """Whether the pass on `device` reads packed matrices: float32 weights on the CPU, where oneDNN is
    available. The packing is checked and measured for float32 only, so half-precision weights stay plain."""
    return device.type == "cpu" and dtype == torch.float32 and packing_available()


def prepare_pass_weights(
    weights: Mapping[str, torch.Tensor], config: ModelConfig, device: torch.device, dtype: torch.dtype = torch.float32
) -> dict[str, torch.Tensor]:
    """A new dict of what the forward pass reads: `weights` plus fused projections, packed on the CPU when
    the weights are float32.

    Never writes to `weights` (see blocks.fast_weights for what is fused and packed).
    """
    from ..blocks import fast_weights  # blocks.py imports this package for `pack`/`linear`: import on use

    return fast_weights(weights, config, packs_on(device, dtype))


def release_pages(tensors: Iterable[torch.Tensor]) -> int:
    """Drop the resident pages of the weight-file mappings these CPU tensors point into; bytes released."""
    return memory_pages.release(tensors)


def trim_heap() -> None:
    """Return the heap's free pages to the OS (no-op where unsupported)."""
    heap.trim()


# The packed product, for the forward pass's `linear`.
pack = onednn.pack
is_packed = onednn.is_packed
packed_linear = onednn.packed_linear

__all__ = [
    "SMALL_WORK_TOKENS",
    "is_packed",
    "pack",
    "packed_linear",
    "packing_available",
    "packs_on",
    "prepare_pass_weights",
    "release_pages",
    "set_threads_for",
    "trim_heap",
]
