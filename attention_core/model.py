"""The forward pass, one plain function per step, shared by every architecture.

Activations are (n, d_model) for one sequence: the app traces one text at a time, so there is no
batch dimension except where `scaled_dot_product_attention` wants one (it is fastest with 4-D inputs).
Only O(n·d) tensors are captured per layer (residual in, q, k, v); anything O(n²) is recomputed by
`Trace` for the heads a user looks at.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import backend
from . import interventions as iv
from .config import ModelConfig

Weights = Mapping[str, torch.Tensor]


@dataclass
class Captured:
    """What one forward pass keeps: enough to recompute every intermediate of attention."""

    resid_pre: list[torch.Tensor]  # n_layers + 1 entries, each (n, d_model); the last is the final residual
    q: list[torch.Tensor]  # (n_heads, n, d_head), after RoPE where used
    k: list[torch.Tensor]  # (n_kv_heads, n, d_head), after RoPE where used
    v: list[torch.Tensor]  # (n_kv_heads, n, d_head)


# ── building blocks ───────────────────────────────────────────────────────────────────────────────


def normalize(x: torch.Tensor, w: Weights, prefix: str, cfg: ModelConfig) -> torch.Tensor:
    """RMSNorm (llama) or LayerNorm (BERT) over d_model."""
    if cfg.norm == "rms":  # w · x / √(mean(x²) + ε), one fused kernel
        return F.rms_norm(x, (cfg.d_model,), w[prefix + ".w"], cfg.norm_eps)
    return F.layer_norm(x, (cfg.d_model,), w[prefix + ".w"], w.get(prefix + ".b"), cfg.norm_eps)


def embed(ids: torch.Tensor, w: Weights, cfg: ModelConfig, start: int = 0) -> torch.Tensor:
    """Token (and position) embeddings of ids (n,) at positions start .. start + n - 1."""
    x = w["embed.W_E"][ids]  # (n, d_model)
    if cfg.embed_scale != 1.0:
        x = x * cfg.embed_scale
    if "embed.W_pos" in w:  # learned absolute positions (BERT, GPT-2)
        first = cfg.pos_offset + start
        x = x + w["embed.W_pos"][first : first + ids.shape[0]]
    if "embed.W_type" in w:  # every token is in segment 0
        x = x + w["embed.W_type"][0]
    if "embed.ln.w" in w:  # BERT normalises the embeddings
        x = normalize(x, w, "embed.ln", cfg)
    return x


def rope_tables(n: int, cfg: ModelConfig, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin, each (n, d_head): position p rotates pair (i, i + d_head/2) by p·θ^(-2i/d_head)."""
    inv_freq = 1.0 / (
        cfg.rope_theta ** (torch.arange(0, cfg.d_head, 2, device=device, dtype=torch.float32) / cfg.d_head)
    )
    angles = torch.outer(torch.arange(n, device=device, dtype=torch.float32), inv_freq)  # (n, d_head/2)
    angles = torch.cat([angles, angles], dim=-1)  # (n, d_head)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each head's (first half, second half) pairs; x is (heads, n, d_head)."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)  # (heads, n, d_head)
    return x * cos + rotated * sin


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


def qkv(
    x: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig, rope: tuple[torch.Tensor, torch.Tensor] | None
) -> tuple[torch.Tensor, ...]:
    """Queries, keys and values of one layer from its (normalised) input x (n, d_model)."""
    p = f"blocks.{layer}.attn."
    if p + "W_QKV" in w:  # one matrix product instead of three (see fast_weights)
        y = linear(x, w[p + "W_QKV"], w.get(p + "b_QKV"))  # (..., n, (n_heads + 2·n_kv_heads)·d_head)
        q, k, v = y.split([cfg.n_heads * cfg.d_head, cfg.n_kv_heads * cfg.d_head, cfg.n_kv_heads * cfg.d_head], -1)
        q = q.unflatten(-1, (cfg.n_heads, cfg.d_head)).transpose(-3, -2)  # (..., n_heads, n, d_head)
        k = k.unflatten(-1, (cfg.n_kv_heads, cfg.d_head)).transpose(-3, -2)  # (..., n_kv_heads, n, d_head)
        # A copy, not a view: the trace keeps v, and a view would keep the whole fused output alive.
        v = v.unflatten(-1, (cfg.n_kv_heads, cfg.d_head)).transpose(-3, -2).contiguous()  # (..., n_kv_heads, n, d_head)
    else:
        q = project_heads(x, w[p + "W_Q"], w.get(p + "b_Q"), cfg.n_heads)  # (n_heads, n, d_head)
        k = project_heads(x, w[p + "W_K"], w.get(p + "b_K"), cfg.n_kv_heads)  # (n_kv_heads, n, d_head)
        v = project_heads(x, w[p + "W_V"], w.get(p + "b_V"), cfg.n_kv_heads)  # (n_kv_heads, n, d_head)
    if rope is not None:
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
    return q, k, v


# ── attention, written out: what the user sees (Trace.scores, Trace.pattern) is computed here ─────


def attention_scores(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Scaled dot products q·kᵀ/√d_head: q (..., n_q, d_head), k (..., n_k, d_head) → (..., n_q, n_k)."""
    d_head = q.shape[-1]
    return q @ k.transpose(-1, -2) / math.sqrt(d_head)  # (..., n_q, n_k)


def query_mask(n_q: int, n_k: int, row_offset: int = 0, device: torch.device | str = "cpu") -> torch.Tensor:
    """(n_q, n_k) bool causal mask for queries row_offset .. row_offset + n_q - 1: True where key j ≤ query i."""
    rows = torch.arange(row_offset, row_offset + n_q, device=device)  # (n_q,) the queries' positions
    return torch.arange(n_k, device=device)[None, :] <= rows[:, None]  # (n_q, n_k)


def attention_pattern(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """softmax over keys of the scores with −∞ where `mask` (broadcast to scores) is False; rows sum to 1.

    scores (..., n_q, n_k), mask (n_q, n_k) bool or None (nothing masked). exp(−∞) = 0, so masked keys
    get exactly zero weight.
    """
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))  # (..., n_q, n_k)
    return torch.softmax(scores, dim=-1)  # (..., n_q, n_k)


def attend_plain(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
    """z = pattern·v, step by step: the readable twin of `attend` (same inputs, same z up to rounding).

    q (n_heads, n, d_head); k and v (n_kv_heads, n, d_head): each key/value head serves a group of
    consecutive query heads.
    """
    group = q.shape[-3] // k.shape[-3]
    k = k.repeat_interleave(group, dim=-3)  # (n_heads, n, d_head)
    v = v.repeat_interleave(group, dim=-3)  # (n_heads, n, d_head)
    n_q, n_k = q.shape[-2], k.shape[-2]
    mask = query_mask(n_q, n_k, device=q.device) if causal else None
    pattern = attention_pattern(attention_scores(q, k), mask)  # (n_heads, n_q, n_k)
    return pattern @ v  # (n_heads, n_q, d_head)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
    """z = softmax(q·kᵀ/√d_head + mask)·v for every head at once, without keeping the (n, n) pattern.

    The fast path the forward pass runs; `attend_plain` above is the same computation written out.

    q is (n_heads, n, d_head) or batched (B, n_heads, n, d_head); k and v have n_kv_heads heads.
    SDPA takes 4-D inputs (batch, heads, n, d_head): measured ~5x faster on CPU than 3-D ones.
    """
    unbatched = q.dim() == 3
    if unbatched:
        q, k, v = q[None], k[None], v[None]  # (1, heads, n, d_head)
    scale = 1.0 / math.sqrt(q.shape[-1])
    gqa = q.shape[1] != k.shape[1]
    if gqa and q.device.type not in ("cpu", "cuda"):
        group = q.shape[1] // k.shape[1]  # backends without enable_gqa: give each query head its own copy
        k, v, gqa = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1), False
    z = F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale, enable_gqa=gqa)  # (B, H, n, d_head)
    return z[0] if unbatched else z


def layer_z(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool,
    layer_ivs: tuple[iv.Intervention, ...] = (),
    row_offset: int = 0,
) -> torch.Tensor:
    """One layer's z (n_heads, n_q, d_head), with this layer's interventions applied.

    q holds the queries at positions row_offset .. (generation with a key/value cache passes one query,
    the last position, against every cached key: nothing to mask). Several queries start at 0.
    """
    if row_offset and q.shape[-2] > 1:
        raise ValueError("a chunk of several queries must start at position 0")
    z = attend(q, k, v, causal and q.shape[-2] > 1)  # (n_heads, n_q, d_head)
    if not layer_ivs:
        return z
    group = q.shape[0] // k.shape[0]
    for head in range(q.shape[0]):
        override = iv.pattern_override(layer_ivs, head)
        if override is not None:
            kv = head // group
            scores = attention_scores(q[head], k[kv])  # (n, n) for this head only
            z[head] = iv.modified_pattern(scores, causal, override, row_offset) @ v[kv]
    for item in layer_ivs:
        if item.kind == "zero_layer":
            z.zero_()
        elif item.kind == "zero_head":
            z[item.head] = 0.0
        elif item.kind == "mean_head":  # head_out is linear in z, so this sets it to its mean over positions
            z[item.head] = z[item.head].mean(0, keepdim=True)
    return z


def layer_attn_out(
    z: torch.Tensor, w: Weights, layer: int, layer_ivs: tuple[iv.Intervention, ...] = ()
) -> torch.Tensor:
    """The attention sublayer's output (n, d_model); zero, bias included, when the whole layer is ablated."""
    out = attn_output(z, w, layer)
    return torch.zeros_like(out) if any(item.kind == "zero_layer" for item in layer_ivs) else out


def attn_output(z: torch.Tensor, w: Weights, layer: int) -> torch.Tensor:
    """Concatenate heads and apply W_O: (..., n_heads, n, d_head) → (..., n, d_model)."""
    z_flat = z.transpose(-3, -2).flatten(-2)  # (..., n, n_heads * d_head)
    return linear(z_flat, w[f"blocks.{layer}.attn.W_O"], w.get(f"blocks.{layer}.attn.b_O"))  # (..., n, d_model)


def activation(x: torch.Tensor, act: str) -> torch.Tensor:
    if act == "silu":
        return F.silu(x)
    return F.gelu(x, approximate="tanh" if act == "gelu_tanh" else "none")


def mlp(x: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig) -> torch.Tensor:
    p = f"blocks.{layer}.mlp."
    if cfg.gated_mlp:  # SwiGLU
        if p + "W_gate_in" in w:  # one matrix product instead of two (see fast_weights)
            gate, up = linear(x, w[p + "W_gate_in"], None).split(cfg.d_mlp, -1)  # (..., n, d_mlp) each
        else:
            gate, up = linear(x, w[p + "W_gate"], None), linear(x, w[p + "W_in"], None)
        return linear(F.silu(gate) * up, w[p + "W_out"], None)  # (..., n, d_model)
    hidden = activation(linear(x, w[p + "W_in"], w.get(p + "b_in")), cfg.act)  # (..., n, d_mlp)
    return linear(hidden, w[p + "W_out"], w.get(p + "b_out"))  # (..., n, d_model)


def attention_input(resid: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig) -> torch.Tensor:
    """What q, k and v are computed from: the normalised residual (pre-norm) or the residual itself."""
    return normalize(resid, w, f"blocks.{layer}.ln_attn", cfg) if cfg.norm_position == "pre" else resid


def after_attention(
    resid: torch.Tensor, attn_out: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig
) -> torch.Tensor:
    """The residual stream between the attention and MLP sublayers."""
    mid = resid + attn_out
    return mid if cfg.norm_position == "pre" else normalize(mid, w, f"blocks.{layer}.ln_attn", cfg)


def after_mlp(mid: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig) -> torch.Tensor:
    if cfg.norm_position == "pre":
        return mid + mlp(normalize(mid, w, f"blocks.{layer}.ln_mlp", cfg), w, layer, cfg)
    return normalize(mid + mlp(mid, w, layer, cfg), w, f"blocks.{layer}.ln_mlp", cfg)


def fast_weights(w: Weights, cfg: ModelConfig, pack: bool) -> dict[str, torch.Tensor]:
    """What the forward pass reads, as a new dict (`w` is never written): `w` plus each layer's
    W_Q|W_K|W_V (and SwiGLU's W_gate|W_in) concatenated into one matrix, since fewer, larger products
    help most on short inputs.

    pack=False (GPUs, or no oneDNN): the result's canonical entries are views into the fused buffers
    (`canonical_views` lets a caller keep those, so the weights are stored once). pack=True (the CPU):
    every matrix the pass multiplies by (fused projections, W_O, the MLP's, the unembedding) is packed
    for oneDNN (backend/onednn.py) under its own name, and the canonical matrices stay `w`'s. Fused
    biases are vectors, never packed: their canonical entries are views either way.
    """
    fast = dict(w)
    for layer in range(cfg.n_layers):
        p = f"blocks.{layer}."
        names = [p + "attn.W_Q", p + "attn.W_K", p + "attn.W_V"]
        if all(n in w for n in names):
            _fuse(w, fast, names, p + "attn.W_QKV", pack)
            biases = [p + "attn.b_Q", p + "attn.b_K", p + "attn.b_V"]
            if all(b in w for b in biases):
                _fuse(w, fast, biases, p + "attn.b_QKV", pack)
        if cfg.gated_mlp and p + "mlp.W_gate" in w:
            _fuse(w, fast, [p + "mlp.W_gate", p + "mlp.W_in"], p + "mlp.W_gate_in", pack)
        if pack:  # the other matrices the pass multiplies by (a SwiGLU's W_in is inside W_gate_in)
            for name in (p + "attn.W_O", p + "mlp.W_out", *(() if cfg.gated_mlp else (p + "mlp.W_in",))):
                if name in fast:
                    fast[name] = backend.pack(fast[name])
    if pack and cfg.has_lm_head and "embed.W_E" in w and not cfg.is_encoder_decoder:
        fast["unembed.W_U"] = backend.pack(unembedding(w))
    return fast


def _fuse(w: Weights, fast: dict[str, torch.Tensor], names: list[str], fused_name: str, pack: bool) -> None:
    fused = torch.cat([w[n] for n in names], dim=-1)  # (d_in, Σ d_out) or (Σ d_out,) for biases
    if pack and fused.dim() == 2:
        fast[fused_name] = backend.pack(fused)  # the concatenation was temporary; w keeps the originals
        return
    start = 0
    for n in names:
        width = w[n].shape[-1]
        fast[n] = fused[..., start : start + width]  # a view: the same numbers as w[n], in the fused buffer
        start += width
    fast[fused_name] = fused


def canonical_views(w: Weights, fast: Weights) -> dict[str, torch.Tensor]:
    """`w`'s entries, each taken from `fast` where that holds it unpacked (a view into a fused buffer, or
    the same tensor), so a model that keeps both dicts stores those numbers once, as before the fusing."""
    return {name: w[name] if backend.is_packed(fast[name]) else fast[name] for name in w}


def per_head_weight(w: Weights, cfg: ModelConfig, layer: int, name: str) -> torch.Tensor:
    """One layer's W_Q/W_K/W_V as (heads, d_model, d_head) or W_O as (n_heads, d_head, d_model), on the CPU."""
    W = w[f"blocks.{layer}.attn.{name}"]
    n_heads = cfg.n_heads if name in ("W_Q", "W_O") else cfg.n_kv_heads
    if name == "W_O":
        return W.view(n_heads, cfg.d_head, cfg.d_model).cpu()  # (n_heads, d_head, d_model)
    # W may be a column slice of the fused W_QKV, so unflatten (a view either way) rather than view().
    return W.unflatten(1, (n_heads, cfg.d_head)).permute(1, 0, 2).cpu()  # (heads, d_model, d_head)


# ── the whole pass ────────────────────────────────────────────────────────────────────────────────


def run(
    ids: torch.Tensor,
    w: Weights,
    cfg: ModelConfig,
    causal: bool,
    interventions: tuple[iv.Intervention, ...] = (),
    on_layer: Callable[[int, int], None] | None = None,
) -> Captured:
    """Forward pass over token ids (n,), capturing each layer's residual input, q, k and v.

    on_layer(done, n_layers) is called after each block, for progress bars on long inputs.
    """
    n = ids.shape[0]
    rope = rope_tables(n, cfg, ids.device) if cfg.uses_rope else None
    cap = Captured(resid_pre=[], q=[], k=[], v=[])
    x = embed(ids, w, cfg)  # (n, d_model)
    for layer in range(cfg.n_layers):
        cap.resid_pre.append(x)
        q, k, v = qkv(attention_input(x, w, layer, cfg), w, layer, cfg, rope)
        cap.q.append(q)
        cap.k.append(k)
        cap.v.append(v)
        layer_ivs = iv.for_layer(interventions, layer)
        z = layer_z(q, k, v, causal, layer_ivs)  # (n_heads, n, d_head)
        mid = after_attention(x, layer_attn_out(z, w, layer, layer_ivs), w, layer, cfg)  # (n, d_model)
        x = after_mlp(mid, w, layer, cfg)  # (n, d_model)
        if on_layer is not None:
            on_layer(layer + 1, cfg.n_layers)
    cap.resid_pre.append(x)
    return cap


def unembed(resid_final: torch.Tensor, w: Weights, cfg: ModelConfig) -> torch.Tensor:
    """Final norm (pre-norm models) and unembedding: (n, d_model) → (n, d_vocab) logits (decoders only)."""
    x = normalize(resid_final, w, "ln_final", cfg) if "ln_final.w" in w else resid_final
    return linear(x, unembedding(w), w.get("unembed.b_U"))


def unembedding(w: Weights) -> torch.Tensor:
    """W_U (d_model, d_vocab), possibly packed; tied models have none of their own: W_U = W_Eᵀ."""
    return w["unembed.W_U"] if "unembed.W_U" in w else w["embed.W_E"].T
