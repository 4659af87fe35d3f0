"""Hugging Face adapters for hybrids: models whose layers mix tokens by attention in some layers and another way in
the rest (ModelConfig.mixers; the other mixers are written out in attention_core/short_conv.py, delta_net.py and
mamba.py; Granite 4's hybrids are read in hf_adapters_scaled.py with this file's Mamba-2 readers).

- LFM2 (Liquid AI's LFM2-350M … 2.6B): pre-norm blocks (operator_norm, ffn_norm) whose token mixer is, by layer_types
  (or full_attn_idxs), either grouped-query attention with per-head q/k RMSNorms (q_layernorm, k_layernorm) before
  RoPE, or a short convolution (conv.in_proj → B, C, x; a depthwise causal convolution of B ⊙ x over conv_L_cache
  tokens; C ⊙ that → conv.out_proj); a SwiGLU MLP (feed_forward.w1 gate, w3 up, w2 down) whose width the config
  shrinks to 2/3 and rounds up (block_auto_adjust_ff_dim), and a final norm transformers calls embedding_norm.
- LFM2 MoE (LFM2-8B-A1B; lfm2_moe): LFM2's layers, with a mixture of experts after num_dense_layers dense MLPs (whose
  width is intermediate_size as it stands): sigmoid scores, chosen with the expert_bias added where use_expert_bias,
  renormalised where norm_topk_prob, × routed_scaling_factor (DeepSeek-V3's router without groups). Its experts are
  read one by one (the Hub's experts.{e}.w1/w3/w2) or stacked (experts.gate_up_proj, down_proj: a transformers 5
  save).
- LFM3: LFM2's mixers with three more kinds of layer by layer_types: "conv" (a kernel of conv_L_cache, 7 by default),
  "sliding_attention" (a window of sliding_window; RoPE of its own base over the whole head) and "full_attention"
  (proportional RoPE: the first partial_rotary_factor of each head's pairs turn at θ^(-2i/d_head), the rest not at
  all); Qwen3's attention (per-head q/k RMSNorms, q_norm and k_norm), each head's output × σ(E·W_g) where
  use_attention_gate (gate_proj, g_proj in transformers: one number per head and query, on each of its dimensions:
  attn_gate_per_head); a norm on each sublayer's output where use_sandwich_norm (post_operator_norm, post_ffn_norm);
  the MLP as wide as intermediate_size.
- Qwen3.5 (qwen3_5_text; the language model of qwen3_5 checkpoints through hf_adapters_vision): by layer_types,
  "linear_attention" layers run the gated delta rule (linear_attn.*: attention_core/delta_net.py) and
  "full_attention" layers Qwen3-Next's attention: per-head q/k RMSNorms, RoPE on partial_rotary_factor of each head
  (its M-RoPE sections read one position for a text: plain RoPE), each head's output × σ(its gate), which q_proj
  computes beside the query (rows [q | gate] per head). Every RMSNorm but the delta rule's multiplies by 1 + w.
  Qwen3.5 MoE (qwen3_5_moe_text; qwen3_5_moe checkpoints) has the same layers with a mixture of experts in every MLP:
  the softmax's top num_experts_per_tok, always renormalised, and a shared expert behind a sigmoid gate (Qwen2-MoE's),
  its experts stacked (experts.gate_up_proj, down_proj) or one by one.
- Bamba (IBM's): Mamba-2 layers (mamba.*, mamba.py's scan, as Granite 4's) beside Llama attention (RoPE on
  partial_rotary_factor of each head) on the layers attn_layer_indices names; a SwiGLU MLP (feed_forward) in every
  layer after its pre_ff_layernorm; the final norm final_layernorm.
- Qwen3-Next (qwen3_next): Qwen3.5 MoE's layers, its delta rule's maps fused per key head (in_proj_qkvz: [q, k, the
  group's v, its z] for each key head; in_proj_ba: [b, a] likewise), read apart into Qwen3.5's; a layer in
  mlp_only_layers or off decoder_sparse_step has a dense MLP, and the router renormalises where norm_topk_prob.
"""

from __future__ import annotations

import dataclasses

from ..config import ModelConfig
from ..errors import ModelLoadError
from .conventions import unfuse_ba, unfuse_qkvz
from .hf_adapters import StateDict, _Reader
from .hf_adapters_modern import _decoder, _rope, _unembed, attention_maps, pre_ff_layout
from .hf_adapters_moe import GATED, moe_fields, shared_mlp, stacked_experts


def _lfm2_mixers(hf: dict, n_layers: int) -> tuple[str, ...]:
    """Each layer's mixer from layer_types ("full_attention" / "conv"), or from full_attn_idxs where a config has
    only those (every other layer a convolution)."""
    types = hf.get("layer_types")
    if types is None:
        full = hf.get("full_attn_idxs")
        full = set(range(n_layers)) if full is None else set(full)
        types = ["full_attention" if i in full else "conv" for i in range(n_layers)]
    if len(types) != n_layers or set(types) - {"full_attention", "sliding_attention", "conv"}:
        raise ModelLoadError(f"{hf.get('model_type', 'lfm2')}: layer_types {types!r} do not give 'full_attention', "
                             "'sliding_attention' or 'conv' to each layer.")  # fmt: skip
    return _some_attention(tuple("short_conv" if t == "conv" else "attention" for t in types), "LFM")


def _some_attention(mixers: tuple[str, ...], kind: str) -> tuple[str, ...]:
    """The mixers, refused where no layer attends: such a model has no attention pattern anywhere to show."""
    if "attention" not in mixers:
        raise ModelLoadError(f"This {kind} model has no attention layer (layer_types): no attention pattern to show.")
    return mixers


def _lfm2_mlp_width(hf: dict) -> int:
    """The MLP's width as transformers' Lfm2MLP sets it: intermediate_size (block_ff_dim), or with
    block_auto_adjust_ff_dim 2/3 of it, × block_ffn_dim_multiplier, rounded up to block_multiple_of."""
    width = int(hf.get("block_ff_dim") or hf["intermediate_size"])
    if hf.get("block_auto_adjust_ff_dim", True):
        width = int(2 * width / 3)
        if (multiplier := hf.get("block_ffn_dim_multiplier", 1.0)) is not None:
            step = int(hf.get("block_multiple_of", 256))
            width = step * ((int(multiplier * width) + step - 1) // step)
    return width


def lfm2_config(hf: dict, name: str) -> ModelConfig:
    n_layers = int(hf["num_hidden_layers"])
    tie = hf.get("tie_word_embeddings", hf.get("tie_embedding", True))
    hf = {"rope_theta": 1_000_000.0, **hf, "intermediate_size": _lfm2_mlp_width(hf)}
    return _decoder(
        hf, name, "lfm2", qk_norm="head", norm_eps=float(hf.get("norm_eps", 1e-5)), tie_embeddings=bool(tie),
        mixers=_lfm2_mixers(hf, n_layers), conv_kernel=int(hf.get("conv_L_cache", 3)),
    )  # fmt: skip


def lfm2_moe_config(hf: dict, name: str) -> ModelConfig:
    n_layers = int(hf["num_hidden_layers"])
    experts = moe_fields(hf, moe_router="sigmoid", moe_scale=float(hf.get("routed_scaling_factor") or 1.0))
    return _decoder(
        {"rope_theta": 1_000_000.0, **hf}, name, "lfm2_moe", qk_norm="head", norm_eps=float(hf.get("norm_eps", 1e-5)),
        tie_embeddings=bool(hf.get("tie_word_embeddings", True)), mixers=_lfm2_mixers(hf, n_layers),
        conv_kernel=int(hf.get("conv_L_cache", 3)), **experts,
    )  # fmt: skip


def _lfm3_types(hf: dict, n_layers: int) -> list[str]:
    """layer_types, or Lfm3Config's default: full attention at i % 4 == 2, a window at i % 4 == 0 past the first."""
    return hf.get("layer_types") or [
        "full_attention" if i % 4 == 2 else "sliding_attention" if i % 4 == 0 and i > 0 else "conv"
        for i in range(n_layers)
    ]


def _proportional(params: dict, d_head: int) -> tuple[float, ...]:
    """Proportional RoPE as frequency divisors (ModelConfig.rope_freq_divisors) over a whole head: `factor` for the
    first partial_rotary_factor of its pairs, inf (no turn) for the rest; () for the default rule."""
    kind = params.get("rope_type", "default")
    if kind not in ("default", "proportional"):
        raise ModelLoadError(f"LFM3: RoPE type {kind!r} on its full layers is not supported yet.")
    if kind == "default":
        return ()
    turning = int(float(params.get("partial_rotary_factor", 1.0)) * d_head // 2)
    factor = float(params.get("factor", 1.0))
    return (factor,) * turning + (float("inf"),) * (d_head // 2 - turning)


def lfm3_config(hf: dict, name: str) -> ModelConfig:
    n_layers = int(hf["num_hidden_layers"])
    types = _lfm3_types(hf, n_layers)
    full, local = _rope(hf, "full_attention"), _rope(hf, "sliding_attention")
    if local.get("rope_type", "default") != "default" or float(local.get("partial_rotary_factor", 1.0)) != 1.0:
        raise ModelLoadError("LFM3: RoPE scaling or partial rotary on its sliding layers is not supported yet.")
    d_head = int(hf.get("head_dim") or int(hf["hidden_size"]) // int(hf["num_attention_heads"]))
    plain = {**hf, "layer_types": types, "rope_parameters": {"rope_type": "default",
                                                             "rope_theta": float(full.get("rope_theta", 1e6))}}
    cfg = _decoder(
        plain, name, "lfm3", qk_norm="head", norm_eps=float(hf.get("norm_eps", 1e-5)),
        tie_embeddings=bool(hf.get("tie_word_embeddings", True)), mixers=_lfm2_mixers(plain, n_layers),
        conv_kernel=int(hf.get("conv_L_cache", 7)), attn_output_gate=bool(hf.get("use_attention_gate", True)),
        attn_gate_per_head=bool(hf.get("use_attention_gate", True)),
        norm_position="sandwich" if hf.get("use_sandwich_norm", True) else "pre",
    )  # fmt: skip
    divisors = _proportional(full, d_head)
    turning = sum(d != float("inf") for d in divisors)
    # the sliding layers' own base, set even where it equals the full layers' so that their RoPE stays unscaled
    local_theta = float(local.get("rope_theta", 10_000.0)) if cfg.sliding_window is not None else None
    scaling = f"proportional ({turning} of each head's {d_head // 2} pairs turn)" if divisors else None
    return dataclasses.replace(cfg, rope_freq_divisors=divisors, rope_scaling=scaling, rope_theta_local=local_theta)


def lfm3_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """LFM2's layout with Qwen3's attention names (o_proj, q_norm, k_norm), the per-head gate (attn.W_G, one column
    a head), and the output norms where the model has them."""
    r = _Reader(sd, ("model.",))
    w: StateDict = {"embed.W_E": r.get("embed_tokens.weight"), "ln_final.w": r.get("embedding_norm.weight")}
    norms = {"ln_attn": "operator_norm", "ln_mlp": "ffn_norm", "ln_attn_out": "post_operator_norm",
             "ln_mlp_out": "post_ffn_norm"}  # fmt: skip
    for layer in range(cfg.n_layers):
        src, dst = f"layers.{layer}.", f"blocks.{layer}."
        if cfg.attends(layer):
            for part in "qkvo":
                w[f"{dst}attn.W_{part.upper()}"] = r.linear(f"{src}self_attn.{part}_proj.weight")
            w[dst + "attn.q_norm.w"] = r.get(src + "self_attn.q_norm.weight")
            w[dst + "attn.k_norm.w"] = r.get(src + "self_attn.k_norm.weight")
            if cfg.attn_output_gate:  # one gate a head (attn_gate_per_head). The Hub names it gate_proj
                # (transformers renames it g_proj when it loads, and back when it saves)
                name = "g_proj" if r.has(src + "self_attn.g_proj.weight") else "gate_proj"
                w[dst + "attn.W_G"] = r.linear(f"{src}self_attn.{name}.weight")  # [d_model, n_heads]
        else:
            _short_conv(w, r, src + "conv.", dst + "conv.")
        for ours, theirs in norms.items():
            if ours in ("ln_attn", "ln_mlp") or cfg.norm_position == "sandwich":
                w[f"{dst}{ours}.w"] = r.get(f"{src}{theirs}.weight")
        _feed_forward(w, r, src + "feed_forward.", dst, cfg)
    _unembed(w, sd, cfg)
    return w


def qwen3_5_config(hf: dict, name: str) -> ModelConfig:
    n_layers = int(hf["num_hidden_layers"])
    types = hf.get("layer_types") or ["linear_attention" if (i + 1) % int(hf.get("full_attention_interval", 4))
                                      else "full_attention" for i in range(n_layers)]  # fmt: skip
    if len(types) != n_layers or set(types) - {"linear_attention", "full_attention"}:
        raise ModelLoadError(f"Qwen3.5: layer_types {types!r} do not give 'linear_attention' or 'full_attention' to "
                             "each layer.")  # fmt: skip
    heads = (int(hf.get("linear_num_key_heads", 16)), int(hf.get("linear_num_value_heads", 32)))
    if heads[1] % heads[0]:
        raise ModelLoadError(f"Qwen3.5: {heads[1]} value heads do not split into groups of its {heads[0]} key heads.")
    return _decoder(
        {**hf, "layer_types": None}, name, "qwen3_5_text", qk_norm="head", attn_output_gate=True,
        tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
        mixers=_some_attention(tuple("attention" if t == "full_attention" else "gated_delta" for t in types),
                               "Qwen3.5"),
        conv_kernel=int(hf.get("linear_conv_kernel_dim", 4)), delta_heads=heads,
        delta_dims=(int(hf.get("linear_key_head_dim", 128)), int(hf.get("linear_value_head_dim", 128))),
    )  # fmt: skip


def qwen3_5_moe_config(hf: dict, name: str) -> ModelConfig:
    width = int(hf.get("moe_intermediate_size") or 512)
    cfg = qwen3_5_config({**hf, "intermediate_size": width}, name)
    return dataclasses.replace(cfg, arch="qwen3_5_moe_text", **moe_fields(hf, moe_renormalize=True))


def qwen3_next_config(hf: dict, name: str) -> ModelConfig:
    cfg = qwen3_5_config({**hf, "intermediate_size": hf.get("intermediate_size") or 512}, name)
    experts = moe_fields(hf, moe_renormalize=bool(hf.get("norm_topk_prob", True))) if hf.get("num_experts") else {}
    return dataclasses.replace(cfg, arch="qwen3_next", **experts)


def qwen3_5_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    r = _Reader(sd, ("model.language_model.", "model."))
    w: StateDict = {"embed.W_E": r.get("embed_tokens.weight"), "ln_final.w": r.get("norm.weight") + 1.0}
    for layer in range(cfg.n_layers):
        src, dst = f"layers.{layer}.", f"blocks.{layer}."
        w[dst + "ln_attn.w"] = r.get(src + "input_layernorm.weight") + 1.0
        w[dst + "ln_mlp.w"] = r.get(src + "post_attention_layernorm.weight") + 1.0
        (_gated_attention if cfg.attends(layer) else _delta_rule)(w, r, src, dst, cfg)
        if r.has(src + "mlp.gate.weight"):  # a mixture of experts (Qwen3-Next: where its sparse layers are)
            _qwen_experts(w, r, src + "mlp.", dst, cfg)
            continue
        for ours, theirs in GATED:
            w[f"{dst}mlp.{ours}"] = r.linear(f"{src}mlp.{theirs}.weight")
    _unembed(w, sd, cfg)
    return w


def _qwen_experts(w: StateDict, r: _Reader, moe: str, dst: str, cfg: ModelConfig) -> None:
    """The router (gate), the experts (stacked or one by one) and the gated shared expert."""
    w[dst + "mlp.router.W"] = r.linear(moe + "gate.weight")  # [d_model, n_experts]
    if r.has(moe + "experts.gate_up_proj"):
        stacked_experts(w, r, moe, dst, cfg.n_experts, turned_width=cfg.d_model)
    else:
        for e in range(cfg.n_experts):
            for ours, theirs in GATED:
                w[f"{dst}mlp.experts.{e}.{ours}"] = r.linear(f"{moe}experts.{e}.{theirs}.weight")
    if shared_mlp(w, r, moe + "shared_expert.", dst):
        w[dst + "mlp.shared_gate.W"] = r.linear(moe + "shared_expert_gate.weight")  # [d_model, 1]


def _gated_attention(w: StateDict, r: _Reader, src: str, dst: str, cfg: ModelConfig) -> None:
    """Qwen3-Next's attention: q_proj's rows per head are [query | gate], split into W_Q and W_G."""
    both = r.get(src + "self_attn.q_proj.weight").view(cfg.n_heads, 2, cfg.d_head, cfg.d_model)  # (h, q|gate, d, d)
    w[dst + "attn.W_Q"] = both[:, 0].reshape(-1, cfg.d_model).T.contiguous()  # [d_model, n_heads·d_head]
    w[dst + "attn.W_G"] = both[:, 1].reshape(-1, cfg.d_model).T.contiguous()
    for part in "kvo":
        w[f"{dst}attn.W_{part.upper()}"] = r.linear(f"{src}self_attn.{part}_proj.weight")
    w[dst + "attn.q_norm.w"] = r.get(src + "self_attn.q_norm.weight") + 1.0
    w[dst + "attn.k_norm.w"] = r.get(src + "self_attn.k_norm.weight") + 1.0


def _delta_rule(w: StateDict, r: _Reader, src: str, dst: str, cfg: ModelConfig) -> None:
    """The gated delta rule's maps, kernel, decay parameters and gated norm (delta_net.py's names)."""
    src, dst = src + "linear_attn.", dst + "delta."
    if r.has(src + "in_proj_qkvz.weight"):  # Qwen3-Next: fused per key head
        _unfused_delta_maps(w, r, src, dst, cfg)
    else:
        for ours, theirs in (("W_qkv", "in_proj_qkv"), ("W_z", "in_proj_z"), ("W_b", "in_proj_b"),
                             ("W_a", "in_proj_a")):  # fmt: skip
            w[dst + ours] = r.linear(f"{src}{theirs}.weight")
    w[dst + "W_out"] = r.linear(src + "out_proj.weight")
    w[dst + "kernel"] = r.get(src + "conv1d.weight")[:, 0, :].contiguous()  # (width, L)
    w[dst + "A_log"], w[dst + "dt_bias"] = r.get(src + "A_log"), r.get(src + "dt_bias")
    w[dst + "norm.w"] = r.get(src + "norm.weight")


def _unfused_delta_maps(w: StateDict, r: _Reader, src: str, dst: str, cfg: ModelConfig) -> None:
    """Qwen3-Next's fused in_proj_qkvz and in_proj_ba, split into Qwen3.5's W_qkv, W_z, W_b, W_a (conventions.py)."""
    w[dst + "W_qkv"], w[dst + "W_z"] = unfuse_qkvz(r.get(src + "in_proj_qkvz.weight"), cfg)
    w[dst + "W_b"], w[dst + "W_a"] = unfuse_ba(r.get(src + "in_proj_ba.weight"), cfg)


def bamba_config(hf: dict, name: str) -> ModelConfig:
    n = int(hf["num_hidden_layers"])
    types = hf.get("layers_block_type") or hf.get("layer_types")
    if not types:  # transformers derives them from attn_layer_indices
        attending = set(hf.get("attn_layer_indices") or ())
        types = ["full_attention" if i in attending else "mamba" for i in range(n)]
    attends = tuple(t in ("attention", "full_attention") for t in types)
    if len(types) != n:
        raise ModelLoadError(f"Bamba: {len(types)} layer types for {n} layers.")
    mixers = _some_attention(tuple("attention" if a else "ssm" for a in attends), "Bamba")
    return _decoder({**hf, "layer_types": None}, name, "bamba", mixers=mixers, **mamba_fields(hf, "Bamba"))


def bamba_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    def block(w: StateDict, r: _Reader, src: str, dst: str, layer: int) -> None:
        if cfg.attends(layer):
            attention_maps(w, r, src, dst)
        else:
            mamba_weights(w, r, src + "mamba.", dst + "ssm.")
        for ours, theirs in GATED:
            w[f"{dst}mlp.{ours}"] = r.linear(f"{src}feed_forward.{theirs}.weight")

    return pre_ff_layout(sd, cfg, block)


def mamba_fields(hf: dict, kind: str) -> dict:
    """Mamba-2 layers' ModelConfig fields (mamba.py) from the mamba_* keys (Granite 4's, Bamba's): heads, channels a
    head (mamba_d_head, or "auto":
    mamba_expand · d_model over the heads), state size, groups; the kernel; the clamp on Δ."""
    d_model, heads = int(hf["hidden_size"]), int(hf.get("mamba_n_heads", 128))
    width = int(hf.get("mamba_expand", 2)) * d_model
    head = hf.get("mamba_d_head", "auto")
    head = width // heads if head in (None, "auto") else int(head)
    groups, state = int(hf.get("mamba_n_groups", 1)), int(hf.get("mamba_d_state", 256))
    if head * heads != width or heads % groups:
        raise ModelLoadError(f"{kind}: {heads} Mamba heads of {head} do not make mamba_expand · hidden_size = "
                             f"{width}, or do not split into its {groups} groups.")  # fmt: skip
    limit = [_number(x) for x in hf.get("time_step_limit") or (0.0, float("inf"))]
    return dict(ssm_shape=(heads, head, state, groups), conv_kernel=int(hf.get("mamba_d_conv", 4)),
                ssm_dt_limit=(limit[0], limit[1]))  # fmt: skip


def _number(value: object) -> float:
    """A number of config.json: plain, or as transformers 5 writes infinity ({"__float__": "Infinity"})."""
    return float(value["__float__"] if isinstance(value, dict) else value)  # type: ignore[arg-type]


def mamba_weights(w: StateDict, r: _Reader, src: str, dst: str, norm: bool = True) -> None:
    """A Mamba-2 mixer (mamba.py's names): in_proj, the depthwise kernel, Δ's bias, A_log, D, the gated norm (unless
    the model has none: Falcon-H1 without mamba_rms_norm), out_proj; biases where the checkpoint has them."""
    w[dst + "W_in"], w[dst + "W_out"] = r.linear(src + "in_proj.weight"), r.linear(src + "out_proj.weight")
    w[dst + "kernel"] = r.get(src + "conv1d.weight")[:, 0, :].contiguous()  # (width, L)
    for ours, theirs in (("dt_bias", "dt_bias"), ("A_log", "A_log"), ("D", "D")) + ((("norm.w", "norm.weight"),)
                                                                                  if norm else ()):  # fmt: skip
        w[dst + ours] = r.get(src + theirs)
    for ours, theirs in (("b_in", "in_proj.bias"), ("b_conv", "conv1d.bias"), ("b_out", "out_proj.bias")):
        if r.has(src + theirs):
            w[dst + ours] = r.get(src + theirs)


def lfm2_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    r = _Reader(sd, ("model.",))
    w: StateDict = {"embed.W_E": r.get("embed_tokens.weight"), "ln_final.w": r.get("embedding_norm.weight")}
    for layer in range(cfg.n_layers):
        src, dst = f"layers.{layer}.", f"blocks.{layer}."
        if cfg.attends(layer):
            for ours, theirs in (("Q", "q_proj"), ("K", "k_proj"), ("V", "v_proj"), ("O", "out_proj")):
                w[f"{dst}attn.W_{ours}"] = r.linear(f"{src}self_attn.{theirs}.weight")
            w[dst + "attn.q_norm.w"] = r.get(src + "self_attn.q_layernorm.weight")
            w[dst + "attn.k_norm.w"] = r.get(src + "self_attn.k_layernorm.weight")
        else:
            _short_conv(w, r, src + "conv.", dst + "conv.")
        w[dst + "ln_attn.w"] = r.get(src + "operator_norm.weight")
        w[dst + "ln_mlp.w"] = r.get(src + "ffn_norm.weight")
        _feed_forward(w, r, src + "feed_forward.", dst, cfg)
    _unembed(w, sd, cfg)
    return w


def _feed_forward(w: StateDict, r: _Reader, src: str, dst: str, cfg: ModelConfig) -> None:
    """A SwiGLU MLP (w1 gate, w3 up, w2 down), or LFM2 MoE's router (gate, expert_bias) and experts."""
    if not r.has(src + "gate.weight"):
        for ours, theirs in (("W_gate", "w1"), ("W_in", "w3"), ("W_out", "w2")):
            w[f"{dst}mlp.{ours}"] = r.linear(f"{src}{theirs}.weight")
        return
    w[dst + "mlp.router.W"] = r.linear(src + "gate.weight")  # [d_model, n_experts]
    if r.has(src + "expert_bias"):  # use_expert_bias: added to the scores for the choice alone
        w[dst + "mlp.router.b_choice"] = r.get(src + "expert_bias")
    if r.has(src + "experts.gate_up_proj"):
        stacked_experts(w, r, src, dst, cfg.n_experts, turned_width=cfg.d_model)
        return
    for e in range(cfg.n_experts):
        for ours, theirs in (("W_gate", "w1"), ("W_in", "w3"), ("W_out", "w2")):
            w[f"{dst}mlp.experts.{e}.{ours}"] = r.linear(f"{src}experts.{e}.{theirs}.weight")


def _short_conv(w: StateDict, r: _Reader, src: str, dst: str) -> None:
    """in_proj, the depthwise kernel (Conv1d's [d_model, 1, L] → [d_model, L]), out_proj; biases where present."""
    w[dst + "W_in"], w[dst + "W_out"] = r.linear(src + "in_proj.weight"), r.linear(src + "out_proj.weight")
    w[dst + "kernel"] = r.get(src + "conv.weight")[:, 0, :].contiguous()  # (d_model, L)
    for ours, theirs in (("b_in", "in_proj.bias"), ("b_conv", "conv.bias"), ("b_out", "out_proj.bias")):
        if r.has(src + theirs):
            w[dst + ours] = r.get(src + theirs)


ADAPTERS = {
    "lfm2": (lfm2_config, lfm2_weights),
    "lfm2_moe": (lfm2_moe_config, lfm2_weights),
    "lfm3": (lfm3_config, lfm3_weights),
    "qwen3_5_text": (qwen3_5_config, qwen3_5_weights),
    "qwen3_5_moe_text": (qwen3_5_moe_config, qwen3_5_weights),
    "qwen3_next": (qwen3_next_config, qwen3_5_weights),
    "bamba": (bamba_config, bamba_weights),
}
