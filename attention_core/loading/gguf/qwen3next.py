"""GGUF qwen3next: Qwen3-Next as llama.cpp's converter writes it, read with llama.cpp's rules. qwen35's layout
(qwen35.py: the gated delta rule in every layer but each full_attention_interval-th, gated attention there, the 1 + w
norms stored added, A as −exp(A_log), the conv kernel squeezed), with what differs:

- the value heads stay grouped by key head, as transformers has them (the converter tiles them for qwen35 only);
- the delta rule's q, k, v and z come fused per key head in transformers (in_proj_qkvz: [q, k, v, z] a key head).
  Newer converters store them split, attn_qkv ([all q | all k | all v]) and attn_gate (z); older ones kept the fused
  map as ssm_in. Both are read; the fused one is split as transformers splits it;
- β's and α's maps stay fused as ssm_ba, per key head [b | a], split the same way;
- the mixture of experts: the router, stacked experts and the shared expert behind its sigmoid gate, the chosen
  experts' weights renormalised (llama.cpp's graph does, whatever norm_topk_prob said); a layer without a router
  (mlp_only_layers) a dense gated MLP. The converter leaves the multi-token prediction layer out.
"""

from __future__ import annotations

import dataclasses
from functools import partial

import torch

from ...config import ModelConfig
from ...errors import ModelLoadError
from ..conventions import unfuse_ba, unfuse_qkvz
from .hybrid import a_log
from .llama import Weights
from .qwen35 import qwen35_config, qwen35_weights
from .reader import Meta, Tensors


def qwen3next_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    return dataclasses.replace(qwen35_config(meta, name, tensor_names), arch="qwen3_next")


def _delta_rule(t: Tensors, w: Weights, src: str, dst: str, cfg: ModelConfig) -> None:
    """One delta-rule layer's maps, kernel, decay parameters and gated norm (delta_net.py's names)."""
    (n_k, n_v), (d_k, d_v) = cfg.delta_heads, cfg.delta_dims
    dst += "delta."
    if t.has(src + "ssm_in.weight"):  # an older converter's file: transformers' in_proj_qkvz as it is
        w[dst + "W_qkv"], w[dst + "W_z"] = unfuse_qkvz(_raw(t, src + "ssm_in.weight"), cfg)
    else:
        w[dst + "W_qkv"], w[dst + "W_z"] = t.linear(src + "attn_qkv.weight"), t.linear(src + "attn_gate.weight")
    w[dst + "W_b"], w[dst + "W_a"] = unfuse_ba(_raw(t, src + "ssm_ba.weight"), cfg)
    kernel = _raw(t, src + "ssm_conv1d.weight")  # (width, L)
    width = 2 * n_k * d_k + n_v * d_v
    if tuple(w[dst + "W_qkv"].shape) != (cfg.d_model, width) or tuple(kernel.shape) != (width, cfg.conv_kernel):
        raise ModelLoadError(f"{src}: the delta rule's q, k, v map is {tuple(w[dst + 'W_qkv'].shape)} and its kernel "
                             f"{tuple(kernel.shape)}; they need ({cfg.d_model}, {width}) and ({width}, "
                             f"{cfg.conv_kernel}).")  # fmt: skip
    w[dst + "kernel"] = kernel
    w[dst + "A_log"], w[dst + "dt_bias"] = a_log(t, src + "ssm_a", n_v), t.vector(src + "ssm_dt.bias")
    w[dst + "norm.w"], w[dst + "W_out"] = t.vector(src + "ssm_norm.weight"), t.linear(src + "ssm_out.weight")


def _raw(t: Tensors, name: str) -> torch.Tensor:
    """The tensor `name` as stored, rows first (a map's [out, in])."""
    return torch.from_numpy(t.raw(name).copy())


qwen3next_weights = partial(qwen35_weights, delta_rule=_delta_rule)
