"""Hugging Face adapter for Google DeepMind's RecurrentGemma (recurrent_gemma: recurrentgemma-2b and -9b, their -it
versions), Griffin's architecture.

Pre-norm blocks with Gemma's (1 + w) RMSNorms; block_types, repeated, give each layer its temporal block: Griffin's
recurrent block (attention_core/rg_lru.py) or local multi-query attention over a window of attention_window_size
tokens, RoPE on the first half of each head (partial_rotary_factor), biases on the output map. The MLP is a gated GeLU
(tanh) of intermediate_size / 2 with biases. The embeddings are scaled by √d_model rounded to bfloat16, as the model
keeps it; the logits are soft-capped (logits_soft_cap); the unembedding is the embeddings.

Weights under model.: embed_tokens, final_norm; per layer temporal_pre_norm and channel_pre_norm; temporal_block's
q/k/v/o_proj (o_proj's bias), or linear_x, linear_y, linear_out, conv_1d and rg_lru's recurrent_param and input and
recurrent gates; mlp_block's gate/up/down_proj with biases.
"""

from __future__ import annotations

import torch

from ..config import ModelConfig
from ..errors import ModelLoadError
from .hf_adapters import StateDict, _Reader
from .hf_adapters_hybrid import _some_attention
from .hf_adapters_modern import _decoder


def _kinds(hf: dict, n: int) -> list[str]:
    """Each layer's temporal block: block_types repeated over the layers (transformers' rule)."""
    types = list(hf.get("block_types") or ("recurrent", "recurrent", "attention"))
    if set(types) - {"recurrent", "attention"}:
        raise ModelLoadError(f"RecurrentGemma: block_types {types!r} is not 'recurrent' or 'attention' for each "
                             "block.")  # fmt: skip
    return (types * (n // len(types) + 1))[:n]


def recurrent_gemma_config(hf: dict, name: str) -> ModelConfig:
    n, d_model = int(hf["num_hidden_layers"]), int(hf["hidden_size"])
    kinds = _kinds(hf, n)
    mixers = _some_attention(tuple("attention" if k == "attention" else "rg_lru" for k in kinds), "RecurrentGemma")
    # every attention layer is local: layer_types as transformers derives them, the window attention_window_size
    layer_types = ["sliding_attention" if k == "attention" else "linear_attention" for k in kinds]
    hf = {**hf, "layer_types": layer_types, "sliding_window": hf.get("attention_window_size", 2048),
          "partial_rotary_factor": hf.get("partial_rotary_factor", 0.5),
          "intermediate_size": int(hf["intermediate_size"]) // 2}  # fmt: skip
    scale = float(torch.tensor(d_model**0.5, dtype=torch.bfloat16))  # the model's normalizer is a bfloat16 buffer
    return _decoder(hf, name, "recurrent_gemma", mixers=mixers, embed_scale=scale,
                    final_softcap=hf.get("logits_soft_cap"), tie_embeddings=True)  # fmt: skip


def recurrent_gemma_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    r = _Reader(sd, ("model.",))
    w: StateDict = {"embed.W_E": r.get("embed_tokens.weight"), "ln_final.w": r.get("final_norm.weight") + 1.0}
    for layer in range(cfg.n_layers):
        src, dst = f"layers.{layer}.", f"blocks.{layer}."
        w[dst + "ln_attn.w"] = r.get(src + "temporal_pre_norm.weight") + 1.0
        w[dst + "ln_mlp.w"] = r.get(src + "channel_pre_norm.weight") + 1.0
        block = src + "temporal_block."
        if cfg.attends(layer):
            _attention(w, r, block, dst + "attn.")
        else:
            _recurrent(w, r, block, dst + "lru.")
        for ours, theirs in (("W_gate", "gate_proj"), ("W_in", "up_proj"), ("W_out", "down_proj")):
            w[f"{dst}mlp.{ours}"] = r.linear(f"{src}mlp_block.{theirs}.weight")
            w[f"{dst}mlp.b{ours[1:]}"] = r.get(f"{src}mlp_block.{theirs}.bias")
    return w


def _attention(w: StateDict, r: _Reader, src: str, dst: str) -> None:
    """q, k, v, o maps; o's bias, and q, k, v's where the checkpoint has them (attention_bias)."""
    for part in "qkvo":
        w[f"{dst}W_{part.upper()}"] = r.linear(f"{src}{part}_proj.weight")
        if r.has(f"{src}{part}_proj.bias"):
            w[f"{dst}b_{part.upper()}"] = r.get(f"{src}{part}_proj.bias")


def _recurrent(w: StateDict, r: _Reader, src: str, dst: str) -> None:
    """The recurrent block under rg_lru.py's names."""
    for ours, theirs in (("x", "linear_x"), ("y", "linear_y"), ("out", "linear_out")):
        w[f"{dst}W_{ours}"] = r.linear(f"{src}{theirs}.weight")
        w[f"{dst}b_{ours}"] = r.get(f"{src}{theirs}.bias")
    w[dst + "kernel"] = r.get(src + "conv_1d.weight")[:, 0, :].contiguous()  # (W, L)
    w[dst + "b_conv"] = r.get(src + "conv_1d.bias")
    w[dst + "Lambda"] = r.get(src + "rg_lru.recurrent_param")
    for ours, theirs in (("i", "input_gate"), ("r", "recurrent_gate")):
        w[f"{dst}W_{ours}"] = r.get(f"{src}rg_lru.{theirs}_weight")  # (H, W/H, W/H), x·W as it is stored
        w[f"{dst}b_{ours}"] = r.get(f"{src}rg_lru.{theirs}_bias")


ADAPTERS = {"recurrent_gemma": (recurrent_gemma_config, recurrent_gemma_weights)}
