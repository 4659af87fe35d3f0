"""The forward pass's building blocks, shared by every architecture: norms, RoPE, the linear
maps that make q, k and v, the MLP, the residual stream's plumbing around the two sublayers, T5's relative
position bias, and the weights the pass reads (fused, and on the CPU packed). `model.py` puts them together
around attention, whose maths lives there.

Activations are (n, d_model) for one sequence: the app traces one text at a time, so there is no batch
dimension except where a caller adds one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn.functional as F

from . import backend
from .config import ModelConfig
from .experts import feed_forward, mixture_of_experts
from .latent import latent_qkv
from .linear import linear

Weights = Mapping[str, torch.Tensor]


# ── norms and RoPE ────────────────────────────────────────────────────────────────────


def normalize(x: torch.Tensor, w: Weights, prefix: str, cfg: ModelConfig) -> torch.Tensor:
    """RMSNorm (llama) or LayerNorm (BERT) over x's last dimension (d_model, or ELECTRA-small's narrower
    embeddings); without weights where the model's norms have none."""
    weight = w[prefix + ".w"] if cfg.norm_weights else None
    if cfg.norm == "rms":  # w · x / √(mean(x²) + ε), one fused kernel
        return F.rms_norm(x, x.shape[-1:], weight, cfg.norm_eps)
    return F.layer_norm(x, x.shape[-1:], weight, w.get(prefix + ".b"), cfg.norm_eps)


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
    if cfg.rope_reversed:  # NanoChat turns each pair by −p·θ: the same cos, the sine's sign flipped
        angles = -angles
    if divisors and cfg.rope_attention_factor != 1.0:  # LongRoPE scales the rotated q and k (the scores by its square)
        return angles.cos() * cfg.rope_attention_factor, angles.sin() * cfg.rope_attention_factor
    return angles.cos(), angles.sin()


def layer_ropes(n: int, cfg: ModelConfig, device: torch.device) -> list[Rope | None]:
    """Each layer's RoPE tables for positions 0..n-1 (None where the layer does not rotate: no RoPE in the model,
    or a NoPE layer); layers with one rule share them."""
    if not cfg.uses_rope:
        return [None] * cfg.n_layers
    tables: dict[tuple, Rope] = {}
    out: list[Rope | None] = []
    for layer in range(cfg.n_layers):
        if not cfg.rotates(layer):
            out.append(None)
            continue
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


# ── the linear maps: q, k, v and the MLP ──────────────────────────────────────────────────────────


def qkv(x: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig, rope: Rope | None) -> tuple[torch.Tensor, ...]:
    """Queries, keys and values of one layer from its (normalised) input x (n, d_model); q and k after
    the q/k norms (where the model has them) and RoPE (where used): `rope` is this layer's tables."""
    if cfg.kv_latent_rank:  # DeepSeek's multi-head latent attention: q, k, v read up from small latents
        return latent_qkv(x, w, layer, cfg, rope)
    q, k, v = qkv_flat(x, w, layer, cfg)
    norm = cfg.qk_norm_in(layer)  # Llama 4 normalises only in the layers that rotate
    if norm == "full":  # OLMo 2: one RMSNorm over all heads' queries (keys) before splitting heads; ESM C: LayerNorm
        q, k = normalize(q, w, f"blocks.{layer}.attn.q_norm", cfg), normalize(k, w, f"blocks.{layer}.attn.k_norm", cfg)
    if cfg.qkv_clip is not None:  # OLMo's clip_qkv
        q, k, v = (t.clamp(-cfg.qkv_clip, cfg.qkv_clip) for t in (q, k, v))
    q = q.unflatten(-1, (cfg.n_heads, cfg.d_head)).transpose(-3, -2)  # (..., n_heads, n, d_head)
    kv, repeats = stored_kv_heads(cfg, layer), cfg.n_kv_heads // stored_kv_heads(cfg, layer)
    k = k.unflatten(-1, (kv, cfg.d_head)).transpose(-3, -2)  # (..., kv, n, d_head)
    # A copy, not a view: the trace keeps v, and a view would keep the whole fused output alive.
    v = v.unflatten(-1, (kv, cfg.d_value)).transpose(-3, -2).contiguous()  # (..., kv, n, d_value)
    if repeats > 1:  # MiMo-V2-Flash's full layers: each head given to the queries of `repeats` heads of n_kv_heads
        k, v = k.repeat_interleave(repeats, dim=-3), v.repeat_interleave(repeats, dim=-3)  # (..., n_kv_heads, n, ·)
    if norm == "head" and not cfg.qk_norm_after_rope:  # Qwen3, Gemma 3: an RMSNorm over each head's d_head
        q, k = head_norm(q, w, layer, cfg, "q"), head_norm(k, w, layer, cfg, "k")
    if rope is not None:
        q, k = apply_rope(q, *rope), apply_rope(k, *rope)
    if norm == "head" and cfg.qk_norm_after_rope:  # Hunyuan, Llama 4: the same norm, on the rotated q and k
        q, k = head_norm(q, w, layer, cfg, "q"), head_norm(k, w, layer, cfg, "k")
    return q, k, v


def output_gate(x: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig) -> torch.Tensor | None:
    """σ(x·W_G + b_G) from the layer's attention input x (..., n, d_model), one gate per head, query and dimension:
    (..., n_heads, n, d_head_v), which multiplies each head's z before W_O (AFMoE); None without one."""
    if not cfg.attn_output_gate:
        return None
    p = f"blocks.{layer}.attn."
    g = torch.sigmoid(linear(x, w[p + "W_G"], w.get(p + "b_G")))  # (..., n, n_heads·d_head_v)
    if cfg.attn_gate_per_head:  # LFM3: (..., n, n_heads), one number a head, the same on each of its dimensions
        g = g.repeat_interleave(cfg.d_value, dim=-1)  # (..., n, n_heads·d_head_v)
    return g.unflatten(-1, (cfg.n_heads, cfg.d_value)).transpose(-3, -2)  # (..., n_heads, n, d_head_v)


def head_norm(x: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig, which: str) -> torch.Tensor:
    """The layer's norm over each head's d_head of q (which "q", x (..., n_heads, n, d_head)) or k: an RMSNorm (Qwen3,
    Gemma 3), or a LayerNorm in a model whose norms are LayerNorms (Phi, StableLM, Command R+, Persimmon); times its
    learned weight (none: Llama 4's L2 norm), plus its bias where it has one. The weight (and bias) is [d_head],
    shared by the heads, or [heads, d_head], each head's own (StableLM's, Command R+'s)."""
    p = f"blocks.{layer}.attn.{which}_norm."
    weight, bias = (w[p + "w"] if cfg.qk_norm_weights else None), w.get(p + "b")
    d, eps = (cfg.d_head,), cfg.norm_eps
    if weight is None or weight.dim() == 1:  # one norm for every head
        return F.rms_norm(x, d, weight, eps) if cfg.norm == "rms" else F.layer_norm(x, d, weight, bias, eps)
    x = F.rms_norm(x, d, eps=eps) if cfg.norm == "rms" else F.layer_norm(x, d, eps=eps)
    x = x * weight[:, None, :]  # (heads, 1, d_head): each head's row, over all its queries (keys)
    return x if bias is None else x + bias[:, None, :]


def stored_kv_heads(cfg: ModelConfig, layer: int) -> int:
    """The key/value heads `layer`'s weights hold: n_kv_heads, or the layer's own (kv_heads_layers)."""
    return cfg.kv_heads_layers[layer] if cfg.kv_heads_layers else cfg.n_kv_heads


def qkv_flat(x: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig) -> tuple[torch.Tensor, ...]:
    """x (..., n, d_model) → q (..., n, n_heads·d_head), k (..., n, kv·d_head), v (..., n, kv·d_value), biases added."""
    p = f"blocks.{layer}.attn."
    if p + "W_QKV" in w:  # one matrix product instead of three (see fast_weights)
        y = linear(x, w[p + "W_QKV"], w.get(p + "b_QKV"))  # (..., n, n_heads·d_head + kv·(d_head + d_value))
        kv = stored_kv_heads(cfg, layer)
        return y.split([cfg.n_heads * cfg.d_head, kv * cfg.d_head, kv * cfg.d_value], -1)
    return tuple(linear(x, w[p + f"W_{c}"], w.get(p + f"b_{c}")) for c in "QKV")


def mlp(x: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig) -> torch.Tensor:
    """The layer's MLP on x (..., n, d_model): a feed-forward network, or a mixture of experts (a router: Mixtral)."""
    p = f"blocks.{layer}.mlp."
    if p + "router.W" in w:
        return mixture_of_experts(x, w, p, cfg)
    return feed_forward(x, w, p, cfg)


# ── the residual stream around the sublayers ──────────────────────────────────────────────────────


def attention_input(resid: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig) -> torch.Tensor:
    """What q, k and v are computed from: the normalised residual (pre-norm, sandwich) or the residual itself (also
    where the layer mixes no tokens: Nemotron-H's MLP-only layers have no norm before a mixer)."""
    first_unnormed = layer == 0 and cfg.skip_first_attn_norm
    if cfg.norm_at(layer) in ("pre", "sandwich", "pre_mlp_out") and not first_unnormed and cfg.mixes(layer):
        return normalize(resid, w, f"blocks.{layer}.ln_attn", cfg)
    return resid


def after_attention(
    resid: torch.Tensor, attn_out: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig
) -> torch.Tensor:
    """The residual stream between the attention and MLP sublayers (parallel blocks: resid + attention); the block's
    input itself where the layer mixes no tokens (Nemotron-H's MLP-only layers)."""
    if not cfg.mixes(layer):
        return resid
    if cfg.norm_at(layer) in ("sandwich", "post_sublayer"):  # the sublayer's output is normalised before its add
        return resid + normalize(attn_out, w, f"blocks.{layer}.ln_attn_out", cfg)
    mid = resid + attn_out
    return normalize(mid, w, f"blocks.{layer}.ln_attn", cfg) if cfg.norm_at(layer) == "post" else mid


def after_mlp(
    mid: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig, resid: torch.Tensor | None = None
) -> torch.Tensor:
    """The residual leaving the block. Parallel blocks (GPT-NeoX) feed the MLP the block's input `resid`,
    not `mid`, so they need it; with one norm per block (Phi) the MLP reads the attention's ln_attn(resid)."""
    p = f"blocks.{layer}."
    if not cfg.has_mlp(layer):  # Nemotron-H: a block that is a mixer alone
        return mid
    if cfg.parallel_blocks:
        if resid is None:
            raise ValueError("parallel blocks compute the MLP from the block's input: pass resid")
        norm = p + ("ln_attn" if cfg.shared_block_norm else "ln_mlp")
        return mid + mlp(normalize(resid, w, norm, cfg), w, layer, cfg)
    where = cfg.norm_at(layer)
    if where == "pre":
        return mid + mlp(normalize(mid, w, p + "ln_mlp", cfg), w, layer, cfg)
    if where in ("sandwich", "pre_mlp_out"):  # A.X K1's sparse layers: the MLP's output alone normed before its add
        return mid + normalize(mlp(normalize(mid, w, p + "ln_mlp", cfg), w, layer, cfg), w, p + "ln_mlp_out", cfg)
    if where == "post_sublayer":
        return mid + normalize(mlp(mid, w, layer, cfg), w, p + "ln_mlp_out", cfg)
    return normalize(mid + mlp(mid, w, layer, cfg), w, p + "ln_mlp", cfg)


# ── T5's relative position bias ───────────────────────────────────────────────────────────────────


# T5 keeps one relative-position table (n_buckets, n_heads) per stack, in its first layer; every layer of the
# stack reads it. An encoder-decoder's decoder has its own under dec.blocks.0.attn.rel_bias.
REL_BIAS = "blocks.0.attn.rel_bias"


def relative_position_bucket(
    relative: torch.Tensor, bidirectional: bool, n_buckets: int, max_distance: int
) -> torch.Tensor:
    """T5's bucket of each offset key − query (long tensor in, long tensor of the same shape out).

    Bidirectional (an encoder): keys after the query use the upper half of the buckets, keys at or before
    it the lower half. Causal (a decoder): only keys at or before the query are told apart (later ones
    share bucket 0, and the mask hides them). In each half, the first max_exact = half/2 buckets are
    the exact distances 0 .. max_exact − 1; the rest grow logarithmically up to max_distance, and every
    distance beyond shares the last bucket. The same operations, in the same order, as transformers'
    T5Attention._relative_position_bucket, so the float log rounds to the same bucket.
    """
    buckets = torch.zeros_like(relative)
    if bidirectional:
        n_buckets //= 2
        buckets = buckets + (relative > 0).long() * n_buckets
        distance = relative.abs()
    else:
        distance = (-relative).clamp(min=0)
    max_exact = n_buckets // 2
    far = distance.clamp(min=max_exact).float()  # the log's argument where it is used (log 0 never taken)
    logarithmic = max_exact + (
        torch.log(far / max_exact) / math.log(max_distance / max_exact) * (n_buckets - max_exact)
    ).long()
    logarithmic = logarithmic.clamp(max=n_buckets - 1)
    return buckets + torch.where(distance < max_exact, distance, logarithmic)


def position_bias(
    table: torch.Tensor, n_q: int, n_k: int, bidirectional: bool, max_distance: int, row_offset: int = 0
) -> torch.Tensor:
    """(n_heads, n_q, n_k) T5's relative position bias for queries at row_offset .. row_offset + n_q − 1 and
    keys 0 .. n_k − 1: table (n_buckets, n_heads) looked up at each pair's bucket (relative_position_bucket)."""
    rows = torch.arange(row_offset, row_offset + n_q, device=table.device)[:, None]  # (n_q, 1)
    keys = torch.arange(n_k, device=table.device)[None, :]  # (1, n_k)
    buckets = relative_position_bucket(keys - rows, bidirectional, table.shape[0], max_distance)  # (n_q, n_k)
    return table[buckets].permute(2, 0, 1).contiguous()  # (n_q, n_k, n_heads) → (n_heads, n_q, n_k)


def alibi_slopes(n_heads: int, bias_max: float | None = None) -> torch.Tensor:
    """(n_heads,) ALiBi's slopes. BLOOM's (bias_max None): a geometric sequence from 2^(−8/m) for the largest power
    of two m ≤ n_heads, then every other power of the next sequence for the heads beyond m. MPT's: 2^(−k·bias_max/m)
    for k = 1..m, m the smallest power of two ≥ n_heads, the odd k first then the even ones where m > n_heads, the
    first n_heads kept (transformers' build_mpt_alibi_tensor, in float32 as it computes them)."""
    if bias_max is not None:
        m = 2 ** math.ceil(math.log2(n_heads))
        slopes = 1.0 / torch.pow(2, torch.arange(1, m + 1, dtype=torch.float32) * (bias_max / m))  # (m,)
        return torch.cat([slopes[1::2], slopes[::2]])[:n_heads] if m != n_heads else slopes
    m = 2 ** math.floor(math.log2(n_heads))
    slopes = [(2 ** (-8 / m)) ** i for i in range(1, m + 1)]
    extra = min(m, n_heads - m)
    slopes += [(2 ** (-8 / (2 * m))) ** i for i in range(1, 2 * extra, 2)]
    return torch.tensor(slopes, dtype=torch.float32)


def stack_position_bias(w: Weights, cfg: ModelConfig, n_q: int, n_k: int, row_offset: int = 0) -> torch.Tensor | None:
    """(n_heads, n_q, n_k) the position bias every layer of this stack adds to its scores, or None. T5: its
    relative table, bidirectional buckets where the stack's own masking is (an encoder), causal ones in a
    decoder (the model's own rule, whatever mask a what-if run forces). ALiBi (BLOOM): slope_h × the key's
    position, as the model adds it (the query's own −slope_h × i would be the same in every entry of a row,
    which the softmax ignores); MPT's: slope_h × (the key's position − the last key's), as it adds it; Falcon-RW's:
    BLOOM's, times the scores' scale, as it adds the bias to q·k before scaling them."""
    if cfg.position_bias in ("none", "disentangled"):  # DeBERTa's terms are each layer's (disentangled.py)
        return None
    if cfg.position_bias == "alibi":
        keys = torch.arange(n_k, dtype=torch.float32)  # (n_k,)
        if cfg.alibi_bias_max is not None:  # MPT: 1 − n_k … 0
            keys = keys - (n_k - 1)
        slopes = alibi_slopes(cfg.n_heads, cfg.alibi_bias_max) * (cfg.scale if cfg.alibi_scaled else 1.0)  # Falcon-RW
        bias = slopes[:, None, None] * keys[None, None, :]  # (n_heads, 1, n_k)
        return bias.expand(cfg.n_heads, n_q, n_k).contiguous().to(w["embed.W_E"].device)
    return position_bias(w[REL_BIAS], n_q, n_k, not cfg.causal, cfg.rel_max_distance, row_offset)


# ── the weights the pass reads ────────────────────────────────────────────────────────────────────


def unembedding(w: Weights) -> torch.Tensor:
    """W_U (d_model, d_vocab), possibly packed; tied models have none of their own: W_U = W_Eᵀ."""
    return w["unembed.W_U"] if "unembed.W_U" in w else w["embed.W_E"].T


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
            if any(b in w for b in biases):  # DeBERTa v1 has b_Q and b_V, no b_K: zeros stand in for it
                present = {}
                for b, W in zip(biases, names, strict=True):
                    present[b] = w[b] if b in w else w[W].new_zeros(w[W].shape[-1])
                _fuse(present, fast, biases, p + "attn.b_QKV", pack)
        if cfg.gated_mlp and p + "mlp.W_gate" in w:
            _fuse(w, fast, [p + "mlp.W_gate", p + "mlp.W_in"], p + "mlp.W_gate_in", pack)
            if p + "mlp.b_gate" in w:
                _fuse(w, fast, [p + "mlp.b_gate", p + "mlp.b_in"], p + "mlp.b_gate_in", pack)
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


def W_O_heads(w: Weights, cfg: ModelConfig, layer: int) -> torch.Tensor:
    """One layer's W_O split by head: (n_heads, d_head_v, d_model), a view on the weight's own device."""
    W_O = w[f"blocks.{layer}.attn.W_O"]  # (n_heads · d_head_v, d_model)
    return W_O.view(cfg.n_heads, cfg.d_value, cfg.d_model)  # (n_heads, d_head_v, d_model)


def per_head_weight(w: Weights, cfg: ModelConfig, layer: int, name: str) -> torch.Tensor:
    """One layer's W_Q/W_K/W_V as (heads, d_model, d_head or d_value) or W_O as (n_heads, d_value, d_model), on the
    CPU: W_K and W_V the key/value heads the layer stores (stored_kv_heads)."""
    if name == "W_O":
        return W_O_heads(w, cfg, layer).cpu()  # (n_heads, d_head_v, d_model)
    W = w[f"blocks.{layer}.attn.{name}"]
    n_heads = cfg.n_heads if name == "W_Q" else stored_kv_heads(cfg, layer)
    width = cfg.d_value if name == "W_V" else cfg.d_head
    # W may be a column slice of the fused W_QKV, so unflatten (a view either way) rather than view().
    return W.unflatten(1, (n_heads, width)).permute(1, 0, 2).cpu()  # (heads, d_model, width)
