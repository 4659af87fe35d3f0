"""Hugging Face adapters for mixture-of-experts decoders added after those in hf_adapters_moe.py (which keeps the
shared readers this file uses: moe_fields, deepseek_moe, deepseek_mlp).

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
- AFMoE (Arcee's Trinity Mini, Nano): each head's output gated per dimension by σ(E·W_G) before W_O
  (attn_output_gate: self_attn.gate_proj), per-head q/k norms, a norm before and after each sublayer (sandwich), the
  sliding layers (three of every four, global_attn_every_n_layers) rotating and the global ones not (NoPE); after
  num_dense_layers dense MLPs, HY 3's router (sigmoid scores, expert_bias in the choice only, renormalised, ×
  route_scale) and shared experts; embeddings × √d_model where mup_enabled.
- Kolibri-1 (kolibri1, Aleph Alpha): EXAONE 4's attention (per-head q/k norms; the sliding layers, four of every five
  by layer_types, rotate, the full ones not) in GLM-4's blocks (a norm before and after each sublayer), and in every
  layer a router whose choice is the top logits plus a correction bias, weighted by their sigmoids (renormalised
  where norm_topk_prob: moe_router "sigmoid_logits"), beside a shared MLP.
- MiMo-V2-Flash (mimo_v2_flash, Xiaomi): its sliding layers (five of every six, a window of sliding_window_size + 1)
  have twice the full layers' key/value heads and a sink per head (GPT-OSS's; attention_sink_bias in Xiaomi's files
  and transformers' saves, sinks in its modules); queries and keys are head_dim wide,
  values v_head_dim, scaled by attention_value_scale (folded into W_V); RoPE on the first partial_rotary_factor of
  each head, its base per layer type; after the dense first layer (mlp_layer_types), DeepSeek-V3's router without a
  shared expert. Its layers' key/value head counts differ (ModelConfig.kv_heads_layers; n_kv_heads the sliding
  layers'): the pass repeats a full layer's heads to that count.
- DBRX (Databricks): LayerNorms without biases, one fused Wqkv whose output is clamped to ±clip_qkv (qkv_clip) before
  it splits, RoPE; a softmax router over experts (the chosen weights divided by their p-norm,
  moe_normalize_expert_weights: 1 renormalises) whose maps are stored stacked, w1, v1 and w2 [n_experts·ffn, d_model].
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..config import ModelConfig
from ..errors import ModelLoadError
from .hf_adapters import StateDict, _Reader
from .hf_adapters_modern import _decoder, _rope, _theta, _unembed, _windows, llama_layout
from .hf_adapters_moe import GATED, deepseek_mlp, deepseek_moe, moe_fields, routed_weights, shared_mlp
from .hf_adapters_recent import _attention_biases, _defaults

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


def _router_block(cfg: ModelConfig, shared: str) -> Callable[[StateDict, _Reader, str, str], None]:
    """A block's MLP as HY 3's and AFMoE's checkpoints name it: a dense layer's gated MLP, else the router
    (mlp.router.gate), its correction bias (mlp.expert_bias), the experts (one tensor each) and the shared MLP
    (mlp.`shared`); saved under transformers' own names (mlp.gate, ...), DeepSeek's reader's."""

    def read(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        moe = src + "mlp."
        if not r.has(moe + "router.gate.weight"):  # a dense layer, or saved under transformers' names
            deepseek_mlp(w, r, src, dst, cfg)
            return
        w[dst + "mlp.router.W"] = r.linear(moe + "router.gate.weight")  # [d_model, n_experts]
        w[dst + "mlp.router.b_choice"] = r.get(moe + "expert_bias")  # [n_experts]
        for e in range(cfg.n_experts):
            for ours, theirs in GATED:
                w[f"{dst}mlp.experts.{e}.{ours}"] = r.linear(f"{moe}experts.{e}.{theirs}.weight")
        shared_mlp(w, r, moe + shared, dst)

    return read


def hy_v3_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """A Llama's layout with per-head q/k norms and _router_block's MLPs (the shared one: mlp.shared_mlp)."""
    return llama_layout(sd, cfg, _router_block(cfg, "shared_mlp."))


def afmoe_config(hf: dict, name: str) -> ModelConfig:
    n, every = int(hf["num_hidden_layers"]), int(hf.get("global_attn_every_n_layers") or 4)
    types = ["sliding_attention" if (i + 1) % every else "full_attention" for i in range(n)]  # AfmoeConfig's rule
    hf = _defaults(hf, layer_types=types, routed_scaling_factor=hf.get("route_scale", 1.0))
    rotates = tuple(t == "sliding_attention" for t in hf["layer_types"])  # the global layers rotate nothing
    scale = math.sqrt(int(hf["hidden_size"])) if hf.get("mup_enabled") else 1.0
    return _decoder(hf, name, "afmoe", qk_norm="head", norm_position="sandwich", attn_output_gate=True,
                    rope_layers=rotates, embed_scale=scale, attn_bias=bool(hf.get("attention_bias")),
                    **deepseek_moe(hf, sigmoid=True) | {"moe_renormalize": True})  # fmt: skip


AFMOE_NORMS = {"ln_attn": "input_layernorm", "ln_attn_out": "post_attention_layernorm", "ln_mlp": "pre_mlp_layernorm",
               "ln_mlp_out": "post_mlp_layernorm"}  # (ours: the checkpoint's)


def afmoe_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """A Llama's layout with per-head q/k norms, the output gate (self_attn.gate_proj → attn.W_G), a norm before
    and after each sublayer, and _router_block's MLPs (the shared one: mlp.shared_experts)."""
    moe = _router_block(cfg, "shared_experts.")

    def block(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        w[dst + "attn.W_G"] = r.linear(src + "self_attn.gate_proj.weight")  # [d_model, n_heads·d_head]
        _attention_biases(w, r, src, dst)
        moe(w, r, src, dst)

    return llama_layout(sd, cfg, block, norms=AFMOE_NORMS)


def flint_config(hf: dict, name: str) -> ModelConfig:
    n = int(hf["num_hidden_layers"])
    types = ["full_attention" if i < 2 or i % 4 == 1 or i == n - 1 else "sliding_attention" for i in range(n)]
    hf = _defaults(hf, layer_types=types, sliding_window=513)  # FlintConfig's defaults
    rotates = tuple(t == "sliding_attention" and hf["sliding_window"] is not None for t in hf["layer_types"])
    return _decoder(hf, name, "flint", qk_norm="head", attn_sinks=True, rope_layers=rotates,
                    **moe_fields(hf, moe_router="sigmoid"))  # fmt: skip


def _first(r: _Reader, names: tuple[str, ...]) -> str:
    """The first of `names` the checkpoint has (the last where it has none: its error names what is missing)."""
    return next((name for name in names if r.has(name)), names[-1])


def flint_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """A Llama's layout with per-head q/k norms and each layer's sinks; a dense layer's gated MLP, else the router,
    the experts (one tensor each or stacked) and the shared expert."""

    def block(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        w[dst + "attn.sinks"] = r.get(_first(r, (src + "self_attn.softmax_offset", src + "self_attn.sinks")))
        deepseek_mlp(w, r, src, dst, cfg)
        if r.has(src + "mlp.gate.weight"):
            shared_mlp(w, r, src + "mlp.shared_expert.", dst)

    return llama_layout(sd, cfg, block)


def kolibri1_config(hf: dict, name: str) -> ModelConfig:
    n = int(hf["num_hidden_layers"])
    types = ["full_attention" if (i + 1) % 5 == 0 else "sliding_attention" for i in range(n)]  # Kolibri1Config's
    hf = _defaults(hf, layer_types=types)
    window, sliding = _windows(hf, n)
    nope = dict(rope_layers=sliding) if window is not None and sliding else {}  # EXAONE 4's: full layers without RoPE
    return _decoder(hf, name, "kolibri1", qk_norm="head", norm_position="sandwich", **nope,
                    **moe_fields(hf, moe_router="sigmoid_logits"))  # fmt: skip


def kolibri1_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """A Llama's layout with per-head q/k norms, the norms after each sublayer (post_attn_norm, post_ffn_norm in
    Aleph Alpha's files; GLM-4's post_self_attn_layernorm, post_mlp_layernorm in transformers'), every layer's router
    (mlp.gate), its correction bias (moe.router.expert_bias, or transformers' mlp.gate.e_score_correction_bias), the
    experts (one tensor each or stacked) and the shared MLP (mlp.shared_experts)."""

    def block(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        for ours, theirs in (("ln_attn_out", ("post_attn_norm", "post_self_attn_layernorm")),
                             ("ln_mlp_out", ("post_ffn_norm", "post_mlp_layernorm"))):  # fmt: skip
            w[f"{dst}{ours}.w"] = r.get(_first(r, tuple(f"{src}{name}.weight" for name in theirs)))
        deepseek_mlp(w, r, src, dst, cfg)
        if r.has(src + "moe.router.expert_bias"):
            w[dst + "mlp.router.b_choice"] = r.get(src + "moe.router.expert_bias")  # [n_experts]

    return llama_layout(sd, cfg, block)


MIMO_ROPE = {"full_attention": {"rope_type": "default", "rope_theta": 5_000_000.0, "partial_rotary_factor": 0.334},
             "sliding_attention": {"rope_type": "default", "rope_theta": 10_000.0, "partial_rotary_factor": 0.334}}


def _mimo_xiaomi_fields(hf: dict) -> dict:
    """Xiaomi's own config.json names, as transformers' fields: hybrid_layer_pattern (1: a sliding layer),
    layernorm_epsilon, flat rope_theta / swa_rope_theta / partial_rotary_factor, swa_num_key_value_heads."""
    out = dict(hf)
    if hf.get("hybrid_layer_pattern") and not hf.get("layer_types"):
        out["layer_types"] = ["sliding_attention" if p else "full_attention" for p in hf["hybrid_layer_pattern"]]
    if hf.get("layernorm_epsilon") is not None and hf.get("rms_norm_eps") is None:
        out["rms_norm_eps"] = hf["layernorm_epsilon"]
    if hf.get("rope_theta") is not None and not hf.get("rope_parameters"):
        part = dict(rope_type="default", partial_rotary_factor=float(hf.get("partial_rotary_factor") or 0.334))
        out["rope_parameters"] = {"full_attention": {**part, "rope_theta": float(hf["rope_theta"])},
                                  "sliding_attention": {**part, "rope_theta": float(hf.get("swa_rope_theta") or 1e4)}}
    for ours, theirs in (("num_attention_heads", "swa_num_attention_heads"), ("head_dim", "swa_head_dim"),
                         ("v_head_dim", "swa_v_head_dim")):  # fmt: skip
        if hf.get(theirs) is not None and hf.get(ours) is not None and int(hf[theirs]) != int(hf[ours]):
            raise ModelLoadError(f"MiMo-V2-Flash's sliding layers with another {ours} ({hf[theirs]}, full layers "
                                 f"{hf[ours]}) are not supported yet.")  # fmt: skip
    return out


def mimo_v2_flash_config(hf: dict, name: str) -> ModelConfig:
    """MiMoV2FlashConfig's defaults and rules (a full layer first and every sixth, the window one past
    sliding_window_size; a full layer's num_key_value_heads, twice that in a sliding one unless
    swa_num_key_value_heads says), under transformers' names or Xiaomi's."""
    n = int(hf["num_hidden_layers"])
    types = ["full_attention" if i == 0 or (i + 1) % 6 == 0 else "sliding_attention" for i in range(n)]
    hf = _defaults(_mimo_xiaomi_fields(hf), layer_types=types, rope_parameters=MIMO_ROPE, head_dim=192, v_head_dim=128,
                   sliding_window=129, num_key_value_heads=4, attention_value_scale=0.707, norm_topk_prob=True,
                   rms_norm_eps=1e-5)  # fmt: skip
    if hf.get("sliding_window_size") is not None:
        hf = {**hf, "sliding_window": int(hf["sliding_window_size"]) + 1}
    if hf.get("attention_bias"):
        raise ModelLoadError("MiMo-V2-Flash checkpoints with attention biases are not supported yet.")
    partial = {float(_rope(hf, t).get("partial_rotary_factor", 0.334)) for t in MIMO_ROPE}
    if len(partial) != 1:
        raise ModelLoadError("MiMo-V2-Flash's layer types rotate different parts of a head; one part is supported.")
    kv = int(hf["num_key_value_heads"])
    swa_kv = int(hf.get("swa_num_key_value_heads") or 2 * kv)
    if swa_kv % kv or int(hf["num_attention_heads"]) % swa_kv:
        raise ModelLoadError(f"MiMo-V2-Flash with {kv} key/value heads in its full layers and {swa_kv} in its sliding "
                             "ones: the engine needs the sliding count a multiple of the full one, dividing the query "
                             "heads.")  # fmt: skip
    heads = tuple(kv if t == "full_attention" else swa_kv for t in hf["layer_types"])
    scale = float(hf["attention_value_scale"] if hf["attention_value_scale"] is not None else 1.0)
    return _decoder({**hf, "num_key_value_heads": max(heads)}, name, "mimo_v2_flash", attn_sinks=True,
                    d_head_v=int(hf["v_head_dim"]), rotary_dim=int(int(hf["head_dim"]) * partial.pop()),
                    rope_theta=_theta(hf, "full_attention"), rope_theta_local=_theta(hf, "sliding_attention"),
                    folded_multipliers=(("attention_value_scale", scale),), kv_heads_layers=heads,
                    **deepseek_moe(hf, sigmoid=True))  # fmt: skip


def mimo_v2_flash_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """A Llama's layout, every value map × attention_value_scale, each sliding layer's sinks; a dense layer's gated
    MLP, else the router and the experts (no shared one)."""
    sd, scale = dict(sd), dict(cfg.folded_multipliers)["attention_value_scale"]
    for layer in range(cfg.n_layers):
        v_proj = f"model.layers.{layer}.self_attn.v_proj.weight"
        sd[v_proj] = sd[v_proj].float() * scale

    def block(w: StateDict, r: _Reader, src: str, dst: str) -> None:
        names = (src + "self_attn.attention_sink_bias", src + "self_attn.sinks")  # Xiaomi's name, transformers'
        if any(r.has(name) for name in names):  # the sliding layers'
            w[dst + "attn.sinks"] = r.get(_first(r, names))
        deepseek_mlp(w, r, src, dst, cfg)

    return llama_layout(sd, cfg, block)


def dbrx_config(hf: dict, name: str) -> ModelConfig:
    attn, ffn = hf.get("attn_config") or {}, hf.get("ffn_config") or {}
    act = (ffn.get("ffn_act_fn") or {"name": "silu"}).get("name")
    p = ffn.get("moe_normalize_expert_weights", 1.0)
    if act != "silu" or p not in (None, 1, 1.0):
        raise ModelLoadError(f"DBRX checkpoints with experts of activation {act!r} or weights normalised by the "
                             f"{p}-norm are not supported yet (silu and 1: renormalised).")  # fmt: skip
    # transformers 5 saves (and runs) rope_parameters; Databricks' config.json has the base in attn_config
    theta = (hf.get("rope_parameters") or {}).get("rope_theta") or attn.get("rope_theta") or 10000.0
    fields = dict(hidden_size=hf["d_model"], num_attention_heads=hf["n_heads"], num_hidden_layers=hf["n_layers"],
                  num_key_value_heads=attn.get("kv_n_heads", 1), intermediate_size=ffn.get("ffn_hidden_size", 3584),
                  max_position_embeddings=hf.get("max_seq_len", 2048), rope_theta=theta, num_local_experts=ffn.get(
                      "moe_num_experts", 4), num_experts_per_tok=ffn.get("moe_top_k", 1))  # fmt: skip
    clip = None if attn.get("clip_qkv") is None else float(attn["clip_qkv"])
    return _decoder({**hf, **fields, "rope_parameters": None}, name, "dbrx", norm="layer", norm_eps=1e-5,
                    qkv_clip=clip, **moe_fields({**hf, **fields}, moe_renormalize=p is not None))  # fmt: skip


def dbrx_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """transformer.wte, each block's norm_attn_norm (norm_1, attn.Wqkv, attn.out_proj, norm_2) and ffn (router.layer,
    experts.mlp.w1 / v1 / w2, each expert a block of ffn rows), norm_f; lm_head."""
    r = _Reader(sd, ("transformer.",))
    w: StateDict = {"embed.W_E": r.get("wte.weight"), "ln_final.w": r.get("norm_f.weight")}
    q, kv = cfg.n_heads * cfg.d_head, cfg.n_kv_heads * cfg.d_head
    for layer in range(cfg.n_layers):
        src, dst = f"blocks.{layer}.", f"blocks.{layer}."
        block = src + "norm_attn_norm."
        w[dst + "ln_attn.w"], w[dst + "ln_mlp.w"] = r.get(block + "norm_1.weight"), r.get(block + "norm_2.weight")
        W_QKV = r.linear(block + "attn.Wqkv.weight")  # [d_model, q + 2·kv]
        w[dst + "attn.W_Q"], w[dst + "attn.W_K"], w[dst + "attn.W_V"] = W_QKV.split([q, kv, kv], dim=1)
        w[dst + "attn.W_O"] = r.linear(block + "attn.out_proj.weight")
        w[dst + "mlp.router.W"] = r.linear(src + "ffn.router.layer.weight")  # [d_model, n_experts]
        stacked = {name: r.get(f"{src}ffn.experts.mlp.{name}").unflatten(0, (cfg.n_experts, -1)) for name in
                   ("w1", "v1", "w2")}  # [n_experts, ffn, d_model] each  # fmt: skip
        for e in range(cfg.n_experts):
            p = f"{dst}mlp.experts.{e}."
            w[p + "W_gate"], w[p + "W_in"] = stacked["w1"][e].T.contiguous(), stacked["v1"][e].T.contiguous()
            w[p + "W_out"] = stacked["w2"][e].contiguous()  # x·W_out: w2 is already [ffn, d_model]
    _unembed(w, sd, cfg)
    return w


ADAPTERS = {
    # routed_weights: a Llama's layout (q/k norms) with DeepSeek's MLPs: a dense layer's gated MLP, else the router
    # (mlp.gate) and the experts (one tensor each or stacked)
    "mellum": (mellum_config, routed_weights),
    "hy_v3": (hy_v3_config, hy_v3_weights),
    "flint": (flint_config, flint_weights),
    "afmoe": (afmoe_config, afmoe_weights),
    "kolibri1": (kolibri1_config, kolibri1_weights),
    "mimo_v2_flash": (mimo_v2_flash_config, mimo_v2_flash_weights),
    "dbrx": (dbrx_config, dbrx_weights),
}
