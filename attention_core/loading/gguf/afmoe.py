"""GGUF afmoe (Arcee's Trinity, AFMoE) → canonical weights, read from llama.cpp's afmoe graph: embeddings × √d_model
(always: muP), per-head q/k RMSNorms, each head's output gated by σ(E·W_G) before W_O (attn_gate →
attn_output_gate), a norm before and after each sublayer (sandwich: post_attention_norm, post_ffw_norm); where the file
has attention.sliding_window, a window on the layers attention.sliding_window_pattern names (three of every four where
absent); RoPE (NeoX: rows kept) on every layer but each 4th, which llama.cpp fixes (n_no_rope_layer_step); the first
leading_dense_block_count MLPs dense, then routers scored as expert_gating_func says (sigmoid where absent) with their
correction bias (exp_probs_b), expert_weights_norm and expert_weights_scale, never grouped, and shared experts.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from ...config import ModelConfig
from .deepseek import experts, routed_mlp
from .llama import Weights, rope_config, separate_qkv_weights
from .reader import Meta, Tensors, sliding_layers

NO_ROPE_STEP = 4  # llama.cpp's n_no_rope_layer_step: every 4th layer rotates nothing, with no key in the file


def afmoe_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    n_layers = meta.count("block_count")
    routed = experts(meta, tensor_names, n_layers, gating_default=2, grouped=False)
    d_model = meta.count("embedding_length")
    cfg = rope_config(meta, name, tensor_names, experts=routed, arch="afmoe", qk_norm="head", norm_position="sandwich",
                      attn_output_gate=True, embed_scale=math.sqrt(d_model),
                      rope_layers=tuple((i + 1) % NO_ROPE_STEP != 0 for i in range(n_layers)))  # fmt: skip
    window = meta.unless_zero("attention.sliding_window", meta.count)
    if not window:
        return cfg
    local = meta.number("rope.freq_base_swa", cfg.rope_theta)  # the sliding layers' base
    return replace(cfg, sliding_window=window, sliding_layers=sliding_layers(meta, n_layers, 4),
                   rope_theta_local=local if local != cfg.rope_theta else None)  # fmt: skip


def _gated_sandwich_block(t: Tensors, w: Weights, src: str, dst: str) -> None:
    """What an afmoe block adds to the llama layout: the gate's map, the norms after each sublayer, the MLP."""
    w[dst + "attn.W_G"] = t.linear(src + "attn_gate.weight")  # [d_model, n_heads·d_head]
    w[dst + "ln_attn_out.w"] = t.vector(src + "post_attention_norm.weight")
    routed_mlp(t, w, src, dst)  # ffn_norm, then the dense MLP or the router, experts and shared experts
    w[dst + "ln_mlp_out.w"] = t.vector(src + "post_ffw_norm.weight")


def afmoe_weights(t: Tensors, cfg: ModelConfig) -> dict[str, torch.Tensor]:
    return separate_qkv_weights(t, cfg, permuted=False, mlp=_gated_sandwich_block)
