"""GGUF gpt2 and bloom → canonical weights: LayerNorm with biases, fused attn_qkv (rows q | k | v), a plain GELU
MLP; GPT-2 with learned positions, BLOOM with ALiBi and a LayerNorm on its embeddings (token_embd_norm).

llama.cpp transposes GPT-2's Conv1D weights to the usual (out, in) when it writes the file, and regroups BLOOM's
head-by-head query_key_value into q | k | v blocks, so both read alike.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ...config import ModelConfig
from .reader import Meta, Tensors, attention_shape, matrix, split_rows


def gpt2_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    d_model, n_heads, _, d_head = attention_shape(meta)
    return ModelConfig(
        name=name,
        arch="gpt2",
        n_layers=meta.count("block_count"),
        n_heads=n_heads,
        n_kv_heads=n_heads,
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


def gpt2_weights(t: Tensors, cfg: ModelConfig) -> dict[str, torch.Tensor]:
    d = cfg.d_model
    w = {"embed.W_E": torch.from_numpy(t.raw("token_embd.weight"))}
    if cfg.absolute_positions:  # GPT-2; BLOOM's positions are its ALiBi slopes
        w["embed.W_pos"] = torch.from_numpy(t.raw("position_embd.weight"))
    if t.has("token_embd_norm.weight"):  # BLOOM normalises its embeddings
        w["embed.ln.w"], w["embed.ln.b"] = t.vector("token_embd_norm.weight"), t.vector("token_embd_norm.bias")
    w["ln_final.w"], w["ln_final.b"] = t.vector("output_norm.weight"), t.vector("output_norm.bias")
    if not cfg.tie_embeddings:
        w["unembed.W_U"] = t.linear("output.weight")
    for layer in range(cfg.n_layers):
        src, dst = f"blk.{layer}.", f"blocks.{layer}."
        qkv_w = split_rows(t.raw(src + "attn_qkv.weight"), [d, d, d], src + "attn_qkv.weight")
        qkv_b = split_rows(t.raw(src + "attn_qkv.bias"), [d, d, d], src + "attn_qkv.bias")
        for part, data, bias in zip("QKV", qkv_w, qkv_b, strict=True):
            w[f"{dst}attn.W_{part}"], w[f"{dst}attn.b_{part}"] = matrix(data), torch.from_numpy(bias.copy())
        w[dst + "attn.W_O"], w[dst + "attn.b_O"] = (
            t.linear(src + "attn_output.weight"),
            t.vector(src + "attn_output.bias"),
        )
        for ours, theirs in (("ln_attn", "attn_norm"), ("ln_mlp", "ffn_norm")):
            w[f"{dst}{ours}.w"], w[f"{dst}{ours}.b"] = (
                t.vector(f"{src}{theirs}.weight"),
                t.vector(f"{src}{theirs}.bias"),
            )
        w[dst + "mlp.W_in"], w[dst + "mlp.b_in"] = t.linear(src + "ffn_up.weight"), t.vector(src + "ffn_up.bias")
        w[dst + "mlp.W_out"], w[dst + "mlp.b_out"] = t.linear(src + "ffn_down.weight"), t.vector(src + "ffn_down.bias")
    return w
