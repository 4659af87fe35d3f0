"""Multi-head latent attention (MLA: DeepSeek-V2 and V3, Kimi K2, MiniCPM3): where q, k and v come from.

Every head's keys and values are read up from one small latent per token, which is what a key/value cache stores:

    c_KV = RMSNorm(E·W_DKV)                       (n, kv_latent_rank)          the shared latent
    k_h  = [ c_KV·W_UK[h]  |  RoPE(E·W_KR) ]      (n, d_nope + d_rope)         the rotated part shared by all heads
    v_h  =   c_KV·W_UV[h]                         (n, d_head_v)
    q_h  = [ c_Q·W_UQ[h] ]  with c_Q = RMSNorm(E·W_DQ), or E·W_Q[h] without a query latent; its last d_rope
           dimensions rotated

(W_DKV "down" to the latent, W_UK / W_UV "up" from it, W_KR the rotated key, as the DeepSeek-V2 paper names them.)
After that it is ordinary attention: softmax(q·kᵀ·scale)·v per head, over d_head = d_nope + d_rope dimensions,
with values of d_head_v, so every later step (scores, masks, patterns, interventions, the cache) is the engine's
usual one. The weights are the checkpoint's; a head's q and k list its unrotated dimensions first, as the
checkpoint does (DeepSeek rotates neighbouring pairs: the converter lists its rotated columns even ones first, so
the engine's rotate-half RoPE gives the same numbers).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F

from .config import ModelConfig
from .linear import linear

Weights = Mapping[str, torch.Tensor]
Rope = tuple[torch.Tensor, torch.Tensor]


def _rms(x: torch.Tensor, weight: torch.Tensor, cfg: ModelConfig) -> torch.Tensor:
    return F.rms_norm(x, (x.shape[-1],), weight, cfg.norm_eps)


def _heads(y: torch.Tensor, n_heads: int) -> torch.Tensor:
    """(..., n, n_heads·d) → (..., n_heads, n, d)."""
    return y.unflatten(-1, (n_heads, -1)).transpose(-3, -2)


def kv_latent(x: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig) -> torch.Tensor:
    """c_KV = RMSNorm(x·W_DKV): (..., n, kv_latent_rank), what every head's keys and values are read from."""
    p = f"blocks.{layer}.attn."
    return _rms(linear(x, w[p + "W_DKV"], w.get(p + "b_DKV")), w[p + "kv_latent_norm.w"], cfg)


def q_latent(x: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig) -> torch.Tensor:
    """c_Q = RMSNorm(x·W_DQ): (..., n, q_latent_rank), what every head's query is read from (x itself where the
    model has no query latent)."""
    p = f"blocks.{layer}.attn."
    if not cfg.q_latent_rank:
        return x
    return _rms(linear(x, w[p + "W_DQ"], w.get(p + "b_DQ")), w[p + "q_latent_norm.w"], cfg)


def rotate_last(x: torch.Tensor, rope: Rope | None) -> torch.Tensor:
    """x (..., n, d) with its last r dimensions rotated by RoPE (r = the tables' width); x itself without RoPE."""
    if rope is None:
        return x
    from .blocks import apply_rope  # blocks dispatches to this module: imported here, not at the top

    r = rope[0].shape[-1]
    return torch.cat([x[..., :-r], apply_rope(x[..., -r:], *rope)], dim=-1)


def latent_qkv(
    x: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig, rope: Rope | None
) -> tuple[torch.Tensor, ...]:
    """q, k (..., n_heads, n, d_head) and v (..., n_heads, n, d_head_v) of one MLA layer from its normalised input
    x (..., n, d_model); q's and k's last rotary_dim dimensions rotated."""
    p = f"blocks.{layer}.attn."
    H = cfg.n_heads
    W_Q = w[p + "W_UQ"] if cfg.q_latent_rank else w[p + "W_Q"]
    q = _heads(linear(q_latent(x, w, layer, cfg), W_Q, None if cfg.q_latent_rank else w.get(p + "b_Q")), H)
    c_kv = kv_latent(x, w, layer, cfg)  # (..., n, kv_latent_rank)
    k_nope = _heads(c_kv @ w[p + "W_UK"], H)  # (..., H, n, d_nope)
    v = _heads(c_kv @ w[p + "W_UV"], H).contiguous()  # (..., H, n, d_head_v): kept by the trace, so not a view
    k_rope = linear(x, w[p + "W_KR"], w.get(p + "b_KR")).unsqueeze(-3)  # (..., 1, n, d_rope): one for every head
    k = torch.cat([k_nope, k_rope.expand(*k_nope.shape[:-1], k_rope.shape[-1])], dim=-1)  # (..., H, n, d_head)
    return rotate_last(q, rope), rotate_last(k, rope), v


def head_projections(x: torch.Tensor, w: Weights, cfg: ModelConfig, layer: int, head: int) -> dict:
    """One head's maps and its q and k before RoPE, from the layer's normalised input x (n, d_model), for Inside one
    head (steps.py): W_Q (W_UQ[head], or W_Q[head] without a query latent), W_K (W_UK[head]: the unrotated part),
    W_V (W_UV[head]), W_KR, the latents q_input (c_Q, or None) and kv_input (c_KV), q_pre and k_pre (n, d_head)."""
    p = f"blocks.{layer}.attn."
    d, dv, rope = cfg.d_head, cfg.d_value, cfg.rotary_dim or 0
    nope = d - rope
    c_q = q_latent(x, w, layer, cfg) if cfg.q_latent_rank else None  # (n, q_latent_rank)
    c_kv = kv_latent(x, w, layer, cfg)  # (n, kv_latent_rank)
    W_Q = (w[p + "W_UQ"] if cfg.q_latent_rank else w[p + "W_Q"])[:, head * d : (head + 1) * d]
    b_Q = None if cfg.q_latent_rank or p + "b_Q" not in w else w[p + "b_Q"][head * d : (head + 1) * d]
    W_K = w[p + "W_UK"][:, head * nope : (head + 1) * nope]  # (kv_latent_rank, d_nope)
    k_rope = linear(x, w[p + "W_KR"], w.get(p + "b_KR"))  # (n, d_rope)
    return dict(
        W_Q=W_Q, W_K=W_K, W_V=w[p + "W_UV"][:, head * dv : (head + 1) * dv], W_KR=w[p + "W_KR"],
        q_input=c_q, kv_input=c_kv, q_pre=linear(x if c_q is None else c_q, W_Q, b_Q),
        k_pre=torch.cat([c_kv @ W_K, k_rope], dim=-1),
    )  # fmt: skip
