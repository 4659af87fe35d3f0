"""The forward pass, and softmax attention written out beside the fast call it runs: where the number a
user sees is computed.

One layer's attention is q·kᵀ · scale → (soft-cap) → (+ position bias) → mask → softmax → · v, where

- scale is the config's `attn_scale` (1/√d_head unless the model says otherwise, e.g. Gemma's
  query_pre_attn_scalar^-0.5; T5: 1, no scale at all);
- the soft-cap (Gemma 2) is cap·tanh(s/cap), applied to the scaled scores *before* the mask;
- the position bias (T5) is a learned number per head and bucket of key − query offset
  (`blocks.relative_position_bucket`), added to the scores as its own step (`add_position_bias`), after
  q·k·scale and before the mask: `attention_scores` stays q·k·scale, and the bias stays a separate term
  (DeBERTa's position terms, made from each layer's own q and k, take the same place: disentangled.py);
- the mask allows key j for query i when j ≤ i (causal) and i − j < window (a sliding-window layer: a
  query sees at most `window` keys, itself included, as in Hugging Face's `sliding_window_overlay`).
  Without the causal mask the window still holds, on both sides: |i − j| < window.

"Scores" in the trace are the softmax's input before the mask: after the soft-cap where a model has one,
with the position bias where it has one; the raw scaled q·k stay available (Trace.scores(..., capped=False,
with_bias=False)).

`attend` is the fast path the pass runs (SDPA, with an explicit boolean mask when a window applies, and the
position bias as an additive float mask); SDPA has no soft-cap, so a soft-capped layer runs `attend_plain`,
the written-out path, instead. `Trace.pattern` computes the weights a user sees with `layer_scores`,
`allowed_keys` and `attention_pattern` below, from the q and k the pass captured.

The pass keeps only O(n·d) tensors per layer (residual in, q, k, v); anything O(n²) is recomputed by
`Trace` for the heads a user looks at. Embeddings, norms, RoPE, the projections and the MLP are in
`blocks.py`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

from . import interventions as iv
from .activations import activation
from .blocks import (
    Weights,
    after_attention,
    after_mlp,
    attention_input,
    layer_ropes,
    linear,
    normalize,
    output_gate,
    qkv,
    stack_position_bias,
    unembedding,
)
from .config import ModelConfig
from .disentangled import layer_position_bias
from .dtypes import wide
from .embeddings import embed
from .mixers import beside_attention, mix


@dataclass
class Captured:
    """What one forward pass keeps: enough to recompute every intermediate of attention."""

    resid_pre: list[torch.Tensor]  # n_layers + 1 entries, each (n, d_model); the last is the final residual
    # one entry per layer; None in a hybrid's layers without attention (ModelConfig.attends)
    q: list[torch.Tensor | None]  # (n_heads, n, d_head), after RoPE where used
    k: list[torch.Tensor | None]  # (n_kv_heads, n, d_head), after RoPE where used
    v: list[torch.Tensor | None]  # (n_kv_heads, n, d_head)
    # BART's classifier (seq2seq_classify.py): its decoder's residual at the last </s>, (d_model,) × n_dec_layers + 1
    decoder_eos: list[torch.Tensor] = field(default_factory=list, kw_only=True)


# ── attention: scores, masks, softmax (written out) and SDPA (fast) ───────────────────────────────


@dataclass(frozen=True)
class AttnOptions:
    """What one layer's attention does beyond plain causal softmax(q·kᵀ/√d_head)."""

    scale: float | None = None  # None: 1/√d_head
    softcap: float | None = None
    window: int | None = None
    # T5: the position bias for these queries and keys, (n_heads, n_q, n_k), or (n_q, n_k) for one head's
    # options (`for_head`). A tensor: left out of ==, so options compare by the config's features alone.
    bias: torch.Tensor | None = field(default=None, compare=False, repr=False)
    # GPT-OSS: each head's sink logit (n_heads,), or a 0-dim tensor in one head's options (model.softmax_keys)
    sinks: torch.Tensor | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(
        cls, cfg: ModelConfig, layer: int, bias: torch.Tensor | None = None, sinks: torch.Tensor | None = None
    ) -> AttnOptions:
        return cls(cfg.attn_scale, cfg.attn_softcap, cfg.window(layer), bias, sinks)

    def for_head(self, head: int) -> AttnOptions:
        """The options of one query head: its own slice of the position bias and its own sink."""
        if self.bias is None and self.sinks is None:
            return self
        bias = None if self.bias is None else self.bias[head]
        sinks = None if self.sinks is None else self.sinks[head]
        return replace(self, bias=bias, sinks=sinks)


def layer_sinks(w: Weights, layer: int) -> torch.Tensor | None:
    """(n_heads,) the layer's attention-sink logits (GPT-OSS), or None for a model without sinks."""
    return w.get(f"blocks.{layer}.attn.sinks")


PLAIN = AttnOptions()


def attention_scores(q: torch.Tensor, k: torch.Tensor, scale: float | None = None) -> torch.Tensor:
    """Scaled dot products q·kᵀ·scale (default 1/√d_head): q (..., n_q, d_head), k (..., n_k, d_head)
    → (..., n_q, n_k). Half-precision q and k are upcast first: scores, and so patterns, are float32.
    """
    q, k = wide(q), wide(k)
    if scale is None:
        return q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])  # (..., n_q, n_k)
    return q @ k.transpose(-1, -2) * scale  # (..., n_q, n_k)


def soft_cap(x: torch.Tensor, cap: float | None) -> torch.Tensor:
    """cap·tanh(x/cap): squashes x smoothly into (−cap, cap); x itself when cap is None."""
    return x if cap is None else torch.tanh(x / cap) * cap


def add_position_bias(scores: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """scores + the position bias (T5), its own step between the scaled (capped) scores and the mask;
    scores themselves where the model has no bias."""
    return scores if bias is None else scores + bias


def layer_scores(
    q: torch.Tensor, k: torch.Tensor, opts: AttnOptions, capped: bool = True, with_bias: bool = True
) -> torch.Tensor:
    """The softmax's input before the mask: scaled q·kᵀ, soft-capped where the layer caps (and `capped`),
    plus the position bias where the layer has one (and `with_bias`)."""
    s = attention_scores(q, k, opts.scale)
    s = soft_cap(s, opts.softcap) if capped else s
    return add_position_bias(s, opts.bias) if with_bias else s


def query_mask(
    n_q: int, n_k: int, row_offset: int = 0, device: torch.device | str = "cpu", window: int | None = None
) -> torch.Tensor:
    """(n_q, n_k) bool causal mask for queries row_offset .. row_offset + n_q - 1: True where key j ≤ query i
    (and i − j < window when a sliding window is given)."""
    rows = torch.arange(row_offset, row_offset + n_q, device=device)[:, None]  # (n_q, 1) the queries' positions
    keys = torch.arange(n_k, device=device)[None, :]  # (1, n_k)
    allowed = keys <= rows  # (n_q, n_k)
    return allowed if window is None else allowed & (rows - keys < window)


def window_mask(
    n_q: int, n_k: int, window: int, row_offset: int = 0, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """(n_q, n_k) bool: the sliding window alone, True where |i − j| < window (the masking page draws it)."""
    rows = torch.arange(row_offset, row_offset + n_q, device=device)[:, None]  # (n_q, 1)
    keys = torch.arange(n_k, device=device)[None, :]  # (1, n_k)
    return (rows - keys).abs() < window  # (n_q, n_k)


def allowed_keys(
    n_q: int, n_k: int, causal: bool, window: int | None, row_offset: int = 0, device: torch.device | str = "cpu"
) -> torch.Tensor | None:
    """(n_q, n_k) bool mask a layer uses (causal and/or window), or None when every key is allowed."""
    if causal:
        return query_mask(n_q, n_k, row_offset, device, window)
    return None if window is None else window_mask(n_q, n_k, window, row_offset, device)


# GPT-OSS's attention sinks: a sink is one learned logit per head that joins each query's softmax as if it were one
# more key, with no value. It takes its share of the weight and the real keys share the rest, so a row of the
# pattern sums to 1 − the sink's share: what the head sends nowhere.
def softmax_keys(scores: torch.Tensor, sinks: torch.Tensor | None = None) -> torch.Tensor:
    """softmax over the last dim (keys) of scores (..., n_q, n_k).

    sinks: None, or the heads' sink logits: (h,) for scores (..., h, n_q, n_k), a 0-dim tensor for one head's
    (n_q, n_k). Each row's softmax then counts exp(sink) too, and the sink's column is dropped (as in
    transformers' GPT-OSS eager attention).
    """
    if sinks is None:
        return torch.softmax(scores, dim=-1)  # (..., n_q, n_k)
    column = sinks.to(scores.dtype)[..., None, None].expand(*scores.shape[:-1], 1)  # (..., n_q, 1)
    return torch.softmax(torch.cat([scores, column], dim=-1), dim=-1)[..., :-1]  # (..., n_q, n_k)


def attention_pattern(
    scores: torch.Tensor, mask: torch.Tensor | None, sinks: torch.Tensor | None = None
) -> torch.Tensor:
    """softmax over keys of the scores with −∞ where `mask` (broadcast to scores) is False; rows sum to 1,
    or to 1 − the sink's share where the heads have sinks (GPT-OSS; softmax_keys).

    scores (..., n_q, n_k), mask (n_q, n_k) bool or None (nothing masked). exp(−∞) = 0, so masked keys
    get exactly zero weight.
    """
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))  # (..., n_q, n_k)
    return softmax_keys(scores, sinks)  # (..., n_q, n_k)


def attend_plain(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, opts: AttnOptions = PLAIN, row_offset: int = 0
) -> torch.Tensor:
    """z = pattern·v, step by step: the readable twin of `attend` (same inputs, same z up to rounding).

    q (..., n_heads, n_q, d_head); k and v (..., n_kv_heads, n_k, d_head): each key/value head serves a
    group of consecutive query heads. Queries sit at positions row_offset ...
    """
    group = q.shape[-3] // k.shape[-3]
    k = k.repeat_interleave(group, dim=-3)  # (..., n_heads, n_k, d_head)
    v = v.repeat_interleave(group, dim=-3)  # (..., n_heads, n_k, d_head)
    n_q, n_k = q.shape[-2], k.shape[-2]
    mask = allowed_keys(n_q, n_k, causal, opts.window, row_offset, q.device)
    pattern = attention_pattern(layer_scores(q, k, opts), mask, opts.sinks)  # (..., n_heads, n_q, n_k)
    return pattern.to(v.dtype) @ v  # (..., n_heads, n_q, d_head); in v's dtype, as HF's eager attention


def attend(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, opts: AttnOptions = PLAIN, row_offset: int = 0
) -> torch.Tensor:
    """z = softmax(q·kᵀ·scale + mask)·v for every head at once, without keeping the (n, n) pattern.

    The fast path the forward pass runs; `attend_plain` above is the same computation written out (and
    what runs for soft-capped layers and heads with sinks: SDPA can do neither). Queries sit at positions
    row_offset ..; with causal=True and row_offset=0 the queries and keys are the same positions.

    q is (n_heads, n, d_head) or batched (B, n_heads, n, d_head); k and v have n_kv_heads heads.
    SDPA takes 4-D inputs (batch, heads, n, d_head): measured ~5x faster on CPU than 3-D ones.
    """
    if opts.softcap is not None or opts.sinks is not None:
        return attend_plain(q, k, v, causal, opts, row_offset)
    if opts.bias is not None:
        return _attend_biased(q, k, v, causal, opts, row_offset)
    unbatched = q.dim() == 3
    if unbatched:
        q, k, v = q[None], k[None], v[None]  # (1, heads, n, d_head)
    scale = opts.scale if opts.scale is not None else 1.0 / math.sqrt(q.shape[-1])
    gqa = q.shape[1] != k.shape[1]
    if gqa and q.device.type not in ("cpu", "cuda"):
        group = q.shape[1] // k.shape[1]  # backends without enable_gqa: give each query head its own copy
        k, v, gqa = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1), False
    n_q, n_k = q.shape[-2], k.shape[-2]
    if causal and n_q == 1 and row_offset == n_k - 1:
        causal = False  # one query after every key (a generation step): the causal mask hides nothing
    if opts.window is not None or (causal and (row_offset or n_q != n_k)):
        mask = allowed_keys(n_q, n_k, causal, opts.window, row_offset, q.device)  # (n_q, n_k) bool: True attends
        z = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale, enable_gqa=gqa)
    else:
        z = F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale, enable_gqa=gqa)  # (B, H, n, d)
    return z[0] if unbatched else z


def _attend_biased(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, opts: AttnOptions, row_offset: int
) -> torch.Tensor:
    """`attend` for a layer with a position bias: SDPA adds a float attn_mask to q·kᵀ·scale, so the bias goes
    in as that mask, with −∞ where the causal mask or window hides a key (T5 has no grouped-query heads)."""
    n_q, n_k = q.shape[-2], k.shape[-2]
    allowed = allowed_keys(n_q, n_k, causal, opts.window, row_offset, q.device)  # (n_q, n_k) bool or None
    additive = opts.bias.to(q.dtype)  # (n_heads, n_q, n_k): broadcast over a batch dimension
    if allowed is not None:
        additive = additive.masked_fill(~allowed, float("-inf"))
    scale = opts.scale if opts.scale is not None else 1.0 / math.sqrt(q.shape[-1])
    if q.shape[-3] != k.shape[-3]:
        group = q.shape[-3] // k.shape[-3]
        k, v = k.repeat_interleave(group, dim=-3), v.repeat_interleave(group, dim=-3)
    unbatched = q.dim() == 3
    if unbatched:
        q, k, v = q[None], k[None], v[None]  # (1, heads, n, d_head)
    z = F.scaled_dot_product_attention(q, k, v, attn_mask=additive, scale=scale)  # (B, H, n_q, d_head)
    return z[0] if unbatched else z


# ── one layer's attention, with interventions ─────────────────────────────────────────────────────


def layer_z(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool,
    layer_ivs: tuple[iv.Intervention, ...] = (),
    row_offset: int = 0,
    opts: AttnOptions = PLAIN,
    gate: torch.Tensor | None = None,
) -> torch.Tensor:
    """One layer's z (n_heads, n_q, d_head), with this layer's interventions applied.

    q holds the queries at positions row_offset .. (generation with a key/value cache passes one query,
    the last position, against every cached key). Several queries start at 0. `opts`: the layer's scale,
    soft-cap and window (AttnOptions.of(cfg, layer)). `gate`: the queries' output gate (blocks.output_gate),
    which z is multiplied by before the head ablations, so they act on what W_O reads.
    """
    if row_offset and q.shape[-2] > 1:
        raise ValueError("a chunk of several queries must start at position 0")
    z = attend(q, k, v, causal, opts, row_offset)  # (n_heads, n_q, d_head)
    if not layer_ivs:
        return z if gate is None else z * gate
    group = q.shape[0] // k.shape[0]
    for head in range(q.shape[0]):
        override = iv.pattern_override(layer_ivs, head)
        if override is not None:
            kv = head // group
            one = opts.for_head(head)
            scores = layer_scores(q[head], k[kv], one)  # (n, n) for this head only
            pattern = iv.modified_pattern(scores, causal, override, row_offset, opts.window, one.sinks)  # (n, n)
            z[head] = pattern.to(v.dtype) @ v[kv]
    if gate is not None:
        z = z * gate  # (n_heads, n_q, d_head_v)
    for item in layer_ivs:
        if item.kind == "zero_layer":
            z.zero_()
        elif item.kind == "zero_head":
            z[item.head] = 0.0
        elif item.kind == "mean_head":  # head_out is linear in z, so this sets it to its mean over positions
            z[item.head] = z[item.head].mean(0, keepdim=True)
    return z


def resid_gate(resid: torch.Tensor, w: Weights, layer: int, cfg: ModelConfig) -> torch.Tensor | None:
    """The output gate (blocks.output_gate) of `layer` from the residual entering it; None without one."""
    return output_gate(attention_input(resid, w, layer, cfg), w, layer, cfg) if cfg.attn_output_gate else None


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


# ── the whole pass ────────────────────────────────────────────────────────────────────────────────


def run(
    ids: torch.Tensor,
    w: Weights,
    cfg: ModelConfig,
    causal: bool,
    interventions: tuple[iv.Intervention, ...] = (),
    on_layer: Callable[[int, int], None] | None = None,
    segments: torch.Tensor | None = None,
) -> Captured:
    """Forward pass over token ids (n,), capturing each layer's residual input, q, k and v.

    on_layer(done, n_layers) is called after each block, for progress bars on long inputs; `segments` (n,): a text
    pair's segment per token (embeddings.embed), None for one text.
    """
    ropes = layer_ropes(ids.shape[0], cfg, ids.device)
    bias = stack_position_bias(w, cfg, ids.shape[0], ids.shape[0])  # (n_heads, n, n) or None: shared by layers
    cap = Captured(resid_pre=[], q=[], k=[], v=[])
    x = embed(ids, w, cfg, segments=segments)  # (n, d_model)
    for layer in range(cfg.n_layers):
        cap.resid_pre.append(x)
        x_in = attention_input(x, w, layer, cfg)  # (n, d_model)
        if cfg.attends(layer):
            q, k, v = qkv(x_in, w, layer, cfg, ropes[layer])
            layer_ivs = iv.for_layer(interventions, layer)
            opts = AttnOptions.of(cfg, layer, layer_position_bias(bias, w, cfg, layer, q, k), layer_sinks(w, layer))
            gate = output_gate(x_in, w, layer, cfg)  # (n_heads, n, d_head) or None
            z = layer_z(q, k, v, causal, layer_ivs, opts=opts, gate=gate)  # (n_heads, n, d_head)
            mixed = beside_attention(layer_attn_out(z, w, layer, layer_ivs), x, w, layer, cfg, x_in)  # (n, d_model)
        else:  # a hybrid's other layer (a convolution, a delta rule, a scan): no heads, so no q, k or v to keep
            q = k = v = None
            mixed = mix(x_in, w, layer, cfg)  # (n, d_model)
        cap.q.append(q)
        cap.k.append(k)
        cap.v.append(v)
        x = after_mlp(after_attention(x, mixed, w, layer, cfg), w, layer, cfg, x)  # (n, d_model)
        if on_layer is not None:
            on_layer(layer + 1, cfg.n_layers)
    cap.resid_pre.append(x)
    return cap


def unembed(resid_final: torch.Tensor, w: Weights, cfg: ModelConfig) -> torch.Tensor:
    """Final norm (pre-norm models) and unembedding: (n, d_model) → (n, d_vocab) logits (decoders only)."""
    x = normalize(resid_final, w, "ln_final", cfg) if "ln_final.w" in w or not cfg.norm_weights else resid_final
    if cfg.unembed_scale != 1.0:  # T5 with tied embeddings: d_model^-0.5
        x = x * cfg.unembed_scale
    if cfg.head_act is not None:  # ModernBERT decoder's prediction head: LayerNorm(act(x·W_head))
        x = normalize(activation(linear(x, w["unembed.W_head"], w.get("unembed.b_head")), cfg.head_act), w,
                      "unembed.ln", cfg)  # fmt: skip
    return soft_cap(linear(x, unembedding(w), w.get("unembed.b_U")), cfg.final_softcap)  # Gemma 2 caps logits
