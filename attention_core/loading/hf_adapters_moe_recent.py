"""Hugging Face adapters for mixture-of-experts decoders released after those in hf_adapters_moe.py (which keeps
the shared readers this file uses: moe_fields, deepseek_moe, deepseek_mlp).

- Mellum (JetBrains' Mellum 2): Qwen3-MoE's attention (per-head q/k RMSNorms) with a sliding window on the layers
  layer_types names and a RoPE base per layer type (rope_parameters["full_attention"], ["sliding_attention"]:
  Gemma 3's rope_theta / rope_theta_local); the layers mlp_layer_types calls "dense" keep a gated MLP, the others a
  softmax router over experts (renormalised where norm_topk_prob). Its multi-token-prediction layer (mtp.) is not
  read: it predicts a token after the next, which no view shows.
- HY 3 (hy_v3, Tencent Hunyuan 3): Apertus's attention (a Llama's with per-head q/k RMSNorms); after the dense
  layers mlp_layer_types names, DeepSeek-V3's sigmoid router without groups (its correction bias in the choice
  only, the chosen weights renormalised, × router_scaling_factor) and one shared MLP every token uses. Its
  checkpoints name them mlp.router.gate, mlp.expert_bias and mlp.shared_mlp (transformers renames them to mlp.gate,
  mlp.e_score_correction_bias and mlp.shared_experts when it loads, and back when it saves); either is read.
- Flint (RecursiveSI): Qwen3-MoE's attention (per-head q/k RMSNorms) with an attention sink per head (GPT-OSS's;
  self_attn.softmax_offset in its checkpoints, sinks in transformers'); the layers layer_types calls sliding rotate
  q and k and see sliding_window tokens, the full ones rotate nothing (NoPE); after the dense layers
  (mlp_only_layers), a router taking the top sigmoid scores (renormalised where norm_topk_prob), with no correction
  bias, and a shared expert added without a gate.
"""

from __future__ import annotations

from ..config import ModelConfig
from .hf_adapters import StateDict, _Reader
from .hf_adapters_modern import _decoder, _theta, llama_layout
from .hf_adapters_moe import GATED, deepseek_mlp, deepseek_moe, moe_fields, routed_weights, shared_mlp
from .hf_adapters_recent import _defaults

MELLUM_ROPE = {"full_attention": {"rope_type": "default", "rope_theta": 500000.0},
               "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}}  # MellumConfig's default


def mellum_config(hf: dict, name: str) -> ModelConfig:
    hf = _defaults(hf, layer_types=["full_attention"] * int(hf["num_hidden_layers"]), norm_topk_prob=True)
    if not hf.get("rope_parameters"):
        hf = {**hf, "rope_parameters": MELLUM_ROPE}
    return _decoder(hf, name, "mellum", qk_norm="head", rope_theta=_theta(hf, "full_attention", 500000.0),
                    rope_theta_local=_theta(hf, "sliding_attention", 10000.0), **moe_fields(hf))  # fmt: skip


def hy_v3_config(hf: dict, name: str) -> ModelConfig:
    hf = _defaults(hf, routed_scaling_factor=hf.get("router_scaling_factor", 2.826))  # HYV3Config's name and default
    return _decoder(hf, name, "hy_v3", qk_norm="head", **deepseek_moe(hf, sigmoid=True) | {"moe_renormalize": True})


def hy_v3_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """A Llama's layout with per-head q/k norms; a dense layer's gated MLP, else the router, its correction bias,
    the experts (one tensor each) and the shared MLP, under the checkpoint's names or transformers' own."""

    def block(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        moe = src + "mlp."
        if not r.has(moe + "router.gate.weight"):  # a dense layer, or saved under transformers' names
            deepseek_mlp(w, r, src, dst, cfg)
            return
        w[dst + "mlp.router.W"] = r.linear(moe + "router.gate.weight")  # [d_model, n_experts]
        w[dst + "mlp.router.b_choice"] = r.get(moe + "expert_bias")  # [n_experts]
        for e in range(cfg.n_experts):
            for ours, theirs in GATED:
                w[f"{dst}mlp.experts.{e}.{ours}"] = r.linear(f"{moe}experts.{e}.{theirs}.weight")
        shared_mlp(w, r, moe + "shared_mlp.", dst)

    return llama_layout(sd, cfg, block)


def flint_config(hf: dict, name: str) -> ModelConfig:
    n = int(hf["num_hidden_layers"])
    types = ["full_attention" if i < 2 or i % 4 == 1 or i == n - 1 else "sliding_attention" for i in range(n)]
    hf = _defaults(hf, layer_types=types, sliding_window=513)  # FlintConfig's defaults
    rotates = tuple(t == "sliding_attention" and hf["sliding_window"] is not None for t in hf["layer_types"])
    return _decoder(hf, name, "flint", qk_norm="head", attn_sinks=True, rope_layers=rotates,
                    **moe_fields(hf, moe_router="sigmoid"))  # fmt: skip


def flint_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """A Llama's layout with per-head q/k norms and each layer's sinks; a dense layer's gated MLP, else the router,
    the experts (one tensor each or stacked) and the shared expert."""

    def block(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        sinks = next((k for k in ("softmax_offset", "sinks") if r.has(f"{src}self_attn.{k}")), "softmax_offset")
        w[dst + "attn.sinks"] = r.get(f"{src}self_attn.{sinks}")  # (n_heads,)
        deepseek_mlp(w, r, src, dst, cfg)
        if r.has(src + "mlp.gate.weight"):
            shared_mlp(w, r, src + "mlp.shared_expert.", dst)

    return llama_layout(sd, cfg, block)


ADAPTERS = {
    # routed_weights: a Llama's layout (q/k norms) with DeepSeek's MLPs: a dense layer's gated MLP, else the router
    # (mlp.gate) and the experts (one tensor each or stacked)
    "mellum": (mellum_config, routed_weights),
    "hy_v3": (hy_v3_config, hy_v3_weights),
    "flint": (flint_config, flint_weights),
}
