"""Hugging Face adapter for T5Gemma (google/t5gemma-*: an encoder-decoder of Gemma 2's layers, adapted from Gemma 2).

Both stacks are Gemma 2's: RMSNorms that multiply by 1 + w before and after each sublayer, √d_model embedding scale,
query_pre_attn_scalar, soft-capped scores, RoPE, GeGLU MLPs, local and global layers alternating. The encoder reads
both ways (a local layer's keys within sliding_window of the query either way, inclusive), the decoder causally (its
local layers the last sliding_window keys); each decoder layer then cross-attends to the encoder's output with a norm
before and after (`ln_cross`, `ln_cross_out`), grouped-query and soft-capped as its self-attention. Each stack has its
own token embedding and final norm; the logits read the decoder's embedding (tied) or lm_head.out_proj, soft-capped.
Refused: encoder and decoder of different sizes (T5Gemma 9B-2B) and stacks whose local layers differ.
"""

from __future__ import annotations

import dataclasses

from ..config import ModelConfig
from ..errors import ModelLoadError
from .hf_adapters import StateDict, _Reader
from .hf_adapters_modern import gemma_config, gemma_weights

_NORMS = (
    ("ln_attn", "pre_self_attn_layernorm"), ("ln_attn_out", "post_self_attn_layernorm"),
    ("ln_mlp", "pre_feedforward_layernorm"), ("ln_mlp_out", "post_feedforward_layernorm"),
)  # fmt: skip
_SHAPE = ("hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim", "intermediate_size")


def t5gemma_config(hf: dict, name: str) -> ModelConfig:
    encoder, decoder = dict(hf.get("encoder") or {}), dict(hf.get("decoder") or {})
    if not encoder or not decoder:
        raise ModelLoadError("The T5Gemma config.json has no encoder or decoder section.")
    if any(encoder.get(k) != decoder.get(k) for k in _SHAPE):
        raise ModelLoadError("T5Gemma whose encoder and decoder differ in size (9B-2B) is not supported.")
    if encoder.get("attention_bias") or decoder.get("attention_bias"):
        raise ModelLoadError("T5Gemma with attention biases is not supported.")
    if encoder.get("layer_types") != decoder.get("layer_types") and decoder.get("layer_types") is not None:
        raise ModelLoadError("T5Gemma whose encoder and decoder place their local layers differently is not supported.")
    top = {k: hf[k] for k in ("vocab_size", "tie_word_embeddings", "_name_or_path") if k in hf}
    cfg = gemma_config({**encoder, **top, "model_type": "gemma2"}, name)
    window = cfg.sliding_window
    start = hf.get("decoder_start_token_id", decoder.get("bos_token_id", hf.get("bos_token_id")))
    return dataclasses.replace(
        cfg, arch="t5gemma", causal=False, n_decoder_layers=int(decoder["num_hidden_layers"]),
        sliding_window=None if window is None else window + 1,  # the encoder's: |query − key| ≤ window
        decoder_sliding_window=window, decoder_start_token_id=start,
        bos_token_id=decoder.get("bos_token_id"), eos_token_id=decoder.get("eos_token_id"),
    )  # fmt: skip


def t5gemma_weights(sd: StateDict, cfg: ModelConfig) -> StateDict:
    """Each stack read as a Gemma 2 of its own (its embedding, layers, final norm: the decoder's under `dec.`), and
    the decoder's cross-attention under `dec.blocks.{l}.cross` with its two norms."""
    stacks = {stack: {"model." + k[len(f"model.{stack}.") :]: v for k, v in sd.items()
                      if k.startswith(f"model.{stack}.")} for stack in ("encoder", "decoder")}  # fmt: skip
    tied = dataclasses.replace(cfg, tie_embeddings=True)  # each stack's own unembedding: none (lm_head: below)
    w = gemma_weights(stacks["encoder"], tied, _NORMS)
    decoder = gemma_weights(stacks["decoder"], dataclasses.replace(tied, n_layers=cfg.n_decoder_layers), _NORMS)
    w.update({"dec." + k: v for k, v in decoder.items() if not k.startswith("unembed.")})
    r = _Reader(stacks["decoder"], ("model.",))
    for layer in range(cfg.n_decoder_layers):
        src, dst = f"layers.{layer}.", f"dec.blocks.{layer}."
        for part in "qkvo":  # k and v read the encoder's output (cross_attention_hidden_size: its width)
            w[f"{dst}cross.W_{part.upper()}"] = r.linear(f"{src}cross_attn.{part}_proj.weight")
        w[dst + "ln_cross.w"] = r.get(src + "pre_cross_attn_layernorm.weight") + 1.0
        w[dst + "ln_cross_out.w"] = r.get(src + "post_cross_attn_layernorm.weight") + 1.0
    if not cfg.tie_embeddings:
        w["unembed.W_U"] = sd["lm_head.out_proj.weight"].float().T.contiguous()  # (d_model, d_vocab)
    return w


ADAPTERS = {"t5gemma": (t5gemma_config, t5gemma_weights)}
