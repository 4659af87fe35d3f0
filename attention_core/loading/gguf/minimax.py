"""GGUF minimax-m2 (MiniMax-M2, as llama.cpp's MiniMaxM2Model converter writes it) → canonical weights, read from
llama.cpp's minimax-m2 graph: q and k each RMS-normalised over the whole projection (attn_q_norm, attn_k_norm) before
a NeoX rotation of the first rope.dimension_count dimensions (rows kept); in every block a router whose scores are
expert_gating_func's (sigmoid where the file says none, as MiniMax-M2's scoring_func is), its choice adding
exp_probs_b, the chosen weights renormalised (llama.cpp's graph fixes that), and stacked experts.
"""

from __future__ import annotations

import torch

from ...config import ModelConfig
from ...errors import ModelLoadError
from .deepseek import routed_mlp
from .llama import expert_counts, rope_config, separate_qkv_weights
from .reader import Meta, Tensors

_GATING = {1: "softmax", 2: "sigmoid"}  # llama.cpp's expert_gating_func values


def minimax_m2_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    n_experts, used = expert_counts(meta)
    gating = meta.get("expert_gating_func", 2) or 2
    if gating not in _GATING:
        raise ModelLoadError(f"expert_gating_func {gating!r} is not one llama.cpp writes for MiniMax-M2 (1 or 2).")
    experts = dict(n_experts=n_experts, experts_per_token=used, moe_router=_GATING[gating], moe_renormalize=True)
    return rope_config(meta, name, tensor_names, experts=experts, arch="minimax_m2", qk_norm="full")


def minimax_m2_weights(t: Tensors, cfg: ModelConfig) -> dict[str, torch.Tensor]:
    return separate_qkv_weights(t, cfg, permuted=False, mlp=routed_mlp)
