"""Token mixers that are not attention: the other layers of a hybrid model (ModelConfig.mixers).

LFM2's short convolution (Liquid AI), from a block's normalised input E (n, d_model):

    B, C, x = split(E·W_in + b_in)                         three (n, d_model) parts
    u_j = B_j ⊙ x_j                                        gated input, one per token
    y_i = Σ_{s=0}^{L−1} kernel[:, s] ⊙ u_{i−L+1+s} + b_conv   depthwise, causal: token i reads itself and the L − 1
                                                            tokens before it (none before the first)
    out_i = (C_i ⊙ y_i)·W_out + b_out

So token j reaches token i (0 ≤ i − j < L) through C_i ⊙ kernel[:, L−1−(i−j)] ⊙ u_j, a linear term per source that
`short_conv_sources` returns for the contribution graph. The convolution is causal whatever the page's causal
switch says: that switch sets attention's mask, and a convolution has no mask, only its kernel's reach.

Weights: blocks.{l}.conv.W_in [d_model, 3·d_model], conv.kernel [d_model, L], conv.W_out [d_model, d_model], and
where the model has them conv.b_in, conv.b_conv, conv.b_out.

The other mixers have modules of their own, Qwen3.5's gated delta rule (delta_net.py) and Mamba-2's scan (mamba.py);
`mix` runs whichever a layer has.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from . import blocks
from .config import ModelConfig
from .delta_net import delta_net
from .linear import linear
from .mamba import ssm
from .recurrence import causal_conv
from .selective_scan import selective_scan

Weights = Mapping[str, torch.Tensor]


def mix(x_in: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig) -> torch.Tensor:
    """What a layer without attention mixes in (..., n, d_model) from its normalised input x_in: its short convolution,
    its gated delta rule (delta_net.py), its state-space scan (mamba.py) or Mamba's selective scan
    (selective_scan.py); nothing (zeros) where it mixes no tokens."""
    if cfg.mixers[layer] == "none":  # Nemotron-H's MLP-only layers
        return torch.zeros_like(x_in)
    if cfg.mixers[layer] == "gated_delta":
        return delta_net(x_in, w, layer, cfg)
    if cfg.mixers[layer] == "ssm":
        return ssm(x_in, w, layer, cfg)
    if cfg.mixers[layer] == "selective_scan":
        return selective_scan(x_in, w, layer, cfg)
    return short_conv(x_in, w, layer)


def beside_attention(
    attn_out: torch.Tensor, resid: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig,
    x_in: torch.Tensor | None = None,
) -> torch.Tensor:
    """What an attention layer mixes in (..., n, d_model): its attention output `attn_out`, plus, where the model runs
    a Mamba-2 scan beside the heads, that scan's output (`scan_beside`)."""
    scan = scan_beside(resid, w, layer, cfg, x_in)
    return attn_out if scan is None else attn_out + scan


def scan_beside(
    resid: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig, x_in: torch.Tensor | None = None
) -> torch.Tensor | None:
    """(..., n, d_model) the output of the Mamba-2 scan beside `layer`'s heads (Falcon-H1:
    ModelConfig.ssm_beside_attention) on the heads' normalised input (x_in, computed from the block's input `resid`
    when not given); None where the model runs no such scan."""
    if not cfg.ssm_beside_attention:
        return None
    x_in = blocks.attention_input(resid, w, layer, cfg) if x_in is None else x_in
    return ssm(x_in, w, layer, cfg)


def conv_gates(x_in: torch.Tensor, w: Weights, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(u, C) from the block's normalised input (n, d_model): the gated input u = B ⊙ x and the output gate C."""
    p = f"blocks.{layer}.conv."
    B, C, x = linear(x_in, w[p + "W_in"], w.get(p + "b_in")).chunk(3, dim=-1)  # (n, d_model) each
    return B * x, C


def convolve(u: torch.Tensor, w: Weights, layer: int, n_out: int) -> torch.Tensor:
    """y for the last n_out rows of u (..., m, d_model): each row the kernel over itself and the L − 1 rows before
    it (zeros before the first). u may start before the outputs (generation's earlier tokens)."""
    p = f"blocks.{layer}.conv."
    return causal_conv(u, w[p + "kernel"], w.get(p + "b_conv"), n_out)  # (..., n_out, d_model)


def short_conv(x_in: torch.Tensor, w: Weights, layer: int, before: torch.Tensor | None = None) -> torch.Tensor:
    """The short convolution's output (..., n, d_model) for the normalised input x_in (..., n, d_model). `before`:
    the gated inputs u (m, d_model) of the tokens before these (generation's cache; only the last L − 1 count)."""
    u, C = conv_gates(x_in, w, layer)  # (..., n, d_model) each
    full = u if before is None else torch.cat([before, u])  # (earlier + n, d_model)
    y = convolve(full, w, layer, u.shape[-2])  # (..., n, d_model)
    p = f"blocks.{layer}.conv."
    return linear(C * y, w[p + "W_out"], w.get(p + "b_out"))  # (n, d_model)


def short_conv_sources(x_in: torch.Tensor, w: Weights, layer: int, query: int) -> tuple[torch.Tensor, torch.Tensor]:
    """What each earlier token adds to `query`'s convolution output: (sources (m,) token positions, terms
    (m, d_model)), terms[s] = (C_query ⊙ kernel[:, L−1−(query − j)] ⊙ u_j)·W_out for source j = sources[s]. They sum
    to the output less its constant part ((C ⊙ b_conv)·W_out + b_out), which `short_conv_constant` gives."""
    p = f"blocks.{layer}.conv."
    kernel = w[p + "kernel"]  # (d_model, L)
    L = kernel.shape[-1]
    first = max(0, query - L + 1)
    u, C = conv_gates(x_in[first : query + 1], w, layer)  # (m, d_model) each
    taps = kernel[:, L - 1 - (query - first) :].T.to(u.dtype)  # (m, d_model): the tap each source meets
    terms = (C[-1] * taps * u) @ _matrix(w, p + "W_out", u)  # (m, d_model)
    return torch.arange(first, query + 1), terms


def short_conv_constant(x_in: torch.Tensor, w: Weights, layer: int, query: int) -> torch.Tensor:
    """(d_model,) the part of `query`'s convolution output no token sends: the conv bias through its gate, and
    W_out's bias (zeros for a model without biases)."""
    p = f"blocks.{layer}.conv."
    out = torch.zeros(w[p + "kernel"].shape[0], dtype=x_in.dtype, device=x_in.device)
    if p + "b_conv" in w:
        _, C = conv_gates(x_in[query : query + 1], w, layer)  # (1, d_model)
        out = (C[0] * w[p + "b_conv"].to(x_in.dtype)) @ _matrix(w, p + "W_out", x_in)
    return out + w[p + "b_out"].to(x_in.dtype) if p + "b_out" in w else out


def _matrix(w: Weights, name: str, like: torch.Tensor) -> torch.Tensor:
    return w[name].to(like.dtype)
