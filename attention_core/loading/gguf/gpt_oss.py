"""GGUF gpt-oss (OpenAI's GPT-OSS as llama.cpp's converter writes it, its graph openai-moe) → canonical weights and
config, the same model as a Hugging Face folder gives (loading/hf_adapters_moe.py):

- attention: q/k/v/output with biases, rows kept (llama.cpp rotates it NeoX-style, Hugging Face's rotate-half),
  scale 1/√d_head, one learned sink logit per head (attn_sinks); layers slide in turn from layer 0
  (attention.sliding_window_pattern, a period or per-layer flags, else llama.cpp's period 2), every layer with the
  same RoPE and YaRN scaling.
- YaRN's ramp untruncated, as OpenAI's and transformers' GPT-OSS compute it (rope_scaling's truncate=False): llama.cpp
  rounds its ends to whole dimensions, which moves a few frequencies slightly.
- the MLP's input norm is post_attention_norm; a router with a bias (ffn_gate_inp) whose chosen experts' logits are
  softmaxed (= renormalised top-k probabilities); experts with biases, gate and up separate (ffn_gate_exps,
  ffn_up_exps) or fused (ffn_gate_up_exps, rows gate | up), usually MXFP4, which the gguf package dequantises; and
  the clamped SwiGLU, whose constants llama.cpp fixes (α 1.702, limit 7) and the file does not hold.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from ...config import ModelConfig
from ...errors import ModelLoadError
from ..rope_scaling import gguf_rule
from .llama import rope_config, separate_qkv_weights, yarn_keys
from .reader import Meta, Tensors, matrix

SWIGLU_CLAMP = (7.0, 1.702)  # (limit, α): llama.cpp's swiglu_oai constants for this graph
_PERIOD = 2  # llama.cpp's default: every other layer slides, layer 0 first


def _sliding_layers(meta: Meta, n_layers: int) -> tuple[bool, ...]:
    pattern = meta.get("attention.sliding_window_pattern", _PERIOD)
    if isinstance(pattern, list):  # one flag per layer: True = sliding window
        if len(pattern) != n_layers:
            raise ModelLoadError(f"sliding_window_pattern lists {len(pattern)} layers for {n_layers}.")
        return tuple(bool(p) for p in pattern)
    n = int(pattern)
    return tuple(n > 0 and i % n < n - 1 for i in range(n_layers))


def gpt_oss_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    n_layers = meta.count("block_count")
    cfg = rope_config(
        meta, name, tensor_names, arch="gpt_oss", attn_sinks=True, act="swiglu_clamped", swiglu_clamp=SWIGLU_CLAMP,
        mlp_bias=True, sliding_window=meta.count("attention.sliding_window"),
        sliding_layers=_sliding_layers(meta, n_layers),
    )  # fmt: skip
    local = meta.get("rope.freq_base_swa", None)
    if local is not None and float(local) != cfg.rope_theta:  # GPT-OSS rotates every layer alike
        raise ModelLoadError(f"gpt-oss files with another RoPE base on the sliding layers (rope.freq_base_swa "
                             f"{float(local):g}, {cfg.rope_theta:g} elsewhere) are not supported yet.")  # fmt: skip
    if not cfg.n_experts:
        raise ModelLoadError("This gpt-oss file has no router (blk.0.ffn_gate_inp.weight).")
    factor = meta.unless_zero("rope.scaling.factor", meta.number) or 1.0
    kind = str(meta.get("rope.scaling.type", "none"))
    untruncated = {**yarn_keys(meta), "truncate": False}
    rule = gguf_rule(kind, factor, cfg.rotary_dim or cfg.d_head, cfg.rope_theta, untruncated)
    return replace(cfg, **rule.fields())


def _gate_and_up(t: Tensors, src: str, d_mlp: int) -> tuple[np.ndarray, ...]:
    """Each expert's gate and up matrices, (n_experts, d_mlp, d_model), and their biases, (n_experts, d_mlp)."""
    if not t.has(src + "ffn_gate_up_exps.weight"):
        return tuple(t.raw(f"{src}ffn_{part}_exps.{kind}") for part in ("gate", "up") for kind in ("weight", "bias"))
    fused, bias = t.raw(src + "ffn_gate_up_exps.weight"), t.raw(src + "ffn_gate_up_exps.bias")
    if fused.shape[1] != 2 * d_mlp or bias.shape[-1] != 2 * d_mlp:
        raise ModelLoadError(f"{src}ffn_gate_up_exps has {fused.shape[1]} rows per expert; gate and up need {d_mlp} "
                             "each.")  # fmt: skip
    return fused[:, :d_mlp], bias[:, :d_mlp], fused[:, d_mlp:], bias[:, d_mlp:]


def _sinks_and_experts(t: Tensors, w: dict[str, torch.Tensor], src: str, dst: str) -> None:
    """What a GPT-OSS block adds to the attention separate_qkv_weights reads: the sinks, the MLP's norm, the router
    and the experts (each [in, out] with its biases)."""
    w[dst + "attn.sinks"] = t.vector(src + "attn_sinks.weight")  # (n_heads,)
    w[dst + "ln_mlp.w"] = t.vector(src + "post_attention_norm.weight")
    w[dst + "mlp.router.W"] = t.linear(src + "ffn_gate_inp.weight")  # [d_model, n_experts]
    w[dst + "mlp.router.b"] = t.vector(src + "ffn_gate_inp.bias")
    down, down_b = t.raw(src + "ffn_down_exps.weight"), t.raw(src + "ffn_down_exps.bias")  # (E, d_model, d_mlp)
    gate, gate_b, up, up_b = _gate_and_up(t, src, down.shape[-1])
    for e in range(down.shape[0]):
        p = f"{dst}mlp.experts.{e}."
        w[p + "W_gate"], w[p + "W_in"], w[p + "W_out"] = matrix(gate[e]), matrix(up[e]), matrix(down[e])
        for ours, bias in (("b_gate", gate_b), ("b_in", up_b), ("b_out", down_b)):
            w[p + ours] = torch.from_numpy(np.ascontiguousarray(bias[e]))


def gpt_oss_weights(t: Tensors, cfg: ModelConfig) -> dict[str, torch.Tensor]:
    return separate_qkv_weights(t, cfg, permuted=False, mlp=_sinks_and_experts)
