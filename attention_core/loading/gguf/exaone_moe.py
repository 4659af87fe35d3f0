"""GGUF exaone-moe (K-EXAONE, as llama.cpp's ExaoneMoE converter writes it) → canonical weights, read from llama.cpp's
exaone-moe graph: pre-norm blocks with per-head q/k RMSNorms; layers slide by attention.sliding_window_pattern (3 of
every 4 where absent) and only they rotate (NeoX, rows kept; at rope.freq_base_swa where the file has it), the full
ones without RoPE; the first leading_dense_block_count MLPs dense, then routers scored as expert_gating_func says
(sigmoid by default) with their correction bias (exp_probs_b), expert_weights_norm and expert_weights_scale, never
grouped (llama.cpp reads no group keys here), and a shared expert. The last nextn_predict_layers blocks (multi-token
prediction) are in the file and counted by block_count but not run, as llama.cpp skips them.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ...config import ModelConfig
from .deepseek import experts, routed_mlp
from .llama import rope_config, separate_qkv_weights, skip_rope_freqs
from .reader import Meta, Tensors, layers_run, sliding_layers


def exaone_moe_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    n_layers = layers_run(meta)
    routed = experts(meta, tensor_names, n_layers, gating_default=2, grouped=False)
    cfg = rope_config(meta, name, tensor_names, experts=routed, arch="exaone_moe", qk_norm="head", n_layers=n_layers)
    sliding = sliding_layers(meta, n_layers, 4)
    local = meta.number("rope.freq_base_swa", cfg.rope_theta)  # the base of the layers that rotate
    return replace(cfg, sliding_window=meta.count("attention.sliding_window"), sliding_layers=sliding,
                   rope_layers=sliding, rope_theta_local=local if local != cfg.rope_theta else None)  # fmt: skip


def exaone_moe_weights(t: Tensors, cfg: ModelConfig) -> dict[str, torch.Tensor]:
    skip_rope_freqs(t)
    t.skip_blocks_from(cfg.n_layers)  # the prediction layers: in the file, not run
    return separate_qkv_weights(t, cfg, permuted=False, mlp=routed_mlp)
