"""Hugging Face adapters for Llama-like decoders that differ in a few declared features.

- OLMo (1): LayerNorm without weights or biases (norm_weights=False), otherwise a Llama; q, k and v clamped to
  ±clip_qkv where the config sets it (OLMo 1.7: qkv_clip).
- EXAONE 4: OLMo 2's norms on each sublayer's output, per-head q/k RMSNorms; the hybrid models (32B) slide three
  layers of every four, and their full layers rotate nothing (NoPE, as Cohere 2's).
- GLM and GLM-4: RoPE on the first half of each head (partial_rotary_factor), over neighbouring pairs of dimensions
  (0, 1), (2, 3), …, so W_Q's and W_K's columns and biases are reordered to the engine's halves
  (conventions.pairs_to_halves); biases on q, k and v; the MLP's gate and up projections fused. GLM-4 adds a
  norm on each sublayer's output (sandwich, as Gemma 2's, with plain RMSNorm weights).
- Helium and ERNIE 4.5: a Llama whose RoPE turns neighbouring pairs (reordered as GLM's, over the whole head).
- Seed-OSS: a Llama with biases on q, k and v (and on the output where attention_out_bias).
- Arcee (AFM): a Llama with a plain up/down MLP and squared ReLU.
- Ministral: Mistral's layers with a sliding window on the layers its layer_types name.
- CWM (Meta's Code World Model): a Llama whose layers slide but every fourth (layer_types), with llama3 RoPE
  scaling; transformers' defaults where config.json leaves them out.
- Apertus: a Llama with per-head q/k RMSNorms, norms named attention_layernorm / feedforward_layernorm, and an
  ungated up/down MLP with xIELU (activations.xielu), whose two learned scalars per layer become weights.
- HunYuan dense (V1): a Llama whose per-head q/k RMSNorms (query_layernorm, key_layernorm) come after RoPE
  (qk_norm_after_rope); its "dynamic" RoPE with an alpha is a fixed stretch of the base, θ·alpha^(d/(d−2)).
- Qwen2-VL, Qwen2.5-VL and Qwen3-VL: their language models (Qwen 2's and Qwen3's layers), whose M-RoPE is plain
  RoPE for a text.
- Ministral 3 (and the language model of Mistral3ForConditionalGeneration: Ministral 3, Mistral Small 3.1/3.2):
  Mistral's layers with YaRN; past original_max_position_embeddings its queries are also multiplied by
  1 + β·ln(1 + ⌊position / original⌋) (Llama 4's temperature), which is 1 before: texts are capped there. The
  vision tower and its projector are not read (a text has no image tokens).
- EXAONE 4.5 (Exaone4_5_ForConditionalGeneration): its language model, an EXAONE 4 (text_config), under
  model.language_model.; a text's positions are plain 1-D ones; the vision tower is not read.
- VaultGemma: Gemma 2 without its norms on the sublayers' outputs (pre-norm), its soft-caps, windows and scales.
- NanoChat (Karpathy's nanochat, as transformers' NanoChatForCausalLM): every RMSNorm without a weight, one more on
  the embeddings before the first block (embed_norm); RoPE turning each pair by −position·θ (its rotate_half is
  (x2, −x1), so rope_reversed); q and k normalised per head after RoPE, again without a weight; an up/down MLP with
  squared ReLU; the logits soft-capped (final_logit_softcapping).

Biases on a gated MLP (mlp_bias, ERNIE's use_bias on its MLP) are refused: the engine's gated MLP has none.
"""

from __future__ import annotations

from dataclasses import replace

import torch.nn.functional as F

from ..config import ModelConfig
from ..errors import ModelLoadError
from .conventions import pairs_to_halves
from .hf_adapters import StateDict, _Reader, llama_config
from .hf_adapters_modern import (
    LLAMA_NORMS,
    _decoder,
    _gated,
    _rope,
    _windows,
    gemma_config,
    gemma_weights,
    llama_layout,
    olmo2_weights,
)
from .rope_scaling import scaling_kind

# ── config ─────────────────────────────────────────────────────────────────────────────────────────


def _defaults(hf: dict, **values) -> dict:
    """`hf` with transformers' config defaults for the fields config.json leaves out (ERNIE's, GLM's, Helium's,
    Seed-OSS's, Ministral 3's and Qwen3-VL's head_dim is 128 unless given, not d_model / n_heads)."""
    return {**hf, **{key: value for key, value in values.items() if key not in hf}}


def _no_gated_biases(hf: dict, arch: str) -> None:
    if hf.get("mlp_bias") or hf.get("use_bias"):
        raise ModelLoadError(f"{arch} checkpoints with biases in their MLP are not supported yet.")


def olmo_config(hf: dict, name: str) -> ModelConfig:
    clip = None if hf.get("clip_qkv") is None else float(hf["clip_qkv"])  # OLMo 1.7 (0424): ±8
    return _decoder(hf, name, "olmo", norm="layer", norm_eps=1e-5, norm_weights=False,
                    attn_bias=bool(hf.get("attention_bias")), qkv_clip=clip)  # fmt: skip


def exaone4_config(hf: dict, name: str) -> ModelConfig:
    if not hf.get("layer_types"):  # Exaone4Config's defaults: a 4096-token window on 3 of every 4 layers
        n, window = int(hf["num_hidden_layers"]), hf.get("sliding_window", 4096)
        every = int(hf.get("sliding_window_pattern") or 4) if window is not None else 0
        types = ["sliding_attention" if every and (i + 1) % every else "full_attention" for i in range(n)]
        hf = {**hf, "sliding_window": window, "layer_types": types}
    window, sliding = _windows(hf, int(hf["num_hidden_layers"]))
    nope = dict(rope_layers=sliding) if window is not None and sliding else {}  # full layers without RoPE
    return _decoder(hf, name, "exaone4", qk_norm="head", norm_position="post_sublayer", **nope)


def exaone4_5_config(hf: dict, name: str) -> ModelConfig:
    return exaone4_config(_language_config(hf), name)


def exaone4_5_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """EXAONE 4's tensors (OLMo 2's names) under model.language_model., the unembedding beside them."""
    norms = {"ln_attn_out": "post_attention_layernorm", "ln_mlp_out": "post_feedforward_layernorm"}
    return llama_layout(sd, cfg, _gated, ("model.language_model.", "model."), "lm_head.weight", norms=norms)


def glm_config(hf: dict, name: str) -> ModelConfig:
    """GLM (glm-4-9b) and GLM-4 (GLM-4-0414): the rotated half of each head in neighbouring pairs."""
    arch = str(hf.get("model_type"))
    _no_gated_biases(hf, arch)
    hf = _defaults(hf, head_dim=128)
    if "partial_rotary_factor" not in _rope(hf):  # GlmConfig's default: half of each head rotates
        hf = _defaults(hf, partial_rotary_factor=0.5)
    return _decoder(hf, name, arch, attn_bias=bool(hf.get("attention_bias", True)), rope_pairs_reordered=True,
                    norm_position="sandwich" if arch == "glm4" else "pre")  # fmt: skip


def pairs_decoder_config(hf: dict, name: str) -> ModelConfig:
    """Helium, ERNIE 4.5: RoPE over neighbouring pairs across the whole head."""
    arch = str(hf.get("model_type"))
    _no_gated_biases(hf, arch)
    hf = _defaults(hf, head_dim=128)
    return _decoder(hf, name, arch, attn_bias=bool(hf.get("attention_bias")), rope_pairs_reordered=True)


def seed_oss_config(hf: dict, name: str) -> ModelConfig:
    _no_gated_biases(hf, "Seed-OSS")
    return _decoder(_defaults(hf, head_dim=128), name, "seed_oss", attn_bias=bool(hf.get("attention_bias")))


def arcee_config(hf: dict, name: str) -> ModelConfig:
    if hf.get("mlp_bias"):
        raise ModelLoadError("Arcee checkpoints with MLP biases are not supported yet.")
    return _decoder(hf, name, "arcee", gated_mlp=False, attn_bias=bool(hf.get("attention_bias")))


def vaultgemma_config(hf: dict, name: str) -> ModelConfig:
    return replace(gemma_config({**hf, "model_type": "gemma2"}, name), arch="vaultgemma", norm_position="pre")


def vaultgemma_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    return gemma_weights(sd, cfg, norms=(("ln_attn", "input_layernorm"), ("ln_mlp", "pre_feedforward_layernorm")))


def nanochat_config(hf: dict, name: str) -> ModelConfig:
    if hf.get("attention_bias"):
        raise ModelLoadError("NanoChat checkpoints with attention biases are not supported yet.")
    cap = hf.get("final_logit_softcapping")
    return _decoder(
        hf, name, "nanochat", gated_mlp=False, norm_weights=False, embed_norm=True, rope_reversed=True,
        qk_norm="head", qk_norm_after_rope=True, qk_norm_weights=False, final_softcap=float(cap) if cap else None,
    )  # fmt: skip


def ministral_config(hf: dict, name: str) -> ModelConfig:
    return _decoder(hf, name, "ministral")


CWM_ROPE = {"rope_type": "llama3", "rope_theta": 1_000_000.0, "factor": 16.0, "high_freq_factor": 4.0,
            "low_freq_factor": 1.0, "original_max_position_embeddings": 8192}  # CwmConfig's when none is given


def cwm_config(hf: dict, name: str) -> ModelConfig:
    n = int(hf["num_hidden_layers"])
    types = ["full_attention" if i % 4 == 0 else "sliding_attention" for i in range(n)]  # CwmConfig's default
    hf = _defaults(hf, sliding_window=8192, layer_types=types)
    if not (hf.get("rope_parameters") or hf.get("rope_scaling") or hf.get("rope_theta")):
        hf = {**hf, "rope_parameters": CWM_ROPE}
    return _decoder(hf, name, "cwm")


def ministral3_config(hf: dict, name: str) -> ModelConfig:
    cfg = _decoder(_defaults(hf, head_dim=128), name, "ministral3")
    params = _rope(hf)
    original = params.get("original_max_position_embeddings")
    if not (params.get("llama_4_scaling_beta") and original):
        return cfg
    scaled = f"; texts up to {int(original)} tokens, past which Ministral 3 also scales its queries"
    return replace(cfg, n_ctx=min(cfg.n_ctx, int(original)), rope_scaling=(cfg.rope_scaling or "none") + scaled)


def apertus_config(hf: dict, name: str) -> ModelConfig:
    if hf.get("mlp_bias"):
        raise ModelLoadError("Apertus checkpoints with MLP biases are not supported yet.")
    return _decoder(hf, name, "apertus", gated_mlp=False, qk_norm="head", attn_bias=bool(hf.get("attention_bias")))


def hunyuan_dense_config(hf: dict, name: str) -> ModelConfig:
    params = _rope(hf)
    alpha = params.get("alpha") if scaling_kind(params) == "dynamic" else None
    if not alpha:
        return _decoder(hf, name, "hunyuan_dense", qk_norm="head", qk_norm_after_rope=True,
                        attn_bias=bool(hf.get("attention_bias")))  # fmt: skip
    d = int(hf.get("head_dim") or int(hf["hidden_size"]) // int(hf["num_attention_heads"]))
    theta = float(params.get("rope_theta") or hf.get("rope_theta") or 10000.0)
    stretched = theta * float(alpha) ** (d / (d - 2))  # transformers' compute_ntk_alpha_rope_parameters
    plain = {**hf, "rope_scaling": None, "rope_parameters": {"rope_type": "default", "rope_theta": stretched}}
    cfg = hunyuan_dense_config(plain, name)
    return replace(cfg, rope_scaling=f"NTK alpha {float(alpha):g}: base {theta:g} × alpha^(d/(d−2)) = {stretched:.6g}")


def _language_config(hf: dict) -> dict:
    """A vision-language checkpoint's text_config, with what its config.json says only at the top level."""
    text = dict(hf.get("text_config") or {})
    for key in ("eos_token_id", "bos_token_id", "_name_or_path"):
        if text.get(key) is None and hf.get(key) is not None:
            text[key] = hf[key]
    if hf.get("tie_word_embeddings") is not None:  # the composite model's own setting is the one transformers ties by
        text["tie_word_embeddings"] = hf["tie_word_embeddings"]
    return text


def vl_language_config(hf: dict) -> dict:
    """A Qwen-VL checkpoint's language-model config with its M-RoPE as the plain RoPE it is for a text."""
    text = _language_config(hf) if hf.get("text_config") else dict(hf)  # Hub configs before transformers 5: flat
    rope = _rope(text)
    if scaling_kind(rope) == "mrope":  # those name it a RoPE scaling type ("mrope")
        plain = {"rope_type": "default", "rope_theta": rope.get("rope_theta") or text.get("rope_theta") or 10000.0}
        text = {**text, "rope_scaling": None, "rope_parameters": plain}
    return text


def qwen_vl_config(hf: dict, name: str) -> ModelConfig:
    """Qwen2-VL, Qwen2.5-VL (Qwen 2's attention, q/k/v biases) and Qwen3-VL (Qwen3's, q/k norms per head): the
    language model. Its M-RoPE gives each section of a head's frequencies its own position (time, height, width);
    for a text every token's three positions are the same, which makes it plain RoPE."""
    text = vl_language_config(hf)
    arch = "qwen3_vl" if hf.get("model_type") == "qwen3_vl" else "qwen2_vl"
    if arch == "qwen3_vl":
        text = _defaults(text, head_dim=128)
    features = dict(qk_norm="head") if arch == "qwen3_vl" else dict(attn_bias=True)
    return _decoder(text, name, arch, **features)


def mistral3_config(hf: dict, name: str) -> ModelConfig:
    """Mistral3ForConditionalGeneration: the language model, from text_config (ministral3, or mistral)."""
    text = _language_config(hf)
    kind = text.get("model_type")
    if kind == "ministral3":
        return ministral3_config(text, name)
    if kind == "mistral":  # Mistral Small 3.1 / 3.2
        return replace(llama_config(text, name), arch="mistral3")
    raise ModelLoadError(f"A Mistral 3 checkpoint whose language model is {kind!r} is not supported yet.")


# ── weights ────────────────────────────────────────────────────────────────────────────────────────


def _attention_biases(w: StateDict, r: _Reader, src: str, dst: str) -> None:
    """The biases a checkpoint has on q, k, v and the output projection."""
    for part in "qkvo":
        key = f"{src}self_attn.{part}_proj.bias"
        if r.has(key):
            w[f"{dst}attn.b_{part.upper()}"] = r.get(key)


def _with_biases(mlp):
    """llama_layout's per-layer reader: the attention's biases, then the MLP `mlp` reads."""

    def read(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        _attention_biases(w, r, src, dst)
        mlp(w, r, src, dst)

    return read


def _up_down(w: StateDict, r: _Reader, src: str, dst: str) -> None:
    w[dst + "mlp.W_in"] = r.linear(src + "mlp.up_proj.weight")
    w[dst + "mlp.W_out"] = r.linear(src + "mlp.down_proj.weight")


def _gate_up_fused(w: StateDict, r: _Reader, src: str, dst: str) -> None:
    gate, up = r.get(src + "mlp.gate_up_proj.weight").chunk(2)  # [d_mlp, d_model] each: gate first
    w[dst + "mlp.W_gate"], w[dst + "mlp.W_in"] = gate.T.contiguous(), up.T.contiguous()
    w[dst + "mlp.W_out"] = r.linear(src + "mlp.down_proj.weight")


def llama_biased_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """Seed-OSS, Ministral: a Llama's tensors with whatever attention biases the checkpoint has."""
    return llama_layout(sd, cfg, _with_biases(_gated))


def arcee_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    return llama_layout(sd, cfg, _with_biases(_up_down))


def pairs_decoder_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    return pairs_to_halves(llama_layout(sd, cfg, _with_biases(_gated)), cfg)


def glm_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """GLM: a Llama's layout with q/k/v biases and a fused gate_up_proj; GLM-4 adds post_self_attn_layernorm and
    post_mlp_layernorm on the sublayers' outputs."""
    norms = LLAMA_NORMS
    if cfg.norm_position == "sandwich":
        norms = {**norms, "ln_attn_out": "post_self_attn_layernorm", "ln_mlp_out": "post_mlp_layernorm"}
    return pairs_to_halves(llama_layout(sd, cfg, _with_biases(_gate_up_fused), norms=norms), cfg)


def _fc(w: StateDict, r: _Reader, src: str, dst: str) -> None:
    w[dst + "mlp.W_in"] = r.linear(src + "mlp.fc1.weight")
    w[dst + "mlp.W_out"] = r.linear(src + "mlp.fc2.weight")


def nanochat_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """NanoChat: a Llama's attention, an fc1/fc2 MLP, no norm weights anywhere."""
    return llama_layout(sd, cfg, _fc, norms={})


def olmo_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """OLMo (1): a Llama's tensors without any norm's."""
    return llama_layout(sd, cfg, _with_biases(_gated), norms={})


def _with_hunyuan_qk_norms(w: StateDict, r: _Reader, src: str, dst: str) -> None:
    w[dst + "attn.q_norm.w"] = r.get(src + "self_attn.query_layernorm.weight")
    w[dst + "attn.k_norm.w"] = r.get(src + "self_attn.key_layernorm.weight")
    _with_biases(_gated)(w, r, src, dst)


def hunyuan_dense_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    return llama_layout(sd, cfg, _with_hunyuan_qk_norms)


def apertus_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """Apertus: its own norm names; xIELU's α_p = softplus(alpha_p), α_n = β + softplus(alpha_n) per layer, the
    constants β and ε checked against ModelConfig.xielu where the checkpoint keeps them (as buffers)."""
    beta, eps = cfg.xielu

    def xielu_mlp(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        _attention_biases(w, r, src, dst)
        _up_down(w, r, src, dst)
        act = src + "mlp.act_fn."
        for constant, value in (("beta", beta), ("eps", eps)):
            stored = float(r.get(act + constant)) if r.has(act + constant) else value
            if abs(stored - value) > 1e-6 * max(1.0, abs(value)):
                raise ModelLoadError(f"Apertus {src.rstrip('.')}'s xIELU {constant} is {stored:g}, not {value:g}; not "
                                     "supported yet.")  # fmt: skip
        w[dst + "mlp.act.alpha_p"] = F.softplus(r.get(act + "alpha_p"))
        w[dst + "mlp.act.alpha_n"] = beta + F.softplus(r.get(act + "alpha_n"))

    norms = {"ln_attn": "attention_layernorm", "ln_mlp": "feedforward_layernorm"}
    return llama_layout(sd, cfg, xielu_mlp, norms=norms)


def language_model_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """The language model of a vision-language checkpoint, under whichever prefix it was saved (its vision tower
    and projector are not read): Mistral 3, Qwen2/2.5/3-VL."""
    lm_head = next((k for k in ("language_model.lm_head.weight", "lm_head.weight") if k in sd), "lm_head.weight")
    prefixes = ("language_model.model.", "model.language_model.", "model.")
    return llama_layout(sd, cfg, _with_biases(_gated), prefixes, lm_head)


ADAPTERS = {
    "olmo": (olmo_config, olmo_weights),
    "exaone4": (exaone4_config, olmo2_weights),  # OLMo 2's tensor names; q/k norms per head
    "glm": (glm_config, glm_weights),
    "glm4": (glm_config, glm_weights),
    "helium": (pairs_decoder_config, pairs_decoder_weights),
    "ernie4_5": (pairs_decoder_config, pairs_decoder_weights),
    "seed_oss": (seed_oss_config, llama_biased_weights),
    "arcee": (arcee_config, arcee_weights),
    "ministral": (ministral_config, llama_biased_weights),
    "cwm": (cwm_config, llama_biased_weights),  # no biases: llama_biased_weights reads none
    "ministral3": (ministral3_config, llama_biased_weights),
    "mistral3": (mistral3_config, language_model_weights),  # the language model of Mistral3ForConditionalGeneration
    "qwen2_vl": (qwen_vl_config, language_model_weights),
    "qwen2_5_vl": (qwen_vl_config, language_model_weights),
    "qwen3_vl": (qwen_vl_config, language_model_weights),
    "hunyuan_v1_dense": (hunyuan_dense_config, hunyuan_dense_weights),
    "apertus": (apertus_config, apertus_weights),
    "nanochat": (nanochat_config, nanochat_weights),
    "vaultgemma": (vaultgemma_config, vaultgemma_weights),
    "exaone4_5": (exaone4_5_config, exaone4_5_weights),
}
