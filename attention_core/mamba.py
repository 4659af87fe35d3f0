"""Mamba-2's state-space layer (Granite 4's hybrids: granitemoehybrid's "mamba" layers), written out.

From a block's normalised input E (n, d_model), with H heads of P channels, N state numbers and G groups of heads:

    z, xBC, dt = split(E·W_in + b_in)
    x, B, C = split(SiLU(causal depthwise conv over the last L tokens of xBC))     x: (H, P); B, C: (G, N) a token
    Δ_t = clamp(softplus(dt_t + dt_bias)),  a_t = exp(Δ_t · A), A = −exp(A_log)   one each per head
    h_t = a_t h_{t−1} + Δ_t x_t B_tᵀ                                               h: (P, N) per head, h_{−1} = 0
    y_t = h_t C_t + D x_t
    out_t = W_out · (w_norm ⊙ GroupRMSNorm(y_t ⊙ SiLU(z_t))) + b_out
    (Falcon-H1, ModelConfig.ssm_norm: w_norm ⊙ GroupRMSNorm(y_t) ⊙ SiLU(z_t), or no norm, y_t ⊙ SiLU(z_t))

Unrolled, y_t = Σ_{s≤t} weight[t, s] · x_s + D x_t per head, weight[t, s] = (C_t·B_s) · exp(A·Σ_{r=s+1..t} Δ_r) · Δ_s:
a causal matrix per head (Mamba-2's "state-space duality"), positive where C_t·B_s is, not summing to 1
(`source_weights`). The contribution graph splits the layer's output by source through it, the norm linearised at
the whole output as for attention.

Weights: blocks.{l}.ssm.W_in [d_model, H·P + (H·P + 2·G·N) + H], .kernel [H·P + 2·G·N, L] (.b_conv), .dt_bias, .A_log,
.D [H], .norm.w [H·P] (none without a norm), .W_out [H·P, d_model] (.b_in, .b_out); ModelConfig.ssm_shape (H, P,
N, G), ssm_dt_limit, ssm_norm.
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
CHUNK = 64  # tokens a step of `scan`: a (heads, 64, 64) weight matrix each


@dataclass(frozen=True)
class SsmInputs:
    """One layer's per-token quantities, float32: x (H, n, P), B and C (H, n, N) (each head its group's), Δ (H, n),
    log a = Δ·A (H, n), the gate z (n, H·P)."""

    x: torch.Tensor
    B: torch.Tensor
    C: torch.Tensor
    dt: torch.Tensor
    log_decay: torch.Tensor
    z: torch.Tensor


def in_widths(cfg: ModelConfig) -> tuple[int, int, int, int, int]:
    """The widths of W_in's outputs, in order: z (H·P), x (H·P), B (G·N), C (G·N), Δ (H). The split below, the
    loaders' shape check and Falcon-H1's µP fold (a factor per part) read them here."""
    H, P, N, G = cfg.ssm_shape
    return H * P, H * P, G * N, G * N, H


def _split(x_in: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig) -> tuple[torch.Tensor, ...]:
    """(z, xBC, dt) from E·W_in + b_in."""
    z, x, B, C, dt = in_widths(cfg)
    p = f"blocks.{layer}.ssm."
    return linear(x_in, w[p + "W_in"], w.get(p + "b_in")).split([z, x + B + C, dt], dim=-1)


def inputs(x_in: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig, before: torch.Tensor | None = None):
    """SsmInputs for the tokens of x_in (n, d_model); `before`: xBC of the tokens before them (generation)."""
    H, P, N, G = cfg.ssm_shape
    p = f"blocks.{layer}.ssm."
    z, xbc, dt = _split(x_in, w, layer, cfg)
    full = xbc if before is None else torch.cat([before, xbc])
    conv = F.silu(causal_conv(full, w[p + "kernel"], w.get(p + "b_conv"), xbc.shape[0])).float()  # (n, width)
    x, B, C = conv.split([H * P, G * N, G * N], dim=-1)
    x = x.unflatten(-1, (H, P)).transpose(0, 1)  # (H, n, P)
    B, C = (t.unflatten(-1, (G, N)).transpose(0, 1).repeat_interleave(H // G, dim=0) for t in (B, C))  # (H, n, N)
    low, high = cfg.ssm_dt_limit
    delta = F.softplus(dt.float() + w[p + "dt_bias"].float()).clamp(low, high).T  # (H, n)
    log_decay = delta * -w[p + "A_log"].float().exp()[:, None]  # (H, n): Δ·A
    return SsmInputs(x, B, C, delta, log_decay, z.float())


def recur(d: SsmInputs, h: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(y without D's term (H, n, P), the last h (H, P, N)): the scan over the tokens, one at a time, from h. The
    readable twin of `scan`, which the pass runs."""
    H, n, P = d.x.shape
    h = d.x.new_zeros(H, P, d.B.shape[-1]) if h is None else h
    out = []
    for t in range(n):
        h = d.log_decay[:, t, None, None].exp() * h + (d.dt[:, t, None] * d.x[:, t])[..., None] * d.B[:, t, None, :]
        out.append((h * d.C[:, t, None, :]).sum(-1))  # (H, P)
    return torch.stack(out, 1), h


def scan(d: SsmInputs, h: torch.Tensor | None = None, chunk: int = CHUNK) -> tuple[torch.Tensor, torch.Tensor]:
    """`recur`'s (y, last h), `chunk` tokens at a time (Mamba-2's chunked form): within a chunk y = weight · x with
    `weight_matrix`, plus what the state entering the chunk leaves, C_t h · exp(Σ_{r≤t} Δ_r A); the state leaving it is
    h · exp(Σ Δ_r A) + Σ_s exp(Σ_{r>s} Δ_r A) Δ_s x_s B_sᵀ. The same sums as the token-by-token loop, in fewer steps."""
    H, n, P = d.x.shape
    h = d.x.new_zeros(H, P, d.B.shape[-1]) if h is None else h
    out = []
    for start in range(0, n, chunk):
        part = SsmInputs(*(t[:, start : start + chunk] for t in (d.x, d.B, d.C, d.dt, d.log_decay)), d.z)
        total = part.log_decay.double().cumsum(-1)  # (H, L): Σ_{r≤t} Δ_r·A within the chunk (float64: weight_matrix)
        faded = total.exp().to(h.dtype)  # (H, L): what is left of the entering state at each token
        y = weight_matrix(part) @ part.x + faded[..., None] * torch.einsum("hpn,hln->hlp", h, part.C)
        to_end = (total[:, -1:] - total).exp().to(h.dtype) * part.dt  # (H, L): each token's Δ, faded to the end
        h = faded[:, -1, None, None] * h + torch.einsum("hl,hlp,hln->hpn", to_end, part.x, part.B)
        out.append(y)  # (H, L, P)
    return torch.cat(out, 1), h


def output(y: torch.Tensor, d: SsmInputs, w: Weights, layer: int, cfg: ModelConfig) -> torch.Tensor:
    """(n, d_model): y plus D's term, heads side by side, gated by SiLU(z), group-normalised, through W_out."""
    p = f"blocks.{layer}.ssm."
    y = (y + w[p + "D"].float()[:, None, None] * d.x).transpose(0, 1).flatten(-2)  # (n, H·P)
    gate = F.silu(d.z)  # (n, H·P)
    if cfg.ssm_norm == "none":  # Falcon-H1 without mamba_rms_norm
        out = y * gate
    elif cfg.ssm_norm == "before_gate":
        out = _group_rms(y, cfg) * w[p + "norm.w"].float() * gate
    else:
        out = _group_rms(y * gate, cfg) * w[p + "norm.w"].float()
    return linear(out.to(w[p + "W_out"].dtype), w[p + "W_out"], w.get(p + "b_out"))


def _group_rms(y: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """y (..., H·P) divided by its RMS over each group of heads (+ ε), no weight."""
    return y * _group_scale(y, cfg)


def _group_scale(y: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    """(..., H·P) 1 / RMS of each group of heads of y (..., H·P), on each of its channels."""
    groups = y.unflatten(-1, (cfg.ssm_shape[3], -1))  # (..., G, H·P / G)
    scale = torch.rsqrt(groups.pow(2).mean(-1, keepdim=True) + cfg.norm_eps)  # (..., G, 1)
    return scale.expand_as(groups).flatten(-2)


def ssm(x_in: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig) -> torch.Tensor:
    """The layer's output (..., n, d_model) for its normalised input x_in (..., n, d_model) (leading dims: the
    ablation sweep's variants, each its own sequence)."""

    def one(x: torch.Tensor) -> torch.Tensor:
        d = inputs(x, w, layer, cfg)
        return output(scan(d)[0], d, w, layer, cfg).to(x.dtype)

    return each_sequence(one, x_in)


def ssm_step(x_in: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig, before: CarriedState | None):
    """(output (n, d_model), the state after these tokens) for tokens after those `before` carried (generation)."""
    d = inputs(x_in, w, layer, cfg, None if before is None else before.conv_inputs)
    y, h = scan(d, None if before is None else before.state)
    after = carried(before, _split(x_in, w, layer, cfg)[1], w[f"blocks.{layer}.ssm.kernel"], h)
    return output(y, d, w, layer, cfg).to(x_in.dtype), after


def _fixed_gain(y: torch.Tensor, gate: torch.Tensor, norm_w: torch.Tensor | None, cfg: ModelConfig) -> torch.Tensor:
    """(H·P,) what the query's y (H·P,) is multiplied by on its way to W_out: the gate, and the group norm's weight and
    1/RMS where the layer has one (ModelConfig.ssm_norm), the RMS fixed at its value there."""
    if norm_w is None:  # ModelConfig.ssm_norm "none": no norm, no weight
        return gate
    scale = _group_scale(y if cfg.ssm_norm == "before_gate" else y * gate, cfg)
    return scale * norm_w.float() * gate


def source_weights(d: SsmInputs, query: int) -> torch.Tensor:
    """(H, query + 1) weight[query, s] of every source s ≤ query, per head (module docstring)."""
    log_decay = d.log_decay[:, : query + 1]  # (H, m): Δ_r·A
    after = log_decay.flip(-1).cumsum(-1).flip(-1) - log_decay  # Σ_{r=s+1..query} Δ_r·A
    return (d.C[:, query, None] * d.B[:, : query + 1]).sum(-1) * after.exp() * d.dt[:, : query + 1]


def weight_matrix(d: SsmInputs) -> torch.Tensor:
    """(H, n, n) weight[t, s] of every query t and source s, 0 where s > t (the scan reads no later token): each row
    is `source_weights` of that query, all at once."""
    n = d.log_decay.shape[-1]
    # Σ_{r≤t} Δ_r·A in float64: a fast decay makes these sums large, and each gap is a difference of two of them
    total = d.log_decay.double().cumsum(-1)  # (H, n)
    gap = total[:, :, None] - total[:, None, :]  # (H, t, s): Σ_{r=s+1..t} Δ_r·A where s ≤ t
    earlier = torch.ones(n, n, dtype=torch.bool, device=gap.device).tril()
    # −∞ before exp: a later source's gap would overflow
    decay = gap.masked_fill(~earlier, float("-inf")).exp().to(d.C.dtype)
    return (d.C @ d.B.transpose(-1, -2)) * decay * d.dt[:, None, :]  # (H, n, n)


def source_terms(x_in: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig, query: int):
    """(sources (m,) positions 0..query, terms (m, d_model) float32, the part no token sends (d_model,)): what each
    source sends to `query`'s output, through the gate and the group norm fixed at their values there. The terms and
    that part (b_out) add up to the layer's output at the query; D's term is the query's own."""
    H, P, N, G = cfg.ssm_shape
    p = f"blocks.{layer}.ssm."
    d = inputs(x_in[: query + 1], w, layer, cfg)
    sent = source_weights(d, query)[..., None] * d.x  # (H, m, P): the unrolled scan, no token-by-token loop
    sent[:, query] += w[p + "D"].float()[:, None] * d.x[:, query]  # D x: the query sends it to itself
    y = sent.sum(1)  # (H, P): the scan's y at the query, D's term included
    gate = F.silu(d.z[query])  # (H·P,)
    gain = _fixed_gain(y.flatten(), gate, w.get(p + "norm.w"), cfg).unflatten(-1, (H, P))  # (H, P)
    terms = (sent * gain[:, None]).transpose(0, 1).flatten(-2) @ w[p + "W_out"].float()  # (m, d_model)
    bias = w.get(p + "b_out")
    constant = terms.new_zeros(terms.shape[-1]) if bias is None else bias.float()
    return torch.arange(query + 1), terms, constant
