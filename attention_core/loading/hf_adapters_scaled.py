"""Hugging Face adapters for decoders that scale what a Llama leaves alone: IBM's Granite (dense and MoE) and
Cohere's Command R (and Aya).

Each is a (config, weights) pair like those in hf_adapters.py, on hf_adapters_modern._decoder's config reader.
- Granite: a Llama with four multipliers: the embeddings × embedding_multiplier (embed_scale), q·k ×
  attention_multiplier instead of 1/√d_head (attn_scale), each sublayer's output × residual_multiplier before its
  add (residual_scale, folded into W_O and W_out: conventions.fold_residual_scale), the logits ÷ logits_scaling
  (unembed_scale).
- Granite MoE (granite3-moe 1B/3B): the same multipliers, and a mixture of experts in every layer whose router
  renormalises the chosen experts' probabilities; each expert's gate and up are fused (input_linear, gate first).
- Granite MoE Shared (granitemoeshared): Granite MoE's, plus a shared MLP every token uses (shared_mlp, its gate and
  up fused as the experts' are), where shared_intermediate_size is not 0.
- Cohere: attention and MLP side by side from one LayerNorm without a bias (parallel_blocks + shared_block_norm),
  a gated SiLU MLP, the logits × logit_scale (unembed_scale), and RoPE over neighbouring pairs of dimensions (0, 1),
  (2, 3), … as GPT-J's, so W_Q's and W_K's columns are reordered to the engine's halves
  (conventions.pairs_to_halves). Per-head q/k LayerNorms (use_qk_norm) and attention biases are refused.
- Cohere 2 (Command R7B): Cohere's, with a sliding window on three layers of every four and RoPE on those only: the
  global layers rotate nothing (rope_layers, as SmolLM3's NoPE layers).
"""

from __future__ import annotations

from ..config import ModelConfig
from ..errors import ModelLoadError
from .conventions import fold_residual_scale, pairs_to_halves
from .hf_adapters import StateDict, _Reader
from .hf_adapters_modern import _decoder, _gated, _windows, llama_layout, qwen3_weights
from .hf_adapters_moe import _moe_decoder

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


def granitemoe_config(hf: dict, name: str) -> ModelConfig:
    return _moe_decoder(hf, name, "granitemoe", moe_renormalize=True, **_granite_scales(hf))


def cohere_config(hf: dict, name: str, arch: str = "cohere", **features) -> ModelConfig:
    if hf.get("use_qk_norm"):
        raise ModelLoadError("Cohere checkpoints with q/k LayerNorms (use_qk_norm) are not supported yet.")
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


# ── weights ────────────────────────────────────────────────────────────────────────────────────────


def granite_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """A Llama's layout, with the residual multiplier folded in."""
    return fold_residual_scale(qwen3_weights(sd, cfg), cfg)


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
    """Granite's experts, and the shared MLP where the layer has one: input_linear [2·d_shared, d_model] (gate, then
    up), output_linear [d_model, d_shared]."""
    _granite_experts(w, r, src, dst)
    if r.has(src + "shared_mlp.input_linear.weight"):
        gate, up = r.get(src + "shared_mlp.input_linear.weight").chunk(2)  # [d_shared, d_model] each
        w[dst + "mlp.shared.W_gate"], w[dst + "mlp.shared.W_in"] = gate.T.contiguous(), up.T.contiguous()
        w[dst + "mlp.shared.W_out"] = r.linear(src + "shared_mlp.output_linear.weight")


def granitemoe_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """A Llama's layout with Granite's experts (and shared MLPs), the residual multiplier folded in (every W_out)."""
    return fold_residual_scale(llama_layout(sd, cfg, _granite_shared), cfg)


def cohere_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """One norm, no bias: attention's and the MLP's; RoPE pairs reordered to the engine's halves."""
    return pairs_to_halves(llama_layout(sd, cfg, _gated, norms={"ln_attn": "input_layernorm"}), cfg)


ADAPTERS = {
    "granite": (granite_config, granite_weights),
    "granitemoe": (granitemoe_config, granitemoe_weights),
    "granitemoeshared": (granitemoe_config, granitemoe_weights),
    "cohere": (cohere_config, cohere_weights),
    "cohere2": (cohere2_config, cohere_weights),
}
