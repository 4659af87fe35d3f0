"""The gated delta rule (Gated DeltaNet, Qwen3.5's and Qwen3-Next's linear-attention layers), written out.

From a block's normalised input E (n, d_model), per value head h (key heads shared by groups of value heads):

    q, k, v = split(SiLU(causal depthwise conv over the last L tokens of E·W_qkv))
    q, k → each head's vector over its L2 norm (ε 1e-6); q × 1/√d_k
    β_t = c·σ(E_t·W_b),  α_t = exp(−exp(A_log) · softplus(E_t·W_a + dt_bias))    (c = 1, OLMo Hybrid's 2; α ∈ (0, 1))
    S_t = (I − β_t k_t k_tᵀ) diag(α_t) S_{t−1} + β_t k_t v_tᵀ                  (S: d_k × d_v, S_{−1} = 0)
    o_t = S_tᵀ q_t
    out_t = W_out · concat_h( RMSNorm(o_t,h) ⊙ w_norm ⊙ SiLU(E_t·W_z)_h )

Kimi Delta Attention (Kimi Linear) decays every key channel at its own rate: α_t is a vector of d_k per head, from a
low-rank forget gate (E·W_fa·W_fb in place of E·W_a, dt_bias one a channel), and the output gate is σ(E·W_ga·W_gb)
(ModelConfig.delta_gate "sigmoid") instead of SiLU(E·W_z). Qwen3.5's α is one number a head: diag(α) = α I.

Unrolled, o_t = Σ_{s≤t} weight[t, s] · v_s with weight[t, s] = β_s k_sᵀ A_{s+1} ⋯ A_t q_t (A_r = diag(α_r) (I − β_r
k_r k_rᵀ), carried back from the query): one number per query and source, as attention's pattern is, but neither
positive nor summing to 1
(`source_weights`). No softmax, so no head of this layer has a pattern on the pages; the contribution graph splits
its output by source through these weights (the norm linearised at the whole output, as for attention's).

Weights: blocks.{l}.delta.W_qkv [d_model, 2·n_k·d_k + n_v·d_v], .kernel [that width, L], .W_z [d_model, n_v·d_v],
.W_b and .W_a [d_model, n_v], .A_log and .dt_bias [n_v], .norm.w [d_v], .W_out [n_v·d_v, d_model]; Kimi's
.W_fa [d_model, d_k], .W_fb [d_k, n_v·d_k] and dt_bias [n_v·d_k] for W_a, .W_ga, .W_gb for W_z; ModelConfig.delta_heads
(n_k, n_v), delta_dims (d_k, d_v), delta_gate.
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
CHUNK = 64  # tokens a step in `scan`
TINY = torch.finfo(torch.float32).tiny  # the least decay `scan` takes a log of (α may underflow to 0)


@dataclass(frozen=True)
class DeltaInputs:
    """One layer's per-token quantities, float32: q, k (n_v, n, d_k) normalised (q scaled), v (n_v, n, d_v), β
    (n_v, n), α (n_v, n, 1), or (n_v, n, d_k) where each key channel decays at its own rate (Kimi), the output gate
    (n_v, n, d_v)."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    beta: torch.Tensor
    alpha: torch.Tensor
    gate: torch.Tensor


def projected(x_in: torch.Tensor, w: Weights, layer: int) -> torch.Tensor:
    """E·W_qkv (..., n, width): what the layer's convolution reads (and a generation caches)."""
    return linear(x_in, w[f"blocks.{layer}.delta.W_qkv"], None)


def inputs(x_in: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig, before: torch.Tensor | None = None):
    """DeltaInputs for the tokens of x_in (n, d_model); `before`: E·W_qkv of the tokens before them (generation)."""
    p = f"blocks.{layer}.delta."
    (n_k, n_v), (d_k, d_v) = cfg.delta_heads, cfg.delta_dims
    mixed = projected(x_in, w, layer)  # (n, width)
    full = mixed if before is None else torch.cat([before, mixed])  # (earlier + n, width)
    conv = F.silu(causal_conv(full, w[p + "kernel"], None, mixed.shape[0])).float()  # (n, width)
    q, k, v = conv.split([n_k * d_k, n_k * d_k, n_v * d_v], dim=-1)
    q, k = (t.unflatten(-1, (n_k, d_k)).transpose(0, 1).repeat_interleave(n_v // n_k, dim=0) for t in (q, k))
    q, k = (t * torch.rsqrt((t * t).sum(-1, keepdim=True) + 1e-6) for t in (q, k))  # (n_v, n, d_k) unit length
    v = v.unflatten(-1, (n_v, d_v)).transpose(0, 1)  # (n_v, n, d_v)
    beta = cfg.delta_beta_scale * torch.sigmoid(linear(x_in, w[p + "W_b"], None).float()).T  # (n_v, n)
    steps = F.softplus(_low_rank(x_in, w, p, "W_a", "W_fa", "W_fb") + w[p + "dt_bias"].float())  # (n, n_v·1 or ·d_k)
    decay = -w[p + "A_log"].float().exp()[:, None] * steps.unflatten(-1, (n_v, -1))  # (n, n_v, 1 or d_k)
    act = torch.sigmoid if cfg.delta_gate == "sigmoid" else F.silu
    gate = act(_low_rank(x_in, w, p, "W_z", "W_ga", "W_gb")).unflatten(-1, (n_v, d_v)).transpose(0, 1)
    return DeltaInputs(q * d_k**-0.5, k, v, beta, decay.exp().transpose(0, 1), gate)


def _low_rank(x_in: torch.Tensor, w: Weights, p: str, full: str, down: str, up: str) -> torch.Tensor:
    """x_in·W (float32), through the full map `full` or, where the layer has them instead (Kimi), `down` then `up`."""
    if p + full in w:
        return linear(x_in, w[p + full], None).float()
    return linear(linear(x_in, w[p + down], None), w[p + up], None).float()


def recur(d: DeltaInputs, S: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(o (n_v, n, d_v), the last S (n_v, d_k, d_v)): the delta rule over the tokens, one at a time, from S."""
    n_v, n, d_k = d.k.shape
    S = d.k.new_zeros(n_v, d_k, d.v.shape[-1]) if S is None else S
    out = []
    for t in range(n):
        k_t, a_t, b_t = d.k[:, t], d.alpha[:, t, :, None], d.beta[:, t, None]  # (n_v, d_k), (n_v, 1|d_k, 1), (n_v, 1)
        S = a_t * S
        S = S + k_t[..., None] * (b_t * (d.v[:, t] - (S * k_t[..., None]).sum(-2)))[:, None]  # (n_v, d_k, d_v)
        out.append((S * d.q[:, t, :, None]).sum(-2))  # (n_v, d_v)
    return torch.stack(out, 1), S


def scan(d: DeltaInputs, S: torch.Tensor | None = None, chunk: int = CHUNK) -> tuple[torch.Tensor, torch.Tensor]:
    """`recur`'s (o, last S), `chunk` tokens at a time where α is one number a head (Qwen3.5; the chunked form of
    Gated DeltaNet). Within a chunk, with γ_t = α_1⋯α_t and S_0 the state entering it:

        S_t = γ_t S_0 + Σ_{i≤t} (γ_t/γ_i) k_i u_iᵀ
        u_t = β_t (v_t − γ_t S_0ᵀ k_t − Σ_{i<t} (γ_t/γ_i)(k_i·k_t) u_i)    all t at once: (I + L) U = R, triangular
        o_t = γ_t S_0ᵀ q_t + Σ_{i≤t} (γ_t/γ_i)(k_i·q_t) u_i

    (substituting S_{t−1} into the rule gives u_t). The same sums as the token-by-token loop, in fewer steps. The
    ratios are taken as exp(log γ_t − log γ_i) ≤ 1, so a decay that underflows to 0 gives zeros, not 0/0. Where each
    key channel decays at its own rate (Kimi) the ratios are matrices, and the loop runs instead."""
    n_v, n, d_k = d.k.shape
    if d.alpha.shape[-1] != 1:
        return recur(d, S)
    S = d.k.new_zeros(n_v, d_k, d.v.shape[-1]) if S is None else S
    out = []
    for start in range(0, n, chunk):
        rows = slice(start, start + chunk)
        q, k, v, beta = d.q[:, rows], d.k[:, rows], d.v[:, rows], d.beta[:, rows, None]  # (n_v, C, ·), β (n_v, C, 1)
        # log γ_t in float64: a fast decay makes it large, and the ratios are differences of two such sums
        log_g = d.alpha[:, rows, 0].clamp_min(TINY).log().double().cumsum(-1)  # (n_v, C)
        earlier = torch.ones(q.shape[1], q.shape[1], dtype=torch.bool, device=q.device).tril()  # i ≤ t
        gap = (log_g[:, :, None] - log_g[:, None, :]).masked_fill(~earlier, float("-inf"))  # (n_v, t, i)
        fade = gap.exp().to(q.dtype)  # (n_v, t, i): γ_t/γ_i where i ≤ t, else 0
        g = log_g.exp().to(q.dtype)[..., None]  # (n_v, C, 1): γ_t
        L = (beta * fade * (k @ k.transpose(-1, -2))).tril(-1)  # (n_v, C, C), strictly below the diagonal
        R = beta * (v - g * (k @ S))  # (n_v, C, d_v)
        eye = torch.eye(q.shape[1], dtype=q.dtype, device=q.device)
        U = torch.linalg.solve_triangular(eye + L, R, upper=False, unitriangular=True)  # (n_v, C, d_v)
        out.append(g * (q @ S) + (fade * (q @ k.transpose(-1, -2))) @ U)  # (n_v, C, d_v)
        to_end = (log_g[:, -1:] - log_g).exp().to(q.dtype)[..., None]  # (n_v, C, 1): γ_end/γ_i
        S = g[:, -1:] * S + (k * to_end).transpose(-1, -2) @ U  # (n_v, d_k, d_v)
    return torch.cat(out, 1), S


def output(o: torch.Tensor, d: DeltaInputs, w: Weights, layer: int, cfg: ModelConfig) -> torch.Tensor:
    """(n, d_model): each head's o through its gated RMSNorm, heads side by side, through W_out."""
    p = f"blocks.{layer}.delta."
    normed = o * torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + _eps(cfg)) * w[p + "norm.w"].float()
    z = (normed * d.gate).transpose(0, 1).flatten(-2)  # (n, n_v·d_v)
    return linear(z.to(w[p + "W_out"].dtype), w[p + "W_out"], None)


def delta_net(x_in: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig) -> torch.Tensor:
    """The layer's output (..., n, d_model) for its normalised input x_in (..., n, d_model) (leading dims: the
    ablation sweep's variants, each its own sequence)."""

    def one(x: torch.Tensor) -> torch.Tensor:
        d = inputs(x, w, layer, cfg)
        return output(scan(d)[0], d, w, layer, cfg).to(x.dtype)

    return each_sequence(one, x_in)


def delta_step(x_in: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig, before: CarriedState | None):
    """(output (n, d_model), the state after these tokens) for tokens after those `before` carried (generation)."""
    d = inputs(x_in, w, layer, cfg, None if before is None else before.conv_inputs)
    o, S = scan(d, None if before is None else before.state)
    after = carried(before, projected(x_in, w, layer), w[f"blocks.{layer}.delta.kernel"], S)
    return output(o, d, w, layer, cfg).to(x_in.dtype), after


def _eps(cfg: ModelConfig) -> float:
    """The gated norm's ε: its own where the model sets one (OLMo Hybrid), else the model's."""
    return cfg.norm_eps if cfg.delta_norm_eps is None else cfg.delta_norm_eps


def source_weights(d: DeltaInputs, query: int) -> torch.Tensor:
    """(n_v, query + 1) weight[query, s] of every source s ≤ query, per value head: o_query = Σ_s weight · v_s
    (module docstring), from the query back, u ← A_s u."""
    u = d.q[:, query]  # (n_v, d_k)
    out = []
    for s in range(query, -1, -1):
        k_s = d.k[:, s]  # (n_v, d_k)
        ku = (k_s * u).sum(-1, keepdim=True)  # (n_v, 1)
        out.append(d.beta[:, s, None] * ku)
        u = d.alpha[:, s] * (u - d.beta[:, s, None] * k_s * ku)  # α (n_v, 1 or d_k)
    return torch.cat(out[::-1], dim=-1)  # (n_v, query + 1)


def weight_matrix(d: DeltaInputs) -> torch.Tensor:
    """(n_v, n, n) weight[t, s] of every query t and source s, 0 where s > t: `source_weights` of every query at
    once, one backward step a source. u[t] starts as q_t when the step reaches t and is then carried back."""
    n_v, n, _ = d.q.shape
    out = d.q.new_zeros(n_v, n, n)
    u = d.q.clone()  # (n_v, n, d_k): row t is query t's vector, carried back to the current source
    for s in range(n - 1, -1, -1):
        k_s = d.k[:, s, None]  # (n_v, 1, d_k)
        ku = (u[:, s:] * k_s).sum(-1)  # (n_v, n − s): k_s · u for the queries t ≥ s
        out[:, s:, s] = d.beta[:, s, None] * ku
        u[:, s:] = d.alpha[:, s, None, :] * (u[:, s:] - d.beta[:, s, None, None] * k_s * ku[..., None])
    return out


def source_terms(x_in: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig, query: int):
    """(sources (m,) positions 0..query, terms (m, d_model) float32, the part no token sends (d_model,): zeros, the
    rule has no biases): what each source sends to `query`'s output, W_out · concat_h(g_h ⊙ weight[query, s, h] ·
    v_s,h), where g_h is the gated norm's factor at the query (its RMS scale fixed at the whole o, × the norm's
    weight × SiLU(z)). They add up to the layer's output there."""
    d = inputs(x_in[: query + 1], w, layer, cfg)  # the query and the tokens before it
    carried = source_weights(d, query)[..., None] * d.v  # (n_v, m, d_v): what each source leaves in o at the query
    o = carried.sum(1)  # (n_v, d_v): the rule's output there, without rerunning it token by token
    p = f"blocks.{layer}.delta."
    gain = torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + _eps(cfg)) * w[p + "norm.w"].float() * d.gate[:, query]
    sent = carried * gain[:, None]  # (n_v, m, d_v)
    terms = sent.transpose(0, 1).flatten(-2) @ w[p + "W_out"].float()  # (m, d_model)
    return torch.arange(query + 1), terms, terms.new_zeros(terms.shape[-1])
