"""Hugging Face ModernBERT: the encoder (modernbert) and its causal twin (modernbert-decoder: the Ettin decoders).

A (config, weights) pair like those in hf_adapters.py. What differs from BERT, declared in the ModelConfig:
- pre-norm blocks with bias-free LayerNorms (norm_bias false), a LayerNorm on the embeddings, none before layer 0's
  attention (skip_first_attn_norm: it reads the normalised embeddings), a final LayerNorm;
- no position table: RoPE, base `global_rope_theta` on the global layers and `local_rope_theta` on the others;
- every `global_attn_every_n_layers`-th layer (from layer 0) attends to the whole text; the rest attend locally. The
  encoder's reach keys at most local_attention / 2 positions away either side (sliding_window = local_attention // 2
  + 1, which the engine reads as |query − key| < sliding_window without the causal mask); the decoder's see the
  local_attention / 2 latest keys, the query's own included (transformers' sliding_window);
- q, k and v fused in Wqkv (rows q | k | v); a GeGLU MLP whose fused Wi holds the activated half first.
- the decoder reads its logits through a prediction head (`head_act`): LayerNorm(act(x·W_dense)), then the tied
  embedding and a bias (decoder_bias).
"""

from __future__ import annotations

import dataclasses

from ..config import ModelConfig
from ..errors import ModelLoadError
from .hf_adapters import StateDict, _act, _Reader
from .hf_adapters_modern import _rope, _scaling, fused_qkv


def _layer_types(hf: dict, n_layers: int) -> list[str]:
    types = hf.get("layer_types")
    if types:
        if len(types) != n_layers:
            raise ModelLoadError(f"config.json lists {len(types)} layer types for {n_layers} layers.")
        return list(types)
    every = int(hf.get("global_attn_every_n_layers", 3))
    return ["sliding_attention" if i % every else "full_attention" for i in range(n_layers)]


def modernbert_config(hf: dict, name: str) -> ModelConfig:
    if hf.get("mlp_bias"):
        raise ModelLoadError("ModernBERT checkpoints with MLP biases are not supported yet.")
    d_model, n_heads, n_layers = int(hf["hidden_size"]), int(hf["num_attention_heads"]), int(hf["num_hidden_layers"])
    sliding = tuple(kind == "sliding_attention" for kind in _layer_types(hf, n_layers))
    theta = float(_rope(hf, "full_attention").get("rope_theta") or hf.get("global_rope_theta") or 160000.0)
    local = float(_rope(hf, "sliding_attention").get("rope_theta") or hf.get("local_rope_theta") or 10000.0)
    return ModelConfig(
        name=name, arch="modernbert", n_layers=n_layers, n_heads=n_heads, n_kv_heads=n_heads, d_model=d_model,
        d_head=d_model // n_heads, d_mlp=int(hf["intermediate_size"]), d_vocab=int(hf["vocab_size"]),
        n_ctx=int(hf.get("max_position_embeddings", 8192)), causal=False, norm="layer",
        norm_eps=float(hf.get("norm_eps", 1e-5)), norm_position="pre", act=_act(hf.get("hidden_activation", "gelu")),
        gated_mlp=True, uses_rope=True, rope_theta=theta, rope_theta_local=local if any(sliding) else None,
        sliding_window=int(hf.get("local_attention", 128)) // 2 + 1 if any(sliding) else None,
        sliding_layers=sliding if any(sliding) else (), attn_bias=bool(hf.get("attention_bias")),
        tie_embeddings=True, skip_first_attn_norm=True,
        bos_token_id=hf.get("bos_token_id"), eos_token_id=hf.get("eos_token_id"),
        display_name=str(hf.get("_name_or_path") or name), **_scaling(hf, theta, d_model // n_heads).fields(),
    )  # fmt: skip


def _norm(w: StateDict, r: _Reader, ours: str, theirs: str) -> None:
    w[ours + ".w"] = r.get(theirs + ".weight")
    if r.has(theirs + ".bias"):  # norm_bias true
        w[ours + ".b"] = r.get(theirs + ".bias")


def modernbert_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    r = _Reader(sd, ("model.",))
    w: StateDict = {"embed.W_E": r.get("embeddings.tok_embeddings.weight")}
    _norm(w, r, "embed.ln", "embeddings.norm")
    _norm(w, r, "ln_final", "final_norm")
    for layer in range(cfg.n_layers):
        src, dst = f"layers.{layer}.", f"blocks.{layer}."
        if layer > 0:  # layer 0 has none (an Identity in transformers)
            _norm(w, r, dst + "ln_attn", src + "attn_norm")
        _norm(w, r, dst + "ln_mlp", src + "mlp_norm")
        _qkv(w, r, src, dst, cfg)
        w[dst + "attn.W_O"] = r.linear(src + "attn.Wo.weight")
        activated, linear = r.get(src + "mlp.Wi.weight").chunk(2)  # [d_mlp, d_model] each: act(first) * second
        w[dst + "mlp.W_gate"], w[dst + "mlp.W_in"] = activated.T.contiguous(), linear.T.contiguous()
        w[dst + "mlp.W_out"] = r.linear(src + "mlp.Wo.weight")
        if cfg.attn_bias:
            w[dst + "attn.b_O"] = r.get(src + "attn.Wo.bias")
    return w


def _qkv(w: StateDict, r: _Reader, src: str, dst: str, cfg: ModelConfig) -> None:
    """q, k and v (and their biases, with attention_bias): fused in Wqkv, rows q | k | v (the encoder), or q_proj,
    k_proj, v_proj (the decoder)."""
    if r.has(src + "attn.Wqkv.weight"):
        fused_qkv(w, r, src + "attn.Wqkv", dst, cfg, biases=cfg.attn_bias)
        return
    for part in "qkv":
        w[f"{dst}attn.W_{part.upper()}"] = r.linear(f"{src}attn.{part}_proj.weight")
        if cfg.attn_bias:
            w[f"{dst}attn.b_{part.upper()}"] = r.get(f"{src}attn.{part}_proj.bias")


def modernbert_decoder_config(hf: dict, name: str) -> ModelConfig:
    if hf.get("classifier_bias"):
        raise ModelLoadError("ModernBERT decoder checkpoints with a bias in the prediction head are not supported yet.")
    cfg = modernbert_config(hf, name)
    window = int(hf.get("local_attention", 128)) // 2 if cfg.sliding_layers else None
    return dataclasses.replace(
        cfg, arch="modernbert_decoder", causal=True, sliding_window=window,
        head_act=_act(hf.get("classifier_activation", "gelu")),
        tie_embeddings=hf.get("tie_word_embeddings", True) is not False,
    )  # fmt: skip


def modernbert_decoder_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """The encoder's tensors under model., then the head's: lm_head.dense, lm_head.norm, decoder (W_U, its bias)."""
    w = modernbert_weights(sd, cfg)
    r = _Reader(sd, ())
    if not r.has("lm_head.dense.weight"):
        raise ModelLoadError("This ModernBERT decoder checkpoint has no language-model head (lm_head.dense): "
                             "load the ...ForCausalLM checkpoint.")  # fmt: skip
    w["unembed.W_head"] = r.linear("lm_head.dense.weight")  # [d_model, d_model]
    _norm(w, r, "unembed.ln", "lm_head.norm")
    if not cfg.tie_embeddings:
        w["unembed.W_U"] = r.linear("decoder.weight")
    if r.has("decoder.bias"):  # decoder_bias
        w["unembed.b_U"] = r.get("decoder.bias")
    return w


ADAPTERS = {
    "modernbert": (modernbert_config, modernbert_weights),
    "modernbert-decoder": (modernbert_decoder_config, modernbert_decoder_weights),
}
