"""Hugging Face adapters for decoders whose MLP is a mixture of experts: Mixtral, Qwen2-MoE, Qwen3-MoE and OLMoE.

Attention is a Llama's (Qwen3-MoE: with per-head q/k RMSNorms); each MoE layer's router (gate, [n_experts,
d_model]) becomes mlp.router.W ([d_model, n_experts]) and each expert a gated MLP under mlp.experts.{e}.
(experts.mixture_of_experts). Checkpoints keep one tensor per expert (transformers fuses them when it loads).
- Mixtral: every layer is MoE; the chosen experts' probabilities are renormalised; experts' w1, w3, w2 are
  gate, up and down.
- Qwen3-MoE: layers listed in mlp_only_layers, and all but every decoder_sparse_step-th, keep a dense MLP
  (intermediate_size); experts are moe_intermediate_size wide; norm_topk_prob says whether to renormalise.
- OLMoE: every layer is MoE; an RMSNorm over the whole query (key) projection, as OLMo 2's; then q, k, v clamped to
  ±clip_qkv where the config sets it (qkv_clip).
- Qwen2-MoE: as Qwen3-MoE with q/k/v biases instead of q/k norms, plus a shared expert every token uses, scaled by
  a sigmoid gate (mlp.shared. and mlp.shared_gate.W).
- GLM-4.5 / 4.6 (glm4_moe): GLM's attention (partial rotary in halves, biases, q/k norms where use_qk_norm) with
  DeepSeek-V3's router: sigmoid scores, a correction bias in the choice only, groups, a scaling factor, a shared
  expert without a gate (`deepseek_moe`, `deepseek_mlp`; DeepSeek's own models: hf_adapters_latent.py).
- dots.llm1 (dots1): Qwen3's attention with the same router; Solar Open (solar_open): a Llama's, with it in every
  layer; K-EXAONE (exaone_moe): EXAONE 4's attention (per-head q/k norms, sliding layers, NoPE full ones) in
  pre-norm blocks, after first_k_dense_replace dense ones (its correction bias saved beside the gate).
- Qwen3-VL-MoE (qwen3_vl_moe, e.g. Qwen3-VL-30B-A3B): its language model, Qwen3-MoE's layers (always renormalised)
  under model.language_model., experts stored stacked as Llama 4's ([E, d_model, 2·d_mlp] gate then up, and
  [E, d_mlp, d_model]); its M-RoPE is plain RoPE for a text; the vision tower is not read.
- ERNIE 4.5 MoE (ernie4_5_moe: ERNIE-4.5-21B-A3B, 300B-A47B): ERNIE 4.5's attention (RoPE over neighbouring pairs)
  with, from moe_layer_start_index on, a softmax router whose choice adds a correction bias (mlp.moe_statics), the
  chosen probabilities renormalised, and shared experts added without a gate.
- HunYuan MoE (hunyuan_v1_moe: Hunyuan-A13B): HunYuan dense's attention (q/k norms after RoPE, its NTK-alpha base)
  with, in every layer, a softmax router (mlp.gate.wg) over experts, renormalised, plus a shared MLP every token
  uses; per-layer expert counts (lists in config.json) are read only where every layer has the same.
- FlexOlmo (flex_olmo): OLMo 2's blocks (a norm on each sublayer's output, q/k norms over the whole projection) with
  OLMoE's experts in every layer, renormalised only where norm_topk_prob.
- MiniMax-M2 (minimax_m2): OLMo 2's q/k RMSNorms over the whole projection before RoPE, partial rotary (the released
  config.json says rotary_dim), and in every layer Mixtral's layout of experts behind DeepSeek-V3's sigmoid router
  (its correction bias, block_sparse_moe.e_score_correction_bias, in the choice only), renormalised, no shared
  expert.
- GPT-OSS: biases on q/k/v/o, an attention sink per head (attn.sinks), sliding and full layers in turn, YaRN; a
  router with a bias whose top-k logits are softmaxed (= renormalised top-k probabilities); experts stored
  stacked, gate and up interleaved in one [n_experts, d_model, 2·d_mlp] tensor (already [in, out]), with biases,
  and a clamped SwiGLU (activations.clamped_swiglu). Checkpoints as OpenAI ships them hold the experts in MXFP4,
  decoded before this adapter reads them (safetensors_hf, mxfp4.py); a dequantised save loads as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from ..config import ModelConfig
from ..errors import ModelLoadError
from .conventions import pairs_to_halves
from .hf_adapters import StateDict, _Reader
from .hf_adapters_modern import _attn, _decoder, _gated, _unembed, llama_layout
from .hf_adapters_recent import _attention_biases, _defaults, exaone4_config, hunyuan_dense_config, vl_language_config


def _experts_count(hf: dict) -> int:
    """The experts per MoE layer: num_local_experts (Mixtral; Qwen3-MoE as transformers 5 saves it), num_experts
    (Qwen3-MoE's own config.json) or n_routed_experts (DeepSeek's)."""
    count = hf.get("num_local_experts") or hf.get("num_experts") or hf.get("n_routed_experts")
    if not count:
        raise ModelLoadError("config.json names no number of experts (num_local_experts, num_experts or "
                             "n_routed_experts).")  # fmt: skip
    return int(count)


def _per_token(hf: dict, n_experts: int) -> int:
    k = int(hf["num_experts_per_tok"])
    if not 0 < k <= n_experts:
        raise ModelLoadError(f"config.json has each token use {k} of {n_experts} experts; it must be 1 to {n_experts}.")
    return k


def moe_fields(hf: dict, **features) -> dict:
    """A mixture of experts' ModelConfig fields: how many, how many per token, whether the chosen ones' probabilities
    are renormalised (norm_topk_prob), then `features` (a model's own router: Mixtral always renormalises, ...)."""
    n = _experts_count(hf)
    renormalise = bool(hf.get("norm_topk_prob"))
    return dict(n_experts=n, experts_per_token=_per_token(hf, n), moe_renormalize=renormalise) | features


def _moe_decoder(hf: dict, name: str, arch: str, **features) -> ModelConfig:
    """A Llama-like decoder's config with its mixture of experts (moe_fields) and any other `features`."""
    return _decoder(hf, name, arch, **moe_fields(hf, **features))


def mixtral_config(hf: dict, name: str) -> ModelConfig:
    return _moe_decoder(hf, name, "mixtral", moe_renormalize=True)


def qwen3_moe_config(hf: dict, name: str) -> ModelConfig:
    if hf.get("attention_bias"):
        raise ModelLoadError("Qwen3-MoE checkpoints with attention biases are not supported yet.")
    return _moe_decoder(hf, name, "qwen3_moe", qk_norm="head")


def qwen2_moe_config(hf: dict, name: str) -> ModelConfig:
    return _moe_decoder(hf, name, "qwen2_moe", attn_bias=bool(hf.get("qkv_bias", True)))


def olmoe_config(hf: dict, name: str) -> ModelConfig:
    clip = None if hf.get("clip_qkv") is None else float(hf["clip_qkv"])  # after the q/k norms, as blocks.qkv clamps
    return _moe_decoder(hf, name, "olmoe", qk_norm="full", qkv_clip=clip)


GATED = (("W_gate", "gate_proj"), ("W_in", "up_proj"), ("W_out", "down_proj"))  # (ours, the checkpoint's)


def shared_mlp(w: StateDict, r: _Reader, shared: str, dst: str) -> bool:
    """The shared expert (one gated MLP every token uses) under the checkpoint's prefix `shared` (e.g.
    "layers.3.mlp.shared_experts."), as mlp.shared.*, where the layer has one; whether it has."""
    if not r.has(shared + "gate_proj.weight"):
        return False
    for ours, theirs in GATED:
        w[f"{dst}mlp.shared.{ours}"] = r.linear(f"{shared}{theirs}.weight")
    return True


def _experts(w: StateDict, r: _Reader, moe: str, dst: str, n: int, names: tuple[str, str, str]) -> None:
    """The router and n gated experts under the checkpoint's prefix `moe`; names: each expert's gate, up and
    down."""
    w[dst + "mlp.router.W"] = r.linear(moe + "gate.weight")  # [d_model, n_experts]
    if r.has(moe + "shared_expert_gate.weight"):  # Qwen2-MoE: one more expert, for every token
        w[dst + "mlp.shared_gate.W"] = r.linear(moe + "shared_expert_gate.weight")  # [d_model, 1]
        shared_mlp(w, r, moe + "shared_expert.", dst)
    for e in range(n):
        for ours, theirs in zip(("W_gate", "W_in", "W_out"), names, strict=True):
            w[f"{dst}mlp.experts.{e}.{ours}"] = r.linear(f"{moe}experts.{e}.{theirs}.weight")


def moe_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    r = _Reader(sd, ("model.",))
    w: StateDict = {"embed.W_E": r.get("embed_tokens.weight"), "ln_final.w": r.get("norm.weight")}
    mixtral = cfg.arch == "mixtral"
    names = ("w1", "w3", "w2") if mixtral else ("gate_proj", "up_proj", "down_proj")
    for layer in range(cfg.n_layers):
        src, dst = f"layers.{layer}.", f"blocks.{layer}."
        _attn(w, r, src, dst)
        for part in "QKV" if cfg.attn_bias else "":  # Qwen2-MoE's q/k/v biases
            w[f"{dst}attn.b_{part}"] = r.get(f"{src}self_attn.{part.lower()}_proj.bias")
        w[dst + "ln_attn.w"] = r.get(src + "input_layernorm.weight")
        w[dst + "ln_mlp.w"] = r.get(src + "post_attention_layernorm.weight")
        moe = src + ("block_sparse_moe." if mixtral else "mlp.")
        if r.has(moe + "gate.weight"):
            _experts(w, r, moe, dst, cfg.n_experts, names)
        else:  # a dense layer of a Qwen3-MoE (mlp_only_layers, decoder_sparse_step)
            _gated(w, r, src, dst)
    _unembed(w, sd, cfg)
    return w


def gpt_oss_config(hf: dict, name: str) -> ModelConfig:
    clamp = (float(hf.get("swiglu_limit", 7.0)), float(hf.get("swiglu_alpha", 1.702)))
    return _moe_decoder(
        hf, name, "gpt_oss", attn_bias=bool(hf.get("attention_bias", True)), attn_sinks=True, moe_renormalize=True,
        act="swiglu_clamped", swiglu_clamp=clamp, mlp_bias=True,
    )  # fmt: skip


def _gpt_oss_block(cfg: ModelConfig) -> Callable[[StateDict, _Reader, str, str], None]:
    """What a GPT-OSS block adds to a Llama's layout: the router and experts, the attention's biases and sinks."""

    def read(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        moe = src + "mlp."
        w[dst + "mlp.router.W"], w[dst + "mlp.router.b"] = r.linear(moe + "router.weight"), r.get(moe + "router.bias")
        gate_up = r.get(moe + "experts.gate_up_proj")  # (n_experts, d_model, 2·d_mlp): gate, up, gate, up, …
        gate_up_b = r.get(moe + "experts.gate_up_proj_bias")  # (n_experts, 2·d_mlp)
        down, down_b = r.get(moe + "experts.down_proj"), r.get(moe + "experts.down_proj_bias")  # (E, d_mlp, d_model)
        for e in range(cfg.n_experts):
            p = f"{dst}mlp.experts.{e}."
            w[p + "W_gate"], w[p + "W_in"] = gate_up[e, :, ::2].contiguous(), gate_up[e, :, 1::2].contiguous()
            w[p + "b_gate"], w[p + "b_in"] = gate_up_b[e, ::2].contiguous(), gate_up_b[e, 1::2].contiguous()
            w[p + "W_out"], w[p + "b_out"] = down[e].contiguous(), down_b[e].contiguous()
        for part in "QKVO" if cfg.attn_bias else "":
            w[f"{dst}attn.b_{part}"] = r.get(f"{src}self_attn.{part.lower()}_proj.bias")
        w[dst + "attn.sinks"] = r.get(src + "self_attn.sinks")  # (n_heads,)

    return read


def gpt_oss_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    return llama_layout(sd, cfg, _gpt_oss_block(cfg))


def deepseek_moe(hf: dict, sigmoid: bool) -> dict:
    """DeepSeek's router as ModelConfig fields (experts.route): n_routed_experts, num_experts_per_tok, sigmoid (V3) or
    softmax (V2) scores, groups (V3 always; V2 where topk_method is "group_limited_greedy"), routed_scaling_factor,
    norm_topk_prob."""
    fields = moe_fields(hf, moe_router="sigmoid" if sigmoid else "softmax",
                        moe_scale=float(hf.get("routed_scaling_factor") or 1.0))  # fmt: skip
    n = fields["n_experts"]
    groups = int(hf.get("n_group") or 1) if sigmoid or hf.get("topk_method") == "group_limited_greedy" else 1
    kept = int(hf.get("topk_group") or groups) if groups > 1 else 1
    if n % groups or not 0 < kept <= groups:
        raise ModelLoadError(f"{n} experts in {groups} groups, {kept} kept: the experts must split evenly into the "
                             "groups, and 1 to all of them kept.")  # fmt: skip
    return fields | dict(moe_groups=(groups, kept))


def deepseek_mlp(w: StateDict, r: _Reader, src: str, dst: str, cfg: ModelConfig) -> None:
    """A DeepSeek-style block's MLP: dense (gate, up, down) where the layer has no router, else the router (gate), its
    correction bias (V3's e_score_correction_bias), the experts (one tensor each, or stacked as transformers holds
    them: Mistral 4's checkpoints have no other form) and the shared experts (one MLP, no gate)."""
    moe = src + "mlp."
    if not r.has(moe + "gate.weight"):  # first_k_dense_replace, mlp_layer_types; every MiniCPM3 layer
        _gated(w, r, src, dst)
        return
    if r.has(moe + "experts.gate_up_proj"):
        w[dst + "mlp.router.W"] = r.linear(moe + "gate.weight")  # [d_model, n_experts]
        stacked_experts(w, r, moe, dst, cfg.n_experts, turned_width=cfg.d_model)
    else:
        _experts(w, r, moe, dst, cfg.n_experts, ("gate_proj", "up_proj", "down_proj"))
    for bias in ("gate.e_score_correction_bias", "e_score_correction_bias"):  # EXAONE-MoE's sits beside the gate
        if r.has(moe + bias):
            w[dst + "mlp.router.b_choice"] = r.get(moe + bias)
    shared_mlp(w, r, moe + "shared_experts.", dst)


def glm4_moe_config(hf: dict, name: str) -> ModelConfig:
    """GLM-4.5, 4.6 and their Air models: a Llama's attention rotating the first partial_rotary_factor (0.5) of each
    head in halves, q/k/v biases, per-head q/k RMSNorms where use_qk_norm; DeepSeek-V3's router and shared expert
    after first_k_dense_replace dense layers."""
    features = dict(attn_bias=bool(hf.get("attention_bias")), qk_norm="head" if hf.get("use_qk_norm") else "none")
    return _decoder(hf, name, "glm4_moe", **features, **deepseek_moe(hf, sigmoid=True))


def dots1_config(hf: dict, name: str) -> ModelConfig:
    """dots.llm1: Qwen3's attention (per-head q/k RMSNorms; sliding layers where layer_types says) with DeepSeek-V3's
    router and shared expert after first_k_dense_replace dense layers."""
    return _decoder(hf, name, "dots1", qk_norm="head", attn_bias=bool(hf.get("attention_bias")),
                    **deepseek_moe(hf, sigmoid=True))  # fmt: skip


def stacked_experts(w: StateDict, r: _Reader, moe: str, dst: str, n: int, turned_width: int | None = None) -> None:
    """Experts stored stacked, [in, out]: experts.gate_up_proj (n, d_model, 2·d_mlp: gate, then up) and
    experts.down_proj (n, d_mlp, d_model), under the checkpoint's prefix `moe` (Llama 4, Qwen3-VL-MoE).

    `turned_width` (d_model): the tensors may also be [out, in], as transformers holds Qwen3-VL-MoE's and a
    transformers 5 save writes them; its loader turns the Hub's [in, out] only where the shapes tell them apart, so
    a tensor whose last (gate_up) or middle (down) size is d_model is read as [out, in], as it reads it."""
    gate_up, down = r.get(moe + "experts.gate_up_proj"), r.get(moe + "experts.down_proj")
    if gate_up.shape[0] != n:
        raise ModelLoadError(f"{moe}experts holds {gate_up.shape[0]} experts; config.json says {n}.")
    if turned_width is not None and gate_up.shape[-1] == turned_width:
        gate_up = gate_up.transpose(1, 2)  # (n, 2·d_mlp, d_model) → (n, d_model, 2·d_mlp)
    if turned_width is not None and down.shape[1] == turned_width:
        down = down.transpose(1, 2)  # (n, d_model, d_mlp) → (n, d_mlp, d_model)
    gate, up = gate_up.chunk(2, dim=-1)  # (n, d_model, d_mlp) each
    for e in range(n):
        p = f"{dst}mlp.experts.{e}."
        w[p + "W_gate"], w[p + "W_in"], w[p + "W_out"] = (t[e].contiguous() for t in (gate, up, down))


def qwen3_vl_moe_config(hf: dict, name: str) -> ModelConfig:
    text = _defaults(vl_language_config(hf), head_dim=128)
    return _moe_decoder(text, name, "qwen3_vl_moe", qk_norm="head", moe_renormalize=True)


def qwen3_vl_moe_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """The language model (model.language_model.), each MoE layer's router (mlp.gate) and stacked experts."""

    def block(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        if not r.has(src + "mlp.gate.weight"):  # mlp_only_layers, decoder_sparse_step
            _gated(w, r, src, dst)
            return
        w[dst + "mlp.router.W"] = r.linear(src + "mlp.gate.weight")  # [d_model, n_experts]
        stacked_experts(w, r, src + "mlp.", dst, cfg.n_experts, turned_width=cfg.d_model)

    lm_head = next((k for k in ("lm_head.weight", "model.lm_head.weight") if k in sd), "lm_head.weight")
    return llama_layout(sd, cfg, block, ("model.language_model.", "language_model.model.", "model."), lm_head)


def ernie4_5_moe_config(hf: dict, name: str) -> ModelConfig:
    if hf.get("use_bias"):
        raise ModelLoadError("ERNIE 4.5 MoE checkpoints with biases (use_bias) are not supported yet.")
    hf = _defaults(hf, rope_theta=500000.0, num_experts=hf.get("moe_num_experts", 64),
                   num_experts_per_tok=hf.get("moe_k", 6))  # Ernie4_5_MoeConfig's names and defaults
    return _moe_decoder(hf, name, "ernie4_5_moe", rope_pairs_reordered=True, moe_renormalize=True)


def ernie4_5_moe_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """A Llama's layout, RoPE pairs reordered to halves; each MoE layer's router (mlp.gate), its correction bias
    (mlp.moe_statics.e_score_correction_bias, [1, n_experts]), experts and shared experts (one MLP)."""

    def block(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        moe = src + "mlp."
        if not r.has(moe + "gate.weight"):  # the layers before moe_layer_start_index
            _gated(w, r, src, dst)
            return
        _experts(w, r, moe, dst, cfg.n_experts, ("gate_proj", "up_proj", "down_proj"))
        w[dst + "mlp.router.b_choice"] = r.get(moe + "moe_statics.e_score_correction_bias").reshape(-1)
        shared_mlp(w, r, moe + "shared_experts.", dst)

    return pairs_to_halves(llama_layout(sd, cfg, block), cfg)


def _one_value(hf: dict, key: str) -> int:
    """A count config.json may give per layer (HunYuan MoE's num_experts, moe_topk): one for every layer."""
    value = hf[key]
    if isinstance(value, list):
        if len(set(value)) != 1:
            raise ModelLoadError(f"config.json's {key} differs between layers ({value}); not supported yet.")
        value = value[0]
    return int(value)


def hunyuan_moe_config(hf: dict, name: str) -> ModelConfig:
    n, k = _one_value(hf, "num_experts"), _one_value(_defaults(hf, moe_topk=1), "moe_topk")
    if not 0 < k <= n:
        raise ModelLoadError(f"config.json has each token use {k} of {n} experts; it must be 1 to {n}.")
    moe = dict(n_experts=n, experts_per_token=k, moe_renormalize=True)
    return replace(hunyuan_dense_config(hf, name), arch="hunyuan_moe", **moe)


def hunyuan_moe_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """HunYuan dense's attention (query_layernorm, key_layernorm), the router mlp.gate.wg, experts, shared_mlp."""

    def block(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        w[dst + "attn.q_norm.w"] = r.get(src + "self_attn.query_layernorm.weight")
        w[dst + "attn.k_norm.w"] = r.get(src + "self_attn.key_layernorm.weight")
        _attention_biases(w, r, src, dst)
        moe = src + "mlp."
        w[dst + "mlp.router.W"] = r.linear(moe + "gate.wg.weight")  # [d_model, n_experts]
        for e in range(cfg.n_experts):
            for ours, theirs in GATED:
                w[f"{dst}mlp.experts.{e}.{ours}"] = r.linear(f"{moe}experts.{e}.{theirs}.weight")
        if not shared_mlp(w, r, moe + "shared_mlp.", dst):
            raise ModelLoadError(f"The checkpoint lacks {moe}shared_mlp, which every HunYuan MoE layer has.")

    return llama_layout(sd, cfg, block)


def flex_olmo_config(hf: dict, name: str) -> ModelConfig:
    if hf.get("clip_qkv") is not None:
        raise ModelLoadError("FlexOlmo checkpoints that clip q, k and v (clip_qkv) are not supported yet.")
    return _moe_decoder(hf, name, "flex_olmo", qk_norm="full", norm_position="post_sublayer")


def flex_olmo_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    def block(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        _experts(w, r, src + "mlp.", dst, cfg.n_experts, ("gate_proj", "up_proj", "down_proj"))

    norms = {"ln_attn_out": "post_attention_layernorm", "ln_mlp_out": "post_feedforward_layernorm"}  # OLMo 2's
    return llama_layout(sd, cfg, block, norms=norms)


def minimax_m2_config(hf: dict, name: str) -> ModelConfig:
    head = int(hf.get("head_dim") or int(hf["hidden_size"]) // int(hf["num_attention_heads"]))
    if hf.get("rotary_dim") and "partial_rotary_factor" not in {**hf, **(hf.get("rope_parameters") or {})}:
        hf = {**hf, "partial_rotary_factor": int(hf["rotary_dim"]) / head}  # as transformers reads the legacy field
    return _moe_decoder(hf, name, "minimax_m2", qk_norm="full", moe_router="sigmoid", moe_renormalize=True)


def minimax_m2_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """Mixtral's names (block_sparse_moe, experts w1, w3, w2), q/k norms over the projection, the correction bias."""

    def block(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        moe = src + "block_sparse_moe."
        _experts(w, r, moe, dst, cfg.n_experts, ("w1", "w3", "w2"))
        w[dst + "mlp.router.b_choice"] = r.get(moe + "e_score_correction_bias")

    return llama_layout(sd, cfg, block)


def solar_open_config(hf: dict, name: str) -> ModelConfig:
    """Solar Open: a Llama's attention (head_dim 128 unless given) with DeepSeek-V3's router in every layer."""
    hf = _defaults(hf, head_dim=128)
    return _decoder(hf, name, "solar_open", attn_bias=bool(hf.get("attention_bias")), **deepseek_moe(hf, sigmoid=True))


def exaone_moe_config(hf: dict, name: str) -> ModelConfig:
    """K-EXAONE: EXAONE 4's attention and windows (exaone4_config) in pre-norm blocks, DeepSeek-V3's router."""
    hf = _defaults(hf, n_routed_experts=hf.get("num_experts", 64))  # ExaoneMoeConfig's name for it
    return replace(exaone4_config(hf, name), arch="exaone_moe", norm_position="pre", **deepseek_moe(hf, sigmoid=True))


def routed_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """A Llama's layout (q/k norms where the checkpoint has them, any attention biases) with DeepSeek's MLPs."""

    def block(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        _attention_biases(w, r, src, dst)
        deepseek_mlp(w, r, src, dst, cfg)

    return llama_layout(sd, cfg, block)


ADAPTERS = {
    "mixtral": (mixtral_config, moe_weights),
    "qwen2_moe": (qwen2_moe_config, moe_weights),
    "qwen3_moe": (qwen3_moe_config, moe_weights),
    "olmoe": (olmoe_config, moe_weights),
    "gpt_oss": (gpt_oss_config, gpt_oss_weights),
    "glm4_moe": (glm4_moe_config, routed_weights),
    "dots1": (dots1_config, routed_weights),
    "minimax_m2": (minimax_m2_config, minimax_m2_weights),
    "qwen3_vl_moe": (qwen3_vl_moe_config, qwen3_vl_moe_weights),
    "ernie4_5_moe": (ernie4_5_moe_config, ernie4_5_moe_weights),
    "flex_olmo": (flex_olmo_config, flex_olmo_weights),
    "solar_open": (solar_open_config, routed_weights),
    "exaone_moe": (exaone_moe_config, routed_weights),
    "hunyuan_v1_moe": (hunyuan_moe_config, hunyuan_moe_weights),
}
