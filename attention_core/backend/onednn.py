"""Weight matrices pre-packed for oneDNN, the CPU matmul library PyTorch ships with.

A plain `x @ W` re-arranges W into the kernel's blocked layout on every call. With few rows (a
32-token text) that re-arranging costs as much as the product itself; packing each matrix once at load
made SmolLM2's 32-token trace plus logits 1.7× faster (0.118 → 0.068 s) and a 512-token one ~13% faster
(1.02 → 0.88 s), measured back to back in one process on the 2-core CPU; bench/engine.py has the tables.
Packing is a lossless change of layout: the products are ordinary float32 products whose sums run in
another order, so results equal `x @ W` up to float32 rounding (tests/engine/test_packed.py).

Only the forward pass reads packed matrices (`Model.context.pass_weights`); `Model.weights` keeps the canonical
ones.
"""

from __future__ import annotations

import functools
import os

import torch

ENV = "ATTN_PACKED_WEIGHTS"  # "0" turns packing off (plain matmuls everywhere)
# oneDNN picks the packed layout for a typical row count; 32 (a short text, the interactive case) measured
# ~10% faster than no hint at 32 tokens and the same at 512 and 2048.
ROWS_HINT = 32


@functools.cache
def available() -> bool:
    """True where this PyTorch build has oneDNN's packed linear and it agrees with a plain matmul."""
    if os.environ.get(ENV, "1") == "0" or not torch.backends.mkldnn.is_available():
        return False
    try:
        gen = torch.Generator().manual_seed(0)
        W = torch.randn(24, 40, generator=gen)  # (d_in, d_out)
        x = torch.randn(3, 24, generator=gen)
        b = torch.randn(40, generator=gen)
        y = packed_linear(x, pack(W), b)
    except (RuntimeError, AttributeError, NotImplementedError):  # a build without these ops
        return False
    return bool(torch.allclose(y, torch.addmm(b, x, W), rtol=1e-5, atol=1e-5))


def pack(W: torch.Tensor) -> torch.Tensor:
    """A float32 CPU matrix W (d_in, d_out) → an opaque oneDNN tensor for `packed_linear` (shape (d_out, d_in))."""
    return torch.ops.mkldnn._reorder_linear_weight(W.T, ROWS_HINT)  # reads the transposed view directly


def is_packed(W: torch.Tensor) -> bool:
    return W.is_mkldnn


def packed_linear(x: torch.Tensor, packed: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """x (..., d_in) @ W + b, W given packed; any leading dimensions."""
    return torch.ops.mkldnn._linear_pointwise(x, packed, b, "none", [], "")


def unpack(packed: torch.Tensor) -> torch.Tensor:
    """The canonical (d_in, d_out) matrix back (a copy), for checks."""
    return packed.to_dense().T
