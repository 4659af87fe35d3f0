"""GGUF hunyuan-moe (Hunyuan-A13B, as llama.cpp's HunYuanMoEModel converter writes it) → canonical weights, read
from llama.cpp's hunyuan-moe graph: HunYuan dense's attention (per-head q/k RMSNorms after a NeoX rotation, rows kept;
the converter wrote the NTK-alpha base already stretched) and in every block a shared MLP (ffn_*_shexp) beside a
softmax router over stacked experts, the chosen probabilities renormalised (llama.cpp's graph fixes both).
"""

from __future__ import annotations

import torch

from ...config import ModelConfig
from .deepseek import routed_mlp
from .llama import expert_counts, rope_config, separate_qkv_weights
from .reader import Meta, Tensors


def hunyuan_moe_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    n_experts, used = expert_counts(meta)
    experts = dict(n_experts=n_experts, experts_per_token=used, moe_router="softmax", moe_renormalize=True)
    return rope_config(meta, name, tensor_names, experts=experts, arch="hunyuan_moe", qk_norm="head",
                       qk_norm_after_rope=True)  # fmt: skip


def hunyuan_moe_weights(t: Tensors, cfg: ModelConfig) -> dict[str, torch.Tensor]:
    return separate_qkv_weights(t, cfg, permuted=False, mlp=routed_mlp)
