"""Hugging Face adapters for decoders that scale what a Llama leaves alone: IBM's Granite (dense and MoE) and
Cohere's Command R (and Aya).

Each is a (config, weights) pair like those in hf_adapters.py, on hf_adapters_modern._decoder's config reader.
- Granite: a Llama with four multipliers: the embeddings × embedding_multiplier (embed_scale), q·k ×
  attention_multiplier instead of 1/√d_head (attn_scale), each sublayer's output × residual_multiplier before its
  add (residual_scale, folded into W_O and W_out: conventions.fold_residual_scale), the logits ÷ logits_scaling
  (unembed_scale).
- Granite MoE (granite3-moe 1B/3B): the same multipliers, and a mixture of experts in every layer whose router
  renormalises the chosen experts' probabilities; each expert's gate and up are fused (input_linear, gate first).
- Granite SWA (granite_swa, granite-swash): Granite's multipliers, a sliding window on the layers layer_types names
  (three of every four), an attention sink per head (GPT-OSS's: transformers scales each head's output by
  sigmoid(logsumexp(scores) − sink), the same share), and a RoPE base per layer (layer_rope_theta; 0: no RoPE).
- Granite MoE SWA (granitemoe_swa): that attention with a mixture in every layer (the top logits softmaxed among
  themselves), its experts stacked as transformers holds them, and a shared MLP where shared_intermediate_size.
- Granite MoE Shared (granitemoeshared): Granite MoE's, plus a shared MLP every token uses (shared_mlp, its gate and
  up fused as the experts' are), where shared_intermediate_size is not 0.
- Granite 4 (granitemoehybrid) without Mamba layers (granite-4.0-micro and the like: every layer attention): Granite
  MoE Shared's layers, dense where num_local_experts is 0 (the shared MLP is then the MLP), RoPE only where
  position_embedding_type is "rope" (otherwise no layer rotates: NoPE). Its hybrids (Mamba-2 layers) are refused.
- HyperCLOVA X (hyperclovax, HyperCLOVAX-SEED-Think): Granite's multipliers, but the logits × logits_scaling
  (not ÷), q·k × 1/√d_head unless attention_multiplier is set, and an RMSNorm on each sublayer's output before the
  multiplier and the add (use_post_norm, Peri-LN: norm_position "sandwich"), so the multiplier goes into that
  norm's weight.
- Cohere: attention and MLP side by side from one LayerNorm without a bias (parallel_blocks + shared_block_norm),
  a gated SiLU MLP, the logits × logit_scale (unembed_scale), and RoPE over neighbouring pairs of dimensions (0, 1),
  (2, 3), … as GPT-J's, so W_Q's and W_K's columns are reordered to the engine's halves
  (conventions.pairs_to_halves, which moves the q/k norms' weights with them). Where use_qk_norm (Command R+), a
  LayerNorm without a bias over each head's q and k, each head its own weight ([heads, d_head]). Attention biases
  are refused.
- Cohere 2 (Command R7B): Cohere's, with a sliding window on three layers of every four and RoPE on those only: the
  global layers rotate nothing (rope_layers, as SmolLM3's NoPE layers).
- Cohere 2 MoE (cohere2_moe, Command A+): Cohere 2's blocks (a LayerNorm without bias, or an RMSNorm where
  rms_norm_eps is set) whose leading dense layers (mlp_layer_types) rotate even when full where
  prefix_dense_sliding_window_pattern is 1 (force_rope); the others' MLP a mixture: the top num_experts_per_tok
  logits softmaxed among themselves (or their sigmoids, renormalised where norm_topk_prob), Mixtral's expert
  layout, and shared experts added ("sum") or averaged with the routed ones ("average": both halved, folded into
  moe_scale and the shared W_out).
"""

from __future__ import annotations

from dataclasses import replace

from ..config import ModelConfig
from ..errors import ModelLoadError
from .conventions import fold_residual_scale, pairs_to_halves
from .hf_adapters import StateDict, _Reader
from .hf_adapters_hybrid import mamba_fields, mamba_weights
from .hf_adapters_modern import (
    LLAMA_NORMS,
    _attn,
    _decoder,
    _gated,
    _rope,
    _theta,
    _windows,
    llama_layout,
    qwen3_weights,
)
from .hf_adapters_moe import _experts, _moe_decoder, moe_fields, shared_mlp, stacked_experts
from .rope_scaling import scaling_kind

# ── config ─────────────────────────────────────────────────────────────────────────────────────────


def _granite_scales(hf: dict) -> dict:
    """Granite's four multipliers as ModelConfig fields."""
    if hf.get("attention_bias") or hf.get("mlp_bias"):
        raise ModelLoadError("Granite checkpoints with attention/MLP biases are not supported yet.")
    return dict(
        embed_scale=float(hf.get("embedding_multiplier", 1.0)), attn_scale=float(hf.get("attention_multiplier", 1.0)),
        residual_scale=float(hf.get("residual_multiplier", 1.0)),
        unembed_scale=1.0 / float(hf.get("logits_scaling", 1.0)),
    )  # fmt: skip


def granite_config(hf: dict, name: str) -> ModelConfig:
    return _decoder(hf, name, "granite", **_granite_scales(hf))


def hyperclovax_config(hf: dict, name: str) -> ModelConfig:
    attention = hf.get("attention_multiplier")
    scales = {**_granite_scales(hf), "attn_scale": float(attention) if attention is not None else None,
              "unembed_scale": float(hf.get("logits_scaling", 1.0))}  # fmt: skip
    sandwich = hf.get("use_post_norm", True)  # HyperCLOVAXConfig's default
    return _decoder(hf, name, "hyperclovax", **scales, norm_position="sandwich" if sandwich else "pre")


def granite_swa_config(hf: dict, name: str) -> ModelConfig:
    n = int(hf["num_hidden_layers"])
    if not hf.get("layer_types"):  # GraniteSWAConfig's default: a full layer every 4th, the first among them
        hf = {**hf, "layer_types": ["full_attention" if i % 4 == 0 else "sliding_attention" for i in range(n)]}
    theta = _theta(hf)
    thetas = [float(t) for t in hf.get("layer_rope_theta") or [theta] * n]
    if len(thetas) != n:
        raise ModelLoadError(f"config.json's layer_rope_theta lists {len(thetas)} layers for {n}.")
    if len(set(thetas) - {0.0}) > 1 and scaling_kind(_rope(hf)) != "default":
        raise ModelLoadError("Granite SWA checkpoints with RoPE scaling and per-layer bases are not supported yet.")
    rotates = tuple(t != 0.0 for t in thetas)
    return _decoder(hf, name, "granite_swa", **_granite_scales(hf), attn_sinks=True, rope_layers=rotates,
                    rope_thetas=tuple(t or theta for t in thetas))  # fmt: skip


def granitemoe_swa_config(hf: dict, name: str) -> ModelConfig:
    """Granite SWA's attention with a mixture in every layer: a softmax over the top logits (= renormalised)."""
    return replace(granite_swa_config(hf, name), arch="granitemoe_swa", **moe_fields(hf, moe_renormalize=True))


def granitemoe_config(hf: dict, name: str) -> ModelConfig:
    return _moe_decoder(hf, name, "granitemoe", moe_renormalize=True, **_granite_scales(hf))


def cohere_config(hf: dict, name: str, arch: str = "cohere", **features) -> ModelConfig:
    if hf.get("use_qk_norm"):  # Command R+: a bias-free LayerNorm over each head's q and k, each head its own weight
        features = {"qk_norm": "head", **features}
    if hf.get("attention_bias"):
        raise ModelLoadError("Cohere checkpoints with attention biases are not supported yet.")
    return _decoder(
        hf, name, arch, norm="layer", norm_eps=float(hf.get("layer_norm_eps", 1e-5)), parallel_blocks=True,
        shared_block_norm=True, rope_pairs_reordered=True, unembed_scale=float(hf.get("logit_scale") or 1.0),
        tie_embeddings=bool(hf.get("tie_word_embeddings", True)), **features,
    )  # fmt: skip


def cohere2_config(hf: dict, name: str) -> ModelConfig:
    """Command R7B: Cohere's blocks, three sliding-window layers with RoPE for each global one without (NoPE)."""
    window, sliding = _windows(hf, int(hf["num_hidden_layers"]))
    if window is None:
        raise ModelLoadError("A Cohere 2 checkpoint without sliding-window layers is not supported.")
    return cohere_config(hf, name, "cohere2", rope_layers=sliding)


def granite_hybrid_config(hf: dict, name: str) -> ModelConfig:
    n = int(hf["num_hidden_layers"])
    types = hf.get("layer_types") or hf.get("layers_block_type") or ["mamba"] * n  # transformers' default: all Mamba
    attends = [t in ("attention", "full_attention") for t in types]  # the Hub's names, and transformers 5's
    if len(types) != n or set(types) - {"mamba", "linear_attention", "attention", "full_attention"} or not any(attends):
        raise ModelLoadError(f"Granite 4: layer_types {types!r} must give each of its {n} layers 'mamba' (or "
                             "'linear_attention') or 'attention', at least one 'attention' (a model without attention "
                             "has no pattern to show).")  # fmt: skip
    if int(hf.get("num_local_experts") or 0) > 0:
        cfg = granitemoe_config(hf, name)
    else:  # dense: the shared MLP is the MLP
        cfg = granite_config({**hf, "intermediate_size": int(hf["shared_intermediate_size"])}, name)
    rotates = hf.get("position_embedding_type") == "rope"
    cfg = replace(cfg, arch="granitemoehybrid", rope_layers=() if rotates else (False,) * n)
    if all(attends):  # granite-4.0-micro: attention in every layer
        return cfg
    return replace(cfg, mixers=tuple("attention" if a else "ssm" for a in attends), **mamba_fields(hf, "Granite 4"))


# ── weights ────────────────────────────────────────────────────────────────────────────────────────


def cohere2_moe_config(hf: dict, name: str) -> ModelConfig:
    n = int(hf["num_hidden_layers"])
    window, sliding = _windows(hf, n)
    sliding = sliding or (window is not None,) * n
    dense = [t == "dense" for t in hf.get("mlp_layer_types") or ["sparse"] * n]
    forced = int(hf.get("prefix_dense_sliding_window_pattern", 1)) == 1  # dense layers rotate even when full
    rotates = tuple(s or (forced and d) for s, d in zip(sliding, dense, strict=True))
    sigmoid = hf.get("expert_selection_fn", "softmax") == "sigmoid"
    halved = hf.get("shared_expert_combination_strategy", "average") == "average" and hf.get("num_shared_experts")
    moe = moe_fields(hf, moe_router="sigmoid" if sigmoid else "softmax", moe_scale=0.5 if halved else 1.0,
                     moe_renormalize=bool(hf.get("norm_topk_prob", True)) or not sigmoid)  # fmt: skip
    plain = {**hf, "rms_norm_eps": hf.get("rms_norm_eps") or 1e-6}  # None there means Cohere's LayerNorm
    cfg = replace(cohere_config(plain, name, "cohere2_moe", rope_layers=rotates), **moe)
    if hf.get("prefix_dense_intermediate_size") and any(dense):
        cfg = replace(cfg, d_mlp=int(hf["prefix_dense_intermediate_size"]))
    if hf.get("rms_norm_eps") is not None:
        cfg = replace(cfg, norm="rms", norm_eps=float(hf["rms_norm_eps"]))
    return cfg


def granite_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """A Llama's layout, with the residual multiplier folded in."""
    return fold_residual_scale(qwen3_weights(sd, cfg), cfg)


def hyperclovax_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """A Llama's layout with post_norm1 and post_norm2 on the sublayers' outputs (where it has them), the residual
    multiplier folded into those norms."""
    norms = {**LLAMA_NORMS, "ln_attn_out": "post_norm1", "ln_mlp_out": "post_norm2"}
    return fold_residual_scale(llama_layout(sd, cfg, _gated, norms=norms if cfg.norm_position == "sandwich" else
                                            LLAMA_NORMS), cfg)  # fmt: skip


def _granite_experts(w: StateDict, r: _Reader, src: str, dst: str) -> None:
    """A block_sparse_moe's router (router.layer) and experts, stored 3-D: input_linear [n_experts, 2·d_mlp, d_model]
    (gate, then up) and output_linear [n_experts, d_model, d_mlp]."""
    moe = src + "block_sparse_moe."
    w[dst + "mlp.router.W"] = r.linear(moe + "router.layer.weight")  # [d_model, n_experts]
    gate_up, down = r.get(moe + "input_linear.weight"), r.get(moe + "output_linear.weight")
    for e in range(gate_up.shape[0]):
        gate, up = gate_up[e].chunk(2)  # [d_mlp, d_model] each
        w[f"{dst}mlp.experts.{e}.W_gate"], w[f"{dst}mlp.experts.{e}.W_in"] = gate.T.contiguous(), up.T.contiguous()
        w[f"{dst}mlp.experts.{e}.W_out"] = down[e].T.contiguous()  # [d_mlp, d_model]


def _granite_shared(w: StateDict, r: _Reader, src: str, dst: str) -> None:
    """Granite's experts, and the shared MLP where the layer has one (_granite_shared_mlp)."""
    _granite_experts(w, r, src, dst)
    _granite_shared_mlp(w, r, src, dst)


def _granite_shared_mlp(w: StateDict, r: _Reader, src: str, dst: str) -> None:
    """The shared MLP where the layer has one: input_linear [2·d_shared, d_model] (gate, then up), output_linear
    [d_model, d_shared]."""
    if r.has(src + "shared_mlp.input_linear.weight"):
        _fused_gate_up(w, r, src + "shared_mlp.", dst + "mlp.shared.")


def _fused_gate_up(w: StateDict, r: _Reader, src: str, dst: str) -> None:
    """A gated MLP stored as Granite's: input_linear [2·d_mlp, d_model] (gate, then up), output_linear."""
    gate, up = r.get(src + "input_linear.weight").chunk(2)  # [d_mlp, d_model] each
    w[dst + "W_gate"], w[dst + "W_in"] = gate.T.contiguous(), up.T.contiguous()
    w[dst + "W_out"] = r.linear(src + "output_linear.weight")


def granitemoe_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """A Llama's layout with Granite's experts (and shared MLPs), the residual multiplier folded in (every W_out)."""
    return fold_residual_scale(llama_layout(sd, cfg, _granite_shared), cfg)


def granite_hybrid_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """Granite MoE Shared's layout, or, dense, the shared MLP read as the MLP; each layer's attention or Mamba-2
    mixer; the residual multiplier folded in (the mixer's W_out too)."""

    def block(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        if cfg.attends(int(dst.split(".")[1])):
            _attn(w, r, src, dst)
        else:
            mamba_weights(w, r, src + "mamba.", dst + "ssm.")
        if cfg.n_experts:
            _granite_shared(w, r, src, dst)
        else:
            _fused_gate_up(w, r, src + "shared_mlp.", dst + "mlp.")

    return fold_residual_scale(llama_layout(sd, cfg, block, attention=False), cfg)


def cohere_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """One norm, no bias: attention's and the MLP's; q/k norms where use_qk_norm ([heads, d_head] each: Command R+);
    RoPE pairs reordered to the engine's halves."""
    return pairs_to_halves(llama_layout(sd, cfg, _gated, norms={"ln_attn": "input_layernorm"}), cfg)


def granite_swa_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """A Llama's layout with each layer's attention sinks, the residual multiplier folded in."""

    def block(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        _gated(w, r, src, dst)
        w[dst + "attn.sinks"] = r.get(src + "self_attn.sinks")  # (n_heads,)

    return fold_residual_scale(llama_layout(sd, cfg, block), cfg)


def granitemoe_swa_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """Granite SWA's attention (with sinks) and a mixture in every layer: the router, the experts stacked as
    transformers holds them ([n, 2·d_mlp, d_model], [n, d_model, d_mlp]) and the shared MLP where it has one."""

    def block(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        moe = src + "block_sparse_moe."
        w[dst + "mlp.router.W"] = r.linear(moe + "router.weight")  # [d_model, n_experts]
        stacked_experts(w, r, moe, dst, cfg.n_experts, turned_width=cfg.d_model)
        _granite_shared_mlp(w, r, src, dst)
        w[dst + "attn.sinks"] = r.get(src + "self_attn.sinks")  # (n_heads,)

    return fold_residual_scale(llama_layout(sd, cfg, block), cfg)


def cohere2_moe_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """Cohere's one norm; dense MLPs, or the router (mlp.gate), experts and shared experts, the shared ones' W_out
    halved where the model averages them with the routed ones (cfg.moe_scale halves those)."""

    def block(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        moe = src + "mlp."
        if not r.has(moe + "gate.weight"):
            _gated(w, r, src, dst)
            return
        _experts(w, r, moe, dst, cfg.n_experts, ("gate_proj", "up_proj", "down_proj"))
        if shared_mlp(w, r, moe + "shared_experts.", dst) and cfg.moe_scale == 0.5:  # "average": (routed + shared) / 2
            w[dst + "mlp.shared.W_out"] = w[dst + "mlp.shared.W_out"] * 0.5

    return pairs_to_halves(llama_layout(sd, cfg, block, norms={"ln_attn": "input_layernorm"}), cfg)


ADAPTERS = {
    "granite": (granite_config, granite_weights),
    "granitemoe": (granitemoe_config, granitemoe_weights),
    "granitemoeshared": (granitemoe_config, granitemoe_weights),
    "granitemoehybrid": (granite_hybrid_config, granite_hybrid_weights),  # Granite 4 with attention in every layer
    "granite_swa": (granite_swa_config, granite_swa_weights),
    "hyperclovax": (hyperclovax_config, hyperclovax_weights),
    "granitemoe_swa": (granitemoe_swa_config, granitemoe_swa_weights),
    "cohere": (cohere_config, cohere_weights),
    "cohere2": (cohere2_config, cohere_weights),
    "cohere2_moe": (cohere2_moe_config, cohere2_moe_weights),
}
