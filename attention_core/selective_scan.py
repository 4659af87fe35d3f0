"""Mamba's selective scan (the first Mamba, as Jamba's "mamba" layers run it), written out.

From a block's normalised input E (n, d_model), with D channels, a state of N numbers a channel and a step rank R:

    x, z = split(E·W_in + b_in)                                       (n, D) each
    x = SiLU(causal depthwise conv over the last L tokens of x)
    dt, B, C = split(x·W_x)                                           (n, R), (n, N), (n, N)
    (Jamba: dt, B and C each through an RMSNorm of their own)
    Δ = softplus(dt·W_dt + dt_bias)                                    (n, D): a step per token and channel
    h_t = exp(Δ_t ⊙ A) ⊙ h_{t−1} + (Δ_t ⊙ x_t) B_tᵀ                    h: (D, N), A = −exp(A_log): (D, N)
    y_t = h_t C_t + D ⊙ x_t,   out_t = (y_t ⊙ SiLU(z_t))·W_out + b_out

Unlike Mamba-2 (mamba.py) every channel has its own decay for each state number, so there is no one weight per head
and source: unrolled, y_t[c] = Σ_{s≤t} x_s[c] Δ_s[c] Σ_n C_t[n] B_s[n] exp(A[c, n] Σ_{r=s+1..t} Δ_r[c]) + D[c] x_t[c],
a weight per channel and source. The contribution graph splits the layer's output by source through it exactly
(`source_terms`: the gate is the query's own, so each source's part is linear).

Weights: blocks.{l}.ssm.W_in [d_model, 2·D], .kernel [D, L] (.b_conv), .W_x [D, R + 2·N], .W_dt [R, D], .dt_bias [D],
.A_log [D, N], .D [D], .W_out [D, d_model] (.b_in, .b_out), and Jamba's .dt_norm.w [R], .B_norm.w [N], .C_norm.w [N];
ModelConfig.selective_shape (D, N, R), conv_kernel.
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
SOURCES_AT_ONCE = 64  # sources formed together in source_terms: (64, D, N) floats at a time


@dataclass(frozen=True)
class SelectiveInputs:
    """One layer's per-token quantities, float32: x, z and Δ (n, D), B and C (n, N)."""

    x: torch.Tensor
    z: torch.Tensor
    dt: torch.Tensor
    B: torch.Tensor
    C: torch.Tensor


def _split(x_in: torch.Tensor, w: Weights, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, z) from E·W_in + b_in."""
    p = f"blocks.{layer}.ssm."
    x, z = linear(x_in, w[p + "W_in"], w.get(p + "b_in")).chunk(2, dim=-1)
    return x, z


def _norm(t: torch.Tensor, w: Weights, name: str, eps: float) -> torch.Tensor:
    """Jamba's RMSNorm on dt, B or C where the layer has one; t itself otherwise."""
    return t if name not in w else F.rms_norm(t, (t.shape[-1],), w[name].float(), eps)


def inputs(x_in: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig, before: torch.Tensor | None = None):
    """SelectiveInputs for the tokens of x_in (n, d_model); `before`: x (before the convolution) of the tokens before
    them (generation)."""
    _, N, R = cfg.selective_shape
    p = f"blocks.{layer}.ssm."
    x, z = _split(x_in, w, layer)
    full = x if before is None else torch.cat([before, x])
    x = F.silu(causal_conv(full, w[p + "kernel"], w.get(p + "b_conv"), x.shape[0])).float()  # (n, D)
    dt, B, C = (x @ w[p + "W_x"].float()).split([R, N, N], dim=-1)
    dt, B, C = (_norm(t, w, p + f"{name}_norm.w", cfg.norm_eps) for t, name in ((dt, "dt"), (B, "B"), (C, "C")))
    delta = F.softplus(dt @ w[p + "W_dt"].float() + w[p + "dt_bias"].float())  # (n, D)
    return SelectiveInputs(x, z.float(), delta, B, C)


def _A(w: Weights, layer: int) -> torch.Tensor:
    return -w[f"blocks.{layer}.ssm.A_log"].float().exp()  # (D, N)


def recur(d: SelectiveInputs, A: torch.Tensor, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(y without D's term (n, D), the last h (D, N)): the scan over the tokens, one at a time, from h."""
    h = d.x.new_zeros(A.shape) if h is None else h
    out = []
    for t in range(d.x.shape[0]):
        h = (d.dt[t, :, None] * A).exp() * h + (d.dt[t] * d.x[t])[:, None] * d.B[t]
        out.append(h @ d.C[t])  # (D,)
    return torch.stack(out), h


def output(y: torch.Tensor, d: SelectiveInputs, w: Weights, layer: int) -> torch.Tensor:
    """(n, d_model): y plus D's term, gated by SiLU(z), through W_out."""
    p = f"blocks.{layer}.ssm."
    gated = (y + w[p + "D"].float() * d.x) * F.silu(d.z)
    return linear(gated.to(w[p + "W_out"].dtype), w[p + "W_out"], w.get(p + "b_out"))


def selective_scan(x_in: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig) -> torch.Tensor:
    """The layer's output (..., n, d_model) for its normalised input x_in (..., n, d_model) (leading dims: the
    ablation sweep's variants, each its own sequence)."""

    def one(x: torch.Tensor) -> torch.Tensor:
        d = inputs(x, w, layer, cfg)
        return output(recur(d, _A(w, layer))[0], d, w, layer).to(x.dtype)

    return each_sequence(one, x_in)


def selective_step(x_in: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig, before: CarriedState | None):
    """(output (n, d_model), the state after these tokens) for tokens after those `before` carried (generation)."""
    d = inputs(x_in, w, layer, cfg, None if before is None else before.conv_inputs)
    y, h = recur(d, _A(w, layer), None if before is None else before.state)
    after = carried(before, _split(x_in, w, layer)[0], w[f"blocks.{layer}.ssm.kernel"], h)
    return output(y, d, w, layer).to(x_in.dtype), after


def source_terms(x_in: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig, query: int):
    """(sources (m,) positions 0..query, terms (m, d_model) float32, the part no token sends (d_model,)): what each
    source sends to `query`'s output through the query's gate. The terms and that part (b_out) add up to the layer's
    output at the query; D's term is the query's own."""
    p = f"blocks.{layer}.ssm."
    d, A = inputs(x_in[: query + 1], w, layer, cfg), _A(w, layer)
    after = d.dt.flip(0).cumsum(0).flip(0) - d.dt  # (m, D): Σ_{r=s+1..query} Δ_r
    sent = torch.empty_like(d.x)  # (m, D)
    for start in range(0, query + 1, SOURCES_AT_ONCE):
        s = slice(start, start + SOURCES_AT_ONCE)
        decay = (after[s, :, None] * A).exp()  # (k, D, N)
        sent[s] = d.x[s] * d.dt[s] * (decay * (d.B[s, None, :] * d.C[query])).sum(-1)
    sent[query] += w[p + "D"].float() * d.x[query]  # D x: the query sends it to itself
    terms = (sent * F.silu(d.z[query])) @ w[p + "W_out"].float()  # (m, d_model)
    bias = w.get(p + "b_out")
    constant = terms.new_zeros(terms.shape[-1]) if bias is None else bias.float()
    return torch.arange(query + 1), terms, constant
