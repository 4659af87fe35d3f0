"""Hugging Face adapters for decoders with LayerNorm (and mostly biases): Phi (1, 1.5, 2), StableLM, StarCoder2,
Falcon, Nemotron, Jais 2, Persimmon (RoPE), BLOOM and MPT (ALiBi).

Each is a (config, weights) pair like those in hf_adapters.py; the RoPE ones share hf_adapters_modern._decoder's
config reader. What differs from a Llama, declared in the ModelConfig:
- Phi: one LayerNorm per block feeds attention and MLP side by side (parallel_blocks + shared_block_norm),
  partial rotary, biases on every projection and on the unembedding (lm_head.bias → unembed.b_U).
- StableLM: partial rotary, optional q/k/v biases, parallel blocks with one norm where use_parallel_residual.
- StarCoder2: biases everywhere, a plain GELU MLP (c_fc, c_proj), a sliding window on every layer.
- Falcon (7B: one norm, attention and MLP side by side, one key/value head; 40B, 180B, Falcon 2: two norms, grouped
  key/value heads): q, k and v fused, the layout by variant (_falcon_qkv). Falcon-RW (alibi): no RoPE, BLOOM's ALiBi
  slopes, added to q·k before the 1/√d_head (ModelConfig.alibi_scaled), sequential blocks.
- Phi-3.5-MoE (phimoe): LayerNorms with biases (their epsilon named rms_norm_eps), q/k/v/o biases, LongRoPE whose
  factor on cos and sin is the config's short_mscale (texts stay within the original context), an unembedding bias
  where lm_head_bias; in every layer Mixtral's layout of experts behind SparseMixer's router (two experts, each
  weighted by a softmax over the logits near its own: experts.sparse_mixer, ε = router_jitter_noise).
- Jais 2: Nemotron's squared-ReLU MLP with biases, ordinary LayerNorms with biases, biases on q, k, v and o.
- Nemotron (Minitron, Nemotron-Mini): LayerNorm1P (weights stored as w, applied as 1 + w), partial rotary, a
  plain MLP with squared ReLU (relu2), no biases.
- BLOOM: no position embedding and no RoPE: ALiBi (position_bias="alibi", slopes from the head count, no
  weights); a LayerNorm on the embeddings; q, k, v fused head by head (as GPT-NeoX's); a plain GELU MLP.
- MPT (MosaicML): ALiBi with its own slopes, added as slope × (key − last key) (alibi_bias_max); no biases anywhere,
  LayerNorms without biases; q | k | v fused in Wqkv; an exact-GELU MLP 4 × d_model wide (transformers' MptMLP,
  whatever expansion_ratio says: another is refused, as its weights would not fit). clip_qkv, q/k LayerNorms and an
  own softmax_scale, which transformers' MPT does not run, are refused, as is alibi off (MosaicML's code then adds
  learned positions, which transformers' MPT neither reads nor adds).
- Persimmon (Adept's Persimmon-8B, Fuyu's language model): GPT-NeoX's q, k, v fused head by head with biases,
  sequential blocks, partial rotary, a plain MLP with squared ReLU, and a q/k LayerNorm.
Phi's, StableLM's (qk_layernorm) and Persimmon's q/k LayerNorms run over each head's d_head before RoPE
(qk_norm "head" in a LayerNorm model, blocks.head_norm): one norm with a bias for every head (Phi, Persimmon), or one
per head without a bias (StableLM 2 12B: weights [heads, d_head]).
"""

from __future__ import annotations

import torch

from ..config import ModelConfig
from ..errors import ModelLoadError
from .hf_adapters import StateDict, _act, _Reader
from .hf_adapters_modern import _decoder, _unembed, interleaved_qkv
from .hf_adapters_moe import _experts, moe_fields

# ── config ─────────────────────────────────────────────────────────────────────────────────────────


def _layernorm_decoder(hf: dict, name: str, arch: str, eps_key: str, **features) -> ModelConfig:
    qk_norm = "head" if hf.get("qk_layernorm") else "none"  # a LayerNorm over each head's q and k, before RoPE
    return _decoder(hf, name, arch, norm="layer", norm_eps=float(hf.get(eps_key, 1e-5)), qk_norm=qk_norm, **features)


def phi_config(hf: dict, name: str) -> ModelConfig:
    return _layernorm_decoder(
        hf, name, "phi", "layer_norm_eps", gated_mlp=False, parallel_blocks=True, shared_block_norm=True,
        attn_bias=True, mlp_bias=True,
    )  # fmt: skip


def stablelm_config(hf: dict, name: str) -> ModelConfig:
    parallel = bool(hf.get("use_parallel_residual", False))
    return _layernorm_decoder(
        hf, name, "stablelm", "layer_norm_eps", parallel_blocks=parallel, shared_block_norm=parallel,
        attn_bias=bool(hf.get("use_qkv_bias", False)),
    )  # fmt: skip


def persimmon_config(hf: dict, name: str) -> ModelConfig:
    """Persimmon (Adept; Fuyu's language model): GPT-NeoX's fused q, k, v and biases, sequential blocks, partial
    rotary, a q/k LayerNorm shared by the heads, a plain MLP with squared ReLU (PersimmonConfig's defaults, where
    config.json leaves them out)."""
    own = {"qk_layernorm": True, "hidden_act": "relu2", "partial_rotary_factor": 0.5}
    return _layernorm_decoder(
        {**own, **hf, "num_key_value_heads": hf["num_attention_heads"]}, name, "persimmon", "layer_norm_eps",
        gated_mlp=False, attn_bias=True, mlp_bias=True,
    )  # fmt: skip


def starcoder2_config(hf: dict, name: str) -> ModelConfig:
    biases = bool(hf.get("use_bias", True))
    return _layernorm_decoder(
        hf, name, "starcoder2", "norm_epsilon", gated_mlp=False, attn_bias=biases, mlp_bias=biases
    )


def nemotron_config(hf: dict, name: str) -> ModelConfig:
    return _layernorm_decoder(
        hf, name, "nemotron", "norm_eps", gated_mlp=False, attn_bias=bool(hf.get("attention_bias")),
        mlp_bias=bool(hf.get("mlp_bias")),
    )  # fmt: skip


def jais2_config(hf: dict, name: str) -> ModelConfig:
    """Jais 2: a Llama with LayerNorms (biases included), q/k/v/o biases and Nemotron's up/down MLP (squared ReLU),
    with biases."""
    return _layernorm_decoder(
        hf, name, "jais2", "layer_norm_eps", gated_mlp=False, attn_bias=bool(hf.get("attention_bias", True)),
        mlp_bias=bool(hf.get("mlp_bias", True)),
    )  # fmt: skip


def phimoe_config(hf: dict, name: str) -> ModelConfig:
    rope = {**(hf.get("rope_scaling") or {}), **(hf.get("rope_parameters") or {})}
    if rope.get("short_mscale") is not None:  # transformers' PhimoeRotaryEmbedding: this factor, within the original
        hf = {**hf, "rope_scaling": None, "rope_parameters": {**rope, "attention_factor": rope["short_mscale"]}}
    moe = moe_fields(hf, moe_router="sparsemixer", moe_mixer_eps=float(hf.get("router_jitter_noise", 0.01)),
                     moe_renormalize=False)  # fmt: skip
    if moe["experts_per_token"] != 2:
        raise ModelLoadError("SparseMixer routes each token to two experts; this config.json says otherwise.")
    return _decoder(hf, name, "phimoe", norm="layer", norm_eps=float(hf.get("rms_norm_eps", 1e-5)),
                    attn_bias=bool(hf.get("attention_bias")), **moe)  # fmt: skip


def falcon_config(hf: dict, name: str) -> ModelConfig:
    """Falcon 7B's, 40B's (and 180B's, Falcon 2's) layouts with RoPE; Falcon-RW's (alibi): BLOOM's slopes added to
    q·k before its 1/√d_head, so the bias is scaled with the scores (alibi_scaled), and no RoPE."""
    alibi = dict(position_bias="alibi", alibi_scaled=True, uses_rope=False) if hf.get("alibi") else {}
    new, parallel = bool(hf.get("new_decoder_architecture")), bool(hf.get("parallel_attn", True))
    two_norms = new and int(hf.get("num_ln_in_parallel_attn") or 2) == 2
    heads = int(hf.get("num_attention_heads") or hf["n_head"])
    kv = int(hf.get("num_kv_heads") or heads) if new else (1 if hf.get("multi_query", True) else heads)
    d_model = int(hf["hidden_size"])
    fields = dict(
        num_hidden_layers=int(hf.get("num_hidden_layers") or hf["n_layer"]), num_attention_heads=heads,
        num_key_value_heads=kv, intermediate_size=int(hf.get("ffn_hidden_size") or 4 * d_model),
        hidden_act=hf.get("activation", "gelu"), tie_word_embeddings=hf.get("tie_word_embeddings", True),
    )  # fmt: skip
    return _layernorm_decoder(
        {**hf, **fields}, name, "falcon", "layer_norm_epsilon", gated_mlp=False, parallel_blocks=parallel or new,
        shared_block_norm=(parallel or new) and not two_norms, attn_bias=bool(hf.get("bias")),
        mlp_bias=bool(hf.get("bias")), **alibi,
    )  # fmt: skip


def bloom_config(hf: dict, name: str) -> ModelConfig:
    if hf.get("apply_residual_connection_post_layernorm"):
        raise ModelLoadError("BLOOM checkpoints that add the normalised input back (apply_residual_connection_"
                             "post_layernorm) are not supported yet.")  # fmt: skip
    d_model, n_heads = int(hf.get("hidden_size") or hf["n_embed"]), int(hf["n_head"])
    return ModelConfig(
        name=name, arch="bloom", n_layers=int(hf["n_layer"]), n_heads=n_heads, n_kv_heads=n_heads, d_model=d_model,
        d_head=d_model // n_heads, d_mlp=4 * d_model, d_vocab=int(hf["vocab_size"]),
        n_ctx=int(hf.get("seq_length") or 2048),  # ALiBi has no position table: the length it was trained on
        causal=True, norm="layer", norm_eps=float(hf.get("layer_norm_epsilon", 1e-5)), norm_position="pre",
        act=_act("gelu_new"), gated_mlp=False, uses_rope=False, position_bias="alibi", attn_bias=True,
        mlp_bias=True, tie_embeddings=bool(hf.get("tie_word_embeddings", True)), bos_token_id=hf.get("bos_token_id"),
        eos_token_id=hf.get("eos_token_id"), display_name=str(hf.get("_name_or_path") or name),
    )  # fmt: skip


def mpt_config(hf: dict, name: str) -> ModelConfig:
    attn = dict(hf.get("attn_config") or {})
    refused = {
        "clip_qkv": attn.get("clip_qkv") is not None, "qk_ln": bool(attn.get("qk_ln")),
        "softmax_scale": attn.get("softmax_scale") is not None, "alibi false": not attn.get("alibi", True),
        f"expansion_ratio {hf.get('expansion_ratio')}": int(hf.get("expansion_ratio", 4)) != 4,
    }  # fmt: skip
    for what, bad in refused.items():
        if bad:
            raise ModelLoadError(f"MPT checkpoints with {what} are not supported (transformers' MPT runs none).")
    d_model, n_heads = int(hf["d_model"]), int(hf["n_heads"])
    return ModelConfig(
        name=name, arch="mpt", n_layers=int(hf["n_layers"]), n_heads=n_heads, n_kv_heads=n_heads, d_model=d_model,
        d_head=d_model // n_heads, d_mlp=4 * d_model, d_vocab=int(hf["vocab_size"]), n_ctx=int(hf["max_seq_len"]),
        causal=True, norm="layer", norm_eps=float(hf.get("layer_norm_epsilon", 1e-5)), norm_position="pre",
        act="gelu", gated_mlp=False, uses_rope=False, position_bias="alibi",
        alibi_bias_max=float(attn.get("alibi_bias_max", 8)), attn_bias=False, mlp_bias=False, tie_embeddings=True,
        bos_token_id=hf.get("bos_token_id"), eos_token_id=hf.get("eos_token_id"),
        display_name=str(hf.get("_name_or_path") or name),
    )  # fmt: skip


# ── weights ────────────────────────────────────────────────────────────────────────────────────────


def _attention(w: StateDict, r: _Reader, src: str, dst: str, out: str = "o_proj") -> None:
    """W_Q, W_K, W_V, W_O ([in, out]) and whichever of their biases the checkpoint has."""
    for part, theirs in zip("QKVO", ("q_proj", "k_proj", "v_proj", out), strict=True):
        w[f"{dst}attn.W_{part}"] = r.linear(f"{src}self_attn.{theirs}.weight")
        if r.has(f"{src}self_attn.{theirs}.bias"):
            w[f"{dst}attn.b_{part}"] = r.get(f"{src}self_attn.{theirs}.bias")


def _qk_layernorms(w: StateDict, r: _Reader, src: str, dst: str, cfg: ModelConfig) -> None:
    """The q and k LayerNorms where qk_layernorm: one for every head, with a bias (Phi, Persimmon), or one per head
    without (StableLM's norms.{h}), stacked [heads, d_head]."""
    for which, heads in (("q", cfg.n_heads), ("k", cfg.n_kv_heads)):
        theirs = f"{src}self_attn.{which}_layernorm"
        if r.has(theirs + ".weight"):
            _layer_norm(w, r, f"{dst}attn.{which}_norm", theirs)
        elif cfg.qk_norm == "head":
            w[f"{dst}attn.{which}_norm.w"] = torch.stack([r.get(f"{theirs}.norms.{h}.weight") for h in range(heads)])


def _layer_norm(w: StateDict, r: _Reader, ours: str, theirs: str) -> None:
    w[ours + ".w"], w[ours + ".b"] = r.get(theirs + ".weight"), r.get(theirs + ".bias")


def _plain_mlp(w: StateDict, r: _Reader, src: str, dst: str, fc_in: str, fc_out: str, biases: bool = True) -> None:
    """A non-gated MLP: act(x W_in + b_in) W_out + b_out, the biases (required) where the model has them."""
    w[dst + "mlp.W_in"], w[dst + "mlp.W_out"] = r.linear(src + fc_in + ".weight"), r.linear(src + fc_out + ".weight")
    if biases:
        w[dst + "mlp.b_in"], w[dst + "mlp.b_out"] = r.get(src + fc_in + ".bias"), r.get(src + fc_out + ".bias")


# Where each keeps what differs: (final norm, attention's output, the plain MLP's in and out; None: gated, as Llama)
_NAMES = {
    "phi": ("final_layernorm", "dense", "mlp.fc1", "mlp.fc2"),
    "stablelm": ("norm", "o_proj", None, None),
    "starcoder2": ("norm", "o_proj", "mlp.c_fc", "mlp.c_proj"),
    "nemotron": ("norm", "o_proj", "mlp.up_proj", "mlp.down_proj"),
    "jais2": ("norm", "o_proj", "mlp.up_proj", "mlp.down_proj"),
    "phimoe": ("norm", "o_proj", None, None),  # its MLP: Mixtral's experts under block_sparse_moe
}


def layernorm_decoder_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """Phi, StableLM, StarCoder2, Nemotron, Jais 2 or Phi-3.5-MoE: LayerNorms with biases, ln_mlp only where the block
    has a norm of its own for the MLP (not with shared_block_norm), a mixture of experts (Phi-3.5-MoE: Mixtral's
    layout), a gated MLP or a plain one, and the unembedding's bias where the checkpoint has one (Phi)."""
    final_norm, out, mlp_in, mlp_out = _NAMES[cfg.arch]
    r = _Reader(sd, ("model.",))
    w: StateDict = {"embed.W_E": r.get("embed_tokens.weight")}
    _layer_norm(w, r, "ln_final", final_norm)
    for layer in range(cfg.n_layers):
        src, dst = f"layers.{layer}.", f"blocks.{layer}."
        _attention(w, r, src, dst, out)
        _qk_layernorms(w, r, src, dst, cfg)
        _layer_norm(w, r, dst + "ln_attn", src + "input_layernorm")
        if not cfg.shared_block_norm:
            _layer_norm(w, r, dst + "ln_mlp", src + "post_attention_layernorm")
        if cfg.n_experts:
            _experts(w, r, src + "block_sparse_moe.", dst, cfg.n_experts, ("w1", "w3", "w2"))
        elif cfg.gated_mlp:
            for ours, theirs in (("W_gate", "gate_proj"), ("W_in", "up_proj"), ("W_out", "down_proj")):
                w[f"{dst}mlp.{ours}"] = r.linear(f"{src}mlp.{theirs}.weight")
        else:
            _plain_mlp(w, r, src, dst, mlp_in, mlp_out, cfg.mlp_bias)
    _unembed(w, sd, cfg)
    if "lm_head.bias" in sd:
        w["unembed.b_U"] = sd["lm_head.bias"].float()
    return w


def nemotron_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """Nemotron's LayerNorm1P multiplies by (1 + w): the canonical weight is w + 1, as Gemma's RMSNorms'."""
    w = layernorm_decoder_weights(sd, cfg)
    for key in [k for k in w if k.endswith(".w") and k.split(".")[-2].startswith("ln_")]:
        w[key] = w[key] + 1.0
    return w


def persimmon_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """GPT-NeoX's tensors under Llama's names: query_key_value (head by head), dense, input_layernorm,
    post_attention_layernorm, mlp.dense_h_to_4h and dense_4h_to_h, final_layernorm; plus the q/k LayerNorms."""
    r = _Reader(sd, ("model.",))
    w: StateDict = {"embed.W_E": r.get("embed_tokens.weight")}
    _layer_norm(w, r, "ln_final", "final_layernorm")
    for layer in range(cfg.n_layers):
        src, dst = f"layers.{layer}.", f"blocks.{layer}."
        interleaved_qkv(w, r, src + "self_attn.query_key_value", dst, cfg)
        w[dst + "attn.W_O"], w[dst + "attn.b_O"] = r.linear(src + "self_attn.dense.weight"), r.get(
            src + "self_attn.dense.bias"
        )
        _qk_layernorms(w, r, src, dst, cfg)
        _layer_norm(w, r, dst + "ln_attn", src + "input_layernorm")
        _layer_norm(w, r, dst + "ln_mlp", src + "post_attention_layernorm")
        _plain_mlp(w, r, src, dst, "mlp.dense_h_to_4h", "mlp.dense_4h_to_h")
    _unembed(w, sd, cfg)
    return w


def bloom_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    r = _Reader(sd, ("transformer.",))
    w: StateDict = {"embed.W_E": r.get("word_embeddings.weight")}
    _layer_norm(w, r, "embed.ln", "word_embeddings_layernorm")  # BLOOM normalises its embeddings
    _layer_norm(w, r, "ln_final", "ln_f")
    for layer in range(cfg.n_layers):
        src, dst = f"h.{layer}.", f"blocks.{layer}."
        interleaved_qkv(w, r, src + "self_attention.query_key_value", dst, cfg)
        w[dst + "attn.W_O"], w[dst + "attn.b_O"] = (
            r.linear(src + "self_attention.dense.weight"), r.get(src + "self_attention.dense.bias")
        )  # fmt: skip
        _layer_norm(w, r, dst + "ln_attn", src + "input_layernorm")
        _layer_norm(w, r, dst + "ln_mlp", src + "post_attention_layernorm")
        _plain_mlp(w, r, src, dst, "mlp.dense_h_to_4h", "mlp.dense_4h_to_h")
    _unembed(w, sd, cfg)
    return w


def mpt_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """wte; per block norm_1, attn.Wqkv (q | k | v rows), attn.out_proj, norm_2, ffn.up_proj, ffn.down_proj; norm_f.
    No biases (LayerNorms included)."""
    r = _Reader(sd, ("transformer.",))
    w: StateDict = {"embed.W_E": r.get("wte.weight"), "ln_final.w": r.get("norm_f.weight")}
    for layer in range(cfg.n_layers):
        src, dst = f"blocks.{layer}.", f"blocks.{layer}."
        fused = r.linear(src + "attn.Wqkv.weight")  # (d_model, 3 · d_model): q | k | v columns
        w[dst + "attn.W_Q"], w[dst + "attn.W_K"], w[dst + "attn.W_V"] = (t.contiguous() for t in fused.chunk(3, dim=1))
        w[dst + "attn.W_O"] = r.linear(src + "attn.out_proj.weight")
        w[dst + "ln_attn.w"], w[dst + "ln_mlp.w"] = r.get(src + "norm_1.weight"), r.get(src + "norm_2.weight")
        _plain_mlp(w, r, src, dst, "ffn.up_proj", "ffn.down_proj", biases=False)
    return w


def _falcon_qkv(w: StateDict, r: _Reader, fused: str, dst: str, cfg: ModelConfig) -> None:
    """W_Q, W_K, W_V from Falcon's query_key_value: rows by key/value group, each its query heads then its key and
    value (one group of every query head in Falcon 7B's one key/value head, so [q heads | k | v]); or, with as many
    key/value heads as query heads in the old layout, head by head (as GPT-NeoX's)."""
    if cfg.n_kv_heads == cfg.n_heads and r.get(fused + ".weight").shape[0] == 3 * cfg.d_model:
        interleaved_qkv(w, r, fused, dst, cfg)
        return
    group, d = cfg.group_size, cfg.d_head
    rows = r.get(fused + ".weight").view(cfg.n_kv_heads, group + 2, d, cfg.d_model)  # (kv group, part, dim, in)
    parts = {"Q": rows[:, :group], "K": rows[:, group], "V": rows[:, group + 1]}
    for part, data in parts.items():
        w[f"{dst}attn.W_{part}"] = data.reshape(-1, cfg.d_model).T.contiguous()  # [d_model, heads·d]
    if cfg.attn_bias:
        raise ModelLoadError("Falcon checkpoints with attention biases in grouped layout are not supported yet.")


def falcon_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    r = _Reader(sd, ("transformer.",))
    w: StateDict = {"embed.W_E": r.get("word_embeddings.weight")}
    _layer_norm(w, r, "ln_final", "ln_f")
    for layer in range(cfg.n_layers):
        src, dst = f"h.{layer}.", f"blocks.{layer}."
        _falcon_qkv(w, r, src + "self_attention.query_key_value", dst, cfg)
        w[dst + "attn.W_O"] = r.linear(src + "self_attention.dense.weight")
        if cfg.attn_bias:
            w[dst + "attn.b_O"] = r.get(src + "self_attention.dense.bias")
        two_norms = r.has(src + "ln_attn.weight")  # 40B, 180B: one norm for each sublayer
        _layer_norm(w, r, dst + "ln_attn", src + ("ln_attn" if two_norms else "input_layernorm"))
        if two_norms:
            _layer_norm(w, r, dst + "ln_mlp", src + "ln_mlp")
        elif not cfg.parallel_blocks:
            _layer_norm(w, r, dst + "ln_mlp", src + "post_attention_layernorm")
        _plain_mlp(w, r, src, dst, "mlp.dense_h_to_4h", "mlp.dense_4h_to_h", cfg.mlp_bias)
    _unembed(w, sd, cfg)
    return w


ADAPTERS = {
    "phi": (phi_config, layernorm_decoder_weights),
    "stablelm": (stablelm_config, layernorm_decoder_weights),
    "starcoder2": (starcoder2_config, layernorm_decoder_weights),
    "bloom": (bloom_config, bloom_weights),
    "mpt": (mpt_config, mpt_weights),
    "falcon": (falcon_config, falcon_weights),
    "nemotron": (nemotron_config, nemotron_weights),
    "persimmon": (persimmon_config, persimmon_weights),
    "jais2": (jais2_config, layernorm_decoder_weights),
    "phimoe": (phimoe_config, layernorm_decoder_weights),
}
