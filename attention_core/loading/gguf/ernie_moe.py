"""GGUF ernie4_5-moe (ERNIE-4.5-21B-A3B, 300B-A47B) → canonical weights, as llama.cpp's Ernie4_5MoeModel converter
writes the file and its ernie4-5-moe graph runs it.

- Attention is ERNIE 4.5's (gguf/llama.py ernie4_5_config): rows kept as Hugging Face stores them, which llama.cpp
  rotates in neighbouring pairs, so they are reordered to the engine's halves.
- The blocks from leading_dense_block_count on, every interleave_moe_layer_step-th, have a router (ffn_gate_inp):
  a softmax over every expert whose choice adds the correction bias (exp_probs_b), the chosen probabilities
  renormalised (llama.cpp's graph fixes both: the file has no key for them), and a shared expert (ffn_*_shexp) where
  the file has one. Which blocks are mixtures is read from the tensors, as llama.cpp creates them.
"""

from __future__ import annotations

import torch

from ...config import ModelConfig
from ..conventions import pairs_to_halves
from .deepseek import routed_mlp
from .llama import expert_counts, rope_config, separate_qkv_weights
from .reader import Meta, Tensors


def ernie4_5_moe_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    n_experts, used = expert_counts(meta)
    experts = dict(n_experts=n_experts, experts_per_token=used, moe_router="softmax", moe_renormalize=True)
    return rope_config(meta, name, tensor_names, experts=experts, arch="ernie4_5_moe", rope_pairs_reordered=True)


def ernie4_5_moe_weights(t: Tensors, cfg: ModelConfig) -> dict[str, torch.Tensor]:
    return pairs_to_halves(separate_qkv_weights(t, cfg, permuted=False, mlp=routed_mlp), cfg)
