"""Griffin's recurrent block with its Real-Gated Linear Recurrent Unit (RG-LRU; RecurrentGemma's "recurrent" layers),
written out.

From a block's normalised input E (n, d_model), with W channels in H blocks of W/H:

    y = GeLU(E·W_y + b_y)                                   (n, W): the gate branch
    x = causal depthwise conv over the last L tokens of E·W_x + b_x, + b_conv        (n, W)
    i_t = σ(x_t·W_i + b_i),  r_t = σ(x_t·W_r + b_r)         block-diagonal: one (W/H × W/H) map a block
    log a_t = −8 · r_t ⊙ softplus(Λ)                        a_t ∈ (0, 1): a decay per channel
    h_t = a_t ⊙ h_{t−1} + √(1 − a_t²) ⊙ i_t ⊙ x_t            h_{−1} = 0; at the text's first token the factor is 1
    out_t = (h_t ⊙ y_t)·W_out + b_out

Unrolled, h_t = Σ_{s≤t} exp(Σ_{r=s+1..t} log a_r) ⊙ u_s with u_s = √(1 − a_s²) ⊙ i_s ⊙ x_s: a weight per channel and
source, so, as for Mamba's selective scan, no one weight per head, but the contribution graph splits the layer's
output by source exactly (`source_terms`: the gate y is the query's own, so each source's part is linear).

Weights: blocks.{l}.lru.W_x, .W_y [d_model, W] and .b_x, .b_y [W]; .kernel [W, L], .b_conv [W]; .W_i, .W_r
[H, W/H, W/H] and .b_i, .b_r [H, W/H]; .Lambda [W]; .W_out [W, d_model], .b_out [d_model].
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .config import ModelConfig
from .linear import linear
from .recurrence import CarriedState, carried, causal_conv, each_sequence

Weights = Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class LruInputs:
    """One layer's per-token quantities, float32 (n, W): the decays' logs log a, the inputs u the state adds, the gate
    y."""

    log_a: torch.Tensor
    u: torch.Tensor
    y: torch.Tensor


def projected(x_in: torch.Tensor, w: Weights, layer: int) -> torch.Tensor:
    """E·W_x + b_x (..., n, W): what the layer's convolution reads (and a generation carries)."""
    p = f"blocks.{layer}.lru."
    return linear(x_in, w[p + "W_x"], w[p + "b_x"])


def _block_gate(x: torch.Tensor, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """σ(x·W + b) with W block-diagonal (H, W/H, W/H): each block of channels through its own map."""
    blocks = x.unflatten(-1, (W.shape[0], W.shape[1])).transpose(0, 1)  # (H, n, W/H)
    return torch.sigmoid(torch.baddbmm(b.float()[:, None, :], blocks, W.float()).transpose(0, 1).flatten(-2))


def inputs(x_in: torch.Tensor, w: Weights, layer: int, before: torch.Tensor | None = None) -> LruInputs:
    """LruInputs for the tokens of x_in (n, d_model); `before`: E·W_x + b_x of the tokens before them (generation),
    None where the first of them is the text's first token."""
    p = f"blocks.{layer}.lru."
    mixed = projected(x_in, w, layer)  # (n, W)
    full = mixed if before is None else torch.cat([before, mixed])
    x = causal_conv(full, w[p + "kernel"], w[p + "b_conv"], mixed.shape[0]).float()  # (n, W)
    i, r = _block_gate(x, w[p + "W_i"], w[p + "b_i"]), _block_gate(x, w[p + "W_r"], w[p + "b_r"])
    log_a = -8.0 * r * F.softplus(w[p + "Lambda"].float())  # (n, W)
    scale = torch.sqrt(1 - torch.exp(2 * log_a))
    if before is None:  # the text's first token: no state to fade, and its input is not scaled down
        scale[0] = 1.0
    y = F.gelu(linear(x_in, w[p + "W_y"], w[p + "b_y"]).float(), approximate="tanh")
    return LruInputs(log_a, scale * i * x, y)


def recur(d: LruInputs, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(h at every token (n, W), the last h (W,)): the recurrence over the tokens, one at a time, from h."""
    h = d.u.new_zeros(d.u.shape[-1]) if h is None else h
    a = d.log_a.exp()
    out = []
    for t in range(d.u.shape[0]):
        h = a[t] * h + d.u[t]
        out.append(h)
    return torch.stack(out), h


def output(h: torch.Tensor, d: LruInputs, w: Weights, layer: int) -> torch.Tensor:
    """(n, d_model): h gated by y, through W_out."""
    p = f"blocks.{layer}.lru."
    return linear((h * d.y).to(w[p + "W_out"].dtype), w[p + "W_out"], w[p + "b_out"])


def rg_lru(x_in: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig) -> torch.Tensor:
    """The layer's output (..., n, d_model) for its normalised input x_in (..., n, d_model) (leading dims: the
    ablation sweep's variants, each its own sequence)."""

    def one(x: torch.Tensor) -> torch.Tensor:
        d = inputs(x, w, layer)
        return output(recur(d)[0], d, w, layer).to(x.dtype)

    return each_sequence(one, x_in)


def lru_step(x_in: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig, before: CarriedState | None):
    """(output (n, d_model), the state after these tokens) for tokens after those `before` carried (generation)."""
    d = inputs(x_in, w, layer, None if before is None else before.conv_inputs)
    h, last = recur(d, None if before is None else before.state)
    after = carried(before, projected(x_in, w, layer), w[f"blocks.{layer}.lru.kernel"], last)
    return output(h, d, w, layer).to(x_in.dtype), after


def source_terms(x_in: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig, query: int):
    """(sources (m,) positions 0..query, terms (m, d_model) float32, the part no token sends (d_model,): b_out): what
    each source sends to `query`'s output, (exp(Σ_{r=s+1..query} log a_r) ⊙ u_s ⊙ y_query)·W_out. The terms and that
    part add up to the layer's output at the query."""
    p = f"blocks.{layer}.lru."
    d = inputs(x_in[: query + 1], w, layer)
    log_a = d.log_a.double()  # (m, W); float64: the sums below are differences of long sums
    after = log_a.flip(0).cumsum(0).flip(0) - log_a  # (m, W): Σ_{r=s+1..query} log a_r
    kept = after.exp().float() * d.u  # (m, W): what the state holds of each source at the query
    terms = (kept * d.y[query]) @ w[p + "W_out"].float()  # (m, d_model)
    return torch.arange(query + 1), terms, w[p + "b_out"].float()
