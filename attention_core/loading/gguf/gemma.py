"""GGUF gemma (1), gemma2 and gemma3 → canonical weights and config; olmo2, whose norms also sit on each sublayer's
output (without the input norms), is read by the same `output_norm_weights`.

What llama.cpp's files hold and how we read them:
- every RMSNorm weight (q/k norms too) is stored as 1 + w already (llama.cpp adds the 1 when converting),
  which is the canonical weight: Gemma's norm multiplies by (1 + w). So the tensors are read as they are.
- Q/K rows are not permuted (llama.cpp rotates Gemma's heads NeoX-style, i.e. Hugging Face's rotate-half).
- sandwich norms: attn_norm, post_attention_norm, ffn_norm, post_ffw_norm.
- the attention scale and the sliding-window layers are not all in the metadata: we follow llama.cpp's own
  rules (query scale 1/√d_head, or 1/√(d_model/n_heads) for the 27B models; sliding-window layers every
  layer but each 2nd (Gemma 2) or 6th (Gemma 3)) unless the file says otherwise.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from ...config import ModelConfig
from .llama import ends, gated_mlp, llama_config, rope_config, skip_rope_freqs
from .reader import Meta, Tensors, attention_shape, matrix, sliding_layers

# layers of the 27B models, where llama.cpp scales queries by 1/√(d_model/n_heads) instead of 1/√d_head
_BIG_LAYERS = {"gemma2": 46, "gemma3": 62}
# every n-th layer attends globally, the others in a sliding window (where the file names no pattern)
_PATTERN = {"olmo2": 4, "exaone4": 4, "gemma2": 2, "gemma3": 6, "gemma-embedding": 6}


def _attn_scale(meta: Meta, d_model: int, n_heads: int, d_head: int, n_layers: int) -> float:
    if meta.has("attention.scale"):
        return meta.number("attention.scale")
    if n_layers == _BIG_LAYERS.get(meta.arch):
        return (d_model / n_heads) ** -0.5
    return d_head**-0.5


def gemma1_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """Gemma (1): a pre-norm decoder with GeGLU, the √d_model embedding scale and the query scale 1/√d_head; its
    tensors are laid out as Qwen 2's (llama.qwen2_weights: rows kept, attn_norm and ffn_norm already 1 + w)."""
    d_model = meta.count("embedding_length")
    return rope_config(meta, name, tensor_names, arch="gemma", act="gelu_tanh", embed_scale=math.sqrt(d_model))


def gemma_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    gemma3 = meta.arch in ("gemma3", "gemma-embedding")
    d_model, n_heads, _, d_head = attention_shape(meta)
    n_layers = meta.count("block_count")
    features = dict(
        arch=meta.arch,
        act="gelu_tanh",
        norm_position="sandwich",
        embed_scale=math.sqrt(d_model),
        attn_scale=_attn_scale(meta, d_model, n_heads, d_head, n_layers),
        sliding_window=meta.count("attention.sliding_window"),
        sliding_layers=sliding_layers(meta, n_layers, _PATTERN[meta.arch]),
        attn_softcap=meta.unless_zero("attn_logit_softcapping", meta.number),  # absent or 0: no cap
        final_softcap=meta.unless_zero("final_logit_softcapping", meta.number),
    )
    if gemma3:  # llama.cpp's sliding-window layers keep RoPE base 10000 unless the file names another
        features.update(qk_norm="head", rope_theta_local=meta.number("rope.freq_base_swa", 10000.0))
    return rope_config(meta, name, tensor_names, **features)


def gemma_embedding_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """EmbeddingGemma (gemma-embedding): Gemma 3's layers reading both ways, as llama.cpp runs them: the local
    layers reach sliding_window / 2 tokens either side (transformers halves the config's window alike), queries
    scaled by 1/√d_head whatever the file says, and no language-model head (the pages show the encoder)."""
    cfg = gemma_config(meta, name, tensor_names)
    window = meta.count("attention.sliding_window")
    return replace(cfg, arch="gemma3_embedding", causal=False, attn_scale=cfg.d_head**-0.5,
                   sliding_window=window // 2 + 1, final_softcap=None)  # fmt: skip


def gemma_embedding_weights(t: Tensors, cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """Gemma 3's tensors; the sentence-transformers projections a converter may add (dense_2, dense_3: pooled
    embedding → 3072 → width) are read and not run."""
    w = output_norm_weights(t, cfg)
    t.skip("dense_2.weight", "dense_3.weight")
    return w


def olmo2_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """OLMo 2 (Ollama's olmo2): no input norms, an RMSNorm on each sublayer's output (post_attention_norm,
    post_ffw_norm), RMSNorms on q and k over the whole projection; rows kept (llama.cpp rotates OLMo 2 NeoX-style).
    OLMo 3 (written as olmo2 with attention.sliding_window): layers slide by sliding_window_pattern (per-layer flags,
    or a period; 4 where absent: three sliding, then a full one), and llama.cpp rotates the sliding layers with plain
    RoPE (base rope.freq_base_swa, else the same), the file's RoPE scaling (YaRN) on the full layers only."""
    cfg = rope_config(meta, name, tensor_names, arch="olmo2", norm_position="post_sublayer", qk_norm="full")
    window = meta.unless_zero("attention.sliding_window", meta.count)
    if not window:
        return cfg
    sliding = sliding_layers(meta, cfg.n_layers, _PATTERN[meta.arch])
    local = meta.number("rope.freq_base_swa", cfg.rope_theta)
    return replace(cfg, arch="olmo3", sliding_window=window, sliding_layers=sliding,
                   rope_theta_local=local if cfg.rope_freq_divisors or local != cfg.rope_theta else None)  # fmt: skip


def exaone4_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """EXAONE 4 (llama.cpp's exaone4): OLMo 2's norms on each sublayer's output, RMSNorms on q and k per head, rows
    kept (NeoX rotation), llama3 divisors in rope_freqs where the file has them. With a sliding window (the 32B:
    attention.sliding_window, or llama.cpp's 4096 for a 64-layer file that names none), layers slide by the file's
    sliding_window_pattern (3 of every 4 where absent) and only they rotate: the full layers have no RoPE."""
    cfg = replace(llama_config(meta, name, tensor_names), arch="exaone4", norm_position="post_sublayer", qk_norm="head")
    window = meta.unless_zero("attention.sliding_window", meta.count) or (4096 if cfg.n_layers == 64 else None)
    if not window:
        return cfg
    sliding = sliding_layers(meta, cfg.n_layers, _PATTERN[meta.arch])
    return replace(cfg, sliding_window=window, sliding_layers=sliding, rope_layers=sliding)


def exaone4_weights(t: Tensors, cfg: ModelConfig) -> dict[str, torch.Tensor]:
    skip_rope_freqs(t)
    return output_norm_weights(t, cfg)


def output_norm_weights(t: Tensors, cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """Gemma 2/3 (sandwich norms: input and output norms, stored already 1 + w) and OLMo 2 (output norms only)."""
    w = ends(t, cfg)
    norms = {"ln_attn_out": "post_attention_norm", "ln_mlp_out": "post_ffw_norm"}
    if cfg.norm_position == "sandwich":
        norms.update(ln_attn="attn_norm", ln_mlp="ffn_norm")
    for layer in range(cfg.n_layers):
        src, dst = f"blk.{layer}.", f"blocks.{layer}."
        for ours, theirs in norms.items():
            w[f"{dst}{ours}.w"] = t.vector(f"{src}{theirs}.weight")  # read as stored (Gemma's: already 1 + w)
        for part, n in (("q", cfg.n_heads), ("k", cfg.n_kv_heads), ("v", cfg.n_kv_heads)):
            w[f"{dst}attn.W_{part.upper()}"] = matrix(t.rows(f"{src}attn_{part}.weight", n, cfg.d_head))
        w[dst + "attn.W_O"] = t.linear(src + "attn_output.weight")
        if cfg.qk_norm != "none":  # per head (Gemma 3) or over the whole projection (OLMo 2)
            w[dst + "attn.q_norm.w"] = t.vector(src + "attn_q_norm.weight")
            w[dst + "attn.k_norm.w"] = t.vector(src + "attn_k_norm.weight")
        gated_mlp(t, w, src, dst)
    return w
