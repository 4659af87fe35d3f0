"""LFM2's short convolution (Liquid AI), one of a hybrid's token mixers (mixers.py), from a block's normalised input
E (n, d_model):

    B, C, x = split(E·W_in + b_in)                         three (n, d_model) parts
    u_j = B_j ⊙ x_j                                        gated input, one per token
    y_i = Σ_{s=0}^{L−1} kernel[:, s] ⊙ u_{i−L+1+s} + b_conv   depthwise, causal: token i reads itself and the L − 1
                                                            tokens before it (none before the first)
    out_i = (C_i ⊙ y_i)·W_out + b_out

So token j reaches token i (0 ≤ i − j < L) through C_i ⊙ kernel[:, L−1−(i−j)] ⊙ u_j, a linear term per source that
`source_terms` returns for the contribution graph. The convolution is causal whatever the page's causal switch
says: that switch sets attention's mask, and a convolution has no mask, only its kernel's reach.

Weights: blocks.{l}.conv.W_in [d_model, 3·d_model], conv.kernel [d_model, L], conv.W_out [d_model, d_model], and
where the model has them conv.b_in, conv.b_conv, conv.b_out.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from .config import ModelConfig
from .linear import linear
from .recurrence import CarriedState, carried, causal_conv

Weights = Mapping[str, torch.Tensor]


def conv_gates(x_in: torch.Tensor, w: Weights, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(u, C) from the block's normalised input (n, d_model): the gated input u = B ⊙ x and the output gate C."""
    p = f"blocks.{layer}.conv."
    B, C, x = linear(x_in, w[p + "W_in"], w.get(p + "b_in")).chunk(3, dim=-1)  # (n, d_model) each
    return B * x, C


def _output(u: torch.Tensor, C: torch.Tensor, w: Weights, layer: int, before: torch.Tensor | None) -> torch.Tensor:
    """(..., n, d_model) out for gated inputs u and gates C (..., n, d_model); `before`: the gated inputs (m, d_model)
    of the tokens before these (only the last L − 1 count), or None at the start of the text."""
    p = f"blocks.{layer}.conv."
    full = u if before is None else torch.cat([before, u])  # (earlier + n, d_model)
    y = causal_conv(full, w[p + "kernel"], w.get(p + "b_conv"), u.shape[-2])  # (..., n, d_model)
    return linear(C * y, w[p + "W_out"], w.get(p + "b_out"))


def short_conv(x_in: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig) -> torch.Tensor:
    """The short convolution's output (..., n, d_model) for the normalised input x_in (..., n, d_model)."""
    return _output(*conv_gates(x_in, w, layer), w, layer, None)


def conv_step(x_in: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig, before: CarriedState | None):
    """(output (n, d_model), what later tokens need: the last L − 1 gated inputs) for tokens after those `before`
    carried (generation). A convolution keeps no state beyond its inputs: the carried state is empty."""
    u, C = conv_gates(x_in, w, layer)  # (n, d_model) each
    out = _output(u, C, w, layer, None if before is None else before.conv_inputs)
    return out, carried(before, u, w[f"blocks.{layer}.conv.kernel"], u.new_zeros(0))


def source_terms(x_in: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig, query: int):
    """(sources (m,) token positions, terms (m, d_model) float32, the part no token sends (d_model,) float32):
    terms[s] = (C_query ⊙ kernel[:, L−1−(query − j)] ⊙ u_j)·W_out for source j = sources[s]; the constant part is the
    conv bias through the query's gate, and W_out's bias (zeros for a model without biases). They add up to the
    layer's output at the query."""
    p = f"blocks.{layer}.conv."
    kernel = w[p + "kernel"]  # (d_model, L)
    L = kernel.shape[-1]
    first = max(0, query - L + 1)
    u, C = conv_gates(x_in[first : query + 1], w, layer)  # (m, d_model) each
    u, C = u.float(), C.float()
    taps = kernel[:, L - 1 - (query - first) :].T.float()  # (m, d_model): the tap each source meets
    W_out = w[p + "W_out"].float()
    terms = (C[-1] * taps * u) @ W_out  # (m, d_model)
    constant = terms.new_zeros(kernel.shape[0])
    if p + "b_conv" in w:
        constant = (C[-1] * w[p + "b_conv"].float()) @ W_out
    if p + "b_out" in w:
        constant = constant + w[p + "b_out"].float()
    return torch.arange(first, query + 1), terms, constant
