"""The forward pass, one plain function per step, shared by every architecture.

Activations are (n, d_model) for one sequence: the app traces one text at a time, so there is no
batch dimension except where `scaled_dot_product_attention` wants one (it is fastest with 4-D inputs).
Only O(n·d) tensors are captured per layer (residual in, q, k, v); anything O(n²) is recomputed by
`Trace` for the heads a user looks at.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import backend
from . import interventions as iv
from .attention import (  # noqa: F401  (re-exported: callers read attention through model.py)
    PLAIN,
    AttnOptions,
    add_position_bias,
    allowed_keys,
    attend,
    attend_plain,
    attention_pattern,
    attention_scores,
    layer_scores,
    position_bias,
    query_mask,
    relative_position_bucket,
    soft_cap,
    window_mask,
)
from .config import ModelConfig

Weights = Mapping[str, torch.Tensor]
# T5 keeps one relative-position table (n_buckets, n_heads) per stack, in its first layer; every layer of the
# stack reads it. An encoder-decoder's decoder has its own under dec.blocks.0.attn.rel_bias.
REL_BIAS = "blocks.0.attn.rel_bias"


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


Rope = tuple[torch.Tensor, torch.Tensor]


def rope_tables(n: int, cfg: ModelConfig, device: torch.device, layer: int | None = None) -> Rope:
    """cos and sin, each (n, r) with r = rotary_dim (default d_head): position p rotates pair (i, i + r/2)
    by p·θ^(-2i/r) / divisor_i. θ and the divisors (RoPE scaling) are `layer`'s (default: the global ones).
    The one place RoPE frequencies are made: trace, generation, steps and recompute all come here."""
    r = cfg.rotary_dim or cfg.d_head
    base = cfg.rope_theta if layer is None else cfg.rope_base(layer)
    divisors = cfg.rope_freq_divisors if layer is None else cfg.rope_divisors(layer)
    inv_freq = 1.0 / (base ** (torch.arange(0, r, 2, device=device, dtype=torch.float32) / r))  # (r/2,)
    if divisors:
        if len(divisors) != r // 2:
            raise ValueError(f"{len(divisors)} RoPE frequency divisors for {r // 2} frequencies.")
        inv_freq = inv_freq / torch.tensor(divisors, device=device, dtype=torch.float32)
    angles = torch.outer(torch.arange(n, device=device, dtype=torch.float32), inv_freq)  # (n, r/2)
    angles = torch.cat([angles, angles], dim=-1)  # (n, r)
    return angles.cos(), angles.sin()


def layer_ropes(n: int, cfg: ModelConfig, device: torch.device) -> list[Rope | None]:
    """Each layer's RoPE tables for positions 0..n-1 (None without RoPE); layers with one rule share them."""
    if not cfg.uses_rope:
        return [None] * cfg.n_layers
    tables: dict[tuple, Rope] = {}
    out: list[Rope | None] = []
    for layer in range(cfg.n_layers):
        key = (float(cfg.rope_base(layer)), cfg.rope_divisors(layer))
        if key not in tables:
            tables[key] = rope_tables(n, cfg, device, layer)
        out.append(tables[key])
    return out


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate each head's (first half, second half) pairs of its first r dims (r = cos.shape[-1]; the rest
    pass through unrotated: partial rotary); x is (heads, n, d_head)."""
    r = cos.shape[-1]
    if r < x.shape[-1]:
        return torch.cat([apply_rope(x[..., :r], cos, sin), x[..., r:]], dim=-1)
    half = r // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)  # (heads, n, d_head)
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)  # float32 tables, rounded to a half-precision x (as HF does)
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


def qkv(x: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig, rope: Rope | None) -> tuple[torch.Tensor, ...]:
    """Queries, keys and values of one layer from its (normalised) input x (n, d_model); q and k after
    the q/k norms (where the model has them) and RoPE (where used): `rope` is this layer's tables."""
    q, k, v = qkv_flat(x, w, layer, cfg)
    if cfg.qk_norm == "full":  # OLMo 2: one RMSNorm over all heads' queries (keys), before splitting heads
        q = F.rms_norm(q, (q.shape[-1],), w[f"blocks.{layer}.attn.q_norm.w"], cfg.norm_eps)
        k = F.rms_norm(k, (k.shape[-1],), w[f"blocks.{layer}.attn.k_norm.w"], cfg.norm_eps)
    q = q.unflatten(-1, (cfg.n_heads, cfg.d_head)).transpose(-3, -2)  # (..., n_heads, n, d_head)
    k = k.unflatten(-1, (cfg.n_kv_heads, cfg.d_head)).transpose(-3, -2)  # (..., n_kv_heads, n, d_head)
    # A copy, not a view: the trace keeps v, and a view would keep the whole fused output alive.
    v = v.unflatten(-1, (cfg.n_kv_heads, cfg.d_head)).transpose(-3, -2).contiguous()  # (..., n_kv_heads, n, d_head)
    if cfg.qk_norm == "head":  # Qwen3, Gemma 3: an RMSNorm over each head's d_head
        q = F.rms_norm(q, (cfg.d_head,), w[f"blocks.{layer}.attn.q_norm.w"], cfg.norm_eps)
        k = F.rms_norm(k, (cfg.d_head,), w[f"blocks.{layer}.attn.k_norm.w"], cfg.norm_eps)
    if rope is not None:
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
    return q, k, v


def qkv_flat(x: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig) -> tuple[torch.Tensor, ...]:
    """x (..., n, d_model) → q (..., n, n_heads·d_head), k and v (..., n, n_kv_heads·d_head), biases added."""
    p = f"blocks.{layer}.attn."
    if p + "W_QKV" in w:  # one matrix product instead of three (see fast_weights)
        y = linear(x, w[p + "W_QKV"], w.get(p + "b_QKV"))  # (..., n, (n_heads + 2·n_kv_heads)·d_head)
        return y.split([cfg.n_heads * cfg.d_head, cfg.n_kv_heads * cfg.d_head, cfg.n_kv_heads * cfg.d_head], -1)
    return tuple(linear(x, w[p + f"W_{c}"], w.get(p + f"b_{c}")) for c in "QKV")


# ── attention: the maths lives in attention.py (scores, soft-cap, bias, masks, softmax, SDPA) ─────────


def stack_position_bias(w: Weights, cfg: ModelConfig, n_q: int, n_k: int, row_offset: int = 0) -> torch.Tensor | None:
    """(n_heads, n_q, n_k) the relative position bias every layer of this stack adds to its scores (T5), or
    None. Bidirectional buckets where the stack's own masking is (an encoder), causal ones in a decoder:
    the model's own rule, whatever mask a what-if run forces."""
    if cfg.position_bias == "none":
        return None
    return position_bias(w[REL_BIAS], n_q, n_k, not cfg.causal, cfg.rel_max_distance, row_offset)



def layer_z(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool,
    layer_ivs: tuple[iv.Intervention, ...] = (),
    row_offset: int = 0,
    opts: AttnOptions = PLAIN,
) -> torch.Tensor:
    """One layer's z (n_heads, n_q, d_head), with this layer's interventions applied.

    q holds the queries at positions row_offset .. (generation with a key/value cache passes one query,
    the last position, against every cached key). Several queries start at 0. `opts`: the layer's scale,
    soft-cap and window (AttnOptions.of(cfg, layer)).
    """
    if row_offset and q.shape[-2] > 1:
        raise ValueError("a chunk of several queries must start at position 0")
    z = attend(q, k, v, causal, opts, row_offset)  # (n_heads, n_q, d_head)
    if not layer_ivs:
        return z
    group = q.shape[0] // k.shape[0]
    for head in range(q.shape[0]):
        override = iv.pattern_override(layer_ivs, head)
        if override is not None:
            kv = head // group
            scores = layer_scores(q[head], k[kv], opts.for_head(head))  # (n, n) for this head only
            pattern = iv.modified_pattern(scores, causal, override, row_offset, opts.window)  # float32 (n, n)
            z[head] = pattern.to(v.dtype) @ v[kv]
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
    if act == "relu":  # T5
        return F.relu(x)
    return F.gelu(x, approximate="tanh" if act == "gelu_tanh" else "none")


def mlp(x: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig) -> torch.Tensor:
    p = f"blocks.{layer}.mlp."
    if cfg.gated_mlp:  # SwiGLU (silu) or GeGLU (gelu_tanh, Gemma)
        if p + "W_gate_in" in w:  # one matrix product instead of two (see fast_weights)
            gate, up = linear(x, w[p + "W_gate_in"], None).split(cfg.d_mlp, -1)  # (..., n, d_mlp) each
        else:
            gate, up = linear(x, w[p + "W_gate"], None), linear(x, w[p + "W_in"], None)
        return linear(activation(gate, cfg.act) * up, w[p + "W_out"], None)  # (..., n, d_model)
    hidden = activation(linear(x, w[p + "W_in"], w.get(p + "b_in")), cfg.act)  # (..., n, d_mlp)
    return linear(hidden, w[p + "W_out"], w.get(p + "b_out"))  # (..., n, d_model)


def attention_input(resid: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig) -> torch.Tensor:
    """What q, k and v are computed from: the normalised residual (pre-norm, sandwich) or the residual itself."""
    if cfg.norm_position in ("pre", "sandwich"):
        return normalize(resid, w, f"blocks.{layer}.ln_attn", cfg)
    return resid


def after_attention(
    resid: torch.Tensor, attn_out: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig
) -> torch.Tensor:
    """The residual stream between the attention and MLP sublayers (parallel blocks: resid + attention)."""
    if cfg.norm_position in ("sandwich", "post_sublayer"):  # the sublayer's output is normalised before its add
        return resid + normalize(attn_out, w, f"blocks.{layer}.ln_attn_out", cfg)
    mid = resid + attn_out
    return normalize(mid, w, f"blocks.{layer}.ln_attn", cfg) if cfg.norm_position == "post" else mid


def after_mlp(
    mid: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig, resid: torch.Tensor | None = None
) -> torch.Tensor:
    """The residual leaving the block. Parallel blocks (GPT-NeoX) feed the MLP the block's input `resid`,
    not `mid`, so they need it."""
    p = f"blocks.{layer}."
    if cfg.parallel_blocks:
        if resid is None:
            raise ValueError("parallel blocks compute the MLP from the block's input: pass resid")
        return mid + mlp(normalize(resid, w, p + "ln_mlp", cfg), w, layer, cfg)
    if cfg.norm_position == "pre":
        return mid + mlp(normalize(mid, w, p + "ln_mlp", cfg), w, layer, cfg)
    if cfg.norm_position == "sandwich":
        return mid + normalize(mlp(normalize(mid, w, p + "ln_mlp", cfg), w, layer, cfg), w, p + "ln_mlp_out", cfg)
    if cfg.norm_position == "post_sublayer":
        return mid + normalize(mlp(mid, w, layer, cfg), w, p + "ln_mlp_out", cfg)
    return normalize(mid + mlp(mid, w, layer, cfg), w, p + "ln_mlp", cfg)


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
    ropes = layer_ropes(ids.shape[0], cfg, ids.device)
    bias = stack_position_bias(w, cfg, ids.shape[0], ids.shape[0])  # (n_heads, n, n) or None: shared by layers
    cap = Captured(resid_pre=[], q=[], k=[], v=[])
    x = embed(ids, w, cfg)  # (n, d_model)
    for layer in range(cfg.n_layers):
        cap.resid_pre.append(x)
        q, k, v = qkv(attention_input(x, w, layer, cfg), w, layer, cfg, ropes[layer])
        cap.q.append(q)
        cap.k.append(k)
        cap.v.append(v)
        layer_ivs = iv.for_layer(interventions, layer)
        z = layer_z(q, k, v, causal, layer_ivs, opts=AttnOptions.of(cfg, layer, bias))  # (n_heads, n, d_head)
        mid = after_attention(x, layer_attn_out(z, w, layer, layer_ivs), w, layer, cfg)  # (n, d_model)
        x = after_mlp(mid, w, layer, cfg, x)  # (n, d_model)
        if on_layer is not None:
            on_layer(layer + 1, cfg.n_layers)
    cap.resid_pre.append(x)
    return cap


def unembed(resid_final: torch.Tensor, w: Weights, cfg: ModelConfig) -> torch.Tensor:
    """Final norm (pre-norm models) and unembedding: (n, d_model) → (n, d_vocab) logits (decoders only)."""
    x = normalize(resid_final, w, "ln_final", cfg) if "ln_final.w" in w else resid_final
    if cfg.unembed_scale != 1.0:  # T5 with tied embeddings: d_model^-0.5
        x = x * cfg.unembed_scale
    return soft_cap(linear(x, unembedding(w), w.get("unembed.b_U")), cfg.final_softcap)  # Gemma 2 caps logits


def unembedding(w: Weights) -> torch.Tensor:
    """W_U (d_model, d_vocab), possibly packed; tied models have none of their own: W_U = W_Eᵀ."""
    return w["unembed.W_U"] if "unembed.W_U" in w else w["embed.W_E"].T
