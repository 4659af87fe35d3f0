"""The one linear map every projection goes through: x·W + b, with W possibly packed for oneDNN on the CPU."""

from __future__ import annotations

import torch

from . import backend


def linear(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
    """x (..., d_in) @ W (d_in, d_out) + b; W may be pre-packed for oneDNN (see backend/onednn.py)."""
    if backend.is_packed(W):
        return backend.packed_linear(x, W, b)
    if b is None:
        return x @ W
    if x.dim() == 2:
        return torch.addmm(b, x, W)  # one fused BLAS call on the common un-batched path
    return x @ W + b


def project_heads(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor | None, n_heads: int) -> torch.Tensor:
    """x (..., n, d_model) @ W (d_model, n_heads·d_head) → (..., n_heads, n, d_head)."""
    y = linear(x, W, b)  # (..., n, n_heads * d_head)
    return y.unflatten(-1, (n_heads, -1)).transpose(-3, -2)  # (..., n_heads, n, d_head)
