"""GGUF dots1 (dots.llm1, as llama.cpp's Dots1Model writes it) → canonical weights, read from llama.cpp's dots1
graph: Qwen3's heads (per-head q/k RMSNorms before RoPE, NeoX rotation so rows kept); the first
leading_dense_block_count MLPs dense, then DeepSeek-V3's router as expert_gating_func says (sigmoid where the file
names none: dots.llm1 scores so), its correction bias (exp_probs_b) in the choice only, expert_weights_norm and
expert_weights_scale, never grouped (llama.cpp reads no group keys here), and a shared expert.
"""

from __future__ import annotations

import torch

from ...config import ModelConfig
from .deepseek import experts, routed_mlp
from .llama import rope_config, separate_qkv_weights
from .reader import Meta, Tensors


def dots1_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    routed = experts(meta, tensor_names, meta.count("block_count"), gating_default=2, grouped=False)
    return rope_config(meta, name, tensor_names, experts=routed, arch="dots1", qk_norm="head")


def dots1_weights(t: Tensors, cfg: ModelConfig) -> dict[str, torch.Tensor]:
    return separate_qkv_weights(t, cfg, permuted=False, mlp=routed_mlp)
