"""GGUF `deepseek2` files (llama.cpp's DeepSeek-V2, V2-Lite, Coder-V2, V3, Kimi K2, Moonlight; Ollama's deepseek-v2
and deepseek-coder-v2) → canonical latent attention (attention_core/latent.py) and DeepSeek's mixture of experts;
`mistral4` files (Mistral Small 4: deepseek2's, mistral4_config); `minicpm3` files (MiniCPM3-4B) → the same latent
attention in a dense, scaled decoder (minicpm3_config).

As llama.cpp's converter writes them (convert_hf_to_gguf.py, DeepseekV2Model):
- attention: attn_q (no query latent) or attn_q_a, attn_q_a_norm, attn_q_b; attn_kv_a_mqa (the key/value latent's
  map, then the rotated key's); attn_kv_a_norm; attn_output. Files written since llama.cpp's MLA rework split kv_b into
  attn_k_b [n_heads, kv_lora_rank, qk_nope] and attn_v_b [n_heads, v_head_dim, kv_lora_rank] and say the heads'
  widths in attention.key_length_mla / value_length_mla (key_length and value_length then describe the latent, and
  head_count_kv is 1); older files keep attn_kv_b and give the widths in key_length / value_length.
- RoPE over the last rope.dimension_count dimensions of each head, in neighbouring pairs (llama.cpp's "norm"
  rotation; the converter does not reorder them), so those columns are listed even ones first, as from transformers.
- YaRN: rope.scaling.yarn_log_multiplier is 0.1·mscale_all_dim here (llama.cpp reads it so for this architecture
  only): q·k × (1 + log_mul·ln factor)², cos and sin unscaled, as llama.cpp's deepseek2 graph computes it.
- MLP: the first leading_dense_block_count blocks dense, then ffn_gate_inp (router), the stacked ffn_*_exps, the
  shared expert ffn_*_shexp (no gate), exp_probs_b (V3's correction bias); the experts' gate and up maps apart or
  fused in ffn_gate_up_exps (rows gate | up: Mistral 4's); expert_gating_func 2 = sigmoid (1 or
  absent: softmax, as for V2's older files), expert_weights_norm, expert_weights_scale, expert_group_count and
  expert_group_used_count (absent: no groups).
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from ...config import ModelConfig
from ...errors import ModelLoadError
from ..conventions import fold_residual_scale
from ..hf_adapters_latent import kv_up, store_latent_attention
from ..rope_scaling import gguf_rule
from .llama import MOE_PARTS, Weights, ends, expert_stacks, gated_mlp, with_longrope, yarn_keys
from .reader import Meta, Tensors, matrix

_GATING = {1: "softmax", 2: "sigmoid"}  # llama.cpp's expert_gating_func values


def _head_widths(meta: Meta) -> tuple[int, int]:
    """(q and k's width, v's width) per head: the *_mla keys where the file has them (kv_b split), else the plain;
    a value width the file does not state is d_model / heads, as llama.cpp reads it (MiniCPM3's converter writes
    none)."""
    if meta.has("attention.key_length_mla"):
        return meta.count("attention.key_length_mla"), meta.count("attention.value_length_mla")
    if meta.has("attention.value_length"):
        return meta.count("attention.key_length"), meta.count("attention.value_length")
    return meta.count("attention.key_length"), meta.count("embedding_length") // meta.count("attention.head_count")


def experts(meta: Meta, tensor_names: set[str], n_layers: int, gating_default: int = 1, grouped: bool = True) -> dict:
    """The mixture of experts' ModelConfig fields (none for a dense file). `gating_default`: the gating llama.cpp
    assumes where the file says none (or 0); `grouped`: whether llama.cpp reads expert_group_count for this
    architecture (deepseek2 does, glm4moe does not: its experts are never grouped)."""
    if not any(f"blk.{i}.ffn_gate_inp.weight" in tensor_names for i in range(n_layers)):
        return {}
    gating = meta.get("expert_gating_func", gating_default) or gating_default
    if gating not in _GATING:
        raise ModelLoadError(f"expert_gating_func {gating!r} is not one llama.cpp writes for this router (1 or 2).")
    n, used = meta.count("expert_count"), meta.count("expert_used_count")
    groups, kept = (meta.get("expert_group_count", 1), meta.get("expert_group_used_count", 1)) if grouped else (1, 1)
    if used > n or n % max(int(groups), 1) or not 0 < int(kept) <= max(int(groups), 1):
        raise ModelLoadError(f"{n} experts, {used} per token, in {groups} groups of which {kept} are kept: these do "
                             "not fit together.")  # fmt: skip
    return dict(
        n_experts=n, experts_per_token=used, moe_renormalize=bool(meta.get("expert_weights_norm", False)),
        moe_router=_GATING[gating], moe_groups=(int(groups), int(kept)),
        moe_scale=float(meta.get("expert_weights_scale", 1.0) or 1.0),
    )  # fmt: skip


def deepseek2_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    n_layers, n_heads, d_model = (meta.count(k) for k in ("block_count", "attention.head_count", "embedding_length"))
    d_qk, d_v = _head_widths(meta)
    rope = meta.count("rope.dimension_count")
    if not 0 < rope < d_qk or rope % 2:
        raise ModelLoadError(f"rope.dimension_count {rope} must be even and below the heads' width {d_qk}.")
    factor = meta.unless_zero("rope.scaling.factor", meta.number) or 1.0
    theta = meta.number("rope.freq_base", 10000.0)
    yarn = yarn_keys(meta)
    log_mul = yarn.pop("log_mul") or 0.0  # this architecture's own reading (module docstring)
    # llama.cpp scales cos and sin by 1 / (1 + 0.1 ln factor), cancelling YaRN's usual factor: a net 1
    yarn["attn_factor"] = 1.0 / (1.0 + 0.1 * math.log(factor)) if factor > 1 else 1.0
    rule = gguf_rule(str(meta.get("rope.scaling.type", "none")), factor, rope, theta, yarn)
    mscale = 1.0 + log_mul * math.log(factor) if factor > 1 else 1.0
    routed = experts(meta, tensor_names, n_layers)
    return ModelConfig(
        name=name, arch="deepseek_v3" if routed.get("moe_router") == "sigmoid" else "deepseek_v2",
        n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_heads, d_model=d_model, d_head=d_qk,
        d_mlp=meta.count("feed_forward_length"), d_vocab=meta.vocab_size(),
        n_ctx=rule.cap(meta.count("context_length")),
        causal=True, norm="rms", norm_eps=meta.number("attention.layer_norm_rms_epsilon"), norm_position="pre",
        act="silu", gated_mlp=True, uses_rope=True, rope_theta=theta, rotary_dim=rope, rope_pairs_reordered=True,
        kv_latent_rank=meta.count("attention.kv_lora_rank"), q_latent_rank=int(meta.get("attention.q_lora_rank", 0)),
        d_head_v=d_v, attn_scale=d_qk**-0.5 * mscale**2, tie_embeddings="output.weight" not in tensor_names,
        bos_token_id=meta.maybe_int("tokenizer.ggml.bos_token_id"),
        eos_token_id=meta.maybe_int("tokenizer.ggml.eos_token_id"), display_name=str(meta.key("general.name", name)),
        **rule.fields(), **routed,
    )  # fmt: skip


def mistral4_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """Mistral Small 4, which llama.cpp writes and runs as deepseek2. Past YaRN's original context the model also
    multiplies its queries by Llama 4's 1 + β·ln(1 + ⌊position / original⌋) (its config's llama_4_scaling_beta),
    which the file does not record and llama.cpp's graph does not run: texts are capped there, as from its
    Hugging Face folder, where both agree."""
    cfg = replace(deepseek2_config(meta, name, tensor_names), arch="mistral4")
    original = int(meta.get("rope.scaling.original_context_length", 0) or 0)
    if not 0 < original < cfg.n_ctx:
        return cfg
    note = (f"Texts are capped at {original:,} tokens: past them Mistral 4 may also scale its queries (Llama 4's "
            "attention temperature, where its checkpoint sets llama_4_scaling_beta), which this file does not "
            "record.")  # fmt: skip
    return replace(cfg, n_ctx=original, conversion_notes=cfg.conversion_notes + (note,))


def _attention(t: Tensors, src: str, cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """One block's attention tensors, [in, out], in store_latent_attention's names."""
    if cfg.q_latent_rank:
        parts = {"W_DQ": t.linear(src + "attn_q_a.weight"), "q_latent_norm.w": t.vector(src + "attn_q_a_norm.weight"),
                 "W_UQ": t.linear(src + "attn_q_b.weight")}  # fmt: skip
    else:
        parts = {"W_Q": t.linear(src + "attn_q.weight")}
    if t.has(src + "attn_k_b.weight"):  # the split kv_b: k_b (H, rank, nope), v_b (H, d_v, rank)
        k_b, v_b = torch.from_numpy(t.raw(src + "attn_k_b.weight")), torch.from_numpy(t.raw(src + "attn_v_b.weight"))
        H, r = cfg.n_heads, cfg.kv_latent_rank
        if k_b.shape[:2] != (H, r) or v_b.shape != (H, cfg.d_value, r):
            raise ModelLoadError(f"{src}attn_k_b / attn_v_b have shapes {tuple(k_b.shape)} / {tuple(v_b.shape)}, not "
                                 f"{H} heads over a latent of {r}.")  # fmt: skip
        parts["W_UK"] = k_b.permute(1, 0, 2).reshape(r, -1).contiguous()  # (rank, H·nope)
        parts["W_UV"] = v_b.permute(2, 0, 1).reshape(r, -1).contiguous()  # (rank, H·d_v)
    else:
        up, nope = t.linear(src + "attn_kv_b.weight"), cfg.d_head - (cfg.rotary_dim or 0)  # [rank, H·(nope + v)]
        if tuple(up.shape) != (cfg.kv_latent_rank, cfg.n_heads * (nope + cfg.d_value)):
            raise ModelLoadError(f"{src}attn_kv_b has shape {tuple(up.shape)[::-1]}, not {cfg.n_heads} heads of {nope} "
                                 f"key and values {cfg.d_value} wide over a latent of {cfg.kv_latent_rank} (a value "
                                 "width the file does not state is taken as d_model / heads).")  # fmt: skip
        parts["W_UK"], parts["W_UV"] = kv_up(up, cfg)
    parts["kv_a"] = t.linear(src + "attn_kv_a_mqa.weight")  # (d_model, rank + d_rope)
    parts["kv_latent_norm.w"] = t.vector(src + "attn_kv_a_norm.weight")
    parts["W_O"] = t.linear(src + "attn_output.weight")
    return parts


def routed_mlp(t: Tensors, w: Weights, src: str, dst: str, norm: str = "ffn_norm") -> None:
    """The MLP's input norm (`norm`: glm4moe calls it post_attention_norm), then a dense gated MLP, or the router,
    the stacked experts, the shared expert and the correction bias."""
    w[dst + "ln_mlp.w"] = t.vector(f"{src}{norm}.weight")
    if not t.has(src + "ffn_gate_inp.weight"):
        gated_mlp(t, w, src, dst)
        return
    w[dst + "mlp.router.W"] = t.linear(src + "ffn_gate_inp.weight")  # [d_model, n_experts]
    if t.has(src + "exp_probs_b.bias"):
        w[dst + "mlp.router.b_choice"] = t.vector(src + "exp_probs_b.bias")
    for ours, stacked in expert_stacks(t, src):  # (n_experts, out, in)
        for e in range(stacked.shape[0]):
            w[f"{dst}mlp.experts.{e}.{ours}"] = matrix(stacked[e])
    for ours, theirs in MOE_PARTS:
        shared = f"{src}{theirs.replace('_exps', '_shexp')}.weight"
        if t.has(shared):
            w[f"{dst}mlp.shared.{ours}"] = t.linear(shared)


def deepseek2_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    w = ends(t, cfg)
    for layer in range(cfg.n_layers):
        src, dst = f"blk.{layer}.", f"blocks.{layer}."
        w[dst + "ln_attn.w"] = t.vector(src + "attn_norm.weight")
        store_latent_attention(w, dst + "attn.", cfg, _attention(t, src, cfg))
        routed_mlp(t, w, src, dst)
    return w


# llama.cpp's minicpm3 graph fixes these (MiniCPM3-4B's scale_emb, scale_depth, dim_model_base); no file stores them
_MINICPM3_SCALES = (12.0, 1.4, 256)


def minicpm3_config(meta: Meta, name: str, tensor_names: set[str]) -> ModelConfig:
    """MiniCPM3 as llama.cpp's MiniCPM3Model writes it: deepseek2's latent attention, dense, kv_b whole, the
    rotated dimensions in halves as Hugging Face's (llama.cpp's NeoX rotation; no rows permuted). The file keeps no
    value width, RoPE base, original context or scales, so they are llama.cpp's: values d_model / heads wide (unless
    value_length says: _head_widths), θ 10,000, LongRoPE's short factors up to context_length (llama.with_longrope),
    embeddings × 12, each sublayer's output × 1.4/√layers (folded into W_O and W_out) and the final residual × 256 /
    d_model."""
    cfg = deepseek2_config(meta, name, tensor_names)
    embed, depth, base = _MINICPM3_SCALES
    cfg = replace(cfg, arch="minicpm3", rope_pairs_reordered=False, embed_scale=embed,
                  residual_scale=depth / math.sqrt(cfg.n_layers), unembed_scale=base / cfg.d_model)  # fmt: skip
    return with_longrope(meta, cfg)


def minicpm3_weights(t: Tensors, cfg: ModelConfig) -> Weights:
    t.skip("rope_factors_short.weight", "rope_factors_long.weight")  # not weights: the config's RoPE divisors
    return fold_residual_scale(deepseek2_weights(t, cfg), cfg)
