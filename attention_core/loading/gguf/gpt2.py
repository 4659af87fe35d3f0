"""GGUF gpt2, starcoder (StarCoder 1: GPT-2's layout with one key/value head), bloom and mpt → config: LayerNorm with
biases (MPT's without), fused attn_qkv (rows q | k | v), a plain GELU MLP; GPT-2 and StarCoder with learned
positions, BLOOM and MPT with ALiBi, BLOOM with a LayerNorm on its embeddings (token_embd_norm). Their weights are
read by layernorm.layernorm_weights, as phi2's, stablelm's and starcoder2's.

llama.cpp transposes GPT-2's Conv1D weights to the usual (out, in) when it writes the file, and regroups BLOOM's
head-by-head query_key_value into q | k | v blocks, so both read alike.
"""

from __future__ import annotations

from dataclasses import replace

from ...config import ModelConfig
from ...errors import ModelLoadError
from .reader import Meta, attention_shape


def gpt2_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    d_model, n_heads, n_kv_heads, d_head = attention_shape(meta)
    return ModelConfig(
        name=name,
        arch="gpt2",
        n_layers=meta.count("block_count"),
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        d_model=d_model,
        d_head=d_head,
        d_mlp=meta.count("feed_forward_length"),
        d_vocab=meta.vocab_size(),
        n_ctx=meta.count("context_length"),
        causal=True,
        norm="layer",
        norm_eps=meta.number("attention.layer_norm_epsilon"),
        norm_position="pre",
        act="gelu_tanh",
        gated_mlp=False,
        uses_rope=False,
        attn_bias=True,
        mlp_bias=True,
        tie_embeddings="output.weight" not in tensor_names,
        bos_token_id=meta.maybe_int("tokenizer.ggml.bos_token_id"),
        eos_token_id=meta.maybe_int("tokenizer.ggml.eos_token_id"),
        display_name=str(meta.key("general.name", name)),
    )


def bloom_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """BLOOM: GPT-2's layout with ALiBi (slopes from the head count) instead of a position table."""
    return replace(gpt2_config(meta, name, tensor_names), arch="bloom", position_bias="alibi")


def starcoder_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """StarCoder 1 (Ollama's starcoder): GPT-2's layout, attn_qkv rows q | k | v with one key/value head."""
    return replace(gpt2_config(meta, name, tensor_names), arch="gpt_bigcode")


def mpt_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """MPT (MosaicML's MPT-7B and 30B, as llama.cpp's MPTModel writes them): GPT-2's layout without a position table
    or a bias anywhere (LayerNorms included), ALiBi up to attention.max_alibi_bias (llama.cpp's slopes, which for a
    head count that is not a power of two are MPT's own), the model's exact GELU, the unembedding tied. Refused, as
    from a Hugging Face folder: q, k and v clamped (attention.clamp_kqv), per-head q/k norms (qk_ln), no ALiBi."""
    bias_max = float(meta.get("attention.max_alibi_bias", 0.0) or 0.0)
    refused = {"without ALiBi (max_alibi_bias 0: a learned position table)": bias_max <= 0,
               "that clamp q, k and v (clamp_kqv)": meta.has("attention.clamp_kqv"),
               "with q/k norms (qk_ln)": "blk.0.attn_q_norm.weight" in tensor_names}  # fmt: skip
    for what, bad in refused.items():
        if bad:
            raise ModelLoadError(f"MPT files {what} are not supported yet.")
    cfg = gpt2_config(meta, name, tensor_names)
    return replace(cfg, arch="mpt", act="gelu", position_bias="alibi", alibi_bias_max=bias_max, attn_bias=False,
                   mlp_bias=False)  # fmt: skip
