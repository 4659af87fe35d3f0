"""Hugging Face adapter for AI21's Jamba (jamba: Jamba v0.1, Jamba 1.5 and 1.6 Mini and Large, Jamba Reasoning 3B).

Pre-norm blocks; in one layer of every attn_layer_period (at attn_layer_offset, or as layers_block_type lists them)
grouped-query attention with no position encoding at all, in the others Mamba's selective scan
(attention_core/selective_scan.py: a channel-wise state, its dt, B and C each through an RMSNorm of its own). The MLP
is a gated SiLU MLP, or in one layer of every expert_layer_period (at expert_layer_offset) a mixture of experts: a
softmax router whose chosen experts' probabilities are not renormalised.

Weights under model.: embed_tokens, input_layernorm and pre_ff_layernorm, self_attn.*_proj or mamba.in_proj, conv1d,
x_proj, dt_proj (its bias Δ's), A_log, D, out_proj and dt/b/c_layernorm; feed_forward.gate/up/down_proj, or
feed_forward.router and its experts (one tensor each as the Hub stores them, or stacked as transformers 5 saves them);
final_layernorm, lm_head.
"""

from __future__ import annotations

import math

from ..config import ModelConfig
from ..errors import ModelLoadError
from .hf_adapters import StateDict, _Reader
from .hf_adapters_hybrid import _some_attention
from .hf_adapters_modern import _decoder, attention_maps, pre_ff_layout
from .hf_adapters_moe import GATED, moe_fields, stacked_experts


def _kinds(hf: dict, n: int) -> list[str]:
    """Each layer's kind: layers_block_type where config.json lists it, else attention at attn_layer_offset of every
    attn_layer_period (transformers' rule)."""
    listed = hf.get("layers_block_type")
    if listed:
        if len(listed) != n or set(listed) - {"attention", "mamba"}:
            raise ModelLoadError(f"Jamba: layers_block_type {listed!r} is not 'attention' or 'mamba' for each of "
                                 f"its {n} layers.")  # fmt: skip
        return list(listed)
    period, offset = int(hf.get("attn_layer_period", 8)), int(hf.get("attn_layer_offset", 4))
    return ["attention" if i % period == offset else "mamba" for i in range(n)]


def jamba_config(hf: dict, name: str) -> ModelConfig:
    n, d_model = int(hf["num_hidden_layers"]), int(hf["hidden_size"])
    rank = hf.get("mamba_dt_rank", "auto")
    rank = math.ceil(d_model / 16) if rank in (None, "auto") else int(rank)
    shape = (int(hf.get("mamba_expand", 2)) * d_model, int(hf.get("mamba_d_state", 16)), rank)
    mixers = _some_attention(tuple("attention" if k == "attention" else "selective_scan" for k in _kinds(hf, n)),
                             "Jamba")  # fmt: skip
    experts = moe_fields(hf) if int(hf.get("num_experts") or 1) > 1 else {}
    return _decoder(hf, name, "jamba", mixers=mixers, rope_layers=(False,) * n, selective_shape=shape,
                    conv_kernel=int(hf.get("mamba_d_conv", 4)), **experts)  # fmt: skip


def jamba_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    def block(w: StateDict, r: _Reader, src: str, dst: str, layer: int) -> None:
        if cfg.attends(layer):
            attention_maps(w, r, src, dst)
        else:
            _selective(w, r, src + "mamba.", dst + "ssm.")
        _feed_forward(w, r, src + "feed_forward.", dst, cfg)

    return pre_ff_layout(sd, cfg, block)


def _selective(w: StateDict, r: _Reader, src: str, dst: str) -> None:
    """A Mamba layer under selective_scan.py's names; biases and the dt/B/C norms where the checkpoint has them."""
    for ours, theirs in (("W_in", "in_proj"), ("W_x", "x_proj"), ("W_dt", "dt_proj"), ("W_out", "out_proj")):
        w[dst + ours] = r.linear(f"{src}{theirs}.weight")
    w[dst + "kernel"] = r.get(src + "conv1d.weight")[:, 0, :].contiguous()  # (D, L)
    for ours, theirs in (("dt_bias", "dt_proj.bias"), ("A_log", "A_log"), ("D", "D")):
        w[dst + ours] = r.get(src + theirs)
    for ours, theirs in (("b_in", "in_proj.bias"), ("b_conv", "conv1d.bias"), ("b_out", "out_proj.bias"),
                         ("dt_norm.w", "dt_layernorm.weight"), ("B_norm.w", "b_layernorm.weight"),
                         ("C_norm.w", "c_layernorm.weight")):  # fmt: skip
        if r.has(src + theirs):
            w[dst + ours] = r.get(src + theirs)


def _feed_forward(w: StateDict, r: _Reader, src: str, dst: str, cfg: ModelConfig) -> None:
    """A dense gated MLP, or the router and its experts (one tensor each, or stacked)."""
    if not r.has(src + "router.weight"):
        for ours, theirs in GATED:
            w[f"{dst}mlp.{ours}"] = r.linear(f"{src}{theirs}.weight")
        return
    w[dst + "mlp.router.W"] = r.linear(src + "router.weight")  # [d_model, n_experts]
    if r.has(src + "experts.gate_up_proj"):  # a transformers 5 save
        stacked_experts(w, r, src, dst, cfg.n_experts, turned_width=cfg.d_model)
        return
    for e in range(cfg.n_experts):
        for ours, theirs in GATED:
            w[f"{dst}mlp.experts.{e}.{ours}"] = r.linear(f"{src}experts.{e}.{theirs}.weight")


ADAPTERS = {"jamba": (jamba_config, jamba_weights)}
