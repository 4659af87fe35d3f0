"""Hugging Face adapters for decoders with multi-head latent attention (attention_core/latent.py): DeepSeek-V2
(and V2-Lite, DeepSeek-Coder-V2), DeepSeek-V3 (Kimi K2, Moonlight: `model_type: deepseek_v3`) and MiniCPM3.

Attention, per layer, from the checkpoint's self_attn:
- q_a_proj, q_a_layernorm, q_b_proj → W_DQ, q_latent_norm.w, W_UQ (a query latent), or q_proj → W_Q (V2-Lite);
- kv_a_proj_with_mqa → W_DKV (its first kv_lora_rank rows) and W_KR (the rotated key, its last qk_rope_head_dim);
  kv_a_layernorm → kv_latent_norm.w; kv_b_proj → W_UK and W_UV (each head's qk_nope_head_dim rows, then its
  v_head_dim rows); o_proj → W_O over the heads' values.
- A head's q and k are its qk_nope_head_dim unrotated dimensions, then qk_rope_head_dim rotated ones. DeepSeek rotates
  neighbouring pairs (V2 always, V3 where rope_interleave, its default): those columns are listed even ones first,
  so the engine's rotate-half RoPE gives the same numbers (q·k unchanged; V3's code lists them so too).
- q·k is scaled by (qk_nope + qk_rope)^-½, times DeepSeek's YaRN mscale(factor, mscale_all_dim)² where it has one.

The MLP: the first first_k_dense_replace layers dense (intermediate_size), the rest a mixture of n_routed_experts
(moe_intermediate_size each) plus n_shared_experts always used, stored as one shared expert; V3's router is a sigmoid
with a correction bias (e_score_correction_bias → router.b_choice) and groups rated by their best two; V2's a softmax,
in groups rated by their best one where topk_method is "group_limited_greedy"; the chosen weights × the
routed_scaling_factor, renormalised where norm_topk_prob says (experts.route). MiniCPM3 is dense, and scales like
Granite: embeddings × scale_emb, each sublayer's output × scale_depth/√n_layers (folded into W_O and W_out), the
final residual ÷ (hidden_size / dim_model_base) before the unembedding. Kimi K2.5 (kimi_k25): its language model, a
DeepSeek-V3 (text_config, model_type deepseek_v3 or kimi_k2), under model.language_model. (language_model.model. as
Moonshot saves it); the vision tower and projector are not read. GLM-5 (glm_moe_dsa): DeepSeek-V3.2's layers.
"""

from __future__ import annotations

import math
from dataclasses import replace
from functools import partial

import torch

from ..config import ModelConfig
from ..errors import ModelLoadError
from .conventions import fold_residual_scale, last_pairs_to_halves
from .hf_adapters import StateDict, _Reader
from .hf_adapters_modern import _decoder, _rope, llama_layout
from .hf_adapters_moe import deepseek_mlp, deepseek_moe
from .hf_adapters_recent import _language_config

# ── config ─────────────────────────────────────────────────────────────────────────────────────────


def _scale(hf: dict, d_qk: int) -> float:
    """(d_qk)^-½, times DeepSeek's mscale² where its YaRN names mscale_all_dim (as transformers' yarn_apply_mscale)."""
    params = _rope(hf)
    scale = d_qk**-0.5
    factor, all_dim = float(params.get("factor") or 1.0), params.get("mscale_all_dim")
    if params.get("rope_type", params.get("type", "default")) != "default" and all_dim and factor > 1:
        scale *= (0.1 * float(all_dim) * math.log(factor) + 1.0) ** 2
    return scale


def _latent(hf: dict, name: str, arch: str, interleaved: bool, **features) -> ModelConfig:
    """A pre-norm RoPE decoder with multi-head latent attention: its head widths, latents and scale."""
    nope, rope, v = int(hf["qk_nope_head_dim"]), int(hf["qk_rope_head_dim"]), hf.get("v_head_dim")
    if nope <= 0 or rope <= 0 or rope % 2:
        raise ModelLoadError(f"qk_nope_head_dim {nope} and qk_rope_head_dim {rope} must be positive, the second even.")
    n_heads = int(hf["num_attention_heads"])
    fields = dict(
        n_kv_heads=n_heads, d_head=nope + rope, rotary_dim=rope, kv_latent_rank=int(hf["kv_lora_rank"]),
        q_latent_rank=int(hf.get("q_lora_rank") or 0), d_head_v=int(v or int(hf["hidden_size"]) // n_heads),
        attn_scale=_scale(hf, nope + rope), rope_pairs_reordered=interleaved, attn_bias=bool(hf.get("attention_bias")),
    )  # fmt: skip
    return _decoder(hf, name, arch, **(fields | features))


def deepseek_v2_config(hf: dict, name: str) -> ModelConfig:
    return _latent(hf, name, "deepseek_v2", True, **deepseek_moe(hf, sigmoid=False))


def deepseek_v3_config(hf: dict, name: str, arch: str = "deepseek_v3") -> ModelConfig:
    """DeepSeek-V3 (Kimi K2, Moonlight), and GLM-4.7-Flash (`glm4_moe_lite`: V3's layers under GLM's name, its dense
    and sparse layers listed in mlp_layer_types; the weights say which is which)."""
    return _latent(hf, name, arch, bool(hf.get("rope_interleave", True)), **deepseek_moe(hf, sigmoid=True))


def kimi_k25_config(hf: dict, name: str) -> ModelConfig:
    return deepseek_v3_config(_language_config(hf), name)


def deepseek_v32_config(hf: dict, name: str) -> ModelConfig:
    """DeepSeek-V3.2: V3's layers, plus an indexer (DeepSeek Sparse Attention) that lets each query attend only to
    the index_topk keys it scores highest. Up to index_topk tokens every key is kept, so V3.2 is V3 there: texts are
    capped at it, and the indexer's weights are not read (nor counted among the parameters)."""
    cfg = deepseek_v3_config(hf, name, arch="deepseek_v32")
    topk = int(hf.get("index_topk") or 2048)
    if topk >= cfg.n_ctx:
        return cfg
    note = (f"Texts are capped at {topk:,} tokens: past them each query attends only to the {topk:,} keys its "
            "indexer (DeepSeek Sparse Attention) picks, which this engine does not run; the indexer's weights are "
            "not read.")  # fmt: skip
    return replace(cfg, n_ctx=topk, conversion_notes=cfg.conversion_notes + (note,))


def glm_moe_dsa_config(hf: dict, name: str) -> ModelConfig:
    """GLM-5 (glm_moe_dsa): DeepSeek-V3.2's layers (latent attention, its indexer capped at index_topk tokens as V3.2's
    is, the indexer's weights not read), whatever rope_interleave says: GLM-5's attention always rotates neighbouring
    pairs."""
    return replace(deepseek_v32_config({**hf, "rope_interleave": True}, name), arch="glm_moe_dsa")


def mistral4_config(hf: dict, name: str) -> ModelConfig:
    """Mistral Small 4 (Mistral4ForCausalLM): V3's latent attention (YaRN with mscale_all_dim) and MLP layout with
    V2's softmax router, not grouped; past original_max_position_embeddings its queries are multiplied by Llama 4's
    1 + β·ln(1 + ⌊position / original⌋), which is 1 before: texts are capped there, as Ministral 3's."""
    if int(hf.get("n_group") or 1) > 1:  # its groups rated by their best two softmax scores: not the engine's V2 rule
        raise ModelLoadError("Mistral 4 checkpoints that route within groups of experts are not supported yet.")
    cfg = _latent(hf, name, "mistral4", bool(hf.get("rope_interleave", True)), **deepseek_moe(hf, sigmoid=False))
    params = _rope(hf)
    original = params.get("original_max_position_embeddings")
    if not (params.get("llama_4_scaling_beta") and original and int(original) < cfg.n_ctx):
        return cfg
    note = (f"Texts are capped at {int(original):,} tokens: past them Mistral 4 also scales its queries (Llama 4's "
            "attention temperature), which this engine does not run.")  # fmt: skip
    return replace(cfg, n_ctx=int(original), conversion_notes=cfg.conversion_notes + (note,))


def youtu_config(hf: dict, name: str) -> ModelConfig:
    """Youtu-LLM: DeepSeek-V3's latent attention in a dense Llama."""
    return _latent(hf, name, "youtu", bool(hf.get("rope_interleave", True)))


def minicpm3_config(hf: dict, name: str) -> ModelConfig:
    n_layers, d_model = int(hf["num_hidden_layers"]), int(hf["hidden_size"])
    depth = hf.get("scale_depth")
    base = int(hf.get("dim_model_base") or d_model)
    return _latent(
        hf, name, "minicpm3", False, embed_scale=float(hf.get("scale_emb", 1.0)),
        residual_scale=(float(depth) if depth is not None else math.sqrt(n_layers)) / math.sqrt(n_layers),
        unembed_scale=base / d_model,
    )  # fmt: skip


# ── weights ────────────────────────────────────────────────────────────────────────────────────────


def kv_up(up: torch.Tensor, cfg: ModelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """W_UK [kv_latent_rank, H·d_nope] and W_UV [kv_latent_rank, H·d_head_v] from kv_b_proj as [in, out]: each head's
    d_nope key columns, then its d_head_v value columns."""
    H, nope, r_kv = cfg.n_heads, cfg.d_head - (cfg.rotary_dim or 0), cfg.kv_latent_rank
    per_head = up.reshape(r_kv, H, nope + cfg.d_value)
    return (per_head[..., :nope].reshape(r_kv, H * nope).contiguous(),
            per_head[..., nope:].reshape(r_kv, H * cfg.d_value).contiguous())  # fmt: skip


def store_latent_attention(w: StateDict, p: str, cfg: ModelConfig, parts: dict[str, torch.Tensor]) -> None:
    """One layer's latent attention under the prefix `p` ("blocks.3.attn."), from `parts` in [in, out] orientation,
    whatever the file: "W_Q" (no query latent) or "W_DQ", "q_latent_norm.w", "W_UQ"; "kv_a" (W_DKV | W_KR, as
    kv_a_proj_with_mqa), "kv_latent_norm.w", "W_UK", "W_UV", "W_O", and any biases "b_DQ", "kv_a_bias", "b_O". The
    rotated columns are listed even ones first where the model rotates neighbouring pairs."""
    rope, r_kv = cfg.rotary_dim or 0, cfg.kv_latent_rank

    def halves(W: torch.Tensor, heads: int) -> torch.Tensor:
        return last_pairs_to_halves(W, heads, rope) if cfg.rope_pairs_reordered else W

    for name in ("W_Q", "W_UQ"):
        if name in parts:
            w[p + name] = halves(parts[name], cfg.n_heads)  # (d_model or q_latent_rank, H·d_head)
    for name in ("W_DQ", "q_latent_norm.w", "b_DQ", "kv_latent_norm.w", "W_UK", "W_UV", "W_O", "b_O"):
        if name in parts:
            w[p + name] = parts[name]
    kv_a = parts["kv_a"]  # (d_model, kv_latent_rank + d_rope)
    w[p + "W_DKV"], w[p + "W_KR"] = kv_a[:, :r_kv].contiguous(), halves(kv_a[:, r_kv:], 1)
    if "kv_a_bias" in parts:
        b = parts["kv_a_bias"]
        w[p + "b_DKV"], w[p + "b_KR"] = b[:r_kv].contiguous(), halves(b[None, r_kv:], 1)[0]


def _latent_attention(w: StateDict, r: _Reader, src: str, dst: str, cfg: ModelConfig) -> None:
    """One layer's self_attn, as transformers names it, into the canonical MLA names (latent.py)."""
    a = src + "self_attn."
    if cfg.q_latent_rank:
        parts = {"W_DQ": r.linear(a + "q_a_proj.weight"), "q_latent_norm.w": r.get(a + "q_a_layernorm.weight"),
                 "W_UQ": r.linear(a + "q_b_proj.weight")}  # fmt: skip
    else:
        parts = {"W_Q": r.linear(a + "q_proj.weight")}
    parts["W_UK"], parts["W_UV"] = kv_up(r.linear(a + "kv_b_proj.weight"), cfg)
    parts |= {"kv_a": r.linear(a + "kv_a_proj_with_mqa.weight"), "kv_latent_norm.w": r.get(a + "kv_a_layernorm.weight"),
              "W_O": r.linear(a + "o_proj.weight")}  # fmt: skip
    if cfg.attn_bias:
        parts |= {"kv_a_bias": r.get(a + "kv_a_proj_with_mqa.bias"), "b_O": r.get(a + "o_proj.bias")}
        if cfg.q_latent_rank:
            parts["b_DQ"] = r.get(a + "q_a_proj.bias")
    store_latent_attention(w, dst + "attn.", cfg, parts)


def latent_weights(
    sd: StateDict, cfg: ModelConfig, prefixes: tuple[str, ...] = ("model.",), lm_head: str = "lm_head.weight"
) -> StateDict:
    """A Llama's layout (under the first of `prefixes` the checkpoint uses) with latent attention, dense or
    mixture-of-experts MLPs (a shared expert where the layer has one), the residual scale folded in (MiniCPM3)."""

    def block(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        _latent_attention(w, r, src, dst, cfg)
        deepseek_mlp(w, r, src, dst, cfg)

    return fold_residual_scale(llama_layout(sd, cfg, block, prefixes, lm_head, attention=False), cfg)


def kimi_k25_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """The language model of a Kimi K2.5 checkpoint, under whichever prefix it was saved. Moonshot's files name its
    layers language_model.model.layers.N; transformers' save_pretrained writes language_model.model.blocks.N (it
    reverses the vision tower's rename of blocks to layers on every key): both are read."""
    saved = "language_model.model.blocks."
    sd = {"language_model.model.layers." + k[len(saved):] if k.startswith(saved) else k: v for k, v in sd.items()}
    lm_head = next((k for k in ("language_model.lm_head.weight", "lm_head.weight") if k in sd), "lm_head.weight")
    return latent_weights(sd, cfg, ("model.language_model.", "language_model.model."), lm_head)


def axk1_config(hf: dict, name: str) -> ModelConfig:
    """SK Telecom's A.X K1: DeepSeek-V3's layers, its sparse layers' mixture of experts followed by an RMSNorm on
    their output (mlp.post_mlp_layernorm) before the add: norm position "pre_mlp_out" there. Which layers are sparse:
    mlp_layer_types, or the older first_k_dense_replace and moe_layer_freq."""
    first, every = int(hf.get("first_k_dense_replace", 1)), int(hf.get("moe_layer_freq", 1))
    kinds = hf.get("mlp_layer_types") or ["sparse" if i >= first and i % every == 0 else "dense"
                                          for i in range(int(hf["num_hidden_layers"]))]  # fmt: skip
    positions = tuple("pre_mlp_out" if kind == "sparse" else "pre" for kind in kinds)
    return replace(deepseek_v3_config(hf, name, arch="axk1"), norm_positions=positions)


def axk1_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """V3's weights, and each sparse layer's output norm (mlp.post_mlp_layernorm in transformers' files,
    post_mlp_layernorm in SK Telecom's, which keep one in the dense layers too, unused)."""
    w = latent_weights(sd, cfg)
    for layer in range(cfg.n_layers):
        if cfg.norm_at(layer) == "pre_mlp_out":
            src = f"model.layers.{layer}."
            names = (src + "mlp.post_mlp_layernorm.weight", src + "post_mlp_layernorm.weight")
            w[f"blocks.{layer}.ln_mlp_out.w"] = sd[next((k for k in names if k in sd), names[0])]
    return w


ADAPTERS = {
    "deepseek_v2": (deepseek_v2_config, latent_weights),
    "deepseek_v3": (deepseek_v3_config, latent_weights),
    "minicpm3": (minicpm3_config, latent_weights),
    "glm4_moe_lite": (partial(deepseek_v3_config, arch="glm4_moe_lite"), latent_weights),
    "deepseek_v32": (deepseek_v32_config, latent_weights),
    "youtu": (youtu_config, latent_weights),
    "mistral4": (mistral4_config, latent_weights),
    "kimi_k25": (kimi_k25_config, kimi_k25_weights),
    "glm_moe_dsa": (glm_moe_dsa_config, latent_weights),
    "axk1": (axk1_config, axk1_weights),
}
