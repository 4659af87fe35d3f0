"""Inside one head, step by step, with the engine's own numbers.

E → Q = E·W_Q (+ b_Q), K = E·W_K (+ b_K) → (q/k RMSNorm: Qwen3, Gemma 3, OLMo 2) → RoPE (SmolLM2) → Q·Kᵀ
→ × scale (÷√d_head unless the model sets its own) → (soft-cap: Gemma 2) → (+ position bias: T5) → mask
(−∞; causal and any sliding window) → softmax → V = E·W_V (+ b_V) → z = A·V → (× the output gate σ(E·W_G): AFMoE)
→ Δe = z·W_O[head].

The "after RoPE" q and k and the values are the ones the forward pass captured (what trace.scores
uses); E and the "before RoPE" q and k are recomputed from the captured residual with the engine's own
functions. Every later step is computed here in float64 from those, and the tests check that each one
equals the engine's (trace.scores, trace.pattern, trace.z, trace.head_out): tests/engine/test_steps.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from . import blocks, embeddings, latent
from .config import ModelConfig

if TYPE_CHECKING:
    from .trace import Trace


@dataclass(frozen=True)
class HeadSteps:
    layer: int
    head: int
    kv_head: int  # the key/value head this query head reads (GQA: shared with group_size - 1 others)
    group_size: int
    n_heads: int
    n_kv_heads: int
    d_model: int
    d_head: int
    arch: str
    norm: str  # "rms" or "layer"
    norm_position: str  # "pre": E is the normalised residual; "post": E is the residual itself
    uses_rope: bool  # whether this layer rotates q and k (False in a NoPE layer)
    has_bias: bool
    causal: bool
    tokens: list[str]
    E: np.ndarray  # [n, d_model] what Q, K, V are computed from
    W_Q: np.ndarray  # [d_model, d_head] (MLA: [q_latent_rank, d_head] W_UQ[head], or d_model rows without a latent)
    W_K: np.ndarray  # [d_model, d_head] (the kv head's; MLA: [kv_latent_rank, d_nope] W_UK[head])
    W_V: np.ndarray  # [d_model, d_head] value-down (the kv head's; MLA: [kv_latent_rank, d_head_v] W_UV[head])
    W_O: np.ndarray  # [d_head_v, d_model] value-up: this head's rows of the output matrix
    W_O_all: np.ndarray  # [n_heads * d_head_v, d_model] the output matrix: every head's value-up stacked
    q_pre: np.ndarray  # [n, d_head] E·W_Q (+ b_Q), then the q RMSNorm where the model has one; before RoPE
    k_pre: np.ndarray  # [n, d_head]
    q: np.ndarray  # [n, d_head] after RoPE (== q_pre without RoPE): what the scores use
    k: np.ndarray  # [n, d_head]
    dots: np.ndarray  # [n_q, n_k] q_i·k_j
    scaled: np.ndarray  # [n_q, n_k] dots × attn_scale (= dots / √d_head unless the model sets its own)
    capped: np.ndarray  # [n_q, n_k] softcap·tanh(scaled / softcap) where the model caps; else scaled
    mask: np.ndarray  # [n_q, n_k] bool, True where the query may attend (causal and any sliding window)
    masked: np.ndarray  # [n_q, n_k] before_mask with −∞ where masked
    pattern: np.ndarray  # [n_q, n_k] softmax over keys; rows sum to 1 (1 − the sink's share with a sink)
    v: np.ndarray  # [n, d_head_v] value-down of every token
    z: np.ndarray  # [n, d_head_v] pattern · v
    delta: np.ndarray  # [n, d_model] z · W_O[head] = this head's Δe (b_O is added once per layer, not per head);
    # with an output gate, (z ⊙ gate) · W_O[head]
    attn_scale: float = 0.0  # the factor on q·k; 0 (unset) means 1/√d_head
    scale_multiple: int | None = None  # k where attn_scale is 1/√(k·d_head) (DeBERTa: 3), ModelConfig.scale_multiple
    softcap: float | None = None
    qkv_clip: float | None = None  # q, k and v clamped to ±this after their maps (OLMo's clip_qkv)
    window: int | None = None  # this layer's sliding window
    qk_norm: str = "none"
    qk_norm_after_rope: bool = False  # Hunyuan: q and k are normalised after RoPE (q_pre, k_pre are not)
    qk_norm_weighted: bool = True  # False: the q/k norm has no learned weight (Llama 4)
    qk_norm_per_head: bool = False  # each head its own q/k norm weight (StableLM, Command R+)
    qk_norm_shifted: bool = False  # the q/k norm adds a learned bias (Phi, Persimmon)
    position_bias: np.ndarray | None = None  # [n_q, n_k] T5: this head's relative position bias; None without
    position_kind: str = "none"  # ModelConfig.position_bias: "t5", "alibi", "disentangled" (DeBERTa's terms)
    # what layer 0's residual is (embeddings.embed): embed_scale·token (+ position) (+ segment), then a LayerNorm
    # where embedding_norm (BERT)
    embedding_terms: tuple[str, ...] = ("token",)
    embedding_norm: bool = False
    embed_scale: float = 1.0
    # narrower embeddings projected up to d_model: "" (none), "before" the embedding norm (DeBERTa) or "after" it
    # (ELECTRA-small)
    embedding_projection: str = ""
    norm_weights: bool = True  # False: the model's norms learn no weight or bias (OLMo 1)
    sink: float | None = None  # GPT-OSS: the head's sink logit, one more term in each row's softmax (softmax_keys)
    d_value: int = 0  # v's, z's and W_O[head]'s width: d_head unless the values are narrower (MLA); 0 = d_head
    # Multi-head latent attention (DeepSeek; latent.py): what Q and K, V are read from instead of E. W_Q is then
    # W_UQ[head] (from q_input, or from E without a query latent), W_K is W_UK[head] (the keys' unrotated part, from
    # kv_input), W_V is W_UV[head]; the keys' rotated part is E·W_KR, one for every head.
    q_input: np.ndarray | None = None  # [n, q_latent_rank] c_Q = RMSNorm(E·W_DQ); None: Q is read from E
    kv_input: np.ndarray | None = None  # [n, kv_latent_rank] c_KV = RMSNorm(E·W_DKV); None: ordinary attention
    W_KR: np.ndarray | None = None  # [d_model, d_rope] the rotated key's map, shared by every head
    # A model that gates each head's output (AFMoE): z is multiplied by σ(E·W_G[head] (+ b_G)) before W_O
    W_G: np.ndarray | None = None  # [d_model, d_head_v] this head's columns of the gate's map
    gate: np.ndarray | None = None  # [n, d_head_v] σ(E·W_G[head] (+ b_G)): one gate per query and dimension
    gate_per_head: bool = False  # LFM3: one gate per query, the same in each dimension (W_G's columns all alike)

    @property
    def z_out(self) -> np.ndarray:
        """[n, d_head_v] what W_O[head] reads: z, times the gate where the model has one."""
        return self.z if self.gate is None else self.z * self.gate

    @property
    def n(self) -> int:
        return len(self.tokens)

    @property
    def before_mask(self) -> np.ndarray:
        """[n_q, n_k] the softmax's input before the mask: capped, plus the position bias where there is one."""
        return self.capped if self.position_bias is None else self.capped + self.position_bias

    @property
    def scale(self) -> float:
        """What the dot products are divided by: √d_head, or 1/attn_scale where the model sets its own."""
        return 1.0 / self.attn_scale if self.attn_scale else math.sqrt(self.d_head)

    def cell(self, i: int, j: int) -> dict[str, float | bool]:
        """The numbers behind one entry of the pattern: query i, key j."""
        row = self.masked[i]
        finite = np.isfinite(row)
        top = _row_top(row[finite], self.sink)
        denom = float(np.exp(row[finite] - top).sum())  # softmax shifted by the row max, as every softmax is
        sink_term = 0.0 if self.sink is None else float(np.exp(self.sink - top))  # the sink's share of the sum
        allowed = bool(self.mask[i, j])
        return {
            "dot": float(self.dots[i, j]),
            "scaled": float(self.scaled[i, j]),
            "capped": float(self.capped[i, j]),
            "bias": 0.0 if self.position_bias is None else float(self.position_bias[i, j]),
            "allowed": allowed,
            "row_max": top,
            "numerator": float(np.exp(self.before_mask[i, j] - top)) if allowed else 0.0,
            "denominator": denom + sink_term,
            "sink_term": sink_term,  # exp(sink − row_max): 0.0 without a sink
            "sink": self.sink,
            "weight": float(self.pattern[i, j]),
        }


def _numpy(t: torch.Tensor, dtype: type = np.float64) -> np.ndarray:
    """A tensor → numpy on the CPU, float64 by default so the step-by-step sums keep their digits (numpy has no
    bfloat16: half-precision tensors are widened first, exactly)."""
    return np.asarray(t.detach().cpu().to(torch.float64 if t.is_floating_point() else t.dtype).numpy(), dtype=dtype)


def _row_top(finite: np.ndarray, sink: float | None) -> float:
    """What a row's softmax is shifted by: its largest logit, the sink's among them (as transformers does)."""
    top = float(finite.max())
    return top if sink is None else max(top, sink)


def _softmax_rows(x: np.ndarray, sink: float | None = None) -> np.ndarray:
    top = np.max(np.where(np.isfinite(x), x, -np.inf), axis=-1, keepdims=True)
    if sink is not None:
        top = np.maximum(top, sink)
    e = np.exp(x - top)  # exp(−∞) = 0 exactly, so masked keys get weight 0
    extra = 0.0 if sink is None else np.exp(sink - top)  # the sink: in the sum, without a column of its own
    return e / (e.sum(axis=-1, keepdims=True) + extra)


def _bias(weights: Mapping[str, torch.Tensor], name: str, index: int, d_head: int) -> np.ndarray | None:
    b = weights.get(name)
    if b is None:
        return None
    return _numpy(b)[index * d_head : (index + 1) * d_head]  # this head's slice of the layer's bias


def _head_row(t: np.ndarray, index: int) -> np.ndarray:
    """A q/k norm's weight (or bias) for head `index`: its row where each head has its own ([heads, d_head])."""
    return t[index] if t.ndim == 2 else t


def _qk_norm(
    x: np.ndarray, E: np.ndarray, w: Mapping[str, torch.Tensor], cfg: ModelConfig, layer: int, which: str, index: int
) -> np.ndarray:
    """One head's q (or k) (n, d_head) after the model's norm on queries (keys), in float64, of the kind of the model's
    other norms (RMSNorm; LayerNorm: Phi, StableLM, Command R+, Persimmon, ESM C). "head" normalises each head's
    d_head (with a weight shared by the heads, or each head's own row: StableLM, Command R+); "full" every head's
    projection at once (OLMo 2, ESM C), so that is recomputed from E for all heads."""
    weight = _numpy(w[f"blocks.{layer}.attn.{which}_norm.w"]) if cfg.qk_norm_weights else 1.0
    shift = w.get(f"blocks.{layer}.attn.{which}_norm.b")
    d = cfg.d_head
    if cfg.qk_norm_in(layer) == "head":
        x = x - x.mean(-1, keepdims=True) if cfg.norm == "layer" else x  # a LayerNorm centres first
        normed = x / np.sqrt((x**2).mean(-1, keepdims=True) + cfg.norm_eps) * _head_row(np.asarray(weight), index)
        return normed if shift is None else normed + _head_row(_numpy(shift), index)
    name = "Q" if which == "q" else "K"
    full = E @ _numpy(w[f"blocks.{layer}.attn.W_{name}"])  # (n, heads · d_head)
    b = w.get(f"blocks.{layer}.attn.b_{name}")
    full = full if b is None else full + _numpy(b)
    if cfg.norm == "layer":  # a LayerNorm centres first, and adds its bias (where it has one) after the weight
        full = full - full.mean(-1, keepdims=True)
    normed = full / np.sqrt((full**2).mean(-1, keepdims=True) + cfg.norm_eps) * weight
    normed = normed if shift is None else normed + _numpy(shift)
    return normed[:, index * d : (index + 1) * d]


def head_steps(trace: Trace, layer: int, head: int) -> HeadSteps:
    """Every intermediate of one head for the traced text, as numpy arrays.

    Long because the record it returns has 40 named fields, filled one per line.
    """
    cfg = trace.config
    trace.check(layer, head)  # the engine's own range check and message
    stored = blocks.stored_kv_heads(cfg, layer)  # the layer's own key/value heads (MiMo-V2-Flash's full: fewer)
    kv, group = head // (cfg.n_heads // stored), cfg.n_heads // stored  # the stored head this query reads
    w = trace.context.weights
    with torch.inference_mode():
        resid = trace.captured.resid_pre[layer]  # (n, d_model) on the engine's device
        x = blocks.attention_input(resid, w, layer, cfg)  # (n, d_model) what the head reads, on the engine's device
        E = _numpy(x)
    W_O_heads = _numpy(blocks.per_head_weight(w, cfg, layer, "W_O"))  # (n_heads, d_head_v, d_model)
    d = cfg.d_head
    p = f"blocks.{layer}.attn."
    b_Q = _bias(w, p + "b_Q", head, d)
    if cfg.kv_latent_rank:  # DeepSeek's latent attention: Q, K and V are read from latents
        with torch.inference_mode():
            mla = latent.head_projections(x, w, cfg, layer, head)
        W_Q, W_K, W_V, q_pre, k_pre = (_numpy(mla[name]) for name in ("W_Q", "W_K", "W_V", "q_pre", "k_pre"))
        inputs = {name: None if mla[name] is None else _numpy(mla[name]) for name in ("q_input", "kv_input", "W_KR")}
    else:
        W_Q = _numpy(blocks.per_head_weight(w, cfg, layer, "W_Q")[head])  # (d_model, d_head)
        W_K = _numpy(blocks.per_head_weight(w, cfg, layer, "W_K")[kv])  # (d_model, d_head)
        W_V = _numpy(blocks.per_head_weight(w, cfg, layer, "W_V")[kv])  # (d_model, d_head)
        b_K = _bias(w, p + "b_K", kv, d)
        q_pre = E @ W_Q if b_Q is None else E @ W_Q + b_Q  # (n, d_head)
        k_pre = E @ W_K if b_K is None else E @ W_K + b_K  # (n, d_head)
        inputs = {}
    qk_norm = cfg.qk_norm_in(layer)  # Llama 4 normalises only in the layers that rotate
    if qk_norm != "none" and not cfg.qk_norm_after_rope:  # Hunyuan's comes after RoPE: see rope_check
        q_pre = _qk_norm(q_pre, E, w, cfg, layer, "q", head)
        k_pre = _qk_norm(k_pre, E, w, cfg, layer, "k", kv)
    if cfg.qkv_clip is not None:  # after the maps and OLMoE's q/k norm, as blocks.qkv clamps them
        q_pre, k_pre = np.clip(q_pre, -cfg.qkv_clip, cfg.qkv_clip), np.clip(k_pre, -cfg.qkv_clip, cfg.qkv_clip)
    q = _numpy(trace.captured.q[layer][head])  # (n, d_head) after RoPE: exactly what the pass used
    k = _numpy(trace.captured.k[layer][cfg.kv_head(head)])  # (n, d_head): the captures hold n_kv_heads
    v = _numpy(trace.captured.v[layer][cfg.kv_head(head)])  # (n, d_value)
    dots = q @ k.T  # (n_q, n_k)
    scaled = dots * cfg.scale
    capped = scaled if cfg.attn_softcap is None else cfg.attn_softcap * np.tanh(scaled / cfg.attn_softcap)
    bias = trace.position_bias(layer, head)  # [n_q, n_k] or None: T5's term beside q·k, added before the mask
    bias = None if bias is None else _numpy(bias)
    mask = _numpy(trace.mask(layer), dtype=bool)  # (n_q, n_k)
    masked = np.where(mask, capped if bias is None else capped + bias, -np.inf)
    sinks = trace._sinks(layer)  # (n_heads,) or None
    sink = None if sinks is None else float(sinks[head])
    pattern = _softmax_rows(masked, sink)  # (n_q, n_k)
    z = pattern @ v  # (n_q, d_head)
    W_G, gate = _output_gate(E, w, cfg, layer, head)  # None, None without an output gate
    return HeadSteps(
        layer=layer,
        head=head,
        kv_head=kv,
        group_size=group,
        n_heads=cfg.n_heads,
        n_kv_heads=stored,
        d_model=cfg.d_model,
        d_head=d,
        arch=cfg.arch,
        norm=cfg.norm,
        norm_position=cfg.norm_at(layer),
        uses_rope=cfg.rotates(layer),  # this head's layer: a NoPE layer (SmolLM3) does not rotate
        has_bias=b_Q is not None,
        causal=bool(trace.causal),
        tokens=list(trace.tokens),
        E=E,
        W_Q=W_Q,
        W_K=W_K,
        W_V=W_V,
        W_O=W_O_heads[head],
        W_O_all=W_O_heads.reshape(cfg.n_heads * cfg.d_value, cfg.d_model),  # (n_heads · d_head_v, d_model): stacked
        q_pre=q_pre,
        k_pre=k_pre,
        q=q,
        k=k,
        dots=dots,
        scaled=scaled,
        capped=capped,
        mask=mask,
        masked=masked,
        pattern=pattern,
        v=v,
        z=z,
        delta=(z if gate is None else z * gate) @ W_O_heads[head],  # (n, d_model)
        attn_scale=cfg.scale,
        scale_multiple=cfg.scale_multiple,
        softcap=cfg.attn_softcap,
        qkv_clip=cfg.qkv_clip,
        window=cfg.window(layer),
        qk_norm=qk_norm,
        qk_norm_after_rope=cfg.qk_norm_after_rope and qk_norm != "none",
        qk_norm_weighted=cfg.qk_norm_weights,
        qk_norm_per_head=f"blocks.{layer}.attn.q_norm.w" in w and w[f"blocks.{layer}.attn.q_norm.w"].dim() == 2,
        qk_norm_shifted=f"blocks.{layer}.attn.q_norm.b" in w,
        position_bias=bias,
        position_kind=cfg.position_bias,
        embedding_terms=embeddings.embedding_terms(w),
        embedding_norm="embed.ln.w" in w or cfg.embed_norm,
        embedding_projection=("after" if cfg.embed_proj_after_norm else "before") if "embed.W_proj" in w else "",
        embed_scale=embeddings.token_scale(torch.tensor(trace.token_ids), cfg),  # ESM: its token dropout's
        norm_weights=cfg.norm_weights,
        sink=sink,
        d_value=cfg.d_value,
        W_G=W_G,
        gate=gate,
        gate_per_head=cfg.attn_gate_per_head,
        **inputs,
    )


def _output_gate(
    E: np.ndarray, w: Mapping[str, torch.Tensor], cfg: ModelConfig, layer: int, head: int
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(W_G[head] [d_model, d_head_v], σ(E·W_G[head] + b_G[head]) [n, d_head_v]) in float64, or (None, None) for a
    model without an output gate."""
    if not cfg.attn_output_gate:
        return None, None
    d = cfg.d_value
    if cfg.attn_gate_per_head:  # LFM3: the head's one column, on each of its dimensions
        W_G = np.repeat(_numpy(w[f"blocks.{layer}.attn.W_G"])[:, head : head + 1], d, axis=1)  # (d_model, d_head_v)
        b_G = None if (b := _bias(w, f"blocks.{layer}.attn.b_G", head, 1)) is None else np.repeat(b, d)
    else:
        W_G = _numpy(w[f"blocks.{layer}.attn.W_G"])[:, head * d : (head + 1) * d]  # (d_model, d_head_v)
        b_G = _bias(w, f"blocks.{layer}.attn.b_G", head, d)
    logits = E @ W_G if b_G is None else E @ W_G + b_G  # (n, d_head_v)
    return W_G, 1.0 / (1.0 + np.exp(-logits))


def rope_check(steps: HeadSteps, config: ModelConfig, weights: Mapping[str, torch.Tensor]) -> float:
    """Largest |RoPE(q_pre) − q| over the head (then the q norm, where the model normalises after RoPE): shows the
    captured q really is the rotated E·W_Q."""
    q = torch.from_numpy(steps.q_pre).float()[None]  # (1, n, d_head): apply_rope takes heads first
    if config.rotates(steps.layer):
        cos, sin = blocks.rope_tables(steps.n, config, torch.device("cpu"), steps.layer)
        q = latent.rotate_last(q, (cos, sin)) if config.kv_latent_rank else blocks.apply_rope(q, cos, sin)
    if steps.qk_norm_after_rope:  # Hunyuan, Llama 4
        key = f"blocks.{steps.layer}.attn.q_norm.w"
        own = {key: weights[key].cpu().float()} if config.qk_norm_weights else {}
        q = blocks.head_norm(q, own, steps.layer, config, "q")
    return float(np.abs(_numpy(q[0]) - steps.q).max())
